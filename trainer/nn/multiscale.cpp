#include "trainer/nn/multiscale.hpp"

#include <stdexcept>

namespace ablate::trainer::nn {

namespace {
torch::nn::Sequential conv_bn_relu(int64_t in, int64_t out, int64_t kernel, int64_t dilation, bool bias) {
  const int64_t pad = dilation * (kernel / 2);
  return torch::nn::Sequential(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).padding(pad).dilation(dilation).bias(bias)),
      torch::nn::BatchNorm2d(out), torch::nn::ReLU());
}
}  // namespace

AtrousPyramidImpl::AtrousPyramidImpl(const AtrousPyramidOptions& o) {
  const int64_t c = o.channels();
  const int64_t b = o.branch_width() > 0 ? o.branch_width() : c;
  branches = register_module("branches", torch::nn::ModuleList());
  if (o.branch_1x1()) branches->push_back(conv_bn_relu(c, b, 1, 1, o.bias()));
  for (int64_t r : o.rates()) branches->push_back(conv_bn_relu(c, b, 3, r, o.bias()));
  pool_conv = register_module("pool_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(c, b, 1).bias(o.bias())));
  pool_bn = register_module("pool_bn", torch::nn::BatchNorm2d(b));
  const int64_t concat = b * static_cast<int64_t>(branches->size() + 1);
  project = register_module("project", conv_bn_relu(concat, c, 1, 1, o.bias()));
}

torch::Tensor AtrousPyramidImpl::forward(const torch::Tensor& x) { return project->forward(torch::cat(branch_outputs(x), 1)); }

std::vector<torch::Tensor> AtrousPyramidImpl::branch_outputs(const torch::Tensor& x) {
  std::vector<torch::Tensor> outs;
  outs.reserve(branches->size() + 1);
  for (const auto& m : *branches) outs.push_back(m->as<torch::nn::SequentialImpl>()->forward(x));
  torch::Tensor p = pool_conv(x.mean({2, 3}, true));
  const bool single = is_training() && x.size(0) == 1;
  p = torch::batch_norm(p, pool_bn->weight, pool_bn->bias, pool_bn->running_mean, pool_bn->running_var,
                        is_training() && !single, pool_bn->options.momentum().value_or(0.1), pool_bn->options.eps(),
                        false);
  outs.push_back(torch::relu(p).expand({-1, -1, x.size(2), x.size(3)}));
  return outs;
}

MultiScaleConvImpl::MultiScaleConvImpl(int64_t channels, const std::string& kind) {
  auto conv = [channels](int64_t in_mult, int64_t k) {
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(channels * in_mult, channels, k).padding(k / 2));
  };
  if (kind == "msc") {
    b1 = register_module("b1", conv(1, 1));
    b2 = register_module("b2", conv(1, 3));
    b3 = register_module("b3", conv(1, 5));
    fuse = register_module("fuse", conv(3, 1));
  } else if (kind == "kcm") {
    b1 = register_module("b1", conv(1, 3));
    b2 = register_module("b2", conv(1, 3));
    b3 = register_module("b3", conv(1, 3));
    fuse = register_module("fuse", conv(3, 1));
  } else if (kind == "cascade") {
    cascade_ = true;
    b1 = register_module("b1", conv(1, 5));
    b2 = register_module("b2", conv(1, 3));
    b3 = register_module("b3", conv(1, 1));
    fuse = register_module("fuse", conv(4, 1));
  } else {
    throw std::invalid_argument("model.msc = \"" + kind + "\": allowed none | msc | kcm | cascade");
  }
}

torch::Tensor MultiScaleConvImpl::forward(const torch::Tensor& x) {
  if (cascade_) {  // eq. 14
    torch::Tensor x1 = b1(x);
    torch::Tensor x2 = b2(x + x1);
    torch::Tensor x3 = b3(x + x2);
    return fuse(torch::cat({x, x1, x2, x3}, 1));
  }
  return torch::relu(fuse(torch::cat({b1(x), b2(x), b3(x)}, 1)));
}

}  // namespace ablate::trainer::nn
