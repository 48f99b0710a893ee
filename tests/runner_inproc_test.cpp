// The coordinator/worker logic over the in-process transport with the sleep executor (no model, no
// MPI): messages round-trip, every task runs once, failures are retried on another worker and stored
// with their message, a stop request ends with kRunInterrupted and a rerun completes the store.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "db/store.hpp"
#include "inproc_fixture.hpp"
#include "runner/messages.hpp"
#include "runner/run.hpp"

namespace fs = std::filesystem;
using namespace ablate;
using namespace ablate::runner;

namespace {

TEST(RunnerMessages, RoundTrip) {
  Task t;
  t.task_id = 17;
  t.study = "s";
  t.variant = "cc";
  t.canonical_config = "model.cc = true\n";
  t.fold = 2;
  t.repeat = 1;
  t.seed = 43;
  t.train_cases = {"a", "b"};
  t.test_cases = {"c"};
  t.checkpoint_path = "/tmp/x.ckpt";
  t.attempt = 3;
  t.pause_after_epoch = 5;
  Task u = decode_task(encode(t));
  EXPECT_EQ(u.task_id, 17);
  EXPECT_EQ(u.canonical_config, t.canonical_config);
  EXPECT_EQ(u.train_cases, t.train_cases);
  EXPECT_EQ(u.seed, 43u);
  EXPECT_EQ(u.attempt, 3);
  EXPECT_EQ(u.pause_after_epoch, 5);

  ResultMessage r;
  r.task_id = 17;
  r.outcome = Outcome::kFailed;
  r.error = "case_003: broken";
  r.result.fold_metrics = {{"dice", 1, 0.75}};
  r.result.case_metrics = {{"c", 1, "dice", 0.75}};
  r.result.epochs = {{1, 0.5, 0.4, 0.3, 1e-3, 2.0, 7.5, 0.25}};
  r.result.paused_after_epoch = 1;
  ResultMessage q = decode_result(encode(r));
  EXPECT_EQ(q.outcome, Outcome::kFailed);
  EXPECT_EQ(q.error, r.error);
  EXPECT_DOUBLE_EQ(q.result.fold_metrics[0].value, 0.75);
  EXPECT_EQ(q.result.case_metrics[0].case_id, "c");
  EXPECT_EQ(q.result.epochs[0].epoch, 1);
  EXPECT_EQ(q.result.epochs[0].val_score, 7.5);
  EXPECT_EQ(q.result.epochs[0].val_soft_dice, 0.25);
  EXPECT_EQ(q.result.paused_after_epoch, 1);

  Placement p;
  p.host = "n1";
  p.device = "cuda:1";
  p.threads = 4;
  EXPECT_EQ(decode_ready(encode(p)).device, "cuda:1");
  p.given_gpus = "CUDA_VISIBLE_DEVICES=3";
  EXPECT_EQ(decode_ready(encode(p)).given_gpus, "CUDA_VISIBLE_DEVICES=3");
  EXPECT_EQ(kind_of(encode_shutdown()), MessageKind::kShutdown);
}

TEST(RunnerMessages, RejectsOtherVersionsAndGarbage) {
  std::string bytes = encode(Progress{1, {}});
  bytes[4] = 9;  // another message format
  EXPECT_THROW(kind_of(bytes), MessageError);
  EXPECT_THROW(kind_of("nonsense"), MessageError);
  EXPECT_THROW(decode_task(encode_shutdown()), MessageError);
  std::string cut = encode(Task{});
  cut.resize(cut.size() - 3);
  EXPECT_THROW(decode_task(cut), MessageError);
}

TEST(RunnerPlacement, GpusByLocalWorkerAndCoreShares) {
  NodeInfo n;
  n.host = "n";
  n.cores = 16;
  n.local_workers = 4;
  n.local_worker_index = 3;
  EXPECT_EQ(place_worker(n, 4, 2, 1).device, "cuda:1");
  EXPECT_EQ(place_worker(n, 4, 2, 2).device, "cuda:1");
  n.local_worker_index = 1;
  EXPECT_EQ(place_worker(n, 2, 2, 2).device, "cuda:0");  // two ranks share GPU 0
  Placement cpu = place_worker(n, 2, 0, 1);
  EXPECT_EQ(cpu.device, "cpu");
  EXPECT_EQ(cpu.threads, 4);
  VariantConfig c;
  c.train.device = "cpu";
  c.train.threads = 1;
  Placement t = place_task(place_worker(n, 2, 2, 1), c);
  EXPECT_EQ(t.device, "cpu");
  EXPECT_EQ(t.threads, 1);
  // A rank bound to 2 cores gets 2 threads, not its share of the node's 16.
  n.rank_cores = 2;
  EXPECT_EQ(place_worker(n, 2, 0, 1).threads, 2);
  // Bound to 8 cores each, 4 workers on 32 cores: 8 each (not 8 / 4).
  n.cores = 32;
  n.rank_cores = 8;
  EXPECT_EQ(place_worker(n, 2, 0, 1).threads, 8);
}

// The host name the in-process transport reports.
std::string this_host() {
  char buf[256] = {};
  return ::gethostname(buf, sizeof(buf) - 1) == 0 ? std::string(buf) : std::string("localhost");
}

// More workers on a node than GPUs x ranks_per_gpu wrap around onto full GPUs: said, not silent.
TEST(RunnerPlacement, WarnsWhenWorkersOutnumberGpuSlots) {
  NodeInfo n;
  n.host = "gpu07";
  n.local_workers = 4;
  const std::string w = oversubscription_warning(n, 2, 1);
  EXPECT_NE(w.find("gpu07"), std::string::npos) << w;
  EXPECT_NE(w.find("4 workers but 2 GPU(s) x 1 rank(s) per GPU = 2 slot(s)"), std::string::npos) << w;
  EXPECT_EQ(oversubscription_warning(n, 2, 2), "");  // two ranks per GPU by design
  EXPECT_EQ(oversubscription_warning(n, 4, 1), "");
  EXPECT_EQ(oversubscription_warning(n, 0, 1), "");  // CPU workers share cores, not GPUs
  EXPECT_NE(oversubscription_warning(n, 1, 3), "");
}

// What a launcher gave each rank (the Slurm script's per-rank wrapper, cluster/job.cpp): read from the
// environment as the rank started, an empty list (the coordinator's) told apart from no variable at all,
// and stored per rank with its host; ABLATE_GPU_PER_RANK=1 alone marks a per-rank binding.
TEST(RunnerPlacement, TheGpusALauncherGaveAreReportedPerRank) {
  const char* saved = std::getenv("CUDA_VISIBLE_DEVICES");
  const std::string before = saved ? saved : "";
  unsetenv("CUDA_VISIBLE_DEVICES");
  EXPECT_EQ(given_gpus(), "");
  setenv("CUDA_VISIBLE_DEVICES", "", 1);
  EXPECT_EQ(given_gpus(), "CUDA_VISIBLE_DEVICES=");
  setenv("CUDA_VISIBLE_DEVICES", "5", 1);
  EXPECT_EQ(given_gpus(), "CUDA_VISIBLE_DEVICES=5");
  if (saved) {
    setenv("CUDA_VISIBLE_DEVICES", before.c_str(), 1);
  } else {
    unsetenv("CUDA_VISIBLE_DEVICES");
  }

  for (const char* v : {"0", "yes", ""}) {
    setenv("ABLATE_GPU_PER_RANK", v, 1);
    EXPECT_FALSE(gpus_per_rank()) << v;
  }
  setenv("ABLATE_GPU_PER_RANK", "1", 1);
  EXPECT_TRUE(gpus_per_rank());
  unsetenv("ABLATE_GPU_PER_RANK");
  EXPECT_FALSE(gpus_per_rank());

  Placement coordinator, w1, w2;
  coordinator.host = w1.host = "node0";
  w2.host = "node1";
  coordinator.given_gpus = "CUDA_VISIBLE_DEVICES=";
  w1.given_gpus = "CUDA_VISIBLE_DEVICES=1";
  w1.device_facts = "cpu, LibTorch 1.13.1";
  const auto prov = device_provenance({{1, w1}, {2, w2}}, coordinator);
  const std::map<std::string, std::string> expected = {{"gpus.rank0", "node0 CUDA_VISIBLE_DEVICES="},
                                                       {"gpus.rank1", "node0 CUDA_VISIBLE_DEVICES=1"},
                                                       {"device.rank1", "node0 cpu: cpu, LibTorch 1.13.1"},
                                                       {"device.rank2", "node1 cpu: cpu"}};
  EXPECT_EQ(prov, expected);  // rank 2 was started without the variable: no gpus key
}

// Three in-process workers; six cases.
class InprocRun : public inproc_test::InprocFixture {
 protected:
  InprocRun() : InprocFixture("ablate-inproc", 3, {"a", "b", "c", "d", "e", "f"}) {}
  void SetUp() override {
    InprocFixture::SetUp();
    study_ = (dir_ / "s.toml").string();
    std::ofstream(study_) << "[study]\nname = \"s\"\nseed = 3\nfolds = 3\n[data]\npath = \"nowhere\"\n[train]\nepochs = 2\n"
                             "[[ablation.variant]]\nname = \"short\"\n"
                             "[[ablation.variant]]\nname = \"long\"\n\"train.epochs\" = 6\n"
                             "[[ablation.variant]]\nname = \"flaky\"\n\"train.epochs\" = 3\n";
    opt_.study_file = study_;
  }

  std::string study_;
};

TEST_F(InprocRun, EveryTaskOnceLongestFirstAndResumeSkipsDone) {
  std::mutex m;
  std::vector<std::string> order;
  auto exec = make_sleep_executor(
      [&](const Task& t) {
        std::lock_guard<std::mutex> lock(m);
        order.push_back(t.variant);
        return 0.002;
      },
      [](const Variant& v) { return static_cast<double>(v.config.train.epochs); });
  opt_.inproc_workers = 1;  // one worker: the dispatch order is the plan's order
  ASSERT_EQ(run_study(opt_, *exec), kRunOk);
  ASSERT_EQ(order.size(), 9u);
  EXPECT_EQ(order.front(), "long");
  EXPECT_EQ(order.back(), "short");
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done' AND attempts = 1"), 9);
  EXPECT_EQ(s.query_int("SELECT count(DISTINCT variant || fold) FROM fold_metrics"), 9);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM coordinator_lock"), 0);
  // Again: nothing to do, nothing duplicated.
  order.clear();
  ASSERT_EQ(run_study(opt_, *exec), kRunOk);
  EXPECT_TRUE(order.empty());
  EXPECT_EQ(s.query_int("SELECT count(*) FROM fold_metrics"), 9);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM runs"), 2);
}

// Measured times of earlier tasks beat the estimate: here the estimate says "long" (6 epochs) is the
// longest, but the stored tasks of "short" took longest, so a resumed run starts with "short".
TEST_F(InprocRun, MeasuredTimesOrderAResumedRun) {
  auto first = make_sleep_executor([](const Task& t) { return t.variant == "short" ? 0.06 : 0.002; },
                                   [](const Variant& v) { return static_cast<double>(v.config.train.epochs); });
  ASSERT_EQ(run_study(opt_, *first), kRunOk);
  {
    db::Store s(opt_.db_path);
    s.exec("UPDATE tasks SET status = 'pending' WHERE fold_id IN (SELECT id FROM folds WHERE fold = 2)");
  }
  std::mutex m;
  std::vector<std::string> order;
  auto second = make_sleep_executor(
      [&](const Task& t) {
        std::lock_guard<std::mutex> lock(m);
        order.push_back(t.variant);
        return 0.001;
      },
      [](const Variant& v) { return static_cast<double>(v.config.train.epochs); });
  opt_.inproc_workers = 1;
  ASSERT_EQ(run_study(opt_, *second), kRunOk);
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order.front(), "short");
}

// A missing dataset refuses the run before any work (an input error, exit 2), leaving no lock behind.
TEST_F(InprocRun, MissingDatasetIsRefusedAsInput) {
  opt_.list_cases = [](const DataConfig& d) -> std::vector<std::string> {
    throw std::runtime_error(d.path + ": dataset folder not found");
  };
  auto exec = make_sleep_executor([](const Task&) { return 0.001; }, [](const Variant&) { return 1.0; });
  try {
    run_study(opt_, *exec);
    FAIL() << "a missing dataset was not refused";
  } catch (const RunRefused& e) {
    EXPECT_EQ(e.kind(), RunRefused::kInput);
    EXPECT_NE(std::string(e.what()).find("nowhere: dataset folder not found"), std::string::npos) << e.what();
  }
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM coordinator_lock"), 0);
}

// A worker whose own loop fails (not a task) ends the run with its error instead of leaving the
// coordinator waiting for it forever.
TEST_F(InprocRun, AWorkerFailingOutsideATaskEndsTheRun) {
  auto base = make_sleep_executor([](const Task&) { return 0.001; }, [](const Variant&) { return 1.0; });
  struct NoDevice : Executor {
    Executor* inner;
    explicit NoDevice(Executor* e) : inner(e) {}
    TaskResult execute(const Task& t, const ExecContext& ctx) override { return inner->execute(t, ctx); }
    double estimate_cost(const Variant& v) override { return inner->estimate_cost(v); }
    int gpu_count() override { throw std::runtime_error("CUDA driver version is insufficient"); }
  } broken(base.get());
  opt_.inproc_workers = 1;
  try {
    run_study(opt_, broken);
    FAIL() << "the run did not end";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA driver version is insufficient"), std::string::npos) << e.what();
  }
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'running'"), 0);
}

// The sleep executor has no GPU (Executor::gpu_count's 0): a study asking for GPUs is refused at worker start,
// naming each worker, its host and what it saw, before any task runs; the store keeps no lock and every task
// pending; the run is recorded with exit code 2.
TEST_F(InprocRun, WorkersWithoutGpusRefuseAStudyThatAsksForThem) {
  std::atomic<int> ran{0};
  auto exec = make_sleep_executor(
      [&](const Task&) {
        ++ran;
        return 0.001;
      },
      [](const Variant&) { return 1.0; });
  opt_.inproc_workers = 2;
  for (const std::vector<std::string>& asks :
       {std::vector<std::string>{"resources.gpus_per_node=2"}, std::vector<std::string>{"train.device=cuda"},
        std::vector<std::string>{"train.precision=bf16"}}) {
    opt_.overrides = asks;
    opt_.new_study = true;
    try {
      run_study(opt_, *exec);
      ADD_FAILURE() << asks[0] << ": a study asking for GPUs ran on workers without one";
    } catch (const RunRefused& e) {
      EXPECT_EQ(e.kind(), RunRefused::kDevice);
      const std::string msg = e.what();
      EXPECT_NE(msg.find("2 of 2 worker(s) cannot serve this study"), std::string::npos) << msg;
      EXPECT_NE(msg.find("worker 1 on " + this_host()), std::string::npos) << msg;
      EXPECT_NE(msg.find("worker 2 on "), std::string::npos) << msg;
      EXPECT_NE(msg.find("sees no CUDA device"), std::string::npos) << msg;
    }
    EXPECT_EQ(ran.load(), 0);
    db::Store s(opt_.db_path, true);
    EXPECT_EQ(s.query_int("SELECT count(*) FROM coordinator_lock"), 0);
    EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks t JOIN studies st ON st.id = t.study_id WHERE st.name = 's' AND t.status = 'pending'"), 9);
    EXPECT_EQ(s.query_int("SELECT exit_code FROM runs ORDER BY id DESC LIMIT 1"), 2);
  }
  // train.device = "cpu" asks for no GPU, whatever the resources say.
  opt_.overrides = {"resources.gpus_per_node=2", "train.device=cpu"};
  EXPECT_EQ(run_study(opt_, *exec), kRunOk);
  EXPECT_EQ(ran.load(), 9);
}

// An injected device view: one GPU that fails its check (as an official LibTorch 1.13 on an sm_90 GPU does)
// refuses with LibTorch's words; a GPU that passes reports its facts into the provenance.
TEST_F(InprocRun, AFailedDeviceCheckRefusesAndAPassedOneIsInTheProvenance) {
  auto base = make_sleep_executor([](const Task&) { return 0.001; }, [](const Variant&) { return 1.0; });
  struct OneGpu : Executor {
    Executor* inner;
    bool works;
    OneGpu(Executor* e, bool w) : inner(e), works(w) {}
    TaskResult execute(const Task& t, const ExecContext& ctx) override {
      EXPECT_EQ(ctx.placement.device, "cuda:0");
      return inner->execute(t, ctx);
    }
    double estimate_cost(const Variant& v) override { return inner->estimate_cost(v); }
    int gpu_count() override { return 1; }
    DeviceReport check_device(const Placement& p, int) override {
      if (works) return {true, "Fake GPU on " + p.device + ", sm_90", ""};
      return {false, p.device, "CUDA error: no kernel image is available for execution on the device"};
    }
  };
  OneGpu broken(base.get(), false);
  opt_.inproc_workers = 1;
  opt_.overrides = {"resources.gpus_per_node=1"};
  try {
    run_study(opt_, broken);
    ADD_FAILURE() << "a failed device check did not refuse the run";
  } catch (const RunRefused& e) {
    EXPECT_EQ(e.kind(), RunRefused::kDevice);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("worker 1 on "), std::string::npos) << msg;
    EXPECT_NE(msg.find("device check on cuda:0 failed"), std::string::npos) << msg;
    EXPECT_NE(msg.find("no kernel image is available"), std::string::npos) << msg;
  }
  OneGpu fine(base.get(), true);
  ASSERT_EQ(run_study(opt_, fine), kRunOk);
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_text("SELECT value FROM provenance WHERE key = 'device.rank1'"), this_host() + " cuda:0: Fake GPU on cuda:0, sm_90");
}

TEST_F(InprocRun, FailuresAreStoredAndRetriedOnAnotherWorker) {
  auto base = make_sleep_executor([](const Task&) { return 0.002; }, [](const Variant&) { return 1.0; });
  struct Flaky : Executor {
    Executor* inner;
    explicit Flaky(Executor* e) : inner(e) {}
    TaskResult execute(const Task& t, const ExecContext& ctx) override {
      if (t.variant == "flaky" && t.fold == 1) throw std::runtime_error("case b: injected failure");
      return inner->execute(t, ctx);
    }
    double estimate_cost(const Variant& v) override { return inner->estimate_cost(v); }
  } flaky(base.get());
  opt_.max_retries = 2;
  EXPECT_EQ(run_study(opt_, flaky), kRunFailed);
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 8);
  auto t = s.query_int("SELECT t.id FROM tasks t JOIN variants v ON v.id = t.variant_id WHERE t.status = 'failed'");
  auto attempts = s.attempts(t);
  ASSERT_EQ(attempts.size(), 3u);  // 1 + max_retries
  std::set<int> ranks;
  for (const auto& a : attempts) {
    EXPECT_EQ(a.status, "failed");
    EXPECT_NE(a.error.find("injected failure"), std::string::npos);
    ranks.insert(a.rank);
  }
  EXPECT_EQ(ranks.size(), 3u);  // each retry on another worker
  EXPECT_EQ(s.query_text("SELECT error FROM tasks WHERE status = 'failed'"), "case b: injected failure");
}

TEST_F(InprocRun, StopRequestInterruptsAndRerunCompletes) {
  std::atomic<int> started{0};
  auto exec = make_sleep_executor(
      [&](const Task&) {
        if (++started == 2) stop_flag().store(true);  // as if SIGTERM arrived during the second task
        return 0.2;
      },
      [](const Variant&) { return 1.0; }, 4);
  opt_.inproc_workers = 2;
  EXPECT_EQ(run_study(opt_, *exec), kRunInterrupted);
  {
    db::Store s(opt_.db_path, true);
    EXPECT_GE(s.query_int("SELECT count(*) FROM tasks WHERE status = 'interrupted'"), 1);
    EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'running'"), 0);
    EXPECT_EQ(s.query_int("SELECT exit_code FROM runs"), kRunInterrupted);
  }
  stop_flag().store(false);
  auto quick = make_sleep_executor([](const Task&) { return 0.001; }, [](const Variant&) { return 1.0; });
  EXPECT_EQ(run_study(opt_, *quick), kRunOk);
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 9);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM (SELECT task_id, epoch, count(*) c FROM epochs GROUP BY 1, 2 HAVING c > 1)"), 0);
}

TEST_F(InprocRun, ChangedVariantIsRefusedUnlessNewStudy) {
  auto exec = make_sleep_executor([](const Task&) { return 0.001; }, [](const Variant&) { return 1.0; });
  ASSERT_EQ(run_study(opt_, *exec), kRunOk);
  std::ofstream(study_, std::ios::app) << "\"loss.alpha\" = 0.25\n";  // changes the last variant, "flaky"
  try {
    run_study(opt_, *exec);
    FAIL() << "a changed variant was not refused";
  } catch (const RunRefused& e) {
    EXPECT_EQ(e.kind(), RunRefused::kChanged);
    std::string msg = e.what();
    EXPECT_NE(msg.find("'flaky'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("loss.alpha"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("'short'"), std::string::npos) << msg;
  }
  // A checkpoint left by the old study (default workdir <store dir>/<study>.work) moves with it.
  std::ofstream(dir_ / "s.work" / "flaky" / "repeat0-fold0.ckpt") << "old";
  opt_.new_study = true;
  ASSERT_EQ(run_study(opt_, *exec), kRunOk);
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.study_names(), (std::vector<std::string>{"s~1", "s"}));
  EXPECT_TRUE(fs::exists(dir_ / "s.work~1" / "flaky" / "repeat0-fold0.ckpt"));
  EXPECT_FALSE(fs::exists(dir_ / "s.work" / "flaky" / "repeat0-fold0.ckpt"));
}

// Keys outside the hash (threads, a moved data.path) never refuse a resume; a store whose hash was made
// with another definition of the hash is brought up to date rather than refused.
TEST_F(InprocRun, UnhashedChangesResumeAndRefreshTheStoredConfiguration) {
  auto exec = make_sleep_executor([](const Task&) { return 0.001; }, [](const Variant&) { return 1.0; });
  ASSERT_EQ(run_study(opt_, *exec), kRunOk);
  std::ofstream(study_, std::ios::app) << "\"train.threads\" = 3\n";  // in the last variant, "flaky"
  {
    db::Store s(opt_.db_path);
    s.exec("UPDATE variants SET hash = '0123456789abcdef' WHERE name = 'short'");
  }
  ASSERT_EQ(run_study(opt_, *exec), kRunOk);
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM variants WHERE name = 'flaky' AND canonical LIKE '%train.threads = 3%'"), 1);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM variants WHERE name = 'short' AND hash = '0123456789abcdef'"), 0);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done' AND attempts = 1"), 9);  // nothing re-ran
}

TEST_F(InprocRun, SecondCoordinatorIsRefused) {
  std::atomic<bool> go{false};
  auto slow = make_sleep_executor(
      [&](const Task&) {
        go = true;
        return 0.3;
      },
      [](const Variant&) { return 1.0; });
  int first_code = -1;
  std::thread first([&] { first_code = run_study(opt_, *slow); });
  while (!go) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // The same process holds the lock, so pretend to be another host with a fresh heartbeat.
  {
    db::Store s(opt_.db_path);
    s.exec("UPDATE coordinator_lock SET host = 'elsewhere'");
  }
  auto exec = make_sleep_executor([](const Task&) { return 0.001; }, [](const Variant&) { return 1.0; });
  try {
    run_study(opt_, *exec);
    ADD_FAILURE() << "the second coordinator was not refused";
  } catch (const RunRefused& e) {
    EXPECT_EQ(e.kind(), RunRefused::kLocked);
    EXPECT_NE(std::string(e.what()).find("another coordinator"), std::string::npos);
  }
  first.join();
  // The refusal did not disturb the first coordinator: it finished every task.
  EXPECT_EQ(first_code, kRunOk);
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status != 'done'"), 0);
}

TEST_F(InprocRun, NewStudyIsRefusedWhileAnotherCoordinatorRuns) {
  auto exec = make_sleep_executor([](const Task&) { return 0.001; }, [](const Variant&) { return 1.0; });
  ASSERT_EQ(run_study(opt_, *exec), kRunOk);
  {
    db::Store s(opt_.db_path);
    s.exec("INSERT INTO coordinator_lock(study_id, host, pid, acquired, heartbeat) SELECT id, 'elsewhere', 4242, " +
           std::to_string(db::now_seconds()) + ", " + std::to_string(db::now_seconds()) + " FROM studies");
  }
  opt_.new_study = true;
  try {
    run_study(opt_, *exec);
    ADD_FAILURE() << "--new-study archived a study that another coordinator holds";
  } catch (const RunRefused& e) {
    EXPECT_EQ(e.kind(), RunRefused::kLocked);
  }
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.study_names(), std::vector<std::string>{"s"});
}

}  // namespace
