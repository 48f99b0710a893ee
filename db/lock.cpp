#include "db/lock.hpp"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "db/store.hpp"

namespace ablate::db {

LockVerdict judge_lock(const LockOwner& holder, double heartbeat, bool holder_pid_runs, const LockOwner& caller, double now,
                       double stale_seconds) {
  const bool same_host = holder.host == caller.host;
  if (same_host && holder.pid == caller.pid) return LockVerdict::kOurs;
  if (same_host && !holder_pid_runs) return LockVerdict::kDeadProcess;
  if (now - heartbeat > stale_seconds) return LockVerdict::kStale;
  // A live pid on this host is never an earlier run of our job: Slurm ended that run before requeueing,
  // so the pid belongs to someone else (reused) and only the stale rule may free it.
  if (!same_host && !caller.job.empty() && holder.job == caller.job && holder.restart < caller.restart) {
    return LockVerdict::kEarlierRun;
  }
  return LockVerdict::kRefused;
}

LockOwner lock_owner_of_this_process() {
  LockOwner me;
  me.host = this_host();
  me.pid = static_cast<long>(::getpid());
  const char* job = std::getenv("SLURM_JOB_ID");
  if (job != nullptr && *job != '\0') {
    const char* cluster = std::getenv("SLURM_CLUSTER_NAME");
    me.job = std::string(cluster != nullptr ? cluster : "") + "/" + job;
    const char* restart = std::getenv("SLURM_RESTART_COUNT");
    // An unreadable count reads as a first run: it can only make the earlier-run rule not apply.
    if (restart != nullptr) {
      char* end = nullptr;
      const long r = std::strtol(restart, &end, 10);
      if (end != restart && *end == '\0' && r >= 0 && r < 1000000) me.restart = static_cast<int>(r);
    }
  }
  return me;
}

}  // namespace ablate::db
