// [[report.published]] tables of a study file, read with located diagnostics.
#include "ablations/study_internal.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "ablations/published.hpp"

namespace ablate::study_internal {

// [[report.published]] tables (or, in canonical text, their one-line string form) -> the string form,
// with every row's location in `rows`. Each problem is located at its key or value.
std::optional<Value> read_published(const toml::node& node, const std::string& file, Diags& diags,
                                    std::vector<PublishedRow>& rows, std::vector<PublishedRow>& classes) {
  const std::string key = "report.published";
  Value v;
  v.type = ValueType::kString;
  if (const auto* text = node.as_string()) {  // the resolved configuration's form
    try {
      v.s = published_text(parse_published(text->get()));
    } catch (const std::exception& e) {
      diags.add(file, node.source(), key, e.what());
      return std::nullopt;
    }
    return v;
  }
  const toml::array* arr = node.as_array();
  if (arr && arr->empty()) return v;  // `published = []`: none (drops a base file's tables)
  if (!arr || !arr->is_array_of_tables()) {
    diags.add(file, node.source(), key,
              "expected [[report.published]] tables (source, dataset, class, scale, values, sd)");
    return std::nullopt;
  }
  const std::vector<std::string>& metrics = published_metrics();
  static const std::vector<std::string> fields = {"source", "dataset", "class", "scale", "values", "sd"};
  std::vector<PublishedTable> tables;
  // (dataset, class, row, metric) -> table index: two tables must not publish the same cell twice.
  std::map<std::tuple<std::string, std::string, std::string, std::string>, std::size_t> cells;
  for (std::size_t ti = 0; ti < arr->size(); ++ti) {
    const toml::table& t = *arr->get(ti)->as_table();
    PublishedTable p;
    const std::string where = key + "[" + std::to_string(ti + 1) + "]";
    for (const auto& [k, sub] : t) {
      const std::string name(k.str());
      if (std::find(fields.begin(), fields.end(), name) == fields.end()) {
        const std::string hint = closest(name, fields);
        diags.add(file, k.source(), where + "." + name,
                  "unknown key" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)") +
                      "; allowed: source, dataset, class, scale, values, sd");
        continue;
      }
      if (name == "source" || name == "dataset" || name == "class" || name == "scale") {
        if (!sub.is_string()) {
          diags.add(file, sub.source(), where + "." + name, "expected a string");
          continue;
        }
        const std::string text = sub.as_string()->get();
        if (name == "scale" && text != "percent" && text != "ratio") {
          diags.add(file, sub.source(), where + ".scale", "`" + text + "` is not one of: percent, ratio");
          continue;
        }
        if (name == "class") {
          if (text.empty()) {
            diags.add(file, sub.source(), where + ".class",
                      "expected a class name (one of report.class_names, or \"class k\"); leave `class` out for none");
            continue;
          }
          // Checked against report.class_names once the whole study is read.
          classes.push_back({ti, text, static_cast<int>(sub.source().begin.line), static_cast<int>(sub.source().begin.column)});
        }
        (name == "source" ? p.source : name == "dataset" ? p.dataset : name == "class" ? p.class_name : p.scale) = text;
      }
    }
    if (p.source.empty()) diags.add(file, t.source(), where + ".source", "every [[report.published]] needs a source (paper and table, e.g. \"001 Table II\")");
    for (const char* part : {"values", "sd"}) {
      const toml::node* sub = t.get(part);
      if (!sub) {
        if (std::string(part) == "values")
          diags.add(file, t.source(), where + ".values", "every [[report.published]] needs values: \"row\" = { metric = mean }");
        continue;
      }
      const toml::table* rows_table = sub->as_table();
      if (!rows_table) {
        diags.add(file, sub->source(), where + "." + part, "expected a table: \"row\" = { metric = number }");
        continue;
      }
      auto& dst = std::string(part) == "values" ? p.values : p.sd;
      for (const auto& [rk, metrics_node] : *rows_table) {
        const std::string row(rk.str());
        rows.push_back({ti, row, static_cast<int>(rk.source().begin.line), static_cast<int>(rk.source().begin.column)});
        const toml::table* m = metrics_node.as_table();
        if (!m) {
          diags.add(file, metrics_node.source(), where + "." + part + "." + row, "expected a table: { metric = number }");
          continue;
        }
        for (const auto& [mk, value] : *m) {
          const std::string metric(mk.str());
          const std::string at = where + "." + part + "." + row + "." + metric;
          if (std::find(metrics.begin(), metrics.end(), metric) == metrics.end()) {
            const std::string hint = closest(metric, metrics);
            diags.add(file, mk.source(), at,
                      "unknown metric" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)") +
                          "; allowed: those of report.metrics, or params");
            continue;
          }
          const auto x = value.value<double>();
          if (!x || !std::isfinite(*x) || *x < 0) {
            diags.add(file, value.source(), at, "expected a finite number >= 0");
            continue;
          }
          dst[row][metric] = *x;
        }
      }
    }
    for (const auto& [row, ms] : p.sd)
      for (const auto& [metric, x] : ms) {
        (void)x;
        auto r = p.values.find(row);
        if (r == p.values.end() || !r->second.count(metric))
          diags.add(file, t.source(), where + ".sd." + row + "." + metric, "a spread without a published mean in values");
      }
    for (const auto& [row, ms] : p.values)
      for (const auto& [metric, x] : ms) {
        (void)x;
        auto [it, fresh] = cells.emplace(std::make_tuple(p.dataset, p.class_name, row, metric), ti);
        if (!fresh)
          diags.add(file, t.source(), where + ".values." + row + "." + metric,
                    "already published by table " + std::to_string(it->second + 1) + " of the same dataset `" +
                        p.dataset + "`" + (p.class_name.empty() ? std::string() : " and class `" + p.class_name + "`"));
      }
    tables.push_back(std::move(p));
  }
  // With problems the value is kept all the same (the load fails anyway): the rows are still checked
  // against the variants, so that every problem of the tables is reported together.
  v.s = published_text(tables);
  return v;
}

}  // namespace ablate::study_internal
