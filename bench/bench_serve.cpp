// Benchmark (not a test) of `ablate serve` on a large store: 1,000 tasks (50 variants x 5 folds x 4 repeats)
// with 100 epochs each (100,000 epoch rows), 4 cases x 2 metrics per task; 990 done, 5 failed, 5 running
// under a live coordinator lock. The store is written through the db writer API as the coordinator writes it;
// the server runs in this process on a loopback port and every answer is read over HTTP/1.1 (one connection
// per request, as a polling page without keep-alive).
//
// Three rounds per endpoint, each REQUESTS requests in sequence, median and p95 of the wall time from connect
// to the last byte:
//   quiet:     the server as `ablate serve` runs it, polled while the store does not change;
//   live:      a running task's epoch is written before every request, no minimum refresh: every live answer
//              (studies, tasks, epochs, decisions) is recomputed each time;
//   task ends: a task finishes before every request: the answers drawn from the results (trials, metrics,
//              the report's sections) are recomputed too: the worst case.
// Usage: bench_serve [REQUESTS [ROUND [TARGET...]]]   (default 40; ROUND quiet, live or ends: that round only;
//        TARGETs: only the endpoints whose address contains one of them, e.g. results; for a profile)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "db/store.hpp"
#include "tests/serve_util.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kVariants = 50, kFolds = 5, kRepeats = 4, kEpochs = 100;

std::int64_t write_store(const std::string& path) {
  ablate::db::Store s(path);
  const auto id = s.create_study({"bench", 42, kFolds, kRepeats});
  for (int v = 0; v < kVariants; ++v) {
    char name[16];
    std::snprintf(name, sizeof name, "v%02d", v);
    s.upsert_variant(id,
                     {name, std::string("Variant ") + name, "h" + std::to_string(v),
                      "model.cc = " + std::string(v % 2 ? "true" : "false") + "\n", v},
                     "");
  }
  std::vector<ablate::db::FoldCases> folds;
  for (int r = 0; r < kRepeats; ++r)
    for (int f = 0; f < kFolds; ++f) folds.push_back({f, r, {"a", "b"}, {"c"}, {"c1", "c2", "c3", "c4"}});
  s.store_folds(id, folds);
  s.ensure_tasks(id);
  s.acquire_lock(id);
  s.begin_run(id, "bench_serve", 9);
  const auto tasks = s.tasks(id);
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    s.mark_running(tasks[i].id, {"node1", 1 + static_cast<int>(i % 8), 0, "cpu", 1},
                   ablate::db::now_seconds());
    if (i >= tasks.size() - 5) {
      for (int e = 1; e <= kEpochs; ++e)
        s.record_epoch(tasks[i].id, serve_test::epoch(e));  // running, 100 epochs so far
    } else if (i >= tasks.size() - 10) {
      for (int e = 1; e <= kEpochs; ++e) s.record_epoch(tasks[i].id, serve_test::epoch(e));
      s.record_failed(tasks[i].id, "worker: out of memory at epoch 7", ablate::db::now_seconds());
    } else {
      ablate::TaskResult r = serve_test::result(kEpochs, 0.7 + 0.002 * static_cast<double>(i % kVariants));
      r.fold_metrics.push_back({"hd95", 1, 5.0});
      r.case_metrics = {{"c1", 1, "dice", 0.7},  {"c2", 1, "dice", 0.72}, {"c3", 1, "dice", 0.69},
                        {"c4", 1, "dice", 0.71}, {"c1", 1, "hd95", 5.0},  {"c2", 1, "hd95", 4.0},
                        {"c3", 1, "hd95", 6.0},  {"c4", 1, "hd95", 5.5}};
      s.record_done(tasks[i].id, r, ablate::db::now_seconds(), id);
    }
  }
  return id;
}

struct Figures {
  double median_ms, p95_ms;
  std::size_t bytes;
};

// What the store sees between two requests.
enum class Between { kNothing, kEpoch, kTaskEnd };

Figures measure(int port, const std::string& target, int requests, Between between, ablate::db::Store& writer,
                std::int64_t task) {
  std::vector<double> ms;
  std::size_t bytes = 0;
  for (int i = 0; i < requests; ++i) {
    // A running task's epoch changes the store (PRAGMA data_version); a task's end also its results.
    if (between == Between::kEpoch) writer.record_epoch(task, serve_test::epoch(kEpochs + 1 + i));
    if (between == Between::kTaskEnd)
      writer.record_done(task, serve_test::result(kEpochs, 0.7), ablate::db::now_seconds());
    const auto t0 = Clock::now();
    const auto r = serve_test::get(port, target);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (r.status != 200) std::fprintf(stderr, "bench_serve: %s answered %d\n", target.c_str(), r.status);
    bytes = r.body.size();
  }
  std::sort(ms.begin(), ms.end());
  const auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * static_cast<double>(ms.size())))];
  };
  return {at(0.5), at(0.95), bytes};
}

}  // namespace

int main(int argc, char** argv) {
  const int requests = argc > 1 ? std::max(1, std::atoi(argv[1])) : 40;
  const std::string only_round = argc > 2 ? argv[2] : "";
  std::vector<std::string> filters(argv + std::min(argc, 3), argv + argc);
  if (!only_round.empty() && only_round != "quiet" && only_round != "live" && only_round != "ends") {
    std::fprintf(stderr, "bench_serve: ROUND must be quiet, live or ends, got '%s'\n", only_round.c_str());
    return 2;
  }
  const auto dir =
      std::filesystem::temp_directory_path() / ("ablate-bench-serve-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "bench.sqlite").string();
  const auto t0 = Clock::now();
  const auto id = write_store(path);
  ablate::db::Store writer(path);
  const auto tasks = writer.tasks(id);
  const std::int64_t running = tasks.back().id;
  std::printf("store: %zu tasks, %lld epoch rows, written in %.1f s\n", tasks.size(),
              static_cast<long long>(writer.query_int("SELECT count(*) FROM epochs")),
              std::chrono::duration<double>(Clock::now() - t0).count());
  const std::vector<std::string> targets = {"/",
                                            "/study?name=bench",
                                            "/api/studies",
                                            "/api/tasks?study=bench",
                                            "/api/epochs?study=bench&variant=v07",
                                            "/api/epochs?study=bench&task=" + std::to_string(tasks[3].id),
                                            "/api/trials?study=bench",
                                            "/api/decisions?study=bench",
                                            "/api/metrics?study=bench",
                                            "/study/results?name=bench",
                                            "/api/epochs?study=bench"};  // the first page: 50 of the 1,000 tasks
  const std::tuple<Between, const char*, const char*> rounds[] = {
      {Between::kNothing, "quiet", "quiet: nothing written between requests (ablate serve's 0.5 s minimum refresh)"},
      {Between::kEpoch, "live", "live: a running task's epoch written before every request (no minimum refresh)"},
      {Between::kTaskEnd, "ends", "task ends: a task finished before every request (no minimum refresh)"}};
  for (const auto& [between, name, title] : rounds) {
    if (!only_round.empty() && only_round != name) continue;
    auto o = serve_test::options(path);
    o.min_refresh = between == Between::kNothing ? 0.5 : 0;
    serve_test::Running server(o);
    std::printf("\n%s, %d requests each\n%-44s %10s %10s %12s\n", title, requests, "endpoint", "median ms",
                "p95 ms", "bytes");
    for (const auto& target : targets) {
      if (!filters.empty() && std::none_of(filters.begin(), filters.end(), [&](const std::string& f) {
            return target.find(f) != std::string::npos;
          }))
        continue;
      const Figures f = measure(server.port(), target, requests, between, writer, running);
      std::printf("%-44s %10.2f %10.2f %12zu\n", target.c_str(), f.median_ms, f.p95_ms, f.bytes);
    }
  }
  if (!std::getenv("ABLATE_BENCH_KEEP"))
    std::filesystem::remove_all(dir);
  else
    std::printf("store kept: %s\n", path.c_str());
  return 0;
}
