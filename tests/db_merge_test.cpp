// `ablate merge` (db/merge.hpp) on real SQLite files written through the Store's own writes: order
// independence and idempotence as properties over random stores, nothing lost or duplicated, the refusals
// (different folds, different dataset fingerprints, a different variant hash, conflicting results, a study
// being run) and --prefer, the folds' dataset fingerprint carried, the atomic replacement of the target, and
// the CLI verb.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "db/merge.hpp"
#include "db/store.hpp"
#include "sweeps/samplers.hpp"
#include "test_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace ablate;

const std::vector<db::FoldCases> kFolds = {{0, 0, {"a", "b"}, {"c"}, {"d"}}, {1, 0, {"c", "d"}, {"a"}, {"b"}}};

// The one true result of a task (the same in every store that ran it): a function of its key.
TaskResult result_of(const std::string& variant, int fold, double shift = 0) {
  TaskResult r;
  const double base = 0.5 + 0.01 * static_cast<double>(variant.size()) + 0.1 * fold + shift;
  for (int e = 1; e <= 2; ++e) r.epochs.push_back({e, 1.0 / e, 0.9 / e, base - 0.1 / e, 0.01, 1.5, base});
  r.best_epoch = 2;
  r.fold_metrics = {{"dice", 1, base}};
  r.case_metrics = {{fold == 0 ? "d" : "b", 1, "dice", base}};
  r.parameters = 1000;
  r.inference_ms_per_case = 2.5;
  r.train_seconds = 3;
  return r;
}

struct StoreSpec {
  std::string study = "st";
  std::vector<db::VariantRow> variants = {{"unet", "U-Net", "h-unet", "model.cc = false\n", 0},
                                          {"cc", "U-Net+CC", "h-cc", "model.cc = true\n", 1}};
  std::vector<db::FoldCases> folds = kFolds;
  std::set<std::pair<std::string, int>> done;    // (variant, fold) done
  std::set<std::pair<std::string, int>> failed;  // (variant, fold) failed
  double shift = 0;                              // a different result for every done task
  std::string host = "node-a";
  std::string fingerprint = "fp-data";           // folds.data_fingerprint ("" unknown)
  std::uint64_t seed = 42;
};

void write_store(const std::string& path, const StoreSpec& spec) {
  db::Store s(path);
  const auto id = s.create_study({spec.study, spec.seed, 2, 1});
  for (const auto& v : spec.variants) s.upsert_variant(id, v, "");
  s.store_folds(id, spec.folds, spec.fingerprint);
  s.ensure_tasks(id);
  s.set_provenance(id, {{"hostnames", spec.host}, {"git_commit", "abc"}});
  const auto run = s.begin_run(id, "ablate run st.toml", 3);
  double clock = 1000;
  for (const auto& t : s.tasks(id)) {
    const std::pair<std::string, int> key{t.variant, t.fold};
    if (!spec.done.count(key) && !spec.failed.count(key)) continue;
    s.mark_running(t.id, {spec.host, 1, 0, "cpu", 1, "", ""}, clock += 1);
    if (spec.done.count(key)) {
      s.record_done(t.id, result_of(t.variant, t.fold, spec.shift), clock += 5);
    } else {
      s.record_failed(t.id, "boom", clock += 5);
    }
  }
  s.end_run(run, 0);
}

// Everything a user can read of a store, by natural keys (no row ids), as text.
std::string dump(const std::string& path) {
  db::Store s(path, true);
  std::ostringstream o;
  for (const auto& name : s.study_names()) {
    const auto id = *s.find_study(name);
    o << "study " << name << "\n";
    for (const auto& v : s.variants(id)) o << " variant " << v.name << " " << v.label << " " << v.hash << " " << v.ordinal << "\n";
    for (const auto& f : s.folds(id)) {
      o << " fold " << f.fold << "/" << f.repeat << " data "
        << s.query_text("SELECT data_fingerprint FROM folds WHERE study_id = " + std::to_string(id) +
                        " AND fold = " + std::to_string(f.fold) + " AND \"repeat\" = " + std::to_string(f.repeat));
      for (const auto* split : {&f.train, &f.val, &f.test})
        for (const auto& c : *split) o << " " << c;
      o << "\n";
    }
    for (const auto& r : s.runs(id)) o << " run " << r.command << " " << r.host << " " << r.started << "\n";
    for (const auto& t : s.tasks(id)) {
      o << " task " << t.variant << " " << t.fold << " " << t.repeat << " " << t.status << " " << t.attempts << " "
        << t.host << " " << t.started << " " << t.ended << " " << t.error << "\n";
      for (const auto& a : s.attempts(t.id)) o << "  attempt " << a.attempt << " " << a.status << " " << a.started << "\n";
    }
    const auto data = db::load_study_data(path, name);
    for (const auto& m : data.fold_metrics) o << " metric " << m.variant << " " << m.fold << " " << m.metric << " " << m.value << "\n";
    for (const auto& m : data.case_metrics) o << " case " << m.variant << " " << m.case_id << " " << m.value << "\n";
    for (const auto& e : data.epochs) o << " epoch " << e.variant << " " << e.fold << " " << e.epoch << " " << e.train_loss << "\n";
    for (const auto& [k, v] : data.provenance) o << " provenance " << k << " = " << v << "\n";
  }
  return o.str();
}

class Merge : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = fresh_test_dir("ablate-merge"); }
  void TearDown() override { fs::remove_all(dir_); }
  std::string p(const std::string& name) const { return (dir_ / name).string(); }
  // The text of the MergeError that merging the stores `sources` (names in dir_) into `into` throws; a
  // test failure, naming `what`, when it merges instead.
  std::string refusal(const std::vector<std::string>& sources, const std::string& into, const std::string& what) {
    std::vector<std::string> paths;
    for (const auto& s : sources) paths.push_back(p(s));
    try {
      db::merge_stores(paths, p(into));
    } catch (const db::MergeError& e) {
      return e.what();
    }
    ADD_FAILURE() << "merged " << what;
    return "";
  }
  fs::path dir_;
};

TEST_F(Merge, IsOrderIndependentIdempotentAndLosesNothingOverRandomStores) {
  int merged_cases = 0;
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    sweeps::Rng rng(seed, 0);
    const std::vector<std::string> variants = {"unet", "cc"};
    std::vector<std::string> stores;
    for (int k = 0; k < 3; ++k) {
      StoreSpec spec;
      spec.host = "node-" + std::to_string(k);
      if (rng.uniform() < 0.3) spec.fingerprint = "";  // unknown (a store from before schema 5): agrees with any
      for (const auto& v : variants) {
        for (int f = 0; f < 2; ++f) {
          const auto u = rng.uniform();
          if (u < 0.4) spec.done.insert({v, f});
          else if (u < 0.6) spec.failed.insert({v, f});
        }
      }
      if (k == 2 && seed % 3 == 0) spec.study = "other";  // a second study in one of the stores
      stores.push_back(p("s" + std::to_string(seed) + "-" + std::to_string(k) + ".sqlite"));
      write_store(stores.back(), spec);
    }
    const std::string x = p("x" + std::to_string(seed) + ".sqlite"), y = p("y" + std::to_string(seed) + ".sqlite");
    db::merge_stores({stores[0], stores[1], stores[2]}, x);
    db::merge_stores({stores[2], stores[0], stores[1]}, y);
    const std::string dx = dump(x);
    EXPECT_EQ(dx, dump(y)) << "seed " << seed << ": A+B+C differs from C+A+B";
    // Idempotent: the result merged again with one of its sources, into itself or into a new file.
    const std::string z = p("z" + std::to_string(seed) + ".sqlite");
    db::merge_stores({x, stores[1]}, z);
    EXPECT_EQ(dump(z), dx) << "seed " << seed;
    db::merge_stores({stores[0]}, x);
    EXPECT_EQ(dump(x), dx) << "seed " << seed;
    // Nothing lost, nothing twice: every task once, done wherever any source had it done.
    db::Store s(x, true);
    const auto st = s.find_study("st");
    ASSERT_TRUE(st.has_value());
    std::set<std::pair<std::string, int>> done_merged;
    int tasks = 0;
    for (const auto& t : s.tasks(*st)) {
      ++tasks;
      if (t.status == "done") done_merged.insert({t.variant, t.fold});
    }
    EXPECT_EQ(tasks, 4);
    // The done tasks of study "st" (the "other" study's are counted in it, not here).
    std::set<std::pair<std::string, int>> expected;
    for (std::size_t k = 0; k < stores.size(); ++k) {
      db::Store src(stores[k], true);
      if (auto id = src.find_study("st"))
        for (const auto& t : src.tasks(*id))
          if (t.status == "done") expected.insert({t.variant, t.fold});
    }
    EXPECT_EQ(done_merged, expected) << "seed " << seed;
    EXPECT_EQ(db::load_study_data(x, "st").fold_metrics.size(), expected.size());
    ++merged_cases;
  }
  EXPECT_EQ(merged_cases, 12);
}

TEST_F(Merge, KeepsEverySourceInTheProvenanceOnce) {
  StoreSpec a, b;
  a.host = "node-a", b.host = "node-b";
  a.done = {{"unet", 0}}, b.done = {{"unet", 0}, {"cc", 1}};
  write_store(p("a.sqlite"), a);
  write_store(p("b.sqlite"), b);
  const auto summary = db::merge_stores({p("a.sqlite"), p("b.sqlite")}, p("c.sqlite"));
  EXPECT_EQ(summary.duplicates, 1);  // unet fold 0: done in both, identical
  EXPECT_EQ(summary.done, 2);
  const auto prov = db::load_study_data(p("c.sqlite"), "st").provenance;
  ASSERT_TRUE(prov.count("merged_from"));
  EXPECT_EQ(prov.at("merged_from"), "a.sqlite: hosts node-a, commit abc, 1 run(s)\nb.sqlite: hosts node-b, commit abc, 1 run(s)");
  db::Store c(p("c.sqlite"), true);
  EXPECT_EQ(c.runs(*c.find_study("st")).size(), 2u);
}

TEST_F(Merge, RefusesDifferentFoldsAndLeavesTheTargetAsItWas) {
  StoreSpec a, b;
  b.folds = {{0, 0, {"a", "c"}, {"b"}, {"d"}}, {1, 0, {"c", "d"}, {"a"}, {"b"}}};
  write_store(p("a.sqlite"), a);
  write_store(p("b.sqlite"), b);
  write_store(p("target.sqlite"), a);
  const std::string before = cli_util::read_file(p("target.sqlite"));
  const std::string msg = refusal({"a.sqlite", "b.sqlite"}, "target.sqlite", "stores of different folds");
  EXPECT_NE(msg.find("study 'st': fold 0 repeat 0 holds other cases"), std::string::npos) << msg;
  EXPECT_NE(msg.find(".sqlite"), std::string::npos) << msg;
  EXPECT_EQ(cli_util::read_file(p("target.sqlite")), before);
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(".merge-"), std::string::npos) << "left " << entry.path();
  }
}

// The dataset fingerprint the folds were made from (the key of reuse) travels with the folds; an unknown
// one ("") gives way to a known one in either order.
TEST_F(Merge, CarriesTheDataFingerprintOfTheFolds) {
  StoreSpec a, b;
  a.done = {{"unet", 0}}, b.done = {{"cc", 1}};
  a.fingerprint = "";
  b.fingerprint = "fp-b";
  write_store(p("a.sqlite"), a);
  write_store(p("b.sqlite"), b);
  const std::string fps = "SELECT group_concat(fold || '=' || data_fingerprint, ' ') FROM (SELECT * FROM folds ORDER BY fold)";
  for (const auto& [x, y] : {std::make_pair(std::string("a"), std::string("b")), std::make_pair(std::string("b"), std::string("a"))}) {
    const std::string into = p(x + y + ".sqlite");
    db::merge_stores({p(x + ".sqlite"), p(y + ".sqlite")}, into);
    db::Store c(into, true);
    EXPECT_EQ(c.query_text(fps), "0=fp-b 1=fp-b") << x << "+" << y;
    EXPECT_EQ(c.data_fingerprint(*c.find_study("st")), "fp-b");
  }
  // Merging again keeps it; a source that knows it keeps it too.
  db::merge_stores({p("b.sqlite")}, p("b-only.sqlite"));
  EXPECT_EQ(db::Store(p("b-only.sqlite"), true).query_text(fps), "0=fp-b 1=fp-b");
}

TEST_F(Merge, RefusesDifferentDataFingerprintsNamingStudyFoldAndSources) {
  StoreSpec a, b;
  a.fingerprint = "fp-one";
  b.fingerprint = "fp-two";  // the same cases, read from other files
  write_store(p("a.sqlite"), a);
  write_store(p("b.sqlite"), b);
  write_store(p("target.sqlite"), a);
  const std::string before = cli_util::read_file(p("target.sqlite"));
  const std::string msg = refusal({"a.sqlite", "b.sqlite"}, "target.sqlite", "results of different data");
  EXPECT_NE(msg.find("study 'st': fold 0 repeat 0 was made from other data in b.sqlite (dataset fingerprint fp-two)"),
            std::string::npos) << msg;
  // The other side: a source of fp-one (the target is a source too: merging into it adds to it).
  EXPECT_TRUE(msg.find("than in a.sqlite (fp-one)") != std::string::npos ||
              msg.find("than in target.sqlite (fp-one)") != std::string::npos) << msg;
  EXPECT_EQ(cli_util::read_file(p("target.sqlite")), before);
  const auto r = cli_util::ablate("merge " + p("a.sqlite") + " " + p("b.sqlite") + " --into " + p("c.sqlite"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("was made from other data"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(p("c.sqlite")));
}

// A study of the same name with another seed is another study (other folds, other trainings): refused,
// naming the study, the key and both sources.
TEST_F(Merge, RefusesTheSameNameWithAnotherSeed) {
  StoreSpec a, b;
  b.seed = 43;
  write_store(p("a.sqlite"), a);
  write_store(p("b.sqlite"), b);
  {
    const std::string msg = refusal({"a.sqlite", "b.sqlite"}, "c.sqlite", "two studies of one name");
    EXPECT_NE(msg.find("study 'st': seed is "), std::string::npos) << msg;
    EXPECT_NE(msg.find("these are different studies"), std::string::npos) << msg;
    EXPECT_NE(msg.find("42"), std::string::npos) << msg;
    EXPECT_NE(msg.find("43"), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(p("c.sqlite")));
}

TEST_F(Merge, RefusesADifferentVariantHash) {
  StoreSpec a, b;
  b.variants[1].hash = "h-other";
  write_store(p("a.sqlite"), a);
  write_store(p("b.sqlite"), b);
  const std::string msg = refusal({"a.sqlite", "b.sqlite"}, "c.sqlite", "different configurations");
  EXPECT_NE(msg.find("variant `cc` has hash"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(p("c.sqlite")));
}

TEST_F(Merge, RefusesConflictingResultsUnlessToldWhichToKeep) {
  StoreSpec a, b;
  a.done = b.done = {{"unet", 1}};
  b.shift = 0.05;  // b's result differs
  write_store(p("a.sqlite"), a);
  write_store(p("b.sqlite"), b);
  const std::string msg = refusal({"a.sqlite", "b.sqlite"}, "c.sqlite", "conflicting results");
  EXPECT_NE(msg.find("task `unet` fold 1 repeat 0 is done in"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--prefer"), std::string::npos) << msg;
  auto dice = [&](const std::string& store) {
    const auto d = db::load_study_data(store, "st");
    EXPECT_EQ(d.fold_metrics.size(), 1u);
    return d.fold_metrics.empty() ? -1.0 : d.fold_metrics.front().value;
  };
  const auto s1 = db::merge_stores({p("b.sqlite"), p("a.sqlite")}, p("first.sqlite"), db::Prefer::kFirst);
  EXPECT_EQ(s1.conflicts_resolved, 1);
  EXPECT_DOUBLE_EQ(dice(p("first.sqlite")), result_of("unet", 1, 0.05).fold_metrics[0].value);
  // Both ended at the same clock: "newest" then takes an order-independent tie-break; both orders agree.
  db::merge_stores({p("a.sqlite"), p("b.sqlite")}, p("n1.sqlite"), db::Prefer::kNewest);
  db::merge_stores({p("b.sqlite"), p("a.sqlite")}, p("n2.sqlite"), db::Prefer::kNewest);
  EXPECT_EQ(dump(p("n1.sqlite")), dump(p("n2.sqlite")));
}

TEST_F(Merge, RefusesAStudyThatIsBeingRun) {
  StoreSpec a;
  write_store(p("a.sqlite"), a);
  {
    db::Store s(p("a.sqlite"));
    s.acquire_lock(*s.find_study("st"));
  }
  const std::string msg = refusal({"a.sqlite"}, "c.sqlite", "a study whose coordinator holds its lock");
  EXPECT_NE(msg.find("is being run"), std::string::npos) << msg;
}

TEST_F(Merge, TheCliVerbMergesAndRefusesWithExitTwo) {
  StoreSpec a, b;
  a.done = {{"unet", 0}}, b.done = {{"cc", 0}};
  write_store(p("a.sqlite"), a);
  write_store(p("b.sqlite"), b);
  auto r = cli_util::ablate("merge " + p("a.sqlite") + " " + p("b.sqlite") + " --into " + p("c.sqlite"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("merged 2 store(s) into"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4 task(s), 2 done"), std::string::npos) << r.out;
  r = cli_util::ablate("status --db " + p("c.sqlite"));
  EXPECT_EQ(r.code, 0) << r.out;
  r = cli_util::ablate("merge " + p("a.sqlite") + " --into " + p("c.sqlite") + " --prefer oldest");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("allowed are newest and first"), std::string::npos) << r.out;
  r = cli_util::ablate("merge " + p("nope.sqlite") + " --into " + p("c.sqlite"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no such store file"), std::string::npos) << r.out;
}

}  // namespace
