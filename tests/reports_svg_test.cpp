// reports/svg.hpp: the one tick rule, document header, text and palette of every figure of the report.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>

#include "reports/svg.hpp"

namespace ablate::reports::svg {
namespace {

TEST(ReportsSvg, TicksAreOneTwoOrFiveTimesAPowerOfTenCoveringTheData) {
  // A search's objective from 0.42 to 0.9: steps of 0.1, widened to the ticks around the data.
  const Ticks a = nice_ticks(0.42, 0.9);
  EXPECT_DOUBLE_EQ(a.lo, 0.4);
  EXPECT_GE(a.hi, 0.9);
  ASSERT_GE(a.at.size(), 6u);
  EXPECT_DOUBLE_EQ(a.at.front(), a.lo);
  EXPECT_DOUBLE_EQ(a.at.back(), a.hi);
  EXPECT_NEAR(a.at[1] - a.at[0], 0.1, 1e-12);
  EXPECT_EQ(a.decimals, 1);
  // A range of 0..37 steps by 10 (37/5 = 7.4 -> 10), 0..40; a range of 0..9 by 2.
  const Ticks b = nice_ticks(0, 37);
  EXPECT_EQ(b.at, (std::vector<double>{0, 10, 20, 30, 40}));
  EXPECT_EQ(b.decimals, 0);
  EXPECT_EQ(nice_ticks(0, 9).at, (std::vector<double>{0, 2, 4, 6, 8, 10}));
  // Steps of 0.02 need two decimals to tell the ticks apart.
  EXPECT_EQ(nice_ticks(0.80, 0.88).decimals, 2);
}

TEST(ReportsSvg, DegenerateAndMissingRangesStillGiveAnAxis) {
  // One value: widened by 5 % of it, so that the point is inside, not on the frame.
  const Ticks one = nice_ticks(0.8, 0.8);
  EXPECT_LT(one.lo, 0.8);
  EXPECT_GT(one.hi, 0.8);
  // Zero: widened by 0.5 either side, then to the ticks (steps of 0.2) around that.
  const Ticks zero = nice_ticks(0, 0);
  EXPECT_NEAR(zero.lo, -0.6, 1e-12);
  EXPECT_NEAR(zero.hi, 0.6, 1e-12);
  // No data (the bounds of an empty min/max): [0, 1].
  const double inf = std::numeric_limits<double>::infinity();
  const Ticks none = nice_ticks(inf, -inf);
  EXPECT_DOUBLE_EQ(none.lo, 0);
  EXPECT_DOUBLE_EQ(none.hi, 1);
}

TEST(ReportsSvg, IntegerAxesStepByWholeNumbers) {
  // Epochs 1..3 would step by 0.5; an integer axis steps by 1.
  EXPECT_EQ(nice_ticks(1, 3).decimals, 1);
  const Ticks e = nice_ticks(1, 3, true);
  EXPECT_EQ(e.at, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(e.decimals, 0);
}

TEST(ReportsSvg, AxisMappingRunsRightAndUp) {
  const Ticks t = nice_ticks(0, 10);
  EXPECT_DOUBLE_EQ(t.along(0, 50, 200), 50);
  EXPECT_DOUBLE_EQ(t.along(10, 50, 200), 250);
  EXPECT_DOUBLE_EQ(t.up(0, 30, 100), 130);  // the bottom of the panel
  EXPECT_DOUBLE_EQ(t.up(10, 30, 100), 30);
}

TEST(ReportsSvg, DocumentHeaderSizeAndViewBoxAgree) {
  EXPECT_EQ(open(320, 200.04),
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"320.0\" height=\"200.0\" viewBox=\"0 0 320.0 "
            "200.0\" "
            "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
  EXPECT_EQ(close(), "</svg>\n");
  EXPECT_EQ(coord(-0.04), "0.0");  // never "-0.0"
  EXPECT_EQ(coord(12.345), "12.3");
}

TEST(ReportsSvg, TextIsEscapedAndAttributesAreKept) {
  std::ostringstream o;
  text(o, 10, 20, "a < b & \"c\"", "start", kBold);
  EXPECT_EQ(o.str(),
            "<text x=\"10.0\" y=\"20.0\" text-anchor=\"start\" font-weight=\"bold\">a &lt; b &amp; "
            "&quot;c&quot;</text>\n");
  std::ostringstream r;
  turned_text(r, 14, 100, "Dice", -90);
  EXPECT_EQ(r.str(),
            "<text x=\"14.0\" y=\"100.0\" text-anchor=\"middle\" transform=\"rotate(-90 14.0 "
            "100.0)\">Dice</text>\n");
  // Widths count code points, not bytes: "α=0.3" is five characters.
  EXPECT_DOUBLE_EQ(text_width("α=0.3"), 35);
}

TEST(ReportsSvg, PaletteCyclesThroughTenColours) {
  EXPECT_STREQ(colour(0), "#4e79a7");
  EXPECT_STREQ(colour(10), colour(0));
  for (std::size_t i = 1; i < 10; ++i) EXPECT_STRNE(colour(i), colour(0)) << i;
}

}  // namespace
}  // namespace ablate::reports::svg
