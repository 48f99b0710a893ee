// `ablate plan` on a study with an [ablation] design: the design matrix with a ✓ per component, where
// each point comes from, the fraction's generators and what the constraints left out.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "cli_util.hpp"

using cli_util::ablate;
using cli_util::kExamples;
using cli_util::Result;

TEST(CliDesign, PlanShowsTheDesignMatrix) {
  const Result r = ablate("plan " + kExamples + "table2_design.toml");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("design: add-one + cumulative over 5 component(s) (CC, SC, MuS, EC, DWS), baseline unet\n"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  variant        CC   SC   MuS  EC   DWS  from\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  unet           .    .    .    .    .    baseline\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  cc             ✓    .    .    .    .    add-one, cumulative\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  coag-musfu-ec  ✓    ✓    ✓    ✓    .    cumulative\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("10 variant(s) x 1 fold(s) x 1 repeat(s) = 10 task(s)"), std::string::npos) << r.out;
}

TEST(CliDesign, PlanSaysWhatConstraintsLeftOut) {
  const Result r = ablate("plan " + kExamples + "dsms_design.toml");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("left out by constraints (4):\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  unet             .    .    .    baseline, factorial\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  kcm              .    ✓    .    requires: KCM needs DRS\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  kcmdrs-unet-msc  ✓    ✓    ✓    excludes: KCM and MSC together\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4 variant(s)"), std::string::npos) << r.out;
}

TEST(CliDesign, PlanNamesTheFractionsGenerators) {
  const std::string study = "/tmp/ablate-cli-design-" + std::to_string(::getpid()) + ".toml";
  FILE* f = std::fopen(study.c_str(), "w");
  std::fputs("[model]\nwidths = [4, 8]\n[data]\nimage_size = 32\n[ablation]\ncomponents = [\n"
             "{ label = \"CC\", set = { \"model.cc\" = true } }, { label = \"SC\", set = { \"model.sc\" = true } },\n"
             "{ label = \"MuS\", set = { \"model.mus\" = true } }, { label = \"EC\", set = { \"model.ec\" = true } }]\n"
             "design = \"fractional\"\nfractional = { resolution = 4 }\n",
             f);
  std::fclose(f);
  const Result r = ablate("plan " + study);
  std::remove(study.c_str());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("fractional: 2^(4-1) = 8 runs of resolution 4, generators D = +ABC (A = CC, B = SC, C = MuS, D = EC)"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("8 variant(s)"), std::string::npos) << r.out;
}
