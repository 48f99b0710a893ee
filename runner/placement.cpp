#include <pthread.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>

#include "ablations/study.hpp"
#include "runner/messages.hpp"
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

std::string oversubscription_warning(const NodeInfo& node, int gpus, int ranks_per_gpu) {
  const int slots = gpus * std::max(1, ranks_per_gpu);
  if (gpus <= 0 || node.local_workers <= slots) return "";
  return node.host + ": " + std::to_string(node.local_workers) + " workers but " + std::to_string(gpus) + " GPU(s) x " +
         std::to_string(std::max(1, ranks_per_gpu)) + " rank(s) per GPU = " + std::to_string(slots) +
         " slot(s): the extra workers share GPUs already full (slower ranks, possible out-of-memory); launch " +
         std::to_string(slots) + " worker(s) per node or raise resources.ranks_per_gpu";
}

bool study_wants_gpu(const Study& study) {
  auto wants = [&](const VariantConfig& c) {
    return c.train.device == "cuda" ||
           (c.train.device == "auto" && (c.resources.gpus_per_node > 0 || c.train.precision == "bf16"));
  };
  return wants(study.base) || std::any_of(study.variants.begin(), study.variants.end(), [&](const Variant& v) { return wants(v.config); });
}

std::map<int, Placement> await_workers(Transport& t) {
  std::map<int, Placement> ready;
  std::vector<std::string> refusals;
  Envelope env;
  while (static_cast<int>(ready.size() + refusals.size()) < t.size() - 1) {
    if (!t.receive(env, 1.0)) continue;
    switch (kind_of(env.bytes)) {
      case MessageKind::kReady:
        ready[env.source] = decode_ready(env.bytes);
        break;
      case MessageKind::kRefused:
        refusals.push_back(decode_refused(env.bytes));
        break;
      case MessageKind::kWorkerError:
        throw std::runtime_error("worker " + std::to_string(env.source) + " failed outside a task: " + decode_worker_error(env.bytes));
      default:
        throw MessageError("coordinator: unexpected message kind " + std::to_string(static_cast<int>(kind_of(env.bytes))) +
                           " from rank " + std::to_string(env.source) + " before its ready message");
    }
  }
  if (!refusals.empty()) {
    std::string text = std::to_string(refusals.size()) + " of " + std::to_string(t.size() - 1) + " worker(s) cannot serve this study:";
    for (const auto& r : refusals) text += "\n  " + r;
    throw RunRefused(RunRefused::kDevice, text);
  }
  return ready;
}

std::map<std::string, std::string> device_provenance(const std::map<int, Placement>& workers, const Placement& coordinator) {
  std::map<std::string, std::string> out;
  auto gpus = [&out](int rank, const Placement& p) {
    if (!p.given_gpus.empty()) out["gpus.rank" + std::to_string(rank)] = p.host + " " + p.given_gpus;
  };
  gpus(0, coordinator);
  for (const auto& [rank, p] : workers) {
    out["device.rank" + std::to_string(rank)] = p.host + " " + p.device + ": " + (p.device_facts.empty() ? p.device : p.device_facts);
    gpus(rank, p);
  }
  return out;
}

std::string given_gpus() {
  const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
  return v ? std::string("CUDA_VISIBLE_DEVICES=") + v : std::string();
}

bool gpus_per_rank() {
  const char* v = std::getenv("ABLATE_GPU_PER_RANK");
  return v && std::string(v) == "1";
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
