// The report of a searched study (reports/search.hpp): trials sorted by the validation objective, SVGs
// with a log axis for log-uniform keys, the importance table, determinism, and nothing for other studies.
// Trials stopped at a rung (early stopping): their value at the rung and state in the table, drawn as
// pruned points, counted alike by the report and `ablate status` (a real TPE + ASHA search in this
// process, then the `ablate` binary on its store); notes about many variants one line per cause; a search
// gets its trials ranked, no significance test of one trial against another.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <tuple>

#include "ablations/study.hpp"
#include "cli_util.hpp"
#include "db/store.hpp"
#include "inproc_fixture.hpp"
#include "reports/format.hpp"
#include "reports/report.hpp"
#include "reports/search.hpp"
#include "rung_script.hpp"
#include "runner/run.hpp"

using namespace ablate;
using namespace ablate::reports;

namespace {

db::StudyData searched(const std::string& objective_name = "dice") {
  db::StudyData s;
  s.study = "search";
  s.provenance["search_method"] = "tpe";
  s.provenance["search_objective"] = objective_name;
  s.provenance["search_space"] = "train.lr log_uniform\nmodel.msc choice\n";
  const double lrs[] = {1e-4, 1e-3, 3e-3, 2e-5};
  const char* msc[] = {"\"msc\"", "\"kcm\"", "\"kcm\"", "\"msc\""};
  const double objective[] = {0.61, 0.83, 0.79, std::nan("")};
  for (int t = 0; t < 4; ++t) {
    const std::string name = "t00" + std::to_string(t);
    char point[64];
    std::snprintf(point, sizeof point, "[%.17g, %d]", lrs[t], msc[t][1] == 'k' ? 1 : 0);
    s.variants.push_back({name, "#" + std::to_string(t), "h" + std::to_string(t),
                          "train.lr = " + std::to_string(lrs[t]) + "\nmodel.msc = " + msc[t] + "\n", t});
    db::SearchTrialRow r;
    r.trial = t;
    r.variant = name;
    r.method = "tpe";
    r.point = point;
    r.proposed = 100 + t;
    r.objective = objective[t];
    r.tasks = 2;
    r.done = t == 3 ? 1 : 2;
    r.epochs = 2 * r.done;
    s.trials.push_back(r);
  }
  return s;
}

}  // namespace

TEST(ReportsSearch, TrialsAreSortedByTheObjectiveUnfinishedLast) {
  const std::string csv = search_trials_csv(searched());
  EXPECT_EQ(csv,
            "rank,declared,trial,variant,train.lr,model.msc,objective,rung_epoch,rung_value,tasks_done,tasks,epochs,state\n"
            "1,,1,t001,0.001000,kcm,0.83,,,2,2,4,done\n"
            "2,,2,t002,0.003000,kcm,0.79,,,2,2,4,done\n"
            "3,,0,t000,0.000100,msc,0.61,,,2,2,4,done\n"
            ",,3,t003,0.000020,msc,,,,1,2,2,1/2 tasks done\n");
  // Lower is better for a loss and for the distances: the order turns; higher for every other metric.
  for (const std::string metric : {"loss", "hd95", "assd"}) {
    const std::string lcsv = search_trials_csv(searched(metric));
    EXPECT_EQ(lcsv.substr(lcsv.find('\n') + 1, 8), "1,,0,t00") << metric;
  }
  for (const std::string metric : {"iou", "sensitivity", "precision", "specificity", "vs"}) {
    const std::string csv2 = search_trials_csv(searched(metric));
    EXPECT_EQ(csv2.substr(csv2.find('\n') + 1, 8), "1,,1,t00") << metric;
  }
}

// The y coordinates of the best-so-far step line (the first polyline after its x-axis title).
static std::set<std::string> best_so_far_ys(const std::string& html) {
  const auto axis = html.find("training epochs spent");
  const auto open = html.find("<polyline points=\"", axis);
  const auto close = html.find('"', open + 18);
  std::istringstream in(html.substr(open + 18, close - open - 18));
  std::set<std::string> ys;
  std::string point;
  while (in >> point) ys.insert(point.substr(point.find(',') + 1));
  return ys;
}

// The best-so-far curve follows the direction. Trials in the order proposed: 0.61, 0.83, 0.79: for hd95
// the first stays the best (a flat line), for dice the second improves on it (two levels).
TEST(ReportsSearch, TheBestSoFarCurveFollowsTheDirection) {
  EXPECT_EQ(best_so_far_ys(search_section_html(searched("hd95"))).size(), 1u);
  EXPECT_EQ(best_so_far_ys(search_section_html(searched("dice"))).size(), 2u);
  const std::string hd95 = search_section_html(searched("hd95"));
  EXPECT_NE(hd95.find("best validation hd95"), std::string::npos) << hd95;
  EXPECT_NE(hd95.find("Validation hd95"), std::string::npos);
  EXPECT_LT(hd95.find("t000"), hd95.find("t001"));  // best (lowest) first in the table
  const std::string dice = search_section_html(searched("dice"));
  EXPECT_LT(dice.find("t001"), dice.find("t000"));
}

TEST(ReportsSearch, HtmlHasTheTableAndTheFiguresDeterministically) {
  const auto study = searched();
  const std::string html = search_section_html(study);
  EXPECT_EQ(html, search_section_html(study));
  EXPECT_NE(html.find("tpe search: 4 trial(s) proposed, 3 finished"), std::string::npos) << html;
  EXPECT_NE(html.find("train.lr (log scale)"), std::string::npos);
  EXPECT_NE(html.find(">1e-4<"), std::string::npos);  // decade ticks of the log axis
  EXPECT_NE(html.find(">kcm<"), std::string::npos);   // categorical axis
  EXPECT_NE(html.find("Parallel coordinates"), std::string::npos);
  EXPECT_NE(html.find("Best so far"), std::string::npos);
  EXPECT_NE(html.find("Parameter importance"), std::string::npos);
  EXPECT_LT(html.find("t001"), html.find("t000"));  // best first
  // Not a search: nothing, so other reports keep their bytes.
  db::StudyData plain;
  plain.study = "grid";
  EXPECT_EQ(search_section_html(plain), "");
  EXPECT_EQ(search_trials_csv(plain), "");
}

TEST(ReportsSearch, ImportanceIsTheVarianceShareOfEachKey) {
  std::vector<SearchKey> keys = {{"loss.alpha", "uniform"}, {"model.msc", "choice"}, {"train.lr", "log_uniform"}};
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  // y depends on alpha only; msc alternates; lr is unrelated noise-free ordering.
  for (int i = 0; i < 16; ++i) {
    const double alpha = i / 16.0;
    x.push_back({alpha, static_cast<double>(i % 2), -5.0 + ((i * 7) % 16) / 4.0});
    y.push_back(alpha * alpha);
  }
  const auto imp = parameter_importance(keys, x, y);
  ASSERT_EQ(imp.size(), 3u);
  EXPECT_GT(imp[0].eta2, 0.9);
  EXPECT_EQ(imp[0].groups, 4);
  EXPECT_LT(imp[1].eta2, 0.05);
  EXPECT_EQ(imp[1].groups, 2);
  EXPECT_LT(imp[2].eta2, 0.3);
  EXPECT_GT(imp[0].share, 0.7);
  EXPECT_NEAR(imp[0].share + imp[1].share + imp[2].share, 1.0, 1e-12);
  // Constant objective: nothing to explain.
  const auto flat = parameter_importance(keys, x, std::vector<double>(16, 0.5));
  ASSERT_EQ(flat.size(), keys.size());  // one row per key, or the loop below checks nothing
  for (const auto& i : flat) EXPECT_EQ(i.eta2, 0);
}

// ---- trials stopped at a rung --------------------------------------------------------------------------

namespace {

// searched() with two more trials whose tasks stand at rung 0 (epoch 1) of an ASHA search: t004 with a
// value there below every finished trial, t005 with one above (a value after one epoch is not ranked with
// the objectives).
db::StudyData with_stopped(const std::string& decision = "pause", bool live = false) {
  db::StudyData s = searched();
  for (int t = 4; t < 6; ++t) {
    const std::string name = "t00" + std::to_string(t);
    s.variants.push_back({name, "#" + std::to_string(t), "h" + std::to_string(t),
                          "train.lr = 0.0005\nmodel.msc = \"msc\"\n", t});
    db::SearchTrialRow r;
    r.trial = t;
    r.variant = name;
    r.method = "tpe";
    r.point = "[0.0005, 0]";
    r.proposed = 100 + t;
    r.objective = std::nan("");
    r.tasks = 2;
    r.epochs = 2;
    s.trials.push_back(r);
    db::StoppedTrialRow stop;
    stop.epoch = 1;
    stop.rung = 0;
    stop.tasks = 2;
    stop.value = t == 4 ? 0.42 : 0.9;
    stop.decision = decision;
    s.stopped_trials[name] = stop;
    s.stopped[name] = 1;
  }
  s.live = live;
  return s;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// The <svg> ... </svg> after a heading of the search section.
std::string figure_after(const std::string& html, const std::string& heading) {
  const auto at = html.find(heading);
  if (at == std::string::npos) return "";
  const auto open = html.find("<svg", at), close = html.find("</svg>", at);
  return open == std::string::npos || close == std::string::npos ? "" : html.substr(open, close - open);
}

}  // namespace

TEST(ReportsSearch, StoppedTrialsShowTheirRungValueAndStateAfterTheFinishedOnes) {
  const std::string csv = search_trials_csv(with_stopped());
  // Finished by objective, then the stopped ones by their value at the rung (unranked), then the rest.
  EXPECT_EQ(csv.substr(csv.find("\n3,")),
            "\n3,,0,t000,0.000100,msc,0.61,,,2,2,4,done\n"
            ",,5,t005,0.0005,msc,,1,0.9,0,2,2,stopped at epoch 1\n"
            ",,4,t004,0.0005,msc,,1,0.42,0,2,2,stopped at epoch 1\n"
            ",,3,t003,0.000020,msc,,,,1,2,2,1/2 tasks done\n");
  const std::string html = search_section_html(with_stopped());
  EXPECT_NE(html.find("<td>0.4200 at epoch 1</td><td>0/2</td><td>stopped at epoch 1</td>"), std::string::npos) << html;
  EXPECT_EQ(count_of(html, ">n/a<"), 1u) << html;  // t003 alone (no task at a rung): every trial with a value shows it
  EXPECT_NE(html.find("tpe search: 6 trial(s) proposed, 3 finished, 2 stopped at a rung, 1 not finished."), std::string::npos);
  // The state follows the decision and whether a coordinator runs the study.
  EXPECT_NE(search_trials_csv(with_stopped("pause", true)).find(",waiting at epoch 1\n"), std::string::npos);
  EXPECT_NE(search_trials_csv(with_stopped("stop", true)).find(",stopped at epoch 1\n"), std::string::npos);
  EXPECT_NE(search_trials_csv(with_stopped("promote")).find(",resumes from epoch 1\n"), std::string::npos);
  EXPECT_NE(search_trials_csv(with_stopped("")).find(",2 task(s) at epoch 1, others on the way\n"), std::string::npos);
  EXPECT_EQ(search_ranking(with_stopped()), (std::vector<std::string>{"t001", "t002", "t000", "t005", "t004", "t003"}));
}

TEST(ReportsSearch, StoppedTrialsAreCountedOnceByState) {
  const TrialCounts stopped = trial_counts(with_stopped());
  EXPECT_EQ(std::make_tuple(stopped.proposed, stopped.finished, stopped.stopped, stopped.waiting, stopped.failed, stopped.running),
            std::make_tuple(6, 3, 2, 0, 0, 1));
  const TrialCounts waiting = trial_counts(with_stopped("pause", true));
  EXPECT_EQ(std::make_tuple(waiting.stopped, waiting.waiting), std::make_tuple(0, 2));
  EXPECT_EQ(trial_counts_text(stopped, "9"), "6 trial(s) proposed of 9, 3 finished, 2 stopped at a rung, 1 not finished");
  EXPECT_EQ(trial_counts_text(trial_counts(with_stopped("stop", true))),
            "6 trial(s) proposed, 3 finished, 2 stopped at a rung, 1 not finished");
  EXPECT_EQ(trial_counts_text(waiting), "6 trial(s) proposed, 3 finished, 2 waiting at a rung, 1 not finished");
}

TEST(ReportsSearch, StoppedTrialsAreDrawnAsPrunedPointsWithALegend) {
  const std::string html = search_section_html(with_stopped());
  const std::string scatter = figure_after(html, "Objective against each sampled key");
  const std::string parallel = figure_after(html, "Parallel coordinates");
  const std::string best = figure_after(html, "Best so far");
  // Two pruned trials: a cross in each of the two key panels, a dashed line each, a cross each on the
  // training spent; the legend names them.
  EXPECT_EQ(count_of(scatter, "<path class=\"pruned\""), 2u * 2u) << scatter;
  EXPECT_EQ(count_of(parallel, "<polyline class=\"pruned\""), 2u) << parallel;
  EXPECT_EQ(count_of(best, "<path class=\"pruned\""), 2u) << best;
  for (const auto* svg : {&scatter, &parallel, &best}) {
    EXPECT_NE(svg->find(">stopped at a rung: its value there<"), std::string::npos) << *svg;
  }
  EXPECT_NE(scatter.find("<title>t004: stopped at epoch 1</title>"), std::string::npos) << scatter;
  // Its y axis reaches the pruned values beyond the finished ones (0.42 < 0.61, 0.9 > 0.83).
  EXPECT_NE(scatter.find(">0.4<"), std::string::npos) << scatter;
  EXPECT_NE(scatter.find(">0.9<"), std::string::npos) << scatter;
  EXPECT_EQ(search_section_html(searched()).find(">0.9<"), std::string::npos);
  // Importance stays over the finished trials, and says why.
  EXPECT_NE(html.find("Over the 3 finished trial(s) only"), std::string::npos) << html;
  // A search without early stopping draws none and says nothing of them.
  EXPECT_EQ(search_section_html(searched()).find("pruned"), std::string::npos);
  EXPECT_EQ(search_section_html(searched()).find("stopped at a rung"), std::string::npos);
}

// ---- notes and the comparison of a search ---------------------------------------------------------------

namespace {

// Fold and case Dice of the finished trials of searched() (two folds each), so that a baseline could be tested.
db::StudyData with_results(db::StudyData s) {
  const double dice[] = {0.61, 0.83, 0.79};
  for (int t = 0; t < 3; ++t) {
    for (int f = 0; f < 2; ++f) {
      s.fold_metrics.push_back({"t00" + std::to_string(t), f, 0, 1, "dice", dice[t] + 0.01 * f});
      for (int c = 0; c < 3; ++c) {
        s.case_metrics.push_back({"t00" + std::to_string(t), f, 0, "case" + std::to_string(f * 3 + c), 1, "dice",
                                  dice[t] + 0.01 * c});
      }
    }
  }
  return s;
}

}  // namespace

TEST(ReportsSearch, NotesAboutManyVariantsAreOneLinePerCauseWithTheNamesCollapsed) {
  const db::StudyData s = with_results(with_stopped());
  const ComparisonTable table = comparison_table({s}, ReportConfig{}, {});
  // t003 has no results, t004 and t005 were stopped: one line for the one, one line with a count for the two.
  const std::string stopped = "study 'search': 2 variants were stopped early at a rung (early stopping): no test results, "
                              "their curves are in the convergence plot: t004 at epoch 1, t005 at epoch 1";
  EXPECT_EQ(std::count(table.notes.begin(), table.notes.end(), stopped), 1) << ::testing::PrintToString(table.notes);
  EXPECT_EQ(std::count(table.notes.begin(), table.notes.end(), "study 'search': variant 't003' has no results"), 1);
  EXPECT_EQ(std::count_if(table.notes.begin(), table.notes.end(),
                          [](const std::string& n) { return n.find("t004") != std::string::npos || n.find("t003") != std::string::npos; }),
            2)
      << ::testing::PrintToString(table.notes);
  ASSERT_EQ(table.note_lists.count(stopped), 1u);
  EXPECT_EQ(table.note_lists.at(stopped).names.size(), 2u);
  EXPECT_NE(render_html(table).find("<details><summary>2 names</summary>t004 at epoch 1, t005 at epoch 1</details>"),
            std::string::npos)
      << render_html(table);
  // The report page prints each note once (at the top), the table under it none.
  cli_util::TempDir out("search-notes");
  write_report({s}, ReportOptions{}, out.path());
  const std::string page = cli_util::read_file(out / "report.html");
  EXPECT_EQ(count_of(page, "2 variants were stopped early at a rung"), 1u) << page;
  EXPECT_EQ(count_of(page, "variant &#39;t003&#39; has no results"), 1u) << page;
  EXPECT_EQ(count_of(page, "<details>"), 1u) << page;
  // table.html, a page of its own, keeps its notes.
  EXPECT_EQ(count_of(cli_util::read_file(out / "table.html"), "2 variants were stopped early at a rung"), 1u);
}

TEST(ReportsSearch, ASearchRanksItsTrialsAndTestsNoneAgainstTrialZero) {
  db::StudyData s = with_results(searched());
  ReportConfig config;
  // No baseline: not trial #0 (the first in expansion order); the rows are the trials, best first.
  EXPECT_TRUE(significance_tests({s}, config, nullptr).empty());
  const ComparisonTable table = comparison_table({s}, config, {});
  EXPECT_EQ(table.baseline, "");
  ASSERT_GE(table.rows.size(), 3u);
  EXPECT_EQ(table.rows[0].variant, "t001");
  EXPECT_EQ(table.rows[2].variant, "t000");
  // A baseline the study names (or inherits) does not apply to a search: noted, never an error, whether it
  // names a trial or no variant at all.
  for (const std::string baseline : {"t000", "unet"}) {
    config.baseline = baseline;
    std::vector<std::string> notes;
    EXPECT_TRUE(significance_tests({s}, config, &notes).empty()) << baseline;
    const ComparisonTable named = comparison_table({s}, config, {});
    EXPECT_EQ(named.baseline, "") << baseline;
    const std::string note = "report.baseline '" + baseline + "' does not apply to the search 'search': its trials are ranked "
                             "by the validation objective (Search), none is tested against another";
    EXPECT_EQ(std::count(named.notes.begin(), named.notes.end(), note), 1) << ::testing::PrintToString(named.notes);
  }
  // The same results as a plain study (no trials): trial #0 is the baseline and the others are tested.
  db::StudyData plain = s;
  plain.trials.clear();
  EXPECT_EQ(significance_tests({plain}, ReportConfig{}, nullptr).size(), 2u);
  // The page says why its significance section is empty.
  cli_util::TempDir out("search-significance");
  config.baseline = "unet";
  ReportOptions options;
  options.use_config = true;
  options.config = config;
  const ReportResult r = write_report({s}, options, out.path());
  const std::string page = cli_util::read_file(out / "report.html");
  EXPECT_NE(page.find("n/a: a search ranks its trials by the validation objective"), std::string::npos) << page;
  EXPECT_EQ(cli_util::read_file(out / "significance.csv").find("t000"), std::string::npos);
  EXPECT_EQ(std::count_if(r.notes.begin(), r.notes.end(),
                          [](const std::string& n) { return n.find("report.baseline 'unet' does not apply") == 0; }),
            1);
}

// ---- a real TPE + ASHA search: the report and `ablate status` on its store ------------------------------

namespace {

// A scripted training (rung_script.hpp) of quality q peaking at alpha = 0.3, lr = 1e-3. Its "checkpoint" is
// the epochs done per (variant, fold, repeat): a promoted task resumes after its pause, as the trainer does.
class RungExecutor : public runner::Executor {
 public:
  TaskResult execute(const Task& task, const runner::ExecContext& ctx) override {
    const VariantConfig c = parse_canonical(task.canonical_config);
    const double a = std::log10(c.train.lr) + 3, q = 1 - (c.loss.alpha - 0.3) * (c.loss.alpha - 0.3) - a * a / 16;
    const auto key = std::make_tuple(task.variant, task.fold, task.repeat);
    int first = 0;
    {
      std::lock_guard<std::mutex> lock(m_);
      first = done_[key] + 1;
    }
    TaskResult r = rung_script::train(task, c.train.epochs, first, q, [&](const EpochRecord& rec) {
      if (ctx.on_epoch) ctx.on_epoch(rec);
    });
    {
      std::lock_guard<std::mutex> lock(m_);
      done_[key] = r.best_epoch;
    }
    // A per-case row beside the fold's, so that the report has box plots to draw.
    if (!r.fold_metrics.empty()) r.case_metrics.push_back({"c" + std::to_string(task.fold), 1, "dice", r.fold_metrics[0].value});
    return r;
  }
  double estimate_cost(const Variant&) override { return 1; }

 private:
  std::mutex m_;
  std::map<std::tuple<std::string, int, int>, int> done_;
};

// One worker (arrivals and decisions in the order planned), four cases, two folds, each with a validation case.
class TpeAshaSearch : public inproc_test::InprocFixture {
 protected:
  TpeAshaSearch() : InprocFixture("ablate-report-asha", 1, {"a", "b", "c", "d"}) {}
  void SetUp() override {
    InprocFixture::SetUp();
    opt_.make_splits = inproc_test::validation_splits;
    opt_.study_file = (dir_ / "s.toml").string();
    std::ofstream(opt_.study_file) << "[study]\nname = \"s\"\nseed = 5\nfolds = 2\n[data]\npath = \"nowhere\"\n"
                                      "[train]\nepochs = 9\nselect_metric = \"dice\"\n"
                                      "[sweep]\nmethod = \"tpe\"\ntrials = 9\nstartup = 4\n"
                                      "\"train.lr\" = { log_uniform = [1e-5, 1e-1] }\n"
                                      "\"loss.alpha\" = { uniform = [0.0, 1.0] }\n"
                                      "[sweep.early_stop]\nmethod = \"asha\"\nrungs = [1, 3, 9]\nreduction = 3\n";
  }
};

// The line of `text` that contains `anchor` ("" when none does).
std::string line_with(const std::string& text, const std::string& anchor) {
  const auto at = text.find(anchor);
  if (at == std::string::npos) return "";
  const auto begin = text.rfind('\n', at) + 1, end = text.find('\n', at);
  return text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

}  // namespace

TEST_F(TpeAshaSearch, ReportAndStatusShowEveryStoppedTrialWithItsRungValueAlike) {
  RungExecutor exec;
  ASSERT_EQ(runner::run_study(opt_, exec), runner::kRunOk);
  const db::StudyData data = db::load_study_data(opt_.db_path, "s");
  ASSERT_EQ(data.trials.size(), 9u);
  ASSERT_FALSE(data.live);
  // Every trial not finished stands at a rung with the score its decision logged (reduction 3 over 9
  // trials: most stop at rung 0 or 1), which is the mean of its folds' arrivals there.
  ASSERT_GE(data.stopped_trials.size(), 5u);
  db::Store store(opt_.db_path, true);
  const auto log = store.early_stop_log(*store.find_study("s"));
  for (const auto& [variant, s] : data.stopped_trials) {
    EXPECT_EQ(s.decision, "pause") << variant;
    EXPECT_EQ(s.tasks, 2) << variant;
    EXPECT_TRUE(s.epoch == 1 || s.epoch == 3) << variant;
    double sum = 0;
    int n = 0;
    for (const auto& e : log) {
      if (e.variant == variant && e.kind == "reached" && e.epoch == s.epoch) sum += e.score, ++n;
    }
    ASSERT_EQ(n, 2) << variant;
    EXPECT_NEAR(s.value, sum / n, 1e-12) << variant;
  }
  // TPE learns from the trials waiting at a rung (as Optuna's TPE from pruned ones): the 5th proposal,
  // past the 4 start-up trials, saw the 4 before it although none had finished yet (one worker: trial 0
  // is the first to reach the last rung, after promotions), each listed in `seen` with its rung.
  const std::string seen = store.query_text("SELECT seen FROM trials WHERE trial = 4");
  EXPECT_EQ(std::count(seen.begin(), seen.end(), '@'), 4) << seen;
  EXPECT_NE(seen.find("t000="), std::string::npos) << seen;
  const reports::TrialCounts counts = reports::trial_counts(data);
  EXPECT_EQ(counts.finished + counts.stopped, 9);
  EXPECT_EQ(counts.stopped, static_cast<int>(data.stopped_trials.size()));

  // The report: each stopped trial's row shows its rung value and state; each is a pruned point.
  cli_util::TempDir out("report-asha");
  // With the study's [report] and a baseline as an included study would bring it (no variant of a search).
  reports::ReportOptions options;
  options.use_config = true;
  options.config = reports::report_config_of(data, nullptr);
  options.config.baseline = "unet";
  const reports::ReportResult result = reports::write_report({data}, options, out.path());
  const std::string csv = cli_util::read_file(out / "search-s.csv");
  const std::string page = cli_util::read_file(out / "report.html");
  for (const auto& [variant, s] : data.stopped_trials) {
    const std::string row = line_with(csv, "," + variant + ",");
    EXPECT_NE(row.find("," + std::to_string(s.epoch) + "," + reports::number(s.value) + ","), std::string::npos) << row;
    EXPECT_NE(row.find(",stopped at epoch " + std::to_string(s.epoch)), std::string::npos) << row;
    EXPECT_NE(page.find("<td>" + reports::fixed(s.value, 4) + " at epoch " + std::to_string(s.epoch) + "</td>"), std::string::npos)
        << variant;
    EXPECT_NE(page.find("<title>" + variant + ": stopped at epoch " + std::to_string(s.epoch) + "</title></path>"), std::string::npos)
        << variant;
  }
  EXPECT_EQ(count_of(page, "<polyline class=\"pruned\""), data.stopped_trials.size());
  EXPECT_EQ(csv.find("n/a"), std::string::npos) << csv;
  // A search's comparison: no significance test, the inherited baseline noted once, nothing failed.
  const std::string significance = cli_util::read_file(out / "significance.csv");
  EXPECT_EQ(std::count(significance.begin(), significance.end(), '\n'), 1) << significance;  // the header alone
  EXPECT_EQ(count_of(page, "report.baseline &#39;unet&#39; does not apply"), 1u) << page;
  // The stopped trials: one note, once on the page, with the count and the names collapsed.
  const std::string cause = std::to_string(data.stopped_trials.size()) + " variants were stopped early at a rung";
  EXPECT_EQ(count_of(page, cause), 1u) << page;
  EXPECT_EQ(std::count_if(result.notes.begin(), result.notes.end(),
                          [](const std::string& n) { return n.find("stopped early") != std::string::npos; }),
            1);

  // `ablate status` on the same store: the same counts, states and values.
  const cli_util::Result status = cli_util::ablate("status --db " + opt_.db_path);
  ASSERT_EQ(status.code, 0) << status.out;
  EXPECT_NE(status.out.find("search: tpe, " + reports::trial_counts_text(counts, "9") + "\n"), std::string::npos) << status.out;
  EXPECT_NE(page.find("tpe search: " + reports::trial_counts_text(counts) + "."), std::string::npos);
  std::map<int, int> per_rung;
  for (const auto& [variant, s] : data.stopped_trials) {
    ++per_rung[s.rung];
    char value[32];
    std::snprintf(value, sizeof value, "%.4f", s.value);
    const std::string row = line_with(status.out, "  " + variant + " ");
    EXPECT_NE(row.find("stopped at epoch " + std::to_string(s.epoch) + " (dice " + value + ")"), std::string::npos)
        << row << "\n" << status.out;
  }
  ASSERT_FALSE(per_rung.empty());
  for (const auto& [rung, n] : per_rung) {
    const std::string line = line_with(status.out, "    rung " + std::to_string(rung) + " (");
    EXPECT_NE(line.find(" 0 waiting, " + std::to_string(n) + " stopped,"), std::string::npos) << line << "\n" << status.out;
  }
}
