// Losses against hand-computed values (Dice, BCE, hybrid, focal, CE + multi-class Dice), the weighting
// of the total loss, and the loss weights acting as documented: lambda = 0 (loss.aux_weight) leaves the
// auxiliary head without gradient from La, recon_weight = 0 the restoration decoder without gradient; and
// hybrid at alpha = 0.5 trains like eq. 13 only where the optimiser is invariant to a constant factor;
// 003's soft Dice with squares in the denominator.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "trainer/losses.hpp"
#include "trainer/nn/network.hpp"

using namespace ablate;
using trainer::NetOutput;

namespace {

const bool kSingleThread = [] {
  torch::set_num_threads(1);
  return true;
}();

// Two pixels, one logit channel: p = sigmoid(logit) = (0.5, 0.75), target (1, 0).
torch::Tensor binary_logits() { return torch::tensor({0.0, std::log(3.0)}, torch::kDouble).view({1, 1, 1, 2}); }
torch::Tensor binary_target() { return torch::tensor({1, 0}, torch::kLong).view({1, 1, 2}); }

// Two pixels, three channels: pixel a p = (1/3, 1/3, 1/3) target 1; pixel b p = (0.25, 0.5, 0.25) target 2.
torch::Tensor multi_logits() {
  return torch::tensor({0.0, 0.0, 0.0, std::log(2.0), 0.0, 0.0}, torch::kDouble).view({1, 3, 1, 2});
}
torch::Tensor multi_target() { return torch::tensor({1, 2}, torch::kLong).view({1, 1, 2}); }

double value(const torch::Tensor& t) { return t.item<double>(); }

LossConfig named(const std::string& name) {
  LossConfig c;
  c.name = name;
  return c;
}

}  // namespace

TEST(Losses, BinaryDiceBceHybridByHand) {
  const auto x = binary_logits(), y = binary_target();
  // Dice: 1 - (2 * 0.5 + s) / (1.25 + 1 + s).
  EXPECT_NEAR(value(trainer::dice_loss(x, y, 0.0)), 1 - 1.0 / 2.25, 1e-9);
  EXPECT_NEAR(value(trainer::dice_loss(x, y, 1.0)), 1 - 2.0 / 3.25, 1e-9);
  // BCE: mean(-log 0.5, -log 0.25).
  const double bce = (std::log(2.0) + std::log(4.0)) / 2;
  EXPECT_NEAR(value(trainer::bce_loss(x, y)), bce, 1e-9);
  LossConfig c = named("hybrid");
  c.alpha = 0.3;
  c.dice_smooth = 1.0;
  EXPECT_NEAR(value(trainer::segmentation_loss(x, y, c)), 0.3 * (1 - 2.0 / 3.25) + 0.7 * bce, 1e-9);
  // alpha = 0.5 is half the equal-weight sum of 001 eq. 13 (= ce_dice).
  c.alpha = 0.5;
  EXPECT_NEAR(2 * value(trainer::segmentation_loss(x, y, c)), value(trainer::segmentation_loss(x, y, named("ce_dice"))), 1e-9);
  EXPECT_NEAR(value(trainer::segmentation_loss(x, y, named("dice"))), 1 - 2.0 / 3.25, 1e-9);
  EXPECT_NEAR(value(trainer::segmentation_loss(x, y, named("bce"))), bce, 1e-9);
}

TEST(Losses, FocalByHand) {
  const auto x = binary_logits(), y = binary_target();
  // pixel 1: y = 1, p_t = 0.5, alpha_t = 0.25; pixel 2: y = 0, p_t = 0.25, alpha_t = 0.75.
  const double a = 0.25 * 0.25 * std::log(2.0), b = 0.75 * 0.5625 * std::log(4.0);
  EXPECT_NEAR(value(trainer::focal_loss(x, y, 2.0, 0.25)), (a + b) / 2, 1e-9);
  // gamma = 0, alpha = 0.5: half the BCE.
  EXPECT_NEAR(value(trainer::focal_loss(x, y, 0.0, 0.5)), 0.5 * value(trainer::bce_loss(x, y)), 1e-9);
  LossConfig c = named("dice_focal_bce");
  EXPECT_NEAR(value(trainer::segmentation_loss(x, y, c)),
              (1 - 2.0 / 3.25) + (a + b) / 2 + value(trainer::bce_loss(x, y)), 1e-9);
  EXPECT_NEAR(value(trainer::segmentation_loss(x, y, named("focal"))), (a + b) / 2, 1e-9);
}

// 003 eqs. 5 and 8: the soft Dice with squares in the denominator (V-Net), loss.dice_denominator = squares.
// p = (0.5, 0.75), y = (1, 0): 1 - (2 * 0.5 + s) / (0.25 + 0.5625 + 1 + s); for several classes per class as
// above with Σp² (class 1: p = (1/3, 1/2) -> 2/3 / (13/36 + 1) = 24/49; class 2: p = (1/3, 1/4) -> 1/2 /
// (25/144 + 1) = 72/169).
TEST(Losses, SquaredDenominatorDiceByHand) {
  const auto x = binary_logits(), y = binary_target();
  EXPECT_NEAR(value(trainer::dice_loss(x, y, 0.0, true)), 1 - 1.0 / 1.8125, 1e-9);
  EXPECT_NEAR(value(trainer::dice_loss(x, y, 1.0, true)), 1 - 2.0 / 2.8125, 1e-9);
  LossConfig c = named("dice_focal_bce");
  c.dice_denominator = "squares";
  EXPECT_NEAR(value(trainer::segmentation_loss(x, y, c)),
              (1 - 2.0 / 2.8125) + value(trainer::focal_loss(x, y, 2.0, 0.25)) + value(trainer::bce_loss(x, y)), 1e-9);
  c.name = "dice";
  EXPECT_NEAR(value(trainer::segmentation_loss(x, y, c)), 1 - 2.0 / 2.8125, 1e-9);
  EXPECT_NEAR(value(trainer::dice_loss(multi_logits(), multi_target(), 0.0, true)), 1 - (24.0 / 49 + 72.0 / 169) / 2, 1e-9);
  c.dice_denominator = "square";
  try {
    trainer::validate_loss_config(c);
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("loss.dice_denominator = \"square\": allowed sum | squares"), std::string::npos) << e.what();
  }
}

TEST(Losses, MultiClassCrossEntropyAndDiceByHand) {
  const auto x = multi_logits(), y = multi_target();
  const double ce = (std::log(3.0) + std::log(4.0)) / 2;
  EXPECT_NEAR(value(trainer::bce_loss(x, y)), ce, 1e-9);
  // class 1: p = (1/3, 1/2), y = (1, 0): 2 (1/3) / (5/6 + 1) = 4/11; class 2: p = (1/3, 1/4), y = (0, 1):
  // 2 (1/4) / (7/12 + 1) = 6/19; background excluded.
  const double dice = 1 - (4.0 / 11 + 6.0 / 19) / 2;
  EXPECT_NEAR(value(trainer::dice_loss(x, y, 0.0)), dice, 1e-9);
  LossConfig c = named("ce_dice");
  c.dice_smooth = 0;
  EXPECT_NEAR(value(trainer::segmentation_loss(x, y, c)), ce + dice, 1e-9);
  // focal: alpha_t = 0.25 on both (foreground) pixels, gamma 2, p_t = 1/3 and 1/4.
  const double f = 0.25 * (std::pow(2.0 / 3, 2) * std::log(3.0) + std::pow(0.75, 2) * std::log(4.0)) / 2;
  EXPECT_NEAR(value(trainer::focal_loss(x, y, 2.0, 0.25)), f, 1e-9);
}

// The soft Dice terms by hand: logits 0 give p = 1/2 for the foreground (sigmoid of one channel) and, with 3
// channels, 1/3 per class (softmax); a 2 x 2 target with one pixel of class 1 and two of class 2.
TEST(Losses, SoftDiceTermsByHand) {
  const auto target = torch::tensor({1, 2, 2, 0}, torch::kInt64).view({1, 2, 2});
  const auto three = trainer::soft_dice_terms(torch::zeros({1, 3, 2, 2}), target);
  ASSERT_EQ(three.sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(three.scalar_type(), torch::kFloat64);
  EXPECT_NEAR(three[0][0].item<double>(), 1.0 / 3, 1e-6);      // class 1: sum(p y) = 1/3
  EXPECT_NEAR(three[1][0].item<double>(), 4.0 / 3 + 1, 1e-6);  // sum(p) + sum(y) = 4/3 + 1
  EXPECT_NEAR(three[0][1].item<double>(), 2.0 / 3, 1e-6);      // class 2
  EXPECT_NEAR(three[1][1].item<double>(), 4.0 / 3 + 2, 1e-6);
  const auto binary = torch::tensor({1, 0, 0, 0}, torch::kInt64).view({1, 2, 2});
  const auto one = trainer::soft_dice_terms(torch::zeros({1, 1, 2, 2}), binary);
  ASSERT_EQ(one.sizes(), (std::vector<int64_t>{2, 1}));
  EXPECT_NEAR(one[0][0].item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(one[1][0].item<double>(), 2.0 + 1, 1e-6);
}

TEST(Losses, PerfectPredictionHasNearZeroDice) {
  torch::Tensor y = torch::zeros({2, 4, 4}, torch::kLong);
  y.index_put_({torch::indexing::Slice(), torch::indexing::Slice(1, 3), torch::indexing::Slice(1, 3)}, 1);
  torch::Tensor logits = (y.to(torch::kDouble) * 2 - 1).unsqueeze(1) * 50;
  EXPECT_NEAR(value(trainer::dice_loss(logits, y, 1.0)), 0.0, 1e-9);
  EXPECT_TRUE(torch::equal(trainer::predict_labels(logits), y));
  torch::Tensor multi = torch::one_hot(y, 3).permute({0, 3, 1, 2}).to(torch::kDouble) * 50;
  EXPECT_TRUE(torch::equal(trainer::predict_labels(multi), y));
  EXPECT_TRUE(torch::allclose(trainer::probabilities(multi).sum(1), torch::ones({2, 4, 4}, torch::kDouble)));
}

TEST(Losses, TotalIsTheDocumentedWeightedSum) {
  torch::manual_seed(1);
  NetOutput o;
  o.main = torch::randn({2, 1, 4, 4}, torch::kDouble);
  o.sides = {torch::randn({2, 1, 4, 4}, torch::kDouble), torch::randn({2, 1, 4, 4}, torch::kDouble)};
  o.aux = torch::randn({2, 1, 4, 4}, torch::kDouble);
  o.recon = torch::rand({2, 1, 4, 4}, torch::kDouble);
  torch::Tensor y = torch::randint(0, 2, {2, 4, 4}, torch::kLong);
  torch::Tensor input = torch::randn({2, 1, 4, 4}, torch::kDouble) * 100 + 40;
  LossConfig c;
  c.main_weight = 10;
  c.side_weight = 0.5;
  c.aux_weight = 0.7;
  c.recon_weight = 0.1;
  auto L = [&](const torch::Tensor& t) { return value(trainer::segmentation_loss(t, y, c)); };
  const torch::Tensor goal = trainer::scale_to_unit(input);
  EXPECT_NEAR(goal.amin({1, 2, 3})[0].item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(goal.amax({1, 2, 3})[1].item<double>(), 1.0, 1e-12);
  const double recon = value(torch::binary_cross_entropy(o.recon, goal));
  trainer::LossTerms t = trainer::compute_loss(o, y, input, c);
  EXPECT_NEAR(t.main, L(o.main), 1e-9);
  EXPECT_NEAR(t.side, (L(o.sides[0]) + L(o.sides[1])) / 2, 1e-9);
  EXPECT_NEAR(t.aux, L(o.aux), 1e-9);
  EXPECT_NEAR(t.recon, recon, 1e-6);
  EXPECT_NEAR(value(t.total), 10 * t.main + 0.5 * t.side + 0.7 * t.aux + 0.1 * t.recon, 1e-6);
}

TEST(Losses, BadConfigurationNamesTheKey) {
  NetOutput o;
  o.main = torch::zeros({1, 1, 2, 2});
  torch::Tensor y = torch::zeros({1, 2, 2}, torch::kLong);
  auto msg = [&](const LossConfig& c) {
    try {
      trainer::compute_loss(o, y, o.main, c);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(msg(named("tversky")).find("loss.name"), std::string::npos);
  LossConfig c;
  c.alpha = 1.5;
  EXPECT_NE(msg(c).find("loss.alpha"), std::string::npos);
  c = LossConfig();
  c.aux_weight = -1;
  EXPECT_NE(msg(c).find("loss.aux_weight"), std::string::npos);
  o.main = torch::zeros({1, 3, 2, 2});
  y.fill_(5);
  EXPECT_NE(msg(named("ce_dice")).find("target class 5"), std::string::npos);
}

namespace {

// Gradients of every parameter after one backward pass of compute_loss with the given weights.
std::map<std::string, torch::Tensor> gradients(const ModelConfig& m, const LossConfig& c) {
  torch::manual_seed(11);
  trainer::SegmentationNet net(m, 1);
  net->train();
  torch::Tensor x = torch::randn({2, 1, 32, 32});
  torch::Tensor y = torch::randint(0, 2, {2, 32, 32}, torch::kLong);
  trainer::compute_loss(net->forward(x), y, x, c).total.backward();
  std::map<std::string, torch::Tensor> g;
  for (const auto& p : net->named_parameters()) g[p.key()] = p.value().grad().defined() ? p.value().grad().clone() : torch::Tensor();
  return g;
}

ModelConfig tiny() {
  ModelConfig m;
  m.widths = {4, 8, 16};
  return m;
}

}  // namespace

TEST(Losses, LambdaZeroLeavesAuxHeadWithoutGradient) {
  ModelConfig m = tiny();
  m.aux_path = true;
  LossConfig c;
  c.aux_weight = 0;
  auto g0 = gradients(m, c);
  for (const auto& [name, g] : g0) {
    if (name.rfind("aux_path_head", 0) == 0) {
      EXPECT_FALSE(g.defined() && g.abs().sum().item<double>() > 0) << name;
    }
  }
  // The aux decoder still learns through the main path (its M feeds the original decoder, eq. 5).
  EXPECT_TRUE(g0.at("aux_path_dec.0.unit1.conv.weight").defined());
  // With lambda > 0 the head's gradient comes from La alone, so it scales linearly with lambda.
  c.aux_weight = 1;
  auto g1 = gradients(m, c);
  c.aux_weight = 2.5;
  auto g2 = gradients(m, c);
  ASSERT_TRUE(g1.at("aux_path_head.weight").defined());
  EXPECT_GT(g1.at("aux_path_head.weight").abs().sum().item<double>(), 0);
  EXPECT_TRUE(torch::allclose(g2.at("aux_path_head.weight"), 2.5 * g1.at("aux_path_head.weight"), 1e-4, 1e-6));
}

TEST(Losses, ReconWeightZeroLeavesRestorationWithoutGradient) {
  ModelConfig m = tiny();
  m.restoration = true;
  LossConfig c;
  c.recon_weight = 0;
  auto g0 = gradients(m, c);
  int restoration = 0;
  for (const auto& [name, g] : g0) {
    if (name.rfind("restoration", 0) == 0) {
      ++restoration;
      EXPECT_FALSE(g.defined() && g.abs().sum().item<double>() > 0) << name;
    }
  }
  EXPECT_GT(restoration, 0);
  c.recon_weight = 0.1;
  auto g1 = gradients(m, c);
  EXPECT_GT(g1.at("restoration.head.weight").abs().sum().item<double>(), 0);
  // The reconstruction loss reaches the encoder: its gradient changes with recon_weight.
  EXPECT_FALSE(torch::allclose(g0.at("enc.0.unit1.conv.weight"), g1.at("enc.0.unit1.conv.weight")));
}

TEST(Losses, SideWeightZeroLeavesDwsWithoutGradient) {
  ModelConfig m = tiny();
  m.dws = true;
  LossConfig c;
  c.side_weight = 0;
  int dws_params = 0;
  for (const auto& [name, g] : gradients(m, c)) {
    if (name.rfind("dws", 0) == 0) {
      ++dws_params;
      EXPECT_FALSE(g.defined() && g.abs().sum().item<double>() > 0) << name;
    }
  }
  EXPECT_GT(dws_params, 0);  // the DWS head exists and was visited
}

// 001 Sec. III-B: Dice on the main output, BCE on the side output (loss.name = dice, loss.side_name = bce),
// weighted as alpha·Dice(main) + (1 - alpha)·BCE(side) with alpha = 0.3.
TEST(Losses, SideNameBceOnSideOutputDiceOnMainByHand) {
  NetOutput o;
  o.main = binary_logits();  // p = (0.5, 0.75), target (1, 0)
  o.sides = {torch::tensor({std::log(3.0), 0.0}, torch::kDouble).view({1, 1, 1, 2})};  // p = (0.75, 0.5)
  const auto y = binary_target();
  LossConfig c = named("dice");
  c.side_name = "bce";
  c.main_weight = 0.3;
  c.side_weight = 0.7;
  const double dice_main = 1 - 2.0 / 3.25;                             // s = 1
  const double bce_side = (std::log(4.0 / 3.0) + std::log(2.0)) / 2;  // mean(-log 0.75, -log 0.5)
  trainer::LossTerms t = trainer::compute_loss(o, y, o.main, c);
  EXPECT_NEAR(t.main, dice_main, 1e-9);
  EXPECT_NEAR(t.side, bce_side, 1e-9);
  EXPECT_NEAR(value(t.total), 0.3 * dice_main + 0.7 * bce_side, 1e-9);
  // "same" (the default) puts loss.name on the side output too: Dice of p = (0.75, 0.5) = 1 - 2.5 / 3.25.
  c.side_name = "same";
  EXPECT_NEAR(trainer::compute_loss(o, y, o.main, c).side, 1 - 2.5 / 3.25, 1e-9);
}

TEST(Losses, SideNameAndAllZeroWeightsRejectedNamingTheKeys) {
  LossConfig c;
  c.side_name = "tversky";
  try {
    trainer::validate_loss_config(c);
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("loss.side_name = \"tversky\": allowed same | dice"), std::string::npos) << e.what();
  }
  c = LossConfig();
  c.main_weight = c.side_weight = c.aux_weight = c.recon_weight = 0;
  try {
    trainer::validate_loss_config(c);
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    for (const char* key : {"loss.main_weight", "loss.side_weight", "loss.aux_weight", "loss.recon_weight"})
      EXPECT_NE(m.find(key), std::string::npos) << m;
  }
  c.recon_weight = 0.1;  // one weight > 0 is enough
  EXPECT_NO_THROW(trainer::validate_loss_config(c));
  // ... in general; but a network without a restoration decoder then has nothing to train.
  NetOutput o;
  o.main = binary_logits();
  o.sides = {binary_logits()};
  try {
    trainer::compute_loss(o, binary_target(), o.main, c);
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("(loss.main_weight, loss.side_weight)"), std::string::npos) << e.what();
  }
}

// hybrid at alpha = 0.5 is exactly half of ce_dice (001 eq. 13), but it does not train like it under
// train.optimizer = adam: torch::optim::Adam adds the weight decay to the gradient (coupled L2), so
// halving the loss doubles the decay's relative pull. Without decay, or with adamw's decoupled decay,
// the constant factor cancels (up to Adam's epsilon). docs/MODELS.md states exactly this.
TEST(Losses, HalfLossTrainsLikeEquation13OnlyWithoutCoupledDecay) {
  const torch::Tensor target = torch::tensor({1, 0, 1, 0, 0, 1}, torch::kLong).view({1, 1, 6});
  const torch::Tensor start = torch::tensor({0.3, -0.2, 1.5, 0.8, -1.0, 0.1}, torch::kDouble);
  LossConfig half = named("hybrid"), full = named("ce_dice");
  half.alpha = 0.5;
  {
    torch::Tensor l = start.view({1, 1, 1, 6});
    EXPECT_NEAR(value(trainer::segmentation_loss(l, target, full)), 2 * value(trainer::segmentation_loss(l, target, half)), 1e-12);
  }
  // Five steps from the same start; returns the parameters reached.
  auto train = [&](const LossConfig& loss, const std::string& optimizer, double decay) {
    torch::Tensor p = start.clone().requires_grad_(true);
    std::unique_ptr<torch::optim::Optimizer> opt;
    if (optimizer == "adam") opt = std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{p}, torch::optim::AdamOptions(0.01).weight_decay(decay));
    else opt = std::make_unique<torch::optim::AdamW>(std::vector<torch::Tensor>{p}, torch::optim::AdamWOptions(0.01).weight_decay(decay));
    for (int step = 0; step < 5; ++step) {
      opt->zero_grad();
      trainer::segmentation_loss(p.view({1, 1, 1, 6}), target, loss).backward();
      opt->step();
    }
    return p.detach();
  };
  auto gap = [&](const std::string& optimizer, double decay) {
    return value((train(half, optimizer, decay) - train(full, optimizer, decay)).abs().max());
  };
  EXPECT_LT(gap("adam", 0.0), 1e-7);
  EXPECT_LT(gap("adamw", 0.1), 1e-7);
  EXPECT_GT(gap("adam", 0.1), 1e-4) << "coupled L2 decay should break the invariance";
}
