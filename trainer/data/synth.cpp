#include "trainer/data/synth.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "ablations/output.hpp"
#include "trainer/data/nifti.hpp"
#include "trainer/data/random.hpp"

namespace ablate::trainer::data {

namespace fs = std::filesystem;

namespace {

constexpr double kPi = 3.14159265358979323846;

// One case: a body ellipse (soft tissue ~40 HU) in a subcutaneous fat ring (-100 HU) surrounded by air
// (-1000 HU), a vertebra (bone ~400 HU) at the back, a large liver-like organ (~60 HU) on the image left,
// and the target organ (label 1) of random size, lobulated shape and contrast, optionally with a darker
// tumour (label 2). All geometry is in voxel units scaled with `size`, and varies smoothly along z.
void make_case(const SynthOptions& o, int index, Volume& image, Volume& label) {
  Rng rng(mix_seed(o.seed, 0x5EED, static_cast<std::uint64_t>(index)));
  const int n = o.size, nz = o.slices;
  image.dim = label.dim = {n, n, nz};
  image.spacing = label.spacing = o.spacing;
  image.data.assign(image.voxels(), -1000.0f);
  label.data.assign(label.voxels(), 0.0f);

  const double c = (n - 1) / 2.0;
  const double body_a = n * rng.uniform(0.40, 0.47), body_b = n * rng.uniform(0.30, 0.38);
  const double fat = rng.uniform(0.06, 0.12);  // relative thickness of the fat ring
  const double tissue = rng.uniform(30.0, 50.0);
  const double liver_hu = tissue + rng.uniform(10.0, 30.0);
  const double liver_cx = c - body_a * rng.uniform(0.35, 0.5), liver_cy = c - body_b * rng.uniform(0.0, 0.25);
  const double liver_a = body_a * rng.uniform(0.35, 0.45), liver_b = body_b * rng.uniform(0.45, 0.6);
  const double spine_cy = c + body_b * 0.65, spine_r = n * 0.06;
  // Target organ: small, right of the midline, different size/shape/contrast per case.
  const double organ_cx = c + body_a * rng.uniform(0.1, 0.45), organ_cy = c + body_b * rng.uniform(-0.35, 0.15);
  const double organ_a = n * rng.uniform(0.06, 0.13), organ_b = n * rng.uniform(0.05, 0.11);
  const double organ_rot = rng.uniform(0.0, kPi);
  const double organ_z = nz * rng.uniform(0.35, 0.65), organ_hz = std::max(1.5, nz * rng.uniform(0.2, 0.35));
  const double lobe_amp = rng.uniform(0.0, 0.25), lobe_phase = rng.uniform(0.0, 2 * kPi);
  const int lobes = 2 + static_cast<int>(rng.below(4));
  const double organ_hu = tissue + rng.uniform(o.contrast_min, o.contrast_max);
  const bool has_tumour = o.tumour && rng.uniform() < 0.67;
  const double tumour_r = std::max(1.2, std::min(organ_a, organ_b) * rng.uniform(0.3, 0.55));
  const double tumour_dx = rng.uniform(-0.3, 0.3) * organ_a, tumour_dy = rng.uniform(-0.3, 0.3) * organ_b;
  const double tumour_hu = organ_hu - rng.uniform(25.0, 50.0);
  const double noise = rng.uniform(o.noise_min, o.noise_max);
  // Organs 3 and 4 (SynthOptions::organs): kidney-like ellipses either side of the spine, drawn only for
  // them, so that a dataset of fewer organs keeps its bytes (the noise below reads the same generator).
  double kidney_dx = 0, kidney_cy = 0, kidney_a = 1, kidney_b = 1, kidney_hu = 0;
  if (o.organs >= 3) {
    kidney_dx = body_a * rng.uniform(0.3, 0.4), kidney_cy = spine_cy - body_b * rng.uniform(0.1, 0.2);
    kidney_a = n * rng.uniform(0.05, 0.07), kidney_b = n * rng.uniform(0.07, 0.09);
    kidney_hu = tissue + rng.uniform(25.0, 45.0);
  }
  const float tumour_label = static_cast<float>(o.organs + 1);

  for (int z = 0; z < nz; ++z) {
    const double zt = nz > 1 ? static_cast<double>(z) / (nz - 1) : 0.5;
    const double body_scale = 1.0 - 0.08 * (zt - 0.5) * (zt - 0.5) * 4.0;
    const double liver_scale = std::max(0.0, 1.2 - 1.1 * zt);  // the liver shrinks towards the feet
    const double dz = (z - organ_z) / organ_hz;
    const double organ_scale = dz * dz < 1.0 ? std::sqrt(1.0 - dz * dz) : 0.0;
    for (int y = 0; y < n; ++y) {
      for (int x = 0; x < n; ++x) {
        const std::size_t i = x + static_cast<std::size_t>(n) * (y + static_cast<std::size_t>(n) * z);
        const double ex = (x - c) / (body_a * body_scale), ey = (y - c) / (body_b * body_scale);
        const double r_body = ex * ex + ey * ey;
        if (r_body > 1.0) continue;  // air
        double hu = r_body > (1.0 - fat) * (1.0 - fat) ? -100.0 : tissue;
        if (hu > 0) {
          const double sx = x - c, sy = y - spine_cy;
          if (sx * sx + sy * sy < spine_r * spine_r) hu = 400.0;
          if (liver_scale > 0) {
            const double lx = (x - liver_cx) / (liver_a * liver_scale), ly = (y - liver_cy) / (liver_b * liver_scale);
            if (lx * lx + ly * ly < 1.0) {
              hu = liver_hu;
              if (o.organs >= 2) label.data[i] = 2.0f;
            }
          }
          for (int k = 3; k <= o.organs && organ_scale > 0; ++k) {
            const double kx = (x - (k == 3 ? c - kidney_dx : c + kidney_dx)) / (kidney_a * organ_scale);
            const double ky = (y - kidney_cy) / (kidney_b * organ_scale);
            if (kx * kx + ky * ky < 1.0) {
              hu = kidney_hu;
              label.data[i] = static_cast<float>(k);
            }
          }
          if (organ_scale > 0) {
            const double px = x - organ_cx, py = y - organ_cy;
            const double u = std::cos(organ_rot) * px + std::sin(organ_rot) * py;
            const double v = -std::sin(organ_rot) * px + std::cos(organ_rot) * py;
            const double theta = std::atan2(v, u);
            const double radius = organ_scale * (1.0 + lobe_amp * std::sin(lobes * theta + lobe_phase));
            const double ou = u / organ_a, ov = v / organ_b;
            if (ou * ou + ov * ov < radius * radius) {
              hu = organ_hu;
              label.data[i] = 1.0f;
              if (has_tumour) {
                const double tx = px - tumour_dx, ty = py - tumour_dy;
                const double tz = (z - organ_z) * o.spacing[2] / o.spacing[0];
                if (tx * tx + ty * ty + tz * tz < tumour_r * tumour_r) {
                  hu = tumour_hu;
                  label.data[i] = tumour_label;
                }
              }
            }
          }
        }
        image.data[i] = static_cast<float>(hu);
      }
    }
  }
  // Partial-volume smoothing in-plane (3x3 box), then scanner noise everywhere (air included).
  std::vector<float> smooth(image.data);
  for (int z = 0; z < nz; ++z) {
    for (int y = 1; y + 1 < n; ++y) {
      for (int x = 1; x + 1 < n; ++x) {
        double s = 0;
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) s += image.data[(x + dx) + static_cast<std::size_t>(n) * ((y + dy) + static_cast<std::size_t>(n) * z)];
        smooth[x + static_cast<std::size_t>(n) * (y + static_cast<std::size_t>(n) * z)] = static_cast<float>(s / 9.0);
      }
    }
  }
  for (std::size_t i = 0; i < smooth.size(); ++i) image.data[i] = static_cast<float>(std::round(smooth[i] + noise * rng.normal()));
}

}  // namespace

void write_synthetic_dataset(const std::string& dir, const SynthOptions& o) {
  if (o.cases < 1) throw std::runtime_error("synthetic dataset: --cases must be >= 1");
  if (o.size < 16 || o.size > 1024) throw std::runtime_error("synthetic dataset: --size must be in 16..1024");
  if (o.slices < 1 || o.slices > 1024) throw std::runtime_error("synthetic dataset: --slices must be in 1..1024");
  if (o.organs < 1 || o.organs > 4) throw std::runtime_error("synthetic dataset: --organs must be in 1..4");
  fs::path root(dir);
  std::error_code ec;
  fs::create_directories(root / "imagesTr", ec);
  fs::create_directories(root / "labelsTr", ec);
  if (!fs::is_directory(root / "imagesTr") || !fs::is_directory(root / "labelsTr")) {
    throw std::runtime_error(dir + ": cannot create the dataset folders: " + ec.message());
  }
  std::ostringstream json;
  json << "{\n  \"name\": \"synthetic-abdomen\",\n"
       << "  \"description\": \"ablate data synth: CT-like volumes, seed " << o.seed << "\",\n"
       << "  \"tensorImageSize\": \"3D\",\n  \"modality\": {\"0\": \"CT\"},\n"
       << "  \"labels\": {\"0\": \"background\", \"1\": \"organ\"";
  static const char* const kOrganNames[] = {"organ", "liver", "kidney R", "kidney L"};
  for (int k = 2; k <= o.organs; ++k) json << ", \"" << k << "\": \"" << kOrganNames[k - 1] << "\"";
  if (o.tumour) json << ", \"" << o.organs + 1 << "\": \"tumour\"";
  json << "},\n"
       << "  \"numTraining\": " << o.cases << ",\n  \"numTest\": 0,\n  \"training\": [\n";
  for (int i = 0; i < o.cases; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "synth_%03d", i);
    Volume image, label;
    make_case(o, i, image, label);
    write_nifti((root / "imagesTr" / (std::string(id) + ".nii.gz")).string(), image, kDtInt16);
    write_nifti((root / "labelsTr" / (std::string(id) + ".nii.gz")).string(), label, kDtUint8);
    json << "    {\"image\": \"./imagesTr/" << id << ".nii.gz\", \"label\": \"./labelsTr/" << id << ".nii.gz\"}"
         << (i + 1 < o.cases ? "," : "") << "\n";
  }
  json << "  ],\n  \"test\": []\n}\n";
  fs::path json_path = root / "dataset.json";
  write_text_file(json_path.string(), json.str());
}

}  // namespace ablate::trainer::data
