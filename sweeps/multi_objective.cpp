#include "sweeps/multi_objective.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace ablate::sweeps {

namespace {

// A parameter's value in [0, 1), the inverse of from_unit up to its rounding: the centre of an int's or a
// choice's bin, the linear or logarithmic position of a float.
double to_unit(const Param& p, double x) {
  double u = 0.5;
  switch (p.dist) {
    case Distribution::kUniform:
      u = p.high > p.low ? (x - p.low) / (p.high - p.low) : 0.5;
      break;
    case Distribution::kLogUniform:
      u = p.high > p.low ? (std::log(x) - std::log(p.low)) / (std::log(p.high) - std::log(p.low)) : 0.5;
      break;
    case Distribution::kInt:
      u = (x - p.low + 0.5) / (p.high - p.low + 1);
      break;
    case Distribution::kChoice:
      u = p.choices.empty() ? 0.5 : (x + 0.5) / static_cast<double>(p.choices.size());
      break;
  }
  return std::min(std::max(u, 0.0), 1.0);
}

// The order NSGA-II selects by: front first, then the larger crowding distance; ties by trial order.
std::vector<std::size_t> crowded_order(const std::vector<MultiObservation>& done) {
  std::vector<Objectives> points;
  for (const auto& o : done) points.push_back(o.objectives);
  const auto rank = non_dominated_ranks(points);
  std::vector<double> crowding(done.size(), 0.0);
  const int fronts = rank.empty() ? 0 : *std::max_element(rank.begin(), rank.end()) + 1;
  for (int f = 0; f < fronts; ++f) {
    std::vector<std::size_t> members;
    for (std::size_t i = 0; i < rank.size(); ++i)
      if (rank[i] == f) members.push_back(i);
    const auto d = crowding_distance(points, members);
    for (std::size_t k = 0; k < members.size(); ++k) crowding[members[k]] = d[k];
  }
  std::vector<std::size_t> order(done.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return rank[a] != rank[b] ? rank[a] < rank[b] : crowding[a] > crowding[b];
  });
  return order;
}

// Simulated binary crossover of two values in [0, 1] (Deb and Agrawal 1995, the bounded form of Deb's
// NSGA-II code): the child spread around the parents follows the polynomial of index eta.
double sbx(double x1, double x2, double eta, Rng& rng) {
  const double u = rng.uniform(), side = rng.uniform();
  if (std::abs(x1 - x2) < 1e-14) return x1;
  const double y1 = std::min(x1, x2), y2 = std::max(x1, x2);
  auto betaq = [&](double beta) {
    const double alpha = 2.0 - std::pow(beta, -(eta + 1.0));
    return u <= 1.0 / alpha ? std::pow(u * alpha, 1.0 / (eta + 1.0)) : std::pow(1.0 / (2.0 - u * alpha), 1.0 / (eta + 1.0));
  };
  const double c1 = 0.5 * ((y1 + y2) - betaq(1.0 + 2.0 * y1 / (y2 - y1)) * (y2 - y1));
  const double c2 = 0.5 * ((y1 + y2) + betaq(1.0 + 2.0 * (1.0 - y2) / (y2 - y1)) * (y2 - y1));
  return std::min(std::max(side < 0.5 ? c1 : c2, 0.0), 1.0);
}

// Polynomial mutation of a value in [0, 1] (Deb and Goyal 1996, bounded form).
double polynomial_mutation(double y, double eta, Rng& rng) {
  const double u = rng.uniform(), power = 1.0 / (eta + 1.0);
  double deltaq = 0;
  if (u < 0.5) {
    const double v = 2.0 * u + (1.0 - 2.0 * u) * std::pow(1.0 - y, eta + 1.0);
    deltaq = std::pow(v, power) - 1.0;
  } else {
    const double v = 2.0 * (1.0 - u) + 2.0 * (u - 0.5) * std::pow(y, eta + 1.0);
    deltaq = 1.0 - std::pow(v, power);
  }
  return std::min(std::max(y + deltaq, 0.0), 1.0);
}


}  // namespace

Sample nsga2_sample(const Space& space, std::uint64_t seed, std::uint64_t trial,
                    const std::vector<MultiObservation>& done, const Nsga2Options& options) {
  const std::size_t population = static_cast<std::size_t>(std::max(2, options.population));
  if (done.size() < population) return random_sample(space, seed, trial);
  std::vector<std::size_t> pool = crowded_order(done);
  pool.resize(population);  // pool[k] is better than pool[k + 1] by the crowded comparison
  Rng rng(seed, (trial + 1) * 4096 + 2048);
  auto tournament = [&]() {
    const std::size_t a = rng.next() % pool.size(), b = rng.next() % pool.size();
    return pool[std::min(a, b)];  // the earlier in the crowded order wins
  };
  const std::size_t p1 = tournament(), p2 = tournament();
  const bool cross = rng.uniform() < options.crossover_prob;
  const double mutation_prob = space.empty() ? 0.0 : 1.0 / static_cast<double>(space.size());
  Sample child;
  for (std::size_t j = 0; j < space.size(); ++j) {
    const Param& p = space[j];
    Rng draw(seed, (trial + 1) * 4096 + 2048 + 1 + j);
    const double x1 = done[p1].x.at(j), x2 = done[p2].x.at(j);
    if (p.dist == Distribution::kChoice) {
      double c = cross && draw.uniform() < 0.5 ? x2 : x1;
      if (draw.uniform() < mutation_prob) c = from_unit(p, draw.uniform());
      child.push_back(c);
      continue;
    }
    double u = to_unit(p, x1);
    if (cross) u = sbx(u, to_unit(p, x2), options.eta_crossover, draw);
    if (draw.uniform() < mutation_prob) u = polynomial_mutation(u, options.eta_mutation, draw);
    child.push_back(from_unit(p, u));
  }
  return child;
}

std::vector<std::size_t> motpe_good_group(const std::vector<MultiObservation>& done, const TpeOptions& options) {
  const std::size_t n = done.size();
  if (n == 0) return {};
  const std::size_t n_below = std::max<std::size_t>(
      1, std::min<std::size_t>(static_cast<std::size_t>(std::ceil(options.gamma * static_cast<double>(n))),
                               static_cast<std::size_t>(options.max_below)));
  std::vector<Objectives> points;
  for (const auto& o : done) points.push_back(o.objectives);
  const auto rank = non_dominated_ranks(points);
  std::vector<std::size_t> good;
  for (int f = 0; good.size() < n_below; ++f) {
    std::vector<std::size_t> front;
    for (std::size_t i = 0; i < n; ++i)
      if (rank[i] == f) front.push_back(i);
    if (good.size() + front.size() <= n_below) {
      good.insert(good.end(), front.begin(), front.end());
      continue;
    }
    // Greedy hypervolume subset selection within the front that does not fit.
    const Objectives ref = reference_point(points);
    std::vector<Objectives> chosen;
    std::vector<bool> taken(front.size(), false);
    while (good.size() < n_below) {
      const double base = hypervolume(chosen, ref);
      std::size_t best = front.size();
      double best_gain = -1;
      for (std::size_t k = 0; k < front.size(); ++k) {
        if (taken[k]) continue;
        chosen.push_back(points[front[k]]);
        const double gain = hypervolume(chosen, ref) - base;
        chosen.pop_back();
        if (gain > best_gain) best_gain = gain, best = k;  // ties: the earlier trial
      }
      taken[best] = true;
      chosen.push_back(points[front[best]]);
      good.push_back(front[best]);
    }
  }
  std::sort(good.begin(), good.end());
  return good;
}

Sample motpe_sample(const Space& space, std::uint64_t seed, std::uint64_t trial,
                    const std::vector<MultiObservation>& done, const TpeOptions& options) {
  if (static_cast<int>(done.size()) < std::max(1, options.n_startup)) return random_sample(space, seed, trial);
  const auto below = motpe_good_group(done, options);
  std::vector<std::size_t> above;
  for (std::size_t i = 0, k = 0; i < done.size(); ++i) {
    if (k < below.size() && below[k] == i) {
      ++k;
      continue;
    }
    above.push_back(i);
  }
  std::vector<Sample> xs;
  xs.reserve(done.size());
  for (const auto& o : done) xs.push_back(o.x);
  return parzen_proposal(space, seed, trial, xs, below, std::move(above), options);
}

}  // namespace ablate::sweeps
