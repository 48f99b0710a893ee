// The `ablate data` and `ablate evaluate` verbs through the real binary: exit codes and the file names in
// their messages.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "cli_util.hpp"

namespace fs = std::filesystem;
using cli_util::ablate;
using CliRun = cli_util::Result;

namespace {

class CliData : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ablate_cli_data_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string path(const std::string& sub) const { return (root_ / sub).string(); }
  fs::path root_;
};

}  // namespace

TEST_F(CliData, SynthThenCheckIsClean) {
  const CliRun synth = ablate("data synth --out " + path("ds") + " --cases 3 --size 32 --slices 4 --seed 3");
  ASSERT_EQ(synth.code, 0) << synth.out;
  EXPECT_TRUE(fs::exists(path("ds/dataset.json")));
  EXPECT_TRUE(fs::exists(path("ds/labelsTr/synth_002.nii.gz")));
  const CliRun check = ablate("data check " + path("ds"));
  EXPECT_EQ(check.code, 0) << check.out;
  EXPECT_NE(check.out.find("cases: 3 listed, 3 readable"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("ok"), std::string::npos);
}

TEST_F(CliData, CheckReportsProblemsWithFileNamesAndExitCode2) {
  ASSERT_EQ(ablate("data synth --out " + path("ds") + " --cases 2 --size 32 --slices 4").code, 0);
  fs::remove(path("ds/imagesTr/synth_001.nii.gz"));
  const CliRun check = ablate("data check " + path("ds"));
  EXPECT_EQ(check.code, 2) << check.out;
  EXPECT_NE(check.out.find("problem: " + path("ds/imagesTr/synth_001.nii.gz") + ": image file missing"), std::string::npos)
      << check.out;
  EXPECT_EQ(ablate("data check " + path("nowhere")).code, 2);
}

TEST_F(CliData, UsageErrors) {
  EXPECT_EQ(ablate("data").code, 2);
  EXPECT_EQ(ablate("data frobnicate").code, 2);
  EXPECT_EQ(ablate("data synth").code, 2);
  EXPECT_EQ(ablate("data synth --out " + path("x") + " --size 3").code, 2);
  EXPECT_EQ(ablate("evaluate --pred " + path("a")).code, 2);
  EXPECT_EQ(ablate("evaluate --pred " + path("a") + " --gt " + path("b") + " --labels x").code, 2);
}

TEST_F(CliData, EvaluateGroundTruthAgainstItselfIsPerfectAndWritesCsv) {
  ASSERT_EQ(ablate("data synth --out " + path("ds") + " --cases 2 --size 32 --slices 4").code, 0);
  const CliRun r = ablate("evaluate --pred " + path("ds/labelsTr") + " --gt " + path("ds/labelsTr") + " --labels 1+2 --out " +
                       path("m.csv"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("synth_000"), std::string::npos) << r.out;
  std::ifstream in(path("m.csv"));
  std::string header, row;
  std::getline(in, header);
  std::getline(in, row);
  EXPECT_EQ(header.rfind("case,label,predictor,dice,iou,sensitivity,precision,specificity,vs,assd,hd95,dice_2d,", 0), 0u)
      << header;
  EXPECT_EQ(ablate("evaluate --pred " + path("ds/labelsTr") + " --gt " + path("ds/labelsTr") + " --axis 3").code, 2);
  EXPECT_EQ(row.rfind("synth_000,1+2,prediction,1.000000,1.000000,", 0), 0u) << row;
  // The trivial predictors beside it: all background scores DSC 0 on a case that holds the organ, and
  // the table shows their means.
  std::string rest((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(rest.find("\nsynth_000,1+2,all_background,0.000000,"), std::string::npos) << rest;
  EXPECT_NE(rest.find("\nmean,1+2,all_foreground,"), std::string::npos) << rest;
  EXPECT_NE(r.out.find("trivial predictors"), std::string::npos) << r.out;
  // A missing prediction: named, exit 1.
  fs::create_directories(path("pred"));
  fs::copy_file(path("ds/labelsTr/synth_000.nii.gz"), path("pred/synth_000.nii.gz"));
  const CliRun missing = ablate("evaluate --pred " + path("pred") + " --gt " + path("ds/labelsTr"));
  EXPECT_EQ(missing.code, 1) << missing.out;
  EXPECT_NE(missing.out.find("synth_001.nii.gz: no prediction"), std::string::npos) << missing.out;
}
