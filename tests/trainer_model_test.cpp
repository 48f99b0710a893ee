// The configurable network family (trainer/nn): every toggle combination of 001 Table II, the fusion
// modes of Table III, the Table V / Table I baselines, the components of 000 and 004, the nested network of
// 003 (UNet++ / ANU-Net, deep supervision, pruning) and 002's PAM/CAM alone and combined give the documented
// output shapes and finite gradients to every parameter; the parameter accounting matches formulas computed
// here independently; DSPA's K changes its attention shapes; the full models learn a fixed synthetic batch.
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
  // PAM/CAM (002) start with γ = 0, where their branch is switched off and its convolutions get no gradient;
  // a trained γ is non-zero.
  {
    torch::NoGradGuard ng;
    for (const auto& p : net->named_parameters())
      if (p.key().size() >= 5 && p.key().substr(p.key().size() - 5) == "gamma") p.value().fill_(0.5);
  }
  torch::Tensor x = torch::randn({kBatch, m.in_channels, kSize, kSize});
  torch::Tensor y = out_channels == 1 ? fixed_target(kBatch, kSize) : torch::randint(0, out_channels, {kBatch, kSize, kSize}, torch::kLong);
  NetOutput o = net->forward(x);

  const std::vector<int64_t> seg = {kBatch, out_channels, kSize, kSize};
  EXPECT_EQ(o.main.sizes().vec(), seg);
  if (expected_sides < 0) expected_sides = m.dws ? 1 : m.nested && m.nested_supervision ? static_cast<int>(m.widths.size()) - 2 : 0;
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
  EXPECT_EQ(sum_components(comps), net->inference_parameters());
  if (net->inference_level() < static_cast<int>(m.widths.size()) - 1) {
    // Pruned (003 Sec. 3.5): training updates everything, the prediction uses a part (ANU-Net tests below).
    EXPECT_LT(net->inference_parameters(), total_parameters(net));
    return;
  }
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
        Case{"two_input_channels", [](ModelConfig& m) { m.in_channels = 2; m.restoration = true; m.dws = true; }},
        // 002: PAM, CAM and the dual attention at the bridge, alone and fused with MuS.
        Case{"pam", [](ModelConfig& m) { m.attention = "pam"; }},
        Case{"cam", [](ModelConfig& m) { m.attention = "cam"; }},
        Case{"cam_max_minus", [](ModelConfig& m) { m.attention = "cam"; m.cam_energy = "max_minus"; }},
        Case{"pam_cam", [](ModelConfig& m) { m.attention = "pam_cam"; }},
        Case{"pam_cam_mus_deep", [](ModelConfig& m) { m.attention = "pam_cam"; m.mus = true; }},
        // 003: UNet++ (nested, no gates), ANU-Net (nested + gates), with and without deep supervision, with
        // bridge components, the restoration decoder, other depths, bilinear up, several classes.
        Case{"unetpp", [](ModelConfig& m) { m.nested = true; }},
        Case{"anu_net", [](ModelConfig& m) { m.nested = m.attention_gates = true; }},
        Case{"anu_net_without_supervision", [](ModelConfig& m) { m.nested = m.attention_gates = true; m.nested_supervision = false; }},
        Case{"anu_net_pruned_l2", [](ModelConfig& m) { m.nested = m.attention_gates = true; m.prune_level = 2; }},
        Case{"anu_net_coag_musfu_ec", [](ModelConfig& m) { m.nested = m.attention_gates = m.cc = m.sc = m.mus = m.ec = true; }},
        Case{"anu_net_pam_cam", [](ModelConfig& m) { m.nested = m.attention_gates = true; m.attention = "pam_cam"; }},
        Case{"anu_net_restoration", [](ModelConfig& m) { m.nested = m.attention_gates = m.restoration = true; }},
        Case{"anu_net_depth3", [](ModelConfig& m) { m.widths = {4, 8, 16}; m.nested = m.attention_gates = true; }},
        Case{"unetpp_depth2", [](ModelConfig& m) { m.widths = {4, 8}; m.nested = true; }},
        Case{"anu_net_bilinear_bias", [](ModelConfig& m) { m.nested = m.attention_gates = m.conv_bias = true; m.up = "bilinear"; }},
        Case{"anu_net_multiclass", [](ModelConfig& m) { m.nested = m.attention_gates = true; }, 3}),
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
        // With EC the bridge input is the EC encoder's own output on an image (EC sits in the encoder, so a
        // random F would not involve it); otherwise a random bridge-sized F.
        const torch::Tensor f = m.ec ? net->encode(randn_d({2, 1, kSize, kSize})).back() : randn_d({2, 64, 4, 4});
        ASSERT_EQ(f.size(1), 64) << what;  // the bridge width of tiny()

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
    // A per-map constant (what a bias would add) leaves the module's D unchanged: why DSPA has no bias.
    const torch::Tensor p_biased = torch::softmax(logits[n].reshape({k, 20}) + torch::arange(k, torch::kDouble).view({k, 1}), 1);
    expect_close(d[n], torch::matmul(mn, p_biased.t()), "D with a bias");
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
  EXPECT_NE(message([](ModelConfig& m) { m.attention = "dual"; }).find("allowed none | se | cbam | pam | cam | pam_cam"),
            std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.attention = "pam"; m.sc = true; }).find("model.attention = \"pam\""), std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.attention = "cam"; m.cam_energy = "max"; }).find("model.cam_energy = \"max\": allowed similarity | max_minus"),
            std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.nested = m.dws = true; }).find("model.nested = true"), std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.nested = true; m.msc = "kcm"; }).find("not with model.dws, aux_path, dspa, ca or msc"),
            std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.prune_level = 2; }).find("needs model.nested = true"), std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.nested = true; m.nested_supervision = false; m.prune_level = 2; }).find("model.prune_level = 2"),
            std::string::npos);
  EXPECT_NE(message([](ModelConfig& m) { m.nested = true; m.prune_level = 5; }).find("model.prune_level = 5: allowed 0..4"),
            std::string::npos);

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

// The coordinator's count (trainer::count_parameters) is summarize_model's without its forward pass: the
// same number, for any image size (at 2^20 x 2^20 pixels a forward would need terabytes), and it follows
// the architecture (more classes, more output channels).
TEST(SegmentationNet, ParametersCountedWithoutAForwardPass) {
  VariantConfig v;
  v.model = tiny();
  v.model.cc = v.model.sc = v.model.mus = v.model.dws = true;
  v.model.aux_path = v.model.restoration = true;
  v.data.image_size = 32;
  const std::int64_t n = trainer::count_parameters(v);
  EXPECT_EQ(n, trainer::summarize_model(v, 1).trainable_parameters);
  v.data.image_size = 1 << 20;
  EXPECT_EQ(trainer::count_parameters(v), n);
  v.data.label_groups = {{1}, {2}};
  EXPECT_GT(trainer::count_parameters(v), n);
  v.model.widths = {};
  EXPECT_THROW(trainer::count_parameters(v), std::invalid_argument);
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

// --- 003 (ANU-Net): nested dense skips, attention gates, deep supervision, pruning --------------------------
namespace {

ModelConfig anu_net(const std::string& layout = "shared") {
  ModelConfig m = tiny();
  m.nested = m.attention_gates = true;
  m.nested_layout = layout;
  return m;
}

// AttentionGate(C, C) of width F: W_g, W_x (C -> F) + BN, ψ (F -> 1) + BN; F = C/2 (per_node) or
// max(C_i/2, C_0) (shared).
int64_t gate_parameters(int64_t c, int64_t f, bool bias = false) {
  return 2 * (conv(c, f, 1, 1, bias) + bn(f)) + conv(f, 1, 1, 1, bias) + bn(1);
}
int64_t gate_parameters(const std::vector<int>& w, int i, const std::string& layout) {
  return gate_parameters(w[i], layout == "shared" ? std::max(w[i] / 2, w[0]) : w[i] / 2);
}
// Gates node X^{i,j} owns: one per predecessor in the shared layout (on X^{i,j-1}), one per (node, predecessor)
// pair per node.
int gates_of_node(int j, const std::string& layout) { return layout == "shared" ? 1 : j; }

// Node X^{i,j} (j >= 1): DoubleConv((j+1) C_i -> C_i) over eq. 4's concatenation, and, per node, the ConvT 2x2
// (with bias) that up-samples X^{i+1,j-1} to C_i channels. Shared: the level's ConvT is the backbone's and the
// BN after it is counted with the level's first node X^{i,1}.
int64_t node_parameters(const std::vector<int>& w, int i, int j, const std::string& layout = "per_node") {
  const int64_t up = layout == "shared" ? (j == 1 ? bn(w[i]) : 0) : w[i + 1] * w[i] * 4 + w[i];
  return double_conv((j + 1) * w[i], w[i], false) + up;
}

// Every parameter and buffer of `from` into `to`, by name (prune_level does not change the modules).
void copy_weights(SegmentationNet& from, SegmentationNet& to) {
  torch::NoGradGuard ng;
  auto params = from->named_parameters(true);
  for (auto& p : to->named_parameters(true)) p.value().copy_(params[p.key()]);
  auto buffers = from->named_buffers(true);
  for (auto& b : to->named_buffers(true)) b.value().copy_(buffers[b.key()]);
}

double dice_of(const torch::Tensor& logits, const torch::Tensor& y) {
  const torch::Tensor pred = trainer::predict_labels(logits);
  return 2 * (pred * y).sum().item<double>() / (pred.sum().item<double>() + y.sum().item<double>());
}

}  // namespace

// The nested network by formula (depth 5): the backbone stays the plain U-Net (the outer nodes X^{i,4-i} are
// its decoder); "nested" owns the inner nodes X^{i,j} (i + j < 4) with their up-samplings (per_node) or the BN
// after each level's shared up-sampling (shared), the (3 - i) C_i extra input channels of the outer nodes and
// the deep-supervision heads. Gates: per_node one per (node, predecessor) pair, 1 + 2 + 3 + 4 at level 0 down
// to 1 at level 3 (20 gates); shared one per node = one per predecessor X^{i,k} (10 gates).
TEST(AnuNet, ParametersByFormula) {
  const std::vector<int> w = tiny().widths;
  const int d = 5;
  const int64_t plain = plain_unet(w, 1, 1, false);
  for (const std::string layout : {"shared", "per_node"}) {
    for (bool gates : {false, true}) {
      for (bool supervision : {false, true}) {
        ModelConfig m = tiny();
        m.nested = true;
        m.attention_gates = gates;
        m.nested_supervision = supervision;
        m.nested_layout = layout;
        SegmentationNet net(m, 1);
        int64_t nested = supervision ? (d - 2) * (w[0] + 1) : 0, gate = 0;
        for (int i = 0; i + 1 < d; ++i) {
          for (int j = 1; i + j <= d - 1; ++j) {
            nested += i + j < d - 1 ? node_parameters(w, i, j, layout)
                                    : (d - 2 - i) * w[i] * w[i] * 9 + (layout == "shared" && j == 1 ? bn(w[i]) : 0);
            gate += gates_of_node(j, layout) * gate_parameters(w, i, layout);
          }
        }
        int registered_gates = 0;  // the network's own gate modules
        for (const auto& child : net->named_children())
          registered_gates += child.key().rfind("attention_gates_x", 0) == 0;
        EXPECT_EQ(registered_gates, gates ? (layout == "shared" ? 10 : 20) : 0) << layout;
        const auto comps = net->component_parameters();
        EXPECT_EQ(comps.at("backbone"), plain) << layout;
        EXPECT_EQ(comps.at("nested"), nested) << layout;
        EXPECT_EQ(comps.count("attention_gates"), gates ? 1u : 0u);
        if (gates) {
          EXPECT_EQ(comps.at("attention_gates"), gate) << layout;
        }
        EXPECT_EQ(total_parameters(net), plain + nested + (gates ? gate : 0)) << layout;
        EXPECT_EQ(net->inference_parameters(), total_parameters(net));
      }
    }
  }
}

// 003 Table 6 prints 0.1038 / 0.5134 / 2.1918 / 8.9506 M parameters for ANU-Net L1..L4. At UNet++'s widths
// 32..512, one input channel, one output, with convolution biases (the PyTorch default the authors' code keeps),
// the shared layout gives exactly these counts at the table's four decimals; the per_node layout (a reading
// without a published count behind it) is kept behind model.nested_layout with its own counts.
TEST(AnuNet, Table6ParameterCounts) {
  const std::vector<std::pair<std::string, bool>> readings = {{"shared", true}, {"per_node", false}};
  const std::map<std::string, std::vector<int64_t>> exact = {
      {"shared", {103812, 513354, 2191763, 8950594}},     // 0.1038, 0.5134, 2.1918, 8.9506 M
      {"per_node", {102323, 519385, 2242741, 9198252}}};  // 0.1023, 0.5194, 2.2427, 9.1983 M
  const std::vector<int64_t> table6 = {1038, 5134, 21918, 89506};  // units of 100 parameters (0.0001 M)
  for (const auto& [layout, bias] : readings) {
    for (int level = 1; level <= 4; ++level) {
      ModelConfig m;
      m.widths = {32, 64, 128, 256, 512};
      m.nested = m.attention_gates = true;
      m.nested_layout = layout;
      m.conv_bias = bias;
      m.prune_level = level;
      SegmentationNet net(m, 1);
      const int64_t n = net->inference_parameters();
      EXPECT_EQ(n, exact.at(layout)[level - 1]) << layout << " L" << level;
      if (layout == "shared") {
        EXPECT_EQ(std::llround(static_cast<double>(n) / 100.0), table6[level - 1]) << "L" << level << ": " << n;
      }
    }
  }
}

// Eq. 4, node by node, in evaluation mode with random BN statistics: X^{i,0} are the encoder stages (the
// deepest through the bridge), X^{i,j} = Φ[Ag(X^{i,0}), ..., Ag(X^{i,j-1}), Up(X^{i+1,j-1})]. per_node: every
// gate of the node gated by its own Up(X^{i+1,j-1}). shared: Up = ReLU(BN(ConvT)) of the level, one module for
// all nodes of the level; Ag(X^{i,k}) is X^{i,k+1}'s gate output (gated by its Up), reused by the later nodes.
// The main head reads X^{0,4}, the side heads X^{0,1..3}. Without gates (UNet++) the predecessors enter unchanged.
TEST(AnuNet, NodesAreEquation4) {
  for (const std::string layout : {"shared", "per_node"}) {
    for (bool gates : {true, false}) {
      torch::manual_seed(22);
      ModelConfig m = tiny();
      m.nested = true;
      m.attention_gates = gates;
      m.nested_layout = layout;
      SegmentationNet net(m, 1);
      prepare(*net);
      torch::NoGradGuard ng;
      const torch::Tensor x = randn_d({2, 1, kSize, kSize});
      const auto grid = net->nested_grid(x, 4);
      const auto stages = net->encode(x);
      ASSERT_EQ(grid.size(), 5u);
      for (int i = 0; i < 4; ++i) expect_close(grid[i][0], stages[i], "X^{i,0}");
      expect_close(grid[4][0], net->bridge(stages[4]), "X^{4,0} = B");
      for (int i = 0; i < 4; ++i) {
        ASSERT_EQ(static_cast<int>(grid[i].size()), 5 - i);
        std::vector<torch::Tensor> gated;  // shared: Ag(X^{i,0}), Ag(X^{i,1}), ...
        for (int j = 1; i + j <= 4; ++j) {
          auto node = net->nested_node(i, j);
          ASSERT_EQ(static_cast<int>(node.gates.size()), gates ? gates_of_node(j, layout) : 0);
          EXPECT_EQ(node.conv->named_parameters()["unit1.conv.weight"].size(1), (j + 1) * m.widths[i]);
          torch::Tensor u = node.up->forward(grid[i + 1][j - 1]);
          if (layout == "shared") {
            ASSERT_TRUE(static_cast<bool>(node.up_bn));
            EXPECT_EQ(node.up.get(), net->nested_node(i, 1).up.get()) << "one up-sampling per level";
            u = torch::relu(node.up_bn->forward(u));
          } else {
            EXPECT_FALSE(static_cast<bool>(node.up_bn));
            if (j > 1) {
              EXPECT_NE(node.up.get(), net->nested_node(i, 1).up.get()) << "an up-sampling per node";
            }
          }
          std::vector<torch::Tensor> parts;
          if (!gates) {
            for (int k = 0; k < j; ++k) parts.push_back(grid[i][k]);
          } else if (layout == "shared") {
            gated.push_back(node.gates[0]->forward(u, grid[i][j - 1]));
            parts = gated;
          } else {
            for (int k = 0; k < j; ++k) parts.push_back(node.gates[k]->forward(u, grid[i][k]));
          }
          parts.push_back(u);
          const std::string name = layout + " X^{" + std::to_string(i) + "," + std::to_string(j) + "}";
          expect_close(grid[i][j], node.conv->forward(torch::cat(parts, 1)), name);
          if (j == 1 && gates) {  // the gating signal is this node's up-sampled map, not the predecessor itself
            EXPECT_FALSE(torch::allclose(grid[i][j], node.conv->forward(torch::cat({node.gates[0]->forward(grid[i][0], grid[i][0]), u}, 1))));
          }
          if (j == 3 && gates && layout == "shared") {  // Ag(X^{i,0}) is X^{i,1}'s, not regated by this node's Up
            std::vector<torch::Tensor> regated = parts;
            regated[0] = net->nested_node(i, 1).gates[0]->forward(u, grid[i][0]);
            EXPECT_FALSE(torch::allclose(grid[i][j], node.conv->forward(torch::cat(regated, 1)))) << name;
          }
        }
      }
      const NetOutput o = net->forward(x);
      expect_close(o.main, net->head_module()->forward(grid[0][4]), "main = head(X^{0,4})");
      ASSERT_EQ(o.sides.size(), 3u);
      for (int j = 1; j <= 3; ++j) expect_close(o.sides[j - 1], net->nested_head(j)->forward(grid[0][j]), "side j = head_j(X^{0,j})");
    }
  }
}

// 003 Sec. 3.5: "removing these gray parts has no influence on the prior output". The network pruned at L
// predicts exactly what the full network's head on X^{0,L} gives (same weights); prune level 4 = 0 = full;
// in training mode the pruned configuration runs the full network with every head.
TEST(AnuNet, PrunedOutputIsTheFullNetworksHeadAtThatLevel) {
  for (const std::string layout : {"shared", "per_node"}) {
    SCOPED_TRACE(layout);
    torch::manual_seed(21);
    ModelConfig m = anu_net(layout);
    SegmentationNet full(m, 1);
    prepare(*full);
    const torch::Tensor x = randn_d({2, 1, kSize, kSize});
    NetOutput o;
    {
      torch::NoGradGuard ng;
      o = full->forward(x);
    }
    ASSERT_EQ(o.sides.size(), 3u);
    for (int level = 1; level <= 4; ++level) {
      m.prune_level = level;
      SegmentationNet pruned(m, 1);
      pruned->to(torch::kDouble);
      copy_weights(full, pruned);
      pruned->eval();
      torch::NoGradGuard ng;
      const NetOutput p = pruned->forward(x);
      EXPECT_EQ(p.main.sizes().vec(), (std::vector<int64_t>{2, 1, kSize, kSize}));
      expect_close(p.main, level < 4 ? o.sides[level - 1] : o.main, "L" + std::to_string(level));
      EXPECT_EQ(p.sides.size(), level < 4 ? 0u : 3u);
      EXPECT_EQ(pruned->inference_level(), level);
    }
    // Training mode: the same full forward (batch statistics) whatever the prune level.
    m.prune_level = 1;
    SegmentationNet pruned(m, 1);
    pruned->to(torch::kDouble);
    copy_weights(full, pruned);
    full->train();
    pruned->train();
    torch::NoGradGuard ng;
    const NetOutput a = full->forward(x), b = pruned->forward(x);
    expect_close(b.main, a.main, "training main");
    ASSERT_EQ(b.sides.size(), 3u);
    for (int j = 0; j < 3; ++j) expect_close(b.sides[j], a.sides[j], "training side");
  }
}

// Table 6's parameter column: the pruned network's parameters by formula — encoder levels 0..L (backbone),
// nodes X^{i,j} with i + j <= L and X^{0,L}'s head (nested), their gates — growing with L; and by use: in
// evaluation mode the pruned forward reaches exactly the parameters that are counted (those and no other are
// in its autograd graph: their gradient is defined, possibly 0 where a gate's ReLU is off at initialisation),
// at L = 4 every parameter.
TEST(AnuNet, PrunedParametersByFormulaAndByUse) {
  const std::vector<int> w = tiny().widths;
  for (const std::string layout : {"shared", "per_node"}) {
    SCOPED_TRACE(layout);
    int64_t previous = 0;
    for (int level = 1; level <= 4; ++level) {
      torch::manual_seed(5);
      ModelConfig m = anu_net(layout);
      m.prune_level = level;
      SegmentationNet net(m, 1);
      const auto comps = net->component_parameters();
      EXPECT_EQ(sum_components(comps), net->inference_parameters());
      if (level < 4) {
        int64_t encoder = 0, nested = w[0] + 1, gates = 0;
        for (int l = 0; l <= level; ++l) encoder += double_conv(l == 0 ? 1 : w[l - 1], w[l], false);
        for (int i = 0; i < level; ++i) {
          if (layout == "shared") encoder += w[i + 1] * w[i] * 4 + w[i];  // the level's ConvT is the backbone's
          for (int j = 1; i + j <= level; ++j) {
            nested += node_parameters(w, i, j, layout);
            gates += gates_of_node(j, layout) * gate_parameters(w, i, layout);
          }
        }
        EXPECT_EQ(comps.at("backbone"), encoder) << "L" << level;
        EXPECT_EQ(comps.at("nested"), nested) << "L" << level;
        EXPECT_EQ(comps.at("attention_gates"), gates) << "L" << level;
        EXPECT_LT(net->inference_parameters(), total_parameters(net));
      } else {
        EXPECT_EQ(net->inference_parameters(), total_parameters(net));
      }
      EXPECT_GT(net->inference_parameters(), previous) << "L" << level;
      previous = net->inference_parameters();

      net->eval();
      const NetOutput o = net->forward(torch::randn({2, 1, kSize, kSize}));
      EXPECT_EQ(o.sides.size(), level < 4 ? 0u : 3u);
      torch::Tensor sum = (o.main * torch::randn_like(o.main)).sum();
      for (const auto& s : o.sides) sum = sum + (s * torch::randn_like(s)).sum();
      sum.backward();
      int64_t reached = 0;
      for (const auto& p : net->named_parameters()) {
        if (p.value().grad().defined()) reached += p.value().numel();
      }
      EXPECT_EQ(reached, net->inference_parameters()) << "L" << level;
    }
  }
}

TEST(AnuNet, SummaryOfAPrunedVariant) {
  VariantConfig v;
  v.model = anu_net();
  v.data.image_size = 32;
  const trainer::ModelSummary full = trainer::summarize_model(v, 1);
  EXPECT_EQ(full.inference_parameters, full.trainable_parameters);
  std::vector<std::string> names, outputs;
  for (const auto& c : full.components) names.push_back(c.component);
  for (const auto& o : full.outputs) outputs.push_back(o.first);
  EXPECT_EQ(names, (std::vector<std::string>{"backbone", "nested", "attention_gates"}));
  EXPECT_EQ(outputs, (std::vector<std::string>{"main", "side1", "side2", "side3"}));
  v.model.prune_level = 2;
  const trainer::ModelSummary s = trainer::summarize_model(v, 1);
  EXPECT_EQ(s.trainable_parameters, full.trainable_parameters);
  EXPECT_LT(s.inference_parameters, s.trainable_parameters);
  int64_t sum = 0;
  for (const auto& c : s.components) sum += c.parameters;
  EXPECT_EQ(sum, s.inference_parameters);
  ASSERT_EQ(s.outputs.size(), 1u);
  EXPECT_EQ(s.outputs[0].first, "main");
  EXPECT_EQ(s.outputs[0].second, (std::vector<int64_t>{1, 1, 32, 32}));
}

// ANU-Net trained with 003's eq. 8 (dice with squares + focal + BCE on all four heads, summed) fits a fixed
// batch, and the heads of the shallower levels segment too: the deep supervision is what makes pruning work.
TEST(AnuNet, LearnsFixedBatchAtEveryLevel) {
  torch::manual_seed(3);
  ModelConfig m = anu_net();
  SegmentationNet net(m, 1);
  net->train();
  const torch::Tensor y = fixed_target(kBatch, kSize);
  const torch::Tensor x = y.unsqueeze(1).to(torch::kFloat) * 0.8 + 0.3 * torch::randn({kBatch, 1, kSize, kSize});
  LossConfig lc;
  lc.name = "dice_focal_bce";
  lc.dice_denominator = "squares";
  lc.side_weight = 3;  // eq. 8: the plain sum over X^{0,1..4}
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-2));
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    auto t = trainer::compute_loss(net->forward(x), y, x, lc);
    t.total.backward();
    opt.step();
    if (step == 0) first = t.total.item<double>();
    last = t.total.item<double>();
  }
  EXPECT_LT(last, 0.3 * first) << "first " << first << " last " << last;
  for (int level = 1; level <= 4; ++level) {
    m.prune_level = level;
    SegmentationNet pruned(m, 1);
    copy_weights(net, pruned);
    pruned->eval();
    torch::NoGradGuard ng;
    EXPECT_GT(dice_of(pruned->forward(x).main, y), 0.8) << "L" << level;
  }
}

// --- 002: the position and channel attention modules ------------------------------------------------------

// PAM (002 eqs. 2-3) by explicit matrix products per image: Q = W_q F + b_q, K = W_k F, V = W_v F + b_v (C'
// = C/8), S = softmax_j(Qᵀ K), F_PAM = γ V Sᵀ + F; γ starts at 0 (the identity). A key bias would add q_i · b
// to every entry of row i, which the softmax over j removes: so the key convolution has none.
TEST(ComponentValues, PositionAttentionByHand) {
  torch::manual_seed(23);
  const int64_t c = 16, n = 12;
  trainer::nn::PositionAttentionModule pam{trainer::nn::PositionAttentionOptions(c)};
  pam->to(torch::kDouble);
  torch::NoGradGuard ng;
  const torch::Tensor f = randn_d({2, c, 3, 4});
  EXPECT_EQ(pam->gamma.item<double>(), 0.0);
  expect_close(pam->forward(f), f, "PAM at gamma = 0");
  EXPECT_EQ(pam->query->weight.size(0), c / 8);
  EXPECT_EQ(pam->key->weight.size(0), c / 8);
  EXPECT_FALSE(pam->key->bias.defined());
  ASSERT_TRUE(pam->query->bias.defined() && pam->value->bias.defined());
  pam->gamma.fill_(0.7);
  const torch::Tensor out = pam->forward(f), s = pam->attention_map(f);
  EXPECT_EQ(s.sizes().vec(), (std::vector<int64_t>{2, n, n}));
  for (int64_t b = 0; b < 2; ++b) {
    const torch::Tensor x = f[b].reshape({c, n});
    const torch::Tensor q = torch::matmul(pam->query->weight.view({c / 8, c}), x) + pam->query->bias.view({c / 8, 1});
    const torch::Tensor k = torch::matmul(pam->key->weight.view({c / 8, c}), x);
    const torch::Tensor v = torch::matmul(pam->value->weight.view({c, c}), x) + pam->value->bias.view({c, 1});
    const torch::Tensor sb = torch::softmax(torch::matmul(q.t(), k), 1);
    expect_close(s[b], sb, "S");
    expect_close(out[b], (0.7 * torch::matmul(v, sb.t()) + x).view({c, 3, 4}), "F_PAM");
    // A key bias would not change the module's map: why the key convolution has none.
    expect_close(s[b], torch::softmax(torch::matmul(q.t(), k + randn_d({c / 8, 1})), 1), "S with a key bias");
  }
  int64_t params = 0;
  for (const auto& p : pam->parameters()) params += p.numel();
  EXPECT_EQ(params, conv(c, c / 8, 1, 1, true) + conv(c, c / 8, 1, 1, false) + conv(c, c, 1, 1, true) + 1);
}

// CAM (002 eqs. 4-5) by explicit matrix products: E = X Xᵀ (C x C), S = softmax_j(E) (similarity, eq. 4) or
// softmax_j(max_k E_ik − E_ij) = softmax_j(−E_ij) (max_minus, DANet's code), F_CAM = γ S X + F. With γ = 1 the
// similarity form is 000's parameter-free CA (eqs. 12-13).
TEST(ComponentValues, ChannelAttentionByHand) {
  const torch::Tensor f = randn_d({2, 6, 3, 4}) * 0.5;
  for (const std::string energy : {"similarity", "max_minus"}) {
    trainer::nn::ChannelAttentionModule cam(energy);
    cam->to(torch::kDouble);
    torch::NoGradGuard ng;
    expect_close(cam->forward(f), f, "CAM at gamma = 0");
    cam->gamma.fill_(0.3);
    const torch::Tensor out = cam->forward(f), s = cam->attention_map(f);
    for (int64_t b = 0; b < 2; ++b) {
      const torch::Tensor x = f[b].reshape({6, 12});
      const torch::Tensor e = torch::matmul(x, x.t());
      const torch::Tensor sb = torch::softmax(energy == "similarity" ? e : std::get<0>(e.max(1, true)) - e, 1);
      if (energy == "max_minus") expect_close(s[b], torch::softmax(-e, 1), "S = softmax(-E) under max_minus");
      expect_close(s[b], sb, "S " + energy);
      expect_close(out[b], (0.3 * torch::matmul(sb, x) + x).view({6, 3, 4}), "F_CAM " + energy);
    }
    EXPECT_EQ(cam->parameters().size(), 1u);
    if (energy == "similarity") {
      cam->gamma.fill_(1.0);
      expect_close(cam->forward(f), trainer::nn::channel_self_attention(f), "CAM(gamma = 1) = CA of 000");
    }
  }
}

// The modules at the bridge: pam / cam = the module alone; pam_cam = conv(PAM(F)) + conv(CAM(F)) with conv =
// ReLU(BN(conv3x3)) (002 Sec. III-C, DANet's head); parameters by formula.
TEST(ComponentValues, PositionAndChannelAttentionAtTheBridge) {
  const int64_t c = 64;
  const int64_t pam = conv(c, c / 8, 1, 1, true) + conv(c, c / 8, 1, 1, false) + conv(c, c, 1, 1, true) + 1;
  const int64_t fuse = conv(c, c, 3, 3, false) + bn(c);
  for (const std::string attention : {"pam", "cam", "pam_cam"}) {
    torch::manual_seed(24);
    ModelConfig m = tiny();
    m.attention = attention;
    SegmentationNet net(m, 1);
    const auto comps = net->component_parameters();
    EXPECT_EQ(comps.at("backbone"), plain_unet(m.widths, 1, 1, false));
    EXPECT_EQ(sum_components(comps), total_parameters(net));
    if (attention != "cam") {
      EXPECT_EQ(comps.at("pam"), pam + (attention == "pam_cam" ? fuse : 0));
    }
    if (attention != "pam") {
      EXPECT_EQ(comps.at("cam"), 1 + (attention == "pam_cam" ? fuse : 0));
    }
    prepare(*net);
    torch::NoGradGuard ng;
    for (const auto& p : net->named_parameters())
      if (p.key().find("gamma") != std::string::npos) p.value().fill_(0.4);
    const torch::Tensor f = randn_d({2, c, 2, 2});
    torch::Tensor want;
    if (attention == "pam") want = net->pam_module()->forward(f);
    if (attention == "cam") want = net->cam_module()->forward(f);
    if (attention == "pam_cam") {
      auto fused = [&](const torch::nn::Sequential& seq, const torch::Tensor& t) {
        auto conv3 = element<torch::nn::Conv2dImpl>(seq, 0);
        auto norm = element<torch::nn::BatchNorm2dImpl>(seq, 1);
        EXPECT_EQ(conv3->weight.size(2), 3);
        return torch::relu(bn_by_hand(torch::conv2d(t, conv3->weight, {}, 1, 1), *norm));
      };
      want = fused(net->pam_conv_module(), net->pam_module()->forward(f)) + fused(net->cam_conv_module(), net->cam_module()->forward(f));
    }
    expect_close(net->bridge_attention(f), want, attention);
  }
}
