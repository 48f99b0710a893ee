// Demo scale (ablations/demo_scale.hpp): every example plans as written, at demo scale and at the tiny
// scale, through the `--set` layer; the shrinking rules on the examples that exercise them; the
// synthetic dataset's labels follow the study's classes; a study with more labels is refused by name.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "ablations/demo_scale.hpp"
#include "ablations/study.hpp"

namespace fs = std::filesystem;

namespace ablate {
namespace {

const std::string kExamples = std::string(ABLATE_SOURCE_DIR) + "/examples/";

std::vector<std::string> example_files() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kExamples))
    if (e.path().extension() == ".toml") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::map<std::string, std::string> as_map(const DemoScale& d) {
  std::map<std::string, std::string> m;
  for (const auto& o : d.overrides) m[o.substr(0, o.find('='))] = o.substr(o.find('=') + 1);
  return m;
}

DemoScale scale_of(const std::string& name, bool tiny = false) {
  DemoOptions o;
  o.data_dir = "/tmp/demo-data";
  o.tiny = tiny;
  return demo_scale(load_study(kExamples + name), o);
}

TEST(DemoScale, EveryExamplePlansAsWrittenAtDemoScaleAndTiny) {
  const auto files = example_files();
  ASSERT_GE(files.size(), 20u);
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    Study study;
    ASSERT_NO_THROW(study = load_study(f));
    for (bool tiny : {false, true}) {
      DemoOptions o;
      o.data_dir = "/tmp/demo-data";
      o.tiny = tiny;
      const DemoScale d = demo_scale(study, o);
      Study demo;
      try {
        demo = load_study(f, d.overrides);
      } catch (const SpecError& e) {
        ADD_FAILURE() << (tiny ? "tiny: " : "demo: ") << e.what();
        continue;
      }
      // The variants are the file's (a sampled search runs fewer trials of the same space).
      if (!study.search.sampled()) {
        ASSERT_EQ(demo.variants.size(), study.variants.size());
        for (std::size_t i = 0; i < demo.variants.size(); ++i)
          EXPECT_EQ(demo.variants[i].name, study.variants[i].name);
      }
      EXPECT_LE(demo.base.data.image_size, tiny ? 32 : 64);
      EXPECT_LE(demo.base.model.widths.front(), tiny ? 4 : 8);
      EXPECT_EQ(demo.base.train.epochs, tiny ? 1 : 10);
      EXPECT_EQ(demo.base.data.path, "/tmp/demo-data");
      // What is not the scale stays: metrics, published tables, the report's names.
      EXPECT_EQ(demo.base.report.metrics, study.base.report.metrics);
      EXPECT_EQ(demo.base.report.published, study.base.report.published);
      EXPECT_EQ(demo.base.data.intensity, study.base.data.intensity);
      EXPECT_EQ(demo.base.data.label_groups, study.base.data.label_groups);
    }
  }
}

TEST(DemoScale, Table2KeepsTheRatiosOfWidthsAndRates) {
  const auto m = as_map(scale_of("table2.toml"));
  EXPECT_EQ(m.at("model.widths"), "[8, 16, 32, 64, 128]");
  EXPECT_EQ(m.at("data.image_size"), "64");
  // Bridge 64 / 2^4 = 4: rates 6, 12, 18 -> 1, 2, 3 (the largest at bridge - 1).
  EXPECT_EQ(m.at("model.mus_rates"), "[1, 2, 3]");
  EXPECT_EQ(m.at("train.lr"), "0.003");
  EXPECT_EQ(m.at("train.steps_per_epoch"), "20");
  EXPECT_EQ(m.count("model.resnet_blocks"), 0u);    // not a resnet
  EXPECT_EQ(m.count("study.split"), 0u);            // the split protocol stays at demo scale
  EXPECT_EQ(m.at("resources.gpus_per_node"), "0");  // written for GPU nodes, run on the machine at hand
}

TEST(DemoScale, TheDemoFilesAreAlreadyAtDemoScale) {
  // table2_demo.toml's widths, size and rates are the rules' outcome: nothing of them is overridden.
  const auto m = as_map(scale_of("table2_demo.toml"));
  EXPECT_EQ(m.count("model.widths"), 0u);
  EXPECT_EQ(m.count("data.image_size"), 0u);
  EXPECT_EQ(m.count("model.mus_rates"), 0u);
  EXPECT_EQ(m.count("train.lr"), 0u);
}

TEST(DemoScale, FourOrgansGetFourSyntheticOrgans) {
  const DemoScale d = scale_of("msga_table1.toml");
  EXPECT_EQ(d.data.organs, 4);
  EXPECT_FALSE(d.data.tumour);
  EXPECT_NE(d.data.labels.find("class 1 (liver) = organ (label 1)"), std::string::npos) << d.data.labels;
  EXPECT_NE(d.data.labels.find("class 4 (spleen) = kidney-like organ L (label 4)"), std::string::npos)
      << d.data.labels;
  const auto m = as_map(d);
  EXPECT_EQ(m.at("model.resnet_blocks"), "[1, 1, 1, 1]");
  EXPECT_EQ(m.at("model.guided_width"), "8");
  EXPECT_EQ(m.at("model.widths"), "[8, 16, 32, 64]");
  EXPECT_EQ(d.data.cases, 10);
}

TEST(DemoScale, OneMergedClassIsOrganAndTumour) {
  const DemoScale d = scale_of("dsms_table.toml");
  EXPECT_EQ(d.data.organs, 1);
  EXPECT_TRUE(d.data.tumour);
  EXPECT_EQ(d.data.labels, "class 1 = organ (label 1) + tumour (label 2)");
}

TEST(DemoScale, ASearchRunsFewerTrialsOfItsSpace) {
  const auto m = as_map(scale_of("fig5_alpha_lr_tpe.toml"));
  EXPECT_EQ(m.at("sweep.trials"), "8");
  EXPECT_EQ(m.at("sweep.startup"), "4");
  // Its learning rate's range (1e-6..1e-3, for 150 epochs) moves around the demo's 3e-3.
  EXPECT_EQ(m.at("sweep.train.lr"), "{ log_uniform = [0.0003, 0.01] }");
  const Study demo = load_study(kExamples + "fig5_alpha_lr_tpe.toml", scale_of("fig5_alpha_lr_tpe.toml").overrides);
  EXPECT_EQ(demo.search.space[1].key, "train.lr");
  EXPECT_EQ(demo.search.space[1].low, 3e-4);
  EXPECT_EQ(as_map(scale_of("mda_lambda_k_sobol.toml", true)).at("sweep.trials"), "2");
}

TEST(DemoScale, TinyIsOneSplitOfOneShortEpoch) {
  const DemoScale d = scale_of("msga_table1.toml", true);
  const auto m = as_map(d);
  EXPECT_EQ(m.at("study.split"), "[0.5, 0.25, 0.25]");
  EXPECT_EQ(m.at("train.epochs"), "1");
  EXPECT_EQ(m.at("train.steps_per_epoch"), "2");
  EXPECT_EQ(m.at("model.widths"), "[4, 8, 16, 32]");
  EXPECT_EQ(d.data.cases, 4);
  EXPECT_EQ(d.data.size, 32);
}

TEST(DemoScale, MoreLabelsThanTheSyntheticDataHasAreRefused) {
  const Study s = load_study_text(
      "[study]\nname = \"six\"\n[data]\npath = \"x\"\nlabel_groups = [[1], [6]]\n", "six.toml");
  DemoOptions o;
  o.data_dir = "/tmp/d";
  try {
    demo_scale(s, o);
    FAIL() << "expected a SpecError";
  } catch (const SpecError& e) {
    EXPECT_NE(std::string(e.what()).find("six.toml"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("data.label_groups"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("at most 5 labels"), std::string::npos) << e.what();
  }
}

TEST(DemoScale, ExplicitBudgetWinsOverTheRule) {
  DemoOptions o;
  o.data_dir = "/tmp/d";
  o.epochs = 3;
  o.steps = 5;
  const auto m = as_map(demo_scale(load_study(kExamples + "table2.toml"), o));
  EXPECT_EQ(m.at("train.epochs"), "3");
  EXPECT_EQ(m.at("train.steps_per_epoch"), "5");
}

}  // namespace
}  // namespace ablate
