// CPU vs GPU marks of the report tables (docs/REPORTS.md "Devices"): a GPU's scores are not bit-for-bit a
// CPU's and its inference times are another scale (docs/RUNNER.md "Reproducibility"), so a table that holds
// GPU rows says so.
#include <map>
#include <string>
#include <vector>

#include "reports/study_index.hpp"

namespace ablate::reports {

DeviceMarks device_marks(const std::vector<const db::StudyData*>& studies,
                         const std::vector<std::string>& variants) {
  DeviceMarks out;
  bool cpu_rows = false, gpu_rows = false, unknown_rows = false;
  for (const auto& v : variants) {
    db::VariantDevices sum;
    for (const auto* s : studies) {
      const auto it = s->devices.find(v);
      if (it == s->devices.end()) continue;
      sum.cpu += it->second.cpu, sum.gpu += it->second.gpu, sum.unknown += it->second.unknown;
    }
    if (sum.cpu + sum.gpu == 0) {
      unknown_rows = unknown_rows || sum.unknown > 0;
      continue;
    }
    out.device[v] = sum.gpu == 0 ? "cpu" : sum.cpu == 0 ? "gpu" : "cpu+gpu";
    cpu_rows = cpu_rows || sum.gpu == 0;
    gpu_rows = gpu_rows || sum.gpu > 0;
  }
  if (!gpu_rows) return out;
  const std::string why =
      "scores of different devices are not bit-for-bit comparable and inference times are not comparable at "
      "all (docs/RUNNER.md \"Reproducibility\").";
  bool mixed = cpu_rows;
  for (const auto& [v, d] : out.device) mixed = mixed || d == "cpu+gpu";
  if (!mixed) {
    out.legend = std::string("Every row was trained on a GPU") +
                 (unknown_rows ? " (where its device is recorded)" : "") + "; " + why;
    return out;
  }
  bool whole = false, partly = false;
  for (const auto& [v, d] : out.device) {
    if (d == "gpu") out.mark[v] = " [GPU]", whole = true;
    if (d == "cpu+gpu") out.mark[v] = " [CPU+GPU]", partly = true;
  }
  out.legend = std::string(whole ? "[GPU]: trained on a GPU; " : "") +
               (partly ? "[CPU+GPU]: some folds trained on a GPU, some on the CPU; " : "") +
               "unmarked rows: on the CPU" + (unknown_rows ? " (or no device recorded)" : "") + "; " + why;
  return out;
}

void mark_devices(ComparisonTable& table, const std::vector<db::StudyData>& studies) {
  std::vector<const db::StudyData*> ptrs;
  for (const auto& s : studies) ptrs.push_back(&s);
  std::vector<std::string> variants;
  for (const auto& r : table.rows) variants.push_back(r.variant);
  const DeviceMarks marks = device_marks(ptrs, variants);
  for (auto& r : table.rows) {
    if (const auto it = marks.device.find(r.variant); it != marks.device.end()) r.device = it->second;
    if (const auto it = marks.mark.find(r.variant); it != marks.mark.end()) r.label += it->second;
  }
  table.device_legend = marks.legend;
}

}  // namespace ablate::reports
