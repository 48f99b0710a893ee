#include "ablations/sharing.hpp"

#include <algorithm>
#include <map>
#include <tuple>

#include "ablations/study.hpp"

namespace ablate {

std::string training_key(const VariantConfig& config) { return config_hash(config, /*training_only=*/true); }

std::string training_not_shareable(const VariantConfig& config) {
  if (config.train.scheduler == "plateau") {
    return "train.scheduler = \"plateau\" lowers the rate on the validation score, which the evaluation-only keys change";
  }
  if (config.train.early_stop_patience > 0) {
    return "train.early_stop_patience > 0 ends training on the validation score, which the evaluation-only keys change";
  }
  return "";
}

std::vector<std::vector<std::size_t>> training_groups(const std::vector<ShareCandidate>& tasks) {
  std::vector<std::vector<std::size_t>> groups;
  std::map<std::tuple<std::string, int, int>, std::size_t> group_of;  // (training key, fold, repeat) -> group
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const ShareCandidate& t = tasks[i];
    if (!t.shareable) {
      groups.push_back({i});
      continue;
    }
    const auto key = std::make_tuple(t.training_key, t.fold, t.repeat);
    auto it = group_of.find(key);
    if (it == group_of.end()) {
      group_of.emplace(key, groups.size());
      groups.push_back({i});
    } else {
      groups[it->second].push_back(i);
    }
  }
  // The member that trains: the lowest ordinal (ties: the lowest index), so that a rerun picks the same one
  // and finds its checkpoint.
  for (auto& g : groups) {
    auto first = std::min_element(g.begin(), g.end(), [&](std::size_t a, std::size_t b) {
      return std::make_pair(tasks[a].ordinal, a) < std::make_pair(tasks[b].ordinal, b);
    });
    std::rotate(g.begin(), first, first + 1);
  }
  return groups;
}

SharingSummary summarize_sharing(const std::vector<std::vector<std::size_t>>& groups) {
  SharingSummary s;
  s.trainings = groups.size();
  for (const auto& g : groups) s.tasks += g.size();
  s.evaluated_from_shared = s.tasks - s.trainings;
  return s;
}

namespace {

void add_cases(std::string& text, const char* split, const std::vector<std::string>& cases) {
  // Each id with its length, so that no two lists of ids give the same text (an id may hold a space).
  text += split;
  for (const auto& c : cases) text += " " + std::to_string(c.size()) + ":" + c;
  text += "\n";
}

}  // namespace

std::string task_training_key(const VariantConfig& config, std::uint64_t seed, const std::vector<std::string>& train_cases,
                              const std::vector<std::string>& val_cases, const std::string& data_fingerprint) {
  if (data_fingerprint.empty()) return "";
  const bool steered = !training_not_shareable(config).empty();
  std::string text = "training " + (steered ? config_hash(config) : training_key(config)) + "\n";
  text += "seed " + std::to_string(seed) + "\n";
  text += "data " + data_fingerprint + "\n";
  add_cases(text, "train", train_cases);
  if (steered) add_cases(text, "val", val_cases);
  return sha256_hex(text).substr(0, 16);
}

std::string task_result_key(const std::string& training_key, const std::string& variant_hash,
                            const std::vector<std::string>& val_cases, const std::vector<std::string>& test_cases) {
  if (training_key.empty()) return "";
  std::string text = "trained " + training_key + "\nvariant " + variant_hash + "\n";
  add_cases(text, "val", val_cases);
  add_cases(text, "test", test_cases);
  return sha256_hex(text).substr(0, 16);
}

}  // namespace ablate
