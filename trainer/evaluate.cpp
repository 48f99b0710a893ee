#include "trainer/evaluate.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "ablations/output.hpp"
#include "trainer/data/nifti.hpp"
#include "trainer/data/preprocess.hpp"

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

std::string fixed(double v, int prec) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

// "" or where a label volume holds a value that is no label: a whole number 0..255 (a probability map or a
// signed output would otherwise be rounded into classes silently). Names the first such voxel and the count.
std::string non_label_values(const data::Volume& v, const std::string& path) {
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < v.data.size(); ++i) {
    const float x = v.data[i];
    if (x >= 0 && x <= 255 && std::fabs(x - std::round(x)) <= 1e-3f) continue;
    if (bad++ == 0) first = i;
  }
  if (bad == 0) return "";
  const std::size_t nx = static_cast<std::size_t>(v.dim[0]), ny = static_cast<std::size_t>(v.dim[1]);
  std::ostringstream m;
  m << path << ": voxel (" << first % nx << ", " << (first / nx) % ny << ", " << first / (nx * ny) << ") holds "
    << v.data[first] << (bad > 1 ? " (and " + std::to_string(bad - 1) + " more voxels)" : std::string())
    << ", which is not a label: a label volume holds whole numbers 0..255 (threshold a probability map first); "
       "the case is not scored";
  return m.str();
}

}  // namespace

EvaluateResult evaluate_folders(const EvaluateOptions& o) {
  if (o.axis < 0 || o.axis > 2) throw std::invalid_argument("--axis " + std::to_string(o.axis) + ": allowed 0 (x), 1 (y), 2 (z)");
  EvaluateResult r;
  const auto gts = nifti_files(o.gt_dir, "ground-truth");
  const auto preds = nifti_files(o.pred_dir, "prediction");
  std::vector<LabelGroup> groups = o.labels;
  std::set<std::string> unreadable;
  // Without --labels: every non-zero value of the ground truth is its own class. Only the values are kept
  // (a CT test set does not fit in memory as float volumes).
  if (groups.empty()) {
    std::set<int> values;
    for (const auto& kv : gts) {
      try {
        const data::Volume v = data::read_nifti(kv.second);
        for (float x : v.data)
          if (x > 0.5f) values.insert(static_cast<int>(std::lround(x)));
      } catch (const std::exception& e) {
        r.problems.push_back(e.what());
        unreadable.insert(kv.first);
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
    if (unreadable.count(id)) continue;  // reported above
    auto p = preds.find(id);
    if (p == preds.end()) {
      r.problems.push_back(kv.second + ": no prediction named " + id + ".nii(.gz) in " + o.pred_dir);
      continue;
    }
    data::Volume gt, pred;
    try {
      gt = data::read_nifti(kv.second);
      pred = data::read_nifti(p->second);
    } catch (const std::exception& e) {
      r.problems.push_back(e.what());
      continue;
    }
    const std::string bad_pred = non_label_values(pred, p->second), bad_gt = non_label_values(gt, kv.second);
    for (const std::string& bad : {bad_pred, bad_gt}) {
      if (!bad.empty()) r.problems.push_back(bad);
    }
    if (!bad_pred.empty() || !bad_gt.empty()) continue;
    if (pred.dim != gt.dim) {
      r.problems.push_back(p->second + ": shape " + std::to_string(pred.dim[0]) + "x" + std::to_string(pred.dim[1]) + "x" +
                           std::to_string(pred.dim[2]) + " differs from the ground truth's " + std::to_string(gt.dim[0]) + "x" +
                           std::to_string(gt.dim[1]) + "x" + std::to_string(gt.dim[2]));
      continue;
    }
    if (!data::same_geometry(pred, gt)) {
      r.problems.push_back(p->second + ": voxel spacing, orientation or position (the voxel-to-world affine) differs from the "
                           "ground truth's; evaluated voxel by voxel on the ground truth's grid");
    }
    // Slice-major along the axis (like the trainer's grids): the 3D metrics do not depend on the layout,
    // the per-slice ones are taken along the axis.
    const data::SliceAxes ax(gt.dim, o.axis);
    Grid grid;
    grid.dim = {ax.slices, ax.rows, ax.cols};
    grid.spacing = ax.spacing_of(gt.spacing);
    std::vector<std::uint8_t> pm(gt.voxels()), gm(gt.voxels());
    for (const auto& g : groups) {
      auto in_group = [&](float x) {
        const long v = std::lround(x);
        for (int w : g.values)
          if (v == w) return true;
        return false;
      };
      std::size_t k = 0;
      for (int s = 0; s < ax.slices; ++s)
        for (int row = 0; row < ax.rows; ++row)
          for (int col = 0; col < ax.cols; ++col, ++k) {
            const std::size_t i = ax.index(s, row, col);
            pm[k] = in_group(pred.data[i]);
            gm[k] = in_group(gt.data[i]);
          }
      r.rows.push_back(EvaluateRow{id, g.name(), binary_metrics(pm, gm, grid), slice_metrics(pm, gm, grid, 1)});
    }
  }
  return r;
}

std::vector<EvaluateRow> mean_rows(const EvaluateResult& r) {
  std::vector<EvaluateRow> out;
  auto fields = [](SegmentationMetrics& m) {
    return std::vector<double*>{&m.dice, &m.iou, &m.sensitivity, &m.precision, &m.specificity, &m.vs, &m.assd, &m.hd95};
  };
  for (const std::string& label : r.labels) {
    EvaluateRow mean{"mean", label, {}, {}};
    int n = 0;
    for (EvaluateRow row : r.rows) {
      if (row.label != label) continue;
      ++n;
      for (auto [sum, part] : {std::pair{&mean.metrics, &row.metrics}, std::pair{&mean.metrics_2d, &row.metrics_2d}}) {
        auto to = fields(*sum), from = fields(*part);
        for (std::size_t i = 0; i < to.size(); ++i) *to[i] += *from[i];
      }
    }
    if (n == 0) continue;
    for (SegmentationMetrics* m : {&mean.metrics, &mean.metrics_2d})
      for (double* v : fields(*m)) *v /= n;
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
  std::ostringstream out;
  out << "case,label";
  for (const auto& name : metric_names()) out << "," << name;
  for (const auto& name : slice_metric_names()) out << "," << name;
  out << "\n";
  auto put = [&](const EvaluateRow& row) {
    // Case ids are file names: a comma or a quote in one must not shift the columns (RFC 4180).
    out << csv_field(row.case_id) << "," << csv_field(row.label);
    for (const auto& name : metric_names()) out << "," << fixed(metric_value(row.metrics, name), 6);
    for (const auto& name : metric_names()) out << "," << fixed(metric_value(row.metrics_2d, name), 6);
    out << "\n";
  };
  for (const auto& row : r.rows) put(row);
  for (const auto& row : mean_rows(r)) put(row);
  write_text_file(path, out.str());
}

}  // namespace ablate::trainer
