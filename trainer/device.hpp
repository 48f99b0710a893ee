// Numerics flags of LibTorch, set per task from the study and reset after it (internal to trainer/).
//
// cuDNN's algorithm choice (deterministic / benchmark), TF32 in cuDNN convolutions and cuBLAS matrix
// products, and the deterministic-algorithms mode are process-wide in LibTorch (at::globalContext()). A task
// sets them from its train.deterministic on entry and the process gets its own back when the last task
// running in it ends, so one study's choice never leaks into the next task or a later study of the process.
//
//   train.deterministic = true  (the default): cuDNN deterministic, no benchmark, TF32 off in cuDNN and cuBLAS
//   train.deterministic = false: cuDNN benchmark (the fastest algorithm per shape), TF32 on in both
//
// The deterministic-algorithms mode stays off in both: on CUDA it refuses bilinear upsampling's backward,
// which most networks here use, and its warn-only form warns at every step. docs/RUNNER.md "Reproducibility"
// says what is bit-identical where.
//
// Threads: in a plain-process run several worker threads may run tasks at once. The first task to enter
// saves and sets the flags, the last to leave restores them; a task entering with other settings than the
// ones in force runs with those in force and says so in the log (the flags cannot differ per thread).
#pragma once

#include <string>

#include "ablations/config.hpp"

namespace ablate::trainer {

struct NumericsFlags {
  bool deterministic_cudnn = false;
  bool benchmark_cudnn = false;
  bool tf32_cudnn = false;
  bool tf32_cublas = false;
  bool deterministic_algorithms = false;
  bool operator==(const NumericsFlags& o) const;
  bool operator!=(const NumericsFlags& o) const { return !(*this == o); }
};

// The flags a task with this [train] table runs with (the table above).
NumericsFlags numerics_for(const TrainConfig& train);
// The flags in force now (at::globalContext() getters), and setting them (its setters).
NumericsFlags current_numerics();
void set_numerics(const NumericsFlags& f);
// "cudnn.deterministic=1 cudnn.benchmark=0 tf32.cudnn=0 tf32.cublas=0 deterministic_algorithms=0"
std::string numerics_text(const NumericsFlags& f);

class NumericsScope {
 public:
  // `where` names the task in the log line of a conflict.
  NumericsScope(const TrainConfig& train, std::string where);
  ~NumericsScope();
  NumericsScope(const NumericsScope&) = delete;
  NumericsScope& operator=(const NumericsScope&) = delete;
};

}  // namespace ablate::trainer
