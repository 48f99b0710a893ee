// `ablate submit` across several nodes of a real Slurm: scripts/slurm-cluster makes four nodes on this
// machine (a network and UTS namespace each, hostnames node0..node3 on a bridge of its own, a slurmd
// each, two GPUs each as GRES backed by mknod devices) once for this executable and removes all of it
// afterwards: the environment's TearDown stops it and checks that no process, namespace or link of it is
// left; if this process dies, the script's --watch ends it. The studies and the store live on the
// common file system, as on a cluster's shared one.
//
// - Two nodes x two workers: rank 0 on the job's first node, the workers on both (the attempts name both
//   hosts), and results equal to a one-process run. GPU placement as the store records it: the job
//   script's per-rank wrapper gives each worker one GRES device of its node, a different one for each
//   worker of a node, and the coordinator none (provenance gpus.rank<R>, what each rank was started with).
// - A study that asks for GPUs (train.device = "auto" with gpus_per_node > 0) on these null devices: every
//   worker's device check refuses (this LibTorch sees no CUDA device), the job fails with exit code 2 and
//   is not requeued: the fail-fast check is live here, and train.device = "cpu" is what keeps it from
//   needing a real GPU in the other tests.
// - The coordinator's node lost: Slurm requeues the job onto other nodes, and the rerun's coordinator takes
//   over the lock of its own job's earlier run at once (its heartbeat is fresh, its host another) and
//   completes the study from the checkpoints, the store intact.
// - A worker node lost mid-run (every process in its namespace killed at once): Slurm marks it DOWN,
//   requeues the job onto the remaining nodes, and the rerun resumes the lost node's tasks from their
//   checkpoints: its attempts are interrupted, nothing lost or stored twice, the store intact. While it
//   runs, the ranks' environment shows the placement: which node each rank is on, and its own GPU (the
//   coordinator none).
//
// The studies say train.device = "cpu": the GPUs are null devices, so the workers must never try to use
// one. With "cpu" the study does not ask for GPUs (runner study_wants_gpu), so a worker that sees none is
// not refused, and its device check's probe step runs on the CPU, which the provenance shows
// (device.rank<R> = "<host> cpu: cpu, LibTorch ..."); docs/RUNNER.md, "Several nodes". Where namespaces or Slurm are unavailable (not root, packages
// missing) every test is skipped with the reason and this executable prints "SKIPPED: Slurm
// unavailable", which ctest reports as a skip. Registered as one ctest test with RESOURCE_LOCK slurm.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "slurm_util.hpp"

namespace fs = std::filesystem;
using namespace slurm_util;

namespace {

const std::string kSlurmCluster = std::string(ABLATE_SOURCE_DIR) + "/scripts/slurm-cluster";
constexpr int kNodes = 4;  // two for a job, and a spare for each of the two lost nodes
constexpr int kGpus = 2;

fs::path g_root;          // temporary folder of this run
fs::path g_cluster_dir;   // the cluster's folder (slurm.conf, logs, devices)
std::string g_skip;       // why the cluster is not available ("" = it is)
pid_t g_cluster = -1;     // the running scripts/slurm-cluster
std::set<std::string> g_netns_before, g_links_before;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::string> words(const std::vector<std::string>& argv, int field) {
  std::set<std::string> out;
  std::istringstream in(run_process(argv, 30).output);
  for (std::string line; std::getline(in, line);) {
    std::istringstream w(line);
    std::string word;
    for (int i = 0; i <= field; ++i) {
      if (!(w >> word)) word.clear();
    }
    if (!word.empty()) out.insert(word);
  }
  return out;
}
std::set<std::string> netns_names() { return words({"ip", "netns", "list"}, 0); }
std::set<std::string> link_names() { return words({"ip", "-o", "link", "show"}, 1); }

// The environment of a process as NAME=value pairs (empty when it is gone).
std::map<std::string, std::string> environ_of(const fs::path& proc) {
  std::map<std::string, std::string> env;
  std::ifstream in(proc / "environ");
  for (std::string kv; std::getline(in, kv, '\0');) {
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

// Every process of this machine started under the cluster (its slurm.conf in SLURM_CONF): daemons'
// children, job steps, ranks. `job`: only the tasks of that job's first step (the ranks), by rank.
std::map<int, std::map<std::string, std::string>> cluster_processes(const std::string& job = "") {
  std::map<int, std::map<std::string, std::string>> out;
  const std::string conf = (g_cluster_dir / "slurm.conf").string();
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos || name == std::to_string(::getpid())) continue;
    auto env = environ_of(e.path());
    if (env["SLURM_CONF"] != conf) continue;
    if (job.empty()) {
      out[std::stoi(name)] = env;
    } else if (env["SLURM_JOB_ID"] == job && env["SLURM_STEP_ID"] == "0" && env.count("SLURM_PROCID")) {
      out[std::stoi(env["SLURM_PROCID"])] = env;
    }
  }
  return out;
}

class ClusterEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    char tmpl[] = "/tmp/ablate-multinode-test-XXXXXX";
    g_root = mkdtemp(tmpl);
    g_cluster_dir = g_root / "cluster";
    // The jobs inherit this environment: the job script must allow mpirun as root itself.
    for (const char* v : {"OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "OMPI_MCA_rmaps_base_oversubscribe"}) unsetenv(v);
    g_netns_before = netns_names();
    g_links_before = link_names();
    const auto t0 = std::chrono::steady_clock::now();
    const std::string log = (g_root / "cluster.log").string();
    const std::string watch = std::to_string(::getpid());
    g_cluster = fork();
    if (g_cluster == 0) {
      setpgid(0, 0);
      if (!freopen(log.c_str(), "w", stdout) || !freopen(log.c_str(), "a", stderr)) _exit(127);
      execl(kSlurmCluster.c_str(), kSlurmCluster.c_str(), "--nodes", std::to_string(kNodes).c_str(), "--gpus",
            std::to_string(kGpus).c_str(), "--watch", watch.c_str(), g_cluster_dir.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    ASSERT_GT(g_cluster, 0) << "fork failed";
    // Up when it marks itself ready; exit code 4 = cannot run here (the reason in its log).
    for (int i = 0; i < 1200 && !fs::exists(g_cluster_dir / "ready"); ++i) {
      int st = 0;
      if (waitpid(g_cluster, &st, WNOHANG) == g_cluster) {
        g_cluster = -1;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 4) {
          g_skip = read_file(log);
          while (!g_skip.empty() && g_skip.back() == '\n') g_skip.pop_back();
          std::cout << "SKIPPED: Slurm unavailable: " << g_skip << std::endl;
          return;
        }
        FAIL() << "scripts/slurm-cluster ended with status " << st << " before its nodes were idle:\n" << read_file(log);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(fs::exists(g_cluster_dir / "ready")) << "the cluster was not ready in 120 s:\n" << read_file(log);
    setenv("SLURM_CONF", (g_cluster_dir / "slurm.conf").c_str(), 1);
    std::cout << "slurm-cluster (" << kNodes << " nodes) started in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s" << std::endl;
    const auto sinfo = run_process({"sinfo", "-h", "-N", "-o", "%N %t %G"}, 30);
    EXPECT_EQ(sinfo.output, "node0 idle gpu:2\nnode1 idle gpu:2\nnode2 idle gpu:2\nnode3 idle gpu:2\n");
    const auto synth = run_process({ABLATE_EXE, "data", "synth", "--out", (g_root / "data").string(), "--cases", "6",
                                    "--size", "32", "--slices", "6"},
                                   120);
    ASSERT_EQ(synth.status, 0) << synth.output;
  }

  void TearDown() override {
    if (g_cluster > 0) {
      kill(g_cluster, SIGTERM);
      int st = 0;
      bool ended = false;
      for (int i = 0; i < 1200 && !ended; ++i) {
        ended = waitpid(g_cluster, &st, WNOHANG) == g_cluster;
        if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (!ended) {
        kill(g_cluster, SIGKILL);
        waitpid(g_cluster, &st, 0);
        run_process({kSlurmCluster, "stop", g_cluster_dir.string()}, 120);
        ADD_FAILURE() << "scripts/slurm-cluster did not stop in 120 s after SIGTERM";
      } else {
        // Its trap ends with SIGTERM's status, 143, when everything it made is gone, else 1.
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 143) << "status " << st << "\n" << read_file(g_root / "cluster.log");
      }
      EXPECT_TRUE(cluster_processes().empty()) << cluster_processes().size() << " process(es) of the cluster left running";
      std::vector<std::string> pidfiles = {"munged.pid", "slurmctld.pid"};
      for (int i = 0; i < kNodes; ++i) pidfiles.push_back("slurmd-node" + std::to_string(i) + ".pid");
      for (const auto& f : pidfiles) EXPECT_FALSE(fs::exists(g_cluster_dir / f)) << f << " left: its daemon was not stopped";
      EXPECT_EQ(netns_names(), g_netns_before) << "network namespaces made and not removed";
      EXPECT_EQ(link_names(), g_links_before) << "links made and not removed";
    }
    std::error_code ec;
    fs::remove_all(g_root, ec);
  }
};

const auto* const g_env = ::testing::AddGlobalTestEnvironment(new ClusterEnvironment);

std::string text(const std::string& db, const std::string& sql) {
  try {
    ablate::db::Store s(db, true);
    return s.query_text(sql);
  } catch (const std::exception& e) {
    return std::string("error: ") + e.what();
  }
}

// A tiny study in "<root>/<name>/": 2 variants x 2 folds, on 2 nodes with 5 ranks (the coordinator and
// two workers on the first node, two workers on the second), 2 GPUs per node asked for, CPU training
// (`device` "cpu"; "auto" asks for the GPUs).
fs::path write_study(const std::string& name, int epochs, int steps, const std::string& device = "cpu") {
  const fs::path dir = g_root / name;
  fs::create_directories(dir);
  const fs::path p = dir / (name + ".toml");
  std::ofstream(p) << "[study]\nname = \"" << name << "\"\nseed = 5\nfolds = 2\n"
                   << "[data]\npath = \"" << (g_root / "data").string() << "\"\nimage_size = 32\n"
                   << "[model]\nwidths = [4, 8]\n"
                   << "[train]\nepochs = " << epochs << "\nsteps_per_epoch = " << steps
                   << "\nbatch_size = 2\nthreads = 1\ndevice = \"" << device << "\"\nlr = 0.001\n"
                   << "[resources]\nnodes = 2\nranks = 5\ncpus_per_rank = 1\ngpus_per_node = " << kGpus
                   << "\ntime = \"00:20:00\"\n"
                   << "[[ablation.variant]]\nname = \"unet\"\n"
                   << "[[ablation.variant]]\nname = \"cc\"\n\"model.cc\" = true\n";
  return p;
}

std::string job_log(const fs::path& study, const std::string& name, const std::string& id) {
  return read_file(study.parent_path() / "logs" / ("ablate-" + name + "-" + id + ".out"));
}

// The job's nodes in order (`scontrol show hostnames` of its NodeList).
std::vector<std::string> job_nodes(const std::map<std::string, std::string>& info) {
  std::vector<std::string> nodes;
  const auto it = info.find("NodeList");
  if (it == info.end()) return nodes;
  std::istringstream in(run_process({"scontrol", "show", "hostnames", it->second}, 30).output);
  for (std::string n; in >> n;) nodes.push_back(n);
  return nodes;
}

std::string db_of(const fs::path& study) { return (study.parent_path() / (study.stem().string() + ".sqlite")).string(); }

#define REQUIRE_CLUSTER() \
  if (!g_skip.empty()) GTEST_SKIP() << "Slurm unavailable: " << g_skip

}  // namespace

TEST(MultiNode, TwoNodesTwoWorkersEachMatchOneProcess) {
  REQUIRE_CLUSTER();
  const auto t0 = std::chrono::steady_clock::now();
  const int epochs = 2;
  const fs::path study = write_study("two", epochs, 3);
  const std::string db = db_of(study);
  const std::string id = submit(study);
  ASSERT_FALSE(id.empty());
  const auto info = wait_for_end(id, 300);
  const std::string log = job_log(study, "two", id);
  ASSERT_EQ(info.at("JobState"), "COMPLETED") << log;
  expect_complete(db, 4, epochs);
  const auto nodes = job_nodes(info);
  ASSERT_EQ(nodes.size(), 2u) << info.at("NodeList");
  // The coordinator on the first node; two workers on each node, and each node's workers trained.
  EXPECT_EQ(text(db, "SELECT group_concat(host) FROM runs"), nodes[0]);
  EXPECT_EQ(text(db, "SELECT value FROM provenance WHERE key = 'hostnames'"), nodes[0] + "," + nodes[1]);
  EXPECT_EQ(text(db, "SELECT group_concat(host) FROM (SELECT DISTINCT host FROM attempts ORDER BY host)"), nodes[0] + "," + nodes[1]) << log;
  EXPECT_EQ(query(db, "SELECT count(*) FROM attempts WHERE rank = 0"), 0) << "the coordinator trains nothing";
  EXPECT_EQ(text(db, "SELECT group_concat(host || ':' || rank) FROM (SELECT DISTINCT host, rank FROM attempts ORDER BY rank)"),
            nodes[0] + ":1," + nodes[0] + ":2," + nodes[1] + ":3," + nodes[1] + ":4")
      << log;
  // GRES placement, as each rank reported what it was started with: the coordinator no GPU, each worker
  // one GPU of its node, the two workers of a node different ones (4 distinct host/GPU pairs).
  const std::string gpus = "SELECT group_concat(key || '=' || value, ';') FROM (SELECT * FROM provenance WHERE key LIKE 'gpus.rank%' ORDER BY key)";
  EXPECT_EQ(text(db, gpus), "gpus.rank0=" + nodes[0] + " CUDA_VISIBLE_DEVICES=;gpus.rank1=" + nodes[0] +
                                " CUDA_VISIBLE_DEVICES=0;gpus.rank2=" + nodes[0] + " CUDA_VISIBLE_DEVICES=1;gpus.rank3=" + nodes[1] +
                                " CUDA_VISIBLE_DEVICES=0;gpus.rank4=" + nodes[1] + " CUDA_VISIBLE_DEVICES=1")
      << log;
  EXPECT_EQ(query(db, "SELECT count(DISTINCT value) FROM provenance WHERE key LIKE 'gpus.rank%' AND key <> 'gpus.rank0'"), 4);
  // The device check's probe ran on the CPU on every worker (train.device = "cpu"): no GPU needed.
  EXPECT_EQ(query(db, "SELECT count(*) FROM provenance WHERE key LIKE 'device.rank%' AND value LIKE '% cpu: cpu, LibTorch %'"), 4)
      << text(db, "SELECT group_concat(key || '=' || value, ';') FROM provenance WHERE key LIKE 'device.rank%'");
  for (int rank = 1; rank <= 4; ++rank) {
    EXPECT_NE(log.find("worker " + std::to_string(rank) + " on "), std::string::npos) << log;
  }
  EXPECT_NE(log.find(", given CUDA_VISIBLE_DEVICES=1"), std::string::npos) << "the workers log the GPU they were given\n" << log;
  // The same study in one process: the same folds, losses and metrics to the last bit.
  const fs::path one = g_root / "one" / "two.toml";
  fs::create_directories(one.parent_path());
  fs::copy_file(study, one);
  const auto r = run_process({ABLATE_EXE, "run", one.string(), "--db", db_of(one)}, 300);
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string metrics =
      "SELECT group_concat(variant || '/' || fold || '/' || class || '/' || metric || '=' || printf('%.17g', value), ';') "
      "FROM (SELECT * FROM fold_metrics ORDER BY variant, fold, class, metric)";
  const std::string losses =
      "SELECT group_concat(k || '=' || printf('%.17g', train_loss) || ',' || printf('%.17g', val_loss), ';') FROM "
      "(SELECT v.name || '/' || f.fold || '/' || e.epoch AS k, e.train_loss, e.val_loss FROM epochs e JOIN tasks t ON "
      "t.id = e.task_id JOIN variants v ON v.id = t.variant_id JOIN folds f ON f.id = t.fold_id ORDER BY k)";
  EXPECT_EQ(text(db, metrics).find("error"), std::string::npos) << text(db, metrics);
  EXPECT_EQ(text(db, losses).find("error"), std::string::npos) << text(db, losses);
  EXPECT_EQ(text(db, metrics), text(db_of(one), metrics));
  EXPECT_EQ(text(db, losses), text(db_of(one), losses));
  std::cout << "[ measured ] 4 tasks on 2 nodes x 2 workers, and the one-process run: "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s" << std::endl;
}

// The fail-fast device check, live on the cluster: a study that asks for GPUs (train.device = "auto" with
// gpus_per_node > 0) gets each worker a GRES device that is the null device, which this CPU LibTorch cannot
// see as a GPU; every worker refuses, the coordinator stores the run with exit code 2 and the job fails
// without a requeue (2 is not the stop's 3). Nothing trained.
TEST(MultiNode, AStudyThatAsksForGpusIsRefusedOnTheNullDevices) {
  REQUIRE_CLUSTER();
  const fs::path study = write_study("refused", 2, 3, "auto");
  const std::string db = db_of(study);
  const std::string id = submit(study);
  ASSERT_FALSE(id.empty());
  const auto info = wait_for_end(id, 300);
  const std::string log = job_log(study, "refused", id);
  EXPECT_EQ(info.at("JobState"), "FAILED") << log;
  EXPECT_EQ(info.at("ExitCode"), "2:0") << log;
  EXPECT_EQ(info.at("Restarts"), "0") << log;
  EXPECT_NE(log.find("4 of 4 worker(s) cannot serve this study"), std::string::npos) << log;
  EXPECT_NE(log.find("the study asks for GPUs"), std::string::npos) << log;
  EXPECT_EQ(query(db, "SELECT count(*) FROM attempts"), 0);
  EXPECT_EQ(text(db, "SELECT group_concat(exit_code) FROM runs"), "2");
}

// Submits a study long enough to be stopped midway and waits until it runs and every task has stored
// two epochs (a checkpoint to resume from) and none is done; returns the job id and its two nodes.
std::pair<std::string, std::vector<std::string>> submit_and_wait_midway(const fs::path& study) {
  const std::string db = db_of(study);
  const std::string id = submit(study);
  std::vector<std::string> nodes;
  if (id.empty()) return {id, nodes};
  for (int i = 0; i < 240 && nodes.empty(); ++i) {  // the job's nodes, once it runs
    const auto info = job_info(id);
    if (info.count("JobState") && info.at("JobState") == "RUNNING") nodes = job_nodes(info);
    if (nodes.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_EQ(nodes.size(), 2u) << "job " << id << " did not start on 2 nodes";
  EXPECT_TRUE(wait_for_store(db, "SELECT count(*) FROM (SELECT task_id FROM epochs GROUP BY task_id HAVING max(epoch) >= 2)", id, 4))
      << job_log(study, study.stem().string(), id);
  EXPECT_EQ(query(db, "SELECT count(*) FROM attempts WHERE status = 'done'"), 0) << "too late: a task finished before the loss";
  return {id, nodes};
}

// The coordinator's node lost. Slurm requeues the job onto two other nodes; the dead coordinator's lock
// row names another host with a heartbeat seconds old, but it also names this job with restart count 0,
// and the requeued run (SLURM_RESTART_COUNT 1) takes over its own earlier run's lock at once (db/lock.hpp,
// db/SCHEMA.md "The coordinator lock"). The rerun completes the study: the store intact, the lost run's
// attempts interrupted and resumed from their checkpoints, nothing lost or stored twice. It runs before
// the worker-node test, while two spare nodes are up.
TEST(MultiNode, LostCoordinatorNodeRequeuesAndTheRerunTakesOverItsLock) {
  REQUIRE_CLUSTER();
  const auto t0 = std::chrono::steady_clock::now();
  const int epochs = 60;
  const fs::path study = write_study("coordinator", epochs, 20);
  const std::string db = db_of(study);
  const auto [id, nodes] = submit_and_wait_midway(study);
  ASSERT_EQ(nodes.size(), 2u);
  ASSERT_FALSE(HasFailure());
  const std::string lost = nodes[0];
  EXPECT_EQ(text(db, "SELECT host || ':' || job || ':' || restart FROM coordinator_lock"), lost + ":ablate-cluster/" + id + ":0");
  const auto r = run_process({kSlurmCluster, "lose", g_cluster_dir.string(), lost}, 60);
  ASSERT_EQ(r.status, 0) << r.output;
  const auto info = wait_for_end(id, 400);
  const std::string log = job_log(study, "coordinator", id);
  EXPECT_GE(std::stoi(info.at("Restarts")), 1) << log;
  ASSERT_EQ(info.at("JobState"), "COMPLETED") << log;
  EXPECT_EQ(log.find("another coordinator is running this study"), std::string::npos) << log;
  EXPECT_NE(log.find("took over the lock of an earlier run of this Slurm job"), std::string::npos) << log;
  const auto rerun_nodes = job_nodes(info);
  EXPECT_EQ(std::count(rerun_nodes.begin(), rerun_nodes.end(), lost), 0) << info.at("NodeList");
  ASSERT_FALSE(rerun_nodes.empty());

  expect_complete(db, 4, epochs);
  EXPECT_EQ(text(db, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(query(db, "SELECT count(*) FROM coordinator_lock"), 0);
  // The lost run without an exit code on the lost node, the rerun's coordinator on the rerun's first node.
  EXPECT_EQ(text(db, "SELECT group_concat(host || ':' || ifnull(exit_code, 'none')) FROM runs"), lost + ":none," + rerun_nodes[0] + ":0");
  // The four attempts of the lost run are interrupted (two on the lost node), and each task was resumed.
  EXPECT_EQ(query(db, "SELECT count(*) FROM attempts WHERE attempt = 1 AND status = 'interrupted'"), 4) << log;
  EXPECT_EQ(query(db, "SELECT count(*) FROM attempts WHERE attempt = 1 AND host = '" + lost + "'"), 2);
  EXPECT_EQ(query(db, "SELECT count(*) FROM attempts WHERE status = 'done' AND first_epoch > 1 AND host <> '" + lost + "'"), 4)
      << log;
  std::cout << "[ measured ] coordinator's node " << lost << " lost, job requeued onto " << info.at("NodeList")
            << " and completed in " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s"
            << std::endl;
}

// A worker node lost. The killed coordinator (SIGKILLed after KillWait while it waited for the lost node's
// workers to checkpoint) leaves its lock row, which the rerun's coordinator takes over at once wherever it
// starts: on the same host the pid is gone, on another the row is this job's earlier run (the test above).
// Here the rerun's nodes are the job's first node and the one spare left, which Slurm numbers after it.
TEST(MultiNode, LostWorkerNodeRequeuesOntoTheOthersAndResumes) {
  REQUIRE_CLUSTER();
  const auto t0 = std::chrono::steady_clock::now();
  const int epochs = 60;  // long enough for the lost node's tasks to be mid-training when it goes
  const fs::path study = write_study("lost", epochs, 20);
  const std::string db = db_of(study);
  const auto [id, nodes] = submit_and_wait_midway(study);
  ASSERT_EQ(nodes.size(), 2u);
  const std::string lost = nodes[1];
  ASSERT_FALSE(HasFailure());

  // Placement as the ranks run it (read from their environment): rank 0 and workers 1, 2 on the first
  // node, workers 3, 4 on the second; the step gave every task its node's two GPUs (SLURM_STEP_GPUS) and
  // the script's wrapper narrowed each rank's CUDA_VISIBLE_DEVICES to its own: none for the coordinator,
  // GPU 0 and GPU 1 for the two workers of each node.
  const auto ranks = cluster_processes(id);
  ASSERT_EQ(ranks.size(), 5u) << "ranks of job " << id << " found running";
  std::set<std::string> given;
  for (const auto& [rank, env] : ranks) {
    auto get = [&env](const std::string& k) { return env.count(k) ? env.at(k) : std::string("(unset)"); };
    EXPECT_EQ(get("SLURMD_NODENAME"), rank <= 2 ? nodes[0] : nodes[1]) << "rank " << rank;
    EXPECT_EQ(get("SLURM_STEP_GPUS"), "0,1") << "rank " << rank;
    EXPECT_EQ(get("ABLATE_GPU_PER_RANK"), "1") << "rank " << rank;
    EXPECT_EQ(get("CUDA_VISIBLE_DEVICES"), rank == 0 ? "" : std::to_string((rank - 1) % 2)) << "rank " << rank;
    if (rank > 0) given.insert(get("SLURMD_NODENAME") + "/" + get("CUDA_VISIBLE_DEVICES"));
  }
  EXPECT_EQ(given.size(), 4u) << "each worker its own device";
  EXPECT_EQ(text(db, "SELECT group_concat(local_rank) FROM (SELECT local_rank FROM attempts WHERE host = '" + lost +
                         "' ORDER BY local_rank)"),
            "0,1");

  const auto r = run_process({kSlurmCluster, "lose", g_cluster_dir.string(), lost}, 60);
  ASSERT_EQ(r.status, 0) << r.output;
  const auto info = wait_for_end(id, 400);
  const std::string log = job_log(study, "lost", id);
  ASSERT_EQ(info.at("JobState"), "COMPLETED") << log;
  EXPECT_GE(std::stoi(info.at("Restarts")), 1) << log;
  EXPECT_EQ(run_process({"sinfo", "-h", "-n", lost, "-o", "%t"}, 30).output.substr(0, 4), "down");
  const auto rerun_nodes = job_nodes(info);
  EXPECT_EQ(std::count(rerun_nodes.begin(), rerun_nodes.end(), lost), 0) << info.at("NodeList");
  ASSERT_FALSE(rerun_nodes.empty());
  EXPECT_EQ(text(db, "SELECT group_concat(host) FROM runs"), nodes[0] + "," + rerun_nodes[0]);

  expect_complete(db, 4, epochs);
  EXPECT_EQ(text(db, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(query(db, "SELECT count(*) FROM coordinator_lock"), 0);
  // The lost node's attempts are interrupted, never done; each was resumed by a later attempt on another
  // node from its checkpoint, not from epoch 1.
  EXPECT_EQ(text(db, "SELECT group_concat(status) FROM attempts WHERE host = '" + lost + "'"), "interrupted,interrupted") << log;
  EXPECT_EQ(query(db, "SELECT count(*) FROM attempts a JOIN attempts b ON b.task_id = a.task_id AND b.attempt = a.attempt + 1 "
                      "WHERE a.host = '" + lost + "' AND b.status = 'done' AND b.host <> '" + lost + "' AND b.first_epoch > 1"),
            2)
      << log;
  EXPECT_EQ(query(db, "SELECT count(*) FROM runs"), 2);
  EXPECT_EQ(query(db, "SELECT count(*) FROM runs WHERE exit_code = 0"), 1);
  EXPECT_EQ(query(db, "SELECT count(*) FROM runs WHERE exit_code IS NULL"), 1) << "the lost run ended without an exit code";
  std::cout << "[ measured ] " << lost << " lost mid-run, job requeued onto " << info.at("NodeList") << " and completed in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s" << std::endl;
}
