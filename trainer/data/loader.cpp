#include "trainer/data/loader.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ablate::trainer::data {

SliceStacker::SliceStacker(std::int64_t slices, int size) {
  t_.images = torch::empty({slices, 1, size, size}, torch::kFloat32);
  t_.labels = torch::empty({slices, size, size}, torch::kUInt8);
  t_.foreground.reserve(static_cast<std::size_t>(slices));
  t_.case_of.reserve(static_cast<std::size_t>(slices));
}

void SliceStacker::add(const PreparedCase& c) {
  const std::int64_t n = t_.images.size(0), size = t_.images.size(2);
  if (c.size != size) throw std::runtime_error("case " + c.id + ": slice size differs from the other cases");
  if (offset_ + c.slices > n) throw std::runtime_error("case " + c.id + ": more slices than the stack was sized for");
  std::copy(c.image.begin(), c.image.end(), t_.images.data_ptr<float>() + offset_ * c.pixels_per_slice());
  std::copy(c.label.begin(), c.label.end(), t_.labels.data_ptr<std::uint8_t>() + offset_ * c.pixels_per_slice());
  for (int s = 0; s < c.slices; ++s) {
    t_.foreground.push_back(c.slice_has_foreground(s) ? 1 : 0);
    t_.case_of.push_back(cases_);
  }
  offset_ += c.slices;
  ++cases_;
}

SliceTensors SliceStacker::take() {
  if (offset_ != t_.images.size(0)) {
    throw std::runtime_error("stacked " + std::to_string(offset_) + " of " + std::to_string(t_.images.size(0)) + " slices");
  }
  return std::move(t_);
}

SliceTensors stack_cases(const std::vector<const PreparedCase*>& cases) {
  std::int64_t n = 0;
  int size = 0;
  for (const PreparedCase* c : cases) {
    if (size && c->size != size) throw std::runtime_error("case " + c->id + ": slice size differs from the other cases");
    size = c->size;
    n += c->slices;
  }
  SliceStacker stack(n, size);
  for (const PreparedCase* c : cases) stack.add(*c);
  return stack.take();
}

namespace {

// Separable Gaussian blur of one h x w plane with replicate padding (in place, `tmp` is scratch).
void gaussian_blur(float* img, int h, int w, double sigma, int radius, std::vector<float>& tmp) {
  std::vector<float> k(2 * radius + 1);
  double sum = 0;
  for (int j = -radius; j <= radius; ++j) sum += k[j + radius] = static_cast<float>(std::exp(-0.5 * j * j / (sigma * sigma)));
  for (float& v : k) v = static_cast<float>(v / sum);
  tmp.resize(static_cast<std::size_t>(h) * w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      float acc = 0;
      for (int j = -radius; j <= radius; ++j) acc += k[j + radius] * img[y * w + std::clamp(x + j, 0, w - 1)];
      tmp[y * w + x] = acc;
    }
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      float acc = 0;
      for (int j = -radius; j <= radius; ++j) acc += k[j + radius] * tmp[std::clamp(y + j, 0, h - 1) * w + x];
      img[y * w + x] = acc;
    }
}

}  // namespace

// Plain loops rather than LibTorch ops: on small slices the intra-op thread pool costs more than the work
// (and a loaded node makes its barriers far slower), see docs/PERFORMANCE.md.
Batch augment(const Batch& in, const AugmentConfig& cfg, Rng& rng) {
  constexpr double kPi = 3.14159265358979323846;
  const torch::Tensor src_img = in.images.to(torch::kCPU, torch::kFloat32).contiguous();
  const torch::Tensor src_lab = in.labels.to(torch::kCPU, torch::kUInt8).contiguous();
  const std::int64_t b = src_img.size(0), h = src_img.size(2), w = src_img.size(3);
  const bool pinned = in.images.is_pinned();
  torch::Tensor out_img = torch::empty(src_img.sizes(), src_img.options().pinned_memory(pinned));
  torch::Tensor out_lab = torch::empty(src_lab.sizes(), src_lab.options().pinned_memory(pinned));
  const float* si = src_img.data_ptr<float>();
  const std::uint8_t* sl = src_lab.data_ptr<std::uint8_t>();
  float* oi = out_img.data_ptr<float>();
  std::uint8_t* ol = out_lab.data_ptr<std::uint8_t>();
  const std::size_t plane = static_cast<std::size_t>(h) * w;
  int radius = static_cast<int>(std::ceil(3.0 * cfg.blur_sigma_max));
  radius = std::max(1, std::min<int>(radius, static_cast<int>(std::min(h, w) / 2 - 1)));
  std::vector<float> scratch;
  for (std::int64_t i = 0; i < b; ++i) {
    // Draw every parameter for every sample (used or not) so later samples do not depend on earlier coins.
    const bool flip = rng.uniform() < cfg.flip_p;
    const bool rotate = rng.uniform() < cfg.rotate_p;
    const double angle = rng.uniform(-cfg.rotate_degrees, cfg.rotate_degrees) * kPi / 180.0;
    const bool blur = rng.uniform() < cfg.blur_p;
    const double sigma = rng.uniform(cfg.blur_sigma_min, cfg.blur_sigma_max);
    const float* img = si + i * plane;
    const std::uint8_t* lab = sl + i * plane;
    float* dst = oi + i * plane;
    std::uint8_t* dlab = ol + i * plane;
    const double a = rotate ? angle : 0.0;
    if (a == 0.0) {
      // Exact copy or horizontal flip.
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x) {
          const std::int64_t sx = flip ? w - 1 - x : x;
          dst[y * w + x] = img[y * w + sx];
          dlab[y * w + x] = lab[y * w + sx];
        }
    } else {
      // Output pixel (x, y) samples the input at R(a) (fx x, y) in normalised coordinates about the image
      // centre (PyTorch's affine_grid + grid_sample with align_corners = false): bilinear with border
      // padding for the image (CT borders are air), nearest with zero (background) padding for the label.
      const double c = std::cos(a), s = std::sin(a), fx = flip ? -1.0 : 1.0;
      for (std::int64_t y = 0; y < h; ++y) {
        const double yn = (2.0 * y + 1.0) / h - 1.0;
        for (std::int64_t x = 0; x < w; ++x) {
          const double xn = (2.0 * x + 1.0) / w - 1.0;
          const double us = c * fx * xn - s * yn, vs = s * fx * xn + c * yn;
          const double px = ((us + 1.0) * w - 1.0) / 2.0, py = ((vs + 1.0) * h - 1.0) / 2.0;
          const double bx = std::clamp(px, 0.0, static_cast<double>(w - 1)), by = std::clamp(py, 0.0, static_cast<double>(h - 1));
          const std::int64_t x0 = static_cast<std::int64_t>(bx), y0 = static_cast<std::int64_t>(by);
          const std::int64_t x1 = std::min(x0 + 1, w - 1), y1 = std::min(y0 + 1, h - 1);
          const double tx = bx - x0, ty = by - y0;
          dst[y * w + x] = static_cast<float>((img[y0 * w + x0] * (1 - tx) + img[y0 * w + x1] * tx) * (1 - ty) +
                                              (img[y1 * w + x0] * (1 - tx) + img[y1 * w + x1] * tx) * ty);
          const std::int64_t nx = static_cast<std::int64_t>(std::nearbyint(px)), ny = static_cast<std::int64_t>(std::nearbyint(py));
          dlab[y * w + x] = (nx >= 0 && ny >= 0 && nx < w && ny < h) ? lab[ny * w + nx] : 0;
        }
      }
    }
    if (blur && sigma > 0) gaussian_blur(dst, static_cast<int>(h), static_cast<int>(w), sigma, radius, scratch);
  }
  return Batch{out_img, out_lab};
}

TrainBatches::TrainBatches(const SliceTensors& slices, const DataConfig& data, int batch_size, int steps_per_epoch,
                           std::uint64_t seed)
    : slices_(slices), data_(data), batch_size_(batch_size), steps_per_epoch_(steps_per_epoch), seed_(seed) {
  if (batch_size < 1) throw std::runtime_error("train.batch_size = " + std::to_string(batch_size) + ": allowed >= 1");
  for (std::int64_t i = 0; i < slices.size(); ++i) (slices.foreground[i] ? with_fg_ : without_fg_).push_back(i);
}

std::vector<std::int64_t> TrainBatches::epoch_order(int epoch) const {
  Rng rng(mix_seed(seed_, 0xE90C, static_cast<std::uint64_t>(epoch)));
  std::vector<std::int64_t> order = with_fg_;
  std::vector<std::int64_t> empty = without_fg_;
  shuffle(empty, rng);
  // With no foreground slice at all, every slice is used (nothing else to learn from).
  std::size_t keep = with_fg_.empty() ? empty.size() : static_cast<std::size_t>(std::lround(data_.empty_slice_ratio * empty.size()));
  order.insert(order.end(), empty.begin(), empty.begin() + static_cast<std::ptrdiff_t>(std::min(keep, empty.size())));
  shuffle(order, rng);
  return order;
}

int TrainBatches::steps(const std::vector<std::int64_t>& order) const {
  if (steps_per_epoch_ > 0) return steps_per_epoch_;
  return static_cast<int>((order.size() + batch_size_ - 1) / batch_size_);
}

Batch TrainBatches::get(const std::vector<std::int64_t>& order, int epoch, int step, bool augmented) const {
  if (order.empty()) throw std::runtime_error("no training slice to draw a batch from");
  std::vector<std::int64_t> idx;
  const std::size_t begin = static_cast<std::size_t>(step) * batch_size_;
  const bool one_pass = steps_per_epoch_ <= 0;
  for (int i = 0; i < batch_size_; ++i) {
    const std::size_t pos = begin + i;
    if (one_pass && pos >= order.size()) break;  // partial last batch of a pass
    idx.push_back(order[pos % order.size()]);
  }
  const std::int64_t n = static_cast<std::int64_t>(idx.size()), h = slices_.images.size(2), w = slices_.images.size(3);
  const std::size_t plane = static_cast<std::size_t>(h) * w;
  const auto host = torch::TensorOptions().device(torch::kCPU).pinned_memory(pin_memory_);
  Batch batch{torch::empty({n, 1, h, w}, host.dtype(torch::kFloat32)),
              torch::empty({n, h, w}, host.dtype(torch::kUInt8))};
  const float* img = slices_.images.data_ptr<float>();
  const std::uint8_t* lab = slices_.labels.data_ptr<std::uint8_t>();
  float* bi = batch.images.data_ptr<float>();
  std::uint8_t* bl = batch.labels.data_ptr<std::uint8_t>();
  for (std::int64_t k = 0; k < n; ++k) {
    std::copy(img + idx[k] * plane, img + (idx[k] + 1) * plane, bi + k * plane);
    std::copy(lab + idx[k] * plane, lab + (idx[k] + 1) * plane, bl + k * plane);
  }
  if (!augmented) return batch;
  Rng rng(mix_seed(seed_, 0xA06, static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(step)));
  return augment(batch, data_.augment, rng);
}

}  // namespace ablate::trainer::data
