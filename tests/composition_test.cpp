// The composition suite (docs/STUDY.md "What combines with what"): every pair of features is proven to work
// together, or to be refused at `plan` with a message that names both.
//
// The factors are the features a user combines in one study: how deep the study is derived (`include` of 0,
// 1 or 2 files), what expands it (a variant list, a design, a grid, a random, Sobol, TPE or multi-objective
// TPE search on Dice and parameters), early
// stopping (none, ASHA, median, Hyperband), published tables (absent, present), shared trainings (variants that differ
// only in an evaluation-only key), `--set`, the launcher (one process, `mpirun -np 3`) and a job array
// (none, or the study also run as `--shard 0/2` and `--shard 1/2` and merged with `ablate merge`). The full
// product is 3 x 7 x 4 x 2 x 2 x 2 x 2 x 2 = 2688 studies; a covering array (every pair of levels in at least
// one cell) is about 30. The array is generated here, deterministically, not written by hand: adding a level or a
// factor regenerates it, and a test checks that every pair is covered.
//
// Each cell writes a tiny study (widths 4..8, 32 x 32 slices, 2 epochs of 2 steps, 2 folds), runs the real
// `ablate plan`, `ablate run` (in one process with two worker threads, or under mpirun) and `ablate report`,
// and checks the exit codes and the sections its features promise: effects for a design, the search section
// for a search, the reproduction section where published rows match a variant and the note that lists the
// rows that match none, stopped trials shown in the report and in `ablate status` alike, and for a job
// array a merged store whose results equal the one run's, bit for bit (training on the CPU with
// train.threads = 1 is deterministic).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli_util.hpp"
#include "db/store.hpp"
#include "mpi_util.hpp"
#include "results_util.hpp"

namespace {

namespace fs = std::filesystem;
using cli_util::ablate;
using cli_util::read_file;

// ---------------------------------------------------------------------------------------------------------
// The factors and the covering array.

struct Factor {
  const char* name;
  std::vector<std::string> levels;
};

enum FactorIndex { kInclude, kSpec, kEarlyStop, kPublished, kShared, kSet, kLauncher, kArray, kFactorCount };

const std::vector<Factor>& factors() {
  static const std::vector<Factor> f = {
      {"include", {"0", "1", "2"}},
      {"spec", {"variants", "design", "grid", "random", "sobol", "tpe", "motpe"}},
      {"early_stop", {"none", "asha", "median", "hyperband"}},
      {"published", {"absent", "present"}},
      {"shared", {"no", "yes"}},
      {"set", {"no", "yes"}},
      {"launcher", {"process", "mpirun"}},
      {"array", {"no", "shards"}},
  };
  return f;
}

using Cell = std::array<int, kFactorCount>;  // the level of each factor

// The pairs that are refused at `plan` (docs/STUDY.md "What combines with what"): no cell holds them, so the
// other pairs of a cell are proven by a run, and RefusedPairs proves the refusal. Several objectives
// (motpe) with early stopping: a rung ranks on one value. A job array with an adaptive search (tpe, motpe)
// or with early stopping: their next task depends on results the other elements hold.
bool refused(int a, int la, int b, int lb) {
  if (a > b) std::swap(a, b), std::swap(la, lb);
  const auto& f = factors();
  if (a == kSpec && b == kEarlyStop) return f[kSpec].levels[la] == "motpe" && lb != 0;
  const bool adaptive = a == kSpec && (f[kSpec].levels[la] == "tpe" || f[kSpec].levels[la] == "motpe");
  if (b == kArray && lb != 0) return adaptive || (a == kEarlyStop && la != 0);
  return false;
}

// A strength-2 covering array by the greedy one-row-at-a-time construction (Cohen et al.'s AETG): each new
// row starts from an uncovered pair and fills the other factors, in a seeded order, with the level that
// covers most uncovered pairs; of 32 candidate rows the one covering most is kept. A fixed SplitMix64 seed
// makes the array the same on every machine and every run.
std::vector<Cell> covering_array() {
  const auto& f = factors();
  auto pair_id = [&](int a, int la, int b, int lb) { return ((a * 16 + la) * 16 + b) * 16 + lb; };
  std::set<int> uncovered;
  for (int a = 0; a < kFactorCount; ++a)
    for (int b = a + 1; b < kFactorCount; ++b)
      for (int la = 0; la < static_cast<int>(f[a].levels.size()); ++la)
        for (int lb = 0; lb < static_cast<int>(f[b].levels.size()); ++lb)
          if (!refused(a, la, b, lb)) uncovered.insert(pair_id(a, la, b, lb));
  std::uint64_t state = 0x5eedc0de;
  auto next = [&]() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  auto gain = [&](const Cell& row, const std::vector<bool>& set) {
    int g = 0;
    for (int a = 0; a < kFactorCount; ++a)
      for (int b = a + 1; b < kFactorCount; ++b)
        if (set[a] && set[b] && uncovered.count(pair_id(a, row[a], b, row[b]))) ++g;
    return g;
  };
  std::vector<Cell> rows;
  while (!uncovered.empty()) {
    const int first = *uncovered.begin();
    Cell best{};
    int best_gain = -1;
    for (int candidate = 0; candidate < 32; ++candidate) {
      Cell row{};
      std::vector<bool> set(kFactorCount, false);
      // The first uncovered pair, decoded.
      const int lb = first % 16, b = (first / 16) % 16, la = (first / 256) % 16, a = first / 4096;
      row[a] = la, row[b] = lb, set[a] = set[b] = true;
      std::vector<int> order;
      for (int i = 0; i < kFactorCount; ++i)
        if (!set[i]) order.push_back(i);
      for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[next() % i]);
      for (int i : order) {
        int best_level = static_cast<int>(next() % f[i].levels.size()), most = -1;
        for (int l = 0; l < static_cast<int>(f[i].levels.size()); ++l) {
          bool allowed = true;
          for (int j = 0; j < kFactorCount; ++j)
            if (set[j] && j != i && refused(i, l, j, row[j])) allowed = false;
          if (!allowed) continue;
          row[i] = l, set[i] = true;
          const int g = gain(row, set);
          if (g > most) most = g, best_level = l;
        }
        row[i] = best_level;
      }
      const int g = gain(row, std::vector<bool>(kFactorCount, true));
      if (g > best_gain) best_gain = g, best = row;
    }
    for (int a = 0; a < kFactorCount; ++a)
      for (int b = a + 1; b < kFactorCount; ++b) uncovered.erase(pair_id(a, best[a], b, best[b]));
    rows.push_back(best);
  }
  return rows;
}

std::string level(const Cell& c, FactorIndex i) { return factors()[i].levels[c[i]]; }

std::string cell_name(const Cell& c, std::size_t index) {
  std::ostringstream o;
  o << "c" << (index < 10 ? "0" : "") << index << "_inc" << level(c, kInclude) << "_" << level(c, kSpec) << "_"
    << level(c, kEarlyStop) << (c[kPublished] ? "_pub" : "") << (c[kShared] ? "_shared" : "")
    << (c[kSet] ? "_set" : "") << (c[kLauncher] ? "_mpi" : "") << (c[kArray] ? "_array" : "");
  return o.str();
}

TEST(CompositionArray, CoversEveryPairOfLevelsInFewCells) {
  const auto rows = covering_array();
  const auto& f = factors();
  std::size_t product = 1;
  for (const auto& x : f) product *= x.levels.size();
  // The largest pair of factors bounds the array from below (spec x early stop: 28 pairs, 3 refused).
  EXPECT_GE(rows.size(), 25u);
  EXPECT_LE(rows.size(), 32u) << "the greedy array grew: the suite's cost grows with it";
  EXPECT_LT(rows.size() * 20, product);
  for (int a = 0; a < kFactorCount; ++a) {
    for (int b = a + 1; b < kFactorCount; ++b) {
      for (int la = 0; la < static_cast<int>(f[a].levels.size()); ++la) {
        for (int lb = 0; lb < static_cast<int>(f[b].levels.size()); ++lb) {
          const bool covered = std::any_of(rows.begin(), rows.end(),
                                           [&](const Cell& r) { return r[a] == la && r[b] == lb; });
          if (refused(a, la, b, lb)) {
            EXPECT_FALSE(covered) << f[a].name << "=" << f[a].levels[la] << " with " << f[b].name << "="
                                  << f[b].levels[lb] << " is refused at plan but in a cell";
            continue;
          }
          EXPECT_TRUE(covered) << f[a].name << "=" << f[a].levels[la] << " with " << f[b].name << "="
                               << f[b].levels[lb] << " is in no cell";
        }
      }
    }
  }
  // Deterministic: the same array twice.
  EXPECT_EQ(rows, covering_array());
}

// ---------------------------------------------------------------------------------------------------------
// The study of a cell.

// The settings every cell shares: tiny, and two epochs so that early stopping has two rungs.
std::string common_settings(const std::string& data_dir) {
  return "[data]\npath = \"" + data_dir +
         "\"\nimage_size = 32\n\n"
         "[model]\nwidths = [4, 8]\n\n"
         "[train]\nepochs = 2\nsteps_per_epoch = 2\nbatch_size = 2\nlr = 0.01\nthreads = 1\n\n";
}

// A paper's table as an included base study carries it: it names the base's three rows, of which a derived
// study keeps some (the base's own variant list is replaced by the derived study's).
const char* kBaseTable =
    "[[report.published]]\nsource = \"Paper Table II\"\nscale = \"percent\"\n[report.published.values]\n"
    "\"U-Net\" = { dice = 65.35 }\n\"U-Net+CC\" = { dice = 69.67 }\n\"U-Net+SC\" = { dice = 67.92 }\n\n";

// The study files of a cell in `dir`; returns the path of the one to run. Level by level:
// - include 0: one file; 1: it includes base.toml (data, model, train, the base's variants, baseline and,
//   with published tables, the paper's table); 2: it includes mid.toml, which includes base.toml.
// - spec: the study's own variant list / design / grid / search, which replaces the inherited variants.
// - published: with include 0 the study's own table (one row matches, one does not); with include >= 1 the
//   base's table, inherited.
// - shared: a second declared variant (or a design's hand-written row) that differs from the first only in
//   data.evaluate_at, an evaluation-only key: one training serves both where nothing forbids it.
std::string write_study(const Cell& c, const fs::path& dir, const std::string& data_dir, const std::string& name) {
  const std::string spec = level(c, kSpec);
  const int include = c[kInclude];
  const bool published = c[kPublished] == 1;
  const bool shared = c[kShared] == 1;
  std::ostringstream base;
  base << "[study]\nname = \"base\"\nseed = 3\nfolds = 2\nvalidation_fraction = 0.34\n\n"
       << common_settings(data_dir) << "[report]\nbaseline = \"unet\"\nmetrics = [\"dice\"]\n\n"
       << (published ? kBaseTable : "")
       << "[[ablation.variant]]\nname = \"unet\"\nlabel = \"U-Net\"\n\n"
          "[[ablation.variant]]\nname = \"cc\"\nlabel = \"U-Net+CC\"\n\"model.cc\" = true\n\n"
          "[[ablation.variant]]\nname = \"sc\"\nlabel = \"U-Net+SC\"\n\"model.sc\" = true\n\n";
  if (include >= 1) std::ofstream(dir / "base.toml") << base.str();
  if (include == 2) {
    std::ofstream(dir / "mid.toml") << "include = \"base.toml\"\n\n[train]\nlr = 0.02\n";
  }

  std::ostringstream s;
  if (include == 1) s << "include = \"base.toml\"\n\n";
  if (include == 2) s << "include = \"mid.toml\"\n\n";
  s << "[study]\nname = \"" << name << "\"\n";
  if (include == 0) {
    s << "seed = 3\nfolds = 2\nvalidation_fraction = 0.34\n\n" << common_settings(data_dir);
    s << "[report]\nmetrics = [\"dice\"]\n";
    if (spec == "variants" || spec == "design") s << "baseline = \"unet\"\n";
    s << "\n";
    if (published) {
      // The study's own table: U-Net is a variant of the variant list and of the design; EC-CaM-UNet is none.
      s << "[[report.published]]\nsource = \"Paper Table II\"\nscale = \"percent\"\n[report.published.values]\n"
           "\"U-Net\" = { dice = 65.35 }\n\"EC-CaM-UNet\" = { dice = 71.68 }\n\n";
    }
  }
  s << "\n";

  auto variant = [&](const std::string& n, const std::string& label, const std::string& sets) {
    s << "[[ablation.variant]]\nname = \"" << n << "\"\nlabel = \"" << label << "\"\n" << sets << "\n";
  };
  const std::string prepared = "\"data.evaluate_at\" = \"prepared\"\n";
  if (spec == "variants") {
    variant("unet", "U-Net", "");
    variant("cc", "U-Net+CC", "\"model.cc\" = true\n");
    if (shared) variant("cc-prep", "U-Net+CC (prepared grid)", "\"model.cc\" = true\n" + prepared);
  } else if (spec == "design") {
    s << "[ablation]\nbaseline = { name = \"unet\", label = \"U-Net\" }\n"
         "components = [{ label = \"CC\", set = { \"model.cc\" = true } }]\ndesign = \"add-one\"\n\n";
    if (shared) variant("unet-prep", "U-Net (prepared grid)", prepared);
  } else {
    // Grids and searches cross their points with the declared variants.
    variant("unet", "U-Net", "");
    if (shared) variant("unet-prep", "U-Net (prepared grid)", prepared);
    if (spec == "grid") {
      s << "[sweep]\n\"train.lr\" = [0.01, 0.03]\n\n";
    } else {
      s << "[sweep]\nmethod = \"" << spec << "\"\ntrials = 3\n"
        << (spec == "tpe" || spec == "motpe" ? "startup = 2\n" : "")
        << (spec == "motpe" ? "objectives = [\"dice\", \"params\"]\n" : "")
        << "\"train.lr\" = { log_uniform = [0.003, 0.03] }\n"
        // Networks of two sizes, so that Dice and parameters trade off.
        << (spec == "motpe" ? "\"model.widths\" = { choice = [[4, 8], [4, 4]] }\n\n" : "\n");
    }
  }
  const std::string es = level(c, kEarlyStop);
  if (es == "asha") s << "[sweep.early_stop]\nmethod = \"asha\"\nrungs = [1, 2]\nreduction = 2\n";
  if (es == "median") s << "[sweep.early_stop]\nmethod = \"median\"\nrungs = [1, 2]\nstartup_trials = 1\n";
  // Two brackets: one judged at epoch 1 first, one trained to the end.
  if (es == "hyperband") s << "[sweep.early_stop]\nmethod = \"hyperband\"\nrungs = [1, 2]\nreduction = 2\n";
  const fs::path study = dir / "study.toml";
  std::ofstream(study) << s.str();
  return study.string();
}

// ---------------------------------------------------------------------------------------------------------
// The cells.

class CompositionCell : public ::testing::TestWithParam<std::pair<std::size_t, Cell>> {
 protected:
  static void SetUpTestSuite() {
    mpi_util::allow_mpirun_as_root();
    data_dir_ = new cli_util::TempDir("ablate-composition-data");
    const auto r = ablate("data synth --out " + (*data_dir_ / "data") + " --cases 6 --size 32 --slices 4 --seed 5");
    ASSERT_EQ(r.code, 0) << r.out;
  }
  static void TearDownTestSuite() {
    delete data_dir_;
    data_dir_ = nullptr;
  }
  static cli_util::TempDir* data_dir_;
};
cli_util::TempDir* CompositionCell::data_dir_ = nullptr;

// Whether `text` holds `needle`, with the text in the failure message.
::testing::AssertionResult has(const std::string& text, const std::string& needle, const std::string& what) {
  if (text.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << " lacks `" << needle << "`:\n" << text.substr(0, 6000);
}

TEST_P(CompositionCell, PlansRunsAndReportsWithTheSectionsItsFeaturesPromise) {
  const auto& [index, c] = GetParam();
  const std::string name = cell_name(c, index);
  SCOPED_TRACE(name);
  cli_util::TempDir dir("ablate-composition");
  const std::string study = write_study(c, dir / "", *data_dir_ / "data", "comp-" + std::to_string(index));
  const std::string spec = level(c, kSpec);
  const bool search = spec == "random" || spec == "sobol" || spec == "tpe" || spec == "motpe";
  const bool early_stop = c[kEarlyStop] != 0;
  const std::string set = c[kSet] ? " --set train.weight_decay=0.0001" : "";
  const std::string db = dir / "s.sqlite";

  const auto plan = ablate("plan " + study + set);

  ASSERT_EQ(plan.code, 0) << read_file(study) << "\n" << plan.out;
  if (c[kPublished]) {
    // Rows without a variant are listed once, in plan and in the report.
    EXPECT_TRUE(has(plan.out, "no variant in this study", "ablate plan"));
  }

  const std::string run_args = "run " + study + " --db " + db + set;
  int code = 0;
  std::string out;
  if (c[kLauncher]) {
    const fs::path log = dir / "run.log";
    code = mpi_util::run(cli_util::kNoLauncher + mpi_util::mpirun(3) + ABLATE_EXE + " " + run_args, log);
    out = read_file(log.string());
  } else {
    const auto r = ablate(run_args + " --workers 2");
    code = r.code, out = r.out;
  }
  ASSERT_EQ(code, 0) << read_file(study) << "\n" << out;

  const auto status = ablate("status --db " + db);
  ASSERT_EQ(status.code, 0) << status.out;
  const auto report = ablate("report --db " + db + " --out " + (dir / "report") + " --format md,html");
  ASSERT_EQ(report.code, 0) << report.out;
  const std::string html = read_file(dir / "report/report.html");
  ASSERT_FALSE(html.empty()) << report.out;

  if (spec == "design") {
    EXPECT_TRUE(has(html, "id=\"effects\"", "the report of a design"));
  }
  if (search) {
    EXPECT_TRUE(has(html, "id=\"search\"", "the report of a search"));
    // A search is ranked, never tested trial against trial (#1 against #0).
    EXPECT_TRUE(has(html, "no trial is tested against another", "the report of a search"));
    EXPECT_EQ(html.find("<th>Wilcoxon V</th>"), std::string::npos) << "a search report holds a significance table";
  }
  if (c[kPublished]) {
    EXPECT_TRUE(has(html, "no variant in this study", "the report with published tables"));
    // U-Net is a variant of the variant list and of the design, in their own file or inherited.
    if (spec == "variants" || spec == "design") {
      EXPECT_TRUE(has(html, "id=\"reproduction\"", "the report"));
    }
  }

  // Stopped trials: the store's count, shown alike in the report and in status.
  ablate::db::Store store(db, /*read_only=*/true);
  std::size_t stopped = 0;
  for (const auto& study_name : store.study_names()) {
    for (const auto& t : store.tasks(*store.find_study(study_name))) stopped += t.status == "stopped";
  }
  if (!early_stop) {
    EXPECT_EQ(stopped, 0u);
  }
  if (stopped > 0) {
    // A search's table shows each stopped trial's state; other studies name their stopped variants in a note.
    EXPECT_TRUE(has(html, search ? "stopped at epoch" : "stopped early at", "the report of a study with stopped trials"));
    EXPECT_TRUE(has(status.out, "stopped", "ablate status of a study with stopped trials"));
  }

  if (c[kArray]) {
    // The same study as a job array of 2 (what each element runs, in one process here), merged: the same
    // tasks and results as the run above, bit for bit, and a store that reports.
    const std::string study_name = "comp-" + std::to_string(index);
    std::string shards;
    for (int i = 0; i < 2; ++i) {
      const auto r = ablate("run " + study + " --shard " + std::to_string(i) + "/2" + set);
      ASSERT_EQ(r.code, 0) << r.out;
      shards += " " + (dir / (study_name + ".shard-" + std::to_string(i) + ".sqlite"));
    }
    const std::string merged = dir / "merged.sqlite";
    const auto m = ablate("merge" + shards + " --into " + merged);
    ASSERT_EQ(m.code, 0) << m.out;
    const std::string one = results_util::results(db);
    EXPECT_FALSE(one.empty());
    EXPECT_EQ(results_util::results(merged), one);
    const auto merged_report = ablate("report --db " + merged + " --out " + (dir / "merged-report") + " --format md");
    EXPECT_EQ(merged_report.code, 0) << merged_report.out;
  }
}

// The refused pairs: several objectives (motpe) with each early-stopping method, refused at `plan` with a
// message naming both features and why, in the study's own file and inherited from an included one; and a
// job array with TPE, MOTPE, ASHA, median or Hyperband stopping.
TEST_F(CompositionCell, RefusedPairsAreRefusedAtPlanNamingBoth) {
  for (int include : {0, 1}) {
    for (int es : {1, 2, 3}) {
      Cell c{};
      c[kInclude] = include, c[kEarlyStop] = es;
      c[kSpec] = static_cast<int>(std::find(factors()[kSpec].levels.begin(), factors()[kSpec].levels.end(), "motpe") -
                                  factors()[kSpec].levels.begin());
      ASSERT_TRUE(refused(kSpec, c[kSpec], kEarlyStop, es));
      SCOPED_TRACE(cell_name(c, 99));
      cli_util::TempDir dir("ablate-composition-refused");
      const std::string study = write_study(c, dir / "", *data_dir_ / "data", "refused");
      const auto plan = ablate("plan " + study);
      EXPECT_EQ(plan.code, 2) << plan.out;
      EXPECT_TRUE(has(plan.out, "`sweep.early_stop.method`: [sweep.early_stop] method = \"" + level(c, kEarlyStop) +
                                    "\" with sweep.objectives = [\"dice\", \"params\"]: a rung ranks trials on one validation value",
                      "ablate plan"));
    }
  }
  // A job array with an adaptive search or with early stopping (each alone otherwise allowed): refused at
  // `plan` when the study asks for an array, naming both, why, and what to use instead.
  const auto& specs = factors()[kSpec].levels;
  for (const auto& [spec, es] : {std::make_pair(std::string("tpe"), 0), std::make_pair(std::string("motpe"), 0),
                                 std::make_pair(std::string("variants"), 1), std::make_pair(std::string("grid"), 2),
                                 std::make_pair(std::string("random"), 3)}) {
    Cell c{};
    c[kSpec] = static_cast<int>(std::find(specs.begin(), specs.end(), spec) - specs.begin());
    c[kEarlyStop] = es, c[kArray] = 1;
    ASSERT_TRUE(refused(kSpec, c[kSpec], kArray, 1) || refused(kEarlyStop, es, kArray, 1));
    SCOPED_TRACE(cell_name(c, 99));
    cli_util::TempDir dir("ablate-composition-refused");
    const std::string study = write_study(c, dir / "", *data_dir_ / "data", "refused");
    const auto plan = ablate("plan " + study + " --set resources.array=2");
    EXPECT_EQ(plan.code, 2) << plan.out;
    const std::string feature = es == 0 ? "sweep.method = \"" + spec + "\"" : "[sweep.early_stop] method = \"" + level(c, kEarlyStop) + "\"";
    for (const std::string& part : {feature + " and a job array", std::string("never see each other's results"), std::string("one MPI job")}) {
      EXPECT_TRUE(has(plan.out, part, "ablate plan"));
    }
    EXPECT_EQ(ablate("plan " + study).code, 0) << "refused without the array";
  }
}

// The acceptance, on the real example: a study that includes examples/table2_demo.toml (which
// includes table2.toml with its four published tables, its baseline and its ten variants) and declares only
// `unet`, or adds a grid or a design, plans, runs and reports with exit 0 and no edit of [report]: the
// report compares the matching published row (U-Net) and notes the rest.
class DerivedFromTheDemo : public CompositionCell {};

TEST_F(DerivedFromTheDemo, DeclaringOnlyUnetAddingAGridOrADesignRunsWithNoEditOfReport) {
  const std::string shrink =
      "[data]\npath = \"" + (*data_dir_ / "data") + "\"\nimage_size = 32\n\n[model]\nwidths = [4, 8]\n\n"
      "[train]\nepochs = 1\nsteps_per_epoch = 2\nbatch_size = 2\nthreads = 1\n\n";
  const std::vector<std::pair<std::string, std::string>> derived = {
      {"only-unet", "[[ablation.variant]]\nname = \"unet\"\nlabel = \"U-Net\"\n"},
      {"grid", "[[ablation.variant]]\nname = \"unet\"\nlabel = \"U-Net\"\n\n[sweep]\n\"train.lr\" = [0.01, 0.02]\n"},
      {"design", "[ablation]\nbaseline = { name = \"unet\", label = \"U-Net\" }\n"
                 "components = [{ label = \"CC\", set = { \"model.cc\" = true } }]\ndesign = \"add-one\"\n"},
  };
  for (const auto& [name, body] : derived) {
    SCOPED_TRACE(name);
    cli_util::TempDir dir("ablate-derived");
    const std::string study = dir.write("study.toml", "include = \"" + cli_util::kExamples + "table2_demo.toml\"\n\n"
                                                      "[study]\nname = \"derived-" + name + "\"\n\n" + shrink + body);
    const auto plan = ablate("plan " + study);
    ASSERT_EQ(plan.code, 0) << plan.out;
    EXPECT_TRUE(has(plan.out, "published rows of 001 Table II (MSD) have no variant in this study", "ablate plan"));
    const std::string db = dir / "s.sqlite";
    const auto run = ablate("run " + study + " --db " + db + " --workers 2");
    ASSERT_EQ(run.code, 0) << run.out;
    const auto report = ablate("report --db " + db + " --out " + (dir / "report") + " --format md,html");
    ASSERT_EQ(report.code, 0) << report.out;
    const std::string html = read_file(dir / "report/report.html");
    EXPECT_TRUE(has(html, "id=\"reproduction\"", "the report"));
    EXPECT_TRUE(has(html, "no variant in this study", "the report"));
  }
}

std::vector<std::pair<std::size_t, Cell>> cells() {
  std::vector<std::pair<std::size_t, Cell>> out;
  const auto rows = covering_array();
  for (std::size_t i = 0; i < rows.size(); ++i) out.emplace_back(i, rows[i]);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Pairs, CompositionCell, ::testing::ValuesIn(cells()),
                         [](const ::testing::TestParamInfo<std::pair<std::size_t, Cell>>& info) {
                           return cell_name(info.param.second, info.param.first);
                         });

}  // namespace
