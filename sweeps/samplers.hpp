// Search spaces and the samplers that propose points in them: random, scrambled Sobol and TPE.
//
// Contract: pure functions of (space, seed, trial index[, completed results]); no MPI, LibTorch, SQLite,
// clocks or global state, so the same call gives the same proposal on any rank, any run and any platform.
// Randomness comes from SplitMix64 words (Rng) turned into doubles by this file's own arithmetic: no
// std:: distribution is used, since their output is implementation-defined.
//
// A point of a space (a Sample) holds one double per parameter, in the parameter's own terms: the value for
// uniform and log_uniform, an integral value for int, and the index into `choices` for choice. Turning it
// into study values (TOML literals) is the caller's business (ablations/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sweeps/random.hpp"

namespace ablate::sweeps {

enum class Distribution { kUniform, kLogUniform, kInt, kChoice };
const char* distribution_name(Distribution d);  // "uniform", "log_uniform", "int", "choice"

struct Param {
  std::string key;                    // dotted study key, e.g. "train.lr"
  Distribution dist = Distribution::kUniform;
  double low = 0, high = 1;           // uniform: [low, high]; log_uniform: [low, high], low > 0; int: both inclusive
  std::vector<std::string> choices;   // choice: TOML literals, in the file's order
};
using Space = std::vector<Param>;
using Sample = std::vector<double>;

// The samplers' SplitMix64 (sweeps/random.hpp). `stream` separates independent uses of one seed (a trial, a
// parameter), so a proposal never depends on how many numbers another proposal drew.
class Rng : public SplitMix64 {
 public:
  Rng(std::uint64_t seed, std::uint64_t stream);
  // Standard normal, Box-Muller on two uniform() draws, the first taken as 1 - u in (0, 1] so that the
  // logarithm stays finite. trainer/data/random.hpp's Rng clamps u at 1e-300 instead: the two give
  // different values for every draw (ln(1 - u) against ln u), and each is in stored results (TPE's
  // proposals, hence trial points, variant names and hashes; synthetic images and augmentation), so each
  // keeps its own.
  double normal();
};

// A point as the store keeps it (table `trials`, column `point`, db/SCHEMA.md): "[x0, x1, ...]", each
// value printed with %.17g so that it reads back to the same double.
std::string point_text(const Sample& x);
// point_text's form read back: the values between '[' and ']', separated by commas (spaces allowed).
// std::nullopt when the brackets are missing or an item is not a whole number; "[]" is the empty point.
std::optional<Sample> parse_point(const std::string& text);

// Maps u in [0, 1) onto the parameter: linear for uniform, linear in ln x for log_uniform, equal-width
// bins of [low, high+1) for int and of the choices for choice. Floats are rounded to 6 significant digits
// (readable names and canonical text; far below any tuning resolution) and kept inside [low, high].
double from_unit(const Param& p, double u);
// The parameter's value as text for names and labels: 3 significant digits, or the unquoted choice.
std::string short_value(const Param& p, double x);

// Random search: each coordinate from its own Rng(seed, trial * 1024 + parameter) word.
Sample random_sample(const Space& space, std::uint64_t seed, std::uint64_t trial);

// The Sobol sequence in Gray-code order, unscrambled, as 32-bit fractions (point 0 is the origin), with
// the direction numbers of Joe and Kuo, new-joe-kuo-6.21201 (S. Joe, F. Y. Kuo, "Constructing Sobol
// sequences with better two-dimensional projections", SIAM J. Sci. Comput. 30, 2635-2654, 2008; table at
// https://web.maths.unsw.edu.au/~fkuo/sobol/). Dimensions 1..kSobolMaxDims.
constexpr int kSobolMaxDims = 32;
std::vector<double> sobol_point(std::uint64_t index, int dims);
// Scrambled Sobol: random digital shift, i.e. each coordinate's 32 binary digits XOR a word drawn from
// Rng(seed, dimension). The shift keeps the (t, s)-net structure of every 2^k-point block and makes the
// estimate unbiased; Owen's nested scrambling (SciPy's default) is not implemented. Then from_unit.
Sample sobol_sample(const Space& space, std::uint64_t seed, std::uint64_t trial);

// One trial, as the TPE sees it: finished, or stopped by early stopping (as Optuna's pruned trials).
struct Observation {
  Sample x;
  double objective = 0;  // lower is better (negate a metric where higher is better)
  // -1: finished, `objective` its final value. k >= 0: stopped (or paused, ASHA) at rung k, `objective`
  // its score at that rung (the best so far at the rung's epoch), which is not comparable with a final
  // value at a later epoch.
  int stopped_rung = -1;
};

// The Tree-structured Parzen Estimator (Bergstra, Bardenet, Bengio, Kegl, "Algorithms for hyper-parameter
// optimization", NeurIPS 2011) in the form of Optuna's default TPESampler (independent per parameter):
//  - while fewer than n_startup observations exist, the proposal is random_sample(seed, trial);
//  - the observations are ranked as Optuna's TPE ranks complete and pruned trials: the finished ones
//    first, by objective; then the stopped ones, those stopped at a later rung first, then by their
//    objective at that rung (ties by their order). Stopped trials count towards n_startup too;
//  - the ranked observations split into the best
//    n_below = min(ceil(gamma * n), 25) and the rest ("gamma" below, Optuna's default_gamma);
//  - per parameter, a Parzen estimator l(x) of the best and g(x) of the rest: numeric parameters (ln x
//    for log_uniform; int on [low-0.5, high+0.5]) get a truncated-Gaussian mixture with one kernel per
//    observation plus a prior kernel (mean mid-range, width the range, weight prior_weight); a kernel's
//    width is the larger gap to its neighbours among the sorted means, clipped to
//    [range / min(100, 1 + n_kernels), range] (Optuna's "magic clip"); choice parameters get
//    p(c) proportional to prior_weight / K plus the observations' weights at c;
//  - observation weights are 1, except that with more than 25 observations the older ones ramp linearly
//    from 1/n up to 1 (Optuna's default_weights);
//  - n_candidates draws from l; the proposal is the one that maximises l(x) / g(x), the expected
//    improvement's monotone form (paper, eq. 4-6).
// Candidates of parameter j of trial t use Rng(seed, (t + 1) * 4096 + j), so a proposal is a function of
// its arguments only.
struct TpeOptions {
  int n_startup = 10;      // Optuna's n_startup_trials
  int n_candidates = 24;   // Optuna's n_ei_candidates
  double gamma = 0.1;
  int max_below = 25;
  double prior_weight = 1.0;
};
Sample tpe_sample(const Space& space, std::uint64_t seed, std::uint64_t trial, const std::vector<Observation>& done,
                  const TpeOptions& options = {});

// tpe_sample's proposal once the observations are split: `xs` are the observed points, `below` and
// `above` index into them (the good and the other group). tpe_sample calls it after its split by one
// objective; motpe_sample (sweeps/multi_objective.hpp) after its split by several. Needs a non-empty
// `below`.
Sample parzen_proposal(const Space& space, std::uint64_t seed, std::uint64_t trial, const std::vector<Sample>& xs,
                       std::vector<std::size_t> below, std::vector<std::size_t> above, const TpeOptions& options);

}  // namespace ablate::sweeps
