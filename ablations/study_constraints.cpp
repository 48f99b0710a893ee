// Constraints between keys of a resolved configuration, and a variant resolved from its layer.
#include "ablations/study_internal.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "ablations/components.hpp"
#include "ablations/schema.hpp"

namespace ablate::study_internal {

VariantConfig apply(const Layer& layer) {
  VariantConfig c;
  for (const auto& [path, setting] : layer) find_key(path)->set(c, setting.value);
  return c;
}

// The most encoder levels a study may ask for: 2^7 = 128x down-sampling already leaves a 4x4 bridge of a
// 512 image; more is a typo (an extra width), and each level doubles the image-size divisor.
constexpr std::size_t kMaxLevels = 8;

// Constraints between keys; each problem names the variant. A constraint that involves a key whose own
// value was rejected is skipped: it would only report the consequence of the default standing in.
void validate(const VariantConfig& c, const std::string& variant, const Layer& layer, const std::string& file,
              const std::set<std::string>& rejected, Diags& diags) {
  // Point at the value that set the key, when a file did.
  auto bad = [&](const std::string& key, const std::string& msg, const std::vector<std::string>& also = {}) {
    if (rejected.count(key)) return;
    for (const auto& k : also) {
      if (rejected.count(k)) return;
    }
    auto it = layer.find(key);
    const bool located = it != layer.end() && it->second.line > 0;
    diags.add(located ? it->second.file : file, located ? it->second.line : 0, located ? it->second.column : 0, key,
              (variant.empty() ? "" : "variant `" + variant + "`: ") + msg);
  };
  if (!c.study.split.empty()) {
    double sum = 0;
    for (double r : c.study.split) sum += r;
    if (c.study.split.size() != 3 || std::fabs(sum - 1.0) > 1e-6 || c.study.split[0] <= 0 || c.study.split[2] <= 0) {
      bad("study.split", "expected three ratios train, validation, test with train > 0, test > 0 that sum to 1");
    }
  }
  // Every case is a grey-value volume fed as [slices, 1, H, W] (trainer/train.cpp): a network that wants
  // more channels would fail every task at its first batch.
  if (c.model.in_channels != 1) {
    bad("model.in_channels", "is " + std::to_string(c.model.in_channels) +
                                 " but the data have one channel (each case is one grey-value image); allowed 1");
  }
  // bf16 is CUDA autocast (trainer/train.cpp): on the CPU every task would fail at its start.
  if (c.train.precision == "bf16" && c.train.device == "cpu") {
    bad("train.precision", "is \"bf16\" but train.device is \"cpu\": bf16 autocast runs on CUDA devices only; allowed with "
                           "train.device = \"cpu\": \"fp32\"", {"train.device"});
  }
  if (!(c.data.window_min < c.data.window_max)) {
    bad("data.window_min", "must be below data.window_max (" + to_literal(find_key("data.window_max")->get(c)) + ")",
        {"data.window_max"});
  }
  {
    // Classes are exclusive (softmax): a source label in two groups would always go to the first and leave
    // the other class without it. Checked here, so `plan` refuses it instead of every task failing.
    std::map<std::int64_t, std::size_t> group_of;
    for (std::size_t g = 0; g < c.data.label_groups.size(); ++g) {
      for (int v : c.data.label_groups[g]) {
        auto [it, fresh] = group_of.emplace(v, g);
        if (!fresh) {
          bad("data.label_groups", "source label " + std::to_string(v) +
                                       (it->second == g ? " is twice in group " + std::to_string(g)
                                                        : " is in group " + std::to_string(it->second) + " and group " + std::to_string(g)) +
                                       ": classes are exclusive, so each source label belongs to one group (for nested "
                                       "regions such as pancreas incl. tumour and tumour, run one study with [[1, 2]] and "
                                       "one with [[2]])");
          break;
        }
      }
    }
  }
  if (c.data.augment.blur_sigma_min > c.data.augment.blur_sigma_max) {
    bad("data.augment.blur_sigma_min", "must not exceed data.augment.blur_sigma_max", {"data.augment.blur_sigma_max"});
  }
  if (c.model.widths.size() > kMaxLevels) {
    bad("model.widths", std::to_string(c.model.widths.size()) + " levels: at most " + std::to_string(kMaxLevels) +
                            " encoder levels are allowed (the last width is the bridge)");
  } else {
    const bool resnet = c.model.backbone == "resnet";  // 002: stride 2^(S+1); the guidance pools H/4 twice
    const int down = resnet ? std::max(1 << (c.model.widths.size() + 1), c.model.semantic_guidance ? 16 : 1)
                            : 1 << (c.model.widths.size() - 1);
    if (c.data.image_size % down != 0) {
      bad("data.image_size",
          std::to_string(c.data.image_size) + " is not divisible by " +
              (resnet ? "the ResNet's stride 2^(S+1) = " : "2^(depth-1) = ") + std::to_string(down) + " for " +
              std::to_string(c.model.widths.size()) + (resnet ? " stages" : " levels"),
          {"model.widths"});
    }
  }
  if (c.model.attention != "none" && (c.model.cc || c.model.sc)) {
    bad("model.attention", "`" + c.model.attention + "` sits where CoA sits: turn model.cc and model.sc off",
        {"model.cc", "model.sc"});
  }
  // ANU-Net (003): the nested decoder replaces the U-Net decoder that the skip components act on.
  if (c.model.nested) {
    std::string off;
    for (const auto& key : component_keys_on(c.model, kNotWithNested)) off += (off.empty() ? "" : ", ") + key;
    if (!off.empty()) {
      bad("model.nested", "the nested decoder has its own deep supervision and dense skips: turn " + off + " off",
          component_keys(kNotWithNested));
    }
  }
  if (c.model.prune_level > 0) {
    const int top = static_cast<int>(c.model.widths.size()) - 1;
    if (!c.model.nested || !c.model.nested_supervision) {
      bad("model.prune_level", "pruning takes the output of a deep-supervision head: needs model.nested = true and "
                               "model.nested_supervision = true",
          {"model.nested", "model.nested_supervision"});
    } else if (c.model.widths.size() <= kMaxLevels && c.model.prune_level > top) {
      bad("model.prune_level", std::to_string(c.model.prune_level) + " is deeper than the network: allowed 0.." +
                                   std::to_string(top) + " for " + std::to_string(top + 1) + " levels (0 and " +
                                   std::to_string(top) + " = unpruned)",
          {"model.widths"});
    }
  }
}

// A variant's configuration from its layer: validated, every key resolved with its origin, canonical
// text and hash.
void resolve_variant(Variant& v, const Layer& layer, const std::string& file, const std::set<std::string>& rejected,
                     Diags& diags) {
  v.config = apply(layer);
  validate(v.config, v.name, layer, file, rejected, diags);
  for (const auto& k : schema()) {
    ResolvedValue rv;
    auto it = layer.find(k.path);
    rv.text = to_literal(k.get(v.config));
    if (it != layer.end()) {
      rv.origin = it->second.origin;
      rv.where = it->second.file + (it->second.line ? ":" + std::to_string(it->second.line) : "");
    }
    v.values[k.path] = rv;
  }
  v.canonical = canonical_text(v.config);
  v.hash = config_hash(v.config);
}

}  // namespace ablate::study_internal
