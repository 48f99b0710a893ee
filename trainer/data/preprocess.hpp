// From a case's NIfTI volumes to 2D training slices: slicing along data.axis, intensity handling
// (HU window clipped and scaled to [0, 1], per-volume z-score, or none), resizing to image_size x
// image_size (bilinear for the image, nearest for the label) and the label mapping (data.label_groups).
// The result is cached on disk per case and preprocessing setting. LibTorch-free.
//
// Contract: functions of their arguments and the files, no state in memory; any thread or rank may call
// them at once, also for the same case: the cache is shared only through files written whole (temporary
// file + rename), so a reader sees no file or a complete one. A bad input throws std::runtime_error naming
// the file or the data.* key; a missing, stale or broken cache file is rebuilt, never an error.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ablations/config.hpp"
#include "trainer/data/dataset.hpp"

namespace ablate::trainer::data {

// Slicing of a volume along an axis (data.axis): in-plane rows = the higher remaining axis, columns = the
// lower one (axis z: rows y, columns x). PreparedCase, NativeLabel and `ablate evaluate` share this layout.
struct SliceAxes {
  int axis = 2, row_axis = 1, col_axis = 0;
  int slices = 0, rows = 0, cols = 0;
  std::array<int, 3> dim{0, 0, 0};

  SliceAxes(const std::array<int, 3>& d, int a)
      : axis(a), row_axis(a == 2 ? 1 : 2), col_axis(a == 0 ? 1 : 0), slices(d[a]), rows(d[row_axis]), cols(d[col_axis]), dim(d) {}
  // Index into the x-fastest volume of pixel (r, q) of slice s.
  std::size_t index(int s, int r, int q) const {
    int idx[3];
    idx[axis] = s;
    idx[row_axis] = r;
    idx[col_axis] = q;
    return idx[0] + static_cast<std::size_t>(dim[0]) * (idx[1] + static_cast<std::size_t>(dim[1]) * idx[2]);
  }
  // Voxel spacing in this layout: {between slices, between rows, between columns}.
  std::array<double, 3> spacing_of(const std::array<double, 3>& xyz) const { return {xyz[axis], xyz[row_axis], xyz[col_axis]}; }
};

// One preprocessed case: `slices` images of size x size, slice-major (index = (s * size + row) * size + col).
struct PreparedCase {
  std::string id;
  int slices = 0;
  int size = 0;
  // Voxel spacing of the prepared grid in mm: {between slices, between rows, between columns}; in-plane
  // spacing is the source spacing times source extent / size (resizing keeps the physical extent).
  std::array<double, 3> spacing{1.0, 1.0, 1.0};
  std::array<int, 3> source_dim{0, 0, 0};  // nx, ny, nz of the NIfTI volume
  std::vector<float> image;
  std::vector<std::uint8_t> label;         // mapped classes 0..foreground_classes()

  std::size_t pixels_per_slice() const { return static_cast<std::size_t>(size) * size; }
  bool slice_has_foreground(int s) const;
};

// A case's label at its own in-plane resolution, sliced along data.axis as PreparedCase is (slice-major,
// rows x cols per slice, the same row/column axes) and mapped to classes: the ground truth of the test
// metrics under data.evaluate_at = "native".
struct NativeLabel {
  std::string id;
  int slices = 0, rows = 0, cols = 0;
  std::array<double, 3> spacing{1.0, 1.0, 1.0};  // mm: {between slices, between rows, between columns}
  std::vector<std::uint8_t> label;
};

// Reads and maps the label of one case (no resizing). Throws std::runtime_error naming the file.
NativeLabel load_native_label(const CaseEntry& entry, const DataConfig& data);

// The class a source label value maps to: label_groups empty = every value > 0 is class 1; otherwise the
// 1-based index of the group holding the value, 0 when no group holds it.
int map_label(int source_label, const DataConfig& data);

// Reads and preprocesses one case (no cache). Throws std::runtime_error naming the file on bad input
// (unreadable volume, image/label shape mismatch).
PreparedCase preprocess_case(const CaseEntry& entry, const DataConfig& data);

// The cache key of a case under a setting: a hash of the input files (path, size, modification time), the
// preprocessing keys of `data` and the cache format version.
std::string preprocessing_key(const CaseEntry& entry, const DataConfig& data);

// data.cache_dir, or <data.path>/.ablate-cache when empty.
std::string cache_dir_for(const DataConfig& data);

// The case from the cache, preprocessing it (and storing it atomically: temporary file + rename, so
// several ranks starting at once never see a partial file) when it is missing or stale.
// from_cache (optional) tells which happened.
PreparedCase load_case(const CaseEntry& entry, const DataConfig& data, bool* from_cache = nullptr);

// The slice count and size of a case from the header of its cache file, without reading the slices;
// false when the case is not (validly) in the cache.
bool cached_case_shape(const CaseEntry& entry, const DataConfig& data, int& slices, int& size);

// Checks the preprocessing keys of `data` and throws std::runtime_error naming the key and the allowed
// values (data.axis, data.intensity, data.window_*, data.image_size, data.label_groups, data.empty_slice_ratio).
void validate_data_config(const DataConfig& data);

// Cache file I/O (exposed for tests).
void write_prepared(const std::string& path, const PreparedCase& c, const std::string& key);
// Returns false when the file is missing, truncated, of another format version or of another key.
bool read_prepared(const std::string& path, const std::string& key, PreparedCase& c);

}  // namespace ablate::trainer::data
