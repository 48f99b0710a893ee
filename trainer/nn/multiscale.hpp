// Multi-scale components (internal to trainer/: includes LibTorch).
//   001 (EC-CaM-UNet): MuS, the atrous spatial pyramid at the bridge (Fig. 2(c)).
//   004 (DSMS U-Net) : the multi-scale convolution module on every skip (MSC) and its control KCM.
//   000 (MDA-U-Net*) : the cascade multi-scale convolution (eq. 14).
//
// Contract: as trainer/nn/network.hpp (one task's thread; std::invalid_argument for a refused option).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace ablate::trainer::nn {

// MuS of 001 Fig. 2(c) (READINGS; DeepLab v3 ASPP as in torchvision): one branch per dilation rate
// [conv3x3 dilation r (padding r), no bias, + BN + ReLU], an image-pooling branch [GAP -> conv1x1 + BN +
// ReLU -> bilinear up (a broadcast of the 1x1 map)], optionally DeepLab's extra [conv1x1 + BN + ReLU]
// branch (model.mus_1x1_branch); concatenated, then conv1x1 + BN + ReLU back to the input width C (the
// paper: "the number of channels is restored by 1x1 convolution"). Branch width: model.mus_branch_width,
// 0 = C (the paper's reading) or a fixed width such as torchvision's 256. torchvision's dropout(0.5)
// after the projection is left out (the paper does not mention it).
// The image-pooling branch sees one value per channel and image; when a batch of one image is trained,
// its BN uses its running statistics (batch statistics of a single value are undefined).
// Degeneration: a 3x3 convolution of dilation r (padding r) on an H x W map with H, W <= r reads zero
// padding through every off-centre tap, so it is exactly a 1x1 convolution with the centre tap. At 256^2
// input and depth 5 the bridge is 16 x 16, so rate 18 reduces to 1x1 (6 and 12 stay real); at 512^2 (32 x
// 32) all three are real; at 64^2 (4 x 4) all of 6, 12, 18 are 1x1 — choose rates below the bridge size
// there (docs/MODELS.md, examples/table2_demo.toml).
struct AtrousPyramidOptions {
  AtrousPyramidOptions(int64_t channels, std::vector<int64_t> rates) : channels_(channels), rates_(std::move(rates)) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(std::vector<int64_t>, rates);
  TORCH_ARG(int64_t, branch_width) = 0;
  TORCH_ARG(bool, branch_1x1) = false;
  TORCH_ARG(bool, bias) = false;
};

class AtrousPyramidImpl : public torch::nn::Module {
 public:
  explicit AtrousPyramidImpl(const AtrousPyramidOptions& o);
  torch::Tensor forward(const torch::Tensor& x);  // project(concat(branch_outputs(x)))
  // The branches before the concatenation: [1x1 branch], one per rate in order, image pooling (last).
  std::vector<torch::Tensor> branch_outputs(const torch::Tensor& x);

 private:
  torch::nn::ModuleList branches{nullptr};
  torch::nn::Conv2d pool_conv{nullptr};
  torch::nn::BatchNorm2d pool_bn{nullptr};
  torch::nn::Sequential project{nullptr};
};
TORCH_MODULE(AtrousPyramid);

// Multi-scale convolution on a skip, C -> C.
//   kind "msc"    (004, READINGS): parallel conv1x1, conv3x3 (pad 1), conv5x5 (pad 2), C -> C each,
//                 concatenated, conv1x1(3C -> C) + ReLU.
//   kind "kcm"    (004): the same with three parallel 3x3 branches (the paper's "is it multi-scale or just
//                 wider" control; same width, different kernels).
//   kind "cascade" (000 eq. 14): X1 = conv5x5(X), X2 = conv3x3(X + X1), X3 = conv1x1(X + X2),
//                 Y = conv1x1(concat(X, X1, X2, X3)). Reading: eq. 14 as written, without normalisation
//                 or activation (the paper names none), so the module is linear; the double conv after
//                 the concatenation supplies the non-linearity.
// All convolutions carry a bias (no BN follows them).
class MultiScaleConvImpl : public torch::nn::Module {
 public:
  MultiScaleConvImpl(int64_t channels, const std::string& kind);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  bool cascade_ = false;
  torch::nn::Conv2d b1{nullptr}, b2{nullptr}, b3{nullptr}, fuse{nullptr};
};
TORCH_MODULE(MultiScaleConv);

}  // namespace ablate::trainer::nn
