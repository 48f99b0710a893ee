// The trainer's random numbers: splits, synthetic data and augmentation draw from the project's one
// SplitMix64 (sweeps/random.hpp), so they draw the same values on every platform and standard library.
// LibTorch-free. An Rng is owned by its user; not safe to share between threads.
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>

#include "sweeps/random.hpp"

namespace ablate::trainer::data {

using sweeps::splitmix64;

// Mixes several integers into one seed (order matters).
inline std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b, std::uint64_t c = 0, std::uint64_t d = 0) {
  return splitmix64(splitmix64(splitmix64(splitmix64(a) ^ b) ^ c) ^ d);
}

class Rng : public sweeps::SplitMix64 {
 public:
  explicit Rng(std::uint64_t seed) : SplitMix64(seed) {}
  using SplitMix64::uniform;  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
  // Standard normal (Box-Muller), u1 clamped at 1e-300 so that the logarithm stays finite. Not
  // sweeps::Rng::normal(), which takes 1 - u: the values differ for every draw, and these are in stored
  // results (synthetic images of `ablate data synth`, augmentation, hence trained weights and metrics).
  double normal() {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

// Fisher-Yates with Rng: the same permutation everywhere.
template <typename T>
void shuffle(T& items, Rng& rng) {
  for (std::size_t i = items.size(); i > 1; --i) {
    std::size_t j = static_cast<std::size_t>(rng.below(i));
    std::swap(items[i - 1], items[j]);
  }
}

}  // namespace ablate::trainer::data
