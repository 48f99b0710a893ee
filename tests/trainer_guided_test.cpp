// 002's multi-scale self-guided attention network (model.backbone = "resnet", trainer/nn/guided.hpp) at tiny
// widths: output shapes of every head, the guided pairs and the reconstructions; finite gradients to every
// parameter; the parameter accounting per component against formulas written here; eq. 11's three terms
// (segmentation over the 2S heads, guided, reconstruction) recomputed by hand from the network's own outputs;
// each weight = 0 leaving its term out of the gradient; the stacked refinement and the guidance wiring against
// the modules (eqs. 3, 5-7); configuration errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "trainer/losses.hpp"
#include "trainer/nn/network.hpp"
#include "trainer/trainer.hpp"

using namespace ablate;
using ablate::trainer::NetOutput;
using ablate::trainer::SegmentationNet;

namespace {

const bool kSingleThread = [] {
  torch::set_num_threads(1);
  return true;
}();

constexpr int64_t kSize = 32;  // S = 2 stages: stride 8; the guidance's two poolings on the 8 x 8 maps
constexpr int64_t kBatch = 2;
constexpr int64_t kClasses = 3;  // background + 2 organs (softmax, as 002's multi-organ CHAOS)

// Two ResNet stages (planes 2 and 4, one bottleneck each), G = 8, DualNet attention, two steps, guidance.
ModelConfig tiny_guided() {
  ModelConfig m;
  m.backbone = "resnet";
  m.widths = {2, 4};
  m.resnet_blocks = {1, 1};
  m.guided_width = 8;
  m.attention = "pam_cam";
  m.refinements = 2;
  m.semantic_guidance = true;
  return m;
}

int64_t conv(int64_t in, int64_t out, int64_t k, bool bias) { return in * out * k * k + (bias ? out : 0); }
int64_t bn(int64_t c) { return 2 * c; }
int64_t prelu() { return 1; }

// ResNet bottleneck with expansion 4 (bias-free convolutions, BN; conv1x1 + BN shortcut when the shape changes).
int64_t bottleneck(int64_t in, int64_t p, bool project) {
  return conv(in, p, 1, false) + bn(p) + conv(p, p, 3, false) + bn(p) + conv(p, 4 * p, 1, false) + bn(4 * p) +
         (project ? conv(in, 4 * p, 1, false) + bn(4 * p) : 0);
}
int64_t resnet(const ModelConfig& m) {
  int64_t n = conv(m.in_channels, m.widths[0], 7, false) + bn(m.widths[0]);
  int64_t in = m.widths[0];
  for (size_t s = 0; s < m.widths.size(); ++s) {
    for (int b = 0; b < m.resnet_blocks[s]; ++b) {
      n += bottleneck(in, m.widths[s], in != 4 * m.widths[s] || (b == 0 && s > 0));
      in = 4 * m.widths[s];
    }
  }
  return n;
}
// conv + BN + PReLU.
int64_t cbp(int64_t in, int64_t out, int64_t k, bool bias) { return conv(in, out, k, bias) + bn(out) + prelu(); }
// One attention branch: conv3x3(2G -> G) + BN + PReLU, the self-attention, conv3x3(G -> G) + BN + PReLU.
int64_t branch(int64_t g, const std::string& kind) {
  int64_t n = cbp(2 * g, g, 3, false) + cbp(g, g, 3, false);
  if (kind == "pam") n += conv(g, g / 8 > 0 ? g / 8 : 1, 1, true) + conv(g, g / 8 > 0 ? g / 8 : 1, 1, false) + conv(g, g, 1, true) + 1;
  if (kind == "cam") n += 1;
  return n;
}
// The encoder-decoder on C = 2G channels: (C -> 2C -> 2C, pool), (2C -> 4C -> 4C, pool), (4C -> 2C -> 2C, ConvT 2C),
// (2C -> C -> C, ConvT C); every conv3x3 + BN.
int64_t encoder_decoder(int64_t c) {
  auto cbr = [](int64_t i, int64_t o) { return conv(i, o, 3, false) + bn(o); };
  return cbr(c, 2 * c) + cbr(2 * c, 2 * c) + cbr(2 * c, 4 * c) + cbr(4 * c, 4 * c) + cbr(4 * c, 2 * c) + cbr(2 * c, 2 * c) +
         conv(2 * c, 2 * c, 2, true) + cbr(2 * c, c) + cbr(c, c) + conv(c, c, 2, true);
}

std::map<std::string, int64_t> expected_components(const ModelConfig& m, int64_t out) {
  const int64_t s = static_cast<int64_t>(m.widths.size()), g = m.guided_width, r = m.refinements;
  std::vector<std::string> kinds;
  if (m.attention == "pam" || m.attention == "pam_cam") kinds.push_back("pam");
  if (m.attention == "cam" || m.attention == "pam_cam") kinds.push_back("cam");
  std::map<std::string, int64_t> c;
  const int64_t merge = conv(g, g, 1, true), heads = 2 * s * conv(g, out, 1, true);
  c["backbone"] = resnet(m) + heads + s * merge + (kinds.empty() ? s * branch(g, "none") : 0);
  int64_t ms = cbp(s * g, g, 3, false) + cbp(g, g, 3, false) + cbp(g, g, 1, false);
  for (int64_t i = 0; i < s; ++i) ms += cbp(4 * m.widths[i], g, 1, false);
  c["multiscale"] = ms;
  for (const auto& k : kinds) c[k] = s * branch(g, k);
  int64_t one_step = s * merge;
  for (const auto& k : kinds.empty() ? std::vector<std::string>{"none"} : kinds) one_step += s * branch(g, k);
  if (r > 1) c["refinement"] = (r - 1) * one_step;
  if (m.semantic_guidance) c["guidance"] = r * (encoder_decoder(2 * g) + s * conv(2 * g, g, 3, true));
  return c;
}

int64_t total_parameters(SegmentationNet& net) {
  int64_t n = 0;
  for (const auto& p : net->parameters()) n += p.numel();
  return n;
}

// PAM and CAM start with γ = 0 (their attention branch switched off, its projections without gradient); a
// trained γ is not 0.
void open_gammas(SegmentationNet& net) {
  torch::NoGradGuard ng;
  for (const auto& p : net->named_parameters())
    if (p.key().size() >= 5 && p.key().substr(p.key().size() - 5) == "gamma") p.value().fill_(0.5);
}

torch::Tensor labels(int64_t seed) {
  torch::manual_seed(seed);
  return torch::randint(0, kClasses, {kBatch, kSize, kSize}, torch::kLong);
}

// 002 eq. 11 at the paper's weights, in the family's terms (losses.hpp): α = 1 over the 2S = 4 heads is
// side_weight = 4, main_weight = 0; β = guided_weight = 0.25; γ = recon_weight = 0.1; cross-entropy.
LossConfig eq11() {
  LossConfig lc;
  lc.name = "bce";  // cross-entropy with several channels
  lc.main_weight = 0;
  lc.side_weight = 4;
  lc.guided_weight = 0.25;
  lc.recon_weight = 0.1;
  return lc;
}

}  // namespace

TEST(GuidedNet, ShapesOfEveryOutput) {
  for (int refinements : {1, 2, 3}) {
    for (bool guidance : {false, true}) {
      ModelConfig m = tiny_guided();
      m.refinements = refinements;
      m.semantic_guidance = guidance;
      torch::manual_seed(1);
      SegmentationNet net(m, kClasses);
      const NetOutput o = net->forward(torch::randn({kBatch, 1, kSize, kSize}));
      const std::vector<int64_t> seg = {kBatch, kClasses, kSize, kSize};
      EXPECT_EQ(o.main.sizes().vec(), seg);
      ASSERT_EQ(o.sides.size(), 4u);  // F'_1, F'_2, A_1, A_2
      for (const auto& s : o.sides) EXPECT_EQ(s.sizes().vec(), seg);
      // The prediction is the mean of the attention heads.
      EXPECT_TRUE(torch::allclose(o.main, (o.sides[2] + o.sides[3]) / 2, 1e-5, 1e-6));
      EXPECT_FALSE(o.aux.defined());
      EXPECT_FALSE(o.recon.defined());
      ASSERT_EQ(o.guided.size(), guidance ? 2u * (refinements - 1) : 0u);
      for (const auto& [a, b] : o.guided) {
        // the code: 4 x 2G channels at a quarter of the H/4 maps
        EXPECT_EQ(a.sizes().vec(), (std::vector<int64_t>{kBatch, 4 * 2 * 8, kSize / 16, kSize / 16}));
        EXPECT_EQ(b.sizes().vec(), a.sizes().vec());
      }
      ASSERT_EQ(o.feature_recon.size(), guidance ? 2u * refinements : 0u);
      for (const auto& [f, rec] : o.feature_recon) {
        EXPECT_EQ(f.sizes().vec(), (std::vector<int64_t>{kBatch, 2 * 8, kSize / 4, kSize / 4}));
        EXPECT_EQ(rec.sizes().vec(), f.sizes().vec());
      }
    }
  }
}

// Every attention kind of 002's Table I (none = the baseline without self-attention, pam, cam, pam_cam), one and
// two steps, with and without guidance: eq. 11's loss is finite and every parameter receives a finite, non-zero
// gradient; the components match the formulas and sum to the trainable total.
TEST(GuidedNet, FiniteGradientsAndParametersByComponent) {
  for (const std::string attention : {"none", "pam", "cam", "pam_cam"}) {
    for (int refinements : {1, 2}) {
      for (bool guidance : {false, true}) {
        ModelConfig m = tiny_guided();
        m.attention = attention;
        m.refinements = refinements;
        m.semantic_guidance = guidance;
        const std::string name = attention + " R" + std::to_string(refinements) + (guidance ? " guided" : "");
        torch::manual_seed(2);
        SegmentationNet net(m, kClasses);
        net->train();
        open_gammas(net);
        const torch::Tensor x = torch::randn({kBatch, 1, kSize, kSize});
        trainer::LossTerms t = trainer::compute_loss(net->forward(x), labels(3), x, eq11());
        ASSERT_TRUE(std::isfinite(t.total.item<double>())) << name;
        t.total.backward();
        for (const auto& p : net->named_parameters()) {
          const auto& g = p.value().grad();
          ASSERT_TRUE(g.defined()) << name << ": no gradient reaches " << p.key();
          EXPECT_TRUE(torch::isfinite(g).all().item<bool>()) << name << ": " << p.key();
          EXPECT_GT(g.abs().sum().item<double>(), 0.0) << name << ": zero gradient in " << p.key();
        }
        const auto comps = net->component_parameters();
        EXPECT_EQ(comps, expected_components(m, kClasses)) << name;
        int64_t sum = 0;
        for (const auto& [k, v] : comps) sum += v;
        EXPECT_EQ(sum, total_parameters(net)) << name;
        EXPECT_EQ(net->inference_parameters(), total_parameters(net)) << name;
      }
    }
  }
}

// The 002 configuration at its published scale: ResNet-101 stages (3, 4, 23, 3 bottlenecks of planes 64..512),
// G = 64, five classes (CHAOS: background + liver, kidneys, spleen), two guided steps. The backbone is the
// torchvision ResNet-101 trunk (42.5 M parameters without its classifier, 42,500,160) plus the heads and merges.
TEST(GuidedNet, ResNet101Trunk) {
  ModelConfig m;
  m.backbone = "resnet";
  m.widths = {64, 128, 256, 512};
  m.in_channels = 3;
  EXPECT_EQ(resnet(m), 42500160);
  m.in_channels = 1;
  m.attention = "pam_cam";
  m.refinements = 2;
  m.semantic_guidance = true;
  SegmentationNet net(m, 5);
  EXPECT_EQ(net->component_parameters(), expected_components(m, 5));
}

// Eq. 11 by hand from the network's own outputs: L_Seg = Σ over the 2S heads of the cross-entropy (eq. 10),
// L_G = Σ_s ||E_1 − E_2||² / n (eqs. 6, 8; mean squared error as 002's code), L_Rec = Σ_{s,r} ||F_r − F̂_r||² / n
// (eqs. 7, 9); total = α L_Seg + β L_G + γ L_Rec.
TEST(GuidedNet, ThreeLossTermsByHand) {
  torch::manual_seed(4);
  SegmentationNet net(tiny_guided(), kClasses);
  net->to(torch::kDouble);
  const torch::Tensor x = torch::randn({kBatch, 1, kSize, kSize}, torch::kDouble);
  const torch::Tensor y = labels(5);
  const NetOutput o = net->forward(x);
  double seg = 0;
  for (const auto& s : o.sides) {
    const torch::Tensor logp = torch::log_softmax(s, 1);
    seg += -logp.gather(1, y.unsqueeze(1)).mean().item<double>();
  }
  double guided = 0, rec = 0;
  for (const auto& [a, b] : o.guided) guided += (a - b).pow(2).sum().item<double>() / a.numel();
  for (const auto& [f, r] : o.feature_recon) rec += (f - r).pow(2).sum().item<double>() / f.numel();
  ASSERT_EQ(o.guided.size(), 2u);
  ASSERT_EQ(o.feature_recon.size(), 4u);
  EXPECT_GT(guided, 0.0);
  EXPECT_GT(rec, 0.0);
  const trainer::LossTerms t = trainer::compute_loss(o, y, x, eq11());
  EXPECT_NEAR(t.side, seg / 4, 1e-9);  // the side term is the mean over the four heads
  EXPECT_NEAR(t.guided, guided, 1e-9);
  EXPECT_NEAR(t.recon, rec, 1e-9);
  EXPECT_NEAR(t.total.item<double>(), 1.0 * seg + 0.25 * guided + 0.1 * rec, 1e-9);
}

// A weight of 0 takes its term out of the graph: the gradient of the total is then exactly the gradient of the
// other two terms (recomputed by hand from the outputs); with the weight on, the gradient differs. α = 0 (both
// segmentation weights) leaves the heads without any gradient.
TEST(GuidedNet, EachWeightZeroLeavesItsTermWithoutGradient) {
  auto gradients = [](SegmentationNet& net) {
    std::vector<torch::Tensor> g;
    for (const auto& p : net->parameters()) g.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    return g;
  };
  auto same = [](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
    for (size_t i = 0; i < a.size(); ++i)
      if (!torch::allclose(a[i], b[i], 1e-7, 1e-10)) return false;
    return true;
  };
  const torch::Tensor y = labels(6);
  for (const std::string zero : {"seg", "guided", "recon"}) {
    torch::manual_seed(8);
    SegmentationNet net(tiny_guided(), kClasses);
    net->to(torch::kDouble);
    open_gammas(net);
    const torch::Tensor x = torch::randn({kBatch, 1, kSize, kSize}, torch::kDouble);
    LossConfig lc = eq11();
    if (zero == "seg") lc.side_weight = 0;
    if (zero == "guided") lc.guided_weight = 0;
    if (zero == "recon") lc.recon_weight = 0;
    // The total with the weight at 0.
    net->zero_grad();
    trainer::compute_loss(net->forward(x), y, x, lc).total.backward();
    const auto with_zero = gradients(net);
    // The other terms by hand.
    net->zero_grad();
    NetOutput o = net->forward(x);
    torch::Tensor by_hand = torch::zeros({}, torch::kDouble);
    if (zero != "seg")
      for (const auto& s : o.sides) by_hand = by_hand - torch::log_softmax(s, 1).gather(1, y.unsqueeze(1)).mean();
    if (zero != "guided")
      for (const auto& [a, b] : o.guided) by_hand = by_hand + 0.25 * (a - b).pow(2).mean();
    if (zero != "recon")
      for (const auto& [f, r] : o.feature_recon) by_hand = by_hand + 0.1 * (f - r).pow(2).mean();
    by_hand.backward();
    EXPECT_TRUE(same(with_zero, gradients(net))) << zero << " = 0";
    // With the weight on, its term changes the gradient.
    net->zero_grad();
    trainer::compute_loss(net->forward(x), y, x, eq11()).total.backward();
    EXPECT_FALSE(same(with_zero, gradients(net))) << zero << " on";
    if (zero == "seg") {
      net->zero_grad();
      trainer::compute_loss(net->forward(x), y, x, lc).total.backward();
      for (const auto& p : net->named_parameters()) {
        if (p.key().find("head_") != std::string::npos) {
          EXPECT_FALSE(p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0) << p.key();
        }
      }
    }
  }
}

// The wiring against the modules (evaluation mode, double precision): F'_s and F_MS (Sec. III-B), step 1 on
// concat(F'_s, F_MS), step 2 on concat(F'_s, A_1 ⊙ F_MS) (the stacked refinement), each A_r = conv1x1((PAM
// branch + CAM branch) ⊙ conv3x3(F̂_r)) with (E_r, F̂_r) the step's encoder-decoder; the heads and the mean.
TEST(GuidedNet, RefinementAndGuidanceAreTheEquations) {
  torch::manual_seed(9);
  ModelConfig m = tiny_guided();
  SegmentationNet net(m, kClasses);
  net->to(torch::kDouble);
  open_gammas(net);
  net->eval();
  torch::NoGradGuard ng;
  const torch::Tensor x = torch::randn({kBatch, 1, kSize, kSize}, torch::kDouble);
  auto g = net->guided_module();
  const auto [fp, ms] = g->scales(x);
  ASSERT_EQ(fp.size(), 2u);
  const NetOutput o = net->forward(x);
  for (int s = 0; s < 2; ++s) {
    torch::Tensor a, code1;
    for (int r = 0; r < 2; ++r) {
      const torch::Tensor f = torch::cat({fp[s], r == 0 ? ms : a * ms}, 1);
      const auto [code, rec] = g->guidance[r]->forward(f);
      EXPECT_TRUE(torch::allclose(o.feature_recon[s * 2 + r].first, f)) << "F_r, scale " << s << " step " << r;
      EXPECT_TRUE(torch::allclose(o.feature_recon[s * 2 + r].second, rec));
      const torch::Tensor sum = g->branches[r][s][0]->forward(f) + g->branches[r][s][1]->forward(f);
      a = g->merge[r][s]->forward(sum * g->guidance_conv[r][s]->forward(rec));
      if (r == 0) code1 = code;
      if (r == 1) {
        EXPECT_TRUE(torch::allclose(o.guided[s].first, code1));
        EXPECT_TRUE(torch::allclose(o.guided[s].second, code));
      }
    }
    namespace F = torch::nn::functional;
    auto up = [&](const torch::Tensor& t) {
      return F::interpolate(t, F::InterpolateFuncOptions().size(std::vector<int64_t>{kSize, kSize}).mode(torch::kBilinear).align_corners(false));
    };
    EXPECT_TRUE(torch::allclose(o.sides[s], up(g->head_f[s]->forward(fp[s]))));
    EXPECT_TRUE(torch::allclose(o.sides[2 + s], up(g->head_a[s]->forward(a))));
  }
}

TEST(GuidedNet, ConfigurationErrorsNameTheKey) {
  auto message = [](const std::function<void(ModelConfig&)>& edit) {
    ModelConfig m = tiny_guided();
    edit(m);
    try {
      SegmentationNet net(m, kClasses);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([](ModelConfig& m) { m.resnet_blocks = {1}; }).find("model.resnet_blocks"), std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.nested = true; }).find("turn model.nested off"), std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.attention = "se"; }).find("model.attention"), std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.backbone = "vgg"; }).find("allowed unet | resnet"), std::string::npos);
  SegmentationNet net(tiny_guided(), kClasses);
  try {
    net->forward(torch::randn({1, 1, 24, 24}));
    FAIL() << "24 x 24 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("multiples of 16"), std::string::npos) << e.what();
  }
}

// `ablate params` (summarize_model): the components in display order and the 2S + 1 outputs.
TEST(GuidedNet, Summary) {
  VariantConfig v;
  v.model = tiny_guided();
  v.data.image_size = kSize;
  v.data.label_groups = {{1}, {2}};
  const trainer::ModelSummary s = trainer::summarize_model(v, 1);
  std::vector<std::string> names, outputs;
  for (const auto& c : s.components) names.push_back(c.component);
  for (const auto& o : s.outputs) outputs.push_back(o.first);
  EXPECT_EQ(names, (std::vector<std::string>{"backbone", "pam", "cam", "multiscale", "refinement", "guidance"}));
  EXPECT_EQ(outputs, (std::vector<std::string>{"main", "side1", "side2", "side3", "side4"}));
  EXPECT_EQ(s.inference_parameters, s.trainable_parameters);
}
