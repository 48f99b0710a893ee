// Shared trainings in the coordinator (docs/RUNNER.md "Shared trainings"), over the in-process transport
// with a scripted executor (no model): tasks that differ only in evaluation-only keys go out as one task
// per fold; every member is stored as its own task; a failed training retries the group as a unit; a
// member whose evaluation failed is retried alone; a rerun does nothing; early stopping shares nothing.
// tasks.trained_by records which task trained each member, and `ablate status` counts the trainings.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "cli_util.hpp"
#include "db/store.hpp"
#include "inproc_fixture.hpp"
#include "runner/executor.hpp"
#include "runner/messages.hpp"
#include "runner/run.hpp"

namespace fs = std::filesystem;
using namespace ablate;
using namespace ablate::runner;

namespace {

TaskResult result_of(const Task& t) {
  TaskResult r;
  r.epochs = {{1, 0.5, 0.4, 0.3, 1e-3, 0.01, 0.3}};
  r.best_epoch = 1;
  r.fold_metrics = {{"dice", 1, 0.5 + 0.01 * t.fold}};
  for (const auto& c : t.test_cases) r.case_metrics.push_back({c, 1, "dice", 0.5});
  return r;
}

// Counts trainings: a group is one, an ordinary task is one. Scripted failures by call.
struct Scripted : Executor {
  std::mutex m;
  int groups = 0, singles = 0;
  std::vector<std::size_t> group_sizes;
  std::function<void(const Task&, int call, std::vector<MemberResult>&)> script;
  TaskResult execute(const Task& t, const ExecContext&) override {
    std::lock_guard<std::mutex> lock(m);
    ++singles;
    return result_of(t);
  }
  std::vector<MemberResult> execute_group(const Task& t, const ExecContext&) override {
    std::lock_guard<std::mutex> lock(m);
    const int call = ++groups;
    group_sizes.push_back(t.shared_with.size() + 1);
    std::vector<MemberResult> out;
    for (std::size_t i = 0; i <= t.shared_with.size(); ++i) {
      const Task mt = member_task(t, i);
      MemberResult r;
      r.task_id = mt.task_id;
      r.result = result_of(mt);
      out.push_back(r);
    }
    if (script) script(t, call, out);
    return out;
  }
  double estimate_cost(const Variant&) override { return 1; }
};

class SharedRun : public inproc_test::InprocFixture {
 protected:
  SharedRun() : InprocFixture("ablate-shared", 2, {"a", "b", "c", "d", "e", "f"}) {}
  void SetUp() override {
    InprocFixture::SetUp();
    write("");
  }
  // Three variants that differ only in train.select_metric (evaluation-only) and one with another rate.
  void write(const std::string& extra) {
    opt_.study_file = (dir_ / "s.toml").string();
    std::ofstream(opt_.study_file) << "[study]\nname = \"s\"\nseed = 3\nfolds = 3\n[data]\npath = \"nowhere\"\n[train]\nepochs = 2\n"
                                   << extra
                                   << "[[ablation.variant]]\nname = \"dice\"\n"
                                      "[[ablation.variant]]\nname = \"loss\"\n\"train.select_metric\" = \"loss\"\n"
                                      "[[ablation.variant]]\nname = \"iou\"\n\"train.select_metric\" = \"iou\"\n"
                                      "[[ablation.variant]]\nname = \"lr\"\n\"train.lr\" = 0.002\n";
  }
};

// tasks.trained_by as "variant/fold<-trainer variant/fold" per task ("variant/fold" alone: NULL), sorted.
std::string trained_by(const db::Store& s) {
  return s.query_text(
      "SELECT group_concat(x, ' ') FROM (SELECT v.name || '/' || f.fold || coalesce('<-' || tv.name || '/' || tf.fold, '') AS x "
      "FROM tasks t JOIN variants v ON v.id = t.variant_id JOIN folds f ON f.id = t.fold_id "
      "LEFT JOIN tasks tt ON tt.id = t.trained_by LEFT JOIN variants tv ON tv.id = tt.variant_id "
      "LEFT JOIN folds tf ON tf.id = tt.fold_id ORDER BY x)");
}

}  // namespace

TEST(SharedMessages, MembersRoundTrip) {
  Task t;
  t.task_id = 1;
  t.shared_with = {{2, "l2", "h2", "model.prune_level = 2\n", 3}};
  const Task u = decode_task(encode(t));
  ASSERT_EQ(u.shared_with.size(), 1u);
  EXPECT_EQ(u.shared_with[0].task_id, 2);
  EXPECT_EQ(u.shared_with[0].variant, "l2");
  EXPECT_EQ(u.shared_with[0].variant_hash, "h2");
  EXPECT_EQ(u.shared_with[0].canonical_config, "model.prune_level = 2\n");
  EXPECT_EQ(u.shared_with[0].attempt, 3);
  EXPECT_EQ(member_task(u, 1).task_id, 2);
  EXPECT_EQ(member_task(u, 1).checkpoint_path, "");
  EXPECT_TRUE(member_task(u, 0).shared_with.empty());
  ResultMessage r;
  r.members = {{1, Outcome::kDone, "", {}}, {2, Outcome::kFailed, "l2: broken", {}}};
  r.members[0].result.fold_metrics = {{"dice", 1, 0.25}};
  const ResultMessage q = decode_result(encode(r));
  ASSERT_EQ(q.members.size(), 2u);
  EXPECT_EQ(q.members[0].result.fold_metrics[0].value, 0.25);
  EXPECT_EQ(q.members[1].outcome, Outcome::kFailed);
  EXPECT_EQ(q.members[1].error, "l2: broken");
}

TEST_F(SharedRun, OneTrainingPerFoldEveryMemberStoredAndResumeDoesNothing) {
  Scripted exec;
  CoordinatorStats stats;
  opt_.stats = &stats;
  ASSERT_EQ(run_study(opt_, exec), kRunOk);
  EXPECT_EQ(exec.groups, 3);   // one per fold for dice, loss, iou
  EXPECT_EQ(exec.singles, 3);  // lr trains on its own
  for (auto n : exec.group_sizes) EXPECT_EQ(n, 3u);
  EXPECT_EQ(stats.tasks_dispatched, 6);
  EXPECT_EQ(stats.shared_dispatched, 6);
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done' AND attempts = 1"), 12);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM fold_metrics"), 12);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM case_metrics"), 12 * 2);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM epochs"), 12);
  // Every member points at the task that trained (dice, the lowest ordinal, itself included); lr trained alone.
  EXPECT_EQ(trained_by(s),
            "dice/0<-dice/0 dice/1<-dice/1 dice/2<-dice/2 iou/0<-dice/0 iou/1<-dice/1 iou/2<-dice/2 loss/0<-dice/0 "
            "loss/1<-dice/1 loss/2<-dice/2 lr/0 lr/1 lr/2");
  const auto status = cli_util::ablate("status --db " + opt_.db_path);
  EXPECT_EQ(status.code, 0) << status.out;
  EXPECT_NE(status.out.find("\n  trainings: 6 for the 12 done task(s); 6 evaluated from a shared training\n"), std::string::npos)
      << status.out;
  ASSERT_EQ(run_study(opt_, exec), kRunOk);
  EXPECT_EQ(exec.groups + exec.singles, 6);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM attempts"), 12);
}

TEST_F(SharedRun, ARerunSharesOneTrainingAmongTheOpenMembersOnly) {
  Scripted first;
  ASSERT_EQ(run_study(opt_, first), kRunOk);
  {
    // Fold 0: "dice" (the member that trained) stays done; "loss" and "iou" are open again.
    db::Store s(opt_.db_path);
    s.exec("UPDATE tasks SET status = 'pending' WHERE fold_id IN (SELECT id FROM folds WHERE fold = 0) AND variant_id IN "
           "(SELECT id FROM variants WHERE name IN ('loss', 'iou'))");
  }
  Scripted again;
  ASSERT_EQ(run_study(opt_, again), kRunOk);
  EXPECT_EQ(again.groups, 1);
  EXPECT_EQ(again.singles, 0);
  ASSERT_EQ(again.group_sizes.size(), 1u);
  EXPECT_EQ(again.group_sizes[0], 2u);
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 12);
  EXPECT_EQ(s.query_int("SELECT attempts FROM tasks t JOIN variants v ON v.id = t.variant_id JOIN folds f ON f.id = t.fold_id "
                        "WHERE f.fold = 0 AND v.name = 'dice'"),
            1);
  // Fold 0: loss trained the second group (its lowest ordinal); dice keeps the first training's relation.
  EXPECT_EQ(trained_by(s),
            "dice/0<-dice/0 dice/1<-dice/1 dice/2<-dice/2 iou/0<-loss/0 iou/1<-dice/1 iou/2<-dice/2 loss/0<-loss/0 "
            "loss/1<-dice/1 loss/2<-dice/2 lr/0 lr/1 lr/2");
}

TEST_F(SharedRun, FailedTrainingRetriesTheGroupAndAFailedMemberRetriesAlone) {
  Scripted exec;
  exec.script = [](const Task& t, int, std::vector<MemberResult>& out) {
    // The first training of fold 0 fails as a whole; on fold 1, member "iou" fails its evaluation once.
    static std::atomic<int> fold0{0}, fold1{0};
    if (t.fold == 0 && fold0++ == 0) throw std::runtime_error("non-finite loss at epoch 1");
    if (t.fold == 1 && fold1++ == 0) {
      for (std::size_t i = 0; i < out.size(); ++i) {
        if (member_task(t, i).variant == "iou") out[i].outcome = Outcome::kFailed, out[i].error = "iou: evaluation failed";
      }
    }
  };
  ASSERT_EQ(run_study(opt_, exec), kRunOk);
  EXPECT_EQ(exec.groups, 4);   // fold 0 twice (retried as a unit), folds 1 and 2 once
  EXPECT_EQ(exec.singles, 4);  // lr x 3, and iou of fold 1 alone
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 12);
  // Fold 0: every member has a failed attempt with the training's error, then a done one.
  EXPECT_EQ(s.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.id = a.task_id JOIN folds f ON f.id = t.fold_id "
                        "WHERE f.fold = 0 AND a.status = 'failed' AND a.error LIKE '%non-finite loss%'"),
            3);
  // Fold 1: only iou failed, and only once; dice and loss were stored from the first training.
  EXPECT_EQ(s.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.id = a.task_id JOIN folds f ON f.id = t.fold_id "
                        "WHERE f.fold = 1 AND a.status = 'failed'"),
            1);
  EXPECT_EQ(s.query_int("SELECT t.attempts FROM tasks t JOIN variants v ON v.id = t.variant_id JOIN folds f ON f.id = t.fold_id "
                        "WHERE f.fold = 1 AND v.name = 'iou'"),
            2);
  EXPECT_EQ(s.query_int("SELECT sum(t.attempts) FROM tasks t JOIN variants v ON v.id = t.variant_id JOIN folds f ON f.id = t.fold_id "
                        "WHERE f.fold = 1 AND v.name IN ('dice', 'loss')"),
            2);
  // iou of fold 1, retried alone, trained itself (NULL); fold 0's retried group points at its trainer.
  EXPECT_EQ(trained_by(s),
            "dice/0<-dice/0 dice/1<-dice/1 dice/2<-dice/2 iou/0<-dice/0 iou/1 iou/2<-dice/2 loss/0<-dice/0 "
            "loss/1<-dice/1 loss/2<-dice/2 lr/0 lr/1 lr/2");
  const auto status = cli_util::ablate("status --db " + opt_.db_path);
  EXPECT_NE(status.out.find("\n  trainings: 7 for the 12 done task(s); 5 evaluated from a shared training\n"), std::string::npos)
      << status.out;
}

TEST_F(SharedRun, NothingIsSharedUnderEarlyStoppingOrAPlateauSchedule) {
  write("scheduler = \"plateau\"\n");
  Scripted exec;
  ASSERT_EQ(run_study(opt_, exec), kRunOk);
  EXPECT_EQ(exec.groups, 0);
  EXPECT_EQ(exec.singles, 12);
  opt_.db_path = (dir_ / "es.sqlite").string();
  // Early stopping (one rung at the last epoch: no pause) judges every trial on its own.
  write("[sweep.early_stop]\nmethod = \"median\"\nrungs = [2]\n");
  Scripted again;
  ASSERT_EQ(run_study(opt_, again), kRunOk);
  EXPECT_EQ(again.groups, 0);
  EXPECT_EQ(again.singles, 12);
  db::Store s(opt_.db_path, true);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 12);
  EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE trained_by IS NOT NULL"), 0);
  const auto status = cli_util::ablate("status --db " + opt_.db_path);  // nothing shared: no trainings line
  EXPECT_EQ(status.code, 0) << status.out;
  EXPECT_EQ(status.out.find("trainings:"), std::string::npos) << status.out;
}
