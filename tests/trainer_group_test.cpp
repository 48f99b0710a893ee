// Train once, evaluate many (trainer::run_group): a shared training gives every member exactly what its own
// training gives (bit for bit on the CPU with one thread): the epochs with its own validation values, its
// best epoch, its test metrics per fold and per case, its parameters; resumes from its checkpoint; refuses a
// member that differs in a key that acts on training.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "ablations/study.hpp"
#include "trainer/data/synth.hpp"
#include "trainer/trainer.hpp"

namespace fs = std::filesystem;
using namespace ablate;

namespace {

class GroupTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("ablate_group_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    trainer::data::SynthOptions o;
    o.cases = 8;
    o.size = 32;
    o.slices = 6;
    o.seed = 9;
    o.tumour = false;
    o.contrast_min = 60;
    o.contrast_max = 90;
    trainer::data::write_synthetic_dataset((root_ / "ds").string(), o);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  // A tiny ANU-Net (003): nested skips with attention gates and deep supervision, depth 4 (levels 1..3).
  static VariantConfig anu(int prune_level) {
    VariantConfig c;
    c.data.path = (root_ / "ds").string();
    c.data.cache_dir = (root_ / "cache").string();
    c.data.image_size = 32;
    c.data.empty_slice_ratio = 0.2;
    c.model.widths = {4, 8, 16, 32};
    c.model.nested = c.model.attention_gates = c.model.nested_supervision = true;
    c.model.prune_level = prune_level;
    c.loss.name = "dice_focal_bce";
    c.loss.side_weight = 2;
    c.train.lr = 3e-3;
    c.train.epochs = 3;
    c.train.batch_size = 4;
    c.train.steps_per_epoch = 2;
    return c;
  }
  static Task task(const std::string& name, const VariantConfig& c, std::int64_t id, const std::string& checkpoint = "") {
    Task t;
    t.task_id = id;
    t.variant = name;
    t.variant_hash = config_hash(c);
    t.canonical_config = canonical_text(c);
    t.seed = 42;
    t.train_cases = {"synth_000", "synth_001", "synth_002", "synth_003", "synth_004"};
    t.val_cases = {"synth_005"};
    t.test_cases = {"synth_006", "synth_007"};
    t.checkpoint_path = checkpoint.empty() ? "" : (root_ / checkpoint).string();
    return t;
  }
  // `configs[0]` trains; the others are evaluated from its training.
  static Task group(const std::vector<VariantConfig>& configs, const std::string& checkpoint = "") {
    Task t = task("m0", configs[0], 100, checkpoint);
    for (std::size_t m = 1; m < configs.size(); ++m) {
      t.shared_with.push_back({static_cast<std::int64_t>(100 + m), "m" + std::to_string(m), config_hash(configs[m]),
                               canonical_text(configs[m]), 1});
    }
    return t;
  }
  static trainer::RunContext context() {
    trainer::RunContext ctx;
    ctx.threads = 1;  // bit-for-bit repeatability on the CPU
    return ctx;
  }
  static void expect_identical(const TaskResult& a, const TaskResult& b, const std::string& what) {
    ASSERT_EQ(a.epochs.size(), b.epochs.size()) << what;
    for (std::size_t e = 0; e < a.epochs.size(); ++e) {
      EXPECT_EQ(a.epochs[e].epoch, b.epochs[e].epoch) << what;
      EXPECT_EQ(a.epochs[e].train_loss, b.epochs[e].train_loss) << what << " epoch " << e + 1;
      EXPECT_EQ(a.epochs[e].val_loss, b.epochs[e].val_loss) << what << " epoch " << e + 1;
      EXPECT_EQ(a.epochs[e].val_dice, b.epochs[e].val_dice) << what << " epoch " << e + 1;
      EXPECT_EQ(a.epochs[e].val_score, b.epochs[e].val_score) << what << " epoch " << e + 1;
      EXPECT_EQ(a.epochs[e].lr, b.epochs[e].lr) << what << " epoch " << e + 1;
    }
    EXPECT_EQ(a.best_epoch, b.best_epoch) << what;
    EXPECT_EQ(a.parameters, b.parameters) << what;
    ASSERT_EQ(a.fold_metrics.size(), b.fold_metrics.size()) << what;
    ASSERT_FALSE(a.fold_metrics.empty()) << what;
    for (std::size_t i = 0; i < a.fold_metrics.size(); ++i) {
      EXPECT_EQ(a.fold_metrics[i].metric, b.fold_metrics[i].metric) << what;
      EXPECT_EQ(a.fold_metrics[i].value, b.fold_metrics[i].value) << what << " " << a.fold_metrics[i].metric;
    }
    ASSERT_EQ(a.case_metrics.size(), b.case_metrics.size()) << what;
    for (std::size_t i = 0; i < a.case_metrics.size(); ++i) {
      EXPECT_EQ(a.case_metrics[i].case_id, b.case_metrics[i].case_id) << what;
      EXPECT_EQ(a.case_metrics[i].value, b.case_metrics[i].value) << what << " " << a.case_metrics[i].case_id << " "
                                                                  << a.case_metrics[i].metric;
    }
  }
  static fs::path root_;
};
fs::path GroupTest::root_;

// The members differ in every evaluation-only key: the prune level (1, 2, unpruned), the selection metric
// and the grid of the test metrics.
std::vector<VariantConfig> members_of_every_kind(VariantConfig (*anu)(int)) {
  std::vector<VariantConfig> c = {anu(1), anu(2), anu(0), anu(2)};
  c[2].train.select_metric = "loss";
  c[3].data.evaluate_at = c[3].data.evaluate_at == "native" ? "prepared" : "native";
  return c;
}

}  // namespace

TEST_F(GroupTest, SharedTrainingGivesEachMemberItsSeparateResultBitForBit) {
  const std::vector<VariantConfig> configs = members_of_every_kind(&GroupTest::anu);
  std::vector<TaskResult> separate;
  for (std::size_t m = 0; m < configs.size(); ++m) {
    separate.push_back(trainer::run_task(task("m" + std::to_string(m), configs[m], 100 + m), configs[m], context()));
  }
  // The levels really differ (otherwise this test could not fail): the validation Dice of L1 and L2.
  bool differ = false;
  for (std::size_t e = 0; e < separate[0].epochs.size(); ++e) differ |= separate[0].epochs[e].val_dice != separate[1].epochs[e].val_dice;
  EXPECT_TRUE(differ);
  EXPECT_LT(separate[0].parameters, separate[1].parameters);

  std::vector<std::size_t> progress(configs.size(), 0);
  trainer::RunContext ctx = context();
  ctx.on_member_epoch = [&](std::size_t m, const EpochRecord& e) {
    ASSERT_LT(m, progress.size());
    EXPECT_EQ(e.epoch, static_cast<int>(++progress[m]));
  };
  const auto grouped = trainer::run_group(group(configs), configs, ctx);
  ASSERT_EQ(grouped.size(), configs.size());
  for (std::size_t m = 0; m < configs.size(); ++m) {
    ASSERT_TRUE(grouped[m].ok) << grouped[m].error;
    EXPECT_EQ(progress[m], 3u) << "member " << m;
    expect_identical(grouped[m].result, separate[m], "member " + std::to_string(m));
    EXPECT_EQ(grouped[m].result.train_seconds, grouped[0].result.train_seconds);
  }
}

TEST_F(GroupTest, InterruptedSharedTrainingResumesToTheSameResults) {
  const std::vector<VariantConfig> configs = {anu(1), anu(2)};
  const auto straight = trainer::run_group(group(configs), configs, context());
  std::atomic<bool> stop{false};
  trainer::RunContext ctx = context();
  ctx.stop = &stop;
  ctx.on_member_epoch = [&](std::size_t, const EpochRecord& e) {
    if (e.epoch == 1) stop = true;
  };
  EXPECT_THROW(trainer::run_group(group(configs, "group.ckpt"), configs, ctx), trainer::TaskInterrupted);
  ASSERT_TRUE(fs::exists(root_ / "group.ckpt"));
  // Another group (a member fewer) does not resume this checkpoint: it trains afresh, with the same result.
  std::size_t epochs_trained = 0;
  trainer::RunContext count = context();
  count.on_epoch = [&](const EpochRecord&) { ++epochs_trained; };
  const TaskResult alone = trainer::run_task(task("m0", configs[0], 100, "group.ckpt"), configs[0], count);
  EXPECT_EQ(epochs_trained, 3u);
  expect_identical(alone, straight[0].result, "alone");
  // The same group resumes after epoch 1 and trains epochs 2 and 3 only.
  stop = false;
  EXPECT_THROW(trainer::run_group(group(configs, "group2.ckpt"), configs, ctx), trainer::TaskInterrupted);
  std::size_t resumed_epochs = 0;
  trainer::RunContext again = context();
  again.on_member_epoch = [&](std::size_t m, const EpochRecord&) { resumed_epochs += m == 0; };
  const auto resumed = trainer::run_group(group(configs, "group2.ckpt"), configs, again);
  EXPECT_EQ(resumed_epochs, 2u);
  ASSERT_EQ(resumed.size(), 2u);
  for (std::size_t m = 0; m < 2; ++m) {
    ASSERT_TRUE(resumed[m].ok) << resumed[m].error;
    expect_identical(resumed[m].result, straight[m].result, "resumed member " + std::to_string(m));
  }
}

TEST_F(GroupTest, RefusesAMemberThatTrainsDifferently) {
  std::vector<VariantConfig> configs = {anu(1), anu(2)};
  configs[1].train.lr *= 2;
  try {
    trainer::run_group(group(configs), configs, context());
    FAIL() << "a member with another learning rate shared the training";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("m1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("evaluation-only"), std::string::npos) << e.what();
  }
  configs = {anu(1), anu(2)};
  configs[0].train.scheduler = configs[1].train.scheduler = "plateau";
  EXPECT_THROW(trainer::run_group(group(configs), configs, context()), std::runtime_error);
}
