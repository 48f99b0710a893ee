// The multi-objective samplers (sweeps/multi_objective.hpp) against random search on ZDT1 (convex front)
// and ZDT2 (concave front), five variables: the hypervolume (reference (1.1, 11)) of what each found after
// the same number of evaluations, per seed, paired (the same seed gives every method the same first trials).
// No training: the analytic functions stand for a study's objectives. Figures: docs/PERFORMANCE.md.
//
//   build/bin/bench_multi_objective [--budget 120] [--seeds 8]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sweeps/multi_objective.hpp"
#include "sweeps/pareto.hpp"
#include "sweeps/samplers.hpp"

using namespace ablate::sweeps;

namespace {

Objectives zdt(const Sample& x, bool concave) {
  double s = 0;
  for (std::size_t i = 1; i < x.size(); ++i) s += x[i];
  const double g = 1 + 9 * s / static_cast<double>(x.size() - 1);
  const double r = x[0] / g;
  return {x[0], g * (1 - (concave ? r * r : std::sqrt(r)))};
}

double run(int method, bool concave, std::uint64_t seed, int budget) {
  Space space;
  for (int i = 0; i < 5; ++i) space.push_back({"x" + std::to_string(i), Distribution::kUniform, 0, 1, {}});
  std::vector<MultiObservation> done;
  std::vector<Objectives> found;
  TpeOptions tpe;
  tpe.n_startup = 16;
  for (int t = 0; t < budget; ++t) {
    const auto tt = static_cast<std::uint64_t>(t);
    const Sample x = method == 0 ? random_sample(space, seed, tt)
                     : method == 1 ? nsga2_sample(space, seed, tt, done)
                                   : motpe_sample(space, seed, tt, done, tpe);
    done.push_back({x, zdt(x, concave)});
    found.push_back(done.back().objectives);
  }
  return hypervolume(found, {1.1, 11.0});
}

}  // namespace

int main(int argc, char** argv) {
  int budget = 120, seeds = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--budget")) budget = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seeds")) seeds = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: bench_multi_objective [--budget N] [--seeds N]\n");
      return 2;
    }
  }
  // The true front (g = 1) sampled densely, for scale.
  const char* names[] = {"random", "NSGA-II", "MOTPE"};
  for (const bool concave : {false, true}) {
    std::vector<Objectives> front;
    for (int i = 0; i <= 10000; ++i) {
      const double f1 = i / 10000.0;
      front.push_back({f1, 1 - (concave ? f1 * f1 : std::sqrt(f1))});
    }
    std::printf("%s, %d evaluations, hypervolume of the true front %.4f\n", concave ? "ZDT2" : "ZDT1", budget,
                hypervolume(front, {1.1, 11.0}));
    std::printf("seed  %10s %10s %10s\n", names[0], names[1], names[2]);
    double sum[3] = {0, 0, 0};
    int wins[3] = {0, 0, 0};
    for (int s = 1; s <= seeds; ++s) {
      double hv[3];
      for (int m = 0; m < 3; ++m) hv[m] = run(m, concave, static_cast<std::uint64_t>(s), budget), sum[m] += hv[m];
      for (int m = 1; m < 3; ++m) wins[m] += hv[m] > hv[0];
      std::printf("%4d  %10.4f %10.4f %10.4f\n", s, hv[0], hv[1], hv[2]);
    }
    std::printf("mean  %10.4f %10.4f %10.4f   (above random in %d and %d of %d seeds)\n\n", sum[0] / seeds,
                sum[1] / seeds, sum[2] / seeds, wins[1], wins[2], seeds);
  }
  return 0;
}
