// Case lists and cross-validation folds (LibTorch-free; the coordinator uses these to plan and store
// the folds every variant shares).
#pragma once

#include <string>
#include <vector>

#include "ablations/config.hpp"

namespace ablate::trainer {

// Case ids of the dataset's training cases (dataset.json "training" entries), in file order.
// Throws std::runtime_error naming the file on a missing or broken dataset.json.
std::vector<std::string> list_cases(const DataConfig& data);

struct Split {
  std::vector<std::string> train;
  std::vector<std::string> val;   // held out of the training fold for model selection
  std::vector<std::string> test;
};

// The folds of one repeat: k folds over cases (or one fixed train/val/test split when study.split is
// set), deterministic from study.seed + repeat, never splitting a case.
std::vector<Split> make_splits(const std::vector<std::string>& cases, const StudyConfig& study, int repeat);

}  // namespace ablate::trainer
