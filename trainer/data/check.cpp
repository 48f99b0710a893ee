#include "trainer/data/check.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>

#include "trainer/data/dataset.hpp"
#include "trainer/data/nifti.hpp"

namespace ablate::trainer::data {

namespace fs = std::filesystem;

namespace {

std::string dims_str(const std::array<int, 3>& d) {
  return std::to_string(d[0]) + "x" + std::to_string(d[1]) + "x" + std::to_string(d[2]);
}

std::string fmt(double v, int prec = 3) {
  std::ostringstream s;
  s.precision(prec);
  s << v;
  return s.str();
}

// What the summary reports over the cases that could be read (consistent or not).
struct Extent {
  std::array<int, 3> dmin{std::numeric_limits<int>::max(), std::numeric_limits<int>::max(),
                          std::numeric_limits<int>::max()};
  std::array<int, 3> dmax{0, 0, 0};
  std::array<double, 3> smin{1e30, 1e30, 1e30}, smax{0, 0, 0};
  double imin = 1e30, imax = -1e30, fg_sum = 0;
  std::int64_t total_slices = 0;
  int measured = 0;
};

// Both files are looked at even when one fails, so a case's every problem is listed in one pass.
bool read_case_files(const CaseEntry& c, CheckReport& rep, Volume& img, Volume& lab) {
  bool usable = true;
  auto read = [&](const std::string& path, const char* what, Volume& into) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      rep.problems.push_back(path + ": " + what + " file missing (case " + c.id + ")");
      usable = false;
      return;
    }
    try {
      into = read_nifti(path);
    } catch (const std::exception& e) {
      rep.problems.push_back(e.what());
      usable = false;
    }
  };
  read(c.image, "image", img);
  read(c.label, "label", lab);
  return usable;
}

bool check_geometry(const CaseEntry& c, const Volume& img, const Volume& lab, CheckReport& rep) {
  if (img.dim != lab.dim) {
    rep.problems.push_back(c.label + ": shape " + dims_str(lab.dim) + " differs from the image's " +
                           dims_str(img.dim) + " (" + c.image + ")");
    return false;
  }
  if (!same_geometry(img, lab)) {
    rep.problems.push_back(c.label +
                           ": orientation/position (voxel-to-world affine) differs from the image's (" +
                           c.image + ")");
    return false;
  }
  return true;
}

// The intensity range takes the values up to the first non-finite one.
bool check_intensities(const CaseEntry& c, const Volume& img, CheckReport& rep, Extent& x) {
  for (float v : img.data) {
    if (!std::isfinite(v)) {
      rep.problems.push_back(c.image + ": holds non-finite values (NaN/Inf)");
      return false;
    }
    x.imin = std::min<double>(x.imin, v);
    x.imax = std::max<double>(x.imax, v);
  }
  return true;
}

// Label values must be integers in 0..255 (the first bad one is named) and, where dataset.json lists labels,
// one of them. Returns false on either problem; counts the cases holding each value and the foreground
// fraction.
bool check_labels(const CaseEntry& c, const DatasetInfo& info, const Volume& lab, CheckReport& rep,
                  Extent& x) {
  std::set<int> values;
  bool bad_value = false;
  std::int64_t fg = 0;
  for (float v : lab.data) {
    const long r = std::lround(v);
    if (!std::isfinite(v) || std::abs(v - static_cast<float>(r)) > 1e-3f || r < 0 || r > 255) {
      if (!bad_value)
        rep.problems.push_back(c.label + ": label value " + fmt(v) + " is not an integer in 0..255");
      bad_value = true;
      continue;
    }
    values.insert(static_cast<int>(r));
    fg += r > 0;
  }
  bool good = !bad_value;
  for (int v : values) {
    rep.label_cases[v]++;
    if (!info.labels.empty() && !info.labels.count(v)) {
      std::string allowed;
      for (const auto& kv : info.labels) allowed += (allowed.empty() ? "" : ", ") + std::to_string(kv.first);
      rep.problems.push_back(c.label + ": unexpected label value " + std::to_string(v) +
                             " (dataset.json \"labels\" allows " + allowed + ")");
      good = false;
    }
  }
  x.fg_sum += lab.voxels() ? static_cast<double>(fg) / lab.voxels() : 0.0;
  return good;
}

void measure_shape(const Volume& img, Extent& x) {
  for (int a = 0; a < 3; ++a) {
    x.dmin[a] = std::min(x.dmin[a], img.dim[a]);
    x.dmax[a] = std::max(x.dmax[a], img.dim[a]);
    x.smin[a] = std::min(x.smin[a], img.spacing[a]);
    x.smax[a] = std::max(x.smax[a], img.spacing[a]);
  }
  x.total_slices += img.dim[2];
  ++x.measured;
}

// Files in imagesTr/labelsTr that dataset.json does not list: harmless, but often a sign of a mistake.
void note_unlisted_files(const DatasetInfo& info, const std::set<std::string>& listed, CheckReport& rep) {
  for (const char* sub : {"imagesTr", "labelsTr"}) {
    std::error_code ec;
    fs::path folder = fs::path(info.root) / sub;
    if (!fs::is_directory(folder, ec)) continue;
    for (const auto& e : fs::directory_iterator(folder, ec)) {
      const std::string name = e.path().filename().string();
      if (name.empty() || name[0] == '.' || !is_nifti_name(name)) continue;
      if (!listed.count(e.path().lexically_normal().string())) rep.notes.push_back(e.path().string() + ": not listed in dataset.json");
    }
  }
}

std::string summary_text(const DatasetInfo& info, const CheckReport& rep, const Extent& x) {
  std::ostringstream s;
  s << "dataset " << info.name << " (" << info.root << ")\n";
  s << "  cases: " << rep.cases << " listed, " << rep.readable_cases << " readable and consistent\n";
  if (x.measured > 0) {
    s << "  shape (x, y, z): " << x.dmin[0] << ".." << x.dmax[0] << " x " << x.dmin[1] << ".." << x.dmax[1]
      << " x " << x.dmin[2] << ".." << x.dmax[2] << " voxels, " << x.total_slices << " axial slices\n";
    s << "  spacing (mm): " << fmt(x.smin[0]) << ".." << fmt(x.smax[0]) << " x " << fmt(x.smin[1]) << ".."
      << fmt(x.smax[1]) << " x " << fmt(x.smin[2]) << ".." << fmt(x.smax[2]) << "\n";
    s << "  intensity: " << fmt(x.imin, 6) << " .. " << fmt(x.imax, 6) << "\n";
    s << "  label values (cases holding them):";
    for (const auto& kv : rep.label_cases) {
      s << " " << kv.first;
      auto it = info.labels.find(kv.first);
      if (it != info.labels.end() && !it->second.empty()) s << " " << it->second;
      s << " (" << kv.second << ")";
    }
    s << "\n";
    const int counted = std::max(1, x.measured);
    s << "  mean foreground fraction: " << fmt(100.0 * x.fg_sum / counted, 3) << " % of voxels\n";
  }
  s << "  problems: " << rep.problems.size() << "\n";
  return s.str();
}

}  // namespace

CheckReport check_dataset(const std::string& dir) {
  CheckReport rep;
  DatasetInfo info;
  try {
    info = read_dataset(dir, &rep.problems);
  } catch (const std::exception& e) {
    rep.problems.push_back(e.what());
    rep.root = dir;
    rep.summary = "dataset " + dir + ": cannot be read\n";
    return rep;
  }
  rep.root = info.root;
  rep.cases = static_cast<int>(info.cases.size());
  if (info.cases.empty())
    rep.problems.push_back(info.root + "/dataset.json: \"training\" lists no usable case");

  Extent extent;
  std::set<std::string> listed;
  for (const CaseEntry& c : info.cases) {
    listed.insert(fs::path(c.image).lexically_normal().string());
    listed.insert(fs::path(c.label).lexically_normal().string());
    Volume img, lab;
    if (!read_case_files(c, rep, img, lab)) continue;
    bool good = check_geometry(c, img, lab, rep);
    good = check_intensities(c, img, rep, extent) && good;
    good = check_labels(c, info, lab, rep, extent) && good;
    measure_shape(img, extent);
    if (good) rep.readable_cases++;
  }
  note_unlisted_files(info, listed, rep);
  rep.summary = summary_text(info, rep, extent);
  return rep;
}

}  // namespace ablate::trainer::data
