// The checkpoint of a task (trainer-internal; LibTorch): model, optimiser, the training state that is in
// neither (TrainState: epoch and step, the plateau schedule, the best epoch, the history of every completed
// epoch), the best weights and the CPU generator state. Written atomically (write, fsync, rename) after
// every epoch, at a pause (Task::pause_after_epoch) and when a stop is requested, so a reader or a restart
// sees the old or the new checkpoint, never half of one. Identified by the task (variant hash, fold,
// repeat, seed; with Task::shared_with also every member's variant hash): another task's checkpoint is
// ignored, not resumed.
//
// Contract: one task's thread writes and reads its own checkpoint file (two tasks never share a path:
// trainer/trainer.hpp); the network and optimiser passed in are the caller's. Failures throw
// std::runtime_error naming the path.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "ablations/task.hpp"
#include "trainer/nn/network.hpp"

namespace ablate::trainer {

// Everything about the optimisation that is not in the model or optimiser state.
struct TrainState {
  int epochs_done = 0;         // completed epochs
  int next_step = 0;           // > 0: epoch epochs_done + 1 was interrupted before this step
  double partial_loss_sum = 0;  // of the interrupted epoch
  std::int64_t partial_loss_count = 0;
  double partial_seconds = 0;
  double lr = 0;               // current learning rate (plateau/none schedulers)
  double plateau_best = -std::numeric_limits<double>::infinity();
  int plateau_bad = 0;
  int best_epoch = 0;
  double best_score = -std::numeric_limits<double>::infinity();
  int since_best = 0;
  bool finished = false;       // training done (all epochs or early stop): only evaluation remains
  double train_seconds = 0;    // over all attempts
  // Every completed epoch of the task, over all attempts: re-reported with the result so that an epoch
  // whose progress message was lost in a crash (checkpoint written, message not yet stored) still lands.
  std::vector<EpochRecord> history;
};

// The selection of a member of a shared training (trainer::run_group) beside the task's own: its best epoch,
// score, epochs without improvement, its epoch history (its own validation values) and its best weights.
struct MemberState {
  TrainState st;  // only best_epoch, best_score, since_best and history are used
  std::vector<torch::Tensor> best;
};

// Writes the checkpoint to `path` atomically; throws std::runtime_error naming the path on failure.
void save_checkpoint(const std::string& path, const Task& task, SegmentationNet& net, const torch::optim::Optimizer& opt,
                     const TrainState& st, const std::vector<torch::Tensor>& best,
                     const std::vector<MemberState>& members = {});
// Loads `path` into net, opt, st, best, the members' states (one per task.shared_with) and the CPU generator. Returns false (and leaves everything as it
// is) when the checkpoint belongs to another task; throws std::runtime_error for an unreadable one or one
// of another format (the message says to delete it).
bool load_checkpoint(const std::string& path, const Task& task, const torch::Device& device, SegmentationNet& net,
                     torch::optim::Optimizer& opt, TrainState& st, std::vector<torch::Tensor>& best,
                     std::vector<MemberState>* members = nullptr);

}  // namespace ablate::trainer
