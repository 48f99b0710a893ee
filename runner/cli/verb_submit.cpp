// `ablate submit STUDY.toml`: writes a Slurm batch script (or an mpirun script) for the study from its
// [resources] section, and with --submit hands it to sbatch.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "ablations/output.hpp"
#include "ablations/study.hpp"
#include "cluster/job.hpp"
#include "runner/cli/cli.hpp"

namespace fs = std::filesystem;

namespace ablate::cli {

int verb_submit(const std::vector<std::string>& args) {
  po::options_description options("ablate submit");
  options.add_options()("study", po::value<std::string>(), "study file (TOML)")(
      "scheduler", po::value<std::string>()->default_value("slurm"), "slurm | mpirun")(
      "db", po::value<std::string>()->default_value(""), "store file; default <study dir>/<study name>.sqlite")(
      "out", po::value<std::string>()->default_value(""), "job script to write; default <study dir>/<study name>.<scheduler>.sh")(
      "hostfile", po::value<std::string>()->default_value(""), "mpirun: Open MPI hostfile (default: this host)")(
      "log-dir", po::value<std::string>()->default_value(""), "job logs; default <study dir>/logs")(
      "max-retries", po::value<int>()->default_value(2), "retries of a failed task (passed to ablate run)")(
      "signal-seconds", po::value<int>()->default_value(300), "slurm: SIGUSR1 this many seconds before the time limit")(
      "submit", po::bool_switch(), "slurm: run sbatch on the script after writing it");
  options.add(common_options());
  po::positional_options_description positional;
  positional.add("study", 1);
  po::variables_map vm;
  if (!parse_args("submit", "ablate submit STUDY.toml [--scheduler slurm|mpirun] [--submit]", options, positional, args, vm)) {
    return kExitOk;
  }
  if (!vm.count("study")) throw UsageError("a study file is required; see: ablate submit --help");
  const std::string study_file = fs::absolute(vm["study"].as<std::string>()).lexically_normal().string();
  const Study study = load_study(study_file);
  const auto& name = study.base.study.name;
  const fs::path dir = fs::path(study_file).parent_path();

  cluster::JobOptions job;
  job.scheduler = vm["scheduler"].as<std::string>();
  job.study_file = study_file;
  job.db_file = vm["db"].as<std::string>().empty() ? (dir / (name + ".sqlite")).string()
                                                   : fs::absolute(vm["db"].as<std::string>()).string();
  job.ablate_exe = self_exe();
  job.hostfile = vm["hostfile"].as<std::string>().empty() ? "" : fs::absolute(vm["hostfile"].as<std::string>()).string();
  job.log_dir = vm["log-dir"].as<std::string>().empty() ? (dir / "logs").string()
                                                        : fs::absolute(vm["log-dir"].as<std::string>()).string();
  job.job_name = "ablate-" + name;
  job.max_retries = vm["max-retries"].as<int>();
  job.signal_seconds = vm["signal-seconds"].as<int>();
  if (!job.hostfile.empty() && !fs::exists(job.hostfile)) throw UsageError("--hostfile: no such file " + job.hostfile);

  std::string script;
  try {
    script = cluster::job_script(study.base.resources, job);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string(e.what()) + " (in " + study_file + ")");
  }
  const std::string out = vm["out"].as<std::string>().empty()
                              ? (dir / (name + "." + job.scheduler + ".sh")).string()
                              : vm["out"].as<std::string>();
  fs::create_directories(job.log_dir);
  write_text_file(out, script);  // checked through the close: a full disk is an error, not "wrote"
  fs::permissions(out, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec, fs::perm_options::add);
  std::cout << "wrote " << out << " (" << study.base.resources.ranks << " ranks on " << study.base.resources.nodes
            << " node(s), " << study.variants.size() << " variant(s))\n";
  if (vm["submit"].as<bool>()) {
    if (job.scheduler != "slurm") throw UsageError("--submit works with --scheduler slurm; run the mpirun script directly");
    if (std::system("command -v sbatch >/dev/null 2>&1") != 0) {
      std::cerr << "ablate submit: sbatch not found on this machine; submit " << out << " on the cluster's login node\n";
      return kExitFailure;
    }
    const int rc = std::system(("sbatch '" + out + "'").c_str());
    return rc == 0 ? kExitOk : kExitFailure;
  }
  std::cout << (job.scheduler == "slurm" ? "submit with: sbatch " : "run with: bash ") << out << "\n";
  return kExitOk;
}

}  // namespace ablate::cli
