// The command line against careless input and hostile conditions: writes that fail (a full disk) are
// errors, CSV is quoted, late failures are caught before any task, errors stay readable (NUL bytes,
// LibTorch backtraces, folders where files belong), and signals stop a run with everything stored.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>

#include "hardening_util.hpp"

namespace fs = std::filesystem;
using hardening::ablate_run;
using hardening::CliRun;
using hardening::RunSpec;
using hardening::TempDir;

namespace {

// A synthetic dataset of `cases` cases under DIR/ds.
std::string synth(const TempDir& dir, int cases) {
  const CliRun r = ablate_run({"data", "synth", "--out", dir / "ds", "--cases", std::to_string(cases), "--size", "32", "--slices", "4"});
  EXPECT_EQ(r.code, 0) << r.out;
  return dir / "ds";
}

// A tiny study on `data` (training long enough to be interrupted).
std::string tiny_study(const TempDir& dir, const std::string& data, int epochs = 2) {
  return dir.write("tiny.toml", "[study]\nname = \"tiny\"\nfolds = 2\n[data]\npath = \"" + data +
                                    "\"\nimage_size = 32\n[model]\nwidths = [4, 8]\n[train]\nepochs = " + std::to_string(epochs) +
                                    "\nsteps_per_epoch = 4\nbatch_size = 2\n");
}

std::size_t count_lines(const std::string& text) {
  std::size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

}  // namespace

TEST(CliHardening, EvaluateToAFullDiskFailsAndDoesNotSayWrote) {
  TempDir dir;
  const std::string ds = synth(dir, 2);
  const CliRun r = ablate_run({"evaluate", "--pred", ds + "/labelsTr", "--gt", ds + "/labelsTr", "--out", "/dev/full"});
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("cannot write /dev/full: No space left on device"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("wrote /dev/full"), std::string::npos) << r.out;
}

// `--labels` given must name a class: "" used to mean "every label" and "1+" to mean "1" (issue 25).
TEST(CliHardening, EvaluateRefusesEmptyLabelsSayingWhatIsAllowed) {
  TempDir dir;
  for (const char* labels : {"", "1+", "1,", ",2"}) {
    const CliRun r = ablate_run({"evaluate", "--pred", dir / "p", "--gt", dir / "g", "--labels", labels});
    EXPECT_EQ(r.code, 2) << labels << ": " << r.out;
    EXPECT_NE(r.out.find("--labels \"" + std::string(labels) + "\""), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("(allowed: label values 1..255"), std::string::npos) << r.out;
  }
}

TEST(CliHardening, SubmitToAFullDiskFailsAndDoesNotSayWrote) {
  TempDir dir;
  const CliRun r = ablate_run({"submit", tiny_study(dir, dir / "ds"), "--out", "/dev/full"});
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("cannot write /dev/full: No space left on device"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("wrote /dev/full"), std::string::npos) << r.out;
}

TEST(CliHardening, StandardOutputToAFullDiskIsAnError) {
  RunSpec spec;
  spec.args = {"plan", std::string(ABLATE_SOURCE_DIR) + "/examples/table2.toml"};
  spec.stdout_path = "/dev/full";
  const CliRun r = ablate_run(spec);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("ablate plan: cannot write the standard output: No space left on device"), std::string::npos) << r.out;
}

TEST(CliHardening, EvaluateCsvQuotesCaseIdsPerRfc4180) {
  TempDir dir;
  const std::string ds = synth(dir, 1);
  fs::create_directories(dir / "pred");
  fs::create_directories(dir / "gt");
  const std::string odd = "a,\"b\"";  // a comma and quotes in a file name
  fs::copy_file(ds + "/labelsTr/synth_000.nii.gz", dir / ("pred/" + odd + ".nii.gz"));
  fs::copy_file(ds + "/labelsTr/synth_000.nii.gz", dir / ("gt/" + odd + ".nii.gz"));
  const CliRun r = ablate_run({"evaluate", "--pred", dir / "pred", "--gt", dir / "gt", "--out", dir / "m.csv"});
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string csv = hardening::slurp(dir / "m.csv");
  // The case id quoted in every row of it: the prediction's and the trivial predictors'.
  for (const char* predictor : {"prediction,1.000000,", "all_background,", "all_foreground,"})
    EXPECT_NE(csv.find(std::string("\n\"a,\"\"b\"\"\",1,") + predictor), std::string::npos) << predictor << "\n" << csv;
}

TEST(CliHardening, EvaluateRefusesPredictionsThatAreNotLabels) {
  TempDir dir;
  const std::string ds = synth(dir, 1);
  // Both folders hold the same labels; the prediction gets a probability-like value in one voxel.
  fs::create_directories(dir / "gt");
  fs::copy_file(ds + "/labelsTr/synth_000.nii.gz", dir / "gt/synth_000.nii.gz");
  // A float NIfTI: 348-byte header + 4 bytes extension flag, written by hand (no niftilib in this test).
  auto nifti = [&](const std::string& path, float value) {
    std::string h(352, '\0');
    auto put32 = [&](std::size_t at, std::int32_t v) { std::memcpy(&h[at], &v, 4); };
    auto put16 = [&](std::size_t at, std::int16_t v) { std::memcpy(&h[at], &v, 2); };
    auto putf = [&](std::size_t at, float v) { std::memcpy(&h[at], &v, 4); };
    put32(0, 348);
    put16(40, 3), put16(42, 2), put16(44, 2), put16(46, 1), put16(48, 1), put16(50, 1), put16(52, 1), put16(54, 1);
    put16(70, 16), put16(72, 32);  // DT_FLOAT32
    putf(76, 1), putf(80, 1), putf(84, 1), putf(88, 1);
    putf(108, 352);  // vox_offset
    putf(112, 1);    // scl_slope
    h[344] = 'n', h[345] = '+', h[346] = '1';
    std::string data(16, '\0');
    const float v[4] = {0, value, 1, 0};
    std::memcpy(data.data(), v, 16);
    std::ofstream(path, std::ios::binary) << h << data;
  };
  fs::create_directories(dir / "p");
  fs::create_directories(dir / "g");
  nifti(dir / "g/c.nii", 1);
  for (float bad : {0.5f, -1.0f}) {
    nifti(dir / "p/c.nii", bad);
    const CliRun r = ablate_run({"evaluate", "--pred", dir / "p", "--gt", dir / "g"});
    EXPECT_EQ(r.code, 1) << r.out;
    std::ostringstream value;
    value << bad;
    EXPECT_NE(r.out.find("problem: " + dir / "p/c.nii" + ": case c: voxel (1, 0, 0) holds " + value.str() +
                         ", which is not a label: a label volume holds whole numbers 0..255"),
              std::string::npos)
        << r.out;
  }
  // NaN: niftilib reads it as 0 (background); it is found in the raw data and refused the same way.
  nifti(dir / "p/c.nii", std::numeric_limits<float>::quiet_NaN());
  const CliRun nan = ablate_run({"evaluate", "--pred", dir / "p", "--gt", dir / "g"});
  EXPECT_EQ(nan.code, 1) << nan.out;
  EXPECT_NE(nan.out.find("problem: " + dir / "p/c.nii" + ": case c: 1 voxel(s) hold NaN or an infinity (the first at voxel (1, 0, 0))"),
            std::string::npos)
      << nan.out;
  nifti(dir / "p/c.nii", 1);
  EXPECT_EQ(ablate_run({"evaluate", "--pred", dir / "p", "--gt", dir / "g"}).code, 0);
}

TEST(CliHardening, WorkdirThatIsAFileIsRefusedBeforeAnyTask) {
  TempDir dir;
  const std::string study = tiny_study(dir, dir / "no-dataset");
  const std::string file = dir.write("afile", "x");
  const CliRun r = ablate_run({"run", study, "--workdir", file});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--workdir " + file + ": is a file, expected a folder for the checkpoints"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("attempt"), std::string::npos) << r.out;
}

TEST(CliHardening, OneCaseDatasetIsAnInputError) {
  TempDir dir;
  const std::string study = tiny_study(dir, synth(dir, 1));
  const CliRun r = ablate_run({"run", study});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("1 case(s): study.folds = 2 exceeds the number of cases (1)"), std::string::npos) << r.out;
}

// Issue 26, item 1, through the binary: a study that asks for GPUs on a build or node without one is refused
// at worker start, exit 2, naming the worker, its host and what it saw, before any task (no attempt stored).
TEST(CliHardening, AGpuStudyOnAWorkerWithoutAGpuIsRefusedWithExitTwo) {
  TempDir dir;
  const std::string study = tiny_study(dir, synth(dir, 4));
  const CliRun r = ablate_run({"run", study, "--set", "resources.gpus_per_node=1"});
  if (r.code == 0) GTEST_SKIP() << "this build sees a GPU: the study trained on it";
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("1 of 1 worker(s) cannot serve this study"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("worker 1 on "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sees no CUDA device (LibTorch "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("attempt"), std::string::npos) << r.out;
}

TEST(CliHardening, NulInAStringDoesNotCutTheErrors) {
  TempDir dir;
  // A key and a value with a NUL: the problems after them and the count must still be printed.
  const std::string study =
      dir.write("s.toml", "[study]\nname = \"a\\u0000b\"\n[train]\n\"x\\u0000y\" = 1\nepochs = -1\n");
  const CliRun r = ablate_run({"plan", study});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out.find('\0'), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("`train.x\\0y`"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("`train.epochs`"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 problems found"), std::string::npos) << r.out;
}

TEST(CliHardening, AllocationFailureIsOneLineWithoutBacktrace) {
  TempDir dir;
  const std::string study = dir.write("s.toml", "[model]\nwidths = [4, 8]\n[data]\nimage_size = 4096\n");
  // A batch of a million 4096 x 4096 images: petabytes, refused by any machine's allocator.
  const CliRun r = ablate_run({"params", study, "--batch", "1000000"});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out.find("frame #"), std::string::npos) << r.out;
  EXPECT_LT(count_lines(r.out), 12u) << r.out;
  EXPECT_NE(r.out.find("(the backtrace: --log-level debug)"), std::string::npos) << r.out;
  const CliRun debug = ablate_run({"params", study, "--batch", "1000000", "--log-level", "debug"});
  EXPECT_NE(debug.out.find("frame #"), std::string::npos) << debug.out;
}

TEST(CliHardening, UnclearStoreAndDatasetErrorsAreNamed) {
  TempDir dir;
  // dataset.json that is a folder, and the summary line of `data check` ends before the problem.
  fs::create_directories(dir / "ds/dataset.json");
  CliRun r = ablate_run({"data", "check", dir / "ds"});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("cannot be read\nproblem: " + dir / "ds/dataset.json: it is a folder, expected the dataset's JSON file"),
            std::string::npos)
      << r.out;
  // A store in a folder that does not exist, a folder as the store, a study name too long for a file.
  const std::string study = tiny_study(dir, dir / "ds");
  r = ablate_run({"run", study, "--db", dir / "missing/s.sqlite"});
  EXPECT_NE(r.out.find(dir / "missing/s.sqlite: cannot create the store: the folder " + dir / "missing does not exist"),
            std::string::npos)
      << r.out;
  fs::create_directories(dir / "folder.sqlite");
  r = ablate_run({"report", "--db", dir / "folder.sqlite", "--out", dir / "rep"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find(dir / "folder.sqlite: is a folder, expected a store file (SQLite)"), std::string::npos) << r.out;
  r = ablate_run({"plan", dir.write("long.toml", "[study]\nname = \"" + std::string(5000, 'n') + "\"\n")});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("at most 200 characters"), std::string::npos) << r.out;
}

TEST(CliHardening, SigintStopsARunLikeSigterm) {
  TempDir dir;
  const std::string study = tiny_study(dir, synth(dir, 6), 400);
  RunSpec spec;
  spec.args = {"run", study};
  spec.while_running = [](pid_t pid, const std::string& out) {
    EXPECT_TRUE(hardening::wait_for_text(out, "] task ", 120)) << hardening::slurp(out);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    kill(pid, SIGINT);
  };
  const CliRun r = ablate_run(spec);
  EXPECT_EQ(r.signal, 0) << r.out;
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("run the same command again to resume (exit 3)"), std::string::npos) << r.out;
}

TEST(CliHardening, StopSignalBeforeTheHandlersIsACheckpointedStop) {
  // SIGUSR1 pending from the first instruction (blocked and raised before exec): as a signal that
  // arrives while the binary starts. It must stop the run (exit 3, no task), not kill it.
  TempDir dir;
  const std::string study = tiny_study(dir, synth(dir, 4), 400);
  RunSpec spec;
  spec.args = {"run", study};
  spec.pending_signals = {SIGUSR1};
  const CliRun r = ablate_run(spec);
  EXPECT_EQ(r.signal, 0) << r.out;
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_EQ(r.out.find("] done: "), std::string::npos) << r.out;
}

TEST(CliHardening, StopSignalWhileLibTorchLoadsIsACheckpointedStop) {
  // SIGUSR1 100 ms after the start: the core is still loading LibTorch (most of a second), before its
  // main(); the launcher has blocked the signal, so it is a stop (exit 3), not a death by signal 10.
  TempDir dir;
  const std::string study = tiny_study(dir, synth(dir, 4), 400);
  RunSpec spec;
  spec.args = {"run", study};
  spec.while_running = [](pid_t pid, const std::string&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    kill(pid, SIGUSR1);
  };
  const CliRun r = ablate_run(spec);
  EXPECT_EQ(r.signal, 0) << r.out;
  EXPECT_EQ(r.code, 3) << r.out;
  // Any other verb keeps the default action: a pending signal ends it.
  RunSpec plan;
  plan.args = {"plan", study};
  plan.pending_signals = {SIGTERM};
  EXPECT_EQ(ablate_run(plan).signal, SIGTERM);
}
