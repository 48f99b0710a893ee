// Integration: searches run by the real `ablate run` under real `mpirun -np 3` on a tiny synthetic study:
// the random trials stored are the trials planned; a TPE search killed with SIGKILL mid-search and run
// again loses nothing, duplicates nothing and keeps its stored proposals; status shows the best trial.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "ablations/study.hpp"
#include "db/store.hpp"
#include "mpi_util.hpp"

namespace fs = std::filesystem;
using namespace ablate;
using namespace mpi_util;

namespace {

fs::path g_dir;

std::string write_study(const std::string& name, const std::string& method, int trials, const std::string& objective = "") {
  fs::path p = g_dir / (name + ".toml");
  std::ofstream(p) << "[study]\nname = \"" << name << "\"\nseed = 11\nfolds = 2\nvalidation_fraction = 0.25\n"
                   << "[data]\npath = \"data\"\nimage_size = 32\n"
                   << "[model]\nwidths = [4, 8]\n"
                   << "[train]\nepochs = 2\nsteps_per_epoch = 3\nbatch_size = 2\nthreads = 1\n"
                   << "[sweep]\nmethod = \"" << method << "\"\ntrials = " << trials << "\n"
                   << (method == "tpe" ? "startup = 2\n" : "")
                   << (objective.empty() ? "" : "objective = \"" + objective + "\"\n")
                   << "\"train.lr\" = { log_uniform = [1e-4, 1e-1] }\n"
                   << "\"loss.alpha\" = { uniform = [0.1, 0.9] }\n"
                   << "[loss]\nname = \"hybrid\"\n";
  return p.string();
}

std::string db_of(const std::string& name) { return (g_dir / (name + ".sqlite")).string(); }

class SearchMpi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    allow_mpirun_as_root();
    g_dir = fs::temp_directory_path() / ("ablate-search-mpi-" + std::to_string(::getpid()));
    ASSERT_EQ(fresh_dir_with_data(g_dir, 8, 4), 0) << read_file(g_dir / "synth.log");
  }
  static void TearDownTestSuite() { fs::remove_all(g_dir); }
};

}  // namespace

// With objective = "hd95" (a distance, lower is better): the trainer selects each fold's epoch on the
// validation HD95, the objective is its mean at that epoch, and status names the lowest trial.
TEST_F(SearchMpi, RandomTrialsStoredAreTheTrialsPlanned) {
  const auto study = write_study("rnd", "random", 3, "hd95");
  ASSERT_EQ(run(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "rnd.log"), 0) << read_file(g_dir / "rnd.log");
  const Study planned = load_study(study);
  db::Store s(db_of("rnd"), true);
  const auto trials = s.trials(*s.find_study("rnd"));
  ASSERT_EQ(trials.size(), planned.variants.size());
  for (std::size_t i = 0; i < trials.size(); ++i) EXPECT_EQ(trials[i].variant, planned.variants[i].name);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 6);
  EXPECT_EQ(s.query_int("SELECT count(DISTINCT rank) FROM attempts"), 2);
  ASSERT_EQ(run(std::string(ABLATE_EXE) + " status --db " + db_of("rnd"), g_dir / "rnd-status.log"), 0);
  const std::string status = read_file(g_dir / "rnd-status.log");
  EXPECT_NE(status.find("search: random, 3 trial(s) proposed of 3, 3 finished"), std::string::npos) << status;
  EXPECT_NE(status.find("best so far: t00"), std::string::npos) << status;
  EXPECT_NE(status.find("validation hd95"), std::string::npos) << status;
  EXPECT_NE(status.find("(lower is better)"), std::string::npos) << status;
  const auto id = *s.find_study("rnd");
  // The selected epoch of every fold has the lowest validation HD95 of its epochs (ties: the earlier).
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks t JOIN epochs e ON e.task_id = t.id AND e.epoch = t.best_epoch "
                        "WHERE e.val_score IS NULL OR e.val_score > (SELECT min(val_score) FROM epochs WHERE task_id = t.id)"),
            0);
  const auto objective = s.validation_objective(id, "hd95");
  ASSERT_EQ(objective.size(), 3u);
  std::string best;
  for (const auto& [name, o] : objective) {
    const double mean = std::stod(s.query_text(
        "SELECT avg(e.val_score) FROM tasks t JOIN variants v ON v.id = t.variant_id JOIN epochs e ON e.task_id = t.id AND "
        "e.epoch = t.best_epoch WHERE v.name = '" + name + "'"));
    EXPECT_DOUBLE_EQ(o.value, mean) << name;
    if (best.empty() || o.value < objective.at(best).value) best = name;
  }
  EXPECT_NE(status.find("best so far: " + best), std::string::npos) << status;
}

TEST_F(SearchMpi, KilledTpeSearchResumesWithNothingLostOrDuplicated) {
  const int trials = 6;
  const auto study = write_study("tpe", "tpe", trials);
  const std::string db = db_of("tpe");
  pid_t job = spawn(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "tpe1.log");
  // Mid-search: past the random start, some trials done and proposals stored.
  const bool reached = wait_for(db, "SELECT count(*) >= 3 FROM trials");
  kill(-job, SIGKILL);
  wait_exit(job);
  ASSERT_TRUE(reached) << read_file(g_dir / "tpe1.log");
  std::vector<db::TrialRow> before;
  {
    db::Store s(db, true);
    before = s.trials(*s.find_study("tpe"));
  }
  ASSERT_LT(before.size(), static_cast<std::size_t>(trials)) << "the search finished before it was killed";
  // The killed coordinator's lock is taken over (its pid is gone); rerun until complete.
  int rc = 1;
  for (int attempt = 0; attempt < 20 && rc != 0; ++attempt) {
    rc = run(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "tpe2.log");
    if (rc != 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_EQ(rc, 0) << read_file(g_dir / "tpe2.log");
  db::Store s(db, true);
  const auto id = *s.find_study("tpe");
  const auto after = s.trials(id);
  ASSERT_EQ(after.size(), static_cast<std::size_t>(trials));
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(after[i].trial, before[i].trial);
    EXPECT_EQ(after[i].variant, before[i].variant);
    EXPECT_EQ(after[i].point, before[i].point);
    EXPECT_EQ(after[i].seen, before[i].seen);
  }
  EXPECT_EQ(s.query_int("SELECT count(DISTINCT trial) FROM trials"), trials);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM variants"), trials);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks"), 2 * trials);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 2 * trials);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM (SELECT task_id, epoch FROM epochs GROUP BY 1, 2 HAVING count(*) > 1)"), 0);
  // The startup trials are the random sampler's, whatever the timing.
  const Study planned = load_study(study);
  for (const auto& t : after) {
    if (t.trial >= 2) continue;
    const Variant v = trial_variant(planned, "", t.trial, sweeps::random_sample(planned.search.space, 11, t.trial));
    EXPECT_EQ(t.variant, v.name);
  }
  EXPECT_EQ(s.validation_objective(id, "dice").size(), static_cast<std::size_t>(trials));
}
