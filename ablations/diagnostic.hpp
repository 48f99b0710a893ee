// Located problems of a study file (Diagnostic), the exception that carries all of them (SpecError),
// and the did-you-mean spelling match every message uses. Shared by the study loader
// (ablations/study.hpp) and the published-table parser (ablations/published.hpp).
// Thread safety: plain values and a pure function; safe from any thread.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace ablate {

// One problem found in a study file.
struct Diagnostic {
  std::string file;
  int line = 0;      // 1-based; 0 when unknown
  int column = 0;
  std::string key;   // dotted key path, may be empty
  std::string message;
  std::string str() const;  // "file:line:column: key: message"
};

// All problems of a study file, reported together.
class SpecError : public std::runtime_error {
 public:
  explicit SpecError(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

// Levenshtein distance: the fewest insertions, deletions and substitutions that turn a into b.
std::size_t edit_distance(const std::string& a, const std::string& b);

// Closest spelling among candidates (Levenshtein), or "" when nothing is close.
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace ablate
