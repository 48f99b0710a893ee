// Bounded inputs of the study loader: study and include files are read only when they are regular files
// of a bounded size (no device read without end, no FIFO that blocks), and a study that would expand to
// more tasks than study.max_tasks is refused before anything is expanded.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "ablations/study.hpp"
#include "hardening_util.hpp"

using namespace ablate;
using hardening::TempDir;

namespace {

std::string only_error(const std::string& path) {
  try {
    load_study(path);
  } catch (const SpecError& e) {
    if (e.diagnostics().size() != 1) return "expected one problem, got: " + std::string(e.what());
    return e.diagnostics()[0].str();
  }
  return "no error";
}

std::string only_error_of_text(const std::string& text) {
  try {
    load_study_text(text, "/tmp/s.toml");
  } catch (const SpecError& e) {
    if (e.diagnostics().size() != 1) return "expected one problem, got: " + std::string(e.what());
    return e.diagnostics()[0].str();
  }
  return "no error";
}

}  // namespace

TEST(StudyLimits, DeviceIncludeIsRefusedNotRead) {
  TempDir dir;
  const std::string study = dir.write("s.toml", "include = \"/dev/zero\"\n");
  EXPECT_EQ(only_error(study), study + ":1:11: `include`: cannot read base study `/dev/zero`: not a regular file (a device, "
                                       "FIFO or socket), expected a study file (.toml)");
}

TEST(StudyLimits, FifoIncludeOrStudyIsRefusedWithoutBlocking) {
  TempDir dir;
  ASSERT_EQ(mkfifo((dir / "pipe.toml").c_str(), 0600), 0);
  const std::string study = dir.write("s.toml", "include = \"pipe.toml\"\n");
  EXPECT_EQ(only_error(study), study + ":1:11: `include`: cannot read base study `" + dir.path() +
                                   "/pipe.toml`: not a regular file (a device, FIFO or socket), expected a study file (.toml)");
  EXPECT_EQ(only_error(dir / "pipe.toml"),
            dir / "pipe.toml: not a regular file (a device, FIFO or socket), expected a study file (.toml)");
}

TEST(StudyLimits, OversizedIncludeIsRefused) {
  TempDir dir;
  dir.write("big.toml", std::string(kMaxStudyFileBytes + 1, '#'));
  const std::string study = dir.write("s.toml", "include = \"big.toml\"\n");
  EXPECT_EQ(only_error(study), study + ":1:11: `include`: cannot read base study `" + dir.path() + "/big.toml`: it has " +
                                   std::to_string(kMaxStudyFileBytes + 1) + " bytes; a study file may have at most " +
                                   std::to_string(kMaxStudyFileBytes));
  // A file at the limit is read (a comment only: an empty study).
  dir.write("big.toml", std::string(kMaxStudyFileBytes, '#'));
  EXPECT_EQ(only_error(study), "no error");
}

TEST(StudyLimits, RunawaySweepIsRefusedBeforeExpansion) {
  // 100 x 100 x 100 = a million variants x 5 folds: refused at once, naming the count and the key.
  std::string values;
  for (int i = 1; i <= 100; ++i) values += (i > 1 ? ", " : "") + std::to_string(i);
  const std::string text = "[sweep]\n\"train.epochs\" = [" + values + "]\n\"train.steps_per_epoch\" = [" + values +
                           "]\n\"data.empty_slice_ratio\" = [" + [] {
                             std::string f;
                             for (int i = 0; i < 100; ++i) f += (i ? ", " : "") + std::to_string(i / 100.0);
                             return f;
                           }() + "]\n";
  EXPECT_EQ(only_error_of_text(text),
            "/tmp/s.toml:2:1: `study.max_tasks`: the study expands to 1000000 variant(s) (1 declared x a [sweep] grid of 100 "
            "x 100 x 100) x 5 fold(s) x 1 repeat(s) = 5000000 tasks, more than study.max_tasks = 10000; shrink the sweep, or "
            "raise study.max_tasks in [study] (at most 1000000) if so many are meant");
}

TEST(StudyLimits, MaxTasksCountsVariantsFoldsAndRepeats) {
  const std::string sweep = "[sweep]\n\"loss.alpha\" = [0.1, 0.2, 0.3]\n";
  // 2 declared variants x 3 points x 2 folds x 2 repeats = 24 tasks.
  const std::string variants = "[[ablation.variant]]\nname = \"a\"\n[[ablation.variant]]\nname = \"b\"\n";
  const std::string study = "[study]\nfolds = 2\nrepeats = 2\nmax_tasks = ";
  const std::string refused = only_error_of_text(study + "23\n" + variants + sweep);
  EXPECT_NE(refused.find("6 variant(s) (2 declared x a [sweep] grid of 3) x 2 fold(s) x 2 repeat(s) = 24 tasks, more "
                         "than study.max_tasks = 23"),
            std::string::npos)
      << refused;
  Study s = load_study_text(study + "24\n" + variants + sweep, "/tmp/s.toml");
  EXPECT_EQ(s.variants.size(), 6u);
  // The limit changes no result: it is neither hashed nor in the canonical text workers receive.
  Study t = load_study_text(study + "1000\n" + variants + sweep, "/tmp/s.toml");
  EXPECT_EQ(s.variants[0].hash, t.variants[0].hash);
  EXPECT_EQ(s.variants[0].canonical, t.variants[0].canonical);
  EXPECT_EQ(s.variants[0].canonical.find("max_tasks"), std::string::npos);
  // A fixed split has one fold.
  EXPECT_EQ(only_error_of_text("[study]\nsplit = [0.6, 0.2, 0.2]\nmax_tasks = 3\n" + sweep), "no error");
  // It is the study's: a variant cannot set it.
  EXPECT_NE(only_error_of_text("[[ablation.variant]]\nname = \"a\"\n\"study.max_tasks\" = 5\n").find("cannot be set in an [[ablation.variant]]"),
            std::string::npos);
}

TEST(StudyLimits, LabelInTwoGroupsIsRefusedAtLoad) {
  EXPECT_EQ(only_error_of_text("[data]\nlabel_groups = [[1, 2], [2]]\n"),
            "/tmp/s.toml:2:16: `data.label_groups`: variant `base`: source label 2 is in group 0 and group 1: classes are "
            "exclusive, so each source label belongs to one group (for nested regions such as pancreas incl. tumour and "
            "tumour, run one study with [[1, 2]] and one with [[2]])");
  EXPECT_NE(only_error_of_text("[data]\nlabel_groups = [[1, 1]]\n").find("source label 1 is twice in group 0"), std::string::npos);
  EXPECT_EQ(only_error_of_text("[data]\nlabel_groups = [[1, 2], [3]]\n"), "no error");
}

TEST(StudyLimits, OverlongNamesAreRefused) {
  EXPECT_NE(only_error_of_text("[study]\nname = \"" + std::string(201, 'n') + "\"\n").find("at most 200 characters"),
            std::string::npos);
  EXPECT_EQ(only_error_of_text("[study]\nname = \"" + std::string(200, 'n') + "\"\n"), "no error");
  EXPECT_NE(only_error_of_text("[[ablation.variant]]\nname = \"" + std::string(300, 'v') + "\"\n")
                .find("a name of 300 characters is not allowed: at most 200"),
            std::string::npos);
}

TEST(StudyLimits, ControlCharactersArePrintedEscaped) {
  Diagnostic d{"f.toml", 1, 2, std::string("a\0b", 3), std::string("x\0y\x1b[31m", 8)};
  EXPECT_EQ(d.str(), "f.toml:1:2: `a\\0b`: x\\0y\\x1b[31m");
}
