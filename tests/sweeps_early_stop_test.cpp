// The early-stopping policies on scripted results (no training): ASHA's rung populations against a
// worked example, the median rule, ties, failures at a rung, folds moving together, determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <limits>
#include <optional>
#include <vector>

#include "sweeps/early_stop.hpp"

using namespace ablate::sweeps;

namespace {

EarlyStopConfig asha(std::vector<int> rungs, int reduction = 3) {
  EarlyStopConfig c;
  c.method = "asha";
  c.rungs = std::move(rungs);
  c.reduction = reduction;
  return c;
}

EarlyStopConfig median(std::vector<int> rungs, int startup = 2) {
  EarlyStopConfig c;
  c.method = "median";
  c.rungs = std::move(rungs);
  c.startup_trials = startup;
  return c;
}

// Every promotion available now, taken as free workers would take them (highest rung first).
std::vector<Decision> take_promotions(EarlyStopping& p) {
  std::vector<Decision> out;
  while (auto d = p.next_promotion()) {
    p.promote(d->trial, d->rung);
    out.push_back(*d);
  }
  return out;
}

std::vector<std::int64_t> trials_of(const std::vector<Decision>& ds) {
  std::vector<std::int64_t> out;
  for (const auto& d : ds) out.push_back(d.trial);
  return out;
}

}  // namespace

TEST(EarlyStopDirection, LossAndDistancesAreMinimised) {
  EXPECT_EQ(objective_direction("loss"), Direction::kMinimize);
  EXPECT_EQ(objective_direction("hd95"), Direction::kMinimize);
  EXPECT_EQ(objective_direction("assd"), Direction::kMinimize);
  EXPECT_EQ(objective_direction("hd95_2d"), Direction::kMinimize);
  EXPECT_EQ(objective_direction("dice"), Direction::kMaximize);
  EXPECT_EQ(objective_direction("iou_2d"), Direction::kMaximize);
  EXPECT_EQ(objective_direction("vs"), Direction::kMaximize);
}

TEST(EarlyStopDirection, BestSoFarStopsAtTheRungAndSkipsNaN) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> v = {0.5, nan, 0.3, 0.4, 0.1};
  EXPECT_DOUBLE_EQ(best_so_far(v, 4, Direction::kMinimize), 0.3);  // epoch 5's 0.1 is past the rung
  EXPECT_DOUBLE_EQ(best_so_far(v, 5, Direction::kMinimize), 0.1);
  EXPECT_DOUBLE_EQ(best_so_far(v, 4, Direction::kMaximize), 0.5);
  EXPECT_TRUE(std::isnan(best_so_far(v, 0, Direction::kMaximize)));
  EXPECT_TRUE(better(0.2, nan, Direction::kMaximize));
  EXPECT_FALSE(better(nan, 0.2, Direction::kMinimize));
}

TEST(EarlyStopConfigCheck, NamesTheKeyAndWhatIsAllowed) {
  EXPECT_EQ(check_early_stop(asha({1, 3, 9}), 9), "");
  EXPECT_EQ(check_early_stop(EarlyStopConfig{}, 9), "");  // none: nothing to check
  EXPECT_NE(check_early_stop(asha({1, 3, 8}), 9).find("sweep.early_stop.rungs = [1, 3, 8]: the last rung must be train.epochs (9)"),
            std::string::npos);
  EXPECT_NE(check_early_stop(asha({3, 3, 9}), 9).find("increase strictly"), std::string::npos);
  EXPECT_NE(check_early_stop(asha({0, 9}), 9).find("epoch >= 1"), std::string::npos);
  EXPECT_NE(check_early_stop(asha({}), 9).find("sweep.early_stop.rungs = []"), std::string::npos);
  EXPECT_NE(check_early_stop(asha({1, 9}, 1), 9).find("sweep.early_stop.reduction = 1: allowed >= 2"), std::string::npos);
  EarlyStopConfig bad = asha({9});
  bad.method = "hyperband";
  EXPECT_NE(check_early_stop(bad, 9).find("method = \"hyperband\": allowed none | median | asha"), std::string::npos);
  EXPECT_NE(check_early_stop(median({9}, 0), 9).find("startup_trials = 0"), std::string::npos);
  // The policy checks what it can alone (it does not know train.epochs: the last rung is its end).
  EXPECT_THROW(EarlyStopping(asha({3, 1, 9}), Direction::kMinimize, 1), std::invalid_argument);
  EXPECT_THROW(EarlyStopping(EarlyStopConfig{}, Direction::kMinimize, 1), std::invalid_argument);
  EXPECT_THROW(EarlyStopping(asha({1, 9}), Direction::kMinimize, 0), std::invalid_argument);
}

// Worked example (eta = 3, rungs 1/3/9 epochs, losses, one fold per trial). Trials report rung 0 in id
// order with losses 0.9 0.5 0.7 0.2 0.8 0.6 0.1 0.3 0.4; after every report the free workers take every
// promotion (top floor(n/3) of the rung, not yet promoted):
//   n=3 top1 {t1}: promote t1   n=4 top1 {t3}: promote t3   n=5 top1 {t3}: -   n=6 top2 {t3,t1}: -
//   n=7 top2 {t6,t3}: promote t6   n=8 top2 {t6,t3}: -   n=9 top3 {t6,t3,t7}: promote t7
// ASHA promotes 4 of 9 from rung 0 (t1 by asynchrony; synchronous SH would promote 3). At rung 1 the
// promoted trials report 0.45 (t1), 0.15 (t3), 0.12 (t6), 0.25 (t7): n=3 top1 {t6}: promote t6 to the last
// rung; t6 finishes. Epochs spent: 9 x 1 + 4 x 2 + 1 x 6 = 23 of the 81 of a full grid.
TEST(Asha, WorkedExampleRungPopulations) {
  EarlyStopping p(asha({1, 3, 9}), Direction::kMinimize, 1);
  const std::vector<double> rung0 = {0.9, 0.5, 0.7, 0.2, 0.8, 0.6, 0.1, 0.3, 0.4};
  std::vector<std::vector<std::int64_t>> promoted_after;
  for (int t = 0; t < 9; ++t) {
    auto d = p.report(t, 0, 0, rung0[static_cast<size_t>(t)]);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->kind, DecisionKind::kPause);
    promoted_after.push_back(trials_of(take_promotions(p)));
  }
  const std::vector<std::vector<std::int64_t>> expected = {{}, {}, {1}, {3}, {}, {}, {6}, {}, {7}};
  EXPECT_EQ(promoted_after, expected);
  auto pop = p.populations();
  ASSERT_EQ(pop.size(), 3u);
  EXPECT_EQ(pop[0].epoch, 1);
  EXPECT_EQ(pop[0].reached, 9);
  EXPECT_EQ(pop[0].promoted, 4);
  EXPECT_EQ(pop[0].waiting, 5);
  EXPECT_EQ(p.target_epoch(6), 3);
  EXPECT_EQ(p.state(0), TrialState::kPaused);

  // Rung 1, in promotion order.
  EXPECT_EQ(p.report(1, 0, 1, 0.45)->kind, DecisionKind::kPause);
  EXPECT_TRUE(take_promotions(p).empty());
  EXPECT_EQ(p.report(3, 0, 1, 0.15)->kind, DecisionKind::kPause);
  EXPECT_TRUE(take_promotions(p).empty());
  EXPECT_EQ(p.report(6, 0, 1, 0.12)->kind, DecisionKind::kPause);
  EXPECT_EQ(trials_of(take_promotions(p)), std::vector<std::int64_t>{6});
  EXPECT_EQ(p.report(7, 0, 1, 0.25)->kind, DecisionKind::kPause);
  EXPECT_TRUE(take_promotions(p).empty());
  auto fin = p.report(6, 0, 2, 0.11);
  ASSERT_TRUE(fin);
  EXPECT_EQ(fin->kind, DecisionKind::kFinish);
  EXPECT_EQ(p.state(6), TrialState::kFinished);

  pop = p.populations();
  EXPECT_EQ(pop[1].reached, 4);
  EXPECT_EQ(pop[1].promoted, 1);
  EXPECT_EQ(pop[1].waiting, 3);
  EXPECT_EQ(pop[2].reached, 1);
  EXPECT_EQ(p.ranking(1), (std::vector<std::int64_t>{6, 3, 7, 1}));
  // Epochs spent: every trial's last rung epoch.
  int epochs = 0;
  for (int t = 0; t < 9; ++t) epochs += p.target_epoch(t);
  EXPECT_EQ(epochs, 23);
}

TEST(Asha, HigherRungPromotionsComeFirst) {
  EarlyStopping p(asha({1, 2, 4}, 2), Direction::kMaximize, 1);
  // Rung 0: t0 0.5, t1 0.6: top1 {t1}.
  p.report(0, 0, 0, 0.5);
  p.report(1, 0, 0, 0.6);
  EXPECT_EQ(trials_of(take_promotions(p)), std::vector<std::int64_t>{1});
  p.report(2, 0, 0, 0.55);
  p.report(3, 0, 0, 0.9);  // n=4 top2 {t3, t1}: t3 promotable
  p.report(1, 0, 1, 0.7);  // rung 1: n=1, top 0
  EXPECT_EQ(trials_of(take_promotions(p)), std::vector<std::int64_t>{3});
  p.report(3, 0, 1, 0.95);  // rung 1: n=2 top1 {t3}
  p.report(4, 0, 0, 0.95);  // rung 0: n=5 top2 {t4, t3}: t4 promotable
  // Both rungs have a candidate: rung 1's comes first.
  auto d = p.next_promotion();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->rung, 1);
  EXPECT_EQ(d->trial, 3);
  EXPECT_EQ(d->kind, DecisionKind::kPromote);
  p.promote(3, 1);
  d = p.next_promotion();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->rung, 0);
  EXPECT_EQ(d->trial, 4);
  EXPECT_THROW(p.promote(2, 1), std::invalid_argument);  // t2 is paused at rung 0, not 1
  EXPECT_THROW(p.promote(3, 1), std::invalid_argument);  // already promoted
}

TEST(Asha, TiesGoToTheEarlierTrial) {
  EarlyStopping p(asha({1, 3}, 2), Direction::kMinimize, 1);
  p.report(5, 0, 0, 0.3);
  p.report(2, 0, 0, 0.3);
  auto d = p.next_promotion();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->trial, 2);
  EXPECT_EQ(p.ranking(0), (std::vector<std::int64_t>{2, 5}));
}

TEST(Asha, FoldsMoveTogetherAndTheScoreIsTheirMean) {
  EarlyStopping p(asha({2, 6}, 2), Direction::kMaximize, 3);
  EXPECT_TRUE(p.expects(0, 1));
  EXPECT_FALSE(p.report(0, 0, 0, 0.9));
  EXPECT_FALSE(p.expects(0, 0));  // reached the rung: waits for its sibling folds
  EXPECT_TRUE(p.expects(0, 1));
  EXPECT_FALSE(p.expects(0, 3));  // no such fold
  EXPECT_FALSE(p.report(0, 2, 0, 0.6));
  auto d = p.report(0, 1, 0, 0.6);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, DecisionKind::kPause);
  EXPECT_DOUBLE_EQ(d->score, 0.7);
  EXPECT_THROW(p.report(0, 1, 0, 0.6), std::invalid_argument);  // paused: no fold may report
  // Trial 1: one fold fails on the way to rung 0; its score is the mean of the other two.
  p.report(1, 0, 0, std::nullopt);
  p.report(1, 1, 0, 0.8);
  d = p.report(1, 2, 0, 0.7);
  ASSERT_TRUE(d);
  EXPECT_DOUBLE_EQ(d->score, 0.75);
  d = p.next_promotion();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->trial, 1);
  p.promote(1, 0);
  // At the next rung only its two live folds are expected.
  EXPECT_FALSE(p.expects(1, 0));
  EXPECT_TRUE(p.expects(1, 1));
  EXPECT_FALSE(p.expects(0, 1));  // paused
  EXPECT_FALSE(p.report(1, 1, 1, 0.85));
  EXPECT_THROW(p.report(1, 0, 1, 0.85), std::invalid_argument);  // failed for good
  d = p.report(1, 2, 1, 0.75);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, DecisionKind::kFinish);
  EXPECT_DOUBLE_EQ(d->score, 0.8);
}

TEST(Asha, ATrialWhoseFoldsAllFailCountsInNoRung) {
  EarlyStopping p(asha({1, 3}, 2), Direction::kMinimize, 2);
  p.report(0, 0, 0, std::nullopt);
  auto d = p.report(0, 1, 0, std::nullopt);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, DecisionKind::kFail);
  EXPECT_EQ(p.state(0), TrialState::kFailed);
  p.report(1, 0, 0, 0.4);
  p.report(1, 1, 0, 0.4);
  // n = 1 (the failed trial is not in the population): floor(1/2) = 0, no promotion yet.
  EXPECT_FALSE(p.next_promotion());
  p.report(2, 0, 0, 0.5);
  p.report(2, 1, 0, 0.5);
  EXPECT_EQ(trials_of(take_promotions(p)), std::vector<std::int64_t>{1});
  const auto pop = p.populations();
  EXPECT_EQ(pop[0].reached, 2);
  EXPECT_EQ(pop[0].failed, 1);
  EXPECT_THROW(p.report(0, 0, 1, 0.1), std::invalid_argument);
}

TEST(Asha, ReportsOutOfSequenceAreRejected) {
  EarlyStopping p(asha({1, 3}, 2), Direction::kMinimize, 2);
  EXPECT_THROW(p.report(0, 0, 1, 0.1), std::invalid_argument);  // trains towards rung 0
  EXPECT_THROW(p.report(0, 2, 0, 0.1), std::invalid_argument);  // no fold 2
  p.report(0, 0, 0, 0.1);
  EXPECT_THROW(p.report(0, 0, 0, 0.1), std::invalid_argument);  // twice
}

// A search driven as the coordinator drives it: a work queue of folds, every promotion taken at once
// and its folds queued behind. The same inputs give the same decisions, and a fresh policy fed the log of
// the first half (reports and promotions, in order: what a restarted coordinator reads from the store)
// continues with exactly the decisions of the uninterrupted one.
TEST(Asha, DeterministicAndReplayable) {
  struct Action {
    bool promote;
    std::int64_t trial;
    int fold;
    int rung;
    double score;
  };
  struct Search {
    EarlyStopping p{asha({1, 3, 9}), Direction::kMaximize, 2};
    std::deque<std::pair<std::int64_t, int>> queue;
    std::vector<Decision> decisions;
    std::vector<Action> log;
    Search() {
      for (std::int64_t t = 0; t < 12; ++t)
        for (int f = 0; f < 2; ++f) queue.emplace_back(t, f);
    }
    void step() {
      auto [t, f] = queue.front();
      queue.pop_front();
      const int rung = p.rung_index(t);
      const double score = std::fmod(t * 0.37 + f * 0.11 + rung * 0.05, 1.0);
      log.push_back({false, t, f, rung, score});
      if (auto d = p.report(t, f, rung, score)) decisions.push_back(*d);
      for (const auto& d : take_promotions(p)) {
        log.push_back({true, d.trial, 0, d.rung, 0});
        decisions.push_back(d);
        for (int g = 0; g < 2; ++g) queue.emplace_back(d.trial, g);
      }
    }
  };
  Search a, b;
  while (!a.queue.empty()) a.step();
  while (!b.queue.empty()) b.step();
  EXPECT_EQ(a.decisions, b.decisions);
  EXPECT_GT(a.decisions.size(), 12u);  // 12 pauses at rung 0 and promotions beyond them

  Search first;
  for (int i = 0; i < 20; ++i) first.step();
  Search resumed;
  resumed.queue = first.queue;
  for (const Action& x : first.log) {
    if (x.promote) {
      resumed.p.promote(x.trial, x.rung);
    } else {
      resumed.p.report(x.trial, x.fold, x.rung, x.score);
    }
  }
  resumed.decisions = first.decisions;
  while (!resumed.queue.empty()) resumed.step();
  EXPECT_EQ(resumed.decisions, a.decisions);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(resumed.p.ranking(k), a.p.ranking(k));
}

// Median rule, losses, rungs 2/4/8, start-up 2: the third trial at a rung is the first that can stop.
TEST(Median, StopsATrialWorseThanTheMedianOfTheOthers) {
  EarlyStopping p(median({2, 4, 8}, 2), Direction::kMinimize, 1);
  EXPECT_EQ(p.report(0, 0, 0, 0.5)->kind, DecisionKind::kContinue);     // no others yet
  EXPECT_EQ(p.report(1, 0, 0, 0.875)->kind, DecisionKind::kContinue);   // one other < start-up
  EXPECT_EQ(p.report(2, 0, 0, 0.75)->kind, DecisionKind::kStop);        // median(0.5, 0.875) = 0.6875 < 0.75
  EXPECT_EQ(p.report(3, 0, 0, 0.625)->kind, DecisionKind::kContinue);   // median(0.5, 0.875, 0.75) = 0.75
  EXPECT_EQ(p.report(4, 0, 0, 0.6875)->kind, DecisionKind::kContinue);  // median(.5,.625,.75,.875) = 0.6875: a tie continues
  EXPECT_EQ(p.state(2), TrialState::kStopped);
  EXPECT_EQ(p.target_epoch(0), 4);
  EXPECT_FALSE(p.next_promotion());  // the median rule never pauses
  EXPECT_THROW(p.report(2, 0, 1, 0.1), std::invalid_argument);
  // Rung 1 (epoch 4): trial 0 then 3 then 1, start-up 2 again counts the trials at this rung only.
  EXPECT_EQ(p.report(0, 0, 1, 0.40)->kind, DecisionKind::kContinue);
  EXPECT_EQ(p.report(3, 0, 1, 0.30)->kind, DecisionKind::kContinue);
  EXPECT_EQ(p.report(1, 0, 1, 0.36)->kind, DecisionKind::kStop);  // median(0.4, 0.3) = 0.35 < 0.36
  // The last rung never stops: the trial is complete.
  EXPECT_EQ(p.report(0, 0, 2, 0.99)->kind, DecisionKind::kFinish);
  const auto pop = p.populations();
  EXPECT_EQ(pop[0].reached, 5);
  EXPECT_EQ(pop[0].stopped, 1);
  EXPECT_EQ(pop[0].promoted, 4);
  EXPECT_EQ(pop[1].stopped, 1);
  EXPECT_EQ(pop[2].reached, 1);
}

TEST(Median, HigherIsBetterForDiceAndFoldsAverage) {
  EarlyStopping p(median({1, 5}, 1), Direction::kMaximize, 2);
  p.report(0, 0, 0, 0.6);
  EXPECT_EQ(p.report(0, 1, 0, 0.8)->kind, DecisionKind::kContinue);  // 0.7
  p.report(1, 0, 0, 0.7);
  auto d = p.report(1, 1, 0, 0.68);  // 0.69 < median 0.7
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, DecisionKind::kStop);
  EXPECT_NEAR(d->score, 0.69, 1e-12);
  // A trial with one failed fold: judged on the other (0.75 > median(0.7, 0.69) = 0.695).
  p.report(2, 0, 0, std::nullopt);
  EXPECT_EQ(p.report(2, 1, 0, 0.75)->kind, DecisionKind::kContinue);
}
