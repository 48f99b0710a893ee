// The configurable segmentation network family (internal to trainer/: includes LibTorch).
// One network assembled from ModelConfig: U-Net backbone + the components of 001 (CC, SC, MuS, EC, DWS,
// SE/CBAM, attention gates), 000 (auxiliary path, DSPA, CA, cascade MSC), 004 (MSC/KCM, restoration),
// 003 (nested dense skips with attention gates, deep supervision, inference-time pruning) and 002 (PAM, CAM);
// with model.backbone = "resnet", 002's whole multi-scale guided attention network (trainer/nn/guided.hpp).
//
// Contract (every header of trainer/nn/): LibTorch modules in LibTorch's idiom, owned through their
// TORCH_MODULE holders (shared ownership); one network belongs to one task and is used from its thread
// (trainer/trainer.hpp). A configuration the network refuses throws std::invalid_argument from the
// constructor, naming the model.* key and what is allowed; forward() takes the input shapes the study's
// checks allow (data.image_size, docs/STUDY.md), and other shapes fail with LibTorch's own errors.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "ablations/config.hpp"
#include "trainer/nn/attention.hpp"
#include "trainer/nn/blocks.hpp"
#include "trainer/nn/guided.hpp"
#include "trainer/nn/multiscale.hpp"

namespace ablate::trainer {

// Every head the network has for one input. Absent heads are undefined tensors (!t.defined()).
struct NetOutput {
  torch::Tensor main;                // N x out_channels x H x W logits
  std::vector<torch::Tensor> sides;  // DWS side outputs, or the nested deep-supervision heads on X^{0,1}..X^{0,depth-2}
                                     // (shallowest first); logits at full resolution
  torch::Tensor aux;                 // MDA-U-Net* additional expansive path logits
  torch::Tensor recon;               // DSMS restoration decoder output in [0, 1], N x in_channels x H x W
  // 002 (model.backbone = resnet, model.semantic_guidance): the codes (E_r, E_{r+1}) of consecutive encoder-decoders
  // per scale (eq. 6) and every encoder-decoder's (input F_r, reconstruction F̂_r) (eq. 7).
  std::vector<std::pair<torch::Tensor, torch::Tensor>> guided;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> feature_recon;
};

// 1 logit channel (sigmoid) for one foreground class, else classes + 1 (softmax with background).
int output_channels(const VariantConfig& config);

// Checks every model.* key the network reads; throws std::invalid_argument naming the key, the value
// and what is allowed. The choice lists are the schema's and the placement rules the component registry's.
void validate_model_config(const ModelConfig& config);

// The component names of component_parameters(), in display order: the registry's (ablations/components.hpp).
const std::vector<std::string>& component_names();

class SegmentationNetImpl : public torch::nn::Module {
 public:
  // The DWS side outputs tap where model.dws_taps says (bridge | decoder).
  SegmentationNetImpl(const ModelConfig& config, int out_channels);
  // The same with the DWS side-output reading chosen explicitly, overriding model.dws_taps (network.cpp,
  // "DWS"): kBridge taps the fused bridge, kDecoder every decoder stage below full resolution.
  SegmentationNetImpl(const ModelConfig& config, int out_channels, nn::SideOutputTaps taps);
  // In training mode the whole network with every head. In evaluation mode with model.prune_level = L
  // (1 <= L <= depth-2, model.nested) only the sub-network up to X^{0,L} runs (003 Sec. 3.5): main is
  // X^{0,L}'s head, and there are no side, aux or recon outputs.
  NetOutput forward(const torch::Tensor& x);

  // The stages forward() composes, public so that tests can check the wiring against the equations:
  // encode(x) returns every encoder stage's output (shallowest first; the last is the bridge input F),
  // bridge_attention(F) is F_A (CoA, CC or SC with eq. 4's residual, SE or CBAM; undefined without
  // attention) and bridge(F) the fused bridge B that feeds the decoder(s), DWS and restoration.
  // `levels` limits the run to the shallowest stages (the pruned nested network does not compute the rest).
  std::vector<torch::Tensor> encode(const torch::Tensor& x, int levels = -1);
  torch::Tensor bridge_attention(const torch::Tensor& f);
  torch::Tensor bridge(const torch::Tensor& f);
  // model.nested: the nodes X^{i,j} for i + j <= top (003 eq. 4), grid[i][j]; grid[depth-1][0] is the fused
  // bridge B when top = depth-1. Encoder levels deeper than top are not run.
  std::vector<std::vector<torch::Tensor>> nested_grid(const torch::Tensor& x, int top);
  // The level L whose node X^{0,L} gives the evaluation output: model.prune_level when it prunes (1..depth-2),
  // else depth-1 (the full network; also without model.nested).
  int inference_level() const;
  // Parameters owned by each component (names as in trainer.hpp's ComponentParameters): "backbone" and
  // every enabled component, the values summing to inference_parameters(). Unpruned, that is the trainable
  // total and the backbone's count does not depend on the toggles (it always equals the plain U-Net's).
  // With model.prune_level pruning (003 Table 6), only the parameters the pruned network uses count: the
  // encoder levels 0..L (backbone), the nodes X^{i,j} with i + j <= L, their up-samplings and X^{0,L}'s head
  // (nested), their gates (attention_gates); bridge components and deeper levels count 0.
  std::map<std::string, std::int64_t> component_parameters() const;
  // The parameters of the network as it predicts (the pruned one when model.prune_level prunes), what the
  // trainer reports as TaskResult::parameters.
  std::int64_t inference_parameters() const;
  const ModelConfig& config() const { return config_; }
  // Sets model.prune_level after construction (checked as the constructor checks it). The level only
  // selects what evaluation-mode forward() runs and what inference_parameters() counts; the modules and
  // their initial weights do not depend on it, so one trained network serves every level (003 Sec. 3.5:
  // pruned "during predicting"; trainer::run_group validates and tests each member at its own level).
  void set_prune_level(int level);
  // The DSPA modules on the skips (deepest first), for inspecting the attention shapes.
  std::vector<nn::DenseSpatialPositionAttention> dspa_modules() const { return dspa_mods_; }
  // The bridge's components (empty holders when off) and the DWS side-output heads.
  nn::ChannelCorrelationAttention cc_module() const { return cc_; }
  nn::SqueezeExcitation se_module() const { return se_; }
  nn::Cbam cbam_module() const { return cbam_; }
  nn::AtrousPyramid mus_module() const { return mus_; }
  torch::nn::Sequential fusion_module() const { return fusion_; }  // deep fusion: conv1x1, BN, ReLU
  std::vector<nn::SideOutput> side_output_modules() const { return dws_; }
  nn::PositionAttentionModule pam_module() const { return pam_; }
  nn::ChannelAttentionModule cam_module() const { return cam_; }
  // 002's fusion of the dual attention (model.attention = pam_cam): conv3x3 + BN + ReLU after each module.
  torch::nn::Sequential pam_conv_module() const { return pam_conv_; }
  torch::nn::Sequential cam_conv_module() const { return cam_conv_; }
  // The nested node X^{i,j} (j >= 1): its conv block, the up-sampling of X^{i+1,j-1} and the gates it owns
  // (empty without model.attention_gates); the deep-supervision head on X^{0,j} (j <= depth-2).
  //   per_node layout: `up` is the node's own; gates[k] gates X^{i,k} (k < j), all gated by this node's Up.
  //   shared layout:   `up` (and `up_bn`, BN + ReLU after it) is level i's, the same module in every node of
  //                    the level; one gate, gates[0], on X^{i,j-1} gated by this node's Up — Ag(X^{i,k}) for
  //                    k < j-1 is the output of X^{i,k+1}'s gate, reused.
  struct NestedNode {
    nn::DoubleConv conv{nullptr};
    nn::UpSample up{nullptr};
    torch::nn::BatchNorm2d up_bn{nullptr};
    std::vector<nn::AttentionGate> gates;
  };
  NestedNode nested_node(int i, int j) const { return nested_.at(i).at(j - 1); }
  torch::nn::Conv2d nested_head(int j) const { return nested_heads_.at(j - 1); }
  torch::nn::Conv2d head_module() const { return head_; }
  // 002's network (model.backbone = resnet); empty holder for the U-Net family.
  nn::GuidedNet guided_module() const { return guided_; }

 private:
  ModelConfig config_;
  int out_channels_ = 1;
  nn::SideOutputTaps taps_ = nn::SideOutputTaps::kBridge;
  std::vector<int64_t> widths_;
  // Encoder, bridge and decoder; decoder vectors are indexed from the deepest level (i = 0) upwards.
  std::vector<nn::DoubleConv> enc_;
  nn::ChannelCorrelationAttention cc_{nullptr};
  nn::SqueezeExcitation se_{nullptr};
  nn::Cbam cbam_{nullptr};
  nn::PositionAttentionModule pam_{nullptr};
  nn::ChannelAttentionModule cam_{nullptr};
  torch::nn::Sequential pam_conv_{nullptr}, cam_conv_{nullptr};
  nn::AtrousPyramid mus_{nullptr};
  torch::nn::Sequential fusion_{nullptr};
  std::vector<nn::SideOutput> dws_;
  std::vector<nn::UpSample> up_;
  std::vector<nn::DoubleConv> dec_;
  torch::nn::Conv2d head_{nullptr};
  std::vector<nn::MultiScaleConv> msc_;
  std::vector<nn::UpSample> aux_up_;
  std::vector<nn::DoubleConv> aux_dec_;
  torch::nn::Conv2d aux_head_{nullptr};
  std::vector<nn::DenseSpatialPositionAttention> dspa_mods_;
  std::vector<nn::AttentionGate> gates_;
  nn::RestorationDecoder restoration_{nullptr};
  std::vector<std::vector<NestedNode>> nested_;  // nested_[i][j-1] = X^{i,j}
  std::vector<torch::nn::Conv2d> nested_heads_;  // on X^{0,j}, j = 1..depth-2
  nn::GuidedNet guided_{nullptr};

  void build_nested(torch::nn::ModuleList up, torch::nn::ModuleList dec);
  NetOutput forward_nested(const torch::Tensor& x);
};
TORCH_MODULE(SegmentationNet);

}  // namespace ablate::trainer
