// The study specification: parsing, every error path with its location, include/override precedence,
// grid expansion, canonical round trips, hash stability and sensitivity.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "ablations/schema.hpp"
#include "ablations/study.hpp"
#include "sweeps/grid.hpp"

namespace fs = std::filesystem;
using namespace ablate;

namespace {

// A temporary folder for study files, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ablate-study-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = (fs::path(path_) / name).string();
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<Diagnostic> errors_of(const std::string& text, const std::string& file = "/tmp/s.toml") {
  try {
    load_study_text(text, file);
  } catch (const SpecError& e) {
    return e.diagnostics();
  }
  return {};
}

// The same, as printed ("file:line:column: `key`: message"), so a test pins every problem exactly.
std::vector<std::string> printed_errors(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& d : errors_of(text)) out.push_back(d.str());
  return out;
}

using Lines = std::vector<std::string>;

}  // namespace

TEST(StudySpec, DefaultsWhenEmpty) {
  Study s = load_study_text("", "/tmp/empty.toml");
  ASSERT_EQ(s.variants.size(), 1u);
  EXPECT_EQ(s.variants[0].name, "base");
  const auto& c = s.variants[0].config;
  EXPECT_EQ(c.study.folds, 5);
  EXPECT_EQ(c.model.widths, (std::vector<int>{64, 128, 256, 512, 1024}));
  EXPECT_DOUBLE_EQ(c.loss.alpha, 0.5);
  EXPECT_DOUBLE_EQ(c.train.lr, 1e-5);
  EXPECT_EQ(c.model.mus_rates, (std::vector<int>{6, 12, 18}));
}

TEST(StudySpec, ReadsEverySection) {
  Study s = load_study_text(R"(
[study]
name = "t"
seed = 7
split = [0.7, 0.1, 0.2]
[data]
path = "data/x"
label_groups = [[1, 2], [3]]
augment.flip_p = 0.25
[model]
cc = true
widths = [4, 8, 16]
[loss]
name = "focal"
[train]
lr = 1          # an integer where a number is expected is fine
[resources]
ranks = 5
[report]
metrics = ["dice", "hd95"]
)",
                            "/tmp/dir/s.toml");
  const auto& c = s.variants[0].config;
  EXPECT_EQ(c.study.name, "t");
  EXPECT_EQ(c.study.seed, 7u);
  EXPECT_EQ(c.study.split, (std::vector<double>{0.7, 0.1, 0.2}));
  EXPECT_EQ(c.data.path, "/tmp/dir/data/x");  // relative to the study file
  EXPECT_EQ(c.data.label_groups, (std::vector<std::vector<int>>{{1, 2}, {3}}));
  EXPECT_EQ(c.data.foreground_classes(), 2);
  EXPECT_DOUBLE_EQ(c.data.augment.flip_p, 0.25);
  EXPECT_TRUE(c.model.cc);
  EXPECT_EQ(c.loss.name, "focal");
  EXPECT_DOUBLE_EQ(c.train.lr, 1.0);
  EXPECT_EQ(c.resources.ranks, 5);
  EXPECT_EQ(c.report.metrics, (std::vector<std::string>{"dice", "hd95"}));
}

TEST(StudySpec, UnknownKeySuggestsClosestWithLocation) {
  auto d = errors_of("[train]\nlr = 0.1\nweight_decy = 0.1\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].file, "/tmp/s.toml");
  EXPECT_EQ(d[0].line, 3);
  EXPECT_EQ(d[0].column, 1);
  EXPECT_EQ(d[0].key, "train.weight_decy");
  EXPECT_EQ(d[0].message, "unknown key (did you mean `train.weight_decay`?)");
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:3:1: `train.weight_decy`: unknown key (did you mean `train.weight_decay`?)");
}

TEST(StudySpec, UnknownSectionSuggestsClosest) {
  auto d = errors_of("[modle]\ncc = true\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].line, 1);
  EXPECT_EQ(d[0].message, "unknown section (did you mean `model`?)");
}

TEST(StudySpec, WrongTypesAndRangesAreAllReportedTogether) {
  auto d = errors_of(R"([study]
folds = 1
[loss]
alpha = 1.5
[model]
cc = "yes"
dspa_k = 0
fusion = "concat"
[train]
lr = -0.1
epochs = 2.5
)");
  ASSERT_EQ(d.size(), 7u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:2:9: `study.folds`: value 1 is not allowed: expected an integer in [2, 100]");
  EXPECT_EQ(d[1].str(), "/tmp/s.toml:4:9: `loss.alpha`: value 1.5 is not allowed: expected a number in [0.0, 1.0]");
  EXPECT_EQ(d[2].str(), "/tmp/s.toml:6:6: `model.cc`: expected a boolean, got a string");
  EXPECT_EQ(d[3].str(), "/tmp/s.toml:7:10: `model.dspa_k`: value 0 is not allowed: expected an integer in [1, 4096]");
  EXPECT_EQ(d[4].str(),
            "/tmp/s.toml:8:10: `model.fusion`: value \"concat\" is not allowed: expected a string, one of: deep, add, "
            "serial");
  EXPECT_EQ(d[5].str(), "/tmp/s.toml:10:6: `train.lr`: value -0.1 is not allowed: expected a number in (0.0, inf)");
  EXPECT_EQ(d[6].str(), "/tmp/s.toml:11:10: `train.epochs`: expected an integer in [1, 100000], got a number");
}

// TOML reads inf and nan as numbers; inf would pass [0, inf) as a bound check, nan no comparison at all.
TEST(StudySpec, NonFiniteNumbersAreRefused) {
  const std::string to_inf = "is not allowed: not a finite number; expected a number in [0.0, inf)";
  EXPECT_EQ(printed_errors(R"([train]
lr = inf
weight_decay = nan
min_lr = +inf
[loss]
main_weight = inf
dice_smooth = nan
alpha = nan
[data]
window_min = -inf
window_max = inf
)"),
            (Lines{"/tmp/s.toml:2:6: `train.lr`: value inf is not allowed: not a finite number; expected a number in "
                   "(0.0, inf)",
                   "/tmp/s.toml:3:16: `train.weight_decay`: value nan " + to_inf,
                   "/tmp/s.toml:4:10: `train.min_lr`: value inf " + to_inf,
                   "/tmp/s.toml:6:15: `loss.main_weight`: value inf " + to_inf,
                   "/tmp/s.toml:7:15: `loss.dice_smooth`: value nan " + to_inf,
                   "/tmp/s.toml:8:9: `loss.alpha`: value nan is not allowed: not a finite number; expected a number in "
                   "[0.0, 1.0]",
                   "/tmp/s.toml:10:14: `data.window_min`: value -inf is not allowed: not a finite number; expected a "
                   "finite number",
                   "/tmp/s.toml:11:14: `data.window_max`: value inf is not allowed: not a finite number; expected a "
                   "finite number"}));
  // In arrays and sweeps too.
  EXPECT_EQ(printed_errors("[study]\nsplit = [0.7, nan, 0.2]\n[sweep]\n\"loss.side_weight\" = [1.0, inf]\n"),
            (Lines{"/tmp/s.toml:2:9: `study.split`: value [0.7, nan, 0.2] is not allowed: not a finite number; "
                   "expected an array of numbers with elements in [0.0, 1.0]",
                   "/tmp/s.toml:4:28: `loss.side_weight`: value inf " + to_inf}));
  EXPECT_EQ(find_key("data.window_min")->allowed(), "a finite number");
}

TEST(StudySpec, NegativeLearningRateAndFractionalEpochs) {
  auto d = errors_of("[train]\nlr = -0.1\nepochs = 2.5\n");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:2:6: `train.lr`: value -0.1 is not allowed: expected a number in (0.0, inf)");
  EXPECT_EQ(d[1].str(), "/tmp/s.toml:3:10: `train.epochs`: expected an integer in [1, 100000], got a number");
}

TEST(StudySpec, UnknownComponentNameInReport) {
  auto d = errors_of("[report]\ncomponents = [\"cc\", \"msu\"]\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:2:21: `report.components`: `msu` is not a boolean model key (did you mean `mus`?)");
  // Reported once for the study, not once per variant.
  d = errors_of("[report]\ncomponents = [\"xyzzy\"]\n[[ablation.variant]]\nname = \"a\"\n[[ablation.variant]]\nname = \"b\"\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:2:15: `report.components`: `xyzzy` is not a boolean model key");
  // The rule is in the key reference, listing the boolean model keys from the schema.
  const std::string allowed = find_key("report.components")->allowed();
  const std::string intro = "an array of strings, each a boolean model key: ";
  ASSERT_EQ(allowed.rfind(intro, 0), 0u) << allowed;
  std::set<std::string> listed;
  std::istringstream names(allowed.substr(intro.size()));
  for (std::string name; std::getline(names >> std::ws, name, ',');) listed.insert(name);
  for (const auto& k : schema()) {
    if (k.path.rfind("model.", 0) != 0) continue;
    EXPECT_EQ(listed.count(k.path.substr(6)), k.type == ValueType::kBool ? 1u : 0u) << k.path << " in " << allowed;
  }
  EXPECT_EQ(find_key("report.sweep_key")->allowed(), "a string, empty or a study key (dotted), e.g. loss.alpha");
}

TEST(StudySpec, TomlSyntaxErrorHasLocation) {
  auto d = errors_of("[study]\nname = \"x\nseed = 1\n");
  ASSERT_EQ(d.size(), 1u);
  // toml++'s own words, at the line end where the string was left open.
  EXPECT_EQ(d[0].str(),
            "/tmp/s.toml:2:10: Error while parsing string: unescaped control characters other than TAB (U+0009) are "
            "explicitly prohibited");
}

TEST(StudySpec, CrossKeyConstraintsNameVariantAndLine) {
  auto d = errors_of(R"([data]
image_size = 100
[model]
widths = [4, 8, 16, 32]
)");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].key, "data.image_size");
  EXPECT_EQ(d[0].line, 2);
  EXPECT_EQ(d[0].message, "variant `base`: 100 is not divisible by 2^(depth-1) = 8 for 4 levels");
}

// The keys of 003 (nested, nested_supervision, prune_level, dice_denominator) and 002 (attention = pam | cam |
// pam_cam, cam_energy): values, ranges and the constraints between them, each error at its line.
TEST(StudySpec, AnuNetAndDualAttentionKeys) {
  const Study s = load_study_text(R"([model]
nested = true
attention_gates = true
attention = "pam_cam"
cam_energy = "max_minus"
prune_level = 3
[loss]
name = "dice_focal_bce"
dice_denominator = "squares"
side_weight = 3.0
)", "/tmp/s.toml");
  ASSERT_EQ(s.variants.size(), 1u);
  const VariantConfig& c = s.variants[0].config;
  EXPECT_TRUE(c.model.nested && c.model.attention_gates && c.model.nested_supervision);
  EXPECT_EQ(c.model.attention, "pam_cam");
  EXPECT_EQ(c.model.cam_energy, "max_minus");
  EXPECT_EQ(c.model.prune_level, 3);
  EXPECT_EQ(c.loss.dice_denominator, "squares");
  const VariantConfig defaults;
  EXPECT_FALSE(defaults.model.nested);
  EXPECT_TRUE(defaults.model.nested_supervision);
  EXPECT_EQ(defaults.model.prune_level, 0);
  EXPECT_EQ(defaults.model.cam_energy, "similarity");
  EXPECT_EQ(defaults.loss.dice_denominator, "sum");

  EXPECT_EQ(printed_errors(R"([model]
attention = "dual"
cam_energy = "softmax"
prune_level = 8
nested_supervision = 1
[loss]
dice_denominator = "square"
)"),
            (Lines{"/tmp/s.toml:2:13: `model.attention`: value \"dual\" is not allowed: expected a string, one of: none, se, "
                   "cbam, pam, cam, pam_cam",
                   "/tmp/s.toml:3:14: `model.cam_energy`: value \"softmax\" is not allowed: expected a string, one of: "
                   "similarity, max_minus",
                   "/tmp/s.toml:4:15: `model.prune_level`: value 8 is not allowed: expected an integer in [0, 7]",
                   "/tmp/s.toml:5:22: `model.nested_supervision`: expected a boolean, got an integer",
                   "/tmp/s.toml:7:20: `loss.dice_denominator`: value \"square\" is not allowed: expected a string, one of: "
                   "sum, squares"}));
  // Pruning takes a deep-supervision head's output, within the depth.
  EXPECT_EQ(printed_errors("[model]\nprune_level = 2\n"),
            (Lines{"/tmp/s.toml:2:15: `model.prune_level`: variant `base`: pruning takes the output of a deep-supervision "
                   "head: needs model.nested = true and model.nested_supervision = true"}));
  EXPECT_EQ(printed_errors("[model]\nnested = true\nnested_supervision = false\nprune_level = 1\n").size(), 1u);
  EXPECT_EQ(printed_errors("[model]\nnested = true\nprune_level = 5\n"),
            (Lines{"/tmp/s.toml:3:15: `model.prune_level`: variant `base`: 5 is deeper than the network: allowed 0..4 "
                   "for 5 levels (0 and 4 = unpruned)"}));
  EXPECT_TRUE(printed_errors("[model]\nnested = true\nprune_level = 4\n").empty());
  // The nested decoder replaces the skip components of the U-Net decoder.
  EXPECT_EQ(printed_errors("[model]\nnested = true\ndws = true\nmsc = \"kcm\"\n"),
            (Lines{"/tmp/s.toml:2:10: `model.nested`: variant `base`: the nested decoder has its own deep supervision "
                   "and dense skips: turn model.dws, model.msc off"}));
  // PAM/CAM sit where CoA sits.
  const auto coa = errors_of("[model]\nattention = \"cam\"\ncc = true\n");
  ASSERT_EQ(coa.size(), 1u);
  EXPECT_EQ(coa[0].key, "model.attention");
  // A variant sets them like any model key.
  const Study v = load_study_text(R"([model]
nested = true
[[ablation.variant]]
name = "l2"
"model.prune_level" = 2
[[ablation.variant]]
name = "unpruned"
)", "/tmp/s.toml");
  ASSERT_EQ(v.variants.size(), 2u);
  EXPECT_EQ(v.variants[0].config.model.prune_level, 2);
  EXPECT_NE(v.variants[0].hash, v.variants[1].hash);
}

TEST(StudySpec, SplitMustSumToOne) {
  auto d = errors_of("[study]\nsplit = [0.7, 0.2, 0.2]\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(),
            "/tmp/s.toml:2:9: `study.split`: variant `base`: expected three ratios train, validation, test with train > 0, "
            "test > 0 that sum to 1");
}

TEST(StudySpec, BlurSigmaMinMustNotExceedMax) {
  auto d = errors_of("[data.augment]\nblur_sigma_min = 2.0\nblur_sigma_max = 1.5\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(),
            "/tmp/s.toml:2:18: `data.augment.blur_sigma_min`: variant `base`: must not exceed data.augment.blur_sigma_max");
  EXPECT_NO_THROW(load_study_text("[data.augment]\nblur_sigma_min = 1.5\nblur_sigma_max = 1.5\n", "/tmp/s.toml"));
}

// A key before any section: the hint names the key it was probably meant to be, not only a section.
TEST(StudySpec, UnknownTopLevelKeySuggestsTheKey) {
  EXPECT_EQ(printed_errors("lr = 1e-4\nweight_decy = 0.1\nmodle = 1\nzzzzzz = 2\n[train]\nepochs = 2\n"),
            (Lines{"/tmp/s.toml:1:1: `lr`: unknown key (did you mean `train.lr`?)",
                   "/tmp/s.toml:2:1: `weight_decy`: unknown key (did you mean `train.weight_decay`?)",
                   "/tmp/s.toml:3:1: `modle`: unknown key (did you mean `[model]`?)",
                   "/tmp/s.toml:4:1: `zzzzzz`: unknown key"}));
}

TEST(StudySpec, VariantErrors) {
  EXPECT_EQ(printed_errors(R"([[ablation.variant]]
name = "a"
"model.ccc" = true
[[ablation.variant]]
name = "a"
[[ablation.variant]]
label = "no name"
)"),
            (Lines{"/tmp/s.toml:3:1: `model.ccc`: unknown key (did you mean `model.cc`?)",
                   "/tmp/s.toml:4:1: `ablation.variant.name`: duplicate variant name `a`",
                   "/tmp/s.toml:6:1: `ablation.variant.name`: every [[ablation.variant]] needs a name"}));
}

TEST(StudySpec, MisspeltKeysInAVariantSuggestTheKey) {
  // The misspelt name is the problem; "needs a name" would only repeat it.
  EXPECT_EQ(printed_errors("[[ablation.variant]]\nnmae = \"a\"\nlable = \"A\"\nlr = 0.1\nalpah = 0.3\n"),
            (Lines{"/tmp/s.toml:2:1: `ablation.variant.nmae`: unknown key (did you mean `name`?)",
                   "/tmp/s.toml:3:1: `ablation.variant.lable`: unknown key (did you mean `label`?)",
                   "/tmp/s.toml:4:1: `lr`: unknown key (did you mean `train.lr`?)",
                   "/tmp/s.toml:5:1: `alpah`: unknown key (did you mean `loss.alpha`?)"}));
}

// [resources], [report] and study.description are the study's: in a variant they would be silently
// ignored, so they are refused there as in [sweep].
TEST(StudySpec, StudyLevelSectionsAreRefusedInVariants) {
  EXPECT_EQ(printed_errors(R"([[ablation.variant]]
name = "a"
"resources.ranks" = 4
report.decimals = 3
"study.description" = "x"
[sweep]
"study.description" = ["p", "q"]
)"),
            (Lines{"/tmp/s.toml:3:1: `resources.ranks`: cannot be set in an [[ablation.variant]]: [resources] applies "
                   "to the whole study and changes no result; set it in [resources]",
                   "/tmp/s.toml:4:8: `report.decimals`: cannot be set in an [[ablation.variant]]: [report] applies to "
                   "the whole study and changes no result; set it in [report]",
                   "/tmp/s.toml:5:1: `study.description`: cannot be set in an [[ablation.variant]]: the description is "
                   "the study's; set it in [study]",
                   "/tmp/s.toml:7:1: `sweep.study.description`: cannot be swept: the description is the study's; set "
                   "it in [study]"}));
}

// Names become files and folders: the store and checkpoints are named after the study, checkpoints go to
// <workdir>/<variant>/.
TEST(StudySpec, NamesThatWouldLeaveAFolderAreRefused) {
  auto d = errors_of("[[ablation.variant]]\nname = \".\"\n[[ablation.variant]]\nname = \"..\"\n");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].str(),
            "/tmp/s.toml:2:8: `ablation.variant.name`: name `.` is not allowed: use letters, digits and _ - . + = (not . "
            "or ..)");
  EXPECT_EQ(d[1].line, 4);
  for (const char* name : {"..", ".", "../x", "a/b", "a b", ""}) {
    d = errors_of(std::string("[study]\nname = \"") + name + "\"\n");
    ASSERT_EQ(d.size(), 1u) << name;
    EXPECT_EQ(d[0].str(), std::string("/tmp/s.toml:2:8: `study.name`: value \"") + name +
                              "\" is not allowed: expected a name of letters, digits and _ - . + = (not . or ..), at most 200 characters");
  }
  EXPECT_EQ(load_study_text("[study]\nname = \"ec-cam_unet.v2+x=1\"\n", "/tmp/s.toml").base.study.name,
            "ec-cam_unet.v2+x=1");
}

TEST(StudySpec, ReportBaselineMustNameAVariant) {
  auto d = errors_of("[report]\nbaseline = \"unte\"\n[[ablation.variant]]\nname = \"unet\"\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].message, "no variant named `unte` (did you mean `unet`?)");
}

TEST(StudySpec, IncludePrecedence) {
  TempDir dir;
  dir.write("base.toml", R"([study]
name = "base-study"
seed = 1
[loss]
alpha = 0.2
name = "dice"
[data]
path = "data"
[[ablation.variant]]
name = "from-base"
)");
  fs::create_directories(fs::path(dir.path()) / "sub");
  std::string study = dir.write("sub/study.toml", R"(include = "../base.toml"
[study]
seed = 2
[loss]
alpha = 0.3
[[ablation.variant]]
name = "v"
"loss.alpha" = 0.4
[[ablation.variant]]
name = "w"
[sweep]
"train.epochs" = [3, 4]
)");
  Study s = load_study(study);
  ASSERT_EQ(s.variants.size(), 4u);  // the study's variants replace the base's
  const Variant& v3 = s.variants[0];
  EXPECT_EQ(v3.name, "v_epochs3");
  EXPECT_EQ(v3.config.study.name, "base-study");               // base
  EXPECT_EQ(v3.config.study.seed, 2u);                         // study over base
  EXPECT_DOUBLE_EQ(v3.config.loss.alpha, 0.4);                 // variant over study
  EXPECT_EQ(v3.config.train.epochs, 3);                        // sweep
  EXPECT_EQ(v3.config.loss.name, "dice");                      // base
  EXPECT_EQ(v3.config.data.path, dir.path() + "/data");        // relative to the base file
  EXPECT_DOUBLE_EQ(s.variants[2].config.loss.alpha, 0.3);      // w: study value
  EXPECT_EQ(v3.values.at("loss.alpha").origin, Origin::kVariant);
  EXPECT_EQ(v3.values.at("study.seed").origin, Origin::kStudy);
  EXPECT_EQ(v3.values.at("study.name").origin, Origin::kBase);
  EXPECT_EQ(v3.values.at("train.epochs").origin, Origin::kSweep);
  EXPECT_EQ(v3.values.at("train.lr").origin, Origin::kDefault);
  EXPECT_EQ(v3.values.at("study.seed").where, study + ":3");
}

TEST(StudySpec, IncludeInheritsVariantsAndDetectsCycles) {
  TempDir dir;
  dir.write("a.toml", "include = \"b.toml\"\n[[ablation.variant]]\nname = \"x\"\n");
  dir.write("b.toml", "include = \"a.toml\"\n");
  dir.write("c.toml", "include = \"missing.toml\"\n");
  try {
    load_study(dir.path() + "/a.toml");
    FAIL() << "cycle not detected";
  } catch (const SpecError& e) {
    ASSERT_EQ(e.diagnostics().size(), 1u);
    EXPECT_EQ(e.diagnostics()[0].str(),
              dir.path() + "/b.toml:1:11: `include`: include cycle: `" + dir.path() + "/a.toml` includes itself");
  }
  try {
    load_study(dir.path() + "/c.toml");
    FAIL() << "missing include not reported";
  } catch (const SpecError& e) {
    ASSERT_EQ(e.diagnostics().size(), 1u);
    EXPECT_EQ(e.diagnostics()[0].str(), dir.path() + "/c.toml:1:11: `include`: cannot read base study `" + dir.path() +
                                            "/missing.toml`: no such file");
  }
  dir.write("base.toml", "[[ablation.variant]]\nname = \"p\"\n[[ablation.variant]]\nname = \"q\"\n");
  std::string child = dir.write("child.toml", "include = \"base.toml\"\n[train]\nepochs = 2\n");
  Study s = load_study(child);
  ASSERT_EQ(s.variants.size(), 2u);
  EXPECT_EQ(s.variants[1].name, "q");
  EXPECT_EQ(s.variants[1].config.train.epochs, 2);
}

TEST(StudySpec, GridExpansionCountsAndLabels) {
  Study s = load_study_text(R"([[ablation.variant]]
name = "unet"
label = "U-Net"
[[ablation.variant]]
name = "coa"
label = "U-Net+CoA"
"model.cc" = true
"model.sc" = true
[sweep]
"loss.alpha" = [0.1, 0.3, 0.5]
model.dspa_k = [1, 10]
label = "α={loss.alpha}, K={model.dspa_k}"
)",
                            "/tmp/g.toml");
  ASSERT_EQ(s.variants.size(), 2u * 3u * 2u);
  std::set<std::string> names, hashes;
  for (const auto& v : s.variants) names.insert(v.name), hashes.insert(v.hash);
  EXPECT_EQ(names.size(), 12u);
  EXPECT_EQ(hashes.size(), 12u);
  EXPECT_EQ(s.variants[0].name, "unet_alpha0.1_dspa_k1");
  EXPECT_EQ(s.variants[0].label, "U-Net (α=0.1, K=1)");
  EXPECT_EQ(s.variants[11].label, "U-Net+CoA (α=0.5, K=10)");
  EXPECT_TRUE(s.variants[11].config.model.cc);
  EXPECT_EQ(s.variants[11].ordinal, 11);
}

// toml++ sorts a table's keys; the grid follows the file: the last key written varies fastest.
TEST(StudySpec, GridAxesFollowTheFile) {
  Study s = load_study_text("[sweep]\n\"model.dspa_k\" = [1, 10]\n\"loss.alpha\" = [0.1, 0.3, 0.5]\n", "/tmp/g.toml");
  ASSERT_EQ(s.variants.size(), 6u);
  EXPECT_EQ(s.variants[0].name, "dspa_k1_alpha0.1");
  EXPECT_EQ(s.variants[1].name, "dspa_k1_alpha0.3");
  EXPECT_EQ(s.variants[3].name, "dspa_k10_alpha0.1");
  EXPECT_EQ(s.variants[3].label, "dspa_k=10, alpha=0.1");
  // Nested tables count by where their keys are written.
  s = load_study_text("[sweep.train]\nepochs = [1, 2]\n[sweep.loss]\nalpha = [0.1, 0.2]\n", "/tmp/g.toml");
  ASSERT_EQ(s.variants.size(), 4u);
  EXPECT_EQ(s.variants[1].name, "epochs1_alpha0.2");
}

TEST(StudySpec, SweepWithoutVariants) {
  Study s = load_study_text("[sweep]\n\"loss.alpha\" = [0.1, 0.9]\n", "/tmp/g.toml");
  ASSERT_EQ(s.variants.size(), 2u);
  EXPECT_EQ(s.variants[1].name, "alpha0.9");
  EXPECT_EQ(s.variants[1].label, "alpha=0.9");
}

// Only the base study's folds, seeds, repeats and dataset are used (the folds are shared by every
// variant), so a variant or a sweep that sets them is refused rather than silently ignored.
TEST(StudySpec, StudyWideKeysAreRefusedInVariantsAndSweeps) {
  auto d = errors_of(R"([[ablation.variant]]
name = "a"
"study.folds" = 3
"data.path" = "/d"
study.repeats = 2
[sweep]
"study.seed" = [1, 2]
"loss.alpha" = [0.1]
)");
  ASSERT_EQ(d.size(), 4u);
  const std::string folds = "folds are shared by all variants of a study; set it in [study] or make a separate study";
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:3:1: `study.folds`: cannot be set in an [[ablation.variant]]: " + folds);
  EXPECT_EQ(d[1].str(),
            "/tmp/s.toml:4:1: `data.path`: cannot be set in an [[ablation.variant]]: the folds' case lists come from the "
            "study's dataset and are shared by all variants; set it in [data] or make a separate study");
  EXPECT_EQ(d[2].key, "study.repeats");
  EXPECT_EQ(d[2].line, 5);
  EXPECT_EQ(d[3].str(), "/tmp/s.toml:7:1: `sweep.study.seed`: cannot be swept: " + folds);
  // In [study] they are fine.
  EXPECT_NO_THROW(load_study_text("[study]\nfolds = 3\nseed = 1\nrepeats = 2\n", "/tmp/s.toml"));
}

// The dataset's location is not part of the hash: the same study in another folder (a moved checkout)
// resumes. Its identity is kept by the folds' case lists in the store.
TEST(Canonical, HashDoesNotDependOnWhereTheStudyLies) {
  TempDir a, b;
  const std::string text = "[data]\npath = \"data\"\ncache_dir = \"cache\"\n[model]\ncc = true\n";
  Study sa = load_study(a.write("study.toml", text)), sb = load_study(b.write("study.toml", text));
  EXPECT_EQ(sa.variants[0].config.data.path, a.path() + "/data");
  EXPECT_EQ(sb.variants[0].config.data.path, b.path() + "/data");
  EXPECT_EQ(sa.variants[0].hash, sb.variants[0].hash);
  EXPECT_TRUE(changed_keys(sa.variants[0].canonical, sb.variants[0].canonical).empty());
  EXPECT_FALSE(find_key("data.path")->hashed);
  EXPECT_FALSE(find_key("data.cache_dir")->hashed);
  // A result-affecting key still changes it.
  Study sc = load_study(b.write("other.toml", text + "dws = true\n"));
  EXPECT_NE(sc.variants[0].hash, sb.variants[0].hash);
}

TEST(StudySpec, DuplicateSweepValuesAreAnError) {
  auto d = errors_of("[sweep]\n\"loss.alpha\" = [0.1, 0.10]\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(),
            "/tmp/s.toml:2:22: `sweep.loss.alpha`: value 0.1 is listed twice (first at 2:17); variant names must be "
            "unique");
}

// Different values can still give one name, since names keep only file-system-safe characters.
TEST(StudySpec, ExpandedVariantNamesMustBeUnique) {
  auto d = errors_of("[sweep]\n\"data.cache_dir\" = [\"/c/a b\", \"/c/a-b\"]\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(),
            "/tmp/s.toml:2:1: `sweep`: variant name `cache_dir-c-a-b` is produced twice: by sweep point "
            "cache_dir=/c/a b and by sweep point cache_dir=/c/a-b; rename a variant or change the values");
  d = errors_of(R"([[ablation.variant]]
name = "u"
[[ablation.variant]]
name = "v"
[sweep]
"data.cache_dir" = ["x y", "x-y"]
)");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].str(),
            "/tmp/s.toml:1:1: `ablation.variant.name`: variant name `u_cache_dir-tmp-x-y` is produced twice: by "
            "variant `u` at sweep point cache_dir=/tmp/x y and by variant `u` at sweep point cache_dir=/tmp/x-y; rename "
            "a variant or change the values");
  EXPECT_EQ(d[1].line, 3);
}

TEST(StudySpec, SplitAsPercentages) {
  Study a = load_study_text("[study]\nsplit = \"70/10/20\"\n", "/tmp/s.toml");
  Study b = load_study_text("[study]\nsplit = [0.7, 0.1, 0.2]\n", "/tmp/s.toml");
  EXPECT_EQ(a.variants[0].config.study.split, (std::vector<double>{0.7, 0.1, 0.2}));
  EXPECT_EQ(a.variants[0].hash, b.variants[0].hash);
  EXPECT_EQ(a.variants[0].canonical, b.variants[0].canonical);
  auto d = errors_of("[study]\nsplit = \"70/10/10\"\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(),
            "/tmp/s.toml:2:9: `study.split`: \"70/10/10\" is not a split: expected three percentages "
            "train/validation/test summing to 100, e.g. \"70/10/20\", or an array of numbers with elements in [0.0, "
            "1.0] summing to 1");
  EXPECT_EQ(errors_of("[study]\nsplit = \"70/30\"\n").size(), 1u);
  EXPECT_EQ(errors_of("[study]\nsplit = \"70/x/30\"\n").size(), 1u);
  // 100/0/0 parses but has no test part: the split rule reports it.
  d = errors_of("[study]\nsplit = \"100/0/0\"\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(),
            "/tmp/s.toml:2:9: `study.split`: variant `base`: expected three ratios train, validation, test with train "
            "> 0, test > 0 that sum to 1");
}

TEST(StudySpec, DirectoryAsStudyOrIncludeIsAnError) {
  TempDir dir;
  fs::create_directories(fs::path(dir.path()) / "base");
  try {
    load_study(dir.path());
    FAIL() << "a directory was accepted as the study file";
  } catch (const SpecError& e) {
    ASSERT_EQ(e.diagnostics().size(), 1u);
    EXPECT_EQ(e.diagnostics()[0].str(), dir.path() + ": is a directory, expected a study file (.toml)");
  }
  const std::string study = dir.write("s.toml", "include = \"base\"\n");
  try {
    load_study(study);
    FAIL() << "a directory was accepted as include";
  } catch (const SpecError& e) {
    ASSERT_EQ(e.diagnostics().size(), 1u);
    EXPECT_EQ(e.diagnostics()[0].str(), study + ":1:11: `include`: cannot read base study `" + dir.path() +
                                            "/base`: it is a directory, expected a .toml file");
  }
}

TEST(StudySpec, IncludeMustBeFileNames) {
  auto d = errors_of("include = 3\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:1:11: `include`: expected a file name or an array of file names");
  d = errors_of("include = [true]\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:1:12: `include`: expected a file name (string)");
}

TEST(StudySpec, SweepLabelPlaceholderMustNameASweptKey) {
  auto d = errors_of("[sweep]\n\"loss.alpha\" = [0.1]\nlabel = \"a={loss.alpah}\"\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:3:9: `sweep.label`: placeholder {loss.alpah} names no swept key (swept: loss.alpha)");
}

TEST(StudySpec, SameKeyDottedAndInTableIsAnError) {
  auto d = errors_of("\"model.cc\" = true\n[model]\ncc = false\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:1:1: `model.cc`: set twice in this file (also at 3:6); keep one");
  d = errors_of("[[ablation.variant]]\nname = \"a\"\n\"loss.alpha\" = 0.1\nloss.alpha = 0.2\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].key, "loss.alpha");
  EXPECT_NE(d[0].message.find("set twice in this file"), std::string::npos);
  // A base file and the study may both set a key: that is what include is for.
  TempDir dir;
  dir.write("base.toml", "[model]\ncc = false\n");
  EXPECT_TRUE(load_study(dir.write("s.toml", "include = \"base.toml\"\n\"model.cc\" = true\n")).variants[0].config.model.cc);
}

TEST(StudySpec, CrossKeyErrorsAreReportedWithOtherErrors) {
  auto d = errors_of("[loss]\nalpha = 2\n[data]\nwindow_min = 10\nwindow_max = 5\n");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].key, "loss.alpha");
  EXPECT_EQ(d[1].str(), "/tmp/s.toml:4:14: `data.window_min`: variant `base`: must be below data.window_max (5.0)");
  // A constraint on a rejected value is not reported again as its consequence.
  d = errors_of("[data]\nwindow_min = 10\nwindow_max = \"high\"\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].key, "data.window_max");
}

TEST(StudySpec, WindowMinMustBeBelowWindowMax) {
  auto d = errors_of("[data]\nwindow_min = 5\nwindow_max = 5\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:2:14: `data.window_min`: variant `base`: must be below data.window_max (5.0)");
}

TEST(StudySpec, ReportNamesPointAtTheirValue) {
  auto d = errors_of("[report]\nrows = [\"unet\", \"coa\"]\nbaseline = \"unte\"\n[[ablation.variant]]\nname = \"unet\"\n");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:2:17: `report.rows`: no variant named `coa`");
  EXPECT_EQ(d[1].str(), "/tmp/s.toml:3:12: `report.baseline`: no variant named `unte` (did you mean `unet`?)");
}

TEST(StudySpec, UnknownReportSweepKey) {
  auto d = errors_of("[report]\nsweep_key = \"loss.alpah\"\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:2:13: `report.sweep_key`: `loss.alpah` is not a study key (did you mean `loss.alpha`?)");
}

TEST(StudySpec, TimeLimitIsCheckedAtLoad) {
  auto d = errors_of("[resources]\ntime = \"1h\"\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(),
            "/tmp/s.toml:2:8: `resources.time`: value \"1h\" is not allowed: expected a Slurm time limit: minutes, MM:SS, "
            "HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS");
  EXPECT_EQ(find_key("resources.time")->allowed(),
            "a string, a Slurm time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS");
  for (const char* ok : {"30", "1440", "30:00", "01:30:00", "2-00:00:00", "2-12", "2-12:30"}) {
    EXPECT_TRUE(valid_time_limit(ok)) << ok;
  }
  for (const char* bad : {"", "1h", "01:30:00:00", "a-01:00:00"}) EXPECT_FALSE(valid_time_limit(bad)) << bad;
}

TEST(StudySpec, TooManyLevelsAreRejected) {
  auto d = errors_of("[model]\nwidths = [1, 2, 3, 4, 5, 6, 7, 8, 9]\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(),
            "/tmp/s.toml:2:10: `model.widths`: variant `base`: 9 levels: at most 8 encoder levels are allowed (the last "
            "width is the bridge)");
  Study s = load_study_text("[model]\nwidths = [1, 2, 3, 4, 5, 6, 7, 8]\n", "/tmp/s.toml");
  EXPECT_EQ(s.variants[0].config.model.widths.size(), 8u);
}

TEST(StudySpec, SweepValueErrorsPointAtTheValue) {
  auto d = errors_of("[model]\ncc = true\n[sweep]\n\"model.attention\" = [\"none\", \"se\"]\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(),
            "/tmp/s.toml:4:30: `model.attention`: variant `attentionse`: `se` sits where CoA sits: turn model.cc and "
            "model.sc off");
  d = errors_of("[sweep]\n\"loss.alpha\" = [0.1, 2]\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:2:22: `loss.alpha`: value 2.0 is not allowed: expected a number in [0.0, 1.0]");
}

TEST(StudySpec, SweepStructureErrors) {
  auto d = errors_of(R"([sweep]
"loss.alpha" = 0.5
"loss.name" = []
"loss.alpah" = [0.1]
"report.decimals" = [1, 2]
label = 3
)");
  ASSERT_EQ(d.size(), 5u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:2:16: `sweep.loss.alpha`: expected a non-empty array of values to sweep");
  EXPECT_EQ(d[1].str(), "/tmp/s.toml:3:15: `sweep.loss.name`: expected a non-empty array of values to sweep");
  EXPECT_EQ(d[2].str(), "/tmp/s.toml:4:1: `loss.alpah`: unknown key (did you mean `loss.alpha`?)");
  EXPECT_EQ(d[3].str(), "/tmp/s.toml:5:21: `sweep.report.decimals`: sweeping a [resources] or [report] key changes no result");
  EXPECT_EQ(d[4].str(), "/tmp/s.toml:6:9: `sweep.label`: expected a string template like \"α={loss.alpha}\"");
  d = errors_of("sweep = [1]\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:1:9: `sweep`: expected a table of \"dotted.key\" = [values]");
}

TEST(StudySpec, AblationStructureErrors) {
  auto d = errors_of("ablation = 1\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:1:12: `ablation`: expected a table with [[ablation.variant]] entries");
  d = errors_of("[ablation]\nvariants = []\nvariant = 3\n");
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:2:1: `ablation.variants`: unknown key (did you mean `variant`?) (allowed: "
                        "[[ablation.variant]] tables with name, label and dotted overrides, and the design keys "
                        "baseline, components, composites, design, fractional, requires, excludes)");
  EXPECT_EQ(d[1].str(), "/tmp/s.toml:3:11: `ablation.variant`: expected [[ablation.variant]] tables");
  d = errors_of("[[ablation.variant]]\nname = 3\n[[ablation.variant]]\nname = \"a b\"\nlabel = [1]\n");
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].str(), "/tmp/s.toml:1:1: `ablation.variant.name`: every [[ablation.variant]] needs a name");
  EXPECT_EQ(d[1].str(), "/tmp/s.toml:2:8: `ablation.variant.name`: expected a string");
  EXPECT_EQ(d[2].str(),
            "/tmp/s.toml:4:8: `ablation.variant.name`: name `a b` is not allowed: use letters, digits and _ - . + = (not . "
            "or ..)");
  EXPECT_EQ(d[3].str(), "/tmp/s.toml:5:9: `ablation.variant.label`: expected a string");
}

TEST(Grid, CartesianProductOrder) {
  auto points = sweeps::expand_grid({{"a", {"1", "2"}}, {"b", {"\"x\"", "\"y\"", "\"z\""}}});
  ASSERT_EQ(points.size(), 6u);
  EXPECT_EQ(points[1], (sweeps::GridPoint{{"a", "1"}, {"b", "\"y\""}}));
  EXPECT_EQ(sweeps::point_label(points[1]), "a=1, b=y");
  EXPECT_EQ(sweeps::point_name(points[1]), "a1_by");
  EXPECT_EQ(sweeps::expand_grid({}).size(), 1u);
  EXPECT_EQ(sweeps::expand_grid({{"a", {}}}).size(), 0u);
}

TEST(Canonical, RoundTripAndHashStableUnderKeyOrderAndIncludes) {
  TempDir dir;
  std::string a = dir.write("a.toml", "[loss]\nalpha = 0.3\nname = \"dice\"\n[model]\ncc = true\n[data]\npath = \"/d\"\n");
  std::string b = dir.write("b.toml", "[model]\ncc = true\n[loss]\nname = \"dice\"\nalpha = 0.30\n[data]\npath = \"/d\"\n");
  dir.write("base.toml", "[loss]\nname = \"dice\"\n[data]\npath = \"/d\"\n");
  std::string c = dir.write("c.toml", "include = \"base.toml\"\n\"model.cc\" = true\n\"loss.alpha\" = 0.3\n");
  Study sa = load_study(a), sb = load_study(b), sc = load_study(c);
  EXPECT_EQ(sa.variants[0].hash, sb.variants[0].hash);
  EXPECT_EQ(sa.variants[0].hash, sc.variants[0].hash);
  EXPECT_EQ(sa.variants[0].canonical, sc.variants[0].canonical);
  EXPECT_EQ(sa.variants[0].hash.size(), 16u);

  VariantConfig back = parse_canonical(sa.variants[0].canonical);
  EXPECT_EQ(canonical_text(back), sa.variants[0].canonical);
  EXPECT_EQ(config_hash(back), sa.variants[0].hash);
  EXPECT_TRUE(back.model.cc);
  EXPECT_DOUBLE_EQ(back.loss.alpha, 0.3);
  EXPECT_EQ(canonical_values(sa.variants[0].canonical).at("model.cc"), "true");
}

TEST(Canonical, ReportAndResourcesNeverChangeTheHash) {
  Study a = load_study_text("[report]\ndecimals = 3\n[resources]\nranks = 9\n[train]\nthreads = 4\n", "/tmp/x.toml");
  Study b = load_study_text("", "/tmp/x.toml");
  EXPECT_EQ(a.variants[0].hash, b.variants[0].hash);
  EXPECT_EQ(a.variants[0].canonical.find("report."), std::string::npos);
}

// The resolved text keeps [report] and [resources] (which canonical text leaves out) and reads back.
TEST(Canonical, ResolvedTextKeepsEveryKeyAndRoundTrips) {
  Study a = load_study_text("[report]\ndecimals = 3\nbaseline = \"base\"\n[resources]\nranks = 9\n", "/tmp/x.toml");
  const std::string text = resolved_text(a.base);
  EXPECT_NE(text.find("report.decimals = 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("resources.ranks = 9\n"), std::string::npos) << text;
  VariantConfig back = parse_canonical(text);
  EXPECT_EQ(back.report.decimals, 3);
  EXPECT_EQ(back.report.baseline, "base");
  EXPECT_EQ(back.resources.ranks, 9);
  EXPECT_EQ(resolved_text(back), text);
}

// Changing any result-affecting key changes the hash, and changed_keys names exactly that key.
TEST(Canonical, EveryHashedKeyChangesTheHash) {
  const VariantConfig base;
  const std::string base_hash = config_hash(base);
  const std::string base_text = canonical_text(base);
  int checked = 0;
  for (const auto& key : schema()) {
    VariantConfig c = base;
    Value v = key.get(c);
    switch (v.type) {
      case ValueType::kBool: v.b = !v.b; break;
      case ValueType::kInt: v.i += 1; break;
      case ValueType::kFloat: v.d = v.d + 0.0625; break;
      case ValueType::kString: v.s = key.choices.size() > 1 ? (v.s == key.choices[0] ? key.choices[1] : key.choices[0]) : v.s + "x"; break;
      case ValueType::kIntList: v.il.push_back(3); break;
      case ValueType::kFloatList: v.dl.push_back(0.5); break;
      case ValueType::kStringList: v.sl.push_back("dice"); break;
      case ValueType::kIntListList: v.ill.push_back({1}); break;
    }
    key.set(c, v);
    if (key.hashed) {
      EXPECT_NE(config_hash(c), base_hash) << key.path;
      EXPECT_EQ(changed_keys(base_text, canonical_text(c)), std::vector<std::string>{key.path}) << key.path;
      ++checked;
    } else {
      EXPECT_EQ(config_hash(c), base_hash) << key.path << " is documented as not changing results";
    }
  }
  EXPECT_GT(checked, 60);
}

// train.precision, added after stores existed: at its default ("fp32") the hash is the one every variant had
// before the key (pinned: a default study's, as `ablate plan` printed it before), and a canonical text
// without the key reads as fp32; "bf16" is a different result and hashes apart.
TEST(Canonical, PrecisionAtItsDefaultKeepsTheHashesOfEarlierStores) {
  const Study fp32 = load_study_text("[study]\nname = \"h\"\n", "/tmp/s.toml");
  EXPECT_EQ(fp32.variants[0].hash, "0c2137dddfcb1aee");
  EXPECT_FALSE(find_key("train.precision")->hashed_at_default);
  const Study bf16 = load_study_text("[study]\nname = \"h\"\n[train]\nprecision = \"bf16\"\n", "/tmp/s.toml");
  EXPECT_NE(bf16.variants[0].hash, fp32.variants[0].hash);
  std::string before;  // the canonical text of a store written before the key
  std::istringstream lines(fp32.variants[0].canonical);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("train.precision", 0) != 0) before += line + "\n";
  ASSERT_NE(before, fp32.variants[0].canonical);
  EXPECT_TRUE(changed_keys(before, fp32.variants[0].canonical).empty());
  EXPECT_EQ(changed_keys(before, bf16.variants[0].canonical), std::vector<std::string>{"train.precision"});
}

// bf16 is CUDA autocast: refused at plan with train.device = "cpu" (naming both keys and what is allowed).
TEST(StudySpec, Bf16IsRefusedOnTheCpu) {
  EXPECT_EQ(printed_errors("[train]\ndevice = \"cpu\"\nprecision = \"bf16\"\n"),
            (Lines{"/tmp/s.toml:3:13: `train.precision`: variant `base`: is \"bf16\" but train.device is "
                   "\"cpu\": bf16 autocast "
                   "runs on CUDA devices only; allowed with train.device = \"cpu\": \"fp32\""}));
  EXPECT_TRUE(errors_of("[train]\ndevice = \"auto\"\nprecision = \"bf16\"\n").empty());
  EXPECT_TRUE(errors_of("[train]\ndevice = \"cuda\"\nprecision = \"bf16\"\n").empty());
  const auto d = errors_of("[train]\nprecision = \"fp16\"\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].key, "train.precision");
}

// Under a fixed split the number of folds means nothing, so it changes neither the hash nor the keys the
// resume check names; without a split it does.
TEST(Canonical, FoldsAreOutOfTheHashUnderAFixedSplit) {
  const Study a = load_study_text("[study]\nsplit = \"70/10/20\"\nfolds = 5\n", "/tmp/s.toml");
  const Study b = load_study_text("[study]\nsplit = \"70/10/20\"\nfolds = 3\n", "/tmp/s.toml");
  EXPECT_EQ(a.variants[0].hash, b.variants[0].hash);
  EXPECT_NE(a.variants[0].canonical, b.variants[0].canonical);
  EXPECT_TRUE(changed_keys(a.variants[0].canonical, b.variants[0].canonical).empty());
  const Study c = load_study_text("[study]\nfolds = 5\n", "/tmp/s.toml");
  const Study d = load_study_text("[study]\nfolds = 3\n", "/tmp/s.toml");
  EXPECT_NE(c.variants[0].hash, d.variants[0].hash);
  EXPECT_EQ(changed_keys(c.variants[0].canonical, d.variants[0].canonical), std::vector<std::string>{"study.folds"});
  // Dropping the split: both keys that now mean something different are named.
  EXPECT_EQ(changed_keys(a.variants[0].canonical, d.variants[0].canonical),
            (std::vector<std::string>{"study.folds", "study.split"}));
}

TEST(Canonical, BrokenCanonicalTextIsAnError) {
  EXPECT_THROW(parse_canonical("model.cc = 3\n"), SpecError);
  EXPECT_THROW(parse_canonical("model.nope = true\n"), SpecError);
}

TEST(Hash, Sha256KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string(1000, 'a')).substr(0, 16), "41edece42d63e8d9");
}

TEST(Closest, Suggestions) {
  EXPECT_EQ(closest("weight_decy", {"weight_decay", "lr"}), "weight_decay");
  EXPECT_EQ(closest("zzzzzz", {"weight_decay", "lr"}), "");
}

TEST(Examples, EveryExampleStudyLoads) {
  int n = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(ABLATE_SOURCE_DIR) / "examples")) {
    if (entry.path().extension() != ".toml") continue;
    EXPECT_NO_THROW(load_study(entry.path().string())) << entry.path();
    ++n;
  }
  EXPECT_GE(n, 2);
}

TEST(Examples, Table2HasTheTenRowsOfThePaper) {
  Study s = load_study(std::string(ABLATE_SOURCE_DIR) + "/examples/table2.toml");
  ASSERT_EQ(s.variants.size(), 10u);
  // (cc, sc, mus, ec, dws) of each row of Table II.
  const bool rows[10][5] = {{0, 0, 0, 0, 0}, {1, 0, 0, 0, 0}, {0, 1, 0, 0, 0}, {0, 0, 1, 0, 0}, {0, 0, 0, 1, 0},
                            {0, 0, 0, 0, 1}, {1, 1, 0, 0, 0}, {1, 1, 1, 0, 0}, {1, 1, 1, 1, 0}, {1, 1, 1, 1, 1}};
  for (int i = 0; i < 10; ++i) {
    const auto& m = s.variants[i].config.model;
    EXPECT_EQ(m.cc, rows[i][0]) << i;
    EXPECT_EQ(m.sc, rows[i][1]) << i;
    EXPECT_EQ(m.mus, rows[i][2]) << i;
    EXPECT_EQ(m.ec, rows[i][3]) << i;
    EXPECT_EQ(m.dws, rows[i][4]) << i;
    EXPECT_EQ(m.widths, (std::vector<int>{64, 128, 256, 512, 1024}));
    EXPECT_EQ(m.fusion, "deep");  // CoAG-MuSFu, eq. 10
    EXPECT_EQ(m.mus_rates, (std::vector<int>{6, 12, 18}));
    // 001 Sec. IV-C on MSD: Adam, lr 1e-5, cosine annealing, weight decay 1e-4, batch 4, 150 epochs, 512^2.
    const VariantConfig& c = s.variants[i].config;
    EXPECT_EQ(c.train.epochs, 150);
    EXPECT_EQ(c.train.optimizer, "adam");
    EXPECT_DOUBLE_EQ(c.train.lr, 1e-5);
    EXPECT_DOUBLE_EQ(c.train.weight_decay, 1e-4);
    EXPECT_EQ(c.train.scheduler, "cosine");
    EXPECT_EQ(c.train.batch_size, 4);
    EXPECT_EQ(c.train.select_metric, "dice");
    EXPECT_EQ(c.data.image_size, 512);
    // Flip p = 0.5, rotation within +-10 degrees, Gaussian blur p = 0.5.
    EXPECT_DOUBLE_EQ(c.data.augment.flip_p, 0.5);
    EXPECT_DOUBLE_EQ(c.data.augment.rotate_degrees, 10.0);
    EXPECT_GT(c.data.augment.rotate_p, 0.0);
    EXPECT_DOUBLE_EQ(c.data.augment.blur_p, 0.5);
    // 236 / 5 / 40 of 281 cases (Sec. IV-A).
    ASSERT_EQ(c.study.split.size(), 3u);
    EXPECT_NEAR(c.study.split[0] * 281, 236, 0.5);
    EXPECT_NEAR(c.study.split[1] * 281, 5, 0.5);
    EXPECT_NEAR(c.study.split[2] * 281, 40, 0.5);
    EXPECT_EQ(c.data.label_groups, (std::vector<std::vector<int>>{{1, 2}}));
    // Sec. III-B, eqs. 11-13: Dice on the main output, BCE on the side output, equal weights (Table II's
    // U-Net row is Table IV's Dice-only row).
    EXPECT_EQ(c.loss.name, "dice");
    EXPECT_EQ(c.loss.side_name, "bce");
    EXPECT_DOUBLE_EQ(c.loss.main_weight, 1.0);
    EXPECT_DOUBLE_EQ(c.loss.side_weight, 1.0);
  }
  Study demo = load_study(std::string(ABLATE_SOURCE_DIR) + "/examples/table2_demo.toml");
  ASSERT_EQ(demo.variants.size(), 10u);
  EXPECT_EQ(demo.variants[9].config.model.widths, (std::vector<int>{8, 16, 32, 64, 128}));
  EXPECT_TRUE(demo.variants[9].config.model.dws);
  EXPECT_EQ(demo.variants[9].config.loss.name, "dice");
  EXPECT_EQ(demo.variants[9].config.loss.side_name, "bce");
  // The demo's bridge is image_size / 2^(depth-1) = 4 pixels: every MuS rate must stay below it, or the
  // dilated branch is a 1x1 convolution (docs/MODELS.md).
  const auto& dm = demo.variants[9].config;
  const int bridge = dm.data.image_size >> (dm.model.widths.size() - 1);
  EXPECT_EQ(bridge, 4);
  for (int r : dm.model.mus_rates) EXPECT_LT(r, bridge) << "rate " << r;
}

// The other example studies (000, 004 and the composition study) load with the variants they promise.
TEST(Examples, ModelFamilyStudiesHaveTheirVariants) {
  auto load = [](const std::string& name) { return load_study(std::string(ABLATE_SOURCE_DIR) + "/examples/" + name); };
  auto names = [](const Study& s) {
    std::vector<std::string> n;
    for (const auto& v : s.variants) n.push_back(v.name);
    return n;
  };
  // DSMS U-Net (004): U-Net, DRS, KCMDRS, DSMSC; BCE, segmentation : reconstruction = 10 : 1.
  const Study dsms = load("dsms_table.toml");
  ASSERT_EQ(dsms.variants.size(), 4u);
  EXPECT_EQ(names(dsms), (std::vector<std::string>{"unet", "drs-unet", "kcmdrs-unet", "dsmsc-unet"}));
  const bool restoration[4] = {false, true, true, true};
  const char* msc[4] = {"none", "none", "kcm", "msc"};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(dsms.variants[i].config.model.restoration, restoration[i]) << i;
    EXPECT_EQ(dsms.variants[i].config.model.msc, msc[i]) << i;
    EXPECT_EQ(dsms.variants[i].config.loss.name, "bce");
    EXPECT_DOUBLE_EQ(dsms.variants[i].config.loss.recon_weight / dsms.variants[i].config.loss.main_weight, 0.1);
  }
  // MDA-U-Net* K sweep: the full model (aux path, DSPA, CA, cascade) at K = 1, 5, 10, 20, 40; baseline K = 10.
  const Study k = load("mda_k_sweep.toml");
  ASSERT_EQ(k.variants.size(), 5u);
  const int ks[5] = {1, 5, 10, 20, 40};
  for (int i = 0; i < 5; ++i) {
    const ModelConfig& m = k.variants[i].config.model;
    EXPECT_EQ(m.dspa_k, ks[i]);
    EXPECT_TRUE(m.aux_path && m.dspa && m.ca) << i;
    EXPECT_EQ(m.msc, "cascade");
    EXPECT_DOUBLE_EQ(k.variants[i].config.loss.aux_weight / k.variants[i].config.loss.main_weight, 0.1);
  }
  EXPECT_EQ(k.variants[0].config.report.baseline, "dspa_k10");
  // lambda sweep: its own [sweep] replaces the included K sweep (10 variants, not 10 x 5), K fixed at 10.
  const Study lambda = load("mda_lambda_sweep.toml");
  ASSERT_EQ(lambda.variants.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    const VariantConfig& c = lambda.variants[i].config;
    EXPECT_EQ(c.model.dspa_k, 10);
    EXPECT_DOUBLE_EQ(c.loss.main_weight, 1.0);
    EXPECT_NEAR(c.loss.aux_weight, 0.1 * (i + 1), 1e-12);
    EXPECT_TRUE(c.model.aux_path && c.model.dspa && c.model.ca);
  }
  EXPECT_EQ(lambda.variants[0].config.report.baseline, "aux_weight0.1");
  EXPECT_EQ(lambda.variants[0].name, "aux_weight0.1");
  // Kernel variants x CoA/MuS: 4 x 4, with the plain U-Net (no skip module) as the baseline.
  const Study kx = load("kernels_x_coa_mus.toml");
  ASSERT_EQ(kx.variants.size(), 16u);
  const auto kn = names(kx);
  EXPECT_NE(std::find(kn.begin(), kn.end(), "unet_mscnone"), kn.end());
  EXPECT_EQ(kx.variants[0].config.report.baseline, "unet_mscnone");
  int plain = 0;
  for (const auto& v : kx.variants) {
    const ModelConfig& m = v.config.model;
    if (!m.cc && !m.sc && !m.mus && m.msc == "none") ++plain;
    EXPECT_EQ(m.cc, m.sc) << v.name << ": CoA is CC and SC together";
  }
  EXPECT_EQ(plain, 1);
}

// 003 Table 6: ANU-Net pruned at L1..L4 (L4 unpruned), every row the same trained network (nested skips,
// gates, deep supervision) with eq. 8's loss over the four heads.
TEST(Examples, AnuNetTable6HasTheFourPruningLevels) {
  const Study s = load_study(std::string(ABLATE_SOURCE_DIR) + "/examples/anunet_table6.toml");
  ASSERT_EQ(s.variants.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    const VariantConfig& c = s.variants[i].config;
    EXPECT_EQ(s.variants[i].name, "anu-net-l" + std::to_string(i + 1));
    EXPECT_EQ(c.model.prune_level, i + 1);
    EXPECT_TRUE(c.model.nested && c.model.attention_gates && c.model.nested_supervision);
    EXPECT_EQ(c.model.widths, (std::vector<int>{32, 64, 128, 256, 512}));
    EXPECT_EQ(c.model.nested_layout, "shared");  // with conv_bias: Table 6's parameter counts (trainer_model_test)
    EXPECT_TRUE(c.model.conv_bias);
    EXPECT_EQ(c.loss.name, "dice_focal_bce");
    EXPECT_EQ(c.loss.dice_denominator, "squares");
    EXPECT_DOUBLE_EQ(c.loss.main_weight, 1.0);
    EXPECT_DOUBLE_EQ(c.loss.side_weight, static_cast<double>(c.model.widths.size() - 2));  // eq. 8: a sum over 4 heads
    EXPECT_EQ(c.data.image_size, 256);
    EXPECT_DOUBLE_EQ(c.data.window_min, -200.0);
    EXPECT_DOUBLE_EQ(c.data.window_max, 200.0);
    ASSERT_EQ(c.study.split.size(), 3u);
    EXPECT_NEAR((c.study.split[0] + c.study.split[1]) / c.study.split[2], 5.0, 1e-5);  // 5 : 1
    EXPECT_EQ(c.report.baseline, "anu-net-l4");
  }
  // Only the prune level differs between the rows.
  EXPECT_EQ(changed_keys(s.variants[0].canonical, s.variants[3].canonical), std::vector<std::string>{"model.prune_level"});
}

// 002 Table I: the six rows of the multi-scale guided network, 3-fold cross-validation, eq. 11's weights, DSC /
// VS / MSD (assd) in the report; the demo-scale child keeps the rows and the protocol at tiny widths.
TEST(Examples, MsgaTable1HasTheSixRowsOf002) {
  auto load = [](const std::string& name) { return load_study(std::string(ABLATE_SOURCE_DIR) + "/examples/" + name); };
  for (const char* file : {"msga_table1.toml", "msga_table1_demo.toml"}) {
    SCOPED_TRACE(file);
    const Study s = load(file);
    ASSERT_EQ(s.variants.size(), 6u);
    const char* attention[6] = {"none", "pam", "cam", "pam_cam", "pam_cam", "pam_cam"};
    const int refinements[6] = {1, 1, 1, 1, 2, 2};
    for (int i = 0; i < 6; ++i) {
      const VariantConfig& c = s.variants[i].config;
      EXPECT_EQ(c.model.backbone, "resnet") << i;
      EXPECT_EQ(c.model.attention, attention[i]) << i;
      EXPECT_EQ(c.model.refinements, refinements[i]) << i;
      EXPECT_EQ(c.model.semantic_guidance, i == 5) << i;
      EXPECT_EQ(c.model.resnet_blocks.size(), c.model.widths.size()) << i;
      EXPECT_EQ(c.study.folds, 3) << i;
      EXPECT_TRUE(c.study.split.empty()) << i;
      EXPECT_EQ(c.loss.name, "bce") << i;
      EXPECT_DOUBLE_EQ(c.loss.main_weight, 0.0);
      EXPECT_DOUBLE_EQ(c.loss.side_weight, 2.0 * c.model.widths.size());  // alpha = 1 over the 2S heads
      EXPECT_DOUBLE_EQ(c.loss.guided_weight, 0.25);
      EXPECT_DOUBLE_EQ(c.loss.recon_weight, 0.1);
      EXPECT_EQ(c.report.metrics, (std::vector<std::string>{"dice", "vs", "assd"}));
    }
    EXPECT_EQ(s.variants[0].name, "baseline");
    EXPECT_EQ(s.variants[5].name, "ms-dual-guided");
  }
  const Study full = load("msga_table1.toml");
  EXPECT_EQ(full.variants[0].config.model.widths, (std::vector<int>{64, 128, 256, 512}));
  EXPECT_EQ(full.variants[0].config.model.resnet_blocks, (std::vector<int>{3, 4, 23, 3}));  // ResNet-101
  EXPECT_EQ(full.variants[0].config.model.guided_width, 64);
  EXPECT_EQ(full.variants[0].config.data.label_groups.size(), 4u);  // liver, kidneys, spleen
}

// docs/STUDY.md's key reference is generated from the schema (`ablate plan --keys`): the generated part
// must be exactly what the schema gives now, every column of every key.
TEST(Docs, StudyReferenceDocumentsEveryKeyWithItsDefault) {
  std::ifstream in(std::string(ABLATE_SOURCE_DIR) + "/docs/STUDY.md");
  ASSERT_TRUE(in) << "docs/STUDY.md missing";
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string doc = buf.str();
  const auto start = doc.find("\n### [");
  ASSERT_NE(start, std::string::npos) << "docs/STUDY.md has no key reference";
  const std::string reference = key_reference_markdown();
  // The first line that differs, rather than both documents.
  std::istringstream have(doc.substr(start)), want(reference);
  std::string h, w;
  int line = 0;
  bool same = true;
  while (same) {
    const bool more_h = static_cast<bool>(std::getline(have, h)), more_w = static_cast<bool>(std::getline(want, w));
    ++line;
    if (!more_h && !more_w) break;
    same = more_h == more_w && h == w;
  }
  EXPECT_TRUE(same) << "docs/STUDY.md's key reference, line " << line << " of it:\n  " << h << "\nthe schema gives:\n  "
                    << w << "\nregenerate it: ablate plan --keys --update docs/STUDY.md";
  // And every key's row is in the document itself, with its default (whatever the line order).
  for (const auto& k : schema()) {
    const std::string row = "| `" + k.path + "` | `" + to_literal(k.get(VariantConfig{})) + "` | ";
    EXPECT_NE(doc.find(row, start), std::string::npos) << k.path;
  }
}
// The other tables and the figure of 001 as configurations of the same family, each a child of table2.toml
// (its data, split, training protocol and loss), with the rows the paper compares.
TEST(Examples, Table3To5AndFig5OfTheCentralPaper) {
  auto load = [](const std::string& name) { return load_study(std::string(ABLATE_SOURCE_DIR) + "/examples/" + name); };
  const Study t2 = load("table2.toml");
  const Study t3 = load("table3.toml");
  ASSERT_EQ(t3.variants.size(), 3u);
  const char* fusion[3] = {"serial", "add", "deep"};
  for (int i = 0; i < 3; ++i) {
    const ModelConfig& m = t3.variants[i].config.model;
    EXPECT_EQ(m.fusion, fusion[i]) << i;
    EXPECT_TRUE(m.cc && m.sc && m.mus && m.ec && m.dws) << i;  // the full model: only the fusion differs
  }
  // "Ours" is Table II's full model: the same configuration, the same hash.
  EXPECT_EQ(t3.variants[2].hash, t2.variants.back().hash);
  EXPECT_EQ(t3.base.report.baseline, "ours");

  const Study t4 = load("table4.toml");
  ASSERT_EQ(t4.variants.size(), 3u);
  const char* loss[3] = {"dice", "bce", "ce_dice"};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(t4.variants[i].config.loss.name, loss[i]) << i;
    EXPECT_FALSE(t4.variants[i].config.model.dws) << i;  // U-Net: one output
  }
  EXPECT_EQ(t4.variants[0].hash, t2.variants.front().hash);  // the L_Dice row is Table II's U-Net row

  const Study t5 = load("table5.toml");
  ASSERT_EQ(t5.variants.size(), 6u);
  EXPECT_EQ(t5.variants[1].config.model.attention, "se");
  EXPECT_EQ(t5.variants[2].config.model.attention, "cbam");
  EXPECT_TRUE(t5.variants[5].config.model.cc && t5.variants[5].config.model.sc);
  EXPECT_EQ(t5.variants[5].hash, t2.variants[6].hash);  // U-Net+CoA as in Table II

  const Study f5 = load("fig5_alpha.toml");
  ASSERT_EQ(f5.variants.size(), 9u);
  for (std::size_t i = 0; i < 9; ++i) {
    const LossConfig& l = f5.variants[i].config.loss;
    EXPECT_NEAR(l.main_weight, 0.1 * (i + 1), 1e-12) << i;
    EXPECT_NEAR(l.main_weight + l.side_weight, 1.0, 1e-12) << i;  // alpha and 1 - alpha
    EXPECT_EQ(l.name, "dice");
    EXPECT_EQ(l.side_name, "bce");
    EXPECT_TRUE(f5.variants[i].config.model.dws);
  }
  EXPECT_EQ(f5.base.report.sweep_key, "loss.main_weight");
  EXPECT_EQ(f5.base.report.baseline, "alpha0.5");
}

