// The command line of searches: `plan` of the example searches (space, method, budget), `--set` on plan,
// run and submit (validated, named in errors, passed on quoted).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli_util.hpp"

using cli_util::ablate;
using cli_util::kExamples;
using cli_util::Result;

TEST(CliSearch, PlanShowsTheSpaceMethodAndBudget) {
  const Result tpe = ablate("plan " + kExamples + "fig5_alpha_lr_tpe.toml");
  ASSERT_EQ(tpe.code, 0) << tpe.out;
  EXPECT_NE(tpe.out.find("search: tpe, 40 trial(s)"), std::string::npos) << tpe.out;
  EXPECT_NE(tpe.out.find("objective: validation dice"), std::string::npos) << tpe.out;
  EXPECT_NE(tpe.out.find("the first 10 trial(s) random"), std::string::npos) << tpe.out;
  EXPECT_NE(tpe.out.find("train.lr    log_uniform   [1e-06, 0.001]"), std::string::npos) << tpe.out;
  EXPECT_NE(tpe.out.find("budget: 40 trial(s) x 1 fold(s) x 1 repeat(s) = 40 task(s)"), std::string::npos) << tpe.out;
  const Result sobol = ablate("plan " + kExamples + "mda_lambda_k_sobol.toml");
  ASSERT_EQ(sobol.code, 0) << sobol.out;
  EXPECT_NE(sobol.out.find("t015_aux_weight"), std::string::npos) << sobol.out;  // the trials are listed
  EXPECT_NE(sobol.out.find("model.dspa_k     int           [1, 40]"), std::string::npos) << sobol.out;
  EXPECT_NE(sobol.out.find("budget: 16 trial(s) x 1 fold(s) x 1 repeat(s) = 16 task(s)"), std::string::npos) << sobol.out;
}

TEST(CliSearch, SetOverridesAreValidatedAndShown) {
  const Result ok = ablate("plan " + kExamples + "mda_lambda_k_sobol.toml --set sweep.trials=4 --set train.lr=3e-4");
  ASSERT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(ok.out.find("= 4 task(s)"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("train.lr=0.0003"), std::string::npos) << ok.out;  // the overrides column
  const Result explain = ablate("plan " + kExamples + "table2_demo.toml --set train.epochs=3 --explain --variant cc");
  ASSERT_EQ(explain.code, 0) << explain.out;
  EXPECT_NE(explain.out.find("# override --set train.epochs=3"), std::string::npos) << explain.out;
  const Result bad = ablate("plan " + kExamples + "table2_demo.toml --set train.lr=fast");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.out.find("--set train.lr=fast: `train.lr`: `fast` is not a value"), std::string::npos) << bad.out;
  const Result run = ablate("run " + kExamples + "table2_demo.toml --set model.widths=oops --db /tmp/never-written.sqlite");
  EXPECT_EQ(run.code, 2);
  EXPECT_NE(run.out.find("--set model.widths=oops"), std::string::npos) << run.out;
  EXPECT_FALSE(std::filesystem::exists("/tmp/never-written.sqlite"));
}

TEST(CliSearch, SubmitPassesTheOverridesOnQuoted) {
  char tmpl[] = "/tmp/ablate-cli-search-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string out = dir + "/job.sh";
  const Result r = ablate("submit " + kExamples + "table2.toml --out " + out + " --log-dir " + dir + "/logs" +
                          " --set \"study.description=it's tuned\" --set train.epochs=3");
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream in(out);
  const std::string script((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(script.find(" --set 'study.description=it'\\''s tuned' --set 'train.epochs=3'"), std::string::npos) << script;
  std::filesystem::remove_all(dir);
}
