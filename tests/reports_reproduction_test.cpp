// Reproduction check: the interval rule, the direction of each component, Kendall's τ and the text,
// against values computed by hand (R's outputs quoted) on a small store built here; and that a study
// without published values changes nothing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ablations/published.hpp"
#include "ablations/study.hpp"
#include "reports/reproduction.hpp"
#include "reports/study_index.hpp"
#include "reports_fixture.hpp"

using namespace ablate;
using namespace ablate::reports;
namespace fs = std::filesystem;

namespace {

// Three rows, three folds of per-fold Dice only (so the paired tests pair the folds, n = 3):
//   U-Net     0.60 0.62 0.64   mean 62 %, sd 2
//   U-Net+CC  0.70 0.71 0.75   mean 72 %, sd √7 = 2.6458
//   U-Net+EC  0.58 0.60 0.59   mean 59 %, sd 1
db::StudyData small_study() {
  db::StudyData s;
  s.study = "small";
  s.variants.push_back({"unet", "U-Net", "h0", "model.cc = false\nmodel.ec = false\n", 0});
  s.variants.push_back({"cc", "U-Net+CC", "h1", "model.cc = true\nmodel.ec = false\n", 1});
  s.variants.push_back({"ec", "U-Net+EC", "h2", "model.cc = false\nmodel.ec = true\n", 2});
  const std::vector<std::vector<double>> dice = {{0.60, 0.62, 0.64}, {0.70, 0.71, 0.75}, {0.58, 0.60, 0.59}};
  for (std::size_t v = 0; v < 3; ++v)
    for (int fold = 0; fold < 3; ++fold)
      s.fold_metrics.push_back({s.variants[v].name, fold, 0, 1, "dice", dice[v][static_cast<std::size_t>(fold)]});
  s.model_facts.push_back({"unet", 31042434, 10.0});
  return s;
}

// Published: U-Net 65 (inside our interval), U-Net+CC 80 (above it), U-Net+EC 70 (above it; the paper
// has EC improving Dice, we have it worsening).
ReportConfig small_config() {
  ReportConfig c;
  c.metrics = {"dice"};
  PublishedTable p;
  p.source = "001 Table II";
  p.dataset = "MSD";
  p.values["U-Net"]["dice"] = 65.0;
  p.values["cc"]["dice"] = 80.0;  // by name
  p.values["U-Net+EC"]["dice"] = 70.0;
  p.values["U-Net"]["params"] = 31.04;
  c.published = published_text({p});
  return c;
}

struct Built {
  std::vector<db::StudyData> studies;
  std::vector<StudyIndex> indexes;
  ComparisonTable table;
  Reproduction r;
};
Built build(const ReportConfig& config) {
  Built b;
  b.studies = {small_study()};
  b.indexes = make_indexes(b.studies, config);
  const auto sig = significance_tests(b.studies, b.indexes, config, nullptr);
  b.table = comparison_table(b.studies, b.indexes, config, sig);
  b.r = reproduction(b.studies, b.indexes, config, b.table);
  return b;
}

const ReproductionCell& cell(const Reproduction& r, const std::string& variant, const std::string& metric) {
  for (const auto& c : r.cells)
    if (c.variant == variant && c.metric == metric) return c;
  throw std::runtime_error("no cell " + variant + " " + metric);
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(Reproduction, StudentTQuantiles) {
  // R: qt(0.975, c(1, 2, 10)) = 12.706205, 4.302653, 2.228139
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.706205, 1e-5);
  EXPECT_NEAR(student_t_quantile(0.975, 2), 4.302653, 1e-6);
  EXPECT_NEAR(student_t_quantile(0.975, 10), 2.228139, 1e-6);
  EXPECT_NEAR(student_t_quantile(0.025, 10), -2.228139, 1e-6);
}

TEST(Reproduction, KendallTauAgainstHandAndR) {
  // No ties, exact: x = 1..4, y = 1 3 2 4: 5 concordant, 1 discordant pair, S = 4, τ = 4/6; P(q >= 5) over the
  // 24 permutations = (1 + 3)/24, doubled: 1/3 (R: cor.test(1:4, c(1,3,2,4), method = "kendall"): p = 0.3333).
  KendallResult k = kendall_tau({1, 2, 3, 4}, {1, 3, 2, 4});
  EXPECT_TRUE(k.exact);
  EXPECT_DOUBLE_EQ(k.s, 4);
  EXPECT_NEAR(k.tau, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(k.p, 1.0 / 3.0, 1e-12);
  // Perfect order of 5: τ = 1, p = 2/120 (R: 0.01667).
  k = kendall_tau({1, 2, 3, 4, 5}, {10, 20, 30, 40, 50});
  EXPECT_DOUBLE_EQ(k.tau, 1);
  EXPECT_NEAR(k.p, 2.0 / 120.0, 1e-12);
  // Ties on both sides: normal approximation. x = 1 2 2 3, y = 1 2 3 3: S = 4, n0 = 6, one tied pair per
  // side: τ_b = 4 / √(5 · 5) = 0.8; var(S) = (4·3·13 − 2·18)/18 + 0 + (2·2)/(2·4·3) = 6.8333,
  // z = 4/√6.8333 = 1.5302, p = 0.12597 (R: cor.test(..., exact = FALSE): z = 1.5302, p = 0.126).
  k = kendall_tau({1, 2, 2, 3}, {1, 2, 3, 3});
  EXPECT_FALSE(k.exact);
  EXPECT_TRUE(k.ties);
  EXPECT_NEAR(k.tau, 0.8, 1e-12);
  EXPECT_NEAR(k.p, 0.12597, 2e-5);
  // Undefined for fewer than two rows or a constant side.
  EXPECT_TRUE(std::isnan(kendall_tau({1}, {2}).tau));
  EXPECT_TRUE(std::isnan(kendall_tau({1, 1, 1}, {1, 2, 3}).tau));
}

TEST(Reproduction, IntervalRuleAgainstHandValues) {
  const Built b = build(small_config());
  ASSERT_EQ(b.r.sources.size(), 1u);
  EXPECT_EQ(b.r.sources[0].group, 0u);  // dataset MSD matches no group: the only one is taken, with a note
  ASSERT_FALSE(b.r.notes.empty());
  EXPECT_NE(b.r.notes[0].find("compared with the only one, 'small'"), std::string::npos) << b.r.notes[0];
  // U-Net: 62 ± 4.302653 · 2/√3 = [57.0317, 66.9683]; 65 inside.
  const ReproductionCell& u = cell(b.r, "unet", "dice");
  EXPECT_NEAR(u.ours.mean, 62, 1e-9);
  EXPECT_NEAR(u.low, 62 - 4.302653 * 2 / std::sqrt(3.0), 1e-5);
  EXPECT_NEAR(u.high, 62 + 4.302653 * 2 / std::sqrt(3.0), 1e-5);
  EXPECT_EQ(u.inside, 1);
  EXPECT_NEAR(u.difference, -3, 1e-9);
  // U-Net+CC (published by name): 72 ± 4.302653 · √7/√3 = [65.4276, 78.5724]; 80 outside.
  const ReproductionCell& cc = cell(b.r, "cc", "dice");
  EXPECT_NEAR(cc.high, 72 + 4.302653 * std::sqrt(7.0) / std::sqrt(3.0), 1e-5);
  EXPECT_EQ(cc.inside, 0);
  EXPECT_EQ(cell(b.r, "ec", "dice").inside, 0);
  // Parameters: one value, no interval; the difference in millions.
  const ReproductionCell& params = cell(b.r, "unet", "params");
  EXPECT_EQ(params.inside, -1);
  EXPECT_NEAR(params.difference, 31.042434 - 31.04, 1e-9);
  EXPECT_EQ(params.column, static_cast<std::size_t>(-1));
}

TEST(Reproduction, ScaleRatioAndPercentDisplay) {
  ReportConfig c = small_config();
  PublishedTable p;
  p.source = "ratio table";
  p.scale = "ratio";
  p.values["U-Net"]["dice"] = 0.65;
  c.published = published_text({p});
  EXPECT_NEAR(cell(build(c).r, "unet", "dice").published, 65.0, 1e-9);  // shown in percent
  c.percent = false;
  const Built b = build(c);
  EXPECT_NEAR(cell(b.r, "unet", "dice").published, 0.65, 1e-12);
  EXPECT_NEAR(cell(b.r, "unet", "dice").ours.mean, 0.62, 1e-12);
}

TEST(Reproduction, ComponentDirectionsAndTheirTests) {
  const Built b = build(small_config());
  ASSERT_EQ(b.table.components, (std::vector<std::string>{"cc", "ec"}));
  ASSERT_EQ(b.r.steps.size(), 2u);
  const ComponentStep& cc = b.r.steps[0];
  EXPECT_EQ(cc.component, "cc");
  EXPECT_EQ(b.table.rows[cc.from].variant, "unet");
  EXPECT_EQ(b.table.rows[cc.to].variant, "cc");
  EXPECT_NEAR(cc.published_delta, 15, 1e-9);
  EXPECT_NEAR(cc.our_delta, 10, 1e-9);
  EXPECT_EQ(cc.agree, 1);
  // Paired by fold (no case rows): differences 0.10, 0.09, 0.11 all positive, V = 6, exact p = 2/8.
  EXPECT_EQ(cc.test.unit, "fold");
  EXPECT_EQ(cc.test.n, 3u);
  EXPECT_DOUBLE_EQ(cc.test.wilcoxon.statistic, 6);
  EXPECT_NEAR(cc.test.wilcoxon.p, 0.25, 1e-12);
  EXPECT_GE(cc.p_holm, 0.25);
  EXPECT_FALSE(cc.significant);
  const ComponentStep& ec = b.r.steps[1];
  EXPECT_EQ(ec.component, "ec");
  EXPECT_EQ(ec.published_direction, 1);
  EXPECT_EQ(ec.our_direction, -1);
  EXPECT_EQ(ec.agree, 0);
  // Kendall: published 65 80 70 against ours 62 72 59: S = 1, τ = 1/3, exact p = 1 (R: 1).
  ASSERT_EQ(b.r.ranks.size(), 2u);  // dice and params
  EXPECT_EQ(b.r.ranks[0].metric, "dice");
  EXPECT_NEAR(b.r.ranks[0].kendall.tau, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(b.r.ranks[0].kendall.p, 1.0, 1e-12);
  // The text says it from the numbers.
  ASSERT_EQ(b.r.summaries.size(), 1u);
  const std::string& s = b.r.summaries[0];
  EXPECT_NE(s.find("1 of 3 published values lie inside our 95 % intervals (t-intervals over the folds of each cell, n = 3)"),
            std::string::npos) << s;
  EXPECT_NE(s.find("CC (p = "), std::string::npos) << s;
  EXPECT_NE(s.find(") improves DSC in both"), std::string::npos) << s;
  EXPECT_NE(s.find("EC improves DSC in the paper, worsens it here (p = "), std::string::npos) << s;
  EXPECT_NE(s.find("DSC τ = 0.33 (p = 1.000, n = 3)"), std::string::npos) << s;
}

TEST(Reproduction, SmallScaleIsSaidFromTheNumbers) {
  // Published rows that differ by less than our spread: the text says the verdicts are expected to disagree.
  ReportConfig c = small_config();
  PublishedTable p;
  p.source = "close rows";
  p.values["U-Net"]["dice"] = 65.0;
  p.values["U-Net+CC"]["dice"] = 65.5;
  c.published = published_text({p});
  const Built b = build(c);
  EXPECT_NE(b.r.summaries[0].find("(range 0.50): at this scale the differences between rows are within our noise"),
            std::string::npos)
      << b.r.summaries[0];
  // Not said where the published rows spread more than our cells and lie closer to ours than to each other.
  EXPECT_EQ(build(small_config()).r.summaries[0].find("expected to disagree"), std::string::npos);
  // Our means far from the paper's (U-Net 62 against 95, U-Net+CC 72 against 100): a median gap of 30.5,
  // more than the published range 5, which is more than our median sd (2.32).
  p.values["U-Net"]["dice"] = 95.0;
  p.values["U-Net+CC"]["dice"] = 100.0;
  c.published = published_text({p});
  EXPECT_NE(build(c).r.summaries[0].find("Our DSC lies a median 30.50 from the published values, further than the "
                                         "published rows differ from each other (range 5.00): this is not the "
                                         "paper's setting (data, scale or training), so the verdicts"),
            std::string::npos)
      << build(c).r.summaries[0];
}

TEST(Reproduction, TablesMarkThePublishedValues) {
  ReportConfig c = small_config();
  Built b = build(c);
  mark_published(b.table, b.r, false);
  const std::string md = render_markdown(b.table);
  EXPECT_NE(md.find("<u>62.00 ± 2.00</u> <sub>paper 65.00 ✓</sub>"), std::string::npos) << md;
  EXPECT_NE(md.find("<sub>paper 80.00 ✗</sub>"), std::string::npos) << md;
  EXPECT_NE(md.find("paper: the published mean (001 Table II), ✓ inside, ✗ outside our 95 % t-interval"),
            std::string::npos);
  const std::string csv = render_csv(b.table);
  EXPECT_NE(csv.find(",mark,published,published_inside\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",65,true\n"), std::string::npos) << csv;
  const std::string tex = render_latex(b.table);
  EXPECT_NE(tex.find("{\\scriptsize(65.00\\,\\checkmark)}"), std::string::npos) << tex;
  EXPECT_NE(tex.find("{\\scriptsize(80.00\\,$\\times$)}"), std::string::npos) << tex;
  EXPECT_NE(render_html(b.table).find("<sub class=\"pub\">paper 65.00 ✓</sub>"), std::string::npos);
  // report.published_columns: a column group of its own in LaTeX instead.
  Built cols = build(c);
  mark_published(cols.table, cols.r, true);
  const std::string tex2 = render_latex(cols.table);
  EXPECT_EQ(tex2.find("scriptsize"), std::string::npos);
  EXPECT_NE(tex2.find("\\begin{tabular}{lccrr}"), std::string::npos) << tex2;
  EXPECT_NE(tex2.find("\\multicolumn{1}{c}{Published}"), std::string::npos) << tex2;
  EXPECT_NE(tex2.find(" & 65.00\\,\\checkmark \\\\"), std::string::npos) << tex2;
}

TEST(Reproduction, UnmatchedGroupAndRowAreNoted) {
  ReportConfig c = small_config();
  PublishedTable p;
  p.source = "x";
  p.values["nobody"]["dice"] = 50;
  p.values["U-Net"]["dice"] = 60;
  c.published = published_text({p});
  const Built b = build(c);
  bool noted = false;
  // One line per table, as `ablate plan` notes it (ablations/published.hpp unmatched_rows_note).
  for (const auto& n : b.r.notes) noted = noted || n == "1 of 2 published rows of x has no variant in this study: nobody";
  EXPECT_TRUE(noted);
  // Two groups, a dataset naming neither: left out.
  std::vector<db::StudyData> two = {ablate::reports::testing::tcia_study(), ablate::reports::testing::msd_study()};
  ReportConfig c2;
  c2.metrics = {"dice"};
  PublishedTable q;
  q.source = "y";
  q.dataset = "KiTS";
  q.values["U-Net"]["dice"] = 60;
  c2.published = published_text({q});
  const auto idx = make_indexes(two, c2);
  const ComparisonTable t = comparison_table(two, idx, c2, {});
  const Reproduction r = reproduction(two, idx, c2, t);
  EXPECT_TRUE(r.empty());
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("names no column group of the table (groups: tcia, MSD (pancreas), MSD (class 2))"),
            std::string::npos) << r.notes[0];
  // Matched by the group's title.
  q.dataset = "MSD (class 2)";
  c2.published = published_text({q});
  const Reproduction r2 = reproduction(two, idx, c2, t);
  ASSERT_EQ(r2.sources.size(), 1u);
  EXPECT_EQ(r2.sources[0].group, 2u);
  EXPECT_NEAR(cell(r2, "unet", "dice").ours.mean, 100 * (0.60 + 0.2 + 0.01), 1e-9);
}

TEST(Reproduction, ReportWritesTheSectionFromTheStoredConfiguration) {
  // The published values travel in the stored resolved configuration, as the coordinator stores it.
  db::StudyData s = small_study();
  VariantConfig vc;
  vc.report = small_config();
  s.provenance["study_resolved"] = resolved_text(vc);
  const fs::path dir = fs::temp_directory_path() / ("ablate-repro-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const ReportResult res = write_report({s}, ReportOptions{}, dir.string());
  EXPECT_TRUE(fs::exists(dir / "reproduction.csv"));
  EXPECT_TRUE(fs::exists(dir / "reproduction-steps.csv"));
  const std::string html = read(dir / "report.html");
  EXPECT_NE(html.find("<a href=\"#reproduction\">Reproduction</a>"), std::string::npos);
  EXPECT_NE(html.find("<h2 id=\"reproduction\">Reproduction</h2>"), std::string::npos);
  EXPECT_NE(html.find("1 of 3 published values lie inside"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(read(dir / "reproduction.csv").find("001 Table II,MSD,small,small,1,unet,U-Net,dice,65,NA,3,62,2,"),
            std::string::npos)
      << read(dir / "reproduction.csv");
  // Without published values: no section, no file, no mark (tests/reports_golden_test.cpp pins every byte).
  vc.report.published = "";
  s.provenance["study_resolved"] = resolved_text(vc);
  fs::remove_all(dir);
  write_report({s}, ReportOptions{}, dir.string());
  EXPECT_FALSE(fs::exists(dir / "reproduction.csv"));
  EXPECT_EQ(read(dir / "report.html").find("eproduction"), std::string::npos);
  EXPECT_EQ(read(dir / "table.md").find("paper"), std::string::npos);
  fs::remove_all(dir);
}

TEST(Reproduction, CasesAggregateGivesIntervalsOverCases) {
  // report.aggregate = "cases": the interval is over the cell's cases (12 of study tcia), as its mean is.
  std::vector<db::StudyData> one = {ablate::reports::testing::tcia_study()};
  ReportConfig c;
  c.metrics = {"dice"};
  c.aggregate = "cases";
  PublishedTable p;
  p.source = "t";
  p.values["U-Net"]["dice"] = 71.0;
  c.published = published_text({p});
  const auto idx = make_indexes(one, c);
  const ComparisonTable t = comparison_table(one, idx, c, {});
  const Reproduction r = reproduction(one, idx, c, t);
  const ReproductionCell& u = cell(r, "unet", "dice");
  EXPECT_EQ(u.ours.n, 12u);
  EXPECT_NEAR(u.high - u.ours.mean, student_t_quantile(0.975, 11) * u.ours.sd / std::sqrt(12.0), 1e-12);
  EXPECT_NE(r.summaries[0].find("t-intervals over the cases of each cell, n = 12"), std::string::npos) << r.summaries[0];
}

namespace {

// Two organs (002 Table I prints one column group per organ), three folds of Dice per class:
//   PAM      liver 0.90 0.92 0.94 (92 %, sd 2)   spleen 0.70 0.74 0.78 (74 %, sd 4)
//   Guided   liver 0.91 0.93 0.92 (92 %, sd 1)   spleen 0.78 0.80 0.82 (80 %, sd 2)
db::StudyData organ_study() {
  db::StudyData s;
  s.study = "organs";
  s.variants.push_back({"pam", "Proposed (PAM)", "h0", "model.semantic_guidance = false\n", 0});
  s.variants.push_back({"guided", "Proposed (MS-Dual-Guided)", "h1", "model.semantic_guidance = true\n", 1});
  const double dice[2][2][3] = {{{0.90, 0.92, 0.94}, {0.70, 0.74, 0.78}}, {{0.91, 0.93, 0.92}, {0.78, 0.80, 0.82}}};
  for (std::size_t v = 0; v < 2; ++v)
    for (int cls = 1; cls <= 2; ++cls)
      for (int fold = 0; fold < 3; ++fold)
        s.fold_metrics.push_back({s.variants[v].name, fold, 0, cls, "dice",
                                  dice[v][static_cast<std::size_t>(cls - 1)][static_cast<std::size_t>(fold)]});
  return s;
}

// 002's liver and spleen columns (PAM, MS-Dual-Guided), the guided spleen moved to 86 (outside our interval):
// swapped classes would put the liver's 91.89 against the spleen's 74 ± 9.94, outside.
ReportConfig organ_config(const std::string& dataset, const std::string& liver, const std::string& spleen) {
  ReportConfig c;
  c.metrics = {"dice"};
  c.dataset = dataset;
  c.class_names = {"liver", "spleen"};
  PublishedTable l, s;
  l.source = s.source = "002 Table I";
  l.dataset = s.dataset = "CHAOS";
  l.class_name = liver;
  s.class_name = spleen;
  l.values["Proposed (PAM)"]["dice"] = 91.89;
  l.values["Proposed (MS-Dual-Guided)"]["dice"] = 92.46;
  l.sd["Proposed (PAM)"]["dice"] = 4.29;
  s.values["Proposed (PAM)"]["dice"] = 73.65;
  s.values["Proposed (MS-Dual-Guided)"]["dice"] = 86.0;
  c.published = published_text({l, s});
  return c;
}

const ReproductionCell& organ_cell(const Reproduction& r, const ComparisonTable& t, int cls, const std::string& variant) {
  for (const auto& c : r.cells)
    if (c.variant == variant && t.groups[r.sources[c.source].group].cls == cls) return c;
  throw std::runtime_error("no cell " + variant + " class " + std::to_string(cls));
}

}  // namespace

TEST(Reproduction, PerClassTablesCompareTheirOrgansColumns) {
  const double t2 = 4.302653;  // t_{0.975, 2}
  for (const auto& [liver, spleen] : std::vector<std::pair<std::string, std::string>>{{"liver", "spleen"},
                                                                                       {"class 1", "class 2"}}) {
    SCOPED_TRACE(liver);
    const ReportConfig c = organ_config("CHAOS", liver, spleen);
    const std::vector<db::StudyData> studies = {organ_study()};
    const auto idx = make_indexes(studies, c);
    ComparisonTable t = comparison_table(studies, idx, c, {});
    const Reproduction r = reproduction(studies, idx, c, t);
    ASSERT_EQ(r.sources.size(), 2u);
    EXPECT_TRUE(r.notes.empty()) << r.notes[0];
    EXPECT_EQ(r.sources[0].group_title, "CHAOS (liver)");
    EXPECT_EQ(r.sources[1].group_title, "CHAOS (spleen)");
    ASSERT_EQ(r.cells.size(), 4u);
    const ReproductionCell& lp = organ_cell(r, t, 1, "pam");
    EXPECT_NEAR(lp.ours.mean, 92.0, 1e-9);
    EXPECT_NEAR(lp.low, 92.0 - t2 * 2 / std::sqrt(3.0), 1e-5);
    EXPECT_EQ(lp.inside, 1);
    EXPECT_NEAR(lp.published_sd, 4.29, 1e-12);
    EXPECT_EQ(organ_cell(r, t, 1, "guided").inside, 1);  // 92.46 in 92 ± 2.48
    const ReproductionCell& sp = organ_cell(r, t, 2, "pam");
    EXPECT_NEAR(sp.ours.mean, 74.0, 1e-9);
    EXPECT_NEAR(sp.difference, 74.0 - 73.65, 1e-9);
    EXPECT_EQ(sp.inside, 1);
    const ReproductionCell& sg = organ_cell(r, t, 2, "guided");
    EXPECT_NEAR(sg.high, 80.0 + t2 * 2 / std::sqrt(3.0), 1e-5);
    EXPECT_EQ(sg.inside, 0);  // 86 above 84.97
    // Each organ its own ranking: liver published PAM < Guided, ours tied; spleen both ascending.
    ASSERT_EQ(r.ranks.size(), 2u);
    EXPECT_NEAR(r.ranks[1].kendall.tau, 1.0, 1e-12);
    // The marks land in each organ's column; the legend names the paper's table once.
    mark_published(t, r, false);
    ASSERT_EQ(t.columns.size(), 2u);
    EXPECT_NEAR(t.cells[0][0].published, 91.89, 1e-12);
    EXPECT_NEAR(t.cells[0][1].published, 73.65, 1e-12);
    EXPECT_EQ(t.cells[1][1].published_inside, 0);
    EXPECT_NE(t.published_legend.find("(002 Table I), ✓ inside"), std::string::npos) << t.published_legend;
    const std::string html = reproduction_html(r, t);
    EXPECT_NE(html.find("<h3>002 Table I — CHAOS, " + spleen + "</h3>"), std::string::npos) << html;
    EXPECT_NE(reproduction_csv(r, t).find("002 Table I,CHAOS,CHAOS (spleen),organs,2,guided,Proposed (MS-Dual-Guided),"
                                          "dice,86,NA,3,80,"),
              std::string::npos)
        << reproduction_csv(r, t);
  }
}

TEST(Reproduction, PerClassTablesOfAnUnnamedDatasetMatchByClass) {
  // The study names no dataset (its groups are titled by the study): the tables' classes still find them.
  const ReportConfig c = organ_config("", "liver", "spleen");
  const std::vector<db::StudyData> studies = {organ_study()};
  const auto idx = make_indexes(studies, c);
  const ComparisonTable t = comparison_table(studies, idx, c, {});
  const Reproduction r = reproduction(studies, idx, c, t);
  ASSERT_EQ(r.sources.size(), 2u);
  EXPECT_EQ(r.sources[1].group_title, "organs (spleen)");
  ASSERT_EQ(r.notes.size(), 2u);
  EXPECT_NE(r.notes[1].find("published table '002 Table I' (CHAOS, class spleen) names no column group of that "
                            "dataset; compared with 'organs (spleen)' (by class: the study names no dataset)"),
            std::string::npos)
      << r.notes[1];
  EXPECT_EQ(organ_cell(r, t, 2, "guided").inside, 0);
  // A class the study does not have: left out, said.
  const ReportConfig k = organ_config("CHAOS", "liver", "class 3");
  const Reproduction r3 = reproduction(studies, idx, k, comparison_table(studies, make_indexes(studies, k), k, {}));
  ASSERT_EQ(r3.sources.size(), 1u);
  ASSERT_EQ(r3.notes.size(), 1u);
  EXPECT_NE(r3.notes[0].find("(CHAOS, class class 3) names no column group of the table (groups: CHAOS (liver), "
                             "CHAOS (spleen)); left out"),
            std::string::npos)
      << r3.notes[0];
}

// Stores written before the resolved configuration was kept ("study_resolved"): the published values come
// from the stored study text, from its [report] alone when the text no longer loads (a lost include), or
// from `ablate report --published FILE` (ReportOptions::published) when the store has none; without any,
// the note says why there is no Reproduction section.
TEST(Reproduction, StoresWithoutTheResolvedConfiguration) {
  const fs::path dir = fs::temp_directory_path() / ("ablate-repro-old-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string tables = R"toml(
[[report.published]]
source = "002 Table I"
dataset = "CHAOS"
class = "spleen"
[report.published.values]
"Proposed (PAM)" = { dice = 73.65 }
"Proposed (MS-Dual-Guided)" = { dice = 86.0 }
)toml";
  const std::string report = "[report]\nmetrics = [\"dice\"]\ndataset = \"CHAOS\"\nclass_names = [\"liver\", \"spleen\"]\n";
  auto has_note = [](const ReportResult& r, const std::string& text) {
    for (const auto& n : r.notes)
      if (n.find(text) != std::string::npos) return true;
    return false;
  };

  // The study text's include is gone: its [report] is read alone, its own published tables with it.
  db::StudyData s = organ_study();
  s.provenance["study_file"] = (dir / "organs.toml").string();
  s.provenance["study_text"] = "include = \"gone.toml\"\n" + report + tables;
  ReportResult res = write_report({s}, ReportOptions{}, (dir / "a").string());
  EXPECT_TRUE(has_note(res, "its [report] section was read alone")) << ::testing::PrintToString(res.notes);
  EXPECT_NE(read(dir / "a" / "reproduction.csv").find("CHAOS (spleen),organs,2,guided,Proposed (MS-Dual-Guided),dice,86,"),
            std::string::npos)
      << read(dir / "a" / "reproduction.csv");
  EXPECT_NE(read(dir / "a" / "report.html").find("<h3>002 Table I — CHAOS, spleen</h3>"), std::string::npos);

  // The same text without tables: no section, and the note says where they would come from.
  s.provenance["study_text"] = "include = \"gone.toml\"\n" + report;
  res = write_report({s}, ReportOptions{}, (dir / "b").string());
  EXPECT_FALSE(fs::exists(dir / "b" / "reproduction.csv"));
  EXPECT_TRUE(has_note(res, "with no published values of its own (an included file's are not read; give them with "
                            "ablate report --published STUDY_FILE)"))
      << ::testing::PrintToString(res.notes);

  // No study text at all: defaults, no section, a note naming --published.
  s.provenance.clear();
  res = write_report({s}, ReportOptions{}, (dir / "c").string());
  EXPECT_FALSE(fs::exists(dir / "c" / "reproduction.csv"));
  EXPECT_EQ(read(dir / "c" / "report.html").find("id=\"reproduction\""), std::string::npos);
  EXPECT_TRUE(has_note(res, "no study text in the store's provenance; default [report] layout (and no published "
                            "values: a Reproduction section needs ablate report --published STUDY_FILE)"))
      << ::testing::PrintToString(res.notes);

  // --published: the file's tables, and its dataset and class names where the store has none.
  ReportOptions with;
  const std::string variants =
      "[[ablation.variant]]\nname = \"pam\"\nlabel = \"Proposed (PAM)\"\n"
      "[[ablation.variant]]\nname = \"guided\"\nlabel = \"Proposed (MS-Dual-Guided)\"\n\"model.cc\" = true\n";
  with.published = load_study_text(report + variants + tables, (dir / "paper.toml").string()).base.report;
  with.published_file = "paper.toml";
  res = write_report({s}, with, (dir / "d").string());
  EXPECT_TRUE(has_note(res, "the published values are those of paper.toml (--published), not the store's"));
  const std::string csv = read(dir / "d" / "reproduction.csv");
  EXPECT_NE(csv.find("002 Table I,CHAOS,CHAOS (spleen),organs,2,pam,Proposed (PAM),dice,73.65,NA,3,74,"),
            std::string::npos)
      << csv;
  EXPECT_NE(read(dir / "d" / "table.md").find("paper"), std::string::npos);
  fs::remove_all(dir);
}

// A step adds one component and changes nothing else: with semantic guidance the only check-mark column,
// PAM -> MS-Dual-Guided (other attention, another refinement) is no step; MS-Dual -> MS-Dual-Guided is.
TEST(Reproduction, AStepChangesNothingButItsComponent) {
  db::StudyData s;
  s.study = "steps";
  s.variants.push_back({"pam", "Proposed (PAM)", "h0",
                        "model.attention = \"pam\"\nmodel.refinements = 1\nmodel.semantic_guidance = false\n", 0});
  s.variants.push_back({"ms-dual", "Proposed (MS-Dual)", "h1",
                        "model.attention = \"pam_cam\"\nmodel.refinements = 2\nmodel.semantic_guidance = false\n", 1});
  s.variants.push_back({"guided", "Proposed (MS-Dual-Guided)", "h2",
                        "model.attention = \"pam_cam\"\nmodel.refinements = 2\nmodel.semantic_guidance = true\n", 2});
  const double dice[3][3] = {{0.70, 0.72, 0.74}, {0.80, 0.81, 0.82}, {0.84, 0.85, 0.86}};
  for (std::size_t v = 0; v < 3; ++v)
    for (int fold = 0; fold < 3; ++fold)
      s.fold_metrics.push_back({s.variants[v].name, fold, 0, 1, "dice", dice[v][static_cast<std::size_t>(fold)]});
  ReportConfig c;
  c.metrics = {"dice"};
  c.components = {"semantic_guidance"};
  PublishedTable p;
  p.source = "002 Table I";
  p.values["Proposed (PAM)"]["dice"] = 91.89;
  p.values["Proposed (MS-Dual)"]["dice"] = 92.62;
  p.values["Proposed (MS-Dual-Guided)"]["dice"] = 92.46;
  c.published = published_text({p});
  const std::vector<db::StudyData> studies = {s};
  const auto idx = make_indexes(studies, c);
  const ComparisonTable t = comparison_table(studies, idx, c, {});
  const Reproduction r = reproduction(studies, idx, c, t);
  ASSERT_EQ(r.steps.size(), 1u);
  EXPECT_EQ(t.rows[r.steps[0].from].variant, "ms-dual");
  EXPECT_EQ(t.rows[r.steps[0].to].variant, "guided");
  EXPECT_NEAR(r.steps[0].published_delta, 92.46 - 92.62, 1e-9);
  EXPECT_NEAR(r.steps[0].our_delta, 4.0, 1e-9);
  EXPECT_EQ(r.steps[0].agree, 0);  // worsens in the paper, improves here
}
