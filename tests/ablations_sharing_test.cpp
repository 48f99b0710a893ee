// Train once, evaluate many (ablations/sharing.hpp): which keys are evaluation-only, the training key, and
// the grouping of tasks on scripted inputs (no training), including the studies of examples/.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "ablations/schema.hpp"
#include "ablations/sharing.hpp"
#include "ablations/study.hpp"

using namespace ablate;

namespace {

ShareCandidate task(const std::string& key, int ordinal, int fold, int repeat = 0, bool shareable = true) {
  return {key, ordinal, fold, repeat, shareable};
}

}  // namespace

TEST(Sharing, EvaluationOnlyKeysAreExactlyTheseAndStayHashed) {
  std::set<std::string> marked;
  for (const auto& k : schema()) {
    if (k.evaluation_only) {
      marked.insert(k.path);
      EXPECT_TRUE(k.hashed) << k.path << ": an evaluation-only key changes results and must stay in the variant hash";
    }
  }
  EXPECT_EQ(marked, (std::set<std::string>{"model.prune_level", "data.evaluate_at", "train.select_metric"}));
  EXPECT_NE(key_reference_markdown().find("evaluation-only"), std::string::npos);
}

TEST(Sharing, TrainingKeyIgnoresOnlyEvaluationOnlyKeys) {
  VariantConfig a;
  a.model.widths = {4, 8, 16};
  a.model.nested = true;
  a.model.nested_supervision = true;
  VariantConfig b = a;
  b.model.prune_level = 1;
  b.data.evaluate_at = "prepared";
  b.train.select_metric = "loss";
  EXPECT_EQ(training_key(a), training_key(b));
  EXPECT_NE(config_hash(a), config_hash(b)) << "the variant hash keeps the evaluation-only keys";
  VariantConfig c = a;
  c.train.lr = a.train.lr * 2;
  EXPECT_NE(training_key(a), training_key(c));
  VariantConfig d = a;
  d.loss.side_weight = 3;
  EXPECT_NE(training_key(a), training_key(d));
  VariantConfig e = a;
  e.train.threads = 3;  // unhashed: neither key changes
  EXPECT_EQ(training_key(a), training_key(e));
}

TEST(Sharing, ValidationDrivenTrainingIsNotShareable) {
  VariantConfig c;
  EXPECT_EQ(training_not_shareable(c), "");
  c.train.scheduler = "plateau";
  EXPECT_NE(training_not_shareable(c).find("plateau"), std::string::npos);
  c.train.scheduler = "cosine";
  c.train.early_stop_patience = 5;
  EXPECT_NE(training_not_shareable(c).find("early_stop_patience"), std::string::npos);
}

TEST(Sharing, GroupsBySameKeyFoldAndRepeat) {
  // Two keys x two folds; variant ordinals 3, 1, 2 on key A: ordinal 1 trains.
  const std::vector<ShareCandidate> tasks = {
      task("A", 3, 0), task("A", 1, 0), task("B", 4, 0), task("A", 2, 0),  // fold 0
      task("A", 3, 1), task("A", 1, 1), task("B", 4, 1), task("A", 2, 1),  // fold 1
      task("A", 1, 0, 1),                                                   // repeat 1: alone
  };
  const auto groups = training_groups(tasks);
  ASSERT_EQ(groups.size(), 5u);
  EXPECT_EQ(groups[0], (std::vector<std::size_t>{1, 0, 3}));
  EXPECT_EQ(groups[1], (std::vector<std::size_t>{2}));
  EXPECT_EQ(groups[2], (std::vector<std::size_t>{5, 4, 7}));
  EXPECT_EQ(groups[3], (std::vector<std::size_t>{6}));
  EXPECT_EQ(groups[4], (std::vector<std::size_t>{8}));
  const SharingSummary s = summarize_sharing(groups);
  EXPECT_EQ(s.tasks, 9u);
  EXPECT_EQ(s.trainings, 5u);
  EXPECT_EQ(s.evaluated_from_shared, 4u);
}

TEST(Sharing, UnshareableTasksStayAlone) {
  const std::vector<ShareCandidate> tasks = {task("A", 0, 0), task("A", 1, 0, 0, false), task("A", 2, 0)};
  const auto groups = training_groups(tasks);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0], (std::vector<std::size_t>{0, 2}));
  EXPECT_EQ(groups[1], (std::vector<std::size_t>{1}));
  EXPECT_TRUE(training_groups({}).empty());
}

TEST(Sharing, PendingSubsetOfAGroupKeepsItsTrainer) {
  // A resumed study where the ordinal-0 task is done: the rest still share, the lowest remaining trains.
  const auto groups = training_groups({task("A", 2, 0), task("A", 1, 0)});
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0], (std::vector<std::size_t>{1, 0}));
}

TEST(Sharing, AnuNetTable6SharesOneTrainingPerFold) {
  for (const char* file : {"examples/anunet_table6.toml", "examples/anunet_table6_design.toml"}) {
    const Study study = load_study(std::string(ABLATE_SOURCE_DIR) + "/" + file);
    ASSERT_EQ(study.variants.size(), 4u) << file;
    std::vector<ShareCandidate> tasks;
    for (const auto& v : study.variants) {
      EXPECT_EQ(training_not_shareable(v.config), "") << file << ": " << v.name;
      tasks.push_back(task(training_key(v.config), v.ordinal, 0));
    }
    const auto groups = training_groups(tasks);
    ASSERT_EQ(groups.size(), 1u) << file;
    EXPECT_EQ(groups[0].size(), 4u) << file;
  }
  // The components of 001 Table II change the network: ten trainings.
  const Study t2 = load_study(std::string(ABLATE_SOURCE_DIR) + "/examples/table2.toml");
  std::set<std::string> keys;
  for (const auto& v : t2.variants) keys.insert(training_key(v.config));
  EXPECT_EQ(keys.size(), t2.variants.size());
}

// Never train the same thing twice (docs/RUNNER.md "Reusing finished trainings"): the training key of a
// task across studies and stores, and the key its stored results stand for.
namespace {

const std::vector<std::string> kTrain{"c1", "c2", "c3"}, kVal{"c4"}, kTest{"c5", "c6"};

std::string trained(const VariantConfig& c, std::uint64_t seed = 7, const std::vector<std::string>& train = kTrain,
                    const std::vector<std::string>& val = kVal, const std::string& data = "fp0") {
  return task_training_key(c, seed, train, val, data);
}

}  // namespace

TEST(Reuse, TrainingKeyIgnoresEvaluationOnlyKeysButTheResultKeyDoesNot) {
  VariantConfig a;
  a.model.widths = {4, 8, 16};
  a.model.nested = true;
  a.model.nested_supervision = true;
  VariantConfig b = a;
  b.model.prune_level = 1;
  b.train.select_metric = "loss";
  ASSERT_FALSE(trained(a).empty());
  EXPECT_EQ(trained(a), trained(b));
  // The results of b are evaluated otherwise (its pruned network, its selected epoch): never a's.
  EXPECT_NE(task_result_key(trained(a), config_hash(a), kVal, kTest), task_result_key(trained(b), config_hash(b), kVal, kTest));
  EXPECT_EQ(task_result_key(trained(a), config_hash(a), kVal, kTest), task_result_key(trained(a), config_hash(a), kVal, kTest));
  VariantConfig t = a;
  t.train.threads = 3;  // unhashed: where and how fast, not what
  EXPECT_EQ(trained(a), trained(t));
}

TEST(Reuse, SeedCasesDataAndTrainingKeysChangeTheTrainingKey) {
  VariantConfig a;
  const std::string k = trained(a);
  EXPECT_NE(trained(a, 8), k) << "the seed (study.seed + repeat)";
  EXPECT_NE(trained(a, 7, {"c1", "c2", "c4"}), k) << "another training case";
  EXPECT_NE(trained(a, 7, {"c1", "c2"}), k) << "one case fewer";
  EXPECT_NE(trained(a, 7, {"c1 c2", "c3"}), trained(a, 7, {"c1", "c2 c3"})) << "case ids never run together";
  EXPECT_NE(trained(a, 7, kTrain, kVal, "fp1"), k) << "another dataset fingerprint";
  VariantConfig lr = a;
  lr.train.lr *= 2;
  EXPECT_NE(trained(lr), k);
  // Validation cases steer nothing here (no plateau, no early stop): they change only the result key.
  EXPECT_EQ(trained(a, 7, kTrain, {"c9"}), k);
  EXPECT_NE(task_result_key(k, config_hash(a), {"c9"}, kTest), task_result_key(k, config_hash(a), kVal, kTest));
  EXPECT_NE(task_result_key(k, config_hash(a), kVal, {"c5"}), task_result_key(k, config_hash(a), kVal, kTest));
}

TEST(Reuse, ValidationSteeredTrainingKeysItsValidationAndEvaluationOnlyKeys) {
  VariantConfig a;
  a.train.scheduler = "plateau";
  VariantConfig b = a;
  b.train.select_metric = "loss";
  EXPECT_NE(trained(a), trained(b)) << "the selection metric drives the plateau schedule";
  EXPECT_NE(trained(a, 7, kTrain, {"c9"}), trained(a)) << "so do the validation cases";
}

TEST(Reuse, UnknownDataIsNeverKeyed) {
  VariantConfig a;
  EXPECT_EQ(trained(a, 7, kTrain, kVal, ""), "");
  EXPECT_EQ(task_result_key("", config_hash(a), kVal, kTest), "");
}

// 001's Tables II-V at demo scale (examples/table{2,3,4,5}_demo.toml) declare 22 rows; on the same folds and
// data they are 16 distinct trainings: Table III's `ours` is Table II's `ec-cam-unet`, Table IV's `dice` its
// `unet`, Table V's `unet`, `cc`, `sc` and `coa` its own rows.
TEST(Reuse, TablesTwoToFiveAreSixteenTrainingsNotTwentyTwo) {
  const std::string ex = std::string(ABLATE_SOURCE_DIR) + "/examples/";
  std::set<std::string> keys;
  std::size_t rows = 0;
  for (const char* file : {"table2_demo.toml", "table3_demo.toml", "table4_demo.toml", "table5_demo.toml"}) {
    const Study s = load_study(ex + file);
    for (const auto& v : s.variants) {
      ++rows;
      keys.insert(task_result_key(task_training_key(v.config, v.config.study.seed, kTrain, kVal, "fp0"), v.hash, kVal, kTest));
    }
  }
  EXPECT_EQ(rows, 22u);
  EXPECT_EQ(keys.size(), 16u);
}
