// The HTTP side of `ablate serve` (serve/serve.hpp): cpp-httplib's Server with our own connection loop, so
// that the bounds of the contract hold whatever the library's compiled-in limits are: a request must
// arrive within a deadline and a byte budget (BoundedStream), connections wait in a bounded queue
// (BoundedQueue), and a stop ends waiting reads at once.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <random>
#include <stdexcept>
#include <thread>
#include <tuple>

#include "serve/page.hpp"
#include "serve/serve.hpp"
#include "serve/view.hpp"

namespace ablate::serve {

namespace {

using Clock = std::chrono::steady_clock;

// A thread pool whose queue holds at most `capacity` accepted connections: enqueue() blocks beyond it, so the
// accept loop stops accepting and further clients wait in the kernel's backlog (or are refused).
class BoundedQueue : public httplib::TaskQueue {
 public:
  BoundedQueue(int threads, int capacity) : capacity_(static_cast<std::size_t>(capacity)) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { work(); });
  }
  ~BoundedQueue() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mutex_);
    room_.wait(lock, [&] { return jobs_.size() < capacity_ || closing_; });
    jobs_.push_back(std::move(fn));  // after shutdown too: the job closes its socket
    ready_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (closing_ && workers_.empty()) return;
      closing_ = true;
    }
    ready_.notify_all();
    room_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [&] { return !jobs_.empty() || closing_; });
        if (jobs_.empty()) return;  // closing, nothing left: every accepted socket has been closed
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      room_.notify_one();
      fn();
    }
  }

  std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable ready_, room_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> workers_;
  bool closing_ = false;
};

// A connection's socket as httplib reads it, with the request bounds of the contract: reads stop at the
// request's deadline, after its byte budget, and as soon as the server stops (polled every 100 ms).
class BoundedStream : public httplib::Stream {
 public:
  BoundedStream(int sock, const ServeOptions& o, const std::atomic<bool>& stopping)
      : sock_(sock), options_(o), stopping_(stopping) {}

  // The next request starts: a fresh deadline and budget.
  void start_request() {
    deadline_ = Clock::now() + std::chrono::seconds(options_.request_seconds);
    budget_ = options_.request_bytes;
  }
  // Waits for the first byte of a further request on a kept-alive connection.
  bool wait_next(int seconds) const { return wait(POLLIN, Clock::now() + std::chrono::seconds(seconds)); }

  bool is_readable() const override { return budget_ > 0 && wait(POLLIN, deadline_); }
  bool is_writable() const override {
    return wait(POLLOUT, Clock::now() + std::chrono::seconds(options_.request_seconds));
  }
  ssize_t read(char* ptr, size_t size) override {
    if (budget_ == 0 || !wait(POLLIN, deadline_)) {
      cut_ = true;
      return -1;
    }
    const ssize_t n = ::recv(sock_, ptr, std::min(size, budget_), 0);
    if (n > 0) budget_ -= static_cast<std::size_t>(n);
    return n;
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    return ::send(sock_, ptr, size, MSG_NOSIGNAL);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { address(::getpeername, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address(::getsockname, ip, port); }
  socket_t socket() const override { return sock_; }
  // A read failed for a bound (budget, deadline, stop): the connection ends after the reply (a 400, when
  // httplib writes one), whatever its Connection header would have said.
  bool cut() const { return cut_; }

 private:
  bool wait(short events, Clock::time_point until) const {
    for (;;) {
      if (stopping_) return false;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{sock_, events, 0};
      const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 100)));
      if (r > 0) return (p.revents & (events | POLLHUP | POLLERR)) != 0;
      if (r < 0 && errno != EINTR) return false;
    }
  }
  template <class Get>
  void address(Get get, std::string& ip, int& port) const {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    ip.clear(), port = 0;
    if (get(sock_, reinterpret_cast<sockaddr*>(&a), &len) != 0) return;
    char buf[INET6_ADDRSTRLEN] = {};
    if (a.ss_family == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
      inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf), port = ntohs(v4->sin_port);
    } else if (a.ss_family == AF_INET6) {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
      inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf), port = ntohs(v6->sin6_port);
    }
    ip = buf;
  }

  int sock_;
  const ServeOptions& options_;
  const std::atomic<bool>& stopping_;
  Clock::time_point deadline_{};
  std::size_t budget_ = 0;
  bool cut_ = false;
};

// httplib's Server with the connection loop replaced (process_and_close_socket is its per-connection hook):
// keep-alive up to 100 requests, each bounded by a BoundedStream.
class BoundedServer : public httplib::Server {
 public:
  BoundedServer(const ServeOptions& o, const std::atomic<bool>& stopping)
      : options_(o), stopping_(stopping) {}

 private:
  bool process_and_close_socket(socket_t sock) override {
    BoundedStream stream(sock, options_, stopping_);
    bool ok = true, closed = false;
    for (int n = 0; n < 100 && !closed && !stopping_; ++n) {
      if (n > 0 && !stream.wait_next(options_.idle_seconds)) break;
      stream.start_request();
      ok = process_request(stream, n == 99, closed, [&](httplib::Request& req) {
        stream.get_remote_ip_and_port(req.remote_addr, req.remote_port);
      });
      if (!ok || stream.cut()) break;
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
  }

  const ServeOptions& options_;
  const std::atomic<bool>& stopping_;
};

std::string hex_random(std::size_t words) {
  std::random_device rd;
  std::string out;
  char buf[9];
  for (std::size_t i = 0; i < words; ++i) {
    std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
    out += buf;
  }
  return out;
}

// The host part of a Host header: "[::1]:8750" -> "::1", "localhost:9000" -> "localhost".
std::string host_of(const std::string& header) {
  if (!header.empty() && header[0] == '[') {
    const auto close = header.find(']');
    return close == std::string::npos ? header : header.substr(1, close - 1);
  }
  const auto colon = header.find(':');
  return colon == std::string::npos ? header : header.substr(0, colon);
}

std::string cookie_token(const std::string& cookies) {
  const std::string name = "ablate_token=";
  for (std::size_t at = 0; at < cookies.size();) {
    while (at < cookies.size() && (cookies[at] == ' ' || cookies[at] == ';')) ++at;
    const auto end = std::min(cookies.find(';', at), cookies.size());
    if (cookies.compare(at, name.size(), name) == 0)
      return cookies.substr(at + name.size(), end - at - name.size());
    at = end;
  }
  return "";
}

// The integer parameters of /api/epochs into `query`; "" when they are all valid, else what is wrong with
// the first that is not (its name, the range allowed and what was sent).
std::string read_epochs_query(const httplib::Request& req, StoreView::EpochsQuery& query) {
  // Each integer parameter: its name, where it goes, the smallest and largest value allowed.
  const std::tuple<const char*, std::int64_t*, std::int64_t, std::int64_t> numbers[] = {
      {"task", &query.task, 1, INT64_MAX},
      {"offset", &query.offset, 0, INT64_MAX},
      {"limit", &query.limit, 1, StoreView::kEpochsPageMax}};
  for (const auto& [name, into, low, high] : numbers) {
    if (!req.has_param(name)) continue;
    const std::string t = req.get_param_value(name);
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0' || errno == ERANGE || v < low || v > high)
      return std::string(name) + " must be an integer from " + std::to_string(low) +
             (high == INT64_MAX ? " up" : " to " + std::to_string(high)) + ", got '" + t + "'";
    *into = v;
  }
  return "";
}

}  // namespace

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  in_addr a{};
  return inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

bool same_token(const std::string& given, const std::string& expected) {
  // Every byte of `expected` is compared, whatever differs first; a length mismatch only sets the result.
  unsigned diff = given.size() != expected.size();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |= g ^ static_cast<unsigned char>(expected[i]);
  }
  return diff == 0 && !expected.empty();
}

std::string random_token() {
  return hex_random(8);
}

struct Server::Impl {
  ServeOptions options;
  StoreView view;
  std::atomic<bool> stopping{false}, in_run{false};
  BoundedServer http;

  explicit Impl(ServeOptions o)
      : options(std::move(o)), view(options.db_path, options.min_refresh), http(options, stopping) {}

  // Whether the request may be answered: the token when there is one, else a loopback Host header.
  bool allowed(const httplib::Request& req) const {
    if (options.token.empty()) return is_loopback(host_of(req.get_header_value("Host")));
    std::string given;
    const std::string auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) == 0)
      given = auth.substr(7);
    else if (req.has_param("token"))
      given = req.get_param_value("token");
    else
      given = cookie_token(req.get_header_value("Cookie"));
    return same_token(given, options.token);
  }

  void routes();
};

void Server::Impl::routes() {
  http.set_default_headers({{"Cache-Control", "no-store"},
                            {"X-Content-Type-Options", "nosniff"},
                            {"Referrer-Policy", "no-referrer"},
                            {"X-Frame-Options", "DENY"}});
  http.set_payload_max_length(options.request_bytes);
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.method != "GET" && req.method != "HEAD") {
      res.status = 405;
      res.set_content("read-only: only GET and HEAD\n", "text/plain");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!allowed(req)) {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Bearer");
      res.set_content(options.token.empty() ? "the Host header must name a loopback host\n"
                                            : "a token is needed: ?token=T or Authorization: Bearer T\n",
                      "text/plain");
      return httplib::Server::HandlerResponse::Handled;
    }
    // A valid token in the address becomes a cookie, so that the page's own requests carry it.
    if (!options.token.empty() && req.has_param("token"))
      res.set_header("Set-Cookie", "ablate_token=" + options.token + "; HttpOnly; SameSite=Strict; Path=/");
    return httplib::Server::HandlerResponse::Unhandled;
  });
  auto page = [this](std::string (*make)(const std::string&, int)) {
    return [this, make](const httplib::Request&, httplib::Response& res) {
      const std::string nonce = hex_random(4);
      res.set_header("Content-Security-Policy",
                     "default-src 'none'; script-src 'nonce-" + nonce +
                         "'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; "
                         "form-action 'none'; frame-ancestors 'none'");
      res.set_content(make(nonce, options.poll_ms), "text/html; charset=utf-8");
    };
  };
  http.Get("/", page(index_page));
  http.Get("/study", page(study_page));
  auto json = [](httplib::Response& res, const std::optional<std::string>& body, const std::string& study) {
    if (body) return res.set_content(*body, "application/json");
    res.status = 404;
    res.set_content("{\"error\":" + json_text("no study '" + study + "' in this store") + "}",
                    "application/json");
  };
  http.Get("/api/studies", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(view.studies_json(), "application/json");
  });
  using Answer = std::optional<std::string> (StoreView::*)(const std::string&);
  for (const auto& [path, answer] :
       std::vector<std::pair<std::string, Answer>>{{"/api/tasks", &StoreView::tasks_json},
                                                   {"/api/trials", &StoreView::trials_json},
                                                   {"/api/decisions", &StoreView::decisions_json},
                                                   {"/api/metrics", &StoreView::metrics_json}}) {
    http.Get(path, [this, json, answer = answer](const httplib::Request& req, httplib::Response& res) {
      const std::string study = req.get_param_value("study");
      json(res, (view.*answer)(study), study);
    });
  }
  http.Get("/api/epochs", [this, json](const httplib::Request& req, httplib::Response& res) {
    const std::string study = req.get_param_value("study");
    StoreView::EpochsQuery query;
    query.variant = req.get_param_value("variant");
    if (const std::string error = read_epochs_query(req, query); !error.empty()) {
      res.status = 400;
      return res.set_content("{\"error\":" + json_text(error) + "}", "application/json");
    }
    json(res, view.epochs_json(study, query), study);
  });
  http.Get("/study/results", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string study = req.get_param_value("name");
    if (const auto html = view.results_html(study)) return res.set_content(*html, "text/html; charset=utf-8");
    res.status = 404;
    res.set_content("no such study\n", "text/plain");
  });
  // Anything else, traversal attempts included, is a 404 with a fixed text (never the path asked for).
  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) res.set_content(std::to_string(res.status) + "\n", "text/plain");
  });
  http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("ablate serve: {} {}: {}", req.method, req.path, what);
    res.status = 500;
    res.set_content("{\"error\":" + json_text(what) + "}", "application/json");
  });
  http.new_task_queue = [this] { return new BoundedQueue(options.threads, options.queue); };
}

Server::Server(ServeOptions options) {
  if (!is_loopback(options.host) && options.token.empty())
    throw std::invalid_argument("--host " + options.host +
                                " is not a loopback host: a token is needed (--token-file, or "
                                "one is generated and printed)");
  if (options.threads < 1 || options.queue < 1 || options.request_seconds < 1 || options.idle_seconds < 1 ||
      options.request_bytes < 1024 || options.poll_ms < 100)
    throw std::invalid_argument(
        "serve: threads, queue, request and idle seconds must be >= 1, request bytes >= 1024, "
        "poll >= 100 ms");
  impl_ = std::make_unique<Impl>(std::move(options));
  impl_->routes();
}

Server::~Server() {
  stop();
}

int Server::bind() {
  auto& o = impl_->options;
  if (o.port == 0) {
    const int port = impl_->http.bind_to_any_port(o.host);
    if (port <= 0) throw std::runtime_error("cannot listen on " + o.host + " (any port)");
    return o.port = port;
  }
  if (!impl_->http.bind_to_port(o.host, o.port))
    throw std::runtime_error("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                             " (in use, or not an address of this machine; --port, --host)");
  return o.port;
}

void Server::run() {
  impl_->in_run = true;
  if (!impl_->stopping) impl_->http.listen_after_bind();
  impl_->in_run = false;
}

void Server::stop() {
  if (!impl_) return;
  impl_->stopping = true;
  // run() may be between its check and httplib's start: wait for the loop to run (or run() to return), so
  // that httplib's stop, a no-op before the loop runs, ends it.
  while (impl_->in_run && !impl_->http.is_running())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  impl_->http.stop();
}

bool Server::running() const {
  return impl_->http.is_running();
}

}  // namespace ablate::serve
