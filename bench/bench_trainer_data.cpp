// Data path benchmark: preprocessing time per case (cold and from the cache), loader throughput with
// augmentation, training steps with real loading against training on a batch already in memory, the
// training loop with and without prefetch (train.prefetch), and the evaluation time per case (inference +
// metrics) on the prepared and on the native grid. Figures go to docs/PERFORMANCE.md.
//
//   bench_trainer_data [--cases N] [--size N] [--slices N] [--image N] [--batch N] [--steps N] [--threads N]
#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "trainer/data/dataset.hpp"
#include "trainer/data/loader.hpp"
#include "trainer/data/prefetch.hpp"
#include "trainer/data/preprocess.hpp"
#include "trainer/data/synth.hpp"
#include "trainer/losses.hpp"
#include "trainer/metrics.hpp"
#include "trainer/nn/network.hpp"

namespace fs = std::filesystem;
using namespace ablate;
using namespace ablate::trainer;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int arg(int argc, char** argv, const std::string& name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == "--" + name) return std::atoi(argv[i + 1]);
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  const int cases = arg(argc, argv, "cases", 6), size = arg(argc, argv, "size", 256), slices = arg(argc, argv, "slices", 32);
  const int image = arg(argc, argv, "image", 128), batch = arg(argc, argv, "batch", 4), steps = arg(argc, argv, "steps", 20);
  const int threads = arg(argc, argv, "threads", 2);
  torch::set_num_threads(threads);
  torch::manual_seed(1);
  const fs::path root = fs::temp_directory_path() / ("ablate_bench_data_" + std::to_string(::getpid()));
  fs::remove_all(root);

  std::printf("bench_trainer_data: %d cases of %dx%dx%d voxels, slices resized to %d, batch %d, %d threads\n", cases, size, size,
              slices, image, batch, threads);
  auto t = Clock::now();
  data::SynthOptions so;
  so.cases = cases;
  so.size = size;
  so.slices = slices;
  data::write_synthetic_dataset((root / "ds").string(), so);
  std::printf("synthetic dataset written: %.3f s (%.1f ms per case)\n", since(t), 1000 * since(t) / cases);

  DataConfig d;
  d.path = (root / "ds").string();
  d.cache_dir = (root / "cache").string();
  d.image_size = image;
  d.empty_slice_ratio = 1.0;
  const data::DatasetInfo info = data::read_dataset(d.path);

  // Preprocessing: cold (read NIfTI, window, resize, write the cache) and warm (read the cache).
  std::vector<data::PreparedCase> prepared;
  t = Clock::now();
  for (const auto& c : info.cases) prepared.push_back(data::load_case(c, d));
  const double cold = since(t);
  t = Clock::now();
  bool hit = false;
  for (const auto& c : info.cases) data::load_case(c, d, &hit);
  const double warm = since(t);
  std::printf("preprocess, cold (NIfTI -> cache): %.1f ms per case (%.0f slices/s)\n", 1000 * cold / cases, cases * slices / cold);
  std::printf("preprocess, warm (from the cache): %.1f ms per case (%.0f slices/s)%s\n", 1000 * warm / cases, cases * slices / warm,
              hit ? "" : " [cache miss!]");

  std::vector<const data::PreparedCase*> ptrs;
  for (const auto& c : prepared) ptrs.push_back(&c);
  const data::SliceTensors tensors = data::stack_cases(ptrs);
  const data::TrainBatches batches(tensors, d, batch, 0, 7);
  const auto order = batches.epoch_order(1);
  const int n_batches = batches.steps(order);

  // Loader alone.
  for (bool augmented : {false, true}) {
    t = Clock::now();
    int served = 0;
    for (int rep = 0; rep < 3; ++rep)
      for (int s = 0; s < n_batches; ++s) served += static_cast<int>(batches.get(order, 1, s, augmented).images.size(0));
    std::printf("loader %s: %.0f slices/s\n", augmented ? "with augmentation (flip, rotation, blur)" : "gather only", served / since(t));
  }

  // Training: real loading versus one batch already in memory, same model and step count.
  VariantConfig vc;
  vc.data = d;
  vc.model.widths = {8, 16, 32, 64};
  SegmentationNet net(vc.model, output_channels(vc));
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-3));
  auto train_step = [&](const data::Batch& b) {
    NetOutput o = net->forward(b.images);
    LossTerms l = compute_loss(o, b.labels.to(torch::kInt64), b.images, vc.loss);
    opt.zero_grad();
    l.total.backward();
    opt.step();
  };
  net->train();
  const data::Batch fixed = batches.get(order, 1, 0, true);
  train_step(fixed);  // warm-up
  // Interleaved, medians: the node is shared, so load from elsewhere hits both variants alike.
  std::vector<double> mem_ms, load_ms, get_ms;
  for (int s = 0; s < steps; ++s) {
    t = Clock::now();
    train_step(fixed);
    mem_ms.push_back(1000 * since(t));
    t = Clock::now();
    const data::Batch b = batches.get(order, 1, s % n_batches, true);
    get_ms.push_back(1000 * since(t));
    train_step(b);
    load_ms.push_back(1000 * since(t));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double m_mem = median(mem_ms), m_load = median(load_ms), m_get = median(get_ms);
  std::printf("training, widths 8..64, %dx%d, median of %d interleaved steps: in-memory batch %.1f ms/step (%.1f slices/s); "
              "with loading+augmentation %.1f ms/step (%.1f slices/s); batch preparation %.2f ms = %.1f %% of the step\n",
              image, image, steps, m_mem, 1000.0 * batch / m_mem, m_load, 1000.0 * batch / m_load, m_get, 100.0 * m_get / m_load);

  // The training loop's prefetch (train.prefetch, data/prefetch.hpp): the same steps with the batches
  // prepared inline (depth 0) and on the prefetch thread (depth 2), in alternating rounds of `steps` steps
  // (medians over the rounds: the node is shared).
  std::vector<double> round_ms[2];
  const int rounds = 5;
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < 2; ++k) {
      const int depth = k == 0 ? 0 : 2;
      t = Clock::now();
      data::Prefetcher<data::Batch> next(0, steps, depth,
                                         [&](int s) { return batches.get(order, 1, s % n_batches, true); });
      for (int s = 0; s < steps; ++s) train_step(next.next());
      round_ms[k].push_back(1000 * since(t) / steps);
    }
  }
  const double m_inline = median(round_ms[0]), m_ahead = median(round_ms[1]);
  std::printf(
      "training loop, median of %d rounds of %d steps: batches prepared inline %.1f ms/step (%.2f batches/s); "
      "with prefetch (depth 2) %.1f ms/step (%.2f batches/s): %+.1f %%\n",
      rounds, steps, m_inline, 1000.0 / m_inline, m_ahead, 1000.0 / m_ahead, 100.0 * (m_inline - m_ahead) / m_inline);

  // Evaluation per case: inference over all slices, then the 3D metrics.
  net->eval();
  double infer = 0, score = 0, score_2d = 0;
  for (const auto& c : prepared) {
    t = Clock::now();
    std::vector<std::uint8_t> pred(c.label.size());
    {
      torch::NoGradGuard ng;
      torch::Tensor x = torch::from_blob(const_cast<float*>(c.image.data()), {c.slices, 1, c.size, c.size}, torch::kFloat32);
      for (int b = 0; b < c.slices; b += 8) {
        const int e = std::min(c.slices, b + 8);
        torch::Tensor p = predict_labels(net->forward(x.slice(0, b, e)).main).to(torch::kUInt8).contiguous();
        std::copy(p.data_ptr<std::uint8_t>(), p.data_ptr<std::uint8_t>() + p.numel(), pred.begin() + static_cast<std::ptrdiff_t>(b) * c.size * c.size);
      }
    }
    infer += since(t);
    t = Clock::now();
    Grid g;
    g.dim = {c.slices, c.size, c.size};
    g.spacing = c.spacing;
    // Score the ground truth against a shifted copy of itself so that the distance part has work to do.
    std::vector<std::uint8_t> shifted(c.label.size(), 0);
    for (std::size_t i = 1; i < c.label.size(); ++i) shifted[i] = c.label[i - 1];
    class_metrics(shifted, c.label, g, 1);
    score += since(t);
    t = Clock::now();
    slice_metrics(shifted, c.label, g, 1);  // the <metric>_2d values (every slice scored as a 2D image)
    score_2d += since(t);
  }
  std::printf("evaluation per case (%d slices of %dx%d): inference %.1f ms, metrics incl. ASSD/HD95 %.1f ms, per-slice metrics "
              "%.1f ms\n", slices, image, image, 1000 * infer / cases, 1000 * score / cases, 1000 * score_2d / cases);

  // The same at native resolution (data.evaluate_at = native, the default): the label read from its NIfTI
  // file, the logits resampled to the case's own slice size before the labels are taken, the metrics on
  // the native grid (here size x size instead of image x image).
  double read_native = 0, infer_native = 0, score_native = 0;
  for (std::size_t k = 0; k < prepared.size(); ++k) {
    const data::PreparedCase& c = prepared[k];
    t = Clock::now();
    const data::NativeLabel n = data::load_native_label(info.cases[k], d);
    read_native += since(t);
    t = Clock::now();
    std::vector<std::uint8_t> pred(n.label.size());
    {
      torch::NoGradGuard ng;
      namespace F = torch::nn::functional;
      torch::Tensor x = torch::from_blob(const_cast<float*>(c.image.data()), {c.slices, 1, c.size, c.size}, torch::kFloat32);
      for (int b = 0; b < c.slices; b += 8) {
        const int e = std::min(c.slices, b + 8);
        torch::Tensor logits = F::interpolate(net->forward(x.slice(0, b, e)).main,
                                              F::InterpolateFuncOptions().size(std::vector<std::int64_t>{n.rows, n.cols}).mode(torch::kBilinear).align_corners(false));
        torch::Tensor p = predict_labels(logits).to(torch::kUInt8).contiguous();
        std::copy(p.data_ptr<std::uint8_t>(), p.data_ptr<std::uint8_t>() + p.numel(),
                  pred.begin() + static_cast<std::ptrdiff_t>(b) * n.rows * n.cols);
      }
    }
    infer_native += since(t);
    t = Clock::now();
    Grid g;
    g.dim = {n.slices, n.rows, n.cols};
    g.spacing = n.spacing;
    std::vector<std::uint8_t> shifted(n.label.size(), 0);
    for (std::size_t i = 1; i < n.label.size(); ++i) shifted[i] = n.label[i - 1];
    class_metrics(shifted, n.label, g, 1);
    slice_metrics(shifted, n.label, g, 1);
    score_native += since(t);
  }
  std::printf("native evaluation per case (%d slices of %dx%d): reading the label %.1f ms, inference with resampling %.1f ms, "
              "3D + per-slice metrics %.1f ms\n", slices, size, size, 1000 * read_native / cases, 1000 * infer_native / cases,
              1000 * score_native / cases);
  fs::remove_all(root);
  return 0;
}
