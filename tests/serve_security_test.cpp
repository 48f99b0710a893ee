// The security contract of `ablate serve` (serve/serve.hpp): tokens off loopback, Host checks on loopback,
// store text inert in every answer, bounded requests, no path from the client, clean stops on signals.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <regex>
#include <thread>

#include "hardening_util.hpp"
#include "serve_util.hpp"
#include "store_fixture.hpp"

namespace {

using serve_test::get;
using serve_test::send_raw;

const std::string kToken = "0123456789abcdef0123456789abcdef";

class ServeSecurity : public store_test::StoreFixture {
 protected:
  ServeSecurity()
      : StoreFixture("ablate-serve-security",
                     {{{"unet", "U-Net", "h1", "model.cc = false\n", 0}, ""},
                      {{"evil", "<script>alert(1)</script>", "h2", "model.cc = true\n", 1}, ""}}) {}
  void SetUp() override {
    StoreFixture::SetUp();
    ablate::db::Store w(path_);
    const auto id = fill(w);
    const auto tasks = w.tasks(id);
    for (const auto& t : tasks) {
      w.mark_running(t.id, {"node1", 1, 0, "cpu", 1, "", ""}, ablate::db::now_seconds());
      if (t.variant == "evil" && t.fold == 1) {
        w.record_failed(t.id, "<img src=x onerror=alert(2)> failed", ablate::db::now_seconds());
      } else {
        w.record_done(t.id, serve_test::result(2, 0.8), ablate::db::now_seconds(), id);
      }
    }
  }
};

TEST(ServeToken, ComparedWholeAndLoopbackRecognised) {
  EXPECT_TRUE(ablate::serve::same_token(kToken, kToken));
  EXPECT_FALSE(ablate::serve::same_token(kToken.substr(0, 31), kToken));
  EXPECT_FALSE(ablate::serve::same_token(kToken + "0", kToken));
  EXPECT_FALSE(ablate::serve::same_token("1" + kToken.substr(1), kToken));
  EXPECT_FALSE(ablate::serve::same_token("", ""));  // an empty expected token never matches
  for (const char* h : {"127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"})
    EXPECT_TRUE(ablate::serve::is_loopback(h)) << h;
  for (const char* h : {"0.0.0.0", "10.0.0.1", "128.0.0.1", "::", "example.org", "localhost.example.org"})
    EXPECT_FALSE(ablate::serve::is_loopback(h)) << h;
  const std::string a = ablate::serve::random_token(), b = ablate::serve::random_token();
  EXPECT_EQ(a.size(), 64u);
  EXPECT_NE(a, b);
}

TEST_F(ServeSecurity, OffLoopbackEveryRequestNeedsTheToken) {
  auto o = serve_test::options(path_);
  o.host = "0.0.0.0";
  EXPECT_THROW(ablate::serve::Server{o}, std::invalid_argument);
  o.token = kToken;
  serve_test::Running server(o);
  const int port = server.port();
  for (const char* target : {"/", "/study?name=st", "/api/studies", "/api/tasks?study=st", "/nothing/here"}) {
    EXPECT_EQ(get(port, target).status, 401) << target;
    EXPECT_EQ(get(port, target, "Authorization: Bearer " + kToken.substr(0, 31) + "x\r\n").status, 401)
        << target;
    EXPECT_EQ(get(port, target, "Cookie: ablate_token=wrong\r\n").status, 401) << target;
  }
  EXPECT_EQ(get(port, "/api/studies", "Authorization: Bearer " + kToken + "\r\n").status, 200);
  EXPECT_EQ(get(port, "/api/studies", "Cookie: theme=dark; ablate_token=" + kToken + "\r\n").status, 200);
  const auto r = get(port, "/?token=" + kToken);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.head.find("Set-Cookie: ablate_token=" + kToken + "; HttpOnly; SameSite=Strict"),
            std::string::npos);
  // With the token, an unknown path is still a 404.
  EXPECT_EQ(get(port, "/etc/passwd", "Authorization: Bearer " + kToken + "\r\n").status, 404);
}

TEST_F(ServeSecurity, LoopbackWithoutTokenNeedsALoopbackHostHeader) {
  serve_test::Running server(serve_test::options(path_));
  const int port = server.port();
  EXPECT_EQ(
      send_raw(port, "GET /api/studies HTTP/1.1\r\nHost: attacker.example:8750\r\nConnection: close\r\n\r\n")
          .status,
      401);
  EXPECT_EQ(send_raw(port, "GET /api/studies HTTP/1.1\r\nConnection: close\r\n\r\n").status, 401);
  // `ssh -L 9000:localhost:8750`: the browser names the tunnel's port.
  EXPECT_EQ(
      send_raw(port, "GET /api/studies HTTP/1.1\r\nHost: localhost:9000\r\nConnection: close\r\n\r\n").status,
      200);
  EXPECT_EQ(
      send_raw(port, "GET /api/studies HTTP/1.1\r\nHost: [::1]:8750\r\nConnection: close\r\n\r\n").status,
      200);
}

TEST_F(ServeSecurity, StoreTextIsInertInJsonAndHtml) {
  serve_test::Running server(serve_test::options(path_));
  const int port = server.port();
  for (const char* target :
       {"/api/tasks?study=st", "/api/metrics?study=st", "/api/epochs?study=st&variant=evil"}) {
    const auto r = get(port, target);
    ASSERT_EQ(r.status, 200) << target;
    EXPECT_EQ(r.body.find('<'), std::string::npos) << target << ": " << r.body;
    EXPECT_EQ(r.body.find('>'), std::string::npos) << target;
  }
  const auto tasks = get(port, "/api/tasks?study=st").body;
  EXPECT_NE(tasks.find("\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"), std::string::npos);
  EXPECT_NE(tasks.find("\\u003cimg src=x onerror=alert(2)\\u003e failed"), std::string::npos);
  const auto results = get(port, "/study/results?name=st");
  ASSERT_EQ(results.status, 200);
  EXPECT_EQ(results.body.find("<script"), std::string::npos);
  EXPECT_NE(results.body.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  // A study name from the address comes back only as JSON text.
  const auto missing = get(port, "/api/tasks?study=%3Cscript%3E");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body.find('<'), std::string::npos);
  EXPECT_NE(missing.head.find("X-Content-Type-Options: nosniff"), std::string::npos);
}

TEST_F(ServeSecurity, PathTraversalAndWritesFindNothing) {
  serve_test::Running server(serve_test::options(path_));
  const int port = server.port();
  for (const char* target : {"/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/api/../../etc/passwd",
                             "/study/..%2f..%2f..%2fetc%2fpasswd", "/api/studies/../../s.sqlite",
                             "//etc/passwd", "/s.sqlite", "/api/tasks/..%2f..%2fs.sqlite"}) {
    const auto r = get(port, target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << target;
    EXPECT_EQ(r.body.find("SQLite format"), std::string::npos) << target;
  }
  const auto post = send_raw(port,
                             "POST /api/tasks?study=st HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n"
                             "Connection: close\r\n\r\n{}");
  EXPECT_EQ(post.status, 405);
  const auto del =
      send_raw(port, "DELETE /api/studies HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(del.status, 405);
}

TEST_F(ServeSecurity, OversizeHeadersAreCutOff) {
  auto o = serve_test::options(path_);
  o.request_bytes = 8 * 1024;
  serve_test::Running server(o);
  const int port = server.port();
  // 40 header lines of 1 KiB each: past the request budget, well within httplib's own line limit.
  std::string many = "GET /api/studies HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (int i = 0; i < 40; ++i) many += "X-Pad-" + std::to_string(i) + ": " + std::string(1000, 'a') + "\r\n";
  const auto r = send_raw(port, many + "Connection: close\r\n\r\n");
  EXPECT_TRUE(r.status == 400 || r.status == 0) << r.head;
  EXPECT_TRUE(r.closed);
  // One line longer than any budget.
  const auto line =
      send_raw(port, "GET /api/studies HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(64 * 1024, 'b') +
                         "\r\nConnection: close\r\n\r\n");
  EXPECT_NE(line.status, 200) << line.head;
  EXPECT_TRUE(line.closed);
  // The server goes on serving.
  EXPECT_EQ(get(port, "/api/studies").status, 200);
}

TEST_F(ServeSecurity, SlowAndIdleClientsAreCutOffAndDoNotHoldTheServer) {
  auto o = serve_test::options(path_);
  o.request_seconds = 1;
  o.threads = 1;
  o.queue = 1;
  serve_test::Running server(o);
  const int port = server.port();
  // A client that sends half a request and then nothing: the server closes the connection (no 200).
  const int slow = serve_test::connect_to(port);
  ASSERT_GE(slow, 0);
  const std::string half = "GET /api/studies HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  ::send(slow, half.data(), half.size(), MSG_NOSIGNAL);
  // Idle connections filling the one thread and the queue.
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(serve_test::connect_to(port));
  const auto cut = serve_test::read_reply(slow, 60);
  EXPECT_TRUE(cut.closed);
  EXPECT_NE(cut.status, 200);
  ::close(slow);
  // A proper request is answered once the idle ones have been cut.
  EXPECT_EQ(get(port, "/api/studies").status, 200);
  for (int fd : idle) {
    EXPECT_TRUE(serve_test::read_reply(fd, 60).closed);
    ::close(fd);
  }
}

// The binary: started on a free port, answers, and ends with exit code 0 on SIGTERM and on SIGINT.
TEST_F(ServeSecurity, SignalsStopTheServerCleanly) {
  for (int sig : {SIGTERM, SIGINT}) {
    int status = 0;
    hardening::RunSpec spec;
    spec.args = {"serve", "--db", path_, "--port", "0"};
    spec.while_running = [&](pid_t pid, const std::string& out) {
      std::smatch m;
      std::string text;
      for (int i = 0; i < 600 && !std::regex_search(text, m, std::regex("http://127\\.0\\.0\\.1:([0-9]+)/"));
           ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        text = hardening::slurp(out);
      }
      if (m.empty()) {
        ADD_FAILURE() << "no address printed: " << text;
        kill(pid, SIGKILL);
        return;
      }
      status = get(std::stoi(m[1].str()), "/api/studies").status;
      kill(pid, sig);
    };
    const auto run = hardening::ablate_run(spec);
    EXPECT_EQ(status, 200) << strsignal(sig);
    EXPECT_EQ(run.code, 0) << strsignal(sig) << ": " << run.out;
    EXPECT_NE(run.out.find("stopping"), std::string::npos) << run.out;
  }
}

TEST(ServeCli, HelpListsTheOptionsWithTheirDefaults) {
  const auto run = hardening::ablate_run(std::vector<std::string>{"serve", "--help"});
  EXPECT_EQ(run.code, 0) << run.out;
  for (const char* o :
       {"--db arg", "--host arg (=127.0.0.1)", "--port arg (=8750)", "--token-file arg", "--poll arg (=2)"})
    EXPECT_NE(run.out.find(o), std::string::npos) << o << "\n" << run.out;
  EXPECT_EQ(hardening::ablate_run(std::vector<std::string>{"serve", "--db", "/nonexistent/x.sqlite"}).code,
            2);
  const auto port = hardening::ablate_run(std::vector<std::string>{
      "serve", "--db", std::string(ABLATE_SOURCE_DIR) + "/README.md", "--port", "70000"});
  EXPECT_EQ(port.code, 2);
  EXPECT_NE(port.out.find("--port 70000: allowed are 0..65535"), std::string::npos) << port.out;
  // A file that is not a store: exit 1, naming it.
  const auto not_store = hardening::ablate_run(std::vector<std::string>{
      "serve", "--db", std::string(ABLATE_SOURCE_DIR) + "/README.md", "--port", "0"});
  EXPECT_EQ(not_store.code, 1);
  EXPECT_NE(not_store.out.find("README.md"), std::string::npos) << not_store.out;
}

TEST_F(ServeSecurity, TheCommandLineRefusesAnOpenHostWithAWeakToken) {
  hardening::TempDir tmp;
  const std::string weak = tmp.write("weak.txt", "short\n");
  hardening::RunSpec spec;
  spec.args = {"serve", "--db", path_, "--host", "0.0.0.0", "--port", "0", "--token-file", weak};
  const auto run = hardening::ablate_run(spec);
  EXPECT_EQ(run.code, 2) << run.out;
  EXPECT_NE(run.out.find("at least 16"), std::string::npos) << run.out;
}

}  // namespace
