#include "reports/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

namespace ablate::reports {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> finite_sorted(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  std::sort(v.begin(), v.end());
  return v;
}

// Differences x - y of the pairs without NaN.
std::vector<double> differences(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> d;
  const std::size_t n = std::min(x.size(), y.size());
  d.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isnan(x[i]) && !std::isnan(y[i])) d.push_back(x[i] - y[i]);
  return d;
}
}  // namespace

double quantile_sorted(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return kNaN;
  const double h = (static_cast<double>(sorted.size()) - 1.0) * std::clamp(p, 0.0, 1.0);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
}

double quantile(std::vector<double> values, double p) { return quantile_sorted(finite_sorted(std::move(values)), p); }

BoxStats box_stats(std::vector<double> values) {
  const std::vector<double> s = finite_sorted(std::move(values));
  BoxStats b;
  b.n = s.size();
  if (s.empty()) {
    b.min = b.q1 = b.median = b.q3 = b.max = b.whisker_low = b.whisker_high = kNaN;
    return b;
  }
  b.min = s.front();
  b.max = s.back();
  b.q1 = quantile_sorted(s, 0.25);
  b.median = quantile_sorted(s, 0.5);
  b.q3 = quantile_sorted(s, 0.75);
  const double iqr = b.q3 - b.q1;
  const double lo_fence = b.q1 - 1.5 * iqr, hi_fence = b.q3 + 1.5 * iqr;
  b.whisker_low = b.q1;
  b.whisker_high = b.q3;
  for (double x : s) {
    if (x < lo_fence || x > hi_fence) {
      b.outliers.push_back(x);
      continue;
    }
    b.whisker_low = std::min(b.whisker_low, x);
    b.whisker_high = std::max(b.whisker_high, x);
  }
  return b;
}

MeanSd mean_sd(const std::vector<double>& values) {
  MeanSd r;
  double sum = 0;
  for (double x : values)
    if (!std::isnan(x)) sum += x, ++r.n;
  if (r.n == 0) {
    r.mean = r.sd = kNaN;
    return r;
  }
  r.mean = sum / static_cast<double>(r.n);
  double ss = 0;  // two-pass: numerically stable for values of similar magnitude
  for (double x : values)
    if (!std::isnan(x)) ss += (x - r.mean) * (x - r.mean);
  r.sd = r.n > 1 ? std::sqrt(ss / static_cast<double>(r.n - 1)) : 0.0;
  return r;
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

namespace {
// Continued fraction of the incomplete beta function (modified Lentz; Numerical Recipes 6.4).
double beta_continued_fraction(double a, double b, double x) {
  constexpr int kMaxIter = 500;
  constexpr double kEps = 1e-15, kTiny = 1e-300;
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= kMaxIter; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < kEps) break;
  }
  return h;
}
}  // namespace

double incomplete_beta(double a, double b, double x) {
  if (std::isnan(x) || a <= 0 || b <= 0) return kNaN;
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return front * beta_continued_fraction(a, b, x) / a;
  return 1 - front * beta_continued_fraction(b, a, 1 - x) / b;
}

double student_t_cdf(double t, double df) {
  if (std::isnan(t) || !(df > 0)) return kNaN;
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  const double tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t));  // P(T > |t|)
  return t > 0 ? 1 - tail : tail;
}

WilcoxonResult wilcoxon_signed_rank(const std::vector<double>& x, const std::vector<double>& y) {
  WilcoxonResult r;
  std::vector<double> d = differences(x, y);
  const std::size_t all = d.size();
  d.erase(std::remove(d.begin(), d.end(), 0.0), d.end());  // R's zero.method = "Wilcox"
  const bool zeros = d.size() < all;
  const std::size_t n = d.size();
  r.n = n;
  if (n == 0) {
    r.p = kNaN;
    return r;
  }
  // Mid-ranks of |d|.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const double fa = std::fabs(d[a]), fb = std::fabs(d[b]);
    return fa != fb ? fa < fb : a < b;
  });
  std::vector<double> rank(n);
  bool ties = false;
  double tie_term = 0;  // sum over tie groups of t^3 - t
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j + 1 < n && std::fabs(d[order[j + 1]]) == std::fabs(d[order[i]])) ++j;
    const double mid = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (std::size_t k = i; k <= j; ++k) rank[order[k]] = mid;
    const double t = static_cast<double>(j - i + 1);
    if (t > 1) ties = true, tie_term += t * t * t - t;
    i = j + 1;
  }
  double v = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (d[i] > 0) v += rank[i];
  r.statistic = v;

  // R 4.x: exact <- (n < 50) with n counted after dropping the zeros, and the exact distribution only
  // "if (exact && !TIES && !ZEROES)"; a dropped zero difference alone forces the normal approximation.
  if (!ties && !zeros && n < 50) {
    // Exact: number of subsets of {1..n} with each rank sum (counts < 2^49 are exact in a double).
    const std::size_t max_sum = n * (n + 1) / 2;
    std::vector<double> count(max_sum + 1, 0.0);
    count[0] = 1;
    for (std::size_t k = 1; k <= n; ++k)
      for (std::size_t s = max_sum; s >= k; --s) count[s] += count[s - k];
    const double total = std::ldexp(1.0, static_cast<int>(n));
    const auto w = static_cast<std::size_t>(v);
    double lower = 0, upper = 0;  // P(V <= v), P(V >= v)
    for (std::size_t s = 0; s <= max_sum; ++s) {
      if (s <= w) lower += count[s];
      if (s >= w) upper += count[s];
    }
    r.p = std::min(1.0, 2.0 * std::min(lower, upper) / total);
    r.exact = true;
    return r;
  }
  const double nn = static_cast<double>(n);
  const double mean = nn * (nn + 1) / 4;
  const double sigma = std::sqrt(nn * (nn + 1) * (2 * nn + 1) / 24 - tie_term / 48);
  if (!(sigma > 0)) {
    r.p = kNaN;
    return r;
  }
  double z = v - mean;
  z = (z - (z > 0 ? 0.5 : z < 0 ? -0.5 : 0.0)) / sigma;  // continuity correction, as R's correct = TRUE
  r.p = std::min(1.0, 2.0 * std::min(normal_cdf(z), normal_cdf(-z)));
  return r;
}

TTestResult paired_t_test(const std::vector<double>& x, const std::vector<double>& y) {
  TTestResult r;
  const std::vector<double> d = differences(x, y);
  const MeanSd m = mean_sd(d);
  r.n = d.size();
  r.mean_difference = m.mean;
  if (r.n < 2 || !(m.sd > 0)) {
    r.t = kNaN;
    r.df = r.n >= 2 ? static_cast<double>(r.n - 1) : kNaN;
    r.p = kNaN;
    return r;
  }
  r.df = static_cast<double>(r.n - 1);
  r.t = m.mean / (m.sd / std::sqrt(static_cast<double>(r.n)));
  r.p = std::min(1.0, incomplete_beta(r.df / 2, 0.5, r.df / (r.df + r.t * r.t)));
  return r;
}

std::vector<double> holm_adjust(const std::vector<double>& p) {
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (!std::isnan(p[i])) idx.push_back(i);
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return p[a] < p[b]; });
  std::vector<double> out(p.size(), kNaN);
  const double m = static_cast<double>(idx.size());
  double running = 0;
  for (std::size_t k = 0; k < idx.size(); ++k) {
    running = std::max(running, std::min(1.0, (m - static_cast<double>(k)) * p[idx[k]]));
    out[idx[k]] = running;
  }
  return out;
}

}  // namespace ablate::reports
