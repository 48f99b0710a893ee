// Running a program (sbatch, srun --mpi=list, the steps of `ablate demo`) without a shell: the program and
// its arguments are an argument vector handed to posix_spawnp, so no text of a study or of the command line
// is ever parsed by a shell. The one place the project starts processes.
//
// Contract: the functions may be called from any thread (they share no state; the child inherits the
// environment as it is at the call); they block until the child has ended (or was killed at the timeout)
// and reaped, so no zombie is left. A program that cannot be started is reported in the result
// (started = false, error), never thrown.
#pragma once

#include <string>
#include <vector>

namespace ablate::cluster {

struct ProcessResult {
  bool started = false;  // false: the program could not be started (not found, not executable)
  int status = -1;       // its exit code; 128 + N when signal N ended it; -1 when not started
  int signal = 0;        // N when signal N ended it, else 0
  bool timed_out = false;
  std::string output;    // what it wrote to stdout and stderr, interleaved as written (run_process only)
  std::string error;     // why it could not be started (strerror of posix_spawnp or pipe); "" when started
};

// Runs argv[0] (looked up on PATH when it has no '/') with argv[1..], stdin from /dev/null, and collects
// its output. After `timeout_seconds` (> 0) it is killed (SIGKILL) and timed_out is set. Throws
// std::invalid_argument for an empty argv.
ProcessResult run_process(const std::vector<std::string>& argv, int timeout_seconds);

// Runs argv[0] the same way on this process's own standard streams (the child reads and writes them
// directly) and waits for it, without a time limit: for steps whose output the user should see as it
// comes (`ablate demo`). Throws std::invalid_argument for an empty argv.
ProcessResult run_attached(const std::vector<std::string>& argv);

// The full path of `program` on PATH (an executable regular file), or "" when there is none.
std::string find_on_path(const std::string& program);

}  // namespace ablate::cluster
