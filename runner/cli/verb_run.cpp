// ablate run STUDY.toml: the coordinator and workers (runner/run.hpp); under mpirun rank 0 coordinates.
#include <spdlog/spdlog.h>

#include <sstream>
#include <string>

#include "runner/cli/cli.hpp"
#include "runner/run.hpp"

namespace ablate::cli {

int verb_run(const std::vector<std::string>& args) {
  po::options_description options("ablate run");
  // clang-format off
  options.add_options()
    ("study", po::value<std::string>(), "the study file (TOML)")
    ("db", po::value<std::string>()->default_value(""), "the store (SQLite); default: <study dir>/<study name>.sqlite")
    ("workdir", po::value<std::string>()->default_value(""), "checkpoints; default: <db dir>/<study name>.work")
    ("max-retries", po::value<int>()->default_value(2), "extra attempts of a failed task, each on another worker when there is one")
    ("new-study", po::bool_switch(), "keep a stored study of the same name as '<name>~k' and start afresh (needed after a variant changed)")
    ("workers", po::value<int>()->default_value(1), "worker threads of a plain-process run (without mpirun)")
    ("reuse", po::value<std::vector<std::string>>()->composing(), "another store whose finished trainings may stand for this study's tasks (repeatable; read only; docs/RUNNER.md)")
    ("no-reuse", po::bool_switch(), "train every open task, even when a finished training with the same key is stored")
    ("shard", po::value<std::string>()->default_value(""), "I/N: only shard I (0..N-1) of the study's tasks, balanced on estimated cost, into <study dir>/<name>.shard-I.sqlite unless --db (a job array's element; merge the shards with ablate merge)")
    ("set", po::value<std::vector<std::string>>()->composing(), "override a study key: --set train.lr=3e-4 (repeatable; validated as in the file, part of the hash)");
  // clang-format on
  options.add(common_options());
  po::positional_options_description positional;
  positional.add("study", 1);
  po::variables_map vm;
  if (!parse_args("run", "ablate run STUDY.toml [--db FILE] [--max-retries N] [--new-study] [--workdir DIR] [--workers N] [--shard I/N] [--reuse STORE ...] [--no-reuse] [--set KEY=VALUE ...]\n"
                         "       mpirun -np N ablate run STUDY.toml ...   (rank 0 coordinates, ranks 1..N-1 work)",
                  options, positional, args, vm)) {
    return kExitOk;
  }
  if (!vm.count("study")) throw UsageError("missing the study file; usage: ablate run STUDY.toml");
  runner::RunOptions o;
  o.study_file = vm["study"].as<std::string>();
  o.db_path = vm["db"].as<std::string>();
  o.workdir = vm["workdir"].as<std::string>();
  o.max_retries = vm["max-retries"].as<int>();
  if (o.max_retries < 0) throw UsageError("--max-retries: " + std::to_string(o.max_retries) + " (allowed: >= 0)");
  o.new_study = vm["new-study"].as<bool>();
  o.reuse = !vm["no-reuse"].as<bool>();
  if (vm.count("reuse")) o.reuse_stores = vm["reuse"].as<std::vector<std::string>>();
  if (!o.reuse && !o.reuse_stores.empty()) throw UsageError("--reuse and --no-reuse together: choose one");
  if (vm.count("set")) o.overrides = vm["set"].as<std::vector<std::string>>();
  o.inproc_workers = vm["workers"].as<int>();
  if (o.inproc_workers < 1) throw UsageError("--workers: " + std::to_string(o.inproc_workers) + " (allowed: >= 1)");
  if (const std::string spec = vm["shard"].as<std::string>(); !spec.empty()) {
    try {
      o.shard = runner::parse_shard(spec);
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
  }
  o.command_line = "ablate run";
  for (const auto& a : args) o.command_line += " " + a;
  auto executor = runner::make_trainer_executor();
  try {
    return runner::run_study(o, *executor);
  } catch (const runner::RunRefused& e) {
    // Through the logger, line by line: each line carries the time and the rank, and reaches --log-file.
    std::istringstream lines(e.what());
    std::string line;
    for (bool first = true; std::getline(lines, line); first = false) {
      spdlog::error("{}{}", first ? "ablate run: refused: " : "", line);
    }
    // A changed study or a missing dataset is the user's input; a study held by another coordinator is not.
    return e.kind() == runner::RunRefused::kLocked ? kExitFailure : kExitUsage;
  }
}

}  // namespace ablate::cli
