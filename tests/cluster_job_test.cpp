// Job scripts of `ablate submit`: the Slurm directives follow [resources], the ranks' layout (the
// coordinator sharing node 0 with the workers, the workers spread over the nodes), the PMI, the requeue
// contract; every path quoted for bash and for sbatch; malformed resources and options refused with the
// key named. The scripts are run with stand-ins for srun, scontrol and mpirun on the PATH, so what they
// would start is checked, not only their text. cluster/process: programs started without a shell.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cluster/job.hpp"
#include "cluster/process.hpp"

namespace fs = std::filesystem;
using namespace ablate;

namespace {

cluster::JobOptions options(const std::string& scheduler) {
  cluster::JobOptions o;
  o.scheduler = scheduler;
  o.study_file = "/s/study dir/table2.toml";
  o.db_file = "/s/table2.sqlite";
  o.ablate_exe = "/opt/ablate/bin/ablate";
  o.log_dir = "/s/logs";
  o.job_name = "ablate-table2";
  return o;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh folder per test, removed at the end.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ablate-job-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  fs::path operator/(const std::string& name) const { return path_ / name; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_executable(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
  fs::permissions(p, fs::perms::owner_all);
}

// Runs `script` with bash in `dir`, with stand-ins first on the PATH: srun and mpirun print their
// arguments (one per line, a newline inside one as \n) and SLURM_HOSTFILE's lines to dir/launch.txt and
// exit with $FAKE_RC; scontrol prints the nodes of $FAKE_NODES for `show hostnames` and records other
// calls in dir/scontrol.txt. With `step_gpus` (a job's GPUs on a node, as Slurm lists them to a step in
// CUDA_VISIBLE_DEVICES), srun also runs its command once per line k of the hosts file, as Slurm's task k
// on that node (SLURM_PROCID=k, SLURMD_NODENAME), its output and exit codes to dir/ranks.txt. Returns the
// script's exit code.
int run_with_stand_ins(const TempDir& dir, const std::string& script, int fake_rc, const std::string& nodes,
                       const std::string& step_gpus = "") {
  const fs::path bin = dir / "bin";
  fs::create_directories(bin);
  const std::string launcher =
      "#!/usr/bin/env bash\n"
      "{ echo \"program $(basename \"$0\")\"; for a in \"$@\"; do echo \"arg ${a//$'\\n'/\\\\n}\"; done\n"
      "  [ -n \"${SLURM_HOSTFILE:-}\" ] && while read -r h; do echo \"host $h\"; done <\"$SLURM_HOSTFILE\"\n"
      "  echo \"root_ok ${OMPI_ALLOW_RUN_AS_ROOT:-unset} ${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-unset}\"\n"
      "  echo \"cublas ${CUBLAS_WORKSPACE_CONFIG:-unset}\"\n"
      "} >>\"$STAND_IN_OUT/launch.txt\"\n"
      "if [ -n \"${FAKE_STEP_GPUS:-}\" ]; then\n"
      "  while [ \"${1#-}\" != \"$1\" ]; do shift; done\n"
      "  k=0\n"
      "  while read -r h; do\n"
      "    SLURM_PROCID=$k SLURMD_NODENAME=$h CUDA_VISIBLE_DEVICES=$FAKE_STEP_GPUS \"$@\" </dev/null >>\"$STAND_IN_OUT/ranks.txt\" 2>&1\n"
      "    echo \"exit $?\" >>\"$STAND_IN_OUT/ranks.txt\"\n"
      "    k=$((k + 1))\n"
      "  done <\"$SLURM_HOSTFILE\"\n"
      "fi\n"
      "exit \"$FAKE_RC\"\n";
  write_executable(bin / "srun", launcher);
  write_executable(bin / "mpirun", launcher);
  write_executable(bin / "scontrol",
                   "#!/usr/bin/env bash\n"
                   "if [ \"$1 $2\" = \"show hostnames\" ]; then for n in $FAKE_NODES; do echo \"$n\"; done; exit 0; fi\n"
                   "echo \"$*\" >>\"$STAND_IN_OUT/scontrol.txt\"\n");
  const fs::path path = dir / "job.sh";
  std::ofstream(path) << script;
  std::vector<std::string> argv = {"env",
                                   "PATH=" + bin.string() + ":/usr/bin:/bin",
                                   "STAND_IN_OUT=" + dir.path().string(),
                                   "FAKE_RC=" + std::to_string(fake_rc),
                                   "FAKE_NODES=" + nodes,
                                   "FAKE_STEP_GPUS=" + step_gpus,
                                   "SLURM_JOB_ID=77",
                                   "SLURM_JOB_NODELIST=stand-in[1-3]",
                                   "TMPDIR=" + dir.path().string(),
                                   "bash",
                                   path.string()};
  const auto r = cluster::run_process(argv, 60);
  EXPECT_TRUE(r.started);
  return r.status;
}

// The hosts files (ablate-hosts.<job>.XXXXXX, TMPDIR is the test's folder) left in `dir`.
int hosts_files(const TempDir& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) n += e.path().filename().string().rfind("ablate-hosts.", 0) == 0;
  return n;
}

std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) out.push_back(line.substr(prefix.size()));
  }
  return out;
}

}  // namespace

TEST(JobScript, SlurmDirectivesFollowResources) {
  ResourcesConfig r;
  r.ranks = 9;
  r.nodes = 2;
  r.gpus_per_node = 4;
  r.cpus_per_rank = 8;
  r.time = "1-12:00:00";
  r.partition = "gpu";
  r.account = "lab";
  r.memory = "64G";
  const std::string s = cluster::job_script(r, options("slurm"));
  // The allocation is the 8 workers' (4 per node); the step runs the 9 ranks.
  for (const char* line : {"#SBATCH --nodes=2\n", "#SBATCH --ntasks=8\n", "#SBATCH --ntasks-per-node=4\n",
                           "#SBATCH --cpus-per-task=8\n", "#SBATCH --time=1-12:00:00\n", "#SBATCH --gpus-per-node=4\n",
                           "#SBATCH --partition=gpu\n", "#SBATCH --account=lab\n", "#SBATCH --mem=64G\n",
                           "#SBATCH --signal=USR1@300\n", "#SBATCH --requeue\n", "#SBATCH --output=\"/s/logs/%x-%j.out\"\n"}) {
    EXPECT_NE(s.find(line), std::string::npos) << line;
  }
  // The study path with a space is quoted; the PMI is chosen; each rank starts through the GPU wrapper;
  // exit code 3 triggers the requeue.
  EXPECT_NE(s.find("srun --ntasks=9 --overcommit --distribution=arbitrary --cpus-per-task=8 --mpi=pmix --kill-on-bad-exit=1 "
                   "bash -c \"$rank_gpu\" ablate-rank '/opt/ablate/bin/ablate' run '/s/study dir/table2.toml' --db '/s/table2.sqlite' --max-retries 2 &\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("if [ \"$rc\" -eq 3 ] && [ \"$terminated\" -eq 0 ]; then"), std::string::npos);
  // The batch shell passes SIGUSR1 and SIGTERM on to the step, and removes the hosts file on every exit.
  EXPECT_NE(s.find("trap 'forward USR1' USR1\ntrap 'forward TERM' TERM\nsrun "), std::string::npos) << s;
  EXPECT_NE(s.find("trap 'rm -f \"$hostfile\"' EXIT\n"), std::string::npos) << s;
}

TEST(JobScript, CpuJobHasNoGpuDirectiveAndNoEmptyOnes) {
  ResourcesConfig r;
  const std::string s = cluster::job_script(r, options("slurm"));
  EXPECT_EQ(s.find("--gpus-per-node"), std::string::npos);
  EXPECT_EQ(s.find("ABLATE_GPU_PER_RANK"), std::string::npos) << "a CPU job has no per-rank GPU wrapper";
  EXPECT_EQ(s.find("--partition"), std::string::npos);
  EXPECT_EQ(s.find("--account"), std::string::npos);
  EXPECT_EQ(s.find("--mem"), std::string::npos);
}

// The multi-node job of issue 16 (nodes = 3, gpus_per_node = 4, one worker per GPU: 13 ranks), line by
// line, and then run with stand-ins to see where each rank goes.
TEST(JobScript, ThreeNodesFourGpusLineByLine) {
  ResourcesConfig r;
  r.ranks = 13;
  r.nodes = 3;
  r.gpus_per_node = 4;
  r.cpus_per_rank = 6;
  r.time = "72:00:00";
  const std::string s = cluster::job_script(r, options("slurm"));
  const auto directives = lines_starting(s, "#SBATCH ");
  const std::vector<std::string> expected = {"--job-name=ablate-table2", "--nodes=3",         "--ntasks=12",
                                             "--ntasks-per-node=4",      "--cpus-per-task=6", "--time=72:00:00",
                                             "--gpus-per-node=4",        "--signal=USR1@300", "--requeue",
                                             "--open-mode=append",       "--output=\"/s/logs/%x-%j.out\""};
  EXPECT_EQ(directives, expected);
  EXPECT_EQ(lines_starting(s, "export OMP_NUM_THREADS="), std::vector<std::string>{"6"});
  // No per-task GPU binding by Slurm, which would bind the coordinator too: the step sees the node's 4
  // GPUs and the script's per-rank wrapper gives each rank its own (EachWorkerGetsOneGpuOfItsNode... below).
  EXPECT_EQ(s.find("--gpus-per-task"), std::string::npos);
  EXPECT_EQ(s.find("--gpu-bind"), std::string::npos);
  EXPECT_EQ(lines_starting(s, "export ABLATE_GPU_SLOTS="), std::vector<std::string>{"\"$gpu_slots\" ABLATE_GPU_PER_RANK=1"});

  TempDir dir;
  ASSERT_EQ(run_with_stand_ins(dir, s, 0, "gpu-a gpu-b gpu-c"), 0) << read_file(dir / "launch.txt");
  const std::string launch = read_file(dir / "launch.txt");
  EXPECT_EQ(lines_starting(launch, "program "), std::vector<std::string>{"srun"});
  const auto args = lines_starting(launch, "arg ");
  const std::vector<std::string> expected_args = {"--ntasks=13",
                                                  "--overcommit",
                                                  "--distribution=arbitrary",
                                                  "--cpus-per-task=6",
                                                  "--mpi=pmix",
                                                  "--kill-on-bad-exit=1",
                                                  "bash",
                                                  "-c",
                                                  "(the per-rank wrapper)",
                                                  "ablate-rank",
                                                  "/opt/ablate/bin/ablate",
                                                  "run",
                                                  "/s/study dir/table2.toml",
                                                  "--db",
                                                  "/s/table2.sqlite",
                                                  "--max-retries",
                                                  "2"};
  ASSERT_EQ(args.size(), expected_args.size());
  // The wrapper is the script's own text (no path, no override in it), which ends by running its arguments.
  EXPECT_EQ(args[8].rfind("slots=($ABLATE_GPU_SLOTS)\\n", 0), 0u) << args[8];
  EXPECT_EQ(args[8].substr(args[8].size() - 9), "exec \"$@\"") << args[8];
  EXPECT_EQ(args[8].find("/s/"), std::string::npos);
  auto without_wrapper = args;
  without_wrapper[8] = "(the per-rank wrapper)";
  EXPECT_EQ(without_wrapper, expected_args);
  // Rank k runs on the k-th line of SLURM_HOSTFILE: the coordinator on node 0, then 4 workers per node.
  const std::vector<std::string> hosts = lines_starting(launch, "host ");
  const std::vector<std::string> expected_hosts = {"gpu-a", "gpu-a", "gpu-a", "gpu-a", "gpu-a", "gpu-b", "gpu-b",
                                                   "gpu-b", "gpu-b", "gpu-c", "gpu-c", "gpu-c", "gpu-c"};
  EXPECT_EQ(hosts, expected_hosts);
  EXPECT_EQ(hosts_files(dir), 0) << "the hostfile is removed after the step";
  EXPECT_FALSE(fs::exists(dir / "scontrol.txt")) << "no requeue after exit 0";
}

// Each rank's GPUs, from the per-rank wrapper run by a stand-in srun as Slurm's tasks: the coordinator
// none (CUDA_VISIBLE_DEVICES set and empty), each worker one entry of its node's list (entries, not
// positions: a job given GPUs 4-7 of a node passes 4-7 on), a different one for each worker of a node,
// shared by consecutive workers with ranks_per_gpu = 2; more workers than GPU slots on a node are refused
// when the script is written, and a step that lists fewer GPUs than the script expects fails the rank.
TEST(JobScript, EachWorkerGetsOneGpuOfItsNodeAndTheCoordinatorNone) {
  TempDir dir;
  write_executable(dir / "ablate", "#!/usr/bin/env bash\n"
                                   "echo \"rank $SLURM_PROCID $SLURMD_NODENAME gpus=${CUDA_VISIBLE_DEVICES-unset} "
                                   "per_rank=${ABLATE_GPU_PER_RANK-unset} args=$*\"\n");
  auto o = options("slurm");
  o.ablate_exe = (dir / "ablate").string();
  ResourcesConfig r;
  r.ranks = 13;  // 12 workers on 3 nodes of 4 GPUs: ThreeNodesFourGpusLineByLine's job
  r.nodes = 3;
  r.gpus_per_node = 4;
  ASSERT_EQ(run_with_stand_ins(dir, cluster::job_script(r, o), 0, "gpu-a gpu-b gpu-c", "4,5,6,7"), 0) << read_file(dir / "launch.txt");
  std::string args = " args=run /s/study dir/table2.toml --db /s/table2.sqlite --max-retries 2\nexit 0";
  std::string expected = "rank 0 gpu-a gpus= per_rank=1" + args + "\n";
  const char* nodes[] = {"gpu-a", "gpu-b", "gpu-c"};
  for (int w = 0; w < 12; ++w) {
    expected += "rank " + std::to_string(w + 1) + " " + nodes[w / 4] + " gpus=" + std::to_string(4 + w % 4) + " per_rank=1" + args + "\n";
  }
  EXPECT_EQ(read_file(dir / "ranks.txt"), expected);

  // Two workers per GPU; 9 workers on 2 nodes of 3 GPUs each (5 and 4 workers).
  TempDir shared;
  r.ranks = 10;
  r.nodes = 2;
  r.gpus_per_node = 3;
  r.ranks_per_gpu = 2;
  ASSERT_EQ(run_with_stand_ins(shared, cluster::job_script(r, o), 0, "n1 n2", "0,1,2"), 0);
  std::vector<std::string> seen;
  for (const auto& line : lines_starting(read_file(shared / "ranks.txt"), "rank ")) seen.push_back(line.substr(0, line.find(" per_rank")));
  const std::vector<std::string> pairs = {"0 n1 gpus=",       "1 n1 gpus=0", "2 n1 gpus=0", "3 n1 gpus=1", "4 n1 gpus=1",
                                          "5 n1 gpus=2",      "6 n2 gpus=0", "7 n2 gpus=0", "8 n2 gpus=1", "9 n2 gpus=1"};
  EXPECT_EQ(seen, pairs);

  // A step that lists two GPUs where the job asked for three: the rank whose slot is missing fails, named.
  TempDir fewer;
  ASSERT_EQ(run_with_stand_ins(fewer, cluster::job_script(r, o), 0, "n1 n2", "0,1"), 0);
  const std::string ranks = read_file(fewer / "ranks.txt");
  EXPECT_NE(ranks.find("ablate: rank 5 on n1: GPU number 2 of the step (CUDA_VISIBLE_DEVICES=0,1) does not exist\nexit 1\n"),
            std::string::npos)
      << ranks;

  // More workers on a node than GPU slots: refused when the script is written, naming the keys.
  r.ranks_per_gpu = 1;
  try {
    cluster::job_script(r, o);
    FAIL() << "5 workers on a node of 3 GPUs accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()),
              "resources.ranks: 9 workers on 2 node(s) are up to 5 on a node, more than resources.gpus_per_node = 3 x "
              "resources.ranks_per_gpu = 1 GPU slot(s) per node: every worker of the job gets a GPU slot of its own (allowed: "
              "ranks <= 7, or raise resources.ranks_per_gpu)");
  }
  // The mpirun script binds nothing (every rank sees the host's GPUs; runner/placement.cpp chooses).
  EXPECT_EQ(cluster::job_script(r, options("mpirun")).find("CUDA_VISIBLE_DEVICES"), std::string::npos);
}

TEST(JobScript, UnevenWorkersSpreadOverEveryNode) {
  ResourcesConfig r;
  r.ranks = 11;  // examples/table2.toml: 10 workers on 3 nodes
  r.nodes = 3;
  const std::string s = cluster::job_script(r, options("slurm"));
  EXPECT_NE(s.find("#SBATCH --ntasks=10\n#SBATCH --ntasks-per-node=4\n"), std::string::npos) << s;
  TempDir dir;
  ASSERT_EQ(run_with_stand_ins(dir, s, 0, "n1 n2 n3"), 0);
  const auto hosts = lines_starting(read_file(dir / "launch.txt"), "host ");
  const std::vector<std::string> expected = {"n1", "n1", "n1", "n1", "n1", "n2", "n2", "n2", "n3", "n3", "n3"};
  EXPECT_EQ(hosts, expected);
}

TEST(JobScript, ExitCodeThreeRequeuesTheJobAndOthersDoNot) {
  ResourcesConfig r;
  const std::string s = cluster::job_script(r, options("slurm"));
  {
    TempDir dir;
    EXPECT_EQ(run_with_stand_ins(dir, s, 3, "n1"), 3);
    EXPECT_EQ(read_file(dir / "scontrol.txt"), "requeue 77\n");
    EXPECT_EQ(lines_starting(read_file(dir / "launch.txt"), "host "), (std::vector<std::string>{"n1", "n1", "n1"}));
  }
  {
    TempDir dir;
    EXPECT_EQ(run_with_stand_ins(dir, s, 1, "n1"), 1);
    EXPECT_FALSE(fs::exists(dir / "scontrol.txt"));
  }
}

// The batch shell under a signal, with a stand-in srun that waits for one: SIGUSR1 to the batch shell
// alone (scancel --signal=USR1 --batch) reaches the step, which stops (exit 3), and the job requeues;
// SIGTERM reaches it too, and the job does not requeue itself (Slurm decides: scancel cancels, scontrol
// requeue requeues). The hosts file is gone after each, and after a script that fails before its step.
TEST(JobScript, BatchShellPassesSignalsOnToTheStepAndCleansUp) {
  ResourcesConfig r;
  const std::string s = cluster::job_script(r, options("slurm"));
  for (const std::string sig : {"USR1", "TERM"}) {
    SCOPED_TRACE(sig);
    TempDir dir;
    const fs::path bin = dir / "bin";
    fs::create_directories(bin);
    write_executable(bin / "srun",
                     "#!/usr/bin/env bash\n"
                     "trap 'echo USR1 >>\"$STAND_IN_OUT/step.txt\"; exit 3' USR1\n"
                     "trap 'echo TERM >>\"$STAND_IN_OUT/step.txt\"; exit 3' TERM\n"
                     "touch \"$STAND_IN_OUT/started\"\n"
                     "for ((i = 0; i < 600; i++)); do sleep 0.05; done\n"
                     "exit 0\n");
    write_executable(bin / "scontrol",
                     "#!/usr/bin/env bash\n"
                     "if [ \"$1 $2\" = \"show hostnames\" ]; then echo n1; exit 0; fi\n"
                     "echo \"$*\" >>\"$STAND_IN_OUT/scontrol.txt\"\n");
    std::ofstream(dir / "job.sh") << s;
    // The driver signals the batch shell alone once the step runs, as `scancel --batch` does.
    const std::string driver = "bash job.sh & job=$!\n"
                               "for ((i = 0; i < 400; i++)); do [ -e started ] && break; sleep 0.05; done\n"
                               "kill -" + sig + " \"$job\"\n"
                               "wait \"$job\"; echo $? >rc.txt\n";
    const auto p = cluster::run_process({"env", "PATH=" + bin.string() + ":/usr/bin:/bin", "STAND_IN_OUT=" + dir.path().string(),
                                         "SLURM_JOB_ID=77", "SLURM_JOB_NODELIST=n1", "TMPDIR=" + dir.path().string(), "bash",
                                         "-c", "cd \"$STAND_IN_OUT\" || exit 1\n" + driver},
                                        60);
    ASSERT_TRUE(p.started);
    EXPECT_EQ(read_file(dir / "step.txt"), sig + "\n") << "the step did not get the batch shell's signal";
    EXPECT_EQ(read_file(dir / "rc.txt"), "3\n");
    EXPECT_EQ(fs::exists(dir / "scontrol.txt") ? read_file(dir / "scontrol.txt") : "", sig == "USR1" ? "requeue 77\n" : "");
    EXPECT_EQ(hosts_files(dir), 0);
  }
  // A script that fails before its step (no node list: `set -u`) leaves no hosts file either.
  TempDir dir;
  std::ofstream(dir / "job.sh") << s;
  const auto p = cluster::run_process({"env", "PATH=/usr/bin:/bin", "SLURM_JOB_ID=78", "TMPDIR=" + dir.path().string(), "bash",
                                       (dir / "job.sh").string()},
                                      60);
  EXPECT_NE(p.status, 0);
  EXPECT_EQ(hosts_files(dir), 0);
}

TEST(JobScript, MpiTypeIsChosenByTheStudy) {
  ResourcesConfig r;
  for (const char* mpi : {"pmix", "pmi2", "none"}) {
    r.mpi = mpi;
    EXPECT_NE(cluster::job_script(r, options("slurm")).find(std::string(" --mpi=") + mpi + " "), std::string::npos) << mpi;
  }
  r.mpi = "openmpi";
  try {
    cluster::job_script(r, options("slurm"));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("resources.mpi"), std::string::npos) << e.what();
  }
}

TEST(JobScript, MpirunScriptUsesHostfileAndAllowsRoot) {
  ResourcesConfig r;
  r.ranks = 4;
  auto o = options("mpirun");
  o.hostfile = "/s/hosts";
  const std::string s = cluster::job_script(r, o);
  EXPECT_NE(s.find("exec mpirun -np 4 --hostfile '/s/hosts' -x CUBLAS_WORKSPACE_CONFIG '/opt/ablate/bin/ablate' run"),
            std::string::npos)
      << s;
  o.hostfile.clear();
  TempDir dir;
  o.log_dir = (dir / "log dir").string();
  const std::string local = cluster::job_script(r, o);
  EXPECT_NE(local.find("mpirun -np 4 --oversubscribe"), std::string::npos);
  ASSERT_EQ(run_with_stand_ins(dir, local, 0, "n1"), 0);
  const std::string launch = read_file(dir / "launch.txt");
  EXPECT_EQ(lines_starting(launch, "program "), std::vector<std::string>{"mpirun"});
  // Open MPI refuses root without both variables; the script sets them only for root.
  EXPECT_EQ(lines_starting(launch, "root_ok "), std::vector<std::string>{::geteuid() == 0 ? "1 1" : "unset unset"});
  EXPECT_TRUE(fs::is_directory(dir / "log dir"));
  const auto args = lines_starting(launch, "arg ");
  ASSERT_GE(args.size(), 2u);
  EXPECT_EQ(args.back(), (dir / "log dir" / "ablate-table2.log").string());
}

// Issue 17, item 2: a [resources] string or a path can no longer add a line to the script.
TEST(JobScript, ResourceStringsCannotInjectLines) {
  for (const char* field : {"partition", "account", "memory"}) {
    ResourcesConfig r;
    const std::string evil = "gpu\ntouch PWN";
    if (std::string(field) == "partition") r.partition = evil;
    if (std::string(field) == "account") r.account = evil;
    if (std::string(field) == "memory") r.memory = evil;
    try {
      cluster::job_script(r, options("slurm"));
      FAIL() << field;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("resources.") + field), std::string::npos) << e.what();
    }
  }
  ResourcesConfig r;
  for (const char* bad_memory : {"32 G", "32GB;x", "-1", "G"}) {
    r.memory = bad_memory;
    EXPECT_THROW(cluster::job_script(r, options("slurm")), std::invalid_argument) << bad_memory;
  }
  r.memory = "";
  for (const char* bad_partition : {"gpu,", "gpu p", "$(x)"}) {
    r.partition = bad_partition;
    EXPECT_THROW(cluster::job_script(r, options("slurm")), std::invalid_argument) << bad_partition;
  }
  r.partition = "gpu,gpu-long";
  EXPECT_NO_THROW(cluster::job_script(r, options("slurm")));
  for (const char* ok : {"", "0", "512", "32G", "2T", "4096m"}) EXPECT_TRUE(valid_memory_size(ok)) << ok;
  // A newline in a path would end a line of the script; '%' and '\' are Slurm's in --output.
  for (const std::string& log_dir : {std::string("/s/lo\ngs"), std::string("/s/100%"), std::string("/s/a\\b")}) {
    auto o = options("slurm");
    o.log_dir = log_dir;
    try {
      cluster::job_script(ResourcesConfig{}, o);
      FAIL() << log_dir;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("--log-dir"), std::string::npos) << e.what();
    }
  }
  auto o = options("slurm");
  o.study_file = "/s/x\ntouch PWN";
  EXPECT_THROW(cluster::job_script(ResourcesConfig{}, o), std::invalid_argument);
}

// Paths with quotes, spaces and $(...) reach srun as one argument each, and --output names the folder.
TEST(JobScript, EveryPathIsQuoted) {
  TempDir dir;
  auto o = options("slurm");
  o.study_file = "/s/d3'$(touch PWN)'x/st\"udy.toml";
  o.db_file = "/s/$HOME `touch PWN`/db.sqlite";
  o.log_dir = "/s/log dir/it's \"here\"";
  const std::string s = cluster::job_script(ResourcesConfig{}, o);
  EXPECT_NE(s.find("#SBATCH --output=\"/s/log dir/it's \\\"here\\\"/%x-%j.out\"\n"), std::string::npos) << s;
  ASSERT_EQ(run_with_stand_ins(dir, s, 0, "n1"), 0);
  const auto args = lines_starting(read_file(dir / "launch.txt"), "arg ");
  EXPECT_NE(std::find(args.begin(), args.end(), o.study_file), args.end());
  EXPECT_NE(std::find(args.begin(), args.end(), o.db_file), args.end());
  EXPECT_FALSE(fs::exists(dir / "PWN"));
  EXPECT_FALSE(fs::exists("PWN"));
}

TEST(JobScript, MalformedResourcesAndOptionsNameTheKey) {
  auto expect_refused = [](const ResourcesConfig& r, const cluster::JobOptions& o, const std::string& key) {
    try {
      cluster::job_script(r, o);
      ADD_FAILURE() << key;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  ResourcesConfig r;
  r.time = "two days";
  expect_refused(r, options("slurm"), "resources.time");
  r.time = "01:00:00";
  r.ranks = 1;
  expect_refused(r, options("slurm"), "resources.ranks");
  r.ranks = 3;
  r.nodes = 3;  // 2 workers cannot cover 3 nodes
  expect_refused(r, options("slurm"), "resources.ranks");
  r.nodes = 1;
  expect_refused(r, options("pbs"), "--scheduler");
  auto o = options("slurm");
  o.signal_seconds = -5;
  expect_refused(r, o, "--signal-seconds");
  o.signal_seconds = 70000;
  expect_refused(r, o, "--signal-seconds");
  o.signal_seconds = 300;
  o.max_retries = -1;
  expect_refused(r, o, "--max-retries");
}

// Issue 26, item 3: every training step starts with cuBLAS's deterministic workspace in its environment
// (docs/RUNNER.md "Reproducibility"): the MPI job, an array element, and the mpirun script, which also
// passes it on to the ranks of other hosts.
TEST(JobScript, EveryStepGetsTheDeterministicCublasWorkspace) {
  ResourcesConfig r;
  r.ranks = 3;
  r.gpus_per_node = 2;
  auto array = options("slurm");
  array.array = 2;
  for (const auto& o : {options("slurm"), array, options("mpirun")}) {
    EXPECT_EQ(lines_starting(cluster::job_script(r, o), "export CUBLAS_WORKSPACE_CONFIG="), std::vector<std::string>{":4096:8"})
        << o.scheduler << " array " << o.array;
  }
  // What srun and mpirun start with (an array element's srun needs Slurm's SLURM_ARRAY_TASK_ID).
  for (const auto& o : {options("slurm"), options("mpirun")}) {
    TempDir dir;
    auto in_dir = o;
    in_dir.log_dir = (dir / "logs").string();
    const std::string s = cluster::job_script(r, in_dir);
    ASSERT_EQ(run_with_stand_ins(dir, s, 0, "n1"), 0) << s;
    EXPECT_EQ(lines_starting(read_file(dir / "launch.txt"), "cublas "), std::vector<std::string>{":4096:8"}) << o.scheduler;
  }
  EXPECT_NE(cluster::job_script(r, options("mpirun")).find(" -x CUBLAS_WORKSPACE_CONFIG "), std::string::npos);
}

TEST(JobScript, TimeLimitFormats) {
  for (const char* ok : {"30", "30:00", "01:30:00", "2-00:00:00", "2-12"}) EXPECT_TRUE(cluster::valid_time_limit(ok)) << ok;
  for (const char* bad : {"", "1h", "01:30:00:00", "a-01:00:00"}) EXPECT_FALSE(cluster::valid_time_limit(bad)) << bad;
}

TEST(MpiList, ParsesSrunOutputOfSeveralSlurmVersions) {
  // Slurm 22.05 (Debian 12), as printed by this machine's srun.
  EXPECT_EQ(cluster::parse_mpi_list("MPI plugin types are...\n\tpmix\n\tnone\n\tcray_shasta\n\tpmi2\n"
                                    "specific pmix plugin versions available: pmix_v4\n"),
            (std::vector<std::string>{"pmix", "none", "cray_shasta", "pmi2", "pmix_v4"}));
  // Older releases prefix every line with "srun: ".
  EXPECT_EQ(cluster::parse_mpi_list("srun: MPI types are...\nsrun: none\nsrun: pmi2\nsrun: openmpi\n"),
            (std::vector<std::string>{"none", "pmi2", "openmpi"}));
  EXPECT_EQ(cluster::parse_mpi_list("MPI plugin types are...\n\tnone\n\tpmi2\n"
                                    "specific pmix plugin versions available: pmix_v3,pmix_v4\n"),
            (std::vector<std::string>{"none", "pmi2", "pmix_v3", "pmix_v4"}));
  EXPECT_TRUE(cluster::parse_mpi_list("srun: fatal: Could not establish a configuration source\n").empty());
}

TEST(Process, ArgumentsReachTheProgramUnparsed) {
  TempDir dir;
  const std::string evil = "a'b\"c $(touch " + (dir / "PWN").string() + ") ; `x` \n d";
  const auto r = cluster::run_process({"printf", "[%s]", evil, "second"}, 10);
  EXPECT_TRUE(r.started);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output, "[" + evil + "][second]");
  EXPECT_FALSE(fs::exists(dir / "PWN"));
}

TEST(Process, ExitCodesMissingProgramsAndTimeouts) {
  EXPECT_EQ(cluster::run_process({"sh", "-c", "echo out; echo err >&2; exit 7"}, 10).status, 7);
  EXPECT_EQ(cluster::run_process({"sh", "-c", "echo out; echo err >&2; exit 7"}, 10).output, "out\nerr\n");
  const auto missing = cluster::run_process({"ablate-no-such-program"}, 10);
  EXPECT_FALSE(missing.started);
  const auto slow = cluster::run_process({"sleep", "30"}, 1);
  EXPECT_TRUE(slow.timed_out);
  EXPECT_EQ(slow.status, 128 + 9);
  EXPECT_FALSE(cluster::find_on_path("sh").empty());
  EXPECT_EQ(cluster::find_on_path("ablate-no-such-program"), "");
  EXPECT_THROW(cluster::run_process({}, 1), std::invalid_argument);
}

// run_attached (the steps of `ablate demo`): the same argument vector, the caller's own streams.
TEST(Process, AttachedRunsReportExitSignalAndMissingProgram) {
  TempDir dir;
  const fs::path out = dir / "out.txt";
  const auto r = cluster::run_attached({"sh", "-c", "printf '%s' \"$1\" > \"$2\"; exit 5", "sh", "a b;$(x)", out.string()});
  EXPECT_TRUE(r.started);
  EXPECT_EQ(r.status, 5);
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.output, "");
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "a b;$(x)");
  const auto killed = cluster::run_attached({"sh", "-c", "kill -TERM $$"});
  EXPECT_EQ(killed.signal, 15);
  EXPECT_EQ(killed.status, 128 + 15);
  const auto missing = cluster::run_attached({"ablate-no-such-program"});
  EXPECT_FALSE(missing.started);
  EXPECT_FALSE(missing.error.empty());
  EXPECT_EQ(missing.status, -1);
  EXPECT_THROW(cluster::run_attached({}), std::invalid_argument);
}
