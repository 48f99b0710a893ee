// The study page of `ablate serve` in a real browser: Debian's headless Chromium loads the page, runs its
// script against the API and dumps the DOM, which must show the progress the store holds; the page is
// loaded again after more tasks finish and must show it moving. Skipped, with the reason, where no
// Chromium is installed (it is not a build dependency).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "cli_util.hpp"
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

// The DOM after the page's script ran for 3 s of virtual time (an argument vector: no shell).
std::string dump_dom(const std::string& browser, const std::string& url, const std::string& out_file) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1), close(fd);
    execl(browser.c_str(), browser.c_str(), "--headless", "--no-sandbox", "--disable-gpu",
          "--virtual-time-budget=3000", "--dump-dom", url.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return cli_util::read_file(out_file);
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
  w.mark_running(tasks[0].id, {"node1", 1, 0, "cpu", 1, ""}, ablate::db::now_seconds());
  w.record_done(tasks[0].id, serve_test::result(2, 0.8), ablate::db::now_seconds(), id);
  const std::string before = dump_dom(browser, url, (dir_ / "before.html").string());
  EXPECT_NE(before.find("1 / 2 done"), std::string::npos) << before;
  EXPECT_EQ(before.find("class=\"err\""), std::string::npos) << "the script reported an error:\n" << before;
  w.mark_running(tasks[1].id, {"node1", 1, 0, "cpu", 1, ""}, ablate::db::now_seconds());
  w.record_done(tasks[1].id, serve_test::result(2, 0.8), ablate::db::now_seconds(), id);
  const std::string after = dump_dom(browser, url, (dir_ / "after.html").string());
  EXPECT_NE(after.find("2 / 2 done"), std::string::npos) << after;
  EXPECT_NE(after.find("Comparison"), std::string::npos) << "the report's sections";
}

}  // namespace
