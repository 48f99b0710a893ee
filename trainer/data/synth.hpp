// Synthetic abdominal-CT-like datasets in the Medical Segmentation Decathlon layout, read by the same
// code as real data. Deterministic from a seed. LibTorch-free.
//
// Contract: a function of its options and seed (the same bytes of every file for the same options, on any
// platform); any thread may call it for distinct folders; it throws std::runtime_error naming the file.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace ablate::trainer::data {

struct SynthOptions {
  int cases = 10;
  int size = 64;                                 // in-plane voxels (x = y = size)
  int slices = 16;                               // voxels along z
  std::uint64_t seed = 1;
  std::array<double, 3> spacing{0.8, 0.8, 2.5};  // mm, anisotropic like abdominal CT
  // Labelled organs, 1..4: 1 the target organ, 2 the liver-like organ, 3 and 4 two kidney-like organs
  // beside the spine (so a study of several organs, 002's four, finds as many labels). More are refused.
  int organs = 1;
  bool tumour = true;  // label organs + 1 inside the target organ (in about 2 of 3 cases)
  double contrast_min = 30.0;                    // target organ brighter than soft tissue by [min, max] HU
  double contrast_max = 80.0;
  double noise_min = 8.0;                        // Gaussian noise sigma in HU, drawn per case
  double noise_max = 20.0;
};

// Writes DIR/dataset.json, DIR/imagesTr/synth_NNN.nii.gz (int16 HU) and DIR/labelsTr/synth_NNN.nii.gz
// (uint8: 0 background, 1 target organ, 2..organs the other organs, organs + 1 tumour). Throws
// std::runtime_error naming the file on failure.
void write_synthetic_dataset(const std::string& dir, const SynthOptions& options);

}  // namespace ablate::trainer::data
