// Samplers for searches with several objectives (accuracy against cost: Dice against parameters or
// inference time): NSGA-II and multi-objective TPE, as proposals in the same terms as sweeps/samplers.hpp.
//
// Contract: pure functions of (space, seed, trial index, the finished trials); no MPI, LibTorch, SQLite,
// clocks or global state, so the same call gives the same proposal on any rank, run and platform, and a
// coordinator that replays its stored trials proposes the same points again. Randomness comes from
// sweeps::Rng streams of (seed, trial), never from a std:: distribution. Every objective is minimised
// (negate a metric where higher is better); an observation whose objectives hold a NaN (a failed or
// unmeasured trial) ranks behind every finite one (sweeps/pareto.hpp). Safe to call from any thread.
#pragma once

#include <cstdint>
#include <vector>

#include "sweeps/pareto.hpp"
#include "sweeps/samplers.hpp"

namespace ablate::sweeps {

// One finished trial with all its objectives.
struct MultiObservation {
  Sample x;
  Objectives objectives;  // each lower is better
};

// NSGA-II (Deb, Pratap, Agarwal, Meyarivan, IEEE TEC 6(2), 2002) in steady-state form, as an asynchronous
// study needs (a free worker asks for one proposal; there are no synchronous generations):
//  - while fewer than `population` trials are finished, the proposal is random_sample(seed, trial);
//  - otherwise the finished trials are ranked by front (non-dominated sorting), then by crowding distance
//    within the front (larger first), and the best `population` form the parents' pool;
//  - two parents are drawn by binary tournament on that order (crowded comparison);
//  - numeric parameters, in the unit space of from_unit, get simulated binary crossover (Deb and Agrawal
//    1995, bounded form, index eta_crossover) with probability crossover_prob, then polynomial mutation
//    (index eta_mutation) with probability 1/d per parameter (d = the number of parameters); a choice
//    parameter takes either parent's choice and is redrawn uniformly with probability 1/d.
// Draws for trial t come from Rng(seed, (t + 1) * 4096 + 2048 + k), k < 2048.
struct Nsga2Options {
  int population = 16;  // Optuna's default is 50; studies of ablate run tens of trials
  double crossover_prob = 0.9;
  double eta_crossover = 20;
  double eta_mutation = 20;
};
Sample nsga2_sample(const Space& space, std::uint64_t seed, std::uint64_t trial,
                    const std::vector<MultiObservation>& done, const Nsga2Options& options = {});

// Multi-objective TPE (Ozaki, Tanigaki, Watanabe, Onishi, "Multiobjective tree-structured Parzen
// estimator for computationally expensive optimization problems", GECCO 2020; Optuna's MOTPE): as
// tpe_sample, with the "good" group chosen by the objectives together instead of by one value:
//  - n_below = min(ceil(gamma * n), max_below) as for TPE;
//  - the fronts of non-dominated sorting fill the good group in order; the front that does not fit
//    entirely is thinned by greedy hypervolume subset selection: repeatedly the member that adds the most
//    hypervolume to the members already chosen (reference point: each objective's worst finite value plus
//    a tenth of its range, or plus 1 where the range is 0);
//  - the Parzen estimators and the candidates are tpe_sample's (the same draws for the same split).
Sample motpe_sample(const Space& space, std::uint64_t seed, std::uint64_t trial,
                    const std::vector<MultiObservation>& done, const TpeOptions& options = {});

// The indices of `done` in MOTPE's good group (exposed for tests and for the report's explanation).
std::vector<std::size_t> motpe_good_group(const std::vector<MultiObservation>& done, const TpeOptions& options = {});

}  // namespace ablate::sweeps
