// Benchmark (not a test) of `ablate report` on a large study: 50 variants x 10 folds x 25 repeats,
// 8 metrics, 10 cases per (fold, repeat): 10^6 per-case rows and 10^5 fold rows, plus 10 epochs per task.
// Writes the rows into a real store through the db writer API (one record_done per task, as the
// coordinator does), then times loading the study from SQLite (db::load_study_data) and report
// generation (every artefact of write_report) separately.
// Usage: bench_reports [OUT_DIR]   (default: a folder under the system temp dir, removed afterwards)
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <map>
#include <string>
#include <tuple>

#include "db/rows.hpp"
#include "db/store.hpp"
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

// The same rows in a store file: one task per (variant, fold, repeat) with its TaskResult.
void write_store(const ablate::db::StudyData& s, const std::string& path) {
  ablate::db::Store store(path);
  const std::int64_t id = store.create_study({s.study, 42, 10, 25});
  store.set_provenance(id, s.provenance);
  for (const auto& v : s.variants) store.upsert_variant(id, v, "");
  std::vector<ablate::db::FoldCases> folds;
  for (int r = 0; r < 25; ++r)
    for (int f = 0; f < 10; ++f) folds.push_back({f, r, {}, {}, {}});
  store.store_folds(id, folds);
  store.ensure_tasks(id);
  std::map<std::tuple<std::string, int, int>, ablate::TaskResult> results;
  for (const auto& m : s.fold_metrics) results[{m.variant, m.fold, m.repeat}].fold_metrics.push_back({m.metric, m.cls, m.value});
  for (const auto& m : s.case_metrics)
    results[{m.variant, m.fold, m.repeat}].case_metrics.push_back({m.case_id, m.cls, m.metric, m.value});
  for (const auto& e : s.epochs)
    results[{e.variant, e.fold, e.repeat}].epochs.push_back({e.epoch + 1, e.train_loss, e.val_loss, e.val_dice, e.lr, e.seconds});
  for (const auto& t : store.tasks(id)) {
    ablate::TaskResult& r = results[{t.variant, t.fold, t.repeat}];
    r.parameters = 1000000;
    r.inference_ms_per_case = 5.0;
    store.mark_running(t.id, ablate::Placement{"bench", 1, 0, "cpu", 1, "", ""}, 1.0);
    store.record_done(t.id, r, 2.0);
  }
}

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  const bool keep = argc > 1;
  const fs::path out = keep ? fs::path(argv[1]) : fs::temp_directory_path() / "ablate_bench_reports";
  auto t0 = Clock::now();
  const ablate::db::StudyData study = make_study();
  std::printf("rows: %zu per-case, %zu fold, %zu epoch (built in %.2f s)\n", study.case_metrics.size(),
              study.fold_metrics.size(), study.epochs.size(), seconds_since(t0));
  fs::create_directories(out);
  const std::string db_path = (out / "bench.db").string();
  fs::remove(db_path);
  t0 = Clock::now();
  write_store(study, db_path);
  std::printf("store written (%.0f MB) in %.2f s\n", static_cast<double>(fs::file_size(db_path)) / 1e6, seconds_since(t0));
  for (int run = 0; run < 3; ++run) {
    t0 = Clock::now();
    std::vector<ablate::db::StudyData> loaded = {ablate::db::load_study_data(db_path, "bench")};
    const double load_s = seconds_since(t0);
    t0 = Clock::now();
    const ablate::reports::ReportResult r = ablate::reports::write_report(loaded, {}, (out / "report").string());
    const double report_s = seconds_since(t0);
    std::printf("run %d: load from SQLite %.2f s (%zu case rows, %zu fold rows); report generation (%zu files) %.2f s; "
                "total %.2f s\n",
                run, load_s, loaded[0].case_metrics.size(), loaded[0].fold_metrics.size(), r.files.size(), report_s,
                load_s + report_s);
  }
  if (!keep) fs::remove_all(out);
  return 0;
}
