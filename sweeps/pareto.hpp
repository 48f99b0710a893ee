// Pareto geometry for searches and reports with several objectives: dominance, non-dominated sorting,
// crowding distance and the hypervolume indicator with each point's exclusive contribution.
//
// Contract: pure functions of their arguments; no MPI, LibTorch, SQLite, clocks, randomness or global
// state; safe to call from any thread. Every objective is MINIMISED: a caller negates a metric where
// higher is better (Dice) before calling, exactly as for sweeps::Observation. A vector holding a NaN is
// dominated by every finite vector and dominates none (a failed measurement never enters a front ahead of
// a real one); all vectors passed to one call have the same number of objectives (checked: std::invalid_argument).
//
// References: K. Deb, A. Pratap, S. Agarwal, T. Meyarivan, "A fast and elitist multiobjective genetic
// algorithm: NSGA-II", IEEE TEC 6(2), 2002 (Sec. III-A fast non-dominated sort, III-B crowding distance);
// E. Zitzler, L. Thiele, "Multiobjective optimization using evolutionary algorithms — a comparative case
// study", PPSN 1998 (the hypervolume, "size of the space covered"); L. While, P. Hingston, L. Barone,
// S. Huband, "A faster algorithm for calculating hypervolume", IEEE TEC 10(1), 2006 (HSO: slicing one
// objective at a time, used here for three and more objectives).
#pragma once

#include <cstddef>
#include <vector>

namespace ablate::sweeps {

using Objectives = std::vector<double>;  // one value per objective, each lower is better

// a dominates b: a is no worse in every objective and better in at least one.
bool dominates(const Objectives& a, const Objectives& b);

// The front of each point: 0 for the non-dominated points, 1 for those dominated only by front 0, and so
// on (Deb et al.'s fast non-dominated sort, O(M N^2)). Points with a NaN form the last front.
std::vector<int> non_dominated_ranks(const std::vector<Objectives>& points);

// Indices of the non-dominated points (front 0), in their order. Equal points are all non-dominated.
std::vector<std::size_t> pareto_front(const std::vector<Objectives>& points);

// Crowding distance of each point of `members` (indices into `points`, typically one front): per
// objective, the gap between the point's two neighbours in that objective divided by the objective's
// range, summed; the extreme points of every objective get +infinity. Returned in the order of `members`.
std::vector<double> crowding_distance(const std::vector<Objectives>& points, const std::vector<std::size_t>& members);

// The hypervolume of the region dominated by `points` and bounded by `reference` (every point must be
// better than the reference in each objective to contribute; those that are not add nothing). Exact:
// a sweep for two objectives, HSO slicing for more (O(N^(M-1) log N): meant for the tens to hundreds of
// trials of a study, not for thousands of points in many objectives).
double hypervolume(const std::vector<Objectives>& points, const Objectives& reference);

// Each point's exclusive contribution: hypervolume(all) - hypervolume(all but that point). A dominated or
// duplicated point contributes 0.
std::vector<double> hypervolume_contributions(const std::vector<Objectives>& points, const Objectives& reference);

// The reference point MOTPE's subset selection and the reports' hypervolumes use: each objective's worst
// finite value plus a tenth of its range (plus 1 where every value is the same), so that the extreme points
// of a front still contribute. Objectives that are NaN everywhere get 1.
Objectives reference_point(const std::vector<Objectives>& points);

}  // namespace ablate::sweeps
