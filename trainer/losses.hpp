// Losses of the papers (internal to trainer/: includes LibTorch).
#pragma once

#include <torch/torch.h>

#include "ablations/config.hpp"
#include "trainer/nn/network.hpp"

namespace ablate::trainer {

struct LossTerms {
  torch::Tensor total;   // the weighted sum that is back-propagated
  double main = 0;       // unweighted terms, for logging
  double side = 0;
  double aux = 0;
  double recon = 0;
};

// target: N x H x W int64 class indices (0 = background); input: the network input (for reconstruction).
LossTerms compute_loss(const NetOutput& out, const torch::Tensor& target, const torch::Tensor& input,
                       const LossConfig& config);

// Class probabilities from logits: sigmoid for 1 channel, softmax otherwise.
torch::Tensor probabilities(const torch::Tensor& logits);
// Hard prediction N x H x W int64 class indices (threshold 0.5 for 1 channel, argmax otherwise).
torch::Tensor predict_labels(const torch::Tensor& logits);

}  // namespace ablate::trainer
