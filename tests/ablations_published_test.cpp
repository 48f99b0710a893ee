// [[report.published]]: the paper's numbers in a study file. Loading, located errors with did-you-mean,
// the one-line resolved form and its round trip, and that they never change a variant's hash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
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
      "dataset, class, scale, values, sd",
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

TEST(Published, AVariantPublishedTwiceByNameAndByLabelIsRefused) {
  const auto errors = printed_errors(kVariants + R"(
[[report.published]]
source = "a"
values = { "U-Net" = { dice = 65.0 }, "unet" = { dice = 66.0 }, "U-Net+CC" = { dice = 67.0 } }
)");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("both name variant `unet` (by its name and by its label)"), std::string::npos) << errors[0];
}

TEST(Published, AnOverlapRatioBeyondItsScaleIsRefused) {
  // A Dice of 1e308, of 140 %, and of 65 under scale = "ratio" (a percentage written as a ratio); a
  // distance in millimetres has no such bound.
  const auto errors = printed_errors(kVariants + R"(
[[report.published]]
source = "a"
values = { "U-Net" = { dice = 1e308, hd95 = 250.0 }, "U-Net+CC" = { sensitivity = 140.0 } }
[[report.published]]
source = "b"
dataset = "other"
scale = "ratio"
values = { "U-Net" = { dice = 65.0 }, "U-Net+CC" = { dice = 0.65 } }
)");
  ASSERT_EQ(errors.size(), 3u) << ::testing::PrintToString(errors);
  EXPECT_NE(errors[0].find("`dice` is an overlap ratio: at most 100 with scale = \"percent\""), std::string::npos) << errors[0];
  EXPECT_NE(errors[1].find("`sensitivity` is an overlap ratio: at most 100"), std::string::npos) << errors[1];
  EXPECT_NE(errors[2].find("at most 1 with scale = \"ratio\" (a percentage? write scale = \"percent\")"), std::string::npos)
      << errors[2];
}

// A paper that prints one column group per organ (002 Table I): one table per class, named as the
// study names its classes (report.class_names) or "class k".
const std::string kOrgans = kVariants + R"(
[data]
label_groups = [[1], [2], [3]]
[report]
class_names = ["liver", "kidney R", "spleen"]
)";

TEST(Published, PerClassTablesLoadAndRoundTrip) {
  const Study s = load_study_text(kOrgans + R"(
[[report.published]]
source = "002 Table I"
dataset = "CHAOS"
class = "liver"
values = { "U-Net" = { dice = 91.89, vs = 96.62 } }
sd = { "U-Net" = { dice = 4.29 } }
[[report.published]]
source = "002 Table I"
dataset = "CHAOS"
class = "kidney R"
values = { "U-Net" = { dice = 85.47 } }
[[report.published]]
source = "002 Table I"
dataset = "CHAOS"
class = "class 3"
values = { "U-Net" = { dice = 73.65 } }
)",
                                  "/tmp/p.toml");
  const std::vector<PublishedTable> t = parse_published(s.base.report.published);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].class_name, "liver");
  EXPECT_EQ(t[1].class_name, "kidney R");
  EXPECT_EQ(t[2].class_name, "class 3");
  EXPECT_DOUBLE_EQ(t[1].values.at("U-Net").at("dice"), 85.47);  // the same cell in another class: no clash
  EXPECT_DOUBLE_EQ(t[0].sd.at("U-Net").at("dice"), 4.29);
  EXPECT_NE(s.base.report.published.find("dataset = \"CHAOS\", class = \"kidney R\", scale"), std::string::npos)
      << s.base.report.published;
  const std::string resolved = resolved_text(s.variants[0].config);
  EXPECT_EQ(parse_canonical(resolved).report.published, s.base.report.published);
  EXPECT_EQ(published_text(parse_published(s.base.report.published)), s.base.report.published);
  // A table without a class keeps the text it had before classes existed (no `class` in it).
  PublishedTable plain;
  plain.source = "x";
  plain.values["U-Net"]["dice"] = 1;
  EXPECT_EQ(published_text({plain}),
            "[{ source = \"x\", dataset = \"\", scale = \"percent\", values = { \"U-Net\" = { dice = 1.0 } } }]");
  // The same read from a document (a stored study text read without its includes).
  const std::vector<PublishedTable> doc = published_in_document(kOrgans + R"(
[[report.published]]
source = "002 Table I"
class = "spleen"
values = { "U-Net" = { dice = 73.65 } }
)",
                                                                "/tmp/p.toml");
  ASSERT_EQ(doc.size(), 1u);
  EXPECT_EQ(doc[0].class_name, "spleen");
  EXPECT_TRUE(published_in_document(kOrgans, "/tmp/p.toml").empty());
}

TEST(Published, UnknownClassIsLocatedWithDidYouMean) {
  const auto errors = printed_errors(kOrgans + R"(
[[report.published]]
source = "002 Table I"
class = "livr"
values = { "U-Net" = { dice = 91.89 } }
[[report.published]]
source = "002 Table I"
class = "class 4"
values = { "U-Net" = { dice = 85.47 } }
[[report.published]]
source = "002 Table I"
clas = "spleen"
values = { "cc" = { dice = 1.0 } }
[[report.published]]
source = "002 Table I"
class = 2
values = { "cc" = { vs = 2.0 } }
[[report.published]]
source = "002 Table I"
class = ""
values = { "cc" = { iou = 3.0 } }
)");
  const std::vector<std::string> expected = {
      "/tmp/p.toml:18:9: `report.published`: table 1: class `livr` is no class of the study (did you mean `liver`?); "
      "allowed: liver, class 1, kidney R, class 2, spleen, class 3 (report.class_names and data.label_groups)",
      "/tmp/p.toml:22:9: `report.published`: table 2: class `class 4` is no class of the study (did you mean "
      "`class 1`?); allowed: liver, class 1, kidney R, class 2, spleen, class 3 (report.class_names and "
      "data.label_groups)",
      "/tmp/p.toml:26:1: `report.published[3].clas`: unknown key (did you mean `class`?); allowed: source, dataset, "
      "class, scale, values, sd",
      "/tmp/p.toml:30:9: `report.published[4].class`: expected a string",
      "/tmp/p.toml:34:9: `report.published[5].class`: expected a class name (one of report.class_names, or \"class "
      "k\"); leave `class` out for none",
  };
  EXPECT_EQ(errors, expected) << ::testing::PrintToString(errors);
}

TEST(Published, SameCellTwiceInOneClassIsRefused) {
  const auto errors = printed_errors(kOrgans + R"(
[[report.published]]
source = "a"
class = "spleen"
values = { "U-Net" = { dice = 65.0 } }
[[report.published]]
source = "b"
class = "spleen"
values = { "U-Net" = { dice = 66.0 } }
)");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("already published by table 1 of the same dataset `` and class `spleen`"), std::string::npos)
      << errors[0];
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
  // 002 Table I: one table per organ, the five rows with a counterpart (not DAF's baseline), DSC and VS in
  // percent (MSD is in voxels there, not comparable with our mm); spot values from the paper's text.
  const auto msga = tables("msga_table1.toml");
  ASSERT_EQ(msga.size(), 4u);
  const std::vector<std::string> organs = {"liver", "kidney R", "kidney L", "spleen"};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(msga[i].source, "002 Table I");
    EXPECT_EQ(msga[i].dataset, "CHAOS");
    EXPECT_EQ(msga[i].class_name, organs[i]);
    EXPECT_EQ(msga[i].scale, "percent");
    EXPECT_EQ(msga[i].values.size(), 5u);
    EXPECT_EQ(msga[i].values.count("Baseline (no self-attention)"), 0u);
    for (const auto& [row, metrics] : msga[i].values) {
      EXPECT_EQ(metrics.size(), 2u) << row;  // dice, vs
      EXPECT_EQ(metrics.count("assd"), 0u) << row;
      EXPECT_EQ(msga[i].sd.at(row).size(), 2u) << row;
    }
  }
  EXPECT_DOUBLE_EQ(msga[0].values.at("Proposed (PAM)").at("dice"), 91.89);
  EXPECT_DOUBLE_EQ(msga[1].values.at("Proposed (MS-Dual-Guided)").at("dice"), 87.96);
  EXPECT_DOUBLE_EQ(msga[1].sd.at("Proposed (MS-Dual-Guided)").at("dice"), 6.46);
  EXPECT_DOUBLE_EQ(msga[2].values.at("Proposed (MS-Dual)").at("vs"), 95.27);
  EXPECT_DOUBLE_EQ(msga[3].values.at("Proposed (MS-Dual-Guided)").at("vs"), 87.87);
  // The printed mean over the organs (Table I's "Mean" column) is the mean of the four, to the rounding.
  for (const auto& [row, want] : std::vector<std::pair<std::string, double>>{
           {"Proposed (PAM)", 84.46}, {"Proposed (CAM)", 85.08}, {"Proposed (DualNet)", 85.52},
           {"Proposed (MS-Dual)", 86.17}, {"Proposed (MS-Dual-Guided)", 86.75}}) {
    double sum = 0;
    for (const auto& t : msga) sum += t.values.at(row).at("dice");
    EXPECT_NEAR(sum / 4, want, 0.011) << row;
  }
  const auto msga_demo = tables("msga_table1_demo.toml");
  ASSERT_EQ(msga_demo.size(), 1u);
  EXPECT_EQ(msga_demo[0].class_name, "organ");
  EXPECT_EQ(msga_demo[0].values, msga[0].values);  // the liver column
}

// One parser (issue 24): a stored study text read without its includes (published_in_document, what a
// report falls back to) is refused with the same located diagnostics as the loader gives the file: a
// negative value, an unknown field and an unknown metric, where the old report-side reader took all three.
TEST(Published, StoredTextsAreReadByTheLoadersParser) {
  const std::string text = kVariants + R"(
[[report.published]]
source = "001 Table II"
colour = "red"
values = { "U-Net" = { dice = -65.35, dise = 1.0 } }
)";
  const std::vector<std::string> expected = {
      "/tmp/p.toml:13:1: `report.published[1].colour`: unknown key; allowed: source, dataset, class, scale, values, sd",
      "/tmp/p.toml:14:31: `report.published[1].values.U-Net.dice`: expected a finite number >= 0",
      "/tmp/p.toml:14:39: `report.published[1].values.U-Net.dise`: unknown metric (did you mean `dice`?); allowed: "
      "those of report.metrics, or params",
  };
  EXPECT_EQ(printed_errors(text), expected);
  std::vector<std::string> stored;
  try {
    published_in_document(text, "/tmp/p.toml");
  } catch (const SpecError& e) {
    for (const auto& d : e.diagnostics()) stored.push_back(d.str());
  }
  EXPECT_EQ(stored, expected);
  // A good table reads the same by both.
  const std::string good = kVariants + "\n[[report.published]]\nsource = \"s\"\nvalues = { cc = { dice = 70.0 } }\n";
  EXPECT_EQ(published_text(published_in_document(good, "/tmp/p.toml")), load_study_text(good, "/tmp/p.toml").base.report.published);
}

// The one-line form goes through the same rules; its problems name the table, row and metric.
TEST(Published, TheOneLineFormIsCheckedByTheSameRules) {
  const std::string bad = "[{ source = \"x\", dataset = \"\", scale = \"percent\", values = { a = { dice = -1.0 } } }]";
  try {
    parse_published(bad);
    ADD_FAILURE() << "a negative published value was accepted";
  } catch (const SpecError& e) {
    ASSERT_EQ(e.diagnostics().size(), 1u);
    EXPECT_EQ(e.diagnostics()[0].str(), "<report.published>: `report.published[1].values.a.dice`: expected a finite number >= 0");
  }
  // Written as a value in a study file (as a resolved configuration holds it): located at the string.
  const auto errors = printed_errors(kVariants + "\n[report]\npublished = '" + bad + "'\n");
  ASSERT_EQ(errors.size(), 1u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors[0], "/tmp/p.toml:12:13: `report.published[1].values.a.dice`: expected a finite number >= 0");
  EXPECT_TRUE(parse_published("").empty());
}

// `ablate report --published FILE` reads FILE with the same parser: exit 2 with the located problem,
// before the store is read.
TEST(Published, ReportPublishedFileIsCheckedByTheSameParser) {
  char tmpl[] = "/tmp/ablate-published-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string path = dir + "/paper.toml";
  std::ofstream(path) << kVariants << "\n[[report.published]]\nsource = \"p\"\nvalues = { cc = { dice = -1.0 } }\n";
  std::ofstream(dir + "/empty.db").flush();
  const cli_util::Result r =
      cli_util::ablate("report --db " + dir + "/empty.db --out " + dir + "/out --published " + path);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(path + ":13:26: `report.published[1].values.cc.dice`: expected a finite number >= 0"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir + "/out"));
  std::filesystem::remove_all(dir);
}

// Inherited settings never make a valid study fail (issue 23, docs/STUDY.md "Inherited settings").
namespace {

struct Derived {
  std::string dir;
  Derived() {
    char tmpl[] = "/tmp/ablate-derived-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~Derived() { std::filesystem::remove_all(dir); }
  // A study that includes examples/<base> and adds `own`.
  std::string write(const std::string& base, const std::string& own) const {
    const std::string path = dir + "/study.toml";
    std::ofstream(path) << "include = \"" << ABLATE_SOURCE_DIR << "/examples/" << base << "\"\n" << own;
    return path;
  }
};

bool has_note(const Study& s, const std::string& note) {
  return std::find(s.notes.begin(), s.notes.end(), note) != s.notes.end();
}

const std::string kMissingNine =
    "EC-CaM-UNet, U-Net+CC, U-Net+CoA, U-Net+CoAG-MuSFu, U-Net+CoAG-MuSFu+EC, U-Net+DWS, U-Net+EC, U-Net+MuS, U-Net+SC";

}  // namespace

TEST(InheritedSettings, OwnVariantListComparesTheRowsItHasAndNotesTheRest) {
  const Derived d;
  const Study s = load_study(d.write("table2_demo.toml", "[[ablation.variant]]\nname = \"unet\"\nlabel = \"U-Net\"\n"));
  ASSERT_EQ(s.variants.size(), 1u);
  EXPECT_EQ(parse_published(s.base.report.published).at(0).values.size(), 10u);  // kept: compared on U-Net
  EXPECT_EQ(s.base.report.baseline, "unet");  // table2.toml's baseline names a variant of this study: kept
  ASSERT_EQ(s.notes.size(), 1u) << ::testing::PrintToString(s.notes);
  EXPECT_EQ(s.notes[0], "9 of 10 published rows of 001 Table II (MSD) have no variant in this study: " + kMissingNine);
  // The same through table2.toml: one line per table (four datasets).
  const Study all = load_study(d.write("table2.toml", "[[ablation.variant]]\nname = \"unet\"\nlabel = \"U-Net\"\n"));
  ASSERT_EQ(all.notes.size(), 4u) << ::testing::PrintToString(all.notes);
  EXPECT_TRUE(has_note(all, "9 of 10 published rows of 001 Table II (KiTS) have no variant in this study: " + kMissingNine));
}

TEST(InheritedSettings, SweepOverTheIncludedVariantsIgnoresTheInheritedBaseline) {
  const Derived d;
  const Study s = load_study(d.write("table2_demo.toml", "[sweep]\n\"train.lr\" = [1e-3, 3e-3]\n"));
  EXPECT_EQ(s.variants.size(), 20u);
  EXPECT_EQ(s.base.report.baseline, "");  // "unet" is no variant here (unet_train.lr-0.001, ...): ignored
  for (const auto& v : s.variants) EXPECT_EQ(v.config.report.baseline, "");
  const std::string table2 = std::string(ABLATE_SOURCE_DIR) + "/examples/table2.toml";
  EXPECT_TRUE(has_note(s, "report.baseline = \"unet\" (from " + table2 + ") names no variant of this study; ignored"))
      << ::testing::PrintToString(s.notes);
  EXPECT_TRUE(has_note(s, "10 of 10 published rows of 001 Table II (MSD) have no variant in this study: EC-CaM-UNet, "
                          "U-Net, U-Net+CC, U-Net+CoA, U-Net+CoAG-MuSFu, U-Net+CoAG-MuSFu+EC, U-Net+DWS, U-Net+EC, "
                          "U-Net+MuS, U-Net+SC"))
      << ::testing::PrintToString(s.notes);
}

TEST(InheritedSettings, DesignComparesTheRowsItsPointsAre) {
  const Derived d;
  const Study s = load_study(d.write("table2_demo.toml", R"(
[ablation]
baseline = { name = "unet", label = "U-Net" }
components = [{ label = "CC", set = { "model.cc" = true } }, { label = "SC", set = { "model.sc" = true } }]
design = "add-one"
)"));
  ASSERT_EQ(s.variants.size(), 3u);
  ASSERT_EQ(s.notes.size(), 1u) << ::testing::PrintToString(s.notes);
  EXPECT_EQ(s.notes[0], "7 of 10 published rows of 001 Table II (MSD) have no variant in this study: EC-CaM-UNet, "
                        "U-Net+CoA, U-Net+CoAG-MuSFu, U-Net+CoAG-MuSFu+EC, U-Net+DWS, U-Net+EC, U-Net+MuS");
}

// A search ranks its trials by the objective: a baseline (inherited or its own) does not apply.
TEST(InheritedSettings, SearchesNeverFailOnABaseline) {
  const Derived d;
  for (const std::string method : {"random", "sobol", "tpe"}) {
    for (const std::string& own : {std::string(), std::string("[report]\nbaseline = \"nobody\"\n")}) {
      const Study s = load_study(d.write("table2_demo.toml", own + "[sweep]\nmethod = \"" + method +
                                                                "\"\ntrials = 2\n\"train.lr\" = { log_uniform = [1e-4, 1e-2] }\n"));
      EXPECT_EQ(s.base.report.baseline, "") << method;
      const std::string named = own.empty() ? "unet" : "nobody";
      EXPECT_TRUE(has_note(s, "report.baseline = \"" + named + "\" does not apply to a " + method +
                                  " search: its trials are ranked by the objective (validation dice); ignored"))
          << method << ::testing::PrintToString(s.notes);
    }
  }
}

// Inherited report.rows naming no variant are left out with a note; the study's own stay errors.
TEST(InheritedSettings, InheritedRowsAreLeftOutOwnRowsAreErrors) {
  const Derived d;
  std::ofstream(d.dir + "/base.toml") << kVariants << "\n[report]\nrows = [\"unet\", \"cc\"]\nbaseline = \"cc\"\n";
  const Study s = load_study_text("include = \"base.toml\"\n[[ablation.variant]]\nname = \"unet\"\n", d.dir + "/s.toml");
  EXPECT_EQ(s.base.report.rows, std::vector<std::string>{"unet"});
  EXPECT_EQ(s.base.report.baseline, "");
  EXPECT_TRUE(has_note(s, "report.rows (from " + d.dir + "/base.toml): cc names no variant of this study; left out"))
      << ::testing::PrintToString(s.notes);
  EXPECT_TRUE(has_note(s, "report.baseline = \"cc\" (from " + d.dir + "/base.toml) names no variant of this study; ignored"));
  const auto errors = printed_errors("include = \"base.toml\"\n[[ablation.variant]]\nname = \"unet\"\n[report]\nbaseline = \"unte\"\n",
                                     d.dir + "/s.toml");
  ASSERT_EQ(errors.size(), 1u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors[0], d.dir + "/s.toml:5:12: `report.baseline`: no variant named `unte` (did you mean `unet`?)");
}

// The other side of the rule: what is certainly a mistake stays a located error with did-you-mean.
TEST(InheritedSettings, TyposAndTablesBesideTheirVariantsStayErrors) {
  const Derived d;
  // A row one edit from a variant that no row of its table names: a typo, wherever the table is written.
  const std::string own = "[[ablation.variant]]\nname = \"unet\"\nlabel = \"U-Net\"\n[[ablation.variant]]\nname = \"cc\"\n"
                          "label = \"U-Net+CC\"\n\"model.cc\" = true\n";
  const std::string typo = d.write("table2_demo.toml", own + "[[report.published]]\nsource = \"mine\"\nvalues = { "
                                                             "\"U-Net\" = { dice = 1.0 }, \"U-Net+C\" = { dice = 2.0 } }\n");
  auto errors_of = [](const std::string& path) {
    std::vector<std::string> out;
    try {
      load_study(path);
    } catch (const SpecError& e) {
      for (const auto& x : e.diagnostics()) out.push_back(x.str());
    }
    return out;
  };
  std::vector<std::string> errors = errors_of(typo);
  ASSERT_EQ(errors.size(), 1u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors[0], typo + ":11:38: `report.published`: table 1: no variant labelled or named `U-Net+C` (did you mean "
                              "`U-Net+CC`?)");
  // The inherited table of table2_demo against a variant labelled one edit from its row U-Net+DWS.
  const std::string near = d.write("table2_demo.toml", "[[ablation.variant]]\nname = \"dwss\"\nlabel = \"U-Net+DWSS\"\n");
  errors = errors_of(near);
  ASSERT_EQ(errors.size(), 1u) << ::testing::PrintToString(errors);
  EXPECT_NE(errors[0].find("table 1: no variant labelled or named `U-Net+DWS` (did you mean `U-Net+DWSS`?)"), std::string::npos)
      << errors[0];
  // A table in the file that declares the variants, none of whose rows names one: every row is an error.
  const std::string beside = d.write("table2_demo.toml", own + "[[report.published]]\nsource = \"mine\"\nvalues = { "
                                                               "\"Baseline\" = { dice = 1.0 }, \"Ours\" = { dice = 2.0 } }\n");
  errors = errors_of(beside);
  ASSERT_EQ(errors.size(), 2u) << ::testing::PrintToString(errors);
  EXPECT_NE(errors[0].find("`report.published`: table 1: no variant labelled or named `Baseline`"), std::string::npos);
  EXPECT_NE(errors[1].find("`report.published`: table 1: no variant labelled or named `Ours`"), std::string::npos);
  // The same rows in an included table (not beside the variants, no typo): noted, not refused.
  std::ofstream(d.dir + "/paper.toml") << "[[report.published]]\nsource = \"mine\"\nvalues = { \"Baseline\" = { dice = 1.0 }, "
                                           "\"Ours\" = { dice = 2.0 } }\n";
  const Study noted = load_study_text("include = \"paper.toml\"\n" + kVariants, d.dir + "/s.toml");
  EXPECT_TRUE(has_note(noted, "2 of 2 published rows of mine have no variant in this study: Baseline, Ours"))
      << ::testing::PrintToString(noted.notes);
}

// `ablate plan` prints the notes.
TEST(InheritedSettings, PlanPrintsTheNotes) {
  const Derived d;
  const std::string path = d.write("table2_demo.toml", "[[ablation.variant]]\nname = \"unet\"\nlabel = \"U-Net\"\n");
  const cli_util::Result r = cli_util::ablate("plan " + path);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("note: 9 of 10 published rows of 001 Table II (MSD) have no variant in this study: " + kMissingNine + "\n"),
            std::string::npos)
      << r.out;
}
