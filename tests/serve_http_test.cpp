// `ablate serve` against a real store: a server on a loopback port reads the SQLite file while the test
// writes it with the coordinator's own calls (db::Store), and every answer is read over HTTP.
#include <gtest/gtest.h>

#include <regex>

#include "serve_util.hpp"
#include "store_fixture.hpp"

namespace {

using serve_test::get;
using serve_test::json_int;

const ablate::Placement kNode{"node1", 1, 0, "cpu", 1, "", ""};

class ServeHttp : public store_test::StoreFixture {
 protected:
  ServeHttp()
      : StoreFixture("ablate-serve-http", {{{"unet", "U-Net", "h1", "model.cc = false\n", 0}, ""},
                                           {{"cc", "U-Net+CC", "h2", "model.cc = true\n", 1}, ""}}) {}
};

TEST_F(ServeHttp, DoneCountGrowsToTheTaskCount) {
  ablate::db::Store w(path_);
  const auto id = fill(w);
  w.acquire_lock(id);
  w.begin_run(id, "ablate run study.toml", 3);
  serve_test::Running server(serve_test::options(path_));
  const auto tasks = w.tasks(id);
  ASSERT_EQ(tasks.size(), 4u);

  auto r = get(server.port(), "/api/tasks?study=st");
  ASSERT_EQ(r.status, 200) << r.head;
  EXPECT_NE(r.head.find("Content-Type: application/json"), std::string::npos);
  EXPECT_EQ(json_int(r.body, "total"), 4);
  EXPECT_EQ(json_int(r.body, "done", "\"counts\""), 0);
  EXPECT_EQ(json_int(r.body, "pending", "\"counts\""), 4);
  EXPECT_NE(r.body.find("\"coordinator\":true"), std::string::npos);
  EXPECT_EQ(json_int(r.body, "workers"), 2);

  for (std::size_t i = 0; i < tasks.size(); ++i) {
    w.mark_running(tasks[i].id, kNode, ablate::db::now_seconds());
    w.record_epoch(tasks[i].id, serve_test::epoch(1));
    r = get(server.port(), "/api/tasks?study=st");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(json_int(r.body, "running", "\"counts\""), 1) << "task " << i;
    EXPECT_EQ(json_int(r.body, "busy"), 1);
    // The running task shows its current epoch.
    EXPECT_EQ(json_int(r.body, "epoch", "{\"id\":" + std::to_string(tasks[i].id) + ","), 1);

    w.record_done(tasks[i].id, serve_test::result(2, 0.8 + 0.01 * static_cast<double>(i)),
                  ablate::db::now_seconds(), id);
    r = get(server.port(), "/api/tasks?study=st");
    EXPECT_EQ(json_int(r.body, "done", "\"counts\""), static_cast<long>(i + 1));
    EXPECT_EQ(json_int(r.body, "running", "\"counts\""), 0);
  }
  EXPECT_EQ(json_int(r.body, "pending", "\"counts\""), 0);
  EXPECT_NE(r.body.find("\"eta\":0"), std::string::npos) << "nothing left: the ETA is 0";

  // The curves of a task: both epochs, the selected one marked.
  r = get(server.port(), "/api/epochs?study=st&task=" + std::to_string(tasks[0].id));
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"epoch\":[1,2]"), std::string::npos) << r.body;
  EXPECT_EQ(json_int(r.body, "best_epoch"), 2);
  EXPECT_NE(r.body.find("\"train_loss\":[1,0.5]"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"val_soft_dice\":[null,null]"), std::string::npos) << r.body;  // not recorded here
  // A variant's tasks: its two folds.
  r = get(server.port(), "/api/epochs?study=st&variant=cc");
  EXPECT_EQ(std::count(r.body.begin(), r.body.end(), '{') - 1, 2) << r.body;
  // Every task, one page at a time: the page holds at most `limit` tasks, says the total and where the next
  // page starts, and the pages together are the tasks in order, each once.
  std::string pages;
  std::string offset = "0";
  for (int page = 0; offset != "null"; ++page) {
    ASSERT_LT(page, static_cast<int>(tasks.size())) << "the pages never end";
    r = get(server.port(), "/api/epochs?study=st&limit=1&offset=" + offset);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json_int(r.body, "total"), static_cast<long>(tasks.size()));
    EXPECT_EQ(std::count(r.body.begin(), r.body.end(), '{') - 1, 1) << r.body;
    pages += std::to_string(json_int(r.body, "id", "\"tasks\"")) + " ";
    const auto at = r.body.find("\"next_offset\":") + 14;
    offset = r.body.substr(at, r.body.find(',', at) - at);
  }
  std::string all;
  for (const auto& t : tasks) all += std::to_string(t.id) + " ";
  EXPECT_EQ(pages, all);
  r = get(server.port(), "/api/epochs?study=st");
  EXPECT_NE(r.body.find("\"next_offset\":null"), std::string::npos) << "a small study is one page: " << r.body;

  // Metrics: per variant the mean over its two folds.
  r = get(server.port(), "/api/metrics?study=st");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json_int(r.body, "n", "\"summary\""), 2);
  EXPECT_NE(r.body.find("\"mean\":0.805"), std::string::npos) << r.body;

  // The report's own sections: the comparison table and the box plots of the per-case values.
  r = get(server.port(), "/study/results?name=st");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("<h2 id=\"table\">Comparison</h2>"), std::string::npos);
  EXPECT_NE(r.body.find("U-Net+CC"), std::string::npos);
  EXPECT_NE(r.body.find("<svg"), std::string::npos);

  r = get(server.port(), "/api/studies");
  EXPECT_NE(r.body.find("\"name\":\"st\""), std::string::npos);
  EXPECT_EQ(json_int(r.body, "done", "\"counts\""), 4);
}

TEST_F(ServeHttp, FailureAppearsWithItsAttemptAndMessage) {
  ablate::db::Store w(path_);
  const auto id = fill(w);
  w.acquire_lock(id);
  serve_test::Running server(serve_test::options(path_));
  const auto task = w.tasks(id).at(1);
  w.mark_running(task.id, kNode, ablate::db::now_seconds());
  w.record_failed(task.id, "worker 1: out of memory at epoch 3", ablate::db::now_seconds());
  w.mark_running(task.id, kNode, ablate::db::now_seconds());
  w.record_failed(task.id, "worker 1: loss is NaN at epoch 1", ablate::db::now_seconds());

  const auto r = get(server.port(), "/api/tasks?study=st");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json_int(r.body, "failed", "\"counts\""), 1);
  const auto failures = r.body.substr(r.body.find("\"failures\""));
  EXPECT_NE(failures.find("\"attempt\":1,\"status\":\"failed\",\"host\":\"node1\""), std::string::npos)
      << failures;
  EXPECT_NE(failures.find("out of memory at epoch 3"), std::string::npos);
  EXPECT_NE(failures.find("\"attempt\":2"), std::string::npos);
  EXPECT_NE(failures.find("loss is NaN at epoch 1"), std::string::npos);
  EXPECT_EQ(json_int(failures, "task"), task.id);
}

TEST_F(ServeHttp, StoppedTrialAppearsWithItsRungAndTheDecisions) {
  ablate::db::Store w(path_);
  const auto id = fill(w);
  w.acquire_lock(id);
  w.record_trial(id, {"", 0, "t000", "random", "[0.25]", "", ablate::db::now_seconds()},
                 {"t000", "t000", "h3", "", 2}, "");
  serve_test::Running server(serve_test::options(path_));
  auto r = get(server.port(), "/api/trials?study=st");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"state\":\"pending\""), std::string::npos) << r.body;

  // Fold 0 of the trial reaches rung 0 (epoch 2) and pauses; the policy stops the trial there.
  ablate::db::TaskRow paused;
  for (const auto& t : w.tasks(id))
    if (t.variant == "t000" && t.fold == 0) paused = t;
  ASSERT_NE(paused.id, 0);
  w.mark_running(paused.id, kNode, ablate::db::now_seconds());
  ablate::TaskResult r2 = serve_test::result(2, 0.5);
  r2.paused_after_epoch = 2;
  w.record_paused(paused.id, r2, ablate::db::now_seconds(), id, {"t000", "reached", 0, 2, 0, 0, 0.7});
  w.log_early_stop(id, {"t000", "stop", 0, 2, -1, -1, 0.7});

  r = get(server.port(), "/api/tasks?study=st");
  EXPECT_EQ(json_int(r.body, "stopped", "\"counts\""), 1);
  EXPECT_NE(r.body.find("\"early_stopping\":true"), std::string::npos);
  EXPECT_NE(r.body.find("\"search\":true"), std::string::npos);
  EXPECT_EQ(json_int(r.body, "rung", "{\"id\":" + std::to_string(paused.id) + ","), 2);
  EXPECT_EQ(json_int(r.body, "rung", "\"name\":\"t000\""), 2);

  r = get(server.port(), "/api/trials?study=st");
  EXPECT_NE(r.body.find("\"state\":\"pruned\",\"rung\":2"), std::string::npos) << r.body;

  r = get(server.port(), "/api/decisions?study=st");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json_int(r.body, "stopped", "\"rungs\""), 1);
  EXPECT_EQ(json_int(r.body, "epoch", "\"rungs\""), 2);
  EXPECT_NE(r.body.find("\"kind\":\"stop\""), std::string::npos);

  // The live page's search section is the report's: objective against each key, parallel coordinates,
  // best so far, the stopped trial drawn as pruned.
  r = get(server.port(), "/study/results?name=st");
  ASSERT_EQ(r.status, 200);
  for (const char* part : {"<h2 id=\"search\">Search</h2>", "Objective against each sampled key", "Parallel coordinates",
                           "Best so far against the training spent", "class=\"pruned\""})
    EXPECT_NE(r.body.find(part), std::string::npos) << part;
}

TEST_F(ServeHttp, UnknownStudiesAndBadArgumentsAreRefused) {
  ablate::db::Store w(path_);
  fill(w);
  serve_test::Running server(serve_test::options(path_));
  for (const char* what : {"tasks", "epochs", "trials", "decisions", "metrics"}) {
    const auto r = get(server.port(), std::string("/api/") + what + "?study=nope");
    EXPECT_EQ(r.status, 404) << what;
    EXPECT_NE(r.body.find("no study 'nope'"), std::string::npos) << what;
  }
  EXPECT_EQ(get(server.port(), "/study/results?name=nope").status, 404);
  EXPECT_EQ(get(server.port(), "/api/epochs?study=st&task=1%20OR%20true").status, 400);
  EXPECT_EQ(get(server.port(), "/api/epochs?study=st&task=-3").status, 400);
  for (const char* bad : {"limit=0", "limit=1001", "limit=", "offset=-1", "offset=1e3"})
    EXPECT_EQ(get(server.port(), std::string("/api/epochs?study=st&") + bad).status, 400) << bad;
}

TEST_F(ServeHttp, SeveralStudiesAreListedEachWithItsOwnProgress) {
  ablate::db::Store w(path_);
  const auto id = fill(w);
  const auto other = w.create_study({"second", 7, 1, 1});
  w.upsert_variant(other, {"solo", "Solo", "h9", "", 0}, "");
  w.store_folds(other, {{0, 0, {"a"}, {"b"}, {"c"}}});
  w.ensure_tasks(other);
  const auto t = w.tasks(id).front();
  w.mark_running(t.id, kNode, ablate::db::now_seconds());
  w.record_done(t.id, serve_test::result(2, 0.8), ablate::db::now_seconds(), id);
  serve_test::Running server(serve_test::options(path_));
  const auto r = get(server.port(), "/api/studies");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json_int(r.body, "tasks", "\"name\":\"st\""), 4);
  EXPECT_EQ(json_int(r.body, "done", "\"name\":\"st\""), 1);
  EXPECT_EQ(json_int(r.body, "tasks", "\"name\":\"second\""), 1);
  EXPECT_EQ(json_int(r.body, "done", "\"name\":\"second\""), 0);
  // Each study's own answers.
  EXPECT_EQ(json_int(get(server.port(), "/api/tasks?study=second").body, "total"), 1);
}

TEST_F(ServeHttp, PagesAreSelfContainedWithOneNoncedScript) {
  ablate::db::Store w(path_);
  fill(w);
  serve_test::Running server(serve_test::options(path_));
  for (const char* target : {"/", "/study?name=st"}) {
    const auto r = get(server.port(), target);
    ASSERT_EQ(r.status, 200) << target;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.head, m, std::regex("script-src 'nonce-([0-9a-f]+)'"))) << r.head;
    EXPECT_NE(r.body.find("<script nonce=\"" + m[1].str() + "\">"), std::string::npos);
    std::size_t scripts = 0;
    for (auto at = r.body.find("<script"); at != std::string::npos; at = r.body.find("<script", at + 1))
      ++scripts;
    EXPECT_EQ(scripts, 1u) << target;
    // No external resource: nothing loaded from another origin (the SVG namespace is a name, not a load).
    EXPECT_EQ(r.body.find(" src="), std::string::npos);
    EXPECT_EQ(r.body.find("href=\"http"), std::string::npos);
    EXPECT_EQ(r.body.find("url("), std::string::npos);
  }
}

}  // namespace
