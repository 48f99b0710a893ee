// Convolutional building blocks of the U-Net family: the backbone stage (two conv3x3 + BN + ReLU), the
// enhanced convolution (EC) of 001, the decoder's up-sampling, the DWS side-output head of 001 and the
// restoration decoder of 004 (internal to trainer/: includes LibTorch).
//
// Parameter ownership: parameters are attributed to components by the name of the submodule that holds
// them (see network.cpp, component_of). Submodules named "ec_*" belong to EC; everything else in these
// blocks belongs to whatever component registers the block.
//
// Contract: as trainer/nn/network.hpp (one task's thread; std::invalid_argument for a refused option).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace ablate::trainer::nn {

// One conv3x3 (padding 1) -> BN -> ReLU of the U-Net stage (READINGS, Common). With `enhanced`, the
// enhanced convolution of 001 Fig. 2(a): parallel 3x3 (pad 1), 1x3 (pad 0,1) and 3x1 (pad 1,0)
// convolutions, each with its own BN (001 Sec. III: "all the convolution operations were followed by
// batch normalization"), combined by `ec_merge` (model.ec_merge):
//   "sum"      (default) BN per branch, summed, then one ReLU — ACNet (DingXiaoH/ACNet, acnet/acb.py), the
//              reference 001 cites for the asymmetric kernels; re-parameterisable into one 3x3 after training.
//   "relu_sum" each branch a full basic layer conv -> BN -> ReLU (001 Sec. III: each layer "convolution
//              layer, batch normalization layer, and ReLU layer"; the "each followed by BN and
//              ReLU"), the three activations summed.
// Reading: 001 says the square kernel is "replaced by the 1x3, 3x1, and 3x3 kernel ... arranged in
// parallel" and that EC is "added to the single convolution kernel"; it names no combination. Both sums
// keep the width and add no parameter. Concatenation + conv1x1 is not offered: Fig. 2(a) shows no 1x1
// convolution and "replaced"/"added to the kernel" describe one output of the original width.
// The 3x3 branch and its BN are the backbone's own convolution; EC owns only the 1x3 and 3x1 branches, so
// "the parameters EC adds" is exactly 2 x (3 C_in C_out [+ C_out bias]) + 2 x 2 C_out per convolution.
struct ConvUnitOptions {
  ConvUnitOptions(int64_t in, int64_t out) : in_(in), out_(out) {}
  TORCH_ARG(int64_t, in);
  TORCH_ARG(int64_t, out);
  TORCH_ARG(bool, enhanced) = false;
  TORCH_ARG(bool, bias) = false;  // with BN the bias is redundant (READINGS, Common)
  TORCH_ARG(std::string, ec_merge) = "sum";  // sum | relu_sum (with enhanced)
};

class ConvUnitImpl : public torch::nn::Module {
 public:
  explicit ConvUnitImpl(const ConvUnitOptions& o);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::Conv2d ec_conv_1x3{nullptr}, ec_conv_3x1{nullptr};
  torch::nn::BatchNorm2d ec_bn_1x3{nullptr}, ec_bn_3x1{nullptr};
  bool relu_sum_ = false;
};
TORCH_MODULE(ConvUnit);

// The U-Net stage: two ConvUnits (in -> out -> out).
class DoubleConvImpl : public torch::nn::Module {
 public:
  DoubleConvImpl(int64_t in, int64_t out, bool enhanced, bool bias, const std::string& ec_merge = "sum");
  torch::Tensor forward(const torch::Tensor& x);

 private:
  ConvUnit unit1{nullptr}, unit2{nullptr};
};
TORCH_MODULE(DoubleConv);

// x2 up-sampling of the decoder: ConvTranspose2d(k2, s2) (READINGS, Common) or, with up = "bilinear",
// bilinear interpolation (align_corners) followed by a conv1x1 that changes the width (the
// transposed convolution's role). Both carry a bias: no BN follows them.
class UpSampleImpl : public torch::nn::Module {
 public:
  UpSampleImpl(int64_t in, int64_t out, const std::string& mode);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  bool bilinear_ = false;
  torch::nn::ConvTranspose2d up{nullptr};
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(UpSample);

// DWS side output of 001 Fig. 2(d). Reading (READINGS): the figure chains DeConv2x -> DeConv2x ->
// DeConv4x = 16x, i.e. from the bridge (1/16 at depth 5) to the input size, so the side output taps the
// fused bridge: ConvT(C -> C/4, 2, 2) + BN + ReLU, ConvT(-> C/16, 2, 2) + BN + ReLU, ConvT(-> classes,
// 4, 4). For other depths the chain has (depth - 3) 2x stages (each dividing the width by 4, at least
// 1) and a last stage of factor 4; depth <= 3 uses a single ConvT of factor 2^(depth-1).
// The alternative reading (one side output per decoder stage, each a single ConvT of factor 2^level to
// full resolution) is SideOutputTaps::kDecoder.
enum class SideOutputTaps { kBridge, kDecoder };

class SideOutputImpl : public torch::nn::Module {
 public:
  // factor: the up-sampling factor to full resolution (a power of two >= 2).
  SideOutputImpl(int64_t in, int64_t out_channels, int64_t factor, bool chained);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential seq{nullptr};
};
TORCH_MODULE(SideOutput);

// Restoration decoder of 004 (Sec. II-B, Fig. 3; READINGS): from the bottom feature maps back to the
// input size, one level per down-sampling: ConvT 2x2 (C_{l+1} -> C_l) + two (conv3x3 + BN + ReLU), no
// skip connections; then conv1x1(C_0 -> input channels) + sigmoid, so the output is in [0, 1].
class RestorationDecoderImpl : public torch::nn::Module {
 public:
  RestorationDecoderImpl(const std::vector<int64_t>& widths, int64_t in_channels, bool bias);
  torch::Tensor forward(torch::Tensor bottom);

 private:
  torch::nn::ModuleList ups{nullptr}, convs{nullptr};
  torch::nn::Conv2d head{nullptr};
};
TORCH_MODULE(RestorationDecoder);

}  // namespace ablate::trainer::nn
