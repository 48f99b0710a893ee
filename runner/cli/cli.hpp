// The `ablate` command line: one binary, one verb per file (runner/cli/verb_*.cpp).
//
// Contract: each verb is called once, from main (runner/cli/main.cpp), with the arguments after its name; it
// returns an exit code below. It throws UsageError or SpecError for bad options or input (main prints them,
// exit 2); any other exception is exit 1. Verbs print results to stdout and log to stderr; none is meant to
// run beside another in one process (logging and the stop flag are process-wide).
#pragma once

#include <boost/program_options.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace ablate::cli {

namespace po = boost::program_options;

// Exit codes (documented in README.md and docs/CLI.md).
constexpr int kExitOk = 0;           // success
constexpr int kExitFailure = 1;      // the work failed (a task failed after its retries, a report could not be written)
constexpr int kExitUsage = 2;        // usage or input error (bad option, bad study file, bad dataset)
constexpr int kExitInterrupted = 3;  // `run` stopped on SIGTERM/SIGUSR1 with everything stored: requeue and rerun

// A usage error: printed with the verb's name, exit 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Options every verb takes: --help, --log-level, --log-file.
po::options_description common_options();

// Parses a verb's arguments. Options must be spelt in full (no abbreviations); an unknown one gets a "did
// you mean" suggestion. Returns false when --help was given (the help has been printed).
bool parse_args(const std::string& verb, const std::string& synopsis, const po::options_description& options,
                const po::positional_options_description& positional, const std::vector<std::string>& args,
                po::variables_map& vm);

// spdlog set-up from --log-level/--log-file; every line carries the MPI rank when there is one and is
// flushed as it is written (ranks appending to one file interleave by line). A --log-file that cannot be
// opened is a UsageError naming it.
void setup_logging(const po::variables_map& vm);
// The rank from the launcher's environment, or -1 outside a launch of several processes: an MPI rank
// variable (OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK), else SLURM_PROCID when SLURM_NTASKS > 1 (a
// single-task batch script has SLURM_PROCID=0 too, for every command in it).
int launcher_rank();
// "[rank N] " under a launcher, else "": for lines written to stderr without the logger.
std::string rank_prefix();

// An error's text for the user: LibTorch's what() carries a C++ backtrace ("Exception raised from ...",
// "frame #0: ..."); it is cut off unless the log level is debug or trace.
std::string error_text(const std::string& what);

// The path that starts ablate, for the commands it writes or runs (job scripts, the demo): the launcher
// bin/ablate when this is its bin/ablate-core (runner/cli/launcher.c), else this executable.
std::string self_exe();

int verb_run(const std::vector<std::string>& args);
int verb_plan(const std::vector<std::string>& args);
int verb_status(const std::vector<std::string>& args);
int verb_report(const std::vector<std::string>& args);
int verb_data(const std::vector<std::string>& args);
int verb_evaluate(const std::vector<std::string>& args);
int verb_params(const std::vector<std::string>& args);
int verb_submit(const std::vector<std::string>& args);
int verb_demo(const std::vector<std::string>& args);
int verb_merge(const std::vector<std::string>& args);
int verb_serve(const std::vector<std::string>& args);

}  // namespace ablate::cli
