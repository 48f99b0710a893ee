// The study page of `ablate serve` in a real browser: Debian's headless Chromium loads the page, runs its
// script against the API and dumps the DOM, which must show the progress the store holds; the page is
// loaded again after more tasks finish and must show it moving: first on a store the test writes, then
// while a real tiny study (`ablate run`) trains. Every load must leave no console message (Chromium's
// `--enable-logging=stderr` prints console calls, uncaught exceptions and failed requests as CONSOLE
// lines; the page logs nothing itself) and no error drawn by the page. Skipped, with the reason, where no
// Chromium is installed (it is not a build dependency; scripts/setup does not install it).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_util.hpp"
#include "mpi_util.hpp"
#include "serve_util.hpp"
#include "store_fixture.hpp"

namespace {

std::string chromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin";
    for (std::size_t at = 0; at <= dirs.size();) {
      const auto end = std::min(dirs.find(':', at), dirs.size());
      const std::string candidate = dirs.substr(at, end - at) + "/" + name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
      at = end + 1;
    }
  }
  return "";
}

// What one headless load of a page left: the DOM after its script ran for 3 s of virtual time, and the
// console lines Chromium printed (an argument vector: no shell).
struct Load {
  std::string dom;
  std::string console;  // every "CONSOLE" line of Chromium's log, one a line
};
Load load(const std::string& browser, const std::string& url, const std::filesystem::path& dir, const std::string& name) {
  const std::string out = (dir / (name + ".html")).string(), err = (dir / (name + ".log")).string();
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int fe = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1), close(fd), dup2(fe, 2), close(fe);
    execl(browser.c_str(), browser.c_str(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
          "--v=0", "--virtual-time-budget=3000", "--dump-dom", url.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  Load l{cli_util::read_file(out), ""};
  std::istringstream log(cli_util::read_file(err));
  for (std::string line; std::getline(log, line);) {
    if (line.find(":CONSOLE") != std::string::npos) l.console += line + "\n";
  }
  return l;
}

// "N / M done" of the study page's summary; -1 when the DOM shows none.
int done_count(const std::string& dom, int total) {
  const std::string tail = " / " + std::to_string(total) + " done";
  const auto at = dom.find(tail);
  if (at == std::string::npos) return -1;
  auto from = at;
  while (from > 0 && std::isdigit(static_cast<unsigned char>(dom[from - 1]))) --from;
  return from == at ? -1 : std::stoi(dom.substr(from, at - from));
}

class ServeBrowser : public store_test::StoreFixture {
 protected:
  ServeBrowser()
      : StoreFixture("ablate-serve-browser", {{{"unet", "U-Net", "h1", "model.cc = false\n", 0}, ""}}) {}
};

TEST_F(ServeBrowser, StudyPageShowsTheProgressMoving) {
  const std::string browser = chromium();
  if (browser.empty())
    GTEST_SKIP() << "SKIPPED: no chromium, chromium-browser or google-chrome on PATH (Debian: chromium)";
  ablate::db::Store w(path_);
  const auto id = fill(w);
  const auto tasks = w.tasks(id);
  serve_test::Running server(serve_test::options(path_));
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/study?name=st";
  w.mark_running(tasks[0].id, {"node1", 1, 0, "cpu", 1, "", ""}, ablate::db::now_seconds());
  w.record_done(tasks[0].id, serve_test::result(2, 0.8), ablate::db::now_seconds(), id);
  const Load before = load(browser, url, dir_, "before");
  EXPECT_EQ(done_count(before.dom, 2), 1) << before.dom;
  EXPECT_EQ(before.dom.find("class=\"err\""), std::string::npos) << "the script reported an error:\n" << before.dom;
  EXPECT_EQ(before.console, "") << "console messages";
  w.mark_running(tasks[1].id, {"node1", 1, 0, "cpu", 1, "", ""}, ablate::db::now_seconds());
  w.record_done(tasks[1].id, serve_test::result(2, 0.8), ablate::db::now_seconds(), id);
  const Load after = load(browser, url, dir_, "after");
  EXPECT_EQ(done_count(after.dom, 2), 2) << after.dom;
  EXPECT_NE(after.dom.find("Comparison"), std::string::npos) << "the report's sections";
  EXPECT_EQ(after.console, "") << "console messages";
}

// The page while `ablate run` trains a tiny study (2 variants x 3 folds of 24 short epochs, one process:
// long enough for several loads of the page, each ~2 s): loaded again and
// again until the run ends, then once more. The done count it shows never goes back, takes at least two
// values while the run goes on (the progress moves in the browser, not only in the API), and ends at
// 6 / 6 with the report's table; no load leaves a console message or an error drawn by the page.
TEST_F(ServeBrowser, StudyPageFollowsARunningStudy) {
  const std::string browser = chromium();
  if (browser.empty())
    GTEST_SKIP() << "SKIPPED: no chromium, chromium-browser or google-chrome on PATH (Debian: chromium)";
  ASSERT_EQ(mpi_util::fresh_dir_with_data(dir_, 6, 6), 0) << cli_util::read_file((dir_ / "synth.log").string());
  const auto study = dir_ / "live.toml";
  std::ofstream(study) << "[study]\nname = \"live\"\nseed = 3\nfolds = 3\n"
                       << "[data]\npath = \"data\"\nimage_size = 32\n[model]\nwidths = [4, 8]\n"
                       << "[train]\nepochs = 24\nsteps_per_epoch = 4\nbatch_size = 2\nthreads = 1\nlr = 0.001\n"
                       << "[[ablation.variant]]\nname = \"unet\"\n[[ablation.variant]]\nname = \"cc\"\n\"model.cc\" = true\n";
  const std::string db = (dir_ / "live.sqlite").string();
  const pid_t job = mpi_util::spawn(std::string(ABLATE_EXE) + " run " + study.string() + " --db " + db, dir_ / "run.log");
  ASSERT_TRUE(mpi_util::wait_for(db, "SELECT count(*) FROM tasks")) << cli_util::read_file((dir_ / "run.log").string());
  serve_test::Running server(serve_test::options(db));
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/study?name=live";
  std::vector<int> during;
  int status = -1;
  for (int i = 0; status < 0; ++i) {
    const Load l = load(browser, url, dir_, "load" + std::to_string(i));
    int st = 0;
    if (waitpid(job, &st, WNOHANG) == job) status = mpi_util::exit_status(st);
    if (status < 0) during.push_back(done_count(l.dom, 6));  // loaded while the run went on
    EXPECT_EQ(l.dom.find("class=\"err\""), std::string::npos) << "load " << i << ": the page drew an error:\n" << l.dom;
    EXPECT_EQ(l.console, "") << "load " << i << ": console messages";
  }
  ASSERT_EQ(status, 0) << cli_util::read_file((dir_ / "run.log").string());
  const Load last = load(browser, url, dir_, "last");
  EXPECT_EQ(done_count(last.dom, 6), 6) << last.dom;
  EXPECT_NE(last.dom.find("Comparison"), std::string::npos) << "the report's sections";
  EXPECT_EQ(last.console, "");
  std::string seen;
  for (int d : during) seen += std::to_string(d) + " ";
  for (int d : during) EXPECT_GE(d, 0) << "a load during the run showed no progress: " << seen;
  for (std::size_t i = 1; i < during.size(); ++i) EXPECT_LE(during[i - 1], during[i]) << seen;
  EXPECT_GE(std::set<int>(during.begin(), during.end()).size(), 2u) << "the page did not show the progress moving: " << seen;
  std::cout << "[ measured ] done counts the page showed during the run: " << seen << std::endl;
}

}  // namespace
