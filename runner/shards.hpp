// Job arrays (docs/RUNNER.md "Job arrays vs one MPI job"): `ablate run --shard i/N` runs a deterministic
// part of a study's tasks into its own store, `<name>.shard-<i>.sqlite`; `ablate merge` joins the shards.
//
// Contract.
// - Pure functions, no store, no MPI, no LibTorch: the coordinator calls them while planning, `plan` and
//   `submit` call array_refusal, and tests run them on scripted costs in milliseconds.
// - The assignment depends only on the study (its tasks in a canonical order, their estimated costs and
//   their shared trainings), never on what a shard has stored: every element of an array, started at any
//   time and requeued any number of times, computes the same shards, so the shards are disjoint and
//   together hold every task.
// - A shared training (ablations/sharing.hpp) is one unit: its members land in the same shard.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace ablate {
struct Study;  // ablations/study.hpp
}

namespace ablate::runner {

// Shard `index` of `count` (0-based, as Slurm's SLURM_ARRAY_TASK_ID); count 0 = the whole study.
struct Shard {
  int index = 0;
  int count = 0;
  bool active() const { return count > 0; }
};

// "i/N" with 0 <= i < N, both decimal integers. Throws std::invalid_argument naming the spec and what is
// allowed ("0/2", "1/2" are the shards of a 2-element array; "2/2", "a/b", "1" are refused).
Shard parse_shard(const std::string& spec);

// Indices of `cost` in longest-first order (LPT): descending cost, ties in index order. The coordinator
// queues its tasks in this order, and assign_shards fills its bins in it.
std::vector<std::size_t> longest_first(const std::vector<double>& cost);

// Greedy LPT: each unit, longest first, goes to the shard with the least cost so far (the lowest index on
// a tie). `units` are groups of task indices (a shared training, or one task), `task_cost` the estimated
// cost of each task; a unit costs its most expensive member (the members share one training, their
// evaluations are small beside it). Returns the shard of every task index (every index of `task_cost`
// must lie in exactly one unit). Throws std::invalid_argument when count < 1.
std::vector<int> assign_shards(const std::vector<std::vector<std::size_t>>& units,
                               const std::vector<double>& task_cost, int count);

// "" when the study can run as a job array; else why not and what to use instead: an adaptive search
// (sweep.method = "tpe", "motpe" or "nsga2") proposes each trial from the results stored so far, and ASHA or median stopping
// ([sweep.early_stop]) decides at each rung from the other trials' results, while the elements of an array
// never see each other's stores. Grids, designs and random or Sobol searches are fixed when the study
// loads and are fine.
std::string array_refusal(const Study& study);

// The store of shard `index` of a study: <study dir>/<study name>.shard-<index>.sqlite (beside the study's
// own store, default_db_path in runner/run.hpp).
std::string shard_db_path(const std::string& study_file, const std::string& study_name, int index);

}  // namespace ablate::runner
