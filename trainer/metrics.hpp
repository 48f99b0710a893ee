// Segmentation metrics of the papers, per case (a whole 3D volume) and per class. LibTorch-free.
//
//   DSC = 2|A∩B| / (|A|+|B|)            (001 Sec. IV-D; 002 eq. 12)
//   IoU = |A∩B| / |A∪B|                 (003)
//   sensitivity (recall) = TP / (TP+FN), precision (PPV) = TP / (TP+FP)   (001 eqs. 14-15)
//   specificity = TN / (TN+FP)
//   VS = 1 − |A−B| / (A+B)              (002 eq. 13; A, B = volumes)
//   ASSD: mean symmetric surface distance (002 eq. 14, the MSD of its Fig. 4), in mm
//   HD95: 95th percentile of the pooled symmetric surface distances (MedPy's hd95), in mm
// A = prediction, B = ground truth. Surface voxels are foreground voxels with a 6-neighbour in the
// background (outside the volume counts as background); distances are Euclidean between voxel centres,
// scaled by the voxel spacing (anisotropic spacing taken into account exactly).
//
// Empty masks (document: docs/DATA.md "Metrics"):
//  * both prediction and ground truth empty: DSC = IoU = sensitivity = precision = VS = 1, ASSD = HD95 = 0
//    (a perfect answer for a case without the structure);
//  * exactly one empty: the overlap ratios that are 0/0 (sensitivity when the ground truth is empty,
//    precision when the prediction is empty) are 0, like DSC = IoU = VS = 0, and ASSD = HD95 = the
//    diagonal of the volume in mm (the largest possible distance: a finite worst case that keeps
//    means defined);
//  * specificity is 1 when there is no background voxel in the ground truth.
// Every value is therefore finite and means over cases are always defined.
//
// Contract: pure functions of their arguments; any thread may call them (the evaluation of concurrent tasks
// does). std::invalid_argument for a programming error only: masks whose sizes differ from each other or
// from the grid, an unknown metric or trivial-predictor name.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ablate::trainer {

struct OverlapCounts {
  std::int64_t tp = 0, fp = 0, fn = 0, tn = 0;
};

struct SegmentationMetrics {
  double dice = 0, iou = 0, sensitivity = 0, precision = 0, specificity = 0, vs = 0, assd = 0, hd95 = 0;
};

// Metric names in the order of SegmentationMetrics (as stored in MetricValue::metric).
const std::vector<std::string>& metric_names();
double metric_value(const SegmentationMetrics& m, const std::string& name);
// Whether a larger value is better (false for assd, hd95 and the loss): sweeps::objective_direction().
bool metric_higher_is_better(const std::string& name);

// A binary mask on a grid: dim = {d0, d1, d2} with d2 fastest (index = (i0 * d1 + i1) * d2 + i2) and
// spacing in mm along each of the three axes.
struct Grid {
  std::array<int, 3> dim{1, 1, 1};
  std::array<double, 3> spacing{1.0, 1.0, 1.0};
  std::size_t voxels() const { return static_cast<std::size_t>(dim[0]) * dim[1] * dim[2]; }
};

OverlapCounts overlap_counts(const std::vector<std::uint8_t>& pred, const std::vector<std::uint8_t>& gt);
SegmentationMetrics overlap_metrics(const OverlapCounts& c);

// The overlap metrics of the trivial predictors of one class (ablations/task.hpp trivial_predictors) on a
// case whose ground truth holds `gt_voxels` of `voxels`: "all_background" (an empty prediction) or
// "all_foreground" (every voxel), by overlap_metrics and its empty-mask rules. Only the metrics that the
// counts decide (trivial_metric_names); surface distances of a trivial mask say nothing useful.
SegmentationMetrics trivial_metrics(const std::string& predictor, std::int64_t gt_voxels,
                                    std::int64_t voxels);
// dice, iou, sensitivity, precision, specificity, vs: the metrics trivial_metrics sets.
const std::vector<std::string>& trivial_metric_names();
// Every trivial predictor (ablations/task.hpp trivial_predictors, in its order) scored on one case and
// class by trivial_metrics: the one place that says which predictors a case is compared with. The trainer
// stores them as case metrics "<predictor>:<metric>", `ablate evaluate` prints and writes them as rows.
struct TrivialScore {
  std::string predictor;
  SegmentationMetrics metrics;  // only trivial_metric_names are set
};
std::vector<TrivialScore> trivial_scores(std::int64_t gt_voxels, std::int64_t voxels);

// Directed distances in mm from each surface voxel of `from` to the nearest surface voxel of `to`.
std::vector<double> surface_distances(const std::vector<std::uint8_t>& from, const std::vector<std::uint8_t>& to,
                                      const Grid& grid);

// All metrics of binary masks (non-zero = foreground).
SegmentationMetrics binary_metrics(const std::vector<std::uint8_t>& pred, const std::vector<std::uint8_t>& gt,
                                   const Grid& grid);

// Per-slice (2D) metrics of class `cls` of label maps, slices along axis 0 of `grid`, averaged over the
// slices where the prediction or the ground truth holds the class (001 evaluates "on CT slice"). Each slice
// is scored as a 2D image: surfaces from the 4 in-plane neighbours, distances in-plane in mm, the empty-mask
// rules above with the slice's diagonal. Slices where both masks lack the class are skipped (they would add
// a perfect 1 / 0 mm and flatter the mean); a case where no slice holds the class in either mask gets the
// both-empty values (1, specificity 1, 0 mm). Stored as "<metric>_2d" (slice_metric_names()).
SegmentationMetrics slice_metrics(const std::vector<std::uint8_t>& pred, const std::vector<std::uint8_t>& gt, const Grid& grid,
                                  int cls);
// "dice_2d", "iou_2d", ... in the order of metric_names().
const std::vector<std::string>& slice_metric_names();

// Per class 1..classes of label maps (values 0..classes): result[c - 1] is class c against the rest.
std::vector<SegmentationMetrics> class_metrics(const std::vector<std::uint8_t>& pred, const std::vector<std::uint8_t>& gt,
                                               const Grid& grid, int classes);

}  // namespace ablate::trainer
