// The one-line TOML form of [[report.published]] (ablations/published.hpp).
#include "ablations/published.hpp"

#include <toml++/toml.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "ablations/schema.hpp"

namespace ablate {

namespace {

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

std::map<std::string, std::map<std::string, double>> read_rows(const toml::node* node, const std::string& what) {
  std::map<std::string, std::map<std::string, double>> out;
  if (!node) return out;
  const toml::table* rows = node->as_table();
  if (!rows) throw std::runtime_error(what + ": expected a table of rows");
  for (const auto& [row, metrics] : *rows) {
    const toml::table* m = metrics.as_table();
    if (!m) throw std::runtime_error(what + "." + std::string(row.str()) + ": expected a table of metric = number");
    auto& dst = out[std::string(row.str())];
    for (const auto& [metric, value] : *m) {
      const auto x = value.value<double>();
      if (!x || !std::isfinite(*x))
        throw std::runtime_error(what + "." + std::string(row.str()) + "." + std::string(metric.str()) +
                                 ": expected a finite number");
      dst[std::string(metric.str())] = *x;
    }
  }
  return out;
}

std::vector<PublishedTable> read_tables(const toml::array& arr);

}  // namespace

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
  std::vector<PublishedTable> out;
  if (text.empty()) return out;
  toml::table doc;
  try {
    const std::string document = "published = " + text;
    doc = toml::parse(std::string_view(document), std::string_view("<report.published>"));
  } catch (const toml::parse_error& e) {
    throw std::runtime_error("report.published: " + std::string(e.description()));
  }
  const toml::array* arr = doc["published"].as_array();
  if (!arr) throw std::runtime_error("report.published: expected an array of tables");
  return read_tables(*arr);
}

std::vector<PublishedTable> published_in_document(const std::string& text, const std::string& file) {
  toml::table doc;
  try {
    doc = toml::parse(std::string_view(text), std::string_view(file));
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(file + ": " + std::string(e.description()));
  }
  const toml::node* node = doc["report"]["published"].node();
  if (!node) return {};
  // The resolved configuration's one-line form, or [[report.published]] tables.
  if (const auto* one_line = node->as_string()) return parse_published(one_line->get());
  const toml::array* arr = node->as_array();
  if (!arr) throw std::runtime_error("report.published: expected [[report.published]] tables");
  return read_tables(*arr);
}

namespace {
std::vector<PublishedTable> read_tables(const toml::array& arr) {
  std::vector<PublishedTable> out;
  for (const auto& el : arr) {
    const toml::table* t = el.as_table();
    if (!t) throw std::runtime_error("report.published: expected an array of tables");
    PublishedTable p;
    p.source = (*t)["source"].value_or(std::string());
    p.dataset = (*t)["dataset"].value_or(std::string());
    p.class_name = (*t)["class"].value_or(std::string());
    p.scale = (*t)["scale"].value_or(std::string("percent"));
    if (p.scale != "percent" && p.scale != "ratio")
      throw std::runtime_error("report.published.scale: `" + p.scale + "` is not one of: percent, ratio");
    p.values = read_rows(t->get("values"), "report.published.values");
    p.sd = read_rows(t->get("sd"), "report.published.sd");
    out.push_back(std::move(p));
  }
  return out;
}
}  // namespace

}  // namespace ablate
