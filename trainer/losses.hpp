// Losses of the papers (internal to trainer/: includes LibTorch).
//
// Total loss (what compute_loss back-propagates):
//   L_total = main_weight · L(main) + side_weight · mean_s L_side(side_s) + aux_weight · L(aux)
//             + recon_weight · BCE(recon, input scaled to [0, 1])
//             + guided_weight · Σ MSE(E_r, E_{r+1}) + recon_weight · Σ MSE(F_r, F̂_r)   (002, model.backbone = resnet)
// 002's eq. 11, α L_Seg + β L_G + γ L_Rec with L_Seg the sum of the 2S heads' cross-entropies (eq. 10): the 2S heads
// are the side outputs, so α Σ = side_weight · mean with side_weight = 2S α and main_weight = 0 (the main output,
// the mean of the attention heads, is what predicts); β = guided_weight, γ = recon_weight.
// with L the segmentation loss named by loss.name (below), and L_side the one named by loss.side_name ("same" =
// loss.name; 001 Sec. III-B: Dice on the main output, BCE on the side output = name dice, side_name bce). Terms whose head is absent or whose weight is
// 0 are not part of the graph at all (all four weights 0 is rejected by validate_loss_config), so a weight of 0 leaves that head without gradient (the term is
// still evaluated without gradient for logging). 000 eq. 8, L = λ·La + Ls, is aux_weight = λ with
// main_weight = 1; its implementation weights (λ_out = 10 on the main, λ_m = 1 on the auxiliary loss)
// are main_weight = 10, aux_weight = 1. 004's 10 : 1 is main_weight = 1, recon_weight = 0.1 (or 10 and 1).
//
// L for one logit channel (sigmoid; foreground = target == 1):
//   dice           soft Dice, 1 - (2 Σ p y + s) / (Σ p + Σ y + s), sums over the whole batch (001 eq. 11;
//                  s = loss.dice_smooth). Batch-global sums keep slices without foreground harmless. With
//                  loss.dice_denominator = squares the denominator is Σ p² + Σ y² + s (V-Net; 003 eqs. 5, 8), here
//                  and in every loss below that contains Dice.
//   bce            mean binary cross-entropy with logits (001 eq. 12)
//   hybrid         alpha · dice + (1 - alpha) · bce (001 eq. 17). alpha = 0.5 gives (dice + bce) / 2,
//                  half the equal-weight sum of eq. 13: the same minimiser of the loss alone and the same
//                  gradient direction. It does not train as eq. 13 does: train.optimizer = adam adds the
//                  weight decay to the gradient (coupled L2, torch::optim::Adam), so halving the loss
//                  doubles the decay's relative pull (and halves the data gradient against Adam's
//                  epsilon); only adamw (decoupled decay) is invariant to the factor up to epsilon, and
//                  SGD halves the effective learning rate. Use ce_dice for eq. 13 itself.
//   focal          mean focal loss, -α_t (1 - p_t)^γ log p_t, α_t = focal_alpha on foreground pixels and
//                  1 - focal_alpha on background (Lin et al.; γ = focal_gamma)
//   dice_focal_bce dice + focal + bce, equal weights (ANU-Net 003 eq. 8, read as the sum of its three parts:
//                  its printed focal/BCE term α Ȳ log Y / |Y − 0.5|^γ divides by |Y − 0.5|^γ, which is infinite at
//                  Y = 0.5 — where every output starts — and would weight hard pixels up without bound; the text
//                  describes focal loss and BCE, so both are taken as defined above). 003's full eq. 8 over
//                  the heads of X^{0,1..4}: name = dice_focal_bce, dice_denominator = squares, main_weight = 1,
//                  side_weight = depth − 2 (the side term is a mean, eq. 8 a plain sum).
//   ce_dice        bce + dice (the equal-weight eq. 13 form, = 2 · hybrid at alpha = 0.5)
// For several channels (softmax with background) BCE becomes the mean softmax cross-entropy, Dice the
// multi-class soft Dice (mean over the foreground classes c >= 1 of the per-class batch-global soft
// Dice against the one-hot target), focal the softmax focal loss with the same α_t rule.
//
// Contract: functions of the tensors passed in, no state; called from the task's thread (trainer/trainer.hpp).
// A loss.* setting that is not allowed throws std::invalid_argument naming the key.
#pragma once

#include <torch/torch.h>

#include "ablations/config.hpp"
#include "trainer/nn/network.hpp"

namespace ablate::trainer {

struct LossTerms {
  torch::Tensor total;   // the weighted sum that is back-propagated
  double value = 0;      // total's value, read back with the terms below in one copy (no extra device sync)
  double main = 0;       // unweighted terms, for logging
  double side = 0;
  double aux = 0;
  double recon = 0;      // 004's restoration BCE, or 002's feature reconstruction (eqs. 7, 9)
  double guided = 0;     // 002's guided loss (eqs. 6, 8)
};

// target: N x H x W int64 class indices (0 = background); input: the network input (for reconstruction).
LossTerms compute_loss(const NetOutput& out, const torch::Tensor& target, const torch::Tensor& input,
                       const LossConfig& config);

// The segmentation loss L of loss.name for one output (logits N x C x H x W); throws std::invalid_argument
// naming loss.name and the allowed values.
torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& target, const LossConfig& config);
// Its parts, for tests and for other losses.
// squares: Σp² + Σy² in the denominator (loss.dice_denominator = squares; 003 eqs. 5, 8) instead of Σp + Σy.
torch::Tensor dice_loss(const torch::Tensor& logits, const torch::Tensor& target, double smooth, bool squares = false);
torch::Tensor bce_loss(const torch::Tensor& logits, const torch::Tensor& target);  // BCE (1 channel) or CE
// The soft Dice terms of a batch per foreground class c on probabilities(logits): row 0 Σ p_c·y_c, row 1
// Σ p_c + Σ y_c; 2 x (C - 1) (2 x 1 for one channel), float64 on the CPU (one transfer). Summed over the
// batches of a set they give its soft Dice, 2 row0 / row1 per class (EpochRecord::val_soft_dice).
torch::Tensor soft_dice_terms(const torch::Tensor& logits, const torch::Tensor& target);
torch::Tensor focal_loss(const torch::Tensor& logits, const torch::Tensor& target, double gamma, double alpha);
// The reconstruction target: every image of the batch min-max scaled to [0, 1] (a constant image -> 0).
torch::Tensor scale_to_unit(const torch::Tensor& input);
// Checks loss.*; throws std::invalid_argument naming the key.
void validate_loss_config(const LossConfig& config);

// Class probabilities from logits: sigmoid for 1 channel, softmax otherwise.
torch::Tensor probabilities(const torch::Tensor& logits);
// Hard prediction N x H x W int64 class indices (threshold 0.5 for 1 channel, argmax otherwise).
torch::Tensor predict_labels(const torch::Tensor& logits);

}  // namespace ablate::trainer
