// Early stopping against the full grid, over seeds of trial order: does ASHA (or Hyperband) find the full
// grid's best configuration, and with what fraction of its epochs? Each seed runs the real coordinator
// (rungs, promotions, the seeded trial order, the store) with in-process workers, but the executor does not
// train: it replays the full grid's stored epochs (val_score, val_loss, val_soft_dice, train_loss per epoch) up to the
// epoch the task pauses at. Pausing changes nothing a continuing trial computes (docs/PERFORMANCE.md
// "Early stopping": a promoted trial's epochs equal the full run's to 17 digits), so a replayed search
// takes the decisions the trained one would for the same arrival order; a task sleeps --ms-per-epoch per
// epoch it "trains", so that workers finish in an order like training's. Figures: docs/PERFORMANCE.md.
//
//   build/bin/bench_early_stop --full bench-out/full27.sqlite --study bench/studies/asha_search27.toml
//       [--full-study full-search27] [--data bench-out/data] [--seeds 8] [--first-seed 1] [--workers 2]
//       [--ms-per-epoch 5] [--method asha] [--rungs 1,3,9] [--reduction 3] [--brackets 0] [--out bench-out/es]
//       [--ties soft-dice|loss|order]
//
// --ties chooses what breaks the ties at a rung by what the replayed epochs keep: soft-dice (the default:
// every column, so the coordinator's own rule, the validation soft Dice loss); loss (the epochs without
// their val_soft_dice, stored NULL: the validation loss where the trials share the loss, else the order,
// the rule for stores from before schema 7); order (without val_soft_dice and val_loss: the seeded trial
// order alone). A full grid stored before schema 7 has no soft Dice: soft-dice then replays as loss.
//
// A seed is study.seed of the replayed study: it orders the trials (sweeps::trial_order) and nothing else
// here (the curves are the full run's, of its own seed). "Found" is the criterion: the best
// finished trial's mean validation objective is within the full run's best trial's fold sd of it.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "db/store.hpp"
#include "runner/run.hpp"
#include "sweeps/early_stop.hpp"

namespace fs = std::filesystem;
using namespace ablate;

namespace {

using Key = std::tuple<std::string, int, int>;  // variant, fold, repeat

struct Curves {
  std::map<Key, std::vector<EpochRecord>> epochs;
  int epochs_per_task = 0;
};

Curves load_curves(const std::string& db, const std::string& study) {
  db::Store s(db, true);
  const auto id = s.find_study(study);
  if (!id) {
    std::fprintf(stderr, "%s: no study '%s'\n", db.c_str(), study.c_str());
    std::exit(2);
  }
  std::map<std::int64_t, Key> key_of;
  for (const auto& t : s.tasks(*id)) {
    if (t.status != "done") {
      std::fprintf(stderr, "%s: task %s fold %d is %s: the full grid must be complete\n", db.c_str(), t.variant.c_str(), t.fold,
                   t.status.c_str());
      std::exit(2);
    }
    key_of[t.id] = {t.variant, t.fold, t.repeat};
  }
  Curves c;
  for (const auto& e : s.task_epochs(*id)) {
    EpochRecord r;
    r.epoch = e.epoch;
    r.train_loss = e.train_loss;
    r.val_loss = e.val_loss;
    r.val_dice = e.val_dice;
    r.val_score = e.val_score;
    r.val_soft_dice = e.val_soft_dice;
    r.lr = e.lr;
    c.epochs[key_of.at(e.task_id)].push_back(r);
  }
  for (const auto& [k, v] : c.epochs) c.epochs_per_task = std::max(c.epochs_per_task, static_cast<int>(v.size()));
  return c;
}

// Per variant: the folds' best validation objective (maximised: the bench's studies select on Dice).
std::map<std::string, std::vector<double>> fold_bests(const std::map<Key, std::vector<EpochRecord>>& epochs) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& [k, v] : epochs) {
    double best = -INFINITY;
    for (const auto& e : v) best = std::max(best, e.val_score);
    out[std::get<0>(k)].push_back(best);
  }
  return out;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / static_cast<double>(v.size());
}

double sample_sd(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

// Replays the full grid's epochs: from the epoch after the "checkpoint" (what earlier executions of the
// same task returned) to the pause or the end.
class ReplayExecutor : public runner::Executor {
 public:
  ReplayExecutor(const Curves& c, int ms_per_epoch, const std::string& ties) : c_(c), ms_(ms_per_epoch), ties_(ties) {}
  TaskResult execute(const Task& task, const runner::ExecContext&) override {
    const Key key{task.variant, task.fold, task.repeat};
    const auto& all = c_.epochs.at(key);
    const int total = static_cast<int>(all.size());
    const int last = task.pause_after_epoch > 0 && task.pause_after_epoch < total ? task.pause_after_epoch : total;
    int first = 0;
    {
      std::lock_guard<std::mutex> lock(m_);
      first = done_[key];
      trained_ += std::max(0, last - first);
      done_[key] = std::max(first, last);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(ms_ * std::max(0, last - first)));
    TaskResult r;
    r.epochs.assign(all.begin(), all.begin() + last);
    for (auto& e : r.epochs) {
      if (ties_ != "soft-dice") e.val_soft_dice = NAN;
      if (ties_ == "order") e.val_loss = NAN;
    }
    r.best_epoch = 1;
    for (const auto& e : r.epochs) {
      if (e.val_score > r.epochs[static_cast<std::size_t>(r.best_epoch - 1)].val_score) r.best_epoch = e.epoch;
    }
    if (last < total) {
      r.paused_after_epoch = last;
    } else {
      r.fold_metrics.push_back({"dice", 1, r.epochs[static_cast<std::size_t>(r.best_epoch - 1)].val_score});
    }
    return r;
  }
  double estimate_cost(const Variant&) override { return 1; }
  int trained() const { return trained_; }

 private:
  const Curves& c_;
  int ms_;
  std::string ties_;
  std::mutex m_;
  std::map<Key, int> done_;
  int trained_ = 0;
};

std::string absolute(const std::string& p) { return fs::absolute(p).lexically_normal().string(); }

}  // namespace

int main(int argc, char** argv) {
  std::string full = "bench-out/full27.sqlite", full_study = "full-search27", study = "bench/studies/asha_search27.toml";
  std::string data = "bench-out/data", out = "bench-out/es", method = "asha", rungs = "1, 3, 9";
  std::string ties = "soft-dice";
  int seeds = 8, first_seed = 1, workers = 2, ms = 5, reduction = 3, brackets = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--full") full = v;
    else if (a == "--full-study") full_study = v;
    else if (a == "--study") study = v;
    else if (a == "--data") data = v;
    else if (a == "--out") out = v;
    else if (a == "--method") method = v;
    else if (a == "--rungs") rungs = v;
    else if (a == "--seeds") seeds = std::atoi(v.c_str());
    else if (a == "--first-seed") first_seed = std::atoi(v.c_str());
    else if (a == "--workers") workers = std::atoi(v.c_str());
    else if (a == "--ms-per-epoch") ms = std::atoi(v.c_str());
    else if (a == "--reduction") reduction = std::atoi(v.c_str());
    else if (a == "--brackets") brackets = std::atoi(v.c_str());
    else if (a == "--ties") ties = v;
    else {
      std::fprintf(stderr, "bench_early_stop: unknown option %s (see the header of bench/bench_early_stop.cpp)\n", a.c_str());
      return 2;
    }
  }
  if (ties != "soft-dice" && ties != "loss" && ties != "order") {
    std::fprintf(stderr, "bench_early_stop: --ties %s: allowed soft-dice | loss | order\n", ties.c_str());
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  const Curves curves = load_curves(full, full_study);
  const auto bests = fold_bests(curves.epochs);
  std::string best_name;
  double best = -INFINITY;
  for (const auto& [name, folds] : bests) {
    if (mean(folds) > best) best = mean(folds), best_name = name;
  }
  const double sd = sample_sd(bests.at(best_name));
  const int full_epochs = static_cast<int>(curves.epochs.size()) * curves.epochs_per_task;
  std::printf("full grid (%s): %zu trials, %d epochs; best %s %.4f (fold sd %.3f): found = a finished trial >= %.4f\n",
              full.c_str(), bests.size(), full_epochs, best_name.c_str(), best, sd, best - sd);
  std::printf("%s, rungs [%s], reduction %d%s, %d workers, %d ms per epoch, ties by %s\n", method.c_str(), rungs.c_str(),
              reduction, method == "hyperband" ? (", brackets " + std::to_string(brackets)).c_str() : "", workers, ms,
              ties.c_str());
  std::printf("| seed | epochs | of the grid | finished | best finished trial | its objective | found |\n");
  std::printf("|---:|---:|---:|---:|---|---:|---|\n");
  fs::create_directories(out);
  int found = 0;
  double fraction_sum = 0;
  for (int seed = first_seed; seed < first_seed + seeds; ++seed) {
    const std::string name = "es-" + method + "-s" + std::to_string(seed);
    const fs::path file = fs::path(out) / (name + ".toml");
    std::ofstream(file) << "include = \"" << absolute(study) << "\"\n\n[study]\nname = \"" << name << "\"\nseed = " << seed
                        << "\n\n[data]\npath = \"" << absolute(data) << "\"\n\n[sweep.early_stop]\nmethod = \"" << method
                        << "\"\nrungs = [" << rungs << "]\nreduction = " << reduction << "\n"
                        << (method == "hyperband" ? "brackets = " + std::to_string(brackets) + "\n" : "");
    runner::RunOptions o;
    o.study_file = file.string();
    o.db_path = (fs::path(out) / (name + ".sqlite")).string();
    o.workdir = (fs::path(out) / (name + ".work")).string();
    o.inproc_workers = workers;
    o.reuse = false;
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(o.db_path + suffix);
    fs::remove_all(o.workdir);
    ReplayExecutor exec(curves, ms, ties);
    if (runner::run_study(o, exec) != runner::kRunOk) {
      std::fprintf(stderr, "%s: the run failed\n", name.c_str());
      return 1;
    }
    // The finished trials (every task done) and their mean best objective, from the replayed store.
    db::Store s(o.db_path, true);
    const auto id = *s.find_study(name);
    std::map<std::string, int> open;
    for (const auto& t : s.tasks(id)) open[t.variant] += t.status != "done";
    std::string top;
    double top_value = -INFINITY;
    int finished = 0;
    for (const auto& [variant, n] : open) {
      if (n) continue;
      ++finished;
      const double v = mean(bests.at(variant));
      if (v > top_value) top_value = v, top = variant;
    }
    const int spent = static_cast<int>(s.query_int("SELECT count(*) FROM epochs"));
    if (spent != exec.trained()) std::fprintf(stderr, "seed %d: %d epochs stored, %d replayed\n", seed, spent, exec.trained());
    const bool ok = top_value >= best - sd;
    found += ok;
    fraction_sum += static_cast<double>(spent) / full_epochs;
    std::printf("| %d | %d | %.1f%% | %d | %s | %.4f | %s |\n", seed, spent, 100.0 * spent / full_epochs, finished, top.c_str(),
                top_value, ok ? (top == best_name ? "yes (the best)" : "yes (within sd)") : "**no**");
    std::fflush(stdout);
  }
  std::printf("found in %d of %d seeds; mean epoch fraction %.1f%%\n", found, seeds, 100.0 * fraction_sum / seeds);
  return 0;
}
