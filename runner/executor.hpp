// What a worker does with a task. The real executor trains and evaluates (trainer::run_task); the
// sleep executor only waits, for the dispatch benchmark and runner tests that need no model.
//
// Contract: one Executor serves a whole process. Under MPI the worker rank's loop calls it from one thread;
// in one process (runner/run.hpp) every worker thread calls the same Executor, so execute, execute_group,
// gpu_count, check_device and release_memory may run concurrently and keep a task's state on the calling
// thread's stack. estimate_cost and framework_version are the coordinator's, called while it plans, before
// any worker is welcomed: they may keep an unguarded cache. ctx.on_epoch and on_member_epoch run on the
// calling thread. execute and execute_group throw Interrupted when *ctx.stop was set (after a checkpoint)
// and any other std::exception for a failed task; the worker loop turns both into a result message.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "ablations/study.hpp"
#include "ablations/task.hpp"
#include "runner/messages.hpp"

namespace ablate::runner {

// Thrown by an executor that stopped on request (it has checkpointed).
class Interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ExecContext {
  Placement placement;                               // device and thread count for this task
  std::function<void(const EpochRecord&)> on_epoch;  // progress after every epoch
  // execute_group: progress of member m (0 = the task, m = task.shared_with[m-1]) after every epoch.
  std::function<void(std::size_t, const EpochRecord&)> on_member_epoch;
  const std::atomic<bool>* stop = nullptr;           // set on SIGTERM/SIGUSR1
};

// What a worker's device check saw (Executor::check_device).
struct DeviceReport {
  bool ok = true;
  std::string facts;    // GPU model, compute capability, CUDA/cuDNN, LibTorch; "cpu" on the CPU
  std::string problem;  // !ok: what failed
};

class Executor {
 public:
  virtual ~Executor() = default;
  // Runs one task; throws Interrupted when stopped, any std::exception on failure.
  virtual TaskResult execute(const Task& task, const ExecContext& ctx) = 0;
  // A shared training (Task::shared_with, ablations/sharing.hpp): one outcome per member, the task first.
  // Throws Interrupted when stopped and any std::exception when the training failed (every member failed);
  // a member whose evaluation failed has outcome kFailed with its error. The default runs each member as
  // a task of its own (correct, but it trains once per member); the trainer executor trains once.
  virtual std::vector<MemberResult> execute_group(const Task& task, const ExecContext& ctx);
  // Relative cost of one task of a variant (only the ratios between variants matter), for longest-first.
  virtual double estimate_cost(const Variant& variant) = 0;
  // Whether the device has CUDA GPUs (placement), and how many.
  virtual int gpu_count() { return 0; }
  virtual std::string framework_version() { return ""; }
  // Worker start, from the thread that runs the tasks: bind the placement's device and try it
  // (trainer::check_device); ranks_per_gpu > 1 caps this process's share of the GPU. The default (executors
  // without a device) is ok with facts = the device's name.
  virtual DeviceReport check_device(const Placement& placement, int ranks_per_gpu);
  // After every task, whatever its outcome: give cached device memory back (trainer::release_device_memory).
  virtual void release_memory(const Placement& /*placement*/) {}
};

// Member m of a shared training as a task of its own (m = 0: the task itself without its members).
Task member_task(const Task& task, std::size_t m);

// trainer::run_task: parses the task's canonical configuration and trains (trainer::run_group for a
// shared training). The cost estimate is the
// network's parameter count x epochs x steps per epoch (100 when steps_per_epoch = 0, i.e. a pass over the
// data) x batch size x image pixels (trainer::count_parameters, no forward pass), see docs/RUNNER.md.
std::unique_ptr<Executor> make_trainer_executor();

// Sleeps `seconds(task)` in slices of `epochs` pseudo-epochs (each reported as progress; a stop request
// interrupts at the next slice). The result carries a "dice" fold metric derived from the task seed,
// variant and fold, so stores are checkable. cost(variant) is its estimate.
std::unique_ptr<Executor> make_sleep_executor(std::function<double(const Task&)> seconds,
                                              std::function<double(const Variant&)> cost, int epochs = 1);

}  // namespace ablate::runner
