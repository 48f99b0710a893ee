// Case lists and cross-validation folds (LibTorch-free; the coordinator uses these to plan and store
// the folds every variant shares).
//
// Contract: no state kept; any thread may call these. Each throws std::runtime_error naming what is wrong:
// the dataset readers the file, make_splits the case list or the study.folds / study.split /
// study.validation_fraction it cannot split by (duplicate ids, ratios that do not sum to 1, more parts
// than cases).
#pragma once

#include <string>
#include <vector>

#include "ablations/config.hpp"

namespace ablate::trainer {

// Case ids of the dataset's training cases (dataset.json "training" entries), in file order.
// Throws std::runtime_error naming the file on a missing or broken dataset.json.
std::vector<std::string> list_cases(const DataConfig& data);

// The dataset's fingerprint, for reusing finished trainings (docs/RUNNER.md "Reusing finished trainings"):
// SHA-256 (first 16 hex digits) of dataset.json and every training case's image and label file, each as
// its path inside the dataset folder, its size in bytes and its modification time in whole seconds. Not
// the contents: reading a dataset of many GB at every run would cost more than most trainings save; a
// copy that keeps modification times (cp -p, rsync -a) keeps the fingerprint, one that does not (or a
// touch) changes it, which only costs a training. Caches (data.cache_dir, .ablate-cache) are not read.
// Throws std::runtime_error as list_cases does, or naming a case file that cannot be read.
std::string dataset_fingerprint(const DataConfig& data);

struct Split {
  std::vector<std::string> train;
  std::vector<std::string> val;   // held out of the training fold for model selection
  std::vector<std::string> test;
};

// The folds of one repeat: k folds over cases (or one fixed train/val/test split when study.split is
// set), deterministic from study.seed + repeat, never splitting a case.
std::vector<Split> make_splits(const std::vector<std::string>& cases, const StudyConfig& study, int repeat);

}  // namespace ablate::trainer
