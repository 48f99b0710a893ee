// Running a cluster tool (sbatch, srun --mpi=list) without a shell: the program and its arguments are
// an argument vector handed to posix_spawnp, so no text of a study or of the command line is ever
// parsed by a shell.
#pragma once

#include <string>
#include <vector>

namespace ablate::cluster {

struct ProcessResult {
  bool started = false;  // false: the program could not be started (not found, not executable)
  int status = -1;       // its exit code; 128 + N when signal N ended it; -1 when not started
  bool timed_out = false;
  std::string output;    // what it wrote to stdout and stderr, interleaved as written
};

// Runs argv[0] (looked up on PATH when it has no '/') with argv[1..], stdin from /dev/null, and collects
// its output. After `timeout_seconds` (> 0) it is killed (SIGKILL) and timed_out is set. Throws
// std::invalid_argument for an empty argv.
ProcessResult run_process(const std::vector<std::string>& argv, int timeout_seconds);

// The full path of `program` on PATH (an executable regular file), or "" when there is none.
std::string find_on_path(const std::string& program);

}  // namespace ablate::cluster
