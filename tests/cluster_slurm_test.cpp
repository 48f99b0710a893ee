// `ablate submit` on a real Slurm: scripts/slurm-local starts munged, slurmctld and slurmd on this machine
// (one node, a generated slurm.conf in a temporary folder) once for this executable, and stops exactly
// them afterwards, also when a test fails (the environment's TearDown) or this process dies (the script's
// --watch). The tests submit a tiny study from a folder whose name has a space and check the store:
// every task done exactly once, every epoch once, `ablate report` working; a job stopped with
// `scancel --signal=USR1` (the steps), with `scancel --signal=USR1 --batch` (the batch shell alone) and one
// stopped with `scontrol requeue` are requeued and resume from their checkpoints, leaving no hosts file; the mpirun script of `ablate submit --scheduler mpirun` runs inside sbatch as root.
//
// Where Slurm cannot run here (not root, slurm-wlm or munge not installed) every test is skipped with the
// reason, and this executable prints "SKIPPED: Slurm unavailable", which ctest reports as a skip
// (tests/CMakeLists.txt). Registered as one ctest test with RESOURCE_LOCK slurm: its tests run in order.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "cluster/process.hpp"
#include "db/store.hpp"
#include "slurm_util.hpp"

namespace fs = std::filesystem;
using ablate::cluster::run_process;
using namespace slurm_util;

namespace {

const std::string kSlurmLocal = std::string(ABLATE_SOURCE_DIR) + "/scripts/slurm-local";

fs::path g_root;           // temporary folder of this run
std::string g_skip;        // why Slurm is not available ("" = it is)
bool g_started = false;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SlurmEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    char tmpl[] = "/tmp/ablate-slurm-test-XXXXXX";
    g_root = mkdtemp(tmpl);
    // The jobs inherit this environment: the mpirun script must allow root itself.
    for (const char* v : {"OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "OMPI_MCA_rmaps_base_oversubscribe"}) unsetenv(v);
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = run_process({kSlurmLocal, "start", (g_root / "slurm").string(), "--watch", std::to_string(::getpid())}, 120);
    if (r.status == 4 || !r.started) {
      g_skip = r.started ? r.output : "scripts/slurm-local could not be started";
      while (!g_skip.empty() && g_skip.back() == '\n') g_skip.pop_back();
      std::cout << "SKIPPED: Slurm unavailable: " << g_skip << std::endl;
      return;
    }
    ASSERT_EQ(r.status, 0) << "scripts/slurm-local start failed:\n" << r.output;
    g_started = true;
    setenv("SLURM_CONF", (g_root / "slurm" / "slurm.conf").c_str(), 1);
    std::cout << "slurm-local started in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s" << std::endl;
    // The shared synthetic dataset of the studies.
    const auto synth = run_process({ABLATE_EXE, "data", "synth", "--out", (g_root / "data").string(), "--cases", "6",
                                    "--size", "32", "--slices", "6"},
                                   120);
    ASSERT_EQ(synth.status, 0) << synth.output;
  }
  void TearDown() override {
    if (g_started) {
      const auto r = run_process({kSlurmLocal, "stop", (g_root / "slurm").string()}, 120);
      EXPECT_EQ(r.status, 0) << r.output;
      const auto st = run_process({kSlurmLocal, "status", (g_root / "slurm").string()}, 30);
      EXPECT_NE(st.status, 0) << "daemons still running after stop:\n" << st.output;
    }
    std::error_code ec;
    fs::remove_all(g_root, ec);
  }
};

const auto* const g_env = ::testing::AddGlobalTestEnvironment(new SlurmEnvironment);

// A tiny study in "<root>/<name> study/" (a space in every path of the job), 1 variant x 2 folds.
fs::path write_study(const std::string& name, int epochs, int steps) {
  const fs::path dir = g_root / (name + " study");
  fs::create_directories(dir);
  const fs::path p = dir / (name + ".toml");
  std::ofstream(p) << "[study]\nname = \"" << name << "\"\nseed = 5\nfolds = 2\n"
                   << "[data]\npath = \"" << (g_root / "data").string() << "\"\nimage_size = 32\n"
                   << "[model]\nwidths = [4, 8]\n"
                   << "[train]\nepochs = " << epochs << "\nsteps_per_epoch = " << steps << "\nbatch_size = 2\nlr = 0.001\n"
                   << "[resources]\nranks = 3\ncpus_per_rank = 1\ntime = \"00:20:00\"\n"
                   << "[[ablation.variant]]\nname = \"unet\"\n";
  return p;
}

std::string job_log(const fs::path& study, const std::string& name, const std::string& id) {
  return read_file(study.parent_path() / "logs" / ("ablate-" + name + "-" + id + ".out"));
}

#define REQUIRE_SLURM() \
  if (!g_skip.empty()) GTEST_SKIP() << "Slurm unavailable: " << g_skip

}  // namespace

TEST(Slurm, TinyStudyRunsToCompletionAndReports) {
  REQUIRE_SLURM();
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path study = write_study("tiny", 2, 2);
  const std::string db = (study.parent_path() / "tiny.sqlite").string();
  const std::string id = submit(study);
  ASSERT_FALSE(id.empty());
  const auto info = wait_for_end(id);
  EXPECT_EQ(info.at("JobState"), "COMPLETED") << job_log(study, "tiny", id);
  EXPECT_EQ(info.at("ExitCode"), "0:0");
  expect_complete(db, 2, 2);
  // The 3 ranks ran on 2 CPUs: the allocation is the 2 workers', the coordinator shares them.
  EXPECT_EQ(info.at("NumCPUs"), "2");
  EXPECT_EQ(query(db, "SELECT count(*) FROM attempts WHERE rank < 1 OR rank > 2"), 0) << "only the workers 1 and 2 train";
  const auto report = run_process({ABLATE_EXE, "report", "--db", db, "--out", (study.parent_path() / "report").string()}, 300);
  EXPECT_EQ(report.status, 0) << report.output;
  EXPECT_TRUE(fs::exists(study.parent_path() / "report" / "report.html")) << report.output;
  std::cout << "[ measured ] tiny study (2 tasks) submitted, run and reported in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s" << std::endl;
}

// Stops a running job with `stop` (a command with the job id appended) once an epoch is stored, and
// checks that it was requeued and resumed from the checkpoints with nothing lost or duplicated.
void stop_midway_and_resume(const std::string& name, const std::vector<std::string>& stop) {
  const auto t0 = std::chrono::steady_clock::now();
  // Hosts files of earlier jobs with the same id (another cluster of the suite, whose killed job could not
  // clean up) are not this job's: only files written after the submission count.
  const auto submitted = fs::file_time_type::clock::now();
  // Long enough (seconds per task) to be stopped while both tasks train.
  const int epochs = 40;
  const fs::path study = write_study(name, epochs, 25);
  const std::string db = (study.parent_path() / (name + ".sqlite")).string();
  const std::string id = submit(study);
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(wait_for_store(db, "SELECT count(*) FROM epochs", id)) << job_log(study, name, id);
  ASSERT_EQ(query(db, "SELECT count(*) FROM tasks WHERE status = 'done'"), 0) << "too late to stop it midway";
  // `ablate status` reads the store while the job writes it (a login node would do the same).
  const auto status = run_process({ABLATE_EXE, "status", "--db", db}, 60);
  EXPECT_EQ(status.status, 0) << status.output;
  EXPECT_NE(status.output.find("a coordinator holds the study"), std::string::npos) << status.output;
  std::vector<std::string> argv = stop;
  argv.push_back(id);
  const auto r = run_process(argv, 60);
  ASSERT_EQ(r.status, 0) << r.output;
  const auto info = wait_for_end(id);
  const std::string log = job_log(study, name, id);
  EXPECT_EQ(info.at("JobState"), "COMPLETED") << log;
  EXPECT_GE(std::stoi(info.at("Restarts")), 1) << log;
  expect_complete(db, 2, epochs);
  // The stop was clean (an attempt stored as interrupted) and the next attempt resumed from its
  // checkpoint instead of starting again at epoch 1.
  EXPECT_GE(query(db, "SELECT count(*) FROM attempts WHERE status = 'interrupted'"), 1) << log;
  EXPECT_GE(query(db, "SELECT count(*) FROM attempts WHERE first_epoch > 1"), 1) << log;
  // The batch shell removed its hosts file on the way out, after the stop as after the last run.
  const char* tmp = std::getenv("TMPDIR");
  for (const auto& e : fs::directory_iterator(tmp && *tmp ? tmp : "/tmp")) {
    std::error_code ec;
    if (fs::last_write_time(e.path(), ec) < submitted) continue;
    EXPECT_NE(e.path().filename().string().rfind("ablate-hosts." + id + ".", 0), 0u) << e.path();
  }
  std::cout << "[ measured ] " << name << ": stopped with `" << stop[0] << " " << (stop.size() > 1 ? stop[1] : "")
            << "`, requeued and completed in " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
            << " s" << std::endl;
}

TEST(Slurm, Usr1StopsTheJobWhichRequeuesAndResumes) {
  REQUIRE_SLURM();
  stop_midway_and_resume("usr1", {"scancel", "--signal=USR1"});
}

// The form of scancel that signals the batch shell alone (many clusters' preemption): the shell passes
// SIGUSR1 on to the step, the ranks stop with their checkpoints and the job requeues (issue 25: the shell
// had no trap, died, and nothing requeued).
TEST(Slurm, Usr1ToTheBatchShellAloneRequeuesToo) {
  REQUIRE_SLURM();
  stop_midway_and_resume("usr1batch", {"scancel", "--signal=USR1", "--batch"});
}

TEST(Slurm, ScontrolRequeueResumesFromTheCheckpoints) {
  REQUIRE_SLURM();
  stop_midway_and_resume("requeue", {"scontrol", "requeue"});
}

TEST(Slurm, MpirunSchedulerScriptRunsInsideSbatch) {
  REQUIRE_SLURM();
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path study = write_study("viampirun", 2, 2);
  const std::string db = (study.parent_path() / "viampirun.sqlite").string();
  const auto w = run_process({ABLATE_EXE, "submit", study.string(), "--scheduler", "mpirun"}, 120);
  ASSERT_EQ(w.status, 0) << w.output;
  const fs::path script = study.parent_path() / "viampirun.mpirun.sh";
  const fs::path out = study.parent_path() / "logs" / "sbatch.out";
  const auto s = run_process({"sbatch", "--ntasks=2", "--output=" + out.string(), script.string()}, 120);
  ASSERT_EQ(s.status, 0) << s.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(s.output, m, std::regex(R"(Submitted batch job (\d+))"))) << s.output;
  const auto info = wait_for_end(m[1]);
  EXPECT_EQ(info.at("JobState"), "COMPLETED") << read_file(out) << read_file(study.parent_path() / "logs" / "ablate-viampirun.log");
  expect_complete(db, 2, 2);
  std::cout << "[ measured ] mpirun script inside sbatch: "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s" << std::endl;
}

// The acceptance of job arrays (docs/RUNNER.md "Job arrays vs one MPI job"): `ablate submit --array 2` of a
// tiny study (1 variant x 2 folds: one task per element), element 0 stopped with SIGUSR1 while it trains
// (it exits 3 and requeues itself alone), and the merge job, which Slurm starts only when both elements have
// ended, joins the shard stores into one store whose results equal a single run of the same study: every
// task once, every epoch once, the same losses and metrics (train.threads = 1: bit for bit on the CPU,
// through the checkpoint too).
TEST(Slurm, ArrayOfTwoWithARequeuedElementMergesIntoOneStore) {
  REQUIRE_SLURM();
  const auto t0 = std::chrono::steady_clock::now();
  const std::string name = "arr";
  const int epochs = 30;
  const fs::path dir = g_root / "arr study";
  fs::create_directories(dir);
  const fs::path study = dir / "arr.toml";
  std::ofstream(study) << "[study]\nname = \"arr\"\nseed = 5\nfolds = 2\n"
                       << "[data]\npath = \"" << (g_root / "data").string() << "\"\nimage_size = 32\n"
                       << "[model]\nwidths = [4, 8]\n"
                       << "[train]\nepochs = " << epochs << "\nsteps_per_epoch = 25\nbatch_size = 2\nlr = 0.001\nthreads = 1\n"
                       << "[resources]\narray = 2\ncpus_per_rank = 1\ntime = \"00:20:00\"\n"
                       << "[[ablation.variant]]\nname = \"unet\"\n";
  const auto r = run_process({ABLATE_EXE, "submit", study.string(), "--submit", "--signal-seconds", "60"}, 120);
  ASSERT_EQ(r.status, 0) << r.output;
  std::vector<std::string> ids;
  static const std::regex submitted(R"(Submitted batch job (\d+))");
  for (std::sregex_iterator it(r.output.begin(), r.output.end(), submitted), end; it != end; ++it) ids.push_back((*it)[1]);
  ASSERT_EQ(ids.size(), 2u) << "the array and its merge job:\n" << r.output;
  const std::string array = ids[0], merge = ids[1];
  EXPECT_NE(job_info(merge)["Dependency"].find("afterany:" + array), std::string::npos) << job_info(merge)["Dependency"];
  const std::string shard0 = (dir / "arr.shard-0.sqlite").string(), db = (dir / "arr.sqlite").string();
  auto log = [&](const std::string& element) { return read_file(dir / "logs" / ("ablate-arr-" + array + "_" + element + ".out")); };
  ASSERT_TRUE(wait_for_store(shard0, "SELECT count(*) FROM epochs", array + "_0")) << log("0");
  ASSERT_EQ(query(shard0, "SELECT count(*) FROM tasks WHERE status = 'done'"), 0) << "too late to stop it midway";
  const auto stop = run_process({"scancel", "--signal=USR1", array + "_0"}, 60);
  ASSERT_EQ(stop.status, 0) << stop.output;
  // The merge job must wait for the requeued element: it ends last.
  const auto merged = wait_for_end(merge);
  auto element0 = job_info(array + "_0");
  EXPECT_EQ(element0["JobState"], "COMPLETED") << log("0");
  EXPECT_GE(std::stoi(element0["Restarts"].empty() ? "0" : element0["Restarts"]), 1) << log("0");
  EXPECT_EQ(job_info(array + "_1")["JobState"], "COMPLETED") << log("1");
  const std::string merge_log = read_file(dir / "logs" / ("ablate-arr-merge-" + merge + ".out"));
  ASSERT_EQ(merged.at("JobState"), "COMPLETED") << merge_log;
  EXPECT_NE(merge_log.find("2 task(s), 2 done"), std::string::npos) << merge_log;
  EXPECT_TRUE(fs::exists(dir / "arr-report" / "report.html")) << merge_log;
  // One store, nothing lost or duplicated; the stop was clean and the element resumed from its checkpoint.
  expect_complete(db, 2, epochs);
  EXPECT_EQ(query(db, "SELECT count(*) FROM attempts WHERE status = 'interrupted'"), 1) << log("0");
  EXPECT_EQ(query(db, "SELECT count(*) FROM attempts WHERE first_epoch > 1"), 1) << log("0");
  // The same results as one run of the study.
  const std::string single = (dir / "single.sqlite").string();
  const auto one = run_process({ABLATE_EXE, "run", study.string(), "--db", single}, 600);
  ASSERT_EQ(one.status, 0) << one.output;
  const std::string results =
      "SELECT group_concat(line, char(10)) FROM (SELECT f.fold || ' ' || e.epoch || printf(' %.17g %.17g', e.train_loss, e.val_score) "
      "AS line FROM epochs e JOIN tasks t ON t.id = e.task_id JOIN folds f ON f.id = t.fold_id UNION ALL SELECT f.fold || ' ' || "
      "m.metric || ' ' || m.class || printf(' %.17g', m.value) FROM task_metrics m JOIN tasks t ON t.id = m.task_id JOIN folds f "
      "ON f.id = t.fold_id ORDER BY line)";
  const std::string a = ablate::db::Store(db, true).query_text(results);
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, ablate::db::Store(single, true).query_text(results));
  std::cout << "[ measured ] array of 2, element 0 stopped and requeued, merged and reported in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s" << std::endl;
}
