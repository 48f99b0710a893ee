#include "reports/effects.hpp"

#include <algorithm>
#include <bitset>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <sstream>

#include "reports/format.hpp"
#include "reports/report.hpp"
#include "reports/statistics.hpp"
#include "reports/study_index.hpp"
#include "reports/svg.hpp"

namespace ablate::reports {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double factorial(int n) {
  double f = 1;
  for (int i = 2; i <= n; ++i) f *= i;
  return f;
}

// mean v over the runs where sign(run) > 0 minus the mean where it is < 0.
template <class Sign>
double contrast(const std::vector<std::uint32_t>& runs, const PointMeans& v, Sign sign) {
  double plus = 0, minus = 0;
  int np = 0, nm = 0;
  for (auto r : runs) {
    const double y = v.at(r);
    if (sign(r) > 0) plus += y, ++np;
    else minus += y, ++nm;
  }
  return (np ? plus / np : kNaN) - (nm ? minus / nm : kNaN);
}

}  // namespace

std::vector<double> main_effects(int k, const std::vector<std::uint32_t>& runs, const PointMeans& v) {
  std::vector<double> out;
  for (int j = 0; j < k; ++j) out.push_back(contrast(runs, v, [&](std::uint32_t r) { return (r >> j) & 1u ? 1 : -1; }));
  return out;
}

std::vector<std::pair<int, int>> interaction_pairs(int k) {
  std::vector<std::pair<int, int>> out;
  for (int i = 0; i < k; ++i) {
    for (int j = i + 1; j < k; ++j) out.emplace_back(i, j);
  }
  return out;
}

std::vector<double> interactions(int k, const std::vector<std::uint32_t>& runs, const PointMeans& v) {
  std::vector<double> out;
  for (const auto& [i, j] : interaction_pairs(k)) {
    out.push_back(contrast(runs, v, [&, i = i, j = j](std::uint32_t r) {
      return (((r >> i) & 1u) == ((r >> j) & 1u)) ? 1 : -1;
    }));
  }
  return out;
}

std::vector<double> shapley_values(int k, const PointMeans& v) {
  std::vector<double> phi(static_cast<std::size_t>(k), 0.0);
  const double kf = factorial(k);
  const std::uint32_t all = (1u << k) - 1;
  for (int j = 0; j < k; ++j) {
    const std::uint32_t bit = 1u << j;
    for (std::uint32_t s = 0; s <= all; ++s) {
      if (s & bit) continue;
      const int size = popcount(s);
      const double weight = factorial(size) * factorial(k - size - 1) / kf;
      phi[static_cast<std::size_t>(j)] += weight * (v.at(s | bit) - v.at(s));
    }
  }
  return phi;
}

std::vector<Contrast> marginal_contrasts(const std::string& design, int k) {
  std::vector<Contrast> out;
  const std::uint32_t all = (1u << k) - 1;
  for (int j = 0; j < k; ++j) {
    const std::uint32_t bit = 1u << j;
    if (design == "add-one") out.push_back({j, bit, 0});
    else if (design == "leave-one-out") out.push_back({j, all, all & ~bit});
    else if (design == "cumulative") out.push_back({j, (bit << 1) - 1, bit - 1});
  }
  return out;
}

std::vector<Interval> paired_bootstrap(const std::vector<std::uint32_t>& points,
                                       const std::vector<std::vector<double>>& values, const Statistic& statistic,
                                       int resamples, std::uint64_t seed) {
  const std::size_t n = values.empty() ? 0 : values[0].size();
  auto means = [&](const std::vector<std::size_t>& draw) {
    PointMeans v;
    for (std::size_t p = 0; p < points.size(); ++p) {
      double sum = 0;
      for (std::size_t u : draw) sum += values[p][u];
      v[points[p]] = draw.empty() ? kNaN : sum / static_cast<double>(draw.size());
    }
    return v;
  };
  std::vector<std::size_t> all(n);
  for (std::size_t u = 0; u < n; ++u) all[u] = u;
  const std::vector<double> estimate = statistic(means(all));
  std::vector<std::vector<double>> draws(estimate.size());
  // mt19937_64 is specified bit for bit by the standard; the modulo (not a distribution, whose algorithm
  // is the library's) keeps the draws the same on every platform.
  std::mt19937_64 rng(seed);
  std::vector<std::size_t> draw(n);
  for (int b = 0; b < resamples && n > 0; ++b) {
    for (auto& u : draw) u = static_cast<std::size_t>(rng() % n);
    const std::vector<double> s = statistic(means(draw));
    for (std::size_t i = 0; i < s.size(); ++i) draws[i].push_back(s[i]);
  }
  std::vector<Interval> out;
  for (std::size_t i = 0; i < estimate.size(); ++i) {
    std::sort(draws[i].begin(), draws[i].end());
    out.push_back({estimate[i], quantile_sorted(draws[i], 0.025), quantile_sorted(draws[i], 0.975)});
  }
  return out;
}

StoredDesign stored_design(const db::StudyData& study, std::vector<std::string>* notes) {
  auto it = study.provenance.find("study_design");
  if (it == study.provenance.end() || it->second.empty()) return {};
  try {
    return parse_design_text(it->second);
  } catch (const std::exception& e) {
    if (notes) notes->push_back("study '" + study.study + "': the stored design cannot be read (" + e.what() + "); no effects");
    return {};
  }
}

namespace {

// Each design point's per-unit values, aligned on the units every point has.
struct Units {
  std::string unit;                      // case | fold
  std::vector<std::string> ids;
  std::vector<std::vector<double>> values;  // [point][unit]
  std::size_t dropped = 0;               // units some point lacks
};

std::map<std::string, double> unit_values(const Series& s, bool cases) {
  std::map<std::string, std::pair<double, int>> acc;
  if (cases) {
    for (const auto& [key, value] : s.cases) acc[key.case_id].first += value, ++acc[key.case_id].second;
  } else if (!s.folds.empty()) {
    for (const auto& [key, value] : s.folds) {
      auto& a = acc[std::to_string(key.fold) + "/" + std::to_string(key.repeat)];
      a.first += value, ++a.second;
    }
  } else {
    for (const auto& [key, value] : s.cases) {
      auto& a = acc[std::to_string(key.fold) + "/" + std::to_string(key.repeat)];
      a.first += value, ++a.second;
    }
  }
  std::map<std::string, double> out;
  for (const auto& [id, a] : acc) out[id] = a.first / a.second;
  return out;
}

Units units_of(const StudyIndex& index, const std::vector<std::string>& variants, int cls, const std::string& metric) {
  Units u;
  std::vector<const Series*> series;
  bool cases = true;
  for (const auto& name : variants) {
    series.push_back(index.find(name, cls, metric));
    if (!series.back() || series.back()->cases.empty()) cases = false;
  }
  u.unit = cases ? "case" : "fold";
  std::vector<std::map<std::string, double>> per;
  std::set<std::string> every, common;
  for (std::size_t p = 0; p < series.size(); ++p) {
    per.push_back(series[p] ? unit_values(*series[p], cases) : std::map<std::string, double>{});
    for (const auto& [id, v] : per.back()) every.insert(id);
  }
  for (const auto& id : every) {
    if (std::all_of(per.begin(), per.end(), [&](const auto& m) { return m.count(id) > 0; })) common.insert(id);
  }
  u.dropped = every.size() - common.size();
  u.ids.assign(common.begin(), common.end());
  for (const auto& m : per) {
    std::vector<double> row;
    for (const auto& id : u.ids) row.push_back(m.at(id));
    u.values.push_back(std::move(row));
  }
  return u;
}

// The design points with results, one variant per point (mask -> variant); false, with a note, when two
// variants are the same point (a [sweep] over a design).
bool design_points(const StoredDesign& design, const StudyIndex& index, std::map<std::uint32_t, std::string>& point,
                   std::vector<std::string>& notes) {
  for (const auto& [name, mask] : design.masks) {
    if (!index.has_results(name)) continue;
    if (!point.emplace(mask, name).second) {
      notes.push_back("variants `" + point[mask] + "` and `" + name + "` are the same design point (" +
                      mask_labels(design.components, mask) + "): effects need one variant per point (no [sweep])");
      return false;
    }
  }
  return true;
}

// Which estimators the points with results support.
struct Estimators {
  int k = 0;
  std::uint32_t all = 0;             // the mask with every component
  bool full = true;                  // every one of the 2^k subsets has results
  std::vector<std::uint32_t> runs;   // the factorial's runs: all subsets, or the fraction; empty: none
  int resolution = 0;                // 0 = full
  bool mains = false, pairs = false;
  std::vector<std::string> marginal;  // add-one, leave-one-out, cumulative: those the study declared
};
Estimators estimators_of(const StoredDesign& design, const std::map<std::uint32_t, std::string>& point,
                         std::vector<std::string>& notes) {
  Estimators e;
  e.k = static_cast<int>(design.components.size());
  auto has = [&](const std::string& d) { return std::find(design.designs.begin(), design.designs.end(), d) != design.designs.end(); };
  auto present = [&](std::uint32_t m) { return point.count(m) > 0; };
  e.all = (1u << e.k) - 1;
  for (std::uint32_t m = 0; m <= e.all; ++m) e.full = e.full && present(m);
  if (e.full) {
    for (std::uint32_t m = 0; m <= e.all; ++m) e.runs.push_back(m);
  } else if (has("fractional") && !design.fraction.empty() &&
             std::all_of(design.fraction.begin(), design.fraction.end(), present)) {
    e.runs = design.fraction;
    e.resolution = design.resolution;
  }
  e.mains = !e.runs.empty() && (e.resolution == 0 || e.resolution >= 4);
  e.pairs = !e.runs.empty() && (e.resolution == 0 || e.resolution >= 5) && e.k >= 2;
  if (e.runs.empty()) {
    if (has("factorial") || has("fractional")) {
      notes.push_back("main effects and interactions: the factorial is incomplete (design points without results)");
    }
    notes.push_back("main effects, interactions and Shapley values need a factorial design (design = \"factorial\"; "
                    "main effects also from \"fractional\" of resolution >= 4)");
  } else {
    if (!e.mains) {
      notes.push_back("main effects need a fraction of resolution >= 4: at resolution " + std::to_string(e.resolution) +
                      " each is aliased with a two-way interaction");
    }
    if (!e.pairs && e.k >= 2) {
      notes.push_back("two-way interactions need a full factorial or a fraction of resolution >= 5 (this one: " +
                      std::to_string(e.resolution) + ")");
    }
    if (!e.full) notes.push_back("Shapley values need every one of the 2^" + std::to_string(e.k) + " subsets: a factorial design");
  }
  for (const char* d : {"add-one", "leave-one-out", "cumulative"}) {
    if (has(d)) e.marginal.push_back(d);
  }
  return e;
}

// One class and metric of the table: the points' per-unit values in display units, and where rows go.
struct PointCell {
  EffectsTable& t;
  const StoredDesign& design;
  const StudyIndex& index;
  const std::map<std::uint32_t, std::string>& point;
  int cls;
  std::string metric;
  std::vector<std::uint32_t> masks;  // the points in the order of u.values
  Units u;
  std::size_t at(std::uint32_t m) const {
    return static_cast<std::size_t>(std::find(masks.begin(), masks.end(), m) - masks.begin());
  }
  void add(const std::string& estimator, const std::string& term, const std::string& context, const Interval& iv) {
    EffectRow r;
    r.cls = cls, r.metric = metric, r.estimator = estimator, r.term = term, r.context = context;
    r.value = iv;
    r.n = u.ids.size();
    r.p = r.p_holm = kNaN;
    t.rows.push_back(r);
  }
};

// The factorial's estimators: main effects, two-way interactions, Shapley values and their efficiency line.
void add_factorial(PointCell& c, const Estimators& e) {
  const int k = e.k;
  if (e.mains) {
    const auto iv = paired_bootstrap(c.masks, c.u.values, [&](const PointMeans& v) { return main_effects(k, e.runs, v); });
    for (int j = 0; j < k; ++j) c.add("main", c.design.components[j], "", iv[j]);
  }
  if (e.pairs) {
    const auto iv = paired_bootstrap(c.masks, c.u.values, [&](const PointMeans& v) { return interactions(k, e.runs, v); });
    const auto ps = interaction_pairs(k);
    for (std::size_t q = 0; q < ps.size(); ++q) {
      c.add("interaction", c.design.components[ps[q].first] + "×" + c.design.components[ps[q].second], "", iv[q]);
    }
  }
  if (e.full) {
    const auto iv = paired_bootstrap(c.masks, c.u.values, [&](const PointMeans& v) { return shapley_values(k, v); });
    double sum = 0;
    for (int j = 0; j < k; ++j) c.add("shapley", c.design.components[j], "", iv[j]), sum += iv[j].estimate;
    // v(N) − v(∅) on the cases as they are: only this estimate is printed, so no resampling.
    const auto mean_at = [&](std::uint32_t m) {
      const std::vector<double>& col = c.u.values[c.at(m)];
      double s = 0;
      for (double x : col) s += x;
      return col.empty() ? kNaN : s / static_cast<double>(col.size());
    };
    c.t.efficiency.push_back({c.cls, c.metric, sum, mean_at(e.all) - mean_at(0)});
  }
}

// One marginal design's contrasts (with − without a component) between points that both have results,
// each with its paired Wilcoxon test, Holm-adjusted over the design's contrasts.
void add_marginal(PointCell& c, const std::string& d, int k) {
  std::vector<Contrast> cs;
  for (const auto& con : marginal_contrasts(d, k)) {
    if (c.point.count(con.with) && c.point.count(con.without)) cs.push_back(con);
  }
  if (cs.empty()) return;
  const auto iv = paired_bootstrap(c.masks, c.u.values, [&](const PointMeans& v) {
    std::vector<double> out;
    for (const auto& con : cs) out.push_back(v.at(con.with) - v.at(con.without));
    return out;
  });
  const std::size_t first = c.t.rows.size();
  std::vector<double> ps;
  for (std::size_t q = 0; q < cs.size(); ++q) {
    c.add(d, c.design.components[cs[q].component],
          c.index.label(c.point.at(cs[q].without)) + " → " + c.index.label(c.point.at(cs[q].with)), iv[q]);
    const WilcoxonResult w = wilcoxon_signed_rank(c.u.values[c.at(cs[q].with)], c.u.values[c.at(cs[q].without)]);
    c.t.rows.back().p = w.p;
    ps.push_back(w.p);
  }
  const auto holm = holm_adjust(ps);
  for (std::size_t q = 0; q < cs.size(); ++q) {
    EffectRow& r = c.t.rows[first + q];
    r.p_holm = holm[q];
    const int sign = r.value.estimate > 0 ? 1 : r.value.estimate < 0 ? -1 : 0;
    r.mark = significance_mark(r.p_holm, metric_higher_is_better(c.metric) ? sign : -sign);
  }
}

}  // namespace

EffectsTable effects_table(const db::StudyData& study, const StoredDesign& design, const ReportConfig& config) {
  EffectsTable t;
  t.study = study.study;
  t.components = design.components;
  t.decimals = config.decimals;
  const StudyIndex index(study, study_names(study.study, config));
  t.dataset = index.names().dataset;
  if (design.components.empty()) return t;
  std::map<std::uint32_t, std::string> point;
  if (!design_points(design, index, point, t.notes)) return t;
  const Estimators e = estimators_of(design, point, t.notes);

  std::vector<std::string> metrics;
  for (const auto& m : config.metrics) {
    if (index.metrics().count(m)) metrics.push_back(m);
  }
  for (int cls : index.classes_with(metrics)) {
    for (const auto& metric : metrics) {
      PointCell c{t, design, index, point, cls, metric, {}, {}};
      std::vector<std::string> names;
      for (const auto& [m, name] : point) c.masks.push_back(m), names.push_back(name);
      c.u = units_of(index, names, cls, metric);
      if (c.u.ids.empty()) continue;
      t.unit = c.u.unit;
      if (c.u.dropped > 0) {
        t.notes.push_back(metric_display(metric) + " (class " + std::to_string(cls) + "): " +
                          std::to_string(c.u.dropped) + " " + c.u.unit + "(s) without a value in every design point left out");
      }
      const double scale = config.percent && metric_is_ratio(metric) ? 100.0 : 1.0;
      for (auto& row : c.u.values) {
        for (auto& x : row) x *= scale;
      }
      add_factorial(c, e);
      for (const auto& d : e.marginal) add_marginal(c, d, e.k);
    }
  }
  return t;
}

namespace {

std::string interval_text(const EffectRow& r, int decimals) {
  return "[" + fixed(r.value.lo, decimals) + ", " + fixed(r.value.hi, decimals) + "]";
}

std::string estimator_display(const std::string& e) {
  if (e == "main") return "main effect";
  if (e == "interaction") return "interaction";
  if (e == "shapley") return "Shapley value";
  return "marginal gain (" + e + ")";
}

std::string p_text(double p) { return std::isnan(p) ? "" : fixed(p, 4); }

std::string effect_metric_title(const EffectsTable& t, const EffectRow& r) {
  std::set<int> classes;
  for (const auto& x : t.rows) classes.insert(x.cls);
  return metric_display(r.metric) + (classes.size() > 1 ? " (class " + std::to_string(r.cls) + ")" : "");
}

}  // namespace

std::string render_effects_markdown(const EffectsTable& t) {
  std::ostringstream o;
  o << "### Effects: " << markdown_cell(t.dataset) << "\n\n";
  o << "Components: " << (t.components.empty() ? std::string("none") : "") ;
  for (std::size_t i = 0; i < t.components.size(); ++i) o << (i ? ", " : "") << markdown_cell(t.components[i]);
  o << ". 95 % intervals: paired bootstrap over " << (t.unit.empty() ? "case" : t.unit)
    << "s (2000 resamples); p: paired Wilcoxon, Holm-adjusted.\n\n";
  if (!t.rows.empty()) {
    o << "| metric | estimator | component | context | effect | 95 % CI | n | p (Holm) |\n";
    o << "|---|---|---|---|---:|---|---:|---:|\n";
    for (const auto& r : t.rows) {
      o << "| " << markdown_cell(effect_metric_title(t, r)) << " | " << estimator_display(r.estimator) << " | "
        << markdown_cell(r.term) << " | " << markdown_cell(r.context) << " | " << fixed(r.value.estimate, t.decimals)
        << r.mark << " | " << interval_text(r, t.decimals) << " | " << r.n << " | " << p_text(r.p_holm) << " |\n";
    }
    o << "\n";
  }
  for (const auto& e : t.efficiency) {
    o << "Efficiency, " << metric_display(e.metric) << (e.cls != 1 ? " (class " + std::to_string(e.cls) + ")" : "")
      << ": Σ Shapley = " << fixed(e.sum_shapley, t.decimals)
      << ", full − baseline = " << fixed(e.full_minus_baseline, t.decimals) << "\n";
  }
  if (!t.efficiency.empty()) o << "\n";
  for (const auto& n : t.notes) o << "> note: " << one_line(n) << "\n";
  return o.str();
}

std::string render_effects_latex(const EffectsTable& t) {
  std::ostringstream o;
  o << "% Generated by ablate report. Needs \\usepackage{booktabs}.\n";
  o << "\\begin{tabular}{llllrlr}\n\\toprule\n";
  o << "Metric & Estimator & Component & Context & Effect & 95\\,\\% CI & $p$ (Holm) \\\\\n\\midrule\n";
  for (const auto& r : t.rows) {
    o << latex_escape(effect_metric_title(t, r)) << " & " << latex_escape(estimator_display(r.estimator)) << " & "
      << latex_escape(r.term) << " & " << latex_escape(r.context) << " & "
      << latex_escape(fixed(r.value.estimate, t.decimals) + r.mark) << " & "
      << latex_escape(interval_text(r, t.decimals)) << " & " << p_text(r.p_holm) << " \\\\\n";
  }
  o << "\\bottomrule\n\\end{tabular}\n";
  for (const auto& e : t.efficiency) {
    o << "% efficiency " << e.metric << " class " << e.cls << ": sum Shapley = " << fixed(e.sum_shapley, t.decimals)
      << ", full - baseline = " << fixed(e.full_minus_baseline, t.decimals) << "\n";
  }
  for (const auto& n : t.notes) o << "% note: " << one_line(n) << "\n";
  return o.str();
}

std::string render_effects_csv(const EffectsTable& t) {
  std::ostringstream o;
  o << "study,class,metric,estimator,term,context,estimate,ci_low,ci_high,unit,n,p,p_holm\n";
  for (const auto& r : t.rows) {
    o << csv_field(t.study) << "," << r.cls << "," << csv_field(r.metric) << "," << r.estimator << ","
      << csv_field(r.term) << "," << csv_field(r.context) << "," << number(r.value.estimate) << ","
      << number(r.value.lo) << "," << number(r.value.hi) << "," << t.unit << "," << r.n << "," << number(r.p) << ","
      << number(r.p_holm) << "\n";
  }
  return o.str();
}

std::string render_effects_html(const EffectsTable& t) {
  std::ostringstream o;
  o << "<table class=\"cmp\">\n<tr><th>Metric</th><th>Estimator</th><th>Component</th><th>Context</th><th>Effect</th>"
    << "<th>95 % CI</th><th>n</th><th>p (Holm)</th></tr>\n";
  for (const auto& r : t.rows) {
    o << "<tr><td>" << html_escape(effect_metric_title(t, r)) << "</td><td>" << html_escape(estimator_display(r.estimator))
      << "</td><td>" << html_escape(r.term) << "</td><td>" << html_escape(r.context) << "</td><td>"
      << html_escape(fixed(r.value.estimate, t.decimals) + r.mark) << "</td><td>"
      << html_escape(interval_text(r, t.decimals)) << "</td><td>" << r.n << "</td><td>" << p_text(r.p_holm)
      << "</td></tr>\n";
  }
  o << "</table>\n";
  for (const auto& e : t.efficiency) {
    o << "<p>Efficiency, " << html_escape(metric_display(e.metric)) << ": &#931; Shapley = "
      << fixed(e.sum_shapley, t.decimals) << ", full &#8722; baseline = " << fixed(e.full_minus_baseline, t.decimals)
      << "</p>\n";
  }
  if (!t.notes.empty()) {
    o << "<ul class=\"notes\">\n";
    for (const auto& n : t.notes) o << "<li>" << html_escape(n) << "</li>\n";
    o << "</ul>\n";
  }
  return o.str();
}

std::string effects_svg(const EffectsTable& t) {
  using svg::coord;
  // Panels per (class, metric), rows grouped by estimator; the x axis of a panel spans its intervals and 0.
  std::vector<std::pair<int, std::string>> panels;
  for (const auto& r : t.rows) {
    if (std::find(panels.begin(), panels.end(), std::make_pair(r.cls, r.metric)) == panels.end()) {
      panels.emplace_back(r.cls, r.metric);
    }
  }
  const double row_h = 18, label_w = 330, plot_w = 360, top = 30, panel_gap = 46;
  double height = top;
  for (const auto& [cls, metric] : panels) {
    std::size_t n = 0;
    for (const auto& r : t.rows) n += r.cls == cls && r.metric == metric;
    height += panel_gap + row_h * static_cast<double>(n);
  }
  std::ostringstream o;
  const double width = label_w + plot_w + 40;
  o << svg::open(width, height + 10);
  svg::text(o, 10, 18, "Effects: " + t.dataset + " (95 % paired bootstrap intervals)", "start", svg::kPanelTitle);
  double y = top;
  for (const auto& [cls, metric] : panels) {
    std::vector<const EffectRow*> rows;
    for (const auto& r : t.rows) {
      if (r.cls == cls && r.metric == metric) rows.push_back(&r);
    }
    double lo = 0, hi = 0;
    for (const auto* r : rows) {
      for (double v : {r->value.lo, r->value.hi, r->value.estimate}) {
        if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
      }
    }
    if (hi - lo < 1e-12) lo -= 1, hi += 1;
    const double pad = 0.05 * (hi - lo);
    lo -= pad, hi += pad;
    auto x_of = [&](double v) { return label_w + (v - lo) / (hi - lo) * plot_w; };
    const std::string title = metric_display(metric) + (cls != 1 ? " (class " + std::to_string(cls) + ")" : "");
    svg::text(o, 10, y + 24, title, "start", svg::kBold);
    const double y0 = y + 32, y1 = y0 + row_h * static_cast<double>(rows.size());
    o << "<line x1=\"" << coord(x_of(0)) << "\" y1=\"" << coord(y0) << "\" x2=\"" << coord(x_of(0)) << "\" y2=\""
      << coord(y1) << "\" stroke=\"" << svg::kMuted << "\" stroke-dasharray=\"4 3\"/>\n";
    svg::text(o, label_w, y1 + 12, fixed(lo, t.decimals), "start", " fill=\"#555\"");
    svg::text(o, label_w + plot_w, y1 + 12, fixed(hi, t.decimals), "end", " fill=\"#555\"");
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const EffectRow& r = *rows[i];
      const double cy = y0 + row_h * (static_cast<double>(i) + 0.5);
      // One hue per estimator, from the report's palette: blue, purple, green, red.
      const char* colour = svg::colour(r.estimator == "main"          ? 0
                                       : r.estimator == "interaction" ? 6
                                       : r.estimator == "shapley"     ? 4
                                                                      : 2);
      svg::text(o, 10, cy + 4, estimator_display(r.estimator) + ": " + r.term, "start");
      if (std::isfinite(r.value.lo) && std::isfinite(r.value.hi)) {
        o << "<line x1=\"" << coord(x_of(r.value.lo)) << "\" y1=\"" << coord(cy) << "\" x2=\"" << coord(x_of(r.value.hi))
          << "\" y2=\"" << coord(cy) << "\" stroke=\"" << colour << "\" stroke-width=\"2\"/>\n";
      }
      o << "<circle cx=\"" << coord(x_of(r.value.estimate)) << "\" cy=\"" << coord(cy) << "\" r=\"4\" fill=\"" << colour
        << "\"><title>"
        << html_escape(r.term + ": " + fixed(r.value.estimate, t.decimals) + " " + interval_text(r, t.decimals))
        << "</title></circle>\n";
    }
    y = y1 + panel_gap - 32;
  }
  o << svg::close();
  return o.str();
}

}  // namespace ablate::reports
