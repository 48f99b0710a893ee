// ablate: distributed ablation studies of U-Net-family segmentation networks.
#include <spdlog/spdlog.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "ablations/study.hpp"
#include "runner/cli/cli.hpp"
#include "runner/run.hpp"

namespace {

struct VerbEntry {
  const char* name;
  int (*fn)(const std::vector<std::string>&);
  const char* summary;
};

const VerbEntry kVerbs[] = {
    {"run", ablate::cli::verb_run, "run a study: coordinator + workers (under mpirun or as one process)"},
    {"plan", ablate::cli::verb_plan, "expand a study into variants x folds x repeats; --explain shows every key"},
    {"status", ablate::cli::verb_status, "progress of a study in a store: tasks per variant, errors, time left"},
    {"report", ablate::cli::verb_report, "tables (md, LaTeX, CSV, HTML), box-plot data and plots from a store"},
    {"data", ablate::cli::verb_data, "datasets: `data check DIR`, `data synth --out DIR`"},
    {"evaluate", ablate::cli::verb_evaluate, "metrics for a folder of predicted NIfTI masks against ground truth"},
    {"params", ablate::cli::verb_params, "parameters per component and output shapes of every variant"},
    {"merge", ablate::cli::verb_merge, "the studies of several stores in one (shards, allocations, clusters)"},
    {"submit", ablate::cli::verb_submit, "write (and optionally submit) a Slurm or mpirun job for a study"},
    {"demo", ablate::cli::verb_demo, "the embedded default: synthetic data, a small Table II study, a report"},
    {"serve", ablate::cli::verb_serve, "watch a store live in a browser: progress, curves, failures, results (read-only)"},
};

using ablate::cli::rank_prefix;  // errors written straight to stderr carry the rank, like log lines

// The common options may come before the verb (`ablate --log-level debug plan ...`): they are moved
// behind the verb's own arguments, where every verb takes them. Returns "" or what is wrong.
std::string hoist_common_options(std::vector<std::string>& args) {
  std::vector<std::string> common;
  std::size_t i = 0;
  while (i < args.size() && args[i].rfind("--", 0) == 0) {
    const std::string& a = args[i];
    const bool with_value = a == "--log-level" || a == "--log-file";
    if (a.rfind("--log-level=", 0) == 0 || a.rfind("--log-file=", 0) == 0) {
      common.push_back(a), ++i;
    } else if (with_value) {
      if (i + 1 >= args.size()) return "option '" + a + "' needs a value";
      common.push_back(a), common.push_back(args[i + 1]), i += 2;
    } else {
      return "'" + a + "' cannot come before the verb: only --log-level and --log-file can (the verb's options follow it)";
    }
  }
  if (common.empty()) return "";
  if (i == args.size()) return "a verb is needed after the common options";
  std::vector<std::string> reordered(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  reordered.insert(reordered.end(), common.begin(), common.end());
  args = std::move(reordered);
  return "";
}

void print_help() {
  std::cout << "ablate " << ABLATE_VERSION << " - distributed ablation studies of U-Net-family segmentation networks\n\n"
            << "usage: ablate [--log-level L] [--log-file F] VERB [options]\n"
            << "       (ablate VERB --help lists the verb's options and defaults)\n\n"
            << "verbs:\n";
  for (const auto& v : kVerbs) std::cout << "  " << v.name << std::string(10 - std::string(v.name).size(), ' ') << v.summary << "\n";
  std::cout << "\ncommon options (every verb):\n" << ablate::cli::common_options() << "\n"
            << "exit codes: 0 success, 1 the work failed, 2 usage or input error, 3 interrupted by SIGTERM/SIGUSR1/SIGINT\n"
            << "(everything stored; run the same command again to resume)\n";
}

// What a verb printed must have reached its destination (`ablate report ... > /dev/full` is an error, not
// a success): stdout is flushed and checked before the exit code is final.
int checked_exit(const std::string& verb, int code) {
  std::cout.flush();
  const bool failed = std::fflush(stdout) != 0 || std::ferror(stdout) || !std::cout;
  if (!failed) return code;
  const int err = errno;
  std::cerr << rank_prefix() << "ablate " << verb << ": cannot write the standard output"
            << (err ? std::string(": ") + std::strerror(err) : std::string()) << "\n";
  return code == ablate::cli::kExitOk ? ablate::cli::kExitFailure : code;
}

}  // namespace

int main(int argc, char** argv) {
  // `run` takes SIGTERM, SIGUSR1 and SIGINT as "checkpoint and stop" from its first instruction: mpirun or
  // Slurm may signal a job that is still starting, and a rank that died of the signal would not requeue.
  // The other verbs keep the default (a signal ends them).
  // The launcher (bin/ablate, cli/launcher.c) started this with the three blocked, so that one sent
  // while LibTorch was loading is pending, not fatal: `run` unblocks them with its handlers installed,
  // any other verb with the default action.
  bool run = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "run") {
      run = true;
      break;
    }
    if (std::string_view(argv[i]).rfind("--", 0) != 0) break;  // another verb
    if (std::string_view(argv[i]) == "--log-level" || std::string_view(argv[i]) == "--log-file") ++i;
  }
  if (run) {
    ablate::runner::install_stop_handlers();
  } else {
    sigset_t stop;
    sigemptyset(&stop);
    for (int s : {SIGTERM, SIGUSR1, SIGINT}) sigaddset(&stop, s);
    sigprocmask(SIG_UNBLOCK, &stop, nullptr);
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_help();
    return args.empty() ? ablate::cli::kExitUsage : ablate::cli::kExitOk;
  }
  if (args[0] == "--version") {
    std::cout << "ablate " << ABLATE_VERSION << " (" << ABLATE_GIT_COMMIT << ")\n";
    return 0;
  }
  if (const std::string problem = hoist_common_options(args); !problem.empty()) {
    std::cerr << rank_prefix() << "ablate: " << problem << "\nsee: ablate --help\n";
    return ablate::cli::kExitUsage;
  }
  const std::string verb = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  std::vector<std::string> names;
  for (const auto& v : kVerbs) {
    names.push_back(v.name);
    if (verb == v.name) {
      try {
        return checked_exit(verb, v.fn(rest));
      } catch (const ablate::cli::UsageError& e) {
        std::cerr << rank_prefix() << "ablate " << verb << ": " << e.what() << "\n";
        return ablate::cli::kExitUsage;
      } catch (const ablate::SpecError& e) {
        // Every line: a study's problems are listed one a line.
        std::istringstream lines(e.what());
        for (std::string line; std::getline(lines, line);) std::cerr << rank_prefix() << line << "\n";
        return ablate::cli::kExitUsage;
      } catch (const std::exception& e) {
        spdlog::error("ablate {}: {}", verb, ablate::cli::error_text(e.what()));
        return ablate::cli::kExitFailure;
      }
    }
  }
  std::string hint = ablate::closest(verb, names);
  std::cerr << rank_prefix() << "ablate: unknown verb '" << verb << "'";
  if (!hint.empty()) std::cerr << " (did you mean '" << hint << "'?)";
  std::cerr << "\nverbs:";
  for (const auto& n : names) std::cerr << " " << n;
  std::cerr << "\nsee: ablate --help\n";
  return ablate::cli::kExitUsage;
}
