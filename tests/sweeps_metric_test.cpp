// Which way a metric improves is decided once (sweeps/metric.hpp); the trainer's selection and the reports
// ask the same rule.
#include <gtest/gtest.h>

#include "reports/format.hpp"
#include "sweeps/early_stop.hpp"
#include "sweeps/metric.hpp"
#include "trainer/metrics.hpp"

using namespace ablate;

TEST(MetricDirection, DistancesLossesAndTimesAreMinimised) {
  for (const char* lower : {"loss", "assd", "hd95", "hd", "msd", "asd", "assd_2d", "hd95_2d", "loss_2d", "val_loss",
                            "train_loss", "inference_ms", "train_seconds"}) {
    EXPECT_EQ(sweeps::objective_direction(lower), sweeps::Direction::kMinimize) << lower;
    EXPECT_FALSE(sweeps::higher_is_better(lower)) << lower;
  }
  for (const char* higher : {"dice", "iou", "sensitivity", "precision", "specificity", "vs", "dice_2d", "vs_2d", "_2d",
                             "accuracy", "hd95x"}) {
    EXPECT_EQ(sweeps::objective_direction(higher), sweeps::Direction::kMaximize) << higher;
  }
  EXPECT_EQ(sweeps::metric_base("hd95_2d"), "hd95");
  EXPECT_EQ(sweeps::metric_base("_2d"), "_2d");
  EXPECT_TRUE(sweeps::metric_is_per_slice("dice_2d"));
  EXPECT_FALSE(sweeps::metric_is_per_slice("dice"));
}

// The trainer (best-epoch selection) and the reports (tables, marks, arrows) answer as the rule does for
// every name either of them meets.
TEST(MetricDirection, EveryLayerAsksTheSameRule) {
  std::vector<std::string> names = {"loss", "val_loss", "train_seconds", "inference_ms", "hd", "msd", "asd"};
  for (const auto& m : trainer::metric_names()) names.push_back(m);
  for (const auto& m : trainer::slice_metric_names()) names.push_back(m);
  ASSERT_GE(names.size(), 23u);
  for (const auto& m : names) {
    EXPECT_EQ(trainer::metric_higher_is_better(m), sweeps::higher_is_better(m)) << m;
    EXPECT_EQ(reports::metric_higher_is_better(m), sweeps::higher_is_better(m)) << m;
    EXPECT_EQ(reports::metric_base(m), sweeps::metric_base(m)) << m;
  }
}
