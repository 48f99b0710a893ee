#include "sweeps/pareto.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

namespace ablate::sweeps {

namespace {

bool finite(const Objectives& a) {
  return std::all_of(a.begin(), a.end(), [](double v) { return std::isfinite(v); });
}

void check_sizes(const std::vector<Objectives>& points, std::size_t m) {
  for (const auto& p : points) {
    if (p.size() != m) {
      throw std::invalid_argument("pareto: a point has " + std::to_string(p.size()) + " objectives, expected " +
                                  std::to_string(m));
    }
  }
}

// The hypervolume of points that all lie strictly inside the reference box, over the first m objectives.
double hv_inside(std::vector<Objectives> points, const Objectives& ref, std::size_t m) {
  if (points.empty()) return 0;
  if (m == 1) {
    double best = ref[0];
    for (const auto& p : points) best = std::min(best, p[0]);
    return ref[0] - best;
  }
  if (m == 2) {
    std::sort(points.begin(), points.end(),
              [](const Objectives& a, const Objectives& b) { return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1]); });
    double area = 0, floor = ref[1];
    for (const auto& p : points) {
      if (p[1] < floor) {
        area += (ref[0] - p[0]) * (floor - p[1]);
        floor = p[1];
      }
    }
    return area;
  }
  // HSO: slice along objective m-1; between two consecutive values of it, the cross-section is the
  // (m-1)-dimensional hypervolume of the points at or below the slice's lower edge.
  const std::size_t last = m - 1;
  std::sort(points.begin(), points.end(), [&](const Objectives& a, const Objectives& b) { return a[last] < b[last]; });
  double volume = 0;
  std::vector<Objectives> below;
  for (std::size_t i = 0; i < points.size(); ++i) {
    below.push_back(points[i]);
    const double top = i + 1 < points.size() ? points[i + 1][last] : ref[last];
    const double thickness = top - points[i][last];
    if (thickness > 0) volume += thickness * hv_inside(below, ref, m - 1);
  }
  return volume;
}

}  // namespace

bool dominates(const Objectives& a, const Objectives& b) {
  if (a.size() != b.size()) throw std::invalid_argument("pareto: points of different numbers of objectives");
  const bool fa = finite(a), fb = finite(b);
  if (!fa) return false;
  if (!fb) return true;
  bool better = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] > b[i]) return false;
    if (a[i] < b[i]) better = true;
  }
  return better;
}

std::vector<int> non_dominated_ranks(const std::vector<Objectives>& points) {
  const std::size_t n = points.size();
  if (n == 0) return {};
  check_sizes(points, points.front().size());
  std::vector<std::vector<std::size_t>> dominated(n);  // S_p: the points p dominates
  std::vector<int> count(n, 0);                        // n_p: how many dominate p
  for (std::size_t p = 0; p < n; ++p) {
    for (std::size_t q = p + 1; q < n; ++q) {
      if (dominates(points[p], points[q])) {
        dominated[p].push_back(q), ++count[q];
      } else if (dominates(points[q], points[p])) {
        dominated[q].push_back(p), ++count[p];
      }
    }
  }
  std::vector<int> rank(n, 0);
  std::vector<std::size_t> front;
  for (std::size_t p = 0; p < n; ++p)
    if (count[p] == 0) front.push_back(p);
  for (int r = 0; !front.empty(); ++r) {
    std::vector<std::size_t> next;
    for (std::size_t p : front) {
      rank[p] = r;
      for (std::size_t q : dominated[p])
        if (--count[q] == 0) next.push_back(q);
    }
    front = std::move(next);
  }
  return rank;
}

std::vector<std::size_t> pareto_front(const std::vector<Objectives>& points) {
  const auto rank = non_dominated_ranks(points);
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < rank.size(); ++i)
    if (rank[i] == 0) out.push_back(i);
  return out;
}

std::vector<double> crowding_distance(const std::vector<Objectives>& points, const std::vector<std::size_t>& members) {
  std::vector<double> distance(members.size(), 0.0);
  if (members.empty()) return distance;
  const std::size_t m = points.at(members.front()).size();
  for (std::size_t j = 0; j < m; ++j) {
    std::vector<std::size_t> order(members.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return points[members[a]][j] < points[members[b]][j]; });
    const double lo = points[members[order.front()]][j], hi = points[members[order.back()]][j];
    distance[order.front()] = distance[order.back()] = std::numeric_limits<double>::infinity();
    if (!(hi > lo)) continue;  // every member equal in this objective: it separates none of them
    for (std::size_t k = 1; k + 1 < order.size(); ++k) {
      distance[order[k]] += (points[members[order[k + 1]]][j] - points[members[order[k - 1]]][j]) / (hi - lo);
    }
  }
  return distance;
}

double hypervolume(const std::vector<Objectives>& points, const Objectives& reference) {
  check_sizes(points, reference.size());
  if (reference.empty()) return 0;
  std::vector<Objectives> inside;
  for (const auto& p : points) {
    bool in = finite(p);
    for (std::size_t i = 0; in && i < p.size(); ++i) in = p[i] < reference[i];
    if (in) inside.push_back(p);
  }
  return hv_inside(std::move(inside), reference, reference.size());
}

std::vector<double> hypervolume_contributions(const std::vector<Objectives>& points, const Objectives& reference) {
  const double all = hypervolume(points, reference);
  std::vector<double> out(points.size(), 0.0);
  for (std::size_t i = 0; i < points.size(); ++i) {
    std::vector<Objectives> others;
    others.reserve(points.size() - 1);
    for (std::size_t k = 0; k < points.size(); ++k)
      if (k != i) others.push_back(points[k]);
    // Rounding can leave a tiny negative difference for a point that adds nothing.
    out[i] = std::max(0.0, all - hypervolume(others, reference));
  }
  return out;
}

Objectives reference_point(const std::vector<Objectives>& points) {
  const std::size_t m = points.empty() ? 0 : points.front().size();
  Objectives ref(m, 0.0);
  for (std::size_t j = 0; j < m; ++j) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const auto& p : points) {
      if (std::isfinite(p[j])) lo = std::min(lo, p[j]), hi = std::max(hi, p[j]);
    }
    if (!std::isfinite(lo)) lo = hi = 0;
    ref[j] = hi + (hi > lo ? 0.1 * (hi - lo) : 1.0);
  }
  return ref;
}

}  // namespace ablate::sweeps
