// Benchmark (not a test) of `ablate report` on a large study: 50 variants x 10 folds x 25 repeats,
// 8 metrics, 10 cases per (fold, repeat): 10^6 per-case rows and 10^5 fold rows, plus 10 epochs per task.
// Times report generation from the rows (every artefact of write_report) separately from building them.
// Usage: bench_reports [OUT_DIR]   (default: a folder under the system temp dir, removed afterwards)
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include "db/rows.hpp"
#include "reports/report.hpp"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

ablate::db::StudyData make_study() {
  constexpr int kVariants = 50, kFolds = 10, kRepeats = 25, kCases = 10, kEpochs = 10;
  const char* metrics[] = {"dice", "iou", "sensitivity", "precision", "specificity", "vs", "assd", "hd95"};
  ablate::db::StudyData s;
  s.study = "bench";
  s.provenance["study_text"] =
      "[study]\nname = \"bench\"\n[report]\nmetrics = [\"dice\", \"sensitivity\", \"precision\", \"hd95\"]\n"
      "sweep_key = \"loss.alpha\"\n";
  std::mt19937_64 rng(42);
  std::normal_distribution<double> noise(0.0, 0.03);
  for (int v = 0; v < kVariants; ++v) {
    const std::string name = "v" + std::to_string(v);
    char canonical[128];
    std::snprintf(canonical, sizeof canonical, "loss.alpha = %.2f\nmodel.cc = %s\nmodel.sc = %s\n", 0.1 + 0.8 * (v % 9) / 8.0,
                  v % 2 ? "true" : "false", v % 3 ? "true" : "false");
    s.variants.push_back({name, "Variant " + std::to_string(v) + " (α)", "h" + std::to_string(v), canonical, v});
    s.model_facts.push_back({name, 1000000 + 1000 * v, 5.0 + v});
    for (int f = 0; f < kFolds; ++f)
      for (int r = 0; r < kRepeats; ++r) {
        for (int m = 0; m < 8; ++m) {
          double sum = 0;
          for (int c = 0; c < kCases; ++c) {
            const double base = m >= 6 ? 5.0 - 0.02 * v : 0.7 + 0.002 * v;
            const double x = base + noise(rng);
            s.case_metrics.push_back({name, f, r, "case" + std::to_string(f * 1000 + c), 1, metrics[m], x});
            sum += x;
          }
          s.fold_metrics.push_back({name, f, r, 1, metrics[m], sum / kCases});
        }
        for (int e = 0; e < kEpochs; ++e) s.epochs.push_back({name, f, r, e, 1.0 / (e + 1), 1.1 / (e + 1), 0.5 + 0.02 * e, 1e-3, 1.0});
      }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  const bool keep = argc > 1;
  const fs::path out = keep ? fs::path(argv[1]) : fs::temp_directory_path() / "ablate_bench_reports";
  auto t0 = Clock::now();
  const ablate::db::StudyData study = make_study();
  std::printf("rows: %zu per-case, %zu fold, %zu epoch (built in %.2f s)\n", study.case_metrics.size(),
              study.fold_metrics.size(), study.epochs.size(), seconds_since(t0));
  for (int run = 0; run < 3; ++run) {
    t0 = Clock::now();
    const ablate::reports::ReportResult r = ablate::reports::write_report({study}, {}, out.string());
    std::printf("report generation (all formats, %zu files): %.2f s\n", r.files.size(), seconds_since(t0));
  }
  if (!keep) fs::remove_all(out);
  return 0;
}
