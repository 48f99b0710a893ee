// The one file that sees mpi.h. Messages are byte strings (runner/messages.hpp) sent with MPI_Send on
// one tag; receiving polls with MPI_Iprobe and short sleeps, so that idle ranks on an oversubscribed
// node give their core to the ranks that compute (Open MPI's blocking receive spins).
// The C API only (Open MPI would otherwise pull in its C++ bindings, which MPI::MPI_C does not link).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

#include "runner/transport.hpp"

namespace ablate::runner {

namespace {

constexpr int kTag = 7;

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw std::runtime_error(std::string("MPI: ") + what + ": " + std::string(msg, len));
  }
}

class MpiTransport : public Transport {
 public:
  MpiTransport() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_ = true;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);

    // Node-local rank from the shared-memory communicator (ranks that share a node).
    MPI_Comm local;
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local), "MPI_Comm_split_type");
    MPI_Comm_rank(local, &node_.local_rank);
    MPI_Comm_size(local, &node_.local_size);
    // Is the coordinator (world rank 0) on this node? Then it is not one of the node's workers.
    int min_world = rank_;
    MPI_Allreduce(&rank_, &min_world, 1, MPI_INT, MPI_MIN, local);
    int is_worker = rank_ == 0 ? 0 : 1;
    MPI_Allreduce(&is_worker, &node_.local_workers, 1, MPI_INT, MPI_SUM, local);
    int before = 0;
    MPI_Exscan(&is_worker, &before, 1, MPI_INT, MPI_SUM, local);
    if (node_.local_rank == 0) before = 0;  // MPI_Exscan leaves rank 0's value undefined
    node_.local_worker_index = is_worker ? before : -1;
    // The cores of the node's ranks: the union of their affinity masks (a Slurm cpuset, or per-rank
    // bindings); placement.cpp shares them among the node's workers.
    node_.rank_cores = available_cores();
    cpu_set_t mine_set;
    CPU_ZERO(&mine_set);
    if (sched_getaffinity(0, sizeof(mine_set), &mine_set) != 0) {
      for (int c = 0; c < node_.rank_cores && c < CPU_SETSIZE; ++c) CPU_SET(c, &mine_set);
    }
    std::vector<cpu_set_t> sets(static_cast<size_t>(node_.local_size));
    MPI_Allgather(&mine_set, sizeof(cpu_set_t), MPI_BYTE, sets.data(), sizeof(cpu_set_t), MPI_BYTE, local);
    cpu_set_t node_set;
    CPU_ZERO(&node_set);
    for (auto& set : sets) CPU_OR(&node_set, &node_set, &set);
    node_.cores = std::max(1, CPU_COUNT(&node_set));
    MPI_Comm_free(&local);

    char name[MPI_MAX_PROCESSOR_NAME];
    int len = 0;
    MPI_Get_processor_name(name, &len);
    node_.host = std::string(name, len);


    // Gather host names at rank 0 for the provenance.
    std::vector<char> all(static_cast<size_t>(size_) * MPI_MAX_PROCESSOR_NAME, 0);
    std::vector<char> mine(MPI_MAX_PROCESSOR_NAME, 0);
    std::copy(name, name + len, mine.begin());
    MPI_Gather(mine.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, MPI_COMM_WORLD);
    for (int r = 0; r < size_; ++r) hosts_.emplace_back(all.data() + static_cast<size_t>(r) * MPI_MAX_PROCESSOR_NAME);

    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int vlen = 0;
    MPI_Get_library_version(version, &vlen);
    version_ = std::string(version, vlen);
    while (!version_.empty() && (version_.back() == '\n' || version_.back() == '\0')) version_.pop_back();
  }

  ~MpiTransport() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_ && !finalized) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void send(int dest, const std::string& bytes) override {
    check(MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, dest, kTag, MPI_COMM_WORLD), "MPI_Send");
  }

  bool receive(Envelope& out, double timeout_s) override {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    int spins = 0;
    for (;;) {
      int flag = 0;
      MPI_Status status;
      check(MPI_Iprobe(MPI_ANY_SOURCE, kTag, MPI_COMM_WORLD, &flag, &status), "MPI_Iprobe");
      if (flag) {
        int count = 0;
        MPI_Get_count(&status, MPI_BYTE, &count);
        out.bytes.assign(static_cast<size_t>(count), '\0');
        out.source = status.MPI_SOURCE;
        check(MPI_Recv(out.bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, kTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
        return true;
      }
      if (std::chrono::steady_clock::now() >= deadline) return false;
      // A few yields first (a reply is often microseconds away), then sleeps that leave the core free.
      if (++spins < 50) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(spins < 500 ? 50 : 500));
      }
    }
  }

  NodeInfo node() const override { return node_; }
  std::vector<std::string> hosts() const override { return hosts_; }
  std::string library_version() const override { return version_; }
  void abort(int code) override { MPI_Abort(MPI_COMM_WORLD, code); }

 private:
  bool owns_ = false;
  int rank_ = 0;
  int size_ = 1;
  NodeInfo node_;
  std::vector<std::string> hosts_;
  std::string version_;
};

}  // namespace

bool launched_by_mpi() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"}) {
    if (const char* v = std::getenv(var)) return std::atoi(v) > 1;
  }
  // Slurm's srun without an MPI-specific environment.
  if (const char* v = std::getenv("SLURM_NTASKS")) {
    return std::getenv("SLURM_PROCID") != nullptr && std::atoi(v) > 1;
  }
  return false;
}

std::unique_ptr<Transport> make_mpi_transport() { return std::make_unique<MpiTransport>(); }

}  // namespace ablate::runner
