// `ablate submit STUDY.toml`: writes a Slurm batch script (or an mpirun script) for the study from its
// [resources] section, shows it, and with --submit hands it to sbatch; --dry-run only prints it.
// sbatch and `srun --mpi=list` are started with an argument vector (cluster/process.hpp), never through
// a shell. With --array N (or resources.array) it writes a job array and its merge job (cluster/job.hpp)
// and --submit hands both to sbatch, the merge job with --dependency=afterany on the array.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>

#include "ablations/output.hpp"
#include "ablations/study.hpp"
#include "cluster/job.hpp"
#include "cluster/process.hpp"
#include "runner/cli/cli.hpp"
#include "runner/run.hpp"
#include "runner/shards.hpp"

namespace fs = std::filesystem;

namespace ablate::cli {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  const auto nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

// resources.mpi against what this machine's srun offers (when srun is on the PATH): a type srun does not
// list would make every rank fail in MPI_Init, so it is a usage error here. Notes go to `note`.
void check_mpi_type(const std::string& mpi, const std::string& study_file, std::ostream& note) {
  const std::string srun = cluster::find_on_path("srun");
  if (srun.empty()) {
    note << "note: srun is not on the PATH here, so resources.mpi = \"" << mpi
         << "\" is not checked; on the cluster, `srun --mpi=list` lists what it offers\n";
    return;
  }
  const auto listed = cluster::run_process({srun, "--mpi=list"}, 30);
  const auto types = cluster::parse_mpi_list(listed.output);
  if (!listed.started || listed.status != 0 || types.empty()) {
    note << "note: `" << srun << " --mpi=list` did not list MPI types"
         << (listed.timed_out ? " (no answer in 30 s)" : listed.started ? " (exit " + std::to_string(listed.status) + ")" : " (could not start)")
         << (last_line(listed.output).empty() ? "" : ": " + last_line(listed.output)) << "; resources.mpi = \"" << mpi
         << "\" is not checked\n";
    return;
  }
  note << "srun --mpi=list: " << join(types) << "\n";
  if (std::find(types.begin(), types.end(), mpi) == types.end()) {
    throw UsageError("resources.mpi = \"" + mpi + "\" (in " + study_file + "): this Slurm's srun does not offer it (srun --mpi=list: " +
                     join(types) + "); set [resources] mpi to one of pmix, pmi2, none that it lists");
  }
}

void make_executable(const std::string& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    fs::permissions(path, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec, fs::perm_options::add, ec);
  }
}

// sbatch ARGS: its output printed; the job id of "Submitted batch job N", or "" after saying why not.
std::string sbatch(const std::string& exe, std::vector<std::string> args, const std::string& script) {
  args.insert(args.begin(), exe);
  args.push_back(script);
  std::string shown = "sbatch";
  for (std::size_t i = 1; i < args.size(); ++i) shown += " " + cluster::shell_quote(args[i]);
  std::cout << "running: " << shown << std::endl;
  const auto r = cluster::run_process(args, 300);
  std::cout << r.output << (r.output.empty() || r.output.back() == '\n' ? "" : "\n");
  std::smatch m;
  if (r.started && r.status == 0 && std::regex_search(r.output, m, std::regex(R"(Submitted batch job (\d+))"))) return m[1];
  std::cerr << "ablate submit: " << shown << " "
            << (!r.started ? "could not be started" : r.timed_out ? "gave no answer in 300 s"
                : r.status != 0 ? "failed with exit code " + std::to_string(r.status) : "named no job id")
            << "\n";
  return "";
}

// The array and its merge job: written beside each other (the merge job's script is OUT with "-merge"
// before ".sh"), and with --submit the merge job submitted with --dependency=afterany on the array, so
// that it starts when every element has ended and not before (a requeued element has not ended).
int write_and_submit_array(const cluster::JobOptions& job, const std::string& out, const std::string& script,
                           const std::string& merge, std::size_t variants, bool submit) {
  const std::string stem = out.size() > 3 && out.compare(out.size() - 3, 3, ".sh") == 0 ? out.substr(0, out.size() - 3) : out;
  const std::string merge_out = stem + "-merge.sh";
  write_text_file(out, script);  // checked through the close: a full disk is an error, not "wrote"
  write_text_file(merge_out, merge);
  make_executable(out);
  make_executable(merge_out);
  std::cout << "wrote " << out << " (a job array of " << job.array << " element(s), " << variants << " variant(s)):\n"
            << script << "\nwrote " << merge_out << " (the merge job: shards into " << job.db_file << ", then the report):\n"
            << merge;
  if (!submit) {
    std::cout << "submit with: jid=$(sbatch --parsable " << cluster::shell_quote(out) << ") && sbatch --dependency=afterany:\"${jid%%;*}\" "
              << cluster::shell_quote(merge_out) << "\n";
    return kExitOk;
  }
  const std::string exe = cluster::find_on_path("sbatch");
  if (exe.empty()) {
    std::cerr << "ablate submit: sbatch not found on this machine; submit " << out << " and " << merge_out
              << " on the cluster's login node\n";
    return kExitFailure;
  }
  const std::string array_id = sbatch(exe, {}, out);
  if (array_id.empty()) return kExitFailure;
  const std::string merge_id = sbatch(exe, {"--dependency=afterany:" + array_id}, merge_out);
  if (merge_id.empty()) {
    std::cerr << "ablate submit: the array " << array_id << " runs; submit the merge job by hand: sbatch --dependency=afterany:"
              << array_id << " " << cluster::shell_quote(merge_out) << "\n";
    return kExitFailure;
  }
  std::cout << "follow it with: ablate status --db " << cluster::shell_quote(job.shard_dbs.front()) << " (each shard's store); the merged store is "
            << cluster::shell_quote(job.db_file) << std::endl;
  return std::cout ? kExitOk : kExitFailure;
}

// One MPI job: the script written and, with --submit, handed to sbatch.
int write_and_submit_job(const cluster::JobOptions& job, const Study& study, const std::string& out, const std::string& script,
                         bool submit) {
  write_text_file(out, script);  // checked through the close: a full disk is an error, not "wrote"
  make_executable(out);
  std::cout << "wrote " << out << " (" << study.base.resources.ranks << " ranks on " << study.base.resources.nodes
            << " node(s), " << study.variants.size() << " variant(s)):\n"
            << script;
  if (!submit) {
    std::cout << (job.scheduler == "slurm" ? "submit with: sbatch " : "run with: bash ") << cluster::shell_quote(out) << "\n";
    return kExitOk;
  }
  const std::string sbatch = cluster::find_on_path("sbatch");
  if (sbatch.empty()) {
    std::cerr << "ablate submit: sbatch not found on this machine; submit " << out << " on the cluster's login node\n";
    return kExitFailure;
  }
  // Everything above is printed before sbatch says anything.
  std::cout << "running: sbatch " << cluster::shell_quote(out) << std::endl;
  const auto r = cluster::run_process({sbatch, out}, 300);
  std::cout << r.output << (r.output.empty() || r.output.back() == '\n' ? "" : "\n");
  if (!r.started || r.status != 0) {
    std::cerr << "ablate submit: sbatch " << (r.started ? r.timed_out ? "gave no answer in 300 s" : "failed with exit code " + std::to_string(r.status) : "could not be started")
              << "; the script is " << out << "\n";
    return kExitFailure;
  }
  std::cout << "follow it with: ablate status --db " << cluster::shell_quote(job.db_file) << std::endl;
  return std::cout ? kExitOk : kExitFailure;
}

po::options_description submit_options() {
  po::options_description options("ablate submit");
  options.add_options()("study", po::value<std::string>(), "study file (TOML)")(
      "scheduler", po::value<std::string>()->default_value("slurm"), "slurm | mpirun")(
      "db", po::value<std::string>()->default_value(""), "store file; default <study dir>/<study name>.sqlite")(
      "out", po::value<std::string>()->default_value(""), "job script to write; default <study dir>/<study name>.<scheduler>.sh")(
      "hostfile", po::value<std::string>()->default_value(""), "mpirun: Open MPI hostfile (default: this host)")(
      "log-dir", po::value<std::string>()->default_value(""), "job logs; default <study dir>/logs")(
      "max-retries", po::value<int>()->default_value(2), "retries of a failed task (passed to ablate run), >= 0")(
      "signal-seconds", po::value<int>()->default_value(300), "slurm: SIGUSR1 this many seconds before the time limit, 1 to 65535")(
      "dry-run", po::bool_switch(), "print the script to stdout; write and submit nothing")(
      "submit", po::bool_switch(), "slurm: run sbatch on the script after writing it")(
      "array", po::value<int>(), "slurm: a job array of N elements (1 to 1000), each running a shard of the tasks, and a merge job after them; 0 = one MPI job (default: resources.array)")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a study key: --set train.lr=3e-4 (repeatable; checked now and passed on to ablate run)");
  options.add(common_options());
  return options;
}

// The job from the options and the study: absolute paths, defaults beside the study file, and the shards of
// an array (refused where the study cannot be sharded).
cluster::JobOptions job_options(const po::variables_map& vm, const Study& study, const std::string& study_file,
                                const std::vector<std::string>& overrides) {
  const auto& name = study.base.study.name;
  const fs::path dir = fs::path(study_file).parent_path();
  cluster::JobOptions job;
  job.scheduler = vm["scheduler"].as<std::string>();
  job.study_file = study_file;
  job.db_file = vm["db"].as<std::string>().empty() ? runner::default_db_path(study_file, name)
                                                   : fs::absolute(vm["db"].as<std::string>()).lexically_normal().string();
  job.ablate_exe = self_exe();
  job.hostfile = vm["hostfile"].as<std::string>().empty() ? "" : fs::absolute(vm["hostfile"].as<std::string>()).lexically_normal().string();
  job.log_dir = vm["log-dir"].as<std::string>().empty() ? (dir / "logs").string()
                                                        : fs::absolute(vm["log-dir"].as<std::string>()).lexically_normal().string();
  while (job.log_dir.size() > 1 && job.log_dir.back() == '/') job.log_dir.pop_back();
  job.job_name = "ablate-" + name;
  job.max_retries = vm["max-retries"].as<int>();
  job.signal_seconds = vm["signal-seconds"].as<int>();
  job.overrides = overrides;
  job.array = vm.count("array") ? vm["array"].as<int>() : study.base.resources.array;
  if (job.array > 0) {
    const std::string why = runner::array_refusal(study);
    if (!why.empty()) throw UsageError((vm.count("array") ? "--array " : "[resources] array = ") + std::to_string(job.array) + ": " + why);
    for (int i = 0; i < job.array; ++i) job.shard_dbs.push_back(runner::shard_db_path(study_file, name, i));
    job.report_dir = (dir / (name + "-report")).string();
  }
  return job;
}

}  // namespace

int verb_submit(const std::vector<std::string>& args) {
  po::options_description options = submit_options();
  po::positional_options_description positional;
  positional.add("study", 1);
  po::variables_map vm;
  if (!parse_args("submit", "ablate submit STUDY.toml [--scheduler slurm|mpirun] [--array N] [--set KEY=VALUE ...] [--dry-run | --submit]", options, positional, args, vm)) {
    return kExitOk;
  }
  if (!vm.count("study")) throw UsageError("a study file is required; see: ablate submit --help");
  const bool dry_run = vm["dry-run"].as<bool>();
  const bool submit = vm["submit"].as<bool>();
  if (dry_run && submit) throw UsageError("--dry-run and --submit exclude each other");
  const std::string study_file = fs::absolute(vm["study"].as<std::string>()).lexically_normal().string();
  const std::vector<std::string> overrides =
      vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
  const Study study = load_study(study_file, overrides);
  const cluster::JobOptions job = job_options(vm, study, study_file, overrides);
  if (submit && job.scheduler != "slurm") throw UsageError("--submit works with --scheduler slurm; run the mpirun script directly");
  if (!job.hostfile.empty() && !fs::is_regular_file(job.hostfile)) throw UsageError("--hostfile: no such file " + job.hostfile);

  std::string script, merge;
  try {
    script = cluster::job_script(study.base.resources, job);
    if (job.array > 0) merge = cluster::merge_script(study.base.resources, job);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string(e.what()) + " (in " + study_file + ")");
  }
  // Notes go to stderr with --dry-run, so that stdout is the script alone (`--dry-run > job.sh`).
  std::ostream& note = dry_run ? std::cerr : std::cout;
  if (job.scheduler == "slurm") check_mpi_type(study.base.resources.mpi, study_file, note);
  if (dry_run) {
    std::cout << script;
    if (!merge.empty()) std::cout << "\n# ---- the merge job: sbatch --dependency=afterany:<array job id> ----\n" << merge;
    std::cout << std::flush;
    return std::cout ? kExitOk : kExitFailure;
  }

  const std::string& name = study.base.study.name;
  const std::string out = vm["out"].as<std::string>().empty()
                              ? (fs::path(study_file).parent_path() / (name + "." + job.scheduler + ".sh")).string()
                              : vm["out"].as<std::string>();
  fs::create_directories(job.log_dir);
  if (job.array > 0) return write_and_submit_array(job, out, script, merge, study.variants.size(), submit);
  return write_and_submit_job(job, study, out, script, submit);
}

}  // namespace ablate::cli
