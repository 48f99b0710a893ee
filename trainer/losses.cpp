// Losses of 001 (eqs. 11-13, 17), 000 (eq. 8), 004 (segmentation + reconstruction) and 003 (eqs. 5, 8); the
// definitions and the weighting are documented in losses.hpp.
#include "trainer/losses.hpp"

#include <functional>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace ablate::trainer {

namespace {

// Foreground of a one-channel output (target == 1), in the logits' dtype.
torch::Tensor foreground(const torch::Tensor& target, const torch::Tensor& logits) {
  return target.eq(1).unsqueeze(1).to(logits.scalar_type());
}

void check_target(const torch::Tensor& logits, const torch::Tensor& target) {
  if (logits.dim() != 4 || target.dim() != 3 || logits.size(0) != target.size(0) || logits.size(2) != target.size(1) ||
      logits.size(3) != target.size(2)) {
    std::ostringstream o;
    o << "loss: logits of shape " << logits.sizes() << " and target of shape " << target.sizes()
      << " do not match (expected N x C x H x W logits and N x H x W class indices)";
    throw std::invalid_argument(o.str());
  }
  // The class range is checked where it costs no device synchronisation: on the CPU. Targets on a GPU come
  // from the data path, whose labels are mapped into 0..data classes at load (data/preprocess.cpp, label_lut)
  // for a network of data classes + 1 channels; a read-back per head per step would stall the GPU.
  if (logits.size(1) > 1 && target.numel() > 0 && target.device().is_cpu()) {
    const auto max = target.max().item<std::int64_t>();
    const auto min = target.min().item<std::int64_t>();
    if (min < 0 || max >= logits.size(1)) {
      throw std::invalid_argument("loss: target class " + std::to_string(min < 0 ? min : max) + " outside 0.." +
                                  std::to_string(logits.size(1) - 1) + " (the network has " +
                                  std::to_string(logits.size(1)) + " output channels)");
    }
  }
}

torch::Tensor one_hot_nchw(const torch::Tensor& target, const torch::Tensor& logits) {
  return torch::one_hot(target, logits.size(1)).permute({0, 3, 1, 2}).to(logits.scalar_type());
}

}  // namespace

void validate_loss_config(const LossConfig& c) {
  auto bad = [](const std::string& key, double v, const std::string& allowed) {
    throw std::invalid_argument("loss." + key + " = " + std::to_string(v) + ": allowed " + allowed);
  };
  auto known = [](const std::string& n) {
    return n == "dice" || n == "bce" || n == "hybrid" || n == "focal" || n == "dice_focal_bce" || n == "ce_dice";
  };
  if (!known(c.name)) {
    throw std::invalid_argument("loss.name = \"" + c.name + "\": allowed dice | bce | hybrid | focal | dice_focal_bce | ce_dice");
  }
  if (c.side_name != "same" && !known(c.side_name)) {
    throw std::invalid_argument("loss.side_name = \"" + c.side_name +
                                "\": allowed same | dice | bce | hybrid | focal | dice_focal_bce | ce_dice");
  }
  if (!(c.alpha >= 0 && c.alpha <= 1)) bad("alpha", c.alpha, "[0, 1]");
  if (!(c.focal_gamma >= 0)) bad("focal_gamma", c.focal_gamma, ">= 0");
  if (!(c.focal_alpha >= 0 && c.focal_alpha <= 1)) bad("focal_alpha", c.focal_alpha, "[0, 1]");
  if (!(c.dice_smooth >= 0)) bad("dice_smooth", c.dice_smooth, ">= 0");
  if (c.dice_denominator != "sum" && c.dice_denominator != "squares")
    throw std::invalid_argument("loss.dice_denominator = \"" + c.dice_denominator + "\": allowed sum | squares");
  if (!(c.main_weight >= 0)) bad("main_weight", c.main_weight, ">= 0");
  if (!(c.side_weight >= 0)) bad("side_weight", c.side_weight, ">= 0");
  if (!(c.aux_weight >= 0)) bad("aux_weight", c.aux_weight, ">= 0");
  if (!(c.recon_weight >= 0)) bad("recon_weight", c.recon_weight, ">= 0");
  if (!(c.guided_weight >= 0)) bad("guided_weight", c.guided_weight, ">= 0");
  // Nothing would be back-propagated: every step would fail in backward().
  if (c.main_weight == 0 && c.side_weight == 0 && c.aux_weight == 0 && c.recon_weight == 0) {
    throw std::invalid_argument(
        "loss.main_weight, loss.side_weight, loss.aux_weight and loss.recon_weight are all 0: nothing would be "
        "trained; allowed: at least one of them > 0");
  }
}

torch::Tensor dice_loss(const torch::Tensor& logits, const torch::Tensor& target, double smooth, bool squares) {
  // squares: 003 eqs. 5 and 8 (V-Net) put Σp² + Σy² in the denominator; y is 0/1, so only p changes.
  if (logits.size(1) == 1) {
    torch::Tensor p = torch::sigmoid(logits), y = foreground(target, logits);
    return 1 - (2 * (p * y).sum() + smooth) / ((squares ? (p * p).sum() : p.sum()) + y.sum() + smooth);
  }
  torch::Tensor p = torch::softmax(logits, 1), y = one_hot_nchw(target, logits);
  const std::vector<int64_t> dims = {0, 2, 3};
  torch::Tensor dice = (2 * (p * y).sum(dims) + smooth) / ((squares ? (p * p).sum(dims) : p.sum(dims)) + y.sum(dims) + smooth);
  return 1 - dice.narrow(0, 1, logits.size(1) - 1).mean();
}

torch::Tensor soft_dice_terms(const torch::Tensor& logits, const torch::Tensor& target) {
  const bool one = logits.size(1) == 1;
  torch::Tensor p = probabilities(logits), y = one ? foreground(target, logits) : one_hot_nchw(target, logits);
  if (!one) p = p.narrow(1, 1, logits.size(1) - 1), y = y.narrow(1, 1, logits.size(1) - 1);
  const std::vector<int64_t> dims = {0, 2, 3};
  return torch::stack({(p * y).sum(dims), p.sum(dims) + y.sum(dims)}).to(torch::kCPU, torch::kFloat64);
}

torch::Tensor bce_loss(const torch::Tensor& logits, const torch::Tensor& target) {
  if (logits.size(1) == 1) return torch::binary_cross_entropy_with_logits(logits, foreground(target, logits));
  return torch::nn::functional::cross_entropy(logits, target);
}

torch::Tensor focal_loss(const torch::Tensor& logits, const torch::Tensor& target, double gamma, double alpha) {
  torch::Tensor log_pt, alpha_t;
  if (logits.size(1) == 1) {
    torch::Tensor y = foreground(target, logits);
    log_pt = y * torch::log_sigmoid(logits) + (1 - y) * torch::log_sigmoid(-logits);
    alpha_t = y * alpha + (1 - y) * (1 - alpha);
  } else {
    log_pt = torch::log_softmax(logits, 1).gather(1, target.unsqueeze(1));
    torch::Tensor fg = target.gt(0).unsqueeze(1).to(logits.scalar_type());
    alpha_t = fg * alpha + (1 - fg) * (1 - alpha);
  }
  return (-alpha_t * torch::pow(1 - torch::exp(log_pt), gamma) * log_pt).mean();
}

torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& target, const LossConfig& c) {
  check_target(logits, target);
  const bool squares = c.dice_denominator == "squares";
  if (c.name == "dice") return dice_loss(logits, target, c.dice_smooth, squares);
  if (c.name == "bce") return bce_loss(logits, target);
  if (c.name == "hybrid") return c.alpha * dice_loss(logits, target, c.dice_smooth, squares) + (1 - c.alpha) * bce_loss(logits, target);
  if (c.name == "focal") return focal_loss(logits, target, c.focal_gamma, c.focal_alpha);
  if (c.name == "dice_focal_bce")
    return dice_loss(logits, target, c.dice_smooth, squares) + focal_loss(logits, target, c.focal_gamma, c.focal_alpha) +
           bce_loss(logits, target);
  if (c.name == "ce_dice") return bce_loss(logits, target) + dice_loss(logits, target, c.dice_smooth, squares);
  validate_loss_config(c);  // throws for an unknown name
  return {};
}

torch::Tensor scale_to_unit(const torch::Tensor& input) {
  const std::vector<int64_t> dims = {1, 2, 3};
  torch::Tensor lo = input.amin(dims, true), hi = input.amax(dims, true);
  return (input - lo) / (hi - lo).clamp_min(1e-12);
}

LossTerms compute_loss(const NetOutput& out, const torch::Tensor& target, const torch::Tensor& input,
                       const LossConfig& config) {
  validate_loss_config(config);
  LossTerms t;
  torch::Tensor total;
  // Every term's value is read back at the end, all in one copy (one device synchronisation per call).
  std::vector<torch::Tensor> values;
  std::vector<double*> slots;
  // A weighted term joins the graph only when its weight is non-zero (losses.hpp).
  auto add = [&](double* slot, double weight, const std::function<torch::Tensor()>& term) {
    torch::Tensor v;
    if (weight == 0) {
      torch::NoGradGuard no_grad;
      v = term();
    } else {
      v = term();
      total = total.defined() ? total + weight * v : weight * v;
    }
    values.push_back(v.detach().reshape({}));
    slots.push_back(slot);
  };
  add(&t.main, config.main_weight, [&] { return segmentation_loss(out.main, target, config); });
  if (!out.sides.empty()) {
    // loss.side_name: 001 Sec. III-B's Dice on the main output and BCE on the side output is name = dice,
    // side_name = bce.
    LossConfig side = config;
    if (config.side_name != "same") side.name = config.side_name;
    add(&t.side, config.side_weight, [&] {
      torch::Tensor s = segmentation_loss(out.sides[0], target, side);
      for (size_t i = 1; i < out.sides.size(); ++i) s = s + segmentation_loss(out.sides[i], target, side);
      return s / static_cast<double>(out.sides.size());
    });
  }
  if (out.aux.defined()) add(&t.aux, config.aux_weight, [&] { return segmentation_loss(out.aux, target, config); });
  if (out.recon.defined()) {
    add(&t.recon, config.recon_weight, [&] {
      torch::Tensor goal = scale_to_unit(input.detach());
      return torch::binary_cross_entropy(out.recon.clamp(1e-6, 1 - 1e-6), goal);
    });
  }
  // 002 eqs. 6-9, 11: β Σ_s Σ_r MSE(E_r, E_{r+1}) + γ Σ_s Σ_r MSE(F_r, F̂_r). Mean squared errors as 002's code
  // computes them (nn.MSELoss) where eqs. 6-7 write squared norms; summed over scales and steps (eqs. 8-9).
  auto mse_sum = [](const std::vector<std::pair<torch::Tensor, torch::Tensor>>& pairs) {
    torch::Tensor s = torch::mse_loss(pairs[0].first, pairs[0].second);
    for (size_t i = 1; i < pairs.size(); ++i) s = s + torch::mse_loss(pairs[i].first, pairs[i].second);
    return s;
  };
  if (!out.guided.empty()) add(&t.guided, config.guided_weight, [&] { return mse_sum(out.guided); });
  if (!out.feature_recon.empty()) add(&t.recon, config.recon_weight, [&] { return mse_sum(out.feature_recon); });
  if (!total.defined()) {
    // Every head this network has carries weight 0 (validate_loss_config only sees the weights).
    std::string keys = "loss.main_weight";
    if (!out.sides.empty()) keys += ", loss.side_weight";
    if (out.aux.defined()) keys += ", loss.aux_weight";
    if (out.recon.defined() || !out.feature_recon.empty()) keys += ", loss.recon_weight";
    if (!out.guided.empty()) keys += ", loss.guided_weight";
    throw std::invalid_argument("loss: every output of this network has weight 0 (" + keys +
                                "): nothing would be trained; allowed: at least one of them > 0");
  }
  t.total = total;
  values.push_back(total.detach().reshape({}));
  slots.push_back(&t.value);
  // Float to double exactly as item<double>() converts each, so the values are those of a read per term.
  const torch::Tensor read = torch::stack(values).to(torch::kDouble).cpu();
  const auto v = read.accessor<double, 1>();
  for (std::size_t i = 0; i < slots.size(); ++i) *slots[i] = v[static_cast<std::int64_t>(i)];
  return t;
}

torch::Tensor probabilities(const torch::Tensor& logits) {
  return logits.size(1) == 1 ? torch::sigmoid(logits) : torch::softmax(logits, 1);
}

torch::Tensor predict_labels(const torch::Tensor& logits) {
  if (logits.size(1) == 1) return logits.gt(0).squeeze(1).to(torch::kLong);  // sigmoid > 0.5
  return logits.argmax(1);
}

}  // namespace ablate::trainer
