// Statistics of the reports against hand-computed and published reference values (R 4.x outputs quoted).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "reports/statistics.hpp"

namespace ablate::reports {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(ReportsQuantile, Type7MatchesR) {
  // R: quantile(1:10) -> 1, 3.25, 5.5, 7.75, 10 (type 7: h = (n-1)p, linear interpolation).
  std::vector<double> v = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
  EXPECT_DOUBLE_EQ(quantile(v, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(quantile(v, 0.25), 3.25);
  EXPECT_DOUBLE_EQ(quantile(v, 0.5), 5.5);
  EXPECT_DOUBLE_EQ(quantile(v, 0.75), 7.75);
  EXPECT_DOUBLE_EQ(quantile(v, 1.0), 10.0);
  // R: quantile(c(1, 2, 4, 8), 0.1) -> 1.3
  EXPECT_NEAR(quantile({1, 2, 4, 8}, 0.1), 1.3, 1e-12);
  EXPECT_DOUBLE_EQ(quantile({42}, 0.75), 42.0);
  EXPECT_TRUE(std::isnan(quantile({}, 0.5)));
}

TEST(ReportsBoxStats, WhiskersAndOutliersHandComputed) {
  // q1 = 3.25, q3 = 7.75, IQR = 4.5, fences [-3.5, 14.5]: 30 is an outlier, the upper whisker stops at 9.
  const BoxStats b = box_stats({30, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_EQ(b.n, 10u);
  EXPECT_DOUBLE_EQ(b.min, 1);
  EXPECT_DOUBLE_EQ(b.q1, 3.25);
  EXPECT_DOUBLE_EQ(b.median, 5.5);
  EXPECT_DOUBLE_EQ(b.q3, 7.75);
  EXPECT_DOUBLE_EQ(b.max, 30);
  EXPECT_DOUBLE_EQ(b.whisker_low, 1);
  EXPECT_DOUBLE_EQ(b.whisker_high, 9);
  ASSERT_EQ(b.outliers.size(), 1u);
  EXPECT_DOUBLE_EQ(b.outliers[0], 30);

  // Low outlier: {-20, 1..5}: q1 = 1.25, q3 = 3.75, fences [-2.5, 7.5].
  const BoxStats c = box_stats({-20, 1, 2, 3, 4, 5});
  EXPECT_DOUBLE_EQ(c.q1, 1.25);
  EXPECT_DOUBLE_EQ(c.median, 2.5);
  EXPECT_DOUBLE_EQ(c.q3, 3.75);
  EXPECT_DOUBLE_EQ(c.whisker_low, 1);
  EXPECT_DOUBLE_EQ(c.whisker_high, 5);
  ASSERT_EQ(c.outliers.size(), 1u);
  EXPECT_DOUBLE_EQ(c.outliers[0], -20);
}

TEST(ReportsBoxStats, EmptyAndNaN) {
  const BoxStats e = box_stats({});
  EXPECT_EQ(e.n, 0u);
  EXPECT_TRUE(std::isnan(e.median));
  const BoxStats one = box_stats({kNaN, 0.5});
  EXPECT_EQ(one.n, 1u);
  EXPECT_DOUBLE_EQ(one.q1, 0.5);
  EXPECT_DOUBLE_EQ(one.whisker_high, 0.5);
  EXPECT_TRUE(one.outliers.empty());
}

TEST(ReportsMeanSd, SampleStandardDeviation) {
  const MeanSd m = mean_sd({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_EQ(m.n, 8u);
  EXPECT_DOUBLE_EQ(m.mean, 5);
  EXPECT_NEAR(m.sd, std::sqrt(32.0 / 7.0), 1e-12);  // n - 1 denominator
  EXPECT_DOUBLE_EQ(mean_sd({3}).sd, 0);
  EXPECT_TRUE(std::isnan(mean_sd({}).mean));
}

TEST(ReportsDistributions, IncompleteBetaAndStudentT) {
  // I_0.5(2, 3) = sum_{j=2..4} C(4, j) / 16 = 11/16.
  EXPECT_NEAR(incomplete_beta(2, 3, 0.5), 11.0 / 16.0, 1e-12);
  EXPECT_NEAR(incomplete_beta(1, 1, 0.3), 0.3, 1e-12);
  // df = 1 is the Cauchy distribution: F(1) = 0.75; df = 2: F(t) = 1/2 + t / (2 sqrt(2 + t^2)).
  EXPECT_NEAR(student_t_cdf(1, 1), 0.75, 1e-12);
  EXPECT_NEAR(student_t_cdf(1, 2), 0.5 + 1 / (2 * std::sqrt(3.0)), 1e-12);
  EXPECT_NEAR(student_t_cdf(0, 7), 0.5, 1e-12);
  // Table values: t_{0.975, 10} = 2.228139, t_{0.95, 9} = 1.833113, t_{0.995, 30} = 2.749996.
  EXPECT_NEAR(student_t_cdf(2.228139, 10), 0.975, 1e-6);
  EXPECT_NEAR(student_t_cdf(1.833113, 9), 0.95, 1e-6);
  EXPECT_NEAR(student_t_cdf(-2.749996, 30), 0.005, 1e-6);
  EXPECT_NEAR(normal_cdf(1.959964), 0.975, 1e-6);
}

// R's `sleep` data (Cushny & Peebles): extra sleep of 10 patients under two drugs.
const std::vector<double> kSleep1 = {0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0};
const std::vector<double> kSleep2 = {1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4};

TEST(ReportsPairedT, SleepDataMatchesR) {
  // R: t.test(extra ~ group, data = sleep, paired = TRUE): t = -4.0621, df = 9, p-value = 0.002833.
  const TTestResult r = paired_t_test(kSleep1, kSleep2);
  EXPECT_EQ(r.n, 10u);
  EXPECT_NEAR(r.t, -4.062128, 1e-6);
  EXPECT_DOUBLE_EQ(r.df, 9);
  EXPECT_NEAR(r.p, 0.002832890, 1e-8);
  EXPECT_NEAR(r.mean_difference, -1.58, 1e-12);
}

TEST(ReportsPairedT, DegenerateGivesNaN) {
  EXPECT_TRUE(std::isnan(paired_t_test({1}, {2}).p));
  EXPECT_TRUE(std::isnan(paired_t_test({1, 2, 3}, {0, 1, 2}).p));  // constant difference: no spread
}

TEST(ReportsWilcoxon, ExactMatchesRDepressionData) {
  // Hollander & Wolfe (1973) p. 29, the example of R's ?wilcox.test:
  // wilcox.test(x, y, paired = TRUE) -> V = 40, p-value = 0.03906 (exact: 2 * 10/512).
  const std::vector<double> x = {1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30};
  const std::vector<double> y = {0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29};
  const WilcoxonResult r = wilcoxon_signed_rank(x, y);
  EXPECT_TRUE(r.exact);
  EXPECT_EQ(r.n, 9u);
  EXPECT_DOUBLE_EQ(r.statistic, 40);
  EXPECT_NEAR(r.p, 20.0 / 512.0, 1e-12);
  // Symmetric: swapping the samples gives V = 5 and the same p.
  const WilcoxonResult s = wilcoxon_signed_rank(y, x);
  EXPECT_DOUBLE_EQ(s.statistic, 5);
  EXPECT_NEAR(s.p, r.p, 1e-12);
}

TEST(ReportsWilcoxon, ExactAllPositive) {
  // R: wilcox.test(c(1, 2, 3, 4, 5)) -> V = 15, p-value = 0.0625.
  const WilcoxonResult r = wilcoxon_signed_rank({1, 2, 3, 4, 5}, {0, 0, 0, 0, 0});
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.statistic, 15);
  EXPECT_NEAR(r.p, 0.0625, 1e-12);
}

TEST(ReportsWilcoxon, TiesAndZerosUseNormalApproximationLikeR) {
  // R: wilcox.test(extra ~ group, data = sleep, paired = TRUE) -> V = 0, p-value = 0.009091
  // (one zero difference dropped, one tie: normal approximation with tie and continuity correction).
  const WilcoxonResult r = wilcoxon_signed_rank(kSleep1, kSleep2);
  EXPECT_FALSE(r.exact);
  EXPECT_EQ(r.n, 9u);
  EXPECT_DOUBLE_EQ(r.statistic, 0);
  EXPECT_NEAR(r.p, 0.009090698, 1e-8);
}

TEST(ReportsWilcoxon, AZeroWithoutTiesUsesNormalApproximationLikeR) {
  // R 4.x: wilcox.test(c(0, 1, 2, 3, 4, 5)) -> V = 15, p-value = 0.05906, with the warning "cannot
  // compute exact p-value with zeroes": R drops the zero (n = 5) but takes the exact distribution only
  // "if (exact && !TIES && !ZEROES)". By hand: E[V] = n(n+1)/4 = 7.5, Var = n(n+1)(2n+1)/24 = 13.75 (no
  // ties), z = (15 - 7.5 - 0.5) / sqrt(13.75) = 1.8877596, p = 2 (1 - Phi(z)) = 0.0590582.
  // The exact p of the five remaining differences would be 2/32 = 0.0625.
  const WilcoxonResult r = wilcoxon_signed_rank({0, 1, 2, 3, 4, 5}, {0, 0, 0, 0, 0, 0});
  EXPECT_FALSE(r.exact);
  EXPECT_EQ(r.n, 5u);
  EXPECT_DOUBLE_EQ(r.statistic, 15);
  EXPECT_NEAR(r.p, 0.0590582291, 1e-9);
}

TEST(ReportsWilcoxon, ExactBelowFiftyPairsOnlyLikeR) {
  // R: exact <- (n < 50). Differences +-1, ..., +-n without ties, odd ones positive.
  auto run = [](int n) {
    std::vector<double> x, y(static_cast<std::size_t>(n), 0.0);
    for (int i = 1; i <= n; ++i) x.push_back(i % 2 ? i : -i);
    return wilcoxon_signed_rank(x, y);
  };
  EXPECT_TRUE(run(49).exact);
  const WilcoxonResult r = run(50);
  EXPECT_FALSE(r.exact);
  // V = 1 + 3 + ... + 49 = 625, E[V] = 637.5, Var = 50 * 51 * 101 / 24 = 10731.25,
  // z = (625 - 637.5 + 0.5) / sqrt(10731.25), p = 2 Phi(z).
  EXPECT_DOUBLE_EQ(r.statistic, 625);
  EXPECT_NEAR(r.p, 2 * normal_cdf((625 - 637.5 + 0.5) / std::sqrt(10731.25)), 1e-12);
}

TEST(ReportsWilcoxon, NoNonZeroDifferenceGivesNaN) {
  EXPECT_TRUE(std::isnan(wilcoxon_signed_rank({1, 2}, {1, 2}).p));
  EXPECT_TRUE(std::isnan(wilcoxon_signed_rank({}, {}).p));
}

TEST(ReportsHolm, MatchesRPAdjust) {
  // R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm") -> 0.05 0.08 0.09 0.09 0.09
  const std::vector<double> h = holm_adjust({0.03, 0.01, 0.05, 0.02, 0.04});
  EXPECT_NEAR(h[0], 0.09, 1e-12);
  EXPECT_NEAR(h[1], 0.05, 1e-12);
  EXPECT_NEAR(h[2], 0.09, 1e-12);
  EXPECT_NEAR(h[3], 0.08, 1e-12);
  EXPECT_NEAR(h[4], 0.09, 1e-12);
  // NaN entries stay NaN and do not count in m; results are capped at 1.
  const std::vector<double> g = holm_adjust({0.6, kNaN, 0.2});
  EXPECT_NEAR(g[0], 0.6, 1e-12);
  EXPECT_TRUE(std::isnan(g[1]));
  EXPECT_NEAR(g[2], 0.4, 1e-12);
  EXPECT_NEAR(holm_adjust({0.7, 0.9})[0], 1.0, 1e-12);
}

}  // namespace
}  // namespace ablate::reports
