#include "trainer/nn/guided.hpp"

#include <stdexcept>

namespace ablate::trainer::nn {

namespace F = torch::nn::functional;

namespace {

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t k, bool bias, int64_t stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2).bias(bias));
}

// conv k x k + BN + PReLU (one learnable slope), the unit of 002's code for every convolution it adds.
void conv_bn_prelu(torch::nn::Sequential& seq, int64_t in, int64_t out, int64_t k, bool bias) {
  seq->push_back(conv(in, out, k, bias));
  seq->push_back(torch::nn::BatchNorm2d(out));
  seq->push_back(torch::nn::PReLU());
}

void conv_bn_relu(torch::nn::Sequential& seq, int64_t in, int64_t out, bool bias) {
  seq->push_back(conv(in, out, 3, bias));
  seq->push_back(torch::nn::BatchNorm2d(out));
  seq->push_back(torch::nn::ReLU());
}

torch::Tensor upsample_to(const torch::Tensor& x, int64_t h, int64_t w) {
  if (x.size(2) == h && x.size(3) == w) return x;
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{h, w})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

}  // namespace

BottleneckImpl::BottleneckImpl(int64_t in, int64_t planes, int64_t stride) {
  conv1 = register_module("conv1", conv(in, planes, 1, false));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, false, stride));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(planes));
  conv3 = register_module("conv3", conv(planes, 4 * planes, 1, false));
  bn3 = register_module("bn3", torch::nn::BatchNorm2d(4 * planes));
  if (stride != 1 || in != 4 * planes) {
    shortcut = register_module("shortcut", conv(in, 4 * planes, 1, false, stride));
    shortcut_bn = register_module("shortcut_bn", torch::nn::BatchNorm2d(4 * planes));
  }
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::relu(bn1(conv1(x)));
  y = torch::relu(bn2(conv2(y)));
  y = bn3(conv3(y));
  return torch::relu(y + (shortcut ? shortcut_bn(shortcut(x)) : x));
}

ResNetEncoderImpl::ResNetEncoderImpl(int64_t in_channels, const std::vector<int>& planes, const std::vector<int>& blocks) {
  stem = register_module(
      "stem", torch::nn::Sequential(
                  torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, planes[0], 7).stride(2).padding(3).bias(false)),
                  torch::nn::BatchNorm2d(planes[0]), torch::nn::ReLU(),
                  torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2).padding(1))));
  int64_t in = planes[0];
  for (size_t s = 0; s < planes.size(); ++s) {
    torch::nn::Sequential stage;
    for (int b = 0; b < blocks[s]; ++b) {
      stage->push_back(Bottleneck(in, planes[s], b == 0 && s > 0 ? 2 : 1));
      in = 4 * planes[s];
    }
    stages.push_back(register_module("stage" + std::to_string(s + 1), stage));
  }
}

std::vector<torch::Tensor> ResNetEncoderImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> out;
  torch::Tensor h = stem->forward(x);
  for (auto& stage : stages) {
    h = stage->forward(h);
    out.push_back(h);
  }
  return out;
}

SemanticEncoderDecoderImpl::SemanticEncoderDecoderImpl(int64_t c, bool bias) {
  enc1 = torch::nn::Sequential();
  conv_bn_relu(enc1, c, 2 * c, bias);
  conv_bn_relu(enc1, 2 * c, 2 * c, bias);
  enc1->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).stride(2)));
  enc2 = torch::nn::Sequential();
  conv_bn_relu(enc2, 2 * c, 4 * c, bias);
  conv_bn_relu(enc2, 4 * c, 4 * c, bias);
  enc2->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).stride(2)));
  dec2 = torch::nn::Sequential();
  conv_bn_relu(dec2, 4 * c, 2 * c, bias);
  conv_bn_relu(dec2, 2 * c, 2 * c, bias);
  dec2->push_back(torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(2 * c, 2 * c, 2).stride(2)));
  dec1 = torch::nn::Sequential();
  conv_bn_relu(dec1, 2 * c, c, bias);
  conv_bn_relu(dec1, c, c, bias);
  dec1->push_back(torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(c, c, 2).stride(2)));
  register_module("enc1", enc1);
  register_module("enc2", enc2);
  register_module("dec2", dec2);
  register_module("dec1", dec1);
}

std::pair<torch::Tensor, torch::Tensor> SemanticEncoderDecoderImpl::forward(const torch::Tensor& f) {
  const torch::Tensor code = enc2->forward(enc1->forward(f));
  return {code, dec1->forward(dec2->forward(code))};
}

AttentionBranchImpl::AttentionBranchImpl(int64_t in, int64_t width, const std::string& kind, const std::string& cam_energy,
                                         bool bias) {
  pre = torch::nn::Sequential();
  conv_bn_prelu(pre, in, width, 3, bias);
  post = torch::nn::Sequential();
  conv_bn_prelu(post, width, width, 3, bias);
  register_module("pre", pre);
  if (kind == "pam") pam = register_module("self_attention", PositionAttentionModule(PositionAttentionOptions(width)));
  if (kind == "cam") cam = register_module("self_attention", ChannelAttentionModule(cam_energy));
  register_module("post", post);
}

torch::Tensor AttentionBranchImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = pre->forward(x);
  if (pam) h = pam(h);
  if (cam) h = cam(h);
  return post->forward(h);
}

int64_t GuidedNetImpl::size_multiple(const ModelConfig& m) {
  const int64_t stride = int64_t{1} << (m.widths.size() + 1);
  return m.semantic_guidance ? std::max<int64_t>(stride, 16) : stride;
}

GuidedNetImpl::GuidedNetImpl(const ModelConfig& m, int64_t out_channels) : config_(m) {
  const int scales = static_cast<int>(m.widths.size());
  const int64_t g = m.guided_width;
  const bool bias = m.conv_bias;
  encoder = register_module("resnet", ResNetEncoder(m.in_channels, m.widths, m.resnet_blocks));
  for (int s = 0; s < scales; ++s) {
    torch::nn::Sequential p;
    conv_bn_prelu(p, 4 * int64_t{m.widths[s]}, g, 1, bias);
    project.push_back(register_module("multiscale_project" + std::to_string(s + 1), p));
  }
  fuse = torch::nn::Sequential();
  conv_bn_prelu(fuse, scales * g, g, 3, bias);
  conv_bn_prelu(fuse, g, g, 3, bias);
  conv_bn_prelu(fuse, g, g, 1, bias);
  register_module("multiscale_fuse", fuse);

  // The branches of one module: PAM, CAM, both (pam_cam) or one plain branch (none).
  std::vector<std::string> kinds;
  if (m.attention == "pam" || m.attention == "pam_cam") kinds.push_back("pam");
  if (m.attention == "cam" || m.attention == "pam_cam") kinds.push_back("cam");
  if (kinds.empty()) kinds.push_back("plain");
  branches.resize(m.refinements);
  merge.resize(m.refinements);
  guidance_conv.resize(m.refinements);
  for (int r = 0; r < m.refinements; ++r) {
    // Step 1's modules are the attention of Table I's PAM / CAM / DualNet rows; steps 2..R are MS-Dual's refinement.
    const std::string step = r == 0 ? "" : "refinement_r" + std::to_string(r + 1) + "_";
    for (int s = 0; s < scales; ++s) {
      const std::string at = "s" + std::to_string(s + 1);
      std::vector<AttentionBranch> bs;
      for (const auto& kind : kinds) {
        bs.push_back(register_module(step + kind + "_" + at,
                                     AttentionBranch(2 * g, g, kind == "plain" ? "none" : kind, m.cam_energy, bias)));
      }
      branches[r].push_back(bs);
      merge[r].push_back(register_module(step + "merge_" + at,
                                         torch::nn::Conv2d(torch::nn::Conv2dOptions(g, g, 1))));
      if (m.semantic_guidance) {
        guidance_conv[r].push_back(register_module("guidance_conv_r" + std::to_string(r + 1) + "_" + at, conv(2 * g, g, 3, true)));
      }
    }
    if (m.semantic_guidance)
      guidance.push_back(register_module("guidance_ed_r" + std::to_string(r + 1), SemanticEncoderDecoder(2 * g, bias)));
  }
  for (int s = 0; s < scales; ++s) {
    head_f.push_back(register_module("head_f" + std::to_string(s + 1), torch::nn::Conv2d(torch::nn::Conv2dOptions(g, out_channels, 1))));
    head_a.push_back(register_module("head_a" + std::to_string(s + 1), torch::nn::Conv2d(torch::nn::Conv2dOptions(g, out_channels, 1))));
  }
}

std::pair<std::vector<torch::Tensor>, torch::Tensor> GuidedNetImpl::scales(const torch::Tensor& x) {
  const std::vector<torch::Tensor> stages = encoder(x);
  const int64_t h = stages[0].size(2), w = stages[0].size(3);
  std::vector<torch::Tensor> fp;
  for (size_t s = 0; s < stages.size(); ++s) fp.push_back(upsample_to(project[s]->forward(stages[s]), h, w));
  const torch::Tensor ms = fuse->forward(torch::cat(fp, 1));  // F_MS = conv([F'_1, ..., F'_S])
  return {fp, ms};
}

GuidedOutput GuidedNetImpl::forward(const torch::Tensor& x) {
  const auto [fp, ms] = scales(x);
  const int64_t h = x.size(2), w = x.size(3);
  const int scales_n = static_cast<int>(fp.size());
  GuidedOutput out;
  std::vector<torch::Tensor> final_a(scales_n), codes_prev(scales_n);
  for (int s = 0; s < scales_n; ++s) {
    torch::Tensor a;
    for (int r = 0; r < config_.refinements; ++r) {
      const torch::Tensor f = torch::cat({fp[s], r == 0 ? ms : a * ms}, 1);  // F, then F_SA (the stacked refinement)
      torch::Tensor sum;
      for (auto& b : branches[r][s]) sum = sum.defined() ? sum + b(f) : b(f);
      if (config_.semantic_guidance) {
        auto [code, rec] = guidance[r](f);
        out.recon.emplace_back(f, rec);                                 // eq. 7: F and F̂
        if (r > 0) out.guided.emplace_back(codes_prev[s], code);        // eq. 6: E_r(F) vs E_{r+1}(F_SA)
        codes_prev[s] = code;
        sum = sum * guidance_conv[r][s](rec);
      }
      a = merge[r][s](sum);
    }
    final_a[s] = a;
  }
  torch::Tensor mean;
  for (int s = 0; s < scales_n; ++s) out.sides.push_back(upsample_to(head_f[s](fp[s]), h, w));
  for (int s = 0; s < scales_n; ++s) {
    torch::Tensor p = upsample_to(head_a[s](final_a[s]), h, w);
    out.sides.push_back(p);
    mean = mean.defined() ? mean + p : p;
  }
  out.main = mean / static_cast<double>(scales_n);
  return out;
}

}  // namespace ablate::trainer::nn
