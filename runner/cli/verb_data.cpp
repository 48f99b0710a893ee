// `ablate data check DIR`: validate a Medical Segmentation Decathlon folder and summarise it.
// `ablate data synth --out DIR ...`: write the synthetic CT-like dataset of the demo and the tests.
#include <iostream>

#include "ablations/study.hpp"
#include "runner/cli/cli.hpp"
#include "trainer/data/check.hpp"
#include "trainer/data/synth.hpp"

namespace ablate::cli {

namespace {

constexpr const char* kSynopsis =
    "ablate data check DIR\n"
    "       ablate data synth --out DIR [--cases N] [--size N] [--slices N] [--seed S] [--organs N] "
    "[--no-tumour]";

int data_check(const po::variables_map& vm) {
  if (!vm.count("dir")) throw UsageError("data check needs the dataset folder: ablate data check DIR");
  const auto report = trainer::data::check_dataset(vm["dir"].as<std::string>());
  std::cout << report.summary;
  for (const auto& p : report.problems) std::cout << "problem: " << p << "\n";
  for (const auto& n : report.notes) std::cout << "note: " << n << "\n";
  if (!report.ok()) {
    std::cout << report.problems.size() << " problem(s) found\n";
    return kExitUsage;
  }
  std::cout << "ok\n";
  return kExitOk;
}

int data_synth(const po::variables_map& vm) {
  if (vm["out"].as<std::string>().empty()) throw UsageError("data synth needs --out DIR");
  trainer::data::SynthOptions o;
  o.cases = vm["cases"].as<int>();
  o.size = vm["size"].as<int>();
  o.slices = vm["slices"].as<int>();
  o.seed = vm["seed"].as<unsigned long long>();
  o.tumour = !vm["no-tumour"].as<bool>();
  o.organs = vm["organs"].as<int>();
  o.spacing = {vm["spacing-xy"].as<double>(), vm["spacing-xy"].as<double>(), vm["spacing-z"].as<double>()};
  o.contrast_min = vm["contrast-min"].as<double>();
  o.contrast_max = vm["contrast-max"].as<double>();
  o.noise_min = vm["noise-min"].as<double>();
  o.noise_max = vm["noise-max"].as<double>();
  if (o.cases < 1 || o.size < 16 || o.size > 1024 || o.slices < 1 || o.slices > 1024 || o.organs < 1 ||
      o.organs > 4) {
    throw UsageError("allowed: --cases >= 1, --size 16..1024, --slices 1..1024, --organs 1..4");
  }
  if (!(o.spacing[0] > 0 && o.spacing[2] > 0)) throw UsageError("--spacing-xy and --spacing-z must be > 0");
  if (o.contrast_max < o.contrast_min || o.noise_max < o.noise_min || o.noise_min < 0) {
    throw UsageError("need --contrast-min <= --contrast-max and 0 <= --noise-min <= --noise-max");
  }
  const std::string out = vm["out"].as<std::string>();
  trainer::data::write_synthetic_dataset(out, o);
  std::cout << "wrote " << o.cases << " synthetic cases (" << o.size << "x" << o.size << "x" << o.slices << " voxels, seed " << o.seed
            << ") to " << out << "\n";
  return kExitOk;
}

}  // namespace

int verb_data(const std::vector<std::string>& args) {
  po::options_description options("ablate data");
  options.add_options()("action", po::value<std::string>(), "check | synth")("dir", po::value<std::string>(),
                                                                             "check: the dataset folder")(
      "out", po::value<std::string>()->default_value(""), "synth: output folder")(
      "cases", po::value<int>()->default_value(10), "synth: number of cases")(
      "size", po::value<int>()->default_value(64), "synth: in-plane voxels (x = y)")(
      "slices", po::value<int>()->default_value(16), "synth: voxels along z")(
      "seed", po::value<unsigned long long>()->default_value(1),
      "synth: random seed (the data is a function of it)")(
      "organs", po::value<int>()->default_value(1),
      "synth: labelled organs 1..4 (1 target, 2 liver, 3-4 kidneys)")(
      "no-tumour", po::bool_switch(), "synth: no tumour label (organs + 1) inside the target organ")(
      // Doubles get their default's text given, or --help prints 0.80000000000000004.
      "spacing-xy", po::value<double>()->default_value(0.8, "0.8"), "synth: in-plane voxel spacing in mm")(
      "spacing-z", po::value<double>()->default_value(2.5, "2.5"), "synth: slice spacing in mm")(
      "contrast-min", po::value<double>()->default_value(30.0, "30"),
      "synth: organ contrast to soft tissue, HU, lower bound")("contrast-max",
                                                               po::value<double>()->default_value(80.0, "80"),
                                                               "synth: organ contrast, HU, upper bound")(
      "noise-min", po::value<double>()->default_value(8.0, "8"), "synth: noise sigma, HU, lower bound")(
      "noise-max", po::value<double>()->default_value(20.0, "20"), "synth: noise sigma, HU, upper bound");
  options.add(common_options());
  po::positional_options_description positional;
  positional.add("action", 1).add("dir", 1);
  po::variables_map vm;
  if (!parse_args("data", kSynopsis, options, positional, args, vm)) return kExitOk;
  if (!vm.count("action")) throw UsageError("missing action: ablate data check DIR | ablate data synth --out DIR");
  const std::string action = vm["action"].as<std::string>();
  if (action == "check") return data_check(vm);
  if (action == "synth") {
    if (vm.count("dir")) throw UsageError("data synth takes its folder as --out DIR");
    return data_synth(vm);
  }
  const std::string hint = closest(action, {"check", "synth"});
  throw UsageError("unknown action '" + action + "'" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                   " (allowed: check, synth)");
}

}  // namespace ablate::cli
