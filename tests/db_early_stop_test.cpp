// The store's early-stopping parts (schema 2): a task stopped at a rung with exactly its epochs and no
// result, the log in order with its scores, and the migration of a version-1 store that rebuilds `tasks`
// without losing a row of the tables that refer to it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "db/store.hpp"
#include "store_fixture.hpp"

namespace fs = std::filesystem;
using namespace ablate;
using namespace ablate::db;

namespace {

class EarlyStopStore : public store_test::StoreFixture {
 protected:
  // fill(): a study with two variants (a and b) and two folds, tasks created.
  EarlyStopStore()
      : StoreFixture("ablate-db-es", {{{"a", "A", "h1", "x = 1\n", 0}, ""}, {{"b", "B", "h2", "x = 2\n", 1}, ""}}) {}
  static TaskResult result(int epochs, bool paused) {
    TaskResult r;
    for (int e = 1; e <= epochs; ++e) r.epochs.push_back({e, 1.0 / e, 0.5 / e, 0.1 * e, 1e-3, 0.5, 0.1 * e});
    r.best_epoch = epochs;
    if (paused) {
      r.paused_after_epoch = epochs;
    } else {
      r.fold_metrics = {{"dice", 1, 0.8}};
      r.case_metrics = {{"d", 1, "dice", 0.8}};
    }
    return r;
  }
  static EarlyStopEvent reached(const std::string& variant, int fold, int rung, int epoch, double score) {
    EarlyStopEvent e;
    e.variant = variant;
    e.kind = "reached";
    e.rung = rung;
    e.epoch = epoch;
    e.fold = fold;
    e.repeat = 0;
    e.score = score;
    return e;
  }
};

}  // namespace

TEST_F(EarlyStopStore, StoppedTaskKeepsItsRungsEpochsAndIsNoResult) {
  Store s(path_);
  const auto id = fill(s);
  const auto tasks = s.tasks(id);
  ASSERT_EQ(tasks.size(), 4u);
  Placement p;
  p.host = "h";
  s.mark_running(tasks[0].id, p, 1.0);
  s.record_paused(tasks[0].id, result(3, true), 2.0, id, reached("a", 0, 1, 3, 0.3));
  auto t = s.tasks(id)[0];
  EXPECT_EQ(t.status, "stopped");
  EXPECT_EQ(t.rung, 3);
  EXPECT_EQ(t.epochs_stored, 3);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM fold_metrics"), 0);
  EXPECT_EQ(s.query_text("SELECT status FROM attempts WHERE task_id = " + std::to_string(tasks[0].id)), "done");
  EXPECT_DOUBLE_EQ(std::stod(s.query_text("SELECT val_score FROM epochs WHERE epoch = 2 AND task_id = " + std::to_string(tasks[0].id))), 0.2);

  // Resumed to the end: done, every epoch once, a result.
  s.mark_running(tasks[0].id, p, 3.0);
  EarlyStopEvent last = reached("a", 0, 2, 9, 0.9);
  s.record_done(tasks[0].id, result(9, false), 4.0, id, &last);
  t = s.tasks(id)[0];
  EXPECT_EQ(t.status, "done");
  EXPECT_EQ(t.epochs_stored, 9);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM fold_metrics"), 1);

  EarlyStopEvent decision;
  decision.variant = "b";
  decision.kind = "fail";
  decision.rung = 0;
  decision.epoch = 3;
  s.log_early_stop(id, decision);
  const auto log = s.early_stop_log(id);
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].kind, "reached");
  EXPECT_EQ(log[0].epoch, 3);
  EXPECT_DOUBLE_EQ(log[0].score, 0.3);
  EXPECT_EQ(log[1].rung, 2);
  EXPECT_EQ(log[2].variant, "b");
  EXPECT_EQ(log[2].fold, -1);
  EXPECT_TRUE(std::isnan(log[2].score));  // NULL
  decision.variant = "nosuch";
  EXPECT_THROW(s.log_early_stop(id, decision), StoreError);
  decision.variant = "a";
  decision.kind = "maybe";
  EXPECT_THROW(s.log_early_stop(id, decision), StoreError);  // CHECK (kind IN ...)
}

// A version-1 store (emulated: the schema-2 and -3 additions taken out again, SQLite's own way) with a finished
// task is opened by this build: migration 2 rebuilds `tasks`; no epoch, metric, attempt or fact is lost
// (a DROP TABLE with foreign keys on would have cascaded), the views work, 'stopped' is allowed.
TEST_F(EarlyStopStore, MigratesAVersionOneStoreWithoutLosingRows) {
  std::int64_t task = 0;
  {
    Store s(path_);
    const auto id = fill(s);
    task = s.tasks(id)[1].id;
    Placement p;
    p.host = "h";
    s.mark_running(task, p, 1.0);
    s.record_done(task, result(4, false), 2.0);
    const std::string fold_view = s.query_text("SELECT sql FROM sqlite_master WHERE name = 'fold_metrics'");
    const std::string case_view = s.query_text("SELECT sql FROM sqlite_master WHERE name = 'case_metrics'");
    const std::string v1_tasks =
        "CREATE TABLE tasks_v1 (id INTEGER PRIMARY KEY, study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE, "
        "variant_id INTEGER NOT NULL REFERENCES variants(id) ON DELETE CASCADE, fold_id INTEGER NOT NULL REFERENCES folds(id) "
        "ON DELETE CASCADE, status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed', "
        "'interrupted')), attempts INTEGER NOT NULL DEFAULT 0, host TEXT NOT NULL DEFAULT '', rank INTEGER NOT NULL DEFAULT 0, "
        "device TEXT NOT NULL DEFAULT '', threads INTEGER NOT NULL DEFAULT 0, started REAL NOT NULL DEFAULT 0, ended REAL NOT "
        "NULL DEFAULT 0, seconds REAL NOT NULL DEFAULT 0, best_epoch INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '', "
        "UNIQUE (variant_id, fold_id))";
    s.exec("PRAGMA foreign_keys = OFF");
    s.exec("BEGIN; DROP TABLE trials; DROP VIEW fold_metrics; DROP VIEW case_metrics; DROP TABLE early_stop_log; " + v1_tasks +
           "; INSERT INTO tasks_v1 SELECT id, study_id, variant_id, fold_id, status, attempts, host, rank, device, threads, "
           "started, ended, seconds, best_epoch, error FROM tasks; DROP TABLE tasks; ALTER TABLE tasks_v1 RENAME TO tasks; "
           "CREATE INDEX tasks_by_study ON tasks(study_id, status); ALTER TABLE epochs DROP COLUMN val_score; ALTER TABLE epochs DROP COLUMN val_soft_dice; "
           "ALTER TABLE coordinator_lock DROP COLUMN job; ALTER TABLE coordinator_lock DROP COLUMN restart; "
           "ALTER TABLE folds DROP COLUMN data_fingerprint; " +
           fold_view + "; " + case_view + "; PRAGMA user_version = 1; UPDATE meta SET value = '1'; COMMIT");
    s.exec("PRAGMA foreign_keys = ON");
    ASSERT_EQ(s.schema_version(), 1);
    ASSERT_EQ(s.query_int("SELECT count(*) FROM epochs"), 4);
    // Read-only, a version-1 store reads as one without early stopping.
    Store ro(path_, true);
    EXPECT_EQ(ro.tasks(*ro.find_study("st"))[1].rung, 0);
    EXPECT_TRUE(ro.early_stop_log(*ro.find_study("st")).empty());
  }
  Store s(path_);
  EXPECT_EQ(s.schema_version(), kSchemaVersion);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks"), 4);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs WHERE task_id = " + std::to_string(task)), 4);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs WHERE val_score IS NULL"), 4);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM task_case_metrics"), 1);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM model_facts"), 1);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM attempts"), 1);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM fold_metrics"), 1);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM case_metrics"), 1);
  EXPECT_EQ(s.query_int("PRAGMA foreign_keys"), 1);
  s.exec("UPDATE tasks SET status = 'stopped', rung = 2 WHERE id = " + std::to_string(task));
  // The foreign keys of the rebuilt table still cascade.
  s.exec("DELETE FROM tasks WHERE id = " + std::to_string(task));
  EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs"), 0);
}
