#include "cluster/job.hpp"

#include <sstream>
#include <stdexcept>

namespace ablate::cluster {

namespace {

// Single-quotes a word for the shell.
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string set_arguments(const JobOptions& o) {
  std::string out;
  for (const auto& a : o.overrides) out += " --set " + shell_quote(a);
  return out;
}

}  // namespace

std::string job_script(const ResourcesConfig& r, const JobOptions& o) {
  if (o.scheduler != "slurm" && o.scheduler != "mpirun") {
    throw std::invalid_argument("--scheduler: `" + o.scheduler + "` is not supported (allowed: slurm, mpirun)");
  }
  if (!valid_time_limit(r.time)) {
    throw std::invalid_argument("resources.time: `" + r.time +
                                "` is not a Slurm time limit (allowed: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS)");
  }
  if (r.ranks < 2) throw std::invalid_argument("resources.ranks: a job needs a coordinator and at least one worker (>= 2)");
  const std::string run = shell_quote(o.ablate_exe) + " run " + shell_quote(o.study_file) + " --db " +
                          shell_quote(o.db_file) + " --max-retries " + std::to_string(o.max_retries) + set_arguments(o);
  std::ostringstream s;
  s << "#!/usr/bin/env bash\n";
  if (o.scheduler == "slurm") {
    const int per_node = (r.ranks + r.nodes - 1) / r.nodes;
    s << "#SBATCH --job-name=" << o.job_name << "\n"
      << "#SBATCH --nodes=" << r.nodes << "\n"
      << "#SBATCH --ntasks=" << r.ranks << "\n"
      << "#SBATCH --ntasks-per-node=" << per_node << "\n"
      << "#SBATCH --cpus-per-task=" << r.cpus_per_rank << "\n"
      << "#SBATCH --time=" << r.time << "\n";
    if (r.gpus_per_node > 0) s << "#SBATCH --gpus-per-node=" << r.gpus_per_node << "\n";
    if (!r.partition.empty()) s << "#SBATCH --partition=" << r.partition << "\n";
    if (!r.account.empty()) s << "#SBATCH --account=" << r.account << "\n";
    if (!r.memory.empty()) s << "#SBATCH --mem=" << r.memory << "\n";
    // SIGUSR1 to every rank before the limit: workers checkpoint, the coordinator stores what finished
    // and exits 3, and the job requeues itself.
    s << "#SBATCH --signal=USR1@" << o.signal_seconds << "\n"
      << "#SBATCH --requeue\n"
      << "#SBATCH --open-mode=append\n"
      << "#SBATCH --output=" << o.log_dir << "/%x-%j.out\n"
      << "#\n# Written by `ablate submit`. The study runs until every task is stored; run the same script again\n"
      << "# (or let Slurm requeue it) to resume.\n"
      << "set -u\n"
      << "export OMP_NUM_THREADS=" << r.cpus_per_rank << "\n"
      << "srun --kill-on-bad-exit=1 " << run << "\n"
      << "rc=$?\n"
      << "if [ \"$rc\" -eq 3 ]; then\n"
      << "  echo \"ablate: interrupted with results stored; requeueing job $SLURM_JOB_ID\"\n"
      << "  scontrol requeue \"$SLURM_JOB_ID\"\n"
      << "fi\n"
      << "exit $rc\n";
  } else {
    s << "# Written by `ablate submit --scheduler mpirun`: runs the study with mpirun"
      << (o.hostfile.empty() ? " on this host" : " on the hosts of " + o.hostfile) << ".\n"
      << "# Exit code 3 means interrupted with everything stored: run this script again to resume.\n"
      << "set -u\n"
      << "mkdir -p " << shell_quote(o.log_dir) << "\n"
      << "exec mpirun -np " << r.ranks << (o.hostfile.empty() ? " --oversubscribe" : " --hostfile " + shell_quote(o.hostfile))
      << " " << run << " --log-file " << shell_quote(o.log_dir + "/" + o.job_name + ".log") << "\n";
  }
  return s.str();
}

}  // namespace ablate::cluster
