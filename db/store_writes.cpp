// The store's writes, each one transaction (db/SCHEMA.md): provenance and runs, variants, folds, tasks,
// attempts, epochs, results and the early-stopping log. Only the coordinator calls them.
#include <unistd.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "db/sqlite.hpp"
#include "db/store.hpp"

namespace ablate::db {

// --- provenance and runs -----------------------------------------------------------------------------
void Store::set_provenance(std::int64_t study_id, const std::map<std::string, std::string>& values) {
  Transaction tx(*impl_);
  Stmt st(*impl_, "INSERT OR REPLACE INTO provenance(study_id, key, value) VALUES (?, ?, ?)");
  for (const auto& [k, v] : values) {
    st.bind(1, study_id).bind(2, k).bind(3, v);
    st.run();
  }
  tx.commit();
}

std::int64_t Store::begin_run(std::int64_t study_id, const std::string& command, int ranks) {
  Stmt st(*impl_, "INSERT INTO runs(study_id, command, host, pid, ranks, started) VALUES (?, ?, ?, ?, ?, ?)");
  st.bind(1, study_id).bind(2, command).bind(3, this_host()).bind(4, static_cast<std::int64_t>(::getpid())).bind(5, ranks).bind(6, now_seconds());
  st.run();
  return sqlite3_last_insert_rowid(impl_->db);
}

void Store::end_run(std::int64_t run_id, int exit_code) {
  Stmt st(*impl_, "UPDATE runs SET ended = ?, exit_code = ? WHERE id = ?");
  st.bind(1, now_seconds()).bind(2, exit_code).bind(3, run_id);
  st.run();
}

std::int64_t Store::upsert_variant(std::int64_t study_id, const VariantRow& v, const std::string& components) {
  {
    Stmt st(*impl_, "SELECT id, hash FROM variants WHERE study_id = ? AND name = ?");
    st.bind(1, study_id).bind(2, v.name);
    if (st.step()) {
      std::int64_t id = st.i64(0);
      if (st.text(1) != v.hash) {
        throw StoreError(path_ + ": variant '" + v.name + "' is stored with hash " + st.text(1) + ", not " + v.hash);
      }
      Stmt up(*impl_, "UPDATE variants SET label = ?, ordinal = ?, components = ? WHERE id = ?");
      up.bind(1, v.label).bind(2, v.ordinal).bind(3, components).bind(4, id);
      up.run();
      return id;
    }
  }
  Stmt st(*impl_, "INSERT INTO variants(study_id, name, label, ordinal, hash, canonical, components) VALUES (?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, study_id).bind(2, v.name).bind(3, v.label).bind(4, v.ordinal).bind(5, v.hash).bind(6, v.canonical).bind(7, components);
  st.run();
  return sqlite3_last_insert_rowid(impl_->db);
}

void Store::refresh_variant(std::int64_t study_id, const std::string& name, const std::string& hash,
                            const std::string& canonical) {
  Stmt up(*impl_, "UPDATE variants SET hash = ?, canonical = ? WHERE study_id = ? AND name = ?");
  up.bind(1, hash).bind(2, canonical).bind(3, study_id).bind(4, name);
  up.run();
}

void Store::replace_variant(std::int64_t study_id, const VariantRow& v, const std::string& components) {
  Transaction tx(*impl_);
  // Deleting the variant cascades to its tasks, attempts, epochs and metrics.
  Stmt del(*impl_, "DELETE FROM variants WHERE study_id = ? AND name = ?");
  del.bind(1, study_id).bind(2, v.name);
  del.run();
  upsert_variant(study_id, v, components);
  tx.commit();
}

void Store::store_folds(std::int64_t study_id, const std::vector<FoldCases>& folds, const std::string& data_fingerprint) {
  Transaction tx(*impl_);
  Stmt ins(*impl_, "INSERT INTO folds(study_id, fold, \"repeat\", data_fingerprint) VALUES (?, ?, ?, ?)");
  Stmt cs(*impl_, "INSERT INTO fold_cases(fold_id, split, position, case_id) VALUES (?, ?, ?, ?)");
  for (const auto& f : folds) {
    ins.bind(1, study_id).bind(2, f.fold).bind(3, f.repeat).bind(4, data_fingerprint);
    ins.run();
    std::int64_t id = sqlite3_last_insert_rowid(impl_->db);
    auto put = [&](const char* split, const std::vector<std::string>& ids) {
      for (size_t i = 0; i < ids.size(); ++i) {
        cs.bind(1, id).bind(2, std::string(split)).bind(3, static_cast<int>(i)).bind(4, ids[i]);
        cs.run();
      }
    };
    put("train", f.train);
    put("val", f.val);
    put("test", f.test);
  }
  tx.commit();
}

void Store::set_data_fingerprint(std::int64_t study_id, const std::string& fingerprint) {
  Transaction tx(*impl_);
  Stmt st(*impl_, "UPDATE folds SET data_fingerprint = ? WHERE study_id = ?");
  st.bind(1, fingerprint).bind(2, study_id);
  st.run();
  tx.commit();
}

// --- tasks -------------------------------------------------------------------------------------------------
void Store::ensure_tasks(std::int64_t study_id) {
  Stmt st(*impl_,
          "INSERT OR IGNORE INTO tasks(study_id, variant_id, fold_id) "
          "SELECT v.study_id, v.id, f.id FROM variants v JOIN folds f ON f.study_id = v.study_id WHERE v.study_id = ?");
  st.bind(1, study_id);
  st.run();
}

int Store::recover_running(std::int64_t study_id) {
  Transaction tx(*impl_);
  const double now = now_seconds();
  Stmt a(*impl_,
         "UPDATE attempts SET status = 'interrupted', ended = ?, error = 'the coordinator stopped without a result' "
         "WHERE status = 'running' AND task_id IN (SELECT id FROM tasks WHERE study_id = ?)");
  a.bind(1, now).bind(2, study_id);
  a.run();
  Stmt t(*impl_, "UPDATE tasks SET status = 'interrupted', ended = ? WHERE study_id = ? AND status = 'running'");
  t.bind(1, now).bind(2, study_id);
  t.run();
  int n = sqlite3_changes(impl_->db);
  tx.commit();
  return n;
}

void Store::mark_running(std::int64_t task_id, const Placement& where, double started) {
  Transaction tx(*impl_);
  Stmt t(*impl_,
         "UPDATE tasks SET status = 'running', attempts = attempts + 1, host = ?, rank = ?, device = ?, threads = ?, "
         "started = ?, ended = 0, error = '' WHERE id = ?");
  t.bind(1, where.host).bind(2, where.rank).bind(3, where.device).bind(4, where.threads).bind(5, started).bind(6, task_id);
  t.run();
  Stmt a(*impl_,
         "INSERT INTO attempts(task_id, attempt, status, host, rank, local_rank, device, threads, started) "
         "SELECT id, attempts, 'running', ?, ?, ?, ?, ?, ? FROM tasks WHERE id = ?");
  a.bind(1, where.host).bind(2, where.rank).bind(3, where.local_rank).bind(4, where.device).bind(5, where.threads).bind(6, started).bind(7, task_id);
  a.run();
  tx.commit();
}

namespace {

void put_epoch_row(const Store::Impl& s, std::int64_t task_id, const EpochRecord& e) {
  Stmt st(s,
          "INSERT OR REPLACE INTO epochs(task_id, epoch, train_loss, val_loss, val_dice, lr, seconds, val_score, "
          "val_soft_dice) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, task_id).bind(2, e.epoch).bind(3, e.train_loss).bind(4, e.val_loss).bind(5, e.val_dice).bind(6, e.lr).bind(7, e.seconds);
  st.bind(8, e.val_score).bind(9, e.val_soft_dice);
  st.run();
}

// A progress message: the epoch's row, and the first epoch an attempt reports tells whether it resumed
// from a checkpoint.
void put_epoch(const Store::Impl& s, std::int64_t task_id, const EpochRecord& e) {
  put_epoch_row(s, task_id, e);
  Stmt a(s,
         "UPDATE attempts SET first_epoch = ? WHERE task_id = ? AND first_epoch = 0 AND "
         "attempt = (SELECT attempts FROM tasks WHERE id = ?)");
  a.bind(1, e.epoch).bind(2, task_id).bind(3, task_id);
  a.run();
}

void end_attempt(const Store::Impl& s, std::int64_t task_id, const std::string& status, const std::string& error, double ended) {
  Stmt t(s,
         "UPDATE tasks SET status = ?, ended = ?, seconds = ? - started, error = ? WHERE id = ?");
  t.bind(1, status).bind(2, ended).bind(3, ended).bind(4, error).bind(5, task_id);
  t.run();
  Stmt a(s,
         "UPDATE attempts SET status = ?, ended = ?, error = ? WHERE task_id = ? AND attempt = (SELECT attempts FROM tasks WHERE id = ?)");
  a.bind(1, status).bind(2, ended).bind(3, error).bind(4, task_id).bind(5, task_id);
  a.run();
}

}  // namespace

void Store::record_epoch(std::int64_t task_id, const EpochRecord& e) {
  Transaction tx(*impl_);
  put_epoch(*impl_, task_id, e);
  tx.commit();
}

namespace {

// The result repeats every epoch of the task (the checkpoint's history): an epoch whose progress
// message died with a crashed job is stored here, and rows of an earlier attempt that restarted
// without its checkpoint (and stopped earlier) are dropped, so the curve is this result's alone.
void replace_epochs(const Store::Impl& s, std::int64_t task_id, const std::vector<EpochRecord>& epochs) {
  if (!epochs.empty()) {
    Stmt del(s, "DELETE FROM epochs WHERE task_id = ?");
    del.bind(1, task_id);
    del.run();
  }
  for (const auto& e : epochs) put_epoch_row(s, task_id, e);
}

void put_early_stop(const Store::Impl& s, std::int64_t study_id, const EarlyStopEvent& e) {
  Stmt st(s,
          "INSERT INTO early_stop_log(study_id, variant_id, kind, rung, epoch, fold, \"repeat\", score, created) "
          "SELECT ?, id, ?, ?, ?, ?, ?, ?, ? FROM variants WHERE study_id = ? AND name = ?");
  st.bind(1, study_id).bind(2, e.kind).bind(3, e.rung).bind(4, e.epoch).bind(5, e.fold).bind(6, e.repeat).bind(7, e.score);
  st.bind(8, now_seconds()).bind(9, study_id).bind(10, e.variant);
  st.run();
  if (sqlite3_changes(s.db) != 1) s.fail("early stopping: no variant `" + e.variant + "` to log a decision for");
}

}  // namespace

void Store::record_paused(std::int64_t task_id, const TaskResult& r, double ended, std::int64_t study_id,
                          const EarlyStopEvent& report) {
  Transaction tx(*impl_);
  replace_epochs(*impl_, task_id, r.epochs);
  Stmt t(*impl_,
         "UPDATE tasks SET status = 'stopped', rung = ?, best_epoch = ?, ended = ?, seconds = ? - started, error = '' "
         "WHERE id = ?");
  t.bind(1, r.paused_after_epoch).bind(2, r.best_epoch).bind(3, ended).bind(4, ended).bind(5, task_id);
  t.run();
  Stmt a(*impl_, "UPDATE attempts SET status = 'done', ended = ? WHERE task_id = ? AND attempt = (SELECT attempts FROM tasks WHERE id = ?)");
  a.bind(1, ended).bind(2, task_id).bind(3, task_id);
  a.run();
  put_early_stop(*impl_, study_id, report);
  tx.commit();
}

void Store::log_early_stop(std::int64_t study_id, const EarlyStopEvent& e) {
  Transaction tx(*impl_);
  put_early_stop(*impl_, study_id, e);
  tx.commit();
}

namespace {

// The rows of a finished task (inside the caller's transaction); `trained_by` the task whose training it
// was evaluated from (tasks.trained_by), 0 for a training of its own (NULL).
void put_done(const Store::Impl& impl, std::int64_t task_id, const TaskResult& r, double ended, std::int64_t trained_by);

}  // namespace

void Store::record_done(std::int64_t task_id, const TaskResult& r, double ended, std::int64_t study_id,
                        const EarlyStopEvent* report) {
  Transaction tx(*impl_);
  if (report) put_early_stop(*impl_, study_id, *report);
  put_done(*impl_, task_id, r, ended, 0);
  tx.commit();
}

void Store::record_done(std::int64_t trainer_id, const std::vector<std::pair<std::int64_t, TaskResult>>& results,
                        double ended) {
  Transaction tx(*impl_);
  for (const auto& [task_id, r] : results) put_done(*impl_, task_id, r, ended, trainer_id);
  tx.commit();
}

namespace {

void put_done(const Store::Impl& impl, std::int64_t task_id, const TaskResult& r, double ended, std::int64_t trained_by) {
  replace_epochs(impl, task_id, r.epochs);
  for (const char* table : {"task_metrics", "task_case_metrics", "model_facts"}) {
    Stmt del(impl, std::string("DELETE FROM ") + table + " WHERE task_id = ?");
    del.bind(1, task_id);
    del.run();
  }
  Stmt fm(impl, "INSERT INTO task_metrics(task_id, class, metric, value) VALUES (?, ?, ?, ?)");
  for (const auto& m : r.fold_metrics) {
    fm.bind(1, task_id).bind(2, m.cls).bind(3, m.metric).bind(4, m.value);
    fm.run();
  }
  Stmt cm(impl, "INSERT INTO task_case_metrics(task_id, case_id, class, metric, value) VALUES (?, ?, ?, ?, ?)");
  for (const auto& m : r.case_metrics) {
    cm.bind(1, task_id).bind(2, m.case_id).bind(3, m.cls).bind(4, m.metric).bind(5, m.value);
    cm.run();
  }
  Stmt mf(impl, "INSERT INTO model_facts(task_id, parameters, inference_ms_per_case, train_seconds) VALUES (?, ?, ?, ?)");
  mf.bind(1, task_id).bind(2, r.parameters).bind(3, r.inference_ms_per_case).bind(4, r.train_seconds);
  mf.run();
  Stmt be(impl, "UPDATE tasks SET best_epoch = ?, trained_by = nullif(?, 0) WHERE id = ?");
  be.bind(1, r.best_epoch).bind(2, trained_by).bind(3, task_id);
  be.run();
  end_attempt(impl, task_id, "done", "", ended);
}

}  // namespace

void Store::set_reuse_keys(const std::map<std::int64_t, std::string>& keys) {
  Transaction tx(*impl_);
  Stmt st(*impl_, "UPDATE tasks SET reuse_key = nullif(?, '') WHERE id = ?");
  for (const auto& [id, key] : keys) {
    st.bind(1, key).bind(2, id);
    st.run();
  }
  tx.commit();
}

void Store::record_reused(const std::vector<std::pair<std::int64_t, ReuseSource>>& reused) {
  Transaction tx(*impl_);
  for (const auto& [task_id, src] : reused) {
    // put_done writes what a finished task stores; no attempt ran here, so end_attempt's attempt update
    // finds no row, and the task row then takes the source's placement and times.
    put_done(*impl_, task_id, src.result, src.ended, 0);
    Stmt t(*impl_,
           "UPDATE tasks SET status = 'done', host = ?, rank = ?, device = ?, threads = ?, started = ?, ended = ?, "
           "seconds = ?, error = '', reused_from = ? WHERE id = ?");
    t.bind(1, src.host).bind(2, src.rank).bind(3, src.device).bind(4, src.threads).bind(5, src.started).bind(6, src.ended);
    t.bind(7, src.seconds).bind(8, src.describe()).bind(9, task_id);
    t.run();
  }
  tx.commit();
}

void Store::record_failed(std::int64_t task_id, const std::string& error, double ended) {
  Transaction tx(*impl_);
  end_attempt(*impl_, task_id, "failed", error, ended);
  tx.commit();
}

void Store::record_interrupted(std::int64_t task_id, const std::string& message, double ended) {
  Transaction tx(*impl_);
  end_attempt(*impl_, task_id, "interrupted", message, ended);
  tx.commit();
}

}  // namespace ablate::db
