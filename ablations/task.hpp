// The messages that cross from the runner to the trainer and back: plain, self-describing structs.
// A Task carries the canonical configuration text of its variant (not a pointer into coordinator memory)
// and the case ids of its split, so a worker needs nothing but the message to do the work.
//
// Contract: values only, owned by whoever holds them; runner/messages.hpp turns them into bytes and back.
// The inline helpers below are pure and safe from any thread; nothing here throws.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace ablate {

constexpr int kTaskMessageVersion = 3;

// A task evaluated from another task's training (ablations/sharing.hpp: its variant differs from the
// training task's only in evaluation-only keys; same fold, repeat, seed and cases).
struct SharedMember {
  std::int64_t task_id = 0;
  std::string variant;
  std::string variant_hash;
  std::string canonical_config;
  int attempt = 1;
};

struct Task {
  int version = kTaskMessageVersion;
  std::int64_t task_id = 0;          // the store's id
  std::string study;
  std::string variant;               // variant name
  std::string variant_hash;
  std::string canonical_config;      // ablate::canonical_text() of the variant; parse_canonical() reads it back
  int fold = 0;
  int repeat = 0;
  std::uint64_t seed = 0;            // study seed + repeat
  std::vector<std::string> train_cases;
  std::vector<std::string> val_cases;
  std::vector<std::string> test_cases;
  std::string checkpoint_path;       // where the per-epoch checkpoint lives; resumed from when present
  int attempt = 1;
  // Early stopping (sweeps/early_stop.hpp): > 0 and < train.epochs: train up to this epoch (a rung), keep
  // the checkpoint and return a paused result; a later task resumes from the checkpoint. The learning-rate
  // schedule still runs on train.epochs, so a paused and resumed task computes what an uninterrupted one
  // does. 0 (or >= train.epochs): train to the end.
  int pause_after_epoch = 0;
  // Train once, evaluate many: the tasks evaluated from this task's training, each with its own validation,
  // best-epoch selection and test evaluation (trainer::run_group). Empty: an ordinary task. Never together
  // with pause_after_epoch (the coordinator does not share trainings under early stopping).
  std::vector<SharedMember> shared_with;
};

// Where a task ran.
struct Placement {
  std::string host;
  int rank = 0;
  int local_rank = 0;
  std::string device = "cpu";        // "cpu" or "cuda:N"
  int threads = 1;
  // What the worker's start-up check saw (GPU model, compute capability, CUDA/cuDNN, numerics flags; "cpu"
  // on the CPU), for the provenance; empty in a task's placement.
  std::string device_facts;
  // The GPUs the launcher gave the worker's process, "CUDA_VISIBLE_DEVICES=<value>" as it was started
  // (runner::given_gpus), "" when that was not set; for the provenance only, like device_facts.
  std::string given_gpus;
};

struct EpochRecord {
  int epoch = 0;                     // 1-based
  double train_loss = 0;
  double val_loss = 0;
  double val_dice = 0;
  double lr = 0;
  double seconds = 0;
  // train.select_metric on the validation cases, in the metric's own units and direction (the loss, a Dice,
  // an HD95 in mm): what early stopping compares. Without validation cases the training loss.
  double val_score = 0;
  // The validation soft Dice (mean over the foreground classes of 2 sum(p y) / (sum(p) + sum(y)) on the
  // softmax probabilities): continuous and the same for every loss setting, so early stopping breaks ties
  // of val_score with it (docs/STUDY.md "Early stopping"). NaN: not computed (no validation cases, or a
  // record from before schema 7).
  double val_soft_dice = std::numeric_limits<double>::quiet_NaN();
};

// One fold-level (test split) metric: mean over the test cases of the per-case value.
struct MetricValue {
  std::string metric;                // dice, iou, sensitivity, precision, specificity, vs, assd, hd95
  int cls = 1;                       // foreground class index (1-based)
  double value = 0;
};

// The trivial predictors of a class, scored on each test case beside the network (docs/REPORTS.md
// "Trivial predictors"): "all_background" predicts no voxel of the class, "all_foreground" every voxel.
// A network that has learnt beats both on DSC; one that predicts everything or nothing ties one of them.
// They travel and are stored as case metrics named "<predictor>:<metric>" (trivial_metric_name), so the
// store needs no table of its own and readers that list metrics skip them (is_trivial_metric).
inline const std::vector<std::string>& trivial_predictors() {
  static const std::vector<std::string> names = {"all_background", "all_foreground"};
  return names;
}
// How tables name a predictor: "all background", "all foreground".
inline std::string trivial_predictor_label(const std::string& predictor) {
  std::string s = predictor;
  for (char& c : s)
    if (c == '_') c = ' ';
  return s;
}
inline std::string trivial_metric_name(const std::string& predictor, const std::string& metric) {
  return predictor + ":" + metric;
}
// Splits "<predictor>:<metric>"; false (and nothing set) for any other metric name.
inline bool is_trivial_metric(const std::string& name, std::string* predictor = nullptr,
                              std::string* metric = nullptr) {
  const auto colon = name.find(':');
  if (colon == std::string::npos) return false;
  const std::string p = name.substr(0, colon);
  bool known = false;
  for (const auto& t : trivial_predictors()) known = known || t == p;
  if (!known) return false;
  if (predictor) *predictor = p;
  if (metric) *metric = name.substr(colon + 1);
  return true;
}

struct CaseMetricValue {
  std::string case_id;
  int cls = 1;
  std::string metric;
  double value = 0;
};

struct TaskResult {
  std::vector<EpochRecord> epochs;   // every completed epoch of the task, earlier attempts' ones from the checkpoint
  int best_epoch = 0;
  std::vector<MetricValue> fold_metrics;
  std::vector<CaseMetricValue> case_metrics;
  std::int64_t parameters = 0;        // of the network as it predicts (the pruned one with model.prune_level, 003 Table 6)
  double inference_ms_per_case = 0;
  double train_seconds = 0;
  // > 0: the task paused after this epoch (Task::pause_after_epoch): epochs, best_epoch and train_seconds
  // are set, nothing was evaluated on the test cases, and the checkpoint is kept for the resumption.
  int paused_after_epoch = 0;
};

}  // namespace ablate
