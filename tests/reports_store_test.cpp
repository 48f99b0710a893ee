// Reports of a real store: a small study written through the db writer API (db/store.hpp), read back
// with load_study_data and reported in process and through `ablate report`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "db/rows.hpp"
#include "db/store.hpp"
#include "reports/report.hpp"

namespace ablate::reports {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const char* kStudyText = R"([study]
name = "demo"
folds = 2

[report]
metrics = ["dice", "hd95"]
baseline = "unet"

[[ablation.variant]]
name = "unet"
label = "U-Net"

[[ablation.variant]]
name = "cc"
label = "U-Net+CC"
"model.cc" = true
)";

class ReportsStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ablate_reports_store_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = (dir_ / "store.db").string();
    db::Store store(db_);
    const std::int64_t id = store.create_study({"demo", 42, 2, 1});
    store.set_provenance(id, {{"study_text", kStudyText}, {"study_file", "/gone/demo.toml"}, {"ablate_version", "test"}});
    store.upsert_variant(id, {"unet", "U-Net", "h-unet", "model.cc = false\n", 0}, "");
    store.upsert_variant(id, {"cc", "U-Net+CC", "h-cc", "model.cc = true\n", 1}, "cc");
    store.store_folds(id, {{0, 0, {"c2", "c3"}, {}, {"c0", "c1"}}, {1, 0, {"c0", "c1"}, {}, {"c2", "c3"}}});
    store.ensure_tasks(id);
    for (const auto& t : store.tasks(id)) {
      store.mark_running(t.id, Placement{"host", 1, 0, "cpu", 1, "", ""}, 1.0);
      TaskResult r;
      const double k = t.variant == "cc" ? 1 : 0;
      for (int e = 1; e <= 3; ++e) r.epochs.push_back({e, 1.0 / e, 1.2 / e, 0.5 + 0.1 * e + 0.05 * k, 1e-3, 1.0});
      r.best_epoch = 3;
      double sum = 0;
      for (int c = 0; c < 2; ++c) {
        const std::string case_id = "c" + std::to_string(t.fold * 2 + c);
        const double dice = 0.70 + 0.1 * k + 0.02 * c + 0.01 * t.fold;
        r.case_metrics.push_back({case_id, 1, "dice", dice});
        r.case_metrics.push_back({case_id, 1, "hd95", 8.0 - 2 * k + c});
        sum += dice;
      }
      r.fold_metrics.push_back({"dice", 1, sum / 2});
      r.fold_metrics.push_back({"hd95", 1, 8.5 - 2 * k});
      r.parameters = 1000000 + static_cast<std::int64_t>(k) * 5000;
      r.inference_ms_per_case = 3.0 + k;
      store.record_done(t.id, r, 2.0);
    }
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
  std::string db_;
};

TEST_F(ReportsStore, LoadAndReport) {
  const db::StudyData data = db::load_study_data(db_, "demo");
  ASSERT_EQ(data.variants.size(), 2u);
  EXPECT_EQ(data.fold_metrics.size(), 8u);
  EXPECT_EQ(data.case_metrics.size(), 16u);
  const ReportResult r = write_report({data}, ReportOptions{}, (dir_ / "out").string());
  // Layout from the stored [report] (the include-free text loads although its file is gone).
  EXPECT_NE(r.markdown.find("| Method | CC | DSC | HD95 (mm) ↓ |"), std::string::npos) << r.markdown;
  EXPECT_NE(r.markdown.find("| U-Net+CC | ✓ | **81.50 ± 0.71** | **6.50 ± 0.00** |"), std::string::npos) << r.markdown;
  EXPECT_NE(slurp(dir_ / "out" / "model-demo.md").find("| U-Net+CC | 1.0050 | 4.00 |"), std::string::npos);
  EXPECT_NE(slurp(dir_ / "out" / "convergence-demo.csv").find("demo,cc,3,2,0.85,0,"), std::string::npos);
  EXPECT_NE(slurp(dir_ / "out" / "significance.csv").find("demo,1,dice,cc,unet,case,4,"), std::string::npos);
}

int run(const std::string& args, const fs::path& out) {
  const std::string cmd = std::string(ABLATE_EXE) + " report " + args + " > " + out.string() + " 2>&1";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(ReportsStore, CommandLineWritesEverythingDeterministically) {
  const fs::path a = dir_ / "a", b = dir_ / "b";
  ASSERT_EQ(run("--db " + db_ + " --study demo --out " + a.string(), dir_ / "log_a"), 0) << slurp(dir_ / "log_a");
  const std::string log = slurp(dir_ / "log_a");
  EXPECT_NE(log.find("| Method |"), std::string::npos) << log;
  EXPECT_NE(log.find("report: " + (a / "report.html").string()), std::string::npos) << log;
  ASSERT_EQ(run("--db " + db_ + " --out " + b.string(), dir_ / "log_b"), 0) << slurp(dir_ / "log_b");  // every study
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(a)) {
    ++files;
    EXPECT_EQ(slurp(e.path()), slurp(b / e.path().filename())) << e.path().filename();
  }
  EXPECT_EQ(files, 16u);  // tables x4, significance, box plots x3, convergence x2, model x2, pareto x3, report.html
}

TEST_F(ReportsStore, CommandLineErrors) {
  EXPECT_EQ(run("--db " + db_ + " --study nosuch --out " + (dir_ / "x").string(), dir_ / "log"), 2);
  EXPECT_NE(slurp(dir_ / "log").find("study 'nosuch' is not in the store"), std::string::npos) << slurp(dir_ / "log");
  EXPECT_NE(slurp(dir_ / "log").find("studies: demo"), std::string::npos);
  EXPECT_EQ(run("--study demo --out " + (dir_ / "x").string(), dir_ / "log"), 2);
  EXPECT_EQ(run("--db " + (dir_ / "missing.db").string() + " --out " + (dir_ / "x").string(), dir_ / "log"), 2);
  EXPECT_NE(slurp(dir_ / "log").find("does not exist"), std::string::npos);
  EXPECT_EQ(run("--db " + db_ + " --out " + (dir_ / "x").string() + " --format pdf", dir_ / "log"), 2);
  EXPECT_EQ(run("--db " + db_ + " --out " + (dir_ / "x").string() + " --aggregate median", dir_ / "log"), 2);
  // --format md only: no LaTeX, no report.html.
  EXPECT_EQ(run("--db " + db_ + " --out " + (dir_ / "md").string() + " --format md --metrics dice", dir_ / "log"), 0);
  EXPECT_TRUE(fs::exists(dir_ / "md" / "table.md"));
  EXPECT_FALSE(fs::exists(dir_ / "md" / "table.tex"));
  EXPECT_FALSE(fs::exists(dir_ / "md" / "report.html"));
}

// The store keeps only the study text (no resolved configuration), without published values: the default
// report has no Reproduction section; `--published FILE` gives the paper's numbers from a study file, checked
// as `ablate plan` checks it (a located error, exit 2).
TEST_F(ReportsStore, PublishedValuesGivenOnTheCommandLine) {
  ASSERT_EQ(run("--db " + db_ + " --out " + (dir_ / "plain").string(), dir_ / "log"), 0) << slurp(dir_ / "log");
  EXPECT_FALSE(fs::exists(dir_ / "plain" / "reproduction.csv"));

  const std::string paper = (dir_ / "paper.toml").string();
  std::ofstream(paper) << kStudyText << R"(
[[report.published]]
source = "Paper Table 1"
[report.published.values]
"U-Net" = { dice = 75.0 }
"U-Net+CC" = { dice = 90.0 }
)";
  const fs::path out = dir_ / "with";
  ASSERT_EQ(run("--db " + db_ + " --out " + out.string() + " --published " + paper, dir_ / "log"), 0) << slurp(dir_ / "log");
  EXPECT_NE(slurp(dir_ / "log").find("note: the published values are those of " + paper + " (--published)"),
            std::string::npos)
      << slurp(dir_ / "log");
  // Ours: U-Net 71.5 ± 0.71 over 2 folds, t-interval ± 12.706 · 0.707 / √2 = ± 6.35: 75 inside; U-Net+CC 81.5: 90 outside.
  const std::string csv = slurp(out / "reproduction.csv");
  EXPECT_NE(csv.find(",unet,U-Net,dice,75,NA,2,71.5,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",cc,U-Net+CC,dice,90,NA,2,81.5,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",true\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",false\n"), std::string::npos) << csv;
  EXPECT_NE(slurp(out / "report.html").find("<h2 id=\"reproduction\">Reproduction</h2>"), std::string::npos);

  // A row that is no variant of the file: located, with did-you-mean, exit 2, nothing written.
  const std::string bad = (dir_ / "bad.toml").string();
  std::ofstream(bad) << kStudyText << "\n[[report.published]]\nsource = \"x\"\nvalues = { \"U-Net+XC\" = { dice = 1.0 } }\n";
  EXPECT_EQ(run("--db " + db_ + " --out " + (dir_ / "bad").string() + " --published " + bad, dir_ / "log"), 2);
  EXPECT_NE(slurp(dir_ / "log").find(bad + ":20:12: `report.published`: table 1: no variant labelled or named "
                                     "`U-Net+XC` (did you mean `U-Net+CC`?)"),
            std::string::npos)
      << slurp(dir_ / "log");
  EXPECT_FALSE(fs::exists(dir_ / "bad"));
  // A study file without tables says so.
  const std::string none = (dir_ / "none.toml").string();
  std::ofstream(none) << kStudyText;
  EXPECT_EQ(run("--db " + db_ + " --out " + (dir_ / "none").string() + " --published " + none, dir_ / "log"), 2);
  EXPECT_NE(slurp(dir_ / "log").find("--published " + none + ": the study has no [[report.published]] tables"),
            std::string::npos)
      << slurp(dir_ / "log");
}

}  // namespace
}  // namespace ablate::reports
