// `ablate merge`: the studies of several stores in one (shards of a job array, two allocations, two
// clusters). docs/RUNNER.md "Merging stores" is the user's description; db/SCHEMA.md the tables.
//
// Contract.
// - Sources are read, never written (a source of an older schema is migrated in a temporary copy). A
//   source whose study is being run (its coordinator lock is held and fresh) is refused: merge a study
//   when its job has ended.
// - The result is written to a temporary file in the target's folder and renamed over `into` only when
//   complete: a merge that fails or is killed leaves `into` as it was. An existing `into` is one of the
//   sources (merging into it adds to it).
// - Rows are matched by their natural keys, never by row ids: a study by name, a variant by (study, name),
//   a fold by (study, fold, repeat), a task by (study, variant, fold, repeat), a trial by (study, declared,
//   trial), a run by (host, pid, started).
// - The same study must agree everywhere: seed, folds and repeats, each fold's cases (train, val and test,
//   in order), the dataset fingerprint each fold was made from (folds.data_fingerprint; an empty one is
//   unknown and agrees with any, and the result keeps the known one), each variant's hash and each trial's
//   point; otherwise MergeError names the study, what differs (the fold) and the two sources. A task present in several sources is kept once: a done task over any other state;
//   of several done ones, identical results (fold metrics, case metrics, best epoch) give one row; different
//   results are refused unless `prefer` says which to keep (kNewest: the one that ended last; kFirst: the
//   source named first). Of tasks that are not done, the furthest state is kept (stopped at the higher rung,
//   then failed, interrupted, pending). An early-stopping log is taken from one source only: two different
//   logs of one study are refused (its decisions depend on the order of events in one job).
// - The result does not depend on the order of the sources (except with kFirst) and merging it again with
//   any of its sources changes nothing: rows are written in a canonical order, and the provenance keeps
//   every source once (key `merged_from`, one line per store that ran: its file name, hosts, commit, runs).
// - Thread safety: a free function with no shared state; it opens its own connections.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace ablate::db {

// A merge refused for its input (exit 2 in the CLI): the message names the study, the row and the sources.
class MergeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Prefer { kRefuse, kNewest, kFirst };

struct MergeSummary {
  int sources = 0;
  int studies = 0;
  int tasks = 0;            // tasks in the result
  int done = 0;             // of which done
  int duplicates = 0;       // tasks found in several sources with identical results, kept once
  int conflicts_resolved = 0;  // tasks with different results in several sources, resolved by `prefer`
};

MergeSummary merge_stores(const std::vector<std::string>& sources, const std::string& into, Prefer prefer = Prefer::kRefuse);

}  // namespace ablate::db
