#include "trainer/data/loader.hpp"

#include <cmath>
#include <stdexcept>

namespace ablate::trainer::data {

SliceTensors stack_cases(const std::vector<const PreparedCase*>& cases) {
  SliceTensors t;
  std::int64_t n = 0;
  int size = 0;
  for (const PreparedCase* c : cases) {
    if (size && c->size != size) throw std::runtime_error("case " + c->id + ": slice size differs from the other cases");
    size = c->size;
    n += c->slices;
  }
  t.images = torch::empty({n, 1, size, size}, torch::kFloat32);
  t.labels = torch::empty({n, size, size}, torch::kUInt8);
  float* img = t.images.data_ptr<float>();
  std::uint8_t* lab = t.labels.data_ptr<std::uint8_t>();
  std::int64_t offset = 0;
  for (std::size_t ci = 0; ci < cases.size(); ++ci) {
    const PreparedCase& c = *cases[ci];
    std::copy(c.image.begin(), c.image.end(), img + offset * c.pixels_per_slice());
    std::copy(c.label.begin(), c.label.end(), lab + offset * c.pixels_per_slice());
    for (int s = 0; s < c.slices; ++s) {
      t.foreground.push_back(c.slice_has_foreground(s) ? 1 : 0);
      t.case_of.push_back(static_cast<int>(ci));
    }
    offset += c.slices;
  }
  return t;
}

Batch augment(const Batch& in, const AugmentConfig& cfg, Rng& rng) {
  const std::int64_t b = in.images.size(0), h = in.images.size(2), w = in.images.size(3);
  constexpr double kPi = 3.14159265358979323846;
  std::vector<float> theta(static_cast<std::size_t>(b) * 6);
  std::vector<double> sigma(static_cast<std::size_t>(b), 0.0);
  bool any_geometry = false, any_blur = false;
  for (std::int64_t i = 0; i < b; ++i) {
    // Draw every parameter for every sample (used or not) so later samples do not depend on earlier coins.
    const bool flip = rng.uniform() < cfg.flip_p;
    const bool rotate = rng.uniform() < cfg.rotate_p;
    const double angle = rng.uniform(-cfg.rotate_degrees, cfg.rotate_degrees) * kPi / 180.0;
    const bool blur = rng.uniform() < cfg.blur_p;
    const double s = rng.uniform(cfg.blur_sigma_min, cfg.blur_sigma_max);
    const double a = rotate ? angle : 0.0;
    const double fx = flip ? -1.0 : 1.0;
    // Output pixel (x, y) samples the input at R(a) * (fx * x, y): a horizontal flip, then a rotation
    // about the image centre (normalised coordinates, square images).
    float* t = theta.data() + i * 6;
    t[0] = static_cast<float>(std::cos(a) * fx);
    t[1] = static_cast<float>(-std::sin(a));
    t[2] = 0.0f;
    t[3] = static_cast<float>(std::sin(a) * fx);
    t[4] = static_cast<float>(std::cos(a));
    t[5] = 0.0f;
    any_geometry = any_geometry || flip || (rotate && a != 0.0);
    if (blur && s > 0) {
      sigma[i] = s;
      any_blur = true;
    }
  }
  Batch out{in.images, in.labels};
  if (any_geometry) {
    torch::Tensor th = torch::from_blob(theta.data(), {b, 2, 3}, torch::kFloat32).clone().to(in.images.device());
    torch::Tensor grid = torch::affine_grid_generator(th, {b, 1, h, w}, false);
    // Image: bilinear, border padding (CT borders are air); label: nearest, zero padding (background).
    out.images = torch::grid_sampler(in.images, grid, 0, 1, false);
    torch::Tensor lab = in.labels.to(torch::kFloat32).unsqueeze(1);
    out.labels = torch::grid_sampler(lab, grid, 1, 0, false).squeeze(1).round().to(torch::kInt64);
  }
  if (any_blur) {
    // Separable Gaussian per sample as one grouped convolution (a delta kernel for samples not blurred).
    int radius = static_cast<int>(std::ceil(3.0 * cfg.blur_sigma_max));
    radius = std::max(1, std::min(radius, static_cast<int>(std::min(h, w) / 2 - 1)));
    const int k = 2 * radius + 1;
    std::vector<float> kernel(static_cast<std::size_t>(b) * k, 0.0f);
    for (std::int64_t i = 0; i < b; ++i) {
      float* kr = kernel.data() + i * k;
      if (sigma[i] <= 0) {
        kr[radius] = 1.0f;
        continue;
      }
      double sum = 0;
      for (int j = -radius; j <= radius; ++j) sum += kr[j + radius] = static_cast<float>(std::exp(-0.5 * j * j / (sigma[i] * sigma[i])));
      for (int j = 0; j < k; ++j) kr[j] = static_cast<float>(kr[j] / sum);
    }
    torch::Tensor kt = torch::from_blob(kernel.data(), {b, 1, 1, k}, torch::kFloat32).clone().to(in.images.device());
    torch::Tensor x = out.images.reshape({1, b, h, w});
    x = torch::replication_pad2d(x, {radius, radius, 0, 0});
    x = torch::nn::functional::conv2d(x, kt, torch::nn::functional::Conv2dFuncOptions().groups(b));
    x = torch::replication_pad2d(x, {0, 0, radius, radius});
    x = torch::nn::functional::conv2d(x, kt.transpose(2, 3), torch::nn::functional::Conv2dFuncOptions().groups(b));
    out.images = x.reshape({b, 1, h, w});
  }
  if (out.labels.scalar_type() != torch::kInt64) out.labels = out.labels.to(torch::kInt64);
  return out;
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
  torch::Tensor index = torch::tensor(idx, torch::kInt64);
  Batch batch{slices_.images.index_select(0, index), slices_.labels.index_select(0, index).to(torch::kInt64)};
  if (!augmented) return batch;
  Rng rng(mix_seed(seed_, 0xA06, static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(step)));
  return augment(batch, data_.augment, rng);
}

}  // namespace ablate::trainer::data
