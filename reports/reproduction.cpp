// Reproduction check (reports/reproduction.hpp, docs/REPORTS.md "Reproduction"): published numbers beside
// ours, interval verdicts, component directions, Kendall's τ, the summary text and the dumbbell plots.
#include "reports/reproduction.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "ablations/study.hpp"
#include "reports/format.hpp"
#include "reports/statistics.hpp"
#include "reports/svg.hpp"

namespace ablate::reports {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kNone = static_cast<std::size_t>(-1);

int sign(double x) { return x > 0 ? 1 : x < 0 ? -1 : 0; }

// "0.031", "< 0.001", "n/a".
std::string p_text(double p) {
  if (std::isnan(p)) return "n/a";
  if (p < 0.001) return "< 0.001";
  return fixed(p, 3);
}

// A published value in our table's display units: overlap metrics are ratios the paper prints in
// percent or as ratios (PublishedTable::scale), shown by us in percent when report.percent is on.
double to_display(double value, const std::string& metric, const std::string& scale, bool percent) {
  if (!metric_is_ratio(metric)) return value;
  const double ratio = scale == "percent" ? value / 100.0 : value;
  return percent ? ratio * 100.0 : ratio;
}

// Names joined as English: "CC", "CC and SC", "CC, SC and EC".
std::string and_list(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i)
    out += (i == 0 ? "" : i + 1 == items.size() ? " and " : ", ") + items[i];
  return out;
}

// Metrics in the display order of the tables (metric_order), ties (unknown metrics) by name.
void sort_for_display(std::vector<std::string>& metrics) {
  std::sort(metrics.begin(), metrics.end(), [](const std::string& a, const std::string& b) {
    return std::make_pair(metric_order(a), a) < std::make_pair(metric_order(b), b);
  });
}

}  // namespace

double student_t_quantile(double p, double df) {
  if (!(p > 0 && p < 1) || !(df > 0)) return kNaN;
  if (p < 0.5) return -student_t_quantile(1 - p, df);
  double lo = 0, hi = 1;
  while (student_t_cdf(hi, df) < p && hi < 1e12) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 1e-12 * std::max(1.0, hi); ++i) {
    const double mid = (lo + hi) / 2;
    (student_t_cdf(mid, df) < p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

KendallResult kendall_tau(const std::vector<double>& x, const std::vector<double>& y) {
  KendallResult k;
  k.n = std::min(x.size(), y.size());
  k.tau = k.p = kNaN;
  const std::size_t n = k.n;
  if (n < 2) return k;
  double s = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j) s += sign(x[i] - x[j]) * sign(y[i] - y[j]);
  k.s = s;
  // Tie groups of each side: sizes t > 1.
  auto tie_sizes = [n](const std::vector<double>& v) {
    std::vector<double> sorted(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
    std::sort(sorted.begin(), sorted.end());
    std::vector<double> sizes;
    for (std::size_t i = 0; i < n;) {
      std::size_t j = i;
      while (j < n && sorted[j] == sorted[i]) ++j;
      if (j - i > 1) sizes.push_back(static_cast<double>(j - i));
      i = j;
    }
    return sizes;
  };
  const std::vector<double> tx = tie_sizes(x), ty = tie_sizes(y);
  k.ties = !tx.empty() || !ty.empty();
  const double dn = static_cast<double>(n), n0 = dn * (dn - 1) / 2;
  double n1 = 0, n2 = 0;
  for (double t : tx) n1 += t * (t - 1) / 2;
  for (double u : ty) n2 += u * (u - 1) / 2;
  const double denom = std::sqrt((n0 - n1) * (n0 - n2));
  if (!(denom > 0)) return k;
  k.tau = s / denom;
  if (n < 50 && !k.ties) {
    // Exact: the number of concordant pairs q = (S + n0) / 2 has the distribution of the inversions of a
    // random permutation; dist[j] = P(q = j), built up one element at a time.
    k.exact = true;
    std::vector<double> dist = {1.0};
    for (std::size_t m = 2; m <= n; ++m) {
      std::vector<double> next(dist.size() + m - 1, 0.0);
      for (std::size_t j = 0; j < next.size(); ++j)
        for (std::size_t i = 0; i < m && i <= j; ++i)
          if (j - i < dist.size()) next[j] += dist[j - i] / static_cast<double>(m);
      dist = std::move(next);
    }
    const auto q = static_cast<std::size_t>(std::llround((s + n0) / 2));
    auto cdf = [&](std::size_t upto) {
      double sum = 0;
      for (std::size_t j = 0; j <= upto && j < dist.size(); ++j) sum += dist[j];
      return sum;
    };
    // R's cor.test: P(T >= q) above the null mean, P(T <= q) below, doubled.
    const double one = static_cast<double>(q) > n0 / 2 ? 1 - cdf(q - 1) : cdf(q);
    k.p = std::min(1.0, 2 * one);
    return k;
  }
  // Normal approximation of S with the ties-corrected variance (Kendall 1970; R's cor.test).
  double v0 = dn * (dn - 1) * (2 * dn + 5), vt = 0, vu = 0, t2 = 0, u2 = 0, t1 = 0, u1 = 0;
  for (double t : tx) vt += t * (t - 1) * (2 * t + 5), t2 += t * (t - 1) * (t - 2), t1 += t * (t - 1);
  for (double u : ty) vu += u * (u - 1) * (2 * u + 5), u2 += u * (u - 1) * (u - 2), u1 += u * (u - 1);
  double var = (v0 - vt - vu) / 18;
  if (n > 2) var += t2 * u2 / (9 * dn * (dn - 1) * (dn - 2));
  var += t1 * u1 / (2 * dn * (dn - 1));
  if (!(var > 0)) return k;
  const double z = s / std::sqrt(var);
  k.p = std::min(1.0, 2 * (1 - normal_cdf(std::fabs(z))));
  return k;
}

namespace {

// Each published table's column group of the comparison table: by its dataset and class; a study that does
// not name its dataset (report.dataset empty: its groups are titled by the study), reported alone, compares
// tables that all name one dataset with its groups by class alone. A table naming no group is left out.
void match_sources(const std::vector<PublishedTable>& published, const ComparisonTable& table, Reproduction& r) {
  bool unnamed = !table.groups.empty();
  for (const auto& g : table.groups) unnamed = unnamed && g.study == table.groups[0].study && g.dataset == g.study;
  bool one_dataset = true;
  for (const PublishedTable& p : published) one_dataset = one_dataset && p.dataset == published[0].dataset;
  for (const PublishedTable& p : published) {
    PublishedSource src;
    src.table = p;
    const std::string name = "published table '" + p.source + "'" +
                             (p.dataset.empty() && p.class_name.empty() ? ""
                              : " (" + p.dataset + (p.dataset.empty() || p.class_name.empty() ? "" : ", ") +
                                    (p.class_name.empty() ? "" : "class " + p.class_name) + ")");
    // The class: its name (report.class_names) or "class k"; a table without one takes the dataset's first group.
    auto class_matches = [&](const ColumnGroup& g) {
      return p.class_name.empty() || g.class_name == p.class_name || "class " + std::to_string(g.cls) == p.class_name;
    };
    for (std::size_t g = 0; g < table.groups.size() && src.group == kNone; ++g)
      if ((p.dataset.empty() || table.groups[g].dataset == p.dataset || table.groups[g].title == p.dataset) &&
          class_matches(table.groups[g]))
        src.group = g;
    if (src.group == kNone && unnamed && one_dataset) {
      for (std::size_t g = 0; g < table.groups.size() && src.group == kNone; ++g)
        if (class_matches(table.groups[g])) src.group = g;
      if (src.group != kNone)
        r.notes.push_back(name + " names no column group of that dataset; compared with " +
                          (table.groups.size() == 1 ? "the only one, '" + table.groups[0].title + "'"
                                                    : "'" + table.groups[src.group].title +
                                                          "' (by class: the study names no dataset)"));
    }
    if (src.group == kNone) {
      std::string titles;
      for (const auto& g : table.groups) titles += (titles.empty() ? "" : ", ") + g.title;
      r.notes.push_back(name + " names no column group of the table (groups: " + titles + "); left out");
      continue;
    }
    src.group_title = table.groups[src.group].title;
    r.sources.push_back(std::move(src));
  }
}

// One published table against its column group: what every phase below reads.
struct SourceCheck {
  const std::vector<db::StudyData>& studies;
  const std::vector<StudyIndex>& indexes;
  const ReportConfig& config;
  const ComparisonTable& table;
  std::size_t si;                            // index into Reproduction::sources
  const PublishedTable& p;
  std::size_t group_index;                   // into table.groups
  const ColumnGroup& group;
  std::size_t study = 0;                     // the group's study; studies.size() when none
  std::map<std::string, std::size_t> row_of;  // published row -> table row
  std::vector<std::string> metrics;          // published for a matched row, in display order
};

// Published rows -> table rows: by label first, then by name; the unmatched ones noted once per table, as
// `ablate plan` notes them.
void match_rows(SourceCheck& c, std::vector<std::string>& notes) {
  std::vector<std::string> unmatched;
  for (const auto& [key, metrics] : c.p.values) {
    (void)metrics;
    std::size_t found = kNone;
    for (std::size_t row = 0; row < c.table.rows.size() && found == kNone; ++row)
      if (c.table.rows[row].label == key) found = row;
    for (std::size_t row = 0; row < c.table.rows.size() && found == kNone; ++row)
      if (!c.table.rows[row].variant.empty() && c.table.rows[row].variant == key) found = row;
    if (found == kNone)
      unmatched.push_back(key);
    else
      c.row_of[key] = found;
  }
  if (!unmatched.empty()) notes.push_back(unmatched_rows_note(c.p, unmatched));
  for (const auto& [key, ms] : c.p.values)
    for (const auto& [m, v] : ms)
      if (c.row_of.count(key) && std::find(c.metrics.begin(), c.metrics.end(), m) == c.metrics.end())
        c.metrics.push_back(m);
  sort_for_display(c.metrics);
}

// Our value of one cell: the table's cell when the metric is a column, the stored parameters for
// "params", else the study's own statistics; with its 95 % t-interval and whether the published mean is in it.
void our_value(const SourceCheck& c, ReproductionCell& cell) {
  const std::string& m = cell.metric;
  if (m == "params") {
    if (c.study < c.studies.size())
      for (const auto& f : c.studies[c.study].model_facts)
        if (f.variant == cell.variant) {
          cell.ours.n = 1, cell.ours.mean = static_cast<double>(f.parameters) / 1e6, cell.ours.sd = 0;
          break;
        }
    if (cell.ours.n == 0) cell.ours = mean_sd({});
  } else if (cell.column != kNone) {
    cell.ours = c.table.cells[cell.row][cell.column].stats;
  } else if (c.study < c.studies.size()) {
    cell.ours = display_stats(c.indexes[c.study], cell.variant, c.group.cls, m, c.config);
  } else {
    cell.ours = mean_sd({});
  }
  cell.low = cell.high = kNaN;
  cell.difference = cell.ours.n > 0 ? cell.ours.mean - cell.published : kNaN;
  if (cell.ours.n >= 2) {
    const double half = student_t_quantile(0.975, static_cast<double>(cell.ours.n - 1)) * cell.ours.sd /
                        std::sqrt(static_cast<double>(cell.ours.n));
    cell.low = cell.ours.mean - half, cell.high = cell.ours.mean + half;
    cell.inside = cell.published >= cell.low && cell.published <= cell.high ? 1 : 0;
  }
}

// The cells, in table-row order, metrics in display order.
void add_cells(const SourceCheck& c, Reproduction& r) {
  for (std::size_t row = 0; row < c.table.rows.size(); ++row) {
    std::string key;
    for (const auto& [k, rr] : c.row_of)
      if (rr == row && (key.empty() || k == c.table.rows[row].label)) key = k;
    if (key.empty()) continue;
    for (const auto& m : c.metrics) {
      auto it = c.p.values.at(key).find(m);
      if (it == c.p.values.at(key).end()) continue;
      ReproductionCell cell;
      cell.source = c.si;
      cell.row = row;
      cell.variant = c.table.rows[row].variant;
      cell.label = c.table.rows[row].label;
      cell.metric = m;
      cell.published = to_display(it->second, m, c.p.scale, c.config.percent);
      cell.published_sd = kNaN;
      if (auto sr = c.p.sd.find(key); sr != c.p.sd.end())
        if (auto sm = sr->second.find(m); sm != sr->second.end())
          cell.published_sd = to_display(sm->second, m, c.p.scale, c.config.percent);
      for (std::size_t col = 0; col < c.table.columns.size(); ++col)
        if (c.table.columns[col].group == c.group_index && c.table.columns[col].metric == m) cell.column = col;
      our_value(c, cell);
      if (cell.ours.n == 0)
        r.notes.push_back("published row '" + key + "' (" + metric_display(m) + ") of '" + c.p.source +
                          "': no value of ours to compare");
      r.cells.push_back(cell);
    }
  }
}

// Component steps: rows A and B = A + one component, both with a published and an own value, and nothing
// else of their configuration different: 002 Table I's PAM and MS-Dual-Guided differ in the one check-mark
// column (semantic guidance) but also in the attention and the refinement, so adding the guidance is
// MS-Dual -> MS-Dual-Guided only. A row whose stored configuration cannot be read is compared by its check
// marks alone. Our p-values are Holm-adjusted over the steps of one table and metric.
void add_steps(const SourceCheck& c, Reproduction& r) {
  const ComparisonTable& table = c.table;
  std::vector<std::optional<std::map<std::string, std::string>>> configs(table.rows.size());
  for (std::size_t row = 0; row < table.rows.size() && c.study < c.studies.size(); ++row)
    for (const auto& v : c.studies[c.study].variants)
      if (v.name == table.rows[row].variant) {
        try {
          configs[row] = canonical_values(v.canonical);
        } catch (const std::exception&) {
        }
        break;
      }
  auto only_differ_in = [&](std::size_t a, std::size_t b, const std::string& component) {
    if (!configs[a] || !configs[b]) return true;
    const std::string key = component_key(component);
    std::map<std::string, std::string> x = *configs[a], y = *configs[b];
    x.erase(key), y.erase(key);
    return x == y;
  };
  auto cell_of = [&](std::size_t row, const std::string& m) -> const ReproductionCell* {
    for (const auto& cell : r.cells)
      if (cell.source == c.si && cell.row == row && cell.metric == m && cell.ours.n > 0) return &cell;
    return nullptr;
  };
  // Whether row b is row a with component ci added and every other check mark the same.
  auto adds = [&](std::size_t a, std::size_t b, std::size_t ci) {
    const auto& ca = table.rows[a].components;
    const auto& cb = table.rows[b].components;
    if (ca.size() != table.components.size() || cb.size() != ca.size() || ca[ci] || !cb[ci]) return false;
    for (std::size_t k = 0; k < ca.size(); ++k)
      if (k != ci && ca[k] != cb[k]) return false;
    return only_differ_in(a, b, table.components[ci]);
  };
  for (const auto& m : c.metrics) {
    if (m == "params" || c.study >= c.studies.size()) continue;
    const std::size_t first = r.steps.size();
    for (std::size_t ci = 0; ci < table.components.size(); ++ci) {
      for (std::size_t a = 0; a < table.rows.size(); ++a) {
        for (std::size_t b = 0; b < table.rows.size(); ++b) {
          if (!adds(a, b, ci)) continue;
          const ReproductionCell* from = cell_of(a, m);
          const ReproductionCell* to = cell_of(b, m);
          if (!from || !to) continue;
          ComponentStep step;
          step.source = c.si;
          step.component = table.components[ci];
          step.metric = m;
          step.from = a, step.to = b;
          step.published_delta = to->published - from->published;
          step.our_delta = to->ours.mean - from->ours.mean;
          const int better = metric_higher_is_better(m) ? 1 : -1;
          step.published_direction = sign(step.published_delta) * better;
          step.our_direction = sign(step.our_delta) * better;
          step.agree = step.published_direction == 0 ? -1 : step.our_direction == step.published_direction ? 1 : 0;
          step.test = paired_test(c.indexes[c.study], to->variant, from->variant, c.group.cls, m);
          r.steps.push_back(step);
        }
      }
    }
    std::vector<double> ps;
    for (std::size_t i = first; i < r.steps.size(); ++i) ps.push_back(r.steps[i].test.wilcoxon.p);
    const std::vector<double> holm = holm_adjust(ps);
    for (std::size_t i = first; i < r.steps.size(); ++i) {
      r.steps[i].p_holm = holm[i - first];
      r.steps[i].significant = !std::isnan(holm[i - first]) && holm[i - first] < 0.05;
    }
  }
}

// Row order: Kendall's τ_b per metric between the published and our means.
void add_ranks(const SourceCheck& c, Reproduction& r) {
  for (const auto& m : c.metrics) {
    std::vector<double> x, y;
    for (const auto& cell : r.cells)
      if (cell.source == c.si && cell.metric == m && cell.ours.n > 0) x.push_back(cell.published), y.push_back(cell.ours.mean);
    r.ranks.push_back({c.si, m, kendall_tau(x, y)});
  }
}

// The summary's sentence on one metric's components, each at its first step (from the row with the fewest
// components, then in table order): those that move the metric the same way in both, those that disagree,
// those the paper leaves unchanged. Empty when the metric has no step.
std::string components_sentence(const SourceCheck& c, const Reproduction& r, const std::string& m) {
  const ComparisonTable& table = c.table;
  std::map<std::string, const ComponentStep*> first_step;
  for (const auto& st : r.steps) {
    if (st.source != c.si || st.metric != m) continue;
    auto count = [&](std::size_t row) {
      return std::count(table.rows[row].components.begin(), table.rows[row].components.end(), true);
    };
    auto& slot = first_step[st.component];
    if (!slot || count(st.from) < count(slot->from)) slot = &st;
  }
  if (first_step.empty()) return "";
  std::vector<std::string> both_up, both_down, flat;
  for (const auto& comp : table.components) {
    auto it = first_step.find(comp);
    if (it == first_step.end()) continue;
    const ComponentStep& st = *it->second;
    const std::string name = component_display(comp) + " (p = " + p_text(st.p_holm) + ")";
    if (st.published_direction == 0) flat.push_back(name);
    else if (st.agree == 1) (st.published_direction > 0 ? both_up : both_down).push_back(name);
  }
  const std::string md = metric_display(m);
  std::vector<std::string> parts;
  if (!both_up.empty()) parts.push_back(and_list(both_up) + " improve" + (both_up.size() == 1 ? "s " : " ") + md + " in both");
  if (!both_down.empty()) parts.push_back(and_list(both_down) + " worsen" + (both_down.size() == 1 ? "s " : " ") + md + " in both");
  for (const auto& comp : table.components) {
    auto it = first_step.find(comp);
    if (it == first_step.end()) continue;
    const ComponentStep& st = *it->second;
    if (st.published_direction == 0 || st.agree == 1) continue;
    parts.push_back(component_display(comp) + (st.published_direction > 0 ? " improves " : " worsens ") + md +
                    " in the paper, " + (st.our_direction == 0 ? "leaves it unchanged here" : st.our_direction > 0 ? "improves it here" : "worsens it here") +
                    " (p = " + p_text(st.p_holm) + ")");
  }
  if (!flat.empty()) parts.push_back(and_list(flat) + " leave" + (flat.size() == 1 ? "s " : " ") + md + " unchanged in the paper");
  std::string s = " " + md + ", adding each component to the row with the fewest: ";
  for (std::size_t i = 0; i < parts.size(); ++i) s += (i ? "; " : "") + parts[i];
  return s + ".";
}

// Scale: our spread, and our distance from the paper, against the range of the published rows, per metric;
// the first metric where either exceeds it is said (empty when none).
std::string scale_sentence(const SourceCheck& c, const Reproduction& r) {
  for (const auto& m : c.metrics) {
    if (m == "params") continue;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    std::vector<double> sds, gaps;
    for (const auto& cell : r.cells) {
      if (cell.source != c.si || cell.metric != m || cell.ours.n == 0) continue;
      lo = std::min(lo, cell.published), hi = std::max(hi, cell.published);
      if (cell.ours.n >= 2) sds.push_back(cell.ours.sd);
      gaps.push_back(std::fabs(cell.difference));
    }
    if (!(hi > lo)) continue;
    const double sd = quantile(sds, 0.5), gap = quantile(gaps, 0.5), range = hi - lo;
    const std::string md = metric_display(m);
    const char* verdict = ", so the verdicts on the components and the order are expected to disagree with the paper's.";
    std::ostringstream s;
    if (!std::isnan(sd) && sd >= range) {
      s << " Our " << md << " varies more within a cell (median sd " << fixed(sd, r.decimals)
        << ") than the published rows differ from each other (range " << fixed(range, r.decimals)
        << "): at this scale the differences between rows are within our noise" << verdict;
      return s.str();
    }
    if (gap >= range) {
      s << " Our " << md << " lies a median " << fixed(gap, r.decimals)
        << " from the published values, further than the published rows differ from each other (range "
        << fixed(range, r.decimals) << "): this is not the paper's setting (data, scale or training)" << verdict;
      return s.str();
    }
  }
  return "";
}

// The summary paragraph of one source, from the numbers: intervals, components, steps, order, scale.
std::string summary(const SourceCheck& c, const Reproduction& r) {
  std::ostringstream s;
  std::size_t inside = 0, with_interval = 0, compared = 0;
  std::size_t n_min = kNone, n_max = 0;
  for (const auto& cell : r.cells) {
    if (cell.source != c.si || cell.ours.n == 0) continue;
    ++compared;
    if (cell.inside >= 0) ++with_interval, inside += cell.inside == 1;
    if (cell.metric != "params") n_min = std::min(n_min, cell.ours.n), n_max = std::max(n_max, cell.ours.n);
  }
  s << c.p.source << (c.p.dataset.empty() ? "" : " (" + c.p.dataset + ")") << " against " << c.group.title << ": ";
  if (compared == 0) {
    s << "no published value has a value of ours to compare.";
    return s.str();
  }
  s << inside << " of " << with_interval << " published values lie inside our 95 % intervals (t-intervals over the "
    << (r.interval == "cases" ? "cases" : "folds") << " of each cell";
  if (n_min != kNone) s << ", n = " << n_min << (n_max != n_min ? ".." + std::to_string(n_max) : "");
  s << ")";
  if (with_interval < compared) s << "; " << compared - with_interval << " without an interval";
  s << ".";
  for (const auto& m : c.metrics) {
    if (m != "params") s << components_sentence(c, r, m);
  }
  std::size_t agree = 0, decided = 0, significant = 0;
  for (const auto& st : r.steps) {
    if (st.source != c.si) continue;
    if (st.agree >= 0) ++decided, agree += st.agree == 1;
    significant += st.significant;
  }
  if (decided > 0)
    s << " Over all " << decided << " component steps the direction agrees in " << agree << ", and " << significant
      << " of our differences are significant (Holm-adjusted Wilcoxon p < 0.05).";
  std::vector<std::string> taus;
  for (const auto& rk : r.ranks)
    if (rk.source == c.si && !std::isnan(rk.kendall.tau))
      taus.push_back(metric_display(rk.metric) + " τ = " + fixed(rk.kendall.tau, 2) + " (p = " + p_text(rk.kendall.p) +
                     ", n = " + std::to_string(rk.kendall.n) + ")");
  if (!taus.empty()) s << " Order of the rows, published against ours: " << and_list(taus) << ".";
  s << scale_sentence(c, r);
  return s.str();
}

}  // namespace

Reproduction reproduction(const std::vector<db::StudyData>& studies, const std::vector<StudyIndex>& indexes,
                          const ReportConfig& config, const ComparisonTable& table) {
  Reproduction r;
  r.interval = table.aggregate;
  r.decimals = table.decimals;
  std::vector<PublishedTable> published;
  try {
    published = parse_published(config.published);
  } catch (const std::exception& e) {
    r.notes.push_back(std::string("the published values cannot be read (") + e.what() + "); no reproduction check");
    return r;
  }
  match_sources(published, table, r);
  for (std::size_t si = 0; si < r.sources.size(); ++si) {
    const PublishedSource& src = r.sources[si];
    const ColumnGroup& group = table.groups[src.group];
    SourceCheck c{studies, indexes, config, table, si, src.table, src.group, group, 0, {}, {}};
    while (c.study < studies.size() && studies[c.study].study != group.study) ++c.study;
    match_rows(c, r.notes);
    add_cells(c, r);
    add_steps(c, r);
    add_ranks(c, r);
    r.summaries.push_back(summary(c, r));
  }
  return r;
}

void mark_published(ComparisonTable& table, const Reproduction& r, bool latex_columns) {
  if (r.empty()) return;
  bool any = false;
  for (const auto& c : r.cells) {
    if (c.column == kNone) continue;
    Cell& cell = table.cells[c.row][c.column];
    cell.published = c.published;
    cell.published_inside = c.inside;
    any = true;
  }
  if (!any) return;
  // Each source once (a paper's table can publish several column groups: datasets, classes).
  std::vector<std::string> names;
  for (const auto& s : r.sources)
    if (std::find(names.begin(), names.end(), s.table.source) == names.end()) names.push_back(s.table.source);
  std::string sources;
  for (const auto& n : names) sources += (sources.empty() ? "" : ", ") + n;
  table.published_legend = "paper: the published mean (" + sources + "), ✓ inside, ✗ outside our 95 % t-interval over the " +
                           (r.interval == "cases" ? "cases" : "folds") + " of the cell.";
  table.published_columns = latex_columns;
}

std::string reproduction_csv(const Reproduction& r, const ComparisonTable& table) {
  std::ostringstream o;
  o << "source,dataset,group,study,class,variant,label,metric,published,published_sd,n,mean,sd,ci_low,ci_high,"
       "difference,inside\n";
  for (const auto& c : r.cells) {
    const PublishedSource& s = r.sources[c.source];
    const ColumnGroup& g = table.groups[s.group];
    o << csv_field(s.table.source) << ',' << csv_field(s.table.dataset) << ',' << csv_field(g.title) << ','
      << csv_field(g.study) << ',' << g.cls << ',' << csv_field(c.variant) << ',' << csv_field(c.label) << ','
      << csv_field(c.metric) << ',' << number(c.published) << ',' << number(c.published_sd) << ',' << c.ours.n << ','
      << number(c.ours.mean) << ',' << number(c.ours.sd) << ',' << number(c.low) << ',' << number(c.high) << ','
      << number(c.difference) << ',' << (c.inside == 1 ? "true" : c.inside == 0 ? "false" : "NA") << '\n';
  }
  return o.str();
}

std::string reproduction_steps_csv(const Reproduction& r, const ComparisonTable& table) {
  std::ostringstream o;
  o << "source,metric,component,from,to,published_delta,our_delta,published_direction,our_direction,agree,unit,n,"
       "wilcoxon_v,wilcoxon_p,wilcoxon_p_holm,significant\n";
  auto dir = [](int d) { return d > 0 ? "improves" : d < 0 ? "worsens" : "none"; };
  for (const auto& st : r.steps) {
    o << csv_field(r.sources[st.source].table.source) << ',' << csv_field(st.metric) << ',' << csv_field(st.component)
      << ',' << csv_field(table.rows[st.from].variant) << ',' << csv_field(table.rows[st.to].variant) << ','
      << number(st.published_delta) << ',' << number(st.our_delta) << ',' << dir(st.published_direction) << ','
      << dir(st.our_direction) << ',' << (st.agree == 1 ? "true" : st.agree == 0 ? "false" : "NA") << ','
      << st.test.unit << ',' << st.test.n << ',' << number(st.test.wilcoxon.statistic) << ','
      << number(st.test.wilcoxon.p) << ',' << number(st.p_holm) << ',' << (st.significant ? "true" : "false") << '\n';
  }
  o << "\nsource,metric,n,tau_b,s,p,method\n";
  for (const auto& rk : r.ranks)
    o << csv_field(r.sources[rk.source].table.source) << ',' << csv_field(rk.metric) << ',' << rk.kendall.n << ','
      << number(rk.kendall.tau) << ',' << number(rk.kendall.s) << ',' << number(rk.kendall.p) << ','
      << (std::isnan(rk.kendall.p) ? "NA" : rk.kendall.exact ? "exact" : "normal") << '\n';
  return o.str();
}

std::string dumbbell_svg(const Reproduction& r, const ComparisonTable& table, std::size_t source,
                         const std::string& metric) {
  using svg::coord;
  std::vector<const ReproductionCell*> cells;
  for (const auto& c : r.cells)
    if (c.source == source && c.metric == metric) cells.push_back(&c);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto* c : cells)
    for (double v : {c->published, c->ours.mean, c->low, c->high})
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  const svg::Ticks x = svg::nice_ticks(lo, hi);
  const double left = 220, width = 440, top = 56, row_h = 24;
  const double height = top + row_h * static_cast<double>(cells.size()) + 44;
  auto px = [&](double v) { return x.along(v, left, width); };
  std::ostringstream o;
  o << svg::open(720, height);
  const PublishedSource& s = r.sources[source];
  svg::text(o, left + width / 2, 18, metric_display(metric) + ": " + s.table.source + " against " + s.group_title,
            "middle", svg::kPanelTitle);
  // Legend: the published mean a diamond, ours a dot on its interval.
  const char* published = svg::colour(1);
  const char* ours = svg::colour(0);
  o << "<path d=\"M" << coord(left) << " 32.0 l5 5 l-5 5 l-5 -5 z\" fill=\"" << published << "\"/>\n";
  svg::text(o, left + 10, 41, "published", "start");
  o << "<line x1=\"" << coord(left + 90) << "\" y1=\"37.0\" x2=\"" << coord(left + 120) << "\" y2=\"37.0\" stroke=\""
    << ours << "\" stroke-width=\"4\" stroke-opacity=\"0.35\"/>\n<circle cx=\"" << coord(left + 105)
    << "\" cy=\"37.0\" r=\"4\" fill=\"" << ours << "\"/>\n";
  svg::text(o, left + 126, 41, "ours: mean and 95 % interval", "start");
  for (double t : x.at) {
    o << "<line x1=\"" << coord(px(t)) << "\" y1=\"" << coord(top - 6) << "\" x2=\"" << coord(px(t)) << "\" y2=\""
      << coord(height - 38) << "\" stroke=\"" << svg::kGrid << "\"/>\n";
    svg::text(o, px(t), height - 24, fixed(t, x.decimals));
  }
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const ReproductionCell& c = *cells[i];
    const double y = top + row_h * (static_cast<double>(i) + 0.5);
    svg::text(o, left - 8, y + 4, c.label, "end");
    if (std::isfinite(c.low))
      o << "<line x1=\"" << coord(px(c.low)) << "\" y1=\"" << coord(y) << "\" x2=\"" << coord(px(c.high)) << "\" y2=\""
        << coord(y) << "\" stroke=\"" << ours << "\" stroke-width=\"6\" stroke-opacity=\"0.35\"/>\n";
    if (c.ours.n > 0) {
      o << "<line x1=\"" << coord(px(c.published)) << "\" y1=\"" << coord(y) << "\" x2=\"" << coord(px(c.ours.mean))
        << "\" y2=\"" << coord(y) << "\" stroke=\"" << svg::kMuted << "\"/>\n<circle cx=\"" << coord(px(c.ours.mean))
        << "\" cy=\"" << coord(y) << "\" r=\"4\" fill=\"" << ours << "\"/>\n";
    }
    o << "<path d=\"M" << coord(px(c.published)) << ' ' << coord(y - 5) << " l5 5 l-5 5 l-5 -5 z\" fill=\"" << published
      << "\"/>\n";
    svg::text(o, left + width + 10, y + 4, c.inside == 1 ? "inside" : c.inside == 0 ? "outside" : "no interval", "start");
  }
  svg::text(o, left + width / 2, height - 6,
            metric_display(metric) + (metric_is_ratio(metric) && table.percent ? " (%)" : ""));
  o << svg::close();
  return o.str();
}

std::string reproduction_html(const Reproduction& r, const ComparisonTable& table) {
  std::ostringstream o;
  o << "<h2 id=\"reproduction\">Reproduction</h2>\n<p class=\"legend\">The paper's published means beside ours. "
       "Inside: the published mean lies in our 95 % t-interval mean ± t<sub>0.975, n−1</sub> · sd / √n over the "
    << (r.interval == "cases" ? "cases" : "folds")
    << " of the cell. Component steps: rows that differ in one component only; same direction when adding it "
       "improves (or worsens) the metric in both; p: our paired Wilcoxon test of the two rows, Holm-adjusted over "
       "the steps of one table and metric. Order: Kendall's τ<sub>b</sub> between the published and our means.</p>\n";
  for (std::size_t si = 0; si < r.sources.size(); ++si) {
    const PublishedSource& s = r.sources[si];
    o << "<h3>" << html_escape(s.table.source) << (s.table.dataset.empty() ? "" : " — " + html_escape(s.table.dataset))
      << (s.table.class_name.empty() ? "" : (s.table.dataset.empty() ? " — " : ", ") + html_escape(s.table.class_name))
      << "</h3>\n";
    if (si < r.summaries.size()) o << "<p>" << html_escape(r.summaries[si]) << "</p>\n";
    o << "<table class=\"cmp\">\n<tr><th>Row</th><th>Metric</th><th>Published</th><th>Ours</th><th>95 % interval</th>"
         "<th>Difference</th><th>Inside</th></tr>\n";
    std::vector<std::string> metrics;
    for (const auto& c : r.cells) {
      if (c.source != si) continue;
      if (std::find(metrics.begin(), metrics.end(), c.metric) == metrics.end()) metrics.push_back(c.metric);
      const int d = r.decimals;
      o << "<tr><td>" << html_escape(c.label) << "</td><td>" << html_escape(metric_display(c.metric))
        << "</td><td class=\"num\">" << fixed(c.published, d)
        << (std::isnan(c.published_sd) ? "" : " ± " + fixed(c.published_sd, d)) << "</td><td class=\"num\">"
        << (c.ours.n == 0 ? "n/a" : fixed(c.ours.mean, d) + (c.ours.n > 1 ? " ± " + fixed(c.ours.sd, d) : ""))
        << "</td><td class=\"num\">" << (std::isnan(c.low) ? "n/a" : "[" + fixed(c.low, d) + ", " + fixed(c.high, d) + "]")
        << "</td><td class=\"num\">" << fixed(c.difference, d) << "</td><td>"
        << (c.inside == 1 ? "&#10003;" : c.inside == 0 ? "&#10007;" : "n/a") << "</td></tr>\n";
    }
    o << "</table>\n";
    sort_for_display(metrics);
    for (const auto& m : metrics) o << "<div class=\"svg\">\n" << dumbbell_svg(r, table, si, m) << "</div>\n";
    bool any_step = false;
    for (const auto& st : r.steps) any_step = any_step || st.source == si;
    if (any_step) {
      o << "<table class=\"cmp\">\n<tr><th>Component</th><th>Metric</th><th>From</th><th>To</th><th>Paper &Delta;</th>"
           "<th>Ours &Delta;</th><th>Same direction</th><th>n</th><th>p (Holm)</th></tr>\n";
      for (const auto& st : r.steps) {
        if (st.source != si) continue;
        o << "<tr><td>" << html_escape(component_display(st.component)) << "</td><td>"
          << html_escape(metric_display(st.metric)) << "</td><td>" << html_escape(table.rows[st.from].label) << "</td><td>"
          << html_escape(table.rows[st.to].label) << "</td><td class=\"num\">" << fixed(st.published_delta, r.decimals)
          << "</td><td class=\"num\">" << fixed(st.our_delta, r.decimals) << "</td><td>"
          << (st.agree == 1 ? "yes" : st.agree == 0 ? "no" : "n/a (no change in the paper)") << "</td><td class=\"num\">"
          << st.test.n << "</td><td class=\"num\">" << p_text(st.p_holm) << (st.significant ? " *" : "")
          << "</td></tr>\n";
      }
      o << "</table>\n";
    }
    o << "<table class=\"cmp\">\n<tr><th>Metric</th><th>n</th><th>Kendall &tau;<sub>b</sub></th><th>p</th>"
         "<th>p from</th></tr>\n";
    for (const auto& rk : r.ranks) {
      if (rk.source != si) continue;
      o << "<tr><td>" << html_escape(metric_display(rk.metric)) << "</td><td class=\"num\">" << rk.kendall.n
        << "</td><td class=\"num\">" << fixed(rk.kendall.tau, 3) << "</td><td class=\"num\">" << p_text(rk.kendall.p)
        << "</td><td>"
        << (std::isnan(rk.kendall.p) ? "n/a" : rk.kendall.exact ? "exact" : "normal approximation, ties corrected")
        << "</td></tr>\n";
    }
    o << "</table>\n";
  }
  return o.str();
}

}  // namespace ablate::reports
