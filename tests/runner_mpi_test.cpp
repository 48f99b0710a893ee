// Integration: the real `ablate run` under real `mpirun` (3 and 4 ranks) on a tiny synthetic study,
// checked through the store: every task done exactly once, fold metrics for every variant and fold,
// failures stored with their message and retried, crash (SIGKILL of the whole job) and resume from
// the checkpoint, identical metrics with 1 process and 3 ranks, SIGUSR1 -> exit 3, refusals; early stopping
// (ASHA) pausing at rungs and resuming from checkpoints, and kill -9 mid-search replaying the same decisions.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "db/store.hpp"
#include "mpi_util.hpp"

namespace fs = std::filesystem;
using namespace ablate;
using namespace mpi_util;

namespace {

fs::path g_dir;

// The pids of this machine's processes that run (zombies excluded), as an SQL list.
std::string live_pids() {
  std::string out = "-1";
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream st(e.path() / "stat");
    std::string line;
    if (!std::getline(st, line)) continue;
    const auto close = line.rfind(')');
    if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z') continue;
    out += "," + name;
  }
  return out;
}

// A study file next to the shared synthetic data.
std::string write_study(const std::string& name, int epochs, int steps, const std::string& extra = "") {
  fs::path p = g_dir / (name + ".toml");
  std::ofstream(p) << "[study]\nname = \"" << name << "\"\nseed = 11\nfolds = 3\n"
                   << "[data]\npath = \"data\"\nimage_size = 32\n"
                   << "[model]\nwidths = [4, 8, 16]\n"
                   << "[train]\nepochs = " << epochs << "\nsteps_per_epoch = " << steps
                   << "\nbatch_size = 2\nthreads = 1\nlr = 0.001\n"
                   << "[[ablation.variant]]\nname = \"unet\"\n"
                   << "[[ablation.variant]]\nname = \"cc\"\n\"model.cc\" = true\n"
                   << extra;
  return p.string();
}

std::string db_of(const std::string& name) { return (g_dir / (name + ".sqlite")).string(); }

class RunnerMpi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    allow_mpirun_as_root();
    g_dir = fs::temp_directory_path() / ("ablate-mpi-test-" + std::to_string(::getpid()));
    ASSERT_EQ(fresh_dir_with_data(g_dir, 6, 6), 0) << read_file(g_dir / "synth.log");
  }
  static void TearDownTestSuite() { fs::remove_all(g_dir); }
};

void expect_complete(const std::string& db, int variants, int folds) {
  db::Store s(db, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), variants * folds);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks"), variants * folds);
  // Exactly one dice value per variant and fold, and no duplicate rows anywhere.
  EXPECT_EQ(s.query_int("SELECT count(*) FROM fold_metrics WHERE metric = 'dice'"), variants * folds);
  EXPECT_EQ(s.query_int("SELECT count(DISTINCT variant || '/' || fold) FROM fold_metrics WHERE metric = 'dice'"), variants * folds);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM (SELECT task_id, epoch FROM epochs GROUP BY 1, 2 HAVING count(*) > 1)"), 0);
  EXPECT_GT(s.query_int("SELECT count(*) FROM case_metrics"), 0);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM coordinator_lock"), 0);
}

TEST_F(RunnerMpi, ThreeRanksRunEveryTaskExactlyOnce) {
  auto study = write_study("np3", 2, 2);
  ASSERT_EQ(run(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "np3.log"), 0) << read_file(g_dir / "np3.log");
  expect_complete(db_of("np3"), 2, 3);
  db::Store s(db_of("np3"), true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE attempts = 1"), 6);
  EXPECT_EQ(s.query_int("SELECT count(DISTINCT rank) FROM attempts"), 2);  // both workers worked
  EXPECT_EQ(s.query_int("SELECT count(*) FROM attempts WHERE rank = 0"), 0);  // the coordinator does not
  EXPECT_EQ(s.query_text("SELECT value FROM provenance WHERE key = 'ranks'"), "3");
  EXPECT_NE(s.query_text("SELECT value FROM provenance WHERE key = 'mpi_version'").find("Open MPI"), std::string::npos);
  // Running again finds nothing to do and duplicates nothing.
  ASSERT_EQ(run(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "np3b.log"), 0) << read_file(g_dir / "np3b.log");
  expect_complete(db_of("np3"), 2, 3);
  // status reads the same store.
  ASSERT_EQ(run(std::string(ABLATE_EXE) + " status --db " + db_of("np3"), g_dir / "status.log"), 0);
  EXPECT_NE(read_file(g_dir / "status.log").find("6 done"), std::string::npos) << read_file(g_dir / "status.log");
}

TEST_F(RunnerMpi, FourRanksFailingVariantIsStoredAndRetried) {
  // A learning rate LibTorch cannot hold as a float: every task of the variant throws.
  auto study = write_study("np4", 1, 2, "[[ablation.variant]]\nname = \"broken\"\n\"train.lr\" = 1e300\n");
  int rc = run(mpirun(4) + ABLATE_EXE + " run --max-retries 1 " + study, g_dir / "np4.log");
  EXPECT_EQ(rc, 1) << read_file(g_dir / "np4.log");
  db::Store s(db_of("np4"), true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 6);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done' AND attempts = 1"), 6);  // done once each
  EXPECT_EQ(s.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE t.status = 'done'"), 6);
  // Fold metrics of every done variant and fold (3 ranks of workers shared the work), none of the broken one.
  EXPECT_EQ(s.query_int("SELECT count(DISTINCT variant || '/' || fold) FROM fold_metrics WHERE metric = 'dice' AND "
                        "variant IN ('unet', 'cc')"),
            6);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM fold_metrics WHERE variant = 'broken'"), 0);
  EXPECT_EQ(s.query_int("SELECT count(DISTINCT rank) FROM attempts"), 3);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'failed' AND attempts = 2"), 3);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM attempts WHERE status = 'failed' AND error LIKE '%overflow%'"), 6);
  // The retry ran on another worker than the first attempt.
  EXPECT_EQ(s.query_int("SELECT count(*) FROM attempts a JOIN attempts b ON a.task_id = b.task_id AND a.attempt = 1 AND "
                        "b.attempt = 2 WHERE a.rank = b.rank"),
            0);
  ASSERT_EQ(run(std::string(ABLATE_EXE) + " status --db " + db_of("np4"), g_dir / "status4.log"), 0);
  EXPECT_NE(read_file(g_dir / "status4.log").find("overflow"), std::string::npos);
}

TEST_F(RunnerMpi, SameSeedSameFoldMetricsWithOneProcessAndThreeRanks) {
  auto one = write_study("one", 2, 3);
  auto three = write_study("three", 2, 3);
  ASSERT_EQ(run(std::string(ABLATE_EXE) + " run " + one, g_dir / "one.log"), 0) << read_file(g_dir / "one.log");
  ASSERT_EQ(run(mpirun(3) + ABLATE_EXE + " run " + three, g_dir / "three.log"), 0) << read_file(g_dir / "three.log");
  const std::string q =
      "SELECT group_concat(variant || '/' || fold || '/' || class || '/' || metric || '=' || printf('%.17g', value), ';') "
      "FROM (SELECT * FROM fold_metrics ORDER BY variant, fold, class, metric)";
  db::Store a(db_of("one"), true), b(db_of("three"), true);
  std::string ma = a.query_text(q), mb = b.query_text(q);
  EXPECT_FALSE(ma.empty());
  EXPECT_EQ(ma, mb);
  // Same folds too.
  EXPECT_EQ(a.query_text("SELECT group_concat(case_id) FROM (SELECT case_id FROM fold_cases ORDER BY fold_id, split, position)"),
            b.query_text("SELECT group_concat(case_id) FROM (SELECT case_id FROM fold_cases ORDER BY fold_id, split, position)"));
}

TEST_F(RunnerMpi, CrashAndResumeContinuesFromTheCheckpoint) {
  const int epochs = 8;
  auto study = write_study("crash", epochs, 30);
  const std::string db = db_of("crash");
  pid_t job = spawn(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "crash1.log");
  // Part-way: a task is running and has stored some, not all, of its epochs.
  const std::string mid =
      "SELECT t.id FROM tasks t WHERE t.status = 'running' AND (SELECT count(*) FROM epochs e WHERE e.task_id = t.id) BETWEEN 2 AND " +
      std::to_string(epochs - 2) + " LIMIT 1";
  bool reached = wait_for(db, "SELECT count(*) FROM (" + mid + ")");
  std::int64_t victim = 0;
  if (reached) {
    db::Store s(db, true);
    victim = s.query_int(mid);
  }
  // SIGKILL to mpirun: its ranks (in process groups of their own) notice the lost daemon and die
  // within about a second; the rerun must not start before the old coordinator is gone.
  kill(-job, SIGKILL);
  wait_exit(job);
  ASSERT_TRUE(reached) << read_file(g_dir / "crash1.log");
  ASSERT_GT(victim, 0);
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    db::Store s(db, true);
    gone = s.query_int("SELECT count(*) = 0 OR NOT (SELECT max(pid) FROM coordinator_lock) IN (" + live_pids() + ")") != 0;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone) << "the killed coordinator did not exit";
  // Its lock row is left behind, but status does not take a dead coordinator for a running one, and the
  // tasks it left `running` are shown as interrupted.
  ASSERT_EQ(run(std::string(ABLATE_EXE) + " status --db " + db, g_dir / "crash-status.log"), 0);
  const std::string status = read_file(g_dir / "crash-status.log");
  EXPECT_EQ(status.find("a coordinator holds"), std::string::npos) << status;
  EXPECT_NE(status.find("task(s) left running by a coordinator that is gone: counted as interrupted"), std::string::npos) << status;
  EXPECT_NE(status.find(" interrupted  pending  mean time\n"), std::string::npos) << status;
  EXPECT_NE(status.find("  elapsed 0:0"), std::string::npos) << status;
  ASSERT_EQ(run(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "crash2.log"), 0) << read_file(g_dir / "crash2.log");
  expect_complete(db, 2, 3);
  db::Store s(db, true);
  auto attempts = s.attempts(victim);
  ASSERT_GE(attempts.size(), 2u);
  EXPECT_EQ(attempts.front().status, "interrupted");
  EXPECT_EQ(attempts.back().status, "done");
  EXPECT_GT(attempts.back().first_epoch, 1) << "the rerun started from epoch 1, not from the checkpoint";
  EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs WHERE task_id = " + std::to_string(victim)), epochs);
}

TEST_F(RunnerMpi, Sigusr1StopsWithExit3AndSecondCoordinatorIsRefused) {
  auto study = write_study("sig", 8, 30);
  const std::string db = db_of("sig");
  pid_t job = spawn(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "sig1.log");
  bool reached = wait_for(db, "SELECT count(*) FROM epochs");
  // A second coordinator on the same study (plain process) refuses while the first runs.
  int second = run(std::string(ABLATE_EXE) + " run " + study, g_dir / "sig-second.log");
  kill(job, SIGUSR1);  // mpirun forwards SIGUSR1 to every rank (what Slurm sends before a time limit)
  int rc = wait_exit(job);
  ASSERT_TRUE(reached) << read_file(g_dir / "sig1.log");
  EXPECT_EQ(second, 1) << read_file(g_dir / "sig-second.log");
  EXPECT_NE(read_file(g_dir / "sig-second.log").find("another coordinator"), std::string::npos) << read_file(g_dir / "sig-second.log");
  EXPECT_EQ(rc, 3) << read_file(g_dir / "sig1.log");
  {
    db::Store s(db, true);
    EXPECT_GE(s.query_int("SELECT count(*) FROM tasks WHERE status = 'interrupted'"), 1);
    EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'running'"), 0);
    EXPECT_EQ(s.query_int("SELECT count(*) FROM coordinator_lock"), 0);
  }
  ASSERT_EQ(run(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "sig2.log"), 0) << read_file(g_dir / "sig2.log");
  expect_complete(db, 2, 3);
  db::Store s(db, true);
  EXPECT_GE(s.query_int("SELECT count(*) FROM attempts WHERE first_epoch > 1"), 1);
}

// A plain-process run (no launcher) stopped by SIGTERM: the running task checkpoints, the run exits 3 with
// everything stored, and the same command resumes it from the checkpoint.
TEST_F(RunnerMpi, SigtermStopsAPlainRunWithExit3AndItResumes) {
  auto study = write_study("term", 8, 30);
  const std::string db = db_of("term");
  pid_t job = spawn(std::string(ABLATE_EXE) + " run " + study, g_dir / "term1.log");
  bool reached = wait_for(db, "SELECT count(*) FROM epochs");
  kill(job, SIGTERM);
  int rc = wait_exit(job);
  ASSERT_TRUE(reached) << read_file(g_dir / "term1.log");
  EXPECT_EQ(rc, 3) << read_file(g_dir / "term1.log");
  EXPECT_NE(read_file(g_dir / "term1.log").find("run the same command again to resume"), std::string::npos)
      << read_file(g_dir / "term1.log");
  {
    db::Store s(db, true);
    EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'interrupted'"), 1);
    EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'running'"), 0);
    EXPECT_EQ(s.query_int("SELECT exit_code FROM runs"), 3);
  }
  ASSERT_EQ(run(std::string(ABLATE_EXE) + " run " + study, g_dir / "term2.log"), 0) << read_file(g_dir / "term2.log");
  expect_complete(db, 2, 3);
  db::Store s(db, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM attempts WHERE first_epoch > 1"), 1);
}

// A dataset that is not there refuses the run before any work under mpirun too: exit 2 naming the path.
TEST_F(RunnerMpi, MissingDatasetIsAnInputError) {
  fs::path p = g_dir / "nodata.toml";
  std::ofstream(p) << "[study]\nname = \"nodata\"\n[data]\npath = \"no-such-folder\"\n[[ablation.variant]]\nname = \"unet\"\n";
  EXPECT_EQ(run(mpirun(3) + ABLATE_EXE + " run " + p.string(), g_dir / "nodata.log"), 2) << read_file(g_dir / "nodata.log");
  EXPECT_NE(read_file(g_dir / "nodata.log").find("no-such-folder"), std::string::npos) << read_file(g_dir / "nodata.log");
  EXPECT_EQ(db::list_studies(db_of("nodata")).size(), 1u);  // the study row exists; no task ran
  db::Store s(db_of("nodata"), true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks"), 0);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM coordinator_lock"), 0);
}

// `ablate run` typed into a multi-task Slurm batch shell: the environment looks like a launch, MPI gives
// one rank; the study must run in-process instead of waiting for workers that never come.
TEST_F(RunnerMpi, SingleRankUnderALaunchEnvironmentRunsInProcess) {
  auto study = write_study("single", 1, 1);
  ASSERT_EQ(run("SLURM_NTASKS=2 SLURM_PROCID=0 timeout 300 " + std::string(ABLATE_EXE) + " run " + study, g_dir / "single.log"), 0)
      << read_file(g_dir / "single.log");
  EXPECT_NE(read_file(g_dir / "single.log").find("single rank"), std::string::npos) << read_file(g_dir / "single.log");
  expect_complete(db_of("single"), 2, 3);
}

TEST_F(RunnerMpi, ChangedVariantIsRefusedNamingVariantAndKeys) {
  auto study = write_study("chg", 1, 1);
  ASSERT_EQ(run(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "chg1.log"), 0) << read_file(g_dir / "chg1.log");
  write_study("chg", 1, 1, "\"model.sc\" = true\n");  // appended to the "cc" variant
  EXPECT_EQ(run(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "chg2.log"), 2);
  std::string log = read_file(g_dir / "chg2.log");
  EXPECT_NE(log.find("variant 'cc'"), std::string::npos) << log;
  EXPECT_NE(log.find("model.sc"), std::string::npos) << log;
  EXPECT_EQ(run(mpirun(3) + ABLATE_EXE + " run --new-study " + study, g_dir / "chg3.log"), 0) << read_file(g_dir / "chg3.log");
  EXPECT_EQ(db::list_studies(db_of("chg")), (std::vector<std::string>{"chg~1", "chg"}));
}

// Early stopping (ASHA, reduction 2, or the median rule, start-up 1; rungs 1/2/4) over a 2 x 2 grid of
// variants x learning rates, 3 folds.
std::string write_asha_study(const std::string& name, const std::string& method = "asha") {
  return write_study(name, 4, 2,
                     "[sweep]\n\"train.lr\" = [0.001, 0.003]\n"
                     "[sweep.early_stop]\nmethod = \"" + method + "\"\nrungs = [1, 2, 4]\n" +
                         (method == "asha" ? "reduction = 2\n" : "startup_trials = 1\n"));  // each method's own key
}

// Every task ends done (all 4 epochs, a result) or stopped at a rung with exactly that rung's epochs, and
// no arrival at a rung is logged twice.
void expect_rungs_consistent(const std::string& db) {
  db::Store s(db, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks"), 12);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status IN ('done', 'stopped')"), 12);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks t WHERE status = 'stopped' AND (rung NOT IN (1, 2) OR "
                        "(SELECT count(*) FROM epochs e WHERE e.task_id = t.id) != rung)"),
            0);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks t WHERE status = 'done' AND (SELECT count(*) FROM epochs e WHERE e.task_id = t.id) != 4"), 0);
  EXPECT_GE(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 3);  // at least one trial went through
  EXPECT_EQ(s.query_int("SELECT count(*) FROM fold_metrics WHERE metric = 'dice'"), s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"));
  EXPECT_EQ(s.query_int("SELECT count(*) FROM (SELECT variant_id, fold, \"repeat\", rung FROM early_stop_log WHERE kind = 'reached' "
                        "GROUP BY 1, 2, 3, 4 HAVING count(*) > 1)"),
            0);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM (SELECT task_id, epoch FROM epochs GROUP BY 1, 2 HAVING count(*) > 1)"), 0);
}

// The decisions of a store's log, sorted (variant, kind, rung).
std::vector<std::string> decisions_of(const std::string& db) {
  db::Store s(db, true);
  std::vector<std::string> out;
  for (const auto& e : s.early_stop_log(*s.find_study(db::list_studies(db).front()))) {
    if (e.kind != "reached" && e.kind != "failed") out.push_back(e.variant + " " + e.kind + " " + std::to_string(e.rung));
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(RunnerMpi, AshaUnderThreeRanksPausesAtRungsAndResumesFromCheckpoints) {
  auto study = write_asha_study("asha3");
  const std::string db = db_of("asha3");
  ASSERT_EQ(run(std::string(ABLATE_EXE) + " plan " + study, g_dir / "asha3-plan.log"), 0) << read_file(g_dir / "asha3-plan.log");
  EXPECT_NE(read_file(g_dir / "asha3-plan.log").find("early stopping: asha at epochs [1, 2, 4] on validation"), std::string::npos)
      << read_file(g_dir / "asha3-plan.log");
  ASSERT_EQ(run(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "asha3.log"), 0) << read_file(g_dir / "asha3.log");
  expect_rungs_consistent(db);
  db::Store s(db, true);
  // Each attempt of a task trained from the epoch after the previous rung: promoted tasks resumed from
  // their checkpoints, no epoch trained twice (first epochs 1 / 1,2 / 1,2,3 for rungs 1 / 2 / the end).
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks t WHERE (SELECT group_concat(first_epoch) FROM (SELECT first_epoch FROM "
                        "attempts WHERE task_id = t.id ORDER BY attempt)) != CASE WHEN t.status = 'done' THEN '1,2,3' "
                        "WHEN t.rung = 1 THEN '1' ELSE '1,2' END"),
            0);
  EXPECT_EQ(s.query_int("SELECT count(DISTINCT rank) FROM attempts"), 2);
  ASSERT_EQ(run(std::string(ABLATE_EXE) + " status --db " + db, g_dir / "asha3-status.log"), 0);
  const std::string status = read_file(g_dir / "asha3-status.log");
  EXPECT_NE(status.find("stopped at epoch 1 ("), std::string::npos) << status;  // a trial's state and value at its rung
  EXPECT_NE(status.find("rung 0 (epoch 1): 4 reached"), std::string::npos) << status;
  // Again: nothing to do, nothing duplicated.
  const auto before = decisions_of(db);
  ASSERT_EQ(run(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "asha3b.log"), 0) << read_file(g_dir / "asha3b.log");
  expect_rungs_consistent(db);
  EXPECT_EQ(decisions_of(db), before);
}

TEST_F(RunnerMpi, MedianUnderThreeRanksStopsOrContinuesEveryTrialAtTheRungs) {
  auto study = write_asha_study("median3", "median");
  const std::string db = db_of("median3");
  ASSERT_EQ(run(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "median3.log"), 0) << read_file(g_dir / "median3.log");
  expect_rungs_consistent(db);
  db::Store s(db, true);
  // The median rule never leaves a trial waiting: every trial is stopped at a rung or finished, and each
  // `continue` resumed the trial's folds from their checkpoints.
  EXPECT_EQ(s.query_int("SELECT count(*) FROM early_stop_log WHERE kind IN ('pause', 'promote')"), 0);
  EXPECT_EQ(s.query_int("SELECT count(DISTINCT variant_id) FROM early_stop_log WHERE kind IN ('stop', 'finish')"), 4);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks t WHERE (SELECT group_concat(first_epoch) FROM (SELECT first_epoch FROM "
                        "attempts WHERE task_id = t.id ORDER BY attempt)) != CASE WHEN t.status = 'done' THEN '1,2,3' "
                        "WHEN t.rung = 1 THEN '1' ELSE '1,2' END"),
            0);
}

// kill -9 of the whole job in the middle of the search, then the same command again: nothing lost or
// stored twice, and the decisions are those of an uninterrupted search (one worker: the arrivals come in
// the plan's order, so the decisions are a function of the seeds).
TEST_F(RunnerMpi, AshaKilledMidSearchResumesWithTheSameDecisions) {
  auto reference = write_asha_study("asharef");
  ASSERT_EQ(run(mpirun(2) + ABLATE_EXE + " run " + reference, g_dir / "asharef.log"), 0) << read_file(g_dir / "asharef.log");
  auto study = write_asha_study("ashakill");
  const std::string db = db_of("ashakill");
  pid_t job = spawn(mpirun(2) + ABLATE_EXE + " run " + study, g_dir / "ashakill1.log");
  bool reached = wait_for(db, "SELECT count(*) >= 3 FROM early_stop_log WHERE kind = 'pause'");
  kill(-job, SIGKILL);
  wait_exit(job);
  ASSERT_TRUE(reached) << read_file(g_dir / "ashakill1.log");
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    db::Store s(db, true);
    gone = s.query_int("SELECT count(*) = 0 OR NOT (SELECT max(pid) FROM coordinator_lock) IN (" + live_pids() + ")") != 0;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(gone) << "the killed coordinator did not exit";
  {
    db::Store s(db, true);
    EXPECT_GT(s.query_int("SELECT count(*) FROM tasks WHERE status != 'done' AND status != 'stopped'"), 0) << "killed too late";
  }
  ASSERT_EQ(run(mpirun(2) + ABLATE_EXE + " run " + study, g_dir / "ashakill2.log"), 0) << read_file(g_dir / "ashakill2.log");
  expect_rungs_consistent(db);
  EXPECT_EQ(decisions_of(db), decisions_of(db_of("asharef")));
}

}  // namespace
