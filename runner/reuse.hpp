// Never train the same thing twice (docs/RUNNER.md "Reusing finished trainings"): the reuse key of a task
// (ablations/sharing.hpp: its training key, and how it is evaluated) and where a finished task with that
// key lies: the coordinator's own store (any study) first, then each store named by `--reuse`, in order.
// The coordinator copies what it finds into its store (it stays the one writer; the other stores are
// opened read-only); `ablate plan` only counts it.
//
// Contract. A ReuseFinder holds its stores open for its lifetime; it is used from one thread. A --reuse
// store that is missing or not a store makes the constructor throw std::runtime_error naming it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ablations/study.hpp"
#include "db/store.hpp"
#include "runner/run.hpp"

namespace ablate::runner {

// The folds a new study stores: o.list_cases and o.make_splits for each repeat. Throws RunRefused (kInput)
// for a missing or empty dataset, or one too small for the folds.
std::vector<db::FoldCases> make_folds(const RunOptions& o, const VariantConfig& base);

// o.data_fingerprint of `data`, or "" (logged) when there is none or it cannot be read: nothing is reused then.
std::string fingerprint_of(const RunOptions& o, const DataConfig& data);

// The seed a task trains with: study.seed + repeat (every Task message carries it).
std::uint64_t task_seed(const StudyConfig& study, int repeat);

// The reuse key of variant `v` on fold `f` (tasks.reuse_key): "" when the data are unknown (empty
// `data_fingerprint`).
std::string reuse_key(const Variant& v, const db::FoldCases& f, const std::string& data_fingerprint);

class ReuseFinder {
 public:
  // `own` (may be null: no store yet) is searched first; `others` are opened read-only.
  ReuseFinder(const db::Store* own, const std::vector<std::string>& others);
  ~ReuseFinder();
  // The first finished task with `key` other than task `except_task` of the own store; none for "".
  std::optional<db::ReuseSource> find(const std::string& key, std::int64_t except_task = 0) const;

 private:
  const db::Store* own_;
  std::vector<std::unique_ptr<db::Store>> others_;
};

}  // namespace ablate::runner
