// `ablate params STUDY.toml`: for every variant, the trainable parameters, the parameters each component
// adds (the backbone's count is that of the plain U-Net; see docs/MODELS.md) and the output shapes of one
// forward pass at data.image_size (or --input-size).
#include <iomanip>
#include <iostream>
#include <sstream>

#include "ablations/study.hpp"
#include "runner/cli/cli.hpp"
#include "trainer/trainer.hpp"

namespace ablate::cli {

namespace {

std::string shape(const std::vector<std::int64_t>& s) {
  std::ostringstream o;
  for (size_t i = 0; i < s.size(); ++i) o << (i ? "x" : "") << s[i];
  return o.str();
}

std::string thousands(std::int64_t n) {
  std::string s = std::to_string(n < 0 ? -n : n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return (n < 0 ? "-" : "") + s;
}

}  // namespace

int verb_params(const std::vector<std::string>& args) {
  po::options_description options("ablate params");
  options.add_options()("study", po::value<std::string>(), "study file (TOML)")(
      "input-size", po::value<int>()->default_value(0), "square input size for the output shapes (0 = data.image_size)")(
      "batch", po::value<int>()->default_value(1), "batch size of the shape check")(
      "variant", po::value<std::string>()->default_value(""), "only this variant");
  options.add(common_options());
  po::positional_options_description positional;
  positional.add("study", 1);
  po::variables_map vm;
  if (!parse_args("params", "ablate params STUDY.toml [--input-size N] [--batch N] [--variant NAME]", options, positional,
                  args, vm)) {
    return kExitOk;
  }
  setup_logging(vm);
  if (!vm.count("study")) throw UsageError("a study file is required; see: ablate params --help");
  const int input_size = vm["input-size"].as<int>();
  const int batch = vm["batch"].as<int>();
  if (input_size < 0) throw UsageError("--input-size " + std::to_string(input_size) + ": allowed >= 0 (0 = data.image_size)");
  if (batch < 1) throw UsageError("--batch " + std::to_string(batch) + ": allowed >= 1");
  const std::string file = vm["study"].as<std::string>();
  const Study study = load_study(file);
  const std::string only = vm["variant"].as<std::string>();

  bool found = false;
  int failed = 0;
  for (const auto& v : study.variants) {
    if (!only.empty() && v.name != only) continue;
    found = true;
    VariantConfig config = v.config;
    if (input_size > 0) config.data.image_size = input_size;
    std::cout << "variant " << v.name << "  (" << v.label << ")\n";
    try {
      const trainer::ModelSummary s = trainer::summarize_model(config, batch);
      std::cout << "  trainable parameters  " << std::right << std::setw(14) << thousands(s.trainable_parameters) << "\n";
      if (s.inference_parameters != s.trainable_parameters) {  // model.prune_level: the components are the pruned network's
        std::cout << "  inference parameters  " << std::right << std::setw(14) << thousands(s.inference_parameters)
                  << "  (pruned to X^{0," << config.model.prune_level << "})\n";
      }
      for (const auto& c : s.components) {
        std::cout << "    " << std::left << std::setw(18) << c.component << std::right << std::setw(14)
                  << thousands(c.parameters) << (c.component == "backbone" ? "" : "  (added)") << "\n";
      }
      std::cout << "  outputs at " << config.data.image_size << "x" << config.data.image_size << ", batch " << batch << ":";
      for (const auto& [name, dims] : s.outputs) std::cout << "  " << name << " " << shape(dims);
      std::cout << "\n\n";
    } catch (const std::exception& e) {
      ++failed;
      std::cout << "  error\n\n";
      std::cerr << file << ": variant " << v.name << ": " << error_text(e.what()) << "\n";
    }
  }
  if (!found) throw UsageError("no variant named '" + only + "' in " + file);
  return failed ? kExitUsage : kExitOk;
}

}  // namespace ablate::cli
