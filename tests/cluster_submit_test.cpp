// `ablate submit` as a user meets it, with stand-ins for sbatch and srun on the PATH (the real Slurm is
// in cluster_slurm_test): --dry-run prints the script; sbatch gets the script's path as one argument
// (no shell: a study folder named d3'$(touch PWN)'x runs nothing), after everything ablate printed;
// resources.mpi is checked against `srun --mpi=list`; malformed [resources] strings and negative options
// are usage errors (exit 2) that name the file, line and key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cluster/process.hpp"

namespace fs = std::filesystem;
using ablate::cluster::run_process;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Submit : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ablate-submit-test-XXXXXX";
    root_ = mkdtemp(tmpl);
    bin_ = root_ / "bin";
    fs::create_directories(bin_);
    cwd_ = fs::current_path();
  }
  void TearDown() override {
    fs::current_path(cwd_);
    fs::remove_all(root_);
  }

  // A stand-in program on the PATH of `ablate` (first), written as a bash script.
  void stand_in(const std::string& name, const std::string& body) {
    const fs::path p = bin_ / name;
    std::ofstream(p) << "#!/usr/bin/env bash\n" << body;
    fs::permissions(p, fs::perms::owner_all);
  }

  // A valid study in `folder` (created) with `resources` as its [resources] section.
  fs::path study(const fs::path& folder, const std::string& resources = "") {
    fs::create_directories(folder);
    const fs::path p = folder / "tiny.toml";
    std::ofstream(p) << "[study]\nname = \"tiny\"\n[data]\npath = \"data\"\n[model]\nwidths = [4, 8]\n"
                     << "[resources]\nranks = 3\n" << resources << "\n[[ablation.variant]]\nname = \"unet\"\n";
    return p;
  }

  struct Result {
    int code;
    std::string out;
  };
  // `ablate ARGS`: its exit code and its stdout and stderr together, or stdout alone.
  Result ablate(std::vector<std::string> args, bool stdout_only = false) {
    std::vector<std::string> argv = {"env", "-u", "SLURM_CONF", "PATH=" + bin_.string() + ":/usr/bin:/bin"};
    if (stdout_only) argv.insert(argv.end(), {"sh", "-c", "exec \"$0\" \"$@\" 2>/dev/null"});
    argv.push_back(ABLATE_EXE);
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = run_process(argv, 120);
    return {r.status, r.output};
  }

  fs::path root_, bin_, cwd_;
};

}  // namespace

TEST_F(Submit, DryRunPrintsTheScriptAndWritesNothing) {
  const fs::path s = study(root_ / "st");
  const auto r = ablate({"submit", s.string(), "--dry-run"}, true);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("#!/usr/bin/env bash\n", 0), 0u) << "stdout is the script alone:\n" << r.out;
  EXPECT_NE(r.out.find("srun --ntasks=3 --overcommit"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(root_ / "st" / "tiny.slurm.sh"));
  EXPECT_FALSE(fs::exists(root_ / "st" / "logs"));
  EXPECT_EQ(ablate({"submit", s.string(), "--dry-run", "--submit"}).code, 2);
}

// Issue 17, item 1: the study folder's name is never read by a shell.
TEST_F(Submit, SbatchGetsThePathAsOneArgumentAfterEverythingPrinted) {
  stand_in("sbatch", "for a in \"$@\"; do echo \"$a\" >>\"" + (root_ / "sbatch-args.txt").string() +
                         "\"; done\necho 'Submitted batch job 42'\n");
  const fs::path folder = root_ / "d3'$(touch PWN)'x";
  const fs::path s = study(folder);
  fs::current_path(root_);
  const auto r = ablate({"submit", s.string(), "--submit"});
  EXPECT_EQ(r.code, 0) << r.out;
  const std::string script = (folder / "tiny.slurm.sh").string();
  EXPECT_EQ(read_file(root_ / "sbatch-args.txt"), script + "\n");
  EXPECT_FALSE(fs::exists(root_ / "PWN"));
  EXPECT_FALSE(fs::exists(folder / "PWN"));
  // The order a user reads: what was written, the script itself, then sbatch's answer.
  const auto wrote = r.out.find("wrote " + script);
  const auto body = r.out.find("srun --ntasks=3");
  const auto submitted = r.out.find("Submitted batch job 42");
  ASSERT_NE(wrote, std::string::npos) << r.out;
  ASSERT_NE(body, std::string::npos) << r.out;
  ASSERT_NE(submitted, std::string::npos) << r.out;
  EXPECT_LT(wrote, body);
  EXPECT_LT(body, submitted);
  EXPECT_NE(r.out.find("ablate status --db"), std::string::npos) << r.out;
}

TEST_F(Submit, SbatchFailureIsExitOne) {
  stand_in("sbatch", "echo 'sbatch: error: Batch job submission failed: Invalid partition name specified' >&2\nexit 1\n");
  const auto r = ablate({"submit", study(root_ / "st").string(), "--submit"});
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("Invalid partition name specified"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sbatch failed with exit code 1"), std::string::npos) << r.out;
}

TEST_F(Submit, MpiTypeIsCheckedAgainstSrun) {
  stand_in("srun", "[ \"$1\" = --mpi=list ] || exit 9\nprintf 'MPI plugin types are...\\n\\tnone\\n\\tpmi2\\n'\n");
  const fs::path s = study(root_ / "st");
  auto r = ablate({"submit", s.string(), "--dry-run"});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("resources.mpi = \"pmix\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("srun --mpi=list: none, pmi2"), std::string::npos) << r.out;
  r = ablate({"submit", study(root_ / "st2", "mpi = \"pmi2\"").string(), "--dry-run"});
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("--mpi=pmi2 "), std::string::npos) << r.out;
  // An srun that cannot answer (no slurm.conf on this machine) is a note, not a refusal.
  stand_in("srun", "echo 'srun: fatal: Could not establish a configuration source' >&2\nexit 1\n");
  r = ablate({"submit", s.string(), "--dry-run"});
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("is not checked"), std::string::npos) << r.out;
}

// Issue 17, item 2: [resources] strings are checked when the study loads, with the line and the key.
TEST_F(Submit, MalformedResourceStringsAreLocatedUsageErrors) {
  for (const std::string& line : {std::string("partition = \"gpu\\ntouch PWN\""), std::string("account = \"lab; touch PWN\""),
                                  std::string("memory = \"32G\\n#SBATCH --x\""), std::string("mpi = \"openmpi\"")}) {
    const fs::path s = study(root_ / "bad", line);
    const auto r = ablate({"submit", s.string(), "--dry-run"});
    EXPECT_EQ(r.code, 2) << line << "\n" << r.out;
    const std::string key = "resources." + line.substr(0, line.find(' '));
    EXPECT_NE(r.out.find(s.string() + ":9:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(key), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("#!/usr/bin/env bash"), std::string::npos) << "no script after the error:\n" << r.out;
  }
  EXPECT_FALSE(fs::exists(root_ / "PWN"));
}

TEST_F(Submit, NegativeOptionsAreRefused) {
  const fs::path s = study(root_ / "st");
  const std::vector<std::vector<std::string>> refused = {
      {"--signal-seconds=-5"}, {"--signal-seconds", "0"}, {"--max-retries=-1"}, {"--max-retries", "-1"}};
  for (const auto& bad : refused) {
    std::vector<std::string> args = {"submit", s.string(), "--dry-run"};
    args.insert(args.end(), bad.begin(), bad.end());
    const auto r = ablate(args);
    EXPECT_EQ(r.code, 2) << bad[0] << "\n" << r.out;
    EXPECT_NE(r.out.find(bad[0].substr(0, bad[0].find('='))), std::string::npos) << r.out;
  }
}

TEST_F(Submit, LogFolderSbatchCannotNameIsRefused) {
  const auto r = ablate({"submit", study(root_ / "st").string(), "--dry-run", "--log-dir", (root_ / "100%").string()});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--log-dir"), std::string::npos) << r.out;
}
