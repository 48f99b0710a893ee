#include "serve/view.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "reports/effects.hpp"
#include "reports/format.hpp"
#include "reports/report.hpp"
#include "reports/reproduction.hpp"
#include "reports/search.hpp"
#include "reports/study_index.hpp"
#include "sweeps/early_stop.hpp"

namespace ablate::serve {

namespace {

// An answer whose store did not change is still recomputed after this long: the elapsed time, the ETA and
// the coordinator's heartbeat move without a write.
constexpr double kStaleSeconds = 5;

// A JSON array of numbers from a member of each row.
template <class Rows, class Get>
std::string number_array(const Rows& rows, Get get) {
  std::string out = "[";
  for (std::size_t i = 0; i < rows.size(); ++i) out += (i ? "," : "") + json_number(get(rows[i]));
  return out + "]";
}

std::string counts_json(const std::map<std::string, int>& counts) {
  std::string out = "{";
  bool first = true;
  for (const auto& s : db::task_statuses()) {
    const auto it = counts.find(s);
    out += (first ? "" : ",") + json_text(s) + ":" + std::to_string(it == counts.end() ? 0 : it->second);
    first = false;
  }
  return out + "}";
}

bool has_early_stopping(const db::Store& store, std::int64_t id, const Progress& p) {
  if (p.counts.count("stopped")) return true;
  return store.has_early_stop_log(id);
}

std::string task_json(const db::TaskRow& t) {
  std::ostringstream o;
  o << "{\"id\":" << t.id << ",\"variant\":" << json_text(t.variant) << ",\"fold\":" << t.fold
    << ",\"repeat\":" << t.repeat << ",\"status\":" << json_text(t.status) << ",\"attempts\":" << t.attempts
    << ",\"epoch\":" << t.epochs_stored << ",\"best_epoch\":" << t.best_epoch << ",\"rung\":" << t.rung
    << ",\"host\":" << json_text(t.host) << ",\"rank\":" << t.rank << ",\"device\":" << json_text(t.device)
    << ",\"started\":" << json_number(t.started) << ",\"ended\":" << json_number(t.ended)
    << ",\"seconds\":" << json_number(t.seconds) << "}";
  return o.str();
}

// Every attempt of an unfinished task that ended with a message (the task's own error when its attempts
// carry none: a store written before attempts kept theirs).
std::string failures_json(const db::Store& store, const std::vector<db::TaskRow>& tasks) {
  std::string out = "[";
  auto add = [&](const db::TaskRow& t, int attempt, const std::string& status, const std::string& host,
                 double ended, const std::string& message) {
    std::ostringstream o;
    o << (out.size() > 1 ? "," : "") << "{\"task\":" << t.id << ",\"variant\":" << json_text(t.variant)
      << ",\"fold\":" << t.fold << ",\"repeat\":" << t.repeat << ",\"attempt\":" << attempt
      << ",\"status\":" << json_text(status) << ",\"host\":" << json_text(host)
      << ",\"ended\":" << json_number(ended) << ",\"message\":" << json_text(message) << "}";
    out += o.str();
  };
  for (const auto& t : tasks) {
    if (t.status == "done" || (t.status != "failed" && t.error.empty())) continue;
    bool any = false;
    for (const auto& a : store.attempts(t.id)) {
      if (a.error.empty()) continue;
      add(t, a.attempt, a.status, a.host, a.ended, a.error);
      any = true;
    }
    if (!any && !t.error.empty()) add(t, t.attempts, t.status, t.host, t.ended, t.error);
  }
  return out + "]";
}

std::string epochs_of(const db::TaskRow& t, const std::vector<db::TaskEpochRow>& rows) {
  using R = db::TaskEpochRow;
  std::ostringstream o;
  o << "{\"id\":" << t.id << ",\"variant\":" << json_text(t.variant) << ",\"fold\":" << t.fold
    << ",\"repeat\":" << t.repeat << ",\"status\":" << json_text(t.status)
    << ",\"best_epoch\":" << t.best_epoch << ",\"rung\":" << t.rung
    << ",\"epoch\":" << number_array(rows, [](const R& r) { return double(r.epoch); })
    << ",\"train_loss\":" << number_array(rows, [](const R& r) { return r.train_loss; })
    << ",\"val_loss\":" << number_array(rows, [](const R& r) { return r.val_loss; })
    << ",\"val_dice\":" << number_array(rows, [](const R& r) { return r.val_dice; })
    << ",\"val_score\":" << number_array(rows, [](const R& r) { return r.val_score; })
    << ",\"val_soft_dice\":" << number_array(rows, [](const R& r) { return r.val_soft_dice; })
    << ",\"lr\":" << number_array(rows, [](const R& r) { return r.lr; })
    << ",\"seconds\":" << number_array(rows, [](const R& r) { return r.seconds; }) << "}";
  return o.str();
}

std::string decisions_of(const std::string& study, const std::vector<db::EarlyStopEvent>& log) {
  std::ostringstream o;
  o << "{\"study\":" << json_text(study) << ",\"rungs\":[";
  const auto rungs = db::rung_populations(log);
  for (std::size_t i = 0; i < rungs.size(); ++i) {
    const auto& r = rungs[i];
    o << (i ? "," : "") << "{\"rung\":" << r.rung << ",\"epoch\":" << r.epoch << ",\"reached\":" << r.reached
      << ",\"promoted\":" << r.promoted << ",\"waiting\":" << r.waiting << ",\"stopped\":" << r.stopped
      << ",\"failed\":" << r.failed << ",\"finished\":" << r.finished << "}";
  }
  o << "],\"decisions\":[";
  for (std::size_t i = 0; i < log.size(); ++i) {
    const auto& e = log[i];
    o << (i ? "," : "") << "{\"variant\":" << json_text(e.variant) << ",\"kind\":" << json_text(e.kind)
      << ",\"rung\":" << e.rung << ",\"epoch\":" << e.epoch << ",\"fold\":" << e.fold
      << ",\"repeat\":" << e.repeat << ",\"score\":" << json_number(e.score) << "}";
  }
  o << "]}";
  return o.str();
}

std::string trials_of(const db::StudyData& d) {
  const auto pit = d.provenance.find("search_objective");
  const std::string objective = pit == d.provenance.end() || pit->second.empty() ? "dice" : pit->second;
  const bool minimize = sweeps::objective_direction(objective) == sweeps::Direction::kMinimize;
  std::ostringstream o;
  o << "{\"study\":" << json_text(d.study) << ",\"objective\":" << json_text(objective)
    << ",\"direction\":" << json_text(minimize ? "minimize" : "maximize") << ",\"keys\":[";
  const auto keys = reports::search_keys(d);
  for (std::size_t i = 0; i < keys.size(); ++i)
    o << (i ? "," : "") << "{\"key\":" << json_text(keys[i].key) << ",\"dist\":" << json_text(keys[i].dist)
      << "}";
  o << "],\"trials\":[";
  double best = NAN;
  for (std::size_t i = 0; i < d.trials.size(); ++i) {
    const db::SearchTrialRow& t = d.trials[i];
    const auto stopped = d.stopped.find(t.variant);
    const bool finished = t.tasks > 0 && t.done == t.tasks && std::isfinite(t.objective);
    const std::string state = stopped != d.stopped.end() ? "pruned"
                              : t.failed > 0             ? "failed"
                              : finished                 ? "finished"
                              : t.done > 0               ? "open"
                                                         : "pending";
    // Best so far: over the finished trials in proposal order (the report's "best objective so far").
    if (finished && (std::isnan(best) || (minimize ? t.objective < best : t.objective > best)))
      best = t.objective;
    o << (i ? "," : "") << "{\"declared\":" << json_text(t.declared) << ",\"trial\":" << t.trial
      << ",\"variant\":" << json_text(t.variant) << ",\"method\":" << json_text(t.method)
      << ",\"point\":" << json_text(t.point) << ",\"proposed\":" << json_number(t.proposed)
      << ",\"objective\":" << json_number(t.objective) << ",\"done\":" << t.done << ",\"tasks\":" << t.tasks
      << ",\"failed\":" << t.failed << ",\"epochs\":" << t.epochs << ",\"state\":" << json_text(state)
      << ",\"rung\":" << (stopped == d.stopped.end() ? 0 : stopped->second)
      << ",\"best_so_far\":" << json_number(best) << "}";
  }
  o << "]}";
  return o.str();
}

std::string metrics_of(const db::StudyData& d) {
  std::ostringstream o;
  o << "{\"study\":" << json_text(d.study) << ",\"variants\":[";
  for (std::size_t i = 0; i < d.variants.size(); ++i)
    o << (i ? "," : "") << "{\"name\":" << json_text(d.variants[i].name)
      << ",\"label\":" << json_text(d.variants[i].label) << ",\"hash\":" << json_text(d.variants[i].hash)
      << "}";
  // Mean and sd over the (fold, repeat)s of each variant x class x metric, in stored units.
  std::map<std::tuple<std::string, int, std::string>, std::vector<double>> groups;
  for (const auto& r : d.fold_metrics) groups[{r.variant, r.cls, r.metric}].push_back(r.value);
  o << "],\"summary\":[";
  bool first = true;
  for (const auto& [key, values] : groups) {
    const reports::MeanSd s = reports::mean_sd(values);
    o << (first ? "" : ",") << "{\"variant\":" << json_text(std::get<0>(key))
      << ",\"class\":" << std::get<1>(key) << ",\"metric\":" << json_text(std::get<2>(key))
      << ",\"n\":" << s.n << ",\"mean\":" << json_number(s.mean) << ",\"sd\":" << json_number(s.sd) << "}";
    first = false;
  }
  o << "],\"fold_metrics\":[";
  for (std::size_t i = 0; i < d.fold_metrics.size(); ++i) {
    const auto& r = d.fold_metrics[i];
    o << (i ? "," : "") << "{\"variant\":" << json_text(r.variant) << ",\"fold\":" << r.fold
      << ",\"repeat\":" << r.repeat << ",\"class\":" << r.cls << ",\"metric\":" << json_text(r.metric)
      << ",\"value\":" << json_number(r.value) << "}";
  }
  o << "],\"model\":[";
  for (std::size_t i = 0; i < d.model_facts.size(); ++i) {
    const auto& m = d.model_facts[i];
    o << (i ? "," : "") << "{\"variant\":" << json_text(m.variant) << ",\"parameters\":" << m.parameters
      << ",\"inference_ms_per_case\":" << json_number(m.inference_ms_per_case) << "}";
  }
  o << "]}";
  return o.str();
}

// The sections of report.html that change as results arrive, drawn by the report's renderers (the same
// calls as reports::write_report, one study, its own [report]).
// `studies`: the one study, as the report's functions take it (no copy of its 100,000 epochs per call).
std::string results_of(const std::vector<db::StudyData>& studies) {
  using namespace reports;
  const db::StudyData& d = studies.front();
  std::vector<std::string> notes;
  const ReportConfig config = effective_config(studies, ReportOptions{}, &notes);
  const std::vector<StudyIndex> indexes = make_indexes(studies, config);
  const std::vector<SignificanceRow> significance = significance_tests(studies, indexes, config, &notes);
  ComparisonTable table = comparison_table(studies, indexes, config, significance);
  const Reproduction repro = reproduction(studies, indexes, config, table);
  mark_published(table, repro, config.published_columns);
  notes.insert(notes.end(), table.notes.begin(), table.notes.end());
  std::ostringstream h;
  h << "<h2 id=\"table\">Comparison</h2>\n" << render_html(table);
  if (!repro.empty()) h << reproduction_html(repro, table);
  if (const StoredDesign design = stored_design(d, &notes); !design.empty()) {
    const EffectsTable effects = effects_table(d, design, config);
    h << "<h2 id=\"effects\">Effects of the components</h2>\n"
      << render_effects_html(effects) << "<div class=\"svg\">\n"
      << effects_svg(effects) << "</div>\n";
  }
  if (!d.trials.empty()) h << "<h2 id=\"search\">Search</h2>\n" << search_section_html(d);
  h << "<h2 id=\"boxplots\">Per-case distributions</h2>\n<div class=\"svg\">\n"
    << box_svg("Per-case distributions: " + d.study, box_rows(indexes[0])) << "</div>\n";
  h << "<h2 id=\"convergence\">Convergence</h2>\n<div class=\"svg\">\n" << convergence_svg(d) << "</div>\n";
  if (!notes.empty()) {
    h << "<h3>Notes</h3>\n<ul class=\"notes\">\n";
    for (const auto& n : notes) h << "<li>" << html_escape(n) << "</li>\n";
    h << "</ul>\n";
  }
  return h.str();
}

std::string tasks_of(const db::Store& store, const std::string& study, std::int64_t id) {
  const double now = db::now_seconds();
  const Progress p = study_progress(store, id, now);
  std::ostringstream o;
  o << "{\"study\":" << json_text(study) << ",\"now\":" << json_number(now)
    << ",\"coordinator\":" << (p.coordinator ? "true" : "false") << ",\"workers\":" << p.workers
    << ",\"busy\":" << p.busy << ",\"elapsed\":" << json_number(p.elapsed)
    << ",\"eta\":" << json_number(p.eta < 0 ? NAN : p.eta) << ",\"total\":" << p.tasks.size()
    << ",\"counts\":" << counts_json(p.counts)
    << ",\"search\":" << (store.schema_version() >= 3 && !store.trials(id).empty() ? "true" : "false")
    << ",\"early_stopping\":" << (has_early_stopping(store, id, p) ? "true" : "false") << ",\"variants\":[";
  const auto variants = store.variants(id);
  for (std::size_t i = 0; i < variants.size(); ++i) {
    std::map<std::string, int> counts;
    int rung = 0;
    for (const auto& t : p.tasks) {
      if (t.variant != variants[i].name) continue;
      ++counts[t.status];
      if (t.status == "stopped") rung = std::max(rung, t.rung);
    }
    const auto m = p.mean_seconds.find(variants[i].name);
    o << (i ? "," : "") << "{\"name\":" << json_text(variants[i].name)
      << ",\"label\":" << json_text(variants[i].label) << ",\"counts\":" << counts_json(counts)
      << ",\"rung\":" << rung
      << ",\"mean_seconds\":" << json_number(m == p.mean_seconds.end() ? NAN : m->second) << "}";
  }
  o << "],\"tasks\":[";
  for (std::size_t i = 0; i < p.tasks.size(); ++i) o << (i ? "," : "") << task_json(p.tasks[i]);
  o << "],\"failures\":" << failures_json(store, p.tasks) << "}";
  return o.str();
}

// The tasks of the selection, one page of them (`offset`, at most `limit`), each task's rows read by the
// epochs primary key: an answer never holds more than `limit` tasks' epochs, however large the study.
std::string epochs_of_study(const db::Store& store, const std::string& study, std::int64_t id,
                            const StoreView::EpochsQuery& q) {
  std::vector<db::TaskRow> tasks;
  for (const auto& t : store.tasks(id))
    if ((q.task <= 0 || t.id == q.task) && (q.variant.empty() || t.variant == q.variant)) tasks.push_back(t);
  const std::size_t total = tasks.size();
  const std::size_t first = std::min<std::size_t>(total, static_cast<std::size_t>(q.offset));
  const std::size_t last = std::min<std::size_t>(total, first + static_cast<std::size_t>(q.limit));
  std::string out = "{\"study\":" + json_text(study) + ",\"total\":" + std::to_string(total) +
                    ",\"offset\":" + std::to_string(first) + ",\"next_offset\":" +
                    (last < total ? std::to_string(last) : std::string("null")) + ",\"tasks\":[";
  for (std::size_t i = first; i < last; ++i)
    out += (i > first ? "," : "") + epochs_of(tasks[i], store.task_epochs(id, tasks[i].id));
  return out + "]}";
}

}  // namespace

std::string json_text(const std::string& text) {
  const std::string quoted = reports::json_string(text);
  std::string out;
  out.reserve(quoted.size());
  for (char c : quoted) {
    if (c == '<')
      out += "\\u003c";
    else if (c == '>')
      out += "\\u003e";
    else if (c == '&')
      out += "\\u0026";
    else
      out += c;
  }
  return out;
}

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", value);
  return buf;
}

Progress study_progress(const db::Store& store, std::int64_t id, double now) {
  Progress p;
  p.tasks = store.tasks(id);
  p.coordinator = store.lock_held(id);
  const auto runs = store.runs(id);
  p.workers = runs.empty() ? 1 : std::max(1, runs.back().ranks - 1);
  std::map<std::string, std::pair<double, int>> timed;  // variant -> (seconds, done tasks)
  for (auto& t : p.tasks) {
    if (t.status == "running" && !p.coordinator) t.status = "interrupted";
    ++p.counts[t.status];
    p.busy += t.status == "running";
    if (t.status != "done") continue;
    timed[t.variant].first += t.seconds;
    ++timed[t.variant].second;
  }
  for (const auto& [v, s] : timed) p.mean_seconds[v] = s.first / s.second;
  p.elapsed = db::worked_seconds(runs, p.tasks, p.coordinator, now);
  p.eta = db::remaining_seconds(p.tasks, p.workers, now);
  return p;
}

StoreView::StoreView(const std::string& db_path, double min_refresh)
    : store_(db_path, true), min_refresh_(min_refresh) {
  // Read-only twice over: the file is opened SQLITE_OPEN_READONLY and the connection refuses writes.
  store_.exec("PRAGMA query_only = ON");
}

template <class Compute>
std::string StoreView::cached(const std::string& key, const std::string& version, bool timed,
                              Compute compute) {
  const double now = db::now_seconds();
  if (const auto it = cache_.find(key); it != cache_.end()) {
    const double age = now - it->second.at;
    const bool fresh = timed ? age < min_refresh_ || (it->second.version == version && age < kStaleSeconds)
                             : it->second.version == version;
    if (fresh) return *it->second.body;
  }
  std::string body = compute();
  if (cache_.size() >= kCacheEntries && !cache_.count(key)) {
    auto oldest = cache_.begin();
    for (auto it = cache_.begin(); it != cache_.end(); ++it)
      if (it->second.at < oldest->second.at) oldest = it;
    cache_.erase(oldest);
  }
  cache_[key] = {version, now, std::make_shared<const std::string>(body)};
  return body;
}

std::string StoreView::data_version() const { return store_.data_version(); }

std::string StoreView::results_version(std::int64_t id) const { return store_.results_version(id); }

template <class Compute>
std::optional<std::string> StoreView::answer(const std::string& what, const std::string& study,
                                             const std::string& argument, bool timed, Compute compute) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto id = store_.find_study(study);
  if (!id) return std::nullopt;
  return cached(what + "\n" + study + "\n" + argument, timed ? data_version() : results_version(*id), timed,
                [&] { return compute(*id); });
}

std::shared_ptr<const std::vector<db::StudyData>> StoreView::study_data(const std::string& study, std::int64_t id) {
  const std::string version = results_version(id);
  auto& slot = data_[study];
  if (!slot.second || slot.first != version) {
    auto one = std::make_shared<std::vector<db::StudyData>>();
    one->push_back(db::load_study_data(store_, study, epochs_[study]));
    slot = {version, std::move(one)};
  }
  return slot.second;
}

std::string StoreView::studies_json() {
  std::lock_guard<std::mutex> lock(mutex_);
  return cached("studies", data_version(), true, [&] {
    const double now = db::now_seconds();
    std::ostringstream o;
    o << "{\"now\":" << json_number(now) << ",\"studies\":[";
    bool first = true;
    for (const auto& name : store_.study_names()) {
      const auto id = store_.find_study(name);
      if (!id) continue;
      const Progress p = study_progress(store_, *id, now);
      o << (first ? "" : ",") << "{\"name\":" << json_text(name) << ",\"tasks\":" << p.tasks.size()
        << ",\"counts\":" << counts_json(p.counts)
        << ",\"coordinator\":" << (p.coordinator ? "true" : "false")
        << ",\"elapsed\":" << json_number(p.elapsed) << ",\"eta\":" << json_number(p.eta < 0 ? NAN : p.eta)
        << "}";
      first = false;
    }
    o << "]}";
    return o.str();
  });
}

std::optional<std::string> StoreView::tasks_json(const std::string& study) {
  return answer("tasks", study, "", true, [&](std::int64_t id) { return tasks_of(store_, study, id); });
}

std::optional<std::string> StoreView::epochs_json(const std::string& study, const EpochsQuery& q) {
  const std::string argument = std::to_string(q.task) + "\n" + q.variant + "\n" + std::to_string(q.offset) + "\n" +
                               std::to_string(q.limit);
  return answer("epochs", study, argument, true,
                [&](std::int64_t id) { return epochs_of_study(store_, study, id, q); });
}

std::optional<std::string> StoreView::trials_json(const std::string& study) {
  return answer("trials", study, "", false,
                [&](std::int64_t id) { return trials_of(study_data(study, id)->front()); });
}

std::optional<std::string> StoreView::decisions_json(const std::string& study) {
  return answer("decisions", study, "", true, [&](std::int64_t id) {
    return decisions_of(
        study, store_.schema_version() >= 2 ? store_.early_stop_log(id) : std::vector<db::EarlyStopEvent>{});
  });
}

std::optional<std::string> StoreView::metrics_json(const std::string& study) {
  return answer("metrics", study, "", false,
                [&](std::int64_t id) { return metrics_of(study_data(study, id)->front()); });
}

std::optional<std::string> StoreView::results_html(const std::string& study) {
  return answer("results", study, "", false,
                [&](std::int64_t id) { return results_of(*study_data(study, id)); });
}

}  // namespace ablate::serve
