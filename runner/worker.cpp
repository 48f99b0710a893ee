// A worker: waits for the coordinator's welcome, reports its placement, then runs the tasks it is sent
// until told to shut down. Progress goes back after every epoch; the result after the task.
#include <spdlog/spdlog.h>

#include <chrono>

#include "runner/messages.hpp"
#include "runner/run.hpp"
#include "runner/worker.hpp"

namespace ablate::runner {

void run_worker(Transport& t, Executor& executor, const std::atomic<bool>& stop) {
  Envelope env;
  Welcome welcome;
  for (;;) {
    if (!t.receive(env, 1.0)) continue;
    MessageKind k = kind_of(env.bytes);
    if (k == MessageKind::kShutdown) return;
    if (k == MessageKind::kWelcome) {
      welcome = decode_welcome(env.bytes);
      break;
    }
    throw MessageError("worker " + std::to_string(t.rank()) + ": expected a welcome, got message kind " +
                       std::to_string(static_cast<int>(k)));
  }
  int gpus = executor.gpu_count();
  if (welcome.gpus_per_node > 0 && gpus > welcome.gpus_per_node) gpus = welcome.gpus_per_node;
  const Placement placement = place_worker(t.node(), t.rank(), gpus, welcome.ranks_per_gpu);
  spdlog::info("worker {} on {}: local rank {}, device {}, {} thread(s)", placement.rank, placement.host,
               placement.local_rank, placement.device, placement.threads);
  t.send(0, encode(placement));

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
    auto t0 = std::chrono::steady_clock::now();
    try {
      ExecContext ctx;
      ctx.placement = place_task(placement, parse_canonical(task.canonical_config));
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
      }
      res.outcome = Outcome::kDone;
    } catch (const Interrupted& e) {
      res.outcome = Outcome::kInterrupted;
      res.error = e.what();
    } catch (const std::exception& e) {
      res.outcome = Outcome::kFailed;
      res.error = e.what();
      spdlog::warn("task {} ({} fold {} repeat {}) failed: {}", task.task_id, task.variant, task.fold, task.repeat, e.what());
    }
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    t.send(0, encode(res));
  }
}

}  // namespace ablate::runner
