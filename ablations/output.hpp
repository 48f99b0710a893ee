// Files that must not fail silently, and the CSV quoting of every CSV writer (evaluate, report).
#pragma once

#include <string>

namespace ablate {

// Writes `text` to `path` (created, or truncated). Throws std::runtime_error "cannot write PATH: reason"
// when opening, writing or closing fails: a full disk (or /dev/full) is seen at the latest when the file
// is closed, so the close is checked too, and nothing claims to have written a file that is not there.
void write_text_file(const std::string& path, const std::string& text);

// One CSV field per RFC 4180: as is, or, when it holds a comma, a double quote, CR or LF, in double
// quotes with every double quote doubled.
std::string csv_field(const std::string& text);

}  // namespace ablate
