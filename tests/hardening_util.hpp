// Helpers of the hardening tests (ablations_limits_test, cli_hardening_test): a temporary folder and the
// `ablate` binary run with an argument vector (no shell), optionally signalled while it runs.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "cli_util.hpp"

namespace hardening {

// A fresh folder /tmp/ablate-hard-XXXXXX, removed at the end.
class TempDir : public cli_util::TempDir {
 public:
  TempDir() : cli_util::TempDir("ablate-hard") {}
};

inline std::string slurp(const std::string& path) { return cli_util::read_file(path); }

struct CliRun {
  int code = -1;    // exit status, or -1 when it died of a signal
  int signal = 0;   // the signal it died of
  std::string out;  // stdout and stderr together
};

// Options of one run of the binary.
struct RunSpec {
  std::vector<std::string> args;
  // Signals blocked and raised (so pending) in the child before exec: they arrive at the binary's first
  // unblocking, however early that is.
  std::vector<int> pending_signals;
  // Called with the child's pid and the output file while it runs; returns when it has done its part.
  std::function<void(pid_t, const std::string&)> while_running;
  // Where stdout goes instead of the output file (e.g. /dev/full); stderr still goes to the file.
  std::string stdout_path;
};

// Runs `ablate ARGS` with no launcher variables in the environment, stdout and stderr to a file.
inline CliRun ablate_run(const RunSpec& spec) {
  TempDir tmp;
  const std::string out_path = tmp / "out.txt";
  const pid_t pid = fork();
  if (pid == 0) {
    for (const char* v : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"}) {
      unsetenv(v);
    }
    const int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1), dup2(fd, 2), close(fd);
    if (!spec.stdout_path.empty()) {
      const int so = open(spec.stdout_path.c_str(), O_WRONLY);
      dup2(so, 1), close(so);
    }
    sigset_t set;
    sigemptyset(&set);
    for (int s : spec.pending_signals) sigaddset(&set, s);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    for (int s : spec.pending_signals) raise(s);
    std::vector<std::string> argv_s = {ABLATE_EXE};
    argv_s.insert(argv_s.end(), spec.args.begin(), spec.args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(ABLATE_EXE, argv.data());
    _exit(127);
  }
  if (spec.while_running) spec.while_running(pid, out_path);
  int status = 0;
  waitpid(pid, &status, 0);
  CliRun r;
  if (WIFEXITED(status)) r.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.out = slurp(out_path);
  return r;
}

inline CliRun ablate_run(const std::vector<std::string>& args) {
  RunSpec spec;
  spec.args = args;
  return ablate_run(spec);
}

// Waits (up to `seconds`) until the file contains `text`.
inline bool wait_for_text(const std::string& path, const std::string& text, double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (slurp(path).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace hardening
