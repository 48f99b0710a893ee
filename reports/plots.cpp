// Box-plot data and SVG (002 Fig. 4), convergence curves, the sensitivity table and curve of a swept
// key (001 Fig. 5), the parameters / inference time table (003 Table 6) and the Pareto fronts of each
// metric against parameters and inference time.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "ablations/study.hpp"
#include "reports/format.hpp"
#include "reports/report.hpp"
#include "reports/study_index.hpp"
#include "reports/svg.hpp"
#include "sweeps/metric.hpp"
#include "sweeps/pareto.hpp"

namespace ablate::reports {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using svg::coord;
using svg::text_width;

// A panel with its y axis: the frame, the grid and tick labels, the title above and the y label.
struct Frame {
  svg::Panel panel;
  svg::Ticks y;
  double map_y(double v) const { return y.up(v, panel.y0, panel.h); }
};
void draw_frame(std::ostringstream& o, const Frame& f, const std::string& title, const std::string& y_label) {
  svg::y_grid(o, f.panel, f.y);
  svg::frame(o, f.panel);
  svg::text(o, f.panel.x0 + f.panel.w / 2, f.panel.y0 - 10, title, "middle", svg::kPanelTitle);
  svg::y_title(o, f.panel, y_label);
}

struct LinePoint {
  double x, y, err;
};
struct LineSeries {
  std::string name;
  std::vector<LinePoint> points;
  std::size_t colour = 0;  // palette index
};
// One line panel with error bars (err = NaN: none).
void draw_line_panel(std::ostringstream& o, const svg::Panel& panel, const std::string& title,
                     const std::string& x_label, const std::string& y_label, const std::vector<LineSeries>& series,
                     bool integer_x = false) {
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
  for (const auto& s : series)
    for (const auto& p : s.points) {
      if (!std::isfinite(p.y)) continue;
      const double e = std::isfinite(p.err) ? p.err : 0;
      xlo = std::min(xlo, p.x), xhi = std::max(xhi, p.x);
      ylo = std::min(ylo, p.y - e), yhi = std::max(yhi, p.y + e);
    }
  const Frame f{panel, svg::nice_ticks(ylo, yhi)};
  draw_frame(o, f, title, y_label);
  const svg::Ticks xa = svg::nice_ticks(xlo, xhi, integer_x);
  auto map_x = [&](double v) { return xa.along(v, panel.x0, panel.w); };
  svg::x_labels(o, panel, xa);
  svg::x_title(o, panel, x_label);
  if (!std::isfinite(ylo)) {
    svg::text(o, panel.x0 + panel.w / 2, panel.y0 + panel.h / 2, "n/a: no data", "middle", svg::kMutedText);
    return;
  }
  for (const auto& s : series) {
    const char* col = svg::colour(s.colour);
    std::string pts;
    for (const auto& p : s.points) {
      if (!std::isfinite(p.y)) continue;
      // Each coordinate formatted once (a convergence plot of 50 variants has 5,000 points).
      const std::string x = coord(map_x(p.x)), y = coord(f.map_y(p.y));
      pts += (pts.empty() ? "" : " ") + x + "," + y;
      if (std::isfinite(p.err) && p.err > 0)
        o << "<line x1=\"" << x << "\" y1=\"" << coord(f.map_y(p.y - p.err)) << "\" x2=\"" << x << "\" y2=\""
          << coord(f.map_y(p.y + p.err)) << "\" stroke=\"" << col << "\" stroke-width=\"1\"/>\n";
      o << "<circle cx=\"" << x << "\" cy=\"" << y << "\" r=\"2.5\" fill=\"" << col << "\"/>\n";
    }
    o << "<polyline points=\"" << pts << "\" fill=\"none\" stroke=\"" << col << "\" stroke-width=\"2\"/>\n";
  }
}

// Legend of line series in a column to the right of x.
void draw_legend(std::ostringstream& o, double x, double y, const std::vector<LineSeries>& series) {
  for (std::size_t i = 0; i < series.size(); ++i) {
    const double yy = y + 18.0 * static_cast<double>(i);
    o << "<rect x=\"" << coord(x) << "\" y=\"" << coord(yy - 9) << "\" width=\"14\" height=\"10\" fill=\""
      << svg::colour(series[i].colour) << "\"/>\n";
    svg::text(o, x + 20, yy, series[i].name, "start");
  }
}

bool parse_number(const std::string& literal, double& out) {
  if (literal.empty()) return false;
  char* end = nullptr;
  out = std::strtod(literal.c_str(), &end);
  return end && *end == '\0' && std::isfinite(out);
}
}  // namespace

// ---- box plots -------------------------------------------------------------------------------------

std::vector<BoxRow> box_rows(const db::StudyData& study) {
  return box_rows(StudyIndex(study, study_names(study.study, report_config_of(study, nullptr))));
}

std::vector<BoxRow> box_rows(const StudyIndex& index) {
  const db::StudyData& study = index.data();
  std::vector<std::string> metrics(index.metrics().begin(), index.metrics().end());
  std::stable_sort(metrics.begin(), metrics.end(),
                   [](const auto& a, const auto& b) { return metric_order(a) < metric_order(b); });
  ReportConfig none;
  none.rows.clear();
  std::vector<std::string> variants = variant_order(study, none);
  // Variants with rows but without a variants entry come last, by name.
  std::set<std::string> listed(variants.begin(), variants.end());
  for (const auto& [key, s] : index.series())
    if (!listed.count(key.variant)) listed.insert(key.variant), variants.push_back(key.variant);
  const StudyNames& names = index.names();
  const std::size_t n_classes = index.classes().size();
  std::vector<BoxRow> out;
  for (const auto& metric : metrics)
    for (int cls : index.classes())
      for (std::size_t i = 0; i < variants.size(); ++i) {
        const Series* s = index.find(variants[i], cls, metric);
        if (!s || s->cases.empty()) continue;
        BoxRow row{study.study, variants[i], index.label(variants[i]), metric, cls, names.class_name(cls),
                   metric_title(metric, names, cls, n_classes), i, {}};
        row.stats = box_stats(case_means(s->cases));
        out.push_back(std::move(row));
      }
  return out;
}

std::string box_csv(const std::vector<BoxRow>& rows) {
  std::ostringstream o;
  o << "study,variant,label,metric,class,class_name,n,min,q1,median,q3,max,whisker_low,whisker_high,n_outliers,"
       "outliers\n";
  for (const auto& r : rows) {
    const auto& b = r.stats;
    std::string outliers;
    for (double x : b.outliers) outliers += (outliers.empty() ? "" : ";") + number(x);
    o << csv_field(r.study) << ',' << csv_field(r.variant) << ',' << csv_field(r.label) << ',' << csv_field(r.metric)
      << ',' << r.cls << ',' << csv_field(r.class_name) << ',' << b.n << ',' << number(b.min) << ',' << number(b.q1)
      << ',' << number(b.median) << ',' << number(b.q3) << ',' << number(b.max) << ',' << number(b.whisker_low) << ','
      << number(b.whisker_high) << ',' << b.outliers.size() << ',' << outliers << '\n';
  }
  return o.str();
}

std::string box_json(const std::vector<BoxRow>& rows) {
  auto num = [](double x) { return std::isfinite(x) ? number(x) : std::string("null"); };
  std::ostringstream o;
  o << "[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    const auto& b = r.stats;
    o << (i ? ",\n " : "\n ") << "{\"study\": " << json_string(r.study) << ", \"variant\": " << json_string(r.variant)
      << ", \"label\": " << json_string(r.label) << ", \"metric\": " << json_string(r.metric)
      << ", \"class\": " << r.cls << ", \"class_name\": " << json_string(r.class_name) << ", \"n\": " << b.n
      << ", \"min\": " << num(b.min) << ", \"q1\": " << num(b.q1) << ", \"median\": " << num(b.median)
      << ", \"q3\": " << num(b.q3) << ", \"max\": " << num(b.max)
      << ", \"whisker_low\": " << num(b.whisker_low) << ", \"whisker_high\": " << num(b.whisker_high)
      << ", \"outliers\": [";
    for (std::size_t k = 0; k < b.outliers.size(); ++k) o << (k ? ", " : "") << num(b.outliers[k]);
    o << "]}";
  }
  o << (rows.empty() ? "]\n" : "\n]\n");
  return o.str();
}

std::string box_svg(const std::string& title, const std::vector<BoxRow>& rows) {
  // Panels: one per (metric, class), in the order of the rows.
  std::vector<std::pair<std::string, int>> panels;
  for (const auto& r : rows)
    if (std::find(panels.begin(), panels.end(), std::make_pair(r.metric, r.cls)) == panels.end())
      panels.push_back({r.metric, r.cls});
  std::size_t max_variants = 1;
  double label_w = 40;
  for (const auto& [m, c] : panels) {
    std::size_t n = 0;
    for (const auto& r : rows)
      if (r.metric == m && r.cls == c) ++n, label_w = std::max(label_w, text_width(r.label));
    max_variants = std::max(max_variants, n);
  }
  const double slot = 56, panel_w = std::max(220.0, slot * static_cast<double>(max_variants)), panel_h = 260;
  const double margin_l = 70, gap = 90, top = 60;
  const double label_h = std::min(label_w, 220.0) * 0.72 + 34;  // n= line, then labels rotated by -45 degrees
  const std::size_t per_row = std::max<std::size_t>(1, static_cast<std::size_t>(1200 / (panel_w + gap)));
  const std::size_t n_rows = panels.empty() ? 1 : (panels.size() + per_row - 1) / per_row;
  const double width = margin_l + static_cast<double>(std::min(per_row, std::max<std::size_t>(1, panels.size()))) * (panel_w + gap);
  const double height = top + static_cast<double>(n_rows) * (panel_h + label_h + 50);
  std::ostringstream o;
  o << svg::open(width, height);
  svg::text(o, width / 2, 24, title, "middle", svg::kFigureTitle);
  if (panels.empty()) {
    svg::text(o, width / 2, top + 40, "n/a: no per-case metrics stored", "middle", svg::kMutedText);
    o << svg::close();
    return o.str();
  }
  for (std::size_t p = 0; p < panels.size(); ++p) {
    const auto& [metric, cls] = panels[p];
    std::vector<const BoxRow*> boxes;
    std::string panel_title = metric_display(metric);
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const auto& r : rows)
      if (r.metric == metric && r.cls == cls && r.stats.n > 0) {
        boxes.push_back(&r);
        panel_title = r.title;
        lo = std::min(lo, r.stats.min), hi = std::max(hi, r.stats.max);
      }
    const double x0 = margin_l + static_cast<double>(p % per_row) * (panel_w + gap);
    const double y0 = top + 20 + static_cast<double>(p / per_row) * (panel_h + label_h + 50);
    const Frame f{{x0, y0, panel_w, panel_h}, svg::nice_ticks(lo, hi)};
    draw_frame(o, f, panel_title, metric_display(metric));
    const double step = panel_w / static_cast<double>(std::max<std::size_t>(1, boxes.size()));
    for (std::size_t i = 0; i < boxes.size(); ++i) {
      const BoxStats& b = boxes[i]->stats;
      const double cx = x0 + step * (static_cast<double>(i) + 0.5), bw = std::min(36.0, step * 0.6);
      const std::string col = svg::colour(boxes[i]->variant_index);
      // Whiskers, box, median, outliers.
      o << "<line x1=\"" << coord(cx) << "\" y1=\"" << coord(f.map_y(b.whisker_low)) << "\" x2=\"" << coord(cx) << "\" y2=\""
        << coord(f.map_y(b.whisker_high)) << "\" stroke=\"" << svg::kInk << "\"/>\n";
      for (double wv : {b.whisker_low, b.whisker_high})
        o << "<line x1=\"" << coord(cx - bw / 4) << "\" y1=\"" << coord(f.map_y(wv)) << "\" x2=\"" << coord(cx + bw / 4)
          << "\" y2=\"" << coord(f.map_y(wv)) << "\" stroke=\"" << svg::kInk << "\"/>\n";
      o << "<rect x=\"" << coord(cx - bw / 2) << "\" y=\"" << coord(f.map_y(b.q3)) << "\" width=\"" << coord(bw)
        << "\" height=\"" << coord(std::max(0.5, f.map_y(b.q1) - f.map_y(b.q3))) << "\" fill=\"" << col
        << "\" fill-opacity=\"0.6\" stroke=\"" << svg::kInk << "\"/>\n";
      o << "<line x1=\"" << coord(cx - bw / 2) << "\" y1=\"" << coord(f.map_y(b.median)) << "\" x2=\"" << coord(cx + bw / 2)
        << "\" y2=\"" << coord(f.map_y(b.median)) << "\" stroke=\"#000\" stroke-width=\"2\"/>\n";
      for (double ov : b.outliers)
        o << "<circle cx=\"" << coord(cx) << "\" cy=\"" << coord(f.map_y(ov)) << "\" r=\"2.5\" fill=\"none\" stroke=\""
          << col << "\"/>\n";
      const double ly = y0 + panel_h + 28;
      svg::turned_text(o, cx, ly, boxes[i]->label, -45, "end");
      svg::text(o, cx, y0 + panel_h + 13, "n=" + std::to_string(b.n), "middle", " font-size=\"10\" fill=\"#666\"");
    }
  }
  o << svg::close();
  return o.str();
}

// ---- convergence -----------------------------------------------------------------------------------

namespace {
struct EpochStats {
  std::vector<double> val_dice, train_loss, val_loss;
};
// variant -> epoch -> values over (fold, repeat); variants in study order.
std::vector<std::pair<std::string, std::map<int, EpochStats>>> epochs_by_variant(const db::StudyData& study) {
  // Each (variant, epoch) group's values in (fold, repeat) order, so that the means add up in one order
  // whatever the order of the rows. `ablate serve` draws this after every task that ends (a study of
  // 100,000 epoch rows), so it works on runs, not rows: a run is a block of consecutive rows of one task
  // (variant, fold, repeat), as the store returns them. The runs of a variant are put in (fold, repeat)
  // order (a few dozen of them), a run out of epoch order is sorted on its own, and each run's rows are
  // appended to their epochs walking the variant's epoch map along with them (no search per row).
  struct Run {
    const db::EpochRow* first;
    std::size_t size;
  };
  std::map<std::string, std::vector<Run>> runs;
  std::vector<Run>* current = nullptr;
  const db::EpochRow* rows = study.epochs.data();
  for (std::size_t i = 0; i < study.epochs.size();) {
    const db::EpochRow& r = rows[i];
    std::size_t j = i + 1;
    while (j < study.epochs.size() && rows[j].fold == r.fold && rows[j].repeat == r.repeat && rows[j].variant == r.variant)
      ++j;
    if (!current || rows[i - 1].variant != r.variant) current = &runs[r.variant];
    current->push_back({&r, j - i});
    i = j;
  }
  std::map<std::string, std::map<int, EpochStats>> by;
  std::vector<const db::EpochRow*> sorted;
  for (auto& [variant, list] : runs) {
    std::stable_sort(list.begin(), list.end(), [](const Run& a, const Run& b) {
      return std::tie(a.first->fold, a.first->repeat) < std::tie(b.first->fold, b.first->repeat);
    });
    std::size_t tasks = 0;  // distinct (fold, repeat)s: the most values an epoch gets
    for (std::size_t k = 0; k < list.size(); ++k)
      tasks += k == 0 || std::tie(list[k].first->fold, list[k].first->repeat) !=
                             std::tie(list[k - 1].first->fold, list[k - 1].first->repeat);
    auto& out = by[variant];
    for (const Run& run : list) {
      sorted.clear();
      for (std::size_t k = 0; k < run.size; ++k) sorted.push_back(run.first + k);
      const auto by_epoch = [](const db::EpochRow* a, const db::EpochRow* b) { return a->epoch < b->epoch; };
      if (!std::is_sorted(sorted.begin(), sorted.end(), by_epoch)) std::stable_sort(sorted.begin(), sorted.end(), by_epoch);
      auto at = out.lower_bound(sorted.front()->epoch);  // the next row's epoch is at `at` or goes just before it
      for (const db::EpochRow* r : sorted) {
        while (at != out.end() && at->first < r->epoch) ++at;
        if (at == out.end() || at->first != r->epoch) {
          at = out.emplace_hint(at, r->epoch, EpochStats{});
          for (auto* v : {&at->second.val_dice, &at->second.train_loss, &at->second.val_loss}) v->reserve(tasks);
        }
        at->second.val_dice.push_back(r->val_dice);
        at->second.train_loss.push_back(r->train_loss);
        at->second.val_loss.push_back(r->val_loss);
      }
    }
  }
  std::vector<std::pair<std::string, std::map<int, EpochStats>>> out;
  ReportConfig none;
  for (const auto& v : variant_order(study, none)) {
    auto it = by.find(v);
    if (it != by.end()) out.emplace_back(it->first, std::move(it->second)), by.erase(it);
  }
  for (auto& rest : by) out.emplace_back(rest.first, std::move(rest.second));
  return out;
}
}  // namespace

std::string convergence_csv(const db::StudyData& study) {
  std::ostringstream o;
  o << "study,variant,epoch,n,val_dice_mean,val_dice_sd,train_loss_mean,val_loss_mean\n";
  for (const auto& [variant, epochs] : epochs_by_variant(study))
    for (const auto& [epoch, e] : epochs) {
      const MeanSd d = mean_sd(e.val_dice);
      o << csv_field(study.study) << ',' << csv_field(variant) << ',' << epoch << ',' << d.n << ',' << number(d.mean)
        << ',' << number(d.sd) << ',' << number(mean_sd(e.train_loss).mean) << ','
        << number(mean_sd(e.val_loss).mean) << '\n';
    }
  return o.str();
}

std::string convergence_svg(const db::StudyData& study) {
  std::map<std::string, std::string> labels;
  for (const auto& v : study.variants) labels[v.name] = v.label.empty() ? v.name : v.label;
  // Colours by the position in the study's variant order, as in the box plots.
  std::map<std::string, std::size_t> position;
  for (const auto& v : variant_order(study, ReportConfig{})) position.emplace(v, position.size());
  std::vector<LineSeries> series;
  double legend_w = 0;
  for (const auto& [variant, epochs] : epochs_by_variant(study)) {
    auto it = position.emplace(variant, position.size()).first;
    LineSeries s{labels.count(variant) ? labels[variant] : variant, {}, it->second};
    for (const auto& [epoch, e] : epochs) s.points.push_back({static_cast<double>(epoch), mean_sd(e.val_dice).mean, kNaN});
    legend_w = std::max(legend_w, text_width(s.name));
    series.push_back(std::move(s));
  }
  const double w = 520, h = 320, x0 = 70, y0 = 60;
  const double width = x0 + w + 30 + legend_w + 40, height = std::max(y0 + h + 60, 60 + 18.0 * series.size());
  std::ostringstream o;
  o << svg::open(width, height);
  draw_line_panel(o, {x0, y0, w, h}, "Validation Dice per epoch: " + study.study, "epoch",
                  "validation Dice (mean over folds)", series, true);
  draw_legend(o, x0 + w + 30, y0 + 10, series);
  o << svg::close();
  return o.str();
}

// ---- sensitivity -----------------------------------------------------------------------------------

SensitivityTable sensitivity_table(const db::StudyData& study, const ReportConfig& config, const std::string& key) {
  return sensitivity_table(StudyIndex(study, study_names(study.study, config)), config, key);
}

SensitivityTable sensitivity_table(const StudyIndex& index, const ReportConfig& config, const std::string& key) {
  const db::StudyData& study = index.data();
  SensitivityTable t;
  t.study = study.study;
  t.key = key;
  t.columns = class_metrics(index, config.metrics);
  t.decimals = std::clamp(config.decimals, 0, 10);
  // Series: the variants that agree on every key but the swept one.
  std::map<std::string, std::size_t> series_of;
  std::vector<std::map<std::string, std::string>> series_values;
  std::vector<db::VariantRow> variants = study.variants;
  std::stable_sort(variants.begin(), variants.end(), [](const auto& a, const auto& b) { return a.ordinal < b.ordinal; });
  for (const auto& v : variants) {
    std::map<std::string, std::string> values;
    try {
      values = canonical_values(v.canonical);
    } catch (const std::exception&) {
      continue;
    }
    auto it = values.find(key);
    double x = 0;
    if (it == values.end() || !parse_number(it->second, x)) continue;
    values.erase(it);
    std::string signature;
    for (const auto& [k, val] : values) signature += k + "=" + val + "\n";
    auto [pos, fresh] = series_of.emplace(signature, t.series.size());
    if (fresh) t.series.push_back({}), series_values.push_back(values);
    SensitivityPoint p{x, v.name, {}};
    for (const auto& col : t.columns) p.metrics.push_back(display_stats(index, v.name, col.cls, col.metric, config));
    t.series[pos->second].points.push_back(p);
  }
  // Labels: the keys whose values set the series apart.
  if (t.series.size() > 1) {
    std::set<std::string> keys;
    for (const auto& vals : series_values)
      for (const auto& [k, v] : vals) keys.insert(k);
    std::vector<std::string> differing;
    for (const auto& k : keys) {
      std::set<std::string> seen;
      for (const auto& vals : series_values) seen.insert(vals.count(k) ? vals.at(k) : "");
      if (seen.size() > 1) differing.push_back(k);
    }
    for (std::size_t s = 0; s < t.series.size(); ++s) {
      std::string label;
      for (const auto& k : differing)
        label += (label.empty() ? "" : ", ") + k + "=" + (series_values[s].count(k) ? series_values[s].at(k) : "?");
      t.series[s].label = label;
    }
  }
  for (auto& s : t.series)
    std::stable_sort(s.points.begin(), s.points.end(), [](const auto& a, const auto& b) { return a.x < b.x; });
  return t;
}

std::string render_sensitivity_markdown(const SensitivityTable& t) {
  std::ostringstream o;
  const bool several = t.series.size() > 1;
  o << "| " << markdown_cell(t.key) << " |" << (several ? " series |" : "");
  for (const auto& c : t.columns)
    o << ' ' << markdown_cell(c.title) << (metric_higher_is_better(c.metric) ? "" : " ↓") << " |";
  o << "\n|---:|" << (several ? ":---|" : "");
  for (std::size_t i = 0; i < t.columns.size(); ++i) o << "---:|";
  o << '\n';
  for (const auto& s : t.series)
    for (const auto& p : s.points) {
      o << "| " << number(p.x) << " |" << (several ? " " + markdown_cell(s.label) + " |" : "");
      for (const auto& m : p.metrics) {
        std::string v = fixed(m.mean, t.decimals);
        if (m.n > 1) v += " ± " + fixed(m.sd, t.decimals);
        o << ' ' << v << " |";
      }
      o << '\n';
    }
  if (t.series.empty()) {
    o << "| n/a |";
    for (std::size_t i = 0; i < t.columns.size(); ++i) o << " n/a |";
    o << '\n';
  }
  return o.str();
}

std::string render_sensitivity_csv(const SensitivityTable& t) {
  std::ostringstream o;
  o << "study,key,series,x,variant,class,metric,n,mean,sd\n";
  for (const auto& s : t.series)
    for (const auto& p : s.points)
      for (std::size_t m = 0; m < t.columns.size(); ++m)
        o << csv_field(t.study) << ',' << csv_field(t.key) << ',' << csv_field(s.label) << ',' << number(p.x) << ','
          << csv_field(p.variant) << ',' << t.columns[m].cls << ',' << csv_field(t.columns[m].metric) << ','
          << p.metrics[m].n << ',' << number(p.metrics[m].mean) << ',' << number(p.metrics[m].sd) << '\n';
  return o.str();
}

std::string sensitivity_svg(const SensitivityTable& t) {
  const double w = 360, h = 260, gap = 90, x0 = 70, y0 = 70, row_h = h + 80;
  // One panel per column (metric × class), at most three in a row.
  std::vector<std::vector<LineSeries>> panels(t.columns.size());
  for (std::size_t m = 0; m < t.columns.size(); ++m)
    for (std::size_t s = 0; s < t.series.size(); ++s) {
      LineSeries ls{t.series[s].label.empty() ? t.study : t.series[s].label, {}, s};
      for (const auto& p : t.series[s].points)
        ls.points.push_back({p.x, p.metrics[m].mean, p.metrics[m].n > 1 ? p.metrics[m].sd : kNaN});
      panels[m].push_back(std::move(ls));
    }
  std::vector<LineSeries> legend;
  double legend_w = 0;
  for (std::size_t s = 0; s < t.series.size(); ++s) {
    legend.push_back({t.series[s].label.empty() ? t.study : t.series[s].label, {}, s});
    legend_w = std::max(legend_w, text_width(legend.back().name));
  }
  const std::size_t per_row = std::clamp<std::size_t>(t.columns.size(), 1, 3);
  const std::size_t rows = std::max<std::size_t>(1, (t.columns.size() + per_row - 1) / per_row);
  const double width = x0 + static_cast<double>(per_row) * (w + gap) + legend_w + 20;
  const double height = std::max(y0 + static_cast<double>(rows) * row_h - 20, y0 + 18.0 * legend.size() + 20);
  std::ostringstream o;
  o << svg::open(width, height);
  svg::text(o, width / 2, 24, "Sensitivity to " + t.key + ": " + t.study, "middle", svg::kFigureTitle);
  for (std::size_t m = 0; m < t.columns.size(); ++m)
    draw_line_panel(o, {x0 + static_cast<double>(m % per_row) * (w + gap), y0 + static_cast<double>(m / per_row) * row_h, w, h},
                    t.columns[m].title, t.key, metric_display(t.columns[m].metric), panels[m]);
  draw_legend(o, x0 + static_cast<double>(per_row) * (w + gap) - gap + 20, y0 + 10, legend);
  o << svg::close();
  return o.str();
}

// ---- parameters / inference time (003 Table 6) -----------------------------------------------------

namespace {
struct ModelLine {
  std::string variant, label;  // the label with its device mark (device_marks)
  std::string device;          // "cpu" | "gpu" | "cpu+gpu" | "" (not recorded)
  double params_m = kNaN, ms = kNaN;
  std::vector<MeanSd> metrics;  // per column of class_metrics
};
std::vector<ModelLine> model_lines(const StudyIndex& index, const ReportConfig& config,
                                   const std::vector<ClassMetric>& columns) {
  const db::StudyData& study = index.data();
  std::map<std::string, const db::ModelFactRow*> facts;
  for (const auto& f : study.model_facts)
    if (!facts.count(f.variant)) facts[f.variant] = &f;
  std::vector<ModelLine> out;
  const std::vector<std::string> order = variant_order(study, config);
  const DeviceMarks marks = device_marks({&study}, order);
  for (const auto& v : order) {
    ModelLine l{v, index.label(v), "", kNaN, kNaN, {}};
    if (const auto it = marks.mark.find(v); it != marks.mark.end()) l.label += it->second;
    if (const auto it = marks.device.find(v); it != marks.device.end()) l.device = it->second;
    auto it = facts.find(v);
    if (it != facts.end()) {
      l.params_m = static_cast<double>(it->second->parameters) / 1e6;
      l.ms = it->second->inference_ms_per_case;
    }
    for (const auto& col : columns) l.metrics.push_back(display_stats(index, v, col.cls, col.metric, config));
    out.push_back(std::move(l));
  }
  return out;
}
}  // namespace

std::string render_model_markdown(const db::StudyData& study, const ReportConfig& config) {
  return render_model_markdown(StudyIndex(study, study_names(study.study, config)), config);
}

std::string render_model_csv(const db::StudyData& study, const ReportConfig& config) {
  return render_model_csv(StudyIndex(study, study_names(study.study, config)), config);
}

std::string render_model_markdown(const StudyIndex& index, const ReportConfig& config) {
  const int dec = std::clamp(config.decimals, 0, 10);
  std::ostringstream o;
  const std::vector<ClassMetric> columns = class_metrics(index, config.metrics);
  o << "| Method | Parameters (M) | Inference (ms/case) ↓ |";
  for (const auto& c : columns)
    o << ' ' << markdown_cell(c.title) << (metric_higher_is_better(c.metric) ? "" : " ↓") << " |";
  o << "\n|:---|---:|---:|";
  for (std::size_t i = 0; i < columns.size(); ++i) o << "---:|";
  o << '\n';
  const auto lines = model_lines(index, config, columns);
  for (const auto& l : lines) {
    o << "| " << markdown_cell(l.label) << " | " << fixed(l.params_m, 4) << " | " << fixed(l.ms, 2) << " |";
    for (const auto& m : l.metrics) {
      std::string v = fixed(m.mean, dec);
      if (m.n > 1) v += " ± " + fixed(m.sd, dec);
      o << ' ' << v << " |";
    }
    o << '\n';
  }
  if (lines.empty()) o << "| n/a | n/a | n/a |" << '\n';
  const std::string devices = model_device_legend(index, config);
  if (!devices.empty()) o << '\n' << devices << '\n';
  return o.str();
}

std::string model_device_legend(const StudyIndex& index, const ReportConfig& config) {
  return device_marks({&index.data()}, variant_order(index.data(), config)).legend;
}

std::string render_model_csv(const StudyIndex& index, const ReportConfig& config) {
  const db::StudyData& study = index.data();
  std::ostringstream o;
  const std::vector<ClassMetric> columns = class_metrics(index, config.metrics);
  // The device column only where a row comes from a GPU: CPU-only tables keep their bytes.
  const bool devices = !model_device_legend(index, config).empty();
  o << "study,variant,label,parameters_m,inference_ms_per_case,class,metric,n,mean,sd" << (devices ? ",device\n" : "\n");
  for (const auto& l : model_lines(index, config, columns))
    for (std::size_t m = 0; m < columns.size(); ++m) {
      o << csv_field(study.study) << ',' << csv_field(l.variant) << ',' << csv_field(l.label) << ','
        << number(l.params_m) << ',' << number(l.ms) << ',' << columns[m].cls << ',' << csv_field(columns[m].metric)
        << ',' << l.metrics[m].n << ',' << number(l.metrics[m].mean) << ',' << number(l.metrics[m].sd);
      if (devices) o << ',' << l.device;
      o << '\n';
    }
  return o.str();
}

// ---- accuracy against cost: Pareto fronts ---------------------------------------------------------

std::vector<ParetoPanel> pareto_panels(const db::StudyData& study, const ReportConfig& config) {
  return pareto_panels(StudyIndex(study, study_names(study.study, config)), config);
}

std::vector<ParetoPanel> pareto_panels(const StudyIndex& index, const ReportConfig& config) {
  const std::vector<ClassMetric> columns = class_metrics(index, config.metrics);
  const auto lines = model_lines(index, config, columns);
  std::vector<ParetoPanel> out;
  for (std::size_t m = 0; m < columns.size(); ++m) {
    for (const std::string cost : {"params", "inference_ms"}) {
      ParetoPanel panel;
      panel.column = columns[m];
      panel.cost = cost;
      panel.cost_title = cost == "params" ? "Parameters (M)" : "Inference (ms/case)";
      // Each objective minimised, as sweeps/pareto.hpp takes them: a metric where higher is better negated.
      const double sign = sweeps::objective_direction(columns[m].metric) == sweeps::Direction::kMaximize ? -1 : 1;
      std::vector<sweeps::Objectives> y;
      for (const auto& l : lines) {
        const double c = cost == "params" ? l.params_m : l.ms;
        if (!std::isfinite(c) || !std::isfinite(l.metrics[m].mean)) continue;
        panel.points.push_back({l.variant, l.label, c, l.metrics[m].mean, false});
        y.push_back({c, sign * l.metrics[m].mean});
      }
      if (!y.empty()) {
        for (std::size_t i : sweeps::pareto_front(y)) panel.points[i].front = true;
        const sweeps::Objectives ref = sweeps::reference_point(y);
        panel.reference_cost = ref[0], panel.reference_value = sign * ref[1];
        panel.hypervolume = sweeps::hypervolume(y, ref);
      }
      out.push_back(std::move(panel));
    }
  }
  return out;
}

std::string render_pareto_markdown(const std::vector<ParetoPanel>& panels, int decimals) {
  const int dec = std::clamp(decimals, 0, 10);
  std::ostringstream o;
  for (const auto& p : panels) {
    const std::string metric = p.column.title;
    o << "**" << markdown_cell(metric) << " against " << markdown_cell(p.cost_title) << "**";
    if (p.points.empty()) {
      o << ": no variant has both (n/a)\n\n";
      continue;
    }
    std::size_t front = 0;
    for (const auto& pt : p.points) front += pt.front;
    o << ": " << front << " of " << p.points.size() << " variant(s) non-dominated; hypervolume "
      << fixed(p.hypervolume, 4) << " against the reference point " << markdown_cell(p.cost_title) << " "
      << fixed(p.reference_cost, 4) << ", " << markdown_cell(metric) << " " << fixed(p.reference_value, dec + 1)
      << " (each objective's worst value plus a tenth of its range; "
      << (sweeps::objective_direction(p.column.metric) == sweeps::Direction::kMaximize ? "higher" : "lower")
      << " " << markdown_cell(metric) << " and lower " << (p.cost == "params" ? "parameters" : "inference time")
      << " are better)\n\n";
    o << "| Method | " << markdown_cell(p.cost_title) << " | " << markdown_cell(metric) << " |\n|:---|---:|---:|\n";
    for (const auto& pt : p.points)
      if (pt.front)
        o << "| " << markdown_cell(pt.label) << " | " << fixed(pt.cost, p.cost == "params" ? 4 : 2) << " | "
          << fixed(pt.value, dec) << " |\n";
    o << '\n';
  }
  return o.str();
}

std::string render_pareto_csv(const std::string& study, const std::vector<ParetoPanel>& panels) {
  std::ostringstream o;
  o << "study,cost,class,metric,variant,label,cost_value,value,non_dominated\n";
  for (const auto& p : panels)
    for (const auto& pt : p.points)
      o << csv_field(study) << ',' << p.cost << ',' << p.column.cls << ',' << csv_field(p.column.metric) << ','
        << csv_field(pt.variant) << ',' << csv_field(pt.label) << ',' << number(pt.cost) << ',' << number(pt.value) << ','
        << (pt.front ? 1 : 0) << '\n';
  return o.str();
}

std::string pareto_svg(const std::string& title, const std::vector<ParetoPanel>& panels) {
  const double w = 300, h = 220, gap = 90, x0 = 80, y0 = 70;
  const std::size_t per_row = 2;  // a metric against parameters, then against inference time
  const std::size_t rows = (panels.size() + per_row - 1) / per_row;
  const double width = x0 + per_row * (w + gap), height = y0 + std::max<double>(1, rows) * (h + 90);
  std::ostringstream o;
  o << svg::open(width, height);
  svg::text(o, width / 2, 24, title, "middle", svg::kFigureTitle);
  const char* front_colour = svg::colour(2);
  for (std::size_t k = 0; k < panels.size(); ++k) {
    const ParetoPanel& p = panels[k];
    const double px = x0 + static_cast<double>(k % per_row) * (w + gap), py = y0 + static_cast<double>(k / per_row) * (h + 90);
    double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo, ylo = xlo, yhi = -xlo;
    for (const auto& pt : p.points) {
      xlo = std::min(xlo, pt.cost), xhi = std::max(xhi, pt.cost);
      ylo = std::min(ylo, pt.value), yhi = std::max(yhi, pt.value);
    }
    const Frame f{svg::Panel{px, py, w, h}, svg::nice_ticks(ylo, yhi)};
    draw_frame(o, f, p.column.title + " against " + p.cost_title, p.column.title);
    const svg::Ticks xa = svg::nice_ticks(xlo, xhi);
    auto map_x = [&](double v) { return xa.along(v, px, w); };
    svg::x_labels(o, f.panel, xa);
    svg::x_title(o, f.panel, p.cost_title);
    if (p.points.empty()) {
      svg::text(o, px + w / 2, py + h / 2, "n/a: no data", "middle", svg::kMutedText);
      continue;
    }
    svg::text(o, px + w / 2, py + h + 52, "hypervolume " + fixed(p.hypervolume, 4) + " (reference " +
                                              fixed(p.reference_cost, 3) + ", " + fixed(p.reference_value, 3) + ")",
              "middle", " fill=\"#555\"");
    // The front as a step line, cheapest first: across at the earlier value, then to the next point.
    std::vector<const ParetoPoint*> front;
    for (const auto& pt : p.points)
      if (pt.front) front.push_back(&pt);
    std::stable_sort(front.begin(), front.end(), [](const ParetoPoint* a, const ParetoPoint* b) { return a->cost < b->cost; });
    std::string steps;
    for (std::size_t i = 0; i < front.size(); ++i) {
      if (i > 0) steps += " " + coord(map_x(front[i]->cost)) + "," + coord(f.map_y(front[i - 1]->value));
      steps += (i ? " " : "") + coord(map_x(front[i]->cost)) + "," + coord(f.map_y(front[i]->value));
    }
    o << "<polyline points=\"" << steps << "\" fill=\"none\" stroke=\"" << front_colour << "\" stroke-width=\"2\"/>\n";
    for (const auto& pt : p.points) {
      if (pt.front) continue;
      o << "<circle cx=\"" << coord(map_x(pt.cost)) << "\" cy=\"" << coord(f.map_y(pt.value)) << "\" r=\"3\" fill=\"#bbbbbb\"><title>"
        << html_escape(pt.label) << " (dominated)</title></circle>\n";
    }
    for (const ParetoPoint* pt : front) {
      o << "<circle cx=\"" << coord(map_x(pt->cost)) << "\" cy=\"" << coord(f.map_y(pt->value)) << "\" r=\"4\" fill=\"" << front_colour
        << "\"><title>" << html_escape(pt->label) << " (non-dominated)</title></circle>\n";
      svg::text(o, map_x(pt->cost) + 6, f.map_y(pt->value) - 6, pt->label, "start", " font-size=\"10\"");
    }
  }
  o << svg::close();
  return o.str();
}

}  // namespace ablate::reports
