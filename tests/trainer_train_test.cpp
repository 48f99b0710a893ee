// run_task end to end on a tiny synthetic dataset: the checkpoint round trip resumes to identical
// weights, training reaches a clearly better-than-chance Dice, failures name the epoch/step/case.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <filesystem>

#include "ablations/schema.hpp"
#include "ablations/study.hpp"
#include "trainer/data/nifti.hpp"
#include "trainer/metrics.hpp"
#include "trainer/data/synth.hpp"
#include "trainer/splits.hpp"
#include "trainer/trainer.hpp"

namespace fs = std::filesystem;
using namespace ablate;

namespace {

class TrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("ablate_train_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    trainer::data::SynthOptions o;
    o.cases = 8;
    o.size = 32;
    o.slices = 8;
    o.seed = 5;
    o.tumour = false;
    o.contrast_min = 60;  // an easy task: the test is about the loop, not the model
    o.contrast_max = 90;
    o.noise_min = 5;
    o.noise_max = 10;
    trainer::data::write_synthetic_dataset((root_ / "ds").string(), o);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static VariantConfig config() {
    VariantConfig c;
    c.data.path = (root_ / "ds").string();
    c.data.cache_dir = (root_ / "cache").string();
    c.data.image_size = 32;
    c.data.empty_slice_ratio = 0.2;
    c.model.widths = {8, 16, 32};
    c.loss.name = "hybrid";
    c.train.optimizer = "adam";
    c.train.lr = 3e-3;
    c.train.weight_decay = 0;
    c.train.epochs = 2;
    c.train.batch_size = 4;
    c.train.steps_per_epoch = 3;
    c.train.scheduler = "cosine";
    return c;
  }
  static Task task(const std::string& checkpoint) {
    Task t;
    t.variant = "tiny";
    t.variant_hash = "h";
    t.seed = 42;
    t.train_cases = {"synth_000", "synth_001", "synth_002", "synth_003", "synth_004"};
    t.val_cases = {"synth_005"};
    t.test_cases = {"synth_006", "synth_007"};
    t.checkpoint_path = checkpoint.empty() ? "" : (root_ / checkpoint).string();
    return t;
  }
  static trainer::RunContext context() {
    trainer::RunContext ctx;
    ctx.threads = 1;  // bit-for-bit repeatability on the CPU
    return ctx;
  }
  // Every tensor of a checkpoint's model, by name.
  static std::vector<torch::Tensor> model_of(const std::string& checkpoint) {
    torch::serialize::InputArchive root, model;
    root.load_from((root_ / checkpoint).string());
    root.read("model", model);
    std::vector<torch::Tensor> out;
    collect(model, out);
    return out;
  }
  static void collect(torch::serialize::InputArchive& archive, std::vector<torch::Tensor>& out) {
    for (const auto& key : archive.keys()) {
      torch::Tensor t;
      torch::serialize::InputArchive nested;
      if (archive.try_read(key, t)) {
        out.push_back(t);
      } else if (archive.try_read(key, nested)) {
        collect(nested, out);
      }
    }
  }
  static fs::path root_;
};
fs::path TrainTest::root_;

}  // namespace

TEST_F(TrainTest, ResumeFromCheckpointGivesIdenticalWeights) {
  const VariantConfig c = config();
  const TaskResult straight = trainer::run_task(task("straight.pt"), c, context());
  ASSERT_EQ(straight.epochs.size(), 2u);
  EXPECT_DOUBLE_EQ(straight.epochs[0].lr, 3e-3);  // cosine annealing per epoch, T_max = 2
  EXPECT_NEAR(straight.epochs[1].lr, 1.5e-3, 1e-12);

  // Interrupted inside epoch 1 (the stop flag is already up: one optimiser step, then checkpoint).
  std::atomic<bool> stop{true};
  trainer::RunContext ctx = context();
  ctx.stop = &stop;
  EXPECT_THROW(trainer::run_task(task("resumed.pt"), c, ctx), trainer::TaskInterrupted);
  ASSERT_TRUE(fs::exists(root_ / "resumed.pt"));
  // Interrupted again at the end of epoch 1.
  stop = false;
  ctx.on_epoch = [&](const EpochRecord& r) {
    if (r.epoch == 1) stop = true;
  };
  EXPECT_THROW(trainer::run_task(task("resumed.pt"), c, ctx), trainer::TaskInterrupted);
  stop = false;
  const TaskResult resumed = trainer::run_task(task("resumed.pt"), c, context());
  // The result carries every epoch of the task: epoch 1 from the checkpoint's history, epoch 2 trained
  // in this attempt, with the losses of the uninterrupted run.
  ASSERT_EQ(resumed.epochs.size(), 2u);
  for (int e = 0; e < 2; ++e) {
    EXPECT_EQ(resumed.epochs[e].epoch, e + 1);
    EXPECT_EQ(resumed.epochs[e].train_loss, straight.epochs[e].train_loss) << "epoch " << e + 1;
    EXPECT_EQ(resumed.epochs[e].val_dice, straight.epochs[e].val_dice) << "epoch " << e + 1;
    // The soft Dice of epoch 1 comes back from the checkpoint's history (its 8th column).
    EXPECT_EQ(resumed.epochs[e].val_soft_dice, straight.epochs[e].val_soft_dice) << "epoch " << e + 1;
  }
  EXPECT_EQ(resumed.best_epoch, straight.best_epoch);

  const auto a = model_of("straight.pt"), b = model_of("resumed.pt");
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "tensor " << i;
  ASSERT_EQ(straight.fold_metrics.size(), resumed.fold_metrics.size());
  for (std::size_t i = 0; i < straight.fold_metrics.size(); ++i) {
    EXPECT_EQ(straight.fold_metrics[i].value, resumed.fold_metrics[i].value) << straight.fold_metrics[i].metric;
  }
  // A finished checkpoint only re-evaluates (no epoch reported as progress) and repeats the history.
  int reported = 0;
  trainer::RunContext quiet = context();
  quiet.on_epoch = [&](const EpochRecord&) { ++reported; };
  const TaskResult again = trainer::run_task(task("straight.pt"), c, quiet);
  EXPECT_EQ(reported, 0);
  ASSERT_EQ(again.epochs.size(), 2u);
  EXPECT_EQ(again.epochs[1].train_loss, straight.epochs[1].train_loss);
  EXPECT_EQ(again.fold_metrics[0].value, straight.fold_metrics[0].value);
}

// The validation soft Dice (epochs.val_soft_dice, early stopping's tie-break) is a probability overlap in
// (0, 1] that does not depend on the loss: with a learning rate of 1e-30 (0 is refused) Adam's steps, about
// the rate, vanish in float32 beside the weights, and the batch-norm statistics move alike, so two
// trainings that differ only in loss.alpha predict the same probabilities; their validation losses differ
// (the hybrid loss's scale), their soft Dice does not.
TEST_F(TrainTest, TheSoftDiceDoesNotDependOnTheLoss) {
  VariantConfig c = config();
  c.train.lr = 1e-30;
  c.train.epochs = 1;
  c.train.scheduler = "none";
  c.loss.alpha = 0.2;
  const TaskResult low = trainer::run_task(task(""), c, context());
  c.loss.alpha = 0.9;
  const TaskResult high = trainer::run_task(task(""), c, context());
  ASSERT_EQ(low.epochs.size(), 1u);
  ASSERT_EQ(high.epochs.size(), 1u);
  EXPECT_GT(std::abs(low.epochs[0].val_loss - high.epochs[0].val_loss), 1e-3);
  EXPECT_NEAR(low.epochs[0].val_soft_dice, high.epochs[0].val_soft_dice, 1e-9);
  EXPECT_GT(low.epochs[0].val_soft_dice, 0.0);
  EXPECT_LE(low.epochs[0].val_soft_dice, 1.0);
}

TEST_F(TrainTest, TrainsToBetterThanChanceDiceAndReportsEveryMetric) {
  VariantConfig c = config();
  c.train.epochs = std::getenv("EPOCHS") ? std::atoi(std::getenv("EPOCHS")) : 8;
  c.train.steps_per_epoch = 6;
  const Task t = task("");
  const TaskResult r = trainer::run_task(t, c, context());
  ASSERT_EQ(r.epochs.size(), static_cast<std::size_t>(c.train.epochs));
  EXPECT_GE(r.best_epoch, 1);
  EXPECT_LE(r.best_epoch, c.train.epochs);
  EXPECT_GT(r.parameters, 1000);
  EXPECT_GT(r.inference_ms_per_case, 0.0);
  EXPECT_LT(r.epochs.back().train_loss, r.epochs.front().train_loss);
  EXPECT_GT(r.epochs.back().val_soft_dice, r.epochs.front().val_soft_dice);  // it measures learning, too
  double dice = -1;
  std::set<std::string> names;
  for (const auto& m : r.fold_metrics) {
    names.insert(m.metric);
    EXPECT_EQ(m.cls, 1);
    EXPECT_TRUE(std::isfinite(m.value)) << m.metric;
    if (m.metric == "dice") dice = m.value;
  }
  EXPECT_EQ(names, (std::set<std::string>{"dice", "iou", "sensitivity", "precision", "specificity", "vs", "assd", "hd95", "dice_2d", "iou_2d",
                                          "sensitivity_2d", "precision_2d", "specificity_2d", "vs_2d", "assd_2d", "hd95_2d"}));
  // Per case: every metric, and the trivial predictors' (all background, all foreground) overlap metrics.
  std::size_t trivial = 0;
  for (const auto& m : r.case_metrics) trivial += m.metric.find(':') != std::string::npos;
  EXPECT_EQ(trivial, t.test_cases.size() * 2 * trainer::trivial_metric_names().size());
  EXPECT_EQ(r.case_metrics.size() - trivial, t.test_cases.size() * names.size());
  // Chance level: predicting everything as organ gives Dice = 2p / (1 + p) with p ~ 1-3 % of the voxels.
  EXPECT_GT(dice, 0.5) << "test Dice " << dice;
}

// data.evaluate_at: on the native grid the prediction is resampled to each case's own slice size and
// scored against the original label. Where the prepared grid is the native one the two agree exactly;
// where it is coarser they differ (the resized label is not the truth).
TEST_F(TrainTest, NativeEvaluationScoresTheOriginalGrid) {
  auto dice_of = [](const TaskResult& r) {
    std::vector<double> out;
    for (const auto& m : r.case_metrics)
      if (m.metric == "dice" || m.metric == "hd95") out.push_back(m.value);
    return out;
  };
  VariantConfig c = config();
  c.train.epochs = 8;  // enough to predict the organ: an empty prediction scores alike on every grid
  c.train.steps_per_epoch = 6;
  ASSERT_EQ(c.data.image_size, 32);  // the synthetic volumes are 32 x 32 in-plane
  c.data.evaluate_at = "native";
  const auto native_same = dice_of(trainer::run_task(task(""), c, context()));
  c.data.evaluate_at = "prepared";
  const auto prepared_same = dice_of(trainer::run_task(task(""), c, context()));
  EXPECT_EQ(native_same, prepared_same);

  c.data.image_size = 24;
  c.data.evaluate_at = "native";
  const TaskResult native = trainer::run_task(task(""), c, context());
  c.data.evaluate_at = "prepared";
  const TaskResult prepared = trainer::run_task(task(""), c, context());
  EXPECT_NE(dice_of(native), dice_of(prepared));
  const auto nd = dice_of(native);
  EXPECT_GT(std::max(nd[0], nd[2]), 0.3) << "the network predicts no organ: the grids are not compared";
  // Same training (same seed), so the same selected epoch; only the scoring grid differs.
  EXPECT_EQ(native.best_epoch, prepared.best_epoch);
  for (const auto& m : native.case_metrics) EXPECT_TRUE(std::isfinite(m.value)) << m.metric;
  c.data.evaluate_at = "finest";
  EXPECT_THROW(trainer::run_task(task(""), c, context()), std::runtime_error);
}

// A cache folder that cannot be written (a read-only dataset): the training cases are kept from the first
// pass instead of being preprocessed twice, and the task computes exactly what it computes with a cache.
TEST_F(TrainTest, UnwritableCacheGivesTheSameResult) {
  VariantConfig c = config();
  c.train.epochs = 1;
  const TaskResult with_cache = trainer::run_task(task(""), c, context());
  std::ofstream((root_ / "not-a-folder").string()) << "x";
  c.data.cache_dir = (root_ / "not-a-folder" / "cache").string();  // below a file: never writable
  const TaskResult without = trainer::run_task(task(""), c, context());
  ASSERT_EQ(with_cache.fold_metrics.size(), without.fold_metrics.size());
  for (std::size_t i = 0; i < without.fold_metrics.size(); ++i) {
    EXPECT_EQ(with_cache.fold_metrics[i].value, without.fold_metrics[i].value) << without.fold_metrics[i].metric;
  }
  EXPECT_EQ(with_cache.epochs[0].train_loss, without.epochs[0].train_loss);
}

// train.device = "cuda" on a worker without a GPU is a clear task failure, not a silent CPU run.
TEST_F(TrainTest, CudaRequestedWithoutAGpuFails) {
  if (trainer::cuda_available()) GTEST_SKIP() << "this LibTorch sees a CUDA device";
  VariantConfig c = config();
  c.train.device = "cuda";
  try {
    trainer::run_task(task(""), c, context());
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("train.device = \"cuda\" but this worker sees no CUDA device"), std::string::npos)
        << e.what();
  }
}

TEST_F(TrainTest, AccumulationPlateauAndDistanceSelectionRun) {
  VariantConfig c = config();
  c.train.epochs = 3;
  c.train.accumulate = 2;
  c.train.scheduler = "plateau";
  c.train.plateau_patience = 1;
  c.train.select_metric = "hd95";
  c.train.optimizer = "adamw";
  c.train.early_stop_patience = 5;
  const TaskResult r = trainer::run_task(task(""), c, context());
  ASSERT_EQ(r.epochs.size(), 3u);
  EXPECT_DOUBLE_EQ(r.epochs[0].lr, 3e-3);
  for (std::size_t e = 1; e < r.epochs.size(); ++e) {
    const double ratio = r.epochs[e].lr / r.epochs[e - 1].lr;
    EXPECT_TRUE(ratio == 1.0 || ratio == 0.5) << "epoch " << e + 1 << " lr " << r.epochs[e].lr;
  }
}

// The plateau rule (002) and early stopping, checked against the recorded validation losses: with
// patience 1 the rate halves after every epoch whose validation loss is not below the best so far; with
// early_stop_patience 1 the run ends right after the first such epoch. The lr is large enough for the
// validation loss to rise in this seeded run, so both rules fire (asserted).
TEST_F(TrainTest, PlateauHalvesTheRateAndEarlyStoppingTriggers) {
  VariantConfig c = config();
  c.train.epochs = 8;
  c.train.steps_per_epoch = 2;
  c.train.lr = 3e-2;
  c.train.scheduler = "plateau";
  c.train.plateau_patience = 1;
  c.train.plateau_factor = 0.5;
  c.train.select_metric = "loss";
  const TaskResult r = trainer::run_task(task(""), c, context());
  ASSERT_EQ(r.epochs.size(), 8u);
  double best = std::numeric_limits<double>::infinity();
  int halvings = 0;
  for (std::size_t e = 0; e + 1 < r.epochs.size(); ++e) {
    const bool improved = r.epochs[e].val_loss < best;
    if (improved) best = r.epochs[e].val_loss;
    EXPECT_DOUBLE_EQ(r.epochs[e + 1].lr, improved ? r.epochs[e].lr : r.epochs[e].lr * 0.5) << "epoch " << e + 2;
    halvings += r.epochs[e + 1].lr == r.epochs[e].lr * 0.5;
  }
  EXPECT_GT(halvings, 0) << "the plateau scheduler never lowered the rate";

  // The same run with early stopping: it ends after the first epoch without improvement.
  c.train.early_stop_patience = 1;
  const TaskResult stopped = trainer::run_task(task(""), c, context());
  best = std::numeric_limits<double>::infinity();
  std::size_t first_bad = r.epochs.size();
  for (std::size_t e = 0; e < r.epochs.size() && first_bad == r.epochs.size(); ++e) {
    if (r.epochs[e].val_loss < best) {
      best = r.epochs[e].val_loss;
    } else {
      first_bad = e;
    }
  }
  ASSERT_LT(first_bad, r.epochs.size());
  EXPECT_EQ(stopped.epochs.size(), first_bad + 1) << "early stopping should end the run after epoch " << first_bad + 1;
  EXPECT_LT(stopped.epochs.size(), 8u);
  EXPECT_LT(stopped.best_epoch, static_cast<int>(stopped.epochs.size()));
}

// A study file that sets the keys the schema and the trainer used to disagree on: select_metric = hd95
// (any metric name), plateau_factor = 1 (no reduction). The schema's choices are exactly the trainer's.
TEST_F(TrainTest, StudyFileKeysTheTrainerAccepts) {
  const Study s = load_study_text(R"([train]
select_metric = "hd95"
scheduler = "plateau"
plateau_factor = 1.0
plateau_patience = 1
)", "/tmp/select.toml");
  EXPECT_EQ(s.base.train.select_metric, "hd95");
  VariantConfig c = config();
  c.train.select_metric = s.base.train.select_metric;
  c.train.scheduler = s.base.train.scheduler;
  c.train.plateau_factor = s.base.train.plateau_factor;
  c.train.plateau_patience = s.base.train.plateau_patience;
  c.train.epochs = 3;
  const TaskResult r = trainer::run_task(task(""), c, context());
  ASSERT_EQ(r.epochs.size(), 3u);
  for (const auto& e : r.epochs) EXPECT_DOUBLE_EQ(e.lr, c.train.lr);  // factor 1 never lowers the rate
  std::set<std::string> allowed = {"loss"};
  allowed.insert(trainer::metric_names().begin(), trainer::metric_names().end());
  const KeyDef* key = find_key("train.select_metric");
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(std::set<std::string>(key->choices.begin(), key->choices.end()), allowed);
  EXPECT_EQ(find_key("data.label_groups")->max, 255);  // preprocess accepts source labels 1..255
}

// Off a terminal the trainer logs progress within an epoch (RunContext::progress_log_seconds; 0 = every
// step but the last, which the epoch line covers). spdlog's default logger writes to stdout.
TEST_F(TrainTest, ProgressLinesWithinEpochsOffATerminal) {
  if (::isatty(STDERR_FILENO) == 1) GTEST_SKIP() << "on a terminal the trainer draws a progress bar instead";
  VariantConfig c = config();
  c.train.epochs = 1;
  c.train.steps_per_epoch = 3;
  trainer::RunContext ctx = context();
  ctx.progress_log_seconds = 0;
  testing::internal::CaptureStdout();
  trainer::run_task(task(""), c, ctx);
  const std::string every = testing::internal::GetCapturedStdout();
  EXPECT_NE(every.find("variant tiny fold 0"), std::string::npos) << every;
  EXPECT_NE(every.find("epoch 1/1 step 1/3 loss "), std::string::npos) << every;
  EXPECT_NE(every.find("epoch 1/1 step 2/3 loss "), std::string::npos) << every;
  EXPECT_EQ(every.find("step 3/3"), std::string::npos) << every;
  ctx.progress_log_seconds = 1e9;
  testing::internal::CaptureStdout();
  trainer::run_task(task(""), c, ctx);
  EXPECT_EQ(testing::internal::GetCapturedStdout().find(" step "), std::string::npos);
}

TEST_F(TrainTest, ErrorsNameTheProblem) {
  VariantConfig c = config();
  c.train.optimizer = "rmsprop";
  try {
    trainer::run_task(task(""), c, context());
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("train.optimizer"), std::string::npos) << e.what();
  }
  c = config();
  Task t = task("");
  t.test_cases.push_back("synth_999");
  try {
    trainer::run_task(t, c, context());
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("synth_999"), std::string::npos) << e.what();
  }
}

TEST_F(TrainTest, NonFiniteLossNamesEpochAndStep) {
  // A learning rate of 1e38 sends the weights to infinity after the first step.
  VariantConfig c = config();
  c.train.optimizer = "sgd";
  c.train.lr = 1e38;
  c.train.momentum = 0;
  try {
    trainer::run_task(task(""), c, context());
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("non-finite loss"), std::string::npos) << msg;
    EXPECT_NE(msg.find("at epoch 1 step 2"), std::string::npos) << msg;
    EXPECT_NE(msg.find("variant tiny fold 0"), std::string::npos) << msg;
  }
}

// 003 Table 6: a pruned ANU-Net trains the full network (every head) but reports, and is timed and scored as,
// the network that predicts: TaskResult::parameters is the pruned count, as `ablate params` gives it.
TEST_F(TrainTest, PrunedAnuNetReportsThePrunedNetworksParameters) {
  VariantConfig c = config();
  c.model.nested = c.model.attention_gates = true;
  c.model.prune_level = 1;
  c.loss.side_weight = 1;  // depth 3: one deep-supervision head, on X^{0,1}
  c.train.epochs = 1;
  c.train.steps_per_epoch = 2;
  const trainer::ModelSummary s = trainer::summarize_model(c);
  ASSERT_LT(s.inference_parameters, s.trainable_parameters);
  const TaskResult r = trainer::run_task(task(""), c, context());
  EXPECT_EQ(r.parameters, s.inference_parameters);
  EXPECT_GT(r.inference_ms_per_case, 0.0);
  EXPECT_FALSE(r.fold_metrics.empty());
}

// Early stopping's pause (Task::pause_after_epoch): a task paused at every rung and resumed from its
// checkpoint computes bit for bit what the same task trained straight through does, and no epoch is
// trained twice. Four epochs, rungs 1, 2 and 4 (the last = train.epochs), cosine annealing on 4 epochs.
TEST_F(TrainTest, PausedAtEveryRungAndResumedIsBitIdentical) {
  VariantConfig c = config();
  c.train.epochs = 4;
  c.train.steps_per_epoch = 2;
  c.train.select_metric = "hd95";  // a distance: val_score carries millimetres, lower is better
  const TaskResult straight = trainer::run_task(task("pause_straight.pt"), c, context());
  ASSERT_EQ(straight.epochs.size(), 4u);
  EXPECT_EQ(straight.paused_after_epoch, 0);

  std::vector<int> trained;  // every epoch reported as progress, over all segments
  trainer::RunContext ctx = context();
  ctx.on_epoch = [&](const EpochRecord& r) { trained.push_back(r.epoch); };
  Task t = task("pause_rungs.pt");
  t.pause_after_epoch = 1;
  const TaskResult r1 = trainer::run_task(t, c, ctx);
  EXPECT_EQ(r1.paused_after_epoch, 1);
  ASSERT_EQ(r1.epochs.size(), 1u);
  EXPECT_TRUE(r1.fold_metrics.empty());  // nothing evaluated on the test cases at a pause
  EXPECT_TRUE(r1.case_metrics.empty());
  EXPECT_EQ(r1.epochs[0].lr, straight.epochs[0].lr);
  t.pause_after_epoch = 2;
  const TaskResult r2 = trainer::run_task(t, c, ctx);
  EXPECT_EQ(r2.paused_after_epoch, 2);
  ASSERT_EQ(r2.epochs.size(), 2u);
  // Dispatched again to the same rung (a coordinator that replays a decision): nothing is trained.
  const TaskResult again = trainer::run_task(t, c, ctx);
  EXPECT_EQ(again.paused_after_epoch, 2);
  t.pause_after_epoch = 4;  // the last rung = train.epochs: train to the end and evaluate
  const TaskResult done = trainer::run_task(t, c, ctx);
  EXPECT_EQ(done.paused_after_epoch, 0);
  EXPECT_EQ(trained, (std::vector<int>{1, 2, 3, 4}));

  ASSERT_EQ(done.epochs.size(), straight.epochs.size());
  for (std::size_t e = 0; e < straight.epochs.size(); ++e) {
    EXPECT_EQ(done.epochs[e].epoch, straight.epochs[e].epoch);
    EXPECT_EQ(done.epochs[e].train_loss, straight.epochs[e].train_loss) << "epoch " << e + 1;
    EXPECT_EQ(done.epochs[e].val_loss, straight.epochs[e].val_loss) << "epoch " << e + 1;
    EXPECT_EQ(done.epochs[e].val_dice, straight.epochs[e].val_dice) << "epoch " << e + 1;
    EXPECT_EQ(done.epochs[e].val_score, straight.epochs[e].val_score) << "epoch " << e + 1;
    EXPECT_EQ(done.epochs[e].lr, straight.epochs[e].lr) << "epoch " << e + 1;
    EXPECT_TRUE(std::isfinite(straight.epochs[e].val_score));
  }
  EXPECT_EQ(done.best_epoch, straight.best_epoch);
  ASSERT_EQ(done.fold_metrics.size(), straight.fold_metrics.size());
  ASSERT_FALSE(straight.fold_metrics.empty());
  for (std::size_t i = 0; i < straight.fold_metrics.size(); ++i) {
    EXPECT_EQ(done.fold_metrics[i].value, straight.fold_metrics[i].value) << straight.fold_metrics[i].metric;
  }
  ASSERT_EQ(done.case_metrics.size(), straight.case_metrics.size());
  for (std::size_t i = 0; i < straight.case_metrics.size(); ++i) {
    EXPECT_EQ(done.case_metrics[i].value, straight.case_metrics[i].value) << straight.case_metrics[i].metric;
  }
  const auto a = model_of("pause_straight.pt"), b = model_of("pause_rungs.pt");
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "tensor " << i;
}

// train.prefetch: the batches prepared on a thread are the batches prepared inline (each a function of seed,
// epoch and step), so the training is bit for bit the same with and without it (CPU, one thread).
TEST_F(TrainTest, PrefetchGivesTheSameTraining) {
  VariantConfig c = config();
  c.train.prefetch = 0;
  const TaskResult inline_ = trainer::run_task(task("prefetch_0.pt"), c, context());
  c.train.prefetch = 3;
  const TaskResult ahead = trainer::run_task(task("prefetch_3.pt"), c, context());
  ASSERT_EQ(inline_.epochs.size(), ahead.epochs.size());
  for (std::size_t e = 0; e < ahead.epochs.size(); ++e) {
    EXPECT_EQ(inline_.epochs[e].train_loss, ahead.epochs[e].train_loss) << "epoch " << e + 1;
    EXPECT_EQ(inline_.epochs[e].val_loss, ahead.epochs[e].val_loss) << "epoch " << e + 1;
  }
  ASSERT_FALSE(ahead.fold_metrics.empty());
  for (std::size_t i = 0; i < ahead.fold_metrics.size(); ++i) {
    EXPECT_EQ(inline_.fold_metrics[i].value, ahead.fold_metrics[i].value) << ahead.fold_metrics[i].metric;
  }
  const auto a = model_of("prefetch_0.pt"), b = model_of("prefetch_3.pt");
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "tensor " << i;
}

// train.checkpoint_seconds: checkpoints within an epoch (at optimiser steps) once the interval has passed,
// besides the one after every epoch; a task killed right after one resumes at its step and ends bit for
// bit where the uninterrupted task does.
TEST_F(TrainTest, WallClockCheckpointsWithinAnEpoch) {
  using Mark = std::pair<int, int>;  // (epochs done, next step)
  VariantConfig c = config();        // 2 epochs of 3 steps
  auto marks_of = [&](double interval, const std::string& file) {
    VariantConfig v = c;
    v.train.checkpoint_seconds = interval;
    std::vector<Mark> marks;
    trainer::RunContext ctx = context();
    ctx.on_checkpoint = [&](int done, int next) { marks.emplace_back(done, next); };
    trainer::run_task(task(file), v, ctx);
    return marks;
  };
  EXPECT_EQ(marks_of(0, "wall_off.pt"), (std::vector<Mark>{{1, 0}, {2, 0}}));
  EXPECT_EQ(marks_of(1e9, "wall_long.pt"), (std::vector<Mark>{{1, 0}, {2, 0}}));
  // An interval shorter than a step: after every optimiser step within the epochs.
  EXPECT_EQ(marks_of(1e-9, "wall_every.pt"),
            (std::vector<Mark>{{0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}, {2, 0}}));

  // Killed after the checkpoint at epoch 2 step 2 (the callback throws, as a crash would end the process).
  const TaskResult straight = trainer::run_task(task("wall_straight.pt"), c, context());
  c.train.checkpoint_seconds = 1e-9;
  trainer::RunContext killed = context();
  killed.on_checkpoint = [](int done, int next) {
    if (done == 1 && next == 2) throw std::runtime_error("killed");
  };
  EXPECT_THROW(trainer::run_task(task("wall_killed.pt"), c, killed), std::runtime_error);
  std::vector<Mark> marks;
  std::vector<int> trained;
  trainer::RunContext rerun = context();
  rerun.on_checkpoint = [&](int done, int next) { marks.emplace_back(done, next); };
  rerun.on_epoch = [&](const EpochRecord& r) { trained.push_back(r.epoch); };
  const TaskResult resumed = trainer::run_task(task("wall_killed.pt"), c, rerun);
  EXPECT_EQ(marks, (std::vector<Mark>{{2, 0}}));  // only the last step of epoch 2 was left to train
  EXPECT_EQ(trained, (std::vector<int>{2}));
  ASSERT_EQ(resumed.epochs.size(), straight.epochs.size());
  for (std::size_t e = 0; e < straight.epochs.size(); ++e) {
    EXPECT_EQ(resumed.epochs[e].train_loss, straight.epochs[e].train_loss) << "epoch " << e + 1;
    EXPECT_EQ(resumed.epochs[e].val_dice, straight.epochs[e].val_dice) << "epoch " << e + 1;
  }
  ASSERT_FALSE(straight.fold_metrics.empty());
  for (std::size_t i = 0; i < straight.fold_metrics.size(); ++i) {
    EXPECT_EQ(resumed.fold_metrics[i].value, straight.fold_metrics[i].value)
        << straight.fold_metrics[i].metric;
  }
  const auto a = model_of("wall_straight.pt"), b = model_of("wall_killed.pt");
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "tensor " << i;
}

// train.precision = "bf16" is CUDA autocast: a task that would train on the CPU fails before any training,
// naming the key, the device and what the CPU allows (a study with train.device = "cpu" is refused at plan,
// one with "auto" makes its workers refuse to start without a GPU; this is the trainer's own guard).
TEST_F(TrainTest, Bf16OnTheCpuIsRefusedNotTrainedInFp32) {
  VariantConfig c = config();
  c.train.precision = "bf16";
  int epochs = 0;
  trainer::RunContext ctx = context();
  ctx.on_epoch = [&](const EpochRecord&) { ++epochs; };
  try {
    trainer::run_task(task(""), c, ctx);
    ADD_FAILURE() << "bf16 trained on the CPU";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("variant tiny fold 0"), std::string::npos) << msg;
    EXPECT_NE(msg.find("train.precision = \"bf16\" needs a CUDA device"), std::string::npos) << msg;
    EXPECT_NE(msg.find("allowed on the CPU: train.precision = \"fp32\""), std::string::npos) << msg;
  }
  EXPECT_EQ(epochs, 0);
  c.train.precision = "fp16";
  try {
    trainer::run_task(task(""), c, ctx);
    ADD_FAILURE() << "fp16 accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("train.precision = \"fp16\": allowed fp32 | bf16"),
              std::string::npos)
        << e.what();
  }
}
