// The report of a searched study ([sweep] method = random | sobol | tpe, docs/STUDY.md "Searches"): the
// trials sorted by their validation objective, the objective against each sampled key, parallel
// coordinates, the best objective so far against the training epochs spent, and a parameter-importance
// table (docs/REPORTS.md "Searches"). Deterministic: the same StudyData gives byte-identical text.
// A study without trials gets nothing, so the report of any other study is unchanged.
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

// Trials sorted by objective, best first (unfinished last, by trial): CSV with the sampled values.
std::string search_trials_csv(const db::StudyData& study);
// The "Search" section of report.html (an <h2> and its tables and SVGs); "" without trials.
std::string search_section_html(const db::StudyData& study);

}  // namespace ablate::reports
