// A scripted training under early stopping, for the tests that run studies with rungs in this process
// (runner_early_stop_test, reports_search_test): no model. The validation score at epoch e is
// q (1 - 1/(e + 1)) + 0.001 fold, so trials of quality q rank the same at every epoch. Like the trainer, a
// task trains from the epoch after its checkpoint to its pause (Task::pause_after_epoch) or to the end, a
// checkpoint already past the pause pausing there; the result repeats every epoch (the checkpoint's
// history), and only a task that reached the end has fold metrics.
#pragma once

#include <algorithm>
#include <functional>

#include "ablations/task.hpp"

namespace rung_script {

// `first`: the first epoch to train (the checkpoint's last + 1); `trained` is called for each epoch trained.
inline ablate::TaskResult train(const ablate::Task& task, int epochs, int first, double q,
                                const std::function<void(const ablate::EpochRecord&)>& trained) {
  const int last = std::max(first - 1, task.pause_after_epoch > 0 && task.pause_after_epoch < epochs ? task.pause_after_epoch : epochs);
  ablate::TaskResult r;
  for (int e = 1; e <= last; ++e) {
    ablate::EpochRecord rec;
    rec.epoch = e;
    rec.val_score = q * (1.0 - 1.0 / (e + 1)) + 0.001 * task.fold;
    rec.val_dice = rec.val_score;
    r.epochs.push_back(rec);
    if (e >= first) trained(rec);
  }
  r.best_epoch = last;
  if (last < epochs) {
    r.paused_after_epoch = last;
  } else {
    r.fold_metrics.push_back({"dice", 1, r.epochs.back().val_score});
  }
  return r;
}

}  // namespace rung_script
