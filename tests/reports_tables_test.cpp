// Comparison table: bold/underline choice (also for lower-is-better metrics), significance marks, LaTeX
// escaping, n/a handling, layout from the stored [report] section.
#include <gtest/gtest.h>

#include <cmath>

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
  const ComparisonTable t = comparison_table({testing::tcia_study(), testing::msd_study()}, config_for({"dice"}), {});
  ASSERT_EQ(t.groups.size(), 3u);
  EXPECT_EQ(t.groups[0].title, "tcia");
  EXPECT_EQ(t.groups[1].title, "msd (class 1)");
  EXPECT_EQ(t.groups[2].title, "msd (class 2)");
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

TEST(ReportsConfig, FromStoredStudyText) {
  std::vector<std::string> notes;
  const ReportConfig c = report_config_of(testing::tcia_study(), &notes);
  EXPECT_EQ(c.metrics, (std::vector<std::string>{"dice", "sensitivity", "assd"}));
  EXPECT_EQ(c.baseline, "unet");
  EXPECT_EQ(c.sweep_key, "loss.alpha");
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

  // No study text: defaults and a note.
  notes.clear();
  const ReportConfig e = report_config_of(testing::msd_study(), &notes);
  EXPECT_EQ(e.metrics, ReportConfig{}.metrics);
  EXPECT_EQ(notes.size(), 1u);
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

}  // namespace
}  // namespace ablate::reports
