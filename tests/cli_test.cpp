// The `ablate` command line as a user meets it: help, exit codes, suggestions, plan output.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli_util.hpp"

using cli_util::ablate;
using cli_util::kExamples;
using cli_util::read_file;
using cli_util::Result;
using cli_util::TempDir;

TEST(Cli, HelpListsEveryVerbAndExitCodes) {
  Result r = ablate("--help");
  EXPECT_EQ(r.code, 0);
  for (const char* verb : {"run", "plan", "status", "report", "data", "evaluate", "params", "submit", "demo"}) {
    EXPECT_NE(r.out.find(std::string("  ") + verb + " "), std::string::npos) << verb;
  }
  EXPECT_NE(r.out.find("exit codes: 0 success, 1 the work failed, 2 usage or input error"), std::string::npos);
  EXPECT_EQ(ablate("").code, 2);
}

TEST(Cli, VerbHelpListsOptionsWithDefaults) {
  Result r = ablate("submit --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--scheduler arg (=slurm)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--log-level arg (=info)"), std::string::npos);
}

TEST(Cli, UnknownVerbSuggestsClosest) {
  Result r = ablate("plna x.toml");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown verb 'plna' (did you mean 'plan'?)"), std::string::npos) << r.out;
}

TEST(Cli, UnknownOptionSuggestsClosest) {
  Result r = ablate("plan " + kExamples + "table2.toml --explian");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown option '--explian' (did you mean '--explain'?)"), std::string::npos) << r.out;
}

TEST(Cli, PlanPrintsVariantsAndTaskCount) {
  Result r = ablate("plan " + kExamples + "table2_demo.toml");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("EC-CaM-UNet"), std::string::npos);
  EXPECT_NE(r.out.find("10 variant(s) x 2 fold(s) x 1 repeat(s) = 20 task(s)"), std::string::npos) << r.out;
}

TEST(Cli, PlanExplainNamesOrigins) {
  Result r = ablate("plan " + kExamples + "table2_demo.toml --explain --variant coa");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("model.cc"), std::string::npos);
  EXPECT_NE(r.out.find("# variant " + kExamples + "table2.toml:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("# study " + kExamples + "table2_demo.toml:"), std::string::npos);
  EXPECT_NE(r.out.find("# default"), std::string::npos);
  const Result unknown = ablate("plan " + kExamples + "table2_demo.toml --explain --variant nope");
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.out.find("no variant named `nope`"), std::string::npos) << unknown.out;
  EXPECT_NE(unknown.out.find("(variants: unet, cc, sc, mus, ec, dws, coa,"), std::string::npos) << unknown.out;
  // --variant selects what --explain prints; alone it would be silently ignored, so it is refused.
  const Result alone = ablate("plan " + kExamples + "table2_demo.toml --variant coa");
  EXPECT_EQ(alone.code, 2);
  EXPECT_NE(alone.out.find("--variant goes with --explain"), std::string::npos) << alone.out;
}

TEST(Cli, BadStudyIsAUsageErrorWithEveryProblem) {
  TempDir dir;
  const std::string path = dir / "bad.toml";
  std::ofstream(path) << "[train]\nweight_decy = 1\n[loss]\nalpha = 2.0\n";
  Result r = ablate("plan " + path);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find(path + ":2:1: `train.weight_decy`: unknown key (did you mean `train.weight_decay`?)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(path + ":4:9: `loss.alpha`"), std::string::npos);
  EXPECT_NE(r.out.find("2 problems found"), std::string::npos);
  EXPECT_EQ(ablate("plan /nonexistent/study.toml").code, 2);
}

TEST(Cli, SubmitWritesAScript) {
  TempDir dir;
  const std::string out = dir / "submit.sh";
  Result r = ablate("submit " + kExamples + "table2.toml --out " + out + " --log-dir " + (dir / "logs"));
  EXPECT_EQ(r.code, 0) << r.out;
  // examples/table2.toml: 11 ranks, that is 10 workers in the allocation and 11 tasks in the step.
  EXPECT_NE(read_file(out).find("#SBATCH --ntasks=10"), std::string::npos);
  EXPECT_NE(read_file(out).find("srun --ntasks=11 "), std::string::npos);
}

// Every verb's --help exits 0 and lists its options, with the default where there is one, and the
// common options; doubles print as written (0.8, not 0.80000000000000004).
TEST(Cli, EveryVerbHelpListsItsOptionsWithDefaults) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> expected = {
      {"run", {"--max-retries arg (=2)", "--workers arg (=1)"}},
      {"plan", {"--keys", "--explain", "--variant arg", "(default: every"}},
      {"status", {"--db arg", "--study arg"}},
      {"report", {"--db arg", "--out arg", "--format arg"}},
      {"data", {"--spacing-xy arg (=0.8)", "--spacing-z arg (=2.5)", "--cases arg (=10)", "--noise-max arg (=20)"}},
      {"evaluate", {"--pred arg", "--gt arg"}},
      {"params", {"--input-size arg (=0)", "--batch arg (=1)"}},
      {"submit", {"--scheduler arg (=slurm)", "--signal-seconds arg (=300)"}},
      {"demo", {"--out arg (=demo-out)", "--ranks arg (=3)", "--cases arg (=10)"}},
  };
  for (const auto& [verb, options] : expected) {
    Result r = ablate(verb + " --help");
    EXPECT_EQ(r.code, 0) << verb;
    EXPECT_EQ(r.out.rfind("usage: ablate " + verb, 0), 0u) << r.out;
    for (const auto& o : options) EXPECT_NE(r.out.find(o), std::string::npos) << verb << ": " << o << "\n" << r.out;
    EXPECT_NE(r.out.find("--log-level arg (=info)"), std::string::npos) << verb;
    EXPECT_NE(r.out.find("--log-file arg"), std::string::npos) << verb;
    EXPECT_EQ(r.out.find("0000000"), std::string::npos) << verb << ": a default printed in full binary precision\n" << r.out;
  }
}

TEST(Cli, StatusOfAMissingStoreIsAnInputError) {
  Result r = ablate("status --db /nonexistent/missing.sqlite");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("ablate status: store file /nonexistent/missing.sqlite does not exist"), std::string::npos) << r.out;
}

TEST(Cli, DataSuggestsTheClosestAction) {
  Result r = ablate("data sytnh --out /tmp/x");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown action 'sytnh' (did you mean 'synth'?) (allowed: check, synth)"), std::string::npos) << r.out;
}

// Errors printed without the logger carry the rank under MPI, as log lines do.
TEST(Cli, ErrorsCarryTheRankUnderMpi) {
  Result r = ablate("plan /nonexistent/study.toml");
  EXPECT_EQ(r.out.find("[rank"), std::string::npos) << r.out;
  r = ablate("plan /nonexistent/study.toml", "OMPI_COMM_WORLD_RANK=2 ");
  EXPECT_NE(r.out.find("[rank 2] error: /nonexistent/study.toml: no such study file\n[rank 2] 1 problem found\n"),
            std::string::npos)
      << r.out;
}

// Every line that `ablate run` writes under a launcher carries the rank, on stderr and in --log-file,
// including the refusal of a study whose dataset is missing. OMPI_COMM_WORLD_RANK alone (no size) is no
// MPI launch, so the run is planned in this process and stops at once.
TEST(Cli, RunLinesCarryTheRank) {
  TempDir dir;
  const std::string study = dir / "study.toml";
  std::ofstream(study) << "[study]\nname = \"ranked\"\n[data]\npath = \"missing-data\"\n";
  Result r = ablate("run " + study + " --log-file " + (dir / "run.log"), "OMPI_COMM_WORLD_RANK=2 ");
  EXPECT_NE(r.code, 0) << r.out;
  const std::string log = read_file(dir / "run.log");
  EXPECT_NE(log.find("] [rank 2] [error] ablate run: "), std::string::npos) << log;
  EXPECT_NE(log.find("missing-data"), std::string::npos) << log;
  for (const std::string& text : {r.out, log}) {
    std::istringstream lines(text);
    int n = 0;
    for (std::string line; std::getline(lines, line); ++n) {
      EXPECT_NE(line.find("[rank 2] "), std::string::npos) << "a line without the rank: " << line << "\n" << text;
    }
    EXPECT_GT(n, 0);
  }
}

// Slurm sets SLURM_PROCID=0 for every command of a batch script: that alone is no launch of several
// ranks, so no prefix; in a step of several tasks it is the rank.
TEST(Cli, SlurmProcIdCountsOnlyWithSeveralTasks) {
  Result r = ablate("plan /nonexistent/study.toml", "SLURM_PROCID=0 SLURM_NTASKS=1 ");
  EXPECT_EQ(r.out.rfind("error: /nonexistent/study.toml: no such study file\n", 0), 0u) << r.out;
  r = ablate("plan /nonexistent/study.toml", "SLURM_PROCID=0 ");
  EXPECT_EQ(r.out.find("[rank"), std::string::npos) << r.out;
  r = ablate("plan /nonexistent/study.toml", "SLURM_PROCID=1 SLURM_NTASKS=4 ");
  EXPECT_EQ(r.out.rfind("[rank 1] error: /nonexistent/study.toml: no such study file\n", 0), 0u) << r.out;
}

TEST(Cli, LogFileThatCannotBeOpenedIsAUsageError) {
  TempDir dir;
  Result r = ablate("plan " + kExamples + "table2_demo.toml --log-file " + dir.path());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out, "ablate plan: --log-file: cannot open '" + dir.path() + "' for appending (Is a directory)\n");
}

// The common options may come before the verb; nothing else may.
TEST(Cli, CommonOptionsBeforeTheVerb) {
  TempDir dir;
  Result r = ablate("--log-level debug --log-file " + (dir / "a.log") + " plan " + kExamples + "table2_demo.toml");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("= 20 task(s)"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir / "a.log"));
  r = ablate("--log-level=warn plan " + kExamples + "table2_demo.toml");
  EXPECT_EQ(r.code, 0) << r.out;
  r = ablate("--log-level nonsense plan " + kExamples + "table2_demo.toml");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--log-level: unknown level 'nonsense'"), std::string::npos) << r.out;
  r = ablate("--explain plan " + kExamples + "table2_demo.toml");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out,
            "ablate: '--explain' cannot come before the verb: only --log-level and --log-file can (the verb's options "
            "follow it)\nsee: ablate --help\n");
  r = ablate("--log-level debug");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out, "ablate: a verb is needed after the common options\nsee: ablate --help\n");
  EXPECT_EQ(ablate("--log-file").out, "ablate: option '--log-file' needs a value\nsee: ablate --help\n");
}

// Boost would take `--exp` for `--explain`; an abbreviation is refused and names the option it starts.
TEST(Cli, AbbreviatedOptionsAreRefused) {
  Result r = ablate("plan " + kExamples + "table2_demo.toml --exp");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out, "ablate plan: unknown option '--exp' (did you mean '--explain'?); see: ablate plan --help\n");
  r = ablate("run " + kExamples + "table2_demo.toml --max 3");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out, "ablate run: unknown option '--max' (did you mean '--max-retries'?); see: ablate run --help\n");
  // --log-level and --log-file both start with --log: no single option is meant.
  r = ablate("plan " + kExamples + "table2_demo.toml --log debug");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out.find("did you mean"), std::string::npos) << r.out;
}

// The check-mark columns of `plan` are the study's report.components.
TEST(Cli, PlanShowsTheStudysComponentColumns) {
  TempDir dir;
  const std::string path = dir / "components.toml";
  std::ofstream(path) << "[report]\ncomponents = [\"cc\", \"aux_path\"]\n[[ablation.variant]]\nname = \"plain\"\n"
                      << "[[ablation.variant]]\nname = \"aux\"\n\"model.aux_path\" = true\n";
  Result r = ablate("plan " + path);
  ASSERT_EQ(r.code, 0) << r.out;
  std::istringstream lines(r.out);
  std::string line, header, aux;
  while (std::getline(lines, line)) {
    if (line.find("  variant  ") != std::string::npos) header = line;
    if (line.find(" aux ") != std::string::npos) aux = line;
  }
  EXPECT_NE(header.find("  cc   aux_path  overrides"), std::string::npos) << r.out;
  EXPECT_EQ(header.find("dws"), std::string::npos) << r.out;
  EXPECT_NE(aux.find("  .    x         model.aux_path=true"), std::string::npos) << r.out;
}

// --log-level and --log-file reach the log, and `demo` passes both to the commands it runs: here the
// run fails at once (its store path is a folder) and its error lands in the same file.
TEST(Cli, LogLevelAndLogFileReachDemoAndItsCommands) {
  TempDir dir;
  const std::string out = dir.path();
  std::filesystem::create_directories(out + "/demo.sqlite");
  auto read = read_file;
  Result r = ablate("demo --out " + out + " --ranks 1 --cases 2 --log-level debug --log-file " + out + "/debug.log");
  EXPECT_EQ(r.code, 1) << r.out;
  std::string log = read(out + "/debug.log");
  EXPECT_NE(log.find("] [info] demo: writing the synthetic dataset to " + out + "/data\n"), std::string::npos) << log;
  EXPECT_NE(log.find("] [debug] demo: $ "), std::string::npos) << log;
  EXPECT_NE(log.find(" --log-level debug --log-file " + out + "/debug.log"), std::string::npos) << log;
  EXPECT_NE(log.find("] [error] ablate run: " + out + "/demo.sqlite: is a folder, expected a store file (SQLite)"), std::string::npos) << log;

  r = ablate("demo --out " + out + " --ranks 1 --cases 2 --log-level error --log-file " + out + "/error.log");
  EXPECT_EQ(r.code, 1) << r.out;
  log = read(out + "/error.log");
  EXPECT_EQ(log.find("[info]"), std::string::npos) << log;
  EXPECT_EQ(log.find("[debug]"), std::string::npos) << log;
  EXPECT_NE(log.find("] [error] ablate run: "), std::string::npos) << log;
}

// Open MPI refuses root unless told; `ablate demo` tells it for its mpirun child, so a direct demo in a
// container works without scripts/demo. The run fails at once (its store path is a folder): the point is
// that rank 0 started and logged.
TEST(Cli, DemoStartsMpirunAsRoot) {
  if (::geteuid() != 0 || std::string(ABLATE_MPIRUN).empty()) GTEST_SKIP() << "needs root and mpirun";
  TempDir dir;
  const std::string out = dir.path();
  std::filesystem::create_directories(out + "/demo.sqlite");
  const std::string cmd = "env -u OMPI_ALLOW_RUN_AS_ROOT -u OMPI_ALLOW_RUN_AS_ROOT_CONFIRM OMPI_MCA_rmaps_base_oversubscribe=1 " +
                          std::string(ABLATE_EXE) + " demo --out " + out + " --ranks 2 --cases 2 --log-file " + out +
                          "/root.log >/dev/null 2>&1";
  EXPECT_EQ(WEXITSTATUS(std::system(cmd.c_str())), 1);
  const std::string log = read_file(out + "/root.log");
  EXPECT_NE(log.find("[rank 0] [error] ablate run: " + out + "/demo.sqlite: is a folder, expected a store file (SQLite)"), std::string::npos) << log;
}

// The demo's success path at smoke scale (one epoch of one step): the whole embedded study runs, every
// task (10 variants x 2 folds) done exactly once, and the report's Markdown table and the path of
// report.html reach stdout.
namespace {
void expect_demo_complete(const std::string& out, const Result& r) {
  ASSERT_EQ(r.code, 0) << r.out;
  // The store: every task done (`status` counts the task rows, one per variant x fold x repeat).
  const Result status = ablate("status --db " + out + "/demo.sqlite --study table2-demo");
  EXPECT_EQ(status.code, 0) << status.out;
  EXPECT_NE(status.out.find("study table2-demo: 20 task(s), 20 done\n"), std::string::npos) << status.out;
  // The log: each task started once (attempt 1) and reported done once.
  std::istringstream log(r.out);
  std::set<std::string> done;
  std::size_t done_lines = 0;
  for (std::string line; std::getline(log, line);) {
    EXPECT_EQ(line.find(", attempt 2)"), std::string::npos) << line;
    const auto at = line.find("] done: ");
    if (at == std::string::npos) continue;
    ++done_lines;
    done.insert(line.substr(at, line.find(" (", at) - at));  // "] done: unet fold 0 repeat 0"
  }
  EXPECT_EQ(done_lines, 20u) << r.out;
  EXPECT_EQ(done.size(), 20u) << r.out;
  EXPECT_NE(r.out.find("| Method |"), std::string::npos) << r.out;
  for (const char* row : {"| U-Net |", "| U-Net+CC |", "| EC-CaM-UNet |"})
    EXPECT_NE(r.out.find(row), std::string::npos) << row << "\n" << r.out;
  const std::string html = out + "/report/report.html";
  EXPECT_NE(r.out.find("report: " + html + "\n"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(html));
  EXPECT_NE(r.out.find("results: " + out + "/demo.sqlite\n"), std::string::npos) << r.out;
}
}  // namespace

TEST(Cli, DemoRunsTheStudyAndPrintsTheReport) {
  TempDir dir;
  const std::string out = dir.path();
  const Result r = ablate("demo --out " + out + " --ranks 1 --cases 4 --epochs 1 --steps 1");
  expect_demo_complete(out, r);
  EXPECT_NE(read_file(out + "/demo.toml").find("[train]\nepochs = 1\nsteps_per_epoch = 1\n"), std::string::npos);
}

// The same under mpirun, as scripts/demo runs it: a coordinator and two workers.
TEST(Cli, DemoRunsTheStudyUnderMpirun) {
  if (std::string(ABLATE_MPIRUN).empty()) GTEST_SKIP() << "needs mpirun";
  TempDir dir;
  const std::string out = dir.path();
  expect_demo_complete(out, ablate("demo --out " + out + " --ranks 3 --cases 4 --epochs 1 --steps 1"));
}

TEST(Cli, DemoRefusesBadTrainingOptions) {
  TempDir dir;
  for (const char* bad : {"--epochs 0", "--steps -1", "--epochs x"}) {
    const Result r = ablate("demo --out " + dir.path() + " --ranks 1 " + bad);
    EXPECT_EQ(r.code, 2) << bad << "\n" << r.out;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "data"));
}

// `plan --keys --update FILE` regenerates the key reference of docs/STUDY.md and keeps its hand-written part.
TEST(Cli, PlanKeysUpdateKeepsTheTextAboveTheReference) {
  TempDir dir;
  const std::string path = dir / "study-doc.md";
  std::ofstream(path) << "# Title\nintro\n\n### [old]\nstale row\n";
  Result r = ablate("plan --keys --update " + path);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string doc = read_file(path);
  const std::string keys = ablate("plan --keys").out;
  EXPECT_EQ(doc, "# Title\nintro\n" + keys);
  EXPECT_EQ(doc.find("stale row"), std::string::npos);
  std::ofstream(path) << "# no reference here\n";
  EXPECT_EQ(ablate("plan --keys --update " + path).code, 2);
  EXPECT_EQ(ablate("plan " + kExamples + "table2.toml --update " + path).code, 2);
}

// `ablate params`: the parameters each component adds, by formula (widths 4, 8, 16; 1 input channel, 1
// output channel; bias-free convolutions before BN), and the output shapes at --input-size.
TEST(Cli, ParamsPrintsEveryComponentsCount) {
  TempDir dir;
  const std::string path = dir / "params.toml";
  std::ofstream(path) << "[model]\nwidths = [4, 8, 16]\n"
                      << "[[ablation.variant]]\nname = \"mda\"\n\"model.aux_path\" = true\n\"model.dspa\" = true\n"
                      << "\"model.dspa_k\" = 3\n\"model.ca\" = true\n\"model.msc\" = \"msc\"\n\"model.restoration\" = true\n"
                      << "[[ablation.variant]]\nname = \"eccam\"\n\"model.cc\" = true\n\"model.sc\" = true\n"
                      << "\"model.mus\" = true\n\"model.ec\" = true\n\"model.dws\" = true\n";
  Result r = ablate("params " + path + " --input-size 32");
  ASSERT_EQ(r.code, 0) << r.out;
  // The count printed for `component` in the block of `variant` (thousands separators removed), or -1.
  auto count = [&](const std::string& variant, const std::string& component) -> long long {
    const auto block = r.out.find("variant " + variant + " ");
    if (block == std::string::npos) return -1;
    const auto end = r.out.find("\nvariant ", block);
    const std::string text = r.out.substr(block, end == std::string::npos ? std::string::npos : end - block);
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream words(line);
      std::string name, word;
      words >> name;
      if (name != component) continue;
      while (words >> word && !std::isdigit(static_cast<unsigned char>(word[0]))) {
      }
      word.erase(std::remove(word.begin(), word.end(), ','), word.end());
      return std::stoll(word);
    }
    return -1;
  };
  const long long c0 = 4, c1 = 8, c2 = 16, k = 3;
  auto dc = [](long long in, long long out) { return in * out * 9 + 2 * out + out * out * 9 + 2 * out; };  // DoubleConv
  auto convt = [](long long in, long long out) { return in * out * 4 + out; };                            // ConvT 2x2
  const long long backbone = dc(1, c0) + dc(c0, c1) + dc(c1, c2) + convt(c1, c0) + dc(2 * c0, c0) + convt(c2, c1) +
                             dc(2 * c1, c1) + c0 + 1;
  // DSPA on M_l = concat(up_a, s_l) (2 C_l wide): conv3x3 dil. 2 (2 C_l -> K), no bias.
  const long long dspa = 2 * c0 * k * 9 + 2 * c1 * k * 9;
  // MSC: conv1x1, conv3x3, conv5x5 (C -> C) and conv1x1 (3C -> C), all with bias: 38 C^2 + 4 C.
  const long long msc = 38 * c0 * c0 + 4 * c0 + 38 * c1 * c1 + 4 * c1;
  // Aux path: ConvT + DoubleConv(2C -> C) per level, its head, and the original decoder's extra C_l inputs.
  const long long aux = (c0 + 1) + convt(c1, c0) + dc(2 * c0, c0) + 9 * c0 * c0 + convt(c2, c1) + dc(2 * c1, c1) + 9 * c1 * c1;
  // Restoration: ConvT + DoubleConv(C -> C) per level, conv1x1 head to the input channel.
  const long long restoration = (c0 + 1) + convt(c1, c0) + dc(c0, c0) + convt(c2, c1) + dc(c1, c1);
  EXPECT_EQ(count("mda", "backbone"), backbone) << r.out;
  EXPECT_EQ(count("mda", "dspa"), dspa) << r.out;
  EXPECT_EQ(count("mda", "ca"), 0) << r.out;
  EXPECT_EQ(count("mda", "msc"), msc) << r.out;
  EXPECT_EQ(count("mda", "aux_path"), aux) << r.out;
  EXPECT_EQ(count("mda", "restoration"), restoration) << r.out;
  EXPECT_EQ(count("mda", "cc"), -1) << "components that are off are not listed\n" << r.out;
  EXPECT_EQ(count("mda", "trainable"), backbone + dspa + msc + aux + restoration) << r.out;
  EXPECT_NE(r.out.find("main 1x1x32x32  aux 1x1x32x32  recon 1x1x32x32"), std::string::npos) << r.out;

  // The EC-CaM-UNet components at depth 3 (bridge 16 wide, 8 x 8 at 32 x 32).
  long long ec = 0;
  for (const auto& [in, out] : std::vector<std::pair<long long, long long>>{{1, c0}, {c0, c1}, {c1, c2}})
    ec += 2 * (3 * in * out + 2 * out) + 2 * (3 * out * out + 2 * out);  // 1x3 and 3x1 + BNs, both convs
  EXPECT_EQ(count("eccam", "backbone"), backbone) << r.out;
  EXPECT_EQ(count("eccam", "cc"), 17) << r.out;
  EXPECT_EQ(count("eccam", "sc"), 0) << r.out;
  EXPECT_EQ(count("eccam", "mus"), 3 * (9 * c2 * c2 + 2 * c2) + (c2 * c2 + 2 * c2) + (4 * c2 * c2 + 2 * c2)) << r.out;
  EXPECT_EQ(count("eccam", "fusion"), 2 * c2 * c2 + 2 * c2) << r.out;
  EXPECT_EQ(count("eccam", "ec"), ec) << r.out;
  EXPECT_EQ(count("eccam", "dws"), c2 * 1 * 16 + 1) << r.out;  // depth 3: one ConvT of factor 4
  EXPECT_NE(r.out.find("main 1x1x32x32  side1 1x1x32x32"), std::string::npos) << r.out;
  EXPECT_EQ(count("eccam", "trainable"), count("eccam", "backbone") + count("eccam", "cc") + count("eccam", "mus") +
                                             count("eccam", "fusion") + count("eccam", "ec") + count("eccam", "dws"));
}
