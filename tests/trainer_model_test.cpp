// The configurable network family (trainer/nn): every toggle combination of 001 Table II, the fusion
// modes of Table III, the Table V / Table I baselines and the components of 000 and 004 alone and
// combined give the documented output shapes and finite gradients to every parameter; the parameter
// accounting matches formulas computed here independently; DSPA's K changes its attention shapes; the
// full model learns a fixed synthetic batch.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <memory>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "trainer/losses.hpp"
#include "trainer/nn/network.hpp"
#include "trainer/trainer.hpp"

using namespace ablate;
using ablate::trainer::NetOutput;
using ablate::trainer::SegmentationNet;

namespace {

// Tiny models on two cores: one intra-op thread keeps the many small convolutions cheap.
const bool kSingleThread = [] {
  torch::set_num_threads(1);
  return true;
}();

constexpr int64_t kSize = 32;
constexpr int64_t kBatch = 2;

ModelConfig tiny() {
  ModelConfig m;
  m.widths = {4, 8, 16, 32, 64};
  return m;
}

// --- independent parameter formulas ------------------------------------------------------------------
int64_t conv(int64_t in, int64_t out, int64_t kh, int64_t kw, bool bias) { return in * out * kh * kw + (bias ? out : 0); }
int64_t bn(int64_t c) { return 2 * c; }
int64_t double_conv(int64_t in, int64_t out, bool bias) {
  return conv(in, out, 3, 3, bias) + bn(out) + conv(out, out, 3, 3, bias) + bn(out);
}

// The plain U-Net (READINGS, Common): encoder stages, ConvT 2x2 (with bias) up, decoder stages on
// concat(up, skip), conv1x1 head with bias.
int64_t plain_unet(const std::vector<int>& w, int64_t in, int64_t out, bool bias) {
  int64_t n = 0;
  for (size_t l = 0; l < w.size(); ++l) n += double_conv(l == 0 ? in : w[l - 1], w[l], bias);
  for (size_t l = 0; l + 1 < w.size(); ++l) n += w[l + 1] * w[l] * 4 + w[l] + double_conv(2 * w[l], w[l], bias);
  return n + w[0] * out + out;
}

int64_t total_parameters(SegmentationNet& net) {
  int64_t n = 0;
  for (const auto& p : net->parameters()) n += p.numel();
  return n;
}

int64_t sum_components(const std::map<std::string, int64_t>& c) {
  int64_t n = 0;
  for (const auto& [k, v] : c) n += v;
  return n;
}

torch::Tensor fixed_target(int64_t batch, int64_t size) {
  // A disc per image: foreground = 1.
  auto idx = torch::arange(size, torch::kFloat);
  auto yy = idx.view({size, 1}), xx = idx.view({1, size});
  auto disc = ((yy - size / 2.0).pow(2) + (xx - size / 2.5).pow(2)).lt(std::pow(size / 4.0, 2)).to(torch::kLong);
  return disc.unsqueeze(0).repeat({batch, 1, 1});
}

// Forward shapes, backward finite gradients to every parameter, and parameter accounting.
void check_model(const ModelConfig& m, int out_channels = 1,
                 trainer::nn::SideOutputTaps taps = trainer::nn::SideOutputTaps::kBridge, int expected_sides = -1) {
  torch::manual_seed(7);
  SegmentationNet net(m, out_channels, taps);
  net->train();
  torch::Tensor x = torch::randn({kBatch, m.in_channels, kSize, kSize});
  torch::Tensor y = out_channels == 1 ? fixed_target(kBatch, kSize) : torch::randint(0, out_channels, {kBatch, kSize, kSize}, torch::kLong);
  NetOutput o = net->forward(x);

  const std::vector<int64_t> seg = {kBatch, out_channels, kSize, kSize};
  EXPECT_EQ(o.main.sizes().vec(), seg);
  if (expected_sides < 0) expected_sides = m.dws ? 1 : 0;
  ASSERT_EQ(static_cast<int>(o.sides.size()), expected_sides);
  for (const auto& s : o.sides) EXPECT_EQ(s.sizes().vec(), seg);
  EXPECT_EQ(o.aux.defined(), m.aux_path);
  if (m.aux_path) {
    EXPECT_EQ(o.aux.sizes().vec(), seg);
  }
  EXPECT_EQ(o.recon.defined(), m.restoration);
  if (m.restoration) {
    EXPECT_EQ(o.recon.sizes().vec(), (std::vector<int64_t>{kBatch, m.in_channels, kSize, kSize}));
    EXPECT_GE(o.recon.min().item<float>(), 0.0f);
    EXPECT_LE(o.recon.max().item<float>(), 1.0f);
  }

  LossConfig lc;
  lc.name = out_channels == 1 ? "hybrid" : "ce_dice";
  trainer::LossTerms t = trainer::compute_loss(o, y, x, lc);
  ASSERT_TRUE(std::isfinite(t.total.item<double>()));
  t.total.backward();
  for (const auto& p : net->named_parameters()) {
    const auto& g = p.value().grad();
    ASSERT_TRUE(g.defined()) << "no gradient reaches " << p.key();
    EXPECT_TRUE(torch::isfinite(g).all().item<bool>()) << "non-finite gradient in " << p.key();
    EXPECT_GT(g.abs().sum().item<double>(), 0.0) << "zero gradient in " << p.key();
  }

  const auto comps = net->component_parameters();
  EXPECT_EQ(sum_components(comps), total_parameters(net));
  int64_t plain = plain_unet(m.widths, m.in_channels, out_channels, m.conv_bias);
  if (m.up == "bilinear")  // conv1x1 instead of ConvT 2x2: 3 fewer taps per weight
    for (size_t l = 0; l + 1 < m.widths.size(); ++l) plain -= 3 * m.widths[l + 1] * m.widths[l];
  EXPECT_EQ(comps.at("backbone"), plain);
}

std::string combo_name(int bits) {
  static const char* names[] = {"cc", "sc", "mus", "ec", "dws"};
  std::string s;
  for (int i = 0; i < 5; ++i)
    if (bits & (1 << i)) s += std::string(s.empty() ? "" : "_") + names[i];
  return s.empty() ? "unet" : s;
}

ModelConfig combo(int bits) {
  ModelConfig m = tiny();
  m.cc = bits & 1;
  m.sc = bits & 2;
  m.mus = bits & 4;
  m.ec = bits & 8;
  m.dws = bits & 16;
  return m;
}

}  // namespace

// All 32 combinations of CC/SC/MuS/EC/DWS (001 Table II rows are a subset).
class TableIICombination : public ::testing::TestWithParam<int> {};
TEST_P(TableIICombination, ShapesGradientsAndAccounting) { check_model(combo(GetParam())); }
INSTANTIATE_TEST_SUITE_P(AllToggles, TableIICombination, ::testing::Range(0, 32),
                         [](const ::testing::TestParamInfo<int>& i) { return combo_name(i.param); });

// The other configurations: Table III fusion modes, Table V / Table I baselines, 000 and 004 components
// alone and combined, and the options.
struct Case {
  std::string name;
  std::function<void(ModelConfig&)> set;
  int out_channels = 1;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class ComponentCase : public ::testing::TestWithParam<Case> {};
TEST_P(ComponentCase, ShapesGradientsAndAccounting) {
  ModelConfig m = tiny();
  GetParam().set(m);
  check_model(m, GetParam().out_channels);
}

INSTANTIATE_TEST_SUITE_P(
    Components, ComponentCase,
    ::testing::Values(
        Case{"fusion_deep", [](ModelConfig& m) { m.cc = m.sc = m.mus = true; m.fusion = "deep"; }},
        Case{"fusion_add", [](ModelConfig& m) { m.cc = m.sc = m.mus = true; m.fusion = "add"; }},
        Case{"fusion_serial", [](ModelConfig& m) { m.cc = m.sc = m.mus = true; m.fusion = "serial"; }},
        Case{"se", [](ModelConfig& m) { m.attention = "se"; }},
        Case{"cbam", [](ModelConfig& m) { m.attention = "cbam"; }},
        Case{"se_mus_deep", [](ModelConfig& m) { m.attention = "se"; m.mus = true; }},
        Case{"cbam_mus_serial", [](ModelConfig& m) { m.attention = "cbam"; m.mus = true; m.fusion = "serial"; }},
        Case{"attention_gates", [](ModelConfig& m) { m.attention_gates = true; }},
        Case{"aux_path", [](ModelConfig& m) { m.aux_path = true; }},
        Case{"dspa", [](ModelConfig& m) { m.dspa = true; }},
        Case{"ca", [](ModelConfig& m) { m.ca = true; }},
        Case{"msc", [](ModelConfig& m) { m.msc = "msc"; }},
        Case{"kcm", [](ModelConfig& m) { m.msc = "kcm"; }},
        Case{"cascade", [](ModelConfig& m) { m.msc = "cascade"; }},
        Case{"restoration", [](ModelConfig& m) { m.restoration = true; }},
        Case{"mda_unet_star", [](ModelConfig& m) { m.aux_path = m.dspa = m.ca = true; m.msc = "cascade"; }},
        Case{"dspa_ca_without_aux", [](ModelConfig& m) { m.dspa = m.ca = true; }},
        Case{"drs_unet", [](ModelConfig& m) { m.restoration = true; }},
        Case{"kcmdrs_unet", [](ModelConfig& m) { m.restoration = true; m.msc = "kcm"; }},
        Case{"dsmsc_unet", [](ModelConfig& m) { m.restoration = true; m.msc = "msc"; }},
        Case{"coa_mus_msc", [](ModelConfig& m) { m.cc = m.sc = m.mus = true; m.msc = "msc"; }},
        Case{"coa_mus_cascade_aux", [](ModelConfig& m) { m.cc = m.sc = m.mus = true; m.msc = "cascade"; m.aux_path = true; }},
        Case{"gates_with_aux_dspa", [](ModelConfig& m) { m.attention_gates = m.aux_path = m.dspa = true; }},
        Case{"everything",
             [](ModelConfig& m) {
               m.cc = m.sc = m.mus = m.ec = m.dws = true;
               m.attention_gates = m.aux_path = m.dspa = m.ca = m.restoration = true;
               m.msc = "msc";
             }},
        Case{"everything_multiclass",
             [](ModelConfig& m) {
               m.cc = m.sc = m.mus = m.ec = m.dws = true;
               m.aux_path = m.dspa = m.ca = m.restoration = true;
               m.msc = "cascade";
             },
             3},
        Case{"bilinear_up", [](ModelConfig& m) { m.up = "bilinear"; m.aux_path = true; }},
        Case{"conv_bias", [](ModelConfig& m) { m.conv_bias = true; m.cc = m.sc = m.mus = m.ec = true; }},
        Case{"ec_shallow", [](ModelConfig& m) { m.ec = true; m.ec_levels = "shallow"; }},
        Case{"ec_relu_sum", [](ModelConfig& m) { m.ec = true; m.ec_merge = "relu_sum"; m.cc = m.sc = m.mus = m.dws = true; }},
        Case{"mus_options", [](ModelConfig& m) { m.mus = true; m.mus_branch_width = 16; m.mus_1x1_branch = true; m.mus_rates = {1, 2}; }},
        Case{"depth3_full", [](ModelConfig& m) { m.widths = {4, 8, 16}; m.cc = m.sc = m.mus = m.ec = m.dws = true; }},
        Case{"two_input_channels", [](ModelConfig& m) { m.in_channels = 2; m.restoration = true; m.dws = true; }}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

TEST(SegmentationNet, BilinearBackboneParameters) {
  // bilinear + conv1x1 (with bias) has the same count as ConvT 2x2 minus the 3 extra taps per weight.
  ModelConfig m = tiny();
  m.up = "bilinear";
  SegmentationNet net(m, 1);
  int64_t expected = plain_unet(m.widths, 1, 1, false);
  for (size_t l = 0; l + 1 < m.widths.size(); ++l) expected -= 3 * m.widths[l + 1] * m.widths[l];
  EXPECT_EQ(total_parameters(net), expected);
}

TEST(SegmentationNet, DwsDecoderTaps) {
  ModelConfig m = tiny();
  m.dws = true;
  check_model(m, 1, trainer::nn::SideOutputTaps::kDecoder, 3);  // decoder stages at 1/8, 1/4, 1/2
  SegmentationNet net(m, 1, trainer::nn::SideOutputTaps::kDecoder);
  int64_t dws = 0;
  for (int l = 1; l <= 3; ++l) dws += m.widths[l] * 1 * (1 << l) * (1 << l) + 1;  // ConvT(C_l -> 1, 2^l, 2^l)
  EXPECT_EQ(net->component_parameters().at("dws"), dws);
}

// model.dws_taps selects the reading through the configuration (the study key), not only the constructor.
TEST(SegmentationNet, DwsTapsKeySelectsTheReading) {
  ModelConfig m = tiny();
  m.dws = true;
  torch::Tensor x = torch::randn({1, 1, kSize, kSize});
  EXPECT_EQ(SegmentationNet(m, 1)->forward(x).sides.size(), 1u);  // default: bridge
  m.dws_taps = "decoder";
  SegmentationNet decoder(m, 1);
  const NetOutput o = decoder->forward(x);
  ASSERT_EQ(o.sides.size(), 3u);  // decoder stages at 1/8, 1/4, 1/2
  for (const auto& s : o.sides) EXPECT_EQ(s.sizes().vec(), (std::vector<int64_t>{1, 1, kSize, kSize}));
  m.dws_taps = "everywhere";
  try {
    SegmentationNet bad(m, 1);
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("model.dws_taps = \"everywhere\": allowed bridge | decoder"), std::string::npos) << e.what();
  }
}

// CoA (001 eq. 4) by hand: F = [1, 0] (one channel, two positions), F_C = [2, 4].
// EᵀE = [[1, 0], [0, 0]] -> S = [[e/(e+1), 1/(e+1)], [1/2, 1/2]];
// F_A_i = Σ_j S_ij F_C,j + F_i = (2e/(e+1) + 4/(e+1) + 1, 3 + 0). Swapping F and F_C gives other values.
TEST(SegmentationNet, CollaborativeAttentionIsEquation4ByHand) {
  torch::Tensor f = torch::tensor({1.0, 0.0}, torch::kDouble).view({1, 1, 1, 2});
  torch::Tensor fc = torch::tensor({2.0, 4.0}, torch::kDouble).view({1, 1, 1, 2});
  const double e = std::exp(1.0);
  torch::Tensor fa = trainer::nn::collaborative_attention(f, fc);
  EXPECT_NEAR(fa[0][0][0][0].item<double>(), (2 * e + 4) / (e + 1) + 1, 1e-9);
  EXPECT_NEAR(fa[0][0][0][1].item<double>(), 3.0, 1e-9);
  EXPECT_FALSE(torch::allclose(trainer::nn::collaborative_attention(fc, f), fa));
}

// Each component adds exactly the parameters it owns, computed by formula (bias-free convs before BN).
TEST(SegmentationNet, ComponentParametersByFormula) {
  const std::vector<int> w = {4, 8, 16, 32, 64};
  const int64_t c = 64;  // bridge width
  const int64_t plain = plain_unet(w, 1, 1, false);
  auto build = [&](const std::function<void(ModelConfig&)>& set) {
    ModelConfig m = tiny();
    set(m);
    SegmentationNet net(m, 1);
    auto comps = net->component_parameters();
    EXPECT_EQ(sum_components(comps), total_parameters(net));
    EXPECT_EQ(comps.at("backbone"), plain);
    return comps;
  };
  // CC: conv1d k3 + BN, conv1d k7 + BN, ConvT1d k2 with bias; independent of C.
  EXPECT_EQ(build([](ModelConfig& m) { m.cc = true; }).at("cc"), 3 + 2 + 7 + 2 + 2 + 1);
  EXPECT_EQ(build([](ModelConfig& m) { m.sc = true; }).at("sc"), 0);
  EXPECT_EQ(build([](ModelConfig& m) { m.ca = true; }).at("ca"), 0);
  EXPECT_EQ(build([](ModelConfig& m) { m.attention = "se"; }).at("se"), 2 * c * (c / 16));
  EXPECT_EQ(build([](ModelConfig& m) { m.attention = "cbam"; }).at("cbam"),
            (c * (c / 16) + c / 16) + (c / 16 * c + c) + 2 * 49 + 2);
  // MuS: three dilated 3x3 + BN, image pooling 1x1 + BN, projection 4C -> C + BN.
  const int64_t mus = 3 * (conv(c, c, 3, 3, false) + bn(c)) + conv(c, c, 1, 1, false) + bn(c) + conv(4 * c, c, 1, 1, false) + bn(c);
  EXPECT_EQ(build([](ModelConfig& m) { m.mus = true; }).at("mus"), mus);
  auto coag = build([](ModelConfig& m) { m.cc = m.sc = m.mus = true; });
  EXPECT_EQ(coag.at("fusion"), conv(2 * c, c, 1, 1, false) + bn(c));
  EXPECT_EQ(coag.at("mus"), mus);
  EXPECT_EQ(build([](ModelConfig& m) { m.cc = m.sc = m.mus = true; m.fusion = "add"; }).at("fusion"), 0);
  // EC: per conv unit a 1x3 and a 3x1 branch with their BNs.
  int64_t ec = 0;
  for (size_t l = 0; l < w.size(); ++l) {
    const int64_t in = l == 0 ? 1 : w[l - 1];
    ec += 2 * (3 * in * w[l] + 2 * w[l]) + 2 * (3 * w[l] * w[l] + 2 * w[l]);
  }
  EXPECT_EQ(build([](ModelConfig& m) { m.ec = true; }).at("ec"), ec);
  // DWS (bridge taps, 16x): ConvT(64->16, 2) + BN, ConvT(16->4, 2) + BN, ConvT(4->1, 4).
  EXPECT_EQ(build([](ModelConfig& m) { m.dws = true; }).at("dws"),
            (64 * 16 * 4 + 16) + bn(16) + (16 * 4 * 4 + 4) + bn(4) + (4 * 1 * 16 + 1));
  // Attention gates: W_g, W_x (C -> C/2) + BN, psi (C/2 -> 1) + BN, per skip.
  int64_t gates = 0;
  for (size_t l = 0; l + 1 < w.size(); ++l) gates += 2 * (w[l] * (w[l] / 2) + bn(w[l] / 2)) + w[l] / 2 + bn(1);
  EXPECT_EQ(build([](ModelConfig& m) { m.attention_gates = true; }).at("attention_gates"), gates);
  // DSPA: conv3x3 dilation 2 (C_l -> K) without bias (a per-map constant cannot change a softmax over
  // positions), per skip.
  int64_t dspa = 0;
  for (size_t l = 0; l + 1 < w.size(); ++l) dspa += conv(w[l], 10, 3, 3, false);
  EXPECT_EQ(build([](ModelConfig& m) { m.dspa = true; }).at("dspa"), dspa);
  // MSC / KCM / cascade (all convs with bias).
  int64_t msc = 0, kcm = 0, cascade = 0;
  for (size_t l = 0; l + 1 < w.size(); ++l) {
    const int64_t k = w[l];
    msc += conv(k, k, 1, 1, true) + conv(k, k, 3, 3, true) + conv(k, k, 5, 5, true) + conv(3 * k, k, 1, 1, true);
    kcm += 3 * conv(k, k, 3, 3, true) + conv(3 * k, k, 1, 1, true);
    cascade += conv(k, k, 5, 5, true) + conv(k, k, 3, 3, true) + conv(k, k, 1, 1, true) + conv(4 * k, k, 1, 1, true);
  }
  EXPECT_EQ(build([](ModelConfig& m) { m.msc = "msc"; }).at("msc"), msc);
  EXPECT_EQ(build([](ModelConfig& m) { m.msc = "kcm"; }).at("msc"), kcm);
  EXPECT_EQ(build([](ModelConfig& m) { m.msc = "cascade"; }).at("msc"), cascade);
  // Aux path: ConvT + DoubleConv(2C -> C) per level, the head, and the C_l extra input channels of the
  // original decoder's first conv3x3.
  int64_t aux = w[0] * 1 + 1;
  for (size_t l = 0; l + 1 < w.size(); ++l)
    aux += w[l + 1] * w[l] * 4 + w[l] + double_conv(2 * w[l], w[l], false) + w[l] * w[l] * 9;
  EXPECT_EQ(build([](ModelConfig& m) { m.aux_path = true; }).at("aux_path"), aux);
  // Restoration: ConvT + DoubleConv(C -> C) per level, conv1x1 head with bias.
  int64_t rest = w[0] * 1 + 1;
  for (size_t l = 0; l + 1 < w.size(); ++l) rest += w[l + 1] * w[l] * 4 + w[l] + double_conv(w[l], w[l], false);
  EXPECT_EQ(build([](ModelConfig& m) { m.restoration = true; }).at("restoration"), rest);
  // Components are additive: the full combination is the backbone plus the sum of the parts.
  auto all = build([](ModelConfig& m) {
    m.cc = m.sc = m.mus = m.ec = m.dws = true;
    m.msc = "msc";
    m.restoration = true;
  });
  EXPECT_EQ(all.at("cc") + all.at("mus") + all.at("fusion") + all.at("ec") + all.at("dws") + all.at("msc") + all.at("restoration"),
            17 + mus + conv(2 * c, c, 1, 1, false) + bn(c) + ec + (64 * 16 * 4 + 16) + bn(16) + (16 * 4 * 4 + 4) + bn(4) + (4 * 16 + 1) + msc + rest);
}

TEST(SegmentationNet, PlainUnetAtPaperWidths) {
  // widths 64..1024 with every toggle off: the classic U-Net count (bias-free convs before BN).
  ModelConfig m;
  SegmentationNet net(m, 1);
  EXPECT_EQ(total_parameters(net), plain_unet(m.widths, 1, 1, false));
  EXPECT_EQ(total_parameters(net), 31036481);
}

TEST(SegmentationNet, DspaKChangesAttentionShapes) {
  for (int64_t k : {1, 5, 10, 20}) {
    trainer::nn::DenseSpatialPositionAttention dspa(8, k);
    torch::Tensor m = torch::randn({2, 8, 6, 4});
    auto [d, a] = dspa->dense_features_and_attention(m);
    EXPECT_EQ(d.sizes().vec(), (std::vector<int64_t>{2, 8, k}));   // D: C x K
    EXPECT_EQ(a.sizes().vec(), (std::vector<int64_t>{2, 24, k}));  // A: N x K
    EXPECT_TRUE(torch::allclose(a.sum(-1), torch::ones({2, 24}), 1e-5, 1e-5));
    EXPECT_EQ(dspa->forward(m).sizes(), m.sizes());
    int64_t params = 0;
    for (const auto& p : dspa->parameters()) params += p.numel();
    EXPECT_EQ(params, 8 * k * 9);  // no bias
  }
  ModelConfig m = tiny();
  m.dspa = true;
  m.dspa_k = 5;
  SegmentationNet net(m, 1);
  ASSERT_EQ(net->dspa_modules().size(), 4u);
  auto [d, a] = net->dspa_modules()[0]->dense_features_and_attention(torch::randn({1, 32, 4, 4}));
  EXPECT_EQ(a.size(2), 5);
}

TEST(SegmentationNet, SpatialCorrelationIsRowStochasticHwByHw) {
  torch::Tensor f = torch::randn({2, 3, 4, 5});
  torch::Tensor s = trainer::nn::spatial_correlation_map(f);
  EXPECT_EQ(s.sizes().vec(), (std::vector<int64_t>{2, 20, 20}));
  EXPECT_TRUE(torch::allclose(s.sum(-1), torch::ones({2, 20}), 1e-5, 1e-5));
  // apply: position i becomes Σ_j S_ij G_j (checked against a per-sample reference).
  torch::Tensor g = torch::randn({2, 3, 4, 5});
  torch::Tensor out = trainer::nn::apply_spatial_map(s, g);
  torch::Tensor ref = torch::matmul(g[1].reshape({3, 20}), s[1].t()).view({3, 4, 5});
  EXPECT_TRUE(torch::allclose(out[1], ref, 1e-5, 1e-5));
}

TEST(SegmentationNet, ChannelSelfAttentionMatchesEquation13) {
  torch::Tensor m = torch::randn({1, 3, 2, 2}) * 0.5;
  torch::Tensor flat = m.reshape({3, 4});
  torch::Tensor a = torch::softmax(torch::matmul(flat, flat.t()), -1);
  torch::Tensor ref = (torch::matmul(a, flat) + flat).view({1, 3, 2, 2});
  EXPECT_TRUE(torch::allclose(trainer::nn::channel_self_attention(m), ref, 1e-5, 1e-5));
}

TEST(SegmentationNet, CascadeIsEquation14) {
  trainer::nn::MultiScaleConv cascade(3, "cascade");
  torch::Tensor x = torch::randn({1, 3, 8, 8});
  auto children = cascade->named_children();
  auto c = [&](const std::string& n) { return children[n]->as<torch::nn::Conv2dImpl>(); };
  torch::Tensor x1 = c("b1")->forward(x), x2 = c("b2")->forward(x + x1), x3 = c("b3")->forward(x + x2);
  EXPECT_TRUE(torch::allclose(cascade->forward(x), c("fuse")->forward(torch::cat({x, x1, x2, x3}, 1)), 1e-5, 1e-5));
  EXPECT_EQ(c("b1")->options.kernel_size()->at(0), 5);
  EXPECT_EQ(c("b2")->options.kernel_size()->at(0), 3);
  EXPECT_EQ(c("b3")->options.kernel_size()->at(0), 1);
}

// --- values, not only shapes: every component against its equation, computed here by hand -------------
namespace {

namespace F = torch::nn::functional;
using trainer::nn::SideOutputTaps;

// Eval mode with non-trivial BN statistics and affine parameters, so that a BN left out of (or added
// to) a formula shows in the values; double precision for tight comparisons.
void prepare(torch::nn::Module& module) {
  module.to(torch::kDouble);
  torch::NoGradGuard ng;
  auto randomize = [](auto* bn) {
    bn->running_mean.normal_(0, 0.5);
    bn->running_var.uniform_(0.5, 2.0);
    bn->weight.uniform_(0.5, 1.5);
    bn->bias.normal_(0, 0.3);
  };
  for (const auto& m : module.modules()) {
    if (auto* b2 = m->as<torch::nn::BatchNorm2dImpl>()) randomize(b2);
    if (auto* b1 = m->as<torch::nn::BatchNorm1dImpl>()) randomize(b1);
  }
  module.eval();
}

// BN in eval mode by hand: (x - mean) / sqrt(var + eps) · weight + bias over dimension 1.
template <class BN>
torch::Tensor bn_by_hand(const torch::Tensor& x, const BN& bn) {
  std::vector<int64_t> s(x.dim(), 1);
  s[1] = -1;
  return (x - bn.running_mean.view(s)) / torch::sqrt(bn.running_var.view(s) + bn.options.eps()) * bn.weight.view(s) +
         bn.bias.view(s);
}

template <class T>
std::shared_ptr<T> child(const torch::nn::Module& m, const std::string& name) {
  auto c = m.named_children()[name];
  EXPECT_TRUE(c) << "no submodule " << name;
  return std::dynamic_pointer_cast<T>(c);
}

// Element i of a Sequential or ModuleList as its module type.
template <class T, class Container>
std::shared_ptr<T> element(const Container& c, size_t i) {
  auto m = std::dynamic_pointer_cast<T>(c->ptr(i));
  EXPECT_TRUE(m) << "element " << i << " has another type";
  return m;
}

torch::Tensor randn_d(std::vector<int64_t> shape) { return torch::randn(shape, torch::kDouble); }

void expect_close(const torch::Tensor& got, const torch::Tensor& want, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  EXPECT_TRUE(torch::allclose(got, want, 1e-9, 1e-9)) << what << ": max |diff| " << (got - want).abs().max().item<double>();
}

// SC by hand, per image: E = reshape(F) ∈ C x HW, S_ij = softmax_j(E_iᵀ E_j) (001 eqs. 8-9); returns
// reshape(G · Sᵀ), i.e. position i becomes Σ_j S_ij G_j.
torch::Tensor sc_by_hand(const torch::Tensor& f, const torch::Tensor& g) {
  std::vector<torch::Tensor> out;
  for (int64_t n = 0; n < f.size(0); ++n) {
    torch::Tensor e = f[n].reshape({f.size(1), -1});
    torch::Tensor s = torch::softmax(torch::matmul(e.t(), e), 1);
    out.push_back(torch::matmul(g[n].reshape({g.size(1), -1}), s.t()).view_as(g[n]));
  }
  return torch::stack(out);
}

}  // namespace

// Table III and the bridge of Table II, against the equations: for every attention (CoA, CC alone, SC
// alone, SE, CBAM), F_A is what 001 eq. 4 (or the baseline) says, and the fusion is add = F_A + F_S,
// serial = MuS(F_A), deep = ReLU(BN(conv1x1(concat(F_A, F_S)))) (eq. 10); crossed with EC in the encoder
// and the DWS side output, which taps the fused bridge B. Swapping two modes would fail: the other modes'
// values are checked to differ.
TEST(BridgeWiring, FusionModesAreTheirEquations) {
  struct Attention {
    std::string name;
    std::function<void(ModelConfig&)> set;
  };
  const std::vector<Attention> attentions = {
      {"coa", [](ModelConfig& m) { m.cc = m.sc = true; }},
      {"cc", [](ModelConfig& m) { m.cc = true; }},
      {"sc", [](ModelConfig& m) { m.sc = true; }},
      {"se", [](ModelConfig& m) { m.attention = "se"; }},
      {"cbam", [](ModelConfig& m) { m.attention = "cbam"; }},
  };
  for (const auto& att : attentions) {
    for (const std::string fusion : {"add", "serial", "deep"}) {
      for (const std::string extra : {"", "ec", "dws"}) {
        const std::string what = att.name + " " + fusion + (extra.empty() ? "" : " + " + extra);
        torch::manual_seed(11);
        ModelConfig m = tiny();
        att.set(m);
        m.mus = true;
        m.fusion = fusion;
        m.ec = extra == "ec";
        m.dws = extra == "dws";
        SegmentationNet net(m, 1);
        prepare(*net);
        torch::NoGradGuard ng;
        const torch::Tensor f = randn_d({2, 64, 4, 4});

        torch::Tensor fa;  // F_A from the components and the equations
        if (att.name == "coa") fa = sc_by_hand(f, net->cc_module()->forward(f)) + f;  // S from F, applied to F_C
        if (att.name == "cc") fa = net->cc_module()->forward(f) + f;
        if (att.name == "sc") fa = sc_by_hand(f, f) + f;
        if (att.name == "se") fa = net->se_module()->forward(f);
        if (att.name == "cbam") fa = net->cbam_module()->forward(f);
        expect_close(net->bridge_attention(f), fa, what + ": F_A");

        const torch::Tensor fs = net->mus_module()->forward(f);
        const torch::Tensor add = fa + fs, serial = net->mus_module()->forward(fa);
        torch::Tensor deep;
        if (fusion == "deep") {
          auto fuse = net->fusion_module();
          ASSERT_FALSE(fuse.is_empty()) << what;
          auto conv = element<torch::nn::Conv2dImpl>(fuse, 0);
          EXPECT_EQ(conv->weight.sizes().vec(), (std::vector<int64_t>{64, 128, 1, 1})) << what;
          deep = torch::relu(bn_by_hand(torch::conv2d(torch::cat({fa, fs}, 1), conv->weight), *element<torch::nn::BatchNorm2dImpl>(fuse, 1)));
        } else {
          EXPECT_TRUE(net->fusion_module().is_empty()) << what << ": add and serial own no fusion layer";
        }
        const torch::Tensor b = net->bridge(f);
        const torch::Tensor& want = fusion == "add" ? add : fusion == "serial" ? serial : deep;
        expect_close(b, want, what + ": B");
        if (fusion != "add") {
          EXPECT_FALSE(torch::allclose(b, add)) << what;
        }
        if (fusion != "serial") {
          EXPECT_FALSE(torch::allclose(b, serial)) << what;
        }

        if (m.dws) {  // the side output taps B, as the network's forward pass wires it
          const torch::Tensor x = randn_d({1, 1, kSize, kSize});
          const torch::Tensor side = net->forward(x).sides.at(0);
          const torch::Tensor bx = net->bridge(net->encode(x).back());
          expect_close(side, net->side_output_modules().at(0)->forward(bx), what + ": DWS side output from B");
          EXPECT_FALSE(torch::allclose(side, net->side_output_modules().at(0)->forward(net->encode(x).back()))) << what;
        }
      }
    }
  }
  // Without attention the bridge is MuS(F); without both it is F itself.
  ModelConfig m = tiny();
  m.mus = true;
  SegmentationNet mus_only(m, 1);
  prepare(*mus_only);
  torch::NoGradGuard ng;
  const torch::Tensor f = randn_d({1, 64, 4, 4});
  EXPECT_FALSE(mus_only->bridge_attention(f).defined());
  expect_close(mus_only->bridge(f), mus_only->mus_module()->forward(f), "MuS alone");
  SegmentationNet plain(tiny(), 1);
  plain->to(torch::kDouble);
  expect_close(plain->bridge(f), f, "plain U-Net bridge");
}

// CC (001 eqs. 5-7, Fig. 3(b)) by hand at an odd width (C = 7): θ = GAP(F); conv1d k3 s1 p1 + BN + ReLU;
// conv1d k7 s2 p3 + BN + ReLU (length 4 = ceil(7/2)); ConvTranspose1d k2 s2 (length 8) cropped to 7;
// sigmoid. F_C = Θ · F per channel.
TEST(ComponentValues, ChannelCorrelationByHand) {
  torch::manual_seed(5);
  trainer::nn::ChannelCorrelationAttention cc(false);
  prepare(*cc);
  torch::NoGradGuard ng;
  const torch::Tensor f = randn_d({2, 7, 3, 5});
  auto conv1 = child<torch::nn::Conv1dImpl>(*cc, "conv1"), conv2 = child<torch::nn::Conv1dImpl>(*cc, "conv2");
  auto bn1 = child<torch::nn::BatchNorm1dImpl>(*cc, "bn1"), bn2 = child<torch::nn::BatchNorm1dImpl>(*cc, "bn2");
  auto deconv = child<torch::nn::ConvTranspose1dImpl>(*cc, "deconv");
  torch::Tensor t = f.mean({2, 3}).view({2, 1, 7});
  t = torch::relu(bn_by_hand(torch::conv1d(t, conv1->weight, {}, 1, 1), *bn1));
  t = torch::relu(bn_by_hand(torch::conv1d(t, conv2->weight, {}, 2, 3), *bn2));
  ASSERT_EQ(t.size(2), 4);
  t = torch::conv_transpose1d(t, deconv->weight, deconv->bias, 2);
  ASSERT_EQ(t.size(2), 8);
  const torch::Tensor theta = torch::sigmoid(t.narrow(2, 0, 7)).view({2, 7, 1, 1});
  expect_close(cc->weights(f), theta, "Θ");
  expect_close(cc->forward(f), f * theta, "F_C");
  EXPECT_TRUE((theta > 0).all().item<bool>() && (theta < 1).all().item<bool>());
  EXPECT_EQ(conv1->weight.sizes().vec(), (std::vector<int64_t>{1, 1, 3}));
  EXPECT_EQ(conv2->weight.sizes().vec(), (std::vector<int64_t>{1, 1, 7}));
}

// EC (001 Fig. 2(a)) by hand for both readings of model.ec_merge: sum = ReLU(BN(3x3) + BN(1x3) + BN(3x1)),
// relu_sum = ReLU(BN(3x3)) + ReLU(BN(1x3)) + ReLU(BN(3x1)); the two differ, own the same parameters, and
// the key reaches the network's encoder.
TEST(ComponentValues, EnhancedConvolutionBothMerges) {
  const torch::Tensor x = randn_d({2, 3, 6, 5});
  std::map<std::string, torch::Tensor> outs;
  for (const std::string merge : {"sum", "relu_sum"}) {
    torch::manual_seed(9);
    trainer::nn::ConvUnit unit(trainer::nn::ConvUnitOptions(3, 4).enhanced(true).ec_merge(merge));
    prepare(*unit);
    torch::NoGradGuard ng;
    auto branch = [&](const std::string& conv, const std::string& bn, std::vector<int64_t> pad) {
      auto c = child<torch::nn::Conv2dImpl>(*unit, conv);
      return bn_by_hand(torch::conv2d(x, c->weight, {}, 1, pad), *child<torch::nn::BatchNorm2dImpl>(*unit, bn));
    };
    const torch::Tensor y33 = branch("conv", "bn", {1, 1}), y13 = branch("ec_conv_1x3", "ec_bn_1x3", {0, 1}),
                        y31 = branch("ec_conv_3x1", "ec_bn_3x1", {1, 0});
    EXPECT_EQ(child<torch::nn::Conv2dImpl>(*unit, "ec_conv_1x3")->weight.sizes().vec(), (std::vector<int64_t>{4, 3, 1, 3}));
    EXPECT_EQ(child<torch::nn::Conv2dImpl>(*unit, "ec_conv_3x1")->weight.sizes().vec(), (std::vector<int64_t>{4, 3, 3, 1}));
    const torch::Tensor want = merge == "sum" ? torch::relu(y33 + y13 + y31)
                                              : torch::relu(y33) + torch::relu(y13) + torch::relu(y31);
    outs[merge] = unit->forward(x);
    expect_close(outs[merge], want, "EC " + merge);
  }
  EXPECT_FALSE(torch::allclose(outs["sum"], outs["relu_sum"]));

  ModelConfig m = tiny();
  m.ec = true;
  torch::manual_seed(2);
  SegmentationNet sum(m, 1);
  m.ec_merge = "relu_sum";
  torch::manual_seed(2);
  SegmentationNet relu_sum(m, 1);
  EXPECT_EQ(total_parameters(sum), total_parameters(relu_sum));
  EXPECT_EQ(sum->component_parameters().at("ec"), relu_sum->component_parameters().at("ec"));
  sum->eval();
  relu_sum->eval();
  torch::NoGradGuard ng;
  const torch::Tensor xi = torch::randn({1, 1, kSize, kSize});
  EXPECT_FALSE(torch::allclose(sum->encode(xi)[0], relu_sum->encode(xi)[0])) << "model.ec_merge does not reach the encoder";
}

// MuS (001 Fig. 2(c)): the image-pooling branch is ReLU(BN(conv1x1(GAP(x)))) broadcast over H x W; the
// output is ReLU(BN(conv1x1(concat(branches)))); a dilation-r branch on a map larger than r reads the
// input r pixels away (impulse response), and on a map no larger than r it is exactly a 1x1 convolution
// with its centre tap (the degeneration docs/MODELS.md describes for 6/12/18 at a 4x4 or 16x16 bridge).
TEST(ComponentValues, AtrousPyramidByHand) {
  torch::manual_seed(4);
  trainer::nn::AtrousPyramid mus(trainer::nn::AtrousPyramidOptions(3, {2, 5}));
  prepare(*mus);
  torch::NoGradGuard ng;
  const torch::Tensor x = randn_d({2, 3, 12, 12});
  auto branches = child<torch::nn::ModuleListImpl>(*mus, "branches");
  const auto outs = mus->branch_outputs(x);
  ASSERT_EQ(outs.size(), 3u);  // rates 2 and 5, image pooling
  // Image pooling, broadcast.
  auto pool_conv = child<torch::nn::Conv2dImpl>(*mus, "pool_conv");
  const torch::Tensor pooled =
      torch::relu(bn_by_hand(torch::conv2d(x.mean({2, 3}, true), pool_conv->weight), *child<torch::nn::BatchNorm2dImpl>(*mus, "pool_bn")));
  expect_close(outs[2], pooled.expand({-1, -1, 12, 12}), "image pooling");
  // Rate branches and the projection.
  const std::vector<int64_t> rates = {2, 5};
  for (size_t i = 0; i < rates.size(); ++i) {
    auto seq = element<torch::nn::SequentialImpl>(branches, i);
    auto conv = element<torch::nn::Conv2dImpl>(seq, 0);
    const int64_t r = rates[i];
    expect_close(outs[i], torch::relu(bn_by_hand(torch::conv2d(x, conv->weight, {}, 1, r, r), *element<torch::nn::BatchNorm2dImpl>(seq, 1))),
                 "rate " + std::to_string(r));
    // Impulse at (6, 6) of channel 0: output row 6 + r reads it through the kernel's top row (offset -r),
    // row 7 not at all.
    torch::Tensor impulse = torch::zeros({1, 3, 12, 12}, torch::kDouble);
    impulse[0][0][6][6] = 1.0;
    const torch::Tensor y = conv->forward(impulse);
    expect_close(y.index({0, torch::indexing::Slice(), 6 + r, 6}), conv->weight.index({torch::indexing::Slice(), 0, 0, 1}), "tap at distance r");
    EXPECT_EQ(y.index({0, torch::indexing::Slice(), 7, 6}).abs().sum().item<double>(), 0.0) << "rate " << r;
  }
  auto project = child<torch::nn::SequentialImpl>(*mus, "project");
  expect_close(mus->forward(x),
               torch::relu(bn_by_hand(torch::conv2d(torch::cat(outs, 1), element<torch::nn::Conv2dImpl>(project, 0)->weight),
                                      *element<torch::nn::BatchNorm2dImpl>(project, 1))),
               "projection");

  // Degeneration: the paper's rates on the 4 x 4 bridge of a 64 x 64 input at depth 5.
  trainer::nn::AtrousPyramid paper(trainer::nn::AtrousPyramidOptions(3, {6, 12, 18}));
  paper->to(torch::kDouble);
  auto pb = child<torch::nn::ModuleListImpl>(*paper, "branches");
  const torch::Tensor small = randn_d({1, 3, 4, 4}), large = randn_d({1, 3, 16, 16});
  for (size_t i = 0; i < 3; ++i) {
    auto conv = element<torch::nn::Conv2dImpl>(element<torch::nn::SequentialImpl>(pb, i), 0);
    const torch::Tensor centre = conv->weight.narrow(2, 1, 1).narrow(3, 1, 1);
    expect_close(conv->forward(small), torch::conv2d(small, centre), "rate on a 4x4 map = 1x1");
    // On a 16 x 16 map (the bridge at 256 x 256) rates 6 and 12 are real, 18 is a 1x1 again.
    EXPECT_EQ(torch::allclose(conv->forward(large), torch::conv2d(large, centre)), i == 2) << "rate index " << i;
  }
}

// SE (moskomule/senet.pytorch) by hand: x · sigmoid(W2 ReLU(W1 GAP(x))), bias-free.
TEST(ComponentValues, SqueezeExcitationByHand) {
  torch::manual_seed(6);
  trainer::nn::SqueezeExcitation se(32, 16);
  prepare(*se);
  torch::NoGradGuard ng;
  const torch::Tensor x = randn_d({2, 32, 3, 3});
  auto fc1 = child<torch::nn::LinearImpl>(*se, "fc1"), fc2 = child<torch::nn::LinearImpl>(*se, "fc2");
  EXPECT_FALSE(fc1->bias.defined());
  const torch::Tensor s = torch::sigmoid(torch::matmul(torch::relu(torch::matmul(x.mean({2, 3}), fc1->weight.t())), fc2->weight.t()));
  expect_close(se->forward(x), x * s.view({2, 32, 1, 1}), "SE");
}

// CBAM (Jongchan/attention-module) by hand: channel gate sigmoid(MLP(avg) + MLP(max)), then spatial gate
// sigmoid(BN(conv7x7([max_c, mean_c]))) on the channel-gated map.
TEST(ComponentValues, CbamByHand) {
  torch::manual_seed(8);
  trainer::nn::Cbam cbam(32, 16);
  prepare(*cbam);
  torch::NoGradGuard ng;
  const torch::Tensor x = randn_d({2, 32, 5, 4});
  auto fc1 = child<torch::nn::LinearImpl>(*cbam, "fc1"), fc2 = child<torch::nn::LinearImpl>(*cbam, "fc2");
  auto mlp = [&](const torch::Tensor& v) { return F::linear(torch::relu(F::linear(v, fc1->weight, fc1->bias)), fc2->weight, fc2->bias); };
  const torch::Tensor channel = torch::sigmoid(mlp(x.mean({2, 3})) + mlp(x.amax({2, 3}))).view({2, 32, 1, 1});
  const torch::Tensor y = x * channel;
  const torch::Tensor pooled = torch::cat({y.amax(1, true), y.mean(1, true)}, 1);
  auto spatial = child<torch::nn::Conv2dImpl>(*cbam, "spatial");
  const torch::Tensor gate = torch::sigmoid(bn_by_hand(torch::conv2d(pooled, spatial->weight, {}, 1, 3), *child<torch::nn::BatchNorm2dImpl>(*cbam, "spatial_bn")));
  expect_close(cbam->forward(x), y * gate, "CBAM");
  // [mean, max] in the other order gives other values.
  const torch::Tensor swapped = torch::cat({y.mean(1, true), y.amax(1, true)}, 1);
  EXPECT_FALSE(torch::allclose(cbam->forward(x), y * torch::sigmoid(bn_by_hand(torch::conv2d(swapped, spatial->weight, {}, 1, 3),
                                                                                 *child<torch::nn::BatchNorm2dImpl>(*cbam, "spatial_bn")))));
}

// Attention gate (LeeJunHyun/Image_Segmentation) by hand: x · sigmoid(BN(ψ(ReLU(BN(W_g g) + BN(W_x x))))).
TEST(ComponentValues, AttentionGateByHand) {
  torch::manual_seed(10);
  trainer::nn::AttentionGate gate(6, 8, false);
  prepare(*gate);
  torch::NoGradGuard ng;
  const torch::Tensor g = randn_d({2, 6, 4, 4}), x = randn_d({2, 8, 4, 4});
  auto conv = [&](const std::string& n, const torch::Tensor& t) { return torch::conv2d(t, child<torch::nn::Conv2dImpl>(*gate, n)->weight); };
  auto bn = [&](const std::string& n, const torch::Tensor& t) { return bn_by_hand(t, *child<torch::nn::BatchNorm2dImpl>(*gate, n)); };
  const torch::Tensor a = torch::relu(bn("bn_g", conv("w_g", g)) + bn("bn_x", conv("w_x", x)));
  EXPECT_EQ(a.size(1), 4);  // F_int = half the skip width
  expect_close(gate->forward(g, x), x * torch::sigmoid(bn("bn_psi", conv("psi", a))), "attention gate");
}

// DSPA (000 eqs. 9-11) by explicit matrix products per image: P = softmax_N(conv3x3 dil. 2 (M)) ∈ K x N,
// D = M Pᵀ ∈ C x K, A = softmax_K(Mᵀ D) ∈ N x K, O = D Aᵀ + M. The conv has no bias: a constant per map
// leaves the softmax over positions unchanged, so a bias could not act.
TEST(ComponentValues, DenseSpatialPositionAttentionByHand) {
  torch::manual_seed(12);
  const int64_t c = 6, k = 4;
  trainer::nn::DenseSpatialPositionAttention dspa(c, k);
  prepare(*dspa);
  torch::NoGradGuard ng;
  const torch::Tensor m = randn_d({2, c, 5, 4}) * 0.5;
  auto conv = child<torch::nn::Conv2dImpl>(*dspa, "dilated");
  EXPECT_FALSE(conv->bias.defined());
  const auto [d, a] = dspa->dense_features_and_attention(m);
  const torch::Tensor o = dspa->forward(m);
  const torch::Tensor logits = torch::conv2d(m, conv->weight, {}, 1, 2, 2);
  for (int64_t n = 0; n < 2; ++n) {
    const torch::Tensor mn = m[n].reshape({c, 20});
    const torch::Tensor p = torch::softmax(logits[n].reshape({k, 20}), 1);
    const torch::Tensor dn = torch::matmul(mn, p.t());
    const torch::Tensor an = torch::softmax(torch::matmul(mn.t(), dn), 1);
    expect_close(d[n], dn, "D");
    expect_close(a[n], an, "A");
    expect_close(o[n], (torch::matmul(dn, an.t()) + mn).view({c, 5, 4}), "O");
    // A per-map constant (what a bias would add) leaves P unchanged.
    expect_close(torch::softmax(logits[n].reshape({k, 20}) + torch::arange(k, torch::kDouble).view({k, 1}), 1), p, "bias invariance");
  }
}

// DSPA's parameters with the aux path: it sits on M_l = concat(up_a, s_l), 2 C_l channels, so it owns
// Σ_l 2 C_l · K · 9 (no bias); K from model.dspa_k.
TEST(ComponentValues, DspaParametersWithTheAuxPath) {
  for (int k : {1, 10}) {
    ModelConfig m = tiny();
    m.aux_path = m.dspa = true;
    m.dspa_k = k;
    SegmentationNet net(m, 1);
    int64_t dspa = 0;
    for (size_t l = 0; l + 1 < m.widths.size(); ++l) dspa += conv(2 * m.widths[l], k, 3, 3, false);
    EXPECT_EQ(net->component_parameters().at("dspa"), dspa) << "K = " << k;
    EXPECT_EQ(net->dspa_modules()[0]->dense_features_and_attention(torch::randn({1, 64, 4, 4})).first.sizes().vec(),
              (std::vector<int64_t>{1, 64, k}));
  }
}

// MSC and KCM (004) by hand: ReLU(fuse(concat(b1(x), b2(x), b3(x)))), kernels 1/3/5 (msc) and 3/3/3 (kcm).
TEST(ComponentValues, MultiScaleAndKcmByHand) {
  const torch::Tensor x = randn_d({2, 3, 8, 8});
  for (const auto& [kind, kernels] : std::vector<std::pair<std::string, std::vector<int64_t>>>{{"msc", {1, 3, 5}}, {"kcm", {3, 3, 3}}}) {
    torch::manual_seed(13);
    trainer::nn::MultiScaleConv msc(3, kind);
    prepare(*msc);
    torch::NoGradGuard ng;
    std::vector<torch::Tensor> branches;
    for (int i = 0; i < 3; ++i) {
      auto c = child<torch::nn::Conv2dImpl>(*msc, "b" + std::to_string(i + 1));
      EXPECT_EQ(c->weight.size(2), kernels[i]) << kind;
      branches.push_back(torch::conv2d(x, c->weight, c->bias, 1, kernels[i] / 2));
    }
    auto fuse = child<torch::nn::Conv2dImpl>(*msc, "fuse");
    expect_close(msc->forward(x), torch::relu(torch::conv2d(torch::cat(branches, 1), fuse->weight, fuse->bias)), kind);
  }
}

TEST(SegmentationNet, BadConfigurationsNameTheKey) {
  auto message = [](const std::function<void(ModelConfig&)>& set) {
    ModelConfig m = tiny();
    set(m);
    try {
      SegmentationNet net(m, 1);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([](ModelConfig& m) { m.fusion = "concat"; }).find("model.fusion"), std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.msc = "big"; }).find("none | msc | kcm | cascade"), std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.attention = "se"; m.cc = true; }).find("model.attention"), std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.widths = {8}; }).find("model.widths"), std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.dspa_k = 0; }).find("model.dspa_k"), std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.up = "nearest"; }).find("model.up"), std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.ec_levels = "deep"; }).find("model.ec_levels"), std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.ec = true; m.ec_merge = "concat"; }).find("model.ec_merge = \"concat\": allowed sum | relu_sum"),
            std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.mus_rates = {}; }).find("model.mus_rates"), std::string::npos);

  SegmentationNet net(tiny(), 1);
  try {
    net->forward(torch::zeros({1, 1, 24, 24}));
    FAIL() << "24 x 24 is not a multiple of 16";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("multiples of 16"), std::string::npos) << e.what();
  }
}

TEST(SegmentationNet, SummaryListsComponentsAndOutputs) {
  VariantConfig v;
  v.model = tiny();
  v.model.cc = v.model.sc = v.model.mus = v.model.dws = true;
  v.model.aux_path = v.model.restoration = true;
  v.data.image_size = 32;
  trainer::ModelSummary s = trainer::summarize_model(v, 2);
  int64_t sum = 0;
  std::vector<std::string> names;
  for (const auto& c : s.components) {
    sum += c.parameters;
    names.push_back(c.component);
  }
  EXPECT_EQ(sum, s.trainable_parameters);
  EXPECT_EQ(names, (std::vector<std::string>{"backbone", "cc", "sc", "mus", "fusion", "dws", "aux_path", "restoration"}));
  ASSERT_EQ(s.outputs.size(), 4u);
  EXPECT_EQ(s.outputs[0].first, "main");
  EXPECT_EQ(s.outputs[0].second, (std::vector<int64_t>{2, 1, 32, 32}));
  EXPECT_EQ(s.outputs[1].first, "side1");
  EXPECT_EQ(s.outputs[2].first, "aux");
  EXPECT_EQ(s.outputs[3].first, "recon");
  v.data.label_groups = {{1}, {2}};
  EXPECT_EQ(trainer::summarize_model(v, 1).outputs[0].second, (std::vector<int64_t>{1, 3, 32, 32}));
}

// A real optimisation: the full EC-CaM-UNet (all five components) fits a fixed synthetic batch.
TEST(SegmentationNet, FullModelLearnsFixedBatch) {
  torch::manual_seed(3);
  ModelConfig m = tiny();
  m.cc = m.sc = m.mus = m.ec = m.dws = true;
  SegmentationNet net(m, 1);
  net->train();
  torch::Tensor y = fixed_target(kBatch, kSize);
  torch::Tensor x = y.unsqueeze(1).to(torch::kFloat) * 0.8 + 0.3 * torch::randn({kBatch, 1, kSize, kSize});
  LossConfig lc;  // hybrid, alpha 0.5
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-2));
  double first = 0, last = 0, first_main = 0, last_main = 0;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    auto t = trainer::compute_loss(net->forward(x), y, x, lc);
    t.total.backward();
    opt.step();
    if (step == 0) first = t.total.item<double>(), first_main = t.main;
    last = t.total.item<double>();
    last_main = t.main;
  }
  // The side output is a 16x transposed-conv up-sampling of the 2x2 bridge, so it fits the disc less
  // tightly than the main output; both must fall clearly.
  EXPECT_LT(last, 0.4 * first) << "first " << first << " last " << last;
  EXPECT_LT(last_main, 0.2 * first_main) << "main: first " << first_main << " last " << last_main;
  net->eval();
  torch::NoGradGuard ng;
  torch::Tensor pred = trainer::predict_labels(net->forward(x).main);
  const double inter = (pred * y).sum().item<double>();
  const double dice = 2 * inter / (pred.sum().item<double>() + y.sum().item<double>());
  EXPECT_GT(dice, 0.8);
}
