// The configurable segmentation network family (internal to trainer/: includes LibTorch).
// One network assembled from ModelConfig: U-Net backbone + the components of 001 (CC, SC, MuS, EC, DWS,
// SE/CBAM, attention gates), 000 (auxiliary path, DSPA, CA, cascade MSC) and 004 (MSC/KCM, restoration).
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "ablations/config.hpp"
#include "trainer/nn/attention.hpp"
#include "trainer/nn/blocks.hpp"
#include "trainer/nn/multiscale.hpp"

namespace ablate::trainer {

// Every head the network has for one input. Absent heads are undefined tensors (!t.defined()).
struct NetOutput {
  torch::Tensor main;                // N x out_channels x H x W logits
  std::vector<torch::Tensor> sides;  // DWS side outputs, logits at full resolution
  torch::Tensor aux;                 // MDA-U-Net* additional expansive path logits
  torch::Tensor recon;               // DSMS restoration decoder output in [0, 1], N x in_channels x H x W
};

// 1 logit channel (sigmoid) for one foreground class, else classes + 1 (softmax with background).
int output_channels(const VariantConfig& config);

// Checks every model.* key the network reads; throws std::invalid_argument naming the key, the value
// and what is allowed.
void validate_model_config(const ModelConfig& config);

// The component names of component_parameters(), in display order.
const std::vector<std::string>& component_names();

class SegmentationNetImpl : public torch::nn::Module {
 public:
  // The DWS side outputs tap where model.dws_taps says (bridge | decoder).
  SegmentationNetImpl(const ModelConfig& config, int out_channels);
  // The same with the DWS side-output reading chosen explicitly, overriding model.dws_taps (network.cpp,
  // "DWS"): kBridge taps the fused bridge, kDecoder every decoder stage below full resolution.
  SegmentationNetImpl(const ModelConfig& config, int out_channels, nn::SideOutputTaps taps);
  NetOutput forward(const torch::Tensor& x);

  // The stages forward() composes, public so that tests can check the wiring against the equations:
  // encode(x) returns every encoder stage's output (shallowest first; the last is the bridge input F),
  // bridge_attention(F) is F_A (CoA, CC or SC with eq. 4's residual, SE or CBAM; undefined without
  // attention) and bridge(F) the fused bridge B that feeds the decoder(s), DWS and restoration.
  std::vector<torch::Tensor> encode(const torch::Tensor& x);
  torch::Tensor bridge_attention(const torch::Tensor& f);
  torch::Tensor bridge(const torch::Tensor& f);
  // Parameters owned by each component (names as in trainer.hpp's ComponentParameters): "backbone" and
  // every enabled component, the values summing to the trainable total. The backbone's count does not
  // depend on the toggles (it always equals the plain U-Net's).
  std::map<std::string, std::int64_t> component_parameters() const;
  const ModelConfig& config() const { return config_; }
  // The DSPA modules on the skips (deepest first), for inspecting the attention shapes.
  std::vector<nn::DenseSpatialPositionAttention> dspa_modules() const { return dspa_mods_; }
  // The bridge's components (empty holders when off) and the DWS side-output heads.
  nn::ChannelCorrelationAttention cc_module() const { return cc_; }
  nn::SqueezeExcitation se_module() const { return se_; }
  nn::Cbam cbam_module() const { return cbam_; }
  nn::AtrousPyramid mus_module() const { return mus_; }
  torch::nn::Sequential fusion_module() const { return fusion_; }  // deep fusion: conv1x1, BN, ReLU
  std::vector<nn::SideOutput> side_output_modules() const { return dws_; }

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
};
TORCH_MODULE(SegmentationNet);

}  // namespace ablate::trainer
