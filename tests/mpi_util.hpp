// Helpers of the integration tests that run the real `ablate` under real `mpirun` (runner_mpi_test,
// runner_search_mpi_test, runner_effects_mpi_test): mpirun allowed as root, a command run to its end or
// started in a process group of its own with its output in a log file, and a wait on what the store holds.
// The command lines are the tests' own text, run through /bin/sh as a user would type them.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <thread>

#include "cli_util.hpp"
#include "db/store.hpp"

namespace mpi_util {

using cli_util::read_file;

// Open MPI refuses to run as root, and to start more ranks than there are cores, unless told; the tests
// run in containers as root on small machines. `ablate` and its mpirun children inherit these.
inline void allow_mpirun_as_root() {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
}

// The launcher in front of a command line: "mpirun -np NP --oversubscribe ".
inline std::string mpirun(int np) {
  return std::string(ABLATE_MPIRUN) + " -np " + std::to_string(np) + " --oversubscribe ";
}

// The exit status of a waited-for process, or 128 + the signal that ended it (as a shell reports it).
inline int exit_status(int wait_status) {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

// Runs a shell command, output to `log`; returns its exit status.
inline int run(const std::string& cmd, const std::filesystem::path& log) {
  return exit_status(std::system((cmd + " >" + log.string() + " 2>&1").c_str()));
}

// Starts a command in its own process group (so the whole job can be killed at once), output to `log`.
inline pid_t spawn(const std::string& cmd, const std::filesystem::path& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    execl("/bin/sh", "sh", "-c", ("exec " + cmd + " >" + log.string() + " 2>&1").c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  return pid;
}

// Waits for a process started by spawn(); returns its exit status.
inline int wait_exit(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return exit_status(st);
}

// Makes the folder `dir` afresh with a synthetic dataset in dir/data (`cases` cases of 32 x 32 px with
// `slices` slices each) by `ablate data synth`; returns its exit status, its output in dir/synth.log.
inline int fresh_dir_with_data(const std::filesystem::path& dir, int cases, int slices) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return run(std::string(ABLATE_EXE) + " data synth --out " + (dir / "data").string() + " --cases " +
                 std::to_string(cases) + " --size 32 --slices " + std::to_string(slices),
             dir / "synth.log");
}

// Waits (up to 120 s) until `sql` on the store `db` returns a non-zero integer; false when it never does.
// A store that does not exist yet, or cannot be read at this moment, is looked at again.
inline bool wait_for(const std::string& db, const std::string& sql) {
  for (int i = 0; i < 6000; ++i) {
    if (std::filesystem::exists(db)) {
      try {
        ablate::db::Store s(db, true);
        if (s.query_int(sql) != 0) return true;
      } catch (const std::exception&) {
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace mpi_util
