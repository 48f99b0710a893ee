// libFuzzer target: the NIfTI reader (trainer/data/nifti.cpp over niftilib) on arbitrary bytes, written to
// a file named .nii, or .nii.gz when the bytes start with the gzip magic. Contract checked: the header
// reader, and the full reader and the raw scan for NaN and infinities (find_non_finite) for volumes of at
// most 16 MiB, return or throw std::runtime_error; no crash and no sanitizer report.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "trainer/data/nifti.hpp"

namespace {

const std::string& work_dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/ablate-fuzz-nifti-XXXXXX";
    return std::string(mkdtemp(tmpl));
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  const std::string path = work_dir() + (gz ? "/v.nii.gz" : "/v.nii");
  std::filesystem::remove(work_dir() + (gz ? "/v.nii" : "/v.nii.gz"));  // never both (the reader refuses that)
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  using namespace ablate::trainer::data;
  try {
    const Volume header = read_nifti_header(path);
    const double voxels = static_cast<double>(header.dim[0]) * header.dim[1] * header.dim[2];
    if (voxels * 8 <= 16.0 * (1 << 20)) {
      const Volume v = read_nifti(path);
      if (v.data.size() != v.voxels()) std::abort();
      // The raw scan for NaN and infinities (ablate evaluate) over the same bytes.
      const NonFiniteVoxels nf = find_non_finite(path);
      if (nf.count > v.voxels() || (nf.count > 0 && nf.first >= v.voxels())) std::abort();
    }
  } catch (const std::runtime_error&) {
    // An unreadable file, named in the message: the expected outcome for most inputs.
  }
  return 0;
}
