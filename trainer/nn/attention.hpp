// Attention components of the U-Net family (internal to trainer/: includes LibTorch).
//   001 (EC-CaM-UNet): channel-correlation (CC, eqs. 2-3, 5-7), spatial-correlation (SC, eqs. 1, 8-9),
//                      their collaboration CoA (eq. 4); the baselines of Table V: SE and CBAM.
//   Attention U-Net  : the attention gate on the skips (Table I baseline).
//   000 (MDA-U-Net*) : dense spatial position attention (DSPA, eqs. 9-11) and channel attention (CA,
//                      eqs. 12-13).
//   002 (multi-scale self-guided attention): the position and channel attention modules (PAM, CAM,
//                      eqs. 2-5), after DANet (Fu et al.).
// The self-attention maps (SC, DSPA, CA) are batched matrix products (torch::bmm); no per-sample loops.
//
// Contract: as trainer/nn/network.hpp (one task's thread; std::invalid_argument for a refused option).
#pragma once

#include <torch/torch.h>

#include <string>

namespace ablate::trainer::nn {

// CC of 001 Fig. 3(b), ECA-like (READINGS; BangguWu/ECANet): θ = GAP(F) (eq. 5) as a 1-channel
// sequence of length C; Conv1d(k3, s1, p1) + BN + ReLU -> Conv1d(k7, s2, p3) + BN + ReLU (length
// ceil(C/2)) -> ConvTranspose1d(k2, s2) (back to length C; cropped for odd C) -> sigmoid = Θ (eq. 6).
// forward returns F_C = Θ_k · F_k (eqs. 3, 7), without residual; the network adds the residual.
// Parameters: 3 + 2 + 7 + 2 + 3 (+2 with conv bias), independent of C.
class ChannelCorrelationAttentionImpl : public torch::nn::Module {
 public:
  explicit ChannelCorrelationAttentionImpl(bool bias);
  torch::Tensor forward(const torch::Tensor& f);
  torch::Tensor weights(const torch::Tensor& f);  // Θ, N x C x 1 x 1

 private:
  torch::nn::Conv1d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm1d bn1{nullptr}, bn2{nullptr};
  torch::nn::ConvTranspose1d deconv{nullptr};
};
TORCH_MODULE(ChannelCorrelationAttention);

// SC of 001 Fig. 3(a), parameter-free: E = reshape(F) ∈ C x HW (eq. 8), S = row-softmax(EᵀE) ∈
// HW x HW (eq. 9). Reading (READINGS): the paper says "softmax over the columns" but normalises over j
// in eq. 9; we normalise every row i over j, as eq. 9 and DANet's position attention do.
// spatial_map(F) returns S (N x HW x HW); apply(S, G) returns reshape(G · Sᵀ), i.e. every position i
// becomes Σ_j S_ij G_j. The network places SC at the bridge only, so S is (H/2^(d-1) W/2^(d-1))² floats
// per image: 1024 x 1024 (4 MiB) at 512 x 512 input with depth 5.
torch::Tensor spatial_correlation_map(const torch::Tensor& f);
torch::Tensor apply_spatial_map(const torch::Tensor& s, const torch::Tensor& g);
// CoA, 001 eq. 4: F_A = S ⊙ F_C + F with S = spatial_correlation_map(F) and F_C the CC output, i.e.
// reshape(F_C · Sᵀ) + F (READINGS: S is computed from F, applied to F_C; the residual is F).
torch::Tensor collaborative_attention(const torch::Tensor& f, const torch::Tensor& fc);

// Squeeze-and-excitation (moskomule/senet.pytorch; READINGS): GAP -> Linear(C, C/r, no bias) -> ReLU ->
// Linear(C/r, C, no bias) -> sigmoid -> channel re-weighting. C/r is at least 1.
class SqueezeExcitationImpl : public torch::nn::Module {
 public:
  SqueezeExcitationImpl(int64_t channels, int64_t reduction);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(SqueezeExcitation);

// CBAM (Jongchan/attention-module; READINGS): channel gate = shared MLP (Linear C -> C/r -> C, with bias)
// over the average- and max-pooled vectors, summed, sigmoid; then spatial gate = conv7x7(2 -> 1, no
// bias) + BN over [max, mean] across channels, sigmoid.
class CbamImpl : public torch::nn::Module {
 public:
  CbamImpl(int64_t channels, int64_t reduction);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::Conv2d spatial{nullptr};
  torch::nn::BatchNorm2d spatial_bn{nullptr};
};
TORCH_MODULE(Cbam);

// Attention gate of Attention U-Net (LeeJunHyun/Image_Segmentation network.py; READINGS): W_g = conv1x1
// + BN on the gating signal g, W_x = conv1x1 + BN on the skip x, ψ = ReLU(W_g g + W_x x) -> conv1x1(F_int
// -> 1) + BN -> sigmoid; output x · ψ. F_int = half the skip width, or `inter` when given (> 0): ANU-Net's
// shared layout uses max(C_i/2, C_0), the width that reproduces 003 Table 6's counts (network.cpp, "nested").
// Gating signal (a reading): the network passes the decoder's up-sampled map as it leaves the up-sampling
// (the raw ConvTranspose2d output, or bilinear + conv1x1), with no further layer. The reference's up_conv
// is Upsample + conv3x3 + BN + ReLU, so its g is already normalised and non-negative; ours is not, and W_g's
// own BN is what normalises it. Both readings gate with the coarser level's features at the skip's
// resolution; we keep the backbone's up-sampling unchanged so that the gates own only W_g, W_x and ψ.
class AttentionGateImpl : public torch::nn::Module {
 public:
  AttentionGateImpl(int64_t gate_channels, int64_t skip_channels, bool bias, int64_t inter = 0);
  torch::Tensor forward(const torch::Tensor& g, const torch::Tensor& x);

 private:
  torch::nn::Conv2d w_g{nullptr}, w_x{nullptr}, psi{nullptr};
  torch::nn::BatchNorm2d bn_g{nullptr}, bn_x{nullptr}, bn_psi{nullptr};
};
TORCH_MODULE(AttentionGate);

// DSPA of 000 (eqs. 9-11). Reading (READINGS): M (C x N, N = HW) goes through a dilated convolution
// (conv3x3, dilation 2, padding 2, C -> K, without bias) whose K maps are softmax-normalised over the N
// positions; D = M · softmax_N(conv(M))ᵀ ∈ C x K is the dense feature matrix (K "dense features", each a
// C-vector pooled from M). A = softmax_K(Mᵀ D) ∈ N x K (eq. 10: a_ji, the weight of dense feature i for
// position j; the sum in eq. 10/11 runs over the K dense features, not over N — the paper's "N" there is
// a misprint since D has K columns). O = D Aᵀ + M (eq. 11). K is model.dspa_k (paper: 10).
// No bias: a bias adds one constant to each of the K maps, and a softmax over the N positions of a map
// is invariant to a constant, so the bias could never change the output and its gradient is 0. DSPA
// owns C·K·9 parameters (C = the width of the skip it sits on: 2 C_l with the aux path).
class DenseSpatialPositionAttentionImpl : public torch::nn::Module {
 public:
  DenseSpatialPositionAttentionImpl(int64_t channels, int64_t k);
  torch::Tensor forward(const torch::Tensor& m);
  // The dense features D (N x C x K) and the attention A (N x HW x K) for an input M.
  std::pair<torch::Tensor, torch::Tensor> dense_features_and_attention(const torch::Tensor& m);

 private:
  torch::nn::Conv2d dilated{nullptr};
};
TORCH_MODULE(DenseSpatialPositionAttention);

// CA of 000 (eqs. 12-13), parameter-free: A' = softmax(M' M'ᵀ) ∈ C x C (row-normalised), O' = A' M' + M'.
torch::Tensor channel_self_attention(const torch::Tensor& m);

// PAM of 002 (Sec. III-C a, eqs. 2-3; DANet's PAM_Module). With N = HW positions:
//   Q = conv1x1_q(F) ∈ C' x N, K = conv1x1_k(F) ∈ C' x N (C' = C / reduction, paper C/8, at least 1),
//   V = conv1x1_v(F) ∈ C x N,  S = softmax_j(Qᵀ K) ∈ N x N (row i: how much target position i draws from
//   source j; 002 writes the same map transposed, s_ij normalised over the source i), and
//   F_PAM = γ · reshape(V Sᵀ) + F (eq. 3), γ a learnable scalar initialised to 0 ("gradually learned").
// Bias: Q and V carry one (as DANet's convolutions); K has none, because q_i · b_k is constant over the
// source positions j and a softmax over j is invariant to it: a key bias could never change the output
// (its gradient is 0). With γ = 0 at the start, F_PAM = F and Q, K, V receive no gradient until γ moves.
// Differences from SC (001): SC is S = softmax(EᵀE) on the raw features with a residual weight of 1 and no
// parameter; PAM learns its query/key/value projections and the weight γ of the attention branch.
// Memory: S has N² entries, so the network places PAM at the bridge only, like SC.
struct PositionAttentionOptions {
  explicit PositionAttentionOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, reduction) = 8;  // C' = C / 8 (002: "C' is equal to C/8")
};

class PositionAttentionModuleImpl : public torch::nn::Module {
 public:
  explicit PositionAttentionModuleImpl(const PositionAttentionOptions& o);
  torch::Tensor forward(const torch::Tensor& f);
  torch::Tensor attention_map(const torch::Tensor& f);  // S, N x HW x HW, rows sum to 1

  torch::nn::Conv2d query{nullptr}, key{nullptr}, value{nullptr};
  torch::Tensor gamma;
};
TORCH_MODULE(PositionAttentionModule);

// CAM of 002 (Sec. III-C b, eqs. 4-5; DANet's CAM_Module). With X = reshape(F) ∈ C x N:
//   similarity (eq. 4): S = softmax_j(X Xᵀ) ∈ C x C;
//   max_minus  (DANet's code, also 002's published code): S = softmax_j(max_k E_ik − E_ij) with E = X Xᵀ, which
//              is softmax_j(−E_ij): every channel draws most from the channels least similar to it;
//   F_CAM = γ · reshape(S X) + F (eq. 5), γ learnable, initialised to 0. No other parameter.
// Differences from CA (000 eqs. 12-13): CA is the similarity form with γ fixed at 1 (no parameter); CAM
// starts as the identity and learns how much of the channel mixture to add.
class ChannelAttentionModuleImpl : public torch::nn::Module {
 public:
  explicit ChannelAttentionModuleImpl(const std::string& energy = "similarity");
  torch::Tensor forward(const torch::Tensor& f);
  torch::Tensor attention_map(const torch::Tensor& f);  // S, N x C x C, rows sum to 1

  torch::Tensor gamma;

 private:
  bool max_minus_ = false;
};
TORCH_MODULE(ChannelAttentionModule);

}  // namespace ablate::trainer::nn
