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
  if (info.cases.empty()) rep.problems.push_back(info.root + "/dataset.json: \"training\" lists no usable case");

  std::array<int, 3> dmin{std::numeric_limits<int>::max(), std::numeric_limits<int>::max(), std::numeric_limits<int>::max()}, dmax{0, 0, 0};
  std::array<double, 3> smin{1e30, 1e30, 1e30}, smax{0, 0, 0};
  double imin = 1e30, imax = -1e30, fg_sum = 0;
  std::int64_t total_slices = 0;
  int measured = 0;
  std::set<std::string> listed;
  for (const CaseEntry& c : info.cases) {
    listed.insert(fs::path(c.image).lexically_normal().string());
    listed.insert(fs::path(c.label).lexically_normal().string());
    // Both files are looked at even when one fails, so a case's every problem is listed in one pass.
    Volume img, lab;
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
    if (!usable) continue;
    bool good = true;
    if (img.dim != lab.dim) {
      rep.problems.push_back(c.label + ": shape " + dims_str(lab.dim) + " differs from the image's " + dims_str(img.dim) + " (" + c.image + ")");
      good = false;
    } else if (!same_geometry(img, lab)) {
      rep.problems.push_back(c.label + ": orientation/position (voxel-to-world affine) differs from the image's (" + c.image + ")");
      good = false;
    }
    bool finite = true;
    for (float v : img.data) {
      if (!std::isfinite(v)) {
        finite = false;
        break;
      }
      imin = std::min<double>(imin, v);
      imax = std::max<double>(imax, v);
    }
    if (!finite) {
      rep.problems.push_back(c.image + ": holds non-finite values (NaN/Inf)");
      good = false;
    }
    std::set<int> values;
    bool bad_value = false;
    std::int64_t fg = 0;
    for (float v : lab.data) {
      const long r = std::lround(v);
      if (!std::isfinite(v) || std::abs(v - static_cast<float>(r)) > 1e-3f || r < 0 || r > 255) {
        if (!bad_value) rep.problems.push_back(c.label + ": label value " + fmt(v) + " is not an integer in 0..255");
        bad_value = true;
        continue;
      }
      values.insert(static_cast<int>(r));
      fg += r > 0;
    }
    for (int v : values) {
      rep.label_cases[v]++;
      if (!info.labels.empty() && !info.labels.count(v)) {
        std::string allowed;
        for (const auto& kv : info.labels) allowed += (allowed.empty() ? "" : ", ") + std::to_string(kv.first);
        rep.problems.push_back(c.label + ": unexpected label value " + std::to_string(v) + " (dataset.json \"labels\" allows " + allowed + ")");
        good = false;
      }
    }
    if (bad_value) good = false;
    for (int a = 0; a < 3; ++a) {
      dmin[a] = std::min(dmin[a], img.dim[a]);
      dmax[a] = std::max(dmax[a], img.dim[a]);
      smin[a] = std::min(smin[a], img.spacing[a]);
      smax[a] = std::max(smax[a], img.spacing[a]);
    }
    total_slices += img.dim[2];
    ++measured;
    fg_sum += lab.voxels() ? static_cast<double>(fg) / lab.voxels() : 0.0;
    if (good) rep.readable_cases++;
  }
  // Files in imagesTr/labelsTr that dataset.json does not list: harmless, but often a sign of a mistake.
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

  std::ostringstream s;
  s << "dataset " << info.name << " (" << info.root << ")\n";
  s << "  cases: " << rep.cases << " listed, " << rep.readable_cases << " readable and consistent\n";
  if (measured > 0) {
    s << "  shape (x, y, z): " << dmin[0] << ".." << dmax[0] << " x " << dmin[1] << ".." << dmax[1] << " x " << dmin[2] << ".." << dmax[2]
      << " voxels, " << total_slices << " axial slices\n";
    s << "  spacing (mm): " << fmt(smin[0]) << ".." << fmt(smax[0]) << " x " << fmt(smin[1]) << ".." << fmt(smax[1]) << " x "
      << fmt(smin[2]) << ".." << fmt(smax[2]) << "\n";
    s << "  intensity: " << fmt(imin, 6) << " .. " << fmt(imax, 6) << "\n";
    s << "  label values (cases holding them):";
    for (const auto& kv : rep.label_cases) {
      s << " " << kv.first;
      auto it = info.labels.find(kv.first);
      if (it != info.labels.end() && !it->second.empty()) s << " " << it->second;
      s << " (" << kv.second << ")";
    }
    s << "\n";
    const int counted = std::max(1, measured);
    s << "  mean foreground fraction: " << fmt(100.0 * fg_sum / counted, 3) << " % of voxels\n";
  }
  s << "  problems: " << rep.problems.size() << "\n";
  rep.summary = s.str();
  return rep;
}

}  // namespace ablate::trainer::data
