// [[report.published]]: the paper's numbers in a study file. Loading, located errors with did-you-mean,
// the one-line resolved form and its round trip, and that they never change a variant's hash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ablations/published.hpp"
#include "ablations/schema.hpp"
#include "ablations/study.hpp"
#include "cli_util.hpp"

using namespace ablate;

namespace {

const std::string kVariants = R"(
[[ablation.variant]]
name = "unet"
label = "U-Net"

[[ablation.variant]]
name = "cc"
label = "U-Net+CC"
"model.cc" = true
)";

std::vector<std::string> printed_errors(const std::string& text, const std::string& file = "/tmp/p.toml") {
  std::vector<std::string> out;
  try {
    load_study_text(text, file);
  } catch (const SpecError& e) {
    for (const auto& d : e.diagnostics()) out.push_back(d.str());
  }
  return out;
}

}  // namespace

TEST(Published, LoadsByLabelOrNameAndRoundTrips) {
  const std::string text = kVariants + R"(
[[report.published]]
source = "001 Table II"
dataset = "MSD"
scale = "percent"
[report.published.values]
"U-Net" = { dice = 65.35, sensitivity = 70.74 }
cc = { dice = 69.67 }
[report.published.sd]
"U-Net" = { dice = 1.5 }

[[report.published]]
source = "003 Table 6"
scale = "ratio"
values = { "U-Net+CC" = { dice = 0.7, params = 34.53 } }
)";
  const Study s = load_study_text(text, "/tmp/p.toml");
  const std::vector<PublishedTable> t = parse_published(s.base.report.published);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].source, "001 Table II");
  EXPECT_EQ(t[0].dataset, "MSD");
  EXPECT_EQ(t[0].scale, "percent");
  EXPECT_DOUBLE_EQ(t[0].values.at("U-Net").at("dice"), 65.35);
  EXPECT_DOUBLE_EQ(t[0].values.at("U-Net").at("sensitivity"), 70.74);
  EXPECT_DOUBLE_EQ(t[0].values.at("cc").at("dice"), 69.67);
  EXPECT_DOUBLE_EQ(t[0].sd.at("U-Net").at("dice"), 1.5);
  EXPECT_EQ(t[1].dataset, "");
  EXPECT_EQ(t[1].scale, "ratio");
  EXPECT_DOUBLE_EQ(t[1].values.at("U-Net+CC").at("params"), 34.53);
  // The resolved configuration keeps it as one line, and reading that line back gives the same text.
  const std::string resolved = resolved_text(s.variants[0].config);
  EXPECT_NE(resolved.find("report.published = \"[{ source = \\\"001 Table II\\\""), std::string::npos) << resolved;
  EXPECT_EQ(parse_canonical(resolved).report.published, s.base.report.published);
  EXPECT_EQ(published_text(parse_published(s.base.report.published)), s.base.report.published);
}

TEST(Published, NeverPartOfTheHashOrTheCanonicalText) {
  const Study without = load_study_text(kVariants, "/tmp/p.toml");
  const Study with = load_study_text(kVariants + R"(
[report]
published_columns = true
[[report.published]]
source = "001 Table II"
values = { "U-Net" = { dice = 65.35 } }
)",
                                     "/tmp/p.toml");
  ASSERT_EQ(without.variants.size(), with.variants.size());
  for (std::size_t i = 0; i < with.variants.size(); ++i) {
    EXPECT_EQ(without.variants[i].hash, with.variants[i].hash);
    EXPECT_EQ(without.variants[i].canonical, with.variants[i].canonical);
  }
  EXPECT_TRUE(with.base.report.published_columns);
  EXPECT_EQ(without.base.report.published, "");
}

TEST(Published, UnknownRowAndMetricAreLocatedWithDidYouMean) {
  const std::string text = kVariants + R"(
[[report.published]]
source = "001 Table II"
[report.published.values]
"U-Net+C" = { dice = 69.67 }
"U-Net" = { dise = 65.35, precision = 77.56 }
)";
  const auto errors = printed_errors(text);
  ASSERT_EQ(errors.size(), 2u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors[0],
            "/tmp/p.toml:14:1: `report.published`: table 1: no variant labelled or named `U-Net+C` (did you mean "
            "`U-Net+CC`?)");
  EXPECT_EQ(errors[1],
            "/tmp/p.toml:15:13: `report.published[1].values.U-Net.dise`: unknown metric (did you mean `dice`?); "
            "allowed: those of report.metrics, or params");
}

TEST(Published, EveryShapeProblemIsLocated) {
  const std::string text = kVariants + R"(
[[report.published]]
dataset = 3
scale = "percnt"
sorce = "x"
values = { "U-Net" = { dice = -1.0 } }
sd = { cc = { dice = 1.0 } }
)";
  const auto errors = printed_errors(text);
  const std::vector<std::string> expected = {
      "/tmp/p.toml:11:1: `report.published[1].source`: every [[report.published]] needs a source (paper and table, "
      "e.g. \"001 Table II\")",
      "/tmp/p.toml:11:1: `report.published[1].sd.cc.dice`: a spread without a published mean in values",
      "/tmp/p.toml:12:11: `report.published[1].dataset`: expected a string",
      "/tmp/p.toml:13:9: `report.published[1].scale`: `percnt` is not one of: percent, ratio",
      "/tmp/p.toml:14:1: `report.published[1].sorce`: unknown key (did you mean `source`?); allowed: source, "
      "dataset, scale, values, sd",
      "/tmp/p.toml:15:31: `report.published[1].values.U-Net.dice`: expected a finite number >= 0",
  };
  EXPECT_EQ(errors, expected);
}

TEST(Published, AVariantCannotSetIt) {
  const auto errors = printed_errors(R"(
[[ablation.variant]]
name = "unet"
"report.published_columns" = true
)");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("cannot be set in an [[ablation.variant]]"), std::string::npos) << errors[0];
}

TEST(Published, SameCellTwiceInOneDatasetIsRefused) {
  const auto errors = printed_errors(kVariants + R"(
[[report.published]]
source = "a"
values = { "U-Net" = { dice = 65.0 } }
[[report.published]]
source = "b"
values = { "U-Net" = { dice = 66.0 } }
)");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("already published by table 1"), std::string::npos) << errors[0];
}

TEST(Published, KeyReferenceDocumentsTheTables) {
  const std::string ref = key_reference_markdown();
  EXPECT_NE(ref.find("| `report.published` | `\"\"` | [[report.published]] tables; rows name a variant"),
            std::string::npos);
  EXPECT_NE(ref.find("| `report.published_columns` | `false` |"), std::string::npos);
}

// The command line: an unknown label is an input error (exit 2) naming file, line and column.
TEST(Published, PlanRefusesAnUnknownLabelWithExit2) {
  char tmpl[] = "/tmp/ablate-published-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string path = dir + "/study.toml";
  std::ofstream(path) << kVariants << "\n[[report.published]]\nsource = \"001 Table II\"\nvalues = { \"U-Net+SC\" = { dice = 67.92 } }\n";
  const cli_util::Result r = cli_util::ablate("plan " + path);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(path + ":13:12: `report.published`: table 1: no variant labelled or named `U-Net+SC` (did you mean "
                            "`U-Net+CC`?)"),
            std::string::npos)
      << r.out;
}

TEST(Published, AStudyReplacesOrDropsItsBaseFilesTables) {
  char tmpl[] = "/tmp/ablate-published-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/base.toml") << kVariants
                                    << "\n[[report.published]]\nsource = \"base\"\nvalues = { \"U-Net\" = { dice = 60.0 } }\n";
  const Study replaced = load_study_text(
      "include = \"base.toml\"\n[[report.published]]\nsource = \"own\"\nvalues = { cc = { dice = 70.0 } }\n",
      dir + "/study.toml");
  const auto own = parse_published(replaced.base.report.published);
  ASSERT_EQ(own.size(), 1u);
  EXPECT_EQ(own[0].source, "own");
  const Study dropped = load_study_text("include = \"base.toml\"\n[report]\npublished = []\n", dir + "/study.toml");
  EXPECT_EQ(dropped.base.report.published, "");
  EXPECT_EQ(parse_published(load_study_text("include = \"base.toml\"\n", dir + "/study.toml").base.report.published)[0].source,
            "base");
  std::filesystem::remove_all(dir);
}

// Every example study of the papers' tables carries the numbers its paper prints (their values are
// compared with the papers' text in docs/REPORTS.md's procedure; here: which tables, rows and scale).
TEST(Published, ExampleStudiesCarryTheirPapersNumbers) {
  auto tables = [](const std::string& name) {
    return parse_published(load_study(std::string(ABLATE_SOURCE_DIR) + "/examples/" + name).base.report.published);
  };
  const auto t2 = tables("table2.toml");
  ASSERT_EQ(t2.size(), 4u);
  for (const auto& t : t2) {
    EXPECT_EQ(t.source, "001 Table II");
    EXPECT_EQ(t.values.size(), 10u) << t.dataset;
  }
  EXPECT_DOUBLE_EQ(t2[1].values.at("EC-CaM-UNet").at("dice"), 71.68);  // MSD
  const auto demo = tables("table2_demo.toml");
  ASSERT_EQ(demo.size(), 1u);
  EXPECT_EQ(demo[0].dataset, "MSD");
  EXPECT_EQ(demo[0].values, t2[1].values);
  EXPECT_EQ(tables("table3.toml").size(), 4u);
  EXPECT_EQ(tables("table4.toml").size(), 4u);
  EXPECT_EQ(tables("table5.toml").size(), 4u);
  EXPECT_EQ(tables("fig5_alpha.toml").size(), 2u);
  const auto anu = tables("anunet_table6.toml");
  ASSERT_EQ(anu.size(), 1u);
  EXPECT_DOUBLE_EQ(anu[0].values.at("ANU-Net L4").at("params"), 8.9506);
  const auto dsms = tables("dsms_table.toml");
  ASSERT_EQ(dsms.size(), 1u);
  EXPECT_EQ(dsms[0].scale, "ratio");
  EXPECT_EQ(tables("mda_k_sweep.toml").size(), 3u);
  EXPECT_EQ(tables("mda_lambda_sweep.toml")[0].values.count("λ=0.1"), 1u);
  EXPECT_EQ(tables("kernels_x_coa_mus.toml")[0].values.size(), 4u);
}
