#include "reports/search.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <tuple>

#include "ablations/study.hpp"
#include "reports/format.hpp"
#include "reports/svg.hpp"
#include "sweeps/early_stop.hpp"
#include "sweeps/samplers.hpp"

namespace ablate::reports {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One trial as the report shows it.
struct TrialView {
  const db::SearchTrialRow* row = nullptr;
  std::string label;
  std::vector<std::string> shown;  // per key: the resolved value, strings unquoted
  std::vector<double> scale;       // per key: log10 for log_uniform, the choice index for choice, else the value
  bool finished = false;           // every task done and an objective
  const db::StoppedTrialRow* rung = nullptr;  // its tasks stand at a rung (early stopping), else null
  // Drawn as a pruned point: not finished, at a rung with a value there (rung->value).
  bool pruned() const { return !finished && rung && std::isfinite(rung->value); }
  // The value plotted: the objective when finished, the value at its rung when pruned.
  double value() const { return finished ? row->objective : pruned() ? rung->value : kNaN; }
};

struct SearchView {
  std::vector<SearchKey> keys;
  std::string objective = "dice";
  bool minimize = false;
  std::string method;
  bool live = false;                                      // a coordinator ran the study when it was read
  std::vector<TrialView> trials;                          // search_ranking's order
  std::vector<std::vector<std::string>> choice_labels;    // per key: the choices seen, by index (choice keys)
};

std::string unquote(const std::string& s) {
  return s.size() >= 2 && s.front() == '"' && s.back() == '"' ? s.substr(1, s.size() - 2) : s;
}

bool better(const SearchView& v, double a, double b) { return v.minimize ? a < b : a > b; }

bool finished(const db::SearchTrialRow& t) { return t.tasks > 0 && t.done == t.tasks && std::isfinite(t.objective); }

SearchView view_of(const db::StudyData& study) {
  SearchView v;
  v.keys = search_keys(study);
  if (auto it = study.provenance.find("search_objective"); it != study.provenance.end() && !it->second.empty()) {
    v.objective = it->second;
  }
  v.minimize = sweeps::objective_direction(v.objective) == sweeps::Direction::kMinimize;
  if (auto it = study.provenance.find("search_method"); it != study.provenance.end()) v.method = it->second;
  if (v.method.empty() && !study.trials.empty()) v.method = study.trials.front().method;
  std::map<std::string, const db::VariantRow*> variant;
  for (const auto& r : study.variants) variant[r.name] = &r;
  v.choice_labels.resize(v.keys.size());
  for (const auto& t : study.trials) {
    TrialView tv;
    tv.row = &t;
    const auto x = sweeps::parse_point(t.point).value_or(sweeps::Sample{});
    const auto vit = variant.find(t.variant);
    const auto values = vit != variant.end() ? canonical_values(vit->second->canonical) : std::map<std::string, std::string>{};
    if (vit != variant.end()) tv.label = vit->second->label;
    for (std::size_t j = 0; j < v.keys.size(); ++j) {
      const auto it = values.find(v.keys[j].key);
      tv.shown.push_back(it == values.end() ? "?" : unquote(it->second));
      const double xj = j < x.size() ? x[j] : kNaN;
      if (v.keys[j].dist == "choice" && std::isfinite(xj) && xj >= 0) {
        auto& labels = v.choice_labels[j];
        const std::size_t k = static_cast<std::size_t>(xj);
        if (labels.size() <= k) labels.resize(k + 1);
        labels[k] = tv.shown.back();
      }
      tv.scale.push_back(v.keys[j].dist == "log_uniform" && xj > 0 ? std::log10(xj) : xj);
    }
    tv.finished = finished(t);
    if (const auto it = study.stopped_trials.find(t.variant); it != study.stopped_trials.end() && !tv.finished) {
      tv.rung = &it->second;
    }
    v.trials.push_back(std::move(tv));
  }
  v.live = study.live;
  // Finished by objective; then pruned, the highest rung first (a value after more epochs is not comparable
  // with one after fewer), by value; then the rest as proposed.
  auto tier = [](const TrialView& t) { return t.finished ? 0 : t.pruned() ? 1 : 2; };
  std::stable_sort(v.trials.begin(), v.trials.end(), [&](const TrialView& a, const TrialView& b) {
    if (tier(a) != tier(b)) return tier(a) < tier(b);
    if (tier(a) == 1 && a.rung->epoch != b.rung->epoch) return a.rung->epoch > b.rung->epoch;
    if (tier(a) < 2 && a.value() != b.value()) return better(v, a.value(), b.value());
    return std::tie(a.row->declared, a.row->trial) < std::tie(b.row->declared, b.row->trial);
  });
  return v;
}

std::string state_of(const TrialView& t, bool live) {
  if (t.finished) return "done";
  if (t.rung) return rung_state_text(*t.rung, live);
  const db::SearchTrialRow& r = *t.row;
  if (r.failed > 0 && r.done + r.failed == r.tasks) return r.done ? "partly failed" : "failed";
  return std::to_string(r.done) + "/" + std::to_string(r.tasks) + " tasks done";
}

using svg::coord;
using svg::text;

// A trial stopped at a rung: a grey cross at its value there (Optuna's dashboard greys its pruned trials).
constexpr const char* kPrunedGrey = svg::kMuted;
void pruned_mark(std::ostringstream& o, double x, double y, const TrialView& t, bool live) {
  o << "<path class=\"pruned\" d=\"M" << coord(x - 3.5) << " " << coord(y - 3.5) << "L" << coord(x + 3.5) << " " << coord(y + 3.5) << "M"
    << coord(x - 3.5) << " " << coord(y + 3.5) << "L" << coord(x + 3.5) << " " << coord(y - 3.5) << "\" stroke=\"" << kPrunedGrey
    << "\" stroke-width=\"1.6\"><title>" << html_escape(t.row->variant + ": " + state_of(t, live)) << "</title></path>\n";
}
bool any_pruned(const SearchView& v) {
  return std::any_of(v.trials.begin(), v.trials.end(), [](const TrialView& t) { return t.pruned(); });
}
// The legend of a figure whose trials include pruned ones, two short lines above the plot so that it fits
// the narrowest figure (nothing without pruned trials: such figures keep their bytes).
void pruned_legend(std::ostringstream& o, const SearchView& v, double x, const std::string& finished_text) {
  if (!any_pruned(v)) return;
  text(o, x, 11, finished_text, "start");
  o << "<path d=\"M" << coord(x) << " 17L" << coord(x + 7) << " 24M" << coord(x) << " 24L" << coord(x + 7) << " 17\" stroke=\"" << kPrunedGrey
    << "\" stroke-width=\"1.6\"/>\n";
  text(o, x + 12, 24, "stopped at a rung: its value there", "start", std::string(" fill=\"") + kPrunedGrey + "\"");
}

// The x axis of one key: linear, log10 (ticks at the decades) or categorical.
struct KeyAxis {
  double lo = 0, hi = 1;
  std::vector<std::pair<double, std::string>> ticks;
  double map(double v, double x0, double w) const { return x0 + (v - lo) / (hi - lo) * w; }
};
KeyAxis key_axis(const SearchView& v, std::size_t j) {
  KeyAxis a;
  const std::string& dist = v.keys[j].dist;
  if (dist == "choice") {
    const auto& labels = v.choice_labels[j];
    a.lo = -0.5, a.hi = std::max<double>(0.5, static_cast<double>(labels.size()) - 0.5);
    for (std::size_t k = 0; k < labels.size(); ++k) a.ticks.emplace_back(static_cast<double>(k), labels[k]);
    return a;
  }
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& t : v.trials) {
    if (std::isfinite(t.scale[j])) lo = std::min(lo, t.scale[j]), hi = std::max(hi, t.scale[j]);
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (dist == "log_uniform") {
    a.lo = std::floor(lo), a.hi = std::ceil(hi);
    if (a.hi <= a.lo) a.hi = a.lo + 1;
    for (double d = a.lo; d <= a.hi + 1e-9; d += 1) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "1e%d", static_cast<int>(d));
      a.ticks.emplace_back(d, buf);
    }
    return a;
  }
  const svg::Ticks t = svg::nice_ticks(lo, hi);
  a.lo = t.lo, a.hi = t.hi;
  for (double x : t.at) a.ticks.emplace_back(x, fixed(x, t.decimals));
  return a;
}

// The objective's y axis over the finished trials and the pruned ones' values at their rungs.
svg::Ticks objective_axis(const SearchView& v) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& t : v.trials) {
    if (std::isfinite(t.value())) lo = std::min(lo, t.value()), hi = std::max(hi, t.value());
  }
  return svg::nice_ticks(lo, hi);
}

std::string scatter_svg(const SearchView& v) {
  const double pw = 240, ph = 170, mx = 60, top = 30, gap_x = 40, gap_y = 70;
  const std::size_t cols = std::min<std::size_t>(3, std::max<std::size_t>(1, v.keys.size()));
  const std::size_t rows = (v.keys.size() + cols - 1) / cols;
  const double w = mx + cols * (pw + gap_x), h = top + rows * (ph + gap_y);
  std::ostringstream o;
  o << svg::open(w, h);
  const svg::Ticks y = objective_axis(v);
  const TrialView* best = nullptr;
  for (const auto& t : v.trials) {
    if (t.finished) {
      best = &t;
      break;
    }
  }
  for (std::size_t j = 0; j < v.keys.size(); ++j) {
    const svg::Panel p{mx + (j % cols) * (pw + gap_x), top + (j / cols) * (ph + gap_y), pw, ph};
    const KeyAxis a = key_axis(v, j);
    svg::y_grid(o, p, y);
    svg::frame(o, p);
    std::vector<std::pair<double, std::string>> labels;
    for (const auto& [tx, label] : a.ticks) labels.emplace_back(a.map(tx, p.x0, pw), label);
    svg::x_labels(o, p, labels);
    svg::x_title(o, p, v.keys[j].key + (v.keys[j].dist == "log_uniform" ? " (log scale)" : ""), svg::kBold);
    for (const auto& t : v.trials) {  // pruned first, so that the finished trials are drawn on top
      if (t.pruned() && std::isfinite(t.scale[j])) {
        pruned_mark(o, a.map(t.scale[j], p.x0, pw), y.up(t.value(), p.y0, ph), t, v.live);
      }
    }
    for (const auto& t : v.trials) {
      if (!t.finished || !std::isfinite(t.scale[j])) continue;
      o << "<circle cx=\"" << coord(a.map(t.scale[j], p.x0, pw)) << "\" cy=\"" << coord(y.up(t.row->objective, p.y0, ph))
        << "\" r=\"" << (&t == best ? "5" : "3.5") << "\" fill=\"" << svg::colour(&t == best ? 2 : 0)
        << "\" fill-opacity=\"0.8\"><title>" << html_escape(t.row->variant) << "</title></circle>\n";
    }
  }
  pruned_legend(o, v, mx, "finished: circles, the best in red");
  svg::turned_text(o, 14, h / 2, "validation " + v.objective, -90);
  o << svg::close();
  return o.str();
}

// Light grey (worst) to dark blue (best).
std::string shade(double t) {
  const int r = static_cast<int>(std::lround(204 + (8 - 204) * t)), g = static_cast<int>(std::lround(204 + (48 - 204) * t)),
            b = static_cast<int>(std::lround(204 + (107 - 204) * t));
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", r, g, b);
  return buf;
}

std::string parallel_svg(const SearchView& v) {
  const std::size_t axes = v.keys.size() + 1;
  const double gap = 150, x0 = 60, y0 = 30, h = 220;
  const double w = x0 * 2 + gap * static_cast<double>(axes - 1);
  std::ostringstream o;
  o << svg::open(w, y0 + h + 50);
  std::vector<KeyAxis> ka;
  for (std::size_t j = 0; j < v.keys.size(); ++j) ka.push_back(key_axis(v, j));
  const svg::Ticks y = objective_axis(v);
  auto axis_x = [&](std::size_t j) { return x0 + gap * static_cast<double>(j); };
  // Pruned trials first, grey and dashed, ending at their value at the rung; then the finished ones, worst
  // first, so that the best lines are drawn on top.
  auto points = [&](const TrialView& t) {
    std::string pts;
    for (std::size_t j = 0; j < v.keys.size(); ++j) {
      const double f = (t.scale[j] - ka[j].lo) / (ka[j].hi - ka[j].lo);
      pts += coord(axis_x(j)) + "," + coord(y0 + h - f * h) + " ";
    }
    return pts + coord(axis_x(axes - 1)) + "," + coord(y.up(t.value(), y0, h));
  };
  for (const auto& t : v.trials) {
    if (!t.pruned()) continue;
    o << "<polyline class=\"pruned\" points=\"" << points(t) << "\" fill=\"none\" stroke=\"" << kPrunedGrey
      << "\" stroke-width=\"1\" stroke-dasharray=\"4 3\"><title>" << html_escape(t.row->variant + ": " + state_of(t, v.live))
      << "</title></polyline>\n";
  }
  std::vector<const TrialView*> finished;
  for (const auto& t : v.trials) {
    if (t.finished) finished.push_back(&t);
  }
  for (std::size_t i = finished.size(); i-- > 0;) {
    const TrialView& t = *finished[i];
    const double rank = finished.size() > 1 ? 1.0 - static_cast<double>(i) / static_cast<double>(finished.size() - 1) : 1.0;
    o << "<polyline points=\"" << points(t) << "\" fill=\"none\" stroke=\"" << shade(rank) << "\" stroke-width=\""
      << (i == 0 ? "2.5" : "1.2") << "\"><title>" << html_escape(t.row->variant) << "</title></polyline>\n";
  }
  for (std::size_t j = 0; j < axes; ++j) {
    const double x = axis_x(j);
    o << "<line x1=\"" << coord(x) << "\" y1=\"" << coord(y0) << "\" x2=\"" << coord(x) << "\" y2=\"" << coord(y0 + h)
      << "\" stroke=\"" << svg::kInk << "\"/>\n";
    if (j + 1 < axes) {
      for (const auto& [tv, label] : ka[j].ticks) {
        text(o, x - 4, y0 + h - (tv - ka[j].lo) / (ka[j].hi - ka[j].lo) * h + 4, label, "end");
      }
      text(o, x, y0 + h + 20, v.keys[j].key, "middle", svg::kBold);
    } else {
      for (double t : y.at) text(o, x + 4, y.up(t, y0, h) + 4, fixed(t, y.decimals), "start");
      text(o, x, y0 + h + 20, "validation " + v.objective, "middle", svg::kBold);
    }
  }
  pruned_legend(o, v, x0, "finished: lines, darker = better");
  o << svg::close();
  return o.str();
}

// Best objective so far against the cumulative epochs of the trials, in the order they were proposed,
// one step line per declared variant.
std::string best_so_far_svg(const SearchView& v, const db::StudyData& study) {
  std::map<std::string, std::vector<std::pair<double, double>>> curves;  // declared -> (epochs, best)
  std::map<std::string, std::pair<double, double>> state;                // declared -> (epochs, best)
  // The pruned trials: the epochs spent when each ended at its rung, and its value there. Their epochs
  // count in the training spent; only a finished trial can be the best (a value after fewer epochs is
  // not the objective).
  std::map<std::string, const TrialView*> pruned;
  for (const auto& t : v.trials) {
    if (t.pruned()) pruned[t.row->variant] = &t;
  }
  std::vector<std::pair<double, const TrialView*>> marks;
  double xhi = 1;
  for (const auto& t : study.trials) {  // in the order proposed
    auto& [epochs, best] = state.emplace(t.declared, std::make_pair(0.0, kNaN)).first->second;
    epochs += t.epochs;
    if (finished(t) && (!std::isfinite(best) || better(v, t.objective, best))) best = t.objective;
    if (std::isfinite(best)) curves[t.declared].emplace_back(epochs, best), xhi = std::max(xhi, epochs);
    if (const auto p = pruned.find(t.variant); p != pruned.end()) marks.emplace_back(epochs, p->second), xhi = std::max(xhi, epochs);
  }
  const svg::Panel p{70, 30, 460, 220};
  std::ostringstream o;
  o << svg::open(p.x0 + p.w + 160, p.y0 + p.h + 50);
  const svg::Ticks xt = svg::nice_ticks(0, xhi);
  const svg::Ticks y = objective_axis(v);
  svg::y_grid(o, p, y);
  auto map_x = [&](double e) { return xt.along(e, p.x0, p.w); };
  svg::x_labels(o, p, xt);
  svg::x_title(o, p, "training epochs spent (cumulative, in the order proposed)");
  svg::frame(o, p);
  for (const auto& [epochs, t] : marks) pruned_mark(o, map_x(epochs), y.up(t->value(), p.y0, p.h), *t, v.live);
  pruned_legend(o, v, p.x0, "lines: the best finished trial so far");
  std::size_t k = 0;
  for (const auto& [d, pts] : curves) {
    std::string line;
    for (std::size_t i = 0; i < pts.size(); ++i) {
      if (i > 0) line += coord(map_x(pts[i].first)) + "," + coord(y.up(pts[i - 1].second, p.y0, p.h)) + " ";
      line += coord(map_x(pts[i].first)) + "," + coord(y.up(pts[i].second, p.y0, p.h)) + " ";
    }
    o << "<polyline points=\"" << line << "\" fill=\"none\" stroke=\"" << svg::colour(k) << "\" stroke-width=\"2\"/>\n";
    text(o, p.x0 + p.w + 10, p.y0 + 14 + 16 * static_cast<double>(k), d.empty() ? "best so far" : d, "start",
         std::string(" fill=\"") + svg::colour(k) + "\"");
    ++k;
  }
  svg::turned_text(o, 16, p.y0 + p.h / 2, "best validation " + v.objective, -90);
  o << svg::close();
  return o.str();
}

}  // namespace

std::vector<SearchKey> search_keys(const db::StudyData& study) {
  std::vector<SearchKey> keys;
  auto it = study.provenance.find("search_space");
  if (it == study.provenance.end()) return keys;
  std::istringstream in(it->second);
  std::string line;
  while (std::getline(in, line)) {
    const auto sp = line.find(' ');
    if (sp == std::string::npos) continue;
    keys.push_back({line.substr(0, sp), line.substr(sp + 1)});
  }
  return keys;
}

std::vector<Importance> parameter_importance(const std::vector<SearchKey>& keys,
                                             const std::vector<std::vector<double>>& values, const std::vector<double>& y) {
  const std::size_t n = y.size();
  const double mean = n ? std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(n) : 0;
  double total = 0;
  for (double v : y) total += (v - mean) * (v - mean);
  std::vector<Importance> out;
  double sum = 0;
  for (std::size_t j = 0; j < keys.size(); ++j) {
    Importance imp{keys[j].key, 0, 0, 0};
    std::vector<int> group(n, 0);
    std::set<double> distinct;
    for (std::size_t i = 0; i < n; ++i) distinct.insert(values[i][j]);
    if (keys[j].dist == "choice" || (keys[j].dist == "int" && distinct.size() <= 4)) {
      std::map<double, int> index;
      for (double d : distinct) index.emplace(d, static_cast<int>(index.size()));
      for (std::size_t i = 0; i < n; ++i) group[i] = index[values[i][j]];
      imp.groups = static_cast<int>(distinct.size());
    } else {
      const std::size_t g = std::min<std::size_t>(4, n / 2);
      std::vector<std::size_t> order(n);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a][j] < values[b][j]; });
      for (std::size_t r = 0; r < n; ++r) group[order[r]] = g ? static_cast<int>(r * g / n) : 0;
      imp.groups = static_cast<int>(g);
    }
    if (imp.groups >= 2 && total > 0) {
      std::map<int, std::pair<double, int>> acc;
      for (std::size_t i = 0; i < n; ++i) acc[group[i]].first += y[i], acc[group[i]].second++;
      double between = 0;
      for (const auto& [gi, s] : acc) {
        const double m = s.first / s.second;
        between += s.second * (m - mean) * (m - mean);
      }
      imp.eta2 = between / total;
    }
    sum += imp.eta2;
    out.push_back(imp);
  }
  for (auto& imp : out) imp.share = sum > 0 ? imp.eta2 / sum : 0;
  return out;
}

RungState rung_state(const db::StoppedTrialRow& s, bool live) {
  if (s.decision == "stop") return RungState::kStopped;
  if (s.decision == "pause") return live ? RungState::kWaiting : RungState::kStopped;
  if (s.decision == "promote" || s.decision == "continue") return RungState::kResuming;
  return RungState::kOnTheWay;
}

std::string rung_state_text(const db::StoppedTrialRow& s, bool live) {
  const std::string epoch = "epoch " + std::to_string(s.epoch);
  switch (rung_state(s, live)) {
    case RungState::kStopped: return "stopped at " + epoch;
    case RungState::kWaiting: return "waiting at " + epoch;
    case RungState::kResuming: return "resumes from " + epoch;
    case RungState::kOnTheWay: break;
  }
  return std::to_string(s.tasks) + " task(s) at " + epoch + ", others on the way";
}

TrialCounts trial_counts(const db::StudyData& study) {
  TrialCounts c;
  for (const auto& t : study.trials) {
    ++c.proposed;
    const auto rung = study.stopped_trials.find(t.variant);
    if (finished(t)) {
      ++c.finished;
    } else if (rung != study.stopped_trials.end()) {
      ++(rung_state(rung->second, study.live) == RungState::kStopped ? c.stopped : c.waiting);
    } else if (t.failed > 0 && t.done + t.failed == t.tasks) {
      ++c.failed;
    } else {
      ++c.running;
    }
  }
  return c;
}

std::string trial_counts_text(const TrialCounts& c, const std::string& budget) {
  std::string out = std::to_string(c.proposed) + " trial(s) proposed" + (budget.empty() ? "" : " of " + budget) + ", " +
                    std::to_string(c.finished) + " finished";
  if (c.stopped) out += ", " + std::to_string(c.stopped) + " stopped at a rung";
  if (c.waiting) out += ", " + std::to_string(c.waiting) + " waiting at a rung";
  if (c.failed) out += ", " + std::to_string(c.failed) + " failed";
  if (c.running) out += ", " + std::to_string(c.running) + " not finished";
  return out;
}

std::vector<std::string> search_ranking(const db::StudyData& study) {
  std::vector<std::string> out;
  if (study.trials.empty()) return out;
  for (const auto& t : view_of(study).trials) out.push_back(t.row->variant);
  return out;
}

std::string search_trials_csv(const db::StudyData& study) {
  if (study.trials.empty()) return "";
  const SearchView v = view_of(study);
  std::ostringstream o;
  o << "rank,declared,trial,variant";
  for (const auto& k : v.keys) o << "," << csv_field(k.key);
  o << ",objective,rung_epoch,rung_value,tasks_done,tasks,epochs,state\n";
  int rank = 0;
  for (const auto& t : v.trials) {
    o << (t.finished ? std::to_string(++rank) : "") << "," << csv_field(t.row->declared) << "," << t.row->trial << ","
      << csv_field(t.row->variant);
    for (const auto& s : t.shown) o << "," << csv_field(s);
    o << "," << (std::isfinite(t.row->objective) ? number(t.row->objective) : "") << ","
      << (t.rung ? std::to_string(t.rung->epoch) : "") << "," << (t.pruned() ? number(t.rung->value) : "") << ","
      << t.row->done << "," << t.row->tasks << "," << t.row->epochs << "," << state_of(t, v.live) << "\n";
  }
  return o.str();
}

std::string search_section_html(const db::StudyData& study) {
  if (study.trials.empty()) return "";
  const SearchView v = view_of(study);
  const TrialCounts counts = trial_counts(study);
  std::ostringstream h;
  h << "<h3>" << html_escape(study.study) << "</h3>\n<p>" << html_escape(v.method) << " search: " << trial_counts_text(counts)
    << ". Objective: the validation " << html_escape(v.objective)
    << " at the epoch train.select_metric selected, mean over each trial's folds and repeats (" << (v.minimize ? "lower" : "higher")
    << " is better); test metrics never steer the search. The trials are ranked by it, best first: a search's comparison "
       "(no significance test against a trial).";
  if (any_pruned(v)) {
    h << " A trial stopped at a rung shows its value there (the best validation " << html_escape(v.objective)
      << " over the epochs up to the rung, mean over its folds), after the finished trials and unranked: a value after "
         "fewer epochs is not comparable with the objective.";
  }
  h << "</p>\n";
  // Trials table.
  h << "<table class=\"cmp\">\n<tr><th>Rank</th><th>Trial</th><th>Variant</th>";
  for (const auto& k : v.keys) h << "<th>" << html_escape(k.key) << "</th>";
  h << "<th>Validation " << html_escape(v.objective) << "</th><th>Tasks</th><th>State</th></tr>\n";
  int rank = 0;
  for (const auto& t : v.trials) {
    h << "<tr" << (t.pruned() ? " class=\"pruned\"" : "") << "><td>" << (t.finished ? std::to_string(++rank) : "") << "</td><td>"
      << html_escape((t.row->declared.empty() ? "" : t.row->declared + " ") + "#" + std::to_string(t.row->trial)) << "</td><td>"
      << html_escape(t.row->variant) << "</td>";
    for (const auto& s : t.shown) h << "<td>" << html_escape(s) << "</td>";
    h << "<td>" << (std::isfinite(t.value()) ? fixed(t.value(), 4) : "n/a") << (t.pruned() ? " at epoch " + std::to_string(t.rung->epoch) : "")
      << "</td><td>" << t.row->done << "/" << t.row->tasks << "</td><td>" << html_escape(state_of(t, v.live)) << "</td></tr>\n";
  }
  h << "</table>\n";
  if (counts.finished == 0 && !any_pruned(v)) return h.str() + "<p>No trial has finished yet.</p>\n";
  h << "<h4>Objective against each sampled key</h4>\n<div class=\"svg\">\n" << scatter_svg(v) << "</div>\n";
  h << "<h4>Parallel coordinates (darker = better; the best is thick)</h4>\n<div class=\"svg\">\n" << parallel_svg(v) << "</div>\n";
  h << "<h4>Best so far against the training spent</h4>\n<div class=\"svg\">\n" << best_so_far_svg(v, study) << "</div>\n";
  // Importance over the finished trials only (docs/REPORTS.md "Searches": why not the stopped ones).
  std::vector<std::vector<double>> values;
  std::vector<double> y;
  for (const auto& t : v.trials) {
    if (!t.finished) continue;
    values.push_back(t.scale);
    y.push_back(t.row->objective);
  }
  if (y.empty()) return h.str() + "<p>No trial has finished yet: no parameter importance.</p>\n";
  h << "<h4>Parameter importance</h4>\n<table class=\"cmp\">\n<tr><th>Key</th><th>η²</th><th>Share</th><th>Groups</th></tr>\n";
  for (const auto& imp : parameter_importance(v.keys, values, y)) {
    h << "<tr><td>" << html_escape(imp.key) << "</td><td>" << fixed(imp.eta2, 3) << "</td><td>" << fixed(100 * imp.share, 1)
      << " %</td><td>" << imp.groups << "</td></tr>\n";
  }
  h << "</table>\n<p>η² is the share of the variance of the finished trials' objectives explained by each key alone "
       "(the trials grouped by the key: by value for a choice, by rank into up to 4 equal groups for a number); the main "
       "effects of a functional ANOVA, computed on the trials rather than on a fitted random forest, with no "
       "interactions. Share: η² over the sum of the keys' η². With few trials, read it as a hint.";
  if (any_pruned(v)) {
    h << " Over the " << y.size() << " finished trial(s) only: a value at a rung is measured after fewer epochs and decided "
         "whether the trial went on, so mixing it with the objective would credit a key with the epochs its trials ran. "
         "With early stopping the finished trials are the ones the search promoted: the η² describe the differences among "
         "good trials.";
  }
  h << "</p>\n";
  return h.str();
}

}  // namespace ablate::reports
