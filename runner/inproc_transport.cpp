#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "runner/transport.hpp"

namespace ablate::runner {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

namespace {

struct Mailbox {
  std::mutex m;
  std::condition_variable cv;
  std::deque<Envelope> q;
};

struct Hub {
  std::vector<Mailbox> boxes;
  explicit Hub(int n) : boxes(n) {}
};

std::string hostname() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

class InprocTransport : public Transport {
 public:
  InprocTransport(std::shared_ptr<Hub> hub, int rank) : hub_(std::move(hub)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(hub_->boxes.size()); }
  void send(int dest, const std::string& bytes) override {
    Mailbox& b = hub_->boxes.at(dest);
    {
      std::lock_guard<std::mutex> lock(b.m);
      b.q.push_back({rank_, bytes});
    }
    b.cv.notify_one();
  }
  bool receive(Envelope& out, double timeout_s) override {
    Mailbox& b = hub_->boxes.at(rank_);
    std::unique_lock<std::mutex> lock(b.m);
    if (!b.cv.wait_for(lock, std::chrono::duration<double>(timeout_s), [&] { return !b.q.empty(); })) return false;
    out = std::move(b.q.front());
    b.q.pop_front();
    return true;
  }
  NodeInfo node() const override {
    NodeInfo n;
    n.host = hostname();
    n.local_rank = rank_;
    n.local_size = size();
    n.local_workers = size() - 1;
    n.local_worker_index = rank_ - 1;
    n.cores = available_cores();
    return n;
  }
  std::vector<std::string> hosts() const override { return std::vector<std::string>(size(), hostname()); }
  std::string library_version() const override { return "in-process (no MPI)"; }
  void abort(int) override {}

 private:
  std::shared_ptr<Hub> hub_;
  int rank_;
};

}  // namespace

std::vector<std::unique_ptr<Transport>> make_inproc_transports(int workers) {
  auto hub = std::make_shared<Hub>(workers + 1);
  std::vector<std::unique_ptr<Transport>> out;
  for (int r = 0; r <= workers; ++r) out.push_back(std::make_unique<InprocTransport>(hub, r));
  return out;
}

}  // namespace ablate::runner
