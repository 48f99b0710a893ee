// Job arrays through the `ablate` binary (docs/RUNNER.md "Job arrays vs one MPI job"): a tiny study run as
// `--shard 0/2` and `--shard 1/2`, merged with `ablate merge`, equals the same study run at once (the same
// tasks, epochs and metrics: training on the CPU is deterministic); the shards are disjoint, keep a shared
// training together and each write only their own store; bad shard specs and the studies arrays cannot run
// (TPE, ASHA, median stopping) are refused at `plan`, `run --shard` and `submit --array`, naming both
// features and what to use instead; `submit --array` writes the array and its merge job.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "cli_util.hpp"
#include "db/store.hpp"
#include "results_util.hpp"

namespace {

namespace fs = std::filesystem;
using cli_util::TempDir;
using results_util::results;

std::string study_text(const std::string& data, const std::string& extra = "") {
  return "[study]\nname = \"arr\"\nseed = 5\nfolds = 2\n[data]\npath = \"" + data +
         "\"\nimage_size = 32\n[model]\nwidths = [4, 8]\n[train]\nepochs = 2\nsteps_per_epoch = "
         "2\nbatch_size = 2\nlr = 0.001\n" +
         extra +
         "[[ablation.variant]]\nname = \"unet\"\n"
         "[[ablation.variant]]\nname = \"wide\"\nmodel.widths = [8, 16]\n"
         // Differs from unet only in an evaluation-only key: one training for both (ablations/sharing.hpp).
         "[[ablation.variant]]\nname = \"prepared\"\ndata.evaluate_at = \"prepared\"\n";
}

std::int64_t count(const std::string& db, const std::string& sql) {
  return ablate::db::Store(db, true).query_int(sql);
}

class ArrayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto synth =
        cli_util::ablate("data synth --out '" + dir_ / "data" + "' --cases 6 --size 32 --slices 6");
    ASSERT_EQ(synth.code, 0) << synth.out;
  }
  std::string write_study(const std::string& extra = "") {
    return dir_.write("arr.toml", study_text(dir_ / "data", extra));
  }
  TempDir dir_{"ablate-array"};
};

}  // namespace

TEST_F(ArrayTest, ShardsMergedEqualOneRun) {
  const std::string study = write_study();
  for (const char* shard : {"0/2", "1/2"}) {
    const auto r = cli_util::ablate("run '" + study + "' --shard " + shard);
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("shard " + std::string(1, shard[0]) + " of 2"), std::string::npos) << r.out;
  }
  // Each shard wrote its own store and checkpoints beside the study; the study's own store is untouched.
  const std::string s0 = dir_ / "arr.shard-0.sqlite", s1 = dir_ / "arr.shard-1.sqlite";
  ASSERT_TRUE(fs::exists(s0));
  ASSERT_TRUE(fs::exists(s1));
  EXPECT_TRUE(fs::is_directory(dir_ / "arr.shard-0.work"));
  EXPECT_FALSE(fs::exists(dir_ / "arr.sqlite"));
  // Both stores hold every task; each did its own share, disjoint, together all 6 (3 variants x 2 folds).
  for (const auto& db : {s0, s1}) EXPECT_EQ(count(db, "SELECT count(*) FROM tasks"), 6);
  const std::int64_t done0 = count(s0, "SELECT count(*) FROM tasks WHERE status = 'done'");
  const std::int64_t done1 = count(s1, "SELECT count(*) FROM tasks WHERE status = 'done'");
  EXPECT_EQ(done0 + done1, 6);
  EXPECT_GT(done0, 0);
  EXPECT_GT(done1, 0);
  // Balanced on cost: each shard holds one fold of the wide network (the costly variant) and one shared
  // training of unet and prepared, which stay together (the same shard for each fold).
  for (const auto& db : {s0, s1}) {
    EXPECT_EQ(count(db,
                    "SELECT count(*) FROM tasks t JOIN variants v ON v.id = t.variant_id WHERE v.name = "
                    "'wide' AND status = 'done'"),
              1);
    EXPECT_EQ(count(db,
                    "SELECT count(*) FROM tasks t JOIN variants v ON v.id = t.variant_id JOIN folds f ON "
                    "f.id = t.fold_id "
                    "WHERE status = 'done' AND v.name IN ('unet', 'prepared') GROUP BY f.fold"),
              2);
  }
  const auto merged =
      cli_util::ablate("merge '" + s0 + "' '" + s1 + "' --into '" + dir_ / "arr.sqlite" + "'");
  ASSERT_EQ(merged.code, 0) << merged.out;
  EXPECT_NE(merged.out.find("6 task(s), 6 done"), std::string::npos) << merged.out;
  EXPECT_EQ(merged.out.find("several stores"), std::string::npos) << "no task was done twice: " << merged.out;

  const auto single = cli_util::ablate("run '" + study + "' --db '" + dir_ / "single.sqlite" + "'");
  ASSERT_EQ(single.code, 0) << single.out;
  const std::string a = results(dir_ / "arr.sqlite"), b = results(dir_ / "single.sqlite");
  EXPECT_FALSE(a.empty());
  EXPECT_NE(a.find("wide f1 r0 epoch 2"), std::string::npos) << a;
  EXPECT_EQ(a, b);
  // The folds keep the dataset fingerprint they were made from (the key of reuse): the merged store is a
  // source of reuse like the one run's.
  const std::string fps = "SELECT group_concat(fold || '=' || data_fingerprint, ' ') FROM (SELECT * FROM folds ORDER BY fold)";
  const std::string fp = ablate::db::Store(dir_ / "single.sqlite", true).data_fingerprint(1);
  EXPECT_FALSE(fp.empty());
  EXPECT_EQ(ablate::db::Store(dir_ / "arr.sqlite", true).query_text(fps), "0=" + fp + " 1=" + fp);

  // A shard run again (an array element requeued after it finished) has nothing left to do and is still
  // the same shard.
  const auto again = cli_util::ablate("run '" + study + "' --shard 1/2");
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find(std::to_string(done1) + " task(s) done, 0 to run"), std::string::npos)
      << again.out;
}

// Shards that read other files (here: dataset.json touched between the two elements, as a copy of the dataset
// that did not keep the files' times would be) made their folds from other data: merge refuses, naming
// the study, the fold and both stores, and writes nothing.
TEST_F(ArrayTest, ShardsThatReadOtherDataAreNotMerged) {
  const std::string study = write_study();
  auto r = cli_util::ablate("run '" + study + "' --shard 0/2");
  ASSERT_EQ(r.code, 0) << r.out;
  const fs::path json = dir_ / "data/dataset.json";
  fs::last_write_time(json, fs::last_write_time(json) + std::chrono::hours(1));
  r = cli_util::ablate("run '" + study + "' --shard 1/2");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string s0 = dir_ / "arr.shard-0.sqlite", s1 = dir_ / "arr.shard-1.sqlite";
  ASSERT_NE(ablate::db::Store(s0, true).data_fingerprint(1), ablate::db::Store(s1, true).data_fingerprint(1));
  const auto merged = cli_util::ablate("merge '" + s0 + "' '" + s1 + "' --into '" + dir_ / "arr.sqlite" + "'");
  EXPECT_EQ(merged.code, 2) << merged.out;
  for (const std::string& part : {std::string("study 'arr': fold 0 repeat 0 was made from other data in "), std::string("arr.shard-0.sqlite"),
                                 std::string("arr.shard-1.sqlite"), std::string("rsync -a")}) {
    EXPECT_NE(merged.out.find(part), std::string::npos) << "no `" << part << "` in\n" << merged.out;
  }
  EXPECT_FALSE(fs::exists(dir_ / "arr.sqlite"));
}

TEST_F(ArrayTest, BadShardSpecsAreUsageErrors) {
  const std::string study = write_study();
  for (const char* spec : {"2/2", "3/2", "0/0", "a/b", "1"}) {
    const auto r = cli_util::ablate("run '" + study + "' --shard " + spec);
    EXPECT_EQ(r.code, 2) << spec << ": " << r.out;
    EXPECT_NE(r.out.find("--shard " + std::string(spec) + ":"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("allowed: I/N with 0 <= I < N"), std::string::npos) << r.out;
  }
  EXPECT_FALSE(fs::exists(dir_ / "arr.shard-2.sqlite"));
  const auto sub = cli_util::ablate("submit '" + study + "' --array 1001 --dry-run");
  EXPECT_EQ(sub.code, 2) << sub.out;
  EXPECT_NE(sub.out.find("--array (or resources.array): 1001 (allowed: 0 = one MPI job, 1 to 1000 elements)"),
            std::string::npos)
      << sub.out;
  const auto mpirun = cli_util::ablate("submit '" + study + "' --array 2 --scheduler mpirun --dry-run");
  EXPECT_EQ(mpirun.code, 2) << mpirun.out;
  EXPECT_NE(mpirun.out.find("needs --scheduler slurm"), std::string::npos) << mpirun.out;
}

// TPE, ASHA and median stopping decide what runs next from finished results: refused for arrays wherever
// an array is asked for, with both features named, why, and what to use instead. A Sobol search (fixed at
// load time) plans as an array.
TEST_F(ArrayTest, StudiesWhoseNextTaskDependsOnResultsAreRefused) {
  const std::string asha = write_study("[sweep.early_stop]\nmethod = \"asha\"\nrungs = [1, 2]\n");
  const std::string tpe = cli_util::kExamples + "fig5_alpha_lr_tpe.toml";
  const std::string median = dir_.write(
      "median.toml", study_text(dir_ / "data", "[sweep.early_stop]\nmethod = \"median\"\nrungs = [1, 2]\n"));
  for (const auto& [file, feature] :
       {std::pair<std::string, std::string>{asha, "[sweep.early_stop] method = \"asha\""},
        {median, "[sweep.early_stop] method = \"median\""},
        {tpe, "sweep.method = \"tpe\""}}) {
    for (const std::string& command :
         {"plan '" + file + "' --set resources.array=2", "run '" + file + "' --shard 0/2",
          "submit '" + file + "' --array 2 --dry-run"}) {
      const auto r = cli_util::ablate(command);
      EXPECT_EQ(r.code, 2) << command << "\n" << r.out;
      for (const std::string& part :
           {feature, std::string("a job array"), std::string("never see each other's results"),
            std::string("one MPI job")}) {
        EXPECT_NE(r.out.find(part), std::string::npos) << command << ": no `" << part << "` in\n" << r.out;
      }
    }
  }
  EXPECT_FALSE(fs::exists(dir_ / "arr.shard-0.sqlite")) << "refused before any store";
  const auto ok =
      cli_util::ablate("plan " + cli_util::kExamples + "mda_lambda_k_sobol.toml --set resources.array=3");
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(ok.out.find("job array: 3 element(s)"), std::string::npos) << ok.out;
}

TEST_F(ArrayTest, SubmitArrayWritesTheArrayAndItsMergeJob) {
  const std::string study = write_study("[resources]\narray = 2\ncpus_per_rank = 2\ntime = \"00:30:00\"\n");
  const auto r = cli_util::ablate("submit '" + study + "'");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string array = cli_util::read_file(dir_ / "arr.slurm.sh");
  const std::string merge = cli_util::read_file(dir_ / "arr.slurm-merge.sh");
  EXPECT_NE(array.find("#SBATCH --array=0-1\n"), std::string::npos) << array;
  EXPECT_NE(array.find("--shard \"$SLURM_ARRAY_TASK_ID\"/2 --workers 1"), std::string::npos) << array;
  EXPECT_NE(array.find("#SBATCH --cpus-per-task=2\n"), std::string::npos) << array;
  EXPECT_NE(merge.find("merge '" + dir_ / "arr.shard-0.sqlite" + "' '" + dir_ / "arr.shard-1.sqlite" +
                       "' --into '" + dir_ / "arr.sqlite" + "'"),
            std::string::npos)
      << merge;
  EXPECT_NE(merge.find("report --db '" + dir_ / "arr.sqlite" + "' --out '" + dir_ / "arr-report" + "'"),
            std::string::npos)
      << merge;
  EXPECT_NE(r.out.find("sbatch --dependency=afterany:"), std::string::npos) << r.out;
  // --array 0 overrides the study's array: the one MPI job.
  const auto mpi = cli_util::ablate("submit '" + study + "' --array 0 --dry-run");
  ASSERT_EQ(mpi.code, 0) << mpi.out;
  EXPECT_EQ(mpi.out.find("--array="), std::string::npos) << mpi.out;
  EXPECT_NE(mpi.out.find("--overcommit"), std::string::npos) << mpi.out;
}
