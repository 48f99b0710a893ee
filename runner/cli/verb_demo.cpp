// `ablate demo`: the embedded default. Writes a synthetic CT dataset, the demo-scale Table II study
// (examples/table2_demo.toml, embedded in the binary), runs it (under mpirun when there is one and
// --ranks > 1, else in this process) and writes the report.
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <unistd.h>

#include "embedded_studies.hpp"
#include "ablations/output.hpp"
#include "cluster/process.hpp"
#include "runner/cli/cli.hpp"

namespace fs = std::filesystem;

namespace ablate::cli {

namespace {

// A word as a shell would need it, for the debug line that shows a step (only shown, never run).
std::string quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=:-") == std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs one step of the demo as an argument vector (posix_spawnp, never a shell: the output folder is the
// user's text), with this process's standard streams, and returns its exit code.
int step(const std::string& what, const std::vector<std::string>& argv) {
  spdlog::info("demo: {}", what);
  std::string shown;
  for (const auto& a : argv) shown += (shown.empty() ? "" : " ") + quote(a);
  spdlog::debug("demo: $ {}", shown);
  // The child appends to the same --log-file: what this process buffered goes first.
  spdlog::default_logger()->flush();
  std::cout.flush();
  const cluster::ProcessResult r = cluster::run_attached(argv);
  if (!r.started) {
    spdlog::error("demo: cannot start {}: {}", argv[0], r.error);
    return kExitFailure;
  }
  return r.signal == 0 && r.status >= 0 ? r.status : kExitFailure;
}

}  // namespace

int verb_demo(const std::vector<std::string>& args) {
  po::options_description options("ablate demo");
  options.add_options()("out", po::value<std::string>()->default_value("demo-out"), "folder for data, store and report")(
      "ranks", po::value<int>()->default_value(3), "MPI ranks (coordinator + workers); 1 = one process")(
      "cases", po::value<int>()->default_value(10), "synthetic cases")(
      "seed", po::value<int>()->default_value(7), "seed of the synthetic dataset")(
      "epochs", po::value<int>(), "train.epochs of the demo study (default: the embedded study's)")(
      "steps", po::value<int>(), "train.steps_per_epoch of the demo study (default: the embedded study's)");
  options.add(common_options());
  po::positional_options_description positional;
  po::variables_map vm;
  if (!parse_args("demo", "ablate demo [--out DIR] [--ranks N] [--epochs N] [--steps N]", options, positional, args,
                  vm))
    return kExitOk;

  const fs::path out = fs::absolute(vm["out"].as<std::string>()).lexically_normal();
  const int ranks = vm["ranks"].as<int>();
  if (ranks < 1) throw UsageError("--ranks: expected at least 1");
  // A shorter training for a smoke run, written into demo.toml's [train] over the embedded study's values
  // (the ranges of train.epochs and train.steps_per_epoch, docs/STUDY.md).
  std::string train;
  if (vm.count("epochs")) {
    const int epochs = vm["epochs"].as<int>();
    if (epochs < 1 || epochs > 100000) throw UsageError("--epochs " + std::to_string(epochs) + ": expected 1 to 100000");
    train += "epochs = " + std::to_string(epochs) + "\n";
  }
  if (vm.count("steps")) {
    const int steps = vm["steps"].as<int>();
    if (steps < 0) throw UsageError("--steps " + std::to_string(steps) + ": expected 0 (one pass) or more");
    train += "steps_per_epoch = " + std::to_string(steps) + "\n";
  }
  fs::create_directories(out);
  const std::string exe = self_exe();
  // The commands the demo runs log as it does: same level, same file.
  std::vector<std::string> logging = {"--log-level", vm["log-level"].as<std::string>()};
  if (!vm["log-file"].as<std::string>().empty()) {
    logging.insert(logging.end(), {"--log-file", fs::absolute(vm["log-file"].as<std::string>()).string()});
  }
  auto with_logging = [&logging](std::vector<std::string> argv) {
    argv.insert(argv.end(), logging.begin(), logging.end());
    return argv;
  };

  // The study: the embedded Table II files, with the data path pointing at this demo's dataset.
  write_text_file((out / "table2.toml").string(), kTable2Toml);
  write_text_file((out / "table2_demo.toml").string(), kTable2DemoToml);
  write_text_file((out / "demo.toml").string(), "# The embedded default study of `ablate demo`.\ninclude = \"table2_demo.toml\"\n\n"
                                                "[data]\npath = \"data\"\n" +
                                                    (train.empty() ? std::string() : "\n[train]\n" + train));
  const fs::path data = out / "data";
  if (!fs::exists(data / "dataset.json")) {
    int rc = step("writing the synthetic dataset to " + data.string(),
                  with_logging({exe, "data", "synth", "--out", data.string(), "--cases",
                                std::to_string(vm["cases"].as<int>()), "--seed", std::to_string(vm["seed"].as<int>())}));
    if (rc != 0) return rc;
  }
  const fs::path db = out / "demo.sqlite";
  std::vector<std::string> run = with_logging({exe, "run", (out / "demo.toml").string(), "--db", db.string(),
                                                "--workdir", (out / "work").string()});
  const std::string mpirun = cluster::find_on_path("mpirun");
  if (ranks > 1 && !mpirun.empty()) {
    run.insert(run.begin(), {mpirun, "-np", std::to_string(ranks), "--oversubscribe"});
    // Open MPI refuses to start as root unless told; scripts/demo sets these, a direct `ablate demo` in a
    // container (root) needs them too. A user's own setting stands.
    if (geteuid() == 0) {
      setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
      setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    }
  } else if (ranks > 1) {
    spdlog::warn("demo: mpirun not found; running coordinator and worker in this process");
  }
  int rc = step("running the demo study (" + std::to_string(ranks) + " rank(s))", run);
  if (rc != 0) return rc;
  rc = step("writing the report", with_logging({exe, "report", "--db", db.string(), "--study", "table2-demo", "--out",
                                                 (out / "report").string()}));
  if (rc != 0) return rc;
  // `ablate report` has printed the Markdown table and the path of report.html; the store is left to say.
  std::cout << "\nresults: " << db.string() << "\n";
  return kExitOk;
}

}  // namespace ablate::cli
