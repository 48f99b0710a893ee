// A worker: waits for the coordinator's welcome, binds and checks its device, reports its placement (or
// refuses to start), then runs the tasks it is sent until told to shut down. Progress goes back after every
// epoch; the result after the task. GPU faults: an out-of-memory is its own outcome (not retried), a sticky
// CUDA error retires the worker (it answers no more tasks; the coordinator runs them elsewhere).
#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>

#include "runner/messages.hpp"
#include "runner/run.hpp"
#include "runner/worker.hpp"
#include "trainer/trainer.hpp"

namespace ablate::runner {

namespace {

// The welcome, or nothing when the coordinator shut the run down before it started.
std::optional<Welcome> await_welcome(Transport& t) {
  Envelope env;
  for (;;) {
    if (!t.receive(env, 1.0)) continue;
    MessageKind k = kind_of(env.bytes);
    if (k == MessageKind::kShutdown) return std::nullopt;
    if (k == MessageKind::kWelcome) return decode_welcome(env.bytes);
    throw MessageError("worker " + std::to_string(t.rank()) + ": expected a welcome, got message kind " +
                       std::to_string(static_cast<int>(k)));
  }
}

// Why this worker cannot serve the study, or nothing. A study asking for GPUs refuses a worker without one
// (instead of training ~100x slower on the CPU); any worker whose device fails its check refuses (instead
// of failing every task it is sent).
std::optional<std::string> refusal(const Placement& p, const Welcome& welcome, int gpus, Executor& executor, DeviceReport& report) {
  const std::string who = "worker " + std::to_string(p.rank) + " on " + p.host + ": ";
  if (welcome.gpus_required && gpus == 0) {
    return who + "the study asks for GPUs (train.device = \"cuda\", or \"auto\" with resources.gpus_per_node > 0) but this "
                 "worker sees no CUDA device (" + executor.framework_version() +
           "); check that the job has GPUs (srun --gpus-per-node, CUDA_VISIBLE_DEVICES) and that ablate links a CUDA "
           "LibTorch, or set train.device = \"cpu\"";
  }
  report = executor.check_device(p, welcome.ranks_per_gpu);
  if (!report.ok) {
    return who + "the device check on " + p.device + " failed (one forward and backward step): " + report.problem +
           (p.device == "cpu" ? "" : "; a LibTorch without kernels for this GPU's architecture (e.g. 1.13 on sm_90) needs LibTorch >= 2.x (README)");
  }
  return std::nullopt;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// The stored error of an out-of-memory: what the task asked of the device, and what would fit.
std::string out_of_memory_text(const Task& task, const VariantConfig& config, const Placement& p, const std::string& error) {
  return "out of memory on " + p.device + " (" + p.host + ") with train.batch_size = " + std::to_string(config.train.batch_size) +
         " at data.image_size = " + std::to_string(config.data.image_size) + " x " + std::to_string(config.data.image_size) + " (" +
         task.variant + " fold " + std::to_string(task.fold) + "): " + first_line(error) +
         ". Not retried (the same task needs the same memory): lower train.batch_size and raise train.accumulate "
         "to keep the effective batch, or lower data.image_size, or use fewer resources.ranks_per_gpu";
}

}  // namespace

void run_worker(Transport& t, Executor& executor, const std::atomic<bool>& stop) {
  const std::optional<Welcome> welcomed = await_welcome(t);
  if (!welcomed) return;
  const Welcome& welcome = *welcomed;
  int gpus = executor.gpu_count();
  if (welcome.gpus_per_node > 0 && gpus > welcome.gpus_per_node) gpus = welcome.gpus_per_node;
  Placement placement = place_worker(t.node(), t.rank(), gpus, welcome.ranks_per_gpu);
  placement.given_gpus = given_gpus();
  // Under a per-rank GPU binding each worker sees its own slot only: the job script checked the node's
  // slots against its workers when it was written.
  if (t.node().local_worker_index == 0 && !gpus_per_rank()) {
    const std::string crowded = oversubscription_warning(t.node(), gpus, welcome.ranks_per_gpu);
    if (!crowded.empty()) spdlog::warn("{}", crowded);
  }
  DeviceReport report;
  if (auto why = refusal(placement, welcome, gpus, executor, report)) {
    spdlog::critical("{}", *why);
    t.send(0, encode_refused(*why));
  } else {
    placement.device_facts = report.facts;
    spdlog::info("worker {} on {}: local rank {}, device {} ({}), {} thread(s){}", placement.rank, placement.host, placement.local_rank,
                 placement.device, report.facts, placement.threads,
                 placement.given_gpus.empty() ? "" : ", given " + placement.given_gpus);
    t.send(0, encode(placement));
  }
  placement.device_facts.clear();  // for the provenance only; tasks' placements do not carry them
  placement.given_gpus.clear();

  std::string retired;  // why this worker takes no more tasks; empty while it does
  Envelope env;
  for (;;) {
    if (!t.receive(env, 1.0)) continue;
    MessageKind k = kind_of(env.bytes);
    if (k == MessageKind::kShutdown) return;
    if (k != MessageKind::kTask) {
      throw MessageError("worker " + std::to_string(t.rank()) + ": unexpected message kind " + std::to_string(static_cast<int>(k)));
    }
    Task task = decode_task(env.bytes);
    ResultMessage res;
    res.task_id = task.task_id;
    if (!retired.empty()) {
      // Sent before the coordinator learnt of the retirement: back to it, to run elsewhere.
      res.outcome = Outcome::kFailed;
      res.retired = true;
      res.error = retired;
      t.send(0, encode(res));
      continue;
    }
    auto t0 = std::chrono::steady_clock::now();
    VariantConfig config;
    ExecContext ctx;
    ctx.placement = placement;
    try {
      config = parse_canonical(task.canonical_config);
      ctx.placement = place_task(placement, config);
      ctx.stop = &stop;
      ctx.on_epoch = [&](const EpochRecord& e) { t.send(0, encode(Progress{task.task_id, e})); };
      spdlog::info("task {} ({} fold {} repeat {}, attempt {}) on {}", task.task_id, task.variant, task.fold, task.repeat,
                   task.attempt, ctx.placement.device);
      if (task.shared_with.empty()) {
        res.result = executor.execute(task, ctx);
      } else {
        // Train once, evaluate many: each member's progress goes out under its own task id.
        ctx.on_member_epoch = [&](std::size_t m, const EpochRecord& e) {
          t.send(0, encode(Progress{m == 0 ? task.task_id : task.shared_with.at(m - 1).task_id, e}));
        };
        spdlog::info("task {}: one training shared by {} task(s)", task.task_id, task.shared_with.size() + 1);
        res.members = executor.execute_group(task, ctx);
        for (std::size_t m = 0; m < res.members.size(); ++m) {
          MemberResult& r = res.members[m];
          if (r.outcome == Outcome::kOutOfMemory) r.error = out_of_memory_text(member_task(task, m), config, ctx.placement, r.error);
        }
      }
      res.outcome = Outcome::kDone;
    } catch (const Interrupted& e) {
      res.outcome = Outcome::kInterrupted;
      res.error = e.what();
    } catch (const std::exception& e) {
      res.outcome = Outcome::kFailed;
      res.error = e.what();
      switch (trainer::classify_failure(e)) {
        case trainer::FailureKind::kOutOfMemory:
          res.outcome = Outcome::kOutOfMemory;
          res.error = out_of_memory_text(task, config, ctx.placement, e.what());
          break;
        case trainer::FailureKind::kDeviceFault:
          res.retired = true;
          retired = "worker " + std::to_string(t.rank()) + " on " + placement.host + " retired after a sticky device error on " +
                    ctx.placement.device + ": " + first_line(e.what());
          spdlog::critical("{}; it takes no more tasks (the coordinator runs them on the other workers)", retired);
          break;
        case trainer::FailureKind::kTask:
          break;
      }
      spdlog::warn("task {} ({} fold {} repeat {}) failed: {}", task.task_id, task.variant, task.fold, task.repeat, res.error);
    }
    executor.release_memory(ctx.placement);
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    t.send(0, encode(res));
  }
}

}  // namespace ablate::runner
