// The `ablate` command line as a user meets it: help, exit codes, suggestions, plan output.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

namespace {

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr together
};

Result ablate(const std::string& args) {
  Result r;
  const std::string cmd = std::string(ABLATE_EXE) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  while (std::fgets(buf.data(), buf.size(), p)) r.out += buf.data();
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

const std::string kExamples = std::string(ABLATE_SOURCE_DIR) + "/examples/";

}  // namespace

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
  EXPECT_EQ(ablate("plan " + kExamples + "table2_demo.toml --explain --variant nope").code, 2);
}

TEST(Cli, BadStudyIsAUsageErrorWithEveryProblem) {
  const std::string path = "/tmp/ablate-cli-bad.toml";
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
  const std::string out = "/tmp/ablate-cli-submit.sh";
  Result r = ablate("submit " + kExamples + "table2.toml --out " + out + " --log-dir /tmp/ablate-cli-logs");
  EXPECT_EQ(r.code, 0) << r.out;
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("#SBATCH --ntasks=11"), std::string::npos);
}
