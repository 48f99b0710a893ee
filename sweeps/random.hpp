// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014): a
// 64-bit counter advanced by the golden-ratio increment and passed through a fixed mixing function. One
// algorithm for every random number of the project (search samplers here, splits, synthetic data and
// augmentation in trainer/data/random.hpp), so that every platform and standard library draws the same
// values (std::shuffle and the std:: distributions are implementation-defined).
//
// Contract: header-only, no global state; an engine is a value owned by its user and is not safe to share
// between threads without a lock (copy it instead: a copy continues the same sequence). Nothing throws.
#pragma once

#include <cstdint>

namespace ablate::sweeps {

constexpr std::uint64_t kSplitMixIncrement = 0x9E3779B97F4A7C15ULL;  // 2^64 / golden ratio

// The mixing function (the finaliser of MurmurHash3 with Stafford's "Mix13" constants).
inline std::uint64_t splitmix_mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// One step from x: the word an engine in state x draws next.
inline std::uint64_t splitmix64(std::uint64_t x) { return splitmix_mix(x + kSplitMixIncrement); }

class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t state) : state_(state) {}
  std::uint64_t next() {
    state_ += kSplitMixIncrement;
    return splitmix_mix(state_);
  }
  // [0, 1): the top 53 bits of a word times 2^-53.
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  std::uint64_t state() const { return state_; }

 private:
  std::uint64_t state_;
};

}  // namespace ablate::sweeps
