// `ablate serve`: a read-only web view of a study store while the coordinator writes it (docs/CLI.md
// "serve"). One self-contained page per study (no external resource; a small inline script polls the
// JSON API under /api/), an index page of the store's studies, and the API itself.
//
// Contract:
// - The store is read through one connection of its own, opened read-only with PRAGMA query_only
//   (serve/view.hpp). The coordinator does not know the server exists; WAL readers never block its writer.
// - Read-only: every endpoint is a GET of a fixed path; the only client inputs are a study name (matched
//   against the store's study names), a task id (an integer) and a variant name (bound as SQL text by
//   db/). No endpoint takes a path or SQL, so any other path (traversal attempts included) is a 404.
// - Access: a loopback host (127.0.0.0/8, ::1, localhost) serves without a token unless one is given; any
//   other host requires a token, checked on every request in constant time (same_token). The token comes
//   as `Authorization: Bearer T`, the cookie `ablate_token` (set when a page is opened with ?token=T), or
//   ?token=T. Without a token the Host header must name a loopback host (no DNS rebinding).
// - Bounds: a request (request line, headers and any body) must arrive within `request_seconds` and fit in
//   `request_bytes`, else the connection is cut (400 or closed); `threads` connections are served at once
//   and `queue` more wait, beyond that the server stops accepting (the kernel's backlog holds a few more).
// - Threads: Server's methods may be called from any thread; stop() returns at once and run() returns
//   when the connections in progress have ended (each within its bounds). Errors: the constructor throws
//   db::StoreError (not a store) or std::invalid_argument (a non-loopback host without a token, a bad
//   limit); bind() throws std::runtime_error naming host:port.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace ablate::serve {

struct ServeOptions {
  std::string db_path;
  std::string host = "127.0.0.1";
  int port = 8750;           // 0: any free port (bind() returns it)
  std::string token;         // "" = none (allowed on a loopback host only)
  int threads = 4;           // connections served at once
  int queue = 16;            // accepted connections waiting for a thread
  int request_seconds = 10;  // a request must have arrived within this (slow clients are cut off)
  // Request line + headers + body.
  std::size_t request_bytes = 16 * 1024;
  int idle_seconds = 5;      // a kept-alive connection waits this long for its next request
  double min_refresh = 0.5;  // an answer is recomputed at most this often, whatever the number of clients
  int poll_ms = 2000;        // how often the pages poll the API
};

// Whether `host` is a loopback address or name: "localhost", 127.0.0.0/8, ::1 (or [::1]).
bool is_loopback(const std::string& host);
// Equal tokens, compared in time that depends only on the length of `expected` (not on where they differ).
bool same_token(const std::string& given, const std::string& expected);
// 64 hexadecimal characters from std::random_device (the kernel's random source).
std::string random_token();

class Server {
 public:
  explicit Server(ServeOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; returns the port (the free one chosen for port 0).
  int bind();
  // Serves until stop(); bind() first.
  void run();
  // Stops run() (any thread, any time after bind(); a no-op before run() starts is caught by run()).
  void stop();
  bool running() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ablate::serve
