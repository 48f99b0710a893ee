// ablate status --db FILE [--study NAME]: tasks per variant, errors of failed tasks, time spent and left.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>

#include "db/store.hpp"
#include "runner/cli/cli.hpp"

namespace ablate::cli {

namespace {

std::string hms(double s) {
  if (!(s >= 0) || !std::isfinite(s)) return "?";
  long t = std::lround(s);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  return buf;
}

void print_study(db::Store& store, const std::string& name) {
  auto id = store.find_study(name);
  auto tasks = store.tasks(*id);
  auto variants = store.variants(*id);
  struct Counts {
    std::map<std::string, int> n;
    double seconds = 0;
    int timed = 0;
  };
  std::map<std::string, Counts> per;
  double first = 0, last = 0, done_seconds = 0;
  int done = 0, left = 0;
  for (const auto& t : tasks) {
    auto& c = per[t.variant];
    c.n[t.status]++;
    if (t.status == "done") {
      c.seconds += t.seconds;
      c.timed++;
      done_seconds += t.seconds;
      ++done;
    } else {
      ++left;
    }
    if (t.started > 0 && (first == 0 || t.started < first)) first = t.started;
    last = std::max({last, t.ended, t.started});
  }
  int workers = static_cast<int>(store.query_int("SELECT max(ranks - 1, 1) FROM runs WHERE study_id = " + std::to_string(*id) +
                                                 " ORDER BY id DESC LIMIT 1"));
  if (workers < 1) workers = 1;
  // A live coordinator only: the lock row of a killed job (dead pid, or no heartbeat) does not count.
  const bool locked = store.lock_held(*id);
  std::cout << "study " << name << ": " << tasks.size() << " task(s), " << done << " done"
            << (locked ? " (a coordinator holds the study)" : "") << "\n";
  std::printf("  %-28s %6s %8s %7s %12s %8s %10s\n", "variant", "done", "running", "failed", "interrupted", "pending", "mean time");
  for (const auto& v : variants) {
    auto& c = per[v.name];
    std::printf("  %-28s %6d %8d %7d %12d %8d %10s\n", v.name.c_str(), c.n["done"], c.n["running"], c.n["failed"],
                c.n["interrupted"], c.n["pending"], c.timed ? hms(c.seconds / c.timed).c_str() : "-");
  }
  double elapsed = first > 0 ? (locked ? db::now_seconds() : last) - first : 0;
  // Remaining: each open task at its variant's mean (or the study's mean), spread over the last run's workers.
  double remaining = 0;
  bool known = true;
  double study_mean = done ? done_seconds / done : NAN;
  for (const auto& t : tasks) {
    if (t.status == "done") continue;
    auto& c = per[t.variant];
    double m = c.timed ? c.seconds / c.timed : study_mean;
    if (std::isnan(m)) known = false;
    else remaining += m;
  }
  std::cout << "  elapsed " << hms(elapsed) << ", estimated remaining "
            << (left == 0 ? "0:00:00" : known ? hms(remaining / workers) + " (" + std::to_string(workers) + " worker(s))" : "? (no task finished yet)")
            << "\n";
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
