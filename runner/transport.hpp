// The transport between the coordinator (rank 0) and the workers (ranks 1..N-1): send a message,
// receive the next one. Two implementations: MPI (runner/mpi_transport.cpp, the only file that sees
// mpi.h) and an in-process one (threads and queues) for the plain-process case and for tests.
//
// Contract.
//   Messages: byte strings (runner/messages.hpp encodes them), delivered whole, once, and in the order
//   sent between one sender and one receiver; nothing is ordered across senders. There is no
//   acknowledgement: a rank that needs an answer waits for one with receive().
//   Threads: one Transport is one rank's endpoint. Call it from one thread at a time — the thread that
//   made it, for MPI (MPI_THREAD_FUNNELED): a worker's progress callbacks run on its own thread (the
//   trainer calls them between steps), never on another. The in-process endpoints of one
//   make_inproc_transports() call may each be used from a different thread at once (a mutex per mailbox).
//   Ownership: the caller owns the returned endpoints; the in-process ones share their mailboxes, which
//   live as long as the last endpoint. The MPI transport finalizes MPI when destroyed, if it initialized it.
//   Errors: send() and receive() throw std::runtime_error ("MPI: <call>: <MPI's message>") when MPI
//   fails; receive() returns false when nothing came within timeout_s (never throws for a timeout).
//   abort() ends every rank of an MPI job and does not return; in-process it does nothing (the caller's
//   exception ends the process).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace ablate::runner {

struct Envelope {
  int source = -1;
  std::string bytes;
};

// Where this rank sits on its node (from MPI's shared-memory communicator).
struct NodeInfo {
  std::string host;
  int local_rank = 0;           // rank among the ranks of this node
  int local_size = 1;
  int local_workers = 1;        // ranks of this node that are workers (the coordinator is not one)
  int local_worker_index = 0;   // this rank's index among them (-1 for the coordinator)
  int cores = 1;                // cores the job's ranks on this node may use (union of their affinity masks)
  int rank_cores = 0;           // cores this rank may use (its own affinity mask); 0 = not known, as cores
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual void send(int dest, const std::string& bytes) = 0;
  // Waits at most timeout_s for a message; false when none came.
  virtual bool receive(Envelope& out, double timeout_s) = 0;
  virtual NodeInfo node() const = 0;
  // Every rank's host name (collective at construction; only rank 0's copy is complete).
  virtual std::vector<std::string> hosts() const = 0;
  virtual std::string library_version() const = 0;
  // Ends the whole job after a fatal error on one rank (MPI_Abort); in-process: does nothing.
  virtual void abort(int code) = 0;
};

// True when this process was started by an MPI launcher (mpirun, srun) with more than one rank.
bool launched_by_mpi();
// MPI_Init_thread (funneled) on first call; the returned transport finalizes MPI when destroyed.
std::unique_ptr<Transport> make_mpi_transport();
// `workers` + 1 endpoints sharing queues: endpoint 0 is the coordinator.
std::vector<std::unique_ptr<Transport>> make_inproc_transports(int workers);

// Cores available to this process (affinity mask), at least 1.
int available_cores();

}  // namespace ablate::runner
