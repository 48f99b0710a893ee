#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <filesystem>

#include "runner/run.hpp"

namespace ablate::runner {

Placement place_worker(const NodeInfo& node, int rank, int gpus, int ranks_per_gpu) {
  Placement p;
  p.host = node.host;
  p.rank = rank;
  p.local_rank = node.local_rank;
  const int index = std::max(0, node.local_worker_index);
  const int workers = std::max(1, node.local_workers);
  // Each worker's share of the cores the job has on the node (the coordinator mostly waits and is not
  // counted), never more than the rank's own affinity mask allows: ranks bound to their own cores by
  // srun/mpirun get their binding; unbound ranks that all see the node split it.
  p.threads = std::max(1, node.cores / workers);
  if (node.rank_cores > 0) p.threads = std::max(1, std::min(p.threads, node.rank_cores));
  if (gpus > 0) {
    // Several ranks per GPU when resources.ranks_per_gpu > 1: consecutive workers share a device.
    p.device = "cuda:" + std::to_string((index / std::max(1, ranks_per_gpu)) % gpus);
  } else {
    p.device = "cpu";
  }
  return p;
}

Placement place_task(const Placement& worker, const VariantConfig& config) {
  Placement p = worker;
  if (config.train.device == "cpu") p.device = "cpu";
  if (config.train.threads > 0) p.threads = config.train.threads;
  return p;
}

std::string default_db_path(const std::string& study_file, const std::string& study_name) {
  std::filesystem::path dir = std::filesystem::path(study_file).parent_path();
  return (dir / (study_name + ".sqlite")).string();
}

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }
}  // namespace

std::atomic<bool>& stop_flag() { return g_stop; }

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  // Ctrl-C (SIGINT) stops a run as SIGTERM does: checkpoint, store, exit 3.
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  // A launcher may start the process with these blocked; a stop request that arrived before this point
  // is pending and is delivered here, not lost.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGUSR1);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);
}

}  // namespace ablate::runner
