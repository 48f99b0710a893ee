// The prefetch of training batches (trainer/data/prefetch.hpp): items in step order whatever the depth,
// the queue bounded, a loader's exception surfacing at its step, shutdown mid-epoch without hanging; and
// the training batches themselves the same with and without prefetch.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "trainer/data/loader.hpp"
#include "trainer/data/prefetch.hpp"

using namespace ablate;
using namespace ablate::trainer::data;

namespace {

// Waits (up to 10 s, polling) until `done` holds; whether it held.
template <class Pred>
bool eventually(Pred done) {
  for (int i = 0; i < 10000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return done();
}

}  // namespace

TEST(Prefetcher, GivesEveryStepInOrderAtEveryDepth) {
  for (int depth : {0, 1, 2, 5}) {
    std::atomic<int> made{0};
    Prefetcher<int> p(3, 11, depth, [&](int step) {
      ++made;
      return step * step;
    });
    for (int step = 3; step < 11; ++step) EXPECT_EQ(p.next(), step * step) << "depth " << depth;
    EXPECT_EQ(made.load(), 8) << "depth " << depth;  // each step made once
    EXPECT_THROW(p.next(), std::logic_error);
  }
  // An empty range starts no thread and gives nothing.
  Prefetcher<int> none(4, 4, 2, [](int) -> int { throw std::runtime_error("never called"); });
  EXPECT_THROW(none.next(), std::logic_error);
}

// depth 0 makes the item on the caller's thread; depth > 0 on one other thread.
TEST(Prefetcher, DepthZeroRunsOnTheCallersThread) {
  const std::thread::id self = std::this_thread::get_id();
  std::thread::id seen;
  Prefetcher<int> inline_(0, 1, 0, [&](int) {
    seen = std::this_thread::get_id();
    return 0;
  });
  inline_.next();
  EXPECT_EQ(seen, self);
  Prefetcher<int> ahead(0, 1, 1, [&](int) {
    seen = std::this_thread::get_id();
    return 0;
  });
  ahead.next();
  EXPECT_NE(seen, self);
}

// The producer holds at most `depth` finished items: with nobody taking, it stops there.
TEST(Prefetcher, TheQueueIsBounded) {
  std::atomic<int> made{0};
  Prefetcher<int> p(0, 100, 3, [&](int step) {
    ++made;
    return step;
  });
  ASSERT_TRUE(eventually([&] { return made.load() >= 3; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // room for a wrong fourth
  EXPECT_EQ(made.load(), 3);
  EXPECT_EQ(p.next(), 0);
  ASSERT_TRUE(eventually([&] { return made.load() >= 4; }));  // one taken, one more made
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(made.load(), 4);
}

// A loader failure at step k: the items before it arrive, then next() for step k rethrows it (its type and
// text), and nothing is made after it.
TEST(Prefetcher, AnExceptionSurfacesAtItsStep) {
  for (int depth : {0, 1, 4}) {
    std::atomic<int> made{0};
    Prefetcher<int> p(0, 10, depth, [&](int step) {
      ++made;
      if (step == 3) throw std::runtime_error("case synth_003: truncated at step " + std::to_string(step));
      return step;
    });
    for (int step = 0; step < 3; ++step) EXPECT_EQ(p.next(), step) << "depth " << depth;
    try {
      p.next();
      ADD_FAILURE() << "depth " << depth << ": no exception at step 3";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "case synth_003: truncated at step 3");
    }
    EXPECT_EQ(made.load(), 4) << "depth " << depth;
  }
}

// Shutdown mid-epoch (a stop request or a failed step leaves the loop): the destructor returns with the
// producer blocked on a full queue, and with the producer inside a slow make() (it waits for that one).
TEST(Prefetcher, DestroyedMidEpochDoesNotHang) {
  std::atomic<int> made{0};
  {
    Prefetcher<int> full(0, 1000, 2, [&](int step) {
      ++made;
      return step;
    });
    EXPECT_EQ(full.next(), 0);
    ASSERT_TRUE(eventually([&] { return made.load() >= 3; }));
  }
  EXPECT_EQ(made.load(), 3);
  std::atomic<bool> inside{false};
  std::atomic<int> finished{0};
  {
    Prefetcher<int> slow(0, 1000, 2, [&](int step) {
      inside = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ++finished;
      return step;
    });
    ASSERT_TRUE(eventually([&] { return inside.load(); }));
  }
  EXPECT_LE(finished.load(), 2);  // the one in progress (and at most one more before it saw the stop)
  // Destroyed without a single next(), right away.
  Prefetcher<int> unused(0, 1000, 4, [](int step) { return step; });
}

// The training batches (TrainBatches::get, a function of seed, epoch and step) through the prefetcher: the
// same images and labels in the same order with and without prefetch, also from a step within an epoch (a
// resumed one).
TEST(Prefetcher, TrainingBatchesAreTheSameWithAndWithoutPrefetch) {
  PreparedCase c;
  c.id = "c";
  c.slices = 24;
  c.size = 16;
  c.image.resize(static_cast<std::size_t>(c.slices) * c.size * c.size);
  c.label.resize(c.image.size());
  for (std::size_t i = 0; i < c.image.size(); ++i) {
    c.image[i] = static_cast<float>((i * 7919) % 101) / 101.0f;
    c.label[i] = (i / 16) % 5 == 0 ? ((i % 3) ? 1 : 2) : 0;
  }
  const SliceTensors slices = stack_cases({&c});
  DataConfig d;
  d.empty_slice_ratio = 0.5;
  d.augment.rotate_p = 0.5;  // every kind of draw on the path
  d.augment.blur_p = 0.5;
  const TrainBatches batches(slices, d, 3, 0, 1234);
  for (int epoch : {1, 2}) {
    const auto order = batches.epoch_order(epoch);
    const int steps = batches.steps(order);
    ASSERT_GT(steps, 3);
    for (int first : {0, 2}) {
      auto make = [&](int step) { return batches.get(order, epoch, step); };
      Prefetcher<Batch> plain(first, steps, 0, make), ahead(first, steps, 2, make);
      for (int step = first; step < steps; ++step) {
        const Batch a = plain.next(), b = ahead.next();
        EXPECT_EQ(b.labels.scalar_type(), torch::kUInt8);
        EXPECT_TRUE(torch::equal(a.images, b.images)) << "epoch " << epoch << " step " << step;
        EXPECT_TRUE(torch::equal(a.labels, b.labels)) << "epoch " << epoch << " step " << step;
      }
    }
  }
  // The batches differ from step to step (the comparison above is not between constants).
  const auto order = batches.epoch_order(1);
  EXPECT_FALSE(torch::equal(batches.get(order, 1, 0).images, batches.get(order, 1, 1).images));
}
