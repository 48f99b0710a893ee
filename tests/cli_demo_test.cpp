// `ablate demo --study FILE --tiny`: every example runs end to end at the smoke-test scale (one split,
// one epoch of two steps, 32 px, one process) on the synthetic data the demo writes for its classes, and
// its report has the trivial predictors' rows; each example's header says how to run its demo and how
// long it takes. A smoke test: that an example works, not what it learns (docs/GALLERY.md has that).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <regex>

#include "tests/cli_util.hpp"

namespace fs = std::filesystem;
using cli_util::ablate;
using cli_util::read_file;
using cli_util::TempDir;

namespace {

std::vector<std::string> example_names() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(cli_util::kExamples))
    if (e.path().extension() == ".toml") out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

class ExampleDemo : public ::testing::TestWithParam<std::string> {};

TEST_P(ExampleDemo, RunsTinyAndReportsTheTrivialPredictors) {
  TempDir dir("ablate-demo");
  const std::string file = cli_util::kExamples + GetParam() + ".toml";
  const auto r =
      ablate("demo --study " + file + " --tiny --ranks 1 --out " + dir.path() + " --log-level warn");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("shrunk (ablations/demo_scale.hpp)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("demo run: "), std::string::npos) << r.out;
  const std::string table = read_file(dir / "report/table.md");
  EXPECT_NE(table.find("*all background (trivial)*"), std::string::npos) << table;
  EXPECT_NE(table.find("*all foreground (trivial)*"), std::string::npos) << table;
  EXPECT_TRUE(fs::exists(dir / "report/report.html"));
}

TEST_P(ExampleDemo, HeaderSaysHowToRunItsDemoAndHowLongItTakes) {
  const std::string text = read_file(cli_util::kExamples + GetParam() + ".toml");
  const std::string header = text.substr(0, text.find("\n["));
  // "#   ablate demo --study examples/NAME.toml   # 3 min 10 s here (...)"
  const std::regex line("#\\s+ablate demo --study examples/" + GetParam() +
                        "\\.toml\\s+# [^\\n]*\\d+ (min|s)[^\\n]*here");
  EXPECT_TRUE(std::regex_search(header, line))
      << GetParam() << ": the header needs a line like\n#   ablate demo --study examples/" << GetParam()
      << ".toml   # N min here (2 cores)";
}

INSTANTIATE_TEST_SUITE_P(Examples, ExampleDemo, ::testing::ValuesIn(example_names()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(Demo, TinyAndSetNeedAStudy) {
  TempDir dir("ablate-demo");
  const auto r = ablate("demo --tiny --out " + dir.path());
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--tiny and --set go with --study FILE"), std::string::npos) << r.out;
}

TEST(Demo, AStudyWithAnUnknownKeyIsRefusedBeforeAnyData) {
  TempDir dir("ablate-demo");
  const auto r = ablate("demo --study " + cli_util::kExamples +
                        "table2.toml --tiny --ranks 1 --set train.lrr=1 --out " + dir.path());
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("train.lrr"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "report"));
}

}  // namespace
