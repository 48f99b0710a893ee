// Which way a metric improves, decided once for every layer: the trainer's best-epoch selection
// (trainer/metrics.hpp), early stopping and search objectives (sweeps/, ablations/, runner/) and the report
// tables, marks and arrows (reports/format.hpp) all ask objective_direction(). sweeps/ is the lowest layer
// every one of them may include (tests/layering_test.cpp).
//
// Contract: pure functions of the name; thread-safe; never throw. An unknown name is maximised unless its
// form says otherwise (below).
#pragma once

#include <string>
#include <vector>

namespace ablate::sweeps {

enum class Direction { kMinimize, kMaximize };

// The per-slice form of a metric ("dice_2d", trainer/metrics.hpp slice_metric_names()) names the same
// quantity as its base ("dice").
inline bool metric_is_per_slice(const std::string& metric) {
  static const std::string suffix = "_2d";
  return metric.size() > suffix.size() && metric.compare(metric.size() - suffix.size(), suffix.size(), suffix) == 0;
}
inline std::string metric_base(const std::string& metric) {
  return metric_is_per_slice(metric) ? metric.substr(0, metric.size() - 3) : metric;
}

// The facts of a trained model that a search may take as objectives beside its validation metric
// (sweep.objectives, docs/STUDY.md "Several objectives") and that every report sets the metrics against
// (docs/REPORTS.md "Accuracy against cost"): its parameter count, its inference time per case in ms and
// its training time in seconds (model_facts in the store, db/SCHEMA.md). Each is minimised.
inline const std::vector<std::string>& model_fact_names() {
  static const std::vector<std::string> names = {"params", "inference_ms", "train_seconds"};
  return names;
}
inline bool is_model_fact(const std::string& name) {
  for (const auto& f : model_fact_names())
    if (f == name) return true;
  return false;
}

// Minimised: the losses ("loss", "*_loss"), the surface distances in mm (assd, hd95, and the hd, msd, asd
// of published tables), the parameter count ("params") and times ("*_ms", "*_seconds"), each also in its
// "_2d" form. Maximised: every other metric (dice, iou, sensitivity, precision, specificity, vs).
inline Direction objective_direction(const std::string& metric) {
  const std::string base = metric_base(metric);
  for (const char* lower : {"loss", "assd", "hd95", "hd", "msd", "asd", "params"})
    if (base == lower) return Direction::kMinimize;
  for (const std::string tail : {"_loss", "_ms", "_seconds"})
    if (metric.size() >= tail.size() && metric.compare(metric.size() - tail.size(), tail.size(), tail) == 0)
      return Direction::kMinimize;
  return Direction::kMaximize;
}

inline bool higher_is_better(const std::string& metric) { return objective_direction(metric) == Direction::kMaximize; }

}  // namespace ablate::sweeps
