// SQLite store: schema, migrations, the coordinator lock and the one-transaction writes (db/SCHEMA.md).
#include "db/store.hpp"

#include <sqlite3.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <csignal>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

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
};
constexpr int kMigrationCount = sizeof(kMigrations) / sizeof(kMigrations[0]);
static_assert(kMigrationCount == kSchemaVersion, "one migration per schema version");

// A zombie counts as dead: the ranks of a killed mpirun linger unreaped (state Z) in containers whose
// init does not reap, and must not hold the study's lock.
bool pid_alive(long pid) {
  if (pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;  // no /proc: trust kill()
  const auto close = line.rfind(')');          // "pid (comm) S ...": comm may hold spaces
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

}  // namespace

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string this_host() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

const std::vector<std::string>& task_statuses() {
  static const std::vector<std::string> s = {"pending", "running", "done", "failed", "interrupted", "stopped"};
  return s;
}

// --- a thin statement wrapper ---------------------------------------------------------------------
struct Store::Impl {
  sqlite3* db = nullptr;
  std::string path;

  [[noreturn]] void fail(const std::string& what) const {
    throw StoreError(path + ": " + what + ": " + (db ? sqlite3_errmsg(db) : "cannot open"));
  }
};

namespace {

class Stmt {
 public:
  Stmt(const Store::Impl& s, const std::string& sql) : s_(s) {
    if (sqlite3_prepare_v2(s.db, sql.c_str(), -1, &st_, nullptr) != SQLITE_OK) s.fail("prepare `" + sql.substr(0, 60) + "`");
  }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt& bind(int i, std::int64_t v) { return check(sqlite3_bind_int64(st_, i, v)); }
  Stmt& bind(int i, int v) { return check(sqlite3_bind_int64(st_, i, v)); }
  Stmt& bind(int i, double v) {
    // SQLite stores NaN as NULL; keep it NULL explicitly so readers see "no value".
    if (!std::isfinite(v)) return check(sqlite3_bind_null(st_, i));
    return check(sqlite3_bind_double(st_, i, v));
  }
  Stmt& bind(int i, const std::string& v) {
    return check(sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  // Returns true while there is a row.
  bool step() {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    s_.fail("step");
  }
  void run() {
    while (step()) {
    }
    reset();
  }
  void reset() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
  std::int64_t i64(int c) const { return sqlite3_column_int64(st_, c); }
  int i32(int c) const { return sqlite3_column_int(st_, c); }
  double f64(int c) const {
    if (sqlite3_column_type(st_, c) == SQLITE_NULL) return std::nan("");
    return sqlite3_column_double(st_, c);
  }
  std::string text(int c) const {
    const unsigned char* t = sqlite3_column_text(st_, c);
    return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
  }

 private:
  Stmt& check(int rc) {
    if (rc != SQLITE_OK) s_.fail("bind");
    return *this;
  }
  const Store::Impl& s_;
  sqlite3_stmt* st_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back when an exception leaves the scope.
class Transaction {
 public:
  explicit Transaction(Store::Impl& s) : s_(s) { exec("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!done_) sqlite3_exec(s_.db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    exec("COMMIT");
    done_ = true;
  }

 private:
  void exec(const char* sql) {
    if (sqlite3_exec(s_.db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) s_.fail(sql);
  }
  Store::Impl& s_;
  bool done_ = false;
};

void exec_sql(const Store::Impl& s, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(s.db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "error";
    sqlite3_free(err);
    throw StoreError(s.path + ": " + msg + " (in `" + sql.substr(0, 80) + "`)");
  }
}

}  // namespace

Store::Store(const std::string& path, bool read_only) : path_(path), impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  if (read_only && !std::filesystem::exists(path)) throw StoreError(path + ": no such store file");
  // SQLite's own words for these are "unable to open database file" and "disk I/O error".
  {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::is_directory(path, ec)) throw StoreError(path + ": is a folder, expected a store file (SQLite)");
    const fs::path parent = fs::path(path).parent_path();
    if (!parent.empty() && !fs::is_directory(parent, ec)) {
      throw StoreError(path + ": cannot create the store: the folder " + parent.string() + " does not exist");
    }
    const fs::path name = fs::path(path).filename();
    if (name.string().size() > 255) {
      throw StoreError(path + ": cannot create the store: its file name has " + std::to_string(name.string().size()) +
                       " characters, more than file systems allow (255)");
    }
  }
  int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &impl_->db, flags | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
    std::string msg = impl_->db ? sqlite3_errmsg(impl_->db) : "cannot open";
    sqlite3_close(impl_->db);
    impl_->db = nullptr;
    throw StoreError(path + ": cannot open the store: " + msg);
  }
  // A coordinator and readers share the file: wait for a writer rather than fail at once.
  sqlite3_busy_timeout(impl_->db, 10000);
  int version = 0;
  try {
    exec_sql(*impl_, "PRAGMA foreign_keys = ON");
    version = static_cast<int>(query_int("PRAGMA user_version"));
  } catch (const StoreError& e) {
    throw StoreError(path + ": not an ablate store (" + e.what() + ")");
  }
  if (version > kSchemaVersion) {
    throw StoreError(path + ": schema version " + std::to_string(version) + " is newer than this build's " +
                     std::to_string(kSchemaVersion) + "; use a newer ablate");
  }
  if (read_only) {
    if (version == 0) throw StoreError(path + ": not an ablate store (no schema version)");
    return;
  }
  if (version == 0 && query_int("SELECT count(*) FROM sqlite_master") != 0) {
    throw StoreError(path + ": not an ablate store (the file holds other tables and no schema version)");
  }
  // WAL keeps readers (ablate status, report) from blocking the coordinator, but it needs shared memory
  // between every process that opens the file, so all of them on one host: on a network file system
  // (a login node reading the store of a job) the store keeps a rollback journal instead (db/SCHEMA.md).
  std::string mode = network_file_system(path).empty() ? "wal" : "delete";
  if (const char* forced = std::getenv("ABLATE_DB_JOURNAL")) {
    const std::string f = forced;
    if (f != "wal" && f != "delete") throw StoreError("ABLATE_DB_JOURNAL=" + f + ": allowed are wal and delete");
    mode = f;
  }
  exec_sql(*impl_, "PRAGMA journal_mode = " + mode);
  if (journal_mode() != mode) {
    throw StoreError(path + ": cannot switch the store to journal_mode " + mode + " (another process has it open?)");
  }
  exec_sql(*impl_, mode == "wal" ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL");
  // Foreign keys are off while migrating (a pragma that has no effect inside a transaction): a migration
  // that rebuilds a table drops the old one, and that DROP must not cascade to the rows that refer to it.
  // Each migration checks the references before it commits.
  exec_sql(*impl_, "PRAGMA foreign_keys = OFF");
  for (int v = version; v < kSchemaVersion; ++v) {
    Transaction tx(*impl_);
    exec_sql(*impl_, kMigrations[v]);
    if (query_int("SELECT count(*) FROM pragma_foreign_key_check") != 0) {
      throw StoreError(path + ": migration to schema version " + std::to_string(v + 1) + " left dangling references");
    }
    exec_sql(*impl_, "PRAGMA user_version = " + std::to_string(v + 1));
    exec_sql(*impl_, "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '" + std::to_string(v + 1) + "')");
    tx.commit();
  }
  exec_sql(*impl_, "PRAGMA foreign_keys = ON");
}

Store::~Store() {
  if (impl_ && impl_->db) sqlite3_close(impl_->db);
}

std::string Store::journal_mode() const {
  std::string mode = query_text("PRAGMA journal_mode");
  for (char& c : mode) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return mode;
}

std::string network_file_system_name(long magic) {
  switch (static_cast<unsigned long>(magic) & 0xffffffffUL) {
    case 0x6969UL: return "nfs";
    case 0x0bd00bd0UL: return "lustre";
    case 0x47504653UL: return "gpfs";
    case 0x19830326UL: return "beegfs";
    case 0x00c36400UL: return "cephfs";
    case 0xff534d42UL: return "cifs";
    case 0xfe534d42UL: return "smb2";
    case 0x517bUL: return "smb";
    case 0x01021997UL: return "9p";
    case 0x5346414fUL: return "afs";
    case 0x7461636fUL: return "ocfs2";
    case 0x65735546UL: return "glusterfs/fuse";
    default: return "";
  }
}

std::string network_file_system(const std::string& path) {
  std::filesystem::path p = path.empty() ? std::filesystem::path(".") : std::filesystem::path(path);
  struct statfs st {};
  while (::statfs(p.c_str(), &st) != 0) {
    // The store's file does not exist yet: ask about the folder it will be created in.
    if (p == "." || p.parent_path() == p) return "";
    p = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  }
  return network_file_system_name(static_cast<long>(st.f_type));
}

int Store::schema_version() const { return static_cast<int>(query_int("PRAGMA user_version")); }

void Store::exec(const std::string& sql) { exec_sql(*impl_, sql); }

std::string Store::query_text(const std::string& sql) const {
  Stmt st(*impl_, sql);
  return st.step() ? st.text(0) : std::string();
}

std::int64_t Store::query_int(const std::string& sql) const {
  Stmt st(*impl_, sql);
  return st.step() ? st.i64(0) : 0;
}

// --- studies -----------------------------------------------------------------------------------------
std::optional<std::int64_t> Store::find_study(const std::string& name) const {
  Stmt st(*impl_, "SELECT id FROM studies WHERE name = ?");
  st.bind(1, name);
  if (st.step()) return st.i64(0);
  return std::nullopt;
}

std::int64_t Store::create_study(const StudyInfo& info) {
  Stmt st(*impl_, "INSERT INTO studies(name, seed, folds, repeats, created) VALUES (?, ?, ?, ?, ?)");
  st.bind(1, info.name).bind(2, static_cast<std::int64_t>(info.seed)).bind(3, info.folds).bind(4, info.repeats).bind(5, now_seconds());
  st.run();
  return sqlite3_last_insert_rowid(impl_->db);
}

std::string Store::archive_study(const std::string& name) {
  for (int k = 1;; ++k) {
    std::string candidate = name + "~" + std::to_string(k);
    if (find_study(candidate)) continue;
    Stmt st(*impl_, "UPDATE studies SET name = ? WHERE name = ?");
    st.bind(1, candidate).bind(2, name);
    st.run();
    return candidate;
  }
}

std::vector<std::string> Store::study_names() const {
  std::vector<std::string> names;
  Stmt st(*impl_, "SELECT name FROM studies ORDER BY id");
  while (st.step()) names.push_back(st.text(0));
  return names;
}

// --- the coordinator lock --------------------------------------------------------------------------
namespace {
// Dead: a process of this host that no longer runs, or no heartbeat for stale_seconds anywhere (a hung
// coordinator, or a pid reused after a crash).
bool holder_dead(const std::string& h, long p, double beat, double now, double stale_seconds) {
  return (h == this_host() && !pid_alive(p)) || now - beat > stale_seconds;
}
}  // namespace

bool Store::lock_held(std::int64_t study_id, double stale_seconds) const {
  Stmt st(*impl_, "SELECT host, pid, heartbeat FROM coordinator_lock WHERE study_id = ?");
  st.bind(1, study_id);
  if (!st.step()) return false;
  return !holder_dead(st.text(0), static_cast<long>(st.i64(1)), st.f64(2), now_seconds(), stale_seconds);
}

void Store::acquire_lock(std::int64_t study_id, double stale_seconds) {
  Transaction tx(*impl_);
  const std::string host = this_host();
  const long pid = static_cast<long>(::getpid());
  const double now = now_seconds();
  {
    Stmt st(*impl_, "SELECT host, pid, heartbeat FROM coordinator_lock WHERE study_id = ?");
    st.bind(1, study_id);
    if (st.step()) {
      std::string h = st.text(0);
      long p = static_cast<long>(st.i64(1));
      double beat = st.f64(2);
      bool same_process = h == host && p == pid;
      bool dead = holder_dead(h, p, beat, now, stale_seconds);
      if (!same_process && !dead) {
        std::ostringstream msg;
        msg << path_ << ": another coordinator is running this study (host " << h << ", pid " << p
            << ", last heartbeat " << static_cast<long>(now - beat) << " s ago); wait for it to finish or stop it"
            << "; a lock without a heartbeat for " << static_cast<int>(stale_seconds) << " s is taken over";
        throw LockError(msg.str());
      }
    }
  }
  Stmt up(*impl_, "INSERT OR REPLACE INTO coordinator_lock(study_id, host, pid, acquired, heartbeat) VALUES (?, ?, ?, ?, ?)");
  up.bind(1, study_id).bind(2, host).bind(3, static_cast<std::int64_t>(pid)).bind(4, now).bind(5, now);
  up.run();
  tx.commit();
}

void Store::heartbeat(std::int64_t study_id) {
  Stmt st(*impl_, "UPDATE coordinator_lock SET heartbeat = ? WHERE study_id = ? AND host = ? AND pid = ?");
  st.bind(1, now_seconds()).bind(2, study_id).bind(3, this_host()).bind(4, static_cast<std::int64_t>(::getpid()));
  st.run();
  // No row of ours: the lock was taken over (this process stalled past the stale limit, e.g. a suspended
  // job) and another coordinator now writes the study. Going on would make two writers.
  if (sqlite3_changes(impl_->db) == 0) {
    throw LockError(path_ + ": this coordinator lost the lock of study " + std::to_string(study_id) +
                    " (no heartbeat for longer than the stale limit; another coordinator took it over); stopping");
  }
}

void Store::release_lock(std::int64_t study_id) {
  Stmt st(*impl_, "DELETE FROM coordinator_lock WHERE study_id = ? AND host = ? AND pid = ?");
  st.bind(1, study_id).bind(2, this_host()).bind(3, static_cast<std::int64_t>(::getpid()));
  st.run();
}

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

void Store::store_folds(std::int64_t study_id, const std::vector<FoldCases>& folds) {
  Transaction tx(*impl_);
  Stmt ins(*impl_, "INSERT INTO folds(study_id, fold, \"repeat\") VALUES (?, ?, ?)");
  Stmt cs(*impl_, "INSERT INTO fold_cases(fold_id, split, position, case_id) VALUES (?, ?, ?, ?)");
  for (const auto& f : folds) {
    ins.bind(1, study_id).bind(2, f.fold).bind(3, f.repeat);
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

// --- tasks -------------------------------------------------------------------------------------------------
void Store::ensure_tasks(std::int64_t study_id) {
  Stmt st(*impl_,
          "INSERT OR IGNORE INTO tasks(study_id, variant_id, fold_id) "
          "SELECT v.study_id, v.id, f.id FROM variants v JOIN folds f ON f.study_id = v.study_id WHERE v.study_id = ?");
  st.bind(1, study_id);
  st.run();
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
          "INSERT OR REPLACE INTO epochs(task_id, epoch, train_loss, val_loss, val_dice, lr, seconds, val_score) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, task_id).bind(2, e.epoch).bind(3, e.train_loss).bind(4, e.val_loss).bind(5, e.val_dice).bind(6, e.lr).bind(7, e.seconds);
  st.bind(8, e.val_score);
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
  {
    Stmt st(s, "SELECT key, value FROM provenance WHERE study_id = ?");
    st.bind(1, *id);
    while (st.step()) d.provenance[st.text(0)] = st.text(1);
  }
  for (const auto& v : store.variants(*id)) d.variants.push_back({v.name, v.label, v.hash, v.canonical, v.ordinal});
  for (const auto& t : store.tasks(*id)) {
    if (t.status == "stopped") d.stopped[t.variant] = std::max(d.stopped[t.variant], t.rung);
  }
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
  {
    Stmt st(s,
            "SELECT v.name, max(m.parameters), avg(m.inference_ms_per_case) FROM model_facts m JOIN tasks t ON t.id = m.task_id "
            "JOIN variants v ON v.id = t.variant_id WHERE t.study_id = ? AND t.status = 'done' GROUP BY v.id ORDER BY v.ordinal");
    st.bind(1, *id);
    while (st.step()) d.model_facts.push_back({st.text(0), st.i64(1), st.f64(2)});
  }
  if (store.schema_version() >= 3) {
    const auto pit = d.provenance.find("search_objective");
    const auto objective = store.validation_objective(*id, pit == d.provenance.end() ? "dice" : pit->second);
    std::map<std::string, int> failed;
    for (const auto& t : store.tasks(*id)) failed[t.variant] += t.status == "failed";
    for (const auto& t : store.trials(*id)) {
      SearchTrialRow r{t.declared, t.trial, t.variant, t.method, t.point, t.seen, t.proposed, std::nan(""), 0, 0, 0, 0};
      Stmt n(s, "SELECT count(*) FROM tasks t JOIN variants v ON v.id = t.variant_id WHERE v.study_id = ? AND v.name = ?");
      n.bind(1, *id).bind(2, t.variant);
      if (n.step()) r.tasks = n.i32(0);
      if (auto it = objective.find(t.variant); it != objective.end()) {
        r.objective = it->second.value, r.done = it->second.done, r.epochs = it->second.epochs;
      }
      r.failed = failed[t.variant];
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

namespace ablate::db {

void Store::record_trial(std::int64_t study_id, const TrialRow& t, const VariantRow& v, const std::string& components) {
  Transaction tx(*impl_);
  Stmt st(*impl_,
          "INSERT INTO trials(study_id, declared, trial, variant, method, point, seen, proposed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, study_id).bind(2, t.declared).bind(3, t.trial).bind(4, t.variant).bind(5, t.method).bind(6, t.point)
      .bind(7, t.seen).bind(8, t.proposed);
  st.run();
  upsert_variant(study_id, v, components);
  ensure_tasks(study_id);
  tx.commit();
}

std::vector<TrialRow> Store::trials(std::int64_t study_id) const {
  std::vector<TrialRow> out;
  Stmt st(*impl_,
          "SELECT declared, trial, variant, method, point, seen, proposed FROM trials WHERE study_id = ? "
          "ORDER BY proposed, rowid");
  st.bind(1, study_id);
  while (st.step()) out.push_back({st.text(0), st.i32(1), st.text(2), st.text(3), st.text(4), st.text(5), st.f64(6)});
  return out;
}

std::map<std::string, Objective> Store::validation_objective(std::int64_t study_id, const std::string& objective) const {
  // The validation value best-epoch selection compared (epochs.val_score: train.select_metric, which a
  // search's objective is), never a test metric. Rows written before schema 2 have no val_score: their
  // validation Dice or loss stands in for those two objectives.
  const std::string column = objective == "dice" ? "coalesce(e.val_score, e.val_dice)"
                             : objective == "loss" ? "coalesce(e.val_score, e.val_loss)"
                                                   : "e.val_score";
  // Epochs spent: a shared training's epochs count once, at its trainer when that is done from it, else at
  // the lowest-id done task evaluated from it.
  const std::string once =
      schema_version() >= 4
          ? " AND (u.trained_by IS NULL OR u.id = (SELECT w.id FROM tasks w WHERE w.trained_by = u.trained_by AND "
            "w.status = 'done' ORDER BY w.id <> w.trained_by, w.id LIMIT 1))"
          : "";
  std::map<std::string, Objective> out;
  Stmt st(*impl_,
          "SELECT v.name, avg(" + column + "), count(*), "
          "(SELECT count(*) FROM tasks u WHERE u.variant_id = v.id), "
          "(SELECT count(*) FROM tasks u JOIN epochs e2 ON e2.task_id = u.id WHERE u.variant_id = v.id AND u.status = 'done'" +
              once + ") "
          "FROM tasks t JOIN variants v ON v.id = t.variant_id "
          "JOIN epochs e ON e.task_id = t.id AND e.epoch = t.best_epoch "
          "WHERE t.study_id = ? AND t.status = 'done' GROUP BY v.id");
  st.bind(1, study_id);
  while (st.step()) out[st.text(0)] = Objective{st.f64(1), st.i32(2), st.i32(3), st.i32(4)};
  return out;
}

}  // namespace ablate::db
