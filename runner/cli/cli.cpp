#include "runner/cli/cli.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>
#include <sstream>

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
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
  } catch (const po::unknown_option& e) {
    std::string name = e.get_option_name();
    std::string hint = closest(name, option_names(options));
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

int launcher_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"}) {
    if (const char* v = std::getenv(var)) return std::atoi(v);
  }
  return -1;
}

void setup_logging(const po::variables_map& vm) {
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (vm.count("log-file") && !vm["log-file"].as<std::string>().empty()) {
    sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(vm["log-file"].as<std::string>()));
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
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

int not_yet(const std::string& verb, const std::string& what) {
  std::cerr << "ablate " << verb << ": not available yet (" << what << ")\n";
  return kExitUsage;
}

}  // namespace ablate::cli
