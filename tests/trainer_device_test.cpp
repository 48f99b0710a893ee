// The device of a worker without a GPU: the numerics flags a task sets and resets (read back with
// at::globalContext()'s getters on the CPU build), the device check on the CPU and on a CUDA device this
// build does not have, the classification of GPU faults, and what the worker and the coordinator do with
// them: an executor throwing LibTorch's own c10::OutOfMemoryError, or the c10::Error of a device-side assert,
// drives an in-process run.
#include <ATen/Context.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <fstream>
#include <new>

#include "db/store.hpp"
#include "inproc_fixture.hpp"
#include "runner/run.hpp"
#include "trainer/device.hpp"
#include "trainer/trainer.hpp"

using namespace ablate;
using namespace ablate::runner;
using ablate::trainer::NumericsFlags;

namespace {

// Leaves the process's flags as it found them, whatever a test did.
class Numerics : public ::testing::Test {
 protected:
  void SetUp() override { before_ = trainer::current_numerics(); }
  void TearDown() override { trainer::set_numerics(before_); }
  NumericsFlags before_;
};

TEST_F(Numerics, SetFromTheStudyPerTaskAndResetAfterIt) {
  // The process's own flags: the opposite of what either setting asks, so that every flag has to move.
  NumericsFlags own;
  own.deterministic_cudnn = false;
  own.benchmark_cudnn = false;
  own.tf32_cudnn = true;
  own.tf32_cublas = true;
  own.deterministic_algorithms = true;
  trainer::set_numerics(own);
  ASSERT_EQ(trainer::current_numerics(), own) << trainer::numerics_text(trainer::current_numerics());

  TrainConfig deterministic;
  deterministic.deterministic = true;
  TrainConfig fast;
  fast.deterministic = false;
  {
    const trainer::NumericsScope task(deterministic, "variant a fold 0");
    const auto& c = at::globalContext();
    EXPECT_TRUE(c.deterministicCuDNN());
    EXPECT_FALSE(c.benchmarkCuDNN());
    EXPECT_FALSE(c.allowTF32CuDNN());
    EXPECT_FALSE(c.allowTF32CuBLAS());
    EXPECT_FALSE(c.deterministicAlgorithms());
    {
      // A second task of the process with the other setting runs with the flags in force (they are
      // process-wide) and does not reset them when it ends before the first.
      const trainer::NumericsScope other(fast, "variant b fold 0");
      EXPECT_EQ(trainer::current_numerics(), trainer::numerics_for(deterministic));
    }
    EXPECT_EQ(trainer::current_numerics(), trainer::numerics_for(deterministic));
  }
  EXPECT_EQ(trainer::current_numerics(), own) << trainer::numerics_text(trainer::current_numerics());

  {
    const trainer::NumericsScope task(fast, "variant b fold 1");
    const auto& c = at::globalContext();
    EXPECT_FALSE(c.deterministicCuDNN());
    EXPECT_TRUE(c.benchmarkCuDNN());
    EXPECT_TRUE(c.allowTF32CuDNN());
    EXPECT_TRUE(c.allowTF32CuBLAS());
    EXPECT_FALSE(c.deterministicAlgorithms());
  }
  EXPECT_EQ(trainer::current_numerics(), own);
}

TEST(DeviceCheck, TheCpuPassesItsProbeAndACudaDeviceThisBuildLacksFails) {
  const trainer::DeviceCheck cpu = trainer::check_device("cpu", 1);
  EXPECT_TRUE(cpu.ok) << cpu.problem;
  EXPECT_EQ(cpu.facts, "cpu, LibTorch " + trainer::libtorch_version());
  if (trainer::cuda_available()) GTEST_SKIP() << "this LibTorch sees a GPU";
  const trainer::DeviceCheck gpu = trainer::check_device("cuda:0", 2);
  EXPECT_FALSE(gpu.ok);
  EXPECT_NE(gpu.problem.find("sees no CUDA device"), std::string::npos) << gpu.problem;
  EXPECT_NE(trainer::framework_description().find("CPU only"), std::string::npos) << trainer::framework_description();
  trainer::release_device_memory("cuda:0");  // nothing to release, and no throw
}

// Where this LibTorch sees a GPU (bench/gpu_first_run.sh runs this binary there; skipped on the CPU build):
// the probe passes on cuda:0 and names the GPU, its architecture and the memory share of two ranks, and an
// allocation past the GPU's memory throws the type the worker reads as an out-of-memory outcome.
TEST(DeviceCheck, AGpuPassesItsProbeWhereThereIsOne) {
  if (!trainer::cuda_available()) GTEST_SKIP() << "this LibTorch sees no GPU (" << trainer::framework_description() << ")";
  const trainer::DeviceCheck gpu = trainer::check_device("cuda:0", 2);
  ASSERT_TRUE(gpu.ok) << gpu.problem;
  EXPECT_EQ(gpu.facts.rfind("cuda:0 ", 0), 0u) << gpu.facts;
  EXPECT_NE(gpu.facts.find(", sm_"), std::string::npos) << gpu.facts;
  EXPECT_NE(gpu.facts.find("memory fraction 0.47"), std::string::npos) << gpu.facts;
  EXPECT_NE(gpu.facts.find("LibTorch " + trainer::libtorch_version()), std::string::npos) << gpu.facts;
  EXPECT_NE(trainer::framework_description().find("GPU(s)"), std::string::npos) << trainer::framework_description();
  try {
    const auto huge = torch::empty({std::int64_t{1} << 40}, torch::TensorOptions().device(torch::kCUDA, 0));
    ADD_FAILURE() << "4 TiB allocated on cuda:0";
  } catch (const std::exception& e) {
    EXPECT_EQ(trainer::classify_failure(e), trainer::FailureKind::kOutOfMemory) << e.what();
  }
  trainer::release_device_memory("cuda:0");
}

c10::OutOfMemoryError cuda_oom() {
  return c10::OutOfMemoryError({__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
                               "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.1 GiB total capacity)");
}

c10::Error device_assert() {
  return c10::Error({__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
                    "CUDA error: device-side assert triggered\nCUDA kernel errors might be asynchronously reported");
}

TEST(DeviceFaults, AreClassifiedByTypeAndByCudaErrorText) {
  using trainer::FailureKind;
  EXPECT_EQ(trainer::classify_failure(cuda_oom()), FailureKind::kOutOfMemory);
  EXPECT_EQ(trainer::classify_failure(std::bad_alloc()), FailureKind::kOutOfMemory);
  EXPECT_EQ(trainer::classify_failure(trainer::DeviceOutOfMemory("variant a fold 0: CUDA out of memory")), FailureKind::kOutOfMemory);
  EXPECT_EQ(trainer::classify_failure(device_assert()), FailureKind::kDeviceFault);
  EXPECT_EQ(trainer::classify_failure(std::runtime_error("variant a fold 0: CUDA error: an illegal memory access was encountered")),
            FailureKind::kDeviceFault);
  EXPECT_EQ(trainer::classify_failure(trainer::DeviceFault("variant a fold 0: Xid 79")), FailureKind::kDeviceFault);
  EXPECT_EQ(trainer::classify_failure(std::runtime_error("case_003: labels 0..7 but data.classes = 3")), FailureKind::kTask);
  EXPECT_EQ(trainer::classify_failure(c10::Error({__func__, __FILE__, 1u}, "shape mismatch")), FailureKind::kTask);
  EXPECT_FALSE(trainer::is_sticky_device_error("CUDA out of memory"));
}

// Two in-process workers over six cases and two variants (3 folds): six tasks, each trained on its own
// (the variants differ in a training key); with `shared`, the variants are the same training and each fold's
// two tasks are one shared training (ablations/sharing.hpp).
class DeviceFaultRun : public inproc_test::InprocFixture {
 protected:
  DeviceFaultRun() : InprocFixture("ablate-devfault", 2, {"a", "b", "c", "d", "e", "f"}) {}
  void SetUp() override {
    InprocFixture::SetUp();
    write_study(false);
  }
  void write_study(bool shared) {
    opt_.study_file = (dir_ / "s.toml").string();
    std::ofstream(opt_.study_file) << "[study]\nname = \"s\"\nseed = 3\nfolds = 3\n[data]\npath = \"nowhere\"\nimage_size = 96\n"
                                      "[train]\nepochs = 2\nbatch_size = 6\n"
                                      "[[ablation.variant]]\nname = \"small\"\n"
                                      "[[ablation.variant]]\nname = \"big\"\n"
                                   << (shared ? "" : "\"train.epochs\" = 3\n");
  }
};

// Wraps the sleep executor; `fault` decides, per task and placement, whether to throw.
struct Faulty : Executor {
  std::unique_ptr<Executor> inner = make_sleep_executor([](const Task&) { return 0.001; }, [](const Variant&) { return 1.0; });
  std::function<void(const Task&, const Placement&)> fault;
  std::atomic<int> released{0};
  TaskResult execute(const Task& t, const ExecContext& ctx) override {
    fault(t, ctx.placement);
    return inner->execute(t, ctx);
  }
  double estimate_cost(const Variant& v) override { return inner->estimate_cost(v); }
  void release_memory(const Placement&) override { ++released; }
};

// LibTorch's OutOfMemoryError: stored at once (no retries: the same task needs the same memory) with the
// batch and image size in its message; the other tasks run; memory is released after every task.
TEST_F(DeviceFaultRun, OutOfMemoryIsItsOwnOutcomeNotRetried) {
  Faulty exec;
  exec.fault = [](const Task& t, const Placement&) {
    if (t.variant == "big" && t.fold == 1) throw cuda_oom();
  };
  opt_.max_retries = 2;
  EXPECT_EQ(run_study(opt_, exec), kRunFailed);
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 5);
  const auto id = s.query_int("SELECT id FROM tasks WHERE status = 'failed'");
  const auto attempts = s.attempts(id);
  ASSERT_EQ(attempts.size(), 1u);
  const std::string error = attempts[0].error;
  EXPECT_NE(error.find("out of memory on cpu"), std::string::npos) << error;
  EXPECT_NE(error.find("train.batch_size = 6 at data.image_size = 96 x 96 (big fold 1)"), std::string::npos) << error;
  EXPECT_NE(error.find("CUDA out of memory. Tried to allocate 2.00 GiB"), std::string::npos) << error;
  EXPECT_NE(error.find("Not retried"), std::string::npos) << error;
  EXPECT_EQ(exec.released.load(), 6);
}

// The same for a member of a shared training: its own outcome, not retried on its own; its partner is done.
TEST_F(DeviceFaultRun, OutOfMemoryOfASharedMemberIsNotRetried) {
  write_study(true);
  Faulty exec;
  exec.fault = [](const Task& t, const Placement&) {
    if (t.variant == "big" && t.fold == 1) throw cuda_oom();
  };
  EXPECT_EQ(run_study(opt_, exec), kRunFailed);
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 5);
  const auto attempts = s.attempts(s.query_int("SELECT id FROM tasks WHERE status = 'failed'"));
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_NE(attempts[0].error.find("train.batch_size = 6 at data.image_size = 96 x 96 (big fold 1)"), std::string::npos)
      << attempts[0].error;
}

// A device-side assert on worker 1 retires it: it took one task and no more, and that task and all the
// others ran on worker 2 (a retired worker's failure is not the task's: retried even with max_retries = 0).
TEST_F(DeviceFaultRun, AStickyDeviceErrorRetiresTheWorkerAndTheOthersTakeOver) {
  Faulty exec;
  exec.fault = [](const Task&, const Placement& p) {
    if (p.rank == 1) throw device_assert();
  };
  opt_.max_retries = 0;
  EXPECT_EQ(run_study(opt_, exec), kRunOk);
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 6);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM attempts WHERE rank = 1"), 1);  // the first task goes to rank 1
  EXPECT_EQ(s.query_int("SELECT count(*) FROM attempts WHERE rank = 2 AND status = 'done'"), 6);
  const std::string error = s.query_text("SELECT error FROM attempts WHERE rank = 1");
  EXPECT_NE(error.find("device-side assert triggered"), std::string::npos) << error;
}

// Every worker retired: the run ends (exit 1) with the tasks left pending, instead of waiting for a worker.
TEST_F(DeviceFaultRun, WhenEveryWorkerRetiredTheRunEndsWithTheRestPending) {
  Faulty exec;
  exec.fault = [](const Task&, const Placement&) { throw device_assert(); };
  EXPECT_EQ(run_study(opt_, exec), kRunFailed);
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 0);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM attempts"), 2);  // one task per worker, then none
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'running'"), 0);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM coordinator_lock"), 0);
}

}  // namespace
