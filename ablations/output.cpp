#include "ablations/output.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>

namespace ablate {

void write_text_file(const std::string& path, const std::string& text) {
  auto fail = [&](int err) { throw std::runtime_error("cannot write " + path + ": " + std::strerror(err)); };
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) fail(errno);
  if (!text.empty() && std::fwrite(text.data(), 1, text.size(), f) != text.size()) {
    const int err = errno;
    std::fclose(f);
    fail(err);
  }
  // fclose flushes: a write that only fails when the buffer reaches the disk fails here.
  if (std::fflush(f) != 0) {
    const int err = errno;
    std::fclose(f);
    fail(err);
  }
  if (std::fclose(f) != 0) fail(errno);
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

namespace {

std::string size_text(std::uintmax_t bytes) {
  const std::string exact = std::to_string(bytes);
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return exact + " (" + std::to_string(bytes >> 20) + " MiB)";
  return exact;
}

std::string too_large(std::uintmax_t have, bool at_least, std::uintmax_t max_bytes, const std::string& expected) {
  return "it has " + std::string(at_least ? "more than " : "") + std::to_string(at_least ? max_bytes : have) + " bytes; " +
         expected + " may have at most " + size_text(max_bytes);
}

}  // namespace

std::string check_input_file(const std::string& path, std::uintmax_t max_bytes, const std::string& expected) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return "no such file";
  if (fs::is_directory(st)) return "it is a folder, expected " + expected;
  if (!fs::is_regular_file(st)) return "it is not a regular file (a device, FIFO or socket), expected " + expected;
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) return "cannot read its size: " + ec.message();
  if (size > max_bytes) return too_large(size, false, max_bytes, expected);
  return "";
}

std::string read_input_file(const std::string& path, std::uintmax_t max_bytes, const std::string& expected, std::string& text) {
  if (std::string problem = check_input_file(path, max_bytes, expected); !problem.empty()) return problem;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return std::string("cannot open it for reading: ") + std::strerror(errno);
  // Read in chunks up to one byte past the cap, whatever size the file system reported.
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uintmax_t>(sizeof buf, max_bytes + 1 - out.size()));
    const std::size_t got = std::fread(buf, 1, want, f.get());
    out.append(buf, got);
    if (out.size() > max_bytes) return too_large(out.size(), true, max_bytes, expected);
    if (got < want) break;
  }
  if (std::ferror(f.get())) return std::string("cannot read it: ") + std::strerror(errno);
  text = std::move(out);
  return "";
}

std::string printable_text(const std::string& text) {
  std::string out;
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      out += c;
    } else if (u == 0) {
      out += "\\0";
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

}  // namespace ablate
