// Golden files of every output of `ablate report` for the fixed StudyData of reports_fixture.hpp, and
// determinism (byte-identical output for the same rows, whatever their order).
//
// The golden files live in tests/golden/reports/. After an intended change of the output, regenerate
// them with
//   ABLATE_UPDATE_GOLDEN=1 build/tests/reports_golden_test
// and review the diff (git diff tests/golden/reports) before committing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "reports/report.hpp"
#include "tests/reports_fixture.hpp"

namespace ablate::reports {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() / ("ablate_reports_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<db::StudyData> fixture() { return {testing::tcia_study(), testing::msd_study()}; }

TEST(ReportsGolden, EveryOutputFileMatches) {
  TempDir out("golden");
  const ReportResult r = write_report(fixture(), ReportOptions{}, out.path.string());
  const fs::path golden = fs::path(ABLATE_SOURCE_DIR) / "tests" / "golden" / "reports";
  const char* update = std::getenv("ABLATE_UPDATE_GOLDEN");
  if (update && std::string(update) == "1") {
    fs::remove_all(golden);
    fs::create_directories(golden);
    for (const auto& name : names_in(out.path)) fs::copy_file(out.path / name, golden / name);
    GTEST_SKIP() << "golden files rewritten in " << golden;
  }
  ASSERT_TRUE(fs::is_directory(golden)) << "no golden files; run with ABLATE_UPDATE_GOLDEN=1";
  const std::vector<std::string> written = names_in(out.path);
  EXPECT_EQ(written, names_in(golden));
  for (const auto& name : written) {
    if (!fs::exists(golden / name)) continue;
    EXPECT_EQ(slurp(out.path / name), slurp(golden / name)) << name << " differs from tests/golden/reports/" << name
                                                            << " (ABLATE_UPDATE_GOLDEN=1 regenerates)";
  }
  EXPECT_EQ(r.markdown, slurp(out.path / "table.md"));
  EXPECT_EQ(r.html_path, (out.path / "report.html").string());
  EXPECT_EQ(r.files.size(), written.size());
}

TEST(ReportsGolden, ExpectedFilesAndContent) {
  TempDir out("files");
  const ReportResult r = write_report(fixture(), ReportOptions{}, out.path.string());
  const std::vector<std::string> expected = {
      "boxplot-msd.svg",     "boxplot-tcia.svg",     "boxplot.csv",           "boxplot.json",
      "convergence-msd.csv", "convergence-msd.svg",  "convergence-tcia.csv",  "convergence-tcia.svg",
      "model-msd.csv",       "model-msd.md",         "model-tcia.csv",        "model-tcia.md",
      "pareto-tcia.csv",     "pareto-tcia.md",       "pareto-tcia.svg",
      "report.html",         "sensitivity-msd.csv",  "sensitivity-msd.md",    "sensitivity-msd.svg",
      "sensitivity-tcia.csv", "sensitivity-tcia.md", "sensitivity-tcia.svg", "significance.csv",
      "table.csv",           "table.html",           "table.md",              "table.tex"};
  EXPECT_EQ(names_in(out.path), expected);
  const std::string html = slurp(out.path / "report.html");
  // Self-contained: inline SVG and CSS, no external resource.
  EXPECT_NE(html.find("<svg xmlns"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("U-Net+CoA (α=0.3)"), std::string::npos);
  EXPECT_NE(html.find("0123456789ab"), std::string::npos);  // provenance
  // Multi-line provenance (the study text, the resolved configuration) keeps its lines in <pre>.
  EXPECT_NE(html.find("<h4>study_resolved</h4>\n<pre>report.aggregate = &quot;folds&quot;\n"), std::string::npos);
  EXPECT_NE(html.find("<h4>study_text</h4>\n<pre>[study]\n"), std::string::npos);
  EXPECT_EQ(html.find("<td>report.aggregate"), std::string::npos);
  // Model table (003 Table 6 shape): parameters in millions.
  EXPECT_NE(slurp(out.path / "model-tcia.md").find("| U-Net+CC | 2.0001 | 12.50 |"), std::string::npos);
  // Accuracy against cost for the study with model facts (msd has none): its section and its front.
  EXPECT_NE(html.find("<h2 id=\"pareto\">Accuracy against cost</h2>"), std::string::npos);
  EXPECT_NE(slurp(out.path / "pareto-tcia.md").find("**pancreas Sens against Parameters (M)**: 3 of 4 variant(s) non-dominated"),
            std::string::npos);
  // The layout came from tcia's [report]: dice, sensitivity and assd, α sweep, dataset TCIA with its
  // class named; msd's names from its own [report].
  EXPECT_NE(r.markdown.find("| TCIA (pancreas) ASSD (mm) ↓ |"), std::string::npos) << r.markdown;
  EXPECT_NE(r.markdown.find("| MSD (class 2) DSC |"), std::string::npos) << r.markdown;
}

TEST(ReportsDeterminism, SameRowsAnyOrderByteIdentical) {
  TempDir a("det_a"), b("det_b");
  write_report(fixture(), ReportOptions{}, a.path.string());
  std::vector<db::StudyData> shuffled = fixture();
  std::mt19937 rng(7);
  for (auto& s : shuffled) {
    std::shuffle(s.fold_metrics.begin(), s.fold_metrics.end(), rng);
    std::shuffle(s.case_metrics.begin(), s.case_metrics.end(), rng);
    std::shuffle(s.epochs.begin(), s.epochs.end(), rng);
  }
  write_report(shuffled, ReportOptions{}, b.path.string());
  const auto names = names_in(a.path);
  ASSERT_EQ(names, names_in(b.path));
  for (const auto& n : names) EXPECT_EQ(slurp(a.path / n), slurp(b.path / n)) << n;
}

TEST(ReportsWrite, EmptyStoreAndOptions) {
  TempDir out("empty");
  ReportResult r;
  ASSERT_NO_THROW(r = write_report({}, ReportOptions{}, out.path.string()));
  EXPECT_NE(r.markdown.find("n/a"), std::string::npos);
  EXPECT_FALSE(r.notes.empty());

  db::StudyData no_results;
  no_results.study = "fresh";
  no_results.variants.push_back({"unet", "U-Net", "h", "model.cc = false\n", 0});
  TempDir out2("noresults");
  ASSERT_NO_THROW(r = write_report({no_results}, ReportOptions{}, out2.path.string()));
  EXPECT_NE(r.markdown.find("| U-Net | n/a | n/a | n/a |"), std::string::npos) << r.markdown;

  ReportOptions only_md;
  only_md.formats = {"md"};
  only_md.metrics = {"dice"};
  only_md.aggregate = "cases";
  TempDir out3("md");
  r = write_report(fixture(), only_md, out3.path.string());
  EXPECT_TRUE(r.html_path.empty());
  EXPECT_FALSE(fs::exists(out3.path / "table.tex"));
  EXPECT_TRUE(fs::exists(out3.path / "table.md"));
  EXPECT_NE(r.markdown.find("pooled over cases"), std::string::npos);

  ReportOptions bad;
  bad.formats = {"pdf"};
  EXPECT_THROW(write_report(fixture(), bad, out3.path.string()), std::invalid_argument);
  bad = ReportOptions{};
  bad.aggregate = "median";
  EXPECT_THROW(write_report(fixture(), bad, out3.path.string()), std::invalid_argument);
}

TEST(ReportsWrite, UnwritableFolderNamesThePath) {
  TempDir out("blocked");
  fs::create_directories(out.path);
  std::ofstream(out.path / "file") << "x";
  const std::string target = (out.path / "file" / "sub").string();
  try {
    write_report(fixture(), ReportOptions{}, target);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(target), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ablate::reports
