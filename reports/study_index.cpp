#include "reports/study_index.hpp"

#include <algorithm>

#include "ablations/task.hpp"
#include "reports/format.hpp"

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

// Positions of `rows` ordered by case id, stable.
std::vector<std::size_t> by_case(const std::vector<std::pair<CaseKey, double>>& rows) {
  std::vector<std::size_t> order(rows.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  const auto id_less = [&](std::size_t a, std::size_t b) { return rows[a].first.case_id < rows[b].first.case_id; };
  if (!std::is_sorted(order.begin(), order.end(), id_less)) std::stable_sort(order.begin(), order.end(), id_less);
  return order;
}
}  // namespace

std::vector<double> case_means(const std::vector<std::pair<CaseKey, double>>& rows) {
  const std::vector<std::size_t> order = by_case(rows);
  std::vector<double> out;
  for (std::size_t i = 0; i < order.size();) {
    const std::string& id = rows[order[i]].first.case_id;
    std::size_t j = i;
    double sum = 0;
    for (; j < order.size() && rows[order[j]].first.case_id == id; ++j) sum += rows[order[j]].second;
    out.push_back(sum / static_cast<double>(j - i));
    i = j;
  }
  return out;
}

std::string StudyNames::class_name(int cls) const {
  return named(cls) ? class_names[static_cast<std::size_t>(cls - 1)] : "class " + std::to_string(cls);
}

bool StudyNames::named(int cls) const {
  return cls >= 1 && static_cast<std::size_t>(cls - 1) < class_names.size() &&
         !class_names[static_cast<std::size_t>(cls - 1)].empty();
}

std::string StudyNames::group_title(int cls, std::size_t n_classes) const {
  return show_class(cls, n_classes) ? dataset + " (" + class_name(cls) + ")" : dataset;
}

StudyNames study_names(const std::string& study, const ReportConfig& config) {
  return StudyNames{config.dataset.empty() ? study : config.dataset, config.class_names};
}

std::vector<StudyIndex> make_indexes(const std::vector<db::StudyData>& studies, const ReportConfig& config) {
  std::vector<StudyIndex> out;
  out.reserve(studies.size());
  for (std::size_t i = 0; i < studies.size(); ++i) {
    const ReportConfig own = i == 0 ? config : report_config_of(studies[i], nullptr);
    out.emplace_back(studies[i], study_names(studies[i].study, own));
  }
  return out;
}

StudyIndex::StudyIndex(const db::StudyData& data, StudyNames names) : data_(&data), names_(std::move(names)) {
  for (const auto& v : data.variants) labels_[v.name] = v.label.empty() ? v.name : v.label;
  GroupCache cache{series_, nullptr, GroupKey{}};
  for (const auto& r : data.fold_metrics) {
    cache.get(r.variant, r.cls, r.metric).folds.push_back({FoldKey{r.fold, r.repeat}, r.value});
  }
  cache.last = nullptr;
  std::map<GroupKey, std::map<CaseKey, double>> trivial;
  for (const auto& r : data.case_metrics) {
    std::string predictor, metric;
    if (is_trivial_metric(r.metric, &predictor, &metric)) {
      trivial[GroupKey{predictor, r.cls, metric}][CaseKey{r.fold, r.repeat, r.case_id}] = r.value;
      continue;
    }
    cache.get(r.variant, r.cls, r.metric).cases.push_back({CaseKey{r.fold, r.repeat, r.case_id}, r.value});
  }
  for (auto& [key, rows] : trivial) trivial_[key].cases.assign(rows.begin(), rows.end());
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

namespace {
std::vector<double> series_values(const Series* s, const std::string& aggregate) {
  std::vector<double> out;
  if (!s) return out;
  if (aggregate == "cases") return case_means(s->cases);
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
}  // namespace

std::vector<double> StudyIndex::values(const std::string& variant, int cls, const std::string& metric,
                                       const std::string& aggregate) const {
  return series_values(find(variant, cls, metric), aggregate);
}

std::vector<double> StudyIndex::trivial_values(const std::string& predictor, int cls,
                                               const std::string& metric,
                                               const std::string& aggregate) const {
  auto it = trivial_.find(GroupKey{predictor, cls, metric});
  return series_values(it == trivial_.end() ? nullptr : &it->second, aggregate);
}

std::vector<int> StudyIndex::classes_with(const std::vector<std::string>& metrics) const {
  std::set<int> classes;
  for (const auto& [key, s] : series_)
    if (std::find(metrics.begin(), metrics.end(), key.metric) != metrics.end()) classes.insert(key.cls);
  if (classes.empty()) classes.insert(1);
  return {classes.begin(), classes.end()};
}

std::string metric_title(const std::string& metric, const StudyNames& names, int cls, std::size_t n_classes) {
  return (names.show_class(cls, n_classes) ? names.class_name(cls) + " " : std::string()) + metric_display(metric);
}

MeanSd display_stats(const StudyIndex& index, const std::string& variant, int cls, const std::string& metric,
                     const ReportConfig& config) {
  std::vector<double> values = index.values(variant, cls, metric, config.aggregate);
  const double scale = config.percent && metric_is_ratio(metric) ? 100.0 : 1.0;
  for (double& v : values) v *= scale;
  return mean_sd(values);
}

MeanSd trivial_display_stats(const StudyIndex& index, const std::string& predictor, int cls,
                             const std::string& metric, const ReportConfig& config) {
  std::vector<double> values = index.trivial_values(predictor, cls, metric, config.aggregate);
  const double scale = config.percent && metric_is_ratio(metric) ? 100.0 : 1.0;
  for (double& v : values) v *= scale;
  return mean_sd(values);
}

std::vector<ClassMetric> class_metrics(const StudyIndex& index, const std::vector<std::string>& metrics) {
  std::vector<ClassMetric> out;
  const std::vector<int> classes = index.classes_with(metrics);
  for (int cls : classes)
    for (const auto& m : metrics)
      out.push_back({cls, m, metric_title(m, index.names(), cls, classes.size())});
  return out;
}

bool StudyIndex::has_variant(const std::string& name) const { return labels_.count(name) > 0; }
bool StudyIndex::has_results(const std::string& variant) const { return with_results_.count(variant) > 0; }

std::string StudyIndex::label(const std::string& variant) const {
  auto it = labels_.find(variant);
  return it == labels_.end() ? variant : it->second;
}

}  // namespace ablate::reports
