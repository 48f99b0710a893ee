// ablate status --db FILE [--study NAME]: tasks per variant, errors of failed tasks, time spent and left.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include "db/store.hpp"
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

// Wall time the study has been worked on: the sum of its runs (a run killed without ending counts until
// the last task activity before the next run), not the calendar time between the first and last run.
double worked_seconds(const std::vector<db::RunRow>& runs, const std::vector<db::TaskRow>& tasks, bool locked) {
  double total = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const double start = runs[i].started;
    const double next = i + 1 < runs.size() ? runs[i + 1].started : INFINITY;
    double end = runs[i].ended;
    if (end <= 0) {
      if (i + 1 == runs.size() && locked) {
        end = db::now_seconds();
      } else {
        end = start;  // killed: its last recorded activity
        for (const auto& t : tasks) {
          for (double x : {t.started, t.ended}) {
            if (x >= start && x < next) end = std::max(end, x);
          }
        }
      }
    }
    total += std::max(0.0, end - start);
  }
  return total;
}

// A searched study: trials proposed and finished, and the best so far by the validation objective.
void print_search(db::Store& store, std::int64_t id, const std::vector<db::StoredVariant>& variants) {
  if (store.schema_version() < 3) return;  // a store written before searches existed
  const auto trials = store.trials(id);
  if (trials.empty()) return;
  const std::string sid = std::to_string(id);
  const std::string method = store.query_text("SELECT value FROM provenance WHERE study_id = " + sid + " AND key = 'search_method'");
  const std::string budget = store.query_text("SELECT value FROM provenance WHERE study_id = " + sid + " AND key = 'search_trials'");
  std::string objective = store.query_text("SELECT value FROM provenance WHERE study_id = " + sid + " AND key = 'search_objective'");
  if (objective.empty()) objective = "dice";
  const bool minimize = sweeps::objective_direction(objective) == sweeps::Direction::kMinimize;
  const auto values = store.validation_objective(id, objective);
  std::map<std::string, std::string> label;
  for (const auto& v : variants) label[v.name] = v.label;
  int finished = 0;
  const db::TrialRow* best = nullptr;
  double best_value = 0;
  for (const auto& t : trials) {
    auto it = values.find(t.variant);
    if (it == values.end() || it->second.done < it->second.tasks || !std::isfinite(it->second.value)) continue;
    ++finished;
    const double y = it->second.value;
    if (!best || (minimize ? y < best_value : y > best_value)) best = &t, best_value = y;
  }
  std::cout << "  search: " << (method.empty() ? trials.front().method : method) << ", " << trials.size() << " trial(s) proposed"
            << (budget.empty() ? "" : " of " + budget + (trials.front().declared.empty() ? "" : " per variant")) << ", "
            << finished << " finished\n";
  if (best) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4f", best_value);
    std::cout << "  best so far: " << best->variant << "  validation " << objective << " " << buf << " ("
              << (minimize ? "lower" : "higher") << " is better)  " << label[best->variant] << "\n";
  }
}

// Rung populations from the early-stopping log (db/SCHEMA.md early_stop_log): per rung, the trials judged
// there, promoted (ASHA) or continued (median) from it, stopped there by the median rule, waiting there
// for a promotion (ASHA; stopped when the search ends), and failed on the way to it.
void print_rungs(const std::vector<db::EarlyStopEvent>& log) {
  struct Rung {
    int epoch = 0, reached = 0, promoted = 0, stopped = 0, waiting = 0, failed = 0, finished = 0;
  };
  std::map<int, Rung> rungs;
  for (const auto& e : log) {
    Rung& r = rungs[e.rung];
    r.epoch = e.epoch;
    if (e.kind == "continue" || e.kind == "stop" || e.kind == "pause" || e.kind == "finish") ++r.reached;
    if (e.kind == "continue" || e.kind == "promote") ++r.promoted;
    if (e.kind == "promote") --r.waiting;
    if (e.kind == "pause") ++r.waiting;
    if (e.kind == "stop") ++r.stopped;
    if (e.kind == "fail") ++r.failed;
    if (e.kind == "finish") ++r.finished;
  }
  std::cout << "  early stopping (rung: trials reached, promoted, waiting, stopped, failed, finished):\n";
  for (const auto& [k, r] : rungs) {
    std::printf("    rung %d (epoch %d): %d reached, %d promoted, %d waiting, %d stopped, %d failed, %d finished\n", k, r.epoch,
                r.reached, r.promoted, r.waiting, r.stopped, r.failed, r.finished);
  }
}

void print_study(db::Store& store, const std::string& name) {
  auto id = store.find_study(name);
  auto tasks = store.tasks(*id);
  auto variants = store.variants(*id);
  // A live coordinator only: the lock row of a killed job (dead pid, or no heartbeat) does not count, and
  // the tasks it left `running` are interrupted (the next run marks them so).
  const bool locked = store.lock_held(*id);
  int stale_running = 0;
  for (auto& t : tasks) {
    if (t.status == "running" && !locked) {
      t.status = "interrupted";
      ++stale_running;
    }
  }
  struct Counts {
    std::map<std::string, int> n;
    double seconds = 0;
    int timed = 0;
  };
  std::map<std::string, Counts> per;
  double done_seconds = 0;
  int done = 0, left = 0;
  for (const auto& t : tasks) {
    auto& c = per[t.variant];
    c.n[t.status]++;
    if (t.status == "done") {
      c.seconds += t.seconds;
      c.timed++;
      done_seconds += t.seconds;
      ++done;
    } else if (t.status != "stopped") {  // stopped at a rung: nothing left to run unless promoted
      ++left;
    }
  }
  const auto runs = store.runs(*id);
  const int workers = runs.empty() ? 1 : std::max(1, runs.back().ranks - 1);
  std::cout << "study " << name << ": " << tasks.size() << " task(s), " << done << " done"
            << (locked ? " (a coordinator holds the study)" : "") << "\n";
  // Shared trainings (docs/RUNNER.md): the done tasks that needed no training of their own. A shared
  // training counts once (tasks.trained_by names it, whether or not its trainer is among the done tasks).
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
  if (stale_running > 0) {
    std::cout << "  " << stale_running << " task(s) left running by a coordinator that is gone: counted as interrupted "
              << "(ablate run resumes them)\n";
  }
  // Early stopping: a `stopped` column (tasks waiting or stopped at a rung, never results) and the rungs.
  const auto log = store.early_stop_log(*id);
  const bool rungs = !log.empty() || std::any_of(tasks.begin(), tasks.end(), [](const db::TaskRow& t) { return t.status == "stopped"; });
  std::printf("  %-28s %6s %8s %7s %12s %8s%s %10s\n", "variant", "done", "running", "failed", "interrupted", "pending",
              rungs ? "  stopped (rung)" : "", "mean time");
  for (const auto& v : variants) {
    auto& c = per[v.name];
    std::string stopped;
    if (rungs) {
      int rung = 0;
      for (const auto& t : tasks) {
        if (t.variant == v.name && t.status == "stopped") rung = std::max(rung, t.rung);
      }
      const std::string text = std::to_string(c.n["stopped"]) + (rung ? " (" + std::to_string(rung) + ")" : std::string());
      char buf[32];
      std::snprintf(buf, sizeof buf, "  %15s", text.c_str());
      stopped = buf;
    }
    std::printf("  %-28s %6d %8d %7d %12d %8d%s %10s\n", v.name.c_str(), c.n["done"], c.n["running"], c.n["failed"],
                c.n["interrupted"], c.n["pending"], stopped.c_str(), c.timed ? hms(c.seconds / c.timed).c_str() : "-");
  }
  if (!log.empty()) print_rungs(log);
  const double elapsed = worked_seconds(runs, tasks, locked);
  // Remaining: each open task at its variant's mean (or the study's mean), less what a running task has
  // already spent, spread over the last run's workers.
  double remaining = 0;
  bool known = true;
  const double now = db::now_seconds();
  double study_mean = done ? done_seconds / done : NAN;
  for (const auto& t : tasks) {
    if (t.status == "done" || t.status == "stopped") continue;
    auto& c = per[t.variant];
    double m = c.timed ? c.seconds / c.timed : study_mean;
    if (std::isnan(m)) known = false;
    else remaining += t.status == "running" && t.started > 0 ? std::max(0.0, m - (now - t.started)) : m;
  }
  std::cout << "  elapsed " << hms(elapsed) << ", estimated remaining "
            << (left == 0 ? "0:00:00" : known ? hms(remaining / workers) + " (" + std::to_string(workers) + " worker(s))" : "? (no task finished yet)")
            << "\n";
  print_search(store, *id, variants);
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
