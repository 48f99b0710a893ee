// The study store: one SQLite file, written by the coordinator alone, read by `status` and `report`.
// The schema (tables, the two stable views fold_metrics and case_metrics, migrations, the coordinator
// lock) is documented in db/SCHEMA.md. sqlite3.h stays inside db/ (db/sqlite.hpp).
//
// Contract.
// - Ownership: a Store owns one SQLite connection, opened in its constructor and closed in its destructor;
//   it is neither copyable nor movable. Rows are returned by value; nothing returned points into the store.
// - Writers: one process writes a study, the coordinator that holds its lock (acquire_lock: a LockError
//   names the holder). Every write method is one transaction (BEGIN IMMEDIATE ... COMMIT): it is stored
//   whole or not at all, also when the process is killed mid-call. Readers (`status`, `report`, `serve`)
//   open their own Store with read_only = true and may read while a coordinator writes (WAL; on a network
//   file system a rollback journal, where a reader waits up to 10 s for a writer).
// - Threads: the connection is opened in SQLite's serialized mode (FULLMUTEX), so one Store may be called
//   from several threads (the in-process coordinator and its worker threads' result handling); each call is
//   atomic, a sequence of calls is not. Separate Stores on one file are separate connections.
// - Errors: every failure throws StoreError (LockError for the lock) whose message names the file, what
//   was attempted and SQLite's own words; a failed write leaves the store as it was before the call.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ablations/task.hpp"
#include "db/lock.hpp"
#include "db/rows.hpp"

namespace ablate::db {

// The schema version this build writes; older stores are migrated forward when opened for writing.
constexpr int kSchemaVersion = 7;

// A store problem (not a store, newer schema, SQL error): the message names the file.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Another coordinator holds the study (the message names its host, pid and last heartbeat).
class LockError : public StoreError {
 public:
  using StoreError::StoreError;
};

// The network file system that holds `path` (a file or a folder; for a file not yet there, its folder):
// "nfs", "lustre", "gpfs", "beegfs", "cephfs", "cifs", "smb2", "9p", "afs", "ocfs2", "glusterfs/fuse", or
// "" for a local file system, as statfs's f_type tells. SQLite's WAL needs shared memory between every process
// that opens the store, so on these the store keeps a rollback journal (Store's constructor).
std::string network_file_system(const std::string& path);
// The name of a statfs f_type magic number among those above, "" for others.
std::string network_file_system_name(long magic);

// The case ids of one fold of one repeat (every variant of a study trains on the same folds).
struct FoldCases {
  int fold = 0;
  int repeat = 0;
  std::vector<std::string> train;
  std::vector<std::string> val;
  std::vector<std::string> test;
};

// A finished task whose stored results another task may take instead of training (docs/RUNNER.md
// "Reusing finished trainings"): where it lies and what it stored.
struct ReuseSource {
  std::string store;       // the store's path as opened
  std::string study;
  std::int64_t task_id = 0;
  TaskResult result;       // epochs, best epoch, fold and case metrics, model facts
  std::string host, device;
  int rank = 0, threads = 0;
  double started = 0, ended = 0, seconds = 0;
  // tasks.reused_from of the copy: "<store>: <study> task <id>".
  std::string describe() const;
};

struct StudyInfo {
  std::string name;
  std::uint64_t seed = 0;
  int folds = 0;      // number of folds per repeat (1 for a fixed split)
  int repeats = 1;
};

struct StoredVariant {
  std::int64_t id = 0;
  std::string name;
  std::string label;
  std::string hash;
  std::string canonical;
  int ordinal = 0;
};

// One task row (variant x fold x repeat) with its latest state.
struct TaskRow {
  std::int64_t id = 0;
  std::string variant;
  int fold = 0;
  int repeat = 0;
  std::string status;  // pending | running | done | failed | interrupted | stopped
  int attempts = 0;
  std::string host;
  int rank = 0;
  std::string device;
  int threads = 0;
  double started = 0;  // unix seconds; 0 = never
  double ended = 0;
  double seconds = 0;  // wall time of the last attempt that ended
  std::string error;   // of the last failed attempt
  int epochs_stored = 0;
  int rung = 0;        // early stopping: the epoch (rung) where the task paused; status `stopped` while it waits there
  std::int64_t trained_by = 0;  // done from a shared training: the task that trained it (itself for the trainer); 0 = its own
  std::string reused_from;      // done by copying another finished task's results: its source (ReuseSource::describe); "" = trained here
  int best_epoch = 0;  // the epoch best-epoch selection kept (done and stopped tasks); 0 = none yet
};

// One stored epoch of a task (table epochs), for the live curves of `ablate serve`.
struct TaskEpochRow {
  std::int64_t task_id = 0;
  int epoch = 0;
  double train_loss = 0, val_loss = 0, val_dice = 0;
  double val_score = 0;  // train.select_metric on the validation cases; NaN where not stored (schema 1)
  double lr = 0, seconds = 0;
  double val_soft_dice = 0;  // the validation soft Dice (EpochRecord); NaN where not stored (before schema 7)
};

// One line of a study's early-stopping log (table early_stop_log, db/SCHEMA.md), in the order written.
// A fold's arrival at a rung ("reached", with its score, or "failed" for good on the way) and the
// coordinator's decisions about the trial (variant): "continue", "stop", "pause", "promote", "finish",
// "fail" (sweeps/early_stop.hpp). Replaying the "reached", "failed" and "promote" lines in order rebuilds the
// policy's state; the other decisions follow from them and are kept for `ablate status` and audits.
struct EarlyStopEvent {
  std::string variant;
  std::string kind;
  int rung = 0;         // rung index
  int epoch = 0;        // the rung's epoch
  int fold = -1;        // reached/failed: the fold and repeat; -1 for a decision about the trial
  int repeat = -1;
  double score = std::numeric_limits<double>::quiet_NaN();  // reached: the fold's; decisions: the trial's
};

// The trials of each rung of an early-stopping log, as `ablate status` and `ablate serve` show them: judged
// there (continue, stop, pause, finish), promoted (ASHA) or continued (median) from it, waiting there for a
// promotion (pause less promote), stopped there by the median rule, failed on the way to it, finished there.
struct RungPopulation {
  int rung = 0, epoch = 0;
  int reached = 0, promoted = 0, waiting = 0, stopped = 0, failed = 0, finished = 0;
};
// One per rung index in the log, ascending.
std::vector<RungPopulation> rung_populations(const std::vector<EarlyStopEvent>& log);

// One attempt of a task (a task has one row per attempt: the history that `status` and the tests read).
struct AttemptRow {
  std::int64_t task_id = 0;
  int attempt = 0;
  std::string status;
  std::string host;
  int rank = 0;
  std::string device;
  double started = 0;
  double ended = 0;
  int first_epoch = 0;  // first epoch reported in this attempt (> 1: resumed from a checkpoint)
  std::string error;
};

// One `ablate run` of a study (a row of `runs`).
struct RunRow {
  std::int64_t id = 0;
  std::string command;
  std::string host;
  int ranks = 0;
  double started = 0;
  double ended = 0;    // 0 = never ended (killed, or still running)
  int exit_code = -1;  // -1 = never ended
};

// One proposal of a search (a row of `trials`): stored before the trial's tasks run, so that a resumed
// coordinator replays it instead of sampling again.
struct TrialRow {
  std::string declared;   // the [[ablation.variant]] the trial crosses, "" without
  int trial = 0;          // 0-based index within `declared`
  std::string variant;    // variants.name
  std::string method;     // random | sobol | tpe
  std::string point;      // the sampled point, "[x0, x1, ...]" in the space's key order, %.17g (exact)
  std::string seen;       // tpe: the trials the proposal was conditioned on, "t003=0.81234, ..." ("" = none)
  double proposed = 0;    // Unix s
};

// A variant's search objective: the mean over its done tasks of the validation value at each task's
// best epoch.
struct Objective {
  double value = 0;
  int done = 0;      // tasks done
  int tasks = 0;     // tasks of the variant
  int epochs = 0;    // epochs trained by its done tasks (their rows in `epochs`; a shared training's once, schema 4)
};

const std::vector<std::string>& task_statuses();  // pending, running, done, failed, interrupted, stopped

class Store {
 public:
  // Opens (creating and migrating when writable) the store at `path`.
  explicit Store(const std::string& path, bool read_only = false);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const { return path_; }
  // "wal" or "delete": the journal mode chosen when the store was opened for writing (WAL on a local
  // file system; a rollback journal on a network one, or as ABLATE_DB_JOURNAL=wal|delete says), or what
  // the file uses when opened read-only.
  std::string journal_mode() const;
  int schema_version() const;

  // --- studies ---
  std::optional<std::int64_t> find_study(const std::string& name) const;
  std::int64_t create_study(const StudyInfo& info);
  // Renames a study to "<name>~<k>" (the first free k) so a new study of that name can start; returns the new name.
  std::string archive_study(const std::string& name);
  std::vector<std::string> study_names() const;

  // --- the coordinator lock (one row per study; see SCHEMA.md) ---
  // Takes the study for this process, or throws LockError when a live coordinator holds it. A lock whose
  // holder is gone (same host and the pid is dead, no heartbeat for `stale_seconds`, or an earlier run of
  // this process's own Slurm job: db/lock.hpp) is taken over; returns why it could be taken.
  LockVerdict acquire_lock(std::int64_t study_id, double stale_seconds = 120);
  // Whether a live coordinator holds the study (the same rule; for `ablate status`).
  bool lock_held(std::int64_t study_id, double stale_seconds = 120) const;
  void heartbeat(std::int64_t study_id);
  void release_lock(std::int64_t study_id);

  // --- provenance (key -> value; a run overwrites the keys it sets) and runs ---
  void set_provenance(std::int64_t study_id, const std::map<std::string, std::string>& values);
  std::map<std::string, std::string> provenance(std::int64_t study_id) const;
  std::int64_t begin_run(std::int64_t study_id, const std::string& command, int ranks);
  void end_run(std::int64_t run_id, int exit_code);
  std::vector<RunRow> runs(std::int64_t study_id) const;  // oldest first

  // --- variants ---
  std::vector<StoredVariant> variants(std::int64_t study_id) const;
  // Inserts the variant or updates its label/ordinal (never its hash: hash changes go through replace_variant).
  std::int64_t upsert_variant(std::int64_t study_id, const VariantRow& v, const std::string& components);
  // A variant's configuration changed and the user said to go on: its results are dropped, new hash stored.
  void replace_variant(std::int64_t study_id, const VariantRow& v, const std::string& components);
  // Sets a stored variant's hash and canonical configuration, keeping its tasks and results (the
  // coordinator does this when only keys outside the hash changed).
  void refresh_variant(std::int64_t study_id, const std::string& name, const std::string& hash, const std::string& canonical);

  // --- folds ---
  std::vector<FoldCases> folds(std::int64_t study_id) const;
  // With the fingerprint of the dataset they were made from (trainer::dataset_fingerprint; "" unknown).
  void store_folds(std::int64_t study_id, const std::vector<FoldCases>& folds, const std::string& data_fingerprint = "");
  // The dataset fingerprint recorded with the study's folds; "" unknown (or a store older than schema 5).
  std::string data_fingerprint(std::int64_t study_id) const;
  // Records a new dataset fingerprint with the study's folds (the dataset changed since they were made).
  void set_data_fingerprint(std::int64_t study_id, const std::string& fingerprint);

  // --- tasks ---
  // Creates the task rows of every (variant, fold, repeat) that is missing; existing rows are kept.
  void ensure_tasks(std::int64_t study_id);
  std::vector<TaskRow> tasks(std::int64_t study_id) const;
  std::vector<AttemptRow> attempts(std::int64_t task_id) const;
  // The stored epochs of one task of the study (task_id), or of all its tasks (task_id = 0), ordered by
  // task and epoch. Rows of another study's task are never returned.
  std::vector<TaskEpochRow> task_epochs(std::int64_t study_id, std::int64_t task_id = 0) const;
  // Tasks left `running` by a coordinator that died: marked interrupted (their attempts too).
  int recover_running(std::int64_t study_id);
  // Mean wall seconds of the done tasks per variant name (the measured cost estimate).
  std::map<std::string, double> measured_seconds(std::int64_t study_id) const;
  // The model facts of each variant with a done task (parameters: the largest; inference ms per case and
  // training seconds: the means over its done tasks), in variant order: the reports' StudyData::model_facts
  // and a multi-objective search's model objectives (sweeps::model_fact_names) read them here.
  std::vector<ModelFactRow> model_facts(std::int64_t study_id) const;

  // Per variant with a done task: where its results were trained (db/rows.hpp VariantDevices). A done
  // task's devices are its latest attempt's (tasks.device: for a copied result, its source's) and, when
  // that attempt resumed from a checkpoint, those of the earlier attempts back to the last one that
  // started at epoch 1 (attempts.first_epoch); attempts that reported no epoch add nothing.
  std::map<std::string, VariantDevices> variant_devices(std::int64_t study_id) const;

  void mark_running(std::int64_t task_id, const Placement& where, double started);
  // Progress: one epoch of the running attempt (replaces a row of the same epoch: no duplicates).
  void record_epoch(std::int64_t task_id, const EpochRecord& e);
  // Everything of a finished task in one transaction: epochs, fold and case metrics, model facts, status;
  // with early stopping also the fold's arrival at the last rung (`report`, of study `study_id`).
  void record_done(std::int64_t task_id, const TaskResult& r, double ended, std::int64_t study_id = 0,
                   const EarlyStopEvent* report = nullptr);
  // The members of a shared training that finished (docs/RUNNER.md "Shared trainings"): each as record_done
  // would store it, all in one transaction, with tasks.trained_by = `trainer_id` (the task that trained,
  // whether or not it is among them; a single-task record_done sets it NULL).
  void record_done(std::int64_t trainer_id, const std::vector<std::pair<std::int64_t, TaskResult>>& results, double ended);
  // A task that paused at a rung (r.paused_after_epoch): its epochs, status `stopped` with that rung, the
  // attempt done, and the fold's arrival at the rung in the early-stopping log, in one transaction.
  void record_paused(std::int64_t task_id, const TaskResult& r, double ended, std::int64_t study_id, const EarlyStopEvent& report);
  // Appends to the early-stopping log (decisions are logged before the coordinator acts on them).
  void log_early_stop(std::int64_t study_id, const EarlyStopEvent& e);
  std::vector<EarlyStopEvent> early_stop_log(std::int64_t study_id) const;
  bool has_early_stop_log(std::int64_t study_id) const;  // one line or more (false before schema 2)
  // Change stamps for readers that cache (ablate serve): `data_version` changes when another connection
  // commits (SQLite's PRAGMA data_version); `results_version` changes when a task of the study changes
  // state or ends, not when a running task writes an epoch.
  std::string data_version() const;
  std::string results_version(std::int64_t study_id) const;
  // Per variant with a task `stopped` at a rung: where it stands, its score there and the last decision
  // about it (db/rows.hpp StoppedTrialRow), from the tasks and the early-stopping log. Empty for a study
  // without early stopping.
  std::map<std::string, StoppedTrialRow> stopped_trials(std::int64_t study_id) const;
  // stopped_trials over the study's tasks as already read (the bulk reader reads them once for all it derives).
  std::map<std::string, StoppedTrialRow> stopped_trials(std::int64_t study_id, const std::vector<TaskRow>& tasks) const;
  void record_failed(std::int64_t task_id, const std::string& error, double ended);

  // --- reuse of finished trainings (docs/RUNNER.md "Reusing finished trainings") ---
  // Sets tasks.reuse_key (ablations/sharing.hpp task_result_key) of open tasks, one transaction; an empty
  // key is stored NULL.
  void set_reuse_keys(const std::map<std::int64_t, std::string>& keys);
  // A done task of any study of this store with this reuse key, other than `except_task` (the lowest id;
  // a task trained here before a copy), with its results; none for "" or a store older than schema 5.
  std::optional<ReuseSource> find_reusable(const std::string& key, std::int64_t except_task = 0) const;
  // The open tasks taken from sources, each with everything a finished task stores (epochs, metrics, case
  // metrics, model facts, best epoch, where and when it ran) copied and tasks.reused_from set to its
  // source, status done, no attempt added (none ran here); all in one transaction.
  void record_reused(const std::vector<std::pair<std::int64_t, ReuseSource>>& reused);
  void record_interrupted(std::int64_t task_id, const std::string& message, double ended);

  // --- searches ---
  // The proposal, its variant and the variant's tasks, in one transaction.
  void record_trial(std::int64_t study_id, const TrialRow& trial, const VariantRow& v, const std::string& components);
  std::vector<TrialRow> trials(std::int64_t study_id) const;  // in the order they were proposed
  // Per variant name with a done task: the mean of epochs.val_score (train.select_metric on the validation
  // cases, the search's `objective`) at tasks.best_epoch, the epoch it selected. For rows without val_score
  // (schema 1) `objective` "dice" reads val_dice and "loss" val_loss; any other objective is NaN there.
  std::map<std::string, Objective> validation_objective(std::int64_t study_id, const std::string& objective) const;

  // Runs `sql` (for tests and migrations); throws StoreError.
  void exec(const std::string& sql);
  // First column of the first row of a query as text ("" when no row), for tests only: product code reads
  // through the named readers above (no SQL outside db/).
  std::string query_text(const std::string& sql) const;
  std::int64_t query_int(const std::string& sql) const;

  struct Impl;

 private:
  // The reports' bulk reader runs its joins on the store's connection.
  friend StudyData load_study_data(const Store& store, const std::string& study, bool with_epochs);
  friend StudyData load_study_data(const Store& store, const std::string& study, TaskRowsCache& cache);
  const Impl& impl() const { return *impl_; }

  std::string path_;
  std::unique_ptr<Impl> impl_;
};

// Unix time now, in seconds.
double now_seconds();
// Wall time worked on a study, as `ablate status` and `ablate serve` show it: the sum of its runs, each from
// its start to its end. A run that never ended counts to `now` when it is the last one and a coordinator
// holds the study (`live`); otherwise it was killed, and counts to the last task activity (a task's start
// or end) from its start until the next run began. So the calendar time between runs never counts.
double worked_seconds(const std::vector<RunRow>& runs, const std::vector<TaskRow>& tasks, bool live,
                      double now);
// The time left, as `ablate status` and `ablate serve` estimate it: each open task (neither done nor stopped
// at a rung) at the mean wall time of its variant's done tasks, or of all done tasks where its variant has
// none, less what a running task has spent since it started (never below 0), spread over `workers`
// (at least 1). 0 without open tasks; -1 (unknown) when a task is open and no task is done.
double remaining_seconds(const std::vector<TaskRow>& tasks, int workers, double now);
std::string this_host();

}  // namespace ablate::db
