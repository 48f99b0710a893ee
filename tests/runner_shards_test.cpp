// Job arrays' shards (runner/shards.hpp) on scripted costs: the spec parser, the longest-first order, the
// LPT assignment (deterministic, balanced on cost rather than on count, shared trainings kept together,
// disjoint shards whose union is every task) and the studies arrays refuse. Milliseconds, no store.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ablations/study.hpp"
#include "runner/shards.hpp"

namespace {

using ablate::runner::array_refusal;
using ablate::runner::assign_shards;
using ablate::runner::longest_first;
using ablate::runner::parse_shard;
using ablate::runner::shard_db_path;

std::vector<std::vector<std::size_t>> singletons(std::size_t n) {
  std::vector<std::vector<std::size_t>> units;
  for (std::size_t i = 0; i < n; ++i) units.push_back({i});
  return units;
}

std::vector<double> loads(const std::vector<int>& shard_of, const std::vector<double>& cost, int count) {
  std::vector<double> load(static_cast<std::size_t>(count), 0.0);
  for (std::size_t i = 0; i < shard_of.size(); ++i) load[static_cast<std::size_t>(shard_of[i])] += cost[i];
  return load;
}

std::string refusal_of(const std::string& spec) {
  try {
    parse_shard(spec);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Shards, ParsesIOfNCountingFromZero) {
  const auto a = parse_shard("0/2");
  EXPECT_EQ(a.index, 0);
  EXPECT_EQ(a.count, 2);
  EXPECT_TRUE(a.active());
  const auto b = parse_shard("6/7");
  EXPECT_EQ(b.index, 6);
  EXPECT_EQ(b.count, 7);
  EXPECT_FALSE(ablate::runner::Shard{}.active());
}

TEST(Shards, RefusesBadSpecsNamingThemAndWhatIsAllowed) {
  for (const char* spec :
       {"2/2", "3/2", "0/0", "a/b", "1", "-1/2", "1/2/3", " 1/2", "1/2 ", "", "1/", "/2"}) {
    const std::string why = refusal_of(spec);
    ASSERT_FALSE(why.empty()) << "accepted: '" << spec << "'";
    EXPECT_NE(why.find("--shard " + std::string(spec) + ":"), std::string::npos) << why;
    EXPECT_NE(why.find("allowed: I/N with 0 <= I < N"), std::string::npos) << why;
  }
  EXPECT_NE(refusal_of("2/2").find("shards count from 0"), std::string::npos) << refusal_of("2/2");
}

TEST(Shards, LongestFirstKeepsTiesInIndexOrder) {
  EXPECT_EQ(longest_first({1, 5, 3, 5, 0}), (std::vector<std::size_t>{1, 3, 2, 0, 4}));
  EXPECT_TRUE(longest_first({}).empty());
}

// One long task and ten short ones on two shards: counting tasks would put the long one beside five
// short ones (makespan 15); balancing the cost gives it a shard of its own (makespan 10).
TEST(Shards, BalanceEstimatedCostNotTaskCount) {
  std::vector<double> cost(11, 1.0);
  cost[4] = 10.0;
  const auto shard_of = assign_shards(singletons(cost.size()), cost, 2);
  const auto load = loads(shard_of, cost, 2);
  EXPECT_DOUBLE_EQ(*std::max_element(load.begin(), load.end()), 10.0);
  EXPECT_EQ(std::count(shard_of.begin(), shard_of.end(), shard_of[4]), 1)
      << "the long task shares its shard with nothing";
  // The same tasks dealt out by count (round robin in index order) would end later.
  std::vector<double> by_count(2, 0.0);
  for (std::size_t i = 0; i < cost.size(); ++i) by_count[i % 2] += cost[i];
  EXPECT_GT(*std::max_element(by_count.begin(), by_count.end()), 10.0);
}

TEST(Shards, SameInputSameShards) {
  const std::vector<double> cost = {3, 3, 2, 2, 2, 1, 1, 7, 0.5, 3};
  const auto a = assign_shards(singletons(cost.size()), cost, 3);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(assign_shards(singletons(cost.size()), cost, 3), a);
  // Ties go to the lowest shard: equal tasks fill shards 0, 1, 2 in turn.
  EXPECT_EQ(assign_shards(singletons(3), {1, 1, 1}, 3), (std::vector<int>{0, 1, 2}));
}

TEST(Shards, SharedTrainingsLandInOneShard) {
  // Units: a shared training of tasks 0, 3 and 5 (it costs one training, 4), tasks 1 and 4 together,
  // task 2 alone.
  const std::vector<std::vector<std::size_t>> units = {{0, 3, 5}, {1, 4}, {2}};
  const std::vector<double> cost = {4, 3, 2, 4, 3, 4};
  const auto shard_of = assign_shards(units, cost, 2);
  EXPECT_EQ(shard_of[0], shard_of[3]);
  EXPECT_EQ(shard_of[0], shard_of[5]);
  EXPECT_EQ(shard_of[1], shard_of[4]);
  // The shared training counts once (4), not three times: the units 4 | 3 + 2 balance as 4 and 5.
  EXPECT_NE(shard_of[0], shard_of[1]);
  EXPECT_EQ(shard_of[1], shard_of[2]);
}

// Random units and costs: every task in exactly one shard of 0..N-1 (so the shards are disjoint and their
// union is every task), and greedy list scheduling's bound holds (no shard above the mean plus one unit).
TEST(Shards, EveryTaskInExactlyOneShardAndLoadsBounded) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    const std::size_t n = 1 + rng() % 40;
    const int count = 1 + static_cast<int>(rng() % 6);
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<std::vector<std::size_t>> units;
    for (std::size_t i = 0; i < n;) {
      const std::size_t size = std::min<std::size_t>(n - i, 1 + rng() % 3);
      units.emplace_back(order.begin() + static_cast<long>(i), order.begin() + static_cast<long>(i + size));
      i += size;
    }
    std::vector<double> cost(n);
    for (auto& c : cost) c = 0.5 + static_cast<double>(rng() % 100);
    const auto shard_of = assign_shards(units, cost, count);
    ASSERT_EQ(shard_of.size(), n);
    std::set<std::size_t> seen;
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_GE(shard_of[i], 0);
      ASSERT_LT(shard_of[i], count);
      seen.insert(i);
    }
    EXPECT_EQ(seen.size(), n);
    double total = 0, largest = 0;
    std::vector<double> load(static_cast<std::size_t>(count), 0.0);
    for (const auto& u : units) {
      double c = 0;
      for (std::size_t i : u) {
        c = std::max(c, cost[i]);
        EXPECT_EQ(shard_of[i], shard_of[u.front()]);
      }
      total += c, largest = std::max(largest, c);
      load[static_cast<std::size_t>(shard_of[u.front()])] += c;
    }
    EXPECT_LE(*std::max_element(load.begin(), load.end()), total / count + largest + 1e-9);
  }
}

TEST(Shards, RefusesMalformedUnits) {
  EXPECT_THROW(assign_shards(singletons(2), {1, 1}, 0), std::invalid_argument);
  EXPECT_THROW(assign_shards({{0, 1}, {1}}, {1, 1}, 2), std::invalid_argument);  // task 1 twice
  EXPECT_THROW(assign_shards({{0}}, {1, 1}, 2), std::invalid_argument);          // task 1 in none
}

TEST(Shards, ArraysRefuseStudiesWhoseNextTaskDependsOnFinishedOnes) {
  ablate::Study study;
  study.file = "s.toml";
  EXPECT_EQ(array_refusal(study), "");  // a grid
  study.search.method = "random";
  EXPECT_EQ(array_refusal(study), "");
  study.search.method = "sobol";
  EXPECT_EQ(array_refusal(study), "");
  study.search.method = "tpe";
  std::string why = array_refusal(study);
  for (const char* part : {"s.toml", "sweep.method = \"tpe\"", "job array", "results stored so far",
                           "one MPI job", "\"random\""}) {
    EXPECT_NE(why.find(part), std::string::npos) << part << " in: " << why;
  }
  // Every adaptive search is named as written, with how it depends on results.
  for (const auto& [method, how] : std::vector<std::pair<std::string, std::string>>{
           {"motpe", "multi-objective TPE proposes"}, {"nsga2", "NSGA-II breeds each generation"}}) {
    study.search.method = method;
    why = array_refusal(study);
    for (const std::string& part : {"sweep.method = \"" + method + "\" and a job array", how, std::string("one MPI job")}) {
      EXPECT_NE(why.find(part), std::string::npos) << part << " in: " << why;
    }
  }
  study.search.method = "grid";
  for (const std::string& method : std::vector<std::string>{"asha", "median"}) {
    study.early_stop.method = method;
    why = array_refusal(study);
    for (const std::string& part :
         {"[sweep.early_stop] method = \"" + method + "\"", std::string("job array"),
          std::string("at each rung"), std::string("one MPI job")}) {
      EXPECT_NE(why.find(part), std::string::npos) << part << " in: " << why;
    }
  }
}

TEST(Shards, ShardStoresLieBesideTheStudy) {
  EXPECT_EQ(shard_db_path("/a/b/study.toml", "tiny", 1), "/a/b/tiny.shard-1.sqlite");
  EXPECT_EQ(shard_db_path("study.toml", "tiny", 0), "tiny.shard-0.sqlite");
}
