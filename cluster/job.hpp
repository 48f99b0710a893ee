// Job scripts for clusters: a Slurm batch script (sbatch) or a plain mpirun script with a hostfile,
// written from a study's [resources]. Both rerun the same `ablate run` until the study is complete:
// `ablate run` exits 3 when SIGTERM/SIGUSR1 stopped it with everything stored, and the Slurm script
// requeues itself on that code.
//
// The Slurm script (docs/RUNNER.md, "Slurm"):
// - asks for the workers only: --ntasks = ranks - 1 with --cpus-per-task = cpus_per_rank, spread over
//   --nodes with at most ceil(workers / nodes) per node. The coordinator (rank 0) hands out tasks and
//   stores results but does not train, so it gets no CPU of its own: the job step runs ranks tasks with
//   --overcommit, laid out by SLURM_HOSTFILE (--distribution=arbitrary): the coordinator first, on the
//   first node of the allocation (where the batch script runs), then worker i on node
//   floor(i * nodes / workers).
// - starts the ranks with `srun --mpi=<resources.mpi>` (Open MPI needs Slurm's PMIx or PMI-2 to be
//   launched by srun; Slurm's default MpiDefault=none makes MPI_Init fail).
// - GPUs: --gpus-per-node on the allocation; a job step sees all of the job's GPUs on its node (in
//   CUDA_VISIBLE_DEVICES), and a per-rank wrapper (bash -c with a fixed text, the command as its
//   arguments) narrows that for each rank before it execs `ablate run`: the coordinator none
//   (CUDA_VISIBLE_DEVICES set and empty), worker i the entry (its index among its node's workers) /
//   ranks_per_gpu of its node's list, found by SLURM_PROCID in a per-rank list the batch shell computes
//   with the hosts file; ABLATE_GPU_PER_RANK=1 tells the worker (runner/placement.cpp). Slurm's
//   --gpus-per-task / --gpu-bind would bind the coordinator as well. More workers on a node than
//   gpus_per_node x ranks_per_gpu are refused (std::invalid_argument naming resources.ranks).
// - SIGUSR1 reaches every rank --signal-seconds before the time limit; exit code 3 requeues the job.
// - the batch shell traps SIGUSR1 and SIGTERM and passes them on to the step (srun, in the background,
//   passes them on to every rank), so a signal sent to the batch shell alone (`scancel --signal=USR1
//   --batch`, a preemption) stops the ranks with their checkpoints too; after a SIGUSR1 exit code 3
//   requeues, after a SIGTERM Slurm decides (scancel cancels, scontrol requeue requeues). The hosts file
//   (mktemp) is removed by an EXIT trap on every way out but SIGKILL.
// Every path is quoted: for bash in the script's commands, for sbatch in the #SBATCH lines.
//
// A job array (JobOptions::array = N > 0, docs/RUNNER.md "Job arrays vs one MPI job"): the script is one
// array job of N elements (#SBATCH --array=0-(N-1)); element i is one process, `ablate run --shard i/N`
// (runner/shards.hpp), started as a one-task step (`srun --mpi=none`, so that scancel's and --signal's
// SIGUSR1 reach it as they reach the MPI job's ranks) with worker threads for its own GPUs
// (gpus_per_node x ranks_per_gpu, or one on the CPU) and cpus_per_rank cores each; the signal handling and
// the requeue on exit code 3 are the MPI script's, per element. resources.ranks and nodes do not apply.
// merge_script is the job that runs after the array (sbatch --dependency=afterany:<array job id>):
// `ablate merge` of the shard stores into the study's store, then `ablate report`.
//
// Contract: the script writers are pure functions of [resources] and JobOptions (the text only; writing and
// submitting is `ablate submit`'s); any thread may call them. They throw std::invalid_argument naming the
// resources.* key or path they cannot put into a script, with what is allowed.
#pragma once

#include <string>
#include <vector>

#include "ablations/config.hpp"
#include "ablations/schema.hpp"

namespace ablate::cluster {

struct JobOptions {
  std::string scheduler = "slurm";   // slurm | mpirun
  std::string study_file;            // absolute path of the study
  std::string db_file;               // absolute path of the store
  std::string ablate_exe;            // absolute path of the ablate binary
  std::string hostfile;              // mpirun: Open MPI hostfile ("" = local host)
  std::string log_dir;               // where the job writes its logs
  std::string job_name;
  int signal_seconds = 300;          // Slurm: SIGUSR1 this long before the time limit (1..65535)
  int max_retries = 2;               // >= 0
  std::vector<std::string> overrides;  // `--set key=value` arguments, passed on to `ablate run` (quoted)
  int array = 0;                     // slurm: > 0 = a job array of this many elements (1..1000); 0 = one MPI job
  std::vector<std::string> shard_dbs;  // merge_script: the shard stores (absolute), shard 0 first
  std::string report_dir;            // merge_script: where `ablate report` writes
};

// Worker threads of one array element: one per GPU slot (gpus_per_node x ranks_per_gpu), one on the CPU.
int array_workers(const ResourcesConfig& resources);

// The job script's text. Throws std::invalid_argument naming the key or option when a resource or an
// option is malformed: resources.time not a Slurm time limit, resources.ranks < 2 or fewer workers than
// nodes, partition/account/memory/mpi not what Slurm accepts, --signal-seconds outside 1..65535,
// --max-retries < 0, a path with a control character, or a log folder that sbatch cannot take in
// --output (a '%' or '\').
std::string job_script(const ResourcesConfig& resources, const JobOptions& options);

// The merge job of an array (options.array > 0, scheduler slurm): one task that merges
// options.shard_dbs into options.db_file (db/merge.hpp: a shard missing or refused fails the job with
// merge's message) and writes the report to options.report_dir. The same checks as job_script, and
// std::invalid_argument when there is no shard store or report folder.
std::string merge_script(const ResourcesConfig& resources, const JobOptions& options);

// The MPI plugin types in the output of `srun --mpi=list` (Slurm 20 to 23 formats: "MPI plugin types
// are..." then one per line, "srun: " prefixes, "specific pmix plugin versions available: pmix_v4"), in
// the order listed; empty when the text lists none.
std::vector<std::string> parse_mpi_list(const std::string& output);

// A word quoted for bash (single quotes).
std::string shell_quote(const std::string& s);
// A path quoted for an #SBATCH line (double quotes, '"' escaped), followed by `pattern` (a Slurm
// file-name pattern such as "/%x-%j.out", taken as it is). Throws std::invalid_argument naming `what` for
// a character of `path` that sbatch cannot take there: a control character (a newline would end the
// directive), '%' (Slurm's file-name patterns) or '\' (Slurm drops it).
std::string sbatch_quote(const std::string& path, const std::string& what, const std::string& pattern = "");

// The study schema's rules (ablations/schema.hpp), one rule for load and submit.
using ablate::valid_time_limit;

}  // namespace ablate::cluster
