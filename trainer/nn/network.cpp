// The configurable network: a U-Net backbone (READINGS, Common) on which the components of 001, 000, 004,
// 003 and 002 are placed by ModelConfig keys. Where each component sits:
//
//   encoder  level l: [max-pool] -> DoubleConv (EC branches when model.ec, levels per model.ec_levels,
//            combined per model.ec_merge)
//   bridge   F = the deepest encoder stage (1/2^(depth-1) resolution):
//              attention  F_A: CoA  = reshape(CC(F) · Sᵀ) + F        (001 eq. 4, S from F, eqs. 8-9)
//                              CC   = CC(F) + F                       (CC alone, with the residual of eq. 4)
//                              SC   = reshape(F · Sᵀ) + F             (SC alone, with the residual of eq. 4)
//                              SE / CBAM = SE(F) / CBAM(F)            (Table V baselines, model.attention)
//                              PAM / CAM = PAM(F) / CAM(F)            (002 eqs. 2-5, model.attention)
//                              PAM+CAM = conv(PAM(F)) + conv(CAM(F))  (002's dual attention, conv3x3 + BN + ReLU)
//              MuS        F_S = ASPP(F)                               (Fig. 2(c))
//              fusion     deep: conv1x1(concat(F_A, F_S)) + BN + ReLU (eq. 10, 2C -> C; the CoAG-MuSFu)
//                         add: F_A + F_S;  serial: ASPP(F_A)          (Table III)
//              the fused bridge B feeds the decoder(s), the DWS side output and the restoration decoder.
//   skips    s_l = encoder stage l; MSC/KCM/cascade (model.msc) on s_l (004 "before the concatenation on
//            every level", 000 eq. 14 "on the skip connections").
//   aux path (000 eqs. 2-5) a second transposed-conv decoder from B: M_l = concat(up_a, s_l) (eq. 9),
//            a_l = DoubleConv(M_l) (2C_l -> C_l), its own conv1x1 head (eq. 6). The original decoder then
//            takes M_l as its skip (eq. 5: concat(up_o, concat(up_a, s_l))), so its first convolution
//            reads 3C_l channels; the 3x3 weights of the extra C_l input channels are counted as the aux
//            path's parameters.
//   DSPA, CA (000 eqs. 9-13) in series on the skip that reaches the original decoder (M_l with the aux
//            path — "only between the additional and the original expansive path" — else s_l).
//   gates    (Attention U-Net) on that skip, gated by the up-sampled decoder map.
//   decoder  level l: up (ConvT 2x2 or bilinear + conv1x1) -> concat(up, skip) -> DoubleConv -> ...
//   heads    main conv1x1(C_0 -> out); DWS side output(s); aux conv1x1; restoration decoder from B.
//   nested   (003 eq. 4, model.nested) replaces the decoder: X^{i,0} = encoder stage i (X^{depth-1,0} = B), and
//            for j >= 1 X^{i,j} = DoubleConv(concat(Ag(X^{i,0}), ..., Ag(X^{i,j-1}), Up(X^{i+1,j-1}))), in eq. 4's
//            order, (j+1) C_i -> C_i. Up is the backbone's up-sampling (C_{i+1} -> C_i); the gating signal of a gate
//            is "the upsampling feature in the decoder" (Sec. 3.2) of the node it feeds. model.nested_layout:
//              shared (default): one Up per level (ConvT + BN + ReLU), shared by the level's nodes; one gate per
//                predecessor: Ag(X^{i,k}) is computed once, by X^{i,k+1}'s gate (gated by its Up(X^{i+1,k})), and
//                reused by every later node of the row; gate width max(C_i/2, C_0). With model.conv_bias this is
//                the reading that reproduces all four parameter counts of Table 6 (docs/MODELS.md).
//              per_node: an Up per node (no BN); one gate per (node, predecessor) pair, each gated by that node's
//                Up(X^{i+1,j-1}); gate width C_i/2.
//            Without gates the same nodes are UNet++.
//            The outer nodes X^{i,depth-1-i} are the U-Net decoder (registered as "dec"/"up", the backbone):
//            their (depth-2-i) C_i extra input channels are counted as the nested component's, like the aux path's.
//            Deep supervision (model.nested_supervision, Sec. 3.4): conv1x1 heads on X^{0,1}..X^{0,depth-2} are the
//            side outputs; the main head sits on X^{0,depth-1}. Pruning (model.prune_level = L, Sec. 3.5): in
//            evaluation mode only X^{i,j} with i + j <= L and the encoder levels 0..L run, main = head(X^{0,L}).
//            Training always runs the full network (the paper trains it whole, with every head, and prunes "during
//            predicting"; Sec. 3.5: the pruned parts "help other parts to update the weight" in training).
//
// Parameter ownership (component_parameters): by the submodule's registered name, see component_of(); the
// groups, and which of them a configuration holds, are the component registry's (ablations/components.hpp).
#include "trainer/nn/network.hpp"

#include "ablations/components.hpp"
#include "ablations/schema.hpp"

#include <algorithm>
#include <set>
#include <sstream>
#include <stdexcept>

namespace ablate::trainer {

namespace {

std::string join(const std::vector<int>& v) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < v.size(); ++i) o << (i ? ", " : "") << v[i];
  o << "]";
  return o.str();
}

[[noreturn]] void bad(const std::string& key, const std::string& value, const std::string& allowed) {
  throw std::invalid_argument("model." + key + " = " + value + ": " + allowed);
}

std::string join_words(const std::vector<std::string>& words, const std::string& sep) {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : sep) + w;
  return s;
}

// "model.dws, aux_path, dspa, ca or msc": the first key in full, the others without "model.".
std::string key_list(const std::vector<std::string>& keys) {
  std::string s;
  for (std::size_t i = 0; i < keys.size(); ++i)
    s += (i == 0 ? "" : i + 1 == keys.size() ? " or " : ", ") + (i == 0 ? keys[i] : keys[i].substr(keys[i].find('.') + 1));
  return s;
}

// Every string model key with a choice list, checked against the schema's list (which, for the component
// keys, is the registry's: ablations/components.hpp), so the network allows exactly what a study may write.
void check_choices(const ModelConfig& m) {
  VariantConfig config;
  config.model = m;
  for (const auto& key : schema()) {
    if (key.path.rfind("model.", 0) != 0 || key.type != ValueType::kString || key.choices.empty()) continue;
    const std::string value = key.get(config).s;
    if (std::find(key.choices.begin(), key.choices.end(), value) == key.choices.end())
      bad(key.path.substr(6), "\"" + value + "\"", "allowed " + join_words(key.choices, " | "));
  }
}

// The component a parameter belongs to: the first segment of its dotted name that equals a component
// name or starts with "<component>_" (e.g. "enc.0.unit1.ec_conv_1x3.weight" -> ec,
// "aux_path_head.weight" -> aux_path). Everything else is the backbone.
std::string component_of(const std::string& name) {
  std::istringstream in(name);
  std::string seg;
  while (std::getline(in, seg, '.')) {
    for (const auto& c : component_names()) {
      if (c == "backbone") continue;
      if (seg == c || seg.rfind(c + "_", 0) == 0) return c;
    }
  }
  return "backbone";
}

}  // namespace

int output_channels(const VariantConfig& config) {
  const int classes = config.data.foreground_classes();
  return classes == 1 ? 1 : classes + 1;
}

const std::vector<std::string>& component_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& c : components()) n.push_back(c.name);
    return n;
  }();
  return names;
}

void validate_model_config(const ModelConfig& m) {
  if (m.in_channels < 1) bad("in_channels", std::to_string(m.in_channels), "allowed >= 1");
  if (m.widths.size() < 2) bad("widths", join(m.widths), "allowed: at least 2 widths (depth >= 2)");
  for (int w : m.widths)
    if (w < 1) bad("widths", join(m.widths), "every width must be >= 1");
  check_choices(m);
  if (m.mus_rates.empty()) bad("mus_rates", "[]", "allowed: at least one dilation rate");
  for (int r : m.mus_rates)
    if (r < 1) bad("mus_rates", join(m.mus_rates), "every rate must be >= 1");
  if (m.mus_branch_width < 0) bad("mus_branch_width", std::to_string(m.mus_branch_width), "allowed >= 0 (0 = the input width)");
  if (m.attention != "none" && (m.cc || m.sc))
    bad("attention", "\"" + m.attention + "\"",
        "SE/CBAM/PAM/CAM sit where CoA sits (001 Table V): set model.attention = \"none\" when model.cc or model.sc is on");
  if (m.attention_reduction < 1) bad("attention_reduction", std::to_string(m.attention_reduction), "allowed >= 1");
  if (m.dspa_k < 1) bad("dspa_k", std::to_string(m.dspa_k), "allowed >= 1");
  if (m.nested && !component_keys_on(m, kNotWithNested).empty())
    bad("nested", "true", "the nested decoder has its own deep supervision and dense skips: not with " +
                              key_list(component_keys(kNotWithNested)));
  const int top = static_cast<int>(m.widths.size()) - 1;
  if (m.backbone == "resnet") {
    // 002's network has its own decoder-free multi-scale head: the U-Net components have nowhere to sit.
    std::vector<std::string> on;
    for (const auto& key : component_keys_on(m, kUNetOnly))
      if (key != "model.attention") on.push_back(key);  // stays, with the values 002 has (next check)
    if (m.prune_level > 0) on.push_back("model.prune_level");
    if (!on.empty()) bad("backbone", "\"resnet\"", "002's network takes none of the U-Net components: turn " + join_words(on, ", ") + " off");
    const Component* attention = nullptr;
    for (const auto& c : components())
      if (c.on(m) && (c.placement & kUNetOnly) && std::string(c.key) == "model.attention") attention = &c;
    if (attention != nullptr) {
      std::vector<std::string> allowed;
      for (const auto& v : component_choices("model.attention")) {
        const auto c = std::find_if(components().begin(), components().end(), [&](const Component& x) { return v == x.value; });
        if (c == components().end() || !(c->placement & kUNetOnly)) allowed.push_back(v);
      }
      bad("attention", "\"" + m.attention + "\"", "with model.backbone = resnet allowed " + join_words(allowed, " | ") + " (002 Table I)");
    }
    if (m.resnet_blocks.size() != m.widths.size())
      bad("resnet_blocks", join(m.resnet_blocks), "one block count per model.widths entry (" + std::to_string(m.widths.size()) + ")");
    for (int b : m.resnet_blocks)
      if (b < 1) bad("resnet_blocks", join(m.resnet_blocks), "every count must be >= 1");
    if (m.guided_width < 1) bad("guided_width", std::to_string(m.guided_width), "allowed >= 1");
    if (m.refinements < 1) bad("refinements", std::to_string(m.refinements), "allowed >= 1");
  }
  if (m.prune_level < 0 || m.prune_level > top)
    bad("prune_level", std::to_string(m.prune_level), "allowed 0.." + std::to_string(top) + " (0 and depth-1 = unpruned)");
  if (m.prune_level > 0 && (!m.nested || !m.nested_supervision))
    bad("prune_level", std::to_string(m.prune_level),
        "pruning takes the output of a deep-supervision head: needs model.nested = true and model.nested_supervision = true");
}

SegmentationNetImpl::SegmentationNetImpl(const ModelConfig& config, int out_channels)
    : SegmentationNetImpl(config, out_channels,
                          config.dws_taps == "decoder" ? nn::SideOutputTaps::kDecoder : nn::SideOutputTaps::kBridge) {}

SegmentationNetImpl::SegmentationNetImpl(const ModelConfig& config, int out_channels, nn::SideOutputTaps taps)
    : config_(config), out_channels_(out_channels), taps_(taps) {
  validate_model_config(config);
  if (out_channels < 1) throw std::invalid_argument("output channels = " + std::to_string(out_channels) + ": allowed >= 1");
  const ModelConfig& m = config_;
  widths_.assign(m.widths.begin(), m.widths.end());
  if (m.backbone == "resnet") {  // 002's network replaces the whole U-Net
    guided_ = register_module("guided", nn::GuidedNet(m, out_channels));
    return;
  }
  const int depth = static_cast<int>(widths_.size());
  const int64_t bridge = widths_.back();
  const bool bias = m.conv_bias;

  // Encoder. ec_levels = shallow: the first half (rounded down, at least one) of the levels.
  const int ec_until = m.ec_levels == "all" ? depth : std::max(1, depth / 2);
  auto enc = register_module("enc", torch::nn::ModuleList());
  for (int l = 0; l < depth; ++l) {
    enc_.emplace_back(l == 0 ? m.in_channels : widths_[l - 1], widths_[l], m.ec && l < ec_until, bias, m.ec_merge);
    enc->push_back(enc_.back());
  }

  // Bridge.
  if (m.cc) cc_ = register_module("cc", nn::ChannelCorrelationAttention(bias));
  if (m.attention == "se") se_ = register_module("se", nn::SqueezeExcitation(bridge, m.attention_reduction));
  if (m.attention == "cbam") cbam_ = register_module("cbam", nn::Cbam(bridge, m.attention_reduction));
  if (m.attention == "pam" || m.attention == "pam_cam")
    pam_ = register_module("pam", nn::PositionAttentionModule(nn::PositionAttentionOptions(bridge)));
  if (m.attention == "cam" || m.attention == "pam_cam") cam_ = register_module("cam", nn::ChannelAttentionModule(m.cam_energy));
  if (m.attention == "pam_cam") {
    auto conv_bn_relu = [&] {
      return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(bridge, bridge, 3).padding(1).bias(bias)),
                                   torch::nn::BatchNorm2d(bridge), torch::nn::ReLU());
    };
    pam_conv_ = register_module("pam_conv", conv_bn_relu());
    cam_conv_ = register_module("cam_conv", conv_bn_relu());
  }
  const bool attention = m.cc || m.sc || m.attention != "none";
  if (m.mus) {
    std::vector<int64_t> rates(m.mus_rates.begin(), m.mus_rates.end());
    mus_ = register_module("mus", nn::AtrousPyramid(nn::AtrousPyramidOptions(bridge, rates)
                                                         .branch_width(m.mus_branch_width)
                                                         .branch_1x1(m.mus_1x1_branch)
                                                         .bias(bias)));
    if (attention && m.fusion == "deep") {
      fusion_ = register_module(
          "fusion", torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(2 * bridge, bridge, 1).bias(bias)),
                                          torch::nn::BatchNorm2d(bridge), torch::nn::ReLU()));
    }
  }

  // Skips and decoders, deepest level first.
  auto up = register_module("up", torch::nn::ModuleList());
  auto dec = register_module("dec", torch::nn::ModuleList());
  if (m.nested) build_nested(up, dec);
  torch::nn::ModuleList msc, aux_up, aux_dec, dspa, gates, dws;
  if (m.msc != "none") msc = register_module("msc", torch::nn::ModuleList());
  if (m.aux_path) {
    aux_up = register_module("aux_path_up", torch::nn::ModuleList());
    aux_dec = register_module("aux_path_dec", torch::nn::ModuleList());
  }
  if (m.dspa) dspa = register_module("dspa", torch::nn::ModuleList());
  if (m.attention_gates && !m.nested) gates = register_module("attention_gates", torch::nn::ModuleList());
  if (m.dws) dws = register_module("dws", torch::nn::ModuleList());
  if (m.dws && taps_ == nn::SideOutputTaps::kBridge) {
    dws_.emplace_back(bridge, out_channels, int64_t{1} << (depth - 1), true);
    dws->push_back(dws_.back());
  }
  for (int l = depth - 2; l >= 0 && !m.nested; --l) {
    const int64_t c = widths_[l];
    if (m.msc != "none") {
      msc_.emplace_back(c, m.msc);
      msc->push_back(msc_.back());
    }
    const int64_t skip = m.aux_path ? 2 * c : c;
    if (m.aux_path) {
      aux_up_.emplace_back(widths_[l + 1], c, m.up);
      aux_up->push_back(aux_up_.back());
      aux_dec_.emplace_back(2 * c, c, false, bias);
      aux_dec->push_back(aux_dec_.back());
    }
    if (m.dspa) {
      dspa_mods_.emplace_back(skip, m.dspa_k);
      dspa->push_back(dspa_mods_.back());
    }
    if (m.attention_gates) {
      gates_.emplace_back(c, skip, bias);
      gates->push_back(gates_.back());
    }
    up_.emplace_back(widths_[l + 1], c, m.up);
    up->push_back(up_.back());
    dec_.emplace_back(c + skip, c, false, bias);
    dec->push_back(dec_.back());
    if (m.dws && taps_ == nn::SideOutputTaps::kDecoder && l > 0) {
      dws_.emplace_back(c, out_channels, int64_t{1} << l, false);
      dws->push_back(dws_.back());
    }
  }
  head_ = register_module("head", torch::nn::Conv2d(torch::nn::Conv2dOptions(widths_[0], out_channels, 1)));
  if (m.aux_path)
    aux_head_ = register_module("aux_path_head", torch::nn::Conv2d(torch::nn::Conv2dOptions(widths_[0], out_channels, 1)));
  if (m.restoration)
    restoration_ = register_module("restoration", nn::RestorationDecoder(widths_, m.in_channels, bias));
  if (m.nested && m.nested_supervision) {
    for (int j = 1; j + 1 < depth; ++j) {
      nested_heads_.push_back(register_module("nested_head" + std::to_string(j),
                                              torch::nn::Conv2d(torch::nn::Conv2dOptions(widths_[0], out_channels, 1))));
    }
  }
}

void SegmentationNetImpl::build_nested(torch::nn::ModuleList up, torch::nn::ModuleList dec) {
  const ModelConfig& m = config_;
  const int depth = static_cast<int>(widths_.size());
  const bool shared = m.nested_layout == "shared";
  nested_.resize(depth - 1);
  // Deepest level first, so that "dec.0"/"up.0" are the deepest decoder stage as in the plain U-Net.
  for (int i = depth - 2; i >= 0; --i) {
    const int64_t c = widths_[i];
    // shared: level i's up-sampling is the backbone's (registered once, as the U-Net decoder's); the BN after
    // it belongs to the nested component, so the backbone keeps the plain U-Net's count.
    nn::UpSample level_up{nullptr};
    torch::nn::BatchNorm2d level_bn{nullptr};
    if (shared) {
      level_up = nn::UpSample(widths_[i + 1], c, m.up);
      up->push_back(level_up);
      level_bn = register_module("nested_up_bn" + std::to_string(i), torch::nn::BatchNorm2d(c));
    }
    // The gates' intermediate width: shared, max(C_i/2, C_0) (Table 6's counts fix 32 at level 0 for widths
    // 32..512); per_node, C_i/2 (the Attention U-Net reference).
    const int64_t inter = shared ? std::max<int64_t>(c / 2, widths_[0]) : 0;
    for (int j = 1; i + j <= depth - 1; ++j) {
      const std::string id = std::to_string(i) + "_" + std::to_string(j);
      NestedNode node;
      node.up = shared ? level_up : nn::UpSample(widths_[i + 1], c, m.up);
      node.up_bn = level_bn;
      node.conv = nn::DoubleConv((j + 1) * c, c, false, m.conv_bias);
      if (i + j == depth - 1) {  // the U-Net decoder stage of level i
        if (!shared) up->push_back(node.up);
        dec->push_back(node.conv);
      } else {
        if (!shared) register_module("nested_up" + id, node.up);
        register_module("nested_x" + id, node.conv);
      }
      const int gates = !m.attention_gates ? 0 : shared ? 1 : j;
      for (int k = 0; k < gates; ++k) {
        const int on = shared ? j - 1 : k;  // the predecessor X^{i,on} this gate selects
        node.gates.push_back(register_module("attention_gates_x" + id + "_" + std::to_string(on),
                                             nn::AttentionGate(c, c, m.conv_bias, inter)));
      }
      nested_[i].push_back(node);
    }
  }
}

void SegmentationNetImpl::set_prune_level(int level) {
  ModelConfig m = config_;
  m.prune_level = level;
  validate_model_config(m);
  config_.prune_level = level;
}

int SegmentationNetImpl::inference_level() const {
  const int top = static_cast<int>(widths_.size()) - 1;
  return config_.nested && config_.prune_level >= 1 && config_.prune_level < top ? config_.prune_level : top;
}

std::vector<std::vector<torch::Tensor>> SegmentationNetImpl::nested_grid(const torch::Tensor& x, int top) {
  const int depth = static_cast<int>(widths_.size());
  if (!config_.nested || top < 1 || top > depth - 1)
    throw std::invalid_argument("nested_grid(top = " + std::to_string(top) + "): needs model.nested and 1 <= top <= " +
                                std::to_string(depth - 1));
  std::vector<std::vector<torch::Tensor>> grid(top + 1);
  const std::vector<torch::Tensor> stages = encode(x, top + 1);  // X^{i,0}
  for (int l = 0; l <= top; ++l) grid[l].push_back(stages[l]);
  if (top == depth - 1) grid[top][0] = bridge(grid[top][0]);
  // gated[i][k] = Ag(X^{i,k}) in the shared layout: computed once, by the gate of X^{i,k+1}, and reused.
  std::vector<std::vector<torch::Tensor>> gated(top + 1);
  for (int j = 1; j <= top; ++j) {
    for (int i = 0; i + j <= top; ++i) {
      NestedNode& node = nested_[i][j - 1];
      torch::Tensor u = node.up(grid[i + 1][j - 1]);
      if (node.up_bn) u = torch::relu(node.up_bn(u));
      std::vector<torch::Tensor> parts;
      if (node.gates.empty()) {
        for (int k = 0; k < j; ++k) parts.push_back(grid[i][k]);
      } else if (config_.nested_layout == "shared") {
        gated[i].push_back(node.gates[0](u, grid[i][j - 1]));
        parts = gated[i];
      } else {
        for (int k = 0; k < j; ++k) parts.push_back(node.gates[k](u, grid[i][k]));
      }
      parts.push_back(u);
      grid[i].push_back(node.conv(torch::cat(parts, 1)));  // eq. 4
    }
  }
  return grid;
}

NetOutput SegmentationNetImpl::forward_nested(const torch::Tensor& x) {
  const int depth = static_cast<int>(widths_.size());
  const int top = is_training() ? depth - 1 : inference_level();
  const auto grid = nested_grid(x, top);
  NetOutput out;
  if (top < depth - 1) {
    out.main = nested_heads_[top - 1](grid[0][top]);
    return out;
  }
  out.main = head_(grid[0][top]);
  for (size_t j = 1; j <= nested_heads_.size(); ++j) out.sides.push_back(nested_heads_[j - 1](grid[0][j]));
  if (config_.restoration) out.recon = restoration_(grid[top][0]);
  return out;
}

NetOutput SegmentationNetImpl::forward(const torch::Tensor& x) {
  const ModelConfig& m = config_;
  if (guided_) {
    const int64_t factor = nn::GuidedNetImpl::size_multiple(m);
    if (x.dim() != 4 || x.size(1) != m.in_channels || x.size(2) % factor != 0 || x.size(3) % factor != 0 || x.size(2) == 0 ||
        x.size(3) == 0) {
      std::ostringstream o;
      o << "network input of shape " << x.sizes() << ": expected N x " << m.in_channels
        << " (model.in_channels) x H x W with H and W multiples of " << factor << " (the ResNet's stride 2^(S+1) for S = "
        << m.widths.size() << " model.widths" << (m.semantic_guidance ? ", at least 16 with model.semantic_guidance" : "") << ")";
      throw std::invalid_argument(o.str());
    }
    nn::GuidedOutput g = guided_(x);
    NetOutput out;
    out.main = g.main;
    out.sides = std::move(g.sides);
    out.guided = std::move(g.guided);
    out.feature_recon = std::move(g.recon);
    return out;
  }
  const int depth = static_cast<int>(widths_.size());
  const int64_t factor = int64_t{1} << (depth - 1);
  if (x.dim() != 4 || x.size(1) != m.in_channels || x.size(2) % factor != 0 || x.size(3) % factor != 0 ||
      x.size(2) == 0 || x.size(3) == 0) {
    std::ostringstream o;
    o << "network input of shape " << x.sizes() << ": expected N x " << m.in_channels
      << " (model.in_channels) x H x W with H and W multiples of " << factor << " (2^(depth-1), depth "
      << depth << " = the number of model.widths)";
    throw std::invalid_argument(o.str());
  }
  if (m.nested) return forward_nested(x);

  std::vector<torch::Tensor> skips = encode(x);
  const torch::Tensor b = bridge(skips.back());
  skips.pop_back();

  NetOutput out;
  if (m.dws && taps_ == nn::SideOutputTaps::kBridge) out.sides.push_back(dws_[0](b));
  torch::Tensor o = b, a = b;
  for (int i = 0; i + 1 < depth; ++i) {
    const int l = depth - 2 - i;
    torch::Tensor s = skips[l];
    if (!msc_.empty()) s = msc_[i](s);
    if (m.aux_path) {
      s = torch::cat({aux_up_[i](a), s}, 1);  // M, eq. 9
      a = aux_dec_[i](s);
    }
    if (m.dspa) s = dspa_mods_[i](s);
    if (m.ca) s = nn::channel_self_attention(s);
    torch::Tensor u = up_[i](o);
    if (m.attention_gates) s = gates_[i](u, s);
    o = dec_[i](torch::cat({u, s}, 1));
    if (m.dws && taps_ == nn::SideOutputTaps::kDecoder && l > 0) out.sides.push_back(dws_[i](o));
  }
  out.main = head_(o);
  if (m.aux_path) out.aux = aux_head_(a);
  if (m.restoration) out.recon = restoration_(b);
  return out;
}

std::vector<torch::Tensor> SegmentationNetImpl::encode(const torch::Tensor& x, int levels) {
  const size_t n = levels < 0 ? enc_.size() : std::min(enc_.size(), static_cast<size_t>(levels));
  std::vector<torch::Tensor> stages;
  torch::Tensor h = x;
  for (size_t l = 0; l < n; ++l) {
    if (l > 0) h = torch::max_pool2d(h, 2);
    h = enc_[l](h);
    stages.push_back(h);
  }
  return stages;
}

torch::Tensor SegmentationNetImpl::bridge_attention(const torch::Tensor& f) {
  const ModelConfig& m = config_;
  if (m.cc || m.sc) {
    torch::Tensor fc = m.cc ? cc_(f) : f;
    return m.sc ? nn::collaborative_attention(f, fc) : fc + f;  // eq. 4; CC alone F_C + F, SC alone S ⊙ F + F
  }
  if (se_) return se_(f);
  if (cbam_) return cbam_(f);
  if (pam_ && cam_) return pam_conv_->forward(pam_(f)) + cam_conv_->forward(cam_(f));  // 002 Sec. III-C
  if (pam_) return pam_(f);
  if (cam_) return cam_(f);
  return {};
}

torch::Tensor SegmentationNetImpl::bridge(const torch::Tensor& f) {
  const torch::Tensor fa = bridge_attention(f);
  if (!mus_) return fa.defined() ? fa : f;
  if (!fa.defined()) return mus_(f);
  if (config_.fusion == "serial") return mus_(fa);
  if (config_.fusion == "add") return fa + mus_(f);
  return fusion_->forward(torch::cat({fa, mus_(f)}, 1));  // eq. 10
}

std::map<std::string, std::int64_t> SegmentationNetImpl::component_parameters() const {
  const ModelConfig& m = config_;
  std::map<std::string, std::int64_t> counts;
  for (const auto& c : components_on(m)) counts[c] = 0;  // "backbone" and every component the network holds
  // Pruned (003 Sec. 3.5): the parameters of the encoder levels 0..L, the nodes X^{i,j} with i + j <= L (conv
  // block, up-sampling, gates) and X^{0,L}'s head are the network that predicts; nothing else counts.
  const int depth = static_cast<int>(widths_.size());
  const int level = inference_level();
  const bool pruned = level < depth - 1;
  std::set<const void*> used;
  if (pruned) {
    auto take = [&](const torch::nn::Module& module) {
      for (const auto& p : module.parameters(true)) used.insert(p.unsafeGetTensorImpl());
    };
    for (int l = 0; l <= level; ++l) take(*enc_[l]);
    for (int i = 0; i < level; ++i) {
      for (int j = 1; i + j <= level; ++j) {
        const NestedNode& node = nested_[i][j - 1];
        take(*node.conv);
        take(*node.up);
        if (node.up_bn) take(*node.up_bn);
        for (const auto& g : node.gates) take(*g);
      }
    }
    take(*nested_heads_[level - 1]);
  }
  for (const auto& p : named_parameters(true)) {
    if (pruned && !used.count(p.value().unsafeGetTensorImpl())) continue;
    if (p.value().requires_grad()) counts[component_of(p.key())] += p.value().numel();
  }
  if (m.nested && !pruned) {
    // The U-Net decoder stage X^{i,depth-1-i} reads (depth-i) C_i channels (eq. 4) where the plain U-Net's reads
    // 2 C_i: the 3x3 weights of the (depth-2-i) C_i extra input channels belong to the nested skips.
    for (int i = 0; i + 1 < depth; ++i) {
      const std::int64_t extra = (depth - 2 - i) * widths_[i] * widths_[i] * 9;
      counts["backbone"] -= extra;
      counts["nested"] += extra;
    }
  }
  if (m.aux_path) {
    // The original decoder's first conv3x3 reads concat(up_o, M) = 3 C_l channels (eq. 5); the C_l
    // channels beyond the plain U-Net's 2 C_l come from the aux path.
    for (int l = static_cast<int>(widths_.size()) - 2; l >= 0; --l) {
      const std::int64_t extra = widths_[l] * widths_[l] * 9;
      counts["backbone"] -= extra;
      counts["aux_path"] += extra;
    }
  }
  return counts;
}

std::int64_t SegmentationNetImpl::inference_parameters() const {
  std::int64_t n = 0;
  for (const auto& [name, count] : component_parameters()) n += count;
  return n;
}

}  // namespace ablate::trainer
