#include "trainer/evaluate.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "trainer/data/nifti.hpp"

namespace ablate::trainer {

namespace fs = std::filesystem;

std::string LabelGroup::name() const {
  std::string s;
  for (int v : values) s += (s.empty() ? "" : "+") + std::to_string(v);
  return s;
}

std::vector<LabelGroup> parse_label_groups(const std::string& text) {
  std::vector<LabelGroup> groups;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    LabelGroup g;
    std::stringstream is(item);
    std::string part;
    while (std::getline(is, part, '+')) {
      try {
        size_t used = 0;
        int v = std::stoi(part, &used);
        while (used < part.size() && part[used] == ' ') ++used;
        if (used != part.size() || v <= 0 || v > 255) throw std::invalid_argument("range");
        g.values.push_back(v);
      } catch (const std::exception&) {
        throw std::invalid_argument("--labels \"" + text + "\": \"" + part +
                                    "\" is not a label value 1..255 (write e.g. 1,2 for two classes or 1+2 to merge)");
      }
    }
    if (g.values.empty()) throw std::invalid_argument("--labels \"" + text + "\": empty label group");
    groups.push_back(std::move(g));
  }
  if (groups.empty()) throw std::invalid_argument("--labels is empty (write e.g. 1,2 or 1+2)");
  return groups;
}

namespace {

std::map<std::string, std::string> nifti_files(const std::string& dir, const char* what) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw std::runtime_error(dir + ": " + what + " folder not found");
  std::map<std::string, std::string> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file(ec) || !data::is_nifti_name(name)) continue;
    files[data::nifti_stem(name)] = e.path().string();
  }
  if (files.empty()) throw std::runtime_error(dir + ": the " + std::string(what) + " folder holds no .nii/.nii.gz file");
  return files;
}

// NIfTI volume (x fastest) as a metrics Grid: d0 = z, d1 = y, d2 = x.
Grid grid_of(const data::Volume& v) {
  Grid g;
  g.dim = {v.dim[2], v.dim[1], v.dim[0]};
  g.spacing = {v.spacing[2], v.spacing[1], v.spacing[0]};
  return g;
}

std::string fixed(double v, int prec) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

}  // namespace

EvaluateResult evaluate_folders(const EvaluateOptions& o) {
  EvaluateResult r;
  const auto gts = nifti_files(o.gt_dir, "ground-truth");
  const auto preds = nifti_files(o.pred_dir, "prediction");
  std::vector<LabelGroup> groups = o.labels;
  std::map<std::string, data::Volume> gt_volumes;
  // Without --labels: every non-zero value of the ground truth is its own class.
  if (groups.empty()) {
    std::set<int> values;
    for (const auto& kv : gts) {
      try {
        data::Volume v = data::read_nifti(kv.second);
        for (float x : v.data)
          if (x > 0.5f) values.insert(static_cast<int>(std::lround(x)));
        gt_volumes[kv.first] = std::move(v);
      } catch (const std::exception& e) {
        r.problems.push_back(e.what());
      }
    }
    for (int v : values) groups.push_back(LabelGroup{{v}});
    if (groups.empty()) groups.push_back(LabelGroup{{1}});
  }
  for (const auto& g : groups) r.labels.push_back(g.name());
  for (const auto& kv : preds) {
    if (!gts.count(kv.first)) r.problems.push_back(kv.second + ": prediction without a ground-truth file in " + o.gt_dir);
  }
  for (const auto& kv : gts) {
    const std::string& id = kv.first;
    auto p = preds.find(id);
    if (p == preds.end()) {
      r.problems.push_back(kv.second + ": no prediction named " + id + ".nii(.gz) in " + o.pred_dir);
      continue;
    }
    data::Volume gt, pred;
    try {
      auto cached = gt_volumes.find(id);
      if (cached != gt_volumes.end()) {
        gt = std::move(cached->second);
      } else {
        gt = data::read_nifti(kv.second);
      }
      pred = data::read_nifti(p->second);
    } catch (const std::exception& e) {
      if (o.labels.empty() && !gt_volumes.count(id) && gt.data.empty()) continue;  // reported above
      r.problems.push_back(e.what());
      continue;
    }
    if (pred.dim != gt.dim) {
      r.problems.push_back(p->second + ": shape " + std::to_string(pred.dim[0]) + "x" + std::to_string(pred.dim[1]) + "x" +
                           std::to_string(pred.dim[2]) + " differs from the ground truth's " + std::to_string(gt.dim[0]) + "x" +
                           std::to_string(gt.dim[1]) + "x" + std::to_string(gt.dim[2]));
      continue;
    }
    for (int a = 0; a < 3; ++a) {
      if (std::abs(pred.spacing[a] - gt.spacing[a]) > 1e-3 * gt.spacing[a]) {
        r.problems.push_back(p->second + ": voxel spacing differs from the ground truth's (the ground truth's is used)");
        break;
      }
    }
    const Grid grid = grid_of(gt);
    std::vector<std::uint8_t> pm(gt.voxels()), gm(gt.voxels());
    for (const auto& g : groups) {
      auto in_group = [&](float x) {
        const long v = std::lround(x);
        for (int w : g.values)
          if (v == w) return true;
        return false;
      };
      for (std::size_t i = 0; i < gt.voxels(); ++i) {
        pm[i] = in_group(pred.data[i]);
        gm[i] = in_group(gt.data[i]);
      }
      r.rows.push_back(EvaluateRow{id, g.name(), binary_metrics(pm, gm, grid)});
    }
  }
  return r;
}

std::vector<EvaluateRow> mean_rows(const EvaluateResult& r) {
  std::vector<EvaluateRow> out;
  for (const std::string& label : r.labels) {
    EvaluateRow mean{"mean", label, {}};
    int n = 0;
    for (const auto& row : r.rows) {
      if (row.label != label) continue;
      ++n;
      mean.metrics.dice += row.metrics.dice;
      mean.metrics.iou += row.metrics.iou;
      mean.metrics.sensitivity += row.metrics.sensitivity;
      mean.metrics.precision += row.metrics.precision;
      mean.metrics.specificity += row.metrics.specificity;
      mean.metrics.vs += row.metrics.vs;
      mean.metrics.assd += row.metrics.assd;
      mean.metrics.hd95 += row.metrics.hd95;
    }
    if (n == 0) continue;
    for (double* v : {&mean.metrics.dice, &mean.metrics.iou, &mean.metrics.sensitivity, &mean.metrics.precision,
                      &mean.metrics.specificity, &mean.metrics.vs, &mean.metrics.assd, &mean.metrics.hd95})
      *v /= n;
    out.push_back(mean);
  }
  return out;
}

std::string format_table(const EvaluateResult& r) {
  std::ostringstream s;
  char line[512];
  std::snprintf(line, sizeof line, "%-24s %-6s %7s %7s %7s %7s %7s %7s %9s %9s\n", "case", "label", "dice", "iou", "sens", "prec",
                "spec", "vs", "assd_mm", "hd95_mm");
  s << line;
  auto put = [&](const EvaluateRow& row) {
    const auto& m = row.metrics;
    std::snprintf(line, sizeof line, "%-24s %-6s %7.4f %7.4f %7.4f %7.4f %7.4f %7.4f %9.3f %9.3f\n", row.case_id.c_str(),
                  row.label.c_str(), m.dice, m.iou, m.sensitivity, m.precision, m.specificity, m.vs, m.assd, m.hd95);
    s << line;
  };
  for (const auto& row : r.rows) put(row);
  for (const auto& row : mean_rows(r)) put(row);
  return s.str();
}

void write_csv(const EvaluateResult& r, const std::string& path) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error(path + ": cannot write the CSV file");
  out << "case,label";
  for (const auto& name : metric_names()) out << "," << name;
  out << "\n";
  auto put = [&](const EvaluateRow& row) {
    out << row.case_id << "," << row.label;
    for (const auto& name : metric_names()) out << "," << fixed(metric_value(row.metrics, name), 6);
    out << "\n";
  };
  for (const auto& row : r.rows) put(row);
  for (const auto& row : mean_rows(r)) put(row);
  if (!out) throw std::runtime_error(path + ": writing the CSV file failed");
}

}  // namespace ablate::trainer
