// `ablate evaluate --pred DIR --gt DIR [--labels 1,2|1+2] [--out CSV]`: per-case metrics of predicted
// NIfTI masks against ground truth (trainer/evaluate.hpp), beside the trivial predictors' scores on the
// same cases, a table on stdout and optionally CSV.
#include <iostream>

#include "runner/cli/cli.hpp"
#include "trainer/evaluate.hpp"

namespace ablate::cli {

int verb_evaluate(const std::vector<std::string>& args) {
  po::options_description options("ablate evaluate");
  options.add_options()("pred", po::value<std::string>(), "folder of predicted label volumes (.nii/.nii.gz)")(
      "gt", po::value<std::string>(), "folder of ground-truth label volumes, paired by file name")(
      "labels", po::value<std::string>(),
      "classes to evaluate: 1,2 = each label on its own; 1+2 = merged (default: every label in the ground truth)")(
      "axis", po::value<int>()->default_value(2), "slicing axis of the per-slice metrics (<metric>_2d in the CSV): 0 x, 1 y, 2 z")(
      "out", po::value<std::string>()->default_value(""), "write the per-case metrics (3D and per slice; the trivial predictors' too) as CSV to this file");
  options.add(common_options());
  po::positional_options_description positional;
  po::variables_map vm;
  if (!parse_args("evaluate", "ablate evaluate --pred DIR --gt DIR [--labels 1,2] [--axis 2] [--out CSV]", options, positional, args, vm)) {
    return kExitOk;
  }
  if (!vm.count("pred") || !vm.count("gt")) throw UsageError("both --pred DIR and --gt DIR are required");
  trainer::EvaluateOptions o;
  o.pred_dir = vm["pred"].as<std::string>();
  o.gt_dir = vm["gt"].as<std::string>();
  o.axis = vm["axis"].as<int>();
  if (o.axis < 0 || o.axis > 2) throw UsageError("--axis " + std::to_string(o.axis) + ": allowed 0 (x), 1 (y), 2 (z)");
  // Given at all, it must name a class: `--labels ""` is refused, not read as "every label".
  if (vm.count("labels")) {
    try {
      o.labels = trainer::parse_label_groups(vm["labels"].as<std::string>());
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
  }
  trainer::EvaluateResult r;
  try {
    r = trainer::evaluate_folders(o);
  } catch (const std::runtime_error& e) {
    std::cerr << "ablate evaluate: " << e.what() << "\n";
    return kExitUsage;
  }
  std::cout << trainer::format_table(r);
  const std::string out = vm["out"].as<std::string>();
  if (!out.empty()) {
    trainer::write_csv(r, out);
    std::cout << "wrote " << out << "\n";
  }
  for (const auto& p : r.problems) std::cerr << "problem: " << p << "\n";
  return r.problems.empty() ? kExitOk : kExitFailure;
}

}  // namespace ablate::cli
