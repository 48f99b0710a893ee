// What each component is worth (reports/effects.hpp): the estimators on hand-computed point means (an
// additive model where Shapley values equal main effects, a pure three-way interaction where they
// differ, efficiency), the paired bootstrap, and the effects table of tiny synthetic stores built here.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ablations/design.hpp"
#include "reports/effects.hpp"

using namespace ablate;
using namespace ablate::reports;

namespace {

std::vector<std::uint32_t> all_runs(int k) {
  std::vector<std::uint32_t> r;
  for (std::uint32_t m = 0; m < (1u << k); ++m) r.push_back(m);
  return r;
}

// v(S) = 10 + sum of a_i over S, plus c when every component of `together` is in S.
PointMeans model(int k, const std::vector<double>& a, std::uint32_t together = 0, double c = 0) {
  PointMeans v;
  for (auto m : all_runs(k)) {
    double y = 10;
    for (int i = 0; i < k; ++i) y += (m >> i) & 1u ? a[i] : 0;
    if (together && (m & together) == together) y += c;
    v[m] = y;
  }
  return v;
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << "entry " << i;
}

// A study whose design points have per-case Dice v(S) + offset(case): the offsets are the same in every
// point (a case easier than another), so paired contrasts cancel them exactly.
db::StudyData store(const StoredDesign& d, const PointMeans& v, int cases = 6) {
  db::StudyData s;
  s.study = "toy";
  s.provenance["study_design"] = design_text(d);
  int ordinal = 0;
  for (const auto& [name, mask] : d.masks) {
    s.variants.push_back({name, name == d.baseline ? "U-Net" : "U-Net+" + mask_labels(d.components, mask),
                          "h" + name, "", ordinal++});
    for (int c = 0; c < cases; ++c) {
      const double offset = 0.02 * ((c * 5) % 7) - 0.06;
      s.case_metrics.push_back({name, c % 2, 0, "case_" + std::to_string(c), 1, "dice", v.at(mask) + offset});
    }
  }
  return s;
}

StoredDesign design(int k, const std::vector<std::string>& designs, const std::vector<std::uint32_t>& masks) {
  StoredDesign d;
  for (int i = 0; i < k; ++i) d.components.push_back(std::string(1, static_cast<char>('A' + i)));
  d.baseline = "m0";
  d.designs = designs;
  for (auto m : masks) d.masks["m" + std::to_string(m)] = m;
  return d;
}

ReportConfig dice_only() {
  ReportConfig c;
  c.metrics = {"dice"};
  return c;
}

const EffectRow* find(const EffectsTable& t, const std::string& estimator, const std::string& term) {
  for (const auto& r : t.rows) {
    if (r.estimator == estimator && r.term == term) return &r;
  }
  return nullptr;
}

}  // namespace

// Additive: every main effect is its a_i, every interaction 0, and Shapley = main effect exactly.
TEST(Effects, AdditiveModelShapleyEqualsMainEffect) {
  const std::vector<double> a = {2.0, -1.0, 0.5};
  const PointMeans v = model(3, a);
  expect_near(main_effects(3, all_runs(3), v), a);
  expect_near(interactions(3, all_runs(3), v), {0, 0, 0});
  expect_near(shapley_values(3, v), a);
}

// A pure three-way interaction v = 10 + 8·[A and B and C]: main effect 8/4 = 2 (half the runs have A on,
// a quarter of those have B and C), each interaction 2 (the runs where i and j agree: 4, one with
// everything on), but Shapley 8/3 (the three share the gain equally). Efficiency: 3 · 8/3 = 8.
TEST(Effects, PureInteractionShapleyDiffersFromMainEffect) {
  const PointMeans v = model(3, {0, 0, 0}, 0b111, 8.0);
  expect_near(main_effects(3, all_runs(3), v), {2, 2, 2});
  expect_near(interactions(3, all_runs(3), v), {2, 2, 2});
  expect_near(shapley_values(3, v), {8.0 / 3, 8.0 / 3, 8.0 / 3});
  // A two-way interaction A×B = 6 on top: E_AB = (6·2/4 + 8/4) - ... by hand: runs where A, B agree
  // {0, 3, 4, 7} -> 10, 16, 10, 24, mean 15; disagree {1, 2, 5, 6} -> 10 each: E_AB = 5.
  const PointMeans w = model(3, {0, 0, 0}, 0b011, 6.0);
  PointMeans both = w;
  both[7] += 8;
  EXPECT_NEAR(interactions(3, all_runs(3), both)[0], 5.0, 1e-12);
}

TEST(Effects, EfficiencySumOfShapleyIsFullMinusBaseline) {
  PointMeans v;
  for (auto m : all_runs(4)) v[m] = std::sin(1.0 + m) * 3 + m * 0.1;  // anything
  double sum = 0;
  for (double phi : shapley_values(4, v)) sum += phi;
  EXPECT_NEAR(sum, v[15] - v[0], 1e-12);
}

// A 2^(4-1) fraction of resolution IV (D = +ABC) estimates main effects without bias from two-way
// interactions (A×B = 3 here); the full factorial's main effect of A includes half of A×B.
TEST(Effects, FractionOfResolutionFourKeepsMainEffectsClear) {
  const FractionalDesign f = fractional_design(4, 4);
  ASSERT_EQ(f.resolution, 4);
  const std::vector<double> a = {1.0, 2.0, -3.0, 0.25};
  PointMeans v = model(4, a);
  // The interaction as ±1 product: +3/2·x_A·x_B changes E_AB by 3 and no main effect.
  for (auto& [m, y] : v) y += 1.5 * ((m & 1u) == ((m >> 1) & 1u) ? 1 : -1);
  expect_near(main_effects(4, f.runs, v), a);
  expect_near(main_effects(4, all_runs(4), v), a);
  EXPECT_NEAR(interactions(4, all_runs(4), v)[0], 3.0, 1e-12);
}

TEST(Effects, MarginalContrasts) {
  auto as_pairs = [](const std::vector<Contrast>& cs) {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
    for (const auto& c : cs) out.emplace_back(c.with, c.without);
    return out;
  };
  using P = std::vector<std::pair<std::uint32_t, std::uint32_t>>;
  EXPECT_EQ(as_pairs(marginal_contrasts("add-one", 3)), (P{{1, 0}, {2, 0}, {4, 0}}));
  EXPECT_EQ(as_pairs(marginal_contrasts("leave-one-out", 3)), (P{{7, 6}, {7, 5}, {7, 3}}));
  EXPECT_EQ(as_pairs(marginal_contrasts("cumulative", 3)), (P{{1, 0}, {3, 1}, {7, 3}}));
  EXPECT_TRUE(marginal_contrasts("factorial", 3).empty());
}

// Units that differ by a constant in every point: paired contrasts have no spread, so the interval is
// the point; an unpaired statistic (a point's own mean) keeps the spread. Deterministic.
TEST(Effects, PairedBootstrap) {
  const std::vector<std::uint32_t> points = {0, 1};
  const std::vector<std::vector<double>> values = {{1, 2, 3, 4}, {3, 4, 5, 6}};
  const auto diff = paired_bootstrap(points, values, [](const PointMeans& v) { return std::vector<double>{v.at(1) - v.at(0)}; });
  ASSERT_EQ(diff.size(), 1u);
  EXPECT_NEAR(diff[0].estimate, 2.0, 1e-12);
  EXPECT_NEAR(diff[0].lo, 2.0, 1e-12);
  EXPECT_NEAR(diff[0].hi, 2.0, 1e-12);
  const auto level = paired_bootstrap(points, values, [](const PointMeans& v) { return std::vector<double>{v.at(0)}; });
  EXPECT_NEAR(level[0].estimate, 2.5, 1e-12);
  EXPECT_LT(level[0].lo, 2.0);
  EXPECT_GT(level[0].hi, 3.0);
  EXPECT_GE(level[0].lo, 1.0);
  EXPECT_LE(level[0].hi, 4.0);
  const auto again = paired_bootstrap(points, values, [](const PointMeans& v) { return std::vector<double>{v.at(0)}; });
  EXPECT_EQ(again[0].lo, level[0].lo);
  EXPECT_EQ(again[0].hi, level[0].hi);
}

// A full 2^2 factorial in a store: main effects, the interaction and Shapley values in percent, with
// intervals that collapse (the case offsets cancel in paired contrasts), and efficiency.
TEST(Effects, TableFromAFullFactorialStore) {
  const StoredDesign d = design(2, {"factorial"}, {0, 1, 2, 3});
  const PointMeans v = {{0, 0.70}, {1, 0.74}, {2, 0.71}, {3, 0.77}};
  const EffectsTable t = effects_table(store(d, v), d, dice_only());
  EXPECT_EQ(t.unit, "case");
  // By hand: E_A = (74 + 77)/2 - (70 + 71)/2 = 5; E_B = (71 + 77)/2 - (70 + 74)/2 = 2;
  // E_AB = (70 + 77)/2 - (74 + 71)/2 = 1; phi_A = ((74 - 70) + (77 - 71))/2 = 5, phi_B = (1 + 3)/2 = 2.
  struct Want {
    const char* estimator;
    const char* term;
    double value;
  };
  for (const Want& w : std::vector<Want>{{"main", "A", 5}, {"main", "B", 2}, {"interaction", "A×B", 1},
                                         {"shapley", "A", 5}, {"shapley", "B", 2}}) {
    const EffectRow* r = find(t, w.estimator, w.term);
    ASSERT_NE(r, nullptr) << w.estimator << " " << w.term;
    EXPECT_NEAR(r->value.estimate, w.value, 1e-9) << w.estimator << " " << w.term;
    EXPECT_NEAR(r->value.lo, w.value, 1e-9);
    EXPECT_NEAR(r->value.hi, w.value, 1e-9);
    EXPECT_EQ(r->n, 6u);
  }
  ASSERT_EQ(t.efficiency.size(), 1u);
  EXPECT_NEAR(t.efficiency[0].sum_shapley, 7.0, 1e-9);
  EXPECT_NEAR(t.efficiency[0].full_minus_baseline, 7.0, 1e-9);
  EXPECT_TRUE(t.notes.empty());
  const std::string md = render_effects_markdown(t);
  EXPECT_NE(md.find("| DSC | main effect | A |  | 5.00 | [5.00, 5.00] | 6 |  |"), std::string::npos) << md;
  EXPECT_NE(md.find("Efficiency, DSC: Σ Shapley = 7.00, full − baseline = 7.00"), std::string::npos) << md;
  EXPECT_NE(render_effects_csv(t).find("toy,1,dice,shapley,A,,5,5,5,case,6,NA,NA"), std::string::npos);
  EXPECT_NE(render_effects_latex(t).find("\\toprule"), std::string::npos);
  const std::string svg = effects_svg(t);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);  // the zero line
  EXPECT_EQ(svg, effects_svg(t));
}

// Add-one and leave-one-out: marginal gains in their context with the paired Wilcoxon test; no main
// effects or Shapley values (the design lacks the subsets): a note says what is needed.
TEST(Effects, MarginalGainsAndWhatTheDesignCannotSupport) {
  const StoredDesign d = design(3, {"add-one", "leave-one-out"}, {0, 1, 2, 4, 7, 6, 5, 3});
  PointMeans v;
  for (std::uint32_t m = 0; m < 8; ++m) v[m] = 0.6 + 0.01 * m;
  // Not all subsets have results: drop the point {B, C} (6) from the store's masks.
  StoredDesign partial = d;
  partial.masks.erase("m6");
  const EffectsTable t = effects_table(store(partial, v, 8), partial, dice_only());
  EXPECT_EQ(find(t, "main", "A"), nullptr);
  EXPECT_EQ(find(t, "shapley", "A"), nullptr);
  ASSERT_FALSE(t.notes.empty());
  EXPECT_NE(t.notes.back().find("need a factorial design"), std::string::npos) << t.notes.back();
  const EffectRow* c = find(t, "add-one", "C");
  ASSERT_NE(c, nullptr);
  EXPECT_NEAR(c->value.estimate, 4.0, 1e-9);  // (0.64 - 0.60) in percent
  EXPECT_EQ(c->context, "U-Net → U-Net+C");
  // 8 cases all better (by the same amount up to rounding): Wilcoxon p = 2/2^8 exact, or about 0.013 from
  // the normal approximation where rounding leaves ties; Holm over the three equal gains multiplies by 3.
  EXPECT_LT(c->p, 0.015);
  EXPECT_NEAR(c->p_holm, 3 * c->p, 1e-12);
  EXPECT_EQ(c->mark, "*");
  // Leave-one-out of A: the full model (7) against {B, C} (6), which has no results: left out.
  EXPECT_EQ(find(t, "leave-one-out", "A"), nullptr);
  const EffectRow* lb = find(t, "leave-one-out", "B");
  ASSERT_NE(lb, nullptr);
  EXPECT_NEAR(lb->value.estimate, 2.0, 1e-9);  // 0.67 - 0.65
}

TEST(Effects, FractionOfResolutionThreeGivesNoMainEffects) {
  const FractionalDesign f = fractional_design(3, 3);
  StoredDesign d = design(3, {"fractional"}, f.runs);
  d.fraction = f.runs;
  d.resolution = f.resolution;
  const EffectsTable t = effects_table(store(d, model(3, {0.01, 0.02, 0.03})), d, dice_only());
  EXPECT_TRUE(t.rows.empty());
  std::string all;
  for (const auto& n : t.notes) all += n + "\n";
  EXPECT_NE(all.find("main effects need a fraction of resolution >= 4"), std::string::npos) << all;
  EXPECT_NE(all.find("Shapley values need every one of the 2^3 subsets"), std::string::npos) << all;
  EXPECT_TRUE(effects_table(store(d, model(3, {0.01, 0.02, 0.03})), StoredDesign{}, dice_only()).rows.empty());
}

// A 2^(5-1) fraction of resolution V (16 runs): main effects and two-way interactions from the fraction's
// runs, exact for a model with main effects and one interaction; no Shapley values (not every subset).
TEST(Effects, FractionOfResolutionFiveGivesMainEffectsAndInteractions) {
  const FractionalDesign f = fractional_design(5, 5);
  ASSERT_EQ(f.runs.size(), 16u);
  StoredDesign d = design(5, {"fractional"}, f.runs);
  d.fraction = f.runs;
  d.resolution = f.resolution;
  PointMeans v = model(5, {0.01, 0.02, -0.03, 0.0, 0.04});
  for (auto& [m, y] : v) y += 0.005 * (((m >> 1) & 1u) == ((m >> 3) & 1u) ? 1 : -1);  // B×D = 1 point (in %)
  const EffectsTable t = effects_table(store(d, v), d, dice_only());
  const std::vector<double> mains = {1, 2, -3, 0, 4};
  for (int j = 0; j < 5; ++j) {
    const EffectRow* r = find(t, "main", d.components[j]);
    ASSERT_NE(r, nullptr);
    EXPECT_NEAR(r->value.estimate, mains[j], 1e-9);
  }
  const EffectRow* bd = find(t, "interaction", "B×D");
  ASSERT_NE(bd, nullptr);
  EXPECT_NEAR(bd->value.estimate, 1.0, 1e-9);
  EXPECT_NEAR(find(t, "interaction", "A×E")->value.estimate, 0.0, 1e-9);
  EXPECT_EQ(find(t, "shapley", "A"), nullptr);
  ASSERT_EQ(t.notes.size(), 1u);
  EXPECT_EQ(t.notes[0], "Shapley values need every one of the 2^5 subsets: a factorial design");
}
