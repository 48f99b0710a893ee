#include "trainer/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "ablations/output.hpp"
#include "ablations/task.hpp"
#include "trainer/data/nifti.hpp"
#include "trainer/data/preprocess.hpp"

namespace ablate::trainer {

namespace fs = std::filesystem;

std::string LabelGroup::name() const {
  std::string s;
  for (int v : values) s += (s.empty() ? "" : "+") + std::to_string(v);
  return s;
}

namespace {

// Fields of `text` between the separators, empty ones kept (std::getline drops a trailing empty field,
// which let "1+" and "1," through as "1").
std::vector<std::string> split_keeping_empty(const std::string& text, char separator) {
  std::vector<std::string> out(1);
  for (char c : text) {
    if (c == separator) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

}  // namespace

std::vector<LabelGroup> parse_label_groups(const std::string& text) {
  const std::string allowed = " (allowed: label values 1..255, a comma between classes, a + between the values merged "
                              "into one class, e.g. 1,2 or 1+2,3)";
  if (text.find_first_not_of(' ') == std::string::npos) throw std::invalid_argument("--labels \"" + printable_text(text) + "\" is empty" + allowed);
  std::vector<LabelGroup> groups;
  for (const std::string& item : split_keeping_empty(text, ',')) {
    LabelGroup g;
    for (const std::string& part : split_keeping_empty(item, '+')) {
      const std::size_t first = part.find_first_not_of(' ');
      if (first == std::string::npos) {
        throw std::invalid_argument("--labels \"" + printable_text(text) + "\": an empty " +
                                    (item.find_first_not_of(' ') == std::string::npos ? "class between commas" : "value beside a +") +
                                    allowed);
      }
      const std::string digits = part.substr(first, part.find_last_not_of(' ') + 1 - first);
      const bool numeric = digits.size() <= 3 && digits.find_first_not_of("0123456789") == std::string::npos;
      const int v = numeric ? std::stoi(digits) : -1;
      if (v < 1 || v > 255) {
        throw std::invalid_argument("--labels \"" + printable_text(text) + "\": \"" + printable_text(part) + "\" is not a label value" +
                                    allowed);
      }
      g.values.push_back(v);
    }
    groups.push_back(std::move(g));
  }
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
// signed output would otherwise be rounded into classes silently). `non_finite` are its NaN and infinite
// voxels, found in the raw data (niftilib reads them as 0, which would count as background). Names the
// case, the file, the first such voxel and the count.
std::string non_label_values(const data::Volume& v, const data::NonFiniteVoxels& non_finite, const std::string& case_id,
                             const std::string& path) {
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < v.data.size(); ++i) {
    const float x = v.data[i];
    if (x >= 0 && x <= 255 && std::fabs(x - std::round(x)) <= 1e-3f) continue;
    if (bad++ == 0) first = i;
  }
  if (bad == 0 && non_finite.count == 0) return "";
  const std::size_t nx = static_cast<std::size_t>(v.dim[0]), ny = static_cast<std::size_t>(v.dim[1]);
  auto voxel = [&](std::size_t i) {
    return "(" + std::to_string(i % nx) + ", " + std::to_string((i / nx) % ny) + ", " + std::to_string(i / (nx * ny)) + ")";
  };
  std::ostringstream m;
  m << path << ": case " << printable_text(case_id) << ": ";
  if (non_finite.count > 0) {
    m << non_finite.count << " voxel(s) hold NaN or an infinity (the first at voxel " << voxel(non_finite.first) << ")";
    if (bad > 0) m << " and ";
  }
  if (bad > 0) {
    m << "voxel " << voxel(first) << " holds " << v.data[first]
      << (bad > 1 ? " (and " + std::to_string(bad - 1) + " more voxels)" : std::string()) << ", which is not a label";
  }
  m << ": a label volume holds whole numbers 0..255 (threshold a probability map first); the case is not scored";
  return m.str();
}

// Limits before work: a volume's header is read (a few hundred bytes) and checked before its data, so a
// huge or mis-shaped file costs no memory. "" or the problem.
std::string volume_too_large(const data::Volume& header, const std::string& path) {
  if (header.voxels() <= kMaxEvaluateVoxels) return "";
  return path + ": " + std::to_string(header.dim[0]) + "x" + std::to_string(header.dim[1]) + "x" + std::to_string(header.dim[2]) +
         " = " + std::to_string(header.voxels()) + " voxels; ablate evaluate reads at most " + std::to_string(kMaxEvaluateVoxels) +
         " voxels per volume; the case is not scored";
}

std::string shape_text(const data::Volume& v) {
  return std::to_string(v.dim[0]) + "x" + std::to_string(v.dim[1]) + "x" + std::to_string(v.dim[2]);
}

// A volume read after the limits: a file on disk past kMaxEvaluateFileBytes or of another type (a FIFO
// named x.nii) is refused before niftilib opens it, a header past kMaxEvaluateVoxels before the data is
// read. With its NaN and infinite voxels (find_non_finite).
struct CheckedVolume {
  data::Volume volume;
  data::NonFiniteVoxels non_finite;
};
CheckedVolume read_checked(const std::string& path) {
  if (const std::string problem = check_input_file(path, kMaxEvaluateFileBytes, "a NIfTI volume"); !problem.empty()) {
    throw std::runtime_error(path + ": " + problem);
  }
  const data::Volume header = data::read_nifti_header(path);
  if (const std::string problem = volume_too_large(header, path); !problem.empty()) throw std::runtime_error(problem);
  return {data::read_nifti(path), data::find_non_finite(path)};
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
        const data::Volume v = read_checked(kv.second).volume;
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
    CheckedVolume gt_read, pred_read;
    try {
      // The shapes from the headers first: a prediction of another shape is skipped unread.
      const data::Volume gt_header = data::read_nifti_header(kv.second), pred_header = data::read_nifti_header(p->second);
      if (pred_header.dim != gt_header.dim) {
        r.problems.push_back(p->second + ": shape " + shape_text(pred_header) + " differs from the ground truth's " + shape_text(gt_header));
        continue;
      }
      gt_read = read_checked(kv.second);
      pred_read = read_checked(p->second);
    } catch (const std::exception& e) {
      r.problems.push_back(e.what());
      continue;
    }
    const data::Volume& gt = gt_read.volume;
    const data::Volume& pred = pred_read.volume;
    const std::string bad_pred = non_label_values(pred, pred_read.non_finite, id, p->second),
                      bad_gt = non_label_values(gt, gt_read.non_finite, id, kv.second);
    for (const std::string& bad : {bad_pred, bad_gt}) {
      if (!bad.empty()) r.problems.push_back(bad);
    }
    if (!bad_pred.empty() || !bad_gt.empty()) continue;
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
      r.rows.push_back(EvaluateRow{id, g.name(), binary_metrics(pm, gm, grid), slice_metrics(pm, gm, grid, 1), ""});
      std::int64_t gt_voxels = 0;
      for (std::uint8_t v : gm) gt_voxels += v;
      for (const auto& t : trivial_scores(gt_voxels, static_cast<std::int64_t>(gm.size())))
        r.trivial.push_back(EvaluateRow{id, g.name(), t.metrics, {}, t.predictor});
    }
  }
  return r;
}

namespace {

// Per label (and per predictor, in the order given), the mean of each metric over the rows that have them.
std::vector<EvaluateRow> means_of(const std::vector<EvaluateRow>& rows, const std::vector<std::string>& labels,
                                  const std::vector<std::string>& predictors) {
  std::vector<EvaluateRow> out;
  auto fields = [](SegmentationMetrics& m) {
    return std::vector<double*>{&m.dice, &m.iou, &m.sensitivity, &m.precision, &m.specificity, &m.vs, &m.assd, &m.hd95};
  };
  for (const std::string& label : labels) {
    for (const std::string& predictor : predictors) {
      EvaluateRow mean{"mean", label, {}, {}, predictor};
      int n = 0;
      for (EvaluateRow row : rows) {
        if (row.label != label || row.predictor != predictor) continue;
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
  }
  return out;
}

bool is_trivial_metric_of_row(const std::string& name) {
  const auto& names = trivial_metric_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

std::vector<EvaluateRow> mean_rows(const EvaluateResult& r) { return means_of(r.rows, r.labels, {""}); }

std::vector<EvaluateRow> trivial_mean_rows(const EvaluateResult& r) {
  return means_of(r.trivial, r.labels, trivial_predictors());
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
  // The trivial predictors' means: a prediction that does not beat them clearly on DSC has learnt nothing
  // (a mask of nothing or of everything). Their surface distances say nothing and are not computed.
  const auto trivial = trivial_mean_rows(r);
  if (!trivial.empty()) s << "trivial predictors (mean over the same cases):\n";
  for (const auto& row : trivial) {
    const auto& m = row.metrics;
    const std::string name = trivial_predictor_label(row.predictor);
    std::snprintf(line, sizeof line, "%-24s %-6s %7.4f %7.4f %7.4f %7.4f %7.4f %7.4f %9s %9s\n", name.c_str(),
                  row.label.c_str(), m.dice, m.iou, m.sensitivity, m.precision, m.specificity, m.vs, "-", "-");
    s << line;
  }
  return s.str();
}

void write_csv(const EvaluateResult& r, const std::string& path) {
  std::ostringstream out;
  out << "case,label,predictor";
  for (const auto& name : metric_names()) out << "," << name;
  for (const auto& name : slice_metric_names()) out << "," << name;
  out << "\n";
  auto put = [&](const EvaluateRow& row) {
    const bool trivial = !row.predictor.empty();
    // Case ids are file names: a comma or a quote in one must not shift the columns (RFC 4180).
    out << csv_field(row.case_id) << "," << csv_field(row.label) << "," << (trivial ? row.predictor : "prediction");
    // A trivial predictor has only the metrics its counts decide: the others are left empty, not 0.
    for (const auto& name : metric_names())
      out << "," << (!trivial || is_trivial_metric_of_row(name) ? fixed(metric_value(row.metrics, name), 6) : "");
    for (const auto& name : metric_names()) out << "," << (trivial ? "" : fixed(metric_value(row.metrics_2d, name), 6));
    out << "\n";
  };
  for (const auto& row : r.rows) put(row);
  for (const auto& row : mean_rows(r)) put(row);
  for (const auto& row : r.trivial) put(row);
  for (const auto& row : trivial_mean_rows(r)) put(row);
  write_text_file(path, out.str());
}

}  // namespace ablate::trainer
