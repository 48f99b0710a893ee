#include "runner/cli/cli.hpp"

namespace ablate::cli {

int verb_run(const std::vector<std::string>& args) {
  po::options_description options("ablate run");
  options.add(common_options());
  po::positional_options_description positional;
  po::variables_map vm;
  if (!parse_args("run", "ablate run [options]", options, positional, args, vm)) return kExitOk;
  return not_yet("run", "filled in by a later part of the project");
}

}  // namespace ablate::cli
