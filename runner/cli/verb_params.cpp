#include "runner/cli/cli.hpp"

namespace ablate::cli {

int verb_params(const std::vector<std::string>& args) {
  po::options_description options("ablate params");
  options.add(common_options());
  po::positional_options_description positional;
  po::variables_map vm;
  if (!parse_args("params", "ablate params [options]", options, positional, args, vm)) return kExitOk;
  return not_yet("params", "filled in by a later part of the project");
}

}  // namespace ablate::cli
