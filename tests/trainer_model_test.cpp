// The configurable network family (trainer/nn): every toggle combination of 001 Table II, the fusion
// modes of Table III, the Table V / Table I baselines and the components of 000 and 004 alone and
// combined give the documented output shapes and finite gradients to every parameter; the parameter
// accounting matches formulas computed here independently; DSPA's K changes its attention shapes; the
// full model learns a fixed synthetic batch.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
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
  // DSPA: conv3x3 dilation 2 (C_l -> K) with bias, per skip.
  int64_t dspa = 0;
  for (size_t l = 0; l + 1 < w.size(); ++l) dspa += conv(w[l], 10, 3, 3, true);
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
    EXPECT_EQ(params, 8 * k * 9 + k);
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
