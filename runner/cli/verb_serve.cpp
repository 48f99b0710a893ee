// `ablate serve --db FILE [--host H] [--port P] [--token-file F]`: a live, read-only web view of a store
// (serve/serve.hpp, docs/CLI.md "serve"). Runs until SIGINT or SIGTERM, then stops cleanly (exit 0).
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "runner/cli/cli.hpp"
#include "serve/serve.hpp"

namespace ablate::cli {

namespace {

// The first line of the file, without surrounding blanks; at least 16 characters (a guessable token is no
// protection).
std::string read_token(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("--token-file " + path + ": cannot read it (" + std::strerror(errno) + ")");
  std::string line;
  std::getline(in, line);
  const auto first = line.find_first_not_of(" \t\r");
  const auto last = line.find_last_not_of(" \t\r");
  line = first == std::string::npos ? "" : line.substr(first, last - first + 1);
  if (line.size() < 16)
    throw UsageError("--token-file " + path + ": its first line holds a token of " +
                     std::to_string(line.size()) +
                     " characters; at least 16 are needed (e.g. `openssl rand -hex 32 > " + path + "`)");
  for (char c : line)
    if (static_cast<unsigned char>(c) <= ' ' || c == ';' || c == ',' || c == '"' || c == '\\' || c == 0x7f)
      throw UsageError("--token-file " + path +
                       ": the token may not hold blanks, control characters, ';', ',', '\"' or '\\' "
                       "(it travels in a cookie)");
  return line;
}

}  // namespace

int verb_serve(const std::vector<std::string>& args) {
  po::options_description options("ablate serve");
  options.add_options()("db", po::value<std::string>(), "the store (SQLite) to show; it is only read")(
      "host", po::value<std::string>()->default_value("127.0.0.1"),
      "address to listen on; any other than a loopback one needs a token (generated and printed, or "
      "--token-file)")("port", po::value<int>()->default_value(8750), "port to listen on (0: any free port)")(
      "token-file", po::value<std::string>(), "file whose first line is the access token (any host)")(
      "poll", po::value<double>()->default_value(2.0), "seconds between the pages' updates (>= 0.1)")(
      "threads", po::value<int>()->default_value(4),
      "connections served at once (more wait in a queue of 16)");
  options.add(common_options());
  po::positional_options_description positional;
  po::variables_map vm;
  if (!parse_args("serve", "ablate serve --db FILE [--host 127.0.0.1] [--port 8750] [--token-file FILE]",
                  options, positional, args, vm))
    return kExitOk;
  if (!vm.count("db")) throw UsageError("--db FILE is required; see: ablate serve --help");
  serve::ServeOptions o;
  o.db_path = vm["db"].as<std::string>();
  // Opening read-only never creates a file, but a mistyped path is better told as such.
  if (!std::filesystem::exists(o.db_path)) throw UsageError("store file " + o.db_path + " does not exist");
  o.host = vm["host"].as<std::string>();
  o.port = vm["port"].as<int>();
  if (o.port < 0 || o.port > 65535)
    throw UsageError("--port " + std::to_string(o.port) + ": allowed are 0..65535");
  o.threads = vm["threads"].as<int>();
  if (o.threads < 1 || o.threads > 64)
    throw UsageError("--threads " + std::to_string(o.threads) + ": allowed are 1..64");
  const double poll = vm["poll"].as<double>();
  if (!(poll >= 0.1 && poll <= 3600))
    throw UsageError("--poll " + std::to_string(poll) + ": allowed are 0.1..3600 seconds");
  o.poll_ms = static_cast<int>(poll * 1000);
  bool generated = false;
  if (vm.count("token-file")) {
    o.token = read_token(vm["token-file"].as<std::string>());
  } else if (!serve::is_loopback(o.host)) {
    o.token = serve::random_token();
    generated = true;
  }

  // SIGINT and SIGTERM are taken by one thread (sigtimedwait) that stops the server: blocked here, before
  // the server starts its threads, so that every thread inherits the mask and none dies of them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  serve::Server server(o);
  const int port = server.bind();
  const std::string shown_host = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
  std::cout << "ablate serve: " << o.db_path << " at http://" << shown_host << ":" << port << "/"
            << (o.token.empty() ? ""
                : generated     ? "?token=" + o.token
                                : "?token=<the token of the file>")
            << "\n"
            << "(read-only; stop with Ctrl-C or SIGTERM)" << std::endl;
  std::atomic<bool> finished{false};
  std::thread waiter([&] {
    const timespec slice{0, 200 * 1000 * 1000};
    while (!finished) {
      const int s = sigtimedwait(&stop_signals, nullptr, &slice);
      if (s == SIGINT || s == SIGTERM) {
        std::cerr << "ablate serve: " << strsignal(s) << ", stopping\n";
        server.stop();
        return;
      }
    }
  });
  server.run();
  finished = true;
  waiter.join();
  return kExitOk;
}

}  // namespace ablate::cli
