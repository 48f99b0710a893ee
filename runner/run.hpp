// `ablate run`: the coordinator (rank 0) and the workers (ranks 1..N-1), over MPI when launched by
// mpirun/srun, else in one process (the coordinator in the main thread, workers in threads, an
// in-process transport). docs/RUNNER.md describes scheduling, placement, signals and exit codes.
//
// Contract: run_study is called once per process, from its main thread: it installs process-wide signal
// handlers and uses the one process-wide stop flag, and in one process it starts and joins the worker
// threads itself. The Executor is borrowed for the call (runner/executor.hpp: shared by the worker threads).
// Errors are as each function says below: refusals before any work are RunRefused, a bad study SpecError;
// the placement and exit-code functions are pure and never throw.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "ablations/config.hpp"
#include "ablations/task.hpp"
#include "runner/executor.hpp"
#include "runner/shards.hpp"
#include "runner/transport.hpp"

namespace ablate {
struct Study;  // ablations/study.hpp
}

namespace ablate::runner {

// Exit codes of run_study (the same numbers as the CLI's kExit*).
constexpr int kRunOk = 0;
constexpr int kRunFailed = 1;       // some task failed after its retries (the others are stored)
constexpr int kRunInterrupted = 3;  // stopped by SIGTERM/SIGUSR1; everything stored: requeue and run again

// The exit code of a run that ended (README "Exit codes"): kRunInterrupted when it stopped on a signal
// (resume it), else kRunFailed when the study still holds failed tasks, whether they failed in this run
// (`failed_now`) or in an earlier one and are not retried (`failed_before`: under early stopping a fold that
// failed for good leaves its trial), else kRunOk. Whatever the policy, a rerun never turns a study with
// failed tasks into a success.
int run_exit_code(bool interrupted, int failed_now, int failed_before);

// The run was refused before any work: a variant changed under stored results (kind kChanged), the
// dataset is missing or has no training cases (kInput), another coordinator holds the study (kLocked), or
// a worker's device cannot serve a study that asks for GPUs (kDevice: no GPU seen, or its check failed).
// The message names the variant(s) and changed keys, the dataset path, or each refusing rank, its host
// and what it saw.
class RunRefused : public std::runtime_error {
 public:
  enum Kind { kChanged, kInput, kLocked, kDevice };
  RunRefused(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

struct CaseSplit {
  std::vector<std::string> train, val, test;
};

// What the coordinator spent (filled when RunOptions::stats is set; for the dispatch benchmark).
struct CoordinatorStats {
  int workers = 0;
  int tasks_dispatched = 0;
  int shared_dispatched = 0;     // tasks sent along with another's (evaluated from its shared training)
  int results = 0;
  double dispatch_seconds = 0;  // building, storing (mark_running) and sending tasks
  double result_seconds = 0;    // decoding and storing results (one transaction each)
  double progress_seconds = 0;  // storing epoch progress
  double makespan_seconds = 0;  // first dispatch to last result
};

struct RunOptions {
  std::string study_file;
  std::string db_path;          // "" = <study dir>/<study name>.sqlite
  std::string workdir;          // checkpoints; "" = <db dir>/<study name>.work
  int max_retries = 2;          // extra attempts of a failed task, on another worker when there is one
  bool new_study = false;       // keep the stored study under "<name>~k" and start afresh
  std::string command_line;     // for the provenance
  std::vector<std::string> overrides;  // `--set key=value` (load_study), recorded in the provenance
  int inproc_workers = 1;       // workers of a plain-process run
  // --shard i/N: only this shard's tasks (runner/shards.hpp), into db_path or by default
  // <study dir>/<name>.shard-<i>.sqlite, checkpoints in <db dir>/<name>.shard-<i>.work. Refused
  // (RunRefused kInput) for studies that array_refusal names.
  Shard shard;
  double heartbeat_seconds = 10;
  double stale_lock_seconds = 120;
  CoordinatorStats* stats = nullptr;
  // Where the folds come from (default: trainer::list_cases and trainer::make_splits).
  std::function<std::vector<std::string>(const DataConfig&)> list_cases;
  std::function<std::vector<CaseSplit>(const std::vector<std::string>&, const StudyConfig&, int)> make_splits;
  // The dataset's fingerprint for reusing finished trainings (default: trainer::dataset_fingerprint when
  // list_cases is the trainer's too; with cases from elsewhere the data are unknown: "", nothing reused).
  std::function<std::string(const DataConfig&)> data_fingerprint;
  // Reusing finished trainings (docs/RUNNER.md): off with `--no-reuse`; `--reuse STORE` adds stores to look in.
  bool reuse = true;
  std::vector<std::string> reuse_stores;
};

// `o` with the defaults filled in (the trainer's list_cases, make_splits and data_fingerprint).
RunOptions with_defaults(RunOptions o);

// Runs (or resumes) the study with `executor` doing the work on the workers. Returns kRunOk, kRunFailed
// or kRunInterrupted; throws RunRefused, SpecError (bad study) and std::runtime_error (bad data, store).
// Under MPI every rank calls it; workers return kRunOk when told to shut down.
int run_study(const RunOptions& options, Executor& executor);

// SIGTERM, SIGUSR1 and SIGINT set the stop flag (installed by run_study, and by `ablate run` as the first
// thing it does, so that a signal in the first second of a job is a checkpointed stop, not a death).
void install_stop_handlers();
std::atomic<bool>& stop_flag();

// The default store path of a study file: <study dir>/<study name>.sqlite.
std::string default_db_path(const std::string& study_file, const std::string& study_name);

// Device and threads of a worker (placement.cpp): GPU (local worker index / ranks_per_gpu) mod GPUs when
// there are GPUs, else CPU with cores / workers-on-the-node threads.
Placement place_worker(const NodeInfo& node, int rank, int gpus, int ranks_per_gpu);
// The placement one task runs with: train.device = cpu forces the CPU, train.threads > 0 wins.
Placement place_task(const Placement& worker, const VariantConfig& config);
// "" when every worker of the node has a GPU slot (local workers <= gpus x ranks_per_gpu); else the warning
// that names the node, its workers, GPUs and ranks_per_gpu: place_worker then wraps the extra workers
// around onto GPUs already full, which slows every rank on them and may run them out of memory.
std::string oversubscription_warning(const NodeInfo& node, int gpus, int ranks_per_gpu);

// The study asks for GPUs: the base or a variant has train.device = "cuda", or "auto" with
// resources.gpus_per_node > 0 or train.precision = "bf16" (CUDA autocast only). Its workers then refuse to start without a working GPU (Welcome::gpus_required).
bool study_wants_gpu(const Study& study);

// Coordinator start, after the welcomes: waits for every worker's kReady or kRefused and returns the
// placements by rank, so that no task is sent to a study a worker refused. Throws RunRefused (kDevice)
// naming every refusing rank, its host and what it saw; std::runtime_error when a worker failed outside a
// task (kWorkerError); MessageError on anything else.
std::map<int, Placement> await_workers(Transport& t);
// Provenance keys of the workers' devices: "device.rank<R>" = "<host> <device>: <facts>", and where the
// launcher set CUDA_VISIBLE_DEVICES for a rank, "gpus.rank<R>" = "<host> CUDA_VISIBLE_DEVICES=<value>" for
// it (Placement::given_gpus); `coordinator` is rank 0's placement (host and given_gpus), whose GPUs are
// recorded the same way.
std::map<std::string, std::string> device_provenance(const std::map<int, Placement>& workers, const Placement& coordinator);

// The GPUs the launcher gave this process: "CUDA_VISIBLE_DEVICES=<value>" (the value may be empty: no
// GPU), "" when the variable is not set (every GPU of the machine is visible).
std::string given_gpus();
// The launcher chose this rank's GPUs for it alone (ABLATE_GPU_PER_RANK=1, set by the per-rank wrapper of
// the Slurm script, cluster/job.hpp): the workers of a node then do not share one view of the node's GPUs,
// and counting them against the GPUs this rank sees (oversubscription_warning) means nothing.
bool gpus_per_rank();

}  // namespace ablate::runner
