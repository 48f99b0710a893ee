// Diagnostics of a study (located problems, SpecError) and the did-you-mean spelling match.
#include "ablations/output.hpp"
#include "ablations/study_internal.hpp"

#include <algorithm>
#include <sstream>
#include <tuple>

namespace ablate::study_internal {

// Diagnostics in reading order: by file, then line and column.
std::vector<Diagnostic> sorted(std::vector<Diagnostic> list) {
  std::stable_sort(list.begin(), list.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
  });
  return list;
}

namespace {

// 2031617 -> "2,031,617"
std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

void Diags::add(const std::string& file, int line, int column, const std::string& key, const std::string& msg) {
  Cause& cause = causes_[{file, key}];
  if (cause.shown < kShownPerCause) {
    Diagnostic d{file, line, column, key, msg};
    if (!seen_.insert(d.str()).second) return;
    ++cause.shown;
    list.push_back(std::move(d));
    return;
  }
  add_more(file, line, column, key, 1);
}

void Diags::add_more(const std::string& file, int line, int column, const std::string& key, std::uint64_t more) {
  if (more == 0) return;
  Cause& cause = causes_[{file, key}];
  cause.hidden += more;
  if (cause.summary == SIZE_MAX) {
    cause.summary = list.size();
    list.push_back({file, line, column, key, ""});
  }
  list[cause.summary].message = "… and " + grouped(cause.hidden) + " more of the same kind";
}

}  // namespace ablate::study_internal

namespace ablate {

using namespace study_internal;

namespace {

// Control characters of a study's text shown as \0, \xNN (ablations/output.hpp printable_text): a NUL
// would end the error text where it is read as a C string (what()), cutting off every later problem.
std::string printable(const std::string& text) { return printable_text(text); }

}  // namespace

std::string Diagnostic::str() const {
  std::ostringstream s;
  s << (file.empty() ? "<study>" : printable(file));
  if (line > 0) s << ":" << line << ":" << column;
  s << ": ";
  if (!key.empty()) s << "`" << printable(key) << "`: ";
  s << printable(message);
  return s.str();
}

namespace {

std::string format_diagnostics(const std::vector<Diagnostic>& diagnostics) {
  std::ostringstream s;
  for (const auto& d : diagnostics) s << "error: " << d.str() << "\n";
  s << diagnostics.size() << (diagnostics.size() == 1 ? " problem" : " problems") << " found\n";
  return s.str();
}

}  // namespace

SpecError::SpecError(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(format_diagnostics(diagnostics)), diagnostics_(std::move(diagnostics)) {}

const char* origin_name(Origin o) {
  switch (o) {
    case Origin::kDefault: return "default";
    case Origin::kBase: return "base";
    case Origin::kStudy: return "study";
    case Origin::kVariant: return "variant";
    case Origin::kSweep: return "sweep";
    case Origin::kOverride: return "override";
  }
  return "?";
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = std::string::npos;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  // Close enough to be a typo: at most a third of the word's length (at least 2 edits allowed).
  if (best_d <= std::max<std::size_t>(2, word.size() / 3)) return best;
  return "";
}

}  // namespace ablate
