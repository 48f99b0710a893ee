// What `ablate serve` answers, computed from the store without any HTTP: the JSON documents of the API
// (docs/CLI.md "serve") and the results fragment drawn by the report's own renderers (reports/).
//
// Contract: one read-only connection (db::Store read-only, PRAGMA query_only) behind one mutex, so any
// thread may call. Answers are cached per (endpoint, study, argument), at most `kCacheEntries` of them:
// one is recomputed when the store changed since (PRAGMA data_version) and it is older than
// `min_refresh` seconds, or when it is older than 5 s (the elapsed time and the coordinator's liveness
// move without writes). So any number of polling clients costs the store at most one read per answer and
// interval, and a reader holds the store only while it computes an answer.
// Every study answer is nullopt when the store has no such study (the server's 404). Store errors throw
// db::StoreError. Every text of the store is escaped: JSON strings with '<', '>' and '&' as \u escapes
// too, HTML and SVG by the report's html_escape.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "db/store.hpp"

namespace ablate::serve {

// A JSON string literal safe inside HTML as well (json_string of reports/format.hpp, '<' '>' '&' escaped).
std::string json_text(const std::string& text);
// A JSON number; null for NaN and infinities (JSON has neither).
std::string json_number(double value);

// A study's progress as `ablate status` reads it: a task left `running` by a coordinator that is gone
// counts as interrupted; elapsed is the sum of the study's runs; the ETA spreads each open task at its
// variant's mean time (else the study's) over the last run's workers.
struct Progress {
  std::vector<db::TaskRow> tasks;        // statuses as above
  std::map<std::string, int> counts;     // status -> tasks
  bool coordinator = false;              // a live coordinator holds the study
  int workers = 1, busy = 0;             // workers of the last run; tasks running now
  double elapsed = 0;                    // seconds
  double eta = -1;                       // seconds; -1 unknown (no task done yet)
  std::map<std::string, double> mean_seconds;  // variant -> mean wall time of its done tasks
};
Progress study_progress(const db::Store& store, std::int64_t study_id, double now);

class StoreView {
 public:
  static constexpr std::size_t kCacheEntries = 256;

  explicit StoreView(const std::string& db_path, double min_refresh = 0.5);

  std::string studies_json();
  std::optional<std::string> tasks_json(const std::string& study);
  // One task (task > 0), the tasks of one variant (variant not empty), else every task of the study.
  std::optional<std::string> epochs_json(const std::string& study, std::int64_t task, const std::string& variant);
  std::optional<std::string> trials_json(const std::string& study);
  std::optional<std::string> decisions_json(const std::string& study);
  std::optional<std::string> metrics_json(const std::string& study);
  // The comparison table, reproduction, effects, search, box plots and convergence of the study, as
  // report.html draws them (an HTML fragment).
  std::optional<std::string> results_html(const std::string& study);

 private:
  struct Entry {
    std::int64_t version = 0;
    double at = 0;
    std::shared_ptr<const std::string> body;  // null: no such study
  };
  template <class Compute>
  std::optional<std::string> cached(const std::string& key, Compute compute);
  // A study's answer `what`: under the mutex, cached per (what, study, argument); nullopt for no such study,
  // else compute(the study's id).
  template <class Compute>
  std::optional<std::string> answer(const std::string& what, const std::string& study, const std::string& argument,
                                    Compute compute);
  // The study's rows for the answers drawn from them, loaded again when the store changed.
  std::shared_ptr<const db::StudyData> study_data(const std::string& study);

  std::mutex mutex_;
  db::Store store_;
  double min_refresh_;
  std::map<std::string, Entry> cache_;
  std::map<std::string, std::pair<std::int64_t, std::shared_ptr<const db::StudyData>>> data_;
};

}  // namespace ablate::serve
