// ablate status --db FILE [--study NAME]: tasks per variant, errors of failed tasks, time spent and left.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "ablations/study.hpp"
#include "db/rows.hpp"
#include "db/store.hpp"
#include "reports/search.hpp"
#include "runner/cli/cli.hpp"
#include "sweeps/early_stop.hpp"

namespace ablate::cli {

namespace {

std::string hms(double s) {
  if (!(s >= 0) || !std::isfinite(s)) return "?";
  long t = std::lround(s);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  return buf;
}

// train.select_metric of a variant, the metric its rung values are of ("validation" when unreadable).
std::string select_metric(const std::string& canonical) {
  try {
    const auto values = canonical_values(canonical);
    const auto it = values.find("train.select_metric");
    if (it == values.end()) return "validation";
    const std::string& m = it->second;
    return m.size() >= 2 && m.front() == '"' && m.back() == '"' ? m.substr(1, m.size() - 2) : m;
  } catch (const std::exception&) {
    return "validation";
  }
}

// A searched study: its trials counted as the report counts them (reports::trial_counts over the same
// StudyData), and the best so far by the validation objective.
void print_search(const db::StudyData& data) {
  if (data.trials.empty()) return;
  const auto& prov = data.provenance;
  auto value_of = [&](const char* key) {
    const auto it = prov.find(key);
    return it == prov.end() ? std::string() : it->second;
  };
  const std::string method = value_of("search_method"), budget = value_of("search_trials");
  std::string objective = value_of("search_objective");
  if (objective.empty()) objective = "dice";
  const bool minimize = sweeps::objective_direction(objective) == sweeps::Direction::kMinimize;
  std::cout << "  search: " << (method.empty() ? data.trials.front().method : method) << ", "
            << reports::trial_counts_text(reports::trial_counts(data),
                                          budget.empty() || data.trials.front().declared.empty() ? budget : budget + " per variant")
            << "\n";
  // The best: the first of the ranking, when it is finished (a trial at a rung ranks after every finished one).
  const auto ranking = reports::search_ranking(data);
  for (const auto& t : data.trials) {
    if (t.variant != ranking.front() || t.done < t.tasks || !std::isfinite(t.objective)) continue;
    std::string label;
    for (const auto& v : data.variants) {
      if (v.name == t.variant) label = v.label;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4f", t.objective);
    std::cout << "  best so far: " << t.variant << "  validation " << objective << " " << buf << " ("
              << (minimize ? "lower" : "higher") << " is better)  " << label << "\n";
  }
}

// Rung populations: per rung, the trials judged there, promoted (ASHA) or continued (median) from it,
// failed on the way to it and finished there, from the early-stopping log (db/SCHEMA.md early_stop_log);
// and the trials standing at it, stopped or waiting, as the report names them (reports::rung_state over
// Store::stopped_trials), so that the two never count differently.
void print_rungs(const std::vector<db::EarlyStopEvent>& log, const db::StudyData& data) {
  struct Rung {
    int epoch = 0, reached = 0, promoted = 0, stopped = 0, waiting = 0, failed = 0, finished = 0;
  };
  std::map<int, Rung> rungs;
  for (const auto& e : log) {
    Rung& r = rungs[e.rung];
    r.epoch = e.epoch;
    if (e.kind == "continue" || e.kind == "stop" || e.kind == "pause" || e.kind == "finish") ++r.reached;
    if (e.kind == "continue" || e.kind == "promote") ++r.promoted;
    if (e.kind == "fail") ++r.failed;
    if (e.kind == "finish") ++r.finished;
  }
  for (const auto& [variant, s] : data.stopped_trials) {
    if (s.rung < 0) continue;  // no log line at its epoch (a store whose log was lost): in the table only
    Rung& r = rungs[s.rung];
    r.epoch = s.epoch;
    ++(reports::rung_state(s, data.live) == reports::RungState::kStopped ? r.stopped : r.waiting);
  }
  std::cout << "  early stopping (rung: trials reached, promoted, waiting, stopped, failed, finished):\n";
  for (const auto& [k, r] : rungs) {
    std::printf("    rung %d (epoch %d): %d reached, %d promoted, %d waiting, %d stopped, %d failed, %d finished\n", k, r.epoch,
                r.reached, r.promoted, r.waiting, r.stopped, r.failed, r.finished);
  }
}

// Tasks per variant and status, and the time the done ones took.
struct Counts {
  std::map<std::string, int> n;
  double seconds = 0;
  int timed = 0;
};
struct Tally {
  std::map<std::string, Counts> per;  // by variant
  int done = 0, left = 0;
};

Tally tally_tasks(const std::vector<db::TaskRow>& tasks) {
  Tally y;
  for (const auto& t : tasks) {
    auto& c = y.per[t.variant];
    c.n[t.status]++;
    if (t.status == "done") {
      c.seconds += t.seconds;
      c.timed++;
      ++y.done;
    } else if (t.status != "stopped") {  // stopped at a rung: nothing left to run unless promoted
      ++y.left;
    }
  }
  return y;
}

// Shared trainings (docs/RUNNER.md): the done tasks that needed no training of their own. A shared
// training counts once (tasks.trained_by names it, whether or not its trainer is among the done tasks).
void print_shared_trainings(const std::vector<db::TaskRow>& tasks, int done) {
  std::set<std::int64_t> shared;
  int own = 0;
  for (const auto& t : tasks) {
    if (t.status != "done") continue;
    if (t.trained_by) shared.insert(t.trained_by);
    else ++own;
  }
  if (!shared.empty()) {
    const int trainings = own + static_cast<int>(shared.size());
    std::cout << "  trainings: " << trainings << " for the " << done << " done task(s); " << done - trainings
              << " evaluated from a shared training\n";
  }
}

// Reused trainings (docs/RUNNER.md "Reusing finished trainings"): done tasks whose results were copied
// from a finished task, counted per source study ("<store>: <study>").
void print_reused(const std::vector<db::TaskRow>& tasks, int done) {
  std::map<std::string, int> reused_from;
  int reused = 0;
  for (const auto& t : tasks) {
    if (t.status != "done" || t.reused_from.empty()) continue;
    ++reused;
    reused_from[t.reused_from.substr(0, t.reused_from.rfind(" task "))]++;
  }
  if (reused > 0) {
    std::cout << "  reused: " << reused << " of the " << done << " done task(s) copied from finished trainings\n";
    for (const auto& [where, n] : reused_from) std::cout << "    " << n << " from " << where << "\n";
  }
}

// Early stopping: a `stopped` column (tasks standing at a rung, never results), the trial's state there
// with its value (the report's words: reports::rung_state_text) and the rungs.
void print_variant_table(const std::vector<db::StoredVariant>& variants, Tally& y, const db::StudyData& data,
                         const std::vector<db::EarlyStopEvent>& log) {
  const bool rungs = !log.empty() || !data.stopped_trials.empty();
  std::printf("  %-28s %6s %8s %7s %12s %8s%s %10s%s\n", "variant", "done", "running", "failed", "interrupted", "pending",
              rungs ? " stopped" : "", "mean time", rungs ? "  at a rung" : "");
  for (const auto& v : variants) {
    auto& c = y.per[v.name];
    std::string stopped, at_rung;
    if (rungs) {
      stopped = " " + std::string(std::max(0, 7 - static_cast<int>(std::to_string(c.n["stopped"]).size())), ' ') +
                std::to_string(c.n["stopped"]);
      if (const auto it = data.stopped_trials.find(v.name); it != data.stopped_trials.end()) {
        char value[48] = "";
        if (std::isfinite(it->second.value)) {
          std::snprintf(value, sizeof value, " (%s %.4f)", select_metric(v.canonical).c_str(), it->second.value);
        }
        at_rung = "  " + reports::rung_state_text(it->second, data.live) + value;
      }
    }
    std::printf("  %-28s %6d %8d %7d %12d %8d%s %10s%s\n", v.name.c_str(), c.n["done"], c.n["running"], c.n["failed"],
                c.n["interrupted"], c.n["pending"], stopped.c_str(), c.timed ? hms(c.seconds / c.timed).c_str() : "-",
                at_rung.c_str());
  }
}

// Elapsed (db::worked_seconds) and remaining (db::remaining_seconds), as `ablate serve` shows them.
void print_times(const std::vector<db::RunRow>& runs, const std::vector<db::TaskRow>& tasks, int left, bool locked) {
  const int workers = runs.empty() ? 1 : std::max(1, runs.back().ranks - 1);
  const double now = db::now_seconds();
  const double elapsed = db::worked_seconds(runs, tasks, locked, now);
  const double remaining = db::remaining_seconds(tasks, workers, now);
  std::cout << "  elapsed " << hms(elapsed) << ", estimated remaining "
            << (left == 0 ? "0:00:00" : remaining >= 0 ? hms(remaining) + " (" + std::to_string(workers) + " worker(s))" : "? (no task finished yet)")
            << "\n";
}

void print_errors(const std::vector<db::TaskRow>& tasks) {
  bool header = false;
  for (const auto& t : tasks) {
    if (t.status != "failed" && t.error.empty()) continue;
    if (t.status == "done") continue;
    if (!header) std::cout << "  errors:\n";
    header = true;
    std::cout << "    " << t.variant << " fold " << t.fold << " repeat " << t.repeat << " (" << t.status << ", attempt "
              << t.attempts << "): " << t.error << "\n";
  }
}

void print_study(db::Store& store, const std::string& name) {
  auto id = store.find_study(name);
  auto tasks = store.tasks(*id);
  auto variants = store.variants(*id);
  // What the report reads (the trials, the trials at a rung, whether a coordinator runs the study), read
  // the same way: status and report never count differently.
  const db::StudyData data = db::load_study_data(store.path(), name);
  // A live coordinator only: the lock row of a killed job (dead pid, or no heartbeat) does not count, and
  // the tasks it left `running` are interrupted (the next run marks them so).
  const bool locked = data.live;
  int stale_running = 0;
  for (auto& t : tasks) {
    if (t.status == "running" && !locked) {
      t.status = "interrupted";
      ++stale_running;
    }
  }
  Tally y = tally_tasks(tasks);
  const auto runs = store.runs(*id);
  std::cout << "study " << name << ": " << tasks.size() << " task(s), " << y.done << " done"
            << (locked ? " (a coordinator holds the study)" : "") << "\n";
  print_shared_trainings(tasks, y.done);
  print_reused(tasks, y.done);
  if (stale_running > 0) {
    std::cout << "  " << stale_running << " task(s) left running by a coordinator that is gone: counted as interrupted "
              << "(ablate run resumes them)\n";
  }
  const auto log = store.early_stop_log(*id);
  print_variant_table(variants, y, data, log);
  if (!log.empty()) print_rungs(log, data);
  print_times(runs, tasks, y.left, locked);
  print_search(data);
  print_errors(tasks);
}

}  // namespace

int verb_status(const std::vector<std::string>& args) {
  po::options_description options("ablate status");
  options.add_options()("db", po::value<std::string>(), "the store (SQLite)")(
      "study", po::value<std::string>()->default_value(""), "one study of the store; default: all");
  options.add(common_options());
  po::positional_options_description positional;
  po::variables_map vm;
  if (!parse_args("status", "ablate status --db FILE [--study NAME]", options, positional, args, vm)) return kExitOk;
  if (!vm.count("db")) throw UsageError("missing --db FILE");
  const std::string path = vm["db"].as<std::string>();
  // Opening would create an empty store: a mistyped path is an input error, as in `report`.
  if (!std::filesystem::exists(path)) throw UsageError("store file " + path + " does not exist");
  if (std::filesystem::is_directory(path)) throw UsageError("store file " + path + " is a directory");
  db::Store store(path, true);
  std::vector<std::string> names = store.study_names();
  const std::string only = vm["study"].as<std::string>();
  if (!only.empty()) {
    if (std::find(names.begin(), names.end(), only) == names.end()) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      throw UsageError("--study: no study '" + only + "' in " + path + " (studies: " + (list.empty() ? "none" : list) + ")");
    }
    names = {only};
  }
  if (names.empty()) std::cout << path << ": no studies yet\n";
  for (const auto& n : names) print_study(store, n);
  return kExitOk;
}

}  // namespace ablate::cli
