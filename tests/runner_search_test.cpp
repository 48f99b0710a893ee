// Searches run by the coordinator (in one process, workers as threads): random trials stored as planned,
// TPE proposals stored before their tasks with what they saw, replayed on resume (never sampled again,
// nothing lost or duplicated), objectives from the validation values only.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "ablations/study.hpp"
#include "db/store.hpp"
#include "inproc_fixture.hpp"
#include "runner/run.hpp"
#include "sweeps/metric.hpp"
#include "sweeps/multi_objective.hpp"
#include "sweeps/samplers.hpp"

namespace fs = std::filesystem;
using namespace ablate;
using namespace ablate::runner;

namespace {

// Validation Dice peaks at lr = 1e-3, alpha = 0.3; the test Dice is its opposite, so a search that read
// test metrics would go the wrong way.
double validation_dice(double lr, double alpha) {
  const double a = std::log10(lr) + 3, b = alpha - 0.3;
  return 1 - a * a / 4 - b * b;
}

// A validation distance (HD95, mm) with its minimum where the Dice peaks: lower is better.
double validation_hd95(double lr, double alpha) { return 20 * (1 - validation_dice(lr, alpha)); }

class AnalyticExecutor : public Executor {
 public:
  explicit AnalyticExecutor(int stop_after = -1) : stop_after_(stop_after) {}
  TaskResult execute(const Task& task, const ExecContext&) override {
    const auto values = canonical_values(task.canonical_config);
    const double lr = std::stod(values.at("train.lr")), alpha = std::stod(values.at("loss.alpha"));
    const double v = validation_dice(lr, alpha);
    // val_score is train.select_metric on the validation cases, as the trainer stores it.
    const bool hd95 = values.at("train.select_metric") == "\"hd95\"";
    TaskResult r;
    for (int e = 1; e <= 2; ++e) {
      EpochRecord rec;
      rec.epoch = e;
      rec.val_dice = e == 2 ? v + 0.001 * task.fold : v - 0.5;  // epoch 2 is the best
      rec.val_loss = 1 - rec.val_dice;
      rec.val_score = !hd95 ? rec.val_dice : e == 2 ? validation_hd95(lr, alpha) + 0.01 * task.fold : 50;
      r.epochs.push_back(rec);
    }
    r.best_epoch = 2;
    r.fold_metrics.push_back({"dice", 1, 1 - v});
    // Cost against accuracy: the network grows with alpha (the Dice peaks at 0.3), the time with lr.
    r.parameters = 1000 + static_cast<std::int64_t>(100000 * alpha);
    r.inference_ms_per_case = 5 + std::log10(lr) + 0.1 * task.fold;
    r.train_seconds = 1;
    if (++done_ == stop_after_) stop_flag().store(true);
    return r;
  }
  double estimate_cost(const Variant&) override { return 1; }

 private:
  int stop_after_;
  std::atomic<int> done_{0};
};

// Two in-process workers; four cases.
class SearchRun : public inproc_test::InprocFixture {
 protected:
  SearchRun() : InprocFixture("ablate-search", 2, {"a", "b", "c", "d"}) {}
  void SetUp() override {
    InprocFixture::SetUp();
    opt_.study_file = (dir_ / "s.toml").string();
    opt_.make_splits = [this](const std::vector<std::string>& cases, const StudyConfig& s, int repeat) {
      std::vector<CaseSplit> out = inproc_test::round_robin_splits(cases, s, repeat);
      // A validation case per fold: a search compares its trials on validation values only.
      for (auto& split : out) {
        if (!with_validation_) break;
        split.val.push_back(split.train.front());
        split.train.erase(split.train.begin());
      }
      return out;
    };
  }
  void write(const std::string& method, int trials, const std::string& objective = "") {
    // An objective that is a list ("[...]") is sweep.objectives.
    const std::string key = !objective.empty() && objective.front() == '[' ? "objectives = " + objective : "objective = \"" + objective + "\"";
    std::ofstream(opt_.study_file) << "[study]\nname = \"s\"\nseed = 5\nfolds = 2\n[data]\npath = \"nowhere\"\n"
                                   << "[sweep]\nmethod = \"" << method << "\"\ntrials = " << trials << "\n"
                                   << (objective.empty() ? "" : key + "\n")
                                   << (method == "tpe" || method == "motpe" ? "startup = 4\n" : "")
                                   << "\"train.lr\" = { log_uniform = [1e-5, 1e-1] }\n"
                                      "\"loss.alpha\" = { uniform = [0.0, 1.0] }\n";
  }

  bool with_validation_ = true;
};

}  // namespace

TEST_F(SearchRun, RandomTrialsAreStoredAsPlanned) {
  write("random", 5);
  AnalyticExecutor exec;
  ASSERT_EQ(run_study(opt_, exec), kRunOk);
  const Study study = load_study(opt_.study_file);
  db::Store store(opt_.db_path, true);
  const auto id = *store.find_study("s");
  const auto trials = store.trials(id);
  ASSERT_EQ(trials.size(), 5u);
  for (int t = 0; t < 5; ++t) {
    EXPECT_EQ(trials[t].trial, t);
    EXPECT_EQ(trials[t].variant, study.variants[t].name);
    EXPECT_EQ(trials[t].method, "random");
    EXPECT_EQ(trials[t].seen, "");
  }
  EXPECT_EQ(store.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 10);
  const auto objective = store.validation_objective(id, "dice");
  ASSERT_EQ(objective.size(), 5u);
  for (const auto& v : study.variants) {
    // The validation value at the best epoch, mean over the two folds (+0 and +0.001).
    EXPECT_NEAR(objective.at(v.name).value, validation_dice(v.config.train.lr, v.config.loss.alpha) + 0.0005, 1e-9);
    EXPECT_EQ(objective.at(v.name).done, 2);
    EXPECT_EQ(objective.at(v.name).epochs, 4);
  }
}

TEST_F(SearchRun, TpeStoresEachProposalWithWhatItSawAndBeatsItsStartup) {
  write("tpe", 16);
  AnalyticExecutor exec;
  ASSERT_EQ(run_study(opt_, exec), kRunOk);
  const Study study = load_study(opt_.study_file);
  db::Store store(opt_.db_path, true);
  const auto id = *store.find_study("s");
  const auto trials = store.trials(id);
  ASSERT_EQ(trials.size(), 16u);
  std::set<int> indices;
  for (const auto& t : trials) indices.insert(t.trial);
  EXPECT_EQ(indices.size(), 16u);
  EXPECT_EQ(*indices.rbegin(), 15);
  EXPECT_EQ(store.query_int("SELECT count(*) FROM variants"), 16);
  EXPECT_EQ(store.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 32);
  // Startup trials are the random sampler's; every one is rebuilt from its stored point exactly.
  for (const auto& t : trials) {
    const Variant v = trial_variant(study, "", t.trial, [&] {
      sweeps::Sample x;
      std::string body = t.point.substr(1, t.point.size() - 2);
      std::size_t pos = 0;
      while (pos < body.size()) {
        std::size_t end = body.find(',', pos);
        x.push_back(std::stod(body.substr(pos, end - pos)));
        pos = end == std::string::npos ? body.size() : end + 1;
      }
      return x;
    }());
    EXPECT_EQ(v.name, t.variant);
    if (t.trial < 4) {
      EXPECT_EQ(v.point, sweeps::random_sample(study.search.space, 5, t.trial));
    }
  }
  // Later proposals saw finished trials, and only those finished before them.
  int conditioned = 0;
  for (const auto& t : trials) conditioned += !t.seen.empty();
  EXPECT_GE(conditioned, 8);
  // The search improves on its random start.
  const auto objective = store.validation_objective(id, "dice");
  double best_startup = -1e9, best_all = -1e9;
  for (const auto& t : trials) {
    const double y = objective.at(t.variant).value;
    if (t.trial < 4) best_startup = std::max(best_startup, y);
    best_all = std::max(best_all, y);
  }
  EXPECT_GT(best_all, best_startup);
}

TEST_F(SearchRun, AStoppedTpeSearchResumesWithoutLosingOrResampling) {
  write("tpe", 10);
  {
    AnalyticExecutor exec(/*stop_after=*/7);
    ASSERT_EQ(run_study(opt_, exec), kRunInterrupted);
  }
  std::vector<db::TrialRow> before;
  {
    db::Store store(opt_.db_path, true);
    before = store.trials(*store.find_study("s"));
  }
  ASSERT_GE(before.size(), 4u);
  ASSERT_LT(before.size(), 10u);
  stop_flag().store(false);
  AnalyticExecutor exec;
  ASSERT_EQ(run_study(opt_, exec), kRunOk);
  db::Store store(opt_.db_path, true);
  const auto after = store.trials(*store.find_study("s"));
  ASSERT_EQ(after.size(), 10u);
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(after[i].trial, before[i].trial);
    EXPECT_EQ(after[i].variant, before[i].variant);
    EXPECT_EQ(after[i].point, before[i].point);
    EXPECT_EQ(after[i].seen, before[i].seen);
  }
  EXPECT_EQ(store.query_int("SELECT count(*) FROM variants"), 10);
  EXPECT_EQ(store.query_int("SELECT count(*) FROM tasks"), 20);
  EXPECT_EQ(store.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 20);
  // A changed space is refused rather than mixed with the stored trials.
  std::ofstream(opt_.study_file) << "[study]\nname = \"s\"\nseed = 5\nfolds = 2\n[data]\npath = \"nowhere\"\n"
                                 << "[sweep]\nmethod = \"tpe\"\ntrials = 12\nstartup = 4\n"
                                    "\"train.lr\" = { log_uniform = [1e-5, 1e-1] }\n";
  try {
    run_study(opt_, exec);
    FAIL() << "a changed space must be refused";
  } catch (const RunRefused& e) {
    EXPECT_EQ(e.kind(), RunRefused::kChanged);
    EXPECT_NE(std::string(e.what()).find("the search space changed"), std::string::npos) << e.what();
  }
}

// objective = "hd95": train.select_metric becomes hd95, the objective is the validation HD95 at the
// selected epoch (epochs.val_score), and TPE minimises it: the proposals saw the raw distances and the
// search beats its random start downwards; status and reports read the same direction.
TEST_F(SearchRun, TpeMinimisesALowerIsBetterObjective) {
  write("tpe", 16, "hd95");
  const Study study = load_study(opt_.study_file);
  EXPECT_EQ(study.base.train.select_metric, "hd95");
  EXPECT_TRUE(study.search.minimize);
  AnalyticExecutor exec;
  ASSERT_EQ(run_study(opt_, exec), kRunOk);
  db::Store store(opt_.db_path, true);
  const auto id = *store.find_study("s");
  EXPECT_EQ(store.query_text("SELECT value FROM provenance WHERE key = 'search_objective'"), "hd95");
  const auto trials = store.trials(id);
  ASSERT_EQ(trials.size(), 16u);
  const auto objective = store.validation_objective(id, "hd95");
  double best_startup = 1e9, best_all = 1e9;
  for (const auto& t : trials) {
    const auto& o = objective.at(t.variant);
    // The mean over the two folds of the validation HD95 at epoch 2 (+0 and +0.01), not the Dice.
    const auto values = canonical_values(store.query_text("SELECT canonical FROM variants WHERE name = '" + t.variant + "'"));
    EXPECT_NEAR(o.value, validation_hd95(std::stod(values.at("train.lr")), std::stod(values.at("loss.alpha"))) + 0.005, 1e-9);
    if (t.trial < 4) best_startup = std::min(best_startup, o.value);
    best_all = std::min(best_all, o.value);
  }
  EXPECT_LT(best_all, best_startup);
  // A proposal's `seen` lists the distances themselves (not negated).
  int conditioned = 0;
  for (const auto& t : trials) {
    if (t.seen.empty()) continue;
    ++conditioned;
    EXPECT_EQ(t.seen.find("=-"), std::string::npos) << t.seen;
  }
  EXPECT_GE(conditioned, 8);
}

// The objective is a validation value: a fold without validation cases refuses the search before its
// folds are stored.
TEST_F(SearchRun, ASearchWithoutValidationCasesIsRefused) {
  with_validation_ = false;
  write("random", 2);
  AnalyticExecutor exec;
  try {
    run_study(opt_, exec);
    FAIL() << "a search without validation cases must be refused";
  } catch (const RunRefused& e) {
    EXPECT_EQ(e.kind(), RunRefused::kInput);
    EXPECT_NE(std::string(e.what()).find("fold 0 (repeat 0) has no validation cases"), std::string::npos) << e.what();
  }
  db::Store store(opt_.db_path, true);
  EXPECT_EQ(store.query_int("SELECT count(*) FROM folds"), 0);  // nothing stored: a fixed study runs afresh
}

// MOTPE and NSGA-II in the coordinator: each proposal is stored with the trials it saw and their objectives
// (the validation metric and the model facts, as stored), and is exactly the sampler's proposal from those
// trials' stored points and values, each in its direction: the coordinator feeds the policy what the store
// holds and nothing else (so a replay proposes the same).
TEST_F(SearchRun, MultiObjectiveProposalsComeFromTheStoredMetricAndModelFacts) {
  for (const auto& [method, trials] : std::vector<std::pair<std::string, int>>{{"motpe", 10}, {"nsga2", 20}}) {
    fs::remove(opt_.db_path);
    write(method, trials, "[\"hd95\", \"params\", \"inference_ms\"]");
    const Study study = load_study(opt_.study_file);
    ASSERT_EQ(study.search.objectives, (std::vector<std::string>{"hd95", "params", "inference_ms"}));
    AnalyticExecutor exec;
    ASSERT_EQ(run_study(opt_, exec), kRunOk);
    db::Store store(opt_.db_path, true);
    const auto id = *store.find_study("s");
    EXPECT_EQ(store.query_text("SELECT value FROM provenance WHERE key = 'search_objectives'"), "hd95 params inference_ms");
    const auto stored = store.trials(id);
    ASSERT_EQ(stored.size(), static_cast<std::size_t>(trials)) << method;
    const auto metric = store.validation_objective(id, "hd95");
    std::map<std::string, db::ModelFactRow> facts;
    for (const auto& f : store.model_facts(id)) facts[f.variant] = f;
    std::map<int, const db::TrialRow*> by_trial;
    for (const auto& t : stored) by_trial[t.trial] = &t;
    int conditioned = 0;
    for (const auto& t : stored) {
      std::vector<sweeps::MultiObservation> done;
      // `seen` lists "tNNN=hd95/params/inference_ms": rebuild the observations from the store, not from it.
      for (std::size_t at = t.seen.find('t'); at != std::string::npos; at = t.seen.find(", t", at + 1)) {
        const int k = std::stoi(t.seen.substr(at + (t.seen[at] == 't' ? 1 : 3), 3));
        const db::TrialRow& seen = *by_trial.at(k);
        const auto& f = facts.at(seen.variant);
        done.push_back({*sweeps::parse_point(seen.point),
                        {metric.at(seen.variant).value, static_cast<double>(f.parameters), f.inference_ms_per_case}});
        char expect[128];
        std::snprintf(expect, sizeof expect, "t%03d=%.6g/%.6g/%.6g", k, metric.at(seen.variant).value,
                      static_cast<double>(f.parameters), f.inference_ms_per_case);
        EXPECT_EQ(t.seen.compare(at + (t.seen[at] == 't' ? 0 : 2), std::strlen(expect), expect), 0) << t.seen;
      }
      conditioned += !done.empty();
      const auto x = *sweeps::parse_point(t.point);
      const sweeps::Sample expected =
          method == "motpe" ? sweeps::motpe_sample(study.search.space, 5, t.trial, done, [] {
            sweeps::TpeOptions o;
            o.n_startup = 4;
            return o;
          }())
                            : sweeps::nsga2_sample(study.search.space, 5, t.trial, done);
      EXPECT_EQ(trial_variant(study, "", t.trial, expected).name, t.variant) << method << " trial " << t.trial;
      EXPECT_EQ(t.method, method);
    }
    EXPECT_GE(conditioned, trials / 2) << method;
    // Past the random start the proposals are the sampler's own, not random draws.
    int not_random = 0;
    for (const auto& t : stored)
      not_random += trial_variant(study, "", t.trial, sweeps::random_sample(study.search.space, 5, t.trial)).name != t.variant;
    EXPECT_GE(not_random, method == "motpe" ? 3 : 2) << method;
  }
}
