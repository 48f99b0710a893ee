// The store's readers: the rows of db/store.hpp for the coordinator's resume and `ablate status`, and
// load_study_data (db/rows.hpp) for the reports. Safe on a read-only connection.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "db/sqlite.hpp"
#include "db/store.hpp"

namespace ablate::db {

std::map<std::string, std::string> Store::provenance(std::int64_t study_id) const {
  std::map<std::string, std::string> out;
  Stmt st(*impl_, "SELECT key, value FROM provenance WHERE study_id = ?");
  st.bind(1, study_id);
  while (st.step()) out[st.text(0)] = st.text(1);
  return out;
}

std::vector<RunRow> Store::runs(std::int64_t study_id) const {
  std::vector<RunRow> out;
  Stmt st(*impl_,
          "SELECT id, command, host, ranks, started, coalesce(ended, 0), coalesce(exit_code, -1) FROM runs "
          "WHERE study_id = ? ORDER BY started, id");
  st.bind(1, study_id);
  while (st.step()) {
    out.push_back({st.i64(0), st.text(1), st.text(2), static_cast<int>(st.i64(3)), st.f64(4), st.f64(5),
                   static_cast<int>(st.i64(6))});
  }
  return out;
}

// --- variants ------------------------------------------------------------------------------------------
std::vector<StoredVariant> Store::variants(std::int64_t study_id) const {
  std::vector<StoredVariant> out;
  Stmt st(*impl_, "SELECT id, name, label, hash, canonical, ordinal FROM variants WHERE study_id = ? ORDER BY ordinal, id");
  st.bind(1, study_id);
  while (st.step()) out.push_back({st.i64(0), st.text(1), st.text(2), st.text(3), st.text(4), st.i32(5)});
  return out;
}

// --- folds -------------------------------------------------------------------------------------------------
std::vector<FoldCases> Store::folds(std::int64_t study_id) const {
  std::vector<FoldCases> out;
  std::vector<std::int64_t> ids;
  {
    Stmt st(*impl_, "SELECT id, fold, \"repeat\" FROM folds WHERE study_id = ? ORDER BY \"repeat\", fold");
    st.bind(1, study_id);
    while (st.step()) {
      ids.push_back(st.i64(0));
      FoldCases f;
      f.fold = st.i32(1);
      f.repeat = st.i32(2);
      out.push_back(f);
    }
  }
  Stmt cs(*impl_, "SELECT split, case_id FROM fold_cases WHERE fold_id = ? ORDER BY split, position");
  for (size_t i = 0; i < ids.size(); ++i) {
    cs.bind(1, ids[i]);
    while (cs.step()) {
      std::string split = cs.text(0);
      auto& dst = split == "train" ? out[i].train : split == "val" ? out[i].val : out[i].test;
      dst.push_back(cs.text(1));
    }
    cs.reset();
  }
  return out;
}

std::string Store::data_fingerprint(std::int64_t study_id) const {
  if (schema_version() < 5) return "";
  Stmt st(*impl_, "SELECT data_fingerprint FROM folds WHERE study_id = ? ORDER BY id LIMIT 1");
  st.bind(1, study_id);
  return st.step() ? st.text(0) : "";
}

std::vector<TaskRow> Store::tasks(std::int64_t study_id) const {
  std::vector<TaskRow> out;
  Stmt st(*impl_,
          "SELECT t.id, v.name, f.fold, f.\"repeat\", t.status, t.attempts, t.host, t.rank, t.device, t.threads, t.started, "
          "t.ended, t.seconds, t.error, (SELECT count(*) FROM epochs e WHERE e.task_id = t.id), " +
              std::string(schema_version() >= 2 ? "t.rung, " : "0, ") +  // a store opened read-only is not migrated
              std::string(schema_version() >= 4 ? "coalesce(t.trained_by, 0), " : "0, ") +
              std::string(schema_version() >= 5 ? "coalesce(t.reused_from, ''), " : "'', ") +
          "t.best_epoch FROM tasks t JOIN variants v ON v.id = t.variant_id JOIN folds f ON f.id = t.fold_id "
          "WHERE t.study_id = ? ORDER BY v.ordinal, f.\"repeat\", f.fold");
  st.bind(1, study_id);
  while (st.step()) {
    TaskRow r;
    r.id = st.i64(0);
    r.variant = st.text(1);
    r.fold = st.i32(2);
    r.repeat = st.i32(3);
    r.status = st.text(4);
    r.attempts = st.i32(5);
    r.host = st.text(6);
    r.rank = st.i32(7);
    r.device = st.text(8);
    r.threads = st.i32(9);
    r.started = st.f64(10);
    r.ended = st.f64(11);
    r.seconds = st.f64(12);
    r.error = st.text(13);
    r.epochs_stored = st.i32(14);
    r.rung = st.i32(15);
    r.trained_by = st.i64(16);
    r.reused_from = st.text(17);
    r.best_epoch = st.i32(18);
    out.push_back(r);
  }
  return out;
}

std::string ReuseSource::describe() const { return store + ": " + study + " task " + std::to_string(task_id); }

std::optional<ReuseSource> Store::find_reusable(const std::string& key, std::int64_t except_task) const {
  if (key.empty() || schema_version() < 5) return std::nullopt;
  ReuseSource src;
  {
    Stmt st(*impl_,
            "SELECT t.id, s.name, t.host, t.rank, t.device, t.threads, t.started, t.ended, t.seconds, t.best_epoch "
            "FROM tasks t JOIN studies s ON s.id = t.study_id "
            "WHERE t.reuse_key = ? AND t.status = 'done' AND t.id <> ? ORDER BY t.id LIMIT 1");
    st.bind(1, key).bind(2, except_task);
    if (!st.step()) return std::nullopt;
    src.store = path_;
    src.task_id = st.i64(0);
    src.study = st.text(1);
    src.host = st.text(2);
    src.rank = st.i32(3);
    src.device = st.text(4);
    src.threads = st.i32(5);
    src.started = st.f64(6);
    src.ended = st.f64(7);
    src.seconds = st.f64(8);
    src.result.best_epoch = st.i32(9);
  }
  TaskResult& r = src.result;
  {
    Stmt st(*impl_, "SELECT epoch, train_loss, val_loss, val_dice, lr, seconds, val_score, " +
                        std::string(schema_version() >= 7 ? "val_soft_dice" : "NULL") +
                        " FROM epochs WHERE task_id = ? ORDER BY epoch");
    st.bind(1, src.task_id);
    while (st.step()) r.epochs.push_back({st.i32(0), st.f64(1), st.f64(2), st.f64(3), st.f64(4), st.f64(5), st.f64(6), st.f64(7)});
  }
  {
    Stmt st(*impl_, "SELECT class, metric, value FROM task_metrics WHERE task_id = ? ORDER BY class, metric");
    st.bind(1, src.task_id);
    while (st.step()) r.fold_metrics.push_back({st.text(1), st.i32(0), st.f64(2)});
  }
  {
    Stmt st(*impl_, "SELECT case_id, class, metric, value FROM task_case_metrics WHERE task_id = ? ORDER BY case_id, class, metric");
    st.bind(1, src.task_id);
    while (st.step()) r.case_metrics.push_back({st.text(0), st.i32(1), st.text(2), st.f64(3)});
  }
  {
    Stmt st(*impl_, "SELECT parameters, inference_ms_per_case, train_seconds FROM model_facts WHERE task_id = ?");
    st.bind(1, src.task_id);
    if (st.step()) {
      r.parameters = st.i64(0);
      r.inference_ms_per_case = st.f64(1);
      r.train_seconds = st.f64(2);
    }
  }
  return src;
}

std::vector<AttemptRow> Store::attempts(std::int64_t task_id) const {
  std::vector<AttemptRow> out;
  Stmt st(*impl_,
          "SELECT task_id, attempt, status, host, rank, device, started, ended, first_epoch, error FROM attempts "
          "WHERE task_id = ? ORDER BY attempt");
  st.bind(1, task_id);
  while (st.step()) {
    out.push_back({st.i64(0), st.i32(1), st.text(2), st.text(3), st.i32(4), st.text(5), st.f64(6), st.f64(7), st.i32(8), st.text(9)});
  }
  return out;
}

std::map<std::string, double> Store::measured_seconds(std::int64_t study_id) const {
  std::map<std::string, double> out;
  Stmt st(*impl_,
          // A task resumed from a checkpoint has a short last attempt (tasks.seconds): its training time
          // over every attempt (model_facts.train_seconds) is the better measure of its cost.
          "SELECT v.name, avg(max(t.seconds, coalesce(m.train_seconds, 0))) FROM tasks t "
          "JOIN variants v ON v.id = t.variant_id LEFT JOIN model_facts m ON m.task_id = t.id "
          "WHERE t.study_id = ? AND t.status = 'done' AND t.seconds > 0 GROUP BY v.name");
  st.bind(1, study_id);
  while (st.step()) out[st.text(0)] = st.f64(1);
  return out;
}

std::vector<ModelFactRow> Store::model_facts(std::int64_t study_id) const {
  std::vector<ModelFactRow> out;
  Stmt st(*impl_,
          "SELECT v.name, max(m.parameters), avg(m.inference_ms_per_case), avg(m.train_seconds) FROM model_facts m "
          "JOIN tasks t ON t.id = m.task_id JOIN variants v ON v.id = t.variant_id WHERE t.study_id = ? AND t.status = 'done' "
          "GROUP BY v.id ORDER BY v.ordinal");
  st.bind(1, study_id);
  while (st.step()) out.push_back({st.text(0), st.i64(1), st.f64(2), st.f64(3)});
  return out;
}

namespace {
// The classes of VariantDevices: "cpu", "gpu" (cuda:N), or "" for a device not recorded.
std::string device_class(const std::string& device) {
  if (device == "cpu") return "cpu";
  if (device.rfind("cuda", 0) == 0) return "gpu";
  return "";
}
}  // namespace

std::map<std::string, VariantDevices> Store::variant_devices(std::int64_t study_id) const {
  std::map<std::string, VariantDevices> out;
  // Every attempt of every done task, the latest first; a copied result (schema 5) stands for its source's
  // training alone, whatever attempts failed here before it was copied.
  Stmt st(*impl_,
          "SELECT v.name, t.id, t.device, " + std::string(schema_version() >= 5 ? "t.reused_from IS NOT NULL" : "0") +
              ", a.device, coalesce(a.first_epoch, 0) FROM tasks t JOIN variants v ON v.id = t.variant_id "
              "LEFT JOIN attempts a ON a.task_id = t.id WHERE t.study_id = ? AND t.status = 'done' "
              "ORDER BY t.id, a.attempt DESC");
  st.bind(1, study_id);
  bool more = st.step();
  while (more) {
    const std::string variant = st.text(0);
    const std::int64_t task = st.i64(1);
    const bool copied = st.i32(3) != 0;
    std::set<std::string> classes{device_class(st.text(2))};
    bool chain = !copied;  // still walking back through the attempts that trained this result
    for (; more && st.i64(1) == task; more = st.step()) {
      if (!chain || st.i32(5) < 1) continue;
      classes.insert(device_class(st.text(4)));
      chain = st.i32(5) > 1;  // a fresh start (epoch 1) ends the chain
    }
    VariantDevices& d = out[variant];
    d.cpu += classes.count("cpu") > 0;
    d.gpu += classes.count("gpu") > 0;
    d.unknown += classes.size() == 1 && classes.count("");
  }
  return out;
}

bool Store::has_early_stop_log(std::int64_t study_id) const {
  if (schema_version() < 2) return false;
  Stmt st(*impl_, "SELECT EXISTS(SELECT 1 FROM early_stop_log WHERE study_id = ?)");
  st.bind(1, study_id);
  return st.step() && st.i64(0) != 0;
}

std::string Store::data_version() const {
  Stmt st(*impl_, "PRAGMA data_version");
  return st.step() ? st.text(0) : std::string();
}

std::string Store::results_version(std::int64_t study_id) const {
  Stmt st(*impl_,
          "SELECT count(*) || '/' || total(status = 'done') || '/' || total(status = 'stopped') || '/' || "
          "total(status = 'failed') || '/' || total(ended) FROM tasks WHERE study_id = ?");
  st.bind(1, study_id);
  return st.step() ? st.text(0) : std::string();
}

std::vector<EarlyStopEvent> Store::early_stop_log(std::int64_t study_id) const {
  std::vector<EarlyStopEvent> out;
  if (schema_version() < 2) return out;  // a store of an earlier schema opened read-only: no log yet
  Stmt st(*impl_,
          "SELECT v.name, l.kind, l.rung, l.epoch, l.fold, l.\"repeat\", l.score FROM early_stop_log l "
          "JOIN variants v ON v.id = l.variant_id WHERE l.study_id = ? ORDER BY l.id");
  st.bind(1, study_id);
  while (st.step()) {
    EarlyStopEvent e;
    e.variant = st.text(0);
    e.kind = st.text(1);
    e.rung = st.i32(2);
    e.epoch = st.i32(3);
    e.fold = st.i32(4);
    e.repeat = st.i32(5);
    e.score = st.f64(6);
    out.push_back(e);
  }
  return out;
}

std::map<std::string, StoppedTrialRow> Store::stopped_trials(std::int64_t study_id) const {
  return stopped_trials(study_id, tasks(study_id));
}

std::map<std::string, StoppedTrialRow> Store::stopped_trials(std::int64_t study_id, const std::vector<TaskRow>& tasks) const {
  std::map<std::string, StoppedTrialRow> out;
  for (const auto& t : tasks) {
    if (t.status != "stopped") continue;
    StoppedTrialRow& s = out[t.variant];
    s.epoch = std::max(s.epoch, t.rung);
    ++s.tasks;
  }
  if (out.empty()) return out;
  // The log in its order: the last decision about each trial, and the arrivals at the epoch it stands at
  // (the score of a trial whose decision is not logged yet: folds still on their way, or a coordinator
  // killed between the last arrival and its decision).
  std::map<std::string, const EarlyStopEvent*> last_decision;
  std::map<std::string, std::pair<double, int>> arrivals;  // sum and count of the scores at s.epoch
  const auto log = early_stop_log(study_id);
  for (const auto& e : log) {
    auto it = out.find(e.variant);
    if (it == out.end()) continue;
    if (e.fold < 0) {
      last_decision[e.variant] = &e;
    } else if (e.kind == "reached" && e.epoch == it->second.epoch) {
      it->second.rung = e.rung;
      if (std::isfinite(e.score)) arrivals[e.variant].first += e.score, arrivals[e.variant].second++;
    }
  }
  for (auto& [variant, s] : out) {
    const auto d = last_decision.find(variant);
    if (d != last_decision.end() && d->second->epoch == s.epoch && d->second->kind != "fail") {
      s.decision = d->second->kind;
      s.rung = d->second->rung;
      s.value = d->second->score;
    } else if (const auto a = arrivals.find(variant); a != arrivals.end() && a->second.second > 0) {
      s.value = a->second.first / a->second.second;
    }
  }
  return out;
}

// --- readers (db/rows.hpp) -----------------------------------------------------------------------------------
StudyData load_study_data(const std::string& db_path, const std::string& study) {
  Store store(db_path, true);
  return load_study_data(store, study);
}

std::vector<TaskEpochRow> Store::task_epochs(std::int64_t study_id, std::int64_t task_id) const {
  std::vector<TaskEpochRow> out;
  // Two statements rather than "(? = 0 OR e.task_id = ?)": one task's rows come from the epochs primary key.
  Stmt st(*impl_, "SELECT e.task_id, e.epoch, e.train_loss, e.val_loss, e.val_dice, " +
                      std::string(schema_version() >= 2 ? "e.val_score" : "NULL") +
                      ", e.lr, e.seconds, " + std::string(schema_version() >= 7 ? "e.val_soft_dice" : "NULL") +
                      " FROM epochs e JOIN tasks t ON t.id = e.task_id WHERE t.study_id = ?" +
                      std::string(task_id ? " AND e.task_id = ?" : "") + " ORDER BY e.task_id, e.epoch");
  st.bind(1, study_id);
  if (task_id) st.bind(2, task_id);
  while (st.step()) out.push_back({st.i64(0), st.i32(1), st.f64(2), st.f64(3), st.f64(4), st.f64(5), st.f64(6), st.f64(7), st.f64(8)});
  return out;
}

std::vector<RungPopulation> rung_populations(const std::vector<EarlyStopEvent>& log) {
  std::map<int, RungPopulation> rungs;
  for (const auto& e : log) {
    RungPopulation& r = rungs[e.rung];
    r.rung = e.rung;
    r.epoch = e.epoch;
    const std::string& k = e.kind;
    r.reached += k == "continue" || k == "stop" || k == "pause" || k == "finish";
    r.promoted += k == "continue" || k == "promote";
    r.waiting += (k == "pause") - (k == "promote");
    r.stopped += k == "stop";
    r.failed += k == "fail";
    r.finished += k == "finish";
  }
  std::vector<RungPopulation> out;
  for (const auto& [k, r] : rungs) out.push_back(r);
  return out;
}

namespace {

// The columns of the three per-task tables as the reports read them, with the task's id first. Fold and
// case metrics are the fold_metrics and case_metrics views' rows (done tasks only), read from their tables
// so that each row names its task.
const char* const kTaskJoins =
    "JOIN tasks t ON t.id = x.task_id JOIN variants v ON v.id = t.variant_id JOIN folds f ON f.id = t.fold_id ";
const std::string kEpochRows = std::string(
    "SELECT x.task_id, v.name, f.fold, f.\"repeat\", x.epoch, x.train_loss, x.val_loss, x.val_dice, x.lr, x.seconds "
    "FROM epochs x ") + kTaskJoins;
const std::string kFoldRows =
    std::string("SELECT x.task_id, v.name, f.fold, f.\"repeat\", x.class, x.metric, x.value FROM task_metrics x ") + kTaskJoins;
const std::string kCaseRows =
    std::string("SELECT x.task_id, v.name, f.fold, f.\"repeat\", x.case_id, x.class, x.metric, x.value FROM task_case_metrics x ") +
    kTaskJoins;
const char* const kEpochOrder = "x.epoch";
const char* const kFoldOrder = "x.class, x.metric";
const char* const kCaseOrder = "x.case_id, x.class, x.metric";

void add_row(const Stmt& st, std::vector<EpochRow>& out) {
  out.push_back({st.text(1), st.i32(2), st.i32(3), st.i32(4), st.f64(5), st.f64(6), st.f64(7), st.f64(8), st.f64(9)});
}
void add_row(const Stmt& st, std::vector<FoldMetricRow>& out) {
  out.push_back({st.text(1), st.i32(2), st.i32(3), st.i32(4), st.text(5), st.f64(6)});
}
void add_row(const Stmt& st, std::vector<CaseMetricRow>& out) {
  out.push_back({st.text(1), st.i32(2), st.i32(3), st.text(4), st.i32(5), st.text(6), st.f64(7)});
}

// What a task's stored rows depend on: a new epoch changes the count, a rerun the attempts, the end of a
// task its status and end time (its metrics are written with it).
std::string task_state(const TaskRow& t) {
  return t.status + "/" + std::to_string(t.attempts) + "/" + std::to_string(t.epochs_stored) + "/" + std::to_string(t.ended);
}

// Reads the rows of `sql` (one of the three above) into each task's entry: of the whole study (one pass)
// or of the tasks in `only`, one indexed query each.
template <class Row>
void read_rows(const Store::Impl& s, const std::string& sql, const char* order, bool done_only, std::int64_t study_id,
               const std::vector<const TaskRow*>* only, std::map<std::int64_t, TaskRowsCache::Task>& into,
               std::vector<Row> TaskRowsCache::Task::*rows) {
  const std::string done = done_only ? " AND t.status = 'done'" : "";
  if (!only) {
    Stmt st(s, sql + "WHERE t.study_id = ?" + done + " ORDER BY x.task_id, " + order);
    st.bind(1, study_id);
    while (st.step()) add_row(st, into[st.i64(0)].*rows);
    return;
  }
  Stmt st(s, sql + "WHERE x.task_id = ?" + done + " ORDER BY " + order);
  for (const TaskRow* t : *only) {
    st.reset();
    st.bind(1, t->id);
    while (st.step()) add_row(st, into[t->id].*rows);
  }
}

template <class Row>
void concatenate(const std::vector<TaskRow>& tasks, TaskRowsCache& cache, std::vector<Row> TaskRowsCache::Task::*rows,
                 std::vector<Row>& out) {
  std::size_t n = 0;
  for (const auto& [id, entry] : cache.tasks) n += (entry.*rows).size();
  out.clear();
  out.reserve(n);
  for (const auto& t : tasks) {
    const auto& r = cache.tasks[t.id].*rows;
    out.insert(out.end(), r.begin(), r.end());
  }
}

// StudyData's epochs, fold and case metrics from the cache, reading again the tasks whose state changed.
// Store::tasks is in the order of the study-wide queries of read_study (ordinal, repeat, fold), and each
// task's rows are read in the rest of that order, so concatenating per task keeps it.
void load_task_rows(const Store::Impl& s, std::int64_t study_id, const std::vector<TaskRow>& tasks, TaskRowsCache& cache,
                    StudyData& d) {
  std::vector<const TaskRow*> changed;
  for (const auto& t : tasks) {
    const auto it = cache.tasks.find(t.id);
    if (it == cache.tasks.end() || it->second.state != task_state(t)) changed.push_back(&t);
  }
  std::map<std::int64_t, TaskRowsCache::Task> kept;
  const bool all = changed.size() * 4 > tasks.size();  // most of it: one pass per table beats a query per task
  if (!all) {
    for (const auto& t : tasks) {
      if (auto it = cache.tasks.find(t.id); it != cache.tasks.end()) kept[t.id] = std::move(it->second);
    }
    for (const TaskRow* t : changed) kept[t->id] = TaskRowsCache::Task{};
  }
  const std::vector<const TaskRow*>* only = all ? nullptr : &changed;
  read_rows(s, kEpochRows, kEpochOrder, false, study_id, only, kept, &TaskRowsCache::Task::epochs);
  read_rows(s, kFoldRows, kFoldOrder, true, study_id, only, kept, &TaskRowsCache::Task::fold_metrics);
  read_rows(s, kCaseRows, kCaseOrder, true, study_id, only, kept, &TaskRowsCache::Task::case_metrics);
  for (const auto& t : tasks) kept[t.id].state = task_state(t);
  cache.tasks = std::move(kept);  // only the study's tasks: those gone (a replaced variant) leave the cache
  concatenate(tasks, cache, &TaskRowsCache::Task::epochs, d.epochs);
  concatenate(tasks, cache, &TaskRowsCache::Task::fold_metrics, d.fold_metrics);
  concatenate(tasks, cache, &TaskRowsCache::Task::case_metrics, d.case_metrics);
}

StudyData read_study(const Store& store, const Store::Impl& s, const std::string& study, bool with_epochs, TaskRowsCache* cache);

}  // namespace

StudyData load_study_data(const Store& store, const std::string& study, bool with_epochs) {
  return read_study(store, store.impl(), study, with_epochs, nullptr);
}

StudyData load_study_data(const Store& store, const std::string& study, TaskRowsCache& cache) {
  return read_study(store, store.impl(), study, true, &cache);
}

namespace {
StudyData read_study(const Store& store, const Store::Impl& s, const std::string& study, bool with_epochs, TaskRowsCache* cache) {
  const std::string& db_path = store.path();
  auto id = store.find_study(study);
  if (!id) {
    std::string names;
    for (const auto& n : store.study_names()) names += (names.empty() ? "" : ", ") + n;
    throw StoreError(db_path + ": no study '" + study + "' (studies in this store: " + (names.empty() ? "none" : names) + ")");
  }
  StudyData d;
  d.study = study;
  d.provenance = store.provenance(*id);
  for (const auto& v : store.variants(*id)) d.variants.push_back({v.name, v.label, v.hash, v.canonical, v.ordinal});
  // The tasks once: the stopped trials, and each trial's task counts, failures and stopped epochs below.
  const std::vector<TaskRow> tasks = store.tasks(*id);
  d.stopped_trials = store.stopped_trials(*id, tasks);
  for (const auto& [variant, t] : d.stopped_trials) d.stopped[variant] = t.epoch;
  d.live = store.lock_held(*id);
  for (const auto& t : tasks) {
    if (t.status != "done" || t.reused_from.empty()) continue;
    d.reused.emplace_back(t.variant + " fold " + std::to_string(t.fold) + " repeat " + std::to_string(t.repeat), t.reused_from);
  }
  if (cache) {
    load_task_rows(s, *id, tasks, *cache, d);
  } else {
    {
      Stmt st(s,
              "SELECT m.variant, m.fold, m.\"repeat\", m.class, m.metric, m.value FROM fold_metrics m "
              "JOIN variants v ON v.name = m.variant AND v.study_id = ? WHERE m.study = ? "
              "ORDER BY v.ordinal, m.\"repeat\", m.fold, m.class, m.metric");
      st.bind(1, *id).bind(2, study);
      while (st.step()) d.fold_metrics.push_back({st.text(0), st.i32(1), st.i32(2), st.i32(3), st.text(4), st.f64(5)});
    }
    {
      Stmt st(s,
              "SELECT m.variant, m.fold, m.\"repeat\", m.case_id, m.class, m.metric, m.value FROM case_metrics m "
              "JOIN variants v ON v.name = m.variant AND v.study_id = ? WHERE m.study = ? "
              "ORDER BY v.ordinal, m.\"repeat\", m.fold, m.case_id, m.class, m.metric");
      st.bind(1, *id).bind(2, study);
      while (st.step()) d.case_metrics.push_back({st.text(0), st.i32(1), st.i32(2), st.text(3), st.i32(4), st.text(5), st.f64(6)});
    }
    if (with_epochs) {
      Stmt st(s,
              "SELECT v.name, f.fold, f.\"repeat\", e.epoch, e.train_loss, e.val_loss, e.val_dice, e.lr, e.seconds "
              "FROM epochs e JOIN tasks t ON t.id = e.task_id JOIN variants v ON v.id = t.variant_id JOIN folds f ON f.id = t.fold_id "
              "WHERE t.study_id = ? ORDER BY v.ordinal, f.\"repeat\", f.fold, e.epoch");
      st.bind(1, *id);
      while (st.step()) {
        d.epochs.push_back({st.text(0), st.i32(1), st.i32(2), st.i32(3), st.f64(4), st.f64(5), st.f64(6), st.f64(7), st.f64(8)});
      }
    }
  }
  d.model_facts = store.model_facts(*id);
  d.devices = store.variant_devices(*id);
  const auto trials = store.schema_version() >= 3 ? store.trials(*id) : std::vector<TrialRow>{};
  if (!trials.empty()) {  // the objective reads every epoch of the study: only for a search
    const auto pit = d.provenance.find("search_objective");
    const auto objective = store.validation_objective(*id, pit == d.provenance.end() ? "dice" : pit->second);
    // A stopped trial's epochs (those of its tasks standing at a rung) count in the training it cost.
    std::map<std::string, int> count, failed, stopped_epochs;
    for (const auto& t : tasks) {
      ++count[t.variant];
      failed[t.variant] += t.status == "failed";
      if (t.status == "stopped") stopped_epochs[t.variant] += t.epochs_stored;
    }
    for (const auto& t : trials) {
      SearchTrialRow r{t.declared, t.trial, t.variant, t.method, t.point, t.seen, t.proposed, std::nan(""), 0, 0, 0, 0};
      r.tasks = count[t.variant];
      if (auto it = objective.find(t.variant); it != objective.end()) {
        r.objective = it->second.value, r.done = it->second.done, r.epochs = it->second.epochs;
      }
      r.failed = failed[t.variant];
      r.epochs += stopped_epochs[t.variant];
      d.trials.push_back(r);
    }
  }
  return d;
}
}  // namespace

std::vector<std::string> list_studies(const std::string& db_path) {
  Store store(db_path, true);
  return store.study_names();
}

double worked_seconds(const std::vector<RunRow>& runs, const std::vector<TaskRow>& tasks, bool live,
                      double now) {
  double total = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const double from = runs[i].started;
    const double until = i + 1 < runs.size() ? runs[i + 1].started : HUGE_VAL;
    double to = runs[i].ended;
    if (to <= 0 && live && i + 1 == runs.size()) to = now;
    if (to <= 0) {
      to = from;
      for (const auto& t : tasks)
        for (double x : {t.started, t.ended})
          if (x >= from && x < until) to = std::max(to, x);
    }
    total += std::max(0.0, to - from);
  }
  return total;
}

double remaining_seconds(const std::vector<TaskRow>& tasks, int workers, double now) {
  std::map<std::string, std::pair<double, int>> timed;  // variant -> (seconds, done tasks)
  double all = 0;
  int done = 0;
  for (const auto& t : tasks) {
    if (t.status != "done") continue;
    timed[t.variant].first += t.seconds;
    ++timed[t.variant].second;
    all += t.seconds;
    ++done;
  }
  double remaining = 0;
  for (const auto& t : tasks) {
    if (t.status == "done" || t.status == "stopped")
      continue;  // stopped at a rung: nothing left unless promoted
    const auto m = timed.find(t.variant);
    if (m == timed.end() && done == 0) return -1;
    const double mean = m != timed.end() ? m->second.first / m->second.second : all / done;
    remaining += t.status == "running" && t.started > 0 ? std::max(0.0, mean - (now - t.started)) : mean;
  }
  return remaining / std::max(1, workers);
}

}  // namespace ablate::db
