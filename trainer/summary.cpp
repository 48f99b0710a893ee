// summarize_model (`ablate params`): parameter accounting per component and the output shapes of one
// forward pass (evaluation mode, no gradient, so a pruned network's) at the variant's data.image_size;
// count_parameters, the count alone, without the forward pass.
#include <torch/torch.h>

#include "trainer/nn/network.hpp"
#include "trainer/trainer.hpp"

namespace ablate::trainer {

namespace {

std::int64_t trainable(SegmentationNet& net) {
  std::int64_t n = 0;
  for (const auto& p : net->parameters())
    if (p.requires_grad()) n += p.numel();
  return n;
}

}  // namespace

std::int64_t count_parameters(const VariantConfig& config) {
  SegmentationNet net(config.model, output_channels(config));
  return trainable(net);
}

ModelSummary summarize_model(const VariantConfig& config, int batch) {
  if (batch < 1) throw std::invalid_argument("summarize_model: batch = " + std::to_string(batch) + ": allowed >= 1");
  if (config.data.image_size < 1)
    throw std::invalid_argument("data.image_size = " + std::to_string(config.data.image_size) + ": allowed >= 1");
  SegmentationNet net(config.model, output_channels(config));
  ModelSummary s;
  s.trainable_parameters = trainable(net);
  const auto counts = net->component_parameters();
  s.inference_parameters = net->inference_parameters();
  for (const auto& name : component_names()) {
    auto it = counts.find(name);
    if (it != counts.end()) s.components.push_back({name, it->second});
  }
  net->eval();
  torch::NoGradGuard no_grad;
  const int64_t size = config.data.image_size;
  NetOutput out = net->forward(torch::zeros({batch, config.model.in_channels, size, size}));
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    if (t.defined()) s.outputs.emplace_back(name, t.sizes().vec());
  };
  add("main", out.main);
  for (size_t i = 0; i < out.sides.size(); ++i) add("side" + std::to_string(i + 1), out.sides[i]);
  add("aux", out.aux);
  add("recon", out.recon);
  return s;
}

}  // namespace ablate::trainer
