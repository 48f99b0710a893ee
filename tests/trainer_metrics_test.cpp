// Metrics against hand-computed values (overlap, empty masks, anisotropic surface distances), the exact
// distance transform against brute force, and `ablate evaluate`'s folder logic on NIfTI files.
#include <gtest/gtest.h>
#include <nifti1_io.h>

#include <cmath>
#include <limits>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <random>

#include "trainer/data/nifti.hpp"
#include "trainer/evaluate.hpp"
#include "trainer/metrics.hpp"

namespace fs = std::filesystem;
using namespace ablate::trainer;

namespace {

Grid grid(int d0, int d1, int d2, double s0 = 1, double s1 = 1, double s2 = 1) {
  Grid g;
  g.dim = {d0, d1, d2};
  g.spacing = {s0, s1, s2};
  return g;
}

std::vector<std::uint8_t> mask(const Grid& g, std::initializer_list<int> on) {
  std::vector<std::uint8_t> m(g.voxels(), 0);
  for (int i : on) m[i] = 1;
  return m;
}

}  // namespace

TEST(Metrics, OverlapRatiosMatchHandComputedValues) {
  // 20 voxels; prediction {0,1,2,3}, ground truth {1,2,3,4,5,6}: TP 3, FP 1, FN 3, TN 13.
  const Grid g = grid(1, 4, 5);
  const auto m = binary_metrics(mask(g, {0, 1, 2, 3}), mask(g, {1, 2, 3, 4, 5, 6}), g);
  EXPECT_DOUBLE_EQ(m.dice, 6.0 / 10.0);
  EXPECT_DOUBLE_EQ(m.iou, 3.0 / 7.0);
  EXPECT_DOUBLE_EQ(m.sensitivity, 3.0 / 6.0);
  EXPECT_DOUBLE_EQ(m.precision, 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(m.specificity, 13.0 / 14.0);
  EXPECT_DOUBLE_EQ(m.vs, 1.0 - 2.0 / 10.0);
}

TEST(Metrics, BothEmptyIsPerfect) {
  const Grid g = grid(2, 3, 4);
  const auto m = binary_metrics(mask(g, {}), mask(g, {}), g);
  EXPECT_EQ(m.dice, 1.0);
  EXPECT_EQ(m.iou, 1.0);
  EXPECT_EQ(m.sensitivity, 1.0);
  EXPECT_EQ(m.precision, 1.0);
  EXPECT_EQ(m.specificity, 1.0);
  EXPECT_EQ(m.vs, 1.0);
  EXPECT_EQ(m.assd, 0.0);
  EXPECT_EQ(m.hd95, 0.0);
}

TEST(Metrics, OneSideEmptyIsWorstCaseAndFinite) {
  const Grid g = grid(5, 1, 1, 2.5, 0.8, 0.8);
  const double diagonal = std::sqrt(12.5 * 12.5 + 0.8 * 0.8 + 0.8 * 0.8);
  const auto fp_only = binary_metrics(mask(g, {2}), mask(g, {}), g);  // empty ground truth
  EXPECT_EQ(fp_only.dice, 0.0);
  EXPECT_EQ(fp_only.iou, 0.0);
  EXPECT_EQ(fp_only.sensitivity, 0.0);
  EXPECT_EQ(fp_only.precision, 0.0);
  EXPECT_EQ(fp_only.vs, 0.0);
  EXPECT_DOUBLE_EQ(fp_only.specificity, 4.0 / 5.0);
  EXPECT_DOUBLE_EQ(fp_only.assd, diagonal);
  EXPECT_DOUBLE_EQ(fp_only.hd95, diagonal);
  const auto missed = binary_metrics(mask(g, {}), mask(g, {1, 2}), g);  // empty prediction
  EXPECT_EQ(missed.dice, 0.0);
  EXPECT_EQ(missed.sensitivity, 0.0);
  EXPECT_EQ(missed.precision, 0.0);
  EXPECT_EQ(missed.specificity, 1.0);
  EXPECT_DOUBLE_EQ(missed.hd95, diagonal);
}

TEST(Metrics, SurfaceDistancesUseAnisotropicSpacing) {
  // Along the slice axis (2.5 mm): two single voxels three slices apart are 7.5 mm apart.
  {
    const Grid g = grid(5, 1, 1, 2.5, 0.8, 0.8);
    const auto m = binary_metrics(mask(g, {3}), mask(g, {0}), g);
    EXPECT_DOUBLE_EQ(m.assd, 7.5);
    EXPECT_DOUBLE_EQ(m.hd95, 7.5);
  }
  // In-plane diagonal with rows 2 mm and columns 1 mm apart: (2 rows, 2 columns) = sqrt(4^2 + 2^2).
  {
    const Grid g = grid(1, 3, 3, 5.0, 2.0, 1.0);
    const auto m = binary_metrics(mask(g, {8}), mask(g, {0}), g);
    EXPECT_DOUBLE_EQ(m.assd, std::sqrt(20.0));
    EXPECT_DOUBLE_EQ(m.hd95, std::sqrt(20.0));
  }
  // A line of columns 0.5 mm apart: prediction {0..3}, ground truth {0, 1}. Every voxel is on the
  // surface (its neighbours across the size-1 axes are outside). Distances prediction->truth
  // {0, 0, 0.5, 1.0}, truth->prediction {0, 0}: ASSD = 1.5 / 6; HD95 = the 95th percentile of the pooled
  // six values with linear interpolation = 0.5 + 0.75 * 0.5.
  {
    const Grid g = grid(1, 1, 6, 2.5, 1.0, 0.5);
    const auto m = binary_metrics(mask(g, {0, 1, 2, 3}), mask(g, {0, 1}), g);
    EXPECT_DOUBLE_EQ(m.assd, 0.25);
    EXPECT_DOUBLE_EQ(m.hd95, 0.875);
    EXPECT_DOUBLE_EQ(m.dice, 2.0 * 2 / 6);
  }
}

TEST(Metrics, InteriorVoxelsAreNotSurface) {
  // A 3x3x3 cube: 26 surface voxels, the centre is interior. Against itself every distance is 0.
  const Grid g = grid(5, 5, 5);
  std::vector<std::uint8_t> cube(g.voxels(), 0);
  for (int a = 1; a <= 3; ++a)
    for (int b = 1; b <= 3; ++b)
      for (int c = 1; c <= 3; ++c) cube[(a * 5 + b) * 5 + c] = 1;
  EXPECT_EQ(surface_distances(cube, cube, g).size(), 26u);
  const auto m = binary_metrics(cube, cube, g);
  EXPECT_EQ(m.dice, 1.0);
  EXPECT_EQ(m.assd, 0.0);
}

TEST(Metrics, DistanceTransformMatchesBruteForce) {
  std::mt19937 rng(7);
  const Grid g = grid(6, 7, 9, 2.5, 0.7, 0.9);
  for (int trial = 0; trial < 5; ++trial) {
    std::vector<std::uint8_t> a(g.voxels()), b(g.voxels());
    for (auto& v : a) v = rng() % 4 == 0;
    for (auto& v : b) v = rng() % 5 == 0;
    const auto fast = surface_distances(a, b, g);
    // Brute force: the same surface rule, all pairs.
    auto is_surface = [&](const std::vector<std::uint8_t>& m, int i0, int i1, int i2) {
      if (!m[(i0 * g.dim[1] + i1) * g.dim[2] + i2]) return false;
      const int d[6][3] = {{-1, 0, 0}, {1, 0, 0}, {0, -1, 0}, {0, 1, 0}, {0, 0, -1}, {0, 0, 1}};
      for (const auto& o : d) {
        const int j0 = i0 + o[0], j1 = i1 + o[1], j2 = i2 + o[2];
        if (j0 < 0 || j1 < 0 || j2 < 0 || j0 >= g.dim[0] || j1 >= g.dim[1] || j2 >= g.dim[2]) return true;
        if (!m[(j0 * g.dim[1] + j1) * g.dim[2] + j2]) return true;
      }
      return false;
    };
    std::vector<std::array<int, 3>> sa, sb;
    for (int i0 = 0; i0 < g.dim[0]; ++i0)
      for (int i1 = 0; i1 < g.dim[1]; ++i1)
        for (int i2 = 0; i2 < g.dim[2]; ++i2) {
          if (is_surface(a, i0, i1, i2)) sa.push_back({i0, i1, i2});
          if (is_surface(b, i0, i1, i2)) sb.push_back({i0, i1, i2});
        }
    ASSERT_EQ(fast.size(), sa.size());
    for (std::size_t k = 0; k < sa.size(); ++k) {
      double best = 1e300;
      for (const auto& q : sb) {
        double d = 0;
        for (int ax = 0; ax < 3; ++ax) d += std::pow((sa[k][ax] - q[ax]) * g.spacing[ax], 2);
        best = std::min(best, std::sqrt(d));
      }
      EXPECT_NEAR(fast[k], best, 1e-9);
    }
  }
}

// Per-slice metrics by hand: 3 slices of 4x4, slice spacing 5 mm, in-plane 1 mm.
// Slice 0: prediction = 3x3 block (rows 0-2, cols 0-2), truth = its rows 0-1. In 2D the block's centre (1,1)
// is interior (4 in-plane neighbours), so the surface distances are pred->truth (0 x5, 1 x3) and
// truth->pred (0 x5, 1): ASSD 4/14 (a 3D surface, with the empty slices above/below as background, would
// make every pixel surface and give 3/15). Slice 1: truth one pixel, prediction empty: 0 and the slice's
// diagonal 4√2 mm (not the volume's). Slice 2: both empty, not scored.
TEST(Metrics, PerSliceMetricsByHandSkipEmptySlices) {
  const Grid g = grid(3, 4, 4, 5, 1, 1);
  const auto pred = mask(g, {0, 1, 2, 4, 5, 6, 8, 9, 10});
  const auto gt = mask(g, {0, 1, 2, 4, 5, 6, 16});
  const SegmentationMetrics m = slice_metrics(pred, gt, g, 1);
  const double diag = 4 * std::sqrt(2.0);
  EXPECT_DOUBLE_EQ(m.dice, (12.0 / 15.0 + 0) / 2);  // slice 0: TP 6, FP 3, FN 0, TN 7
  EXPECT_DOUBLE_EQ(m.iou, (6.0 / 9.0 + 0) / 2);
  EXPECT_DOUBLE_EQ(m.sensitivity, (1.0 + 0) / 2);
  EXPECT_DOUBLE_EQ(m.precision, (6.0 / 9.0 + 0) / 2);  // an empty prediction's precision is 0
  EXPECT_DOUBLE_EQ(m.specificity, (7.0 / 10.0 + 1.0) / 2);
  EXPECT_DOUBLE_EQ(m.vs, (1.0 - 3.0 / 15.0 + 0) / 2);
  EXPECT_NEAR(m.assd, (4.0 / 14.0 + diag) / 2, 1e-12);
  EXPECT_NEAR(m.hd95, (1.0 + diag) / 2, 1e-12);
  // No slice holds class 2 in either mask: the both-empty answer.
  const SegmentationMetrics none = slice_metrics(pred, gt, g, 2);
  EXPECT_EQ(none.dice, 1.0);
  EXPECT_EQ(none.specificity, 1.0);
  EXPECT_EQ(none.assd, 0.0);
  EXPECT_EQ(none.hd95, 0.0);
  EXPECT_EQ(slice_metric_names().front(), "dice_2d");
  EXPECT_EQ(slice_metric_names().back(), "hd95_2d");
  EXPECT_THROW(slice_metrics(pred, mask(grid(1, 4, 4), {}), g, 1), std::invalid_argument);
}

TEST(Metrics, PerClassOnLabelMaps) {
  const Grid g = grid(1, 1, 6);
  // Prediction: class 1 at {0,1}, class 2 at {2}; truth: class 1 at {0}, class 2 at {2,3}.
  const std::vector<std::uint8_t> pred = {1, 1, 2, 0, 0, 0}, gt = {1, 0, 2, 2, 0, 0};
  const auto per = class_metrics(pred, gt, g, 2);
  ASSERT_EQ(per.size(), 2u);
  EXPECT_DOUBLE_EQ(per[0].dice, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(per[1].dice, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(per[0].precision, 0.5);
  EXPECT_DOUBLE_EQ(per[1].sensitivity, 0.5);
}

TEST(Metrics, NamesAndDirection) {
  EXPECT_EQ(metric_names().size(), 8u);
  EXPECT_TRUE(metric_higher_is_better("dice"));
  EXPECT_FALSE(metric_higher_is_better("hd95"));
  EXPECT_THROW(metric_value(SegmentationMetrics{}, "f1"), std::invalid_argument);
}

class EvaluateFolders : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ablate_eval_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "gt");
    fs::create_directories(root_ / "pred");
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const std::string& sub, const std::string& name, std::vector<float> values, std::array<double, 3> spacing = {1, 1, 1}) {
    ablate::trainer::data::Volume v;
    v.dim = {static_cast<int>(values.size()), 1, 1};
    v.spacing = spacing;
    v.data = std::move(values);
    ablate::trainer::data::write_nifti((root_ / sub / name).string(), v, ablate::trainer::data::kDtUint8);
  }
  fs::path root_;
};

TEST_F(EvaluateFolders, PairsByNameAndComputesPerLabelAndMerged) {
  write("gt", "a.nii.gz", {0, 1, 1, 2, 2, 0}, {0.5, 1, 1});
  write("pred", "a.nii.gz", {0, 1, 0, 2, 2, 2}, {0.5, 1, 1});
  write("gt", "b.nii", {0, 0, 0, 0});
  write("pred", "b.nii", {0, 0, 0, 0});
  EvaluateOptions o;
  o.gt_dir = (root_ / "gt").string();
  o.pred_dir = (root_ / "pred").string();
  o.labels = parse_label_groups("1,2,1+2");
  const EvaluateResult r = evaluate_folders(o);
  EXPECT_TRUE(r.problems.empty());
  ASSERT_EQ(r.rows.size(), 6u);  // 2 cases x 3 label groups
  EXPECT_EQ(r.rows[0].case_id, "a");
  EXPECT_EQ(r.rows[0].label, "1");
  EXPECT_DOUBLE_EQ(r.rows[0].metrics.dice, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.rows[1].metrics.dice, 4.0 / 5.0);
  EXPECT_DOUBLE_EQ(r.rows[2].metrics.dice, 2.0 * 3 / 8);  // merged: truth {1,2,3,4}, prediction {1,3,4,5}
  EXPECT_EQ(r.rows[3].case_id, "b");
  EXPECT_EQ(r.rows[3].metrics.dice, 1.0);  // both empty
  const auto means = mean_rows(r);
  ASSERT_EQ(means.size(), 3u);
  EXPECT_DOUBLE_EQ(means[0].metrics.dice, (2.0 / 3.0 + 1.0) / 2);
  const std::string csv = (root_ / "out.csv").string();
  write_csv(r, csv);
  std::ifstream in(csv);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header,
            "case,label,predictor,dice,iou,sensitivity,precision,specificity,vs,assd,hd95,dice_2d,iou_2d,sensitivity_2d,"
            "precision_2d,specificity_2d,vs_2d,assd_2d,hd95_2d");
  EXPECT_NE(format_table(r).find("mean"), std::string::npos);
}

// The trivial predictors beside the prediction, through real NIfTI files: per case and class (merged
// classes count their merged voxels), by the trainer's trivial_scores, in the table and the CSV.
TEST_F(EvaluateFolders, WritesTheTrivialPredictorsRows) {
  write("gt", "a.nii.gz", {0, 1, 1, 2, 2, 0, 0, 0});
  write("pred", "a.nii.gz", {0, 1, 1, 2, 2, 0, 0, 0});
  write("gt", "b.nii", {0, 0, 0, 0});
  write("pred", "b.nii", {0, 0, 0, 0});
  EvaluateOptions o;
  o.gt_dir = (root_ / "gt").string();
  o.pred_dir = (root_ / "pred").string();
  o.labels = parse_label_groups("1,1+2");
  const EvaluateResult r = evaluate_folders(o);
  ASSERT_TRUE(r.problems.empty()) << r.problems[0];
  ASSERT_EQ(r.rows.size(), 4u);
  ASSERT_EQ(r.trivial.size(), 8u);  // 2 cases x 2 classes x 2 predictors
  const EvaluateRow& bg = r.trivial[0];  // case a, class 1: 2 of 8 voxels
  EXPECT_EQ(bg.case_id, "a");
  EXPECT_EQ(bg.label, "1");
  EXPECT_EQ(bg.predictor, "all_background");
  EXPECT_DOUBLE_EQ(bg.metrics.dice, 0.0);
  EXPECT_DOUBLE_EQ(bg.metrics.specificity, 1.0);
  const EvaluateRow& fg = r.trivial[1];
  EXPECT_EQ(fg.predictor, "all_foreground");
  EXPECT_DOUBLE_EQ(fg.metrics.dice, 2.0 * 2 / (8 + 2));
  EXPECT_DOUBLE_EQ(fg.metrics.precision, 2.0 / 8);
  EXPECT_DOUBLE_EQ(fg.metrics.specificity, 0.0);
  EXPECT_DOUBLE_EQ(r.trivial[3].metrics.dice, 2.0 * 4 / (8 + 4));  // class 1+2: 4 of 8 voxels
  EXPECT_DOUBLE_EQ(r.trivial[4].metrics.dice, 1.0);                 // case b, nothing to find: empty is right
  EXPECT_DOUBLE_EQ(r.trivial[5].metrics.dice, 0.0);
  // The same numbers as the trainer's case metrics (one function).
  const auto expected = trivial_scores(4, 8);
  EXPECT_DOUBLE_EQ(r.trivial[3].metrics.vs, expected[1].metrics.vs);
  const auto means = trivial_mean_rows(r);
  ASSERT_EQ(means.size(), 4u);  // 2 classes x 2 predictors
  EXPECT_EQ(means[1].label, "1");
  EXPECT_EQ(means[1].predictor, "all_foreground");
  EXPECT_DOUBLE_EQ(means[1].metrics.dice, (0.4 + 0.0) / 2);
  const std::string table = format_table(r);
  EXPECT_NE(table.find("trivial predictors"), std::string::npos) << table;
  EXPECT_NE(table.find("all foreground"), std::string::npos) << table;
  const std::string csv = (root_ / "out.csv").string();
  write_csv(r, csv);
  std::ifstream in(csv);
  std::stringstream text;
  text << in.rdbuf();
  // The prediction (perfect here) and the predictors; a trivial row leaves the distances empty.
  EXPECT_NE(text.str().find("\na,1,prediction,1.000000,"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("\na,1,all_foreground,0.400000,0.250000,1.000000,0.250000,0.000000,0.400000,,,,,,,,,,\n"),
            std::string::npos)
      << text.str();
  EXPECT_NE(text.str().find("\nmean,1,all_foreground,0.200000,"), std::string::npos) << text.str();
}

// Distances through real NIfTI files with anisotropic spacing: a voxel 2 slices (5 mm each) away is 10 mm
// away in 3D, and in-plane 10 mm away on the x slices, while on the z slices the two masks never meet.
TEST_F(EvaluateFolders, AnisotropicDistancesAndPerSliceAxis) {
  auto write3d = [&](const std::string& sub, int z, std::array<double, 3> spacing) {
    ablate::trainer::data::Volume v;
    v.dim = {4, 1, 3};
    v.spacing = spacing;
    v.data.assign(12, 0.0f);
    v.data[0 + 4 * (0 + 1 * z)] = 1.0f;  // voxel (0, 0, z)
    ablate::trainer::data::write_nifti((root_ / sub / "c.nii.gz").string(), v, ablate::trainer::data::kDtUint8);
  };
  write3d("gt", 0, {1, 1, 5});
  write3d("pred", 2, {1, 1, 5});
  EvaluateOptions o;
  o.gt_dir = (root_ / "gt").string();
  o.pred_dir = (root_ / "pred").string();
  o.axis = 0;
  EvaluateResult r = evaluate_folders(o);
  ASSERT_TRUE(r.problems.empty()) << r.problems[0];
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_DOUBLE_EQ(r.rows[0].metrics.dice, 0.0);
  EXPECT_DOUBLE_EQ(r.rows[0].metrics.hd95, 10.0);
  EXPECT_DOUBLE_EQ(r.rows[0].metrics.assd, 10.0);
  EXPECT_DOUBLE_EQ(r.rows[0].metrics_2d.hd95, 10.0);  // slice x = 0 holds both, 2 rows of 5 mm apart
  o.axis = 2;
  r = evaluate_folders(o);
  EXPECT_DOUBLE_EQ(r.rows[0].metrics.hd95, 10.0);     // the 3D metrics do not depend on the axis
  // Each z slice holds one mask only: both are scored with the worst case, the slice's diagonal
  // sqrt((1 row x 1 mm)^2 + (4 columns x 1 mm)^2) = sqrt(17) mm.
  EXPECT_NEAR(r.rows[0].metrics_2d.hd95, std::sqrt(17.0), 1e-9);
  EXPECT_DOUBLE_EQ(r.rows[0].metrics_2d.dice, 0.0);
  o.axis = 3;
  EXPECT_THROW(evaluate_folders(o), std::invalid_argument);
  // Another spacing in the prediction's header: reported, and scored on the ground truth's grid.
  write3d("pred", 2, {1, 1, 4});
  o.axis = 2;
  r = evaluate_folders(o);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("c.nii.gz: voxel spacing, orientation or position"), std::string::npos) << r.problems[0];
  EXPECT_DOUBLE_EQ(r.rows[0].metrics.hd95, 10.0);
}

TEST_F(EvaluateFolders, ReportsMissingPredictionAndShapeMismatchByFile) {
  write("gt", "a.nii.gz", {0, 1, 1});
  write("gt", "b.nii.gz", {0, 1, 1});
  write("pred", "b.nii.gz", {0, 1, 1, 0});
  EvaluateOptions o;
  o.gt_dir = (root_ / "gt").string();
  o.pred_dir = (root_ / "pred").string();
  const EvaluateResult r = evaluate_folders(o);
  ASSERT_EQ(r.problems.size(), 2u);
  EXPECT_NE(r.problems[0].find("a.nii.gz: no prediction named a.nii(.gz) in " + o.pred_dir), std::string::npos)
      << r.problems[0];
  EXPECT_NE(r.problems[1].find("b.nii.gz: shape"), std::string::npos) << r.problems[1];
  EXPECT_TRUE(r.rows.empty());
  o.gt_dir = (root_ / "missing").string();
  EXPECT_THROW(evaluate_folders(o), std::runtime_error);
}

TEST(EvaluateLabels, ParsesGroupsAndRejectsJunk) {
  const auto g = parse_label_groups("1+2,3");
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].name(), "1+2");
  EXPECT_EQ(g[1].values, std::vector<int>{3});
  EXPECT_THROW(parse_label_groups("a"), std::invalid_argument);
  EXPECT_THROW(parse_label_groups("0"), std::invalid_argument);
  EXPECT_THROW(parse_label_groups("1,,2"), std::invalid_argument);
  // An empty text, class or value is refused with what is allowed (getline used to drop "1+"'s empty tail).
  for (const char* bad : {"", " ", "1+", "1,", ",2", "+1", "1+ ,2", "256", "1.5", "99999999999"}) {
    try {
      parse_label_groups(bad);
      ADD_FAILURE() << "--labels \"" << bad << "\" was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("allowed: label values 1..255"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(parse_label_groups(" 1 + 2 , 3 ").size(), 2u);
}

// NaN voxels in a prediction are no label (niftilib reads them as 0, so they used to count as background):
// the case is a problem naming it and the file, and is not scored.
TEST_F(EvaluateFolders, NanVoxelsAreAProblemNamingTheCaseAndFile) {
  write("gt", "a.nii.gz", {0, 1, 1, 0});
  ablate::trainer::data::Volume v;
  v.dim = {4, 1, 1};
  const float nan = std::numeric_limits<float>::quiet_NaN();
  v.data = {0, nan, 1, nan};
  const std::string pred = (root_ / "pred" / "a.nii.gz").string();
  ablate::trainer::data::write_nifti(pred, v, ablate::trainer::data::kDtFloat32);
  EvaluateOptions o;
  o.gt_dir = (root_ / "gt").string();
  o.pred_dir = (root_ / "pred").string();
  const EvaluateResult r = evaluate_folders(o);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find(pred + ": case a: 2 voxel(s) hold NaN or an infinity (the first at voxel (1, 0, 0))"), std::string::npos)
      << r.problems[0];
  EXPECT_NE(r.problems[0].find("the case is not scored"), std::string::npos) << r.problems[0];
  EXPECT_TRUE(r.rows.empty());
}

// A volume past the voxel cap is refused from its header, before its data is read (the files here are
// sparse: 512 MiB that take no disk).
TEST_F(EvaluateFolders, VolumesPastTheCapAreRefusedFromTheirHeader) {
  for (const char* sub : {"gt", "pred"}) {
    int dims[8] = {3, 16384, 16384, 2, 1, 1, 1, 1};  // 2^29 voxels (a NIfTI-1 dimension is at most 32767)
    nifti_image* nim = nifti_make_new_nim(dims, DT_UINT8, 0);
    ASSERT_NE(nim, nullptr);
    const std::string path = (root_ / sub / "big.nii").string();
    ASSERT_EQ(nifti_set_filenames(nim, path.c_str(), 0, 1), 0);
    nifti_image_write_hdr_img(nim, 0, "wb");  // the header; the data a hole (a sparse file)
    nifti_image_free(nim);
    fs::resize_file(path, 352 + (std::uintmax_t{1} << 29));
  }
  EvaluateOptions o;
  o.gt_dir = (root_ / "gt").string();
  o.pred_dir = (root_ / "pred").string();
  o.labels = parse_label_groups("1");
  const EvaluateResult r = evaluate_folders(o);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("big.nii: 16384x16384x2 = 536870912 voxels; ablate evaluate reads at most 268435456 voxels"),
            std::string::npos)
      << r.problems[0];
  EXPECT_TRUE(r.rows.empty());
}

// The trivial predictors (ablations/task.hpp): what a network that predicts nothing or everything scores.
TEST(Metrics, TrivialPredictorsFromTheGroundTruthCounts) {
  // 10 of 100 voxels hold the class.
  const SegmentationMetrics bg = trivial_metrics("all_background", 10, 100);
  EXPECT_DOUBLE_EQ(bg.dice, 0.0);
  EXPECT_DOUBLE_EQ(bg.sensitivity, 0.0);
  EXPECT_DOUBLE_EQ(bg.specificity, 1.0);
  EXPECT_DOUBLE_EQ(bg.vs, 0.0);
  const SegmentationMetrics fg = trivial_metrics("all_foreground", 10, 100);
  EXPECT_DOUBLE_EQ(fg.dice, 2.0 * 10 / 110);  // 2|B| / (N + |B|)
  EXPECT_DOUBLE_EQ(fg.iou, 0.1);
  EXPECT_DOUBLE_EQ(fg.sensitivity, 1.0);
  EXPECT_DOUBLE_EQ(fg.precision, 0.1);
  EXPECT_DOUBLE_EQ(fg.specificity, 0.0);
  // The same as scoring the masks themselves.
  std::vector<std::uint8_t> gt(100, 0), none(100, 0), all(100, 1);
  for (int i = 0; i < 10; ++i) gt[static_cast<std::size_t>(i)] = 1;
  EXPECT_DOUBLE_EQ(overlap_metrics(overlap_counts(all, gt)).dice, fg.dice);
  EXPECT_DOUBLE_EQ(overlap_metrics(overlap_counts(none, gt)).dice, bg.dice);
  // A case without the class: predicting nothing is perfect, everything is 0.
  EXPECT_DOUBLE_EQ(trivial_metrics("all_background", 0, 100).dice, 1.0);
  EXPECT_DOUBLE_EQ(trivial_metrics("all_foreground", 0, 100).dice, 0.0);
  EXPECT_THROW(trivial_metrics("half", 10, 100), std::invalid_argument);
}
