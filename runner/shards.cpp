#include "runner/shards.hpp"

#include <algorithm>
#include <numeric>
#include <regex>
#include <stdexcept>

#include "ablations/study.hpp"
#include "runner/run.hpp"

namespace ablate::runner {

Shard parse_shard(const std::string& spec) {
  static const std::regex form(R"(([0-9]{1,6})/([0-9]{1,6}))");
  std::smatch m;
  const std::string allowed =
      " (allowed: I/N with 0 <= I < N, e.g. 0/2 and 1/2 for the two elements of an array)";
  if (!std::regex_match(spec, m, form))
    throw std::invalid_argument("--shard " + spec + ": not I/N" + allowed);
  Shard s{std::stoi(m[1]), std::stoi(m[2])};
  if (s.count < 1) throw std::invalid_argument("--shard " + spec + ": N must be at least 1" + allowed);
  if (s.index >= s.count) {
    throw std::invalid_argument("--shard " + spec + ": shard " + std::to_string(s.index) + " of " +
                                std::to_string(s.count) + " does not exist; shards count from 0" + allowed);
  }
  return s;
}

std::vector<std::size_t> longest_first(const std::vector<double>& cost) {
  std::vector<std::size_t> order(cost.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return cost[a] > cost[b]; });
  return order;
}

std::vector<int> assign_shards(const std::vector<std::vector<std::size_t>>& units,
                               const std::vector<double>& task_cost, int count) {
  if (count < 1)
    throw std::invalid_argument("assign_shards: " + std::to_string(count) + " shards (at least 1)");
  std::vector<double> unit_cost;
  for (const auto& u : units) {
    double c = 0;
    for (std::size_t i : u) c = std::max(c, task_cost.at(i));
    unit_cost.push_back(c);
  }
  std::vector<int> shard_of(task_cost.size(), -1);
  std::vector<double> load(static_cast<std::size_t>(count), 0.0);
  for (std::size_t u : longest_first(unit_cost)) {
    const auto least = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    load[static_cast<std::size_t>(least)] += unit_cost[u];
    for (std::size_t i : units[u]) {
      if (shard_of.at(i) != -1)
        throw std::invalid_argument("assign_shards: task " + std::to_string(i) + " in two units");
      shard_of[i] = least;
    }
  }
  for (std::size_t i = 0; i < shard_of.size(); ++i) {
    if (shard_of[i] == -1)
      throw std::invalid_argument("assign_shards: task " + std::to_string(i) + " in no unit");
  }
  return shard_of;
}

std::string array_refusal(const Study& study) {
  const std::string instead =
      "; run the study as one MPI job instead (`ablate submit` without --array, [resources] array = 0: one "
      "coordinator "
      "sees every result as it arrives)";
  if (study.search.adaptive()) {
    const std::string& m = study.search.method;
    const std::string how = m == "nsga2"   ? "NSGA-II breeds each generation from the results stored so far"
                            : m == "motpe" ? "multi-objective TPE proposes each trial from the results stored so far"
                                           : "TPE proposes each trial from the results stored so far";
    return study.file + ": sweep.method = \"" + m +
           "\" and a job array (--array, [resources] array, run --shard) do not combine: " + how +
           ", and the elements of an array never see each other's results" + instead +
           ", or sample with sweep.method = \"random\" or \"sobol\", which arrays run";
  }
  if (study.early_stop.method != "none") {
    return study.file + ": [sweep.early_stop] method = \"" + study.early_stop.method +
           "\" and a job array (--array, [resources] array, run --shard) do not combine: " +
           study.early_stop.method +
           " stopping decides at each rung from the other trials' results, and the elements of an array "
           "never see each "
           "other's results" +
           instead + ", or drop [sweep.early_stop] to run every trial to the end";
  }
  return "";
}

std::string shard_db_path(const std::string& study_file, const std::string& study_name, int index) {
  return default_db_path(study_file, study_name + ".shard-" + std::to_string(index));
}

}  // namespace ablate::runner
