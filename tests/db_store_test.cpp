// The store on real SQLite files: schema and version, the stable views, one transaction per result,
// no duplicate rows, migrations/refusals, the coordinator lock, resume queries and the readers.
#include <gtest/gtest.h>

#include <cmath>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "db/store.hpp"
#include "store_fixture.hpp"

namespace fs = std::filesystem;
using namespace ablate;
using namespace ablate::db;

namespace {

class StoreTest : public store_test::StoreFixture {
 protected:
  // fill(): a study with two variants (U-Net and U-Net+CC) and two folds, tasks created.
  StoreTest()
      : StoreFixture("ablate-db-test", {{{"unet", "U-Net", "h1", "model.cc = false\n", 0}, ""},
                                        {{"cc", "U-Net+CC", "h2", "model.cc = true\n", 1}, "cc"}}) {}
  TaskResult result(double dice) {
    TaskResult r;
    r.epochs = {{1, 0.9, 0.8, 0.1, 1e-3, 0.5}, {2, 0.7, 0.6, 0.3, 5e-4, 0.5}};
    r.best_epoch = 2;
    r.fold_metrics = {{"dice", 1, dice}, {"precision", 1, 0.5}};
    r.case_metrics = {{"d", 1, "dice", dice}};
    r.parameters = 1234;
    r.inference_ms_per_case = 2.5;
    return r;
  }
  Placement where() {
    Placement p;
    p.host = "h";
    p.rank = 1;
    return p;
  }
};

TEST_F(StoreTest, CreatesSchemaVersionWalAndForeignKeys) {
  Store s(path_);
  EXPECT_EQ(s.schema_version(), kSchemaVersion);
  EXPECT_EQ(s.query_text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(s.query_int("PRAGMA foreign_keys"), 1);
  EXPECT_EQ(s.query_text("SELECT value FROM meta WHERE key = 'schema_version'"), std::to_string(kSchemaVersion));
  for (const char* view : {"fold_metrics", "case_metrics"}) {
    EXPECT_EQ(s.query_int(std::string("SELECT count(*) FROM sqlite_master WHERE type = 'view' AND name = '") + view + "'"), 1);
  }
  // A task pointing at a missing variant is refused by the foreign keys.
  EXPECT_THROW(s.exec("INSERT INTO tasks(study_id, variant_id, fold_id) VALUES (99, 99, 99)"), StoreError);
}

TEST_F(StoreTest, ViewsHaveTheStableColumns) {
  Store s(path_);
  auto id = fill(s);
  auto tasks = s.tasks(id);
  ASSERT_EQ(tasks.size(), 4u);
  s.mark_running(tasks[0].id, where(), now_seconds());
  s.record_done(tasks[0].id, result(0.8), now_seconds());
  EXPECT_EQ(s.query_text("SELECT group_concat(name, ',') FROM pragma_table_info('fold_metrics')"),
            "study,variant,fold,repeat,class,metric,value");
  EXPECT_EQ(s.query_text("SELECT group_concat(name, ',') FROM pragma_table_info('case_metrics')"),
            "study,variant,fold,repeat,case_id,class,metric,value");
  EXPECT_EQ(s.query_int("SELECT count(*) FROM fold_metrics"), 2);
  EXPECT_EQ(s.query_text("SELECT variant || ':' || fold || ':' || value FROM fold_metrics WHERE metric = 'dice'"), "unet:0:0.8");
  EXPECT_EQ(s.query_text("SELECT case_id FROM case_metrics"), "d");
}

TEST_F(StoreTest, ResultIsOneTransaction) {
  Store s(path_);
  auto id = fill(s);
  auto t = s.tasks(id)[0];
  s.mark_running(t.id, where(), now_seconds());
  TaskResult bad = result(0.8);
  bad.fold_metrics.push_back({"dice", 1, 0.1});  // the same (class, metric) twice: the insert fails mid-way
  EXPECT_THROW(s.record_done(t.id, bad, now_seconds()), StoreError);
  // Nothing of the failed write is visible: no epochs, metrics or model facts, the task still running.
  EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs"), 0);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM task_metrics"), 0);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM model_facts"), 0);
  EXPECT_EQ(s.tasks(id)[0].status, "running");
  s.record_done(t.id, result(0.8), now_seconds());
  EXPECT_EQ(s.tasks(id)[0].status, "done");
}

TEST_F(StoreTest, NoDuplicateRows) {
  Store s(path_);
  auto id = fill(s);
  auto t = s.tasks(id)[0];
  s.mark_running(t.id, where(), now_seconds());
  s.record_epoch(t.id, {1, 0.9, 0.8, 0.1, 1e-3, 0.5});
  s.record_epoch(t.id, {1, 0.9, 0.8, 0.1, 1e-3, 0.5});
  s.record_failed(t.id, "boom", now_seconds());
  s.mark_running(t.id, where(), now_seconds());
  s.record_epoch(t.id, {2, 0.7, 0.6, 0.3, 5e-4, 0.5});  // the second attempt resumed after epoch 1
  s.record_done(t.id, result(0.7), now_seconds());       // repeats epochs 1 and 2 (the checkpoint's history)
  s.record_done(t.id, result(0.8), now_seconds());  // a repeated write replaces
  s.ensure_tasks(id);
  EXPECT_EQ(s.tasks(id).size(), 4u);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs"), 2);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM fold_metrics WHERE metric = 'dice'"), 1);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM model_facts"), 1);
  auto a = s.attempts(t.id);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].status, "failed");
  EXPECT_EQ(a[0].error, "boom");
  EXPECT_EQ(a[1].status, "done");
  EXPECT_EQ(a[1].first_epoch, 2);  // set by its first progress message, not by the result's history
  EXPECT_EQ(s.tasks(id)[0].attempts, 2);
}

TEST_F(StoreTest, RecoverRunningAndMeasuredSeconds) {
  Store s(path_);
  auto id = fill(s);
  auto ts = s.tasks(id);
  s.mark_running(ts[0].id, where(), now_seconds() - 3);
  s.mark_running(ts[1].id, where(), now_seconds());
  s.record_done(ts[0].id, result(0.8), now_seconds());
  EXPECT_EQ(s.recover_running(id), 1);
  EXPECT_EQ(s.tasks(id)[1].status, "interrupted");
  EXPECT_EQ(s.attempts(ts[1].id)[0].status, "interrupted");
  auto m = s.measured_seconds(id);
  ASSERT_EQ(m.count("unet"), 1u);
  EXPECT_GT(m["unet"], 2.0);
}

// An attempt that restarted without its checkpoint and stopped earlier (early stopping) must not leave
// the later epochs of the attempt before it in the curve.
TEST_F(StoreTest, DoneKeepsOnlyTheResultsEpochs) {
  Store s(path_);
  auto id = fill(s);
  auto t = s.tasks(id)[0];
  s.mark_running(t.id, where(), now_seconds());
  for (int e = 1; e <= 5; ++e) s.record_epoch(t.id, {e, 1.0 / e, 1.0 / e, 0.1 * e, 1e-3, 0.5});
  s.record_interrupted(t.id, "node lost", now_seconds());
  s.mark_running(t.id, where(), now_seconds());
  s.record_epoch(t.id, {1, 0.95, 0.85, 0.12, 1e-3, 0.5});
  s.record_done(t.id, result(0.8), now_seconds());  // its history: epochs 1 and 2
  EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs WHERE task_id = " + std::to_string(t.id)), 2);
  EXPECT_EQ(s.query_text("SELECT val_dice FROM epochs WHERE task_id = " + std::to_string(t.id) + " AND epoch = 2"), "0.3");
  // A result without a history (an executor that reports none) keeps the progress rows.
  auto u = s.tasks(id)[1];
  s.mark_running(u.id, where(), now_seconds());
  s.record_epoch(u.id, {1, 0.9, 0.8, 0.1, 1e-3, 0.5});
  TaskResult bare = result(0.7);
  bare.epochs.clear();
  s.record_done(u.id, bare, now_seconds());
  EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs WHERE task_id = " + std::to_string(u.id)), 1);
}

// The validation soft Dice of each epoch is stored and read back; an epoch without one (NaN) is NULL.
TEST_F(StoreTest, TheSoftDiceOfEachEpochRoundTrips) {
  Store s(path_);
  auto id = fill(s);
  auto t = s.tasks(id)[0];
  s.mark_running(t.id, where(), now_seconds());
  TaskResult r = result(0.8);
  r.epochs[0].val_soft_dice = 0.125;
  s.record_done(t.id, r, now_seconds());
  const auto back = s.task_epochs(id, t.id);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].val_soft_dice, 0.125);
  EXPECT_TRUE(std::isnan(back[1].val_soft_dice));
  EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs WHERE val_soft_dice IS NULL"), 1);
}

// A task resumed from a checkpoint has a short last attempt; its cost is its training time over all attempts.
TEST_F(StoreTest, MeasuredSecondsCountEveryAttemptsTraining) {
  Store s(path_);
  auto id = fill(s);
  auto t = s.tasks(id)[0];
  s.mark_running(t.id, where(), now_seconds() - 2);
  TaskResult r = result(0.8);
  r.train_seconds = 50;  // 48 s in an earlier attempt, 2 s in this one
  s.record_done(t.id, r, now_seconds());
  auto m = s.measured_seconds(id);
  ASSERT_EQ(m.count("unet"), 1u);
  EXPECT_DOUBLE_EQ(m["unet"], 50.0);
}

TEST_F(StoreTest, RunsAreListedOldestFirstWithTheirEnd) {
  Store s(path_);
  auto id = fill(s);
  auto first = s.begin_run(id, "ablate run a.toml", 3);
  s.end_run(first, 3);
  s.begin_run(id, "ablate run a.toml", 5);  // killed: never ended
  auto runs = s.runs(id);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].exit_code, 3);
  EXPECT_GT(runs[0].ended, 0);
  EXPECT_EQ(runs[1].ranks, 5);
  EXPECT_EQ(runs[1].ended, 0);
  EXPECT_EQ(runs[1].exit_code, -1);
}

// A coordinator that stalled past the stale limit and was taken over must notice at its next heartbeat.
TEST_F(StoreTest, HeartbeatAfterATakeoverThrows) {
  Store s(path_);
  auto id = fill(s);
  s.acquire_lock(id);
  s.heartbeat(id);
  s.exec("UPDATE coordinator_lock SET host = 'node7', pid = 4242");  // another coordinator took it over
  try {
    s.heartbeat(id);
    FAIL() << "a lost lock went unnoticed";
  } catch (const LockError& e) {
    EXPECT_NE(std::string(e.what()).find("lost the lock"), std::string::npos) << e.what();
  }
}

TEST_F(StoreTest, FoldsRoundTripInOrder) {
  Store s(path_);
  auto id = fill(s);
  auto f = s.folds(id);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].train, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(f[1].test, (std::vector<std::string>{"b"}));
}

TEST_F(StoreTest, LockRefusesALiveCoordinatorAndTakesOverStaleOnes) {
  Store s(path_);
  auto id = fill(s);
  s.acquire_lock(id);
  s.acquire_lock(id);  // the same process may take it again
  // A live coordinator elsewhere (fresh heartbeat): refused, with its host and pid in the message.
  s.exec("UPDATE coordinator_lock SET host = 'node7', pid = 4242, heartbeat = " + std::to_string(now_seconds()));
  try {
    s.acquire_lock(id, 120);
    FAIL() << "a second coordinator was not refused";
  } catch (const LockError& e) {
    EXPECT_NE(std::string(e.what()).find("node7"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("4242"), std::string::npos);
  }
  // No heartbeat for longer than the stale limit: taken over.
  s.exec("UPDATE coordinator_lock SET heartbeat = heartbeat - 1000");
  s.acquire_lock(id, 120);
  // Same host, dead pid: taken over at once.
  s.exec("UPDATE coordinator_lock SET host = '" + this_host() + "', pid = 999999999, heartbeat = " + std::to_string(now_seconds()));
  s.acquire_lock(id, 120);
  // Same host, live pid (our parent): refused.
  s.exec("UPDATE coordinator_lock SET pid = " + std::to_string(::getppid()));
  EXPECT_THROW(s.acquire_lock(id, 120), LockError);
  // Same host, live pid but no heartbeat for longer than the limit (a reused pid): taken over.
  s.exec("UPDATE coordinator_lock SET heartbeat = heartbeat - 1000");
  s.acquire_lock(id, 120);
  // Same host, a zombie (exited, not reaped): dead.
  pid_t child = fork();
  if (child == 0) _exit(0);
  for (int i = 0; i < 200; ++i) {
    std::ifstream st("/proc/" + std::to_string(child) + "/stat");
    std::string line;
    std::getline(st, line);
    if (line.find(") Z") != std::string::npos) break;
    usleep(10000);
  }
  s.exec("UPDATE coordinator_lock SET pid = " + std::to_string(child) + ", heartbeat = " + std::to_string(now_seconds()));
  EXPECT_FALSE(s.lock_held(id, 120));
  s.acquire_lock(id, 120);
  EXPECT_TRUE(s.lock_held(id, 120));  // this process, alive
  waitpid(child, nullptr, 0);
  s.exec("UPDATE coordinator_lock SET pid = " + std::to_string(::getpid()));
  s.release_lock(id);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM coordinator_lock"), 0);
}

TEST_F(StoreTest, RefusesForeignAndNewerFiles) {
  {
    Store s(path_);
    s.exec("PRAGMA user_version = 99");
  }
  EXPECT_THROW(Store{path_}, StoreError);
  const std::string other = (dir_ / "other.sqlite").string();
  {
    Store s(other);  // creates our schema; then make it look foreign
  }
  fs::remove(other);
  std::ofstream(other) << "this is not a database at all, just text that is long enough to be a header......\n";
  EXPECT_THROW(Store(other, true), StoreError);
  EXPECT_THROW(Store((dir_ / "missing.sqlite").string(), true), StoreError);
}

TEST_F(StoreTest, MigrationFromAnEmptyFileAndReopenKeepsData) {
  {
    Store s(path_);
    fill(s);
  }
  Store again(path_);
  EXPECT_EQ(again.schema_version(), kSchemaVersion);
  EXPECT_EQ(again.study_names(), (std::vector<std::string>{"st"}));
}

// Shared trainings (docs/RUNNER.md): tasks.trained_by names the task that trained, for every member stored
// from the group (the trainer itself included); a task stored alone (a retry) is back to NULL. A shared
// training's epochs count once in the search objective's `epochs`.
TEST_F(StoreTest, TrainedByRoundTripsAndCountsASharedTrainingOnce) {
  Store s(path_);
  const auto id = fill(s);
  const auto t = s.tasks(id);  // unet f0, unet f1, cc f0, cc f1
  for (const auto& x : t) s.mark_running(x.id, where(), now_seconds());
  s.record_done(t[0].id, {{t[0].id, result(0.8)}, {t[2].id, result(0.7)}}, now_seconds());
  // The trainer (t[1]) failed its own evaluation: its member still points at it.
  s.record_done(t[1].id, {{t[3].id, result(0.6)}}, now_seconds());
  auto back = s.tasks(id);
  EXPECT_EQ(back[0].trained_by, t[0].id);
  EXPECT_EQ(back[2].trained_by, t[0].id);
  EXPECT_EQ(back[3].trained_by, t[1].id);
  EXPECT_EQ(back[1].trained_by, 0);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE trained_by IS NULL"), 1);
  auto objective = s.validation_objective(id, "dice");
  EXPECT_EQ(objective["unet"].epochs, 2);  // t[0]'s training, once
  EXPECT_EQ(objective["cc"].epochs, 2);    // t[1]'s training, counted at t[3] (t[1] is not done)
  // t[1] retried alone: its own training, NULL; t[3] keeps the group's.
  s.record_failed(t[1].id, "its evaluation failed", now_seconds());
  s.mark_running(t[1].id, where(), now_seconds());
  s.record_done(t[1].id, result(0.5), now_seconds());
  // A member stored again alone (a training of its own) is NULL again.
  s.mark_running(t[2].id, where(), now_seconds());
  s.record_done(t[2].id, result(0.7), now_seconds());
  back = s.tasks(id);
  EXPECT_EQ(back[1].trained_by, 0);
  EXPECT_EQ(back[2].trained_by, 0);
  EXPECT_EQ(back[3].trained_by, t[1].id);
  objective = s.validation_objective(id, "dice");
  EXPECT_EQ(objective["unet"].epochs, 4);
  EXPECT_EQ(objective["cc"].epochs, 4);
}

// A version-3 store (emulated: the schema-4 column and index taken out again) with a shared training's
// rows is read as one without the relation, and opened writable it migrates: rows kept, trained_by NULL,
// then written and read back.
TEST_F(StoreTest, MigratesAVersionThreeStoreToTrainedBy) {
  std::vector<TaskRow> t;
  std::int64_t id = 0;
  {
    Store s(path_);
    id = fill(s);
    t = s.tasks(id);
    s.mark_running(t[0].id, where(), now_seconds());
    s.mark_running(t[2].id, where(), now_seconds());
    s.record_done(t[0].id, {{t[0].id, result(0.8)}, {t[2].id, result(0.7)}}, now_seconds());
    s.exec("BEGIN; ALTER TABLE epochs DROP COLUMN val_soft_dice; DROP INDEX tasks_by_reuse_key; ALTER TABLE tasks DROP COLUMN reuse_key; ALTER TABLE tasks DROP COLUMN reused_from; "
           "ALTER TABLE folds DROP COLUMN data_fingerprint; "
           "ALTER TABLE coordinator_lock DROP COLUMN job; ALTER TABLE coordinator_lock DROP COLUMN restart; "
           "DROP INDEX tasks_by_trainer; ALTER TABLE tasks DROP COLUMN trained_by; PRAGMA user_version = 3; "
           "UPDATE meta SET value = '3' WHERE key = 'schema_version'; COMMIT");
    ASSERT_EQ(s.schema_version(), 3);
    ASSERT_EQ(s.query_int("SELECT count(*) FROM pragma_table_info('tasks') WHERE name = 'trained_by'"), 0);
    Store ro(path_, true);  // read-only: not migrated, read without the relation
    EXPECT_EQ(ro.schema_version(), 3);
    EXPECT_EQ(ro.tasks(id)[2].trained_by, 0);
    EXPECT_EQ(ro.validation_objective(id, "dice")["cc"].epochs, 2);  // schema 3: every task's epochs
    for (const auto& e : ro.task_epochs(id)) EXPECT_TRUE(std::isnan(e.val_soft_dice));  // before schema 7
  }
  Store s(path_);
  EXPECT_EQ(s.schema_version(), kSchemaVersion);
  EXPECT_EQ(s.query_text("SELECT value FROM meta WHERE key = 'schema_version'"), std::to_string(kSchemaVersion));
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE reuse_key IS NOT NULL OR reused_from IS NOT NULL"), 0);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done' AND trained_by IS NULL"), 2);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs"), 4);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs WHERE val_soft_dice IS NULL"), 4);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM model_facts"), 2);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM sqlite_master WHERE name = 'tasks_by_trainer'"), 1);
  s.mark_running(t[1].id, where(), now_seconds());
  s.mark_running(t[3].id, where(), now_seconds());
  s.record_done(t[1].id, {{t[1].id, result(0.6)}, {t[3].id, result(0.5)}}, now_seconds());
  const auto back = s.tasks(id);
  EXPECT_EQ(back[3].trained_by, t[1].id);
  EXPECT_EQ(back[2].trained_by, 0);
}

TEST_F(StoreTest, ReadersAndArchive) {
  {
    Store s(path_);
    auto id = fill(s);
    s.set_provenance(id, {{"git_commit", "abc"}});
    for (const auto& t : s.tasks(id)) {
      s.mark_running(t.id, where(), now_seconds());
      s.record_done(t.id, result(0.5 + t.fold * 0.1), now_seconds());
    }
  }
  auto d = load_study_data(path_, "st");
  ASSERT_EQ(d.variants.size(), 2u);
  EXPECT_EQ(d.variants[1].name, "cc");
  EXPECT_EQ(d.fold_metrics.size(), 8u);
  EXPECT_EQ(d.case_metrics.size(), 4u);
  EXPECT_EQ(d.epochs.size(), 8u);
  ASSERT_EQ(d.model_facts.size(), 2u);
  EXPECT_EQ(d.model_facts[0].parameters, 1234);
  EXPECT_EQ(d.provenance["git_commit"], "abc");
  EXPECT_EQ(list_studies(path_), (std::vector<std::string>{"st"}));
  try {
    load_study_data(path_, "nope");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("st"), std::string::npos);  // names the studies there are
  }
  Store s(path_);
  EXPECT_EQ(s.archive_study("st"), "st~1");
  EXPECT_FALSE(s.find_study("st"));
}

}  // namespace

// Reusing finished trainings (docs/RUNNER.md): a done task with a reuse key is found from any study of the
// store, and copied whole into another task with its source named; an open task or a task without a key is
// never found.
TEST_F(StoreTest, AFinishedTaskWithAReuseKeyIsFoundAndCopiedWhole) {
  Store s(path_);
  const std::int64_t id = fill(s);
  auto t = s.tasks(id);
  s.set_reuse_keys({{t[0].id, "k0"}, {t[1].id, "k1"}, {t[2].id, ""}});
  EXPECT_FALSE(s.find_reusable("k0")) << "not done yet";
  s.mark_running(t[0].id, where(), now_seconds());
  s.record_done(t[0].id, result(0.8), now_seconds());
  EXPECT_FALSE(s.find_reusable(""));
  EXPECT_FALSE(s.find_reusable("k0", t[0].id)) << "a task never stands for itself";
  const auto src = s.find_reusable("k0");
  ASSERT_TRUE(src);
  EXPECT_EQ(src->task_id, t[0].id);
  EXPECT_EQ(src->study, s.study_names().front());
  EXPECT_EQ(src->result.fold_metrics.size(), result(0.8).fold_metrics.size());
  EXPECT_EQ(src->result.epochs.size(), result(0.8).epochs.size());
  s.record_reused({{t[1].id, *src}});
  const auto back = s.tasks(id);
  EXPECT_EQ(back[1].status, "done");
  EXPECT_EQ(back[1].attempts, 0);
  EXPECT_EQ(back[1].reused_from, src->describe());
  EXPECT_EQ(back[0].reused_from, "");
  for (const char* table : {"task_metrics", "task_case_metrics", "epochs", "model_facts"}) {
    const std::string count = std::string("SELECT count(*) FROM ") + table + " WHERE task_id = ";
    EXPECT_EQ(s.query_int(count + std::to_string(t[1].id)), s.query_int(count + std::to_string(t[0].id))) << table;
  }
  EXPECT_EQ(s.query_text("SELECT group_concat(metric || value, ',') FROM task_metrics WHERE task_id = " + std::to_string(t[1].id)),
            s.query_text("SELECT group_concat(metric || value, ',') FROM task_metrics WHERE task_id = " + std::to_string(t[0].id)));
}

namespace {
std::string epochs_text(const std::vector<EpochRow>& rows) {
  std::string out;
  for (const auto& e : rows) {
    out += e.variant + "/" + std::to_string(e.repeat) + "/" + std::to_string(e.fold) + "/" + std::to_string(e.epoch) + "=" +
           std::to_string(e.train_loss) + ";";
  }
  return out;
}
}  // namespace

// `ablate serve` loads a study again after every task that ends: with a TaskRowsCache it reads only the
// rows (epochs, fold and case metrics) of tasks whose state changed, and they and their order equal a
// full load's.
TEST_F(StoreTest, AnTaskRowsCacheReadsOnlyTheTasksThatChanged) {
  Store s(path_);
  const auto id = fill(s);
  const auto t = s.tasks(id);
  ASSERT_EQ(t.size(), 4u);
  for (std::size_t i = 0; i < t.size(); ++i) {
    s.mark_running(t[i].id, where(), now_seconds());
    for (int e = 1; e <= 3; ++e) s.record_epoch(t[i].id, {e, 1.0 / e + static_cast<double>(i), 0.8, 0.1, 1e-3, 0.5});
  }
  TaskRowsCache cache;
  auto full = [&] { return epochs_text(load_study_data(s, "st").epochs); };
  EXPECT_EQ(epochs_text(load_study_data(s, "st", cache).epochs), full());  // empty cache: everything read
  ASSERT_EQ(cache.tasks.size(), 4u);
  EXPECT_EQ(load_study_data(s, "st", cache).epochs.size(), 12u);

  // A task's rows changed behind its state (no new epoch, same attempts): the cache keeps what it read,
  // which shows that an unchanged task is not read again.
  s.exec("UPDATE epochs SET train_loss = 9 WHERE task_id = " + std::to_string(t[2].id) + " AND epoch = 1");
  const std::string stale = epochs_text(load_study_data(s, "st", cache).epochs);
  EXPECT_NE(stale, full());
  EXPECT_EQ(stale.find("=9.000000"), std::string::npos);
  // A new epoch of that task changes its state: read again, and equal to a full load.
  s.record_epoch(t[2].id, {4, 0.2, 0.8, 0.1, 1e-3, 0.5});
  EXPECT_EQ(epochs_text(load_study_data(s, "st", cache).epochs), full());
  // A task that ends, one that another attempt starts over: the same.
  s.record_done(t[0].id, result(0.8), now_seconds());
  s.record_interrupted(t[1].id, "lost", now_seconds());
  s.mark_running(t[1].id, where(), now_seconds());
  s.record_epoch(t[1].id, {4, 0.3, 0.8, 0.1, 1e-3, 0.5});
  const auto d = load_study_data(s, "st", cache);
  EXPECT_EQ(epochs_text(d.epochs), full());
  // The ended task's fold and case metrics, as the views give them.
  const auto plain = load_study_data(s, "st");
  ASSERT_EQ(d.fold_metrics.size(), plain.fold_metrics.size());
  ASSERT_EQ(d.fold_metrics.size(), 2u);
  for (std::size_t i = 0; i < d.fold_metrics.size(); ++i) {
    EXPECT_EQ(d.fold_metrics[i].variant + d.fold_metrics[i].metric, plain.fold_metrics[i].variant + plain.fold_metrics[i].metric);
    EXPECT_EQ(d.fold_metrics[i].value, plain.fold_metrics[i].value);
  }
  ASSERT_EQ(d.case_metrics.size(), plain.case_metrics.size());
  ASSERT_EQ(d.case_metrics.size(), 1u);
  EXPECT_EQ(d.case_metrics[0].case_id, plain.case_metrics[0].case_id);
  EXPECT_EQ(d.case_metrics[0].value, plain.case_metrics[0].value);
  // A replaced variant's tasks leave the cache.
  s.replace_variant(id, {"cc", "U-Net+CC", "h3", "model.cc = true\nmodel.k = 3\n", 1}, "cc");
  s.ensure_tasks(id);
  EXPECT_EQ(epochs_text(load_study_data(s, "st", cache).epochs), full());
  EXPECT_EQ(cache.tasks.size(), s.tasks(id).size());
}

// The time figures `ablate status` and `ablate serve` share, on scripted rows.
namespace {
TaskRow task_row(const std::string& variant, const std::string& status, double started, double ended,
                 double seconds = 0) {
  TaskRow t;
  t.variant = variant;
  t.status = status;
  t.started = started;
  t.ended = ended;
  t.seconds = seconds;
  return t;
}
RunRow run_row(double started, double ended) {
  RunRow r;
  r.started = started;
  r.ended = ended;
  return r;
}
}  // namespace

TEST(StudyTimes, WorkedSecondsCountsEachRunToItsEndOrItsLastActivity) {
  // Run 1 ended (60 s); run 2 was killed: its last activity is task A's end at 250 (B started in run 3);
  // run 3 is the last and never ended.
  const std::vector<RunRow> runs = {run_row(100, 160), run_row(200, 0), run_row(300, 0)};
  const std::vector<TaskRow> tasks = {task_row("a", "done", 210, 250), task_row("b", "running", 305, 0)};
  EXPECT_DOUBLE_EQ(worked_seconds(runs, tasks, /*live=*/true, /*now=*/400), 60 + 50 + 100);
  // No live coordinator: the last run was killed too, and counts to its last activity (B's start).
  EXPECT_DOUBLE_EQ(worked_seconds(runs, tasks, false, 400), 60 + 50 + 5);
  // A killed run without any activity counts nothing; no run, nothing.
  EXPECT_DOUBLE_EQ(worked_seconds({run_row(500, 0)}, tasks, false, 900), 0);
  EXPECT_DOUBLE_EQ(worked_seconds({}, tasks, true, 900), 0);
}

TEST(StudyTimes, RemainingSecondsTakesEachOpenTaskAtItsVariantsMeanOverTheWorkers) {
  const double now = 1000;
  const std::vector<TaskRow> tasks = {
      task_row("a", "done", 1, 2, 10),
      task_row("a", "done", 1, 2, 20),         // a: mean 15; all done: mean 15
      task_row("c", "done", 1, 2, 45),         // c: mean 45; all done: (10+20+45)/3 = 25
      task_row("a", "pending", 0, 0),          // 15
      task_row("a", "running", now - 5, 0),    // 15 - 5 spent = 10
      task_row("a", "failed", 3, 4),           // open again: 15
      task_row("b", "pending", 0, 0),          // no done task of b: all done, 25
      task_row("b", "running", now - 100, 0),  // spent more than the mean: 0
      task_row("a", "stopped", 3, 4),          // at a rung: nothing left
  };
  EXPECT_DOUBLE_EQ(remaining_seconds(tasks, 2, now), (15 + 10 + 15 + 25 + 0) / 2.0);
  EXPECT_DOUBLE_EQ(remaining_seconds(tasks, 0, now), 15 + 10 + 15 + 25 + 0);  // at least one worker
  EXPECT_DOUBLE_EQ(
      remaining_seconds({task_row("a", "done", 1, 2, 10), task_row("a", "stopped", 1, 2)}, 3, now), 0);
  // Nothing done yet: unknown.
  EXPECT_DOUBLE_EQ(remaining_seconds({task_row("a", "pending", 0, 0)}, 1, now), -1);
}
