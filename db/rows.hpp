// What readers (reports, status) get from the store: plain rows, read through the stable views
// fold_metrics and case_metrics and the variants/epochs/model tables (db/SCHEMA.md).
//
// Contract: the rows are values, owned by the caller. The readers below open their own read-only Store
// (a path) or read through the caller's (db/store.hpp: its thread rules apply); they may run while a
// coordinator writes, and every failure throws StoreError naming the file. A TaskRowsCache belongs to one
// reader and is not thread-safe.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ablate::db {

struct VariantRow {
  std::string name;
  std::string label;
  std::string hash;
  std::string canonical;  // canonical configuration text (ablate::canonical_values() flattens it)
  int ordinal = 0;        // order of the study's expansion
};

struct FoldMetricRow {
  std::string variant;
  int fold = 0;
  int repeat = 0;
  int cls = 1;
  std::string metric;
  double value = 0;
};

struct CaseMetricRow {
  std::string variant;
  int fold = 0;
  int repeat = 0;
  std::string case_id;
  int cls = 1;
  std::string metric;
  double value = 0;
};

struct EpochRow {
  std::string variant;
  int fold = 0;
  int repeat = 0;
  int epoch = 0;
  double train_loss = 0;
  double val_loss = 0;
  double val_dice = 0;
  double lr = 0;
  double seconds = 0;
};

struct ModelFactRow {
  std::string variant;
  std::int64_t parameters = 0;
  double inference_ms_per_case = 0;  // mean over the variant's tasks
  double train_seconds = 0;          // mean over the variant's tasks of the training time over every attempt
};

// A trial of a searched study (db/SCHEMA.md `trials`) with its validation objective.
struct SearchTrialRow {
  std::string declared;
  int trial = 0;
  std::string variant;
  std::string method;
  std::string point;     // "[x0, x1, ...]" (%.17g), in the order of provenance "search_space"
  std::string seen;
  double proposed = 0;   // Unix s
  double objective = 0;  // mean validation value at the selected epochs of its done tasks; NaN when none is done
  int done = 0;          // tasks done
  int tasks = 0;         // tasks of the trial
  int failed = 0;        // tasks failed
  int epochs = 0;        // epochs trained by its done tasks
};

// A variant (a trial) whose tasks stand `stopped` at an early-stopping rung (db/SCHEMA.md tasks.rung and
// early_stop_log), as Store::stopped_trials reads it: the one reading of these facts that `ablate report`
// and `ablate status` share (reports/search.hpp rung_state names its state).
struct StoppedTrialRow {
  int epoch = 0;  // the rung's epoch where its stopped tasks stand (the highest, should they differ)
  int rung = -1;  // the rung's index, from the log (-1: no log line at that epoch)
  int tasks = 0;  // its tasks `stopped`
  // The trial's score at the rung: the decision's (the mean over its folds that reached the rung of each
  // fold's best validation objective over epochs 1..epoch, sweeps/early_stop.hpp), or, before a decision,
  // the mean of the arrivals logged so far; NaN when the log has neither.
  double value = std::numeric_limits<double>::quiet_NaN();
  // The last decision about the trial when it was taken at this rung: "pause" (ASHA: waiting for a
  // promotion, stopped when the search ends), "stop" (median), "promote" or "continue" (to resume, not yet
  // dispatched); "" while some of its folds are still on their way to the rung.
  std::string decision;
};

// Where a variant's results were trained: its done tasks counted by the class of their device
// (db/SCHEMA.md tasks.device and attempts.device; Store::variant_devices). A task whose training ran
// partly on each class (resumed from a checkpoint on the other) counts in both.
struct VariantDevices {
  int cpu = 0;      // done tasks trained, wholly or partly, on the CPU (device `cpu`)
  int gpu = 0;      // ... on a GPU (device `cuda:N`)
  int unknown = 0;  // done tasks without a recorded device ('', or another kind)
};

// Everything a report needs of one study.
struct StudyData {
  std::string study;
  std::map<std::string, std::string> provenance;  // key -> value (ablate version, commit, study text, ...)
  std::vector<VariantRow> variants;               // in ordinal order
  std::vector<FoldMetricRow> fold_metrics;
  std::vector<CaseMetricRow> case_metrics;
  std::vector<EpochRow> epochs;
  std::vector<ModelFactRow> model_facts;
  std::vector<SearchTrialRow> trials;  // a searched study's trials, in the order proposed; empty otherwise
  // Early stopping: variants with tasks `stopped` at a rung -> the highest such rung (epoch). Their
  // partial curves are in `epochs`; they are never in fold_metrics or case_metrics.
  std::map<std::string, int> stopped;
  std::map<std::string, StoppedTrialRow> stopped_trials;  // the same variants, with their rung value and decision
  bool live = false;  // a live coordinator held the study when it was read (Store::lock_held)
  // Done tasks whose results were copied from a finished training (docs/RUNNER.md "Reusing finished
  // trainings"): "<variant> fold <f> repeat <r>" -> its source ("<store>: <study> task <id>"), in task order.
  std::vector<std::pair<std::string, std::string>> reused;
  // Variant name -> where its done tasks trained; only variants with a done task (reports mark tables
  // whose rows come from a GPU or mix devices: docs/REPORTS.md "Devices").
  std::map<std::string, VariantDevices> devices;
};

}  // namespace ablate::db

namespace ablate::db {
// Reads one study of a store file (read-only; safe while a coordinator writes, WAL). Throws
// std::runtime_error naming the file when it is not a store or the study is absent.
StudyData load_study_data(const std::string& db_path, const std::string& study);
class Store;
// The same on a store the caller holds open (`ablate serve` keeps one read-only connection); without
// `with_epochs`, StudyData::epochs stays empty (the largest table: 100,000 rows cost ~0.1 s).
StudyData load_study_data(const Store& store, const std::string& study, bool with_epochs = true);
// A long-lived reader's copy of a study's per-task rows (`ablate serve`, which loads a study again after
// every task that ends): per task, its epochs, fold metrics and case metrics and the task's state they
// were read at (status, attempts, stored epochs, end). Owned and passed by the caller, one per study;
// not thread-safe.
struct TaskRowsCache {
  struct Task {
    std::string state;
    std::vector<EpochRow> epochs;
    std::vector<FoldMetricRow> fold_metrics;  // a done task's (the fold_metrics view's rows)
    std::vector<CaseMetricRow> case_metrics;  // a done task's (the case_metrics view's rows)
  };
  std::map<std::int64_t, Task> tasks;  // task id -> its rows
};
// The same, with StudyData::epochs, fold_metrics and case_metrics assembled from `cache`: only the rows of
// the tasks whose state changed since the last load are read again (all of them at once when the cache
// is empty or most changed), so one task's end costs one task's rows, not the study's 100,000 epochs.
// The rows and their order are those of the overload above.
StudyData load_study_data(const Store& store, const std::string& study, TaskRowsCache& cache);
// Names of the studies in a store.
std::vector<std::string> list_studies(const std::string& db_path);
}  // namespace ablate::db
