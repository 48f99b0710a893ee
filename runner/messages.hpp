// The messages between the coordinator and the workers: versioned, self-describing byte strings.
// Every message starts with the magic "ABLT", the message format version and the kind; a task carries
// the canonical configuration text of its variant and its case lists (ablations/task.hpp), so a worker
// needs nothing but the message.
//
// Contract: pure functions between values and bytes, no state; any thread may call them. Encoding never
// fails; every decoder throws MessageError on bytes that are not a whole message of this format and kind
// (wrong magic, another version, truncated), never reads past the end and never returns a partial message.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ablations/task.hpp"

namespace ablate::runner {

constexpr std::uint32_t kMessageFormat = 5;  // 5: Ready carries the GPUs the launcher gave the worker

enum class MessageKind : std::uint8_t {
  kWelcome = 1,   // coordinator -> worker: placement settings (ranks_per_gpu)
  kReady = 2,     // worker -> coordinator: idle, with its placement
  kTask = 3,      // coordinator -> worker: one task
  kProgress = 4,  // worker -> coordinator: one epoch of the running task
  kResult = 5,    // worker -> coordinator: the task ended (done, failed or interrupted)
  kShutdown = 6,  // coordinator -> worker: no more work
  kWorkerError = 7,  // worker -> coordinator: the worker loop itself failed (not a task); the run ends
  kRefused = 8,      // worker -> coordinator, instead of kReady: its device cannot serve the study (the run is refused)
};

// kOutOfMemory: the device ran out of memory; a task's memory need does not change on a retry, so it is
// stored as failed at once, with a message naming its batch and image size.
enum class Outcome : std::uint8_t { kDone = 1, kFailed = 2, kInterrupted = 3, kOutOfMemory = 4 };
const char* outcome_name(Outcome o);

struct Welcome {
  int ranks_per_gpu = 1;
  int gpus_per_node = 0;  // 0 = every GPU LibTorch sees
  // The study asks for GPUs (study_wants_gpu): a worker without a working one refuses to start.
  bool gpus_required = false;
};

struct Progress {
  std::int64_t task_id = 0;
  EpochRecord epoch;
};

// One member of a shared training (Task::shared_with) in a result: done or failed on its own.
struct MemberResult {
  std::int64_t task_id = 0;
  Outcome outcome = Outcome::kDone;
  std::string error;
  TaskResult result;  // done only
};

struct ResultMessage {
  std::int64_t task_id = 0;
  Outcome outcome = Outcome::kDone;
  std::string error;  // failed: the exception's text; interrupted: where it stopped
  TaskResult result;  // done only
  double seconds = 0; // wall time of the attempt on the worker
  // A shared training that ended (outcome done): every member's own outcome, the task itself first; then
  // `result` is unused. Empty for an ordinary task, and when the training itself failed or was interrupted
  // (outcome and error then hold for every member).
  std::vector<MemberResult> members;
  // The worker hit a sticky device error (trainer::DeviceFault) and takes no more tasks: the coordinator
  // sends it none and runs the rest on the other workers.
  bool retired = false;
};

// A decoding problem: wrong magic, another format version, truncated bytes.
class MessageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string encode(const Welcome& m);
std::string encode(const Placement& m);  // kReady
std::string encode(const Task& m);
std::string encode(const Progress& m);
std::string encode(const ResultMessage& m);
std::string encode_shutdown();
std::string encode_worker_error(const std::string& what);
std::string encode_refused(const std::string& why);  // kRefused: the rank, host and what it saw

// The kind of a message (checks magic and version).
MessageKind kind_of(const std::string& bytes);
Welcome decode_welcome(const std::string& bytes);
Placement decode_ready(const std::string& bytes);
Task decode_task(const std::string& bytes);
Progress decode_progress(const std::string& bytes);
ResultMessage decode_result(const std::string& bytes);
std::string decode_worker_error(const std::string& bytes);
std::string decode_refused(const std::string& bytes);

}  // namespace ablate::runner
