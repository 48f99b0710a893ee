// `ablate demo`: the embedded default. Writes a synthetic CT dataset, the demo-scale Table II study
// (examples/table2_demo.toml, embedded in the binary), runs it (under mpirun when there is one and
// --ranks > 1, else in this process) and writes the report.
// `ablate demo --study FILE`: any study at demo scale: the overrides of ablations/demo_scale.hpp passed to
// `ablate run FILE --set ...` (the user's file through the one override layer), on a synthetic dataset
// that has the study's classes.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>

#include "ablations/demo_scale.hpp"
#include "ablations/output.hpp"
#include "ablations/study.hpp"
#include "cluster/process.hpp"
#include "embedded_studies.hpp"
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

// The command that runs a study: under mpirun when there is one and ranks > 1, else in this process.
std::vector<std::string> under_mpirun(std::vector<std::string> run, int ranks) {
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
  return run;
}

// `ablate demo --study FILE`: prints what it shrank, writes the matching synthetic dataset, runs the
// user's file with the demo's overrides and writes the report.
int demo_study(const po::variables_map& vm, const fs::path& out, int ranks,
               const std::function<std::vector<std::string>(std::vector<std::string>)>& with_logging) {
  const std::string file = vm["study"].as<std::string>();
  const std::vector<std::string> user_sets =
      vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
  DemoOptions o;
  o.tiny = vm["tiny"].as<bool>();
  if (vm.count("epochs")) o.epochs = vm["epochs"].as<int>();
  if (vm.count("steps")) o.steps = vm["steps"].as<int>();
  if (!vm["cases"].defaulted()) o.cases = vm["cases"].as<int>();
  const Study original = load_study(file, user_sets);
  // The dataset's folder is named by what it holds, so that demos of studies with other classes or
  // scales share an --out folder without overwriting each other's data.
  const DemoData d = demo_scale(original, o).data;
  const std::string tag = std::to_string(d.organs) + "organ" + (d.tumour ? "-tumour" : "") + "-" +
                          std::to_string(d.size) + "px-" + std::to_string(d.slices) + "z-" +
                          std::to_string(d.cases) + "cases-seed" + std::to_string(vm["seed"].as<int>());
  const fs::path data = out / ("data-" + tag);
  o.data_dir = data.string();
  const DemoScale scale = demo_scale(original, o);

  std::cout << "demo of " << file << " (study " << original.base.study.name << ")" << (o.tiny ? ", tiny" : "")
            << "\n";
  std::cout << "  synthetic data: " << d.cases << " cases of " << d.size << " x " << d.size << " x "
            << d.slices << " voxels, " << d.organs << " organ(s)" << (d.tumour ? " and a tumour" : "")
            << "; intensity as the study says (" << original.base.data.intensity << ")\n";
  std::cout << "  classes: " << d.labels << "\n";
  std::cout << "  shrunk (ablations/demo_scale.hpp), passed as --set:\n";
  std::size_t w = 0;
  for (const auto& c : scale.changes) w = std::max(w, c.key.size());
  for (const auto& c : scale.changes)
    std::cout << "    " << std::left << std::setw(static_cast<int>(w)) << c.key << "  " << c.from << " -> "
              << c.to << "  (" << c.why << ")\n";
  std::cout << "  everything else as the file says" << (user_sets.empty() ? "" : " and your --set") << "\n";
  std::vector<std::string> sets = scale.overrides;
  // The user's own --set come last: what they ask for wins over the demo's rule.
  sets.insert(sets.end(), user_sets.begin(), user_sets.end());
  const Study demo = load_study(file, sets);  // refuses here, before any data or run, what would not plan
  std::cout << "  " << demo.variants.size() << " variant(s)"
            << (demo.search.adaptive() ? " (proposed as it runs)" : "") << "\n";
  std::cout.flush();

  if (!fs::exists(data / "dataset.json")) {
    std::vector<std::string> synth = {self_exe(),
                                      "data",
                                      "synth",
                                      "--out",
                                      data.string(),
                                      "--cases",
                                      std::to_string(d.cases),
                                      "--size",
                                      std::to_string(d.size),
                                      "--slices",
                                      std::to_string(d.slices),
                                      "--organs",
                                      std::to_string(d.organs),
                                      "--seed",
                                      std::to_string(vm["seed"].as<int>())};
    if (!d.tumour) synth.push_back("--no-tumour");
    const int rc = step("writing the synthetic dataset to " + data.string(), with_logging(synth));
    if (rc != 0) return rc;
  }
  const fs::path db = out / (original.base.study.name + ".sqlite");
  std::vector<std::string> run = {self_exe(),  "run",       fs::absolute(file).string(), "--db",
                                  db.string(), "--workdir", (out / "work").string()};
  for (const auto& s : sets) run.insert(run.end(), {"--set", s});
  const auto t0 = std::chrono::steady_clock::now();
  int rc = step("running " + file + " at demo scale (" + std::to_string(ranks) + " rank(s))",
                with_logging(under_mpirun(run, ranks)));
  if (rc != 0) return rc;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rc = step("writing the report",
            with_logging({self_exe(), "report", "--db", db.string(), "--study", original.base.study.name,
                          "--out", (out / "report").string()}));
  if (rc != 0) return rc;
  std::cout << "\ndemo run: " << std::fixed << std::setprecision(0) << seconds
            << " s; results: " << db.string() << "\n";
  return kExitOk;
}

}  // namespace

int verb_demo(const std::vector<std::string>& args) {
  po::options_description options("ablate demo");
  options.add_options()("out", po::value<std::string>()->default_value("demo-out"),
                        "folder for data, store and report")(
      "ranks", po::value<int>()->default_value(3), "MPI ranks (coordinator + workers); 1 = one process")(
      "cases", po::value<int>()->default_value(10), "synthetic cases")(
      "seed", po::value<int>()->default_value(7), "seed of the synthetic dataset")(
      "epochs", po::value<int>(), "train.epochs of the demo study (default: the embedded study's)")(
      "steps", po::value<int>(), "train.steps_per_epoch of the demo study (default: the embedded study's)")(
      "study", po::value<std::string>(),
      "run this study file at demo scale instead of the embedded Table II")(
      "tiny", po::bool_switch(),
      "with --study: the smoke-test scale (one split, one epoch of 2 steps, 32 px)")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "with --study: override a study key after the demo's rules (repeatable), as ablate run --set");
  options.add(common_options());
  po::positional_options_description positional;
  po::variables_map vm;
  if (!parse_args("demo",
                  "ablate demo [--out DIR] [--ranks N] [--epochs N] [--steps N]\n"
                  "       ablate demo --study FILE [--tiny] [--out DIR] [--ranks N] [--epochs N] [--steps N] "
                  "[--set KEY=VALUE ...]",
                  options, positional, args, vm))
    return kExitOk;

  const fs::path out = fs::absolute(vm["out"].as<std::string>()).lexically_normal();
  const int ranks = vm["ranks"].as<int>();
  if (ranks < 1) throw UsageError("--ranks: expected at least 1");
  if (!vm.count("study") && (vm["tiny"].as<bool>() || vm.count("set")))
    throw UsageError("--tiny and --set go with --study FILE (the embedded demo takes --epochs and --steps)");
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

  if (vm.count("study")) return demo_study(vm, out, ranks, with_logging);

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
  run = under_mpirun(run, ranks);
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
