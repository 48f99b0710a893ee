// The report of a searched study (reports/search.hpp): trials sorted by the validation objective, SVGs
// with a log axis for log-uniform keys, the importance table, determinism, and nothing for other studies.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <sstream>

#include "reports/search.hpp"

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
            "rank,declared,trial,variant,train.lr,model.msc,objective,tasks_done,tasks,epochs,state\n"
            "1,,1,t001,0.001000,kcm,0.83,2,2,4,done\n"
            "2,,2,t002,0.003000,kcm,0.79,2,2,4,done\n"
            "3,,0,t000,0.000100,msc,0.61,2,2,4,done\n"
            ",,3,t003,0.000020,msc,,1,2,2,1/2 tasks done\n");
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
