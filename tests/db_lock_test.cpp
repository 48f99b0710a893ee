// The coordinator lock's rule (db/lock.hpp) on scripted holders and callers, then the same rule through
// Store::acquire_lock on a real file with the Slurm variables of a requeued job set in the environment.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <vector>
#include <string>

#include "db/lock.hpp"
#include "db/store.hpp"
#include "store_fixture.hpp"

using namespace ablate::db;

namespace {

constexpr double kNow = 10000;
constexpr double kStale = 120;

LockOwner owner(const std::string& host, long pid, const std::string& job = "", int restart = 0) {
  return LockOwner{host, pid, job, restart};
}

// A fresh heartbeat (5 s old) unless said otherwise; the holder's pid runs unless said otherwise.
LockVerdict judge(const LockOwner& holder, const LockOwner& caller, bool runs = true, double age = 5) {
  return judge_lock(holder, kNow - age, runs, caller, kNow, kStale);
}

TEST(LockRule, TheCallerItselfAndDeadOrStaleHolders) {
  EXPECT_EQ(judge(owner("n0", 7), owner("n0", 7)), LockVerdict::kOurs);
  EXPECT_EQ(judge(owner("n0", 7), owner("n0", 8), false), LockVerdict::kDeadProcess);
  EXPECT_EQ(judge(owner("n0", 7), owner("n0", 8), true), LockVerdict::kRefused);
  EXPECT_EQ(judge(owner("n0", 7), owner("n0", 8), true, 121), LockVerdict::kStale);  // a reused pid
  EXPECT_EQ(judge(owner("n0", 7), owner("n1", 8), true, 119), LockVerdict::kRefused);
  EXPECT_EQ(judge(owner("n0", 7), owner("n1", 8), true, 121), LockVerdict::kStale);
  // Whether the pid runs says nothing about a process of another host.
  EXPECT_EQ(judge(owner("n0", 7), owner("n1", 8), false, 5), LockVerdict::kRefused);
  EXPECT_FALSE(may_take(LockVerdict::kRefused));
  for (auto v : {LockVerdict::kFree, LockVerdict::kOurs, LockVerdict::kDeadProcess, LockVerdict::kStale, LockVerdict::kEarlierRun}) {
    EXPECT_TRUE(may_take(v));
  }
}

// The requeued run's coordinator starts on another node while the lost one's heartbeat is fresh.
TEST(LockRule, ARequeuedRunOfTheSameJobTakesOverItsEarlierRun) {
  EXPECT_EQ(judge(owner("n0", 7, "c/42", 0), owner("n2", 9, "c/42", 1)), LockVerdict::kEarlierRun);
  EXPECT_EQ(judge(owner("n0", 7, "c/42", 1), owner("n2", 9, "c/42", 3)), LockVerdict::kEarlierRun);
  // The same run (a second coordinator in one allocation), a later run, or another job: refused.
  EXPECT_EQ(judge(owner("n0", 7, "c/42", 1), owner("n2", 9, "c/42", 1)), LockVerdict::kRefused);
  EXPECT_EQ(judge(owner("n0", 7, "c/42", 2), owner("n2", 9, "c/42", 1)), LockVerdict::kRefused);
  EXPECT_EQ(judge(owner("n0", 7, "c/42", 0), owner("n2", 9, "c/43", 1)), LockVerdict::kRefused);
  // The same job id on another cluster sharing the file system is another job.
  EXPECT_EQ(judge(owner("n0", 7, "a/42", 0), owner("n2", 9, "b/42", 1)), LockVerdict::kRefused);
  // Outside Slurm nothing matches, not even two callers without a job.
  EXPECT_EQ(judge(owner("n0", 7), owner("n2", 9)), LockVerdict::kRefused);
  EXPECT_EQ(judge(owner("n0", 7, "", 0), owner("n2", 9, "", 1)), LockVerdict::kRefused);
  // A live pid on the caller's host is never taken for an earlier run (Slurm ended that run): refused
  // until it is dead or stale.
  EXPECT_EQ(judge(owner("n0", 7, "c/42", 0), owner("n0", 9, "c/42", 1), true), LockVerdict::kRefused);
  EXPECT_EQ(judge(owner("n0", 7, "c/42", 0), owner("n0", 9, "c/42", 1), false), LockVerdict::kDeadProcess);
}

// Sets the Slurm variables of this process for one scope, restoring what was there.
class SlurmEnv {
 public:
  SlurmEnv(const char* job, const char* restart, const char* cluster = "test") {
    for (const char* v : kVars) {
      const char* old = std::getenv(v);
      saved_.push_back(old ? std::optional<std::string>(old) : std::nullopt);
    }
    set("SLURM_JOB_ID", job);
    set("SLURM_RESTART_COUNT", restart);
    set("SLURM_CLUSTER_NAME", cluster);
  }
  ~SlurmEnv() {
    for (std::size_t i = 0; i < 3; ++i) set(kVars[i], saved_[i] ? saved_[i]->c_str() : nullptr);
  }

 private:
  static void set(const char* name, const char* value) {
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  static constexpr const char* kVars[3] = {"SLURM_JOB_ID", "SLURM_RESTART_COUNT", "SLURM_CLUSTER_NAME"};
  std::vector<std::optional<std::string>> saved_;
};

TEST(LockRule, ThisProcessReadsItsSlurmJob) {
  {
    SlurmEnv env(nullptr, nullptr, nullptr);
    const auto me = lock_owner_of_this_process();
    EXPECT_EQ(me.host, this_host());
    EXPECT_EQ(me.pid, static_cast<long>(::getpid()));
    EXPECT_EQ(me.job, "");
    EXPECT_EQ(me.restart, 0);
  }
  {
    SlurmEnv env("42", nullptr);  // a first run: Slurm sets no restart count
    EXPECT_EQ(lock_owner_of_this_process().job, "test/42");
    EXPECT_EQ(lock_owner_of_this_process().restart, 0);
  }
  {
    SlurmEnv env("42", "3");
    EXPECT_EQ(lock_owner_of_this_process().restart, 3);
  }
  {
    SlurmEnv env("42", "3x");  // unreadable: a first run, so the earlier-run rule cannot apply wrongly
    EXPECT_EQ(lock_owner_of_this_process().restart, 0);
  }
}

class LockStoreTest : public store_test::StoreFixture {
 protected:
  LockStoreTest() : StoreFixture("ablate-lock-test", {{{"unet", "U-Net", "h1", "model.cc = false\n", 0}, ""}}) {}
};

// The coordinator-node-lost case on a real store: the lost run's row names another host with a fresh
// heartbeat; the requeued run (same job, restart count 1) takes it, another job is refused.
TEST_F(LockStoreTest, ARequeuedJobTakesOverItsLockOnAnotherHost) {
  Store s(path_);
  const auto id = s.create_study({"st", 42, 2, 1});
  {
    SlurmEnv env("42", nullptr);
    EXPECT_EQ(s.acquire_lock(id), LockVerdict::kFree);
    EXPECT_EQ(s.query_text("SELECT job || ':' || restart FROM coordinator_lock"), "test/42:0");
  }
  const std::string lost = "UPDATE coordinator_lock SET host = 'node0', pid = 4242, heartbeat = " + std::to_string(now_seconds());
  s.exec(lost);
  {
    SlurmEnv env("43", "1");  // another job
    try {
      s.acquire_lock(id);
      FAIL() << "another job took a live lock";
    } catch (const LockError& e) {
      EXPECT_NE(std::string(e.what()).find("host node0, pid 4242, Slurm job test/42"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(s.lock_held(id));
  }
  {
    SlurmEnv env("42", "1");  // the same job, requeued
    EXPECT_FALSE(s.lock_held(id));
    EXPECT_EQ(s.acquire_lock(id), LockVerdict::kEarlierRun);
    EXPECT_EQ(s.query_text("SELECT host || ':' || pid || ':' || job || ':' || restart FROM coordinator_lock"),
              this_host() + ":" + std::to_string(::getpid()) + ":test/42:1");
    EXPECT_EQ(s.acquire_lock(id), LockVerdict::kOurs);
    s.heartbeat(id);
  }
  // The requeued run's lock is not the earlier run of a third run of the same restart count.
  s.exec(lost);
  {
    SlurmEnv env("42", "0");
    EXPECT_THROW(s.acquire_lock(id), LockError);
  }
}

// A read-only store of schema 5 (no job columns) is still judged, by host, pid and heartbeat.
TEST_F(LockStoreTest, ASchemaFiveStoreReadsWithoutJobs) {
  std::int64_t id = 0;
  {
    Store s(path_);
    id = s.create_study({"st", 42, 2, 1});
    s.acquire_lock(id);
    s.exec("UPDATE coordinator_lock SET host = 'node0', pid = 4242, heartbeat = " + std::to_string(now_seconds()));
    s.exec("BEGIN; ALTER TABLE epochs DROP COLUMN val_soft_dice; ALTER TABLE coordinator_lock DROP COLUMN job; ALTER TABLE coordinator_lock DROP COLUMN restart; "
           "PRAGMA user_version = 5; UPDATE meta SET value = '5' WHERE key = 'schema_version'; COMMIT");
  }
  {
    Store ro(path_, true);
    EXPECT_EQ(ro.schema_version(), 5);
    SlurmEnv env("42", "1");
    EXPECT_TRUE(ro.lock_held(id));
  }
  Store s(path_);  // migrated to 6: the holder has no job, so the requeue rule cannot take it
  EXPECT_EQ(s.schema_version(), kSchemaVersion);
  EXPECT_EQ(s.query_text("SELECT job || ':' || restart FROM coordinator_lock"), ":0");
  SlurmEnv env("42", "1");
  EXPECT_THROW(s.acquire_lock(id), LockError);
}

}  // namespace
