#include "reports/study_index.hpp"

#include <algorithm>

namespace ablate::reports {

namespace {
// Looks a group up, remembering the last one: stores return rows grouped, so most rows hit the cache.
struct GroupCache {
  std::map<GroupKey, Series>& map;
  Series* last = nullptr;
  GroupKey last_key;
  Series& get(const std::string& variant, int cls, const std::string& metric) {
    if (last && last_key.cls == cls && last_key.variant == variant && last_key.metric == metric) return *last;
    last_key = GroupKey{variant, cls, metric};
    last = &map[last_key];
    return *last;
  }
};
}  // namespace

StudyIndex::StudyIndex(const db::StudyData& data) : data_(&data) {
  for (const auto& v : data.variants) labels_[v.name] = v.label.empty() ? v.name : v.label;
  GroupCache cache{series_, nullptr, GroupKey{}};
  for (const auto& r : data.fold_metrics) {
    cache.get(r.variant, r.cls, r.metric).folds.push_back({FoldKey{r.fold, r.repeat}, r.value});
  }
  cache.last = nullptr;
  for (const auto& r : data.case_metrics) {
    cache.get(r.variant, r.cls, r.metric).cases.push_back({CaseKey{r.fold, r.repeat, r.case_id}, r.value});
  }
  for (auto& [key, s] : series_) {
    std::sort(s.folds.begin(), s.folds.end());
    std::sort(s.cases.begin(), s.cases.end());
    classes_.insert(key.cls);
    metrics_.insert(key.metric);
    if (!s.folds.empty() || !s.cases.empty()) with_results_.insert(key.variant);
  }
}

const Series* StudyIndex::find(const std::string& variant, int cls, const std::string& metric) const {
  auto it = series_.find(GroupKey{variant, cls, metric});
  return it == series_.end() ? nullptr : &it->second;
}

std::vector<double> StudyIndex::values(const std::string& variant, int cls, const std::string& metric,
                                       const std::string& aggregate) const {
  std::vector<double> out;
  const Series* s = find(variant, cls, metric);
  if (!s) return out;
  if (aggregate == "cases") {
    out.reserve(s->cases.size());
    for (const auto& [k, v] : s->cases) out.push_back(v);
    return out;
  }
  if (!s->folds.empty()) {
    out.reserve(s->folds.size());
    for (const auto& [k, v] : s->folds) out.push_back(v);
    return out;
  }
  // No fold rows: the mean of each fold's cases (the cases are sorted by fold).
  for (std::size_t i = 0; i < s->cases.size();) {
    std::size_t j = i;
    double sum = 0;
    while (j < s->cases.size() && s->cases[j].first.fold == s->cases[i].first.fold &&
           s->cases[j].first.repeat == s->cases[i].first.repeat)
      sum += s->cases[j++].second;
    out.push_back(sum / static_cast<double>(j - i));
    i = j;
  }
  return out;
}

bool StudyIndex::has_variant(const std::string& name) const { return labels_.count(name) > 0; }
bool StudyIndex::has_results(const std::string& variant) const { return with_results_.count(variant) > 0; }

std::string StudyIndex::label(const std::string& variant) const {
  auto it = labels_.find(variant);
  return it == labels_.end() ? variant : it->second;
}

}  // namespace ablate::reports
