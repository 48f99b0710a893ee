// Files that must not fail silently, written or read, and the CSV quoting of every CSV writer (evaluate,
// report).
//
// Contract: free functions without state; any thread may call them (two calls on the same path race as the
// file system makes them). write_text_file throws std::runtime_error; the input checks never throw for a bad
// file, they return the problem as text.
#pragma once

#include <cstdint>
#include <string>

namespace ablate {

// Writes `text` to `path` (created, or truncated). Throws std::runtime_error "cannot write PATH: reason"
// when opening, writing or closing fails: a full disk (or /dev/full) is seen at the latest when the file
// is closed, so the close is checked too, and nothing claims to have written a file that is not there.
void write_text_file(const std::string& path, const std::string& text);

// One CSV field per RFC 4180: as is, or, when it holds a comma, a double quote, CR or LF, in double
// quotes with every double quote doubled.
std::string csv_field(const std::string& text);

// Inputs read whole (dataset.json, ...) pass two checks before a byte is read: the type (a regular file;
// a folder, a device such as /dev/zero, a FIFO or a socket is refused: it reads as empty, without end, or
// blocks) and the size the file system reports (at most `max_bytes`). The read itself stops past
// `max_bytes`, so a file whose size is not reported (/proc/self/status says 0) is read correctly, and one
// that grew is refused, never read as empty or without end. Returns "" and sets `text`, or the problem
// without the path ("it has 70000000 bytes; <expected> may have at most 67108864 (64 MiB)"); `expected`
// names what the file should be ("dataset.json").
std::string read_input_file(const std::string& path, std::uintmax_t max_bytes, const std::string& expected, std::string& text);
// The same checks without reading: "" for a regular file of at most `max_bytes` bytes, else the problem.
std::string check_input_file(const std::string& path, std::uintmax_t max_bytes, const std::string& expected);

// Control characters of an input (a NUL in a string, an escape sequence) shown as \0, \xNN: a NUL would
// end an error text where it is read as a C string (what()), cutting off the rest, and others would
// garble the terminal.
std::string printable_text(const std::string& text);

}  // namespace ablate
