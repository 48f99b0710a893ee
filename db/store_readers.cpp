// The store's readers: the rows of db/store.hpp for the coordinator's resume and `ablate status`, and
// load_study_data (db/rows.hpp) for the reports. Safe on a read-only connection.
#include <algorithm>
#include <cmath>
#include <map>
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

std::vector<TaskRow> Store::tasks(std::int64_t study_id) const {
  std::vector<TaskRow> out;
  Stmt st(*impl_,
          "SELECT t.id, v.name, f.fold, f.\"repeat\", t.status, t.attempts, t.host, t.rank, t.device, t.threads, t.started, "
          "t.ended, t.seconds, t.error, (SELECT count(*) FROM epochs e WHERE e.task_id = t.id), " +
              std::string(schema_version() >= 2 ? "t.rung, " : "0, ") +  // a store opened read-only is not migrated
              std::string(schema_version() >= 4 ? "coalesce(t.trained_by, 0), " : "0, ") +
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
    r.best_epoch = st.i32(17);
    out.push_back(r);
  }
  return out;
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
  std::map<std::string, StoppedTrialRow> out;
  for (const auto& t : tasks(study_id)) {
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
                      ", e.lr, e.seconds FROM epochs e JOIN tasks t ON t.id = e.task_id WHERE t.study_id = ?" +
                      std::string(task_id ? " AND e.task_id = ?" : "") + " ORDER BY e.task_id, e.epoch");
  st.bind(1, study_id);
  if (task_id) st.bind(2, task_id);
  while (st.step()) out.push_back({st.i64(0), st.i32(1), st.f64(2), st.f64(3), st.f64(4), st.f64(5), st.f64(6), st.f64(7)});
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

StudyData load_study_data(const Store& store, const std::string& study, bool with_epochs) {
  const std::string& db_path = store.path();
  auto id = store.find_study(study);
  if (!id) {
    std::string names;
    for (const auto& n : store.study_names()) names += (names.empty() ? "" : ", ") + n;
    throw StoreError(db_path + ": no study '" + study + "' (studies in this store: " + (names.empty() ? "none" : names) + ")");
  }
  const Store::Impl& s = store.impl();
  StudyData d;
  d.study = study;
  d.provenance = store.provenance(*id);
  for (const auto& v : store.variants(*id)) d.variants.push_back({v.name, v.label, v.hash, v.canonical, v.ordinal});
  d.stopped_trials = store.stopped_trials(*id);
  for (const auto& [variant, t] : d.stopped_trials) d.stopped[variant] = t.epoch;
  d.live = store.lock_held(*id);
  const std::vector<TaskRow> tasks = store.tasks(*id);
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
  d.model_facts = store.model_facts(*id);
  if (store.schema_version() >= 3) {
    const auto pit = d.provenance.find("search_objective");
    const auto objective = store.validation_objective(*id, pit == d.provenance.end() ? "dice" : pit->second);
    // A stopped trial's epochs (those of its tasks standing at a rung) count in the training it cost.
    std::map<std::string, int> failed, stopped_epochs;
    for (const auto& t : tasks) {
      failed[t.variant] += t.status == "failed";
      if (t.status == "stopped") stopped_epochs[t.variant] += t.epochs_stored;
    }
    for (const auto& t : store.trials(*id)) {
      SearchTrialRow r{t.declared, t.trial, t.variant, t.method, t.point, t.seen, t.proposed, std::nan(""), 0, 0, 0, 0};
      Stmt n(s, "SELECT count(*) FROM tasks t JOIN variants v ON v.id = t.variant_id WHERE v.study_id = ? AND v.name = ?");
      n.bind(1, *id).bind(2, t.variant);
      if (n.step()) r.tasks = n.i32(0);
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

std::vector<std::string> list_studies(const std::string& db_path) {
  Store store(db_path, true);
  return store.study_names();
}

}  // namespace ablate::db
