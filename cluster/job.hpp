// Job scripts for clusters: a Slurm batch script (sbatch) or a plain mpirun script with a hostfile,
// written from a study's [resources]. Both rerun the same `ablate run` until the study is complete:
// `ablate run` exits 3 when SIGTERM/SIGUSR1 stopped it with everything stored, and the Slurm script
// requeues itself on that code.
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
  int signal_seconds = 300;          // Slurm: SIGUSR1 this long before the time limit
  int max_retries = 2;
  std::vector<std::string> overrides;  // `--set key=value` arguments, passed on to `ablate run` (quoted)
};

// The job script's text. Throws std::invalid_argument naming the key when a resource is malformed
// (e.g. resources.time not HH:MM:SS or D-HH:MM:SS).
std::string job_script(const ResourcesConfig& resources, const JobOptions& options);

// The study schema's rule for a Slurm time limit (ablations/schema.hpp), one rule for load and submit.
using ablate::valid_time_limit;

}  // namespace ablate::cluster
