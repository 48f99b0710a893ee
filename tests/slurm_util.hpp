// Helpers of the tests that run `ablate submit` on a real Slurm (cluster_slurm_test: one node from
// scripts/slurm-local; cluster_multinode_test: several from scripts/slurm-cluster): a job's state from
// `scontrol show job`, waiting for its end or for what the store holds, the job id of a submission.
// Clients find the instance through SLURM_CONF, which the tests set before calling these.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/process.hpp"
#include "db/store.hpp"

namespace slurm_util {

using ablate::cluster::run_process;

// `scontrol show job ID -o` as key=value pairs (empty when the job is unknown).
inline std::map<std::string, std::string> job_info(const std::string& id) {
  std::map<std::string, std::string> info;
  const auto r = run_process({"scontrol", "show", "job", id, "-o"}, 30);
  if (r.status != 0) return info;
  static const std::regex pair(R"((\w+)=(\S*))");
  for (std::sregex_iterator it(r.output.begin(), r.output.end(), pair), end; it != end; ++it) info[(*it)[1]] = (*it)[2];
  return info;
}

inline bool finished(const std::string& state) {
  for (const char* s : {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED"}) {
    if (state == s) return true;
  }
  return false;
}

// Waits until the job has ended (up to `seconds`); returns its last `scontrol show job`.
inline std::map<std::string, std::string> wait_for_end(const std::string& id, int seconds = 600) {
  std::map<std::string, std::string> info;
  for (int i = 0; i < seconds * 4; ++i) {
    info = job_info(id);
    if (finished(info["JobState"])) return info;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return info;
}

// An integer query on the store, read-only; -1 when the store cannot be read at this moment.
inline std::int64_t query(const std::string& db, const std::string& sql) {
  try {
    ablate::db::Store s(db, true);
    return s.query_int(sql);
  } catch (const std::exception&) {
    return -1;
  }
}

// Waits (up to 300 s) until `sql` on the store gives a value >= `at_least`, or the job ends.
inline bool wait_for_store(const std::string& db, const std::string& sql, const std::string& job, std::int64_t at_least = 1) {
  for (int i = 0; i < 1200; ++i) {
    if (std::filesystem::exists(db) && query(db, sql) >= at_least) return true;
    if (i % 8 == 0 && finished(job_info(job)["JobState"])) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return false;
}

// `ablate submit STUDY --submit --signal-seconds 60 ARGS`: the job id from sbatch's answer ("" and a
// test failure when there is none).
inline std::string submit(const std::filesystem::path& study, std::vector<std::string> args = {}) {
  std::vector<std::string> argv = {ABLATE_EXE, "submit", study.string(), "--submit", "--signal-seconds", "60"};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto r = run_process(argv, 120);
  EXPECT_EQ(r.status, 0) << r.output;
  std::smatch m;
  if (!std::regex_search(r.output, m, std::regex(R"(Submitted batch job (\d+))"))) {
    ADD_FAILURE() << "no job id in:\n" << r.output;
    return "";
  }
  return m[1];
}

// Every task of the study done, with exactly one result (its metrics once) and every epoch once.
inline void expect_complete(const std::string& db, int tasks, int epochs) {
  EXPECT_EQ(query(db, "SELECT count(*) FROM tasks"), tasks);
  EXPECT_EQ(query(db, "SELECT count(*) FROM tasks WHERE status = 'done'"), tasks);
  EXPECT_EQ(query(db, "SELECT count(*) FROM attempts WHERE status = 'done'"), tasks) << "a task done twice";
  EXPECT_EQ(query(db, "SELECT count(*) FROM epochs"), static_cast<std::int64_t>(tasks) * epochs);
  EXPECT_EQ(query(db, "SELECT count(DISTINCT task_id) FROM task_metrics"), tasks);
  EXPECT_EQ(query(db, "SELECT count(*) FROM (SELECT task_id FROM epochs GROUP BY task_id HAVING count(*) <> " +
                          std::to_string(epochs) + " OR max(epoch) <> " + std::to_string(epochs) + ")"),
            0);
}

}  // namespace slurm_util
