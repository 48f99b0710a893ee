// The store's SQLite plumbing, shared by the files of db/ and by nothing else (it is not installed with
// db/store.hpp and no other folder includes it; sqlite3.h stays in this room): the connection behind a
// Store, a prepared statement, a RAII transaction and a one-shot exec.
//
// Thread safety: the connection is opened SQLITE_OPEN_FULLMUTEX (Store's constructor), so each call is
// serialised by SQLite; a Stmt or a Transaction belongs to the thread that made it. Errors throw
// StoreError with the store's path, what was attempted and SQLite's message.
#pragma once

#include <sqlite3.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "db/store.hpp"

namespace ablate::db {

// --- a thin statement wrapper ---------------------------------------------------------------------
struct Store::Impl {
  sqlite3* db = nullptr;
  std::string path;

  [[noreturn]] void fail(const std::string& what) const {
    throw StoreError(path + ": " + what + ": " + (db ? sqlite3_errmsg(db) : "cannot open"));
  }
};


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

inline void exec_sql(const Store::Impl& s, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(s.db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "error";
    sqlite3_free(err);
    throw StoreError(s.path + ": " + msg + " (in `" + sql.substr(0, 80) + "`)");
  }
}


// The SQL of migration `version` (1-based): it brings a store from version - 1 to version (db/migrations.cpp).
const char* migration_sql(int version);

}  // namespace ablate::db
