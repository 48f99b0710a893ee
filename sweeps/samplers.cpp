#include "sweeps/samplers.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

namespace ablate::sweeps {

const char* distribution_name(Distribution d) {
  switch (d) {
    case Distribution::kUniform: return "uniform";
    case Distribution::kLogUniform: return "log_uniform";
    case Distribution::kInt: return "int";
    case Distribution::kChoice: return "choice";
  }
  return "?";
}

namespace {

double round_significant(double x, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, x);
  return std::strtod(buf, nullptr);
}

// A float parameter's value as every sampler proposes it: 6 significant digits (readable names and
// canonical text, see from_unit in the header), kept inside [low, high] (the rounding may step over one).
double rounded_in_range(const Param& p, double x) {
  return std::min(std::max(round_significant(x, 6), p.low), p.high);
}

// The index drawn from the discrete distribution `weights` (summing to 1) by the uniform variate u: the
// first whose cumulative weight exceeds u, the last when rounding leaves the sum short of u.
std::size_t draw_index(const std::vector<double>& weights, double u) {
  double acc = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    acc += weights[i];
    if (u < acc) return i;
  }
  return weights.size() - 1;
}

// Scales non-negative weights to sum to 1.
void normalize(std::vector<double>& weights) {
  double total = 0;
  for (double x : weights) total += x;
  for (double& x : weights) x /= total;
}

constexpr double kPi = 3.14159265358979323846;

}  // namespace

std::string point_text(const Sample& x) {
  std::string out = "[";
  char buf[40];
  for (std::size_t i = 0; i < x.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%.17g", x[i]);
    out += (i ? ", " : "") + std::string(buf);
  }
  return out + "]";
}

std::optional<Sample> parse_point(const std::string& text) {
  const auto open = text.find('['), close = text.rfind(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  const std::string body = text.substr(open + 1, close - open - 1);
  Sample x;
  if (body.find_first_not_of(' ') == std::string::npos) return x;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = std::min(body.find(',', start), body.size());
    const std::string item = body.substr(start, comma - start);
    const std::size_t first = item.find_first_not_of(' '), last = item.find_last_not_of(' ');
    if (first == std::string::npos) return std::nullopt;  // an empty item: "[1, , 2]"
    const std::string number = item.substr(first, last - first + 1);
    char* end = nullptr;
    const double value = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size()) return std::nullopt;
    x.push_back(value);
    if (comma == body.size()) return x;
    start = comma + 1;
  }
}

Rng::Rng(std::uint64_t seed, std::uint64_t stream) : SplitMix64(splitmix_mix(seed ^ splitmix64(stream))) {}

double Rng::normal() {
  const double u1 = 1.0 - uniform();  // (0, 1]: the logarithm stays finite
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
}

double from_unit(const Param& p, double u) {
  u = std::min(std::max(u, 0.0), std::nextafter(1.0, 0.0));
  switch (p.dist) {
    case Distribution::kUniform:
      return rounded_in_range(p, p.low + u * (p.high - p.low));
    case Distribution::kLogUniform: {
      const double lo = std::log(p.low), hi = std::log(p.high);
      return rounded_in_range(p, std::exp(lo + u * (hi - lo)));
    }
    case Distribution::kInt: {
      const double n = p.high - p.low + 1;
      return p.low + std::min(std::floor(u * n), n - 1);
    }
    case Distribution::kChoice: {
      const double n = static_cast<double>(p.choices.size());
      return std::min(std::floor(u * n), n - 1);
    }
  }
  return 0;
}

std::string short_value(const Param& p, double x) {
  if (p.dist == Distribution::kChoice) {
    const std::string& c = p.choices.at(static_cast<std::size_t>(x));
    if (c.size() >= 2 && c.front() == '"' && c.back() == '"') return c.substr(1, c.size() - 2);
    return c;
  }
  char buf[64];
  if (p.dist == Distribution::kInt) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(x));
  } else {
    std::snprintf(buf, sizeof buf, "%.3g", x);
  }
  return buf;
}

Sample random_sample(const Space& space, std::uint64_t seed, std::uint64_t trial) {
  Sample s;
  for (std::size_t j = 0; j < space.size(); ++j) {
    Rng rng(seed, trial * 1024 + j);
    s.push_back(from_unit(space[j], rng.uniform()));
  }
  return s;
}

// --- Sobol -------------------------------------------------------------------------------------------

namespace {

// Rows d = 2..32 of new-joe-kuo-6.21201 (Joe and Kuo 2008; see the header): the degree s of the primitive
// polynomial, its inner coefficients a (bit k-1 from the top is a_k), and the initial m_1..m_s.
struct SobolRow {
  int s;
  unsigned a;
  unsigned m[7];
};
constexpr SobolRow kJoeKuo[kSobolMaxDims - 1] = {
    {1, 0, {1}},
    {2, 1, {1, 3}},
    {3, 1, {1, 3, 1}},
    {3, 2, {1, 1, 1}},
    {4, 1, {1, 1, 3, 3}},
    {4, 4, {1, 3, 5, 13}},
    {5, 2, {1, 1, 5, 5, 17}},
    {5, 4, {1, 1, 5, 5, 5}},
    {5, 7, {1, 1, 7, 11, 19}},
    {5, 11, {1, 1, 5, 1, 1}},
    {5, 13, {1, 1, 1, 3, 11}},
    {5, 14, {1, 3, 5, 5, 31}},
    {6, 1, {1, 3, 3, 9, 7, 49}},
    {6, 13, {1, 1, 1, 15, 21, 21}},
    {6, 16, {1, 3, 1, 13, 27, 49}},
    {6, 19, {1, 1, 1, 15, 7, 5}},
    {6, 22, {1, 3, 1, 15, 13, 25}},
    {6, 25, {1, 1, 5, 5, 19, 61}},
    {7, 1, {1, 3, 7, 11, 23, 15, 103}},
    {7, 4, {1, 3, 7, 13, 13, 15, 69}},
    {7, 7, {1, 1, 3, 13, 7, 35, 63}},
    {7, 8, {1, 3, 5, 9, 1, 25, 53}},
    {7, 14, {1, 3, 1, 13, 9, 35, 107}},
    {7, 19, {1, 3, 1, 5, 27, 61, 31}},
    {7, 21, {1, 1, 5, 11, 19, 41, 61}},
    {7, 28, {1, 3, 5, 3, 3, 13, 69}},
    {7, 31, {1, 1, 7, 13, 1, 19, 1}},
    {7, 32, {1, 3, 7, 5, 13, 19, 59}},
    {7, 37, {1, 1, 3, 9, 25, 29, 41}},
    {7, 41, {1, 3, 5, 13, 23, 1, 55}},
    {7, 42, {1, 3, 7, 3, 13, 59, 17}},
};

// Direction numbers v_1..v_32 of dimension `dim` (1-based) as 32-bit fractions v_k = m_k / 2^k. The first
// dimension is the van der Corput sequence (every m_k = 1); the others extend m_1..m_s by the recurrence
// m_k = 2 a_1 m_{k-1} ^ 4 a_2 m_{k-2} ^ ... ^ 2^{s-1} a_{s-1} m_{k-s+1} ^ 2^s m_{k-s} ^ m_{k-s}
// (Bratley and Fox 1988, eq. in section 2; Joe and Kuo 2008, eq. 1).
std::vector<std::uint32_t> directions(int dim) {
  std::vector<std::uint64_t> m(33, 1);
  if (dim > 1) {
    const SobolRow& row = kJoeKuo[dim - 2];
    const int s = row.s;
    for (int k = 1; k <= s; ++k) m[k] = row.m[k - 1];
    for (int k = s + 1; k <= 32; ++k) {
      std::uint64_t mk = (m[k - s] << s) ^ m[k - s];
      for (int i = 1; i < s; ++i) {
        const unsigned ai = (row.a >> (s - 1 - i)) & 1U;
        if (ai) mk ^= m[k - i] << i;
      }
      m[k] = mk;
    }
  }
  std::vector<std::uint32_t> v(33, 0);
  for (int k = 1; k <= 32; ++k) v[k] = static_cast<std::uint32_t>(m[k] << (32 - k));
  return v;
}

std::vector<std::uint32_t> sobol_words(std::uint64_t index, int dims) {
  // The loader refuses a larger space before sampling (ablations/study_sweeps.cpp); a caller that did not
  // gets an error, never an abort with nothing said.
  if (dims < 0 || dims > kSobolMaxDims) {
    throw std::invalid_argument("sobol: " + std::to_string(dims) + " dimensions; at most " +
                                std::to_string(kSobolMaxDims));
  }
  // Gray-code order: point n XORs the direction numbers of the set bits of n ^ (n >> 1).
  const std::uint64_t gray = index ^ (index >> 1);
  std::vector<std::uint32_t> x(static_cast<std::size_t>(dims), 0);
  for (int d = 1; d <= dims; ++d) {
    const auto v = directions(d);
    std::uint32_t acc = 0;
    for (int k = 1; k <= 32; ++k) {
      if ((gray >> (k - 1)) & 1U) acc ^= v[k];
    }
    x[d - 1] = acc;
  }
  return x;
}

}  // namespace

std::vector<double> sobol_point(std::uint64_t index, int dims) {
  std::vector<double> out;
  for (std::uint32_t w : sobol_words(index, dims)) out.push_back(static_cast<double>(w) / 4294967296.0);
  return out;
}

Sample sobol_sample(const Space& space, std::uint64_t seed, std::uint64_t trial) {
  const auto words = sobol_words(trial, static_cast<int>(space.size()));
  Sample s;
  for (std::size_t j = 0; j < space.size(); ++j) {
    Rng rng(seed, 0x50B0150000000000ULL + j);
    const std::uint32_t shift = static_cast<std::uint32_t>(rng.next() >> 32);
    s.push_back(from_unit(space[j], static_cast<double>(words[j] ^ shift) / 4294967296.0));
  }
  return s;
}

// --- TPE ---------------------------------------------------------------------------------------------

namespace {

// A mixture of Gaussians truncated to [lo, hi] (numeric parameters in their internal space).
struct Mixture {
  std::vector<double> mu, sigma, weight;
  double lo = 0, hi = 1;

  double log_pdf(double x) const {
    // log sum_i w_i N(x; mu_i, sigma_i) / Z_i, Z_i the kernel's mass inside [lo, hi]; log-sum-exp.
    std::vector<double> terms;
    double top = -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < mu.size(); ++i) {
      const double z = (x - mu[i]) / sigma[i];
      const double mass = 0.5 * (std::erf((hi - mu[i]) / (sigma[i] * std::sqrt(2.0))) -
                                 std::erf((lo - mu[i]) / (sigma[i] * std::sqrt(2.0))));
      const double t = std::log(weight[i]) - 0.5 * z * z - std::log(sigma[i] * std::sqrt(2.0 * kPi)) -
                       std::log(std::max(mass, 1e-300));
      terms.push_back(t);
      top = std::max(top, t);
    }
    double sum = 0;
    for (double t : terms) sum += std::exp(t - top);
    return top + std::log(sum);
  }

  double sample(Rng& rng) const {
    const std::size_t k = draw_index(weight, rng.uniform());
    for (int tries = 0; tries < 100; ++tries) {
      const double x = mu[k] + sigma[k] * rng.normal();
      if (x >= lo && x <= hi) return x;
    }
    return std::min(std::max(mu[k], lo), hi);  // the kernel's mean lies inside: never reached in practice
  }
};

// Optuna's default_weights: 1 each, the oldest ramping from 1/n when there are more than 25.
std::vector<double> observation_weights(std::size_t n) {
  std::vector<double> w(n, 1.0);
  if (n > 25) {
    const std::size_t ramp = n - 25;
    for (std::size_t i = 0; i < ramp; ++i) {
      w[i] = ramp == 1 ? 1.0 / n : 1.0 / n + (1.0 - 1.0 / n) * static_cast<double>(i) / static_cast<double>(ramp - 1);
    }
  }
  return w;
}

Mixture fit_mixture(const std::vector<double>& xs, double lo, double hi, double prior_weight) {
  Mixture m;
  m.lo = lo, m.hi = hi;
  const double range = hi - lo;
  std::vector<double> w = observation_weights(xs.size());
  m.mu = xs;
  m.weight = w;
  m.mu.push_back(0.5 * (lo + hi));  // the prior kernel
  m.weight.push_back(prior_weight);
  const std::size_t n = m.mu.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return m.mu[a] < m.mu[b]; });
  m.sigma.assign(n, range);
  const double min_sigma = range / std::min(100.0, 1.0 + static_cast<double>(n));
  for (std::size_t r = 0; r < n; ++r) {
    const double left = r > 0 ? m.mu[order[r]] - m.mu[order[r - 1]] : 0;
    const double right = r + 1 < n ? m.mu[order[r + 1]] - m.mu[order[r]] : 0;
    m.sigma[order[r]] = std::min(std::max(std::max(left, right), min_sigma), range);
  }
  m.sigma[n - 1] = range;  // the prior keeps its full width
  normalize(m.weight);
  return m;
}

// Internal (searched) coordinate of a numeric value, and its bounds.
double to_internal(const Param& p, double x) { return p.dist == Distribution::kLogUniform ? std::log(x) : x; }
std::pair<double, double> internal_bounds(const Param& p) {
  if (p.dist == Distribution::kLogUniform) return {std::log(p.low), std::log(p.high)};
  if (p.dist == Distribution::kInt) return {p.low - 0.5, p.high + 0.5};
  return {p.low, p.high};
}
// A value drawn in the internal space, back in the parameter's terms (rounded as from_unit rounds).
double from_internal(const Param& p, double z) {
  switch (p.dist) {
    case Distribution::kLogUniform:
      return rounded_in_range(p, std::exp(z));
    case Distribution::kInt:
      return std::min(std::max(std::round(z), p.low), p.high);
    default:
      return rounded_in_range(p, z);
  }
}

std::vector<double> categorical(const std::vector<double>& indices, std::size_t k, double prior_weight) {
  std::vector<double> p(k, prior_weight / static_cast<double>(k));
  const auto w = observation_weights(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) p[static_cast<std::size_t>(indices[i])] += w[i];
  normalize(p);
  return p;
}

}  // namespace

Sample tpe_sample(const Space& space, std::uint64_t seed, std::uint64_t trial, const std::vector<Observation>& done,
                  const TpeOptions& options) {
  if (static_cast<int>(done.size()) < std::max(1, options.n_startup)) return random_sample(space, seed, trial);
  // Best first: finished before stopped, a stopped trial's later rung before an earlier one, then the
  // objective (a non-finite one the worst of its group); ties keep the order of the observations.
  std::vector<std::size_t> order(done.size());
  std::iota(order.begin(), order.end(), 0);
  auto key = [&](std::size_t i) {
    const double y = done[i].objective;
    const int rung = done[i].stopped_rung < 0 ? std::numeric_limits<int>::max() : done[i].stopped_rung;
    return std::make_pair(-static_cast<double>(rung), std::isfinite(y) ? y : std::numeric_limits<double>::infinity());
  };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return key(a) < key(b); });
  const std::size_t n = done.size();
  const std::size_t n_below = std::max<std::size_t>(
      1, std::min<std::size_t>(static_cast<std::size_t>(std::ceil(options.gamma * static_cast<double>(n))),
                               static_cast<std::size_t>(options.max_below)));
  std::vector<std::size_t> below(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(std::min(n_below, n)));
  std::vector<std::size_t> above(order.begin() + static_cast<std::ptrdiff_t>(std::min(n_below, n)), order.end());
  std::vector<Sample> xs;
  xs.reserve(done.size());
  for (const auto& o : done) xs.push_back(o.x);
  return parzen_proposal(space, seed, trial, xs, std::move(below), std::move(above), options);
}

Sample parzen_proposal(const Space& space, std::uint64_t seed, std::uint64_t trial, const std::vector<Sample>& xs,
                       std::vector<std::size_t> below, std::vector<std::size_t> above, const TpeOptions& options) {
  // Within a group, the observations in their own order (the weights ramp over age).
  std::sort(below.begin(), below.end());
  std::sort(above.begin(), above.end());

  Sample out;
  for (std::size_t j = 0; j < space.size(); ++j) {
    const Param& p = space[j];
    Rng rng(seed, (trial + 1) * 4096 + j);
    std::vector<double> xb, xa;
    for (std::size_t i : below) xb.push_back(xs.at(i).at(j));
    for (std::size_t i : above) xa.push_back(xs.at(i).at(j));
    double best = 0, best_score = -std::numeric_limits<double>::infinity();
    if (p.dist == Distribution::kChoice) {
      const auto l = categorical(xb, p.choices.size(), options.prior_weight);
      const auto g = categorical(xa, p.choices.size(), options.prior_weight);
      for (int c = 0; c < options.n_candidates; ++c) {
        const std::size_t k = draw_index(l, rng.uniform());
        const double score = std::log(l[k]) - std::log(g[k]);
        if (score > best_score) best_score = score, best = static_cast<double>(k);
      }
    } else {
      const auto [lo, hi] = internal_bounds(p);
      for (double& x : xb) x = to_internal(p, x);
      for (double& x : xa) x = to_internal(p, x);
      const Mixture l = fit_mixture(xb, lo, hi, options.prior_weight);
      const Mixture g = fit_mixture(xa, lo, hi, options.prior_weight);
      for (int c = 0; c < options.n_candidates; ++c) {
        const double x = from_internal(p, l.sample(rng));
        const double z = to_internal(p, x);
        const double score = l.log_pdf(z) - g.log_pdf(z);
        if (score > best_score) best_score = score, best = x;
      }
    }
    out.push_back(best);
  }
  return out;
}

}  // namespace ablate::sweeps
