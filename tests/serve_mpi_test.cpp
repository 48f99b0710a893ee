// `ablate serve` beside a real study: `mpirun -np 3 ablate run` writes the store (a coordinator and two
// workers training tiny networks) while an in-process server reads it; the API is polled over HTTP until
// the job ends.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <vector>

#include "mpi_util.hpp"
#include "serve_util.hpp"

namespace fs = std::filesystem;
using namespace mpi_util;

namespace {

TEST(ServeMpi, ApiFollowsAThreeRankStudyToItsEnd) {
  allow_mpirun_as_root();
  const fs::path dir = fs::temp_directory_path() / ("ablate-serve-mpi-" + std::to_string(::getpid()));
  ASSERT_EQ(fresh_dir_with_data(dir, 6, 6), 0) << read_file(dir / "synth.log");
  // Two variants x 3 folds, and one whose every task fails (a learning rate a float cannot hold).
  const fs::path study = dir / "live.toml";
  std::ofstream(study)
      << "[study]\nname = \"live\"\nseed = 11\nfolds = 3\n"
      << "[data]\npath = \"data\"\nimage_size = 32\n[model]\nwidths = [4, 8, 16]\n"
      << "[train]\nepochs = 3\nsteps_per_epoch = 2\nbatch_size = 2\nthreads = 1\nlr = 0.001\n"
      << "[[ablation.variant]]\nname = \"unet\"\n[[ablation.variant]]\nname = \"cc\"\n\"model.cc\" = true\n"
      << "[[ablation.variant]]\nname = \"broken\"\n\"train.lr\" = 1e300\n";
  const std::string db = (dir / "live.sqlite").string();
  const pid_t job = spawn(mpirun(3) + ABLATE_EXE + " run --max-retries 0 " + study.string(), dir / "run.log");
  ASSERT_TRUE(wait_for(db, "SELECT count(*) FROM tasks")) << read_file(dir / "run.log");

  serve_test::Running server(serve_test::options(db));
  std::vector<long> done;
  bool saw_coordinator = false;
  int job_status = -1;
  for (;;) {
    const auto r = serve_test::get(server.port(), "/api/tasks?study=live");
    ASSERT_EQ(r.status, 200) << r.head;
    done.push_back(serve_test::json_int(r.body, "done", "\"counts\""));
    saw_coordinator |= r.body.find("\"coordinator\":true") != std::string::npos;
    if (job_status >= 0) break;  // one more answer after the job ended: the final state
    int st = 0;
    if (waitpid(job, &st, WNOHANG) == job) job_status = exit_status(st);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(job_status, 1) << "a task failed for good: exit 1\n" << read_file(dir / "run.log");
  EXPECT_TRUE(saw_coordinator) << "the server answered while the coordinator held the study";
  for (std::size_t i = 1; i < done.size(); ++i) EXPECT_LE(done[i - 1], done[i]) << "answer " << i;
  EXPECT_EQ(done.back(), 6);

  const auto final = serve_test::get(server.port(), "/api/tasks?study=live");
  EXPECT_EQ(serve_test::json_int(final.body, "total"), 9);
  EXPECT_EQ(serve_test::json_int(final.body, "failed", "\"counts\""), 3);
  const auto failures = final.body.substr(final.body.find("\"failures\""));
  EXPECT_NE(failures.find("\"variant\":\"broken\""), std::string::npos) << failures;
  EXPECT_NE(failures.find("overflow"), std::string::npos) << failures;
  // Curves of every done task, with its selected epoch.
  const auto curves = serve_test::get(server.port(), "/api/epochs?study=live&variant=unet");
  EXPECT_NE(curves.body.find("\"epoch\":[1,2,3]"), std::string::npos) << curves.body;
  // The trainer records the validation soft Dice of every epoch (a number in (0, 1], never null).
  const auto soft = curves.body.find("\"val_soft_dice\":[");
  ASSERT_NE(soft, std::string::npos) << curves.body;
  const std::size_t from = soft + std::string("\"val_soft_dice\":[").size();
  const std::string values = curves.body.substr(from, curves.body.find(']', from) - from);
  EXPECT_FALSE(values.empty());
  EXPECT_EQ(values.find("null"), std::string::npos) << values;
  EXPECT_EQ(serve_test::json_int(curves.body, "best_epoch") > 0, true);
  // The report's table, from the same store.
  const auto results = serve_test::get(server.port(), "/study/results?name=live");
  EXPECT_NE(results.body.find("<h2 id=\"table\">Comparison</h2>"), std::string::npos);
  fs::remove_all(dir);
}

// Early stopping under three ranks (ASHA, reduction 2, rungs 1/2/4 over 2 variants x 2 learning rates, as
// RunnerMpi's ASHA study): while the job runs the API shows tasks stopped at a rung, each with that rung's
// epochs, the variant's rung, and the decisions with the rung populations (trials waiting at a rung).
TEST(ServeMpi, StoppedTasksAppearWithTheirRungWhileAnAshaStudyRuns) {
  allow_mpirun_as_root();
  const fs::path dir = fs::temp_directory_path() / ("ablate-serve-asha-" + std::to_string(::getpid()));
  ASSERT_EQ(fresh_dir_with_data(dir, 6, 6), 0) << read_file(dir / "synth.log");
  const fs::path study = dir / "asha.toml";
  std::ofstream(study)
      << "[study]\nname = \"asha\"\nseed = 11\nfolds = 3\n"
      << "[data]\npath = \"data\"\nimage_size = 32\n[model]\nwidths = [4, 8, 16]\n"
      << "[train]\nepochs = 4\nsteps_per_epoch = 2\nbatch_size = 2\nthreads = 1\nlr = 0.001\n"
      << "[[ablation.variant]]\nname = \"unet\"\n[[ablation.variant]]\nname = \"cc\"\n\"model.cc\" = true\n"
      << "[sweep]\n\"train.lr\" = [0.001, 0.003]\n"
      << "[sweep.early_stop]\nmethod = \"asha\"\nrungs = [1, 2, 4]\nreduction = 2\n";
  const std::string db = (dir / "asha.sqlite").string();
  const pid_t job = spawn(mpirun(3) + ABLATE_EXE + " run " + study.string(), dir / "run.log");
  ASSERT_TRUE(wait_for(db, "SELECT count(*) FROM tasks")) << read_file(dir / "run.log");

  serve_test::Running server(serve_test::options(db));
  std::string tasks;
  long stopped_while_running = 0;
  int job_status = -1;
  for (;;) {
    const auto r = serve_test::get(server.port(), "/api/tasks?study=asha");
    ASSERT_EQ(r.status, 200) << r.head;
    tasks = r.body;
    if (job_status >= 0) break;  // one more answer after the job ended: the final state
    if (r.body.find("\"coordinator\":true") != std::string::npos)
      stopped_while_running = std::max(stopped_while_running, serve_test::json_int(r.body, "stopped", "\"counts\""));
    int st = 0;
    if (waitpid(job, &st, WNOHANG) == job) job_status = exit_status(st);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(job_status, 0) << read_file(dir / "run.log");
  EXPECT_GE(stopped_while_running, 1) << "a stopped task seen while the coordinator held the study";
  EXPECT_NE(tasks.find("\"early_stopping\":true"), std::string::npos);
  // Every stopped task stands at rung 1 or 2 with exactly that many epochs stored.
  const std::regex stopped("\"status\":\"stopped\",\"attempts\":\\d+,\"epoch\":(\\d+),\"best_epoch\":-?\\d+,\"rung\":(\\d+)");
  int n = 0;
  for (auto it = std::sregex_iterator(tasks.begin(), tasks.end(), stopped); it != std::sregex_iterator(); ++it, ++n) {
    EXPECT_TRUE((*it)[2] == "1" || (*it)[2] == "2") << it->str();
    EXPECT_EQ((*it)[1].str(), (*it)[2].str()) << "epochs stored = the rung: " << it->str();
  }
  EXPECT_EQ(n, serve_test::json_int(tasks, "stopped", "\"counts\""));
  EXPECT_GE(n, 1) << tasks;
  // The variants' rung (the highest rung of their stopped tasks) and the decisions as made.
  std::set<long> rungs;
  for (std::size_t at = tasks.find("\"variants\""); (at = tasks.find("\"rung\":", at)) != std::string::npos &&
                                                   at < tasks.find("\"tasks\":[");
       ++at)
    rungs.insert(std::strtol(tasks.c_str() + at + 7, nullptr, 10));
  EXPECT_TRUE(rungs.count(1) || rungs.count(2)) << tasks;
  const auto decisions = serve_test::get(server.port(), "/api/decisions?study=asha");
  ASSERT_EQ(decisions.status, 200);
  // ASHA stops a trial by pausing it at a rung (it waits there for a promotion that does not come).
  EXPECT_NE(decisions.body.find("\"kind\":\"pause\""), std::string::npos) << decisions.body;
  const std::string populations = decisions.body.substr(0, decisions.body.find("\"decisions\""));
  EXPECT_TRUE(std::regex_search(populations, std::regex("\"(waiting|stopped)\":[1-9]"))) << populations;
  EXPECT_GE(serve_test::json_int(decisions.body, "reached", "\"rungs\""), 4) << "every trial reached the first rung\n"
                                                                                 << decisions.body;
  fs::remove_all(dir);
}

}  // namespace
