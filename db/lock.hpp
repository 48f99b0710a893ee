// The coordinator lock's rule (db/SCHEMA.md, "The coordinator lock"): whether a coordinator may take a
// study whose `coordinator_lock` row names another holder. A pure function of the stored row, the
// caller's identity and the clock, so that every case is tested on scripted inputs (tests/db_lock_test.cpp);
// Store::acquire_lock and Store::lock_held apply it inside their transaction.
//
// Contract.
// - judge_lock reads nothing but its arguments: the caller supplies whether the holder's pid runs on
//   this host (meaningful only when the holder's host is the caller's; a zombie counts as not running).
// - LockOwner::job is "<cluster>/<job id>" inside a Slurm job (SLURM_CLUSTER_NAME, SLURM_JOB_ID; job ids
//   repeat across clusters that share a file system) and "" outside one; `restart` is SLURM_RESTART_COUNT
//   (0 on a job's first run). lock_owner_of_this_process() reads them with the host name and pid.
// - Thread-safe; nothing throws but std::bad_alloc.
#pragma once

#include <string>

namespace ablate::db {

// Who holds, or wants, a study.
struct LockOwner {
  std::string host;
  long pid = 0;
  std::string job;  // "" outside Slurm
  int restart = 0;  // the Slurm job's restart count
};

// Why the caller may take the lock, or that it may not.
enum class LockVerdict {
  kFree,         // no row
  kOurs,         // this very process (same host and pid): taking it again is a no-op
  kDeadProcess,  // the holder is a process of this host that no longer runs
  kStale,        // no heartbeat for longer than the stale limit, whatever the host
  kEarlierRun,   // an earlier run of the caller's own Slurm job (requeued since, so that run is over)
  kRefused,      // a live coordinator holds it
};

// The verdict on a holder whose last heartbeat is `heartbeat` (Unix seconds), for `caller` at `now`.
// In order: the caller itself; a dead process of the caller's host; a stale heartbeat; an earlier run of
// the same Slurm job (same job, lower restart count) unless its pid still runs on this host; else refused.
// Why the earlier-run rule is sound: Slurm requeues a job only once its previous run has ended (its
// steps killed, or its node marked DOWN), so the holder cannot still be that job's coordinator; a holder
// that somehow still runs (a node cut off but alive) finds its row gone at its next heartbeat (about
// 10 s) and stops, as after a stale takeover.
LockVerdict judge_lock(const LockOwner& holder, double heartbeat, bool holder_pid_runs, const LockOwner& caller, double now,
                       double stale_seconds);

// True for every verdict but kRefused.
inline bool may_take(LockVerdict v) { return v != LockVerdict::kRefused; }

// This process: host name, pid and its Slurm job from the environment.
LockOwner lock_owner_of_this_process();

}  // namespace ablate::db
