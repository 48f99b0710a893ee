// NIfTI-1 volumes through niftilib (.nii and .nii.gz). LibTorch-free.
//
// Contract: no state kept between calls (niftilib's debug level is set once, under std::call_once); reads
// of any files may run concurrently from several threads (the trainer's concurrent tasks do); two writes
// of one path race. Volumes are values, owned by the caller. Every failure throws std::runtime_error
// naming the file.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <vector>

namespace ablate::trainer::data {

// A 3D scalar volume. data is x-fastest (index = x + nx * (y + ny * z)), as stored in the file, with the
// header's scl_slope/scl_inter applied (slope 0 means "no scaling", per the NIfTI-1 standard).
struct Volume {
  std::array<int, 3> dim{0, 0, 0};              // nx, ny, nz
  std::array<double, 3> spacing{1.0, 1.0, 1.0};  // pixdim[1..3] in mm (xyz_units are taken as mm)
  // Voxel (i, j, k) to world (x, y, z): the sform when sform_code > 0, else the qform when qform_code > 0,
  // else diag(spacing) (NIfTI-1 "method 1").
  std::array<std::array<double, 4>, 4> affine{};
  int datatype = 0;                              // DT_* code in the file
  std::vector<float> data;

  std::size_t voxels() const { return static_cast<std::size_t>(dim[0]) * dim[1] * dim[2]; }
  float at(int x, int y, int z) const { return data[x + static_cast<std::size_t>(dim[0]) * (y + static_cast<std::size_t>(dim[1]) * z)]; }
};

// Reads a volume. Throws std::runtime_error naming the file on a missing, unreadable or truncated file,
// an unsupported data type, or more than one time point / channel.
Volume read_nifti(const std::string& path);
// Only the header: dim, spacing, affine, datatype (data stays empty).
Volume read_nifti_header(const std::string& path);

// The voxels of a float32/float64 volume that hold NaN or an infinity, from the raw data. niftilib
// replaces each of them with 0 as it reads (nifti_read_buffer), so read_nifti never shows them: a NaN in a
// predicted label map would read as background. Integer volumes have none (count 0, nothing read).
// Throws std::runtime_error naming the file when it cannot be opened.
struct NonFiniteVoxels {
  std::size_t count = 0;
  std::size_t first = 0;  // index (x-fastest) of the first one, when count > 0
};
NonFiniteVoxels find_non_finite(const std::string& path);

// Writes a volume; datatype is a DT_* code (DT_UINT8 = 2, DT_INT16 = 4, DT_FLOAT32 = 16). Integer types
// are rounded; with slope != 1 or inter != 0 the stored values are (value - inter) / slope and the
// header carries scl_slope/scl_inter. The affine is diag(spacing) (sform and qform code 1, "scanner").
// A ".gz" suffix compresses. Throws std::runtime_error naming the file on failure.
void write_nifti(const std::string& path, const Volume& volume, int datatype, double slope = 1.0, double inter = 0.0);

// Whether two volumes share their voxel-to-world affine (orientation, position, spacing): every entry within
// 1e-3 of the larger magnitude or 1e-4 absolute, since float32 headers written by different tools round
// differently.
bool same_geometry(const Volume& a, const Volume& b);

// DT_* codes used by this project (mirrors nifti1.h so callers need not include it).
constexpr int kDtUint8 = 2;
constexpr int kDtInt16 = 4;
constexpr int kDtInt32 = 8;
constexpr int kDtFloat32 = 16;
constexpr int kDtFloat64 = 64;

// True for file names ending in .nii or .nii.gz.
bool is_nifti_name(const std::string& name);
// The file name without directory and without .nii/.nii.gz.
std::string nifti_stem(const std::string& path);

}  // namespace ablate::trainer::data
