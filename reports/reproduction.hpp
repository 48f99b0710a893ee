// Reproduction check: the paper's published numbers ([[report.published]], ablations/published.hpp)
// beside ours, and whether the paper's findings hold here (docs/REPORTS.md, "Reproduction").
//
//   cell       published mean p, our mean ± sd over the cell's values (folds, or cases under
//              report.aggregate = "cases"), difference ours − p, and whether p lies inside our 95 %
//              t-interval  mean ± t_{0.975, n−1} · sd / √n  (n ≥ 2; no interval for one value).
//   step       for each component column (✓) every pair of rows A, B whose component sets differ only in
//              that component (B = A + component) and whose stored configurations differ in nothing else
//              (canonical text, the component's key aside): the published and our change B − A, whether both go the
//              same way (improve / worsen, by the metric's direction), and our paired Wilcoxon test of B
//              against A (the significance tests' pairing), Holm-adjusted over the steps of one published
//              table and metric.
//   ranking    Kendall's τ_b between the published and our means over the rows that have both; two-sided
//              p exact (the permutation distribution of the concordant pairs) for n < 50 without ties, else
//              the normal approximation of S with the ties-corrected variance (R's cor.test).
//
// A study without published values gives an empty Reproduction, and then no output changes.
//
// Contract: as reports/report.hpp: pure functions of their inputs, any thread; published tables that match
// nothing in the report give notes, not errors.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "ablations/published.hpp"
#include "reports/report.hpp"
#include "reports/study_index.hpp"

namespace ablate::reports {

// Student t quantile: the x with P(T ≤ x) = p for df > 0 degrees of freedom (bisection on student_t_cdf).
double student_t_quantile(double p, double df);

struct KendallResult {
  std::size_t n = 0;
  double s = 0;          // concordant − discordant pairs
  double tau = 0;        // τ_b = S / √((n0 − n1)(n0 − n2)); NaN when undefined (n < 2, a constant side)
  double p = 0;          // two-sided; NaN when undefined
  bool exact = false;    // exact permutation distribution (n < 50, no ties) or normal approximation
  bool ties = false;
};
KendallResult kendall_tau(const std::vector<double>& x, const std::vector<double>& y);

// A published table and the column group it is compared with: the group whose dataset or title equals
// the table's dataset; an empty dataset takes the first group. When the report has one group, the study
// does not name its dataset (report.dataset empty) and publishes one table, that table takes the group
// whatever its dataset (with a note). Otherwise a table that matches no group is left out (a note).
struct PublishedSource {
  PublishedTable table;
  std::size_t group = static_cast<std::size_t>(-1);
  std::string group_title;
};

struct ReproductionCell {
  std::size_t source = 0;  // index into Reproduction::sources
  std::size_t row = 0;     // row of the comparison table
  std::size_t column = static_cast<std::size_t>(-1);  // column of the comparison table; npos (params, or a
                                                      // metric outside report.metrics)
  std::string variant, label, metric;
  double published = 0, published_sd = 0;  // display units of our table (NaN sd: not published)
  MeanSd ours;                             // display units
  double low = 0, high = 0;                // our 95 % t-interval; NaN when n < 2
  double difference = 0;                   // ours − published
  int inside = -1;                         // 1 inside, 0 outside, -1 no interval
};

struct ComponentStep {
  std::size_t source = 0;
  std::string component, metric;
  std::size_t from = 0, to = 0;  // rows of the comparison table: `to` = `from` + component
  double published_delta = 0, our_delta = 0;  // to − from, display units
  int published_direction = 0, our_direction = 0;  // +1 improves, -1 worsens, 0 no change (metric's direction)
  int agree = -1;           // 1 same direction, 0 not, -1 no change in the paper (no verdict)
  SignificanceRow test;     // `to` against `from`
  double p_holm = 0;        // Holm over the steps of one (source, metric)
  bool significant = false; // p_holm < 0.05
};

struct RankAgreement {
  std::size_t source = 0;
  std::string metric;
  KendallResult kendall;
};

struct Reproduction {
  std::vector<PublishedSource> sources;
  std::vector<ReproductionCell> cells;
  std::vector<ComponentStep> steps;
  std::vector<RankAgreement> ranks;
  std::vector<std::string> summaries;  // one paragraph per source
  std::vector<std::string> notes;
  std::string interval;                // "folds" or "cases": what the intervals are over
  int decimals = 2;
  bool empty() const { return sources.empty(); }
};

// From config.published (nothing when it is empty). indexes[i] indexes the i-th reported study, the
// one of the table's group of that study.
Reproduction reproduction(const std::vector<db::StudyData>& studies, const std::vector<StudyIndex>& indexes,
                          const ReportConfig& config, const ComparisonTable& table);

// Puts the published value and the interval verdict into the table's cells (Cell::published...) and the
// legend's sentence; no change for an empty reproduction.
void mark_published(ComparisonTable& table, const Reproduction& r, bool latex_columns);

std::string reproduction_csv(const Reproduction& r, const ComparisonTable& table);
std::string reproduction_steps_csv(const Reproduction& r, const ComparisonTable& table);
// The "Reproduction" section of report.html (h2 and everything under it).
std::string reproduction_html(const Reproduction& r, const ComparisonTable& table);
// Published against ours per row for one source and metric: our interval as a bar, our mean a dot,
// the published mean a diamond.
std::string dumbbell_svg(const Reproduction& r, const ComparisonTable& table, std::size_t source,
                         const std::string& metric);

}  // namespace ablate::reports
