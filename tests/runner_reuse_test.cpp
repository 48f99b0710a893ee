// Never train the same thing twice (docs/RUNNER.md "Reusing finished trainings"), end to end with the real
// `ablate` binary, the real trainer (tiny networks, 32 px, two steps) and real SQLite stores: two studies
// sharing a row in one store (the second trains only its new row, and its report equals that of a separate
// store), `--reuse` across stores, `--no-reuse`, and a changed dataset file that reuses nothing.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli_util.hpp"
#include "db/store.hpp"

namespace fs = std::filesystem;
using Store = ablate::db::Store;

namespace {

// unet and cc (study a) or unet and sc (study b): `unet` is the same training in both.
std::string study_text(const std::string& name, const std::string& second, const std::string& data) {
  return "[study]\nname = \"" + name + "\"\nseed = 1\nfolds = 2\n[data]\npath = \"" + data +
         "\"\nimage_size = 32\n[model]\nwidths = [4, 8]\n[train]\nepochs = 1\nsteps_per_epoch = 2\nbatch_size = 2\n"
         "threads = 1\n[[ablation.variant]]\nname = \"unet\"\n[[ablation.variant]]\nname = \"" + second +
         "\"\n\"model." + second + "\" = true\n";
}

class Reuse : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto r = cli_util::ablate("data synth --out " + (dir_ / "data") + " --cases 6 --size 32 --slices 4 --seed 5");
    ASSERT_EQ(r.code, 0) << r.out;
    a_ = dir_.write("a.toml", study_text("a", "cc", "data"));
    b_ = dir_.write("b.toml", study_text("b", "sc", "data"));
  }
  // Tasks of study `study` in `db` trained here (reused_from NULL) and copied (reused_from set).
  static long trained(const std::string& db, const std::string& study) {
    return Store(db, true).query_int(
        "SELECT count(*) FROM tasks t JOIN studies s ON s.id = t.study_id WHERE s.name = '" + study +
        "' AND t.status = 'done' AND t.reused_from IS NULL");
  }
  static long reused(const std::string& db, const std::string& study) {
    return Store(db, true).query_int(
        "SELECT count(*) FROM tasks t JOIN studies s ON s.id = t.study_id WHERE s.name = '" + study +
        "' AND t.status = 'done' AND t.reused_from IS NOT NULL");
  }
  // Every stored fold and case value of one variant of one study, in a stable order.
  static std::string results(const std::string& db, const std::string& study, const std::string& variant) {
    Store s(db, true);
    const std::string where = " WHERE study = '" + study + "' AND variant = '" + variant + "'";
    return s.query_text("SELECT group_concat(x, ';') FROM (SELECT fold || ' ' || metric || ' ' || class || ' ' || quote(value) AS x "
                        "FROM fold_metrics" + where + " ORDER BY fold, metric, class)") + "|" +
           s.query_text("SELECT group_concat(x, ';') FROM (SELECT case_id || ' ' || metric || ' ' || quote(value) AS x "
                        "FROM case_metrics" + where + " ORDER BY case_id, metric, class)");
  }
  std::string run(const std::string& study, const std::string& db, const std::string& extra = "") {
    const auto r = cli_util::ablate("run " + study + " --db " + db + " " + extra);
    EXPECT_EQ(r.code, 0) << r.out;
    return r.out;
  }

  cli_util::TempDir dir_{"ablate-reuse"};
  std::string a_, b_;
};

}  // namespace

TEST_F(Reuse, ASecondStudyInTheStoreTrainsOnlyItsNewRowsAndReportsAsASeparateStore) {
  const std::string shared = dir_ / "shared.sqlite", alone = dir_ / "alone.sqlite";
  run(a_, shared);
  const auto plan = cli_util::ablate("plan " + b_ + " --db " + shared);
  EXPECT_NE(plan.out.find("trainings: 2 new, 2 reused\n"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("2 reused from " + fs::canonical(shared).string() + ": a"), std::string::npos) << plan.out;
  const std::string log = run(b_, shared);
  EXPECT_NE(log.find("2 task(s) reused from finished trainings"), std::string::npos) << log;
  EXPECT_EQ(trained(shared, "b"), 2);  // sc on both folds
  EXPECT_EQ(reused(shared, "b"), 2);   // unet on both folds, from study a
  const auto status = cli_util::ablate("status --db " + shared + " --study b");
  EXPECT_NE(status.out.find("reused: 2 of the 4 done task(s) copied from finished trainings"), std::string::npos) << status.out;

  // The same study in a store of its own trains everything; its results and its report are the same.
  run(b_, alone);
  EXPECT_EQ(trained(alone, "b"), 4);
  EXPECT_EQ(results(shared, "b", "unet"), results(alone, "b", "unet"));
  EXPECT_EQ(results(shared, "b", "sc"), results(alone, "b", "sc"));
  EXPECT_FALSE(results(shared, "b", "unet").empty());
  for (const auto& [db, out] : {std::pair{shared, dir_ / "rep-shared"}, std::pair{alone, dir_ / "rep-alone"}}) {
    const auto r = cli_util::ablate("report --db " + db + " --study b --out " + out);
    ASSERT_EQ(r.code, 0) << r.out;
  }
  EXPECT_EQ(cli_util::read_file(dir_ / "rep-shared/table.csv"), cli_util::read_file(dir_ / "rep-alone/table.csv"));
  EXPECT_NE(cli_util::read_file(dir_ / "rep-shared/report.html").find("Reused trainings"), std::string::npos);
  EXPECT_EQ(cli_util::read_file(dir_ / "rep-alone/report.html").find("Reused trainings"), std::string::npos);

  // Nothing left: a rerun trains nothing and copies nothing again.
  run(b_, shared);
  EXPECT_EQ(trained(shared, "b") + reused(shared, "b"), 4);
}

TEST_F(Reuse, AnotherStoreNamedByReuseLendsItsTrainingsAndNoReuseTrainsAll) {
  const std::string first = dir_ / "first.sqlite", second = dir_ / "second.sqlite", third = dir_ / "third.sqlite";
  run(a_, first);
  const auto plan = cli_util::ablate("plan " + b_ + " --db " + second + " --reuse " + first);
  EXPECT_NE(plan.out.find("trainings: 2 new, 2 reused\n"), std::string::npos) << plan.out;
  run(b_, second, "--reuse " + first);
  EXPECT_EQ(trained(second, "b"), 2);
  EXPECT_EQ(reused(second, "b"), 2);
  EXPECT_EQ(Store(second, true).query_text("SELECT reused_from FROM tasks WHERE reused_from IS NOT NULL LIMIT 1")
                .rfind(fs::canonical(first).string() + ": a task ", 0),
            0u);
  // The other store is only read: it holds study a alone, as before.
  EXPECT_EQ(Store(first, true).query_int("SELECT count(*) FROM studies"), 1);

  const auto both = cli_util::ablate("run " + b_ + " --db " + third + " --reuse " + first + " --no-reuse");
  EXPECT_EQ(both.code, 2) << both.out;
  EXPECT_NE(both.out.find("--reuse and --no-reuse together"), std::string::npos) << both.out;
  run(b_, third, "--no-reuse");
  EXPECT_EQ(trained(third, "b"), 4);
  EXPECT_EQ(reused(third, "b"), 0);

  const auto missing = cli_util::ablate("run " + b_ + " --db " + (dir_ / "fourth.sqlite") + " --reuse " + (dir_ / "nothing.sqlite"));
  EXPECT_EQ(missing.code, 2) << missing.out;
  EXPECT_NE(missing.out.find("nothing.sqlite: no such store"), std::string::npos) << missing.out;
}

TEST_F(Reuse, AChangedDatasetFileReusesNothing) {
  const std::string db = dir_ / "s.sqlite";
  run(a_, db);
  // One case's image rewritten with the same bytes a minute later: another modification time, other data
  // as far as the fingerprint can tell.
  fs::path image;
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "data")) {
    if (e.is_regular_file() && e.path().string().find("imagesTr") != std::string::npos) image = e.path();
  }
  ASSERT_FALSE(image.empty());
  fs::last_write_time(image, fs::last_write_time(image) + std::chrono::minutes(1));
  const auto plan = cli_util::ablate("plan " + b_ + " --db " + db);
  EXPECT_NE(plan.out.find("trainings: 4 new, 0 reused\n"), std::string::npos) << plan.out;
  run(b_, db);
  EXPECT_EQ(trained(db, "b"), 4);
  EXPECT_EQ(reused(db, "b"), 0);
  EXPECT_NE(Store(db, true).query_text("SELECT group_concat(DISTINCT data_fingerprint) FROM folds"), "");
  EXPECT_EQ(Store(db, true).query_int("SELECT count(DISTINCT data_fingerprint) FROM folds"), 2);
}
