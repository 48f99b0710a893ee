// Early stopping of trials at rungs: asynchronous successive halving (ASHA) and the median stopping rule.
// Pure policy: no MPI, no LibTorch, no SQLite. The coordinator feeds it what arrives, in arrival order,
// and stores every decision before it acts on it; a restarted coordinator replays the stored events in
// their order and gets the same decisions (the policy is a function of the event sequence alone).
//
// Vocabulary.
//   trial  one configuration (a variant of the study). With cross-validation it has several folds (fold x
//          repeat tasks, the "slots" 0..folds-1 here); decisions are about trials, never single folds.
//   rung   an epoch at which trials are compared: rungs = [r_0 < r_1 < ... < r_K], r_K = train.epochs.
//          A trial's folds train to r_0, pause there (checkpoint written), and are judged; a trial that goes
//          on resumes every fold from its checkpoint to the next rung (never retrained).
//   score  of a fold at rung k: its best validation objective over epochs 1..r_k (best_so_far()), the
//          value best-epoch selection would keep if the fold stopped there. Of a trial at rung k: the mean
//          of its folds' scores over the folds that reached the rung.
//
// How the folds of a trial move together. Every fold of a trial trains to the same rung and pauses; the
// trial reaches rung k when each of its folds still alive has either paused at r_k (with a score) or failed
// on the way (no retries left). A failed fold leaves the trial for good (it is expected at no later rung);
// the trial's score is the mean over the folds that did reach the rung. When every fold has failed, the
// trial fails at that rung and counts in no rung's population. The decision about the trial applies to all
// its live folds at once: all resume to the next rung, or none does.
//
// ASHA (Li et al., "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020, Algorithm 2), with
// reduction factor eta: a trial that reaches rung k < K pauses there. Rung k's population is every trial
// that has reached it with a score (promoted ones included, failed ones never); its top floor(n_k / eta)
// trials by score are promotable, and each of them not yet promoted from rung k is promoted once. A free
// worker asks next_promotion() before it starts a new trial; the promotion from the highest rung comes
// first (Algorithm 2's loop from the top rung down), then the best score in that rung. A trial that is
// not promoted stays paused: a later arrival can still lift it into the top set while the search goes on;
// when the search ends it is stopped at its rung. A trial reaching r_K is finished.
//
// Hyperband (Li, Jamieson, DeSalvo, Rostamizadeh, Talwalkar, "Hyperband: a novel bandit-based approach to
// hyperparameter optimization", JMLR 18, 2018, Algorithm 1), asynchronously as Li et al. 2020 (Sec. 3.3)
// run it: several ASHA brackets, so that a user need not guess the first rung. Bracket b (0 <= b < B,
// B = brackets) starts its trials at rung b: its folds train to r_b before they are first judged, and its
// promotions rank it alone (bracket b's rung k population is its own trials that reached r_k). With
// K = the last rung's index, bracket b halves s = K - b times; Hyperband gives bracket s
// n_s = ceil((s_max + 1) eta^s / (s + 1)) configurations (s_max = K here), i.e. the aggressive brackets
// many cheap trials, the cautious ones few trials trained longer; bracket K trains its trials to the end.
// A trial's bracket is a function of its id (hyperband_brackets(): a smooth weighted round robin over
// the brackets with weights (K + 1) eta^s / (s + 1)), so a replay assigns the same brackets. B = 1 is ASHA.
// The coordinator numbers a grid's trials in the seeded order, so the brackets are a seeded partition.
// BOHB's model-based proposals inside the brackets (Falkner et al. 2018) are not implemented: a TPE search
// proposes as it does without early stopping.
//
// Median stopping (Golovin et al., "Google Vizier", KDD 2017, Sec. 3.2.2; Optuna's MedianPruner): a trial
// reaching rung k < K is stopped when its score is strictly worse than the median of the scores of the
// other trials that reached rung k before it (mean of the two middle ones for an even count); otherwise it
// continues. Vizier compares the best value so far with the median of the other trials' running averages;
// here both sides are best-so-far scores at the same rung, as the trial's own side is in Optuna. Warm-up:
// no decision before r_0 (the first rung). Start-up: nothing is stopped at rung k until at least
// startup_trials other trials have a score there (Optuna's n_startup_trials counts completed trials; here
// the trials that reached the same rung, so that a search whose trials all run at once can still stop).
//
// Ties. Trials with equal scores at a rung (a tiny network's validation Dice is often exactly 0 for every
// configuration at an early epoch) are ranked by a continuous secondary, a loss: the trial's mean over its
// folds of the loss at the epoch its score comes from (rung_value(): the first epoch that reaches the best
// score, the epoch best-epoch selection keeps), lower ranking better, NaN last. Equal on both, the lower
// trial id ranks better, so decisions never depend on how a sort breaks ties; under early stopping the
// coordinator numbers the trials of a grid or a design in a seeded random order (trial_order()), so neither
// the study's order nor the arrival order decides a tie. The coordinator reports the validation soft Dice
// loss (1 - epochs.val_soft_dice, the same scale for every loss setting; runner/rungs.hpp), for epochs stored
// without it the validation loss, and none (NaN) where that is not comparable. The median rule
// compares scores only: a score equal to the median continues.
// Scores are compared in the objective's direction (objective_direction()): lower is better for the
// loss and for distances (assd, hd95), higher for overlaps (dice, iou, ...).
//
// Thread safety: none; the coordinator's one thread owns an EarlyStopping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sweeps/metric.hpp"  // Direction, objective_direction()

namespace ablate::sweeps {

// Whether a is strictly better than b in direction d. A NaN is worse than any number and never better.
bool better(double a, double b, Direction d);

// The best of values[0 .. epochs-1] in direction d (a fold's score at a rung of `epochs` epochs); NaN when
// there is none. Values past `epochs` are ignored.
double best_so_far(const std::vector<double>& values, int epochs, Direction d);

// A fold's standing at a rung of `epochs` epochs: its score (best_so_far of the per-epoch objective) and
// the loss of the epoch the score comes from (the first epoch reaching it, as best-epoch selection keeps
// the earlier of equal epochs), the secondary that breaks ties of the score. Both NaN when no epoch up to
// the rung has a score; `loss` NaN where the loss is missing.
struct RungValue {
  double score;
  double loss;
};
RungValue rung_value(const std::vector<double>& scores, const std::vector<double>& losses, int epochs, Direction d);

// Under early stopping, the order in which the trials of a grid or a design start: a permutation of
// names (the returned vector holds indices into it), a function of the seed and each name alone (sorted by
// SplitMix64 of the seed and the name's FNV-1a hash; equal keys by index), so that it is the same on
// every rerun and resume, and adding or removing a variant keeps the others' relative order.
std::vector<std::size_t> trial_order(const std::vector<std::string>& names, std::uint64_t seed);

struct EarlyStopConfig {
  std::string method = "none";  // none | median | asha | hyperband
  std::vector<int> rungs;       // epochs, strictly increasing, > 0, the last one = train.epochs
  int reduction = 3;            // ASHA's and Hyperband's eta: the top 1/eta of a rung is promoted (>= 2)
  int startup_trials = 3;       // median: other trials needed at a rung before it stops any (>= 1)
  int brackets = 0;             // hyperband: brackets 1..rungs.size(), bracket b starting at rung b; 0 = one per rung
};

// Hyperband: the bracket of each of the trials 0..n-1 (their ids), for `brackets` brackets over `rungs`
// rungs with reduction factor eta (see above). Deterministic; every bracket gets trials in proportion to
// its weight within one trial of its share at any prefix.
std::vector<int> hyperband_brackets(int brackets, int rungs, int reduction, std::size_t n);

// "" when c is valid for a study of train.epochs = epochs, else what is wrong, naming the key
// (sweep.early_stop.<key> = value) and what is allowed.
std::string check_early_stop(const EarlyStopConfig& c, int epochs);

enum class TrialState {
  kRunning,   // training towards rung_index() (also: not yet started)
  kPaused,    // ASHA: waiting at rung_index() for a promotion (stopped there when the search ends)
  kStopped,   // median: stopped at rung_index() for good
  kFinished,  // reached the last rung
  kFailed,    // every fold failed on the way to rung_index()
};
const char* state_name(TrialState s);

enum class DecisionKind {
  kContinue,  // median: go on to the next rung (every live fold resumes from its checkpoint)
  kStop,      // median: stopped at the rung
  kPause,     // ASHA: wait at the rung (next_promotion() may promote it later)
  kPromote,   // ASHA: resume every live fold from the rung to the next one
  kFinish,    // the trial reached the last rung: it is complete
  kFail,      // every fold of the trial failed before the rung
};
const char* decision_name(DecisionKind k);

struct Decision {
  DecisionKind kind = DecisionKind::kContinue;
  std::int64_t trial = 0;
  int rung = 0;               // rung index the decision is taken at
  double score = 0;           // the trial's score at that rung (NaN for kFail)
  double loss = 0;            // the trial's secondary at that rung: mean tie-break loss (NaN: none)
  bool operator==(const Decision& o) const { return kind == o.kind && trial == o.trial && rung == o.rung; }
};

// What `ablate status` shows for a rung.
struct RungPopulation {
  int epoch = 0;       // r_k
  int reached = 0;     // trials with a score at this rung
  int promoted = 0;    // ASHA: promoted from it; median: continued from it
  int waiting = 0;     // ASHA: paused at it now
  int stopped = 0;     // median: stopped at it
  int failed = 0;      // trials whose last folds failed on the way to it
};

class EarlyStopping {
 public:
  // c must pass check_early_stop() (throws std::invalid_argument otherwise) and method != "none";
  // folds_per_trial >= 1 is the number of fold x repeat tasks of every trial.
  EarlyStopping(const EarlyStopConfig& c, Direction d, int folds_per_trial);

  // Fold `fold` of `trial` reached rung `rung` with `score` (its best_so_far at r_rung) and `loss` (the
  // validation loss of that epoch, rung_value(); NaN: unknown), or, with nullopt, failed for good on the
  // way to it. Returns the decision about the trial when this report completes the
  // trial's rung (every live fold accounted for), nothing while folds are still on their way.
  // Throws std::invalid_argument on a report the sequence does not allow (a rung other than the one the
  // trial trains towards, the same fold twice, a fold out of range or already failed): a corrupt log.
  std::optional<Decision> report(std::int64_t trial, int fold, int rung, std::optional<double> score,
                                 double loss = std::numeric_limits<double>::quiet_NaN());

  // ASHA and Hyperband: the promotion a free worker should take now, if any (highest rung first, then the
  // lower bracket, then the ranking); nothing for the median rule. Does not change the state: call promote() to act.
  std::optional<Decision> next_promotion() const;
  // Records the promotion of a paused trial from its rung (a decision of next_promotion(), replayed or new).
  // Throws std::invalid_argument when the trial is not paused at that rung.
  void promote(std::int64_t trial, int rung);

  TrialState state(std::int64_t trial) const;   // kRunning for a trial never reported
  // Hyperband: the trial's bracket, which is also the index of the rung it is first judged at; 0 otherwise.
  int bracket(std::int64_t trial) const;
  // A trial stopped (median) or paused (ASHA) at a rung: that rung's index and the trial's score there
  // (what a sampler learns from a trial that did not finish); nothing for any other state.
  std::optional<std::pair<int, double>> standing(std::int64_t trial) const;
  // Whether a report of this fold is due: the trial trains towards a rung, the fold is alive and has not
  // reached that rung yet (what the coordinator may dispatch).
  bool expects(std::int64_t trial, int fold) const;
  int rung_index(std::int64_t trial) const;     // the rung it trains towards or stands at (a new trial: its bracket's first)
  int rung_epoch(int rung) const { return rungs_.at(static_cast<size_t>(rung)); }
  int rungs() const { return static_cast<int>(rungs_.size()); }
  // The epoch a live fold of the trial trains to next (r of its rung).
  int target_epoch(std::int64_t trial) const { return rung_epoch(rung_index(trial)); }
  std::vector<RungPopulation> populations() const;
  // Trial ids of bracket b (0 but for Hyperband) with a score at rung k, best first (the ranking
  // promotions are drawn from).
  std::vector<std::int64_t> ranking(int rung, int bracket = 0) const;

 private:
  struct Trial {
    int rung = 0;
    TrialState state = TrialState::kRunning;
    std::set<int> failed;                    // folds failed for good
    std::map<int, RungValue> pending;        // fold -> score and loss at the current rung
    std::set<int> promoted_from;             // ASHA rungs it was promoted (median: continued) from
  };
  Trial& trial_(std::int64_t id);
  Decision judge(std::int64_t id, Trial& t, RungValue v);
  bool ranks_before(std::int64_t a, std::int64_t b, int rung) const;

  std::string method_;
  std::vector<int> rungs_;
  int reduction_;
  int startup_;
  int brackets_;  // 1 but for Hyperband
  mutable std::vector<int> bracket_of_;  // hyperband_brackets() of the ids seen so far, extended on demand
  Direction dir_;
  int folds_;
  std::map<std::int64_t, Trial> trials_;
  // Per rung: trial -> score, trial -> loss (the tie-break), and the arrival order (the median's "before it").
  std::vector<std::map<std::int64_t, double>> scores_;
  std::vector<std::map<std::int64_t, double>> losses_;
  std::vector<std::vector<std::int64_t>> arrivals_;
  std::vector<int> failed_at_;
  std::vector<int> stopped_at_;
};

}  // namespace ablate::sweeps
