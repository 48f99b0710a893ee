// The multi-scale guided self-attention network of 002 (Sinha & Dolz, "Multi-scale self-guided attention for
// medical image segmentation"; internal to trainer/: includes LibTorch). SegmentationNet builds it for
// model.backbone = "resnet"; every paper row of 002's Table I is a configuration of it (docs/MODELS.md, "002").
//
//   encoder    ResNet (Sec. IV-A2: ResNet-101): stem conv7x7/2 + BN + ReLU + max-pool 3x3/2, then S stages of
//              bottleneck blocks (conv1x1 -> conv3x3 (stride 2 in the first block of stages 2..S) -> conv1x1 to 4x
//              the stage's planes, each + BN, identity or conv1x1 + BN shortcut, ReLU). Planes = model.widths
//              (S = their count, the stem has widths[0] channels), blocks per stage = model.resnet_blocks.
//   scales     (Sec. III-B, Fig. 1) F_s = stage s's output; F'_s = bilinear-upsample(conv1x1(F_s) + BN + PReLU)
//              to stage 1's resolution (H/4), G = model.guided_width channels;
//              F_MS = MultiConv([F'_1, ..., F'_S]) (conv3x3 + BN + PReLU, conv3x3 + BN + PReLU, conv1x1 + BN + PReLU,
//              S·G -> G): the common multi-scale map.
//   attention  (Sec. III-C, Figs. 2-3) at every scale s, R = model.refinements steps. Step r reads
//              F_r = concat(F'_s, F_MS) for r = 1 and concat(F'_s, A_{r-1} ⊙ F_MS) after (the stacked refinement).
//              A branch = conv3x3(2G -> G) + BN + PReLU -> PAM or CAM (eqs. 2-5; model.attention) -> conv3x3 + BN +
//              PReLU ("fed into a convolutional layer before ... an element-wise sum"); pam_cam sums both
//              branches; attention = none keeps the convolutions without self-attention (our baseline).
//              A_r = conv1x1(Σ branches) or, with model.semantic_guidance, conv1x1(Σ branches ⊙ conv3x3(F̂_r)),
//              where (E_r, F̂_r) = the step's encoder-decoder on F_r (Fig. 3, eqs. 6-7).
//   guidance   the encoder-decoder of step r: two [conv3x3 + BN + ReLU x2, max-pool 2] (2G -> 4G -> 8G) give the code
//              E_r; two [conv3x3 + BN + ReLU x2, ConvT 2x2] (8G -> 4G, 4G -> 2G) reconstruct F̂_r. One per step,
//              shared by the S scales (002's published code); conv3x3(F̂_r) (2G -> G) is per scale and step.
//   heads      conv1x1 (G -> classes) on every F'_s and on every final A_R (eq. 10's two sums), bilinear to the
//              input size. The prediction (main) is the mean of the S attention heads' logits (the code's test
//              output). NetOutput: main, sides = [F'-heads s = 1..S, A-heads s = 1..S], guided = (E_r, E_{r+1})
//              per scale and consecutive steps (eq. 6), feature_recon = (F_r, F̂_r) per scale and step (eq. 7).
//
// Parameter ownership (by registered name, network.cpp's component_of): "backbone" = ResNet, the heads, the step-1 conv1x1 merges and
// (attention = none) the plain branches; "multiscale" = the F'_s projections and the F_MS MultiConv; "pam" /
// "cam" = the step-1 branches with their convolutions; "refinement" = every module of steps 2..R except the
// encoder-decoders; "guidance" = the encoder-decoders and the conv3x3(F̂) of every step.
//
// Contract: as trainer/nn/network.hpp (one task's thread; std::invalid_argument for a refused option).
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "ablations/config.hpp"
#include "trainer/nn/attention.hpp"

namespace ablate::trainer::nn {

// ResNet bottleneck (He et al.): expansion 4, bias-free convolutions, BN, stride on the 3x3.
class BottleneckImpl : public torch::nn::Module {
 public:
  BottleneckImpl(int64_t in, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, shortcut{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr}, shortcut_bn{nullptr};
};
TORCH_MODULE(Bottleneck);

// The ResNet encoder: the outputs of its S stages (resolutions H/4, H/8, ..., H/2^(S+1); 4 x planes channels).
class ResNetEncoderImpl : public torch::nn::Module {
 public:
  ResNetEncoderImpl(int64_t in_channels, const std::vector<int>& planes, const std::vector<int>& blocks);
  std::vector<torch::Tensor> forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential stem{nullptr};
  std::vector<torch::nn::Sequential> stages;
};
TORCH_MODULE(ResNetEncoder);

// The semantic encoder-decoder of one refinement step (Fig. 3): returns (code E, reconstruction F̂).
class SemanticEncoderDecoderImpl : public torch::nn::Module {
 public:
  SemanticEncoderDecoderImpl(int64_t channels, bool bias);
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& f);

 private:
  torch::nn::Sequential enc1{nullptr}, enc2{nullptr}, dec2{nullptr}, dec1{nullptr};
};
TORCH_MODULE(SemanticEncoderDecoder);

// conv3x3(in -> G) + BN + PReLU -> self-attention (PAM, CAM or none) -> conv3x3(G -> G) + BN + PReLU.
class AttentionBranchImpl : public torch::nn::Module {
 public:
  AttentionBranchImpl(int64_t in, int64_t width, const std::string& kind, const std::string& cam_energy, bool bias);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Sequential pre{nullptr}, post{nullptr};
  PositionAttentionModule pam{nullptr};  // registered as "self_attention" (one of the two, or none)
  ChannelAttentionModule cam{nullptr};
};
TORCH_MODULE(AttentionBranch);

struct GuidedOutput {
  torch::Tensor main;                                              // mean of the attention heads (logits)
  std::vector<torch::Tensor> sides;                                // F'-heads, then A-heads, at the input size
  std::vector<std::pair<torch::Tensor, torch::Tensor>> guided;     // (E_r, E_{r+1}) per scale, eq. 6
  std::vector<std::pair<torch::Tensor, torch::Tensor>> recon;      // (F_r, F̂_r) per scale and step, eq. 7
};

class GuidedNetImpl : public torch::nn::Module {
 public:
  GuidedNetImpl(const ModelConfig& config, int64_t out_channels);
  GuidedOutput forward(const torch::Tensor& x);
  // Input sizes must be multiples of this (the ResNet's stride 2^(S+1), at least 16 with the guidance's two
  // poolings on the H/4 maps).
  static int64_t size_multiple(const ModelConfig& config);

  // The stages, public for tests: the multi-scale maps F'_s and F_MS of an input.
  std::pair<std::vector<torch::Tensor>, torch::Tensor> scales(const torch::Tensor& x);

  ResNetEncoder encoder{nullptr};
  std::vector<torch::nn::Sequential> project;                     // F_s -> F'_s (before the up-sampling)
  torch::nn::Sequential fuse{nullptr};                            // F_MS
  std::vector<std::vector<std::vector<AttentionBranch>>> branches;  // [step][scale][branch]
  std::vector<std::vector<torch::nn::Conv2d>> merge;               // [step][scale] conv1x1
  std::vector<SemanticEncoderDecoder> guidance;                   // [step], shared by the scales
  std::vector<std::vector<torch::nn::Conv2d>> guidance_conv;       // [step][scale] conv3x3(F̂) 2G -> G
  std::vector<torch::nn::Conv2d> head_f, head_a;                  // [scale]

 private:
  ModelConfig config_;
};
TORCH_MODULE(GuidedNet);

}  // namespace ablate::trainer::nn
