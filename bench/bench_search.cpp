// Search benchmark: grid vs random vs TPE with the same number of trainings, on the synthetic dataset,
// tuning the learning rate and the alpha of the hybrid loss. Each method runs as a real study (coordinator,
// in-process workers, trainer, store); the figure is the best validation Dice (the search objective, mean
// over the folds at the selected epoch) each one reached, and the trainings it took to first reach it.
//
//   build/bin/bench_search [--trials 12] [--epochs 12] [--workers 2] [--seeds 1] [--first-seed 1] [--objective dice]
//
// --seeds N runs study.seed = first-seed .. first-seed + N - 1 (the seed draws the trials and initialises
// every training); one seed at a time fits a short slot of a shared machine. --objective METRIC sets
// train.select_metric for all three methods (the searches' objective; hd95, assd and loss are minimised).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "db/store.hpp"
#include "sweeps/early_stop.hpp"
#include "runner/run.hpp"
#include "trainer/data/synth.hpp"

namespace fs = std::filesystem;
using namespace ablate;

namespace {

struct Outcome {
  double best = std::nan("");
  int first = 0;  // 1-based training (trial) that first reached the best
  double seconds = 0;
};

Outcome run_one(const fs::path& dir, const std::string& name, const std::string& sweep, int epochs, int workers, int seed,
                const std::string& metric) {
  const std::string file = (dir / (name + ".toml")).string();
  std::ofstream(file) << "[study]\nname = \"" << name << "\"\nseed = " << seed << "\nfolds = 2\nvalidation_fraction = 0.25\n"
                      << "[data]\npath = \"data\"\nimage_size = 32\n"
                      << "[model]\nwidths = [8, 16, 32]\n"
                      << "[loss]\nname = \"hybrid\"\n"
                      << "[train]\nepochs = " << epochs << "\nsteps_per_epoch = 8\nbatch_size = 4\nthreads = 1\n"
                      << "select_metric = \"" << metric << "\"\n"
                      << "[sweep]\n" << sweep;
  runner::RunOptions o;
  o.study_file = file;
  o.db_path = (dir / (name + ".sqlite")).string();
  o.inproc_workers = workers;
  auto exec = runner::make_trainer_executor();
  const auto t0 = std::chrono::steady_clock::now();
  if (runner::run_study(o, *exec) != runner::kRunOk) {
    std::fprintf(stderr, "%s: the run failed\n", name.c_str());
    std::exit(1);
  }
  Outcome out;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  db::Store store(o.db_path, true);
  const auto id = *store.find_study(name);
  const auto objective = store.validation_objective(id, metric);
  const auto direction = sweeps::objective_direction(metric);
  // Trainings in the order they were planned (grid: ordinal; searches: the order proposed).
  std::vector<std::string> order;
  const auto trials = store.trials(id);
  if (trials.empty()) {
    for (const auto& v : store.variants(id)) order.push_back(v.name);
  } else {
    for (const auto& t : trials) order.push_back(t.variant);
  }
  for (std::size_t i = 0; i < order.size(); ++i) {
    auto it = objective.find(order[i]);
    if (it != objective.end() && sweeps::better(it->second.value, out.best, direction)) {
      out.best = it->second.value, out.first = static_cast<int>(i) + 1;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int trials = 12, epochs = 12, workers = 2, seeds = 1, first_seed = 1;
  std::string metric = "dice";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--trials") trials = std::atoi(argv[i + 1]);
    else if (a == "--epochs") epochs = std::atoi(argv[i + 1]);
    else if (a == "--workers") workers = std::atoi(argv[i + 1]);
    else if (a == "--seeds") seeds = std::atoi(argv[i + 1]);
    else if (a == "--first-seed") first_seed = std::atoi(argv[i + 1]);
    else if (a == "--objective") metric = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (trials != 12) std::fprintf(stderr, "note: the grid is 4 learning rates x 3 alphas = 12 trainings whatever --trials\n");
  spdlog::set_level(spdlog::level::warn);
  const fs::path dir = fs::temp_directory_path() / ("ablate-bench-search-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  trainer::data::SynthOptions synth;
  synth.cases = 8;
  synth.size = 32;
  synth.slices = 6;
  trainer::data::write_synthetic_dataset((dir / "data").string(), synth);

  const std::string space = "\"train.lr\" = { log_uniform = [1e-4, 3e-2] }\n\"loss.alpha\" = { uniform = [0.1, 0.9] }\n";
  const std::string grid = "\"train.lr\" = [1e-4, 5e-4, 3e-3, 2e-2]\n\"loss.alpha\" = [0.2, 0.5, 0.8]\n";
  const std::string heading = "best val " + metric;
  std::printf("%-8s %5s %9s %13s %12s %9s\n", "method", "seed", "trainings", heading.c_str(), "reached at", "seconds");
  std::map<std::string, std::vector<double>> bests;  // per method, the best of each seed
  for (int seed = first_seed; seed < first_seed + seeds; ++seed) {
    const std::string t = std::to_string(trials);
    const std::vector<std::pair<std::string, std::string>> methods = {
        {"grid", grid},
        {"random", "method = \"random\"\ntrials = " + t + "\n" + space},
        {"tpe", "method = \"tpe\"\ntrials = " + t + "\nstartup = " + std::to_string(std::max(2, trials / 3)) + "\n" + space}};
    for (const auto& [method, sweep] : methods) {
      const Outcome o = run_one(dir, method + std::to_string(seed), sweep, epochs, workers, seed, metric);
      bests[method].push_back(o.best);
      std::printf("%-8s %5d %9d %13.4f %12d %9.1f\n", method.c_str(), seed, method == "grid" ? 12 : trials, o.best, o.first,
                  o.seconds);
      std::fflush(stdout);
    }
  }
  // Over the seeds: the mean and the sample standard deviation of each method's best, and its range.
  for (const auto& [m, b] : bests) {
    double mean = 0, ss = 0;
    for (double x : b) mean += x;
    mean /= static_cast<double>(b.size());
    for (double x : b) ss += (x - mean) * (x - mean);
    const double sd = b.size() > 1 ? std::sqrt(ss / static_cast<double>(b.size() - 1)) : 0.0;
    std::printf("best validation %s, %-6s: mean %.4f, sd %.4f, min %.4f, max %.4f over %zu seed(s)\n", metric.c_str(), m.c_str(), mean, sd,
                *std::min_element(b.begin(), b.end()), *std::max_element(b.begin(), b.end()), b.size());
  }
  fs::remove_all(dir);
  return 0;
}
