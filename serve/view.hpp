// What `ablate serve` answers, computed from the store without any HTTP: the JSON documents of the API
// (docs/CLI.md "serve") and the results fragment drawn by the report's own renderers (reports/).
//
// Contract: one read-only connection (db::Store read-only, PRAGMA query_only) behind one mutex, so any
// thread may call. Answers are cached per (endpoint, study, argument), at most `kCacheEntries` of them.
// The live ones (studies, tasks, epochs, decisions) are recomputed when the store changed since (PRAGMA
// data_version) and they are older than `min_refresh` seconds, or when they are older than 5 s (elapsed
// time and the coordinator's liveness move without writes); those drawn from the study's results (trials,
// metrics, the report's sections) when a task of the study changed state or ended, not on every epoch a
// running task writes. So any number of polling clients costs the store at most one read per answer and
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
  std::vector<db::TaskRow> tasks;              // statuses as above
  std::map<std::string, int> counts;           // status -> tasks
  bool coordinator = false;                    // a live coordinator holds the study
  int workers = 1, busy = 0;                   // workers of the last run; tasks running now
  double elapsed = 0;                          // seconds
  double eta = -1;                             // seconds; -1 unknown (no task done yet)
  std::map<std::string, double> mean_seconds;  // variant -> mean wall time of its done tasks
};
Progress study_progress(const db::Store& store, std::int64_t study_id, double now);

class StoreView {
 public:
  static constexpr std::size_t kCacheEntries = 256;

  explicit StoreView(const std::string& db_path, double min_refresh = 0.5);

  std::string studies_json();
  std::optional<std::string> tasks_json(const std::string& study);
  // One task (task > 0), the tasks of one variant (variant not empty), else every task of the study; in
  // every case one page of at most `limit` tasks from `offset` (in task order), so that no answer grows
  // with the study (the answer says `total` and the `next_offset`, null on the last page).
  struct EpochsQuery {
    std::int64_t task = 0;
    std::string variant;
    std::int64_t offset = 0;
    std::int64_t limit = kEpochsPage;
  };
  static constexpr std::int64_t kEpochsPage = 50;
  static constexpr std::int64_t kEpochsPageMax = 1000;
  std::optional<std::string> epochs_json(const std::string& study, const EpochsQuery& query);
  std::optional<std::string> trials_json(const std::string& study);
  std::optional<std::string> decisions_json(const std::string& study);
  std::optional<std::string> metrics_json(const std::string& study);
  // The comparison table, reproduction, effects, search, box plots and convergence of the study, as
  // report.html draws them (an HTML fragment).
  std::optional<std::string> results_html(const std::string& study);

 private:
  struct Entry {
    std::string version;
    double at = 0;
    std::shared_ptr<const std::string> body;
  };
  // The cached answer `key` unless it is out of date, else compute()'s (cached). A `timed` answer (one with
  // elapsed times and liveness) is out of date when the store changed and it is older than min_refresh, or
  // when it is older than 5 s; any other when `version` changed.
  template <class Compute>
  std::string cached(const std::string& key, const std::string& version, bool timed, Compute compute);
  // A study's answer `what`, cached per (what, study, argument): nullopt for no such study, else compute(its
  // id); `timed` answers follow every write (data_version), the others the tasks' states (results_version).
  template <class Compute>
  std::optional<std::string> answer(const std::string& what, const std::string& study,
                                    const std::string& argument, bool timed, Compute compute);
  // PRAGMA data_version: changes with every commit of another connection.
  std::string data_version() const;
  // Changes when a task of the study changes state or ends.
  std::string results_version(std::int64_t id) const;
  // The study's rows for the answers drawn from them (trials, metrics, results), loaded again when a task
  // changed state or ended: one load serves all three, and its epochs (the convergence plot) come from
  // the study's TaskRowsCache, which reads again only the tasks that changed since.
  // One element: the study (the report's renderers take a vector of studies).
  std::shared_ptr<const std::vector<db::StudyData>> study_data(const std::string& study, std::int64_t id);

  std::mutex mutex_;
  db::Store store_;
  double min_refresh_;
  std::map<std::string, Entry> cache_;
  std::map<std::string, std::pair<std::string, std::shared_ptr<const std::vector<db::StudyData>>>> data_;
  std::map<std::string, db::TaskRowsCache> epochs_;  // study -> its per-task rows, read again per task that changed
};

}  // namespace ablate::serve
