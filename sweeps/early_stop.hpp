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
// Median stopping (Golovin et al., "Google Vizier", KDD 2017, Sec. 3.2.2; Optuna's MedianPruner): a trial
// reaching rung k < K is stopped when its score is strictly worse than the median of the scores of the
// other trials that reached rung k before it (mean of the two middle ones for an even count); otherwise it
// continues. Vizier compares the best value so far with the median of the other trials' running averages;
// here both sides are best-so-far scores at the same rung, as the trial's own side is in Optuna. Warm-up:
// no decision before r_0 (the first rung). Start-up: nothing is stopped at rung k until at least
// startup_trials other trials have a score there (Optuna's n_startup_trials counts completed trials; here
// the trials that reached the same rung, so that a search whose trials all run at once can still stop).
//
// Ties: equal scores are ordered by trial id (the lower, i.e. earlier in the study's expansion order, ranks
// better), so decisions never depend on how a sort breaks ties. A score equal to the median continues.
// Scores are compared in the objective's direction (objective_direction()): lower is better for the
// loss and for distances (assd, hd95), higher for overlaps (dice, iou, ...).
//
// Thread safety: none; the coordinator's one thread owns an EarlyStopping.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sweeps/metric.hpp"  // Direction, objective_direction()

namespace ablate::sweeps {

// Whether a is strictly better than b in direction d. A NaN is worse than any number and never better.
bool better(double a, double b, Direction d);

// The best of values[0 .. epochs-1] in direction d (a fold's score at a rung of `epochs` epochs); NaN when
// there is none. Values past `epochs` are ignored.
double best_so_far(const std::vector<double>& values, int epochs, Direction d);

struct EarlyStopConfig {
  std::string method = "none";  // none | median | asha
  std::vector<int> rungs;       // epochs, strictly increasing, > 0, the last one = train.epochs
  int reduction = 3;            // ASHA's eta: the top 1/eta of a rung is promoted (>= 2)
  int startup_trials = 3;       // median: other trials needed at a rung before it stops any (>= 1)
};

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

  // Fold `fold` of `trial` reached rung `rung` with `score` (its best_so_far at r_rung), or, with nullopt,
  // failed for good on the way to it. Returns the decision about the trial when this report completes the
  // trial's rung (every live fold accounted for), nothing while folds are still on their way.
  // Throws std::invalid_argument on a report the sequence does not allow (a rung other than the one the
  // trial trains towards, the same fold twice, a fold out of range or already failed): a corrupt log.
  std::optional<Decision> report(std::int64_t trial, int fold, int rung, std::optional<double> score);

  // ASHA: the promotion a free worker should take now, if any (highest rung first, then best score, then
  // lowest trial id); nothing for the median rule. Does not change the state: call promote() to act.
  std::optional<Decision> next_promotion() const;
  // Records the promotion of a paused trial from its rung (a decision of next_promotion(), replayed or new).
  // Throws std::invalid_argument when the trial is not paused at that rung.
  void promote(std::int64_t trial, int rung);

  TrialState state(std::int64_t trial) const;   // kRunning for a trial never reported
  // Whether a report of this fold is due: the trial trains towards a rung, the fold is alive and has not
  // reached that rung yet (what the coordinator may dispatch).
  bool expects(std::int64_t trial, int fold) const;
  int rung_index(std::int64_t trial) const;     // the rung it trains towards or stands at
  int rung_epoch(int rung) const { return rungs_.at(static_cast<size_t>(rung)); }
  int rungs() const { return static_cast<int>(rungs_.size()); }
  // The epoch a live fold of the trial trains to next (r of its rung).
  int target_epoch(std::int64_t trial) const { return rung_epoch(rung_index(trial)); }
  std::vector<RungPopulation> populations() const;
  // Trial ids with a score at rung k, best first (the ranking promotions are drawn from).
  std::vector<std::int64_t> ranking(int rung) const;

 private:
  struct Trial {
    int rung = 0;
    TrialState state = TrialState::kRunning;
    std::set<int> failed;                    // folds failed for good
    std::map<int, double> pending;           // fold -> score at the current rung
    std::set<int> promoted_from;             // ASHA rungs it was promoted (median: continued) from
  };
  Trial& trial_(std::int64_t id) { return trials_[id]; }
  Decision judge(std::int64_t id, Trial& t, double score);
  bool ranks_before(std::int64_t a, std::int64_t b, int rung) const;

  std::string method_;
  std::vector<int> rungs_;
  int reduction_;
  int startup_;
  Direction dir_;
  int folds_;
  std::map<std::int64_t, Trial> trials_;
  // Per rung: trial -> score, and the arrival order (the median's "before it").
  std::vector<std::map<std::int64_t, double>> scores_;
  std::vector<std::vector<std::int64_t>> arrivals_;
  std::vector<int> failed_at_;
  std::vector<int> stopped_at_;
};

}  // namespace ablate::sweeps
