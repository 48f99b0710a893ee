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
