// Dispatch benchmark: a study of a few hundred tasks that only sleep a known, uneven time, run by the
// real coordinator/worker code and store. Reports the coordinator's cost per task (dispatch + the
// result's store transaction) and the makespan against the ideal max(total work / workers, longest task).
//
//   mpirun -np N --oversubscribe build/bin/bench_runner_dispatch [--variants 40] [--folds 5] [--repeats 2] [--scale-ms 1]
//   build/bin/bench_runner_dispatch --workers W ...      (one process, W worker threads)
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "ablations/study.hpp"
#include "runner/run.hpp"

namespace fs = std::filesystem;
using namespace ablate;
using namespace ablate::runner;

namespace {

// The sleep of one task, in ms: uneven across variants (1..8 units by the swept epochs) and folds.
double task_ms(int epochs, int fold, double scale) { return scale * (4.0 + 6.0 * ((epochs * 7) % 8) + 2.0 * fold); }

}  // namespace

int main(int argc, char** argv) {
  int variants = 40, folds = 5, repeats = 2, workers = 1;
  double scale = 1.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--variants") variants = std::atoi(argv[i + 1]);
    else if (a == "--folds") folds = std::atoi(argv[i + 1]);
    else if (a == "--repeats") repeats = std::atoi(argv[i + 1]);
    else if (a == "--scale-ms") scale = std::atof(argv[i + 1]);
    else if (a == "--workers") workers = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  // Every rank writes the same study into its own directory (rank 0's is the one used).
  const char* rank_env = std::getenv("OMPI_COMM_WORLD_RANK");
  const std::string tag = std::to_string(::getppid()) + "-" + (rank_env ? rank_env : "0");
  fs::path dir = fs::temp_directory_path() / ("ablate-bench-dispatch-" + tag);
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string sweep;
  for (int e = 1; e <= variants; ++e) sweep += (e > 1 ? ", " : "") + std::to_string(e);
  const std::string study_file = (dir / "bench.toml").string();
  std::ofstream(study_file) << "[study]\nname = \"bench\"\nseed = 1\nfolds = " << folds << "\nrepeats = " << repeats
                            << "\n[data]\npath = \"none\"\n[sweep]\n\"train.epochs\" = [" << sweep << "]\n";

  RunOptions o;
  o.study_file = study_file;
  o.db_path = (dir / "bench.sqlite").string();
  o.inproc_workers = workers;
  o.list_cases = [&](const DataConfig&) {
    std::vector<std::string> c;
    for (int i = 0; i < folds * 2; ++i) c.push_back("case" + std::to_string(i));
    return c;
  };
  o.make_splits = [](const std::vector<std::string>& cases, const StudyConfig& s, int) {
    std::vector<CaseSplit> out(s.folds);
    for (size_t i = 0; i < cases.size(); ++i) {
      for (int f = 0; f < s.folds; ++f) (static_cast<int>(i) % s.folds == f ? out[f].test : out[f].train).push_back(cases[i]);
    }
    return out;
  };
  CoordinatorStats stats;
  o.stats = &stats;
  auto exec = make_sleep_executor(
      [&](const Task& t) { return task_ms(parse_canonical(t.canonical_config).train.epochs, t.fold, scale) / 1000.0; },
      [&](const Variant& v) { return task_ms(v.config.train.epochs, 0, scale); });
  int rc = run_study(o, *exec);
  if (stats.tasks_dispatched > 0) {
    // The ideal: total work spread over the workers, but never shorter than the longest task.
    double total = 0, longest = 0;
    int n = 0;
    for (int e = 1; e <= variants; ++e) {
      for (int f = 0; f < folds; ++f) {
        double s = task_ms(e, f, scale) / 1000.0 * repeats;
        total += s;
        longest = std::max(longest, task_ms(e, f, scale) / 1000.0);
        n += repeats;
      }
    }
    const int w = stats.workers;
    double ideal = std::max(total / w, longest);
    // Per task: its dispatch (store + send), its result transaction, and its share of the progress
    // transactions (one per epoch; the sleep executor reports one epoch per task).
    const double per_task =
        1000 * (stats.dispatch_seconds + stats.result_seconds + stats.progress_seconds) / stats.tasks_dispatched;
    std::printf("ranks %2d workers %2d tasks %d  work %.2f s  makespan %.3f s  ideal %.3f s  (+%.1f%%)  "
                "coordinator per task: dispatch %.3f + result %.3f + progress %.3f = %.3f ms\n",
                rank_env ? w + 1 : 1, w, n, total, stats.makespan_seconds, ideal, 100.0 * (stats.makespan_seconds / ideal - 1),
                1000 * stats.dispatch_seconds / stats.tasks_dispatched, 1000 * stats.result_seconds / std::max(1, stats.results),
                1000 * stats.progress_seconds / stats.tasks_dispatched, per_task);
  }
  fs::remove_all(dir);
  return rc;
}
