// `ablate merge` (db/merge.hpp): every source read into rows keyed by natural keys, the rows merged by the
// contract's rules, and the result written in a canonical order into a fresh store that replaces `into`.
#include "db/merge.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>

#include "db/store.hpp"

namespace ablate::db {

namespace {

namespace fs = std::filesystem;

// ---- generic rows ------------------------------------------------------------------------------------

// One column value as SQLite stores it; compared exactly (a result that differs in the last bit differs).
struct Cell {
  int type = SQLITE_NULL;
  std::int64_t i = 0;
  double d = 0;
  std::string s;  // text or blob bytes
  bool operator==(const Cell& o) const {
    if (type != o.type) return false;
    switch (type) {
      case SQLITE_INTEGER: return i == o.i;
      case SQLITE_FLOAT: return d == o.d;
      case SQLITE_NULL: return true;
      default: return s == o.s;
    }
  }
  bool operator<(const Cell& o) const {
    if (type != o.type) return type < o.type;
    switch (type) {
      case SQLITE_INTEGER: return i < o.i;
      case SQLITE_FLOAT: return d < o.d;
      case SQLITE_NULL: return false;
      default: return s < o.s;
    }
  }
  double number() const { return type == SQLITE_INTEGER ? static_cast<double>(i) : type == SQLITE_FLOAT ? d : 0; }
  std::string text() const {
    if (type == SQLITE_INTEGER) return std::to_string(i);
    if (type == SQLITE_FLOAT) return std::to_string(d);
    return s;
  }
};
using Row = std::vector<Cell>;

Cell integer(std::int64_t v) {
  Cell c;
  c.type = SQLITE_INTEGER, c.i = v;
  return c;
}

// A raw connection: the merge reads every column of every table, which Store's typed readers do not offer.
class Connection {
 public:
  Connection(const std::string& path, bool write) : path_(path) {
    const int flags = write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      const std::string msg = db_ ? sqlite3_errmsg(db_) : "cannot open";
      sqlite3_close(db_);
      db_ = nullptr;
      throw StoreError(path + ": cannot open: " + msg);
    }
    sqlite3_busy_timeout(db_, 10000);
  }
  ~Connection() { sqlite3_close(db_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string msg = err ? err : "error";
      sqlite3_free(err);
      throw StoreError(path_ + ": " + msg + " (in `" + sql.substr(0, 80) + "`)");
    }
  }
  // Every row of a query; `columns` receives the column names.
  std::vector<Row> rows(const std::string& sql, std::vector<std::string>* columns = nullptr) {
    sqlite3_stmt* st = prepare(sql);
    const int n = sqlite3_column_count(st);
    if (columns) {
      columns->clear();
      for (int c = 0; c < n; ++c) columns->push_back(sqlite3_column_name(st, c));
    }
    std::vector<Row> out;
    int rc = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      Row r(static_cast<std::size_t>(n));
      for (int c = 0; c < n; ++c) {
        Cell& x = r[static_cast<std::size_t>(c)];
        x.type = sqlite3_column_type(st, c);
        if (x.type == SQLITE_INTEGER) x.i = sqlite3_column_int64(st, c);
        if (x.type == SQLITE_FLOAT) x.d = sqlite3_column_double(st, c);
        if (x.type == SQLITE_TEXT || x.type == SQLITE_BLOB) {
          const void* p = sqlite3_column_blob(st, c);
          x.s.assign(static_cast<const char*>(p ? p : ""), static_cast<std::size_t>(sqlite3_column_bytes(st, c)));
        }
      }
      out.push_back(std::move(r));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) throw StoreError(path_ + ": reading `" + sql.substr(0, 60) + "`: " + sqlite3_errmsg(db_));
    return out;
  }
  void insert(const std::string& table, const std::vector<std::string>& columns, const Row& row) {
    std::string sql = "INSERT INTO " + table + "(";
    for (std::size_t c = 0; c < columns.size(); ++c) sql += (c ? ", \"" : "\"") + columns[c] + "\"";
    sql += ") VALUES (";
    for (std::size_t c = 0; c < columns.size(); ++c) sql += c ? ", ?" : "?";
    sql += ")";
    sqlite3_stmt*& st = inserts_[sql];
    if (!st) st = prepare(sql);
    for (std::size_t c = 0; c < row.size(); ++c) {
      const Cell& x = row[c];
      const int i = static_cast<int>(c) + 1;
      int rc = SQLITE_OK;
      if (x.type == SQLITE_INTEGER) rc = sqlite3_bind_int64(st, i, x.i);
      else if (x.type == SQLITE_FLOAT) rc = sqlite3_bind_double(st, i, x.d);
      else if (x.type == SQLITE_TEXT) rc = sqlite3_bind_text(st, i, x.s.data(), static_cast<int>(x.s.size()), SQLITE_TRANSIENT);
      else if (x.type == SQLITE_BLOB) rc = sqlite3_bind_blob(st, i, x.s.data(), static_cast<int>(x.s.size()), SQLITE_TRANSIENT);
      else rc = sqlite3_bind_null(st, i);
      if (rc != SQLITE_OK) throw StoreError(path_ + ": bind: " + sqlite3_errmsg(db_));
    }
    if (sqlite3_step(st) != SQLITE_DONE) throw StoreError(path_ + ": insert into " + table + ": " + sqlite3_errmsg(db_));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
  }
  void finalize_inserts() {
    for (auto& [sql, st] : inserts_) sqlite3_finalize(st);
    inserts_.clear();
  }

 private:
  sqlite3_stmt* prepare(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      throw StoreError(path_ + ": prepare `" + sql.substr(0, 60) + "`: " + sqlite3_errmsg(db_));
    }
    return st;
  }
  std::string path_;
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*> inserts_;
};

// The tables a merge copies, in the order they are written (references first). meta is the new store's
// own, coordinator_lock is never copied (nobody runs the merged store yet).
const std::vector<std::string>& copied_tables() {
  static const std::vector<std::string> t = {"studies", "provenance", "runs", "variants", "folds", "fold_cases", "trials",
                                             "tasks", "attempts", "epochs", "task_metrics", "task_case_metrics",
                                             "model_facts", "early_stop_log"};
  return t;
}

// ---- one source, read whole ------------------------------------------------------------------------------

using TaskKey = std::tuple<std::string, int, int>;  // variant, fold, repeat

struct SourceTask {
  Row task;
  std::vector<Row> attempts, epochs, metrics, case_metrics, facts;
  std::optional<TaskKey> trained_by;  // the task whose training it was evaluated from
};

struct SourceStudy {
  Row study;
  std::map<std::string, std::string> provenance;
  std::vector<Row> runs;
  std::map<std::string, Row> variants;                       // by name
  std::map<std::pair<int, int>, std::vector<Row>> fold_cases;  // (fold, repeat) -> (split, position, case_id)
  std::map<std::pair<int, int>, std::string> fingerprints;     // (fold, repeat) -> folds.data_fingerprint, "" unknown
  std::map<std::pair<std::string, int>, Row> trials;         // (declared, trial)
  std::map<TaskKey, SourceTask> tasks;
  std::vector<Row> early_stop;  // variant name in place of variant_id
  double newest = 0;            // the latest start of a run of this study in this source
};

struct Source {
  std::string path;  // as named by the user
  std::string name;  // the file name, for messages and provenance
  std::map<std::string, SourceStudy> studies;
};

// Column names of each table (the same in every source: all are at kSchemaVersion).
struct Schema {
  std::map<std::string, std::vector<std::string>> columns;
  std::size_t col(const std::string& table, const std::string& name) const {
    const auto& c = columns.at(table);
    const auto it = std::find(c.begin(), c.end(), name);
    if (it == c.end()) throw StoreError("merge: table " + table + " has no column " + name);
    return static_cast<std::size_t>(it - c.begin());
  }
};

// A source at this build's schema, read through a connection of its own: an older store is migrated in a
// temporary copy (the source itself is never written).
std::string readable_copy(const std::string& path, std::size_t index, std::string& temp) {
  int version = 0;
  {
    Store s(path, /*read_only=*/true);
    version = s.schema_version();
    for (const auto& name : s.study_names()) {
      const auto id = s.find_study(name);
      if (id && s.lock_held(*id)) {
        throw MergeError(path + ": study '" + name + "' is being run (its coordinator lock is held): merge it when its job has ended");
      }
    }
  }
  if (version == kSchemaVersion) return path;
  temp = (fs::temp_directory_path() / ("ablate-merge-" + std::to_string(::getpid()) + "-" + std::to_string(index) +
                                       "-" + fs::path(path).filename().string())).string();
  fs::copy_file(path, temp, fs::copy_options::overwrite_existing);
  { Store migrate(temp); }
  return temp;
}

Source read_source(const std::string& path, std::size_t index, Schema& schema) {
  Source src;
  src.path = path;
  src.name = fs::path(path).filename().string();
  std::string temp;
  const std::string readable = readable_copy(path, index, temp);
  struct Remove {
    std::string p;
    ~Remove() {
      std::error_code ec;
      if (!p.empty())
        for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(p + suffix, ec);
    }
  } remove_temp{temp};
  Connection db(readable, false);

  std::set<std::string> known(copied_tables().begin(), copied_tables().end());
  known.insert({"meta", "coordinator_lock"});
  for (const auto& r : db.rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")) {
    if (!known.count(r[0].s)) {
      throw MergeError(path + ": table " + r[0].s + " is unknown to this build's merge; use the ablate that wrote the store");
    }
  }
  std::map<std::string, std::vector<Row>> table;
  for (const auto& t : copied_tables()) {
    std::vector<std::string> cols;
    table[t] = db.rows("SELECT * FROM " + t + " ORDER BY rowid", &cols);
    schema.columns[t] = cols;
  }
  auto c = [&](const std::string& t, const std::string& n) { return schema.col(t, n); };

  std::map<std::int64_t, std::string> study_name;
  for (const auto& r : table["studies"]) {
    study_name[r[c("studies", "id")].i] = r[c("studies", "name")].s;
    src.studies[r[c("studies", "name")].s].study = r;
  }
  auto study_of = [&](const std::string& t, const Row& r) -> SourceStudy& {
    return src.studies.at(study_name.at(r[c(t, "study_id")].i));
  };
  for (const auto& r : table["provenance"]) study_of("provenance", r).provenance[r[c("provenance", "key")].s] = r[c("provenance", "value")].s;
  for (const auto& r : table["runs"]) {
    auto& s = study_of("runs", r);
    s.runs.push_back(r);
    s.newest = std::max(s.newest, r[c("runs", "started")].number());
  }
  std::map<std::int64_t, std::string> variant_name;
  for (const auto& r : table["variants"]) {
    variant_name[r[c("variants", "id")].i] = r[c("variants", "name")].s;
    study_of("variants", r).variants[r[c("variants", "name")].s] = r;
  }
  std::map<std::int64_t, std::pair<int, int>> fold_of;
  std::map<std::int64_t, std::string> fold_study;
  for (const auto& r : table["folds"]) {
    fold_of[r[c("folds", "id")].i] = {static_cast<int>(r[c("folds", "fold")].i), static_cast<int>(r[c("folds", "repeat")].i)};
    fold_study[r[c("folds", "id")].i] = study_name.at(r[c("folds", "study_id")].i);
    src.studies.at(fold_study[r[c("folds", "id")].i]).fingerprints[fold_of[r[c("folds", "id")].i]] =
        r[c("folds", "data_fingerprint")].s;
  }
  for (const auto& r : table["fold_cases"]) {
    const auto id = r[c("fold_cases", "fold_id")].i;
    src.studies.at(fold_study.at(id)).fold_cases[fold_of.at(id)].push_back(
        {r[c("fold_cases", "split")], r[c("fold_cases", "position")], r[c("fold_cases", "case_id")]});
  }
  for (auto& [name, s] : src.studies) {
    for (auto& [k, rows] : s.fold_cases) std::sort(rows.begin(), rows.end());
  }
  for (const auto& r : table["trials"]) {
    study_of("trials", r).trials[{r[c("trials", "declared")].s, static_cast<int>(r[c("trials", "trial")].i)}] = r;
  }
  std::map<std::int64_t, std::pair<std::string, TaskKey>> task_key;  // id -> (study, key)
  for (const auto& r : table["tasks"]) {
    const auto f = fold_of.at(r[c("tasks", "fold_id")].i);
    const TaskKey key{variant_name.at(r[c("tasks", "variant_id")].i), f.first, f.second};
    task_key[r[c("tasks", "id")].i] = {study_name.at(r[c("tasks", "study_id")].i), key};
    study_of("tasks", r).tasks[key].task = r;
  }
  auto task_of = [&](const std::string& t, const Row& r) -> SourceTask& {
    const auto& [study, key] = task_key.at(r[c(t, "task_id")].i);
    return src.studies.at(study).tasks.at(key);
  };
  // A task's rows keep no id of their source (they are compared between sources and get the merged id).
  auto without_task_id = [&](const std::string& t, Row r) {
    r[c(t, "task_id")] = Cell{};
    return r;
  };
  for (const auto& r : table["attempts"]) task_of("attempts", r).attempts.push_back(without_task_id("attempts", r));
  for (const auto& r : table["epochs"]) task_of("epochs", r).epochs.push_back(without_task_id("epochs", r));
  for (const auto& r : table["task_metrics"]) task_of("task_metrics", r).metrics.push_back(without_task_id("task_metrics", r));
  for (const auto& r : table["task_case_metrics"])
    task_of("task_case_metrics", r).case_metrics.push_back(without_task_id("task_case_metrics", r));
  for (const auto& r : table["model_facts"]) task_of("model_facts", r).facts.push_back(without_task_id("model_facts", r));
  for (auto& [study, s] : src.studies) {
    for (auto& [key, t] : s.tasks) {
      const Cell& by = t.task[c("tasks", "trained_by")];
      if (by.type == SQLITE_INTEGER && task_key.count(by.i)) t.trained_by = task_key.at(by.i).second;
      // The row keeps no id of its source: ids differ between stores (a merged store renumbers), so they
      // must not decide between two copies of a task; the writer sets them.
      for (const char* id : {"id", "study_id", "variant_id", "fold_id", "trained_by"}) t.task[c("tasks", id)] = Cell{};
      std::sort(t.metrics.begin(), t.metrics.end());
      std::sort(t.case_metrics.begin(), t.case_metrics.end());
    }
  }
  for (const auto& r : table["early_stop_log"]) {
    Row row = r;
    row[c("early_stop_log", "variant_id")] = Cell{SQLITE_TEXT, 0, 0, variant_name.at(r[c("early_stop_log", "variant_id")].i)};
    row[c("early_stop_log", "id")] = row[c("early_stop_log", "study_id")] = Cell{};
    study_of("early_stop_log", r).early_stop.push_back(row);
  }
  return src;
}

// ---- the merge ---------------------------------------------------------------------------------------------

int status_rank(const std::string& status) {
  if (status == "done") return 5;
  if (status == "stopped") return 4;
  if (status == "failed") return 3;
  if (status == "interrupted") return 2;
  if (status == "running") return 1;
  return 0;
}

std::string describe(const TaskKey& k) {
  return "task `" + std::get<0>(k) + "` fold " + std::to_string(std::get<1>(k)) + " repeat " + std::to_string(std::get<2>(k));
}

// What a source adds to `merged_from`: the lines of a merged store, or one line for a store that ran.
std::vector<std::string> source_lines(const Source& src, const SourceStudy& s) {
  if (auto it = s.provenance.find("merged_from"); it != s.provenance.end()) {
    std::vector<std::string> out;
    std::istringstream in(it->second);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(line);
    return out;
  }
  auto get = [&](const char* k) {
    const auto it = s.provenance.find(k);
    return it == s.provenance.end() ? std::string("?") : it->second;
  };
  return {src.name + ": hosts " + get("hostnames") + ", commit " + get("git_commit") + ", " + std::to_string(s.runs.size()) +
          " run(s)"};
}

struct Candidate {
  std::size_t source;
  const SourceTask* task;
};

struct Merged {
  Row study;
  std::map<std::string, std::string> provenance;
  std::vector<Row> runs;
  std::map<std::string, Row> variants;
  std::map<std::pair<int, int>, std::vector<Row>> fold_cases;
  // (fold, repeat) -> the dataset fingerprint and the source that recorded it (the first non-empty one).
  std::map<std::pair<int, int>, std::pair<std::string, std::string>> fingerprints;
  std::map<std::pair<std::string, int>, Row> trials;
  std::map<TaskKey, const SourceTask*> tasks;
  const std::vector<Row>* early_stop = nullptr;
};

class Merger {
 public:
  Merger(const std::vector<Source>& sources, const Schema& schema, Prefer prefer, MergeSummary& summary)
      : sources_(sources), schema_(schema), prefer_(prefer), summary_(summary) {}

  Merged merge_study(const std::string& name) {
    std::vector<std::size_t> having;
    for (std::size_t i = 0; i < sources_.size(); ++i)
      if (sources_[i].studies.count(name)) having.push_back(i);
    // The newest source first (by its latest run of the study; ties by file name, then by position), so that
    // the values taken "from the newest" do not depend on the order the sources were named in.
    std::sort(having.begin(), having.end(), [&](std::size_t a, std::size_t b) {
      const auto& sa = sources_[a].studies.at(name);
      const auto& sb = sources_[b].studies.at(name);
      if (sa.newest != sb.newest) return sa.newest > sb.newest;
      if (sources_[a].name != sources_[b].name) return sources_[a].name < sources_[b].name;
      return a < b;
    });
    Merged m;
    const SourceStudy& first = sources_[having.front()].studies.at(name);
    m.study = first.study;
    std::set<std::string> lines;
    std::set<std::tuple<std::string, double, std::int64_t>> runs_seen;
    for (std::size_t i : having) {
      const Source& src = sources_[i];
      const SourceStudy& s = src.studies.at(name);
      check_study(name, first, sources_[having.front()].name, s, src.name);
      const auto created = col("studies", "created");
      if (s.study[created].number() < m.study[created].number()) m.study[created] = s.study[created];
      for (const auto& [k, v] : s.provenance) m.provenance.emplace(k, v);  // the newest source's value wins
      for (const auto& l : source_lines(src, s)) lines.insert(l);
      for (const auto& r : s.runs) {
        if (runs_seen.insert({r[col("runs", "host")].s, r[col("runs", "started")].number(), r[col("runs", "pid")].i}).second)
          m.runs.push_back(r);
      }
      merge_variants(name, m, s, src.name);
      merge_folds(name, m, s, src.name);
      merge_trials(name, m, s, src.name);
      if (!s.early_stop.empty()) {
        if (m.early_stop && *m.early_stop != s.early_stop) {
          throw MergeError("study '" + name + "': the sources hold different early-stopping logs (" + src.name +
                           " and another): its decisions depend on the order of events within one job, so such "
                           "studies are merged only from one source");
        }
        m.early_stop = &s.early_stop;
      }
    }
    std::string merged_from;
    for (const auto& l : lines) merged_from += (merged_from.empty() ? "" : "\n") + l;
    m.provenance["merged_from"] = merged_from;
    std::sort(m.runs.begin(), m.runs.end(), [&](const Row& a, const Row& b) {
      const auto st = col("runs", "started"), h = col("runs", "host"), p = col("runs", "pid");
      return std::make_tuple(a[st].number(), a[h].s, a[p].i) < std::make_tuple(b[st].number(), b[h].s, b[p].i);
    });
    merge_tasks(name, m, having);
    return m;
  }

 private:
  std::size_t col(const std::string& t, const std::string& n) const { return schema_.col(t, n); }

  void check_study(const std::string& name, const SourceStudy& a, const std::string& an, const SourceStudy& b,
                   const std::string& bn) const {
    for (const char* k : {"seed", "folds", "repeats"}) {
      const auto i = col("studies", k);
      if (!(a.study[i] == b.study[i])) {
        throw MergeError("study '" + name + "': " + k + " is " + a.study[i].text() + " in " + an + " and " +
                         b.study[i].text() + " in " + bn + ": these are different studies");
      }
    }
  }

  void merge_variants(const std::string& name, Merged& m, const SourceStudy& s, const std::string& src) {
    for (const auto& [v, row] : s.variants) {
      auto [it, fresh] = m.variants.emplace(v, row);
      const auto h = col("variants", "hash");
      if (!fresh && !(it->second[h] == row[h])) {
        throw MergeError("study '" + name + "': variant `" + v + "` has hash " + it->second[h].s + " in one source and " +
                         row[h].s + " in " + src + ": the sources ran different configurations of it");
      }
    }
  }

  void merge_folds(const std::string& name, Merged& m, const SourceStudy& s, const std::string& src) {
    for (const auto& [k, rows] : s.fold_cases) {
      auto [it, fresh] = m.fold_cases.emplace(k, rows);
      if (fresh || it->second == rows) continue;
      std::string detail;
      for (std::size_t i = 0; i < std::max(rows.size(), it->second.size()) && detail.empty(); ++i) {
        if (i >= rows.size() || i >= it->second.size() || !(rows[i] == it->second[i])) {
          const auto& r = i < rows.size() ? rows[i] : it->second[i];
          detail = " (first difference: " + r[0].s + " case " + r[2].s + ")";
        }
      }
      throw MergeError("study '" + name + "': fold " + std::to_string(k.first) + " repeat " + std::to_string(k.second) +
                       " holds other cases in " + src + " than in another source" + detail +
                       ": results of different folds cannot be pooled; merge stores of the same dataset and study.seed");
    }
    // The same cases read from other files are other data (docs/RUNNER.md "Reusing finished trainings": the
    // fingerprint keys reuse, so a merged store must not claim one dataset for results of two). An empty
    // fingerprint is unknown (a store from before schema 5, cases not from a dataset folder) and agrees with any.
    for (const auto& [k, fp] : s.fingerprints) {
      if (fp.empty()) continue;
      auto [it, fresh] = m.fingerprints.emplace(k, std::make_pair(fp, src));
      if (fresh || it->second.first == fp) continue;
      throw MergeError("study '" + name + "': fold " + std::to_string(k.first) + " repeat " + std::to_string(k.second) +
                       " was made from other data in " + src + " (dataset fingerprint " + fp + ") than in " +
                       it->second.second + " (" + it->second.first +
                       "): results of different data cannot be pooled; the fingerprint hashes each file's path, size "
                       "and modification time, so a copy of the dataset that did not keep the times (use cp -p or "
                       "rsync -a) differs too");
    }
  }

  void merge_trials(const std::string& name, Merged& m, const SourceStudy& s, const std::string& src) {
    for (const auto& [k, row] : s.trials) {
      auto [it, fresh] = m.trials.emplace(k, row);
      const auto p = col("trials", "point");
      if (!fresh && !(it->second[p] == row[p])) {
        throw MergeError("study '" + name + "': trial " + std::to_string(k.second) + (k.first.empty() ? "" : " of `" + k.first + "`") +
                         " is the point " + it->second[p].s + " in one source and " + row[p].s + " in " + src +
                         " (TPE proposals depend on the results one job saw: a TPE search runs as one job)");
      }
    }
  }

  bool same_results(const SourceTask& a, const SourceTask& b) const {
    const auto best = col("tasks", "best_epoch");
    return a.task[best] == b.task[best] && a.metrics == b.metrics && a.case_metrics == b.case_metrics;
  }

  void merge_tasks(const std::string& name, Merged& m, const std::vector<std::size_t>& having) {
    std::map<TaskKey, std::vector<Candidate>> by_key;
    for (std::size_t i : having) {
      for (const auto& [k, t] : sources_[i].studies.at(name).tasks) by_key[k].push_back({i, &t});
    }
    const auto status = col("tasks", "status"), ended = col("tasks", "ended"), rung = col("tasks", "rung");
    for (auto& [key, cands] : by_key) {
      // The furthest state; within it the latest end; then the row's content (order-independent).
      auto better = [&](const Candidate& a, const Candidate& b) {
        const Row& ra = a.task->task;
        const Row& rb = b.task->task;
        const int sa = status_rank(ra[status].s), sb = status_rank(rb[status].s);
        if (sa != sb) return sa > sb;
        if (ra[rung].i != rb[rung].i) return ra[rung].i > rb[rung].i;
        if (ra[ended].number() != rb[ended].number()) return ra[ended].number() > rb[ended].number();
        return rb < ra;
      };
      std::sort(cands.begin(), cands.end(), better);
      const Candidate* chosen = &cands.front();
      std::vector<const Candidate*> done;
      for (const auto& c : cands)
        if (c.task->task[status].s == "done") done.push_back(&c);
      if (done.size() > 1) {
        bool identical = true;
        for (const auto* d : done) identical = identical && same_results(*done.front()->task, *d->task);
        if (identical) {
          ++summary_.duplicates;
        } else if (prefer_ == Prefer::kRefuse) {
          throw MergeError("study '" + name + "': " + describe(key) + " is done in " + sources_[done[0]->source].name +
                           " and in " + sources_[done[1]->source].name +
                           " with different results (metrics or best epoch differ); say which to keep with --prefer "
                           "newest (the one that ended last) or --prefer first (the first store named)");
        } else {
          ++summary_.conflicts_resolved;
          if (prefer_ == Prefer::kFirst) {
            chosen = *std::min_element(done.begin(), done.end(),
                                       [](const Candidate* a, const Candidate* b) { return a->source < b->source; });
          }
        }
      }
      m.tasks[key] = chosen->task;
    }
  }

  const std::vector<Source>& sources_;
  const Schema& schema_;
  Prefer prefer_;
  MergeSummary& summary_;
};

// ---- writing ---------------------------------------------------------------------------------------------

class Writer {
 public:
  Writer(Connection& db, const Schema& schema) : db_(db), schema_(schema) {}

  void write(const Merged& m, MergeSummary& summary) {
    const std::int64_t sid = ++ids_["studies"];
    Row study = m.study;
    study[col("studies", "id")] = integer(sid);
    put("studies", study);
    for (const auto& [k, v] : m.provenance) put("provenance", {integer(sid), text(k), text(v)}, {"study_id", "key", "value"});
    for (Row r : m.runs) {
      r[col("runs", "id")] = integer(++ids_["runs"]);
      r[col("runs", "study_id")] = integer(sid);
      put("runs", r);
    }
    // Variants in the study's order (the newest source's ordinals), ties by name.
    std::vector<const Row*> variants;
    for (const auto& [v, r] : m.variants) variants.push_back(&r);
    const auto ord = col("variants", "ordinal"), vname = col("variants", "name");
    std::stable_sort(variants.begin(), variants.end(), [&](const Row* a, const Row* b) {
      return std::make_pair((*a)[ord].i, (*a)[vname].s) < std::make_pair((*b)[ord].i, (*b)[vname].s);
    });
    std::map<std::string, std::int64_t> variant_id;
    for (const Row* v : variants) {
      Row r = *v;
      const std::int64_t id = ++ids_["variants"];
      variant_id[r[vname].s] = id;
      r[col("variants", "id")] = integer(id), r[col("variants", "study_id")] = integer(sid);
      put("variants", r);
    }
    // Folds: every (fold, repeat) that has cases or tasks.
    std::set<std::pair<int, int>> fold_keys;
    for (const auto& [k, rows] : m.fold_cases) fold_keys.insert(k);
    for (const auto& [k, t] : m.tasks) fold_keys.insert({std::get<1>(k), std::get<2>(k)});
    std::map<std::pair<int, int>, std::int64_t> fold_id;
    std::vector<std::pair<int, int>> ordered(fold_keys.begin(), fold_keys.end());
    std::sort(ordered.begin(), ordered.end(), [](auto a, auto b) { return std::tie(a.second, a.first) < std::tie(b.second, b.first); });
    for (const auto& k : ordered) {
      const std::int64_t id = ++ids_["folds"];
      fold_id[k] = id;
      const auto fp = m.fingerprints.find(k);
      put("folds", {integer(id), integer(sid), integer(k.first), integer(k.second), text(fp == m.fingerprints.end() ? "" : fp->second.first)},
          {"id", "study_id", "fold", "repeat", "data_fingerprint"});
      if (auto it = m.fold_cases.find(k); it != m.fold_cases.end()) {
        for (const auto& r : it->second) put("fold_cases", {integer(id), r[0], r[1], r[2]}, {"fold_id", "split", "position", "case_id"});
      }
    }
    for (const auto& [k, trial] : m.trials) {
      Row r = trial;
      r[col("trials", "study_id")] = integer(sid);
      put("trials", r);
    }
    // Tasks in the variants' order, then repeat and fold.
    std::vector<std::pair<TaskKey, const SourceTask*>> tasks(m.tasks.begin(), m.tasks.end());
    std::stable_sort(tasks.begin(), tasks.end(), [&](const auto& a, const auto& b) {
      auto k = [&](const TaskKey& t) { return std::make_tuple(variant_id.at(std::get<0>(t)), std::get<2>(t), std::get<1>(t)); };
      return k(a.first) < k(b.first);
    });
    std::map<TaskKey, std::int64_t> task_id;
    for (const auto& [k, t] : tasks) task_id[k] = ids_["tasks"] + 1 + static_cast<std::int64_t>(task_id.size());
    for (const auto& [k, t] : tasks) {
      Row r = t->task;
      const std::int64_t id = task_id.at(k);
      r[col("tasks", "id")] = integer(id);
      r[col("tasks", "study_id")] = integer(sid);
      r[col("tasks", "variant_id")] = integer(variant_id.at(std::get<0>(k)));
      r[col("tasks", "fold_id")] = integer(fold_id.at({std::get<1>(k), std::get<2>(k)}));
      Cell by;
      if (t->trained_by && task_id.count(*t->trained_by)) by = integer(task_id.at(*t->trained_by));
      r[col("tasks", "trained_by")] = by;
      put("tasks", r);
      ++summary.tasks;
      summary.done += r[col("tasks", "status")].s == "done";
      for (const auto* rows : {&t->attempts, &t->epochs, &t->metrics, &t->case_metrics, &t->facts}) {
        const std::string table = rows == &t->attempts ? "attempts" : rows == &t->epochs ? "epochs"
                                : rows == &t->metrics ? "task_metrics" : rows == &t->case_metrics ? "task_case_metrics"
                                                                                                   : "model_facts";
        for (Row x : *rows) {
          x[col(table, "task_id")] = integer(id);
          put(table, x);
        }
      }
    }
    ids_["tasks"] += static_cast<std::int64_t>(tasks.size());
    if (m.early_stop) {
      for (Row r : *m.early_stop) {
        r[col("early_stop_log", "id")] = integer(++ids_["early_stop_log"]);
        r[col("early_stop_log", "study_id")] = integer(sid);
        r[col("early_stop_log", "variant_id")] = integer(variant_id.at(r[col("early_stop_log", "variant_id")].s));
        put("early_stop_log", r);
      }
    }
  }

 private:
  static Cell text(const std::string& s) { return Cell{SQLITE_TEXT, 0, 0, s}; }
  std::size_t col(const std::string& t, const std::string& n) const { return schema_.col(t, n); }
  void put(const std::string& table, const Row& r) { db_.insert(table, schema_.columns.at(table), r); }
  void put(const std::string& table, const Row& r, const std::vector<std::string>& cols) { db_.insert(table, cols, r); }

  Connection& db_;
  const Schema& schema_;
  std::map<std::string, std::int64_t> ids_;
};

}  // namespace

MergeSummary merge_stores(const std::vector<std::string>& sources_in, const std::string& into, Prefer prefer) {
  if (sources_in.empty()) throw MergeError("no store to merge: name one or more stores before --into");
  std::vector<std::string> paths = sources_in;
  std::error_code ec;
  if (fs::exists(into, ec)) {
    const auto target = fs::weakly_canonical(into, ec);
    bool named = false;
    for (const auto& p : paths) named = named || fs::weakly_canonical(p, ec) == target;
    if (!named) paths.push_back(into);  // merging into a store adds to it
  }
  {
    std::set<fs::path> seen;
    for (const auto& p : paths) {
      if (!fs::is_regular_file(p, ec)) throw MergeError(p + ": no such store file");
      if (!seen.insert(fs::weakly_canonical(p, ec)).second) throw MergeError(p + ": named twice");
    }
  }
  MergeSummary summary;
  summary.sources = static_cast<int>(paths.size());
  Schema schema;
  std::vector<Source> sources;
  for (std::size_t i = 0; i < paths.size(); ++i) sources.push_back(read_source(paths[i], i, schema));

  std::set<std::string> names;
  for (const auto& s : sources)
    for (const auto& [n, st] : s.studies) names.insert(n);
  Merger merger(sources, schema, prefer, summary);
  std::vector<std::pair<std::string, Merged>> merged;
  for (const auto& n : names) merged.emplace_back(n, merger.merge_study(n));

  // Written next to the target and renamed over it when complete.
  const fs::path target(into);
  const fs::path temp = target.parent_path() / (target.filename().string() + ".merge-" + std::to_string(::getpid()));
  struct Cleanup {
    fs::path p;
    bool keep = false;
    ~Cleanup() {
      if (keep) return;
      std::error_code e;
      for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(p.string() + suffix, e);
    }
  } cleanup{temp};
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(temp.string() + suffix, ec);
  { Store create(temp.string()); }  // the schema, at this build's version
  {
    Connection db(temp.string(), true);
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("BEGIN IMMEDIATE");
    Writer writer(db, schema);
    for (const auto& [n, m] : merged) writer.write(m, summary);
    db.finalize_inserts();
    db.exec("COMMIT");
    db.exec("PRAGMA journal_mode = DELETE");  // one self-contained file to rename
  }
  summary.studies = static_cast<int>(merged.size());
  fs::rename(temp, target);
  cleanup.keep = true;
  return summary;
}

}  // namespace ablate::db
