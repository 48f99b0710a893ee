#include "trainer/nn/blocks.hpp"

#include <stdexcept>

namespace ablate::trainer::nn {

namespace F = torch::nn::functional;

ConvUnitImpl::ConvUnitImpl(const ConvUnitOptions& o) {
  if (o.ec_merge() != "sum" && o.ec_merge() != "relu_sum")
    throw std::invalid_argument("model.ec_merge = \"" + o.ec_merge() + "\": allowed sum | relu_sum");
  relu_sum_ = o.ec_merge() == "relu_sum";
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in(), o.out(), 3).padding(1).bias(o.bias())));
  bn = register_module("bn", torch::nn::BatchNorm2d(o.out()));
  if (o.enhanced()) {
    ec_conv_1x3 = register_module(
        "ec_conv_1x3",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in(), o.out(), {1, 3}).padding({0, 1}).bias(o.bias())));
    ec_bn_1x3 = register_module("ec_bn_1x3", torch::nn::BatchNorm2d(o.out()));
    ec_conv_3x1 = register_module(
        "ec_conv_3x1",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in(), o.out(), {3, 1}).padding({1, 0}).bias(o.bias())));
    ec_bn_3x1 = register_module("ec_bn_3x1", torch::nn::BatchNorm2d(o.out()));
  }
}

torch::Tensor ConvUnitImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = bn(conv(x));
  if (!ec_conv_1x3) return torch::relu(y);
  torch::Tensor y13 = ec_bn_1x3(ec_conv_1x3(x)), y31 = ec_bn_3x1(ec_conv_3x1(x));
  if (relu_sum_) return torch::relu(y) + torch::relu(y13) + torch::relu(y31);
  return torch::relu(y + y13 + y31);
}

DoubleConvImpl::DoubleConvImpl(int64_t in, int64_t out, bool enhanced, bool bias, const std::string& ec_merge) {
  unit1 = register_module("unit1", ConvUnit(ConvUnitOptions(in, out).enhanced(enhanced).bias(bias).ec_merge(ec_merge)));
  unit2 = register_module("unit2", ConvUnit(ConvUnitOptions(out, out).enhanced(enhanced).bias(bias).ec_merge(ec_merge)));
}

torch::Tensor DoubleConvImpl::forward(const torch::Tensor& x) { return unit2(unit1(x)); }

UpSampleImpl::UpSampleImpl(int64_t in, int64_t out, const std::string& mode) {
  if (mode == "bilinear") {
    bilinear_ = true;
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1)));
  } else {
    up = register_module("up", torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(in, out, 2).stride(2)));
  }
}

torch::Tensor UpSampleImpl::forward(const torch::Tensor& x) {
  if (!bilinear_) return up(x);
  auto y = F::interpolate(x, F::InterpolateFuncOptions()
                                 .scale_factor(std::vector<double>{2.0, 2.0})
                                 .mode(torch::kBilinear)
                                 .align_corners(true));
  return conv(y);
}

SideOutputImpl::SideOutputImpl(int64_t in, int64_t out_channels, int64_t factor, bool chained) {
  seq = register_module("seq", torch::nn::Sequential());
  auto convt = [](int64_t a, int64_t b, int64_t f) {
    return torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(a, b, f).stride(f));
  };
  if (!chained || factor <= 4) {
    seq->push_back(convt(in, out_channels, factor));
    return;
  }
  // 2x stages (width / 4 each) until a factor of 4 is left, then the 4x head (001 Fig. 2(d)).
  int64_t c = in;
  while (factor > 4) {
    const int64_t next = std::max<int64_t>(1, c / 4);
    seq->push_back(convt(c, next, 2));
    seq->push_back(torch::nn::BatchNorm2d(next));
    seq->push_back(torch::nn::ReLU());
    c = next;
    factor /= 2;
  }
  seq->push_back(convt(c, out_channels, factor));
}

torch::Tensor SideOutputImpl::forward(const torch::Tensor& x) { return seq->forward(x); }

RestorationDecoderImpl::RestorationDecoderImpl(const std::vector<int64_t>& widths, int64_t in_channels, bool bias) {
  ups = register_module("ups", torch::nn::ModuleList());
  convs = register_module("convs", torch::nn::ModuleList());
  for (int l = static_cast<int>(widths.size()) - 2; l >= 0; --l) {
    ups->push_back(torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(widths[l + 1], widths[l], 2).stride(2)));
    convs->push_back(DoubleConv(widths[l], widths[l], false, bias));
  }
  head = register_module("head", torch::nn::Conv2d(torch::nn::Conv2dOptions(widths[0], in_channels, 1)));
}

torch::Tensor RestorationDecoderImpl::forward(torch::Tensor x) {
  for (size_t i = 0; i < ups->size(); ++i) {
    x = ups[i]->as<torch::nn::ConvTranspose2dImpl>()->forward(x);
    x = convs[i]->as<DoubleConvImpl>()->forward(x);
  }
  return torch::sigmoid(head(x));
}

}  // namespace ablate::trainer::nn
