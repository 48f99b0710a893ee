// The report of a searched study ([sweep] method = random | sobol | tpe, docs/STUDY.md "Searches"): the
// trials sorted by their validation objective, the objective against each sampled key, parallel
// coordinates, the best objective so far against the training epochs spent, and a parameter-importance
// table (docs/REPORTS.md "Searches"). Deterministic: the same StudyData gives byte-identical text.
// A study without trials gets nothing, so the report of any other study is unchanged.
//
// Contract: as reports/report.hpp: pure functions of the StudyData, any thread, nothing throws for odd or
// missing data (a trial without an objective ranks after the finished ones; an unreadable point reads as
// empty).
#pragma once

#include <string>
#include <vector>

#include "db/rows.hpp"

namespace ablate::reports {

// One sampled key as the provenance describes it ("search_space": `key distribution` lines).
struct SearchKey {
  std::string key;
  std::string dist;  // uniform | log_uniform | int | choice
};
std::vector<SearchKey> search_keys(const db::StudyData& study);

// First-order importance of each key: the correlation ratio eta^2 = sum_g n_g (mean_g - mean)^2 /
// sum_i (y_i - mean)^2 of the finished trials' objectives y grouped by the key (a choice: by its value;
// a numeric key: by rank into min(4, n / 2) groups of near-equal size, an int with at most 4 distinct
// values: by value). This is the main-effect part of a functional ANOVA computed on the trials
// themselves instead of a fitted random forest (Optuna's FanovaImportanceEvaluator): with the tens of
// trials a study affords, a forest's marginals are about as noisy as the groups, and eta^2 needs no
// model, no random seed and no interaction terms. `share` is eta^2 over the sum of all keys' eta^2.
struct Importance {
  std::string key;
  double eta2 = 0;
  double share = 0;
  int groups = 0;
};
// values[i][j]: key j of finished trial i on the key's own scale (log10 for log_uniform, the choice's
// index for choice); y[i] its objective. Keys with fewer than 2 groups get eta2 = 0.
std::vector<Importance> parameter_importance(const std::vector<SearchKey>& keys,
                                             const std::vector<std::vector<double>>& values, const std::vector<double>& y);

// ---- trials at a rung: the one reading that the report and `ablate status` share ---------------------

// A trial whose tasks stand `stopped` at an early-stopping rung (db::StoppedTrialRow) is one of:
enum class RungState {
  kStopped,   // median: stopped there; ASHA: not promoted, and no coordinator runs the study (the search
              // ended, or was interrupted: a later `ablate run` may still promote it)
  kWaiting,   // ASHA: paused there while a coordinator runs the study (a later arrival may promote it)
  kResuming,  // promoted (ASHA) or continued (median) from the rung, its folds not yet dispatched again
  kOnTheWay,  // some of its folds stand at the rung, the others still train towards it: no decision yet
};
RungState rung_state(const db::StoppedTrialRow& s, bool live);
// "stopped at epoch 3", "waiting at epoch 3", "resumes from epoch 3", "1 task(s) at epoch 3, others on the way".
std::string rung_state_text(const db::StoppedTrialRow& s, bool live);

// A search's trials counted once: the report's summary line and `ablate status` print these numbers.
struct TrialCounts {
  int proposed = 0;
  int finished = 0;  // every task done, with an objective
  int stopped = 0;   // RungState::kStopped
  int waiting = 0;   // at a rung, kWaiting, kResuming or kOnTheWay
  int failed = 0;    // every task ended, some failed, none at a rung
  int running = 0;   // the rest: tasks pending, running or interrupted
};
TrialCounts trial_counts(const db::StudyData& study);
// "9 trial(s) proposed, 1 finished, 8 stopped at a rung" (the parts that are 0 after `finished` left out);
// with a budget "9 trial(s) proposed of 9, ...".
std::string trial_counts_text(const TrialCounts& counts, const std::string& budget = "");

// The trials' variants ranked: the finished ones by objective, best first; then those at a rung, the
// highest rung first and by their value there; then the rest in the order proposed. "Trials ranked by
// objective" is the comparison a search gets (docs/REPORTS.md "Searches"), here and in the comparison table.
std::vector<std::string> search_ranking(const db::StudyData& study);

// Trials sorted as search_ranking: CSV with the sampled values, the objective of the finished trials and
// the value at its rung of a trial stopped there.
std::string search_trials_csv(const db::StudyData& study);
// The "Search" section of report.html (an <h2> and its tables and SVGs); "" without trials.
std::string search_section_html(const db::StudyData& study);

}  // namespace ablate::reports
