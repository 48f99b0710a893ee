#include "ablations/demo_scale.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace ablate {

namespace {

std::string ints(const std::vector<int>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::string real(double x) {
  std::ostringstream o;
  o << x;
  std::string s = o.str();
  // A TOML float needs a point or an exponent ("3" would be read as an integer).
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

class Changes {
 public:
  explicit Changes(DemoScale& out) : out_(out) {}
  // Records key = to unless the file already says so.
  void set(const std::string& key, const std::string& from, const std::string& to, const std::string& why) {
    if (from == to) return;
    out_.overrides.push_back(key + "=" + to);
    out_.changes.push_back({key, from, to, why});
  }

 private:
  DemoScale& out_;
};

}  // namespace

DemoScale demo_scale(const Study& study, const DemoOptions& o) {
  DemoScale out;
  Changes c(out);
  const VariantConfig& b = study.base;
  const int size_cap = o.tiny ? 32 : 64, first_width = o.tiny ? 4 : 8;

  // The dataset: as many labels as the study's classes name (header comment).
  int top = 0;
  for (const auto& g : b.data.label_groups)
    for (int l : g) top = std::max(top, l);
  DemoData& d = out.data;
  if (top > 5) {
    throw SpecError(
        {Diagnostic{study.file, 0, 0, "data.label_groups",
                    "names label " + std::to_string(top) +
                        "; the demo's synthetic data has at most 5 labels (four organs and a tumour)"}});
  }
  d.organs = top <= 2 ? 1 : std::min(top, 4);
  d.tumour = top <= 2 || top == 5;
  static const char* const kOrgans[] = {"organ", "liver-like organ", "kidney-like organ R",
                                        "kidney-like organ L"};
  auto label_name = [&](int l) {
    if (l <= d.organs) return std::string(kOrgans[l - 1]);
    return std::string(d.tumour && l == d.organs + 1 ? "tumour" : "nothing");
  };
  if (b.data.label_groups.empty()) {
    d.labels = "class 1 = every label > 0: the organ (label 1) and its tumour (label 2)";
  }
  for (std::size_t k = 0; k < b.data.label_groups.size(); ++k) {
    const std::string name = k < b.report.class_names.size() && !b.report.class_names[k].empty()
                                 ? " (" + b.report.class_names[k] + ")"
                                 : "";
    std::string parts;
    for (int l : b.data.label_groups[k])
      parts += (parts.empty() ? "" : " + ") + label_name(l) + " (label " + std::to_string(l) + ")";
    d.labels += (d.labels.empty() ? "" : "; ") + ("class " + std::to_string(k + 1) + name + " = " + parts);
  }

  c.set("data.path", "\"" + b.data.path + "\"", o.data_dir, "the synthetic dataset (ablate data synth)");
  const int size = std::min(b.data.image_size, size_cap);
  c.set("data.image_size", std::to_string(b.data.image_size), std::to_string(size),
        "at most " + std::to_string(size_cap) + " px");
  d.size = std::max(16, size);
  d.slices = o.tiny ? 6 : 16;
  d.cases = o.cases > 0 ? o.cases : o.tiny ? 4 : 10;
  if (!o.tiny && b.study.split.empty()) d.cases = std::max(d.cases, b.study.folds);

  std::vector<int> widths = b.model.widths;
  if (!widths.empty() && widths[0] > first_width) {
    const double f = static_cast<double>(widths[0]) / first_width;
    for (int& w : widths) w = std::max(1, static_cast<int>(std::lround(w / f)));
  }
  c.set("model.widths", ints(b.model.widths), ints(widths),
        "divided by " + std::to_string(b.model.widths.empty() ? 1 : b.model.widths[0]) + "/" +
            std::to_string(first_width) + ": the same ratios");
  // The bridge of the U-Net family: image_size / 2^(depth - 1). A rate at or above it reads only padding.
  const int bridge = widths.size() > 1 ? size >> (widths.size() - 1) : size;
  const int max_rate =
      b.model.mus_rates.empty() ? 0 : *std::max_element(b.model.mus_rates.begin(), b.model.mus_rates.end());
  if (max_rate >= bridge && bridge >= 2) {
    std::vector<int> rates = b.model.mus_rates;
    for (int& r : rates)
      r = std::max(1, static_cast<int>(std::lround(static_cast<double>(r) * (bridge - 1) / max_rate)));
    c.set("model.mus_rates", ints(b.model.mus_rates), ints(rates),
          "below the " + std::to_string(bridge) + " x " + std::to_string(bridge) + " bridge, same ratios");
  }
  if (b.model.backbone == "resnet") {
    c.set("model.resnet_blocks", ints(b.model.resnet_blocks),
          ints(std::vector<int>(b.model.resnet_blocks.size(), 1)), "one bottleneck per stage");
    c.set("model.guided_width", std::to_string(b.model.guided_width),
          std::to_string(std::min(b.model.guided_width, 8)), "at most 8");
  }

  const int epochs = o.epochs > 0 ? o.epochs : o.tiny ? 1 : 10;
  const int steps = o.steps >= 0 ? o.steps : o.tiny ? 2 : 20;
  c.set("train.epochs", std::to_string(b.train.epochs), std::to_string(epochs), "the demo budget");
  c.set("train.steps_per_epoch", std::to_string(b.train.steps_per_epoch), std::to_string(steps),
        "the demo budget");
  c.set("train.batch_size", std::to_string(b.train.batch_size), o.tiny ? "2" : "8",
        "table2_demo's budget: 200 steps of 8 slices");
  c.set("train.lr", real(b.train.lr), real(3e-3),
        "learns in 200 steps; the papers' rates are for hundreds of epochs");
  c.set("train.accumulate", std::to_string(b.train.accumulate), "1", "one batch per step");
  c.set("train.threads", std::to_string(b.train.threads), "1", "ranks share the cores");
  // The demo runs on the machine at hand: a study written for GPU nodes would refuse a CPU-only worker.
  c.set("resources.gpus_per_node", std::to_string(b.resources.gpus_per_node), "0",
        "this machine, as the demo files");
  c.set("resources.nodes", std::to_string(b.resources.nodes), "1", "this machine");
  if (b.train.device == "cuda")
    c.set("train.device", "\"cuda\"", "auto", "a GPU when there is one, else the cores");
  c.set("data.empty_slice_ratio", real(b.data.empty_slice_ratio), real(0.2), "as the demos");

  // A searched learning rate: the file's range is for its own rate and budget (hundreds of epochs), which
  // the rule above replaced by 3e-3; searched as written, most trials would not learn in 200 steps.
  for (const sweeps::Param& p : study.search.space) {
    if (p.key != "train.lr" || (p.dist != sweeps::Distribution::kUniform && p.dist != sweeps::Distribution::kLogUniform))
      continue;
    const std::string dist = p.dist == sweeps::Distribution::kUniform ? "uniform" : "log_uniform";
    c.set("sweep.train.lr", "{ " + dist + " = [" + real(p.low) + ", " + real(p.high) + "] }",
          "{ log_uniform = [0.0003, 0.01] }", "around the demo's 3e-3: the file's range is for its own budget");
  }
  if (study.search.sampled()) {
    const int trials = std::min(study.search.trials, o.tiny ? 2 : 8);
    c.set("sweep.trials", std::to_string(study.search.trials), std::to_string(trials), "a search of minutes");
    if (study.search.adaptive() && study.search.startup > std::max(1, trials / 2))
      c.set("sweep.startup", std::to_string(study.search.startup), std::to_string(std::max(1, trials / 2)),
            "half the trials random, half proposed");
  }
  if (o.tiny) {
    std::string from = "[";
    for (std::size_t i = 0; i < b.study.split.size(); ++i) from += (i ? ", " : "") + real(b.study.split[i]);
    from += "]";
    c.set("study.split", from, "[0.5, 0.25, 0.25]", "one split (smoke test)");
  }
  return out;
}

}  // namespace ablate
