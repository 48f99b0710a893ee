// libFuzzer target: the study loader on arbitrary text. The input is the study file; after a line
// "#--- base.toml" the rest is an include file of that name, so includes are fuzzed too.
// Contract checked: load_study_text either returns or throws SpecError (nothing else, no crash, no
// sanitizer report), and every variant's canonical text parses back to itself (what a worker receives).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "ablations/study.hpp"

namespace {

const std::string& work_dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/ablate-fuzz-study-XXXXXX";
    return std::string(mkdtemp(tmpl));
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::string base;
  const std::string marker = "\n#--- base.toml\n";
  if (const auto at = text.find(marker); at != std::string::npos) {
    base = text.substr(at + marker.size());
    text.resize(at + 1);
  }
  const std::string dir = work_dir();
  std::ofstream(dir + "/base.toml", std::ios::binary | std::ios::trunc) << base;
  try {
    const ablate::Study study = ablate::load_study_text(text, dir + "/s.toml");
    std::size_t checked = 0;
    for (const auto& v : study.variants) {
      if (++checked > 4) break;
      const std::string again = ablate::canonical_text(ablate::parse_canonical(v.canonical));
      if (again != v.canonical) {
        std::fprintf(stderr, "canonical text does not round-trip for variant %s:\n%s\n---\n%s\n", v.name.c_str(),
                     v.canonical.c_str(), again.c_str());
        std::abort();
      }
    }
  } catch (const ablate::SpecError&) {
    // A refused study: the expected outcome for most inputs.
  }
  return 0;
}
