#include "trainer/data/preprocess.hpp"

#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "trainer/data/nifti.hpp"
#include "trainer/data/random.hpp"

namespace ablate::trainer::data {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'A', 'B', 'L', 'P', 'R', 'E', 'P', '1'};
constexpr std::uint32_t kFormatVersion = 1;

// FNV-1a, twice with different offsets: a 128-bit content key (not a security hash).
struct Fnv128 {
  std::uint64_t a = 0xcbf29ce484222325ULL, b = 0x84222325cbf29ce4ULL;
  void add(const std::string& s) {
    for (unsigned char ch : s) {
      a = (a ^ ch) * 0x100000001b3ULL;
      b = (b ^ ch) * 0x100000001b3ULL;
      b ^= b >> 29;
    }
    a = (a ^ 0xff) * 0x100000001b3ULL;  // field separator
  }
  std::string hex() const {
    char buf[33];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
    return buf;
  }
};

std::string file_fingerprint(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return path + ":missing";
  auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
  return path + ":" + std::to_string(size) + ":" + std::to_string(mtime);
}

// Bilinear resize of a rows x cols plane to size x size (pixel centres aligned, as align_corners=false).
void resize_bilinear(const std::vector<float>& in, int rows, int cols, int size, float* out) {
  const double sr = static_cast<double>(rows) / size, sc = static_cast<double>(cols) / size;
  for (int i = 0; i < size; ++i) {
    double r = std::clamp((i + 0.5) * sr - 0.5, 0.0, static_cast<double>(rows - 1));
    int r0 = static_cast<int>(r), r1 = std::min(r0 + 1, rows - 1);
    double fr = r - r0;
    for (int j = 0; j < size; ++j) {
      double c = std::clamp((j + 0.5) * sc - 0.5, 0.0, static_cast<double>(cols - 1));
      int c0 = static_cast<int>(c), c1 = std::min(c0 + 1, cols - 1);
      double fc = c - c0;
      double top = in[r0 * cols + c0] * (1 - fc) + in[r0 * cols + c1] * fc;
      double bottom = in[r1 * cols + c0] * (1 - fc) + in[r1 * cols + c1] * fc;
      out[i * size + j] = static_cast<float>(top * (1 - fr) + bottom * fr);
    }
  }
}

void resize_nearest(const std::vector<std::uint8_t>& in, int rows, int cols, int size, std::uint8_t* out) {
  for (int i = 0; i < size; ++i) {
    int r = std::min(rows - 1, static_cast<int>((i + 0.5) * rows / size));
    for (int j = 0; j < size; ++j) {
      int c = std::min(cols - 1, static_cast<int>((j + 0.5) * cols / size));
      out[i * size + j] = in[r * cols + c];
    }
  }
}

template <typename T>
void put(std::ostream& out, const T& v) {
  out.write(reinterpret_cast<const char*>(&v), sizeof v);
}
template <typename T>
bool get(std::istream& in, T& v) {
  return static_cast<bool>(in.read(reinterpret_cast<char*>(&v), sizeof v));
}

using LabelLut = std::array<std::uint8_t, 256>;  // source label -> class (map_label)

// The mapped classes of slice s of a label volume into out (rows x cols).
void map_label_slice(const Volume& lab, const SliceAxes& ax, int s, const LabelLut& lut, const std::string& file,
                     std::uint8_t* out) {
  for (int r = 0; r < ax.rows; ++r) {
    for (int q = 0; q < ax.cols; ++q) {
      const long lv = std::lround(lab.data[ax.index(s, r, q)]);
      if (lv < 0 || lv > 255) throw std::runtime_error(file + ": label value " + std::to_string(lv) + " outside 0..255");
      out[r * ax.cols + q] = lut[static_cast<std::size_t>(lv)];
    }
  }
}

}  // namespace

bool PreparedCase::slice_has_foreground(int s) const {
  const std::uint8_t* p = label.data() + static_cast<std::size_t>(s) * pixels_per_slice();
  return std::any_of(p, p + pixels_per_slice(), [](std::uint8_t v) { return v != 0; });
}

int map_label(int source_label, const DataConfig& data) {
  if (data.label_groups.empty()) return source_label > 0 ? 1 : 0;
  for (std::size_t g = 0; g < data.label_groups.size(); ++g) {
    for (int v : data.label_groups[g])
      if (v == source_label) return static_cast<int>(g) + 1;
  }
  return 0;
}

namespace {
LabelLut label_lut(const DataConfig& d) {
  LabelLut lut{};
  for (int s = 0; s < 256; ++s) lut[static_cast<std::size_t>(s)] = static_cast<std::uint8_t>(map_label(s, d));
  return lut;
}
}  // namespace

void validate_data_config(const DataConfig& d) {
  if (d.axis < 0 || d.axis > 2) throw std::runtime_error("data.axis = " + std::to_string(d.axis) + ": allowed 0 (x), 1 (y), 2 (z)");
  if (d.intensity != "window" && d.intensity != "zscore" && d.intensity != "none") {
    throw std::runtime_error("data.intensity = \"" + d.intensity + "\": allowed window | zscore | none");
  }
  if (d.intensity == "window" && !(d.window_max > d.window_min)) {
    throw std::runtime_error("data.window_max must be greater than data.window_min (got [" + std::to_string(d.window_min) + ", " +
                             std::to_string(d.window_max) + "])");
  }
  if (d.image_size < 8 || d.image_size > 4096) {
    throw std::runtime_error("data.image_size = " + std::to_string(d.image_size) + ": allowed 8..4096");
  }
  // A source label in two groups would always go to the first (one voxel, one class), leaving the second
  // class without that label: refused rather than silently scoring an emptied class.
  std::map<int, std::size_t> group_of;
  for (std::size_t g = 0; g < d.label_groups.size(); ++g) {
    if (d.label_groups[g].empty()) throw std::runtime_error("data.label_groups[" + std::to_string(g) + "] is empty");
    for (int v : d.label_groups[g]) {
      if (v <= 0 || v > 255) throw std::runtime_error("data.label_groups[" + std::to_string(g) + "] holds " + std::to_string(v) + ": allowed source labels 1..255");
      auto [it, fresh] = group_of.emplace(v, g);
      if (!fresh) {
        throw std::runtime_error("data.label_groups: source label " + std::to_string(v) + " is in group " + std::to_string(it->second) +
                                 " and group " + std::to_string(g) + ": classes are exclusive (softmax), so each source label belongs to one "
                                 "group; for nested regions such as pancreas incl. tumour and tumour, run one study with "
                                 "[[1, 2]] and one with [[2]]");
      }
    }
  }
  if (d.evaluate_at != "native" && d.evaluate_at != "prepared") {
    throw std::runtime_error("data.evaluate_at = \"" + d.evaluate_at + "\": allowed native | prepared");
  }
  if (!(d.empty_slice_ratio >= 0.0 && d.empty_slice_ratio <= 1.0)) {
    throw std::runtime_error("data.empty_slice_ratio = " + std::to_string(d.empty_slice_ratio) + ": allowed 0..1");
  }
}

PreparedCase preprocess_case(const CaseEntry& entry, const DataConfig& d) {
  validate_data_config(d);
  Volume img = read_nifti(entry.image);
  Volume lab = read_nifti(entry.label);
  if (img.dim != lab.dim) {
    auto str = [](const std::array<int, 3>& a) { return std::to_string(a[0]) + "x" + std::to_string(a[1]) + "x" + std::to_string(a[2]); };
    throw std::runtime_error(entry.label + ": label shape " + str(lab.dim) + " differs from the image shape " + str(img.dim) + " (" + entry.image + ")");
  }
  PreparedCase c;
  c.id = entry.id;
  c.source_dim = img.dim;
  c.size = d.image_size;
  const SliceAxes ax(img.dim, d.axis);
  const int rows = ax.rows, cols = ax.cols;
  c.slices = ax.slices;
  c.spacing = {img.spacing[ax.axis], img.spacing[ax.row_axis] * rows / c.size, img.spacing[ax.col_axis] * cols / c.size};

  // Intensity handling over the whole volume.
  std::vector<float>& v = img.data;
  if (d.intensity == "window") {
    const float lo = static_cast<float>(d.window_min), hi = static_cast<float>(d.window_max);
    for (float& x : v) x = (std::clamp(x, lo, hi) - lo) / (hi - lo);
  } else if (d.intensity == "zscore") {
    double sum = 0, sq = 0;
    for (float x : v) sum += x;
    const double mean = sum / v.size();
    for (float x : v) sq += (x - mean) * (x - mean);
    const double sd = std::sqrt(sq / v.size());
    for (float& x : v) x = static_cast<float>((x - mean) / (sd > 1e-8 ? sd : 1.0));
  }
  for (float x : v) {
    if (!std::isfinite(x)) throw std::runtime_error(entry.image + ": the image holds non-finite values (NaN/Inf)");
  }
  const LabelLut lut = label_lut(d);

  const std::size_t plane = static_cast<std::size_t>(c.size) * c.size;
  c.image.resize(plane * c.slices);
  c.label.resize(plane * c.slices);
  std::vector<float> src_img(static_cast<std::size_t>(rows) * cols);
  std::vector<std::uint8_t> src_lab(static_cast<std::size_t>(rows) * cols);
  for (int s = 0; s < c.slices; ++s) {
    for (int r = 0; r < rows; ++r)
      for (int q = 0; q < cols; ++q) src_img[r * cols + q] = v[ax.index(s, r, q)];
    map_label_slice(lab, ax, s, lut, entry.label, src_lab.data());
    resize_bilinear(src_img, rows, cols, c.size, c.image.data() + plane * s);
    resize_nearest(src_lab, rows, cols, c.size, c.label.data() + plane * s);
  }
  return c;
}

NativeLabel load_native_label(const CaseEntry& entry, const DataConfig& d) {
  validate_data_config(d);
  Volume lab = read_nifti(entry.label);
  const SliceAxes ax(lab.dim, d.axis);
  NativeLabel n;
  n.id = entry.id;
  n.slices = ax.slices;
  n.rows = ax.rows;
  n.cols = ax.cols;
  n.spacing = ax.spacing_of(lab.spacing);
  const LabelLut lut = label_lut(d);
  const std::size_t plane = static_cast<std::size_t>(n.rows) * n.cols;
  n.label.resize(plane * n.slices);
  for (int s = 0; s < n.slices; ++s) map_label_slice(lab, ax, s, lut, entry.label, n.label.data() + plane * s);
  return n;
}

std::string preprocessing_key(const CaseEntry& entry, const DataConfig& d) {
  Fnv128 h;
  h.add("format " + std::to_string(kFormatVersion));
  h.add(file_fingerprint(entry.image));
  h.add(file_fingerprint(entry.label));
  h.add("axis " + std::to_string(d.axis));
  h.add("intensity " + d.intensity);
  if (d.intensity == "window") {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g %.17g", d.window_min, d.window_max);
    h.add(buf);
  }
  h.add("size " + std::to_string(d.image_size));
  std::string groups = "groups";
  for (const auto& g : d.label_groups) {
    groups += " [";
    for (int v : g) groups += std::to_string(v) + ",";
    groups += "]";
  }
  h.add(groups);
  return h.hex();
}

std::string cache_dir_for(const DataConfig& d) {
  if (!d.cache_dir.empty()) return d.cache_dir;
  return (fs::path(d.path) / ".ablate-cache").string();
}

void write_prepared(const std::string& path, const PreparedCase& c, const std::string& key) {
  // Temporary name unique per host, process and call (ranks of several nodes may share the cache folder
  // and a pid); rename() is atomic on POSIX file systems.
  static std::atomic<unsigned> counter{0};
  char host[256] = "host";
  ::gethostname(host, sizeof host - 1);
  std::string tmp = path + ".tmp." + host + "." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(tmp + ": cannot write the preprocessing cache");
    out.write(kMagic, sizeof kMagic);
    put(out, kFormatVersion);
    put(out, static_cast<std::uint32_t>(key.size()));
    out.write(key.data(), static_cast<std::streamsize>(key.size()));
    put(out, static_cast<std::uint32_t>(c.id.size()));
    out.write(c.id.data(), static_cast<std::streamsize>(c.id.size()));
    put(out, static_cast<std::int32_t>(c.slices));
    put(out, static_cast<std::int32_t>(c.size));
    for (double s : c.spacing) put(out, s);
    for (int s : c.source_dim) put(out, static_cast<std::int32_t>(s));
    out.write(reinterpret_cast<const char*>(c.image.data()), static_cast<std::streamsize>(c.image.size() * sizeof(float)));
    out.write(reinterpret_cast<const char*>(c.label.data()), static_cast<std::streamsize>(c.label.size()));
    out.write(kMagic, sizeof kMagic);  // trailer: a torn write never passes as complete
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw std::runtime_error(tmp + ": writing the preprocessing cache failed (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw std::runtime_error(path + ": cannot move the preprocessing cache file into place: " + ec.message());
  }
}

bool read_prepared(const std::string& path, const std::string& key, PreparedCase& c) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  char magic[8];
  std::uint32_t version = 0, key_len = 0, id_len = 0;
  if (!in.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0) return false;
  if (!get(in, version) || version != kFormatVersion) return false;
  if (!get(in, key_len) || key_len != key.size()) return false;
  std::string stored_key(key_len, '\0');
  if (!in.read(&stored_key[0], key_len) || stored_key != key) return false;
  if (!get(in, id_len) || id_len > 4096) return false;
  c.id.assign(id_len, '\0');
  if (id_len && !in.read(&c.id[0], id_len)) return false;
  std::int32_t slices = 0, size = 0;
  if (!get(in, slices) || !get(in, size) || slices < 0 || size <= 0 || size > 4096) return false;
  c.slices = slices;
  c.size = size;
  for (double& s : c.spacing)
    if (!get(in, s)) return false;
  for (int& s : c.source_dim) {
    std::int32_t v = 0;
    if (!get(in, v)) return false;
    s = v;
  }
  const std::size_t n = static_cast<std::size_t>(slices) * size * size;
  c.image.resize(n);
  c.label.resize(n);
  if (!in.read(reinterpret_cast<char*>(c.image.data()), static_cast<std::streamsize>(n * sizeof(float)))) return false;
  if (!in.read(reinterpret_cast<char*>(c.label.data()), static_cast<std::streamsize>(n))) return false;
  if (!in.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0) return false;
  return true;
}

namespace {

// An exclusive lock on "<cache file>.lock" while one rank preprocesses a case, so that ranks starting at
// once wait for it and read its result instead of all decompressing the same volume. flock() works across
// the nodes of NFSv4 and most cluster file systems; where it is unavailable (or the folder is read-only)
// every rank preprocesses on its own, which is still safe (atomic rename) and only slower.
class CaseLock {
 public:
  explicit CaseLock(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd_ < 0) return;
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      ::close(fd_);
      fd_ = -1;
      return;
    }
  }
  ~CaseLock() {
    if (fd_ >= 0) {
      ::flock(fd_, LOCK_UN);
      ::close(fd_);
    }
  }
  CaseLock(const CaseLock&) = delete;
  CaseLock& operator=(const CaseLock&) = delete;

 private:
  int fd_ = -1;
};


std::string cache_file(const CaseEntry& entry, const DataConfig& d, const std::string& key) {
  return (fs::path(cache_dir_for(d)) / (entry.id + "-" + key.substr(0, 16) + ".bin")).string();
}
}  // namespace

bool cached_case_shape(const CaseEntry& entry, const DataConfig& d, int& slices, int& size) {
  const std::string key = preprocessing_key(entry, d);
  std::ifstream in(cache_file(entry, d, key), std::ios::binary);
  char magic[8];
  std::uint32_t version = 0, key_len = 0, id_len = 0;
  if (!in.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0) return false;
  if (!get(in, version) || version != kFormatVersion || !get(in, key_len) || key_len != key.size()) return false;
  std::string stored_key(key_len, '\0');
  if (!in.read(&stored_key[0], key_len) || stored_key != key) return false;
  if (!get(in, id_len) || id_len > 4096 || !in.seekg(id_len, std::ios::cur)) return false;
  std::int32_t s = 0, z = 0;
  if (!get(in, s) || !get(in, z) || s < 0 || z <= 0) return false;
  slices = s;
  size = z;
  return true;
}

PreparedCase load_case(const CaseEntry& entry, const DataConfig& d, bool* from_cache) {
  const std::string key = preprocessing_key(entry, d);
  const fs::path dir = cache_dir_for(d);
  const std::string file = cache_file(entry, d, key);
  PreparedCase c;
  if (read_prepared(file, key, c)) {
    if (from_cache) *from_cache = true;
    return c;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  CaseLock lock(file + ".lock");
  // Another rank may have written it while this one waited for the lock.
  if (read_prepared(file, key, c)) {
    if (from_cache) *from_cache = true;
    return c;
  }
  c = preprocess_case(entry, d);
  if (from_cache) *from_cache = false;
  // A read-only dataset folder (or full disk) only costs speed: the case is still returned.
  try {
    write_prepared(file, c, key);
  } catch (const std::exception& e) {
    spdlog::warn("preprocessing cache not written ({}); the case is preprocessed again next time", e.what());
  }
  return c;
}

}  // namespace ablate::trainer::data
