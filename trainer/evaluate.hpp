// `ablate evaluate --pred DIR --gt DIR [--labels ...] [--out CSV]`: the metrics of trainer/metrics.hpp for
// any pair of NIfTI folders (like nnU-Net's evaluate-folder). LibTorch-free.
//
// Contract: functions of the folders' files and their options, no state kept; any thread may call them.
// A case's problem is collected and the case skipped; what throws is said per function below.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "trainer/metrics.hpp"

namespace ablate::trainer {

// A class to evaluate: the source label values merged into it (e.g. {1, 2} = pancreas + tumour).
struct LabelGroup {
  std::vector<int> values;
  std::string name() const;  // "1", "1+2"
};

// "1,2" -> {1} and {2}; "1+2,2" -> {1, 2} and {2}. Throws std::invalid_argument with what is allowed for
// an empty text, an empty class or value ("1+", "1,", ",2") and a value outside 1..255.
std::vector<LabelGroup> parse_label_groups(const std::string& text);

// Limits before work (docs/DATA.md "Evaluating predictions"): a volume of more voxels (its header says so,
// read before the data) or a file larger on disk is a problem of its case, never read.
constexpr std::size_t kMaxEvaluateVoxels = std::size_t{1} << 28;  // 256 Mi voxels: 1 GiB as float
constexpr std::uintmax_t kMaxEvaluateFileBytes = (std::uintmax_t{1} << 31) + (1u << 20);  // float64 at the cap + header

struct EvaluateOptions {
  std::string pred_dir;
  std::string gt_dir;
  std::vector<LabelGroup> labels;  // empty: every non-zero value found in the ground truth, each on its own
  int axis = 2;                    // slicing axis of the per-slice metrics (as data.axis): 0 x, 1 y, 2 z
};

struct EvaluateRow {
  std::string case_id;  // file name without .nii/.nii.gz
  std::string label;    // LabelGroup::name()
  SegmentationMetrics metrics;     // the whole volume
  SegmentationMetrics metrics_2d;  // per slice along the axis, as the trainer's "<metric>_2d" (metrics.hpp)
  // "" for the prediction; else a trivial predictor (ablations/task.hpp) scored on the same case and class
  // by trivial_scores (metrics.hpp), as the trainer scores its test cases: only trivial_metric_names are
  // set in `metrics`, nothing in metrics_2d.
  std::string predictor;
};

struct EvaluateResult {
  std::vector<EvaluateRow> rows;      // case-major, labels in order
  // The trivial predictors of every scored case and class, in the order of rows, the predictors in
  // trivial_predictors() order: what a mask of nothing or of everything would score (docs/DATA.md).
  std::vector<EvaluateRow> trivial;
  std::vector<std::string> labels;    // label names evaluated
  std::vector<std::string> problems;  // "<file>: what is wrong" (missing prediction, shape mismatch, ...)
};

// Pairs every ground-truth file with the prediction of the same file name (.nii or .nii.gz). Volumes are
// read one case at a time (without --labels the ground truth is read twice: once to find its labels).
// A prediction of another shape (from the headers, before the data is read), past the limits above, or
// holding a value that is no label (NaN, a fraction, a negative number) is a problem naming the case and
// the file, and the case is not scored; another spacing or orientation is reported and evaluated voxel
// by voxel on the ground truth's grid. Throws std::runtime_error when a folder is missing or holds no NIfTI
// file, std::invalid_argument for an axis outside 0..2.
EvaluateResult evaluate_folders(const EvaluateOptions& options);

// Mean of each metric over cases, per label (case_id "mean").
std::vector<EvaluateRow> mean_rows(const EvaluateResult& result);
// The same for the trivial predictors: per label, one mean row per predictor.
std::vector<EvaluateRow> trivial_mean_rows(const EvaluateResult& result);
// A fixed-width table of the per-case rows and the means, then the trivial predictors' means.
std::string format_table(const EvaluateResult& result);
// CSV: case,label,predictor, the 3D metrics (dice .. hd95), then the per-slice ones (dice_2d .. hd95_2d);
// predictor is "prediction" or a trivial predictor (its metrics outside trivial_metric_names empty). The
// prediction's rows and a "mean" row per label first, then the trivial predictors' rows and means.
void write_csv(const EvaluateResult& result, const std::string& path);

}  // namespace ablate::trainer
