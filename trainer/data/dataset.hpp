// The Medical Segmentation Decathlon layout: DIR/dataset.json with a "training" list of
// {"image": "./imagesTr/x.nii.gz", "label": "./labelsTr/x.nii.gz"} and an optional "labels" map
// {"0": "background", "1": "pancreas", ...}. LibTorch-free.
//
// Contract: functions of the folder's files, no state kept; any thread may call them (concurrent tasks of
// the trainer read the same dataset). Errors as each function says: std::runtime_error naming the file, or
// problems collected for the caller.
#pragma once

#include <cstdint>
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

// dataset.json is read whole, so it is checked first (docs/DATA.md "dataset.json"): a regular file (a
// folder, device, FIFO or socket is refused) of at most kMaxDatasetJsonBytes; a /proc-like file whose size
// the file system does not report is read to its end within the same cap.
constexpr std::uintmax_t kMaxDatasetJsonBytes = 64u << 20;

// Problems with a single entry (a path leaving the folder, a duplicate id, a missing key) are collected
// in `problems` when it is given and the entry is skipped; without it the first one throws. A missing,
// oversized or unparsable dataset.json always throws std::runtime_error naming the file. Text of the file
// in a message (a path, a label key) has its control characters escaped (\0, \xNN): a NUL never cuts
// a message off.
DatasetInfo read_dataset(const std::string& dir, std::vector<std::string>* problems = nullptr);

// Resolves `relative` (a path from dataset.json) inside `root`; throws std::runtime_error when it is
// absolute or leaves root (lexically, or through a symbolic link).
std::string resolve_inside(const std::string& root, const std::string& relative, const std::string& where);

}  // namespace ablate::trainer::data
