// In-memory training slices as tensors, the per-epoch sampling of slices and the augmentation of 001
// Sec. IV-C (horizontal flip p = 0.5, rotation within ±10°, Gaussian blur p = 0.5), applied to image
// and label alike (bilinear for the image, nearest for the label). Internal to trainer/ (LibTorch).
//
// Contract: as the rest of trainer/ (trainer/trainer.hpp): the tensors and the Rng belong to one task and
// its thread; the one exception is TrainBatches::get, const and with a generator of its own per call, which
// the task's prefetch thread calls too (trainer/data/prefetch.hpp). Inconsistent input (cases of different
// slice sizes, nothing to draw from) throws std::runtime_error naming the case or the key.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "ablations/config.hpp"
#include "trainer/data/preprocess.hpp"
#include "trainer/data/random.hpp"

namespace ablate::trainer::data {

// All slices of a set of cases, stacked once (the loader only gathers and augments).
struct SliceTensors {
  torch::Tensor images;                 // N x 1 x S x S float32
  torch::Tensor labels;                 // N x S x S uint8
  std::vector<std::uint8_t> foreground;  // per slice: any label > 0
  std::vector<int> case_of;             // per slice: index into the case list
  std::int64_t size() const { return images.defined() ? images.size(0) : 0; }
};
SliceTensors stack_cases(const std::vector<const PreparedCase*>& cases);

// The same, one case at a time into tensors allocated up front (`slices` in all, `size` x `size`): the
// caller can load a case, add it and drop it, so that only one case's copy exists beside the tensors
// (run_task stacks the training cases this way). Throws when a case does not fit.
class SliceStacker {
 public:
  SliceStacker(std::int64_t slices, int size);
  void add(const PreparedCase& c);
  SliceTensors take();  // throws unless exactly `slices` slices were added

 private:
  SliceTensors t_;
  std::int64_t offset_ = 0;
  int cases_ = 0;
};

// Labels stay uint8 on the host (an eighth of int64's bytes to copy to a GPU); the training loop converts
// them to the int64 class indices the losses take on the device.
struct Batch {
  torch::Tensor images;  // B x 1 x S x S float32
  torch::Tensor labels;  // B x S x S uint8
};

// Augments a batch in place of a copy; the draws come from `rng` only (repeatable from a seed). The result
// is in pinned memory when the input images are (and the labels uint8 whatever the input's type).
Batch augment(const Batch& batch, const AugmentConfig& config, Rng& rng);

// Sampling of training slices: every slice with foreground, plus a random data.empty_slice_ratio share of
// the slices without (redrawn each epoch), shuffled; everything derived from (seed, epoch, step) so that
// a resumed run sees the same batches as an uninterrupted one.
class TrainBatches {
 public:
  // steps_per_epoch > 0: that many batches per epoch (wrapping around the order); 0: one pass over the
  // order, the last batch partial.
  TrainBatches(const SliceTensors& slices, const DataConfig& data, int batch_size, int steps_per_epoch, std::uint64_t seed);
  std::vector<std::int64_t> epoch_order(int epoch) const;
  int steps(const std::vector<std::int64_t>& order) const;
  // Thread-safe (const, its own generator per call): the prefetch thread calls it (data/prefetch.hpp).
  Batch get(const std::vector<std::int64_t>& order, int epoch, int step, bool augmented = true) const;
  // Batches in page-locked host memory, so that a copy to a CUDA device can be asynchronous
  // (non_blocking). Only with a CUDA device: a CPU-only LibTorch cannot allocate pinned memory.
  void set_pin_memory(bool pin) { pin_memory_ = pin; }

 private:
  const SliceTensors& slices_;
  DataConfig data_;
  int batch_size_;
  int steps_per_epoch_;
  std::uint64_t seed_;
  bool pin_memory_ = false;
  std::vector<std::int64_t> with_fg_, without_fg_;
};

}  // namespace ablate::trainer::data
