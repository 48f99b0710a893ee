// Bounded inputs of the study loader: study and include files are read only when they are regular files
// of a bounded size (no device read without end, no FIFO that blocks), and a study that would expand to
// more tasks than study.max_tasks is refused before anything is expanded.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <functional>
#include <string>
#include <vector>

#include "ablations/schema.hpp"
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

// --- Every size is counted before anything is built (issue 25).

namespace {

// A design over k components, component i setting `key` to value(i), one component per line (line i + 5).
std::string design_study(int k, const std::string& design, const std::string& key,
                         const std::function<std::string(int)>& value, const std::string& study = "") {
  std::string text = "[study]\nname = \"d\"\n" + study + "[ablation]\ndesign = \"" + design + "\"\ncomponents = [\n";
  for (int i = 0; i < k; ++i) {
    text += "  { label = \"C" + std::to_string(i) + "\", set = { \"" + key + "\" = " + value(i) + " } },\n";
  }
  return text + "]\n";
}

std::vector<std::string> all_errors(const std::string& text, const std::vector<std::string>& overrides = {}) {
  std::vector<std::string> out;
  try {
    load_study_text(text, "/tmp/s.toml", overrides);
  } catch (const SpecError& e) {
    for (const auto& d : e.diagnostics()) out.push_back(d.str());
  }
  return out;
}

std::string cli_study(const TempDir& dir, const std::string& text) { return dir.write("s.toml", text); }

// How many of the lines hold `text`.
int lines_with(const std::vector<std::string>& lines, const std::string& text) {
  int n = 0;
  for (const auto& line : lines) n += line.find(text) != std::string::npos;
  return n;
}

// "1,1,...,1": one value n times.
std::string ones(int n) {
  std::string values = "1";
  for (int i = 1; i < n; ++i) values += ",1";
  return values;
}

}  // namespace

TEST(StudyLimits, ManyComponentsAreRefusedBeforeAnyPointIsBuilt) {
  // 64 components that all set one key differently: 2^64 points, and 2^62 conflicting pairs per pair of
  // components, were the design expanded. The one problem is the limit; no point is named.
  const std::string text = design_study(64, "factorial", "train.epochs", [](int i) { return std::to_string(i + 1); });
  const auto e = all_errors(text);
  ASSERT_EQ(e.size(), 1u) << ::testing::PrintToString(e);
  EXPECT_EQ(e[0], "/tmp/s.toml:5:14: `ablation.components`: 64 components: at most 16 (a factorial of k components "
                  "has 2^k points)");
  // The same through the binary: exit 2, the problem on stderr, no abort and no flood.
  TempDir dir;
  const auto r = hardening::ablate_run({"plan", cli_study(dir, text)});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("64 components: at most 16"), std::string::npos) << r.out;
  EXPECT_LT(r.out.size(), 2000u) << r.out;
}

TEST(StudyLimits, DesignSizeIsCountedAgainstMaxTasksBeforeExpansion) {
  // 2^16 points x 5 folds: refused by its count, at [ablation], before generate_design runs.
  const auto key = [](int i) { return std::string(i % 2 ? "true" : "false"); };
  std::string text = design_study(16, "factorial", "model.cc", key);
  EXPECT_EQ(all_errors(text),
            (std::vector<std::string>{
                "/tmp/s.toml:3:1: `study.max_tasks`: the study expands to 65536 variant(s) (a factorial design of 2^16 "
                "= 65536 points) x 5 fold(s) x 1 repeat(s) = 327680 tasks, more than study.max_tasks = 10000; shrink "
                "the sweep, or raise study.max_tasks in [study] (at most 1000000) if so many are meant"}));
  // Sizes of the other designs with the baseline: add-one 1 + k, leave-one-out 1 + (k + 1), cumulative
  // 1 + k. 10 components, 2 folds: limits just below and at.
  const auto sized = [&](const std::string& design, int max_tasks) {
    return design_study(10, design, "model.cc", [](int) { return std::string("true"); },
                        "folds = 2\nmax_tasks = " + std::to_string(max_tasks) + "\n");
  };
  for (const auto& [design, points] : std::vector<std::pair<std::string, int>>{
           {"add-one", 11}, {"leave-one-out", 12}, {"cumulative", 11}, {"factorial", 1024}}) {
    const auto refused = all_errors(sized(design, 2 * points - 1));
    ASSERT_EQ(refused.size(), 1u) << design << ": " << ::testing::PrintToString(refused);
    EXPECT_NE(refused[0].find("the study expands to " + std::to_string(points) + " variant(s)"), std::string::npos)
        << refused[0];
    // At the limit the design loads, with exactly the counted points (the components set one value: no conflict).
    const Study s = load_study_text(sized(design, 2 * points), "/tmp/s.toml");
    EXPECT_EQ(s.variants.size(), static_cast<std::size_t>(points)) << design;
  }
  // The design and a grid multiply: 11 add-one points x 3 values x 2 folds = 66.
  const std::string grid = "[sweep]\n\"loss.alpha\" = [0.1, 0.2, 0.3]\n";
  EXPECT_NE(all_errors(sized("add-one", 65) + grid).at(0).find("33 variant(s) (11 declared: a design of 11 points x a "
                                                                "[sweep] grid of 3)"),
            std::string::npos);
  EXPECT_EQ(load_study_text(sized("add-one", 66) + grid, "/tmp/s.toml").variants.size(), 33u);
}

TEST(StudyLimits, ComponentsSettingOneKeyDifferentlyAreReportedOncePerPairWithACount) {
  // 12 components set train.epochs to 12 values: every pair conflicts in the 2^10 points that hold
  // both. One problem per pair, its other points counted; past ten problems of one kind, a count.
  const std::string text = design_study(12, "factorial", "train.epochs", [](int i) { return std::to_string(i + 1); },
                                        "max_tasks = 1000000\n");
  const auto e = all_errors(text);
  ASSERT_EQ(e.size(), 11u) << ::testing::PrintToString(e);
  EXPECT_EQ(e[0], "/tmp/s.toml:8:44: `ablation.components`: components `C0` and `C1` set `train.epochs` to different "
                  "values in design point `c0-c1` and 1023 more: add excludes = [[\"C0\", \"C1\"]]");
  // 66 pairs: 10 shown, 56 counted in one line.
  EXPECT_EQ(lines_with(e, "… and 56 more of the same kind"), 1) << ::testing::PrintToString(e);
}

TEST(StudyLimits, RepeatedProblemsOfOneKeyAreCounted) {
  // A grid axis that lists one value 50001 times: ten problems and one count, not 50000 lines.
  const auto e = all_errors("[sweep]\n\"train.epochs\" = [" + ones(50001) + "]\n");
  ASSERT_EQ(e.size(), 11u);
  EXPECT_EQ(e[0], "/tmp/s.toml:2:21: `sweep.train.epochs`: value 1 is listed twice (first at 2:19); variant names must "
                  "be unique");
  EXPECT_EQ(lines_with(e, "`sweep.train.epochs`: … and 49,990 more of the same kind"), 1) << ::testing::PrintToString(e);
}

TEST(StudyLimits, GridAxisLengthIsCountedBeforeItsValuesAreRead) {
  // 100001 values (duplicates or not): refused by the count alone, the only problem, nothing expanded.
  EXPECT_EQ(all_errors("[study]\nmax_tasks = 1000000\nsplit = [0.6, 0.2, 0.2]\n[sweep]\n\"train.epochs\" = [" + ones(100001) + "]\n"),
            (std::vector<std::string>{"/tmp/s.toml:5:18: `sweep.train.epochs`: 100001 values: a grid axis has at most "
                                      "100000 (as a search has at most 100000 trials)"}));
}

TEST(StudyLimits, SobolPastItsKeysStopsBeforeSampling) {
  // 33 sampled keys: the problem is reported and nothing is sampled (the sampler has 32 dimensions;
  // sampling went on to abort(), exit 134 with nothing said).
  // 33 keys, each choosing its default value (any other would need the key's range).
  std::string keys;
  int n = 0;
  const VariantConfig defaults;
  for (const auto& k : schema()) {
    if (n == 33) break;
    const bool scalar = k.type == ValueType::kBool || k.type == ValueType::kInt || k.type == ValueType::kFloat;
    if (!scalar || !k.in_canonical || !k.study_wide.empty() || k.path.rfind("train.select", 0) == 0) continue;
    keys += "\"" + k.path + "\" = { choice = [" + to_literal(k.get(defaults)) + "] }\n";
    ++n;
  }
  ASSERT_EQ(n, 33);
  const std::string text = "[sweep]\nmethod = \"sobol\"\ntrials = 4\n" + keys;
  const auto e = all_errors(text);
  ASSERT_FALSE(e.empty());
  EXPECT_EQ(lines_with(e, "sobol samples at most 32 keys"), 1) << ::testing::PrintToString(e);
  TempDir dir;
  const auto r = hardening::ablate_run({"plan", cli_study(dir, text)});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.signal, 0);
  EXPECT_NE(r.out.find("sobol samples at most 32 keys"), std::string::npos) << r.out;
}

// --- Inputs: size, type, one value.

TEST(StudyLimits, ProcFilesAreReadToTheirEndNotAsEmpty) {
  // /proc/self/status has size 0 by stat and a content: it is read (and is no TOML), never taken as an
  // empty base study.
  TempDir dir;
  const std::string study = dir.write("s.toml", "include = \"/proc/self/status\"\n");
  const std::string e = only_error(study);
  EXPECT_EQ(e.rfind("/proc/self/status:1:", 0), 0u) << e;
  std::string text;
  EXPECT_EQ(read_study_file("/proc/self/status", text), "");
  EXPECT_NE(text.find("Name:"), std::string::npos);
}

TEST(StudyLimits, SetTakesExactlyOneValueOnOneLine) {
  // A line break would apply the first line and record the rest.
  EXPECT_EQ(all_errors("", {"train.epochs=3\n[ablation]"}),
            (std::vector<std::string>{"--set train.epochs=3\\x0a[ablation]: `train.epochs`: the value holds a line "
                                      "break: --set takes exactly one value, on one line"}));
  EXPECT_EQ(all_errors("", {"study.name=a\nb"}).size(), 1u);
  EXPECT_EQ(all_errors("", {"train.epochs=3\r"}).size(), 1u);
  // Bare text for a string key is the string, also where TOML would read it as something else (a time).
  const Study s = load_study_text("", "/tmp/s.toml", {"resources.time=00:20:00", "model.msc=kcm"});
  EXPECT_EQ(s.base.resources.time, "00:20:00");
  EXPECT_EQ(s.base.model.msc, "kcm");
  EXPECT_EQ(load_study_text("", "/tmp/s.toml", {"resources.time=\"01:00:00\""}).base.resources.time, "01:00:00");
  // Still checked as the key: a time that is no Slurm time limit is refused.
  const auto bad = all_errors("", {"resources.time=25:99:99:99"});
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_NE(bad[0].find("a Slurm time limit"), std::string::npos) << bad[0];
  // A number key takes no text.
  EXPECT_NE(all_errors("", {"train.lr=fast"}).at(0).find("`fast` is not a value"), std::string::npos);
}

// --- Settings that would be accepted and ignored, refused where they are written.

TEST(StudyLimits, TpeStartupBeyondTrialsIsRefused) {
  EXPECT_EQ(all_errors("[sweep]\nmethod = \"tpe\"\ntrials = 4\nstartup = 5\n\"loss.alpha\" = { uniform = [0.1, 0.9] }\n"),
            (std::vector<std::string>{"/tmp/s.toml:4:11: `sweep.startup`: startup = 5 is more than trials = 4: every "
                                      "trial would be random; allowed 1 <= startup <= trials (or use method = \"random\")"}));
  EXPECT_EQ(all_errors("[sweep]\nmethod = \"tpe\"\ntrials = 4\nstartup = 4\n\"loss.alpha\" = { uniform = [0.1, 0.9] }\n"),
            std::vector<std::string>{});
}

TEST(StudyLimits, EarlyStopKeysTheMethodDoesNotReadAreRefused) {
  const std::string head = "[train]\nepochs = 9\n[[ablation.variant]]\nname = \"a\"\n[sweep.early_stop]\n";
  EXPECT_EQ(all_errors(head + "method = \"median\"\nrungs = [3, 9]\nreduction = 3\n"),
            (std::vector<std::string>{"/tmp/s.toml:8:13: `sweep.early_stop.reduction`: reduction is not used by method "
                                      "= \"median\" (it goes with \"asha\" or \"hyperband\"); remove it"}));
  EXPECT_EQ(all_errors(head + "method = \"asha\"\nrungs = [3, 9]\nstartup_trials = 2\n"),
            (std::vector<std::string>{"/tmp/s.toml:8:18: `sweep.early_stop.startup_trials`: startup_trials is not used "
                                      "by method = \"asha\" (it goes with \"median\"); remove it"}));
  EXPECT_EQ(all_errors(head + "method = \"asha\"\nrungs = [3, 9]\nbrackets = 2\n"),
            (std::vector<std::string>{"/tmp/s.toml:8:12: `sweep.early_stop.brackets`: brackets is not used by method = "
                                      "\"asha\" (it goes with \"hyperband\"); remove it"}));
  EXPECT_EQ(all_errors(head + "method = \"hyperband\"\nrungs = [3, 9]\nstartup_trials = 2\n"),
            (std::vector<std::string>{"/tmp/s.toml:8:18: `sweep.early_stop.startup_trials`: startup_trials is not used "
                                      "by method = \"hyperband\" (it goes with \"median\"); remove it"}));
  // Hyperband's brackets: one per rung at most, at the key's value.
  EXPECT_EQ(all_errors(head + "method = \"hyperband\"\nrungs = [3, 9]\nbrackets = 3\n"),
            (std::vector<std::string>{"/tmp/s.toml:8:12: `sweep.early_stop.brackets`: 3: allowed 1..2 (bracket b starts its "
                                      "trials at rung b of rungs = [3, 9]), or 0 for one per rung"}));
  // Each with the method that reads it is accepted.
  EXPECT_EQ(all_errors(head + "method = \"median\"\nrungs = [3, 9]\nstartup_trials = 2\n"), std::vector<std::string>{});
  EXPECT_EQ(all_errors(head + "method = \"asha\"\nrungs = [3, 9]\nreduction = 2\n"), std::vector<std::string>{});
  EXPECT_EQ(all_errors(head + "method = \"hyperband\"\nrungs = [3, 9]\nreduction = 2\nbrackets = 2\n"), std::vector<std::string>{});
}

// --- Messages that name the real problem.

TEST(StudyLimits, MessagesNameTheRealProblem) {
  // A refused distribution is the only problem: no "has no key to sample" on top.
  EXPECT_EQ(all_errors("[sweep]\nmethod = \"random\"\ntrials = 3\n\"loss.alpha\" = { uniform = [nan, 0.5] }\n"),
            (std::vector<std::string>{"/tmp/s.toml:4:28: `sweep.loss.alpha`: uniform: expected [low, high], two finite "
                                      "numbers (nan and inf bound nothing)"}));
  // A huge integer is out of range, not "not an integer".
  const std::string es = "[train]\nepochs = 9\n[[ablation.variant]]\nname = \"a\"\n[sweep.early_stop]\nmethod = \"asha\"\n";
  EXPECT_EQ(all_errors(es + "rungs = [3, 9]\nreduction = 10000000000\n"),
            (std::vector<std::string>{"/tmp/s.toml:8:13: `sweep.early_stop.reduction`: value 10000000000 is out of "
                                      "range: at most 1000000 in magnitude"}));
  // A rung problem points at `rungs`, not at the table.
  EXPECT_EQ(all_errors(es + "rungs = [3, 8]\n"),
            (std::vector<std::string>{"/tmp/s.toml:7:9: `sweep.early_stop.rungs`: [3, 8]: the last rung must be "
                                      "train.epochs (9)"}));
  // A hand-written variant named as a design point: the two are told apart.
  const auto e = all_errors(R"([ablation]
design = "add-one"
components = [{ label = "CC", set = { "model.cc" = true } }]
[[ablation.variant]]
name = "cc"
"loss.alpha" = 0.3
)");
  ASSERT_EQ(e.size(), 1u) << ::testing::PrintToString(e);
  EXPECT_NE(e[0].find("is produced twice: by design point `cc` (CC) and by variant `cc`"), std::string::npos) << e[0];
}

TEST(StudyLimits, InChannelsTheDataCannotFeedAreRefusedAtLoad) {
  // The data have one channel: a network built for three failed every task three times at its first batch.
  EXPECT_EQ(only_error_of_text("[model]\nin_channels = 3\n"),
            "/tmp/s.toml:2:15: `model.in_channels`: variant `base`: is 3 but the data have one channel (each case is one "
            "grey-value image); allowed 1");
  EXPECT_EQ(only_error_of_text("[model]\nin_channels = 1\n"), "no error");
}
