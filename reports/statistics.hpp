// Descriptive statistics and paired tests for the report tables and box plots (docs/REPORTS.md
// "Statistics"). Plain doubles in, plain structs out; no allocation beyond a copy for sorting.
//
//   quantile:  Hyndman & Fan type 7 (R's default, NumPy's "linear"): h = (n - 1) p,
//              Q(p) = x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h]) on the sorted sample.
//   box plot:  Tukey: whiskers at the most extreme data within [q1 - 1.5 IQR, q3 + 1.5 IQR];
//              everything outside is an outlier (the box plots of 002 Fig. 4).
//   mean ± sd: sample standard deviation (n - 1 denominator; 0 for n = 1).
//   Wilcoxon signed-rank (R's wilcox.test(x, y, paired = TRUE), two-sided): zero differences are
//              dropped; the p-value is exact (the null distribution of V = sum of ranks of positive
//              differences by counting) only when n < 50 (n without the zeros), there are no ties among
//              |d| and there was no zero difference; otherwise the normal approximation with
//              tie-corrected variance and a 0.5 continuity correction, as R does.
//   paired t:  t = mean(d) / (sd(d) / sqrt(n)), df = n - 1, two-sided p from the Student t CDF computed
//              with the regularized incomplete beta function: P(|T| > t) = I_{df/(df+t^2)}(df/2, 1/2).
//   Holm:      step-down adjustment (R's p.adjust(p, "holm")).
//
// Contract: pure functions of their arguments; any thread may call them; nothing throws (a sample too small
// for a statistic gives NaN where the struct says so).
#pragma once

#include <cstddef>
#include <vector>

namespace ablate::reports {

// Type-7 quantile of an already sorted sample; NaN for an empty sample. p in [0, 1].
double quantile_sorted(const std::vector<double>& sorted, double p);
// The same on an unsorted sample (copies and sorts).
double quantile(std::vector<double> values, double p);

struct BoxStats {
  std::size_t n = 0;
  double min = 0, q1 = 0, median = 0, q3 = 0, max = 0;
  double whisker_low = 0, whisker_high = 0;  // most extreme data within 1.5 IQR of the box
  std::vector<double> outliers;              // ascending
};
// Box-plot statistics; n = 0 (all other fields NaN) for an empty sample. NaN values are ignored.
BoxStats box_stats(std::vector<double> values);

struct MeanSd {
  std::size_t n = 0;
  double mean = 0, sd = 0;  // NaN when n = 0; sd = 0 when n = 1
};
MeanSd mean_sd(const std::vector<double>& values);

// Standard normal CDF.
double normal_cdf(double z);
// Regularized incomplete beta function I_x(a, b), a, b > 0, x in [0, 1] (continued fraction, Lentz).
double incomplete_beta(double a, double b, double x);
// Student t CDF with df > 0 degrees of freedom.
double student_t_cdf(double t, double df);

struct WilcoxonResult {
  std::size_t n = 0;       // pairs with a non-zero difference
  double statistic = 0;    // V: sum of the ranks of the positive differences x - y
  double p = 1;            // two-sided; NaN when n = 0
  bool exact = false;      // exact null distribution (n < 50, no ties, no zeros) or normal approximation
};
// Paired Wilcoxon signed-rank test of x against y (same length; pairs with a NaN are dropped).
WilcoxonResult wilcoxon_signed_rank(const std::vector<double>& x, const std::vector<double>& y);

struct TTestResult {
  std::size_t n = 0;  // pairs
  double t = 0, df = 0;
  double mean_difference = 0;  // mean of x - y
  double p = 1;                // two-sided; NaN when n < 2 or the differences have no spread
};
// Paired Student t-test of x against y (pairs with a NaN are dropped).
TTestResult paired_t_test(const std::vector<double>& x, const std::vector<double>& y);

// Holm's step-down adjusted p-values, in the input order; NaN entries stay NaN and do not count.
std::vector<double> holm_adjust(const std::vector<double>& p);

}  // namespace ablate::reports
