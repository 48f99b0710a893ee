#include "ablations/output.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
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

}  // namespace ablate
