// The comparison table (001 Table II layout) and the paired significance tests against the baseline.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "ablations/study.hpp"
#include "ablations/task.hpp"
#include "reports/format.hpp"
#include "reports/report.hpp"
#include "reports/search.hpp"
#include "reports/study_index.hpp"

namespace ablate::reports {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<std::string> row_order(const std::vector<const db::StudyData*>& studies, const ReportConfig& config,
                                   std::vector<std::string>* notes) {
  std::vector<std::string> order;
  std::set<std::string> seen;
  auto known = [&](const std::string& name) {
    for (const auto* s : studies)
      for (const auto& v : s->variants)
        if (v.name == name) return true;
    return false;
  };
  for (const auto& name : config.rows) {
    if (!known(name)) {
      if (notes) notes->push_back("report.rows names variant '" + name + "' that no reported study has; skipped");
      continue;
    }
    if (seen.insert(name).second) order.push_back(name);
  }
  for (const auto* s : studies) {
    // A search's trials ranked by the validation objective (its comparison); other studies in the order of
    // their expansion.
    for (const auto& name : search_ranking(*s))
      if (seen.insert(name).second) order.push_back(name);
    std::vector<db::VariantRow> vs = s->variants;
    std::stable_sort(vs.begin(), vs.end(), [](const auto& a, const auto& b) { return a.ordinal < b.ordinal; });
    for (const auto& v : vs)
      if (seen.insert(v.name).second) order.push_back(v.name);
  }
  return order;
}

bool searched(const db::StudyData& s) { return !s.trials.empty(); }

// The variants of the studies that are searches (their trials are ranked, never tested against a baseline).
std::set<std::string> trial_names(const std::vector<db::StudyData>& studies) {
  std::set<std::string> out;
  for (const auto& s : studies)
    if (searched(s))
      for (const auto& v : s.variants) out.insert(v.name);
  return out;
}

// The baseline of the significance tests and the table (docs/REPORTS.md "Baseline"): report.baseline when
// it names a variant of a study that is not a search, else the first such variant in row order. In a search
// the baseline does not apply (its trials are ranked by the objective): a baseline the study names, or
// inherits, is noted and left out, never an error.
std::string baseline_of(const std::vector<std::string>& order, const std::vector<db::StudyData>& studies,
                        const ReportConfig& config, std::vector<std::string>* notes) {
  const std::set<std::string> trials = trial_names(studies);
  if (!config.baseline.empty()) {
    const bool known = std::find(order.begin(), order.end(), config.baseline) != order.end();
    if (known && !trials.count(config.baseline)) return config.baseline;
    std::string searches;
    for (const auto& s : studies)
      if (searched(s)) searches += (searches.empty() ? "'" : ", '") + s.study + "'";
    if (!notes) return "";
    if (!searches.empty() && (known || std::all_of(studies.begin(), studies.end(), searched))) {
      notes->push_back("report.baseline '" + config.baseline + "' does not apply to the search " + searches +
                       ": its trials are ranked by the validation objective (Search), none is tested against another");
    } else {
      notes->push_back("report.baseline '" + config.baseline + "' is not a variant of the reported studies");
    }
    return "";
  }
  for (const auto& name : order)
    if (!trials.count(name)) return name;
  return "";
}

// One note per cause about variants without results (docs/REPORTS.md "Notes"): the one variant by name, or
// many with their count and names (the names collapsed in HTML). `stopped`: variant and the rung's epoch.
void note_missing(ComparisonTable& t, const db::StudyData& s, const std::vector<std::string>& missing,
                  const std::vector<std::pair<std::string, int>>& stopped) {
  const std::string study = "study '" + s.study + "': ";
  if (missing.size() == 1) t.notes.push_back(study + "variant '" + missing.front() + "' has no results");
  if (missing.size() > 1)
    add_note_list(t.notes, t.note_lists, {study + std::to_string(missing.size()) + " variants have no results", missing});
  if (stopped.size() == 1) {
    t.notes.push_back(study + "variant '" + stopped.front().first + "' was stopped early at epoch " +
                      std::to_string(stopped.front().second) +
                      " (early stopping): no test results, its curve is in the convergence plot");
  }
  if (stopped.size() > 1) {
    std::vector<std::string> names;
    for (const auto& [name, epoch] : stopped) names.push_back(name + " at epoch " + std::to_string(epoch));
    add_note_list(t.notes, t.note_lists,
                  {study + std::to_string(stopped.size()) +
                       " variants were stopped early at a rung (early stopping): no test results, their curves are in the "
                       "convergence plot",
                   names});
  }
}

std::vector<std::pair<FoldKey, double>> fold_values(const Series& s) {
  if (!s.folds.empty()) return s.folds;
  std::vector<std::pair<FoldKey, double>> out;
  for (std::size_t i = 0; i < s.cases.size();) {
    std::size_t j = i;
    double sum = 0;
    while (j < s.cases.size() && s.cases[j].first.fold == s.cases[i].first.fold &&
           s.cases[j].first.repeat == s.cases[i].first.repeat)
      sum += s.cases[j++].second;
    out.push_back({FoldKey{s.cases[i].first.fold, s.cases[i].first.repeat}, sum / static_cast<double>(j - i)});
    i = j;
  }
  return out;
}

// Merge-join of two sorted keyed samples: match(a row, b row) for every key both have.
template <class Key, class Match>
void merge_join(const std::vector<std::pair<Key, double>>& a, const std::vector<std::pair<Key, double>>& b,
                Match match) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].first < b[j].first) {
      ++i;
    } else if (b[j].first < a[i].first) {
      ++j;
    } else {
      match(a[i++], b[j++]);
    }
  }
}

// The per-case pairs of a variant (a) and the baseline (b), one per case: rows are matched by (fold,
// repeat, case id), so both sides of a case average the same repeats, and each side's matched rows are
// then averaged per case (case_means: the two matched samples hold the same keys in the same order, so
// their means line up case by case). The unit of the test is the case: with several repeats a case
// still counts once (n = number of cases).
void pair_cases(const std::vector<std::pair<CaseKey, double>>& a, const std::vector<std::pair<CaseKey, double>>& b,
                std::vector<double>& x, std::vector<double>& y) {
  std::vector<std::pair<CaseKey, double>> matched_a, matched_b;
  merge_join(a, b, [&](const auto& ra, const auto& rb) {
    matched_a.push_back(ra);
    matched_b.push_back(rb);
  });
  x = case_means(matched_a);
  y = case_means(matched_b);
}

// +1 when the variant is better than the baseline, -1 when worse, 0 when the Wilcoxon statistic sits
// at its null mean (or nothing was tested).
int direction_of(const WilcoxonResult& w, const std::string& metric) {
  if (w.n == 0) return 0;
  const double n = static_cast<double>(w.n);
  const double centred = w.statistic - n * (n + 1) / 4;
  const int sign = centred > 0 ? 1 : centred < 0 ? -1 : 0;
  return metric_higher_is_better(metric) ? sign : -sign;
}
}  // namespace

std::vector<std::string> row_order(const std::vector<db::StudyData>& studies, const ReportConfig& config,
                                   std::vector<std::string>* notes) {
  std::vector<const db::StudyData*> ptrs;
  for (const auto& s : studies) ptrs.push_back(&s);
  return row_order(ptrs, config, notes);
}

std::vector<std::string> variant_order(const std::vector<db::StudyData>& studies, const ReportConfig& config,
                                       std::vector<std::string>* notes) {
  return row_order(studies, config, notes);
}

std::vector<std::string> variant_order(const db::StudyData& study, const ReportConfig& config) {
  return row_order(std::vector<const db::StudyData*>{&study}, config, nullptr);
}

SignificanceRow paired_test(const StudyIndex& index, const std::string& variant, const std::string& baseline, int cls,
                            const std::string& metric) {
  SignificanceRow row;
  row.study = index.data().study;
  row.cls = cls;
  row.metric = metric;
  row.variant = variant;
  row.baseline = baseline;
  row.wilcoxon_p_holm = row.t_p_holm = kNaN;
  const Series* s = index.find(variant, cls, metric);
  const Series* base = index.find(baseline, cls, metric);
  if (!s || !base) {
    row.mean_difference = kNaN;
    row.wilcoxon.p = row.t_test.p = kNaN;
    return row;
  }
  std::vector<double> x, y;
  if (!s->cases.empty() && !base->cases.empty()) {
    row.unit = "case";
    pair_cases(s->cases, base->cases, x, y);
  } else {
    row.unit = "fold";
    merge_join(fold_values(*s), fold_values(*base), [&](const auto& ra, const auto& rb) {
      x.push_back(ra.second);
      y.push_back(rb.second);
    });
  }
  row.n = x.size();
  row.wilcoxon = wilcoxon_signed_rank(x, y);
  row.t_test = paired_t_test(x, y);
  row.mean_difference = row.t_test.mean_difference;
  if (row.n == 0) row.mean_difference = kNaN;
  row.direction = direction_of(row.wilcoxon, metric);
  return row;
}

std::string significance_mark(double p_holm, int direction) {
  if (std::isnan(p_holm) || direction == 0) return "";
  const char* one = direction > 0 ? "*" : "†";
  if (p_holm < 0.01) return std::string(one) + one;
  if (p_holm < 0.05) return one;
  return "";
}

std::vector<SignificanceRow> significance_tests(const std::vector<db::StudyData>& studies, const ReportConfig& config,
                                                std::vector<std::string>* notes) {
  return significance_tests(studies, make_indexes(studies, config), config, notes);
}

std::vector<SignificanceRow> significance_tests(const std::vector<db::StudyData>& studies,
                                                const std::vector<StudyIndex>& indexes, const ReportConfig& config,
                                                std::vector<std::string>* notes) {
  std::vector<SignificanceRow> out;
  const std::vector<std::string> order = row_order(studies, config, nullptr);
  const std::string baseline = baseline_of(order, studies, config, nullptr);
  if (baseline.empty()) return out;
  for (std::size_t si = 0; si < studies.size(); ++si) {
    const db::StudyData& study = studies[si];
    const StudyIndex& index = indexes[si];
    if (searched(study)) continue;  // a search ranks its trials (reports/search.hpp); baseline_of noted it
    if (!index.has_results(baseline)) {
      if (notes && !study.variants.empty())
        notes->push_back("study '" + study.study + "': baseline '" + baseline +
                         "' has no results; no significance tests");
      continue;
    }
    for (int cls : index.classes_with(config.metrics)) {
      for (const auto& metric : config.metrics) {
        const Series* base = index.find(baseline, cls, metric);
        if (!base) continue;
        const std::size_t first = out.size();
        for (const auto& variant : order) {
          if (variant == baseline) continue;
          const Series* s = index.find(variant, cls, metric);
          if (!s) continue;
          out.push_back(paired_test(index, variant, baseline, cls, metric));
        }
        std::vector<double> pw, pt;
        for (std::size_t i = first; i < out.size(); ++i) pw.push_back(out[i].wilcoxon.p), pt.push_back(out[i].t_test.p);
        const std::vector<double> hw = holm_adjust(pw), ht = holm_adjust(pt);
        for (std::size_t i = first; i < out.size(); ++i) {
          out[i].wilcoxon_p_holm = hw[i - first];
          out[i].t_p_holm = ht[i - first];
        }
      }
    }
  }
  return out;
}

std::string significance_csv(const std::vector<SignificanceRow>& rows) {
  std::ostringstream o;
  o << "study,class,metric,variant,baseline,unit,n,mean_difference,wilcoxon_v,wilcoxon_n,wilcoxon_exact,"
       "wilcoxon_p,wilcoxon_p_holm,t,df,t_p,t_p_holm,direction,mark\n";
  for (const auto& r : rows) {
    o << csv_field(r.study) << ',' << r.cls << ',' << csv_field(r.metric) << ',' << csv_field(r.variant) << ','
      << csv_field(r.baseline) << ',' << r.unit << ',' << r.n << ',' << number(r.mean_difference) << ','
      << number(r.wilcoxon.statistic) << ',' << r.wilcoxon.n << ',' << (r.wilcoxon.exact ? "true" : "false") << ','
      << number(r.wilcoxon.p) << ',' << number(r.wilcoxon_p_holm) << ',' << number(r.t_test.t) << ','
      << number(r.t_test.df) << ',' << number(r.t_test.p) << ',' << number(r.t_p_holm) << ','
      << (r.direction > 0 ? "better" : r.direction < 0 ? "worse" : "none") << ','
      << significance_mark(r.wilcoxon_p_holm, r.direction) << '\n';
  }
  return o.str();
}

ComparisonTable comparison_table(const std::vector<db::StudyData>& studies, const ReportConfig& config,
                                 const std::vector<SignificanceRow>& significance) {
  return comparison_table(studies, make_indexes(studies, config), config, significance);
}

namespace {
// The trivial predictors' rows under the variants, and a note per DSC column where no variant clears both
// by kLearntDiceMargin: a network that predicts everything or nothing ties one of them, and a reader of
// the numbers alone would not see it.
void add_trivial_rows(ComparisonTable& t, const std::vector<db::StudyData>& studies,
                      const std::vector<StudyIndex>& indexes, const ReportConfig& config) {
  for (const auto& predictor : trivial_predictors()) {
    TrivialRow row;
    row.predictor = predictor;
    row.label = trivial_predictor_label(predictor) + " (trivial)";
    bool any = false;
    for (const auto& col : t.columns) {
      const ColumnGroup& g = t.groups[col.group];
      std::size_t si = 0;
      while (si < studies.size() && studies[si].study != g.study) ++si;
      Cell cell;
      cell.p_holm = kNaN;
      cell.stats = si == studies.size()
                       ? mean_sd({})
                       : trivial_display_stats(indexes[si], predictor, g.cls, col.metric, config);
      if (cell.stats.n == 0) {
        cell.value = "n/a";
      } else {
        any = true;
        cell.value = fixed(cell.stats.mean, t.decimals);
        if (cell.stats.n > 1) cell.value += " ± " + fixed(cell.stats.sd, t.decimals);
      }
      row.cells.push_back(cell);
    }
    if (any) t.trivial.push_back(std::move(row));
  }
  if (t.trivial.empty()) return;
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    if (t.columns[c].metric != "dice") continue;
    double floor = -1, best = -1;
    std::string floor_label;
    for (const auto& tr : t.trivial)
      if (tr.cells[c].stats.n > 0 && tr.cells[c].stats.mean > floor)
        floor = tr.cells[c].stats.mean, floor_label = tr.label;
    for (std::size_t r = 0; r < t.rows.size(); ++r)
      if (t.cells[r][c].stats.n > 0) best = std::max(best, t.cells[r][c].stats.mean);
    if (floor < 0 || best < 0) continue;
    const double margin = kLearntDiceMargin * (t.percent ? 100.0 : 1.0);
    if (best >= floor + margin) continue;
    t.notes.push_back(t.groups[t.columns[c].group].title + " " + metric_display("dice") +
                      ": no variant beats the trivial predictors clearly (best " + fixed(best, t.decimals) +
                      ", " + floor_label + " " + fixed(floor, t.decimals) + "; learnt means at least " +
                      fixed(margin, t.decimals) +
                      " above both): at this budget the networks did not learn this class");
  }
}

// Column groups: per study, per class; notes on metrics a study lacks and variants without results.
void add_columns(ComparisonTable& t, const std::vector<db::StudyData>& studies, const std::vector<StudyIndex>& indexes,
                 const ReportConfig& config) {
  for (std::size_t si = 0; si < studies.size(); ++si) {
    const auto& s = studies[si];
    if (s.variants.empty()) t.notes.push_back("study '" + s.study + "' has no variants in the store");
    const std::vector<int> classes = indexes[si].classes_with(config.metrics);
    const StudyNames& names = indexes[si].names();
    for (int cls : classes) {
      t.groups.push_back({s.study, cls, names.dataset, names.class_name(cls),
                          names.group_title(cls, classes.size())});
      for (const auto& m : config.metrics) t.columns.push_back({t.groups.size() - 1, m, metric_higher_is_better(m)});
    }
    for (const auto& m : config.metrics) {
      if (!indexes[si].metrics().count(m) && !s.variants.empty()) {
        std::string stored;
        for (const auto& x : indexes[si].metrics()) stored += (stored.empty() ? "" : ", ") + x;
        t.notes.push_back("study '" + s.study + "' has no values of metric '" + m + "' (stored: " +
                          (stored.empty() ? "none" : stored) + ")");
      }
    }
    std::vector<std::string> missing;
    std::vector<std::pair<std::string, int>> stopped;
    for (const auto& v : s.variants) {
      if (indexes[si].has_results(v.name)) continue;
      if (const auto it = s.stopped.find(v.name); it != s.stopped.end()) {
        stopped.emplace_back(v.name, it->second);
      } else {
        missing.push_back(v.name);
      }
    }
    note_missing(t, s, missing, stopped);
  }
}

// Rows, with the component check marks from the canonical configuration; a component column is shown when at
// least one row has the component.
void add_rows(ComparisonTable& t, const std::vector<std::string>& order, const std::vector<db::StudyData>& studies,
              const ReportConfig& config) {
  std::vector<std::string> components = config.components;
  for (const auto& name : order) {
    TableRow row;
    row.variant = name;
    row.baseline = name == t.baseline;
    const db::VariantRow* v = nullptr;
    for (const auto& s : studies) {
      for (const auto& x : s.variants)
        if (x.name == name) { v = &x; break; }
      if (v) break;
    }
    row.label = v && !v->label.empty() ? v->label : name;
    std::map<std::string, std::string> values;
    if (v) {
      try {
        values = canonical_values(v->canonical);
      } catch (const std::exception& e) {
        t.notes.push_back("variant '" + name + "': unreadable canonical configuration (" + e.what() + ")");
      }
    }
    for (const auto& c : components) {
      auto it = values.find(component_key(c));
      row.components.push_back(it != values.end() && it->second == "true");
    }
    t.rows.push_back(row);
  }
  for (std::size_t c = components.size(); c-- > 0;) {
    bool any = false;
    for (const auto& r : t.rows) any = any || r.components[c];
    if (any) continue;
    components.erase(components.begin() + static_cast<std::ptrdiff_t>(c));
    for (auto& r : t.rows) r.components.erase(r.components.begin() + static_cast<std::ptrdiff_t>(c));
  }
  t.components = components;
  if (t.rows.empty()) {
    TableRow none;
    none.label = "n/a";
    t.rows.push_back(none);
    t.notes.push_back("no variant to report");
  }
}

// Best and second best on the shown (rounded) means, so that equal-looking cells rank equal.
void rank_column(ComparisonTable& t, std::size_t c) {
  const double unit = std::pow(10.0, t.decimals);
  std::set<long long> shown;
  for (std::size_t r = 0; r < t.rows.size(); ++r)
    if (t.cells[r][c].stats.n > 0) shown.insert(std::llround(t.cells[r][c].stats.mean * unit));
  std::size_t with_value = 0;
  for (std::size_t r = 0; r < t.rows.size(); ++r) with_value += t.cells[r][c].stats.n > 0;
  if (with_value < 2) return;
  std::vector<long long> ranked(shown.begin(), shown.end());
  if (t.columns[c].higher_is_better) std::reverse(ranked.begin(), ranked.end());
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    Cell& cell = t.cells[r][c];
    if (cell.stats.n == 0) continue;
    const long long k = std::llround(cell.stats.mean * unit);
    if (k == ranked[0]) cell.rank = 1;
    else if (ranked.size() > 1 && k == ranked[1]) cell.rank = 2;
  }
}

// Every cell's mean ± sd and its significance mark against the baseline, then the ranks of each column.
void fill_cells(ComparisonTable& t, const std::vector<db::StudyData>& studies, const std::vector<StudyIndex>& indexes,
                const ReportConfig& config, const std::vector<SignificanceRow>& significance) {
  std::map<std::tuple<std::string, int, std::string, std::string>, const SignificanceRow*> tested;
  for (const auto& r : significance) tested[{r.study, r.cls, r.metric, r.variant}] = &r;

  t.cells.assign(t.rows.size(), std::vector<Cell>(t.columns.size()));
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    const Column& col = t.columns[c];
    const ColumnGroup& g = t.groups[col.group];
    std::size_t si = 0;
    while (si < studies.size() && studies[si].study != g.study) ++si;
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
      Cell& cell = t.cells[r][c];
      cell.p_holm = kNaN;
      cell.stats = t.rows[r].variant.empty() || si == studies.size()
                       ? mean_sd({})
                       : display_stats(indexes[si], t.rows[r].variant, g.cls, col.metric, config);
      if (cell.stats.n == 0) {
        cell.value = "n/a";
        continue;
      }
      cell.value = fixed(cell.stats.mean, t.decimals);
      if (cell.stats.n > 1) cell.value += " ± " + fixed(cell.stats.sd, t.decimals);
      auto it = tested.find({g.study, g.cls, col.metric, t.rows[r].variant});
      if (it != tested.end()) {
        cell.p_holm = it->second->wilcoxon_p_holm;
        cell.mark = significance_mark(it->second->wilcoxon_p_holm, it->second->direction);
      }
    }
    rank_column(t, c);
  }
}
}  // namespace

ComparisonTable comparison_table(const std::vector<db::StudyData>& studies, const std::vector<StudyIndex>& indexes,
                                 const ReportConfig& config, const std::vector<SignificanceRow>& significance) {
  ComparisonTable t;
  t.aggregate = config.aggregate == "cases" ? "cases" : "folds";
  t.decimals = std::clamp(config.decimals, 0, 10);
  t.percent = config.percent;
  const std::vector<std::string> order = row_order(studies, config, &t.notes);
  t.baseline = baseline_of(order, studies, config, &t.notes);
  if (studies.empty()) t.notes.push_back("no study to report");
  add_columns(t, studies, indexes, config);
  add_rows(t, order, studies, config);
  fill_cells(t, studies, indexes, config, significance);
  add_trivial_rows(t, studies, indexes, config);
  mark_devices(t, studies);
  return t;
}

// ---- renderers -------------------------------------------------------------------------------------

namespace {
std::string legend(const ComparisonTable& t) {
  std::string s = std::string("Mean ± sd ") +
                  (t.aggregate == "cases" ? "pooled over cases (each case averaged over repeats)" : "over folds (and repeats)") +
                  (t.percent ? "; overlap metrics in %" : "") + "; best in bold, second underlined";
  if (!t.baseline.empty())
    s += "; * / ** : better, † / †† : worse than the baseline (" + t.baseline +
         "), Holm-adjusted paired Wilcoxon signed-rank p < 0.05 / 0.01";
  s += ".";
  if (!t.trivial.empty())
    s += " Trivial rows: every voxel predicted background / foreground, on the same test cases (a network "
         "that learnt beats both on DSC).";
  if (!t.published_legend.empty()) s += " " + t.published_legend;
  if (!t.device_legend.empty()) s += " " + t.device_legend;
  return s;
}

// The published value after a cell ("paper 65.35 ✓"), or "" where the paper gives none.
std::string cell_published(const ComparisonTable& t, const Cell& cell) {
  if (std::isnan(cell.published)) return "";
  return "paper " + fixed(cell.published, t.decimals) +
         (cell.published_inside == 1 ? " ✓" : cell.published_inside == 0 ? " ✗" : "");
}

// LaTeX: the published value and its verdict (\checkmark inside, $\times$ outside the interval).
std::string published_latex(const ComparisonTable& t, const Cell& cell) {
  return fixed(cell.published, t.decimals) +
         (cell.published_inside == 1 ? "\\,\\checkmark" : cell.published_inside == 0 ? "\\,$\\times$" : "");
}

// Markdown puts the group title before each metric where a reader needs it: several groups, or a title
// that the study configured (report.dataset, report.class_names).
bool markdown_group_titles(const ComparisonTable& t) {
  return t.groups.size() > 1 || (t.groups.size() == 1 && t.groups[0].title != t.groups[0].study);
}

// A significance mark inside LaTeX math: "*" stays, "†" is \dagger.
std::string latex_mark(const std::string& mark) {
  std::string out;
  for (std::size_t i = 0; i < mark.size();) {
    if (mark.compare(i, std::string("†").size(), "†") == 0) {
      out += "\\dagger";
      i += std::string("†").size();
    } else {
      out += mark[i++];
    }
  }
  return out;
}
}  // namespace

std::string render_markdown(const ComparisonTable& t) {
  std::ostringstream o;
  o << "| Method |";
  for (const auto& c : t.components) o << ' ' << component_display(c) << " |";
  for (const auto& col : t.columns) {
    o << ' ';
    if (markdown_group_titles(t)) o << markdown_cell(t.groups[col.group].title) << ' ';
    o << metric_display(col.metric) << (col.higher_is_better ? "" : " ↓") << " |";
  }
  o << "\n|:---|";
  for (std::size_t i = 0; i < t.components.size(); ++i) o << ":---:|";
  for (std::size_t i = 0; i < t.columns.size(); ++i) o << "---:|";
  o << '\n';
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    o << "| " << markdown_cell(t.rows[r].label) << " |";
    for (bool m : t.rows[r].components) o << ' ' << (m ? "✓" : "") << (m ? " |" : "|");
    for (const auto& cell : t.cells[r]) {
      std::string v = cell.value;
      if (cell.rank == 1) v = "**" + v + "**";
      if (cell.rank == 2) v = "<u>" + v + "</u>";
      if (!cell.mark.empty()) v += "<sup>" + cell.mark + "</sup>";
      if (!std::isnan(cell.published)) v += " <sub>" + cell_published(t, cell) + "</sub>";
      o << ' ' << v << " |";
    }
    o << '\n';
  }
  for (const auto& tr : t.trivial) {
    o << "| *" << markdown_cell(tr.label) << "* |";
    for (std::size_t i = 0; i < t.components.size(); ++i) o << " |";
    for (const auto& cell : tr.cells) o << " *" << cell.value << "* |";
    o << '\n';
  }
  o << '\n' << legend(t) << '\n';
  for (const auto& n : t.notes) o << "\n> note: " << one_line(n);
  if (!t.notes.empty()) o << '\n';
  return o.str();
}

std::string render_latex(const ComparisonTable& t) {
  std::ostringstream o;
  o << "% Generated by ablate report. Needs \\usepackage{booktabs} and \\usepackage{amssymb} (\\checkmark).\n";
  o << "% " << one_line(latex_escape(legend(t))) << '\n';
  // booktabs: no vertical rules; the column groups are set apart by \cmidrule under their titles.
  // report.published_columns: the published values as a group of their own, one column per table column
  // that has any.
  std::vector<std::size_t> published_cols;
  for (std::size_t c = 0; t.published_columns && c < t.columns.size(); ++c)
    for (std::size_t r = 0; r < t.rows.size(); ++r)
      if (!std::isnan(t.cells[r][c].published)) {
        published_cols.push_back(c);
        break;
      }
  o << "\\begin{tabular}{l" << std::string(t.components.size(), 'c') << std::string(t.columns.size(), 'r')
    << std::string(published_cols.size(), 'r') << "}\n\\toprule\n";
  // Header row 1: Module over the components, one group title per column group.
  o << "Method";
  if (!t.components.empty()) o << " & \\multicolumn{" << t.components.size() << "}{c}{Module}";
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // first, last column (1-based) per group
  std::size_t col_no = 1 + t.components.size();
  for (std::size_t g = 0; g < t.groups.size(); ++g) {
    std::size_t n = 0;
    for (const auto& col : t.columns) n += col.group == g;
    o << " & \\multicolumn{" << n << "}{c}{" << latex_escape(t.groups[g].title) << "}";
    spans.push_back({col_no + 1, col_no + n});
    col_no += n;
  }
  if (!published_cols.empty()) {
    o << " & \\multicolumn{" << published_cols.size() << "}{c}{Published}";
    spans.push_back({col_no + 1, col_no + published_cols.size()});
  }
  o << " \\\\\n";
  if (!t.components.empty()) o << "\\cmidrule(lr){2-" << 1 + t.components.size() << "}";
  for (const auto& [a, b] : spans) o << "\\cmidrule(lr){" << a << '-' << b << "}";
  o << '\n';
  for (const auto& c : t.components) o << " & " << latex_escape(component_display(c));
  for (const auto& col : t.columns)
    o << " & " << latex_escape(metric_display(col.metric)) << (col.higher_is_better ? "" : " $\\downarrow$");
  for (std::size_t c : published_cols)
    o << " & " << (t.groups.size() > 1 ? latex_escape(t.groups[t.columns[c].group].title) + " " : "")
      << latex_escape(metric_display(t.columns[c].metric));
  o << " \\\\\n\\midrule\n";
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    o << latex_escape(t.rows[r].label);
    for (bool m : t.rows[r].components) o << " & " << (m ? "\\checkmark" : "");
    for (const auto& cell : t.cells[r]) {
      std::string v = latex_escape(cell.value);
      if (cell.rank == 1) v = "\\textbf{" + v + "}";
      if (cell.rank == 2) v = "\\underline{" + v + "}";
      if (!cell.mark.empty()) v += "$^{" + latex_mark(cell.mark) + "}$";
      if (!std::isnan(cell.published) && !t.published_columns)
        v += " {\\scriptsize(" + published_latex(t, cell) + ")}";
      o << " & " << v;
    }
    for (std::size_t c : published_cols)
      o << " & " << (std::isnan(t.cells[r][c].published) ? "" : published_latex(t, t.cells[r][c]));
    o << " \\\\\n";
  }
  if (!t.trivial.empty()) o << "\\midrule\n";
  for (const auto& tr : t.trivial) {
    o << "\\textit{" << latex_escape(tr.label) << "}" << std::string(t.components.size(), '&');
    for (const auto& cell : tr.cells) o << " & \\textit{" << latex_escape(cell.value) << "}";
    for (std::size_t i = 0; i < published_cols.size(); ++i) o << " &";
    o << " \\\\\n";
  }
  o << "\\bottomrule\n\\end{tabular}\n";
  for (const auto& n : t.notes) o << "% note: " << one_line(latex_escape(n)) << '\n';
  return o.str();
}

std::string render_csv(const ComparisonTable& t) {
  std::ostringstream o;
  o << "study,class,dataset,class_name,variant,label,baseline,metric,higher_is_better,aggregate,scale,n,mean,sd,"
       "display,rank,wilcoxon_p_holm,mark";
  // The published columns only where a study gives published values: other tables keep their bytes.
  bool published = false;
  for (const auto& row : t.cells)
    for (const auto& cell : row) published = published || !std::isnan(cell.published);
  o << (published ? ",published,published_inside" : "");
  // The device column only where a row comes from a GPU (device_legend): CPU-only tables keep their bytes.
  const bool devices = !t.device_legend.empty();
  o << (devices ? ",device\n" : "\n");
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    for (std::size_t c = 0; c < t.columns.size(); ++c) {
      const Column& col = t.columns[c];
      const ColumnGroup& g = t.groups[col.group];
      const Cell& cell = t.cells[r][c];
      const bool scaled = t.percent && metric_is_ratio(col.metric);
      o << csv_field(g.study) << ',' << g.cls << ',' << csv_field(g.dataset) << ',' << csv_field(g.class_name) << ','
        << csv_field(t.rows[r].variant) << ','
        << csv_field(t.rows[r].label) << ',' << (t.rows[r].baseline ? "true" : "false") << ','
        << csv_field(col.metric) << ',' << (col.higher_is_better ? "true" : "false") << ',' << t.aggregate << ','
        << (scaled ? "percent" : "stored") << ',' << cell.stats.n << ',' << number(cell.stats.mean) << ','
        << number(cell.stats.sd) << ',' << csv_field(cell.value) << ','
        << (cell.rank == 1 ? "best" : cell.rank == 2 ? "second" : "") << ',' << number(cell.p_holm) << ','
        << cell.mark;
      if (published)
        o << ',' << number(cell.published) << ','
          << (std::isnan(cell.published) ? "" : cell.published_inside == 1 ? "true" : cell.published_inside == 0 ? "false" : "NA");
      if (devices) o << ',' << t.rows[r].device;
      o << '\n';
    }
  }
  // The trivial predictors as rows of their own: variant "(all_background)", never a baseline or ranked.
  for (const auto& tr : t.trivial) {
    for (std::size_t c = 0; c < t.columns.size(); ++c) {
      const Column& col = t.columns[c];
      const ColumnGroup& g = t.groups[col.group];
      const Cell& cell = tr.cells[c];
      const bool scaled = t.percent && metric_is_ratio(col.metric);
      o << csv_field(g.study) << ',' << g.cls << ',' << csv_field(g.dataset) << ',' << csv_field(g.class_name)
        << ",(" << tr.predictor << ")," << csv_field(tr.label) << ",false," << csv_field(col.metric) << ','
        << (col.higher_is_better ? "true" : "false") << ',' << t.aggregate << ','
        << (scaled ? "percent" : "stored") << ',' << cell.stats.n << ',' << number(cell.stats.mean) << ','
        << number(cell.stats.sd) << ',' << csv_field(cell.value) << ",," << number(kNaN) << ','
        << (published ? ",," : "") << (devices ? "," : "") << '\n';
    }
  }
  return o.str();
}

std::string render_html(const ComparisonTable& t) {
  std::ostringstream o;
  o << "<table class=\"cmp\">\n<thead>\n<tr><th rowspan=\"2\">Method</th>";
  if (!t.components.empty()) o << "<th colspan=\"" << t.components.size() << "\">Module</th>";
  for (std::size_t g = 0; g < t.groups.size(); ++g) {
    std::size_t n = 0;
    for (const auto& col : t.columns) n += col.group == g;
    o << "<th colspan=\"" << n << "\" class=\"grp\">" << html_escape(t.groups[g].title) << "</th>";
  }
  o << "</tr>\n<tr>";
  for (const auto& c : t.components) o << "<th>" << html_escape(component_display(c)) << "</th>";
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    const bool first_of_group = c > 0 && t.columns[c - 1].group != t.columns[c].group;
    o << "<th" << (first_of_group ? " class=\"grp\"" : "") << ">" << html_escape(metric_display(t.columns[c].metric))
      << (t.columns[c].higher_is_better ? "" : " &darr;") << "</th>";
  }
  o << "</tr>\n</thead>\n<tbody>\n";
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    o << "<tr" << (t.rows[r].baseline ? " class=\"baseline\"" : "") << "><td class=\"label\">"
      << html_escape(t.rows[r].label) << "</td>";
    for (bool m : t.rows[r].components) o << "<td class=\"chk\">" << (m ? "&#10003;" : "") << "</td>";
    for (std::size_t c = 0; c < t.cells[r].size(); ++c) {
      const Cell& cell = t.cells[r][c];
      std::string v = html_escape(cell.value);
      if (cell.rank == 1) v = "<b>" + v + "</b>";
      if (cell.rank == 2) v = "<u>" + v + "</u>";
      if (!cell.mark.empty()) v += "<sup>" + cell.mark + "</sup>";
      if (!std::isnan(cell.published)) v += " <sub class=\"pub\">" + html_escape(cell_published(t, cell)) + "</sub>";
      const bool first_of_group = c > 0 && t.columns[c - 1].group != t.columns[c].group;
      o << "<td class=\"num" << (first_of_group ? " grp" : "") << (cell.stats.n == 0 ? " na" : "") << "\">" << v
        << "</td>";
    }
    o << "</tr>\n";
  }
  for (const auto& tr : t.trivial) {
    o << "<tr class=\"trivial\"><td class=\"label\"><i>" << html_escape(tr.label) << "</i></td>";
    for (std::size_t i = 0; i < t.components.size(); ++i) o << "<td class=\"chk\"></td>";
    for (std::size_t c = 0; c < tr.cells.size(); ++c) {
      const bool first_of_group = c > 0 && t.columns[c - 1].group != t.columns[c].group;
      o << "<td class=\"num" << (first_of_group ? " grp" : "") << (tr.cells[c].stats.n == 0 ? " na" : "")
        << "\"><i>" << html_escape(tr.cells[c].value) << "</i></td>";
    }
    o << "</tr>\n";
  }
  o << "</tbody>\n</table>\n<p class=\"legend\">" << html_escape(legend(t)) << "</p>\n";
  o << notes_html(t.notes, t.note_lists);
  return o.str();
}

}  // namespace ablate::reports
