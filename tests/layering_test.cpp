// The architecture's rules (docs/ARCHITECTURE.md), checked on the sources: which folder may include which
// other folder's headers, and where LibTorch, mpi.h and sqlite3.h may be seen. CMake's link lines do not
// enforce them (Debian installs every one of those headers under /usr/include), so a stray include would
// otherwise only show as slower builds and a library that no longer builds without LibTorch.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Include {
  std::string file;  // relative to the source root
  int line;
  std::string header;
};

// Every #include of the project's library folders and of the executable (runner/cli/).
std::vector<Include> includes() {
  static const std::regex include_re(R"(^\s*#\s*include\s*[<"]([^>"]+)[>"])");
  std::vector<Include> out;
  const fs::path root = ABLATE_SOURCE_DIR;
  for (const char* folder : {"sweeps", "ablations", "trainer", "db", "reports", "cluster", "serve", "runner"})
    for (const auto& entry : fs::recursive_directory_iterator(root / folder)) {
      const std::string ext = entry.path().extension().string();
      if (!entry.is_regular_file() || (ext != ".cpp" && ext != ".hpp" && ext != ".in")) continue;
      std::ifstream in(entry.path());
      std::string text;
      int n = 0;
      std::smatch m;
      while (std::getline(in, text)) {
        ++n;
        if (std::regex_search(text, m, include_re))
          out.push_back({fs::relative(entry.path(), root).generic_string(), n, m[1].str()});
      }
    }
  return out;
}

// The library a source file belongs to: its top folder, or "cli" for the executable's runner/cli/.
std::string owner(const std::string& file) {
  if (file.rfind("runner/cli/", 0) == 0) return "cli";
  return file.substr(0, file.find('/'));
}

// The project folder a header names ("db/store.hpp" -> "db"), or "" for a system or generated header.
std::string folder_of(const std::string& header) {
  static const std::set<std::string> folders = {"sweeps", "ablations", "trainer", "db", "reports", "cluster", "serve", "runner"};
  const auto slash = header.find('/');
  if (slash == std::string::npos) return "";
  const std::string top = header.substr(0, slash);
  return folders.count(top) ? top : "";
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

TEST(Layering, SourcesAreFound) {
  // Guard against a vacuous pass: the scan must see the known includes.
  const std::vector<Include> all = includes();
  EXPECT_GT(all.size(), 200u);
  bool transport_sees_mpi = false, store_sees_sqlite = false;
  for (const auto& i : all) {
    transport_sees_mpi |= i.file == "runner/mpi_transport.cpp" && i.header == "mpi.h";
    store_sees_sqlite |= starts_with(i.file, "db/") && i.header == "sqlite3.h";
  }
  EXPECT_TRUE(transport_sees_mpi);
  EXPECT_TRUE(store_sees_sqlite);
}

// Dependencies point one way (the table of docs/ARCHITECTURE.md, transitive links included).
TEST(Layering, FoldersIncludeOnlyTheirDependencies) {
  const std::map<std::string, std::set<std::string>> allowed = {
      {"sweeps", {"sweeps"}},
      {"ablations", {"ablations", "sweeps"}},
      {"trainer", {"trainer", "ablations", "sweeps"}},
      {"db", {"db", "ablations", "sweeps"}},
      {"reports", {"reports", "db", "ablations", "sweeps"}},
      {"cluster", {"cluster", "ablations", "sweeps"}},
      {"serve", {"serve", "reports", "db", "ablations", "sweeps"}},
      {"runner", {"runner", "trainer", "db", "ablations", "sweeps"}},
      {"cli", {"runner", "trainer", "db", "reports", "cluster", "serve", "ablations", "sweeps"}},
  };
  for (const auto& i : includes()) {
    const std::string to = folder_of(i.header);
    if (to.empty()) continue;
    EXPECT_TRUE(allowed.at(owner(i.file)).count(to))
        << i.file << ":" << i.line << " includes " << i.header << ": " << owner(i.file) << " must not depend on " << to;
  }
}

namespace {

bool is_torch(const std::string& h) { return starts_with(h, "torch/") || starts_with(h, "ATen/") || starts_with(h, "c10/"); }

// Whether a project header reaches LibTorch through its own includes, transitively.
bool sees_torch(const std::string& header, const std::multimap<std::string, std::string>& graph,
                std::map<std::string, bool>& memo) {
  if (is_torch(header)) return true;
  const auto known = memo.find(header);
  if (known != memo.end()) return known->second;
  memo[header] = false;  // an include cycle adds nothing
  bool seen = false;
  for (auto [it, end] = graph.equal_range(header); it != end && !seen; ++it) seen = sees_torch(it->second, graph, memo);
  return memo[header] = seen;
}

}  // namespace

// LibTorch only in trainer/ and behind trainer headers that no other folder includes (the runner and the
// CLI include the LibTorch-free ones: trainer.hpp, splits.hpp, evaluate.hpp, data/check.hpp, ...), mpi.h
// only in the runner's transport, sqlite3.h only in db/.
TEST(Layering, TorchMpiAndSqliteStayInTheirFolders) {
  const std::vector<Include> all = includes();
  std::multimap<std::string, std::string> graph;  // file -> included header, both as "folder/name.hpp"
  for (const auto& i : all) graph.emplace(i.file, i.header);
  std::map<std::string, bool> memo;
  std::size_t trainer_headers_outside = 0;
  for (const auto& i : all) {
    const std::string& h = i.header;
    const std::string where = i.file + ":" + std::to_string(i.line) + " includes " + h;
    if (is_torch(h)) {
      EXPECT_TRUE(starts_with(i.file, "trainer/")) << where << ": LibTorch belongs to trainer/";
    }
    if (starts_with(h, "trainer/") && !starts_with(i.file, "trainer/")) {
      ++trainer_headers_outside;
      EXPECT_FALSE(sees_torch(h, graph, memo)) << where << ", which reaches LibTorch: keep it inside trainer/";
    }
    if (h == "mpi.h") {
      EXPECT_EQ(i.file, "runner/mpi_transport.cpp") << where << ": mpi.h belongs to the transport";
    }
    if (h == "sqlite3.h") {
      EXPECT_TRUE(starts_with(i.file, "db/")) << where << ": sqlite3.h belongs to db/";
    }
    if (h == "httplib.h") {
      EXPECT_EQ(i.file, "serve/http.cpp") << where << ": HTTP belongs to serve/http.cpp";
    }
  }
  EXPECT_GT(trainer_headers_outside, 0u);  // the runner does use the trainer
  // The check itself: a trainer header that includes LibTorch is recognised as reaching it.
  bool some_trainer_header_sees_torch = false;
  for (const auto& i : all)
    if (starts_with(i.file, "trainer/") && i.file.size() > 4 && i.file.substr(i.file.size() - 4) == ".hpp")
      some_trainer_header_sees_torch |= sees_torch(i.file, graph, memo);
  EXPECT_TRUE(some_trainer_header_sees_torch);
}
