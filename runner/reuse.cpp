#include "runner/reuse.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "ablations/sharing.hpp"

namespace ablate::runner {

std::vector<db::FoldCases> make_folds(const RunOptions& o, const VariantConfig& base) {
  std::vector<std::string> cases;
  try {
    cases = o.list_cases(base.data);
  } catch (const std::exception& e) {
    throw RunRefused(RunRefused::kInput, o.study_file + ": data.path: " + e.what());
  }
  if (cases.empty()) throw RunRefused(RunRefused::kInput, base.data.path + ": the dataset has no training cases");
  std::vector<db::FoldCases> folds;
  for (int r = 0; r < std::max(1, base.study.repeats); ++r) {
    std::vector<CaseSplit> splits;
    try {
      splits = o.make_splits(cases, base.study, r);
    } catch (const std::exception& e) {
      // Too few cases for the folds or the split: the dataset does not fit the study (input, exit 2).
      throw RunRefused(RunRefused::kInput, base.data.path + ": " + std::to_string(cases.size()) + " case(s): " + e.what());
    }
    for (std::size_t f = 0; f < splits.size(); ++f) {
      db::FoldCases fc;
      fc.fold = static_cast<int>(f);
      fc.repeat = r;
      fc.train = splits[f].train;
      fc.val = splits[f].val;
      fc.test = splits[f].test;
      folds.push_back(std::move(fc));
    }
  }
  return folds;
}

std::string fingerprint_of(const RunOptions& o, const DataConfig& data) {
  if (!o.data_fingerprint) return "";
  try {
    return o.data_fingerprint(data);
  } catch (const std::exception& e) {
    spdlog::warn("the dataset has no fingerprint, so no finished training is reused nor made reusable: {}", e.what());
    return "";
  }
}

std::uint64_t task_seed(const StudyConfig& study, int repeat) { return study.seed + static_cast<std::uint64_t>(repeat); }

std::string reuse_key(const Variant& v, const db::FoldCases& f, const std::string& data_fingerprint) {
  const std::string trained =
      task_training_key(v.config, task_seed(v.config.study, f.repeat), f.train, f.val, data_fingerprint);
  return task_result_key(trained, v.hash, f.val, f.test);
}

ReuseFinder::ReuseFinder(const db::Store* own, const std::vector<std::string>& others) : own_(own) {
  for (const auto& path : others) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      throw std::runtime_error("--reuse " + path + ": no such store (expected an ablate .sqlite file)");
    }
    try {
      others_.push_back(std::make_unique<db::Store>(path, /*read_only=*/true));
    } catch (const std::exception& e) {
      throw std::runtime_error("--reuse " + path + ": " + e.what());
    }
  }
}

ReuseFinder::~ReuseFinder() = default;

std::optional<db::ReuseSource> ReuseFinder::find(const std::string& key, std::int64_t except_task) const {
  if (key.empty()) return std::nullopt;
  std::optional<db::ReuseSource> s;
  if (own_) s = own_->find_reusable(key, except_task);
  for (std::size_t i = 0; !s && i < others_.size(); ++i) s = others_[i]->find_reusable(key);
  // The provenance names the store wherever the reader stands.
  if (s) s->store = std::filesystem::absolute(s->store).lexically_normal().string();
  return s;
}

}  // namespace ablate::runner
