// The project's one random-number algorithm (sweeps/random.hpp) and its two users: the samplers' Rng and
// the trainer's data::Rng. The values are pinned to what the code drew before the two shared an engine
// (issue 24), since stored results depend on them: trial points and hashes, synthetic data, splits and
// augmentation.
#include <gtest/gtest.h>

#include <cmath>

#include "sweeps/random.hpp"
#include "sweeps/samplers.hpp"
#include "trainer/data/random.hpp"

using namespace ablate;

// SplitMix64 from state 0: the reference sequence of Vigna's splitmix64.c.
TEST(SplitMix64, DrawsTheReferenceSequence) {
  sweeps::SplitMix64 g(0);
  EXPECT_EQ(g.next(), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(g.next(), 0x6E789E6AA1B965F4ULL);
  EXPECT_EQ(g.next(), 0x06C45D188009454FULL);
  EXPECT_EQ(g.state(), 3 * sweeps::kSplitMixIncrement);
  EXPECT_EQ(sweeps::splitmix64(0), 0xE220A8397B1DCDAFULL);
  sweeps::SplitMix64 u(12345);
  for (int i = 0; i < 1000; ++i) {
    const double x = u.uniform();
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
  }
}

TEST(SplitMix64, TheTrainersRngDrawsWhatItDrewBefore) {
  trainer::data::Rng zero(0);
  EXPECT_EQ(zero.next(), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(trainer::data::mix_seed(1, 2, 3, 4), 0xD55CCD4AEB3CCAFBULL);
  trainer::data::Rng r(42);
  EXPECT_EQ(r.below(1000), 413u);
  EXPECT_DOUBLE_EQ(r.uniform(-1, 1), -0.68017921424615979);
  EXPECT_DOUBLE_EQ(r.normal(), -0.89188621362775633);
}

TEST(SplitMix64, TheSamplersRngDrawsWhatItDrewBefore) {
  sweeps::Rng r(7, 3);
  EXPECT_EQ(r.next(), 0x649E25419B48ACD3ULL);
  EXPECT_DOUBLE_EQ(r.uniform(), 0.89310851839582983);
  EXPECT_DOUBLE_EQ(r.normal(), -0.17579325403232182);
}

// Same engine, two Box-Muller readings (samplers.hpp, Rng::normal): from equal states the uniform draws are
// equal and the normal draws are not, which is why they stay apart.
TEST(SplitMix64, TheTwoNormalsDifferFromEqualStates) {
  sweeps::Rng s(7, 3);
  trainer::data::Rng d(s.state());
  EXPECT_EQ(d.next(), s.next());
  EXPECT_EQ(d.uniform(), s.uniform());
  const double a = s.normal(), b = d.normal();
  EXPECT_TRUE(std::isfinite(a));
  EXPECT_TRUE(std::isfinite(b));
  EXPECT_NE(a, b);
}

TEST(TrialPoint, TextReadsBackToTheSameDoubles) {
  const sweeps::Sample x = {0.1, 1e-300, -2.5, 3.0, 0.30000000000000004};
  const std::string text = sweeps::point_text(x);
  EXPECT_EQ(sweeps::point_text({0.5, 2}), "[0.5, 2]");
  const auto back = sweeps::parse_point(text);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, x);  // bit for bit: %.17g round-trips
  EXPECT_EQ(sweeps::parse_point("[]"), sweeps::Sample{});
  EXPECT_EQ(sweeps::parse_point("[ ]"), sweeps::Sample{});
  EXPECT_EQ(sweeps::parse_point(" [ 1 ,2 ] "), (sweeps::Sample{1, 2}));
}

TEST(TrialPoint, RefusesTextThatIsNotAPoint) {
  for (const char* bad : {"", "1, 2", "[1, 2", "1, 2]", "[1, , 2]", "[1, x]", "[1 2]", "[1,]", "][", "[0x]"}) {
    EXPECT_FALSE(sweeps::parse_point(bad).has_value()) << bad;
  }
}
