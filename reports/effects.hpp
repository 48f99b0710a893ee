// What each component is worth: attribution of a metric to the components of a study's [ablation]
// design (docs/REPORTS.md "Effects"). v(S) is the mean metric of the design point S (a component mask,
// bit i = component i of the design) over the study's test cases.
//
//   main effect     E_j = mean v(S) over the runs with j on - mean over the runs with j off (±1 coding); from a
//                   full factorial, or a fractional one of resolution >= 4 (resolution III aliases it with a
//                   two-way interaction)
//   interaction     E_ij = mean v over the runs where i and j agree - mean where they differ (= half the
//                   difference between j's effect with i on and with i off); full factorial or resolution >= 5
//   Shapley value   phi_j = sum over S without j of |S|! (k-|S|-1)! / k! (v(S+j) - v(S)); needs every one of
//                   the 2^k subsets (a full factorial); sum_j phi_j = v(all) - v(none) (efficiency)
//   marginal gain   add-one v({j}) - v({}), leave-one-out v(all) - v(all - j), cumulative v(first j) -
//                   v(first j-1): the component in its context, with the paired Wilcoxon test of the tables
// Intervals: 95 % percentile intervals of a paired bootstrap over test cases: cases are drawn with
// replacement and a drawn case brings its value in every design point (each case is tested in the fold
// that holds it, so its fold and its variants stay paired); 2000 resamples from a fixed seed, so the
// same store gives the same bytes. Where the store has no per-case rows, the unit is the (fold, repeat).
//
// Contract: as reports/report.hpp: pure functions of their inputs (the bootstrap draws from its own seeded
// generator, never a shared one), any thread; a design the store cannot support gives notes, not errors.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ablations/config.hpp"
#include "ablations/design.hpp"
#include "db/rows.hpp"

namespace ablate::reports {

// ---- estimators on the point means v(S) ------------------------------------------------------------

using PointMeans = std::map<std::uint32_t, double>;

// Per component j < k, over `runs` (each must be in v).
std::vector<double> main_effects(int k, const std::vector<std::uint32_t>& runs, const PointMeans& v);
// Per pair (i, j), i < j, in the order (0,1), (0,2), ..., (0,k-1), (1,2), ... (interaction_pairs).
std::vector<double> interactions(int k, const std::vector<std::uint32_t>& runs, const PointMeans& v);
std::vector<std::pair<int, int>> interaction_pairs(int k);
// Exact Shapley values; v must hold all 2^k subsets.
std::vector<double> shapley_values(int k, const PointMeans& v);

// A marginal gain: v(with) - v(without).
struct Contrast {
  int component = 0;
  std::uint32_t with = 0, without = 0;
};
// The contrasts of add-one, leave-one-out or cumulative over k components (empty for other designs).
std::vector<Contrast> marginal_contrasts(const std::string& design, int k);

// ---- the paired bootstrap --------------------------------------------------------------------------

struct Interval {
  double estimate = 0, lo = 0, hi = 0;
};
using Statistic = std::function<std::vector<double>(const PointMeans&)>;
// values[p][u]: unit u's value in points[p] (every point has every unit). The estimate is statistic(v)
// on the means over all units; lo and hi are the 2.5 % and 97.5 % type-7 quantiles of the statistic over
// `resamples` resamples of the units with replacement (std::mt19937_64 from `seed`).
std::vector<Interval> paired_bootstrap(const std::vector<std::uint32_t>& points,
                                       const std::vector<std::vector<double>>& values, const Statistic& statistic,
                                       int resamples = 2000, std::uint64_t seed = 20261201);

// ---- the effects table of a study ------------------------------------------------------------------

struct EffectRow {
  int cls = 1;
  std::string metric;
  std::string estimator;  // main | interaction | shapley | add-one | leave-one-out | cumulative
  std::string term;       // "CC", "CC×SC"
  std::string context;    // marginal gains: "U-Net → U-Net+CC"
  Interval value;         // display units (percent where report.percent shows the metric so)
  std::size_t n = 0;      // units
  double p = 0, p_holm = 0;  // marginal gains: paired Wilcoxon, Holm over one (estimator, class, metric); NaN otherwise
  std::string mark;       // significance_mark of p_holm
};
struct EffectsTable {
  std::string study, dataset;
  std::vector<std::string> components;
  std::string unit;          // "case" or "fold"
  int decimals = 2;
  std::vector<EffectRow> rows;
  struct Efficiency {
    int cls = 1;
    std::string metric;
    double sum_shapley = 0, full_minus_baseline = 0;  // display units
  };
  std::vector<Efficiency> efficiency;
  std::vector<std::string> notes;  // estimators the design cannot support, dropped cases, ...
};

// The design stored with the study (provenance "study_design"); empty when it has none or it cannot be read
// (a note then).
StoredDesign stored_design(const db::StudyData& study, std::vector<std::string>* notes);
// Every estimator the design supports, per class and metric of config.metrics.
EffectsTable effects_table(const db::StudyData& study, const StoredDesign& design, const ReportConfig& config);

std::string render_effects_markdown(const EffectsTable& table);
std::string render_effects_latex(const EffectsTable& table);  // booktabs
std::string render_effects_csv(const EffectsTable& table);    // one line per estimate, display units
std::string render_effects_html(const EffectsTable& table);   // table, efficiency lines and notes
// A forest plot: per class and metric a panel, each estimate a dot with its 95 % interval, a zero line.
std::string effects_svg(const EffectsTable& table);

}  // namespace ablate::reports
