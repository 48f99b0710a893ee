// The pure samplers of sweeps/samplers.hpp: distributions, Sobol's published points, determinism, and
// TPE against random search on analytic functions (no training).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "sweeps/samplers.hpp"

using namespace ablate::sweeps;

namespace {

// The Kolmogorov-Smirnov statistic of samples against a CDF.
double ks_statistic(std::vector<double> xs, double (*cdf)(double)) {
  std::sort(xs.begin(), xs.end());
  const double n = static_cast<double>(xs.size());
  double d = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double f = cdf(xs[i]);
    d = std::max({d, f - static_cast<double>(i) / n, static_cast<double>(i + 1) / n - f});
  }
  return d;
}

// Critical value of the one-sample KS test at alpha = 0.001: 1.95 / sqrt(n).
double ks_bound(std::size_t n) { return 1.95 / std::sqrt(static_cast<double>(n)); }

Param uniform(const std::string& key, double a, double b) { return {key, Distribution::kUniform, a, b, {}}; }
Param log_uniform(const std::string& key, double a, double b) { return {key, Distribution::kLogUniform, a, b, {}}; }
Param integer(const std::string& key, double a, double b) { return {key, Distribution::kInt, a, b, {}}; }
Param choice(const std::string& key, std::vector<std::string> c) { return {key, Distribution::kChoice, 0, 0, std::move(c)}; }

}  // namespace

TEST(SamplersRng, UniformIsUniformAndDeterministic) {
  Rng a(42, 7), b(42, 7), c(42, 8);
  std::vector<double> xs;
  bool differs = false;
  for (int i = 0; i < 4000; ++i) {
    const double x = a.uniform();
    EXPECT_EQ(x, b.uniform());
    differs = differs || x != c.uniform();
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
    xs.push_back(x);
  }
  EXPECT_TRUE(differs);
  EXPECT_LT(ks_statistic(xs, [](double x) { return x; }), ks_bound(xs.size()));
}

TEST(SamplersRng, NormalHasTheStandardCdf) {
  Rng r(3, 0);
  std::vector<double> xs;
  for (int i = 0; i < 4000; ++i) xs.push_back(r.normal());
  EXPECT_LT(ks_statistic(xs, [](double x) { return 0.5 * (1 + std::erf(x / std::sqrt(2.0))); }), ks_bound(xs.size()));
}

TEST(SamplersRandom, UniformPassesKolmogorovSmirnov) {
  Space s = {uniform("loss.alpha", 0.1, 0.9)};
  std::vector<double> xs;
  for (int t = 0; t < 3000; ++t) {
    const double x = random_sample(s, 1, t)[0];
    ASSERT_GE(x, 0.1);
    ASSERT_LE(x, 0.9);
    xs.push_back(x);
  }
  EXPECT_LT(ks_statistic(xs, [](double x) { return (x - 0.1) / 0.8; }), ks_bound(xs.size()));
  // A wrong CDF is rejected: the test can fail.
  EXPECT_GT(ks_statistic(xs, [](double x) { return std::pow((x - 0.1) / 0.8, 1.3); }), ks_bound(xs.size()));
}

TEST(SamplersRandom, LogUniformIsUniformInLogSpace) {
  Space s = {log_uniform("train.lr", 1e-5, 1e-2)};
  std::vector<double> logs;
  int below_1e4 = 0;
  for (int t = 0; t < 3000; ++t) {
    const double x = random_sample(s, 9, t)[0];
    ASSERT_GE(x, 1e-5);
    ASSERT_LE(x, 1e-2);
    logs.push_back(std::log10(x));
    below_1e4 += x < 1e-4;
  }
  EXPECT_LT(ks_statistic(logs, [](double l) { return (l + 5) / 3; }), ks_bound(logs.size()));
  // One decade of three: about a third of the draws (a linear uniform would put 0.9 % there).
  EXPECT_NEAR(below_1e4 / 3000.0, 1.0 / 3, 0.04);
}

TEST(SamplersRandom, IntBoundsAreInclusiveAndEquallyLikely) {
  Space s = {integer("model.dspa_k", 1, 4)};
  std::vector<int> count(6, 0);
  for (int t = 0; t < 4000; ++t) {
    const double x = random_sample(s, 5, t)[0];
    ASSERT_EQ(x, std::floor(x));
    ASSERT_GE(x, 1);
    ASSERT_LE(x, 4);
    count[static_cast<int>(x)]++;
  }
  for (int k = 1; k <= 4; ++k) EXPECT_NEAR(count[k] / 4000.0, 0.25, 0.03) << k;
  EXPECT_EQ(from_unit(s[0], 0.0), 1);
  EXPECT_EQ(from_unit(s[0], 0.999999999), 4);
}

TEST(SamplersRandom, ChoiceReachesEveryChoice) {
  Space s = {choice("model.msc", {"\"msc\"", "\"kcm\"", "\"cascade\""})};
  std::set<double> seen;
  for (int t = 0; t < 60; ++t) seen.insert(random_sample(s, 2, t)[0]);
  EXPECT_EQ(seen, (std::set<double>{0, 1, 2}));
  EXPECT_EQ(short_value(s[0], 2), "cascade");
}

TEST(SamplersRandom, SameSeedSameTrialsOtherSeedOthers) {
  Space s = {log_uniform("train.lr", 1e-5, 1e-2), uniform("loss.alpha", 0.1, 0.9), integer("model.dspa_k", 1, 16)};
  for (int t = 0; t < 20; ++t) EXPECT_EQ(random_sample(s, 11, t), random_sample(s, 11, t));
  EXPECT_NE(random_sample(s, 11, 0), random_sample(s, 12, 0));
  EXPECT_NE(random_sample(s, 11, 0), random_sample(s, 11, 1));
  // Values are rounded to 6 significant digits (readable canonical text).
  const double lr = random_sample(s, 11, 3)[0];
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", lr);
  EXPECT_EQ(std::strtod(buf, nullptr), lr);
}

// The first ten points of the 3-dimensional Sobol sequence with Joe and Kuo's direction numbers, as their
// reference generator prints them (and SciPy's qmc.Sobol(scramble=False)).
TEST(SamplersSobol, FirstPointsMatchThePublishedValues) {
  const std::vector<std::vector<double>> published = {
      {0, 0, 0},          {0.5, 0.5, 0.5},          {0.75, 0.25, 0.25},       {0.25, 0.75, 0.75},
      {0.375, 0.375, 0.625}, {0.875, 0.875, 0.125}, {0.625, 0.125, 0.875},    {0.125, 0.625, 0.375},
      {0.1875, 0.3125, 0.9375}, {0.6875, 0.8125, 0.4375}};
  for (std::size_t n = 0; n < published.size(); ++n) EXPECT_EQ(sobol_point(n, 3), published[n]) << "point " << n;
}

TEST(SamplersSobol, EveryDimensionIsAOneDimensionalNet) {
  // The first 2^k points of each coordinate (unscrambled and shifted) hit each interval [i/2^k, (i+1)/2^k) once.
  for (int d = 1; d <= kSobolMaxDims; ++d) {
    std::set<int> bins;
    for (int n = 0; n < 64; ++n) bins.insert(static_cast<int>(sobol_point(n, d)[d - 1] * 64));
    EXPECT_EQ(bins.size(), 64u) << "dimension " << d;
  }
  Space s;
  for (int j = 0; j < 5; ++j) s.push_back(uniform("k" + std::to_string(j), 0, 1));
  for (int j = 0; j < 5; ++j) {
    std::set<int> bins;
    for (int n = 0; n < 32; ++n) bins.insert(static_cast<int>(sobol_sample(s, 77, n)[j] * 32));
    EXPECT_EQ(bins.size(), 32u) << "scrambled coordinate " << j;
  }
}

TEST(SamplersSobol, ScrambledIsDeterministicAndSeeded) {
  Space s = {uniform("loss.lambda", 0, 1), integer("model.dspa_k", 1, 16)};
  EXPECT_EQ(sobol_sample(s, 5, 3), sobol_sample(s, 5, 3));
  EXPECT_NE(sobol_sample(s, 5, 0), sobol_sample(s, 6, 0));
  // The 2D projection of 16 points is a (0, 4, 2)-net for dimensions 1 and 2: one point per 4x4 cell.
  Space u = {uniform("a", 0, 1), uniform("b", 0, 1)};
  std::set<std::pair<int, int>> cells;
  for (int n = 0; n < 16; ++n) {
    const auto x = sobol_sample(u, 123, n);
    cells.insert({static_cast<int>(x[0] * 4), static_cast<int>(x[1] * 4)});
  }
  EXPECT_EQ(cells.size(), 16u);
}

namespace {

double best_of(const Space& s, std::uint64_t seed, int budget, bool tpe, double (*f)(const Sample&)) {
  std::vector<Observation> done;
  double best = 1e300;
  for (int t = 0; t < budget; ++t) {
    Sample x = tpe ? tpe_sample(s, seed, t, done) : random_sample(s, seed, t);
    const double y = f(x);
    best = std::min(best, y);
    done.push_back({x, y});
  }
  return best;
}

// A shifted sphere in (log lr, alpha, int K), the kind of bowl a tuning run meets.
double bowl(const Sample& x) {
  const double a = std::log10(x[0]) + 3.5, b = x[1] - 0.27, c = (x[2] - 11) / 16.0;
  return a * a + 4 * b * b + c * c;
}

double with_choice(const Sample& x) {
  const double b = x[0] - 0.8;
  return 10 * b * b + (x[1] == 2 ? 0 : 0.5);
}

}  // namespace

TEST(SamplersTpe, StartsRandomThenDependsOnResults) {
  Space s = {uniform("loss.alpha", 0, 1)};
  std::vector<Observation> nine;
  for (int t = 0; t < 9; ++t) nine.push_back({{t / 10.0}, t / 10.0});
  EXPECT_EQ(tpe_sample(s, 1, 9, nine), random_sample(s, 1, 9));  // n_startup = 10
  auto ten = nine;
  ten.push_back({{0.95}, 0.95});
  EXPECT_NE(tpe_sample(s, 1, 10, ten), random_sample(s, 1, 10));
  EXPECT_EQ(tpe_sample(s, 1, 10, ten), tpe_sample(s, 1, 10, ten));
  // Best near 0: the proposal lands in the lower half.
  EXPECT_LT(tpe_sample(s, 1, 10, ten)[0], 0.5);
  // The mirrored results send it to the upper half.
  for (auto& o : ten) o.objective = -o.objective;
  EXPECT_GT(tpe_sample(s, 1, 10, ten)[0], 0.5);
}

TEST(SamplersTpe, FindsABetterOptimumThanRandomOnTheSameBudget) {
  Space s = {log_uniform("train.lr", 1e-5, 1e-2), uniform("loss.alpha", 0.1, 0.9), integer("model.dspa_k", 1, 16)};
  int tpe_wins = 0;
  double tpe_sum = 0, random_sum = 0;
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    const double t = best_of(s, seed, 60, true, bowl), r = best_of(s, seed, 60, false, bowl);
    tpe_sum += t, random_sum += r;
    tpe_wins += t < r;
  }
  EXPECT_GE(tpe_wins, 7);
  EXPECT_LT(tpe_sum, 0.5 * random_sum);
}

TEST(SamplersTpe, HandlesChoices) {
  Space s = {uniform("loss.alpha", 0, 1), choice("model.msc", {"\"msc\"", "\"kcm\"", "\"cascade\""})};
  int tpe_wins = 0;
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    tpe_wins += best_of(s, seed, 40, true, with_choice) < best_of(s, seed, 40, false, with_choice);
  }
  EXPECT_GE(tpe_wins, 7);
  // Every proposal is a valid index.
  std::vector<Observation> done;
  for (int t = 0; t < 30; ++t) {
    Sample x = tpe_sample(s, 4, t, done);
    ASSERT_TRUE(x[1] == 0 || x[1] == 1 || x[1] == 2);
    done.push_back({x, with_choice(x)});
  }
}

// Stopped trials (early stopping) as Optuna's TPE sees pruned ones: they count towards n_startup, rank
// below every finished trial whatever their value, and among themselves a later rung ranks first.
TEST(SamplersTpe, LearnsFromStoppedTrialsRankedBelowFinishedOnes) {
  Space s = {uniform("loss.alpha", 0, 1)};
  std::vector<Observation> nine;
  for (int t = 0; t < 9; ++t) nine.push_back({{t / 10.0}, t / 10.0});
  auto with_stopped = nine;
  with_stopped.push_back({{0.95}, 0.5, 0});  // stopped at rung 0: the tenth observation
  EXPECT_EQ(tpe_sample(s, 1, 9, nine), random_sample(s, 1, 9));
  EXPECT_NE(tpe_sample(s, 1, 10, with_stopped), random_sample(s, 1, 10));  // past n_startup

  // Ten finished trials near 0.9 (objective 1.0) and ten stopped near 0.1 with a far better number at
  // their rung: the good group (ceil(0.1 * 20) = 2) is two finished ones, so the proposal goes high.
  std::vector<Observation> done;
  for (int t = 0; t < 10; ++t) done.push_back({{0.85 + 0.01 * t}, 1.0 + 0.01 * t});
  for (int t = 0; t < 10; ++t) done.push_back({{0.05 + 0.01 * t}, -5.0, 0});
  EXPECT_GT(tpe_sample(s, 2, 20, done)[0], 0.5);
  auto all_finished = done;
  for (auto& o : all_finished) o.stopped_rung = -1;
  EXPECT_LT(tpe_sample(s, 2, 20, all_finished)[0], 0.5);  // the same values as finished ones: low

  // Only stopped trials: two that went on to rung 1 outrank ten better numbers at rung 0.
  std::vector<Observation> stopped;
  for (int t = 0; t < 10; ++t) stopped.push_back({{0.05 + 0.01 * t}, -5.0, 0});
  stopped.push_back({{0.9}, 0.0, 1});
  stopped.push_back({{0.92}, 0.1, 1});
  EXPECT_GT(tpe_sample(s, 3, 12, stopped)[0], 0.5);
  for (auto& o : stopped) o.stopped_rung = 0;
  EXPECT_LT(tpe_sample(s, 3, 12, stopped)[0], 0.5);
}
