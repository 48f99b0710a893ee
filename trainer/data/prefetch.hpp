// The next training batches prepared on a thread while the current step runs (internal to trainer/).
//
// Contract.
//   What: Prefetcher<T> hands out make(first), make(first + 1), ..., make(end - 1) in that order, one per
//   next(). With depth > 0 one producer thread calls `make` ahead of the consumer, holding at most `depth`
//   finished items (a bounded queue: memory is depth batches, however slow the consumer); with depth = 0
//   next() calls make() itself. Either way item k is make(k): when make is a function of its step alone
//   (TrainBatches::get is one of (seed, epoch, step)), the items are the same with and without prefetch.
//   Threads: construct, call next() and destroy from one thread (the training loop); `make` runs on the
//   producer thread and must not touch the consumer's state (TrainBatches::get is const and draws from
//   its own generator). make(k + 1) may run while the consumer uses item k.
//   Errors: an exception thrown by make(k) is captured and rethrown by the next() that would have returned
//   item k (the items before it are delivered first), so a loader failure surfaces in the training loop
//   with the step that caused it; nothing is produced after it. next() past `end` throws std::logic_error.
//   Shutdown: the destructor stops the producer and joins it, also mid-epoch (a stop request, a failed
//   step): it waits for at most the one make() in progress; items not taken are dropped.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

namespace ablate::trainer::data {

template <class T>
class Prefetcher {
 public:
  using Make = std::function<T(int)>;

  Prefetcher(int first, int end, int depth, Make make)
      : next_(first), end_(end), depth_(depth), make_(std::move(make)) {
    if (depth_ > 0 && first < end) thread_ = std::thread([this, first] { produce(first); });
  }
  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(m_);
      stop_ = true;
    }
    space_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  T next() {
    if (next_ >= end_) throw std::logic_error("Prefetcher: no item after step " + std::to_string(end_ - 1));
    const int step = next_++;
    if (!thread_.joinable()) return make_(step);
    std::unique_lock<std::mutex> lock(m_);
    ready_cv_.wait(lock, [&] { return !ready_.empty() || error_; });
    if (ready_.empty()) std::rethrow_exception(error_);
    T item = std::move(ready_.front());
    ready_.pop_front();
    lock.unlock();
    space_.notify_one();
    return item;
  }

 private:
  void produce(int first) {
    for (int step = first; step < end_; ++step) {
      {
        std::unique_lock<std::mutex> lock(m_);
        space_.wait(lock, [&] { return stop_ || static_cast<int>(ready_.size()) < depth_; });
        if (stop_) return;
      }
      try {
        T item = make_(step);
        std::lock_guard<std::mutex> lock(m_);
        ready_.push_back(std::move(item));
      } catch (...) {
        std::lock_guard<std::mutex> lock(m_);
        error_ = std::current_exception();
      }
      ready_cv_.notify_one();
      if (error_) return;  // only this thread writes error_
    }
  }

  int next_;
  const int end_;
  const int depth_;
  Make make_;
  std::mutex m_;
  std::condition_variable space_, ready_cv_;
  std::deque<T> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread thread_;  // last: started after every other member is constructed
};

}  // namespace ablate::trainer::data
