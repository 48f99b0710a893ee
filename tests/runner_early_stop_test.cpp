// Early stopping driven by the coordinator, over the in-process transport with a scripted executor (no
// model): tasks pause at the rungs, promoted trials resume where they paused (no epoch twice), stopped
// tasks keep exactly their rung's epochs and never appear as results, and a coordinator stopped in the
// middle of the search and run again takes the same decisions as an uninterrupted one.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "ablations/study.hpp"
#include "cli_util.hpp"
#include "db/rows.hpp"
#include "db/store.hpp"
#include "inproc_fixture.hpp"
#include "reports/report.hpp"
#include "reports/search.hpp"
#include "rung_script.hpp"
#include "runner/run.hpp"
#include "runner/rungs.hpp"  // varied_loss_key
#include "sweeps/early_stop.hpp"

namespace fs = std::filesystem;
using namespace ablate;
using namespace ablate::runner;

namespace {

// A "training" whose validation Dice at epoch e is q (1 - 1/(e + 1)) + 0.001 fold, with a quality q per
// alpha (kQuality): the trials rank the same at every epoch, alpha = 0.3 is the best. Its "checkpoint" is
// the number of epochs done per (variant, fold, repeat), kept across runs like a checkpoint file.
//                                    alpha 0.1   0.2   0.3   0.4   0.5   0.6   0.7   0.8   0.9
constexpr double kQuality[9] = {0.50, 0.80, 0.95, 0.70, 0.30, 0.60, 0.90, 0.20, 0.40};
class ScriptedExecutor : public Executor {
 public:
  TaskResult execute(const Task& task, const ExecContext& ctx) override {
    const VariantConfig c = parse_canonical(task.canonical_config);
    const auto key = std::make_tuple(task.variant, task.fold, task.repeat);
    if (failing_.count(key)) throw std::runtime_error("scripted failure of " + task.variant + " fold " + std::to_string(task.fold));
    int first = 0;
    {
      std::lock_guard<std::mutex> lock(m_);
      first = done_[key] + 1;
      ++executions_;
      if (first == 1 && (started_.empty() || started_.back() != task.variant)) started_.push_back(task.variant);
      if (stop_after_ > 0 && executions_ == stop_after_) stop_flag().store(true);
    }
    const double q = kQuality[static_cast<int>(std::lround(c.loss.alpha * 10)) - 1];
    TaskResult r = rung_script::train(task, c.train.epochs, first, q, [&](const EpochRecord& rec) {
      std::lock_guard<std::mutex> lock(m_);
      trained_[key].push_back(rec.epoch);
      if (ctx.on_epoch) ctx.on_epoch(rec);
    });
    {
      std::lock_guard<std::mutex> lock(m_);
      done_[key] = std::max(done_[key], r.best_epoch);
    }
    return r;
  }
  double estimate_cost(const Variant&) override { return 1; }

  std::mutex m_;
  std::map<std::tuple<std::string, int, int>, int> done_;
  std::map<std::tuple<std::string, int, int>, std::vector<int>> trained_;
  int executions_ = 0;
  std::vector<std::string> started_;  // trials in the order their first fold started
  int stop_after_ = 0;  // > 0: raise the stop flag at that execution (a coordinator stopped mid-search)
  std::set<std::tuple<std::string, int, int>> failing_;  // tasks that always throw
};

// One worker: the order of arrivals, and so of decisions, is the plan's; four cases.
class EarlyStopRun : public inproc_test::InprocFixture {
 protected:
  EarlyStopRun() : InprocFixture("ablate-es", 1, {"a", "b", "c", "d"}) {}
  void SetUp() override {
    InprocFixture::SetUp();
    // A validation case per fold: the scripted score is a validation Dice (maximised); without
    // validation cases the objective would be the training loss (minimised).
    opt_.make_splits = inproc_test::validation_splits;
  }
  void write_study(const std::string& method) {
    opt_.study_file = (dir_ / "s.toml").string();
    std::ofstream(opt_.study_file) << "[study]\nname = \"s\"\nfolds = 2\n[data]\npath = \"nowhere\"\n"
                                      "[train]\nepochs = 9\nselect_metric = \"dice\"\n"
                                      "[sweep]\n\"loss.alpha\" = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]\n"
                                      "[sweep.early_stop]\nmethod = \""
                                   << method << "\"\nrungs = [1, 3, 9]\n"
                                   << (method == "asha" ? "reduction = 3\n" : "startup_trials = 2\n");  // each method's own key
  }
  // The decisions of the log (not the folds' arrivals), in order.
  std::vector<std::string> decisions() {
    db::Store s(opt_.db_path, true);
    std::vector<std::string> out;
    for (const auto& e : s.early_stop_log(*s.find_study("s"))) {
      if (e.kind != "reached" && e.kind != "failed") out.push_back(e.variant + " " + e.kind + " " + std::to_string(e.rung));
    }
    return out;
  }
};

// Every fold's epochs, over all executions, are 1..n once each: a resumed task starts after its pause.
void expect_no_epoch_twice(const ScriptedExecutor& x) {
  for (const auto& [key, epochs] : x.trained_) {
    for (size_t i = 0; i < epochs.size(); ++i) EXPECT_EQ(epochs[i], static_cast<int>(i) + 1) << std::get<0>(key);
  }
}

}  // namespace

TEST_F(EarlyStopRun, AshaPausesPromotesAndStopsAtRungs) {
  write_study("asha");
  ScriptedExecutor x;
  ASSERT_EQ(run_study(opt_, x), kRunOk);
  expect_no_epoch_twice(x);
  db::Store s(opt_.db_path, true);
  // Every task ends at a rung: stopped tasks with exactly that rung's epochs, done ones with all 9.
  for (const auto& t : s.tasks(*s.find_study("s"))) {
    if (t.status == "stopped") {
      EXPECT_TRUE(t.rung == 1 || t.rung == 3) << t.variant;
      EXPECT_EQ(t.epochs_stored, t.rung) << t.variant;
    } else {
      EXPECT_EQ(t.status, "done") << t.variant;
      EXPECT_EQ(t.epochs_stored, 9) << t.variant;
    }
  }
  // With one worker the trials arrive in the seeded order of study.seed 42 (kSeed42: alpha 0.3 0.1 0.5 0.9
  // 0.8 0.2 0.7 0.6 0.4, qualities .95 .50 .30 .40 .20 .80 .90 .60 .70); a free worker takes a promotion
  // first (the top floor(n/3) of a rung, highest rung first):
  //   rung 0 n=3: promote 0.3 | n=6 top2 {0.3, 0.2}: promote 0.2 | n=7 top2 {0.3, 0.7}: promote 0.7, and
  //   rung 1 n=3 top1 {0.3}: promote 0.3 to the last rung. n=8, n=9 (top3 {0.3, 0.7, 0.2}): nothing new.
  EXPECT_EQ(s.query_int("SELECT count(DISTINCT variant) FROM fold_metrics"), 1);
  EXPECT_EQ(s.query_text("SELECT variant FROM fold_metrics LIMIT 1"), "alpha0.3");
  EXPECT_EQ(s.query_int("SELECT count(*) FROM fold_metrics"), 2);  // its two folds; stopped trials are no results
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'stopped' AND rung = 1"), 2 * 6);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'stopped' AND rung = 3"), 2 * 2);
  // Epochs spent: 9 trials x 2 folds x 1 + 3 x 2 x 2 + 1 x 2 x 6 = 42, against 9 x 2 x 9 = 162 without.
  int spent = 0;
  for (const auto& [key, epochs] : x.trained_) spent += static_cast<int>(epochs.size());
  EXPECT_EQ(spent, 42);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs"), 42);
  // Rung 0 is reached by every trial; each promotion is logged once.
  const auto d = decisions();
  EXPECT_EQ(std::count_if(d.begin(), d.end(), [](const std::string& x) { return x.find(" pause 0") != std::string::npos; }), 9);
  EXPECT_EQ(std::count(d.begin(), d.end(), "alpha0.3 promote 0"), 1);
  EXPECT_EQ(std::count(d.begin(), d.end(), "alpha0.3 promote 1"), 1);
  EXPECT_EQ(std::count(d.begin(), d.end(), "alpha0.3 finish 2"), 1);
  EXPECT_EQ(std::count_if(d.begin(), d.end(), [](const std::string& x) { return x.find(" promote ") != std::string::npos; }), 4);
  // Reports: stopped trials are named as stopped, never results; their partial curves are in the
  // convergence data (alpha 0.1 stopped at epoch 1: its epoch 1, over both folds, and nothing after).
  const db::StudyData data = db::load_study_data(opt_.db_path, "s");
  EXPECT_EQ(data.stopped.size(), 8u);
  EXPECT_EQ(data.stopped.at("alpha0.2"), 3);
  EXPECT_EQ(data.stopped.count("alpha0.3"), 0u);
  const reports::ComparisonTable table = reports::comparison_table({data}, ReportConfig{}, {});
  // One note for the eight (one line per cause, their names listed), not one per variant.
  const std::string note = "study 's': 8 variants were stopped early at a rung (early stopping)";
  EXPECT_EQ(std::count_if(table.notes.begin(), table.notes.end(), [&](const std::string& n) { return n.find("stopped early") != std::string::npos; }), 1);
  EXPECT_TRUE(std::any_of(table.notes.begin(), table.notes.end(), [&](const std::string& n) {
    return n.find(note) == 0 && n.find("alpha0.1 at epoch 1") != std::string::npos && n.find("alpha0.2 at epoch 3") != std::string::npos;
  })) << ::testing::PrintToString(table.notes);
  const std::string csv = reports::convergence_csv(data);
  EXPECT_NE(csv.find("\ns,alpha0.1,1,2,"), std::string::npos) << csv;
  EXPECT_EQ(csv.find("\ns,alpha0.1,2,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\ns,alpha0.2,3,2,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\ns,alpha0.3,9,2,"), std::string::npos) << csv;

  // Running again: nothing to do, nothing duplicated.
  ScriptedExecutor again;
  ASSERT_EQ(run_study(opt_, again), kRunOk);
  EXPECT_EQ(again.executions_, 0);
  EXPECT_EQ(decisions(), d);
  // A decision lost with a killed coordinator (the fold's arrival stored, the decision it completed not
  // yet logged) follows from the logged arrivals: the next start logs it.
  {
    db::Store w(opt_.db_path);
    w.exec("DELETE FROM early_stop_log WHERE id = (SELECT max(id) FROM early_stop_log WHERE kind = 'pause')");
  }
  ASSERT_EQ(decisions().size(), d.size() - 1);
  ASSERT_EQ(run_study(opt_, again), kRunOk);
  EXPECT_EQ(again.executions_, 0);
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(sorted(decisions()), sorted(d));
}

// A checkpoint already past the rung (left in a shared workdir by another store's run of the same study):
// the task pauses later than asked, the store still holds exactly the rung's epochs, and the decisions are
// those of the search without it.
TEST_F(EarlyStopRun, ACheckpointPastTheRungStoresTheRungsEpochs) {
  write_study("asha");
  ScriptedExecutor reference;
  ASSERT_EQ(run_study(opt_, reference), kRunOk);
  const auto expected = decisions();
  opt_.db_path = (dir_ / "ahead.sqlite").string();
  ScriptedExecutor x;
  x.done_[std::make_tuple(std::string("alpha0.1"), 0, 0)] = 3;  // its checkpoint is at epoch 3
  ASSERT_EQ(run_study(opt_, x), kRunOk);
  EXPECT_EQ(decisions(), expected);
  db::Store s(opt_.db_path, true);
  for (const auto& t : s.tasks(*s.find_study("s"))) {
    EXPECT_EQ(t.epochs_stored, t.status == "stopped" ? t.rung : 9) << t.variant << " fold " << t.fold;
  }
  EXPECT_EQ(s.query_int("SELECT rung FROM tasks t JOIN variants v ON v.id = t.variant_id JOIN folds f ON f.id = t.fold_id "
                        "WHERE v.name = 'alpha0.1' AND f.fold = 0"),
            1);
}

// Failures for good (no retries): a trial with one failed fold goes on with the other (its score is that
// fold's), a trial whose folds all fail is out of the search with a `fail` decision, and the run ends
// (exit 1 for the failed tasks) instead of waiting for folds that never come.
TEST_F(EarlyStopRun, FoldsFailingAtARungLeaveTheirTrial) {
  write_study("asha");
  opt_.max_retries = 0;
  ScriptedExecutor x;
  // alpha 0.4 (the last trial of the seeded order) fails in both folds, alpha 0.3 (the best) in fold 1: the
  // promotions of the search without failures stand (AshaPausesPromotesAndStopsAtRungs), alpha 0.3 goes on
  // with fold 0.
  x.failing_ = {std::make_tuple(std::string("alpha0.3"), 1, 0), std::make_tuple(std::string("alpha0.4"), 0, 0),
                std::make_tuple(std::string("alpha0.4"), 1, 0)};
  EXPECT_EQ(run_study(opt_, x), kRunFailed);
  const auto d = decisions();
  EXPECT_EQ(std::count(d.begin(), d.end(), "alpha0.4 fail 0"), 1);
  EXPECT_EQ(std::count(d.begin(), d.end(), "alpha0.3 finish 2"), 1);  // the best trial, on its fold 0 alone
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'failed'"), 3);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM early_stop_log WHERE kind = 'failed'"), 3);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM fold_metrics"), 1);  // alpha 0.3 fold 0
  // Run again: the failed folds stay out (logged), nothing runs, the decisions stand, and the study still
  // holds failed tasks: exit 1 again, never "complete" (README "Exit codes").
  ScriptedExecutor again;
  EXPECT_EQ(run_study(opt_, again), kRunFailed);
  EXPECT_EQ(again.executions_, 0);
  EXPECT_EQ(decisions(), d);
}

TEST(RunExitCode, InterruptedThenFailedThenOk) {
  EXPECT_EQ(run_exit_code(true, 3, 2), kRunInterrupted);
  EXPECT_EQ(run_exit_code(false, 1, 0), kRunFailed);
  EXPECT_EQ(run_exit_code(false, 0, 1), kRunFailed);
  EXPECT_EQ(run_exit_code(false, 0, 0), kRunOk);
}

// Exit codes are a contract whatever the policy: every (early stopping none / asha / median) x (first run:
// clean, a task failing for good, stopped by a signal) x (rerun: the fault gone, the fault still there).
// A study that still holds a failed task exits 1; without early stopping the rerun retries it, with early
// stopping the failure is logged out of its trial and stays (docs/RUNNER.md "Early stopping").
class ExitCodes : public EarlyStopRun, public ::testing::WithParamInterface<std::string> {};

TEST_P(ExitCodes, AStudyHoldingFailedTasksNeverExitsZero) {
  const std::string policy = GetParam();
  const bool early_stop = policy != "none";
  const auto faulty = std::make_tuple(std::string("alpha0.3"), 1, 0);  // reaches every rung in both policies
  enum First { kClean, kFails, kStopped };
  for (First first : {kClean, kFails, kStopped}) {
    for (bool fault_stays : {false, true}) {
      SCOPED_TRACE("policy " + policy + ", first run " + std::to_string(first) + ", fault stays " + std::to_string(fault_stays));
      opt_.db_path = (dir_ / (policy + std::to_string(first) + std::to_string(fault_stays) + ".sqlite")).string();
      opt_.workdir = opt_.db_path + ".work";
      if (early_stop) {
        write_study(policy);
      } else {
        opt_.study_file = (dir_ / "s.toml").string();
        std::ofstream(opt_.study_file) << "[study]\nname = \"s\"\nfolds = 2\n[data]\npath = \"nowhere\"\n"
                                          "[train]\nepochs = 9\nselect_metric = \"dice\"\n"
                                          "[sweep]\n\"loss.alpha\" = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]\n";
      }
      opt_.max_retries = 0;
      ScriptedExecutor x;
      if (first == kFails) x.failing_ = {faulty};
      if (first == kStopped) x.stop_after_ = 3;
      const int expected_first = first == kClean ? kRunOk : first == kFails ? kRunFailed : kRunInterrupted;
      ASSERT_EQ(run_study(opt_, x), expected_first);
      stop_flag().store(false);

      const auto attempts = [&] { return db::Store(opt_.db_path, true).query_int("SELECT count(*) FROM attempts"); };
      const std::int64_t attempts_before = attempts();
      ScriptedExecutor rerun;
      rerun.done_ = x.done_;  // the checkpoints of the first run
      if (fault_stays && first != kClean) rerun.failing_ = {faulty};
      const int code = run_study(opt_, rerun);
      const std::int64_t failed = db::Store(opt_.db_path, true).query_int("SELECT count(*) FROM tasks WHERE status = 'failed'");
      // The contract itself, on the store as it is after the rerun.
      EXPECT_EQ(code, failed > 0 ? kRunFailed : kRunOk) << failed << " failed task(s)";
      if (first == kClean) {
        EXPECT_EQ(code, kRunOk);
        EXPECT_EQ(rerun.executions_, 0);
      } else if (first == kFails && early_stop) {
        // Logged out of its trial for good: not retried, whether the fault is gone or not.
        EXPECT_EQ(code, kRunFailed);
        EXPECT_EQ(attempts(), attempts_before);
        EXPECT_EQ(failed, 1);
      } else {
        // Retried (no early stopping) or first dispatched now (a stopped run): fails again or succeeds.
        EXPECT_EQ(code, fault_stays ? kRunFailed : kRunOk);
        EXPECT_EQ(failed, fault_stays ? 1 : 0);
        EXPECT_GT(attempts(), attempts_before);
      }
      // A third run changes nothing: the same code, nothing executed when nothing is left to retry.
      const std::int64_t attempts_third = attempts();
      ScriptedExecutor third;
      third.done_ = rerun.done_;
      const int again = run_study(opt_, third);
      if (!(code == kRunFailed && !early_stop)) {
        EXPECT_EQ(again, code);
        EXPECT_EQ(third.executions_, 0);
        EXPECT_EQ(attempts(), attempts_third);
      } else {
        EXPECT_EQ(again, kRunOk);  // the retry of a plain study, now without the fault, succeeds
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, ExitCodes, ::testing::Values("none", "asha", "median"));

TEST_F(EarlyStopRun, MedianStopsBelowTheMedianAndContinuesTheOthers) {
  write_study("median");
  ScriptedExecutor x;
  ASSERT_EQ(run_study(opt_, x), kRunOk);
  expect_no_epoch_twice(x);
  db::Store s(opt_.db_path, true);
  // In the seeded order (kSeed42: qualities .95 .50 .30 .40 .20 .80 .90 .60 .70 of alpha 0.3 0.1 0.5 0.9
  // 0.8 0.2 0.7 0.6 0.4), a continued trial going on at once: 0.3 and 0.1 have fewer than 2 others
  // (start-up) at rungs 0 and 1; 0.5 is below median(.95, .5), 0.9 below .5, 0.8 below .45: stopped at
  // rung 0; 0.2 beats .4 at rung 0 and .725 at rung 1; 0.7 beats .45 and .8; 0.6 beats .5 at rung 0 and
  // stops below .85 at rung 1, 0.4 beats .55 and stops below .8.
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'stopped'"), 2 * 5);
  EXPECT_EQ(s.query_text("SELECT group_concat(name) FROM (SELECT DISTINCT v.name FROM tasks t JOIN variants v ON "
                         "v.id = t.variant_id WHERE t.status = 'stopped' ORDER BY v.ordinal)"),
            "alpha0.4,alpha0.5,alpha0.6,alpha0.8,alpha0.9");
  EXPECT_EQ(s.query_int("SELECT count(*) FROM fold_metrics"), 2 * 4);
  for (const auto& t : s.tasks(*s.find_study("s"))) {
    EXPECT_EQ(t.epochs_stored, t.status == "stopped" ? t.rung : 9) << t.variant;
  }
  // The median's stops read as stopped at their rung whether or not a coordinator runs the study, with the
  // score the decision logged; `ablate status` shows them so, and counts them in the rung's line.
  const auto stopped = s.stopped_trials(*s.find_study("s"));
  ASSERT_EQ(stopped.size(), 5u);
  for (const auto& [variant, t] : stopped) {
    EXPECT_EQ(t.decision, "stop") << variant;
    EXPECT_EQ(t.epoch, variant == "alpha0.4" || variant == "alpha0.6" ? 3 : 1) << variant;
    EXPECT_EQ(reports::rung_state(t, true), reports::RungState::kStopped) << variant;
    EXPECT_TRUE(std::isfinite(t.value)) << variant;
  }
  const cli_util::Result status = cli_util::ablate("status --db " + opt_.db_path);
  ASSERT_EQ(status.code, 0) << status.out;
  EXPECT_NE(status.out.find("rung 0 (epoch 1): 9 reached, 6 promoted, 0 waiting, 3 stopped, 0 failed, 0 finished"), std::string::npos)
      << status.out;
  EXPECT_NE(status.out.find("rung 1 (epoch 3): 6 reached, 4 promoted, 0 waiting, 2 stopped, 0 failed, 0 finished"), std::string::npos)
      << status.out;
  char value[32];
  std::snprintf(value, sizeof value, "%.4f", stopped.at("alpha0.4").value);
  EXPECT_NE(status.out.find("stopped at epoch 3 (dice " + std::string(value) + ")"), std::string::npos) << status.out;
  EXPECT_EQ(status.out.find("waiting at"), std::string::npos) << status.out;
}

// A coordinator stopped in the middle of the search (at the 7th and at the 19th task) and run again: the decisions are
// those of the uninterrupted search, nothing is trained twice, nothing stored twice.
TEST_F(EarlyStopRun, StoppedMidSearchAndResumedTakesTheSameDecisions) {
  write_study("asha");
  ScriptedExecutor straight;
  ASSERT_EQ(run_study(opt_, straight), kRunOk);
  const auto reference = decisions();
  ASSERT_EQ(reference.size(), 9u + 3u + 1u + 4u);  // pauses at rung 0, at rung 1, the finish, promotions

  for (int stop_after : {7, 19}) {
    SCOPED_TRACE("stopped after execution " + std::to_string(stop_after));
    opt_.db_path = (dir_ / ("stopped" + std::to_string(stop_after) + ".sqlite")).string();
    ScriptedExecutor x;
    x.stop_after_ = stop_after;
    EXPECT_EQ(run_study(opt_, x), kRunInterrupted);
    stop_flag().store(false);
    x.stop_after_ = 0;
    ASSERT_EQ(run_study(opt_, x), kRunOk);
    EXPECT_EQ(decisions(), reference);
    expect_no_epoch_twice(x);
    db::Store s(opt_.db_path, true);
    EXPECT_EQ(s.query_int("SELECT count(*) FROM (SELECT variant_id, fold, \"repeat\", rung, count(*) AS n FROM early_stop_log "
                          "WHERE kind = 'reached' GROUP BY 1, 2, 3, 4) WHERE n > 1"),
              0);
    EXPECT_EQ(s.query_int("SELECT count(*) FROM fold_metrics"), 2);
  }
}

// Under early stopping a grid starts its trials in the seeded order of study.seed (sweeps::trial_order), not
// in the study's: the same on a rerun and across a resume, another order for another seed.
TEST_F(EarlyStopRun, AGridStartsItsTrialsInTheSeededOrder) {
  std::vector<std::string> names;
  for (int i = 1; i <= 9; ++i) names.push_back("alpha0." + std::to_string(i));
  auto expected = [&](std::uint64_t seed) {
    std::vector<std::string> out;
    for (std::size_t i : sweeps::trial_order(names, seed)) out.push_back(names[i]);
    return out;
  };
  const std::vector<std::string> kSeed42 = {"alpha0.3", "alpha0.1", "alpha0.5", "alpha0.9", "alpha0.8",
                                            "alpha0.2", "alpha0.7", "alpha0.6", "alpha0.4"};
  ASSERT_EQ(expected(42), kSeed42);  // the order the tests above work through by hand
  write_study("asha");               // study.seed: the default, 42
  ScriptedExecutor x;
  ASSERT_EQ(run_study(opt_, x), kRunOk);
  EXPECT_EQ(x.started_, kSeed42);

  opt_.db_path = (dir_ / "seed7.sqlite").string();
  opt_.overrides = {"study.seed=7"};
  ScriptedExecutor seven;
  ASSERT_EQ(run_study(opt_, seven), kRunOk);
  EXPECT_EQ(seven.started_, expected(7));
  EXPECT_NE(seven.started_, kSeed42);

  // Stopped after the 5th execution and resumed: the trials not started yet start in the same order.
  opt_.db_path = (dir_ / "resumed.sqlite").string();
  opt_.overrides.clear();
  ScriptedExecutor r;
  r.stop_after_ = 5;
  EXPECT_EQ(run_study(opt_, r), kRunInterrupted);
  stop_flag().store(false);
  r.stop_after_ = 0;
  ASSERT_EQ(run_study(opt_, r), kRunOk);
  EXPECT_EQ(r.started_, kSeed42);
}

// Ties at a rung go by the validation soft Dice, which does not depend on the loss: on this grid over
// loss.alpha every trial's Dice is exactly 0 at the first rung (epoch 1) and its validation loss grows with
// alpha (the hybrid loss's scale, not its quality), while the soft Dice ranks the trials by their quality.
// The decisions are then exactly those of the same study whose epoch-1 Dice already ranks by quality
// (ScriptedExecutor); without the soft Dice (epochs stored before schema 7) the loss is not comparable and
// the trial order decides, which takes other decisions.
class TiedAtTheFirstRung : public ScriptedExecutor {
 public:
  explicit TiedAtTheFirstRung(bool soft_dice) : soft_dice_(soft_dice) {}
  TaskResult execute(const Task& task, const ExecContext& ctx) override {
    TaskResult r = ScriptedExecutor::execute(task, ctx);
    const VariantConfig c = parse_canonical(task.canonical_config);
    const double q = kQuality[static_cast<int>(std::lround(c.loss.alpha * 10)) - 1];
    for (EpochRecord& e : r.epochs) {
      e.val_loss = c.loss.alpha + 0.1 * e.epoch;  // lower for a lower alpha: misleading
      e.val_soft_dice = soft_dice_ ? 0.01 * q * e.epoch : std::numeric_limits<double>::quiet_NaN();
      if (e.epoch == 1) e.val_score = e.val_dice = 0;
    }
    return r;
  }

 private:
  bool soft_dice_;
};

TEST_F(EarlyStopRun, TiesAtARungGoByTheSoftDiceWhateverTheLoss) {
  write_study("asha");
  ScriptedExecutor ranked;
  ASSERT_EQ(run_study(opt_, ranked), kRunOk);
  const std::vector<std::string> reference = decisions();
  ASSERT_FALSE(reference.empty());

  opt_.db_path = (dir_ / "soft.sqlite").string();
  TiedAtTheFirstRung soft(true);
  ASSERT_EQ(run_study(opt_, soft), kRunOk);
  EXPECT_EQ(decisions(), reference);
  {
    db::Store s(opt_.db_path, true);
    const auto epochs = s.task_epochs(*s.find_study("s"));
    ASSERT_FALSE(epochs.empty());
    for (const auto& e : epochs) EXPECT_GT(e.val_soft_dice, 0) << "task " << e.task_id << " epoch " << e.epoch;
  }

  opt_.db_path = (dir_ / "order.sqlite").string();
  TiedAtTheFirstRung order(false);
  ASSERT_EQ(run_study(opt_, order), kRunOk);
  EXPECT_NE(decisions(), reference);
}

// The validation loss breaks ties only between trials that compute the same loss.
TEST(VariedLossKey, NamesTheLossKeyTheTrialsDifferIn) {
  const std::string head = "[study]\nname = \"s\"\n[train]\nepochs = 9\n";
  auto key = [&](const std::string& body) { return varied_loss_key(load_study_text(head + body, "/tmp/s.toml")); };
  EXPECT_EQ(key("[sweep]\n\"loss.alpha\" = [0.1, 0.2]\n"), "loss.alpha");
  EXPECT_EQ(key("[sweep]\n\"train.lr\" = [0.001, 0.01]\n"), "");
  EXPECT_EQ(key("[sweep]\nmethod = \"tpe\"\ntrials = 4\n\"loss.alpha\" = { uniform = [0.1, 0.9] }\n"), "loss.alpha");
  EXPECT_EQ(key("[sweep]\nmethod = \"random\"\ntrials = 4\n\"train.lr\" = { log_uniform = [1e-4, 1e-2] }\n"), "");
  EXPECT_EQ(key("[[ablation.variant]]\nname = \"a\"\n[[ablation.variant]]\nname = \"b\"\n\"loss.name\" = \"dice\"\n"),
            "loss.name");
  EXPECT_EQ(key("[[ablation.variant]]\nname = \"a\"\n[[ablation.variant]]\nname = \"b\"\n\"model.cc\" = true\n"), "");
}

TEST_F(EarlyStopRun, StudyChecksTheRungs) {
  opt_.study_file = (dir_ / "bad.toml").string();
  std::ofstream(opt_.study_file) << "[study]\nname = \"s\"\n[train]\nepochs = 9\n"
                                    "[sweep.early_stop]\nmethod = \"asha\"\nrungs = [1, 3, 8]\n";
  try {
    load_study(opt_.study_file);
    FAIL() << "rungs not ending at train.epochs were accepted";
  } catch (const SpecError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.toml:7:9: `sweep.early_stop.rungs`"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("the last rung must be train.epochs (9)"), std::string::npos) << e.what();
  }
  std::ofstream(opt_.study_file) << "[study]\nname = \"s\"\n[train]\nepochs = 9\n"
                                    "[sweep.early_stop]\nmethod = \"asha\"\nrungs = [1, 9]\nreductoin = 3\n";
  try {
    load_study(opt_.study_file);
    FAIL() << "a misspelt key was accepted";
  } catch (const SpecError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean `reduction`"), std::string::npos) << e.what();
  }
  std::ofstream(opt_.study_file) << "[study]\nname = \"s\"\n[train]\nepochs = 9\n"
                                    "[sweep.early_stop]\nrungs = [1, 9]\n";
  try {
    load_study(opt_.study_file);
    FAIL() << "rungs without a method were accepted";
  } catch (const SpecError& e) {
    EXPECT_NE(std::string(e.what()).find("`sweep.early_stop.method`: missing"), std::string::npos) << e.what();
  }
  // A plain variant list.
  std::ofstream(opt_.study_file) << "[study]\nname = \"s\"\n[train]\nepochs = 9\n"
                                    "[[ablation.variant]]\nname = \"a\"\n[[ablation.variant]]\nname = \"b\"\n\"model.cc\" = true\n"
                                    "[sweep.early_stop]\nmethod = \"median\"\nrungs = [3, 9]\n";
  Study plain = load_study(opt_.study_file);
  EXPECT_EQ(plain.variants.size(), 2u);
  EXPECT_EQ(plain.early_stop.method, "median");
  EXPECT_EQ(plain.early_stop.rungs, (std::vector<int>{3, 9}));
  // A variant with its own train.epochs: the rungs cannot end at both.
  std::ofstream(opt_.study_file) << "[study]\nname = \"s\"\n[train]\nepochs = 9\n"
                                    "[[ablation.variant]]\nname = \"a\"\n[[ablation.variant]]\nname = \"b\"\n\"train.epochs\" = 5\n"
                                    "[sweep.early_stop]\nmethod = \"asha\"\nrungs = [3, 9]\n";
  try {
    load_study(opt_.study_file);
    FAIL() << "variants of different train.epochs were accepted";
  } catch (const SpecError& e) {
    EXPECT_NE(std::string(e.what()).find("variant `b` trains 5 epochs"), std::string::npos) << e.what();
  }
  // A file that includes a grid study and sets only [sweep.early_stop] keeps the grid.
  const std::string base = (dir_ / "grid.toml").string();
  std::ofstream(base) << "[study]\nname = \"g\"\n[train]\nepochs = 4\n[sweep]\n\"loss.alpha\" = [0.2, 0.8]\n";
  std::ofstream(opt_.study_file) << "include = \"grid.toml\"\n[sweep.early_stop]\nmethod = \"asha\"\nrungs = [2, 4]\nreduction = 2\n";
  Study inherited = load_study(opt_.study_file);
  EXPECT_EQ(inherited.variants.size(), 2u);
  EXPECT_EQ(inherited.early_stop.method, "asha");
  EXPECT_EQ(load_study(base).early_stop.method, "none");
}
