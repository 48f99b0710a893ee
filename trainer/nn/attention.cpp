#include "trainer/nn/attention.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace ablate::trainer::nn {

ChannelCorrelationAttentionImpl::ChannelCorrelationAttentionImpl(bool bias) {
  conv1 = register_module("conv1", torch::nn::Conv1d(torch::nn::Conv1dOptions(1, 1, 3).stride(1).padding(1).bias(bias)));
  bn1 = register_module("bn1", torch::nn::BatchNorm1d(1));
  conv2 = register_module("conv2", torch::nn::Conv1d(torch::nn::Conv1dOptions(1, 1, 7).stride(2).padding(3).bias(bias)));
  bn2 = register_module("bn2", torch::nn::BatchNorm1d(1));
  deconv = register_module("deconv", torch::nn::ConvTranspose1d(torch::nn::ConvTranspose1dOptions(1, 1, 2).stride(2)));
}

torch::Tensor ChannelCorrelationAttentionImpl::weights(const torch::Tensor& f) {
  const int64_t n = f.size(0), c = f.size(1);
  torch::Tensor theta = f.mean({2, 3}).view({n, 1, c});  // eq. 5
  theta = torch::relu(bn1(conv1(theta)));
  theta = torch::relu(bn2(conv2(theta)));
  theta = deconv(theta).narrow(2, 0, c);  // 2 ceil(C/2) >= C
  return torch::sigmoid(theta).view({n, c, 1, 1});
}

torch::Tensor ChannelCorrelationAttentionImpl::forward(const torch::Tensor& f) { return f * weights(f); }

torch::Tensor spatial_correlation_map(const torch::Tensor& f) {
  const int64_t n = f.size(0), c = f.size(1), hw = f.size(2) * f.size(3);
  torch::Tensor e = f.reshape({n, c, hw});
  return torch::softmax(torch::bmm(e.transpose(1, 2), e), -1);  // S_ij = softmax_j(E_iᵀ E_j), eq. 9
}

torch::Tensor apply_spatial_map(const torch::Tensor& s, const torch::Tensor& g) {
  const int64_t n = g.size(0), c = g.size(1);
  return torch::bmm(g.reshape({n, c, -1}), s.transpose(1, 2)).view_as(g);
}

torch::Tensor collaborative_attention(const torch::Tensor& f, const torch::Tensor& fc) {
  return apply_spatial_map(spatial_correlation_map(f), fc) + f;
}

SqueezeExcitationImpl::SqueezeExcitationImpl(int64_t channels, int64_t reduction) {
  const int64_t hidden = std::max<int64_t>(1, channels / reduction);
  fc1 = register_module("fc1", torch::nn::Linear(torch::nn::LinearOptions(channels, hidden).bias(false)));
  fc2 = register_module("fc2", torch::nn::Linear(torch::nn::LinearOptions(hidden, channels).bias(false)));
}

torch::Tensor SqueezeExcitationImpl::forward(const torch::Tensor& x) {
  torch::Tensor s = torch::sigmoid(fc2(torch::relu(fc1(x.mean({2, 3})))));
  return x * s.view({x.size(0), x.size(1), 1, 1});
}

CbamImpl::CbamImpl(int64_t channels, int64_t reduction) {
  const int64_t hidden = std::max<int64_t>(1, channels / reduction);
  fc1 = register_module("fc1", torch::nn::Linear(channels, hidden));
  fc2 = register_module("fc2", torch::nn::Linear(hidden, channels));
  spatial = register_module("spatial", torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 1, 7).padding(3).bias(false)));
  spatial_bn = register_module("spatial_bn", torch::nn::BatchNorm2d(1));
}

torch::Tensor CbamImpl::forward(const torch::Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1);
  auto mlp = [&](const torch::Tensor& v) { return fc2(torch::relu(fc1(v))); };
  torch::Tensor channel = torch::sigmoid(mlp(x.mean({2, 3})) + mlp(x.amax({2, 3})));
  torch::Tensor y = x * channel.view({n, c, 1, 1});
  torch::Tensor pooled = torch::cat({std::get<0>(y.max(1, true)), y.mean(1, true)}, 1);
  return y * torch::sigmoid(spatial_bn(spatial(pooled)));
}

AttentionGateImpl::AttentionGateImpl(int64_t gate_channels, int64_t skip_channels, bool bias, int64_t inter_width) {
  const int64_t inter = inter_width > 0 ? inter_width : std::max<int64_t>(1, skip_channels / 2);
  w_g = register_module("w_g", torch::nn::Conv2d(torch::nn::Conv2dOptions(gate_channels, inter, 1).bias(bias)));
  bn_g = register_module("bn_g", torch::nn::BatchNorm2d(inter));
  w_x = register_module("w_x", torch::nn::Conv2d(torch::nn::Conv2dOptions(skip_channels, inter, 1).bias(bias)));
  bn_x = register_module("bn_x", torch::nn::BatchNorm2d(inter));
  psi = register_module("psi", torch::nn::Conv2d(torch::nn::Conv2dOptions(inter, 1, 1).bias(bias)));
  bn_psi = register_module("bn_psi", torch::nn::BatchNorm2d(1));
}

torch::Tensor AttentionGateImpl::forward(const torch::Tensor& g, const torch::Tensor& x) {
  torch::Tensor a = torch::relu(bn_g(w_g(g)) + bn_x(w_x(x)));
  return x * torch::sigmoid(bn_psi(psi(a)));
}

DenseSpatialPositionAttentionImpl::DenseSpatialPositionAttentionImpl(int64_t channels, int64_t k) {
  dilated = register_module("dilated",
                            torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, k, 3).padding(2).dilation(2).bias(false)));
}

std::pair<torch::Tensor, torch::Tensor> DenseSpatialPositionAttentionImpl::dense_features_and_attention(
    const torch::Tensor& m) {
  const int64_t n = m.size(0), c = m.size(1);
  torch::Tensor flat = m.reshape({n, c, -1});                                  // C x N
  torch::Tensor pool = torch::softmax(dilated(m).reshape({n, dilated->options.out_channels(), -1}), -1);  // K x N
  torch::Tensor d = torch::bmm(flat, pool.transpose(1, 2));                    // C x K
  torch::Tensor a = torch::softmax(torch::bmm(flat.transpose(1, 2), d), -1);   // N x K, eq. 10
  return {d, a};
}

torch::Tensor DenseSpatialPositionAttentionImpl::forward(const torch::Tensor& m) {
  auto [d, a] = dense_features_and_attention(m);
  return torch::bmm(d, a.transpose(1, 2)).view_as(m) + m;  // eq. 11
}

torch::Tensor channel_self_attention(const torch::Tensor& m) {
  const int64_t n = m.size(0), c = m.size(1);
  torch::Tensor flat = m.reshape({n, c, -1});
  torch::Tensor a = torch::softmax(torch::bmm(flat, flat.transpose(1, 2)), -1);  // eq. 12
  return (torch::bmm(a, flat) + flat).view_as(m);                               // eq. 13
}

PositionAttentionModuleImpl::PositionAttentionModuleImpl(const PositionAttentionOptions& o) {
  const int64_t c = o.channels(), reduced = std::max<int64_t>(1, c / o.reduction());
  query = register_module("query", torch::nn::Conv2d(torch::nn::Conv2dOptions(c, reduced, 1)));
  key = register_module("key", torch::nn::Conv2d(torch::nn::Conv2dOptions(c, reduced, 1).bias(false)));
  value = register_module("value", torch::nn::Conv2d(torch::nn::Conv2dOptions(c, c, 1)));
  gamma = register_parameter("gamma", torch::zeros({1}));
}

torch::Tensor PositionAttentionModuleImpl::attention_map(const torch::Tensor& f) {
  const int64_t n = f.size(0);
  torch::Tensor q = query(f).reshape({n, -1, f.size(2) * f.size(3)});  // C' x N
  torch::Tensor k = key(f).reshape({n, q.size(1), -1});                  // C' x N
  return torch::softmax(torch::bmm(q.transpose(1, 2), k), -1);          // eq. 2
}

torch::Tensor PositionAttentionModuleImpl::forward(const torch::Tensor& f) {
  const int64_t n = f.size(0), c = f.size(1);
  torch::Tensor v = value(f).reshape({n, c, -1});
  return gamma * torch::bmm(v, attention_map(f).transpose(1, 2)).view_as(f) + f;  // eq. 3
}

ChannelAttentionModuleImpl::ChannelAttentionModuleImpl(const std::string& energy) {
  if (energy != "similarity" && energy != "max_minus")
    throw std::invalid_argument("model.cam_energy = \"" + energy + "\": allowed similarity | max_minus");
  max_minus_ = energy == "max_minus";
  gamma = register_parameter("gamma", torch::zeros({1}));
}

torch::Tensor ChannelAttentionModuleImpl::attention_map(const torch::Tensor& f) {
  const int64_t n = f.size(0), c = f.size(1);
  torch::Tensor x = f.reshape({n, c, -1});
  torch::Tensor e = torch::bmm(x, x.transpose(1, 2));  // C x C
  if (max_minus_) e = std::get<0>(e.max(-1, true)) - e;
  return torch::softmax(e, -1);  // eq. 4
}

torch::Tensor ChannelAttentionModuleImpl::forward(const torch::Tensor& f) {
  const int64_t n = f.size(0), c = f.size(1);
  return gamma * torch::bmm(attention_map(f), f.reshape({n, c, -1})).view_as(f) + f;  // eq. 5
}

}  // namespace ablate::trainer::nn
