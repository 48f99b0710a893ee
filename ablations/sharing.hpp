// Train once, evaluate many: which tasks may share one training. Variants that differ only in
// evaluation-only keys (KeyDef::evaluation_only: model.prune_level, data.evaluate_at, train.select_metric)
// train identically, step for step; such tasks of the same fold and repeat form a group whose first member
// trains while every member keeps its own validation, best-epoch selection and test evaluation
// (trainer::run_group). Each member keeps its own variant hash and its own stored rows. Pure functions:
// no LibTorch, no store (the coordinator and `ablate plan` call them; tests run them on scripted inputs).
//
// Contract: pure functions of their arguments; any thread may call them. Nothing throws for any input (an
// empty list gives no group, an empty fingerprint the empty key).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ablations/config.hpp"

namespace ablate {

// The hash of what training depends on: SHA-256 of the hashed canonical lines (as config_hash) without
// the evaluation-only keys, first 16 hex digits. Two variants with the same training key train identically.
std::string training_key(const VariantConfig& config);

// Why a variant's training cannot be shared, or "" when it can: with train.scheduler = plateau or
// train.early_stop_patience > 0 the validation score (which depends on the evaluation-only keys) steers
// the training itself.
std::string training_not_shareable(const VariantConfig& config);

// One task to group: its variant's training key and ordinal, its fold and repeat, and whether it may share.
struct ShareCandidate {
  std::string training_key;
  int ordinal = 0;      // the variant's ordinal: the lowest trains (stable across runs)
  int fold = 0;
  int repeat = 0;
  bool shareable = true;
};

// Groups of indices into `tasks`: tasks with the same training key, fold and repeat, all shareable. Every
// index lies in exactly one group; a group's first index trains (lowest ordinal, then lowest index), the
// rest are evaluated from its training. Groups come in the order of their first index; a task that shares
// with nothing is a group of one.
std::vector<std::vector<std::size_t>> training_groups(const std::vector<ShareCandidate>& tasks);

// Counts for `ablate plan`: trainings = groups, tasks = all.
struct SharingSummary {
  std::size_t tasks = 0;
  std::size_t trainings = 0;
  std::size_t evaluated_from_shared = 0;  // tasks - trainings
};
SharingSummary summarize_sharing(const std::vector<std::vector<std::size_t>>& groups);

// Never train the same thing twice (docs/RUNNER.md "Reusing finished trainings"): what one task's training
// depends on, across studies and stores. The training key of a task is SHA-256 (first 16 hex digits) of
// - its variant's training_key (config_hash without the evaluation-only keys; the full config_hash when
//   training_not_shareable, since the validation score then steers the training),
// - the seed the task trains with (study.seed + repeat),
// - its training cases in their stored order (and its validation cases when training_not_shareable),
// - the dataset fingerprint (trainer::dataset_fingerprint: names, sizes and modification times of the files).
// An empty fingerprint (the data are unknown) gives "": such a task is never reused nor reusable.
std::string task_training_key(const VariantConfig& config, std::uint64_t seed, const std::vector<std::string>& train_cases,
                              const std::vector<std::string>& val_cases, const std::string& data_fingerprint);

// The key under which a finished task's stored results may stand for another task's: the same training
// (training key) evaluated the same way (the full variant hash, with the evaluation-only keys, and the same
// validation and test cases). "" when training_key is "". Stored in tasks.reuse_key (db/SCHEMA.md).
std::string task_result_key(const std::string& training_key, const std::string& variant_hash,
                            const std::vector<std::string>& val_cases, const std::vector<std::string>& test_cases);

}  // namespace ablate
