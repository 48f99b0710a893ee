// The configurable segmentation network family (internal to trainer/: includes LibTorch).
// One network assembled from ModelConfig: U-Net backbone + the components of 001 (CC, SC, MuS, EC, DWS,
// SE/CBAM, attention gates), 000 (auxiliary path, DSPA, CA, cascade MSC) and 004 (MSC/KCM, restoration).
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "ablations/config.hpp"

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

class SegmentationNetImpl : public torch::nn::Module {
 public:
  SegmentationNetImpl(const ModelConfig& config, int out_channels);
  NetOutput forward(const torch::Tensor& x);
  // Parameters owned by each component (names as in trainer.hpp's ComponentParameters).
  std::map<std::string, std::int64_t> component_parameters() const;
  // (implementation members are the models' own)
};
TORCH_MODULE(SegmentationNet);

}  // namespace ablate::trainer
