// Early stopping in the coordinator: the glue between the tasks the coordinator schedules, the pure policy
// (sweeps/early_stop.hpp) and the store's early-stopping log. Internal to the runner.
//
// A trial is a variant (its id: the variant's ordinal); its folds are the study's (fold, repeat) pairs. Every
// task of a trial is dispatched with Task::pause_after_epoch = the epoch of the rung its trial trains
// towards (0 at the last rung), pauses there with its checkpoint, and waits until the trial's decision:
// all its folds resume from their checkpoints (median: continue; ASHA: promote) or stay stopped.
//
// Write-ahead: a fold's arrival at a rung is logged in the transaction that stores its epochs
// (Store::record_paused / record_done); the decision it completes, and every promotion, is logged before
// the coordinator acts on it. A coordinator started on the same store replays the log (replay()) and
// rebuilds the same policy state: a promotion logged but never dispatched is dispatched then.
//
// Thread safety: none; the coordinator's thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ablations/task.hpp"
#include "db/store.hpp"
#include "sweeps/early_stop.hpp"

namespace ablate {
struct Study;
}

namespace ablate::runner {

// The first loss.* key whose value differs between the study's variants or that its search samples ("" when
// every trial computes the same loss). Ties at a rung are broken by the validation soft Dice loss
// (1 - epochs.val_soft_dice), which every loss setting shares; for epochs stored without it (before schema
// 7) the validation loss breaks them only when this is "": a study that varies the loss's definition (the
// alpha of the hybrid loss, say) scales the loss by configuration, not by quality (docs/PERFORMANCE.md
// "Early stopping": on a grid over loss.alpha the lowest alpha wins every tie of Dice 0).
std::string varied_loss_key(const Study& study);

class RungScheduler {
 public:
  // `folds`: the study's (fold, repeat) pairs, in the store's order (a trial's fold slots);
  // `select_metric`: train.select_metric, the objective and its direction; `loss_breaks_ties`: whether, for
  // epochs stored without a soft Dice, the validation loss ranks trials of equal score (varied_loss_key()
  // is ""), else the trial order does.
  RungScheduler(const sweeps::EarlyStopConfig& config, const std::string& select_metric,
                const std::vector<std::pair<int, int>>& folds, db::Store& store, std::int64_t study_id,
                bool loss_breaks_ties = true);

  // A variant of the study is a trial with this id (ties of score and loss rank by it: its place in the
  // seeded trial order for a grid or a design, its ordinal for a search). Every variant is added
  // before replay(); a variant proposed later (a sampler) is added before its tasks are dispatched.
  void add_trial(const std::string& variant, std::int64_t id);
  // Rebuilds the policy from the stored log (lines of variants no longer in the study are skipped).
  // Returns the number of lines replayed. Throws std::runtime_error on a log the policy rejects.
  int replay();

  // Whether the task of (variant, fold, repeat) is to run now, and the epoch it trains to (0: the end).
  bool runnable(const std::string& variant, int fold, int repeat) const;
  int pause_epoch(const std::string& variant) const;
  int rung_of(const std::string& variant) const;  // the rung index the trial trains towards or stands at
  // Whether the trial went on past the rung it starts at (its bracket's first under Hyperband, else 0).
  bool past_first_rung(const std::string& variant) const {
    const std::int64_t id = ids_.at(variant);
    return policy_.rung_index(id) > policy_.bracket(id);
  }

  // The fold paused at its rung (r.paused_after_epoch): stores the result and the fold's arrival together,
  // then logs and returns the trial's decision when this completes the trial's rung.
  std::optional<sweeps::Decision> paused(std::int64_t task_id, const std::string& variant, int fold, int repeat,
                                         const TaskResult& r, double now);
  // The fold finished (the last rung): stores the result (Store::record_done) with its arrival.
  std::optional<sweeps::Decision> done(std::int64_t task_id, const std::string& variant, int fold, int repeat,
                                       const TaskResult& r, double now);
  // The fold failed for good (no retries left; the failure itself is already stored).
  std::optional<sweeps::Decision> failed(const std::string& variant, int fold, int repeat);
  // ASHA: the next promotion (logged before it is returned), if any.
  std::optional<sweeps::Decision> promote_next();
  bool has_promotion() const { return policy_.next_promotion().has_value(); }

  const std::string& variant_of(std::int64_t trial) const { return names_.at(trial); }
  std::int64_t trial_id(const std::string& variant) const { return ids_.at(variant); }
  // Whether the rungs' scores are minimised (the objective's direction; the training loss without
  // validation cases).
  bool minimizes() const { return dir_ == sweeps::Direction::kMinimize; }
  // The variant's trial stopped or paused at a rung: the rung and its score (EarlyStopping::standing).
  std::optional<std::pair<int, double>> standing(const std::string& variant) const {
    auto it = ids_.find(variant);
    return it == ids_.end() ? std::nullopt : policy_.standing(it->second);
  }
  std::string populations_text() const;  // one line per rung, for the log

 private:
  int slot_of(int fold, int repeat) const;
  sweeps::RungValue fold_value(const std::vector<EpochRecord>& epochs, int epoch) const;
  void log_decision(const sweeps::Decision& d);
  db::EarlyStopEvent event(const std::string& variant, const char* kind, int rung, int fold, int repeat, double score) const;

  sweeps::EarlyStopping policy_;
  sweeps::Direction dir_;
  bool loss_breaks_ties_;
  std::vector<std::pair<int, int>> folds_;
  db::Store& store_;
  std::int64_t study_id_;
  std::map<std::string, std::int64_t> ids_;
  std::map<std::int64_t, std::string> names_;
};

}  // namespace ablate::runner
