// `ablate data check DIR`: validates a Medical Segmentation Decathlon folder and summarises it.
// Every problem names the file it concerns; nothing throws for bad data. LibTorch-free.
//
// Contract: a function of the folder's files, no state kept; any thread may call it; the report is a
// value owned by the caller. Bad data is a problem in the report, never an exception.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace ablate::trainer::data {

struct CheckReport {
  std::string root;
  int cases = 0;                      // entries of dataset.json "training"
  int readable_cases = 0;             // image and label read and consistent
  std::vector<std::string> problems;  // "<file>: what is wrong"
  std::vector<std::string> notes;     // harmless findings (files not listed in dataset.json, ...)
  std::map<int, int> label_cases;     // label value -> number of cases holding it
  std::string summary;                // human-readable summary (shapes, spacings, labels, foreground)
  bool ok() const { return problems.empty(); }
};

CheckReport check_dataset(const std::string& dir);

}  // namespace ablate::trainer::data
