#include "runner/cli/cli.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string_view>

#include "ablations/study.hpp"

namespace ablate::cli {

po::options_description common_options() {
  po::options_description d("Common options");
  d.add_options()("help,h", "show this help and exit")(
      "log-level", po::value<std::string>()->default_value("info"),
      "trace | debug | info | warn | error | off")("log-file", po::value<std::string>()->default_value(""),
                                                  "also append log lines to this file (default: stderr only)");
  return d;
}

namespace {

std::vector<std::string> option_names(const po::options_description& options) {
  std::vector<std::string> names;
  for (const auto& opt : options.options()) names.push_back("--" + opt->long_name());
  return names;
}

}  // namespace

bool parse_args(const std::string& verb, const std::string& synopsis, const po::options_description& options,
                const po::positional_options_description& positional, const std::vector<std::string>& args,
                po::variables_map& vm) {
  // Without allow_guessing: Boost would otherwise take `--exp` for `--explain` silently, and a later
  // option starting the same way would change what an old command line means.
  const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).style(style).run(), vm);
  } catch (const po::unknown_option& e) {
    std::string name = e.get_option_name();
    std::string hint = closest(name, option_names(options));
    // An abbreviation is not accepted, but it names what was meant when only one option starts with it.
    std::vector<std::string> longer;
    for (const auto& o : option_names(options)) {
      if (name.size() > 2 && o.rfind(name, 0) == 0) longer.push_back(o);
    }
    if (longer.size() == 1) hint = longer[0];
    std::ostringstream msg;
    msg << "unknown option '" << name << "'";
    if (!hint.empty()) msg << " (did you mean '" << hint << "'?)";
    msg << "; see: ablate " << verb << " --help";
    throw UsageError(msg.str());
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + "; see: ablate " + verb + " --help");
  }
  if (vm.count("help")) {
    std::cout << "usage: " << synopsis << "\n\n" << options << "\n";
    return false;
  }
  try {
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + "; see: ablate " + verb + " --help");
  }
  setup_logging(vm);
  return true;
}

std::string error_text(const std::string& what) {
  if (spdlog::default_logger()->level() <= spdlog::level::debug) return what;
  // LibTorch's two forms: "Exception raised from F at FILE:LINE (most recent call first):\nframe #0: ..."
  // (TORCH_CHECK) and the frames straight after the message (enforce failures such as an allocation).
  const auto cut = std::min(what.find("\nException raised from "), what.find("\nframe #0: "));
  if (cut == std::string::npos) return what;
  return what.substr(0, cut) + " (the backtrace: --log-level debug)";
}

std::string self_exe() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string self = fs::read_symlink("/proc/self/exe", ec).string();
  if (ec) return "ablate";
  const std::string suffix = "-core";
  if (self.size() > suffix.size() && self.compare(self.size() - suffix.size(), suffix.size(), suffix) == 0) {
    const std::string launcher = self.substr(0, self.size() - suffix.size());
    if (fs::exists(launcher, ec)) return launcher;
  }
  return self;
}

int launcher_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"}) {
    if (const char* v = std::getenv(var)) return std::atoi(v);
  }
  // As runner's launched_by_mpi: Slurm's task id counts only in a step of several tasks.
  const char* tasks = std::getenv("SLURM_NTASKS");
  const char* id = std::getenv("SLURM_PROCID");
  if (tasks && id && std::atoi(tasks) > 1) return std::atoi(id);
  return -1;
}

std::string rank_prefix() {
  const int rank = launcher_rank();
  return rank >= 0 ? "[rank " + std::to_string(rank) + "] " : "";
}

void setup_logging(const po::variables_map& vm) {
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (vm.count("log-file") && !vm["log-file"].as<std::string>().empty()) {
    const std::string path = vm["log-file"].as<std::string>();
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(path));  // appends
    } catch (const spdlog::spdlog_ex& e) {
      // spdlog says "Failed opening file X for writing: <reason>"; keep the reason.
      const std::string_view what = e.what();
      const auto colon = what.rfind(": ");
      throw UsageError("--log-file: cannot open '" + path + "' for appending" +
                       (colon == std::string_view::npos ? std::string() : " (" + std::string(what.substr(colon + 2)) + ")"));
    }
  }
  auto logger = std::make_shared<spdlog::logger>("ablate", sinks.begin(), sinks.end());
  int rank = launcher_rank();
  std::string pattern = "[%Y-%m-%d %H:%M:%S.%e] ";
  if (rank >= 0) pattern += "[rank " + std::to_string(rank) + "] ";
  pattern += "[%^%l%$] %v";
  logger->set_pattern(pattern);
  std::string level = vm.count("log-level") ? vm["log-level"].as<std::string>() : "info";
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    throw UsageError("--log-level: unknown level '" + level + "' (allowed: trace, debug, info, warn, error, off)");
  }
  logger->set_level(lvl);
  // Every line reaches the file as it is written: several ranks append to one file, and a killed job
  // keeps its last lines.
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace ablate::cli
