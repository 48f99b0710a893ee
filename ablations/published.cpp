// [[report.published]] (ablations/published.hpp): the one parser of the tables, with the loader's located
// diagnostics, and their one-line TOML form.
#include "ablations/published.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <tuple>

#include "ablations/schema.hpp"
#include "ablations/study_internal.hpp"
#include "sweeps/metric.hpp"

namespace ablate {

namespace {

using study_internal::Diags;
using study_internal::PublishedRow;

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\', out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Shortest decimal that reads back to the same double, always a TOML float.
std::string number_literal(double d) {
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

std::string rows_literal(const std::map<std::string, std::map<std::string, double>>& rows) {
  std::string out = "{";
  bool first_row = true;
  for (const auto& [row, metrics] : rows) {
    out += std::string(first_row ? " " : ", ") + quoted(row) + " = {";
    bool first = true;
    for (const auto& [metric, value] : metrics) {
      out += std::string(first ? " " : ", ") + metric + " = " + number_literal(value);
      first = false;
    }
    out += " }";
    first_row = false;
  }
  return out + (rows.empty() ? "}" : " }");
}

const std::string kKey = "report.published";

int line_of(const toml::source_region& r) { return static_cast<int>(r.begin.line); }
int column_of(const toml::source_region& r) { return static_cast<int>(r.begin.column); }

// What one table is read into, and where its rows and class are written.
struct TableReader {
  const std::string& file;
  Diags& diags;
  std::vector<PublishedRow>& rows;
  std::vector<PublishedRow>& classes;
};

// source, dataset, class, scale of table `ti`; unknown keys are located with a did-you-mean.
void read_table_fields(const toml::table& t, std::size_t ti, const std::string& where, PublishedTable& p, TableReader& r) {
  static const std::vector<std::string> fields = {"source", "dataset", "class", "scale", "values", "sd"};
  for (const auto& [k, sub] : t) {
    const std::string name(k.str());
    if (std::find(fields.begin(), fields.end(), name) == fields.end()) {
      const std::string hint = closest(name, fields);
      r.diags.add(r.file, k.source(), where + "." + name,
                  "unknown key" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)") +
                      "; allowed: source, dataset, class, scale, values, sd");
      continue;
    }
    if (name != "source" && name != "dataset" && name != "class" && name != "scale") continue;
    if (!sub.is_string()) {
      r.diags.add(r.file, sub.source(), where + "." + name, "expected a string");
      continue;
    }
    const std::string text = sub.as_string()->get();
    if (name == "scale" && text != "percent" && text != "ratio") {
      r.diags.add(r.file, sub.source(), where + ".scale", "`" + text + "` is not one of: percent, ratio");
      continue;
    }
    if (name == "class") {
      if (text.empty()) {
        r.diags.add(r.file, sub.source(), where + ".class",
                    "expected a class name (one of report.class_names, or \"class k\"); leave `class` out for none");
        continue;
      }
      // Checked against report.class_names once the whole study is read.
      r.classes.push_back({ti, text, line_of(sub.source()), column_of(sub.source())});
    }
    (name == "source" ? p.source : name == "dataset" ? p.dataset : name == "class" ? p.class_name : p.scale) = text;
  }
  if (p.source.empty())
    r.diags.add(r.file, t.source(), where + ".source",
                "every [[report.published]] needs a source (paper and table, e.g. \"001 Table II\")");
}

// values and sd of table `ti`: "row" = { metric = number >= 0 }, metrics those of published_metrics().
void read_table_rows(const toml::table& t, std::size_t ti, const std::string& where, PublishedTable& p, TableReader& r) {
  const std::vector<std::string>& metrics = published_metrics();
  for (const char* part : {"values", "sd"}) {
    const toml::node* sub = t.get(part);
    if (!sub) {
      if (std::string(part) == "values")
        r.diags.add(r.file, t.source(), where + ".values", "every [[report.published]] needs values: \"row\" = { metric = mean }");
      continue;
    }
    const toml::table* rows_table = sub->as_table();
    if (!rows_table) {
      r.diags.add(r.file, sub->source(), where + "." + part, "expected a table: \"row\" = { metric = number }");
      continue;
    }
    auto& dst = std::string(part) == "values" ? p.values : p.sd;
    for (const auto& [rk, metrics_node] : *rows_table) {
      const std::string row(rk.str());
      r.rows.push_back({ti, row, line_of(rk.source()), column_of(rk.source())});
      const toml::table* m = metrics_node.as_table();
      if (!m) {
        r.diags.add(r.file, metrics_node.source(), where + "." + part + "." + row, "expected a table: { metric = number }");
        continue;
      }
      for (const auto& [mk, value] : *m) {
        const std::string metric(mk.str());
        const std::string at = where + "." + part + "." + row + "." + metric;
        if (std::find(metrics.begin(), metrics.end(), metric) == metrics.end()) {
          const std::string hint = closest(metric, metrics);
          r.diags.add(r.file, mk.source(), at,
                      "unknown metric" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)") +
                          "; allowed: those of report.metrics, or params");
          continue;
        }
        const auto x = value.value<double>();
        if (!x || !std::isfinite(*x) || *x < 0) {
          r.diags.add(r.file, value.source(), at, "expected a finite number >= 0");
          continue;
        }
        // The overlap metrics (those of report.metrics where higher is better) are ratios: at most 1, or 100 in
        // percent; params (millions) and the distances (mm) have no such bound.
        const double top = p.scale == "ratio" ? 1.0 : 100.0;
        if (metric != "params" && sweeps::higher_is_better(metric) && *x > top) {
          r.diags.add(r.file, value.source(), at,
                      "`" + metric + "` is an overlap ratio: at most " + (p.scale == "ratio" ? "1" : "100") +
                          " with scale = \"" + p.scale + "\"" +
                          (p.scale == "ratio" && *x <= 100 ? " (a percentage? write scale = \"percent\")" : ""));
          continue;
        }
        dst[row][metric] = *x;
      }
    }
  }
}

// (dataset, class, row, metric) -> the table that publishes it.
using Cells = std::map<std::tuple<std::string, std::string, std::string, std::string>, std::size_t>;

// A spread needs its mean; two tables must not publish the same cell twice.
void check_cells(const toml::table& t, std::size_t ti, const std::string& where, const PublishedTable& p, Cells& cells,
                 TableReader& r) {
  for (const auto& [row, ms] : p.sd)
    for (const auto& [metric, x] : ms) {
      (void)x;
      auto it = p.values.find(row);
      if (it == p.values.end() || !it->second.count(metric))
        r.diags.add(r.file, t.source(), where + ".sd." + row + "." + metric, "a spread without a published mean in values");
    }
  for (const auto& [row, ms] : p.values)
    for (const auto& [metric, x] : ms) {
      (void)x;
      auto [it, fresh] = cells.emplace(std::make_tuple(p.dataset, p.class_name, row, metric), ti);
      if (!fresh)
        r.diags.add(r.file, t.source(), where + ".values." + row + "." + metric,
                    "already published by table " + std::to_string(it->second + 1) + " of the same dataset `" +
                        p.dataset + "`" + (p.class_name.empty() ? std::string() : " and class `" + p.class_name + "`"));
    }
}

// An array of [[report.published]] tables. With problems the tables are kept all the same (the caller
// fails anyway): the loader still checks the rows against the variants, so that every problem of the
// tables is reported together.
std::vector<PublishedTable> read_tables(const toml::array& arr, TableReader& r) {
  std::vector<PublishedTable> tables;
  Cells cells;
  for (std::size_t ti = 0; ti < arr.size(); ++ti) {
    const toml::table& t = *arr.get(ti)->as_table();
    const std::string where = kKey + "[" + std::to_string(ti + 1) + "]";
    PublishedTable p;
    read_table_fields(t, ti, where, p, r);
    read_table_rows(t, ti, where, p, r);
    check_cells(t, ti, where, p, cells, r);
    tables.push_back(std::move(p));
  }
  return tables;
}

// The one-line form (published_text's) at `node`: its problems are located at the string, naming the
// table, row and metric in the key.
std::optional<std::vector<PublishedTable>> read_one_line(const std::string& text, const toml::node& node,
                                                         const std::string& file, Diags& diags) {
  if (text.empty()) return std::vector<PublishedTable>{};
  toml::table doc;
  try {
    const std::string document = "published = " + text;
    doc = toml::parse(std::string_view(document), std::string_view(file));
  } catch (const toml::parse_error& e) {
    diags.add(file, node.source(), kKey, std::string(e.description()));
    return std::nullopt;
  }
  const toml::array* arr = doc["published"].as_array();
  if (!arr || !arr->is_array_of_tables()) {
    diags.add(file, node.source(), kKey, "expected an array of tables (source, dataset, class, scale, values, sd)");
    return std::nullopt;
  }
  Diags inner;
  std::vector<PublishedRow> rows, classes;
  TableReader r{file, inner, rows, classes};
  std::vector<PublishedTable> tables = read_tables(*arr, r);
  for (auto d : inner.list) {
    // Positions inside the string mean nothing in the file: the string is located instead.
    d.line = line_of(node.source()), d.column = column_of(node.source());
    diags.list.push_back(d);
  }
  if (!inner.list.empty()) return std::nullopt;
  return tables;
}

// The tables at `node`, as read_published reads them; nullopt when `node` is no form of them.
std::optional<std::vector<PublishedTable>> read_node(const toml::node& node, const std::string& file, Diags& diags,
                                                     std::vector<PublishedRow>& rows,
                                                     std::vector<PublishedRow>& classes) {
  if (const auto* text = node.as_string()) return read_one_line(text->get(), node, file, diags);
  const toml::array* arr = node.as_array();
  if (arr && arr->empty()) return std::vector<PublishedTable>{};  // `published = []`: none
  if (!arr || !arr->is_array_of_tables()) {
    diags.add(file, node.source(), kKey,
              "expected [[report.published]] tables (source, dataset, class, scale, values, sd)");
    return std::nullopt;
  }
  TableReader r{file, diags, rows, classes};
  return read_tables(*arr, r);
}

}  // namespace

namespace study_internal {

std::optional<Value> read_published(const toml::node& node, const std::string& file, Diags& diags,
                                    std::vector<PublishedRow>& rows, std::vector<PublishedRow>& classes) {
  const auto tables = read_node(node, file, diags, rows, classes);
  if (!tables) return std::nullopt;
  Value v;
  v.type = ValueType::kString;
  v.s = published_text(*tables);
  return v;
}

}  // namespace study_internal

const std::vector<std::string>& published_metrics() {
  static const std::vector<std::string> metrics = [] {
    std::vector<std::string> out = find_key("report.metrics")->choices;
    out.push_back("params");
    return out;
  }();
  return metrics;
}

std::string published_text(const std::vector<PublishedTable>& tables) {
  if (tables.empty()) return "";
  std::string out = "[";
  for (std::size_t i = 0; i < tables.size(); ++i) {
    const PublishedTable& t = tables[i];
    out += std::string(i ? ", " : "") + "{ source = " + quoted(t.source) + ", dataset = " + quoted(t.dataset);
    // Only where given, so that the text of a table without a class is what it was before classes existed.
    if (!t.class_name.empty()) out += ", class = " + quoted(t.class_name);
    out += ", scale = " + quoted(t.scale) + ", values = " + rows_literal(t.values);
    if (!t.sd.empty()) out += ", sd = " + rows_literal(t.sd);
    out += " }";
  }
  return out + "]";
}

std::vector<PublishedTable> parse_published(const std::string& text) {
  Diags diags;
  std::vector<PublishedRow> rows, classes;
  // A string node standing for the value: its problems name the key, table, row and metric.
  const toml::value<std::string> node(text);
  const auto tables = read_one_line(text, node, "<report.published>", diags);
  if (!diags.list.empty() || !tables) throw SpecError(diags.list);
  return *tables;
}

std::vector<PublishedTable> published_in_document(const std::string& text, const std::string& file) {
  toml::table doc;
  try {
    doc = toml::parse(std::string_view(text), std::string_view(file));
  } catch (const toml::parse_error& e) {
    throw SpecError({Diagnostic{file, line_of(e.source()), column_of(e.source()), "", std::string(e.description())}});
  }
  const toml::node* node = doc["report"]["published"].node();
  if (!node) return {};
  Diags diags;
  std::vector<PublishedRow> rows, classes;
  const auto tables = read_node(*node, file, diags, rows, classes);
  if (!diags.list.empty() || !tables) throw SpecError(diags.list);
  return *tables;
}

std::string unmatched_rows_note(const PublishedTable& table, const std::vector<std::string>& unmatched) {
  std::string names;
  for (const auto& row : unmatched) names += (names.empty() ? "" : ", ") + row;
  const std::size_t all = table.values.size();
  // Tables of one source differ by dataset and class (001 Table II: one per dataset).
  std::string which = table.dataset;
  if (!table.class_name.empty()) which += (which.empty() ? "class " : ", class ") + table.class_name;
  return std::to_string(unmatched.size()) + " of " + std::to_string(all) + " published row" + (all == 1 ? "" : "s") +
         " of " + table.source + (which.empty() ? "" : " (" + which + ")") + (unmatched.size() == 1 ? " has" : " have") +
         " no variant in this study: " + names;
}

}  // namespace ablate
