// Helpers of the tests of `ablate serve` (serve_*_test.cpp): raw HTTP/1.1 over a TCP socket (the tests see
// the bytes on the wire: status, headers, a cut connection), a field of a JSON answer, and a store written
// as the coordinator writes it (db::Store's writer calls), so that the server reads a real SQLite file.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "db/store.hpp"
#include "serve/serve.hpp"

namespace serve_test {

struct Reply {
  int status = 0;    // 0: no status line (the connection was cut first)
  std::string head;  // status line and headers
  std::string body;
  bool closed = false;  // the server closed the connection (read returned 0 or failed)
};

inline int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads until the server closes, or `guard_seconds` pass without a byte (then closed = false).
inline Reply read_reply(int fd, int guard_seconds = 60) {
  std::string raw;
  Reply r;
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, guard_seconds * 1000) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      r.closed = true;
      break;
    }
    raw.append(buf, static_cast<std::size_t>(n));
  }
  const auto end = raw.find("\r\n\r\n");
  r.head = raw.substr(0, end);
  if (end != std::string::npos) r.body = raw.substr(end + 4);
  if (raw.rfind("HTTP/1.1 ", 0) == 0) r.status = std::atoi(raw.c_str() + 9);
  return r;
}

// Sends `request` as given (the test writes every byte) and reads the reply to the end.
inline Reply send_raw(int port, const std::string& request) {
  const int fd = connect_to(port);
  if (fd < 0) return {};
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  Reply r = read_reply(fd);
  ::close(fd);
  return r;
}

// GET `target` with a loopback Host header, Connection: close, and any extra header lines.
inline Reply get(int port, const std::string& target, const std::string& extra_headers = "") {
  return send_raw(port, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n" +
                            extra_headers + "Connection: close\r\n\r\n");
}

// The integer after the first `"key":` at or after `from` in a JSON text; -1 when absent.
inline long json_int(const std::string& json, const std::string& key, const std::string& from = "") {
  std::size_t at = from.empty() ? 0 : json.find(from);
  if (at == std::string::npos) return -1;
  at = json.find("\"" + key + "\":", at);
  if (at == std::string::npos) return -1;
  return std::strtol(json.c_str() + at + key.size() + 3, nullptr, 10);
}

// A server on a free loopback port, serving on a thread of its own until destroyed.
class Running {
 public:
  explicit Running(ablate::serve::ServeOptions o) : server_(std::move(o)) {
    port_ = server_.bind();
    thread_ = std::thread([this] { server_.run(); });
  }
  ~Running() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  ablate::serve::Server server_;
  int port_ = 0;
  std::thread thread_;
};

inline ablate::serve::ServeOptions options(const std::string& db) {
  ablate::serve::ServeOptions o;
  o.db_path = db;
  o.port = 0;
  o.min_refresh = 0;  // every poll sees the latest write
  return o;
}

// An epoch of a task as the trainer reports it.
inline ablate::EpochRecord epoch(int e) {
  ablate::EpochRecord r;
  r.epoch = e;
  r.train_loss = 1.0 / e;
  r.val_loss = 1.2 / e;
  r.val_dice = 0.5 + 0.1 * e;
  r.val_score = r.val_dice;
  r.lr = 1e-3;
  r.seconds = 0.1;
  return r;
}

// A finished task's result: `epochs` epochs, the last one selected, a Dice per fold and per case.
inline ablate::TaskResult result(int epochs, double dice) {
  ablate::TaskResult r;
  for (int e = 1; e <= epochs; ++e) r.epochs.push_back(epoch(e));
  r.best_epoch = epochs;
  r.fold_metrics = {{"dice", 1, dice}};
  r.case_metrics = {{"c1", 1, "dice", dice - 0.01}, {"c2", 1, "dice", dice + 0.01}};
  r.parameters = 1234;
  r.inference_ms_per_case = 2.5;
  r.train_seconds = 0.5;
  return r;
}

}  // namespace serve_test
