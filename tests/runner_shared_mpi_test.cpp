// Integration: train once, evaluate many (docs/RUNNER.md "Shared trainings") under the real `mpirun -np 3`.
// A tiny ANU-Net study at two prune levels (003 Table 6) plus a variant that trains differently: `ablate
// plan` counts the trainings, every member's rows are stored (its own epochs with the shared training
// losses, its own metrics and parameters), the number of trainings equals the number of groups, a rerun
// does nothing, and a job stopped (SIGUSR1) or killed (SIGKILL) mid-training resumes the shared training
// from its checkpoint.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "db/store.hpp"
#include "mpi_util.hpp"

namespace fs = std::filesystem;

namespace {

using mpi_util::mpirun;
using mpi_util::read_file;
using mpi_util::run;
using mpi_util::spawn;
using mpi_util::wait_exit;

fs::path g_dir;

// Waits (up to 120 s) until a member of a shared training (variant l2) is running with at least one and at
// most `most` epochs stored.
bool wait_mid_training(const std::string& db, int most) {
  const std::string mid =
      "SELECT count(*) FROM tasks t JOIN variants v ON v.id = t.variant_id WHERE v.name = 'l2' AND t.status = 'running' AND "
      "(SELECT count(*) FROM epochs e WHERE e.task_id = t.id) BETWEEN 1 AND " + std::to_string(most);
  return mpi_util::wait_for(db, mid);
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

// ANU-Net L1 and L2 (one training per fold), and L2 with another side weight (a training of its own).
std::string write_study(const std::string& name, int epochs, int steps) {
  const fs::path p = g_dir / (name + ".toml");
  std::ofstream(p) << "[study]\nname = \"" << name << "\"\nseed = 5\nfolds = 2\n"
                   << "[data]\npath = \"data\"\nimage_size = 32\n"
                   << "[model]\nwidths = [4, 8, 16]\nnested = true\nattention_gates = true\nnested_supervision = true\n"
                   << "[loss]\nname = \"dice_focal_bce\"\n"
                   << "[train]\nepochs = " << epochs << "\nsteps_per_epoch = " << steps
                   << "\nbatch_size = 2\nthreads = 1\nlr = 0.003\n"
                   << "[[ablation.variant]]\nname = \"l1\"\n\"model.prune_level\" = 1\n"
                   << "[[ablation.variant]]\nname = \"l2\"\n\"model.prune_level\" = 2\n"
                   << "[[ablation.variant]]\nname = \"l2-side3\"\n\"model.prune_level\" = 2\n\"loss.side_weight\" = 3.0\n";
  return p.string();
}

class RunnerSharedMpi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    mpi_util::allow_mpirun_as_root();
    g_dir = fs::temp_directory_path() / ("ablate-shared-test-" + std::to_string(::getpid()));
    ASSERT_EQ(mpi_util::fresh_dir_with_data(g_dir, 6, 6), 0) << read_file(g_dir / "synth.log");
  }
  static void TearDownTestSuite() { fs::remove_all(g_dir); }
};

}  // namespace

TEST_F(RunnerSharedMpi, PruneLevelsShareOneTrainingPerFold) {
  const std::string study = write_study("anu", 2, 2);
  const std::string db = (g_dir / "anu.sqlite").string();
  ASSERT_EQ(run(std::string(ABLATE_EXE) + " plan " + study, g_dir / "plan.log"), 0) << read_file(g_dir / "plan.log");
  const std::string plan = read_file(g_dir / "plan.log");
  EXPECT_NE(plan.find("trainings: 4 (6 tasks; 2 evaluated from a shared training"), std::string::npos) << plan;
  EXPECT_NE(plan.find("one training for l1 l2\n"), std::string::npos) << plan;

  ASSERT_EQ(run(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "run1.log"), 0) << read_file(g_dir / "run1.log");
  const std::string log1 = read_file(g_dir / "run1.log");
  EXPECT_NE(log1.find("6 task(s) to run in 4 training(s): 2 evaluated from a shared training"), std::string::npos) << log1;
  // Trainings: the trainer logs each trained epoch of the task that trains ("epoch 1/2 loss"), never a member's.
  EXPECT_EQ(count(log1, ": epoch 1/2 loss "), 4) << log1;
  EXPECT_EQ(count(log1, ": epoch 2/2 loss "), 4) << log1;
  {
    ablate::db::Store s(db, true);
    EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 6);
    EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs"), 12);  // every member has its own two epochs
    EXPECT_EQ(s.query_int("SELECT count(DISTINCT variant) FROM fold_metrics WHERE metric = 'dice'"), 3);
    EXPECT_EQ(s.query_int("SELECT count(*) FROM case_metrics WHERE metric = 'dice' AND class = 1"), 3 * 6);
    // The members of a group share the training losses epoch by epoch (one training) ...
    const std::string same_loss =
        "SELECT count(*) FROM epochs a JOIN tasks ta ON ta.id = a.task_id JOIN variants va ON va.id = ta.variant_id "
        "JOIN epochs b ON b.epoch = a.epoch JOIN tasks tb ON tb.id = b.task_id JOIN variants vb ON vb.id = tb.variant_id "
        "WHERE ta.fold_id = tb.fold_id AND va.name = 'l1' AND vb.name = '%s' AND a.train_loss = b.train_loss";
    auto with = [&](const char* other) {
      char sql[1024];
      std::snprintf(sql, sizeof sql, same_loss.c_str(), other);
      return s.query_int(sql);
    };
    EXPECT_EQ(with("l2"), 4);
    EXPECT_EQ(with("l2-side3"), 0);  // ... the variant with another loss weight trained on its own
    // ... while each is validated and measured as its own network: the pruned L1 is the smaller one.
    EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs a JOIN epochs b ON a.epoch = b.epoch JOIN tasks ta ON ta.id = a.task_id "
                          "JOIN tasks tb ON tb.id = b.task_id JOIN variants va ON va.id = ta.variant_id JOIN variants vb ON "
                          "vb.id = tb.variant_id WHERE ta.fold_id = tb.fold_id AND va.name = 'l1' AND vb.name = 'l2' AND "
                          "a.val_loss != b.val_loss"),
              4);
    EXPECT_EQ(s.query_int("SELECT (SELECT max(parameters) FROM model_facts m JOIN tasks t ON t.id = m.task_id JOIN variants v ON "
                          "v.id = t.variant_id WHERE v.name = 'l1') < (SELECT min(parameters) FROM model_facts m JOIN tasks t ON "
                          "t.id = m.task_id JOIN variants v ON v.id = t.variant_id WHERE v.name = 'l2')"),
              1);
    EXPECT_EQ(s.query_int("SELECT count(*) FROM attempts WHERE status = 'done'"), 6);
    // The store says who trained: l1 and l2 of each fold point at that fold's l1 task; l2-side3 trained alone.
    EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks t JOIN tasks tt ON tt.id = t.trained_by JOIN variants v ON "
                          "v.id = tt.variant_id WHERE v.name = 'l1' AND tt.fold_id = t.fold_id"),
              4);
  }
  // Resume after the run: nothing left, nothing trained.
  ASSERT_EQ(run(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "run2.log"), 0) << read_file(g_dir / "run2.log");
  const std::string log2 = read_file(g_dir / "run2.log");
  EXPECT_NE(log2.find("6 task(s) done, 0 to run"), std::string::npos) << log2;
  EXPECT_EQ(count(log2, " loss "), 0) << log2;
  ablate::db::Store s(db, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM attempts"), 6);
}

TEST_F(RunnerSharedMpi, StoppedSharedTrainingResumesFromItsCheckpoint) {
  const int epochs = 6;
  const std::string study = write_study("stop", epochs, 20);
  const std::string db = (g_dir / "stop.sqlite").string();
  const fs::path log1 = g_dir / "stop1.log";
  const pid_t job = spawn(mpirun(3) + ABLATE_EXE + " run " + study, log1);
  // Part-way: a member of a shared training has stored an epoch, not all.
  const bool reached = wait_mid_training(db, epochs - 2);
  kill(job, SIGUSR1);  // mpirun forwards it to every rank: checkpoint and exit 3
  const int rc = wait_exit(job);
  ASSERT_TRUE(reached) << read_file(log1);
  ASSERT_EQ(rc, 3) << read_file(log1);
  {
    ablate::db::Store s(db, true);
    // Both members of a stopped shared training are interrupted together.
    EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks t JOIN variants v ON v.id = t.variant_id WHERE v.name IN ('l1', 'l2') "
                          "AND t.status = 'interrupted' GROUP BY t.fold_id ORDER BY 1 DESC LIMIT 1"),
              2);
  }
  ASSERT_EQ(run(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "stop2.log"), 0) << read_file(g_dir / "stop2.log");
  ablate::db::Store s(db, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 6);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs"), 6 * epochs);
  // The members resumed from the shared checkpoint: their second attempt started after epoch 1.
  EXPECT_GE(s.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.id = a.task_id JOIN variants v ON v.id = t.variant_id "
                        "WHERE v.name IN ('l1', 'l2') AND a.status = 'done' AND a.first_epoch > 1"),
            2);
}

// kill -9 of the whole job in the middle of a shared training, then the same command: the members left
// `running` are counted interrupted, the group forms again and resumes from the shared checkpoint.
TEST_F(RunnerSharedMpi, KilledJobResumesTheSharedTraining) {
  const int epochs = 6;
  const std::string study = write_study("kill", epochs, 20);
  const std::string db = (g_dir / "kill.sqlite").string();
  const pid_t job = spawn(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "kill1.log");
  const bool reached = wait_mid_training(db, epochs - 2);
  kill(-job, SIGKILL);
  wait_exit(job);
  ASSERT_TRUE(reached) << read_file(g_dir / "kill1.log");
  // The killed ranks exit within about a second; until the coordinator is gone its lock refuses a rerun.
  int rc = 1;
  for (int i = 0; i < 60 && rc == 1; ++i) {
    rc = run(mpirun(3) + ABLATE_EXE + " run " + study, g_dir / "kill2.log");
    if (rc == 1 && read_file(g_dir / "kill2.log").find("another coordinator") != std::string::npos) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    } else {
      break;
    }
  }
  ASSERT_EQ(rc, 0) << read_file(g_dir / "kill2.log");
  ablate::db::Store s(db, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 6);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs"), 6 * epochs);
  EXPECT_GE(s.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.id = a.task_id JOIN variants v ON v.id = t.variant_id "
                        "WHERE v.name IN ('l1', 'l2') AND a.status = 'interrupted'"),
            2);
  EXPECT_GE(s.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.id = a.task_id JOIN variants v ON v.id = t.variant_id "
                        "WHERE v.name IN ('l1', 'l2') AND a.status = 'done' AND a.first_epoch > 1"),
            2);
}
