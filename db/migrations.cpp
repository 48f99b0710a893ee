// The store's schema as a list of migrations (db/SCHEMA.md): migration i brings a store from version i-1
// to i. Store's constructor applies the missing ones in order, each in one transaction.
#include "db/sqlite.hpp"

namespace ablate::db {

namespace {

// Migration i (1-based) brings a store from version i-1 to i. Never edit a released entry: append.
const char* const kMigrations[] = {
    // 1: the initial schema.
    R"SQL(
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE studies (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  seed INTEGER NOT NULL,
  folds INTEGER NOT NULL,
  repeats INTEGER NOT NULL,
  created REAL NOT NULL
);
CREATE TABLE provenance (
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (study_id, key)
);
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  command TEXT NOT NULL,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  ranks INTEGER NOT NULL,
  started REAL NOT NULL,
  ended REAL,
  exit_code INTEGER
);
CREATE TABLE coordinator_lock (
  study_id INTEGER PRIMARY KEY REFERENCES studies(id) ON DELETE CASCADE,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  acquired REAL NOT NULL,
  heartbeat REAL NOT NULL
);
CREATE TABLE variants (
  id INTEGER PRIMARY KEY,
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  label TEXT NOT NULL,
  ordinal INTEGER NOT NULL,
  hash TEXT NOT NULL,
  canonical TEXT NOT NULL,
  components TEXT NOT NULL DEFAULT '',
  UNIQUE (study_id, name)
);
CREATE TABLE folds (
  id INTEGER PRIMARY KEY,
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  fold INTEGER NOT NULL,
  "repeat" INTEGER NOT NULL,
  UNIQUE (study_id, fold, "repeat")
);
CREATE TABLE fold_cases (
  fold_id INTEGER NOT NULL REFERENCES folds(id) ON DELETE CASCADE,
  split TEXT NOT NULL CHECK (split IN ('train', 'val', 'test')),
  position INTEGER NOT NULL,
  case_id TEXT NOT NULL,
  PRIMARY KEY (fold_id, split, case_id)
);
CREATE TABLE tasks (
  id INTEGER PRIMARY KEY,
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  variant_id INTEGER NOT NULL REFERENCES variants(id) ON DELETE CASCADE,
  fold_id INTEGER NOT NULL REFERENCES folds(id) ON DELETE CASCADE,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'running', 'done', 'failed', 'interrupted')),
  attempts INTEGER NOT NULL DEFAULT 0,
  host TEXT NOT NULL DEFAULT '',
  rank INTEGER NOT NULL DEFAULT 0,
  device TEXT NOT NULL DEFAULT '',
  threads INTEGER NOT NULL DEFAULT 0,
  started REAL NOT NULL DEFAULT 0,
  ended REAL NOT NULL DEFAULT 0,
  seconds REAL NOT NULL DEFAULT 0,
  best_epoch INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  UNIQUE (variant_id, fold_id)
);
CREATE INDEX tasks_by_study ON tasks(study_id, status);
CREATE TABLE attempts (
  task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
  host TEXT NOT NULL,
  rank INTEGER NOT NULL,
  local_rank INTEGER NOT NULL,
  device TEXT NOT NULL,
  threads INTEGER NOT NULL,
  started REAL NOT NULL,
  ended REAL NOT NULL DEFAULT 0,
  first_epoch INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (task_id, attempt)
);
CREATE TABLE epochs (
  task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  epoch INTEGER NOT NULL,
  train_loss REAL, val_loss REAL, val_dice REAL, lr REAL, seconds REAL,
  PRIMARY KEY (task_id, epoch)
);
CREATE TABLE task_metrics (
  task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  class INTEGER NOT NULL,
  metric TEXT NOT NULL,
  value REAL,
  PRIMARY KEY (task_id, class, metric)
);
CREATE TABLE task_case_metrics (
  task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  case_id TEXT NOT NULL,
  class INTEGER NOT NULL,
  metric TEXT NOT NULL,
  value REAL,
  PRIMARY KEY (task_id, case_id, class, metric)
);
CREATE TABLE model_facts (
  task_id INTEGER PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
  parameters INTEGER NOT NULL,
  inference_ms_per_case REAL NOT NULL,
  train_seconds REAL NOT NULL
);
CREATE VIEW fold_metrics AS
  SELECT s.name AS study, v.name AS variant, f.fold AS fold, f."repeat" AS "repeat",
         m.class AS class, m.metric AS metric, m.value AS value
  FROM task_metrics m JOIN tasks t ON t.id = m.task_id JOIN variants v ON v.id = t.variant_id
       JOIN folds f ON f.id = t.fold_id JOIN studies s ON s.id = t.study_id
  WHERE t.status = 'done';
CREATE VIEW case_metrics AS
  SELECT s.name AS study, v.name AS variant, f.fold AS fold, f."repeat" AS "repeat", m.case_id AS case_id,
         m.class AS class, m.metric AS metric, m.value AS value
  FROM task_case_metrics m JOIN tasks t ON t.id = m.task_id JOIN variants v ON v.id = t.variant_id
       JOIN folds f ON f.id = t.fold_id JOIN studies s ON s.id = t.study_id
  WHERE t.status = 'done';
)SQL",
    // 2: early stopping (sweeps/early_stop.hpp): tasks gain the status 'stopped' and the rung (epoch) where
    // they paused, epochs the validation objective, and the decision log. SQLite cannot change a CHECK
    // constraint in place: the tasks table is rebuilt (SQLite's documented procedure, with foreign keys off
    // while migrating, see Store::Store) and the views over it are made again.
    R"SQL(
DROP VIEW fold_metrics;
DROP VIEW case_metrics;
CREATE TABLE tasks_v2 (
  id INTEGER PRIMARY KEY,
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  variant_id INTEGER NOT NULL REFERENCES variants(id) ON DELETE CASCADE,
  fold_id INTEGER NOT NULL REFERENCES folds(id) ON DELETE CASCADE,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'running', 'done', 'failed', 'interrupted', 'stopped')),
  attempts INTEGER NOT NULL DEFAULT 0,
  host TEXT NOT NULL DEFAULT '',
  rank INTEGER NOT NULL DEFAULT 0,
  device TEXT NOT NULL DEFAULT '',
  threads INTEGER NOT NULL DEFAULT 0,
  started REAL NOT NULL DEFAULT 0,
  ended REAL NOT NULL DEFAULT 0,
  seconds REAL NOT NULL DEFAULT 0,
  best_epoch INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  rung INTEGER NOT NULL DEFAULT 0,
  UNIQUE (variant_id, fold_id)
);
INSERT INTO tasks_v2(id, study_id, variant_id, fold_id, status, attempts, host, rank, device, threads, started, ended,
                     seconds, best_epoch, error)
  SELECT id, study_id, variant_id, fold_id, status, attempts, host, rank, device, threads, started, ended, seconds,
         best_epoch, error FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_v2 RENAME TO tasks;
CREATE INDEX tasks_by_study ON tasks(study_id, status);
ALTER TABLE epochs ADD COLUMN val_score REAL;
CREATE TABLE early_stop_log (
  id INTEGER PRIMARY KEY,
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  variant_id INTEGER NOT NULL REFERENCES variants(id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('reached', 'failed', 'continue', 'stop', 'pause', 'promote', 'finish', 'fail')),
  rung INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  fold INTEGER NOT NULL DEFAULT -1,
  "repeat" INTEGER NOT NULL DEFAULT -1,
  score REAL,
  created REAL NOT NULL
);
CREATE INDEX early_stop_log_by_study ON early_stop_log(study_id, id);
CREATE VIEW fold_metrics AS
  SELECT s.name AS study, v.name AS variant, f.fold AS fold, f."repeat" AS "repeat",
         m.class AS class, m.metric AS metric, m.value AS value
  FROM task_metrics m JOIN tasks t ON t.id = m.task_id JOIN variants v ON v.id = t.variant_id
       JOIN folds f ON f.id = t.fold_id JOIN studies s ON s.id = t.study_id
  WHERE t.status = 'done';
CREATE VIEW case_metrics AS
  SELECT s.name AS study, v.name AS variant, f.fold AS fold, f."repeat" AS "repeat", m.case_id AS case_id,
         m.class AS class, m.metric AS metric, m.value AS value
  FROM task_case_metrics m JOIN tasks t ON t.id = m.task_id JOIN variants v ON v.id = t.variant_id
       JOIN folds f ON f.id = t.fold_id JOIN studies s ON s.id = t.study_id
  WHERE t.status = 'done';
)SQL",
    // 3: the proposals of a search (docs/STUDY.md "Searches"), stored before their tasks run.
    R"SQL(
CREATE TABLE trials (
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  declared TEXT NOT NULL,
  trial INTEGER NOT NULL,
  variant TEXT NOT NULL,
  method TEXT NOT NULL,
  point TEXT NOT NULL,
  seen TEXT NOT NULL,
  proposed REAL NOT NULL,
  PRIMARY KEY (study_id, declared, trial)
);
)SQL",
    // 4: which task trained a shared training (docs/RUNNER.md "Shared trainings"). Not a foreign key: a
    // trainer's row goes when its variant is replaced, and its members' results (and the relation, which
    // counts that training once) stay.
    R"SQL(
ALTER TABLE tasks ADD COLUMN trained_by INTEGER;
CREATE INDEX tasks_by_trainer ON tasks(trained_by);
)SQL",
    // 5: never train the same thing twice (docs/RUNNER.md "Reusing finished trainings"): the dataset
    // fingerprint the folds were made from; per task the key its results stand for (NULL: unknown, from an
    // older ablate or unknown data: never reused) and, for a task whose results were copied from another
    // finished task, that source ("<store>: <study> task <id>"; NULL for a task trained here).
    R"SQL(
ALTER TABLE folds ADD COLUMN data_fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN reuse_key TEXT;
ALTER TABLE tasks ADD COLUMN reused_from TEXT;
CREATE INDEX tasks_by_reuse_key ON tasks(reuse_key);
)SQL",
    // 6: the Slurm job (and its restart count) of the lock's holder, so that a requeued run of the same
    // job takes over its earlier run's lock at once, on whichever node it starts (db/lock.hpp).
    R"SQL(
ALTER TABLE coordinator_lock ADD COLUMN job TEXT NOT NULL DEFAULT '';
ALTER TABLE coordinator_lock ADD COLUMN restart INTEGER NOT NULL DEFAULT 0;
)SQL",
    // 7: the validation soft Dice per epoch (ablations/task.hpp EpochRecord::val_soft_dice), the
    // early-stopping tie-break that does not depend on the loss's settings (docs/STUDY.md "Early stopping").
    // NULL in the epochs of older stores: not recorded.
    R"SQL(
ALTER TABLE epochs ADD COLUMN val_soft_dice REAL;
)SQL",
};
constexpr int kMigrationCount = sizeof(kMigrations) / sizeof(kMigrations[0]);
static_assert(kMigrationCount == kSchemaVersion, "one migration per schema version");

}  // namespace

const char* migration_sql(int version) {
  if (version < 1 || version > kMigrationCount) throw StoreError("no migration to schema version " + std::to_string(version));
  return kMigrations[version - 1];
}

}  // namespace ablate::db
