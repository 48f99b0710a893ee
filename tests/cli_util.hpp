// Helpers of the tests that run the `ablate` binary as a user types it (cli_test, cli_design_test,
// cli_search_test, ablations_published_test, trainer_cli_data_test): one command line through /bin/sh,
// its exit code and its output, with no launcher in the environment; a fresh temporary folder; a file's
// text. The command lines are the tests' own text (quotes and all), never a user's: a shell is fine here,
// and nowhere in product code. hardening_util.hpp (its folder and file reading are these) runs the binary
// with an argument vector instead, where a test needs its pid (signals) or its stdout elsewhere (/dev/full).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace cli_util {

struct Result {
  int code = -1;    // exit status, or -1 when it did not exit (a signal) or could not be started
  std::string out;  // stdout and stderr together
};

// No launcher in the environment (the tests may themselves run inside a Slurm job or under mpirun).
inline const std::string kNoLauncher =
    "env -u OMPI_COMM_WORLD_RANK -u PMI_RANK -u PMIX_RANK -u SLURM_PROCID -u SLURM_NTASKS -u OMPI_COMM_WORLD_SIZE ";

// The example studies of the source tree ("…/examples/").
inline const std::string kExamples = std::string(ABLATE_SOURCE_DIR) + "/examples/";

// `ablate ARGS` with the environment settings `env` (e.g. "OMPI_COMM_WORLD_RANK=2 "). The output is read
// as bytes (a NUL byte does not cut a line short).
inline Result ablate(const std::string& args, const std::string& env = "") {
  Result r;
  const std::string cmd = kNoLauncher + env + std::string(ABLATE_EXE) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    r.out = "cannot start `" + cmd + "`: " + std::strerror(errno);
    return r;
  }
  std::array<char, 4096> buf;
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A fresh folder /tmp/PREFIX-XXXXXX per test (several test processes may run at once), removed with
// everything in it at the end.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "ablate-cli") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
    }
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `text` to the file `name` in the folder; returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = *this / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace cli_util
