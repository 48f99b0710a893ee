// Public, LibTorch-free interface of the trainer: what a worker calls to run one task, and what the
// CLI calls for `ablate params`. LibTorch stays inside trainer/*.cpp.
//
// Contract.
//   Threads: run_task and run_group may run concurrently in several threads of one process (the
//   in-process workers of `ablate run --workers N`): each call owns its network, optimiser, data and
//   checkpoint file (one per task; two calls must never be given the same checkpoint_path). What is
//   process-wide is guarded or the same for all: the initial weights are drawn from LibTorch's global
//   generator under a lock (trainer/train.cpp build_model); torch::set_num_threads is process-wide, so
//   among concurrent tasks the last to start sets the intra-op threads of all (give them equal
//   RunContext::threads where bit-for-bit repeatability matters, docs/STUDY.md train.threads).
//   The preprocessing cache (data.cache_dir) is shared through files written atomically (rename).
//   Callbacks: RunContext::on_epoch and on_member_epoch run on the calling thread, between epochs, and
//   on_checkpoint after each checkpoint; they should not throw (an exception from them leaves run_task /
//   run_group as it came, the checkpoint already written).
//   Data: with train.prefetch > 0 each call runs one helper thread that prepares the next training
//   batches (trainer/data/prefetch.hpp), joined before the call returns or throws.
//   Stopping: *RunContext::stop is read between steps from the calling thread; when it turns true the
//   task finishes its step, writes its checkpoint and throws TaskInterrupted.
//   Errors: std::invalid_argument for a configuration the network refuses (naming the model.* key, its
//   value and what is allowed); std::runtime_error naming the case, epoch or step for data and training
//   failures; nothing is left half-written (the checkpoint is replaced atomically).
//   Ownership: the caller owns the Task, configuration and context; the result is returned by value.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ablations/config.hpp"
#include "ablations/task.hpp"

namespace ablate::trainer {

// A task stopped on request (SIGTERM/SIGUSR1) after writing its checkpoint.
class TaskInterrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RunContext {
  std::string device = "cpu";                         // "cpu" or "cuda:N"
  int threads = 1;                                    // intra-op threads
  std::function<void(const EpochRecord&)> on_epoch;   // progress after every epoch
  const std::atomic<bool>* stop = nullptr;            // when set: finish the step, checkpoint, throw TaskInterrupted
  // Off a terminal (no progress bar), a log line "epoch E/N step S/T loss L" at most this often within an
  // epoch, so that long epochs show progress in log files; 0 = after every step.
  double progress_log_seconds = 30;
  // run_group: progress of member m after every epoch (m = 0: the task itself, m >= 1: task.shared_with[m-1]);
  // unset, member 0's progress goes to on_epoch.
  std::function<void(std::size_t, const EpochRecord&)> on_member_epoch;
  // After every checkpoint written (task.checkpoint_path): the epochs it holds complete and, > 0 for one
  // within an epoch (train.checkpoint_seconds, a stop), the step of the next epoch it resumes at.
  std::function<void(int epochs_done, int next_step)> on_checkpoint;
};

// Train the task's variant on its training cases, select the best epoch on the validation cases, and
// evaluate on the test cases. Resumes from task.checkpoint_path when a checkpoint is there.
// Throws std::runtime_error with a message naming the case/epoch/step on failure.
TaskResult run_task(const Task& task, const VariantConfig& config, const RunContext& ctx);

// One member's end of a shared training (run_group): its result, or why its evaluation failed.
struct MemberOutcome {
  bool ok = false;
  TaskResult result;
  std::string error;
  bool out_of_memory = false;  // the evaluation ran out of memory (FailureKind::kOutOfMemory)
};

// Train once, evaluate many (ablations/sharing.hpp): trains `task` once and gives one outcome per member,
// member 0 the task itself and member m the task.shared_with[m-1], each with configs[m] (its variant's
// configuration; every member's training_key must equal the task's). Each member validates every epoch
// with its own evaluation-only keys (model.prune_level, train.select_metric), keeps its own best epoch and
// is test-evaluated from its own selected weights (data.evaluate_at), so its result is what run_task gives
// for it alone (bit-for-bit on CPU with the same thread count; tests/trainer_group_test.cpp). train_seconds
// of every member is the shared training's. A failure of the training throws (every member failed); a
// failure of one member's evaluation fails that member only. The checkpoint (task.checkpoint_path) holds
// every member's selection and is resumed only by the same group.
std::vector<MemberOutcome> run_group(const Task& task, const std::vector<VariantConfig>& configs, const RunContext& ctx);

// Whether this LibTorch build can use CUDA, and how many devices it sees.
bool cuda_available();
int cuda_device_count();
std::string libtorch_version();
// The build and what it sees: "LibTorch 2.3.1, CUDA 12.1, cuDNN 8.9.2, 4 GPU(s)" or "LibTorch 1.13.1, CPU only".
std::string framework_description();

// --- The device of a worker (trainer/device.cpp) -------------------------------------------------------
// A worker calls check_device once at start, from the thread that will run its tasks, and
// release_device_memory after every task. Neither throws: a failure is reported in DeviceCheck::problem.

struct DeviceCheck {
  bool ok = false;
  // For the provenance: "NVIDIA H200, sm_90, 139.8 GiB, CUDA 12.1, cuDNN 8.9.2, memory fraction 0.47" on a
  // GPU, "cpu" on the CPU; each followed by the LibTorch version.
  std::string facts;
  std::string problem;  // !ok: what failed, in LibTorch's words ("no kernel image is available ...")
};

// Binds the calling thread's current CUDA device to `device` ("cuda:N"), so that nothing of the worker lands
// on GPU 0; caps the caching allocator of this process at 0.95 / ranks_per_gpu of the GPU's memory when
// several ranks share it (ranks_per_gpu > 1); then runs one forward and backward step of a small
// convolution, bilinear upsampling and cross-entropy on the device and reads the loss back, which surfaces
// a missing kernel image for the GPU's architecture (an official LibTorch 1.13 on sm_90), a broken driver or
// a GPU that is not there. "cpu" runs the same step on the CPU.
DeviceCheck check_device(const std::string& device, int ranks_per_gpu);

// Returns the caching allocator's unused blocks to the driver (nothing on the CPU), so that the next task of
// this worker, or another rank sharing the GPU, starts from the memory actually in use.
void release_device_memory(const std::string& device);

// --- GPU faults, classified so that the runner can act on them -----------------------------------------
// run_task and run_group throw these (both are runtime_errors whose text names the variant and fold).

// The device (or the host) ran out of memory: retrying the same task on the same kind of device fails the
// same way, so it is not retried.
class DeviceOutOfMemory : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A sticky CUDA error (device-side assert, illegal memory access, ECC, launch failure): the CUDA context of
// this process is unusable until it exits, so every later task of the worker would fail too.
class DeviceFault : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class FailureKind { kTask, kOutOfMemory, kDeviceFault };
// c10::OutOfMemoryError, std::bad_alloc and DeviceOutOfMemory are kOutOfMemory; DeviceFault and any error
// whose text carries a sticky CUDA error (is_sticky_device_error) are kDeviceFault; the rest kTask.
FailureKind classify_failure(const std::exception& e);
// Whether `text` (a c10::Error's message or a CUDA error string) names an error that leaves the CUDA context
// broken: "device-side assert triggered", "an illegal memory access", "illegal instruction", "misaligned
// address", "unspecified launch failure", "uncorrectable ECC error", "CUDA error: unknown error".
bool is_sticky_device_error(const std::string& text);

// `ablate params`: the parameter accounting and output shapes of a variant's network.
struct ComponentParameters {
  std::string component;  // a component registry name (ablations/components.hpp): backbone, cc, sc, ..., guidance
  std::int64_t parameters = 0;
};
// components and outputs describe the network as it predicts: with model.prune_level pruning (003 Table 6)
// the pruned one, whose parameters are inference_parameters (the components sum to it; TaskResult::parameters
// reports the same), while training still updates all trainable_parameters. Unpruned the two are equal.
struct ModelSummary {
  std::int64_t trainable_parameters = 0;
  std::int64_t inference_parameters = 0;
  std::vector<ComponentParameters> components;
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> outputs;  // name -> shape for one input (evaluation mode)
};
ModelSummary summarize_model(const VariantConfig& config, int batch = 1);
// summarize_model(config).trainable_parameters without the forward pass: counted on the network as built,
// so it costs the construction alone whatever data.image_size is (the coordinator's cost estimate asks it
// once per architecture before dispatch). Throws as the network's construction does.
std::int64_t count_parameters(const VariantConfig& config);

}  // namespace ablate::trainer
