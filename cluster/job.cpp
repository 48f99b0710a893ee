#include "cluster/job.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace ablate::cluster {

namespace {

bool has_control_character(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// A path that goes into the script: no control character (a newline would start a new line of the script
// or end an #SBATCH directive).
void check_path(const std::string& path, const std::string& what) {
  if (has_control_character(path)) {
    throw std::invalid_argument(what + ": the path contains a control character (e.g. a newline); a job script cannot name it");
  }
}

void check_resources(const ResourcesConfig& r, bool array) {
  if (!valid_time_limit(r.time)) {
    throw std::invalid_argument("resources.time: `" + r.time +
                                "` is not a Slurm time limit (allowed: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS)");
  }
  // An array element is one process on one node: the MPI job's layout does not apply.
  if (!array && r.ranks < 2) throw std::invalid_argument("resources.ranks: a job needs a coordinator and at least one worker (>= 2)");
  if (!array && r.nodes < 1) throw std::invalid_argument("resources.nodes: at least 1");
  if (!array && r.ranks - 1 < r.nodes) {
    throw std::invalid_argument("resources.ranks: " + std::to_string(r.ranks) + " ranks are " + std::to_string(r.ranks - 1) +
                                " worker(s), fewer than resources.nodes = " + std::to_string(r.nodes) +
                                " (every node needs a worker: ranks >= nodes + 1)");
  }
  if (r.cpus_per_rank < 1) throw std::invalid_argument("resources.cpus_per_rank: at least 1");
  if (r.gpus_per_node < 0) throw std::invalid_argument("resources.gpus_per_node: at least 0");
  if (!valid_slurm_names(r.partition, true)) {
    throw std::invalid_argument("resources.partition: not Slurm partition names (allowed: letters, digits, _ - . separated by commas)");
  }
  if (!valid_slurm_names(r.account, false)) {
    throw std::invalid_argument("resources.account: not a Slurm account name (allowed: letters, digits, _ - .)");
  }
  if (!valid_memory_size(r.memory)) {
    throw std::invalid_argument("resources.memory: `" + r.memory + "` is not a Slurm memory size (allowed: digits with an optional K, M, G or T)");
  }
  if (r.mpi != "pmix" && r.mpi != "pmi2" && r.mpi != "none") {
    throw std::invalid_argument("resources.mpi: `" + r.mpi + "` is not supported (allowed: pmix, pmi2, none)");
  }
}

void check_options(const JobOptions& o) {
  if (o.scheduler != "slurm" && o.scheduler != "mpirun") {
    throw std::invalid_argument("--scheduler: `" + o.scheduler + "` is not supported (allowed: slurm, mpirun)");
  }
  if (o.signal_seconds < 1 || o.signal_seconds > 65535) {
    throw std::invalid_argument("--signal-seconds: " + std::to_string(o.signal_seconds) + " (allowed: 1 to 65535, Slurm's limit)");
  }
  if (o.max_retries < 0) throw std::invalid_argument("--max-retries: " + std::to_string(o.max_retries) + " (allowed: >= 0)");
  if (o.array < 0 || o.array > 1000) {
    throw std::invalid_argument("--array (or resources.array): " + std::to_string(o.array) + " (allowed: 0 = one MPI job, 1 to 1000 elements)");
  }
  if (o.array > 0 && o.scheduler != "slurm") {
    throw std::invalid_argument("--array (or resources.array): a job array needs --scheduler slurm (mpirun has no arrays)");
  }
  for (const auto& db : o.shard_dbs) check_path(db, "a shard store");
  check_path(o.report_dir, "the report folder");
  if (!valid_name(o.job_name)) throw std::invalid_argument("job name `" + o.job_name + "`: allowed are letters, digits and _ - . + =");
  check_path(o.study_file, "the study file");
  check_path(o.db_file, "--db");
  check_path(o.ablate_exe, "the ablate binary");
  check_path(o.hostfile, "--hostfile");
  check_path(o.log_dir, "--log-dir");
}

}  // namespace

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

namespace {

// `--set key=value` arguments passed on to `ablate run`, each one quoted for bash.
std::string set_arguments(const JobOptions& o) {
  std::string out;
  for (const auto& a : o.overrides) out += " --set " + shell_quote(a);
  return out;
}


// The #SBATCH lines both kinds of job share: time, GPUs, partition, account, memory.
void sbatch_resources(std::ostream& s, const ResourcesConfig& r) {
  s << "#SBATCH --time=" << r.time << "\n";
  if (r.gpus_per_node > 0) s << "#SBATCH --gpus-per-node=" << r.gpus_per_node << "\n";
  if (!r.partition.empty()) s << "#SBATCH --partition=" << r.partition << "\n";
  if (!r.account.empty()) s << "#SBATCH --account=" << r.account << "\n";
  if (!r.memory.empty()) s << "#SBATCH --mem=" << r.memory << "\n";
}

// The requeueable end of a Slurm script (the MPI job and every array element alike): `step` (an srun
// command line, quoted) runs in the background under the USR1/TERM traps, and exit code 3 after a SIGUSR1
// requeues this job (an array element requeues itself alone: SLURM_JOB_ID is the element's own id).
// The directives of a job that resumes: SIGUSR1 `signal_seconds` before the limit, requeue, and one log
// appended across its runs (`log_pattern`: Slurm's file name pattern after the log folder).
void sbatch_requeue(std::ostream& s, const JobOptions& o, const std::string& log_pattern) {
  s << "#SBATCH --signal=USR1@" << o.signal_seconds << "\n"
    << "#SBATCH --requeue\n"
    << "#SBATCH --open-mode=append\n"
    << "#SBATCH --output=" << sbatch_quote(o.log_dir, "--log-dir", log_pattern) << "\n";
}

// The environment of a training step: unset variables are errors, the trainer's threads, and cuBLAS's
// deterministic workspace (docs/RUNNER.md "Reproducibility"; harmless on the CPU).
void step_environment(std::ostream& s, const ResourcesConfig& r) {
  s << "set -u\n"
    << "export OMP_NUM_THREADS=" << r.cpus_per_rank << "\n"
    << "export CUBLAS_WORKSPACE_CONFIG=:4096:8\n";
}

void step_with_requeue(std::ostream& s, const std::string& step) {
  s << "# The step runs in the background so that this shell can take signals meant for the job: SIGUSR1 sent\n"
      << "# to the batch shell alone (scancel --signal=USR1 --batch, a preemption) and SIGTERM are passed on to\n"
      << "# srun, which passes them on to every rank. An untrapped SIGUSR1 would end this shell and nothing would\n"
      << "# requeue. After a SIGTERM (scancel, scontrol requeue, the time limit) Slurm decides what follows: no\n"
      << "# requeue from here. The traps are set before the step starts; a signal in between is passed on then.\n"
      << "step=\"\"\n"
      << "pending=\"\"\n"
      << "terminated=0\n"
      << "forward() {\n"
      << "  [ \"$1\" = TERM ] && terminated=1\n"
      << "  if [ -n \"$step\" ]; then kill -\"$1\" \"$step\" 2>/dev/null; else pending=$1; fi\n"
      << "}\n"
      << "trap 'forward USR1' USR1\n"
      << "trap 'forward TERM' TERM\n"
      << step << " &\n"
      << "step=$!\n"
      << "if [ -n \"$pending\" ]; then kill -\"$pending\" \"$step\" 2>/dev/null; fi\n"
      << "# wait returns early (status > 128) when a trapped signal arrives: wait again while the step runs.\n"
      << "while :; do\n"
      << "  wait \"$step\"\n"
      << "  rc=$?\n"
      << "  kill -0 \"$step\" 2>/dev/null || break\n"
      << "done\n"
      << "if [ \"$rc\" -eq 3 ] && [ \"$terminated\" -eq 0 ]; then\n"
      << "  echo \"ablate: interrupted with results stored; requeueing job $SLURM_JOB_ID\"\n"
      << "  scontrol requeue \"$SLURM_JOB_ID\"\n"
      << "fi\n"
      << "exit $rc\n";
}

// The per-rank wrapper of a GPU job: every task of the step sees its node's GPUs of the job in
// CUDA_VISIBLE_DEVICES (a step gets all of the job's GRES on its node); the wrapper narrows that to this
// rank's own GPU (its entry of gpu_slots, by SLURM_PROCID, which is the MPI rank) or to none for the
// coordinator, then execs the rank's command. Slurm's own per-task binding (--gpus-per-task, --gpu-bind)
// cannot do this: it binds every task of the step alike, the coordinator included. The text is fixed; the
// command comes in as arguments ("$@"), so no shell is ever built from a path or an override.
void rank_gpu_wrapper(std::ostream& s) {
  s << "# Each rank starts through rank_gpu, which narrows the step's CUDA_VISIBLE_DEVICES (its node's GPUs) to\n"
    << "# the rank's own GPU, none for the coordinator, and then runs the rank (Slurm's own per-task GPU binding\n"
    << "# would bind the coordinator too).\n"
    << "export ABLATE_GPU_SLOTS=\"$gpu_slots\" ABLATE_GPU_PER_RANK=1\n"
    << "rank_gpu='slots=($ABLATE_GPU_SLOTS)\n"
    << "slot=${slots[$SLURM_PROCID]:-}\n"
    << "IFS=, read -r -a gpus <<<\"${CUDA_VISIBLE_DEVICES:-}\"\n"
    << "if [ \"$slot\" = none ]; then\n"
    << "  export CUDA_VISIBLE_DEVICES=\n"
    << "elif [ -n \"$slot\" ] && [ \"$slot\" -lt \"${#gpus[@]}\" ]; then\n"
    << "  export CUDA_VISIBLE_DEVICES=\"${gpus[slot]}\"\n"
    << "else\n"
    << "  echo \"ablate: rank $SLURM_PROCID on ${SLURMD_NODENAME:-this node}: GPU number ${slot:-?} of the step (CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-}) does not exist\" >&2\n"
    << "  exit 1\n"
    << "fi\n"
    << "exec \"$@\"'\n";
}

}  // namespace

int array_workers(const ResourcesConfig& r) { return r.gpus_per_node > 0 ? r.gpus_per_node * std::max(1, r.ranks_per_gpu) : 1; }

namespace {

// Element $SLURM_ARRAY_TASK_ID of an array of o.array: `ablate run --shard` in one process.
std::string array_script(const ResourcesConfig& r, const JobOptions& o) {
  const int workers = array_workers(r);
  const int cpus = r.cpus_per_rank * workers;
  const std::string last = std::to_string(o.array - 1);
  // The shard store is the run's default (runner/shards.hpp), beside the study: no --db here.
  const std::string run = shell_quote(o.ablate_exe) + " run " + shell_quote(o.study_file) + " --shard \"$SLURM_ARRAY_TASK_ID\"/" +
                          std::to_string(o.array) + " --workers " + std::to_string(workers) + " --max-retries " +
                          std::to_string(o.max_retries) + set_arguments(o);
  std::ostringstream s;
  s << "#!/usr/bin/env bash\n"
    << "#SBATCH --job-name=" << o.job_name << "\n"
    << "#SBATCH --array=0-" << last << "\n"
    << "#SBATCH --nodes=1\n"
    << "#SBATCH --ntasks=1\n"
    << "#SBATCH --cpus-per-task=" << cpus << "\n";
  sbatch_resources(s, r);
  sbatch_requeue(s, o, "/%x-%A_%a.out");
  s << "#\n# Written by `ablate submit --array " << o.array << "`: element i of 0.." << last << " runs shard i/" << o.array
    << " of the study's tasks\n"
    << "# (balanced on estimated cost) into its own store, <study>.shard-i.sqlite beside the study, with " << workers
    << " worker(s)\n"
    << "# in one process. SIGUSR1 " << o.signal_seconds << " s before the time limit (and scancel --signal=USR1) stops an element\n"
    << "# with its checkpoints; exit code 3 after a SIGUSR1 requeues that element alone. The merge job\n"
    << "# (submitted with --dependency=afterany on this array) joins the shards when every element has ended.\n";
  step_environment(s, r);
  // --mpi=none: a single task needs no PMI, and without it `ablate run` is a plain process with worker threads.
  step_with_requeue(s, "srun --ntasks=1 --cpus-per-task=" + std::to_string(cpus) + " --mpi=none --kill-on-bad-exit=1 " + run);
  return s.str();
}

}  // namespace

std::string sbatch_quote(const std::string& path, const std::string& what, const std::string& pattern) {
  if (has_control_character(path)) throw std::invalid_argument(what + ": the path contains a control character (e.g. a newline)");
  if (path.find('%') != std::string::npos || path.find('\\') != std::string::npos) {
    throw std::invalid_argument(what + ": `" + path + "` contains '%' or '\\', which Slurm reads as part of a file-name pattern; choose a folder without them");
  }
  std::string out = "\"";
  for (char c : path) {
    if (c == '"') out += '\\';
    out += c;
  }
  return out + pattern + "\"";
}

std::vector<std::string> parse_mpi_list(const std::string& output) {
  std::vector<std::string> types;
  auto add = [&types](const std::string& t) {
    if (!t.empty() && std::find(types.begin(), types.end(), t) == types.end()) types.push_back(t);
  };
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("srun: ", 0) == 0) line = line.substr(6);
    const auto colon = line.find("available:");
    if (colon != std::string::npos) {  // "specific pmix plugin versions available: pmix_v3,pmix_v4"
      std::string rest = line.substr(colon + 10);
      std::replace(rest.begin(), rest.end(), ',', ' ');
      std::istringstream words(rest);
      for (std::string w; words >> w;) add(w);
      continue;
    }
    std::istringstream words(line);
    std::string first, second;
    words >> first;
    if (first.empty() || (words >> second)) continue;  // a heading ("MPI plugin types are...") has several words
    if (first.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) continue;
    add(first);
  }
  return types;
}

std::string job_script(const ResourcesConfig& r, const JobOptions& o) {
  check_options(o);
  check_resources(r, o.array > 0);
  if (o.array > 0) return array_script(r, o);
  const std::string run = shell_quote(o.ablate_exe) + " run " + shell_quote(o.study_file) + " --db " +
                          shell_quote(o.db_file) + " --max-retries " + std::to_string(o.max_retries) + set_arguments(o);
  std::ostringstream s;
  s << "#!/usr/bin/env bash\n";
  if (o.scheduler == "slurm") {
    const int workers = r.ranks - 1;
    const int per_node = (workers + r.nodes - 1) / r.nodes;
    s << "#SBATCH --job-name=" << o.job_name << "\n"
      << "#SBATCH --nodes=" << r.nodes << "\n"
      << "#SBATCH --ntasks=" << workers << "\n"
      << "#SBATCH --ntasks-per-node=" << per_node << "\n"
      << "#SBATCH --cpus-per-task=" << r.cpus_per_rank << "\n";
    sbatch_resources(s, r);
    // SIGUSR1 to every rank before the limit: workers checkpoint, the coordinator stores what finished
    // and exits 3, and the job requeues itself.
    sbatch_requeue(s, o, "/%x-%j.out");
    s << "#\n# Written by `ablate submit`. The study runs until every task is stored; run the same script again\n"
      << "# (or let Slurm requeue it) to resume. SIGUSR1 " << o.signal_seconds << " s before the time limit\n"
      << "# (and scancel --signal=USR1, with or without --batch; scontrol requeue) stop every rank with its\n"
      << "# checkpoint; exit code 3 after a SIGUSR1 requeues the job.\n";
    step_environment(s, r);
    const bool gpus = r.gpus_per_node > 0;
    const int slots = r.gpus_per_node * std::max(1, r.ranks_per_gpu);
    if (gpus && per_node > slots) {
      throw std::invalid_argument("resources.ranks: " + std::to_string(workers) + " workers on " + std::to_string(r.nodes) +
                                  " node(s) are up to " + std::to_string(per_node) + " on a node, more than resources.gpus_per_node = " +
                                  std::to_string(r.gpus_per_node) + " x resources.ranks_per_gpu = " +
                                  std::to_string(std::max(1, r.ranks_per_gpu)) + " GPU slot(s) per node: every worker of the job "
                                  "gets a GPU slot of its own (allowed: ranks <= " + std::to_string(slots * r.nodes + 1) +
                                  ", or raise resources.ranks_per_gpu)");
    }
    s << "# " << r.ranks << " ranks: the coordinator (rank 0) first, on the first node, sharing its CPUs with the\n"
      << "# workers (it does not train); worker i on node i * nodes / " << workers << ".\n";
    if (gpus) {
      s << "# GPUs: worker i takes GPU number (its index among its node's workers) / " << std::max(1, r.ranks_per_gpu)
        << " (resources.ranks_per_gpu) of\n"
        << "# the node's list, the coordinator none: gpu_slots holds that number, or none, for every rank in order.\n";
    }
    s << "hostfile=$(mktemp \"${TMPDIR:-/tmp}/ablate-hosts.$SLURM_JOB_ID.XXXXXX\") || exit 1\n"
      << "# Removed on every way out of this shell but SIGKILL (a trapped signal lets the shell end normally).\n"
      << "trap 'rm -f \"$hostfile\"' EXIT\n"
      << "mapfile -t nodes < <(scontrol show hostnames \"$SLURM_JOB_NODELIST\")\n";
    if (gpus) s << "gpu_slots=none\nlast=\"\"\n";
    s << "{\n"
      << "  echo \"${nodes[0]}\"\n"
      << "  for ((i = 0; i < " << workers << "; i++)); do\n"
      << "    node=${nodes[i * ${#nodes[@]} / " << workers << "]}\n"
      << "    echo \"$node\"\n";
    if (gpus) {
      s << "    if [ \"$node\" = \"$last\" ]; then k=$((k + 1)); else k=0; fi\n"
        << "    last=$node\n"
        << "    gpu_slots+=\" $((k / " << std::max(1, r.ranks_per_gpu) << "))\"\n";
    }
    s << "  done\n"
      << "} >\"$hostfile\"\n"
      << "export SLURM_HOSTFILE=\"$hostfile\"\n"
      << "unset SLURM_NTASKS_PER_NODE   # the allocation's; the step's layout is the hostfile's\n";
    std::string launch = "srun --ntasks=" + std::to_string(r.ranks) + " --overcommit --distribution=arbitrary --cpus-per-task=" +
                         std::to_string(r.cpus_per_rank) + " --mpi=" + r.mpi + " --kill-on-bad-exit=1 ";
    if (gpus) {
      rank_gpu_wrapper(s);
      launch += "bash -c \"$rank_gpu\" ablate-rank ";
    }
    step_with_requeue(s, launch + run);
  } else {
    s << "# Written by `ablate submit --scheduler mpirun`: runs the study with mpirun"
      << (o.hostfile.empty() ? " on this host" : " on the hosts of " + o.hostfile) << ".\n"
      << "# Exit code 3 means interrupted with everything stored: run this script again to resume.\n"
      << "# Stop it cleanly with kill -USR1 on mpirun (it forwards SIGUSR1 to every rank).\n"
      << "set -u\n"
      << "# Open MPI refuses to start as root unless told that it is meant.\n"
      << "if [ \"$(id -u)\" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi\n"
      << "# cuBLAS's deterministic workspace (docs/RUNNER.md \"Reproducibility\"), passed on to the ranks of every\n"
      << "# host (-x: mpirun forwards no other variable to remote hosts).\n"
      << "export CUBLAS_WORKSPACE_CONFIG=:4096:8\n"
      << "mkdir -p " << shell_quote(o.log_dir) << "\n"
      << "exec mpirun -np " << r.ranks << (o.hostfile.empty() ? " --oversubscribe" : " --hostfile " + shell_quote(o.hostfile))
      << " -x CUBLAS_WORKSPACE_CONFIG " << run << " --log-file " << shell_quote(o.log_dir + "/" + o.job_name + ".log") << "\n";
  }
  return s.str();
}

std::string merge_script(const ResourcesConfig& r, const JobOptions& o) {
  check_options(o);
  check_resources(r, true);
  if (o.array < 1 || o.scheduler != "slurm") throw std::invalid_argument("merge_script: for a Slurm job array (--array N)");
  if (o.shard_dbs.empty()) throw std::invalid_argument("merge_script: no shard store to merge");
  if (o.report_dir.empty()) throw std::invalid_argument("merge_script: no report folder");
  const std::string exe = shell_quote(o.ablate_exe);
  std::string shards;
  for (const auto& db : o.shard_dbs) shards += " " + shell_quote(db);
  std::ostringstream s;
  s << "#!/usr/bin/env bash\n"
    << "#SBATCH --job-name=" << o.job_name << "-merge\n"
    << "#SBATCH --nodes=1\n"
    << "#SBATCH --ntasks=1\n"
    << "#SBATCH --cpus-per-task=1\n"
    << "#SBATCH --time=" << r.time << "\n";
  if (!r.partition.empty()) s << "#SBATCH --partition=" << r.partition << "\n";
  if (!r.account.empty()) s << "#SBATCH --account=" << r.account << "\n";
  if (!r.memory.empty()) s << "#SBATCH --mem=" << r.memory << "\n";
  s << "#SBATCH --output=" << sbatch_quote(o.log_dir, "--log-dir", "/%x-%j.out") << "\n"
    << "#\n# Written by `ablate submit --array " << o.array << "`; submitted with --dependency=afterany:<array job id>, it\n"
    << "# starts when every element has ended (a requeued element has not) and joins the " << o.shard_dbs.size()
    << " shard stores\n"
    << "# into the study's store (merging into it again adds nothing twice), then writes the report.\n"
    << "# Run it again by hand after rerunning an element.\n"
    << "set -u\n"
    << exe << " merge" << shards << " --into " << shell_quote(o.db_file) << " || exit $?\n"
    << "exec " << exe << " report --db " << shell_quote(o.db_file) << " --out " << shell_quote(o.report_dir) << "\n";
  return s.str();
}

}  // namespace ablate::cluster
