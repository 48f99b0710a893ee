// The early-stopping policies on scripted results (no training): ASHA's rung populations against a
// worked example, the median rule, ties, failures at a rung, folds moving together, determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <utility>
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
  bad.method = "successive_halving";
  EXPECT_NE(check_early_stop(bad, 9).find("method = \"successive_halving\": allowed none | median | asha | hyperband"),
            std::string::npos);
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

// Equal scores with no loss known (NaN): the lower trial id.
TEST(Asha, TiesGoToTheEarlierTrial) {
  EarlyStopping p(asha({1, 3}, 2), Direction::kMinimize, 1);
  p.report(5, 0, 0, 0.3);
  p.report(2, 0, 0, 0.3);
  auto d = p.next_promotion();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->trial, 2);
  EXPECT_EQ(p.ranking(0), (std::vector<std::int64_t>{2, 5}));
}

// The ties of docs/PERFORMANCE.md's 27-configuration search: at the first rung most folds have a
// validation Dice of exactly 0. The validation loss (mean over the folds) ranks them, not the trial id.
TEST(Asha, TiesOfZeroDiceAreBrokenByTheValidationLoss) {
  EarlyStopping p(asha({1, 3, 9}, 3), Direction::kMaximize, 2);
  // Trials 0..5, every fold at Dice 0; mean losses 0.90, 0.80, 0.95, 0.60, 0.85, 0.70.
  const double loss[6][2] = {{0.9, 0.9}, {0.7, 0.9}, {1.0, 0.9}, {0.5, 0.7}, {0.85, 0.85}, {0.7, 0.7}};
  for (int t = 0; t < 6; ++t) {
    EXPECT_FALSE(p.report(t, 0, 0, 0.0, loss[t][0]));
    auto d = p.report(t, 1, 0, 0.0, loss[t][1]);
    ASSERT_TRUE(d);
    EXPECT_DOUBLE_EQ(d->loss, 0.5 * (loss[t][0] + loss[t][1]));
  }
  EXPECT_EQ(p.ranking(0), (std::vector<std::int64_t>{3, 5, 1, 4, 0, 2}));
  // floor(6 / 3) = 2 promotions: the two lowest losses, whatever their ids and arrival order.
  EXPECT_EQ(trials_of(take_promotions(p)), (std::vector<std::int64_t>{3, 5}));
  // A score decides before the loss: a trial with Dice 0.01 and the worst loss ranks first.
  EXPECT_FALSE(p.report(6, 0, 0, 0.02, 5.0));
  p.report(6, 1, 0, 0.0, 5.0);
  EXPECT_EQ(p.ranking(0).front(), 6);
  // A missing loss (NaN) ranks after every known one among equal scores; equal on both, the lower id.
  p.report(7, 0, 0, 0.0);
  p.report(7, 1, 0, 0.0);
  p.report(8, 0, 0, 0.0, 0.6);
  p.report(8, 1, 0, 0.0, 0.6);
  const auto r = p.ranking(0);
  EXPECT_EQ(r.back(), 7);
  EXPECT_EQ(std::vector<std::int64_t>(r.begin() + 1, r.begin() + 4), (std::vector<std::int64_t>{3, 8, 5}));
  // The promotions replay from the same reports in another arrival order.
  EarlyStopping q(asha({1, 3, 9}, 3), Direction::kMaximize, 2);
  for (int t = 5; t >= 0; --t) {
    q.report(t, 1, 0, 0.0, loss[t][1]);
    q.report(t, 0, 0, 0.0, loss[t][0]);
  }
  EXPECT_EQ(trials_of(take_promotions(q)), (std::vector<std::int64_t>{3, 5}));
}

// The loss comes from the epoch the score comes from: the first epoch reaching the best score (the one
// best-epoch selection keeps), not the lowest loss up to the rung.
TEST(EarlyStopDirection, RungValueTakesTheLossOfTheSelectedEpoch) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> dice = {0.0, 0.0, 0.4, 0.4, 0.7};
  const std::vector<double> loss = {0.9, 0.8, 0.6, 0.5, 0.4};
  RungValue v = rung_value(dice, loss, 2, Direction::kMaximize);
  EXPECT_DOUBLE_EQ(v.score, 0.0);
  EXPECT_DOUBLE_EQ(v.loss, 0.9);  // epoch 1: equal Dice later does not replace it
  v = rung_value(dice, loss, 4, Direction::kMaximize);
  EXPECT_DOUBLE_EQ(v.score, 0.4);
  EXPECT_DOUBLE_EQ(v.loss, 0.6);
  v = rung_value(dice, loss, 5, Direction::kMaximize);
  EXPECT_DOUBLE_EQ(v.loss, 0.4);
  v = rung_value({nan, 0.2}, {0.3}, 2, Direction::kMinimize);  // the loss of epoch 2 is missing
  EXPECT_DOUBLE_EQ(v.score, 0.2);
  EXPECT_TRUE(std::isnan(v.loss));
  v = rung_value({nan}, {0.3}, 1, Direction::kMinimize);
  EXPECT_TRUE(std::isnan(v.score));
  EXPECT_TRUE(std::isnan(v.loss));
}

TEST(TrialOrder, APermutationSeededAndStable) {
  std::vector<std::string> names;
  for (int i = 0; i < 27; ++i) names.push_back("v" + std::to_string(i));
  const auto a = trial_order(names, 7);
  std::vector<std::size_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::size_t> identity(names.size());
  for (std::size_t i = 0; i < identity.size(); ++i) identity[i] = i;
  EXPECT_EQ(sorted, identity);  // a permutation
  EXPECT_NE(a, identity);       // not the study's order
  EXPECT_EQ(trial_order(names, 7), a);  // the same on a rerun or a resume
  std::set<std::vector<std::size_t>> orders;
  for (std::uint64_t seed = 1; seed <= 8; ++seed) orders.insert(trial_order(names, seed));
  EXPECT_EQ(orders.size(), 8u);  // each seed its own order
  // A variant removed from the study: the others keep their relative order.
  std::vector<std::string> fewer = names;
  fewer.erase(fewer.begin() + 4);
  std::vector<std::string> expected, got;
  for (std::size_t i : a)
    if (names[i] != "v4") expected.push_back(names[i]);
  for (std::size_t i : trial_order(fewer, 7)) got.push_back(fewer[i]);
  EXPECT_EQ(got, expected);
  // The position of the best configuration of a grid whose order runs from worse to better is spread.
  std::set<std::size_t> last_at;
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    const auto o = trial_order(names, seed);
    last_at.insert(static_cast<std::size_t>(std::find(o.begin(), o.end(), names.size() - 1) - o.begin()));
  }
  EXPECT_GE(last_at.size(), 5u);
  EXPECT_TRUE(trial_order({}, 3).empty());
}

TEST(Asha, StandingIsTheRungAndScoreOfAPausedOrStoppedTrial) {
  EarlyStopping p(asha({1, 3}, 2), Direction::kMaximize, 1);
  EXPECT_FALSE(p.standing(0));  // never reported
  p.report(0, 0, 0, 0.4);
  p.report(1, 0, 0, 0.2);
  ASSERT_TRUE(p.standing(1));
  EXPECT_EQ(*p.standing(1), std::make_pair(0, 0.2));
  take_promotions(p);
  EXPECT_FALSE(p.standing(0));  // promoted: running again
  p.report(0, 0, 1, 0.6);
  EXPECT_FALSE(p.standing(0));  // finished
  EarlyStopping m(median({1, 2, 3}, 1), Direction::kMaximize, 1);
  m.report(0, 0, 0, 0.5);
  m.report(1, 0, 0, 0.1);  // stopped at rung 0
  EXPECT_EQ(*m.standing(1), std::make_pair(0, 0.1));
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

// Hyperband's brackets: Hyperband's n_s in proportion (rungs [1, 3, 9], eta 3: weights 9, 4.5, 3 for the
// brackets that halve 2, 1 and 0 times), interleaved so that any prefix of the trials is close to them.
TEST(Hyperband, BracketsFollowHyperbandsProportions) {
  const auto b = hyperband_brackets(3, 3, 3, 33);
  EXPECT_EQ(std::vector<int>(b.begin(), b.begin() + 7), (std::vector<int>{0, 1, 0, 2, 0, 1, 0}));
  const double share[3] = {9 / 16.5, 4.5 / 16.5, 3 / 16.5};
  int count[3] = {0, 0, 0};
  for (std::size_t i = 0; i < b.size(); ++i) {
    ++count[b[i]];
    for (int k = 0; k < 3; ++k) EXPECT_LE(std::abs(count[k] - share[k] * static_cast<double>(i + 1)), 1.0) << i;
  }
  EXPECT_EQ(count[0], 18);
  EXPECT_EQ(count[1], 9);
  EXPECT_EQ(count[2], 6);
  EXPECT_EQ(hyperband_brackets(3, 3, 3, 33), b);  // deterministic
  // Two brackets of three rungs: the two most aggressive ones (weights 9 and 4.5).
  const auto two = hyperband_brackets(2, 3, 3, 12);
  EXPECT_EQ(std::count(two.begin(), two.end(), 0), 8);
  EXPECT_EQ(std::count(two.begin(), two.end(), 1), 4);
  EXPECT_EQ(hyperband_brackets(1, 3, 3, 5), std::vector<int>(5, 0));  // one bracket: ASHA
}

TEST(Hyperband, ConfigNamesTheBracketsKey) {
  EarlyStopConfig c = asha({1, 3, 9});
  c.method = "hyperband";
  EXPECT_EQ(check_early_stop(c, 9), "");
  c.brackets = 3;
  EXPECT_EQ(check_early_stop(c, 9), "");
  c.brackets = 4;
  EXPECT_EQ(check_early_stop(c, 9), "sweep.early_stop.brackets = 4: allowed 1..3 (bracket b starts its trials at rung b of "
                                    "rungs = [1, 3, 9]), or 0 for one per rung");
  c.brackets = -1;
  EXPECT_NE(check_early_stop(c, 9).find("sweep.early_stop.brackets = -1: allowed 1..3"), std::string::npos);
  c.method = "hyperbnd";
  EXPECT_EQ(check_early_stop(c, 9), "sweep.early_stop.method = \"hyperbnd\": allowed none | median | asha | hyperband");
}

// Each bracket starts its trials at its own rung and promotes among its own trials only.
TEST(Hyperband, EachBracketStartsAtItsRungAndRanksAlone) {
  EarlyStopConfig c = asha({1, 3, 9}, 2);
  c.method = "hyperband";
  EarlyStopping p(c, Direction::kMaximize, 1);
  // Weights 4, 3, 3 (eta 2): ids 0..6 fall in brackets 0, 1, 2, 0, 1, 2, 0.
  const auto b = hyperband_brackets(3, 3, 2, 7);
  EXPECT_EQ(b, (std::vector<int>{0, 1, 2, 0, 1, 2, 0}));
  for (int id = 0; id < 7; ++id) {
    EXPECT_EQ(p.bracket(id), b[static_cast<std::size_t>(id)]);
    EXPECT_EQ(p.rung_index(id), b[static_cast<std::size_t>(id)]);  // a new trial trains to its bracket's first rung
    EXPECT_EQ(p.target_epoch(id), p.rung_epoch(b[static_cast<std::size_t>(id)]));
  }
  std::vector<std::int64_t> first, second, third;
  for (int id = 0; id < 7; ++id) (b[id] == 0 ? first : b[id] == 1 ? second : third).push_back(id);
  ASSERT_GE(first.size(), 2u);
  ASSERT_GE(second.size(), 1u);
  ASSERT_GE(third.size(), 1u);
  // A bracket-1 trial reported at rung 0 is out of sequence.
  EXPECT_THROW(p.report(second[0], 0, 0, 0.5), std::invalid_argument);
  // A bracket-2 trial starts at the last rung: finished at once.
  auto d = p.report(third[0], 0, 2, 0.1);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, DecisionKind::kFinish);
  // Bracket 1 alone at rung 1 with one trial: floor(1 / 2) = 0 promotions, however good it is; bracket 0's
  // trials at rung 0 are ranked without it.
  d = p.report(second[0], 0, 1, 0.99);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, DecisionKind::kPause);
  EXPECT_FALSE(p.next_promotion());
  p.report(first[0], 0, 0, 0.2);
  p.report(first[1], 0, 0, 0.4);
  EXPECT_EQ(p.ranking(0, 0), (std::vector<std::int64_t>{first[1], first[0]}));
  EXPECT_EQ(p.ranking(1, 1), (std::vector<std::int64_t>{second[0]}));
  EXPECT_TRUE(p.ranking(0, 1).empty());
  // The better bracket-0 trial is promoted to rung 1, where it joins bracket 0's rung-1 population.
  d = p.next_promotion();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->trial, first[1]);
  p.promote(d->trial, d->rung);
  EXPECT_EQ(p.target_epoch(first[1]), 3);
  p.report(first[1], 0, 1, 0.5);
  EXPECT_EQ(p.ranking(1, 0), (std::vector<std::int64_t>{first[1]}));
  // Rung populations count every bracket: rung 1 reached by the bracket-1 trial and the promoted one.
  EXPECT_EQ(p.populations()[1].reached, 2);
  EXPECT_EQ(p.populations()[2].reached, 1);
}

// One bracket is ASHA: the same decisions on the same reports.
TEST(Hyperband, OneBracketIsAsha) {
  EarlyStopConfig c = asha({1, 3, 9}, 3);
  EarlyStopConfig h = c;
  h.method = "hyperband";
  h.brackets = 1;
  EarlyStopping a(c, Direction::kMaximize, 1), b(h, Direction::kMaximize, 1);
  const double q[9] = {0.5, 0.8, 0.95, 0.7, 0.3, 0.6, 0.9, 0.2, 0.4};
  std::vector<Decision> da, db;
  for (int t = 0; t < 9; ++t) {
    da.push_back(*a.report(t, 0, 0, q[t]));
    db.push_back(*b.report(t, 0, 0, q[t]));
    for (const auto& d : take_promotions(a)) da.push_back(d);
    for (const auto& d : take_promotions(b)) db.push_back(d);
  }
  EXPECT_EQ(da, db);
}
