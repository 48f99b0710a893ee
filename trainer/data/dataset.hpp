// The Medical Segmentation Decathlon layout: DIR/dataset.json with a "training" list of
// {"image": "./imagesTr/x.nii.gz", "label": "./labelsTr/x.nii.gz"} and an optional "labels" map
// {"0": "background", "1": "pancreas", ...}. LibTorch-free.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace ablate::trainer::data {

struct CaseEntry {
  std::string id;     // file name of the image without .nii/.nii.gz (MSD: "pancreas_001")
  std::string image;  // absolute, normalised path inside the dataset folder
  std::string label;
};

struct DatasetInfo {
  std::string root;                    // absolute dataset folder
  std::string name;                    // "name" of dataset.json, or the folder name
  std::map<int, std::string> labels;   // label value -> name; empty when dataset.json has none
  std::vector<CaseEntry> cases;        // "training" entries in file order
};

// Problems with a single entry (a path leaving the folder, a duplicate id, a missing key) are collected
// in `problems` when it is given and the entry is skipped; without it the first one throws. A missing or
// unparsable dataset.json always throws std::runtime_error naming the file.
DatasetInfo read_dataset(const std::string& dir, std::vector<std::string>* problems = nullptr);

// Resolves `relative` (a path from dataset.json) inside `root`; throws std::runtime_error when it is
// absolute or leaves root (lexically, or through a symbolic link).
std::string resolve_inside(const std::string& root, const std::string& relative, const std::string& where);

}  // namespace ablate::trainer::data
