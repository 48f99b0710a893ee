#include "trainer/data/nifti.hpp"

#include <nifti1_io.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace ablate::trainer::data {

namespace fs = std::filesystem;

namespace {

// niftilib keeps its verbosity in a global; errors are reported by us, naming the file.
void quiet_niftilib() {
  static std::once_flag once;
  std::call_once(once, [] { nifti_set_debug_level(0); });
}

struct NimDeleter {
  void operator()(nifti_image* nim) const { nifti_image_free(nim); }
};
using NimPtr = std::unique_ptr<nifti_image, NimDeleter>;

template <typename T>
void convert(const void* src, std::size_t n, float slope, float inter, std::vector<float>& out) {
  const T* p = static_cast<const T*>(src);
  out.resize(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(static_cast<double>(p[i]) * slope + inter);
}

Volume header_of(const nifti_image* nim, const std::string& path) {
  Volume v;
  if (nim->ndim < 2 || nim->ndim > 5) {
    throw std::runtime_error(path + ": a 3D volume was expected, the header has " + std::to_string(nim->ndim) +
                             " dimensions");
  }
  for (int d = 4; d <= 7; ++d) {
    if (nim->dim[0] >= d && nim->dim[d] > 1) {
      throw std::runtime_error(path + ": a 3D volume was expected, dimension " + std::to_string(d) + " has size " +
                               std::to_string(nim->dim[d]) + " (multi-channel/4D volumes are not supported)");
    }
  }
  v.dim = {nim->nx, nim->ny, nim->ndim >= 3 ? nim->nz : 1};
  for (int d = 0; d < 3; ++d) {
    if (v.dim[d] <= 0) throw std::runtime_error(path + ": invalid dimension " + std::to_string(v.dim[d]));
  }
  v.spacing = {std::fabs(nim->dx) > 0 ? std::fabs(nim->dx) : 1.0, std::fabs(nim->dy) > 0 ? std::fabs(nim->dy) : 1.0,
               nim->ndim >= 3 && std::fabs(nim->dz) > 0 ? std::fabs(nim->dz) : 1.0};
  const mat44* m = nim->sform_code > 0 ? &nim->sto_xyz : nim->qform_code > 0 ? &nim->qto_xyz : nullptr;
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) {
      v.affine[r][c] = m ? m->m[r][c] : (r == c ? (r < 3 ? v.spacing[r] : 1.0) : 0.0);
    }
  }
  v.datatype = nim->datatype;
  return v;
}

// Whether a gzip file holds at least `expected` bytes. niftilib zero-fills the data of a truncated .nii.gz
// silently, so this is checked here: first against the gzip trailer (ISIZE = size mod 2^32, cheap), and
// only when that disagrees (a truncated file, or a multi-member gzip) by decompressing the whole stream.
bool gz_complete(const std::string& path, std::uintmax_t expected) {
  {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    unsigned char tail[4] = {0, 0, 0, 0};
    const bool ok = std::fseek(f, -4, SEEK_END) == 0 && std::fread(tail, 1, 4, f) == 4;
    std::fclose(f);
    const std::uint32_t isize = tail[0] | (tail[1] << 8) | (tail[2] << 16) | (static_cast<std::uint32_t>(tail[3]) << 24);
    if (ok && isize == static_cast<std::uint32_t>(expected & 0xFFFFFFFFu)) return true;
  }
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) return false;
  std::vector<char> buf(1 << 20);
  std::uintmax_t total = 0;
  int n = 0;
  while ((n = gzread(gz, buf.data(), static_cast<unsigned>(buf.size()))) > 0) total += static_cast<std::uintmax_t>(n);
  int err = Z_OK;
  gzerror(gz, &err);
  gzclose(gz);
  return n == 0 && (err == Z_OK || err == Z_STREAM_END) && total >= expected;
}

NimPtr open(const std::string& path, bool read_data) {
  quiet_niftilib();
  std::error_code ec;
  if (!fs::exists(path, ec)) throw std::runtime_error(path + ": file not found");
  if (!fs::is_regular_file(path, ec)) throw std::runtime_error(path + ": not a regular file");
  // With both X.nii and X.nii.gz present niftilib mixes them up (header of one, data of the other).
  std::string sibling = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0 ? path.substr(0, path.size() - 3)
                                                                                         : path + ".gz";
  if (is_nifti_name(sibling) && fs::exists(sibling, ec)) {
    throw std::runtime_error(path + ": both " + fs::path(path).filename().string() + " and " +
                             fs::path(sibling).filename().string() + " exist; niftilib cannot tell them apart: remove one");
  }
  NimPtr nim(nifti_image_read(path.c_str(), read_data ? 1 : 0));
  if (!nim) {
    throw std::runtime_error(path + (read_data ? ": unreadable NIfTI file (bad header, or the data is truncated or corrupt)"
                                               : ": unreadable NIfTI header"));
  }
  // niftilib silently reads an uncompressed file that is too short from a shifted offset, so the size
  // is checked here (compressed files fail inside niftilib on a short read).
  const std::uintmax_t need = static_cast<std::uintmax_t>(nim->iname_offset) + static_cast<std::uintmax_t>(nim->nvox) * nim->nbyper;
  if (read_data && nim->iname && nifti_is_gzfile(nim->iname) && !gz_complete(nim->iname, need)) {
    throw std::runtime_error(std::string(nim->iname) + ": truncated or corrupt NIfTI file (the gzip stream ends before the " +
                             std::to_string(need) + " bytes the header needs)");
  }
  if (nim->iname && !nifti_is_gzfile(nim->iname)) {
    std::uintmax_t have = fs::file_size(nim->iname, ec);
    if (!ec && have < need) {
      throw std::runtime_error(std::string(nim->iname) + ": truncated NIfTI file (" + std::to_string(have) + " bytes, the header needs " +
                               std::to_string(need) + ")");
    }
  }
  return nim;
}

}  // namespace

Volume read_nifti_header(const std::string& path) {
  NimPtr nim = open(path, false);
  return header_of(nim.get(), path);
}

Volume read_nifti(const std::string& path) {
  NimPtr nim = open(path, true);
  Volume v = header_of(nim.get(), path);
  if (!nim->data) throw std::runtime_error(path + ": the NIfTI file has no image data");
  float slope = nim->scl_slope, inter = nim->scl_inter;
  if (slope == 0.0f || !std::isfinite(slope) || !std::isfinite(inter)) {
    slope = 1.0f;
    inter = 0.0f;
  }
  std::size_t n = v.voxels();
  if (nim->nvox < n) throw std::runtime_error(path + ": fewer voxels in the data than the header's dimensions");
  switch (nim->datatype) {
    case DT_UINT8: convert<std::uint8_t>(nim->data, n, slope, inter, v.data); break;
    case DT_INT8: convert<std::int8_t>(nim->data, n, slope, inter, v.data); break;
    case DT_INT16: convert<std::int16_t>(nim->data, n, slope, inter, v.data); break;
    case DT_UINT16: convert<std::uint16_t>(nim->data, n, slope, inter, v.data); break;
    case DT_INT32: convert<std::int32_t>(nim->data, n, slope, inter, v.data); break;
    case DT_UINT32: convert<std::uint32_t>(nim->data, n, slope, inter, v.data); break;
    case DT_INT64: convert<std::int64_t>(nim->data, n, slope, inter, v.data); break;
    case DT_UINT64: convert<std::uint64_t>(nim->data, n, slope, inter, v.data); break;
    case DT_FLOAT32: convert<float>(nim->data, n, slope, inter, v.data); break;
    case DT_FLOAT64: convert<double>(nim->data, n, slope, inter, v.data); break;
    default:
      throw std::runtime_error(path + ": unsupported NIfTI data type " + std::string(nifti_datatype_string(nim->datatype)) +
                               " (allowed: integer types up to 64 bit, float32, float64)");
  }
  return v;
}

NonFiniteVoxels find_non_finite(const std::string& path) {
  NimPtr nim = open(path, false);
  NonFiniteVoxels out;
  const std::size_t per = static_cast<std::size_t>(nim->nbyper);
  if ((nim->datatype != DT_FLOAT32 && nim->datatype != DT_FLOAT64) || !nim->iname) return out;
  znzFile fp = znzopen(nim->iname, "rb", nifti_is_gzfile(nim->iname));
  if (znz_isnull(fp)) throw std::runtime_error(std::string(nim->iname) + ": cannot open the image data");
  struct Closer {
    znzFile& f;
    ~Closer() { znzclose(f); }
  } closer{fp};
  if (znzseek(fp, static_cast<znz_off_t>(nim->iname_offset), SEEK_SET) < 0) {
    throw std::runtime_error(std::string(nim->iname) + ": cannot seek to the image data");
  }
  const bool swap = nim->byteorder != nifti_short_order();
  std::vector<unsigned char> buf(std::size_t{1} << 20);  // a multiple of 4 and 8
  // The voxels read_nifti keeps (x-fastest over dim 1..3), never more than the file's.
  const Volume shape = header_of(nim.get(), path);
  const std::size_t total = std::min(static_cast<std::size_t>(nim->nvox), shape.voxels());
  for (std::size_t done = 0; done < total;) {
    const std::size_t got = znzread(buf.data(), per, std::min(total - done, buf.size() / per), fp);
    if (got == 0) break;  // a short file: read_nifti says so
    if (swap) per == 4 ? nifti_swap_4bytes(got, buf.data()) : nifti_swap_8bytes(got, buf.data());
    for (std::size_t i = 0; i < got; ++i) {
      double v = 0;
      if (per == 4) {
        float f = 0;
        std::memcpy(&f, buf.data() + i * 4, 4);
        v = f;
      } else {
        std::memcpy(&v, buf.data() + i * 8, 8);
      }
      if (!std::isfinite(v) && out.count++ == 0) out.first = done + i;
    }
    done += got;
  }
  return out;
}

void write_nifti(const std::string& path, const Volume& volume, int datatype, double slope, double inter) {
  quiet_niftilib();
  if (volume.data.size() != volume.voxels()) {
    throw std::runtime_error(path + ": volume data size does not match its dimensions");
  }
  int dims[8] = {3, volume.dim[0], volume.dim[1], volume.dim[2], 1, 1, 1, 1};
  NimPtr nim(nifti_make_new_nim(dims, datatype, 1));
  if (!nim) throw std::runtime_error(path + ": cannot create a NIfTI image of data type " + std::to_string(datatype));
  if (nifti_set_filenames(nim.get(), path.c_str(), 0, 1) != 0) {
    throw std::runtime_error(path + ": not a valid NIfTI file name (expected .nii or .nii.gz)");
  }
  nim->dx = nim->pixdim[1] = static_cast<float>(volume.spacing[0]);
  nim->dy = nim->pixdim[2] = static_cast<float>(volume.spacing[1]);
  nim->dz = nim->pixdim[3] = static_cast<float>(volume.spacing[2]);
  nim->xyz_units = NIFTI_UNITS_MM;
  nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
  nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
  nim->quatern_b = nim->quatern_c = nim->quatern_d = 0.0f;
  nim->qoffset_x = nim->qoffset_y = nim->qoffset_z = 0.0f;
  nim->qfac = 1.0f;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) nim->sto_xyz.m[r][c] = (r == c) ? (r < 3 ? static_cast<float>(volume.spacing[r]) : 1.0f) : 0.0f;
  nim->qto_xyz = nim->sto_xyz;
  bool scaled = slope != 1.0 || inter != 0.0;
  if (scaled) {
    nim->scl_slope = static_cast<float>(slope);
    nim->scl_inter = static_cast<float>(inter);
  }
  std::size_t n = volume.voxels();
  auto stored = [&](std::size_t i) { return scaled ? (volume.data[i] - inter) / slope : volume.data[i]; };
  switch (datatype) {
    case DT_UINT8: {
      auto* p = static_cast<std::uint8_t*>(nim->data);
      for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(std::lround(std::clamp(stored(i), 0.0, 255.0)));
      break;
    }
    case DT_INT16: {
      auto* p = static_cast<std::int16_t*>(nim->data);
      for (std::size_t i = 0; i < n; ++i)
        p[i] = static_cast<std::int16_t>(std::lround(std::clamp(stored(i), -32768.0, 32767.0)));
      break;
    }
    case DT_INT32: {
      auto* p = static_cast<std::int32_t*>(nim->data);
      for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::int32_t>(std::lround(stored(i)));
      break;
    }
    case DT_FLOAT32: {
      auto* p = static_cast<float*>(nim->data);
      for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<float>(stored(i));
      break;
    }
    case DT_FLOAT64: {
      auto* p = static_cast<double*>(nim->data);
      for (std::size_t i = 0; i < n; ++i) p[i] = stored(i);
      break;
    }
    default: throw std::runtime_error(path + ": writing data type " + std::to_string(datatype) + " is not supported");
  }
  std::error_code ec;
  fs::remove(path, ec);
  nifti_image_write(nim.get());
  if (!fs::exists(path, ec) || fs::file_size(path, ec) == 0) throw std::runtime_error(path + ": writing the NIfTI file failed");
}

bool is_nifti_name(const std::string& name) {
  auto ends = [&](const std::string& s) { return name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0; };
  return ends(".nii") || ends(".nii.gz");
}

std::string nifti_stem(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  for (const char* ext : {".nii.gz", ".nii"}) {
    std::string e(ext);
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0) return name.substr(0, name.size() - e.size());
  }
  return name;
}

bool same_geometry(const Volume& a, const Volume& b) {
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) {
      const double x = a.affine[r][c], y = b.affine[r][c];
      if (std::abs(x - y) > std::max(1e-4, 1e-3 * std::max(std::abs(x), std::abs(y)))) return false;
    }
  return true;
}

}  // namespace ablate::trainer::data
