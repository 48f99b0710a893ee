// Comparison table: bold/underline choice (also for lower-is-better metrics and per-slice metrics),
// significance marks and their direction, LaTeX (escaping, booktabs rules, one-line notes), n/a
// handling, layout and names from the stored [report] section (resolved configuration first), every
// class in the per-study tables, box plots (cases averaged over repeats, colours per variant).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ablations/study.hpp"
#include "reports/format.hpp"
#include "reports/report.hpp"
#include "tests/reports_fixture.hpp"

namespace ablate::reports {
namespace {

db::StudyData three_variants() {
  db::StudyData s;
  s.study = "toy";
  s.variants = {{"a", "A", "", "", 0}, {"b", "B", "", "", 1}, {"c", "C", "", "", 2}};
  // dice (higher is better): a 0.80, b 0.85, c 0.83 -> b best, c second.
  // assd (lower is better):  a 2.0,  b 3.0,  c 1.0  -> c best, a second.
  const double dice[] = {0.80, 0.85, 0.83}, assd[] = {2.0, 3.0, 1.0};
  for (int k = 0; k < 3; ++k)
    for (int fold = 0; fold < 2; ++fold) {
      const std::string v = s.variants[static_cast<std::size_t>(k)].name;
      s.fold_metrics.push_back({v, fold, 0, 1, "dice", dice[k] + (fold ? 0.01 : -0.01)});
      s.fold_metrics.push_back({v, fold, 0, 1, "assd", assd[k] + (fold ? 0.1 : -0.1)});
    }
  return s;
}

// One variant, cases x, y, z tested in two repeats (in different folds): repeat 0 gives 0.2, 0.4, 0.9,
// repeat 1 gives 0.4, 0.6, 0.7, so the case means are 0.3, 0.5, 0.8.
db::StudyData three_cases_two_repeats() {
  db::StudyData s;
  s.study = "rep";
  s.variants = {{"a", "A", "", "", 0}};
  const char* ids[] = {"x", "y", "z"};
  const double r0[] = {0.2, 0.4, 0.9}, r1[] = {0.4, 0.6, 0.7};
  for (int c = 0; c < 3; ++c) {
    s.case_metrics.push_back({"a", c % 2, 0, ids[c], 1, "dice", r0[c]});  // folds differ between repeats
    s.case_metrics.push_back({"a", (c + 1) % 2, 1, ids[c], 1, "dice", r1[c]});
  }
  return s;
}

ReportConfig config_for(std::vector<std::string> metrics) {
  ReportConfig c;
  c.metrics = std::move(metrics);
  return c;
}

std::size_t column(const ComparisonTable& t, const std::string& metric) {
  for (std::size_t c = 0; c < t.columns.size(); ++c)
    if (t.columns[c].metric == metric) return c;
  ADD_FAILURE() << "no column " << metric;
  return 0;
}

TEST(ReportsTable, BestBoldSecondUnderlinedHigherAndLowerIsBetter) {
  const ComparisonTable t = comparison_table({three_variants()}, config_for({"dice", "assd"}), {});
  ASSERT_EQ(t.rows.size(), 3u);
  const std::size_t dice = column(t, "dice"), assd = column(t, "assd");
  EXPECT_TRUE(t.columns[dice].higher_is_better);
  EXPECT_FALSE(t.columns[assd].higher_is_better);
  EXPECT_EQ(t.cells[0][dice].rank, 0);
  EXPECT_EQ(t.cells[1][dice].rank, 1);
  EXPECT_EQ(t.cells[2][dice].rank, 2);
  EXPECT_EQ(t.cells[0][assd].rank, 2);
  EXPECT_EQ(t.cells[1][assd].rank, 0);
  EXPECT_EQ(t.cells[2][assd].rank, 1);
  // Percent for overlap metrics only; mean ± sample sd over the two folds.
  EXPECT_EQ(t.cells[1][dice].value, "85.00 ± 1.41");
  EXPECT_EQ(t.cells[2][assd].value, "1.00 ± 0.14");
  const std::string md = render_markdown(t);
  EXPECT_NE(md.find("| B | **85.00 ± 1.41** |"), std::string::npos) << md;
  EXPECT_NE(md.find("<u>83.00 ± 1.41</u>"), std::string::npos) << md;
  EXPECT_NE(md.find("**1.00 ± 0.14**"), std::string::npos) << md;
  const std::string tex = render_latex(t);
  EXPECT_NE(tex.find("\\textbf{85.00 $\\pm$ 1.41}"), std::string::npos) << tex;
  EXPECT_NE(tex.find("\\underline{2.00 $\\pm$ 0.14}"), std::string::npos) << tex;
  const std::string html = render_html(t);
  EXPECT_NE(html.find("<b>85.00 ± 1.41</b>"), std::string::npos);
}

// The trainer's per-slice metrics (<metric>_2d, docs/DATA.md) behave as their 3D metric.
TEST(ReportsFormat, PerSliceMetricsFollowThe3DMetric) {
  EXPECT_EQ(metric_base("hd95_2d"), "hd95");
  EXPECT_EQ(metric_base("dice"), "dice");
  EXPECT_EQ(metric_base("_2d"), "_2d");
  EXPECT_TRUE(metric_is_per_slice("dice_2d"));
  EXPECT_FALSE(metric_is_per_slice("dice"));
  EXPECT_FALSE(metric_higher_is_better("hd95_2d"));
  EXPECT_FALSE(metric_higher_is_better("assd_2d"));
  EXPECT_TRUE(metric_higher_is_better("dice_2d"));
  for (const char* m : {"dice_2d", "iou_2d", "sensitivity_2d", "precision_2d", "specificity_2d", "vs_2d"})
    EXPECT_TRUE(metric_is_ratio(m)) << m;
  EXPECT_FALSE(metric_is_ratio("hd95_2d"));
  EXPECT_EQ(metric_display("dice_2d"), "DSC 2D");
  EXPECT_EQ(metric_display("hd95_2d"), "HD95 2D (mm)");
  EXPECT_EQ(metric_display("hd95"), "HD95 (mm)");
  EXPECT_EQ(metric_display("foo_2d"), "foo_2d");
  // 3D metrics first, then the same per slice, then unknown names.
  EXPECT_LT(metric_order("hd95"), metric_order("dice_2d"));
  EXPECT_LT(metric_order("dice_2d"), metric_order("hd95_2d"));
  EXPECT_LT(metric_order("hd95_2d"), metric_order("foo"));
}

TEST(ReportsTable, PerSliceMetricsRankAndScaleLikeThe3DMetric) {
  db::StudyData s = three_variants();
  for (auto& r : s.fold_metrics) r.metric = r.metric == "dice" ? "dice_2d" : "hd95_2d";
  const ComparisonTable t = comparison_table({s}, config_for({"dice_2d", "hd95_2d"}), {});
  const std::size_t dice = column(t, "dice_2d"), hd = column(t, "hd95_2d");
  EXPECT_FALSE(t.columns[hd].higher_is_better);
  EXPECT_EQ(t.cells[2][hd].rank, 1);  // c: 1.0, the smallest distance
  EXPECT_EQ(t.cells[0][hd].rank, 2);
  EXPECT_EQ(t.cells[1][dice].value, "85.00 ± 1.41");  // percent
  EXPECT_EQ(t.cells[2][hd].value, "1.00 ± 0.14");     // mm
  EXPECT_NE(render_markdown(t).find("| DSC 2D | HD95 2D (mm) ↓ |"), std::string::npos) << render_markdown(t);
}

TEST(ReportsTable, EqualShownValuesShareTheRank) {
  db::StudyData s = three_variants();
  s.fold_metrics.clear();
  // 0.85001 and 0.84999 both show as 85.00: both bold; 0.70 second.
  const double dice[] = {0.85001, 0.84999, 0.70};
  for (int k = 0; k < 3; ++k) s.fold_metrics.push_back({s.variants[static_cast<std::size_t>(k)].name, 0, 0, 1, "dice", dice[k]});
  const ComparisonTable t = comparison_table({s}, config_for({"dice"}), {});
  EXPECT_EQ(t.cells[0][0].rank, 1);
  EXPECT_EQ(t.cells[1][0].rank, 1);
  EXPECT_EQ(t.cells[2][0].rank, 2);
  EXPECT_EQ(t.cells[0][0].value, "85.00");  // one fold: the mean alone
}

TEST(ReportsTable, SingleValueIsNotRanked) {
  db::StudyData s = three_variants();
  s.fold_metrics.resize(1);  // only variant a has a value
  const ComparisonTable t = comparison_table({s}, config_for({"dice"}), {});
  EXPECT_EQ(t.cells[0][0].rank, 0);
  EXPECT_EQ(t.cells[1][0].value, "n/a");
}

TEST(ReportsLatex, EscapesLabels) {
  EXPECT_EQ(latex_escape("U-Net+CoA (α=0.3)"), "U-Net+CoA ($\\alpha$=0.3)");
  EXPECT_EQ(latex_escape("50% & a_b #1 {x} ~ ^ \\ $"),
            "50\\% \\& a\\_b \\#1 \\{x\\} \\textasciitilde{} \\textasciicircum{} \\textbackslash{} \\$");
  EXPECT_EQ(latex_escape("±×"), "$\\pm$$\\times$");
  EXPECT_EQ(latex_escape("Ω-net"), "Ω-net");  // other UTF-8 kept as is
  const ComparisonTable t = comparison_table({testing::tcia_study()}, config_for({"dice"}), {});
  const std::string tex = render_latex(t);
  EXPECT_NE(tex.find("U-Net+CoA ($\\alpha$=0.3) & \\checkmark & \\checkmark"), std::string::npos) << tex;
  EXPECT_NE(tex.find("\\toprule"), std::string::npos);
  EXPECT_NE(tex.find("\\bottomrule"), std::string::npos);
}

// booktabs: no vertical rules; the groups are set apart by \cmidrule under their \multicolumn titles.
TEST(ReportsLatex, BooktabsRulesWithoutVerticalLines) {
  const ComparisonTable t =
      comparison_table({testing::tcia_study(), testing::msd_study()}, config_for({"dice", "sensitivity"}), {});
  const std::string tex = render_latex(t);
  // Method, CC SC EC, tcia: 2 metrics, msd class 1 and class 2: 2 each.
  EXPECT_NE(tex.find("\\begin{tabular}{lcccrrrrrr}\n"), std::string::npos) << tex;
  EXPECT_EQ(tex.find('|'), std::string::npos) << tex;
  EXPECT_NE(tex.find("\\cmidrule(lr){2-4}\\cmidrule(lr){5-6}\\cmidrule(lr){7-8}\\cmidrule(lr){9-10}"),
            std::string::npos) << tex;
}

// A note that holds a line break stays one line: after "% note:" it would otherwise leave the comment
// (and break the LaTeX), after "> note:" leave the quote.
TEST(ReportsNotes, MultiLineMessagesStayOneLine) {
  ReportConfig c = config_for({"dice"});
  c.rows = {"first\nsecond"};  // noted: no study has it
  const ComparisonTable t = comparison_table({testing::tcia_study()}, c, {});
  const std::string tex = render_latex(t);
  EXPECT_NE(tex.find("% note: report.rows names variant 'first second'"), std::string::npos) << tex;
  std::istringstream lines(tex.substr(tex.find("\\end{tabular}\n") + 14));
  for (std::string line; std::getline(lines, line);) EXPECT_EQ(line.rfind("% ", 0), 0u) << line;
  const std::string md = render_markdown(t);
  EXPECT_NE(md.find("> note: report.rows names variant 'first second'"), std::string::npos) << md;
  EXPECT_EQ(md.find("first\nsecond"), std::string::npos);
  EXPECT_EQ(one_line("a\r\nb\tc"), "a  b c");
}

TEST(ReportsFormat, FixedHasNoNegativeZeroAndNaNIsNa) {
  EXPECT_EQ(fixed(-0.0001, 2), "0.00");
  EXPECT_EQ(fixed(-0.006, 2), "-0.01");
  EXPECT_EQ(fixed(std::nan(""), 2), "n/a");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(html_escape("<a & 'b'>"), "&lt;a &amp; &#39;b&#39;&gt;");
  EXPECT_EQ(slug("Table II: KiTS/2019"), "table-ii-kits-2019");
  EXPECT_EQ(markdown_cell("a|b\nc"), "a\\|b c");
}

TEST(ReportsTable, ComponentCheckMarksFromCanonicalConfiguration) {
  const ComparisonTable t = comparison_table({testing::tcia_study()}, ReportConfig{}, {});
  // mus and dws are false everywhere: their columns are dropped; cc, sc, ec stay in the configured order.
  ASSERT_EQ(t.components, (std::vector<std::string>{"cc", "sc", "ec"}));
  ASSERT_EQ(t.rows.size(), 5u);
  EXPECT_EQ(t.rows[0].components, (std::vector<bool>{false, false, false}));
  EXPECT_EQ(t.rows[2].components, (std::vector<bool>{true, true, false}));
  EXPECT_EQ(t.rows[4].components, (std::vector<bool>{false, false, true}));
  EXPECT_TRUE(t.rows[0].baseline);
}

TEST(ReportsTable, RowsOrderAndBaselineFromConfig) {
  ReportConfig c;
  c.metrics = {"dice"};
  c.rows = {"coa3", "nosuch", "unet"};
  c.baseline = "cc";
  const ComparisonTable t = comparison_table({testing::tcia_study()}, c, {});
  ASSERT_EQ(t.rows.size(), 5u);
  EXPECT_EQ(t.rows[0].variant, "coa3");
  EXPECT_EQ(t.rows[1].variant, "unet");
  EXPECT_EQ(t.rows[2].variant, "cc");
  EXPECT_TRUE(t.rows[2].baseline);
  bool noted = false;
  for (const auto& n : t.notes) noted = noted || n.find("'nosuch'") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(ReportsSignificance, MarksAgainstBaselineWithHolm) {
  db::StudyData s;
  s.study = "sig";
  s.variants = {{"base", "Base", "", "", 0}, {"better", "Better", "", "", 1}, {"same", "Same", "", "", 2}};
  for (int c = 0; c < 10; ++c) {
    const std::string id = "c" + std::to_string(c);
    const double b = 0.6 + 0.01 * c;
    s.case_metrics.push_back({"base", 0, 0, id, 1, "dice", b});
    s.case_metrics.push_back({"better", 0, 0, id, 1, "dice", b + 0.05 + 0.001 * c});  // all 10 higher
    s.case_metrics.push_back({"same", 0, 0, id, 1, "dice", b + (c % 2 ? 0.001 : -0.001) * (c + 1)});
  }
  const ReportConfig cfg = config_for({"dice"});
  const std::vector<SignificanceRow> sig = significance_tests({s}, cfg, nullptr);
  ASSERT_EQ(sig.size(), 2u);
  EXPECT_EQ(sig[0].variant, "better");
  EXPECT_EQ(sig[0].unit, "case");
  EXPECT_EQ(sig[0].n, 10u);
  EXPECT_TRUE(sig[0].wilcoxon.exact);
  EXPECT_NEAR(sig[0].wilcoxon.p, 2.0 / 1024.0, 1e-12);        // exact: all ten differences positive
  EXPECT_NEAR(sig[0].wilcoxon_p_holm, 4.0 / 1024.0, 1e-12);   // Holm over the two comparisons: 2 p
  EXPECT_GT(sig[1].wilcoxon.p, 0.05);
  const ComparisonTable t = comparison_table({s}, config_for({"dice"}), sig);
  EXPECT_EQ(t.cells[1][0].mark, "**");
  EXPECT_EQ(t.cells[2][0].mark, "");
  EXPECT_EQ(t.cells[0][0].mark, "");  // the baseline itself
  EXPECT_NE(render_markdown(t).find("<sup>**</sup>"), std::string::npos);
  const std::string csv = significance_csv(sig);
  EXPECT_NE(csv.find("sig,1,dice,better,base,case,10,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",better,**\n"), std::string::npos) << csv;
}

// A variant significantly worse than the baseline is marked as such, not like an improvement; for a
// lower-is-better metric (hd95) smaller values are the improvement.
TEST(ReportsSignificance, MarksTellBetterFromWorse) {
  db::StudyData s;
  s.study = "dir";
  s.variants = {{"base", "Base", "", "", 0}, {"worse", "Worse", "", "", 1}, {"closer", "Closer", "", "", 2}};
  for (int c = 0; c < 10; ++c) {
    const std::string id = "c" + std::to_string(c);
    s.case_metrics.push_back({"base", 0, 0, id, 1, "dice", 0.8 + 0.01 * c});
    s.case_metrics.push_back({"worse", 0, 0, id, 1, "dice", 0.7 + 0.009 * c});   // all ten lower
    s.case_metrics.push_back({"closer", 0, 0, id, 1, "dice", 0.8 + 0.01 * c});   // the same: not tested
    s.case_metrics.push_back({"base", 0, 0, id, 1, "hd95", 10.0 + c});
    s.case_metrics.push_back({"worse", 0, 0, id, 1, "hd95", 12.0 + 1.1 * c});    // all ten farther
    s.case_metrics.push_back({"closer", 0, 0, id, 1, "hd95", 5.0 + 0.9 * c});    // all ten closer
  }
  const ReportConfig cfg = config_for({"dice", "hd95"});
  const std::vector<SignificanceRow> sig = significance_tests({s}, cfg, nullptr);
  ASSERT_EQ(sig.size(), 4u);  // dice: worse, closer; hd95: worse, closer
  EXPECT_EQ(sig[0].variant, "worse");
  EXPECT_EQ(sig[0].direction, -1);
  EXPECT_EQ(sig[1].direction, 0);  // no non-zero difference
  EXPECT_EQ(sig[2].direction, -1);
  EXPECT_EQ(sig[3].direction, 1);
  // Exact p = 2/1024 for ten differences of one sign; Holm over two comparisons: 4/1024 < 0.01.
  EXPECT_EQ(significance_mark(sig[0].wilcoxon_p_holm, sig[0].direction), "††");
  EXPECT_EQ(significance_mark(sig[3].wilcoxon_p_holm, sig[3].direction), "**");
  EXPECT_EQ(significance_mark(0.03, -1), "†");
  EXPECT_EQ(significance_mark(0.03, 1), "*");
  EXPECT_EQ(significance_mark(0.2, -1), "");
  const ComparisonTable t = comparison_table({s}, cfg, sig);
  const std::size_t dice = column(t, "dice"), hd = column(t, "hd95");
  EXPECT_EQ(t.cells[1][dice].mark, "††");
  EXPECT_EQ(t.cells[1][hd].mark, "††");
  EXPECT_EQ(t.cells[2][hd].mark, "**");
  EXPECT_NE(render_latex(t).find("$^{\\dagger\\dagger}$"), std::string::npos) << render_latex(t);
  EXPECT_NE(render_markdown(t).find("<sup>††</sup>"), std::string::npos);
  EXPECT_NE(render_markdown(t).find("† / †† : worse"), std::string::npos) << render_markdown(t);
  const std::string csv = significance_csv(sig);
  EXPECT_NE(csv.find("dir,1,hd95,worse,base,case,10,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",worse,††\n"), std::string::npos) << csv;
}

// The unit of the paired tests is the case: with two repeats a case is one pair (its repeats averaged),
// not two. Eight cases, repeats 0 and 1 in different folds, the variant 0.05 + 0.001 c above the
// baseline in both: n = 8, exact p = 2/2^8 (pairing per (fold, repeat, case) gave n = 16 and a p-value
// far smaller). The baseline's extra repeat 2, which the variant lacks, is left out of its case means
// (it would make the variant look worse).
TEST(ReportsSignificance, PairsPerCaseAveragedOverRepeats) {
  db::StudyData s;
  s.study = "rep";
  s.variants = {{"base", "Base", "", "", 0}, {"better", "Better", "", "", 1}};
  for (int c = 0; c < 8; ++c) {
    const std::string id = "c" + std::to_string(c);
    for (int r = 0; r < 2; ++r) {
      const double b = 0.6 + 0.01 * c + 0.02 * r;
      s.case_metrics.push_back({"base", (c + r) % 2, r, id, 1, "dice", b});
      s.case_metrics.push_back({"better", (c + r) % 2, r, id, 1, "dice", b + 0.05 + 0.001 * c});
    }
    s.case_metrics.push_back({"base", c % 2, 2, id, 1, "dice", 0.99});
  }
  const std::vector<SignificanceRow> sig = significance_tests({s}, config_for({"dice"}), nullptr);
  ASSERT_EQ(sig.size(), 1u);
  EXPECT_EQ(sig[0].unit, "case");
  EXPECT_EQ(sig[0].n, 8u);
  EXPECT_EQ(sig[0].wilcoxon.n, 8u);
  EXPECT_TRUE(sig[0].wilcoxon.exact);
  EXPECT_NEAR(sig[0].wilcoxon.statistic, 36.0, 1e-12);
  EXPECT_NEAR(sig[0].wilcoxon.p, 2.0 / 256.0, 1e-12);
  EXPECT_NEAR(sig[0].mean_difference, 0.0535, 1e-12);
  EXPECT_EQ(sig[0].t_test.n, 8u);
  EXPECT_NEAR(sig[0].t_test.df, 7.0, 1e-12);
  EXPECT_EQ(sig[0].direction, 1);
  EXPECT_NE(significance_csv(sig).find("rep,1,dice,better,base,case,8,"), std::string::npos) << significance_csv(sig);
}

TEST(ReportsTable, FoldPairingWhenNoCases) {
  const std::vector<SignificanceRow> sig = significance_tests({three_variants()}, config_for({"dice"}), nullptr);
  ASSERT_EQ(sig.size(), 2u);
  EXPECT_EQ(sig[0].unit, "fold");
  EXPECT_EQ(sig[0].n, 2u);
}

TEST(ReportsNa, EmptyStudyMissingMetricAndVariantWithoutResults) {
  db::StudyData empty;
  empty.study = "empty";
  ComparisonTable t = comparison_table({empty}, config_for({"dice"}), {});
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.cells[0][0].value, "n/a");
  std::string md = render_markdown(t);
  EXPECT_NE(md.find("n/a"), std::string::npos);
  EXPECT_NE(md.find("has no variants"), std::string::npos) << md;

  t = comparison_table({testing::tcia_study()}, config_for({"dice", "hd95"}), {});
  md = render_markdown(t);
  EXPECT_NE(md.find("no values of metric 'hd95' (stored: assd, dice, sensitivity)"), std::string::npos) << md;
  EXPECT_NE(md.find("variant 'ec' has no results"), std::string::npos) << md;
  EXPECT_EQ(t.cells[4][0].value, "n/a");
  EXPECT_EQ(t.cells[0][1].value, "n/a");

  // No studies at all.
  t = comparison_table({}, config_for({"dice"}), {});
  EXPECT_NE(render_markdown(t).find("n/a"), std::string::npos);
  EXPECT_NO_THROW(render_latex(t));
  EXPECT_NO_THROW(render_html(t));
  EXPECT_NO_THROW(render_csv(t));
}

TEST(ReportsTable, SeveralStudiesAndClassesSideBySide) {
  // The first study is named by the given layout (no report.dataset: its name); msd by its own stored
  // [report]: dataset "MSD", class 1 "pancreas", class 2 unnamed.
  const ComparisonTable t = comparison_table({testing::tcia_study(), testing::msd_study()}, config_for({"dice"}), {});
  ASSERT_EQ(t.groups.size(), 3u);
  EXPECT_EQ(t.groups[0].title, "tcia");
  EXPECT_EQ(t.groups[1].title, "MSD (pancreas)");
  EXPECT_EQ(t.groups[2].title, "MSD (class 2)");
  EXPECT_EQ(t.groups[2].dataset, "MSD");
  EXPECT_EQ(t.groups[2].class_name, "class 2");
  // Variants of msd line up by name; tcia-only variants show n/a for msd.
  EXPECT_EQ(t.rows[1].variant, "cc");
  EXPECT_NE(t.cells[1][1].value, "n/a");
  EXPECT_EQ(t.cells[2][1].value, "n/a");
}

TEST(ReportsTable, AggregateCasesPoolsCases) {
  ReportConfig c = config_for({"dice"});
  c.aggregate = "cases";
  const ComparisonTable t = comparison_table({testing::tcia_study()}, c, {});
  EXPECT_EQ(t.cells[0][0].stats.n, 12u);
  c.aggregate = "folds";
  EXPECT_EQ(comparison_table({testing::tcia_study()}, c, {}).cells[0][0].stats.n, 3u);
}

// aggregate = "cases" counts a case once: cases x, y, z over two repeats (0.2, 0.4, 0.9 and 0.4, 0.6,
// 0.7) give the case means 0.3, 0.5, 0.8: n = 3, mean 53.33 %, sd 25.17 % (the six rows pooled: n = 6,
// sd 25.03 %).
TEST(ReportsTable, AggregateCasesAveragesRepeatsPerCase) {
  ReportConfig c = config_for({"dice"});
  c.aggregate = "cases";
  const ComparisonTable t = comparison_table({three_cases_two_repeats()}, c, {});
  EXPECT_EQ(t.cells[0][0].stats.n, 3u);
  EXPECT_NEAR(t.cells[0][0].stats.mean, 160.0 / 3.0, 1e-9);
  EXPECT_NEAR(t.cells[0][0].stats.sd, 100.0 * std::sqrt(0.19 / 3.0), 1e-9);
  EXPECT_EQ(t.cells[0][0].value, "53.33 ± 25.17");
  EXPECT_NE(render_csv(t).find(",cases,percent,3,"), std::string::npos) << render_csv(t);
}

TEST(ReportsConfig, FromStoredStudyText) {
  std::vector<std::string> notes;
  const ReportConfig c = report_config_of(testing::tcia_study(), &notes);
  EXPECT_EQ(c.metrics, (std::vector<std::string>{"dice", "sensitivity", "assd"}));
  EXPECT_EQ(c.baseline, "unet");
  EXPECT_EQ(c.sweep_key, "loss.alpha");
  EXPECT_EQ(c.dataset, "TCIA");
  EXPECT_EQ(c.class_names, (std::vector<std::string>{"pancreas"}));
  EXPECT_TRUE(notes.empty()) << notes[0];

  // The fixture's resolved lines are what the coordinator writes for its study text.
  const db::StudyData tcia = testing::tcia_study();
  const std::string resolved = resolved_text(load_study_text(tcia.provenance.at("study_text"), "studies/tcia.toml").base);
  for (const auto& [key, literal] : canonical_values(tcia.provenance.at("study_resolved")))
    EXPECT_NE(resolved.find(key + " = " + literal + "\n"), std::string::npos) << key;

  // A store written before the resolved configuration was kept: the study text, the same layout.
  db::StudyData old = tcia;
  old.provenance.erase("study_resolved");
  const ReportConfig o = report_config_of(old, &notes);
  EXPECT_EQ(o.metrics, c.metrics);
  EXPECT_EQ(o.baseline, c.baseline);
  EXPECT_EQ(o.sweep_key, c.sweep_key);
  EXPECT_EQ(o.dataset, "TCIA");
  EXPECT_EQ(o.class_names, c.class_names);
  EXPECT_TRUE(notes.empty()) << notes[0];

  // An include that no longer resolves: the [report] section is read alone, with a note.
  db::StudyData s;
  s.study = "inc";
  s.provenance["study_text"] = "include = \"gone.toml\"\n[report]\ndecimals = 1\npercent = false\n";
  notes.clear();
  const ReportConfig d = report_config_of(s, &notes);
  EXPECT_EQ(d.decimals, 1);
  EXPECT_FALSE(d.percent);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("read alone"), std::string::npos);

  // Neither a resolved configuration nor a study text: defaults and a note.
  notes.clear();
  db::StudyData bare;
  bare.study = "bare";
  const ReportConfig e = report_config_of(bare, &notes);
  EXPECT_EQ(e.metrics, ReportConfig{}.metrics);
  EXPECT_EQ(notes.size(), 1u);
}

// A study whose [report] lives in an included base file: the resolved configuration stored by the
// coordinator keeps it, whatever happens to the base file after the run (edited, or gone). Reading the
// stored study text again would re-read the base from disk.
TEST(ReportsConfig, ResolvedConfigurationKeepsAnIncludedReport) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("ablate_reports_include_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "base.toml") << "[report]\nmetrics = [\"dice\", \"hd95_2d\"]\ndecimals = 1\n"
                                      "dataset = \"KiTS\"\nclass_names = [\"kidney\", \"tumour\"]\n";
  std::ofstream(dir / "study.toml") << "include = \"base.toml\"\n[study]\nname = \"kits\"\n";
  const Study study = load_study((dir / "study.toml").string());
  db::StudyData data;
  data.study = "kits";
  data.provenance["study_file"] = study.file;
  data.provenance["study_text"] = study.text;
  data.provenance["study_resolved"] = resolved_text(study.base);

  auto check = [&](const char* when) {
    std::vector<std::string> notes;
    const ReportConfig c = report_config_of(data, &notes);
    EXPECT_EQ(c.metrics, (std::vector<std::string>{"dice", "hd95_2d"})) << when;
    EXPECT_EQ(c.decimals, 1) << when;
    EXPECT_EQ(c.dataset, "KiTS") << when;
    EXPECT_EQ(c.class_names, (std::vector<std::string>{"kidney", "tumour"})) << when;
    EXPECT_TRUE(notes.empty()) << when << ": " << notes[0];
  };
  check("base file as at the run");
  std::ofstream(dir / "base.toml") << "[report]\ndecimals = 4\ndataset = \"edited\"\n";
  check("base file edited since");
  fs::remove(dir / "base.toml");
  check("base file gone");

  // The old path (study text only) loses the base's [report] once the base is gone: defaults, a note.
  data.provenance.erase("study_resolved");
  std::vector<std::string> notes;
  const ReportConfig c = report_config_of(data, &notes);
  EXPECT_EQ(c.decimals, ReportConfig{}.decimals);
  EXPECT_EQ(notes.size(), 1u);
  fs::remove_all(dir);
}

TEST(ReportsConfig, SchemaAcceptsPerSliceMetrics) {
  const Study s = load_study_text("[report]\nmetrics = [\"dice_2d\", \"hd95_2d\", \"dice\"]\n", "/tmp/x.toml");
  EXPECT_EQ(s.base.report.metrics, (std::vector<std::string>{"dice_2d", "hd95_2d", "dice"}));
  EXPECT_THROW(load_study_text("[report]\nmetrics = [\"dice_3d\"]\n", "/tmp/x.toml"), SpecError);
}

// Per-study names everywhere: column groups (every format), box plots, the per-study tables.
TEST(ReportsNames, DatasetAndClassNamesInEveryFormat) {
  ReportConfig c = config_for({"dice"});
  c.dataset = "TCIA";
  c.class_names = {"pancreas"};
  const ComparisonTable t = comparison_table({testing::tcia_study(), testing::msd_study()}, c, {});
  EXPECT_EQ(t.groups[0].title, "TCIA (pancreas)");  // a single class shows when it is named
  const std::string md = render_markdown(t);
  EXPECT_NE(md.find("| TCIA (pancreas) DSC | MSD (pancreas) DSC | MSD (class 2) DSC |"), std::string::npos) << md;
  const std::string tex = render_latex(t);
  EXPECT_NE(tex.find("\\multicolumn{1}{c}{TCIA (pancreas)} & \\multicolumn{1}{c}{MSD (pancreas)}"), std::string::npos)
      << tex;
  EXPECT_NE(render_html(t).find(">MSD (class 2)</th>"), std::string::npos);
  const std::string csv = render_csv(t);
  EXPECT_NE(csv.find("msd,2,MSD,class 2,unet,U-Net,true,dice,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("tcia,1,TCIA,pancreas,unet,"), std::string::npos) << csv;

  // One unnamed group without report.dataset: the Markdown header stays as it was.
  const std::string plain = render_markdown(comparison_table({testing::tcia_study()}, config_for({"dice"}), {}));
  EXPECT_NE(plain.find("| Method | CC | SC | EC | DSC |"), std::string::npos) << plain;

  const std::vector<BoxRow> boxes = box_rows(testing::msd_study());
  ASSERT_EQ(boxes.size(), 4u);  // dice x 2 classes x 2 variants
  EXPECT_EQ(boxes[0].class_name, "pancreas");
  EXPECT_EQ(boxes[2].class_name, "class 2");
  const std::string svg = box_svg("msd", boxes);
  EXPECT_NE(svg.find(">pancreas DSC</text>"), std::string::npos);
  EXPECT_NE(svg.find(">class 2 DSC</text>"), std::string::npos);
  EXPECT_NE(box_csv(boxes).find("msd,unet,U-Net,dice,2,class 2,6,"), std::string::npos) << box_csv(boxes);
}

// The model table (003 Table 6 shape) has every class, not the first only. msd's dice, fold means
// (hand-computed from the fixture): U-Net class 1 0.71, class 2 0.81; U-Net+CC class 1 0.76, class 2 0.86
// (the same in both folds, sd 0).
TEST(ReportsModelTable, EveryClass) {
  ReportConfig c = config_for({"dice"});
  c.class_names = {"pancreas"};
  const std::string md = render_model_markdown(testing::msd_study(), c);
  EXPECT_NE(md.find("| Method | Parameters (M) | Inference (ms/case) ↓ | pancreas DSC | class 2 DSC |"),
            std::string::npos) << md;
  EXPECT_NE(md.find("| U-Net | n/a | n/a | 71.00 ± 0.00 | 81.00 ± 0.00 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| U-Net+CC | n/a | n/a | 76.00 ± 0.00 | 86.00 ± 0.00 |"), std::string::npos) << md;
  const std::string csv = render_model_csv(testing::msd_study(), c);
  EXPECT_NE(csv.find("msd,cc,U-Net+CC,NA,NA,2,dice,2,86,0\n"), std::string::npos) << csv;
}

// Accuracy against cost: scripted points (parameters in M, Dice) a (1, 0.70), b (2, 0.80), c (3, 0.75),
// d (4, 0.90). c is dominated by b (more parameters, lower Dice); a, b, d form the front. The reference
// point is (4 + 0.1 * 3, 0.70 - 0.1 * 0.20) = (4.3, 0.68), and the hypervolume, the area between the step
// line and it, is 1 * 0.02 + 2 * 0.12 + 0.3 * 0.22 = 0.326 by hand. All take 5 ms per case: against
// inference time only d is on the front (same cost, best Dice), and the cost's range is 0, so its
// reference is 5 + 1 = 6 and the hypervolume 1 * 0.22.
TEST(ReportsPareto, FrontHypervolumeAndReferenceOnScriptedPoints) {
  db::StudyData s;
  s.study = "prune";
  const std::vector<std::tuple<std::string, double, double>> points = {
      {"a", 1, 0.70}, {"b", 2, 0.80}, {"c", 3, 0.75}, {"d", 4, 0.90}};
  int k = 0;
  for (const auto& [name, params_m, dice] : points) {
    s.variants.push_back({name, "L" + name, "h" + name, "", k++});
    for (int fold = 0; fold < 2; ++fold) s.fold_metrics.push_back({name, fold, 0, 1, "dice", dice + (fold ? 0.01 : -0.01)});
    s.model_facts.push_back({name, static_cast<std::int64_t>(params_m * 1e6), 5.0});
  }
  ReportConfig c = config_for({"dice"});
  c.percent = false;
  const auto panels = pareto_panels(s, c);
  ASSERT_EQ(panels.size(), 2u);
  EXPECT_EQ(panels[0].cost, "params");
  ASSERT_EQ(panels[0].points.size(), 4u);
  const std::vector<bool> front = {true, true, false, true};
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(panels[0].points[i].front, front[i]) << panels[0].points[i].variant;
  EXPECT_NEAR(panels[0].reference_cost, 4.3, 1e-12);
  EXPECT_NEAR(panels[0].reference_value, 0.68, 1e-12);
  EXPECT_NEAR(panels[0].hypervolume, 0.326, 1e-12);
  EXPECT_EQ(panels[1].cost, "inference_ms");
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(panels[1].points[i].front, i == 3) << panels[1].points[i].variant;
  EXPECT_NEAR(panels[1].reference_cost, 6, 1e-12);
  EXPECT_NEAR(panels[1].hypervolume, 0.22, 1e-12);

  const std::string md = render_pareto_markdown(panels, 2);
  EXPECT_NE(md.find("**DSC against Parameters (M)**: 3 of 4 variant(s) non-dominated; hypervolume 0.3260 against the "
                    "reference point Parameters (M) 4.3000, DSC 0.680"),
            std::string::npos) << md;
  // The table lists the non-dominated variants only.
  EXPECT_NE(md.find("| La | 1.0000 | 0.70 |\n| Lb | 2.0000 | 0.80 |\n| Ld | 4.0000 | 0.90 |\n"), std::string::npos) << md;
  EXPECT_EQ(md.find("| Lc |"), std::string::npos) << md;
  const std::string csv = render_pareto_csv("prune", panels);
  EXPECT_NE(csv.find("prune,params,1,dice,c,Lc,3,0.75,0\n"), std::string::npos) << csv;
  // The figure: c grey, the others in colour, the front a step line through (1, .7) (2, .7) (2, .8) (4, .8) (4, .9).
  const std::string svg = pareto_svg("t", panels);
  EXPECT_NE(svg.find("fill=\"#bbbbbb\"><title>Lc (dominated)</title>"), std::string::npos) << svg;
  EXPECT_NE(svg.find("<title>Ld (non-dominated)</title>"), std::string::npos);
  const auto line = svg.find("<polyline points=\"");
  ASSERT_NE(line, std::string::npos);
  const std::string pts = svg.substr(line + 18, svg.find('"', line + 18) - line - 18);
  EXPECT_EQ(std::count(pts.begin(), pts.end(), ','), 5) << pts;  // 3 points and 2 corners
}

// The sensitivity table has a column per class × metric: class 2 is not dropped.
TEST(ReportsSensitivity, EveryClass) {
  db::StudyData s;
  s.study = "sweep";
  s.variants = {{"a3", "α=0.3", "", "loss.alpha = 0.3\n", 0}, {"a7", "α=0.7", "", "loss.alpha = 0.7\n", 1}};
  for (int k = 0; k < 2; ++k)
    for (int cls = 1; cls <= 2; ++cls)
      s.fold_metrics.push_back({s.variants[static_cast<std::size_t>(k)].name, 0, 0, cls, "dice", 0.5 + 0.1 * k + 0.2 * cls});
  const SensitivityTable t = sensitivity_table(s, config_for({"dice"}), "loss.alpha");
  ASSERT_EQ(t.columns.size(), 2u);
  EXPECT_EQ(t.columns[1].cls, 2);
  EXPECT_EQ(t.columns[1].title, "class 2 DSC");
  ASSERT_EQ(t.series.size(), 1u);
  ASSERT_EQ(t.series[0].points.size(), 2u);
  EXPECT_NEAR(t.series[0].points[1].metrics[0].mean, 80.0, 1e-9);  // α = 0.7, class 1: 0.5 + 0.1 + 0.2
  EXPECT_NEAR(t.series[0].points[1].metrics[1].mean, 100.0, 1e-9);  // class 2: 0.5 + 0.1 + 0.4
  const std::string md = render_sensitivity_markdown(t);
  EXPECT_NE(md.find("| loss.alpha | class 1 DSC | class 2 DSC |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 0.7 | 80.00 | 100.00 |"), std::string::npos) << md;
  EXPECT_NE(render_sensitivity_csv(t).find("sweep,loss.alpha,,0.3,a3,2,dice,1,90,0\n"), std::string::npos)
      << render_sensitivity_csv(t);
  EXPECT_NE(sensitivity_svg(t).find(">class 2 DSC</text>"), std::string::npos);
}

TEST(ReportsSensitivity, SeriesOfTheSweptKey) {
  ReportConfig c = config_for({"dice"});
  const SensitivityTable t = sensitivity_table(testing::tcia_study(), c, "loss.alpha");
  // Series: {unet}, {cc}, {coa3, coa7}, {ec} (the variants agreeing on every other key).
  ASSERT_EQ(t.series.size(), 4u);
  ASSERT_EQ(t.series[2].points.size(), 2u);
  EXPECT_DOUBLE_EQ(t.series[2].points[0].x, 0.3);
  EXPECT_DOUBLE_EQ(t.series[2].points[1].x, 0.7);
  EXPECT_EQ(t.series[2].label, "model.cc=true, model.ec=false, model.sc=true");
  EXPECT_EQ(t.series[3].points[0].metrics[0].n, 0u);  // ec: no results
  EXPECT_TRUE(sensitivity_table(testing::tcia_study(), c, "no.such").series.empty());
}

// A case is one subject: over two repeats it is counted once, with the mean of its two values.
// Cases x, y, z; repeat 0: 0.2, 0.4, 0.9; repeat 1: 0.4, 0.6, 0.7 -> means 0.3, 0.5, 0.8: n = 3, median
// 0.5, q1 = 0.4, q3 = 0.65 (type 7). Pooled rows would give n = 6 and median 0.5 (q1 0.4, q3 0.675).
TEST(ReportsBoxRows, CasesAveragedOverRepeats) {
  const std::vector<BoxRow> rows = box_rows(three_cases_two_repeats());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].stats.n, 3u);
  EXPECT_NEAR(rows[0].stats.min, 0.3, 1e-12);
  EXPECT_NEAR(rows[0].stats.q1, 0.4, 1e-12);
  EXPECT_NEAR(rows[0].stats.median, 0.5, 1e-12);
  EXPECT_NEAR(rows[0].stats.q3, 0.65, 1e-12);
  EXPECT_NEAR(rows[0].stats.max, 0.8, 1e-12);
}

// A variant keeps its colour in every panel, also where a panel lacks a variant before it.
TEST(ReportsBoxSvg, ColourFollowsTheVariant) {
  db::StudyData s;
  s.study = "col";
  s.variants = {{"a", "A", "", "", 0}, {"b", "B", "", "", 1}};
  for (int c = 0; c < 4; ++c) {
    const std::string id = "c" + std::to_string(c);
    s.case_metrics.push_back({"a", 0, 0, id, 1, "dice", 0.7 + 0.01 * c});
    s.case_metrics.push_back({"b", 0, 0, id, 1, "dice", 0.8 + 0.01 * c});
    s.case_metrics.push_back({"b", 0, 0, id, 1, "hd95", 3.0 + c});  // a has no hd95
  }
  const std::vector<BoxRow> rows = box_rows(s);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2].variant_index, 1u);
  const std::string svg = box_svg("col", rows);
  auto count = [&](const std::string& what) {
    std::size_t n = 0;
    for (std::size_t p = svg.find(what); p != std::string::npos; p = svg.find(what, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("fill=\"#4e79a7\" fill-opacity"), 1u) << svg;  // a: one box
  EXPECT_EQ(count("fill=\"#f28e2b\" fill-opacity"), 2u) << svg;  // b: both panels
}

TEST(ReportsBoxRows, FromCases) {
  const std::vector<BoxRow> rows = box_rows(testing::tcia_study());
  // 3 metrics x 4 variants with cases, metrics in display order dice, sensitivity, assd.
  ASSERT_EQ(rows.size(), 12u);
  EXPECT_EQ(rows[0].metric, "dice");
  EXPECT_EQ(rows[4].metric, "sensitivity");
  EXPECT_EQ(rows[8].metric, "assd");
  EXPECT_EQ(rows[8].variant, "unet");
  EXPECT_EQ(rows[8].stats.n, 12u);
  // unet's assd has one case at +9 mm: an outlier.
  ASSERT_EQ(rows[8].stats.outliers.size(), 1u);
  EXPECT_GT(rows[8].stats.outliers[0], 13.0);
}

// The trivial predictors' case rows (stored under every variant's evaluation as "<predictor>:<metric>")
// become two rows under the variants, pooled over the variants, never ranked, and stay out of the
// metrics and the box plots; a note says when no variant clears them by 5 DSC points.
db::StudyData with_trivial(double dice_a, double dice_b) {
  db::StudyData s;
  s.study = "triv";
  s.variants = {{"a", "A", "", "", 0}, {"b", "B", "", "", 1}};
  const double dice[] = {dice_a, dice_b};
  for (int k = 0; k < 2; ++k)
    for (int fold = 0; fold < 2; ++fold)
      for (const char* id : {"x", "y"}) {
        const std::string v = s.variants[static_cast<std::size_t>(k)].name,
                          cid = std::string(id) + std::to_string(fold);
        s.case_metrics.push_back({v, fold, 0, cid, 1, "dice", dice[k]});
        s.case_metrics.push_back({v, fold, 0, cid, 1, "all_background:dice", 0.0});
        s.case_metrics.push_back({v, fold, 0, cid, 1, "all_foreground:dice", 0.04});
      }
  return s;
}

TEST(ReportsTable, TrivialPredictorsAreRowsUnderTheVariants) {
  const std::vector<db::StudyData> studies = {with_trivial(0.30, 0.80)};
  const ComparisonTable t = comparison_table(studies, config_for({"dice"}), {});
  ASSERT_EQ(t.rows.size(), 2u);
  ASSERT_EQ(t.trivial.size(), 2u);
  EXPECT_EQ(t.trivial[0].predictor, "all_background");
  EXPECT_EQ(t.trivial[1].predictor, "all_foreground");
  EXPECT_EQ(t.trivial[1].cells[0].value, "4.00 ± 0.00");
  EXPECT_EQ(t.trivial[1].cells[0].stats.n, 2u);  // one value per fold, pooled over the variants
  EXPECT_EQ(t.trivial[1].cells[0].rank, 0);
  EXPECT_EQ(t.cells[1][0].rank, 1);  // the variants rank among themselves only
  for (const auto& n : t.notes) EXPECT_EQ(n.find("trivial"), std::string::npos) << n;
  const std::string md = render_markdown(t);
  EXPECT_NE(md.find("| *all foreground (trivial)* | *4.00 ± 0.00* |"), std::string::npos) << md;
  EXPECT_NE(render_csv(t).find(",(all_foreground),all foreground (trivial),false,dice,"), std::string::npos);
  EXPECT_NE(render_html(t).find("<tr class=\"trivial\">"), std::string::npos);
  EXPECT_NE(render_latex(t).find("\\textit{all foreground (trivial)}"), std::string::npos);
  // Not a metric of the study: no box of it.
  for (const auto& b : box_rows(studies[0])) EXPECT_EQ(b.metric, "dice");
}

TEST(ReportsTable, ANoteWhenNoVariantBeatsTheTrivialPredictors) {
  // Best 8 % against all foreground's 4 %: within 5 points, so not learnt.
  const ComparisonTable t = comparison_table({with_trivial(0.02, 0.08)}, config_for({"dice"}), {});
  bool noted = false;
  for (const auto& n : t.notes)
    noted =
        noted ||
        n.find("no variant beats the trivial predictors clearly (best 8.00, all foreground (trivial) 4.00") !=
            std::string::npos;
  EXPECT_TRUE(noted) << render_markdown(t);
}

TEST(ReportsTable, NoTrivialRowsWithoutTheirCaseRows) {
  const ComparisonTable t = comparison_table({three_variants()}, config_for({"dice"}), {});
  EXPECT_TRUE(t.trivial.empty());
  EXPECT_EQ(render_markdown(t).find("trivial"), std::string::npos);
}

}  // namespace
}  // namespace ablate::reports
