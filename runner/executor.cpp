#include "runner/executor.hpp"

#include <chrono>
#include <cmath>
#include <map>
#include <sstream>
#include <thread>

#include "trainer/trainer.hpp"

namespace ablate::runner {

Task member_task(const Task& task, std::size_t m) {
  Task t = task;
  t.shared_with.clear();
  if (m == 0) return t;
  const SharedMember& s = task.shared_with.at(m - 1);
  t.task_id = s.task_id;
  t.variant = s.variant;
  t.variant_hash = s.variant_hash;
  t.canonical_config = s.canonical_config;
  t.attempt = s.attempt;
  t.checkpoint_path.clear();  // the task's checkpoint is the group's; a member run alone keeps none
  return t;
}

DeviceReport Executor::check_device(const Placement& placement, int /*ranks_per_gpu*/) {
  DeviceReport r;
  r.facts = placement.device;
  return r;
}

std::vector<MemberResult> Executor::execute_group(const Task& task, const ExecContext& ctx) {
  std::vector<MemberResult> out;
  for (std::size_t m = 0; m <= task.shared_with.size(); ++m) {
    const Task t = member_task(task, m);
    ExecContext c = ctx;
    if (ctx.on_member_epoch) c.on_epoch = [&ctx, m](const EpochRecord& e) { ctx.on_member_epoch(m, e); };
    MemberResult r;
    r.task_id = t.task_id;
    try {
      r.result = execute(t, c);
    } catch (const Interrupted&) {
      throw;
    } catch (const std::exception& e) {
      // A broken device fails the whole group and retires the worker (runner/worker.cpp).
      const trainer::FailureKind kind = trainer::classify_failure(e);
      if (kind == trainer::FailureKind::kDeviceFault) throw;
      r.outcome = kind == trainer::FailureKind::kOutOfMemory ? Outcome::kOutOfMemory : Outcome::kFailed;
      r.error = e.what();
    }
    out.push_back(std::move(r));
  }
  return out;
}

namespace {

class TrainerExecutor : public Executor {
 public:
  TaskResult execute(const Task& task, const ExecContext& ctx) override {
    VariantConfig config = parse_canonical(task.canonical_config);
    trainer::RunContext rc;
    rc.device = ctx.placement.device;
    rc.threads = ctx.placement.threads;
    rc.on_epoch = ctx.on_epoch;
    rc.stop = ctx.stop;
    try {
      return trainer::run_task(task, config, rc);
    } catch (const trainer::TaskInterrupted& e) {
      throw Interrupted(e.what());
    }
  }

  std::vector<MemberResult> execute_group(const Task& task, const ExecContext& ctx) override {
    std::vector<VariantConfig> configs{parse_canonical(task.canonical_config)};
    for (const auto& s : task.shared_with) configs.push_back(parse_canonical(s.canonical_config));
    trainer::RunContext rc;
    rc.device = ctx.placement.device;
    rc.threads = ctx.placement.threads;
    rc.on_member_epoch = ctx.on_member_epoch;
    rc.stop = ctx.stop;
    std::vector<trainer::MemberOutcome> outcomes;
    try {
      outcomes = trainer::run_group(task, configs, rc);
    } catch (const trainer::TaskInterrupted& e) {
      throw Interrupted(e.what());
    }
    std::vector<MemberResult> out;
    for (std::size_t m = 0; m < outcomes.size(); ++m) {
      MemberResult r;
      r.task_id = m == 0 ? task.task_id : task.shared_with[m - 1].task_id;
      r.outcome = outcomes[m].ok ? Outcome::kDone : outcomes[m].out_of_memory ? Outcome::kOutOfMemory : Outcome::kFailed;
      r.error = outcomes[m].error;
      r.result = std::move(outcomes[m].result);
      out.push_back(std::move(r));
    }
    return out;
  }

  double estimate_cost(const Variant& v) override {
    const auto& c = v.config;
    double pixels = static_cast<double>(c.data.image_size) * c.data.image_size;
    double steps = c.train.steps_per_epoch > 0 ? c.train.steps_per_epoch : 100.0;
    return parameters(v) * c.train.epochs * steps * c.train.batch_size * pixels;
  }

  // The network's trainable parameters, built once per distinct architecture: the model.* keys and the
  // classes (a sweep over loss weights or learning rates shares one network, so a 300 x 300 grid of them
  // costs one build, not 90000). Counted without a forward pass (trainer::count_parameters): the count
  // does not depend on the image size, and a full-resolution CPU forward per architecture would delay
  // the first dispatch.
  double parameters(const Variant& v) {
    const auto& c = v.config;
    std::string arch;
    std::istringstream lines(v.canonical);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("model.", 0) == 0) arch += line + "\n";
    }
    arch += "classes = " + std::to_string(c.data.foreground_classes());
    if (auto it = parameters_.find(arch); it != parameters_.end()) return it->second;
    double params = 0;
    try {
      params = static_cast<double>(trainer::count_parameters(c));
    } catch (const std::exception&) {
      // A variant whose network cannot be built fails in its task with a clear message; here a width-based
      // proxy keeps the ordering sensible.
      for (size_t i = 0; i < c.model.widths.size(); ++i) params += 9.0 * c.model.widths[i] * c.model.widths[i] * 2;
    }
    parameters_[arch] = params;
    return params;
  }

  int gpu_count() override { return trainer::cuda_available() ? trainer::cuda_device_count() : 0; }
  std::string framework_version() override { return trainer::framework_description(); }
  DeviceReport check_device(const Placement& placement, int ranks_per_gpu) override {
    const trainer::DeviceCheck c = trainer::check_device(placement.device, ranks_per_gpu);
    return {c.ok, c.facts, c.problem};
  }
  void release_memory(const Placement& placement) override { trainer::release_device_memory(placement.device); }

 private:
  std::map<std::string, double> parameters_;  // architecture -> trainable parameters
};

class SleepExecutor : public Executor {
 public:
  SleepExecutor(std::function<double(const Task&)> seconds, std::function<double(const Variant&)> cost, int epochs)
      : seconds_(std::move(seconds)), cost_(std::move(cost)), epochs_(epochs < 1 ? 1 : epochs) {}

  TaskResult execute(const Task& task, const ExecContext& ctx) override {
    const double total = seconds_(task);
    TaskResult r;
    // Resume: the "checkpoint" of a sleep task is the number of slices already slept, carried by nothing
    // but the epochs reported; a sleep task always restarts at epoch 1.
    for (int e = 1; e <= epochs_; ++e) {
      const auto until = std::chrono::steady_clock::now() +
                         std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(total / epochs_));
      while (std::chrono::steady_clock::now() < until) {
        if (ctx.stop && ctx.stop->load()) throw Interrupted("sleep task stopped in epoch " + std::to_string(e));
        const std::chrono::steady_clock::duration left = until - std::chrono::steady_clock::now();
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(20)));
      }
      EpochRecord rec;
      rec.epoch = e;
      rec.train_loss = 1.0 / e;
      rec.seconds = total / epochs_;
      r.epochs.push_back(rec);
      if (ctx.on_epoch) ctx.on_epoch(rec);
    }
    r.best_epoch = epochs_;
    double h = std::fmod(static_cast<double>(task.seed) * 0.618 + task.fold * 0.137 + task.variant.size() * 0.071, 1.0);
    r.fold_metrics.push_back({"dice", 1, 0.5 + 0.4 * h});
    for (const auto& c : task.test_cases) r.case_metrics.push_back({c, 1, "dice", 0.5 + 0.4 * h});
    r.train_seconds = total;
    return r;
  }

  double estimate_cost(const Variant& v) override { return cost_(v); }

 private:
  std::function<double(const Task&)> seconds_;
  std::function<double(const Variant&)> cost_;
  int epochs_;
};

}  // namespace

std::unique_ptr<Executor> make_trainer_executor() { return std::make_unique<TrainerExecutor>(); }

std::unique_ptr<Executor> make_sleep_executor(std::function<double(const Task&)> seconds,
                                              std::function<double(const Variant&)> cost, int epochs) {
  return std::make_unique<SleepExecutor>(std::move(seconds), std::move(cost), epochs);
}

}  // namespace ablate::runner
