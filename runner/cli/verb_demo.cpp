#include "runner/cli/cli.hpp"

namespace ablate::cli {

int verb_demo(const std::vector<std::string>& args) {
  po::options_description options("ablate demo");
  options.add(common_options());
  po::positional_options_description positional;
  po::variables_map vm;
  if (!parse_args("demo", "ablate demo [options]", options, positional, args, vm)) return kExitOk;
  return not_yet("demo", "filled in by a later part of the project");
}

}  // namespace ablate::cli
