#include "trainer/metrics.hpp"

#include "ablations/task.hpp"
#include "sweeps/metric.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace ablate::trainer {

const std::vector<std::string>& metric_names() {
  static const std::vector<std::string> names = {"dice", "iou", "sensitivity", "precision",
                                                 "specificity", "vs", "assd", "hd95"};
  return names;
}

double metric_value(const SegmentationMetrics& m, const std::string& name) {
  if (name == "dice") return m.dice;
  if (name == "iou") return m.iou;
  if (name == "sensitivity") return m.sensitivity;
  if (name == "precision") return m.precision;
  if (name == "specificity") return m.specificity;
  if (name == "vs") return m.vs;
  if (name == "assd") return m.assd;
  if (name == "hd95") return m.hd95;
  throw std::invalid_argument("unknown metric \"" + name + "\" (allowed: dice, iou, sensitivity, precision, specificity, vs, assd, hd95)");
}

bool metric_higher_is_better(const std::string& name) { return sweeps::higher_is_better(name); }

const std::vector<std::string>& slice_metric_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& m : metric_names()) n.push_back(m + "_2d");
    return n;
  }();
  return names;
}

OverlapCounts overlap_counts(const std::vector<std::uint8_t>& pred, const std::vector<std::uint8_t>& gt) {
  if (pred.size() != gt.size()) throw std::invalid_argument("overlap_counts: prediction and ground truth differ in size");
  OverlapCounts c;
  for (std::size_t i = 0; i < pred.size(); ++i) {
    const bool p = pred[i] != 0, g = gt[i] != 0;
    c.tp += p && g;
    c.fp += p && !g;
    c.fn += !p && g;
    c.tn += !p && !g;
  }
  return c;
}

SegmentationMetrics overlap_metrics(const OverlapCounts& c) {
  SegmentationMetrics m;
  const std::int64_t pred = c.tp + c.fp, gt = c.tp + c.fn;
  if (pred == 0 && gt == 0) {
    m.dice = m.iou = m.sensitivity = m.precision = m.vs = 1.0;
  } else {
    m.dice = 2.0 * c.tp / static_cast<double>(pred + gt);
    m.iou = c.tp / static_cast<double>(c.tp + c.fp + c.fn);
    m.sensitivity = gt > 0 ? c.tp / static_cast<double>(gt) : 0.0;
    m.precision = pred > 0 ? c.tp / static_cast<double>(pred) : 0.0;
    m.vs = 1.0 - std::abs(static_cast<double>(pred - gt)) / static_cast<double>(pred + gt);
  }
  m.specificity = (c.tn + c.fp) > 0 ? c.tn / static_cast<double>(c.tn + c.fp) : 1.0;
  return m;
}

SegmentationMetrics trivial_metrics(const std::string& predictor, std::int64_t gt_voxels,
                                    std::int64_t voxels) {
  OverlapCounts c;
  if (predictor == "all_background") {
    c.fn = gt_voxels, c.tn = voxels - gt_voxels;
  } else if (predictor == "all_foreground") {
    c.tp = gt_voxels, c.fp = voxels - gt_voxels;
  } else {
    throw std::invalid_argument("trivial predictor '" + predictor +
                                "': allowed all_background, all_foreground");
  }
  return overlap_metrics(c);
}

std::vector<TrivialScore> trivial_scores(std::int64_t gt_voxels, std::int64_t voxels) {
  std::vector<TrivialScore> out;
  for (const auto& predictor : trivial_predictors())
    out.push_back(TrivialScore{predictor, trivial_metrics(predictor, gt_voxels, voxels)});
  return out;
}

const std::vector<std::string>& trivial_metric_names() {
  static const std::vector<std::string> names = {"dice",      "iou",         "sensitivity",
                                                 "precision", "specificity", "vs"};
  return names;
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// planar: only the 4 in-plane neighbours (axes 1, 2) decide, for the per-slice (2D) metrics.
std::vector<std::uint8_t> surface(const std::vector<std::uint8_t>& mask, const Grid& g, bool planar) {
  const int d0 = g.dim[0], d1 = g.dim[1], d2 = g.dim[2];
  std::vector<std::uint8_t> s(mask.size(), 0);
  auto fg = [&](int a, int b, int c) {
    if (a < 0 || b < 0 || c < 0 || a >= d0 || b >= d1 || c >= d2) return false;
    return mask[(static_cast<std::size_t>(a) * d1 + b) * d2 + c] != 0;
  };
  for (int a = 0; a < d0; ++a)
    for (int b = 0; b < d1; ++b)
      for (int c = 0; c < d2; ++c) {
        if (!fg(a, b, c)) continue;
        if ((!planar && (!fg(a - 1, b, c) || !fg(a + 1, b, c))) || !fg(a, b - 1, c) || !fg(a, b + 1, c) || !fg(a, b, c - 1) ||
            !fg(a, b, c + 1))
          s[(static_cast<std::size_t>(a) * d1 + b) * d2 + c] = 1;
      }
  return s;
}

// 1D squared Euclidean distance transform (Felzenszwalb & Huttenlocher) with sample spacing w:
// out[q] = min_p (w (q - p))^2 + f[p].
void edt_1d(const double* f, int n, double w, double* out, std::vector<int>& v, std::vector<double>& z) {
  v.resize(n);
  z.resize(n + 1);
  int k = 0;
  int first = -1;
  for (int q = 0; q < n; ++q)
    if (f[q] < kInf) {
      first = q;
      break;
    }
  if (first < 0) {
    for (int q = 0; q < n; ++q) out[q] = kInf;
    return;
  }
  v[0] = first;
  z[0] = -kInf;
  z[1] = kInf;
  const double w2 = w * w;
  for (int q = first + 1; q < n; ++q) {
    if (f[q] == kInf) continue;
    for (;;) {
      const int p = v[k];
      const double s = ((f[q] + w2 * q * q) - (f[p] + w2 * p * p)) / (2.0 * w2 * (q - p));
      if (s <= z[k]) {
        if (k == 0) {
          v[0] = q;
          z[0] = -kInf;
          z[1] = kInf;
          break;
        }
        --k;
        continue;
      }
      ++k;
      v[k] = q;
      z[k] = s;
      z[k + 1] = kInf;
      break;
    }
  }
  k = 0;
  for (int q = 0; q < n; ++q) {
    while (z[k + 1] < q) ++k;
    const double d = w * (q - v[k]);
    out[q] = d * d + f[v[k]];
  }
}

// Squared distance in mm from every voxel to the nearest non-zero voxel of `seeds` (separable, exact).
std::vector<double> squared_distance_map(const std::vector<std::uint8_t>& seeds, const Grid& g) {
  const int d[3] = {g.dim[0], g.dim[1], g.dim[2]};
  std::vector<double> dist(seeds.size());
  for (std::size_t i = 0; i < seeds.size(); ++i) dist[i] = seeds[i] ? 0.0 : kInf;
  const std::size_t stride[3] = {static_cast<std::size_t>(d[1]) * d[2], static_cast<std::size_t>(d[2]), 1};
  std::vector<double> line, out;
  std::vector<int> v;
  std::vector<double> z;
  for (int axis = 0; axis < 3; ++axis) {
    const int n = d[axis];
    line.resize(n);
    out.resize(n);
    const int o1 = (axis + 1) % 3, o2 = (axis + 2) % 3;
    for (int i = 0; i < d[o1]; ++i) {
      for (int j = 0; j < d[o2]; ++j) {
        const std::size_t base = i * stride[o1] + j * stride[o2];
        for (int q = 0; q < n; ++q) line[q] = dist[base + q * stride[axis]];
        edt_1d(line.data(), n, g.spacing[axis], out.data(), v, z);
        for (int q = 0; q < n; ++q) dist[base + q * stride[axis]] = out[q];
      }
    }
  }
  return dist;
}

double diagonal_mm(const Grid& g, bool planar) {
  double s = 0;
  for (int a = planar ? 1 : 0; a < 3; ++a) s += std::pow(g.dim[a] * g.spacing[a], 2);
  return std::sqrt(s);
}

// numpy.percentile's default (linear interpolation between order statistics).
double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const double pos = q / 100.0 * (values.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (values[hi] - values[lo]) * (pos - lo);
}

std::vector<double> directed_distances(const std::vector<std::uint8_t>& from, const std::vector<std::uint8_t>& to,
                                       const Grid& grid, bool planar) {
  const std::vector<std::uint8_t> sf = surface(from, grid, planar), st = surface(to, grid, planar);
  const std::vector<double> dt = squared_distance_map(st, grid);
  std::vector<double> d;
  for (std::size_t i = 0; i < sf.size(); ++i)
    if (sf[i]) d.push_back(std::sqrt(dt[i]));
  return d;
}

SegmentationMetrics metrics_of(const std::vector<std::uint8_t>& pred, const std::vector<std::uint8_t>& gt, const Grid& grid,
                               bool planar) {
  const OverlapCounts c = overlap_counts(pred, gt);
  SegmentationMetrics m = overlap_metrics(c);
  const bool pred_empty = c.tp + c.fp == 0, gt_empty = c.tp + c.fn == 0;
  if (pred_empty && gt_empty) {
    m.assd = m.hd95 = 0.0;
  } else if (pred_empty || gt_empty) {
    m.assd = m.hd95 = diagonal_mm(grid, planar);
  } else {
    std::vector<double> ab = directed_distances(pred, gt, grid, planar);
    const std::vector<double> ba = directed_distances(gt, pred, grid, planar);
    double sum = 0;
    for (double x : ab) sum += x;
    for (double x : ba) sum += x;
    m.assd = sum / static_cast<double>(ab.size() + ba.size());
    ab.insert(ab.end(), ba.begin(), ba.end());
    m.hd95 = percentile(std::move(ab), 95.0);
  }
  return m;
}

}  // namespace

std::vector<double> surface_distances(const std::vector<std::uint8_t>& from, const std::vector<std::uint8_t>& to,
                                      const Grid& grid) {
  if (from.size() != grid.voxels() || to.size() != grid.voxels()) {
    throw std::invalid_argument("surface_distances: mask size does not match the grid");
  }
  return directed_distances(from, to, grid, false);
}

SegmentationMetrics binary_metrics(const std::vector<std::uint8_t>& pred, const std::vector<std::uint8_t>& gt,
                                   const Grid& grid) {
  if (pred.size() != grid.voxels() || gt.size() != grid.voxels()) {
    throw std::invalid_argument("binary_metrics: mask size does not match the grid");
  }
  return metrics_of(pred, gt, grid, false);
}

SegmentationMetrics slice_metrics(const std::vector<std::uint8_t>& pred, const std::vector<std::uint8_t>& gt, const Grid& grid,
                                  int cls) {
  if (pred.size() != grid.voxels() || gt.size() != grid.voxels()) {
    throw std::invalid_argument("slice_metrics: mask size does not match the grid");
  }
  Grid plane = grid;
  plane.dim[0] = 1;
  const std::size_t n = plane.voxels();
  std::vector<std::uint8_t> p(n), g(n);
  SegmentationMetrics sum;
  int slices = 0;
  for (int s = 0; s < grid.dim[0]; ++s) {
    bool any = false;
    for (std::size_t i = 0; i < n; ++i) {
      p[i] = pred[s * n + i] == cls;
      g[i] = gt[s * n + i] == cls;
      any = any || p[i] || g[i];
    }
    if (!any) continue;  // a slice without the class in either mask is not scored (metrics.hpp)
    const SegmentationMetrics m = metrics_of(p, g, plane, true);
    sum.dice += m.dice, sum.iou += m.iou, sum.sensitivity += m.sensitivity, sum.precision += m.precision;
    sum.specificity += m.specificity, sum.vs += m.vs, sum.assd += m.assd, sum.hd95 += m.hd95;
    ++slices;
  }
  if (slices == 0) return overlap_metrics(OverlapCounts{});  // both empty everywhere: the perfect answer
  for (double* v : {&sum.dice, &sum.iou, &sum.sensitivity, &sum.precision, &sum.specificity, &sum.vs, &sum.assd, &sum.hd95})
    *v /= slices;
  return sum;
}

std::vector<SegmentationMetrics> class_metrics(const std::vector<std::uint8_t>& pred, const std::vector<std::uint8_t>& gt,
                                               const Grid& grid, int classes) {
  std::vector<SegmentationMetrics> out;
  std::vector<std::uint8_t> p(pred.size()), g(gt.size());
  for (int cls = 1; cls <= classes; ++cls) {
    for (std::size_t i = 0; i < pred.size(); ++i) p[i] = pred[i] == cls;
    for (std::size_t i = 0; i < gt.size(); ++i) g[i] = gt[i] == cls;
    out.push_back(binary_metrics(p, g, grid));
  }
  return out;
}

}  // namespace ablate::trainer
