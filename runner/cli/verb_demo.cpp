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
#include "runner/cli/cli.hpp"

namespace fs = std::filesystem;

namespace ablate::cli {

namespace {

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int step(const std::string& what, const std::string& command) {
  spdlog::info("demo: {}", what);
  spdlog::debug("demo: $ {}", command);
  // The child appends to the same --log-file: what this process buffered goes first.
  spdlog::default_logger()->flush();
  const int status = std::system(command.c_str());
  if (status == -1) return kExitFailure;
  return WIFEXITED(status) ? WEXITSTATUS(status) : kExitFailure;
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
  std::string logging = " --log-level " + quote(vm["log-level"].as<std::string>());
  if (!vm["log-file"].as<std::string>().empty()) {
    logging += " --log-file " + quote(fs::absolute(vm["log-file"].as<std::string>()).string());
  }

  // The study: the embedded Table II files, with the data path pointing at this demo's dataset.
  write_text_file((out / "table2.toml").string(), kTable2Toml);
  write_text_file((out / "table2_demo.toml").string(), kTable2DemoToml);
  write_text_file((out / "demo.toml").string(), "# The embedded default study of `ablate demo`.\ninclude = \"table2_demo.toml\"\n\n"
                                                "[data]\npath = \"data\"\n" +
                                                    (train.empty() ? std::string() : "\n[train]\n" + train));
  const fs::path data = out / "data";
  if (!fs::exists(data / "dataset.json")) {
    int rc = step("writing the synthetic dataset to " + data.string(),
                  quote(exe) + " data synth --out " + quote(data.string()) + " --cases " +
                      std::to_string(vm["cases"].as<int>()) + " --seed " + std::to_string(vm["seed"].as<int>()) +
                      logging);
    if (rc != 0) return rc;
  }
  const fs::path db = out / "demo.sqlite";
  std::string run = quote(exe) + " run " + quote((out / "demo.toml").string()) + " --db " + quote(db.string()) +
                    " --workdir " + quote((out / "work").string()) + logging;
  const bool have_mpirun = std::system("command -v mpirun >/dev/null 2>&1") == 0;
  if (ranks > 1 && have_mpirun) {
    run = "mpirun -np " + std::to_string(ranks) + " --oversubscribe " + run;
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
  rc = step("writing the report", quote(exe) + " report --db " + quote(db.string()) + " --study table2-demo --out " +
                                      quote((out / "report").string()) + logging);
  if (rc != 0) return rc;
  // `ablate report` has printed the Markdown table and the path of report.html; the store is left to say.
  std::cout << "\nresults: " << db.string() << "\n";
  return kExitOk;
}

}  // namespace ablate::cli
