// The store: opening (schema migrations, journal mode), studies and the coordinator lock (db/SCHEMA.md).
// Writes: store_writes.cpp; readers: store_readers.cpp; searches: store_search.cpp; SQLite: sqlite.hpp.
#include "db/store.hpp"

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

#include "db/sqlite.hpp"

namespace ablate::db {

namespace {

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
    exec_sql(*impl_, migration_sql(v + 1));
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
// The stored holder (its job and restart count from schema version 6; older read-only stores have none).
struct StoredHolder {
  LockOwner owner;
  double heartbeat = 0;
};
std::optional<StoredHolder> read_holder(const Store::Impl& impl, int schema, std::int64_t study_id) {
  Stmt st(impl, std::string("SELECT host, pid, heartbeat, ") + (schema >= 6 ? "job, restart" : "'', 0") +
                    " FROM coordinator_lock WHERE study_id = ?");
  st.bind(1, study_id);
  if (!st.step()) return std::nullopt;
  StoredHolder h;
  h.owner.host = st.text(0);
  h.owner.pid = static_cast<long>(st.i64(1));
  h.heartbeat = st.f64(2);
  h.owner.job = st.text(3);
  h.owner.restart = static_cast<int>(st.i64(4));
  return h;
}
LockVerdict judge(const StoredHolder& h, const LockOwner& me, double stale_seconds) {
  const bool runs = h.owner.host == me.host && pid_alive(h.owner.pid);
  return judge_lock(h.owner, h.heartbeat, runs, me, now_seconds(), stale_seconds);
}
}  // namespace

bool Store::lock_held(std::int64_t study_id, double stale_seconds) const {
  const auto h = read_holder(*impl_, schema_version(), study_id);
  if (!h) return false;
  // The reader itself holding it (a coordinator asking) is a live holder too.
  const LockVerdict v = judge(*h, lock_owner_of_this_process(), stale_seconds);
  return v == LockVerdict::kOurs || !may_take(v);
}

LockVerdict Store::acquire_lock(std::int64_t study_id, double stale_seconds) {
  Transaction tx(*impl_);
  const LockOwner me = lock_owner_of_this_process();
  const double now = now_seconds();
  LockVerdict verdict = LockVerdict::kFree;
  if (const auto h = read_holder(*impl_, kSchemaVersion, study_id)) {
    verdict = judge(*h, me, stale_seconds);
    if (!may_take(verdict)) {
      std::ostringstream msg;
      msg << path_ << ": another coordinator is running this study (host " << h->owner.host << ", pid " << h->owner.pid
          << (h->owner.job.empty() ? "" : ", Slurm job " + h->owner.job) << ", last heartbeat "
          << static_cast<long>(now - h->heartbeat) << " s ago); wait for it to finish or stop it"
          << "; a lock without a heartbeat for " << static_cast<int>(stale_seconds)
          << " s, or held by an earlier run of the same Slurm job, is taken over";
      throw LockError(msg.str());
    }
  }
  Stmt up(*impl_,
          "INSERT OR REPLACE INTO coordinator_lock(study_id, host, pid, acquired, heartbeat, job, restart) VALUES (?, ?, ?, ?, ?, ?, ?)");
  up.bind(1, study_id).bind(2, me.host).bind(3, static_cast<std::int64_t>(me.pid)).bind(4, now).bind(5, now);
  up.bind(6, me.job).bind(7, me.restart);
  up.run();
  tx.commit();
  return verdict;
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

}  // namespace ablate::db
