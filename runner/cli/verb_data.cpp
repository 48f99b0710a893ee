#include "runner/cli/cli.hpp"

namespace ablate::cli {

int verb_data(const std::vector<std::string>& args) {
  po::options_description options("ablate data");
  options.add(common_options());
  po::positional_options_description positional;
  po::variables_map vm;
  if (!parse_args("data", "ablate data [options]", options, positional, args, vm)) return kExitOk;
  return not_yet("data", "filled in by a later part of the project");
}

}  // namespace ablate::cli
