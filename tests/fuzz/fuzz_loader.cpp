// libFuzzer target: the whole study loader, as `plan`, `run` and `report --published` use it, not only its
// TOML parser: includes (several files, nested), designs, searches (grid, random, sobol, tpe), early
// stopping, published tables and `--set` overrides, and what the coordinator does next with what loaded
// (a tpe trial's variant, the published tables read back).
//
// Input: the study file, then sections that each start with a line "#--- NAME":
//   NAME a file name ([A-Za-z0-9_.-], at most 64 characters): a file of that name beside the study, so
//        `include = "NAME"` (and includes of includes) find it;
//   NAME "--set": each line of the section is one `--set KEY=VALUE` argument (at most 16).
// scripts/fuzz seeds it from examples/ (each example with the files it includes appended as sections)
// and tests/fuzz/seeds/loader/.
//
// Contract checked: load_study_text returns or throws SpecError (nothing else, no crash, no sanitizer
// report; scripts/fuzz runs it with -rss_limit_mb=1024 -timeout=10, so an expansion that blows up memory
// or time is a finding too); every variant's canonical text parses back to itself; the published tables
// it keeps read back (parse_published) and print the same (published_text); published_in_document
// returns or throws std::runtime_error; a tpe study's first trial resolves (trial_variant) or throws
// SpecError.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ablations/published.hpp"
#include "ablations/study.hpp"
#include "sweeps/samplers.hpp"

namespace {

namespace fs = std::filesystem;

const std::string& work_dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/ablate-fuzz-loader-XXXXXX";
    return std::string(mkdtemp(tmpl));
  }();
  return dir;
}

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "fuzz_loader: %s\n", what.c_str());
  std::abort();
}

bool valid_file_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name == "." || name == ".." || name == "s.toml") return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

struct Input {
  std::string study;
  std::vector<std::pair<std::string, std::string>> files;  // name, text
  std::vector<std::string> overrides;
};

// Splits the input at its "#--- NAME" lines; a marker with an invalid name stays text of its section.
Input split(const std::string& data) {
  Input in;
  std::string* into = &in.study;
  bool overrides = false;
  std::size_t pos = 0;
  while (pos < data.size()) {
    std::size_t end = data.find('\n', pos);
    const bool last = end == std::string::npos;
    if (last) end = data.size();
    const std::string line = data.substr(pos, end - pos);
    pos = last ? end : end + 1;
    if (line.rfind("#--- ", 0) == 0) {
      const std::string name = line.substr(5);
      if (name == "--set") {
        overrides = true;
        into = nullptr;
        continue;
      }
      if (valid_file_name(name)) {
        overrides = false;
        in.files.emplace_back(name, "");
        into = &in.files.back().second;
        continue;
      }
    }
    if (overrides) {
      if (in.overrides.size() < 16) in.overrides.push_back(line);
      continue;
    }
    *into += line;
    if (!last) *into += '\n';
  }
  return in;
}

void check_loaded(const ablate::Study& study, const std::string& text, const std::string& file) {
  std::size_t checked = 0;
  for (const auto& v : study.variants) {
    if (++checked > 4) break;
    const std::string again = ablate::canonical_text(ablate::parse_canonical(v.canonical));
    if (again != v.canonical) finding("canonical text does not round-trip for variant " + v.name + ":\n" + v.canonical + "\n---\n" + again);
  }
  // The published tables as the report reads them (also from `report --published FILE`).
  const std::string& published = study.base.report.published;
  std::vector<ablate::PublishedTable> tables;
  try {
    tables = ablate::parse_published(published);
  } catch (const std::exception& e) {
    finding(std::string("the loader kept published tables that do not read back: ") + e.what() + "\n" + published);
  }
  if (ablate::published_text(tables) != published) finding("published tables do not print back the same:\n" + published);
  try {
    ablate::published_in_document(text, file);
  } catch (const std::runtime_error&) {
    // Allowed: the raw document without its includes.
  }
  // A tpe search has no variants at load time: the coordinator resolves its trials one by one.
  if (study.search.adaptive() && !study.search.declared.empty()) {
    ablate::sweeps::TpeOptions options;
    options.n_startup = study.search.startup;
    const ablate::sweeps::Sample x = ablate::sweeps::tpe_sample(study.search.space, study.search.seed, 0, {}, options);
    try {
      ablate::trial_variant(study, study.search.declared.front(), 0, x);
    } catch (const ablate::SpecError&) {
      // Allowed: a point that breaks a constraint between keys.
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Input in = split(std::string(reinterpret_cast<const char*>(data), size));
  const std::string dir = work_dir();
  // The files of the previous input are gone: an include resolves only to this input's sections.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) fs::remove(e.path(), ec);
  for (const auto& [name, text] : in.files) std::ofstream(dir + "/" + name, std::ios::binary | std::ios::trunc) << text;
  const std::string file = dir + "/s.toml";
  try {
    const ablate::Study study = ablate::load_study_text(in.study, file, in.overrides);
    check_loaded(study, in.study, file);
  } catch (const ablate::SpecError&) {
    // A refused study: the expected outcome for most inputs.
  }
  return 0;
}
