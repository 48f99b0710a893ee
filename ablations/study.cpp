// Loading a study: TOML (toml++) -> layers of dotted keys (defaults < base files < study < variant <
// sweep point) -> one validated VariantConfig per variant, with canonical text and hash.
#include "ablations/study.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>

#include "ablations/design.hpp"
#include "ablations/published.hpp"
#include "ablations/schema.hpp"
#include "sweeps/early_stop.hpp"
#include "sweeps/grid.hpp"
#include "sweeps/samplers.hpp"

namespace fs = std::filesystem;

namespace ablate {

namespace {

// Control characters of a study's text (a NUL in a string, an escape sequence) shown as \0, \xNN: a NUL
// would end the error text where it is read as a C string (what()), cutting off every later problem, and
// others would garble the terminal.
std::string printable(const std::string& text) {
  std::string out;
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      out += c;
    } else if (u == 0) {
      out += "\\0";
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

}  // namespace

std::string Diagnostic::str() const {
  std::ostringstream s;
  s << (file.empty() ? "<study>" : printable(file));
  if (line > 0) s << ":" << line << ":" << column;
  s << ": ";
  if (!key.empty()) s << "`" << printable(key) << "`: ";
  s << printable(message);
  return s.str();
}

namespace {

std::string format_diagnostics(const std::vector<Diagnostic>& diagnostics) {
  std::ostringstream s;
  for (const auto& d : diagnostics) s << "error: " << d.str() << "\n";
  s << diagnostics.size() << (diagnostics.size() == 1 ? " problem" : " problems") << " found\n";
  return s.str();
}

}  // namespace

SpecError::SpecError(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(format_diagnostics(diagnostics)), diagnostics_(std::move(diagnostics)) {}

const char* origin_name(Origin o) {
  switch (o) {
    case Origin::kDefault: return "default";
    case Origin::kBase: return "base";
    case Origin::kStudy: return "study";
    case Origin::kVariant: return "variant";
    case Origin::kSweep: return "sweep";
    case Origin::kOverride: return "override";
  }
  return "?";
}

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      }
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  std::string best;
  std::size_t best_d = std::string::npos;
  for (const auto& c : candidates) {
    std::size_t d = distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  // Close enough to be a typo: at most a third of the word's length (at least 2 edits allowed).
  if (best_d <= std::max<std::size_t>(2, word.size() / 3)) return best;
  return "";
}

namespace {

// A row of a [[report.published]] table (values or sd), where the file names it: checked against the
// variants once they are known.
struct PublishedRow {
  std::size_t table = 0;
  std::string row;
  int line = 0, column = 0;
};

struct Setting {
  Value value;
  Origin origin = Origin::kDefault;
  std::string file;
  int line = 0;
  int column = 0;
  std::vector<std::pair<int, int>> items;  // line, column of each array element (report.rows names variants)
  std::vector<PublishedRow> published_rows;  // report.published only
  std::vector<PublishedRow> published_classes;  // report.published only: each table's `class` (row = the name)
};
using Layer = std::map<std::string, Setting>;

struct VariantDecl {
  std::string name;
  std::string label;
  Layer overrides;
  std::int64_t mask = -1;  // a design point: its components; -1 for a hand-written variant
  std::string file;
  int line = 0, column = 0;
};

struct SweepAxis {
  std::string key;
  std::vector<Value> values;
  std::vector<std::pair<int, int>> where;  // line, column of each value
  std::string file;
  int line = 0, column = 0;                // of the key
};

// A sampled key of a search ([sweep] method = random | sobol | tpe): `key = { uniform = [a, b] }` etc.
struct SearchKey {
  sweeps::Param param;
  std::vector<Value> choices;  // choice: the values, parsed for the key
  std::string file;
  int line = 0, column = 0;    // of the key
};

// The method, budget and objective of [sweep], with where each was written.
struct SearchDecl {
  bool present = false;        // the file has a [sweep] table
  std::string method = "grid";
  int trials = 0;
  int startup = 0;             // 0 = TpeOptions' default
  std::string objective;       // "" = from train.select_metric
  std::vector<SearchKey> keys;
  std::string file;
  std::string objective_file;  // where objective was written: the file, or the --set argument
  int method_line = 0, method_column = 0, trials_line = 0, trials_column = 0, objective_line = 0, objective_column = 0;
  int startup_line = 0, startup_column = 0;
};

// The most trials a search may ask for.
constexpr int kMaxTrials = 100000;

// The design keys of [ablation] (ablations/design.hpp): the spec, and each component's `set` as a layer.
struct ParsedDesign {
  bool present = false;
  DesignSpec spec;
  std::vector<Layer> sets;  // per component
  std::string file;
  int line = 0, column = 0;  // of [ablation]
};

struct Parsed {
  Layer values;
  std::vector<VariantDecl> variants;
  ParsedDesign design;
  std::vector<SweepAxis> sweep;
  std::string sweep_label;
  SearchDecl search;
  // [sweep.early_stop] (sweeps/early_stop.hpp) and where it was written.
  std::optional<sweeps::EarlyStopConfig> early_stop;
  std::string early_stop_file;
  int early_stop_line = 0, early_stop_column = 0;
};

class Diags {
 public:
  void add(const std::string& file, const toml::source_region& where, const std::string& key, const std::string& msg) {
    list.push_back({file, static_cast<int>(where.begin.line), static_cast<int>(where.begin.column), key, msg});
  }
  void add(const std::string& file, int line, int column, const std::string& key, const std::string& msg) {
    list.push_back({file, line, column, key, msg});
  }
  std::vector<Diagnostic> list;
  // A file that could not be read or parsed: its keys are unknown, so checks between keys would only
  // report consequences of the missing values.
  bool fatal = false;
};

// "70/10/20": train/validation/test percentages summing to 100, as the papers write fixed splits.
std::optional<std::vector<double>> percent_split(const std::string& text) {
  std::vector<double> out;
  std::size_t start = 0;
  double sum = 0;
  while (true) {
    const std::size_t slash = text.find('/', start);
    const std::string part = text.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    char* end = nullptr;
    const double x = part.empty() ? -1 : std::strtod(part.c_str(), &end);
    if (part.empty() || *end != '\0' || !(x >= 0 && x <= 100)) return std::nullopt;
    out.push_back(x / 100.0);
    sum += x;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (out.size() != 3 || std::fabs(sum - 100.0) > 1e-9) return std::nullopt;
  return out;
}

// A toml node as a value of the key's type, or an error naming what was expected.
std::optional<Value> read_value(const toml::node& node, const KeyDef& key, const std::string& file, Diags& diags) {
  Value v;
  v.type = key.type;
  auto wrong = [&]() {
    std::string got = node.is_table() ? "a table" : node.is_array() ? "an array" : node.is_string() ? "a string"
                      : node.is_boolean() ? "a boolean" : node.is_integer() ? "an integer"
                      : node.is_floating_point() ? "a number" : "another type";
    diags.add(file, node.source(), key.path, "expected " + key.allowed() + ", got " + got);
    return std::nullopt;
  };
  auto as_double = [](const toml::node& n, double& out) {
    if (auto i = n.as_integer()) return out = static_cast<double>(i->get()), true;
    if (auto f = n.as_floating_point()) return out = f->get(), true;
    return false;
  };
  switch (key.type) {
    case ValueType::kBool:
      if (!node.is_boolean()) return wrong();
      v.b = node.as_boolean()->get();
      break;
    case ValueType::kInt:
      if (!node.is_integer()) return wrong();
      v.i = node.as_integer()->get();
      break;
    case ValueType::kFloat:
      if (!as_double(node, v.d)) return wrong();
      break;
    case ValueType::kString:
      if (!node.is_string()) return wrong();
      v.s = node.as_string()->get();
      break;
    case ValueType::kIntList:
    case ValueType::kFloatList:
    case ValueType::kStringList:
    case ValueType::kIntListList: {
      if (key.path == "study.split" && node.is_string()) {
        auto ratios = percent_split(node.as_string()->get());
        if (!ratios) {
          diags.add(file, node.source(), key.path,
                    "\"" + node.as_string()->get() +
                        "\" is not a split: expected three percentages train/validation/test summing to 100, e.g. "
                        "\"70/10/20\", or " + key.allowed() + " summing to 1");
          return std::nullopt;
        }
        v.dl = *ratios;  // the same resolved value, and so the same hash, as [0.7, 0.1, 0.2]
        break;
      }
      const toml::array* arr = node.as_array();
      if (!arr) return wrong();
      for (const auto& el : *arr) {
        if (key.type == ValueType::kIntList) {
          if (!el.is_integer()) return wrong();
          v.il.push_back(el.as_integer()->get());
        } else if (key.type == ValueType::kFloatList) {
          double d;
          if (!as_double(el, d)) return wrong();
          v.dl.push_back(d);
        } else if (key.type == ValueType::kStringList) {
          if (!el.is_string()) return wrong();
          v.sl.push_back(el.as_string()->get());
        } else {
          const toml::array* inner = el.as_array();
          if (!inner) return wrong();
          std::vector<std::int64_t> g;
          for (const auto& x : *inner) {
            if (!x.is_integer()) return wrong();
            g.push_back(x.as_integer()->get());
          }
          v.ill.push_back(std::move(g));
        }
      }
      break;
    }
  }
  std::string problem = check_range(key, v);
  if (!problem.empty()) {
    diags.add(file, node.source(), key.path, problem);
    return std::nullopt;
  }
  // Paths in a study are relative to the file that sets them.
  if ((key.path == "data.path" || key.path == "data.cache_dir") && !v.s.empty() && fs::path(v.s).is_relative()) {
    fs::path base = fs::path(file).parent_path();
    v.s = fs::absolute(base / v.s).lexically_normal().string();
    if (v.s.size() > 1 && v.s.back() == '/') v.s.pop_back();
  }
  return v;
}

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

// The schema key an unknown dotted key was probably meant to be, or "".
std::string key_hint(const std::string& path) {
  std::string hint = closest(path, all_key_paths());
  if (!hint.empty()) return hint;
  // A typo in the section part ("modle.cc") or no section at all (`lr` at the top level or in a variant):
  // match the last component, exactly or else by its closest spelling, when it names one key.
  auto leaf_of = [](const std::string& p) { return p.substr(p.rfind('.') + 1); };
  std::map<std::string, std::vector<std::string>> by_leaf;
  for (const auto& p : all_key_paths()) by_leaf[leaf_of(p)].push_back(p);
  const std::string leaf = leaf_of(path);
  auto it = by_leaf.find(leaf);
  if (it == by_leaf.end() && leaf.size() >= 4) {  // shorter words are close to too many keys
    std::vector<std::string> leaves;
    for (const auto& [l, paths] : by_leaf) leaves.push_back(l);
    const std::string near = closest(leaf, leaves);
    if (!near.empty()) it = by_leaf.find(near);
  }
  return it != by_leaf.end() && it->second.size() == 1 ? it->second[0] : std::string();
}

void unknown_key(const std::string& path, const std::string& file, const toml::source_region& where, Diags& diags) {
  const std::string hint = key_hint(path);
  diags.add(file, where, path, "unknown key" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)"));
}

void flatten(const toml::table& table, const std::string& prefix, const std::string& file, Origin origin, Layer& out,
             Diags& diags);

// One entry of a table: a schema key (leaf) or a table of further keys. Quoted dotted keys
// ("model.cc" = true) arrive as one key with dots and are looked up as they are.
void flatten_entry(const toml::key& k, const toml::node& node, const std::string& path, const std::string& file,
                   Origin origin, Layer& out, Diags& diags) {
  const KeyDef* key = find_key(path);
  if (!key && node.is_table()) {
    flatten(*node.as_table(), path, file, origin, out, diags);
    return;
  }
  if (!key) {
    unknown_key(path, file, k.source(), diags);
    return;
  }
  if (origin == Origin::kVariant && !key->study_wide.empty()) {
    diags.add(file, k.source(), path, "cannot be set in an [[ablation.variant]]: " + key->study_wide);
    return;
  }
  // A variant's [resources] or [report] would be silently ignored: the job and the tables are the study's.
  if (origin == Origin::kVariant && !key->in_canonical) {
    const std::string section = path.substr(0, path.find('.'));
    diags.add(file, k.source(), path,
              "cannot be set in an [[ablation.variant]]: [" + section +
                  "] applies to the whole study and changes no result; set it in [" + section + "]");
    return;
  }
  // `"model.cc" = true` and `[model] cc = true` are different TOML keys but the same study key.
  if (auto it = out.find(path); it != out.end() && it->second.file == file && it->second.origin == origin) {
    diags.add(file, k.source(), path,
              "set twice in this file (also at " + std::to_string(it->second.line) + ":" +
                  std::to_string(it->second.column) + "); keep one");
    return;
  }
  if (path == "report.published") {
    std::vector<PublishedRow> rows, classes;
    if (auto v = read_published(node, file, diags, rows, classes)) {
      Setting s{*v, origin, file, static_cast<int>(node.source().begin.line),
                static_cast<int>(node.source().begin.column), {}, std::move(rows), std::move(classes)};
      out[path] = std::move(s);
    }
    return;
  }
  if (auto v = read_value(node, *key, file, diags)) {
    Setting s{*v, origin, file, static_cast<int>(node.source().begin.line),
              static_cast<int>(node.source().begin.column), {}, {}, {}};
    if (const toml::array* arr = node.as_array()) {
      for (const auto& el : *arr) {
        s.items.emplace_back(static_cast<int>(el.source().begin.line), static_cast<int>(el.source().begin.column));
      }
    }
    out[path] = std::move(s);
  }
}

// Flattens a table into dotted schema keys, reporting unknown keys and bad values.
void flatten(const toml::table& table, const std::string& prefix, const std::string& file, Origin origin, Layer& out,
             Diags& diags) {
  for (const auto& [k, node] : table) {
    const std::string path = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    flatten_entry(k, node, path, file, origin, out, diags);
  }
}

}  // namespace

std::string read_study_file(const std::string& path, std::string& text) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return "no such file";
  if (fs::is_directory(st)) return "it is a directory, expected a .toml file";
  // A device (/dev/zero), a FIFO or a socket could be read without end or block forever.
  if (!fs::is_regular_file(st)) return "not a regular file (a device, FIFO or socket), expected a study file (.toml)";
  const auto size = fs::file_size(path, ec);
  if (ec) return "cannot read it: " + ec.message();
  if (size > kMaxStudyFileBytes) {
    return "it has " + std::to_string(size) + " bytes; a study file may have at most " + std::to_string(kMaxStudyFileBytes);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot open it for reading";
  std::string out(static_cast<std::size_t>(size), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) return "cannot read it";
  text = std::move(out);
  return "";
}

namespace {
const std::vector<std::string>& design_keys() {
  static const std::vector<std::string> keys = {"baseline", "components", "composites", "design",
                                                "fractional", "requires", "excludes"};
  return keys;
}

// The design keys of an [ablation] table (docs/STUDY.md "Designs"); every problem is located.
void parse_design(const toml::table& table, const std::string& file, ParsedDesign& out, Diags& diags) {
  bool any = false;
  for (const auto& k : design_keys()) any = any || table.contains(k);
  if (!any) return;
  out.present = true;
  out.file = file;
  out.line = static_cast<int>(table.source().begin.line);
  out.column = static_cast<int>(table.source().begin.column);
  DesignSpec& spec = out.spec;
  auto string_of = [&](const toml::node* n, const std::string& key, std::string& into) {
    if (!n) return;
    if (!n->is_string()) return diags.add(file, n->source(), key, "expected a string");
    into = n->as_string()->get();
  };
  // baseline = { name, label }
  if (const toml::node* b = table.get("baseline")) {
    if (const toml::table* bt = b->as_table()) {
      for (const auto& [bk, bn] : *bt) {
        const std::string key(bk.str());
        if (key != "name" && key != "label") {
          diags.add(file, bk.source(), "ablation.baseline." + key, "unknown key (allowed: name, label)");
        }
      }
      string_of(bt->get("name"), "ablation.baseline.name", spec.baseline_name);
      string_of(bt->get("label"), "ablation.baseline.label", spec.baseline_label);
      if (!bt->contains("label")) spec.baseline_label = spec.baseline_name;
      if (!valid_name(spec.baseline_name)) {
        diags.add(file, b->source(), "ablation.baseline.name",
                  "name `" + spec.baseline_name + "` is not allowed: use letters, digits and _ - . + = (not . or ..)");
      }
    } else {
      diags.add(file, b->source(), "ablation.baseline", "expected a table { name = \"...\", label = \"...\" }");
    }
  }
  // components = [{ label, name?, set = { key = value, ... } }]
  const toml::node* comps = table.get("components");
  const toml::array* carr = comps ? comps->as_array() : nullptr;
  if (comps && (!carr || !carr->is_array_of_tables() || carr->empty())) {
    diags.add(file, comps->source(), "ablation.components",
              "expected a non-empty array of tables { label = \"CC\", set = { \"model.cc\" = true } }");
  } else if (!comps) {
    diags.add(file, out.line, out.column, "ablation.components",
              "a design needs components = [{ label = \"CC\", set = { \"model.cc\" = true } }, ...]");
  }
  std::map<std::string, int> index;  // label -> component
  if (carr && carr->is_array_of_tables()) {
    for (const auto& el : *carr) {
      const toml::table& ct = *el.as_table();
      DesignComponent c;
      Layer set;
      for (const auto& [ck, cn] : ct) {
        const std::string key(ck.str());
        if (key != "label" && key != "name" && key != "set") {
          const std::string hint = closest(key, {"label", "name", "set"});
          diags.add(file, ck.source(), "ablation.components." + key,
                    "unknown key" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)") +
                        " (allowed: label, name, set)");
        }
      }
      string_of(ct.get("label"), "ablation.components.label", c.label);
      string_of(ct.get("name"), "ablation.components.name", c.name);
      if (c.label.empty()) {
        diags.add(file, ct.source(), "ablation.components.label", "every component needs a label (e.g. \"CC\")");
        continue;
      }
      if (c.name.empty()) c.name = design_name(c.label);
      if (!valid_name(c.name)) {
        diags.add(file, ct.source(), "ablation.components.name",
                  "component `" + c.label + "`: name `" + c.name + "` is not allowed: use letters, digits and _ - . + =");
      }
      const toml::node* sn = ct.get("set");
      if (!sn || !sn->is_table() || sn->as_table()->empty()) {
        diags.add(file, sn ? sn->source() : ct.source(), "ablation.components.set",
                  "component `" + c.label + "` needs set = { \"model.key\" = value, ... } (the keys it changes)");
      } else {
        flatten(*sn->as_table(), "", file, Origin::kVariant, set, diags);
      }
      if (index.count(c.label)) {
        diags.add(file, ct.source(), "ablation.components.label", "component `" + c.label + "` is listed twice");
        continue;
      }
      index[c.label] = static_cast<int>(spec.components.size());
      spec.components.push_back(c);
      out.sets.push_back(std::move(set));
    }
    if (spec.components.size() > static_cast<std::size_t>(kMaxComponents)) {
      diags.add(file, comps->source(), "ablation.components",
                std::to_string(spec.components.size()) + " components: at most " + std::to_string(kMaxComponents));
    }
  }
  std::vector<std::string> labels;
  for (const auto& c : spec.components) labels.push_back(c.label);
  // A list of component labels -> indices; unknown labels are located errors.
  auto components_of = [&](const toml::node& n, const std::string& key, std::vector<int>& into) {
    const toml::array* a = n.as_array();
    if (!a || a->empty()) return diags.add(file, n.source(), key, "expected a non-empty array of component labels");
    for (const auto& x : *a) {
      if (!x.is_string()) {
        diags.add(file, x.source(), key, "expected a component label (string)");
        continue;
      }
      const std::string l = x.as_string()->get();
      auto it = index.find(l);
      if (it == index.end()) {
        std::string all;
        for (const auto& s : labels) all += (all.empty() ? "" : ", ") + s;
        const std::string hint = closest(l, labels);
        diags.add(file, x.source(), key,
                  "no component labelled `" + l + "`" + (hint.empty() ? "" : " (did you mean `" + hint + "`?)") +
                      " (components: " + all + ")");
        continue;
      }
      into.push_back(it->second);
    }
  };
  // design = "factorial" or ["add-one", "cumulative"]
  if (const toml::node* d = table.get("design")) {
    std::vector<const toml::node*> items;
    if (d->is_string()) items.push_back(d);
    else if (const toml::array* a = d->as_array()) for (const auto& x : *a) items.push_back(&x);
    if (items.empty() || !(d->is_string() || d->is_array())) {
      diags.add(file, d->source(), "ablation.design", "expected a design name or an array of them (" +
                                                          std::string("add-one, leave-one-out, cumulative, factorial, fractional)"));
    }
    for (const toml::node* x : items) {
      const auto& names = design_names();
      if (!x->is_string() || std::find(names.begin(), names.end(), x->as_string()->get()) == names.end()) {
        const std::string got = x->is_string() ? x->as_string()->get() : std::string();
        const std::string hint = closest(got, names);
        diags.add(file, x->source(), "ablation.design",
                  (got.empty() ? std::string("expected a design name") : "unknown design `" + got + "`") +
                      (hint.empty() ? "" : " (did you mean `" + hint + "`?)") +
                      " (allowed: add-one, leave-one-out, cumulative, factorial, fractional)");
        continue;
      }
      if (std::find(spec.designs.begin(), spec.designs.end(), x->as_string()->get()) == spec.designs.end()) {
        spec.designs.push_back(x->as_string()->get());
      }
    }
  } else {
    diags.add(file, out.line, out.column, "ablation.design",
              "components need a design: design = [\"add-one\", \"leave-one-out\", \"cumulative\", \"factorial\", "
              "\"fractional\"] (any of them)");
  }
  const bool wants_fraction = std::find(spec.designs.begin(), spec.designs.end(), "fractional") != spec.designs.end();
  if (const toml::node* f = table.get("fractional")) {
    const toml::table* ft = f->as_table();
    const toml::node* r = ft ? ft->get("resolution") : nullptr;
    if (!r || !r->is_integer() || r->as_integer()->get() < 3 || ft->size() != 1) {
      diags.add(file, f->source(), "ablation.fractional", "expected { resolution = R } with an integer R >= 3");
    } else {
      spec.resolution = static_cast<int>(r->as_integer()->get());
    }
    if (!wants_fraction) {
      diags.add(file, f->source(), "ablation.fractional", "is set but design does not list \"fractional\"");
    }
  } else if (wants_fraction) {
    diags.add(file, out.line, out.column, "ablation.fractional",
              "design \"fractional\" needs fractional = { resolution = R } (3: main effects aliased with two-way "
              "interactions; 4: main effects clear; 5: two-way interactions clear)");
  }
  // composites = [{ of = ["CC", "SC"], label = "CoA", name = "coa", row_label = "..." }]
  if (const toml::node* cn = table.get("composites")) {
    const toml::array* a = cn->as_array();
    if (!a || !a->is_array_of_tables()) {
      diags.add(file, cn->source(), "ablation.composites",
                "expected an array of tables { of = [\"CC\", \"SC\"], label = \"CoA\" }");
    } else {
      for (const auto& el : *a) {
        const toml::table& t = *el.as_table();
        DesignComposite c;
        for (const auto& [tk, tn] : t) {
          const std::string key(tk.str());
          if (key != "of" && key != "label" && key != "name" && key != "row_label") {
            diags.add(file, tk.source(), "ablation.composites." + key, "unknown key (allowed: of, label, name, row_label)");
          }
        }
        string_of(t.get("label"), "ablation.composites.label", c.label);
        string_of(t.get("name"), "ablation.composites.name", c.name);
        string_of(t.get("row_label"), "ablation.composites.row_label", c.row_label);
        std::vector<int> of;
        if (const toml::node* o = t.get("of")) components_of(*o, "ablation.composites.of", of);
        if (of.empty() || c.label.empty()) {
          diags.add(file, t.source(), "ablation.composites",
                    "a composite needs of = [component labels] and a label");
          continue;
        }
        for (int i : of) c.of |= 1u << i;
        if (c.name.empty()) c.name = design_name(c.label);
        if (!valid_name(c.name)) {
          diags.add(file, t.source(), "ablation.composites.name", "name `" + c.name + "` is not allowed");
        }
        spec.composites.push_back(c);
      }
    }
  }
  for (const char* which : {"requires", "excludes"}) {
    const toml::node* n = table.get(which);
    if (!n) continue;
    const std::string key = std::string("ablation.") + which;
    const toml::array* a = n->as_array();
    if (!a) {
      diags.add(file, n->source(), key, "expected an array of arrays of component labels, e.g. [[\"MuS\", \"CC\"]]");
      continue;
    }
    for (const auto& x : *a) {
      std::vector<int> group;
      components_of(x, key, group);
      if (group.size() < 2) {
        diags.add(file, x.source(), key,
                  std::string(which) == "requires" ? "expected [component, what it needs, ...]: two or more labels"
                                                   : "expected two or more component labels that exclude each other");
        continue;
      }
      (std::string(which) == "requires" ? spec.requires_ : spec.excludes).push_back(group);
    }
  }
}

void parse_ablation(const toml::node& node, const std::string& file, Parsed& parsed, Diags& diags) {
  const toml::table* table = node.as_table();
  if (!table) {
    diags.add(file, node.source(), "ablation", "expected a table with [[ablation.variant]] entries");
    return;
  }
  parse_design(*table, file, parsed.design, diags);
  for (const auto& [k, sub] : *table) {
    if (k.str() != "variant") {
      const auto& keys = design_keys();
      if (std::find(keys.begin(), keys.end(), std::string(k.str())) != keys.end()) continue;
      std::vector<std::string> candidates = keys;
      candidates.push_back("variant");
      const std::string hint = closest(std::string(k.str()), candidates);
      diags.add(file, k.source(), "ablation." + std::string(k.str()),
                "unknown key" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)") +
                    " (allowed: [[ablation.variant]] tables with name, label and dotted overrides, and the design "
                    "keys baseline, components, composites, design, fractional, requires, excludes)");
      continue;
    }
    const toml::array* arr = sub.as_array();
    if (!arr || !arr->is_array_of_tables()) {
      diags.add(file, sub.source(), "ablation.variant", "expected [[ablation.variant]] tables");
      continue;
    }
    for (const auto& el : *arr) {
      const toml::table& vt = *el.as_table();
      VariantDecl decl;
      decl.file = file;
      decl.line = static_cast<int>(vt.source().begin.line);
      decl.column = static_cast<int>(vt.source().begin.column);
      bool misspelt_name = false;
      for (const auto& [vk, vnode] : vt) {
        const std::string key(vk.str());
        if (key == "name" || key == "label") {
          if (!vnode.is_string()) {
            diags.add(file, vnode.source(), "ablation.variant." + key, "expected a string");
            continue;
          }
          (key == "name" ? decl.name : decl.label) = vnode.as_string()->get();
          continue;
        }
        // A misspelt `name` or `label` is no study key: say which of the two was meant.
        if (!find_key(key) && !vnode.is_table()) {
          const std::string hint = closest(key, {"name", "label"});
          if (!hint.empty()) {
            diags.add(file, vk.source(), "ablation.variant." + key, "unknown key (did you mean `" + hint + "`?)");
            misspelt_name = misspelt_name || hint == "name";
            continue;
          }
        }
        flatten_entry(vk, vnode, key, file, Origin::kVariant, decl.overrides, diags);
      }
      if (decl.name.empty()) {
        if (!misspelt_name) diags.add(file, vt.source(), "ablation.variant.name", "every [[ablation.variant]] needs a name");
        continue;
      }
      // Names become folders (<workdir>/<variant>/): "." and ".." would leave it.
      if (!valid_name(decl.name)) {
        diags.add(file, vt["name"].node()->source(), "ablation.variant.name",
                  decl.name.size() > kMaxNameLength
                      ? "a name of " + std::to_string(decl.name.size()) + " characters is not allowed: at most " +
                            std::to_string(kMaxNameLength) + " (it becomes a folder name)"
                      : "name `" + decl.name + "` is not allowed: use letters, digits and _ - . + = (not . or ..)");
      }
      if (decl.label.empty()) decl.label = decl.name;
      parsed.variants.push_back(std::move(decl));
    }
  }
}

// method, trials and objective of [sweep]; returns false for any other name.
bool parse_search_setting(const std::string& name, const toml::node& node, const std::string& file, SearchDecl& search,
                          Diags& diags) {
  const int line = static_cast<int>(node.source().begin.line), column = static_cast<int>(node.source().begin.column);
  if (name == "method") {
    static const std::vector<std::string> methods = {"grid", "random", "sobol", "tpe"};
    if (!node.is_string() || std::find(methods.begin(), methods.end(), node.as_string()->get()) == methods.end()) {
      diags.add(file, node.source(), "sweep.method", "expected one of: grid, random, sobol, tpe");
      return true;
    }
    search.method = node.as_string()->get();
    search.method_line = line, search.method_column = column;
    return true;
  }
  if (name == "trials") {
    if (!node.is_integer() || node.as_integer()->get() < 1 || node.as_integer()->get() > kMaxTrials) {
      diags.add(file, node.source(), "sweep.trials",
                "expected an integer in [1, " + std::to_string(kMaxTrials) + "]: the number of sampled configurations");
      return true;
    }
    search.trials = static_cast<int>(node.as_integer()->get());
    search.trials_line = line, search.trials_column = column;
    return true;
  }
  if (name == "startup") {
    if (!node.is_integer() || node.as_integer()->get() < 1 || node.as_integer()->get() > kMaxTrials) {
      diags.add(file, node.source(), "sweep.startup",
                "expected an integer in [1, " + std::to_string(kMaxTrials) + "]: tpe's random trials before it models the results");
      return true;
    }
    search.startup = static_cast<int>(node.as_integer()->get());
    search.startup_line = line, search.startup_column = column;
    return true;
  }
  if (name == "objective") {
    // The metrics train.select_metric allows: the objective is the validation metric epochs are selected on.
    const std::vector<std::string>& metrics = find_key("train.select_metric")->choices;
    if (!node.is_string() || std::find(metrics.begin(), metrics.end(), node.as_string()->get()) == metrics.end()) {
      std::string list;
      for (const auto& m : metrics) list += (list.empty() ? "" : ", ") + m;
      diags.add(file, node.source(), "sweep.objective",
                "expected one of: " + list + " (a validation metric, as train.select_metric; test metrics never steer a search)");
      return true;
    }
    search.objective = node.as_string()->get();
    search.objective_file = file;
    search.objective_line = line, search.objective_column = column;
    return true;
  }
  return false;
}

// `{ uniform = [a, b] }`, `{ log_uniform = [a, b] }`, `{ int = [a, b] }` or `{ choice = [...] }` for a key.
std::optional<SearchKey> parse_distribution(const KeyDef& kd, const toml::table& table, const std::string& file,
                                            Diags& diags) {
  const std::string where = "sweep." + kd.path;
  const char* allowed = "one of { uniform = [a, b] }, { log_uniform = [a, b] }, { int = [a, b] }, { choice = [...] }";
  if (table.size() != 1) {
    diags.add(file, table.source(), where, std::string("expected exactly one distribution: ") + allowed);
    return std::nullopt;
  }
  const auto first = table.begin();  // its pair lives in the iterator: keep the iterator alive
  const toml::key& dk = first->first;
  const toml::node& dnode = first->second;
  const std::string dist(dk.str());
  SearchKey sk;
  sk.param.key = kd.path;
  sk.file = file;
  if (dist == "choice") {
    const toml::array* arr = dnode.as_array();
    if (!arr || arr->empty()) {
      diags.add(file, dnode.source(), where, "choice: expected a non-empty array of values for " + kd.allowed());
      return std::nullopt;
    }
    sk.param.dist = sweeps::Distribution::kChoice;
    bool ok = true;
    for (const auto& el : *arr) {
      auto v = read_value(el, kd, file, diags);
      if (!v) {
        ok = false;
        continue;
      }
      const std::string literal = to_literal(*v);
      if (std::find(sk.param.choices.begin(), sk.param.choices.end(), literal) != sk.param.choices.end()) {
        diags.add(file, el.source(), where, "choice: value " + literal + " is listed twice");
        ok = false;
        continue;
      }
      sk.param.choices.push_back(literal);
      sk.choices.push_back(*v);
    }
    if (!ok) return std::nullopt;
    return sk;
  }
  if (dist != "uniform" && dist != "log_uniform" && dist != "int") {
    diags.add(file, dk.source(), where, "unknown distribution `" + dist + "`: expected " + allowed);
    return std::nullopt;
  }
  sk.param.dist = dist == "uniform" ? sweeps::Distribution::kUniform
                  : dist == "log_uniform" ? sweeps::Distribution::kLogUniform
                                          : sweeps::Distribution::kInt;
  const bool numeric_key = kd.type == ValueType::kFloat || kd.type == ValueType::kInt;
  if (!numeric_key || (kd.type == ValueType::kInt && dist != "int")) {
    diags.add(file, dk.source(), where,
              dist + " needs a " + (kd.type == ValueType::kInt ? "number key; for this integer key use { int = [a, b] } or { choice = [...] }"
                                                              : "number key; this key takes " + kd.allowed() + ": use { choice = [...] }"));
    return std::nullopt;
  }
  const toml::array* arr = dnode.as_array();
  auto number = [](const toml::node& n, double& out) {
    if (auto i = n.as_integer()) return out = static_cast<double>(i->get()), true;
    if (auto f = n.as_floating_point()) return out = f->get(), true;
    return false;
  };
  double a = 0, b = 0;
  if (!arr || arr->size() != 2 || !number(*arr->get(0), a) || !number(*arr->get(1), b) ||
      (dist == "int" && (!arr->get(0)->is_integer() || !arr->get(1)->is_integer()))) {
    diags.add(file, dnode.source(), where,
              dist + ": expected [low, high], two " + (dist == "int" ? "integers" : "numbers"));
    return std::nullopt;
  }
  if (!std::isfinite(a) || !std::isfinite(b) || !(dist == "int" ? a <= b : a < b) ||
      (dist == "log_uniform" && !(a > 0))) {
    diags.add(file, dnode.source(), where,
              dist + ": expected " + (dist == "log_uniform" ? "0 < low < high" : dist == "int" ? "low <= high" : "low < high"));
    return std::nullopt;
  }
  // Both ends must be values the key allows (so every sample is).
  for (const toml::node* end : {arr->get(0), arr->get(1)}) {
    if (!read_value(*end, kd, file, diags)) return std::nullopt;
  }
  sk.param.low = a, sk.param.high = b;
  return sk;
}

// A [sweep]'s method against its keys: a grid takes lists, a sampled search takes distributions and a budget.
void check_search(Parsed& parsed, const std::string& file, Diags& diags) {
  SearchDecl& s = parsed.search;
  const bool sampled = s.method != "grid";
  if (!sampled) {
    for (const auto& k : s.keys) {
      diags.add(file, k.line, k.column, "sweep." + k.param.key,
                "a distribution needs method = \"random\", \"sobol\" or \"tpe\" in [sweep] (a grid takes a list of values)");
    }
    if (s.trials > 0) {
      diags.add(file, s.trials_line, s.trials_column, "sweep.trials",
                "a grid runs every point: trials goes with method = \"random\", \"sobol\" or \"tpe\"");
    }
  }
  if (s.startup > 0 && s.method != "tpe") {
    diags.add(file, s.startup_line, s.startup_column, "sweep.startup", "startup goes with method = \"tpe\"");
  }
  if (!sampled && !s.objective.empty()) {
    diags.add(s.objective_file, s.objective_line, s.objective_column, "sweep.objective",
              "a grid runs every point: objective goes with method = \"random\", \"sobol\" or \"tpe\" (each variant "
              "selects its epoch on train.select_metric)");
  }
  if (!sampled) return;
  for (const auto& a : parsed.sweep) {
    diags.add(file, a.line, a.column, "sweep." + a.key,
              "method = \"" + s.method + "\" samples distributions: write { choice = [...] } for a list of values");
  }
  if (s.keys.empty()) {
    diags.add(file, s.method_line, s.method_column, "sweep.method",
              "method = \"" + s.method + "\" has no key to sample: add e.g. \"train.lr\" = { log_uniform = [1e-5, 1e-2] }");
  }
  if (s.trials == 0) {
    diags.add(file, s.method_line, s.method_column, "sweep.trials",
              "method = \"" + s.method + "\" needs trials = N in [sweep] (the number of sampled configurations)");
  }
  if (s.method == "sobol" && static_cast<int>(s.keys.size()) > sweeps::kSobolMaxDims) {
    diags.add(file, s.method_line, s.method_column, "sweep.method",
              "sobol samples at most " + std::to_string(sweeps::kSobolMaxDims) + " keys; this [sweep] has " +
                  std::to_string(s.keys.size()) + " (use random or tpe)");
  }
}

// A search's objective is the validation metric train.select_metric selects epochs on (docs/STUDY.md
// "Searches"): an objective given where train.select_metric is not written (file, includes, --set) sets it,
// as if written; where both are written they must name the same metric.
void bind_objective(Parsed& parsed, Diags& diags) {
  const SearchDecl& sd = parsed.search;
  if (sd.method == "grid" || sd.objective.empty()) return;
  const auto it = parsed.values.find("train.select_metric");
  if (it == parsed.values.end()) {
    Value v;
    v.type = ValueType::kString;
    v.s = sd.objective;
    parsed.values["train.select_metric"] = Setting{v, Origin::kSweep, sd.objective_file, sd.objective_line, sd.objective_column, {}, {}, {}};
    return;
  }
  if (it->second.value.s == sd.objective) return;
  const Setting& w = it->second;
  diags.add(sd.objective_file, sd.objective_line, sd.objective_column, "sweep.objective",
            "objective = \"" + sd.objective + "\" but train.select_metric = \"" + w.value.s + "\" (" + w.file +
                (w.line > 0 ? ":" + std::to_string(w.line) : std::string()) +
                "): a search's objective is the validation metric the epochs are selected on; write one of the two, "
                "or the same metric in both");
}

// [sweep.early_stop]: method, rungs, reduction, startup_trials (docs/STUDY.md "Early stopping"). The values
// are checked against train.epochs once the study is resolved (load_study_text).
void parse_early_stop(const toml::node& node, const std::string& file, Parsed& parsed, Diags& diags) {
  const toml::table* table = node.as_table();
  const std::string key = "sweep.early_stop";
  if (!table) {
    diags.add(file, node.source(), key, "expected a table: method = \"none\" | \"median\" | \"asha\", rungs = [epochs], reduction, startup_trials");
    return;
  }
  sweeps::EarlyStopConfig c;
  bool ok = true, has_method = false;
  auto integer = [&](const toml::node& n, const std::string& name, int& out) {
    if (auto v = n.value<std::int64_t>(); v && n.is_integer() && *v >= -1000000 && *v <= 1000000) {
      out = static_cast<int>(*v);
      return true;
    }
    diags.add(file, n.source(), key + "." + name, "expected an integer");
    ok = false;
    return false;
  };
  for (const auto& [k, sub] : *table) {
    const std::string name(k.str());
    if (name == "method") {
      has_method = true;
      if (!sub.is_string()) {
        diags.add(file, sub.source(), key + ".method", "expected a string: \"none\" | \"median\" | \"asha\"");
        ok = false;
      } else {
        c.method = sub.as_string()->get();
      }
    } else if (name == "rungs") {
      const toml::array* arr = sub.as_array();
      if (!arr) {
        diags.add(file, sub.source(), key + ".rungs", "expected an array of epochs, e.g. [5, 15, 45]");
        ok = false;
        continue;
      }
      for (const auto& el : *arr) {
        int r = 0;
        if (integer(el, "rungs", r)) c.rungs.push_back(r);
      }
    } else if (name == "reduction") {
      integer(sub, "reduction", c.reduction);
    } else if (name == "startup_trials") {
      integer(sub, "startup_trials", c.startup_trials);
    } else {
      const std::vector<std::string> names = {"method", "rungs", "reduction", "startup_trials"};
      const std::string hint = closest(name, names);
      diags.add(file, k.source(), key + "." + name,
                "unknown key" + (hint.empty() ? std::string(" (allowed: method, rungs, reduction, startup_trials)")
                                              : " (did you mean `" + hint + "`?)"));
      ok = false;
    }
  }
  if (!has_method && !table->empty()) {
    // Rungs without a method would silently train every trial to the end.
    diags.add(file, node.source(), key + ".method", "missing: set method = \"asha\" or \"median\" (or \"none\")");
    ok = false;
  }
  if (!ok) return;
  parsed.early_stop = c;
  parsed.early_stop_file = file;
  parsed.early_stop_line = static_cast<int>(node.source().begin.line);
  parsed.early_stop_column = static_cast<int>(node.source().begin.column);
}

void parse_sweep(const toml::node& node, const std::string& file, Parsed& parsed, Diags& diags) {
  const toml::table* table = node.as_table();
  if (!table) {
    diags.add(file, node.source(), "sweep", "expected a table of \"dotted.key\" = [values]");
    return;
  }
  // Nested tables ([sweep.loss] alpha = [...]) and quoted dotted keys both name a swept key.
  std::function<void(const toml::table&, const std::string&)> walk = [&](const toml::table& t, const std::string& prefix) {
    for (const auto& [k, sub] : t) {
      const std::string path = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      if (prefix.empty() && path == "label") {
        if (!sub.is_string()) diags.add(file, sub.source(), "sweep.label", "expected a string template like \"α={loss.alpha}\"");
        else parsed.sweep_label = sub.as_string()->get();
        continue;
      }
      if (prefix.empty() && parse_search_setting(path, sub, file, parsed.search, diags)) continue;
      if (prefix.empty() && path == "early_stop") {
        parse_early_stop(sub, file, parsed, diags);
        continue;
      }
      const KeyDef* kd = find_key(path);
      if (!kd && sub.is_table()) {
        walk(*sub.as_table(), path);
        continue;
      }
      if (!kd) {
        unknown_key(path, file, k.source(), diags);
        continue;
      }
      if (!kd->study_wide.empty()) {
        diags.add(file, k.source(), "sweep." + path, "cannot be swept: " + kd->study_wide);
        continue;
      }
      if (const toml::table* dist = sub.as_table()) {
        if (!kd->in_canonical) {
          diags.add(file, sub.source(), "sweep." + path, "sampling a [resources] or [report] key changes no result");
          continue;
        }
        if (auto sk = parse_distribution(*kd, *dist, file, diags)) {
          sk->line = static_cast<int>(k.source().begin.line);
          sk->column = static_cast<int>(k.source().begin.column);
          parsed.search.keys.push_back(std::move(*sk));
        }
        continue;
      }
      const toml::array* arr = sub.as_array();
      if (!arr || arr->empty()) {
        diags.add(file, sub.source(), "sweep." + path, "expected a non-empty array of values to sweep");
        continue;
      }
      SweepAxis axis;
      axis.key = path;
      axis.file = file;
      axis.line = static_cast<int>(k.source().begin.line);
      axis.column = static_cast<int>(k.source().begin.column);
      std::map<std::string, std::pair<int, int>> seen;  // literal -> where first listed
      for (const auto& el : *arr) {
        auto v = read_value(el, *kd, file, diags);
        if (!v) continue;
        const int line = static_cast<int>(el.source().begin.line), column = static_cast<int>(el.source().begin.column);
        // Equal values give equal variant names (and equal configurations): the grid would run twice.
        const std::string literal = to_literal(*v);
        if (auto it = seen.find(literal); it != seen.end()) {
          diags.add(file, line, column, "sweep." + path,
                    "value " + literal + " is listed twice (first at " + std::to_string(it->second.first) + ":" +
                        std::to_string(it->second.second) + "); variant names must be unique");
          continue;
        }
        seen[literal] = {line, column};
        axis.values.push_back(*v);
        axis.where.emplace_back(line, column);
      }
      if (!kd->in_canonical) {
        diags.add(file, sub.source(), "sweep." + path, "sweeping a [resources] or [report] key changes no result");
      }
      if (!axis.values.empty()) parsed.sweep.push_back(std::move(axis));
    }
  };
  parsed.search.present = true;
  parsed.search.file = file;
  walk(*table, "");
  std::stable_sort(parsed.search.keys.begin(), parsed.search.keys.end(), [](const SearchKey& a, const SearchKey& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  // toml++ keeps a table's keys sorted; the grid's axes follow the file instead (the last written varies
  // fastest), as a reader of the file expects.
  std::stable_sort(parsed.sweep.begin(), parsed.sweep.end(), [](const SweepAxis& a, const SweepAxis& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  // Every {placeholder} of the label must name a swept key, or it would print literally in every label.
  if (const toml::node* label = table->get("label"); label && label->is_string()) {
    const std::string& text = parsed.sweep_label;
    for (auto open = text.find('{'); open != std::string::npos; open = text.find('{', open + 1)) {
      const auto close = text.find('}', open);
      if (close == std::string::npos) break;
      const std::string name = text.substr(open + 1, close - open - 1);
      const bool swept = std::any_of(parsed.sweep.begin(), parsed.sweep.end(), [&](const SweepAxis& a) { return a.key == name; }) ||
                         std::any_of(parsed.search.keys.begin(), parsed.search.keys.end(),
                                     [&](const SearchKey& a) { return a.param.key == name; });
      if (swept) continue;
      std::vector<std::string> keys;
      for (const auto& a : parsed.sweep) keys.push_back(a.key);
      for (const auto& a : parsed.search.keys) keys.push_back(a.param.key);
      std::string list;
      for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
      diags.add(file, label->source(), "sweep.label",
                "placeholder {" + name + "} names no swept key (swept: " + (list.empty() ? "none" : list) + ")");
    }
  }
}

Parsed parse_document(const std::string& text, const std::string& file, Origin origin, std::vector<std::string>& stack,
                      Diags& diags) {
  Parsed parsed;
  toml::table doc;
  try {
    doc = toml::parse(std::string_view(text), std::string_view(file));
  } catch (const toml::parse_error& e) {
    diags.add(file, e.source(), "", std::string(e.description()));
    diags.fatal = true;
    return parsed;
  }
  // Base files first: their values are the layer under this file's.
  if (const toml::node* inc = doc.get("include")) {
    std::vector<std::pair<std::string, toml::source_region>> includes;
    if (inc->is_string()) {
      includes.emplace_back(inc->as_string()->get(), inc->source());
    } else if (const toml::array* arr = inc->as_array()) {
      for (const auto& el : *arr) {
        if (el.is_string()) includes.emplace_back(el.as_string()->get(), el.source());
        else diags.add(file, el.source(), "include", "expected a file name (string)"), diags.fatal = true;
      }
    } else {
      diags.add(file, inc->source(), "include", "expected a file name or an array of file names");
      diags.fatal = true;
    }
    for (const auto& [name, where] : includes) {
      fs::path p = fs::path(name).is_relative() ? fs::path(file).parent_path() / name : fs::path(name);
      const std::string ps = p.lexically_normal().string();
      if (std::find(stack.begin(), stack.end(), ps) != stack.end()) {
        diags.add(file, where, "include", "include cycle: `" + ps + "` includes itself");
        diags.fatal = true;
        continue;
      }
      std::string base_text;
      if (const std::string problem = read_study_file(ps, base_text); !problem.empty()) {
        diags.add(file, where, "include", "cannot read base study `" + ps + "`: " + problem);
        diags.fatal = true;
        continue;
      }
      stack.push_back(ps);
      Parsed base = parse_document(base_text, ps, Origin::kBase, stack, diags);
      stack.pop_back();
      for (auto& [k, s] : base.values) {
        s.origin = Origin::kBase;
        parsed.values[k] = s;
      }
      if (!base.variants.empty() || base.design.present) parsed.variants = base.variants, parsed.design = base.design;
      if (!base.sweep.empty() || base.search.present) {
        parsed.sweep = base.sweep, parsed.sweep_label = base.sweep_label, parsed.search = base.search;
      }
      if (base.early_stop) {
        parsed.early_stop = base.early_stop;
        parsed.early_stop_file = base.early_stop_file;
        parsed.early_stop_line = base.early_stop_line;
        parsed.early_stop_column = base.early_stop_column;
      }
    }
  }
  bool own_variants = false, own_sweep = false;
  for (const auto& [k, node] : doc) {
    const std::string section(k.str());
    if (section == "include") continue;
    if (section == "ablation") {
      Parsed own;
      parse_ablation(node, file, own, diags);
      parsed.variants = std::move(own.variants);
      parsed.design = std::move(own.design);  // a design replaces inherited variants as a variant list does
      own_variants = true;
      continue;
    }
    if (section == "sweep") {
      Parsed own;
      parse_sweep(node, file, own, diags);
      // A [sweep] that holds only [sweep.early_stop] keeps the base's grid or search.
      const toml::table* own_table = node.as_table();
      if (!(own_table && own_table->size() == 1 && own_table->contains("early_stop"))) {
        parsed.sweep = std::move(own.sweep);
        parsed.sweep_label = own.sweep_label;
        parsed.search = std::move(own.search);
      }
      if (own.early_stop) {
        parsed.early_stop = own.early_stop;
        parsed.early_stop_file = own.early_stop_file;
        parsed.early_stop_line = own.early_stop_line;
        parsed.early_stop_column = own.early_stop_column;
      }
      own_sweep = true;
      continue;
    }
    const auto& sections = section_names();
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
      if (const KeyDef* kd = find_key(section); kd == nullptr && !node.is_table()) {
        // A dotted key at the top level ("model.cc" = true) is allowed: it names a schema key. A bare key
        // (`lr = 1e-4` before any section) is matched by its name, else by the sections' names.
        std::string hint = key_hint(section);
        if (hint.empty() && section.find('.') == std::string::npos) {
          std::vector<std::string> candidates = sections;
          candidates.push_back("include");
          hint = closest(section, candidates);
          if (!hint.empty() && hint != "include") hint = "[" + hint + "]";
        }
        diags.add(file, k.source(), section,
                  "unknown key" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)"));
        continue;
      }
      if (node.is_table()) {
        std::vector<std::string> candidates = sections;
        std::string hint = closest(section, candidates);
        diags.add(file, k.source(), section,
                  "unknown section" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)"));
        continue;
      }
    }
    flatten_entry(k, node, section, file, origin, parsed.values, diags);
  }
  (void)own_variants;
  (void)own_sweep;
  return parsed;
}

// Diagnostics in reading order: by file, then line and column.
std::vector<Diagnostic> sorted(std::vector<Diagnostic> list) {
  std::stable_sort(list.begin(), list.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
  });
  return list;
}

VariantConfig apply(const Layer& layer) {
  VariantConfig c;
  for (const auto& [path, setting] : layer) find_key(path)->set(c, setting.value);
  return c;
}

// The most encoder levels a study may ask for: 2^7 = 128x down-sampling already leaves a 4x4 bridge of a
// 512 image; more is a typo (an extra width), and each level doubles the image-size divisor.
constexpr std::size_t kMaxLevels = 8;

// Constraints between keys; each problem names the variant. A constraint that involves a key whose own
// value was rejected is skipped: it would only report the consequence of the default standing in.
void validate(const VariantConfig& c, const std::string& variant, const Layer& layer, const std::string& file,
              const std::set<std::string>& rejected, Diags& diags) {
  // Point at the value that set the key, when a file did.
  auto bad = [&](const std::string& key, const std::string& msg, std::initializer_list<const char*> also = {}) {
    if (rejected.count(key)) return;
    for (const char* k : also) {
      if (rejected.count(k)) return;
    }
    auto it = layer.find(key);
    const bool located = it != layer.end() && it->second.line > 0;
    diags.add(located ? it->second.file : file, located ? it->second.line : 0, located ? it->second.column : 0, key,
              (variant.empty() ? "" : "variant `" + variant + "`: ") + msg);
  };
  if (!c.study.split.empty()) {
    double sum = 0;
    for (double r : c.study.split) sum += r;
    if (c.study.split.size() != 3 || std::fabs(sum - 1.0) > 1e-6 || c.study.split[0] <= 0 || c.study.split[2] <= 0) {
      bad("study.split", "expected three ratios train, validation, test with train > 0, test > 0 that sum to 1");
    }
  }
  if (!(c.data.window_min < c.data.window_max)) {
    bad("data.window_min", "must be below data.window_max (" + to_literal(find_key("data.window_max")->get(c)) + ")",
        {"data.window_max"});
  }
  {
    // Classes are exclusive (softmax): a source label in two groups would always go to the first and leave
    // the other class without it. Checked here, so `plan` refuses it instead of every task failing.
    std::map<std::int64_t, std::size_t> group_of;
    for (std::size_t g = 0; g < c.data.label_groups.size(); ++g) {
      for (int v : c.data.label_groups[g]) {
        auto [it, fresh] = group_of.emplace(v, g);
        if (!fresh) {
          bad("data.label_groups", "source label " + std::to_string(v) +
                                       (it->second == g ? " is twice in group " + std::to_string(g)
                                                        : " is in group " + std::to_string(it->second) + " and group " + std::to_string(g)) +
                                       ": classes are exclusive, so each source label belongs to one group (for nested "
                                       "regions such as pancreas incl. tumour and tumour, run one study with [[1, 2]] and "
                                       "one with [[2]])");
          break;
        }
      }
    }
  }
  if (c.data.augment.blur_sigma_min > c.data.augment.blur_sigma_max) {
    bad("data.augment.blur_sigma_min", "must not exceed data.augment.blur_sigma_max", {"data.augment.blur_sigma_max"});
  }
  if (c.model.widths.size() > kMaxLevels) {
    bad("model.widths", std::to_string(c.model.widths.size()) + " levels: at most " + std::to_string(kMaxLevels) +
                            " encoder levels are allowed (the last width is the bridge)");
  } else {
    const bool resnet = c.model.backbone == "resnet";  // 002: stride 2^(S+1); the guidance pools H/4 twice
    const int down = resnet ? std::max(1 << (c.model.widths.size() + 1), c.model.semantic_guidance ? 16 : 1)
                            : 1 << (c.model.widths.size() - 1);
    if (c.data.image_size % down != 0) {
      bad("data.image_size",
          std::to_string(c.data.image_size) + " is not divisible by " +
              (resnet ? "the ResNet's stride 2^(S+1) = " : "2^(depth-1) = ") + std::to_string(down) + " for " +
              std::to_string(c.model.widths.size()) + (resnet ? " stages" : " levels"),
          {"model.widths"});
    }
  }
  if (c.model.attention != "none" && (c.model.cc || c.model.sc)) {
    bad("model.attention", "`" + c.model.attention + "` sits where CoA sits: turn model.cc and model.sc off",
        {"model.cc", "model.sc"});
  }
  // ANU-Net (003): the nested decoder replaces the U-Net decoder that the skip components act on.
  if (c.model.nested) {
    std::string off;
    for (const auto& [on, key] : {std::pair<bool, const char*>{c.model.dws, "model.dws"}, {c.model.aux_path, "model.aux_path"},
                                  {c.model.dspa, "model.dspa"}, {c.model.ca, "model.ca"},
                                  {c.model.msc != "none", "model.msc"}}) {
      if (on) off += (off.empty() ? "" : ", ") + std::string(key);
    }
    if (!off.empty()) {
      bad("model.nested", "the nested decoder has its own deep supervision and dense skips: turn " + off + " off",
          {"model.dws", "model.aux_path", "model.dspa", "model.ca", "model.msc"});
    }
  }
  if (c.model.prune_level > 0) {
    const int top = static_cast<int>(c.model.widths.size()) - 1;
    if (!c.model.nested || !c.model.nested_supervision) {
      bad("model.prune_level", "pruning takes the output of a deep-supervision head: needs model.nested = true and "
                               "model.nested_supervision = true",
          {"model.nested", "model.nested_supervision"});
    } else if (c.model.widths.size() <= kMaxLevels && c.model.prune_level > top) {
      bad("model.prune_level", std::to_string(c.model.prune_level) + " is deeper than the network: allowed 0.." +
                                   std::to_string(top) + " for " + std::to_string(top + 1) + " levels (0 and " +
                                   std::to_string(top) + " = unpruned)",
          {"model.widths"});
    }
  }
}

// A variant's configuration from its layer: validated, every key resolved with its origin, canonical
// text and hash.
void resolve_variant(Variant& v, const Layer& layer, const std::string& file, const std::set<std::string>& rejected,
                     Diags& diags) {
  v.config = apply(layer);
  validate(v.config, v.name, layer, file, rejected, diags);
  for (const auto& k : schema()) {
    ResolvedValue rv;
    auto it = layer.find(k.path);
    rv.text = to_literal(k.get(v.config));
    if (it != layer.end()) {
      rv.origin = it->second.origin;
      rv.where = it->second.file + (it->second.line ? ":" + std::to_string(it->second.line) : "");
    }
    v.values[k.path] = rv;
  }
  v.canonical = canonical_text(v.config);
  v.hash = config_hash(v.config);
}

}  // namespace

// What trial_variant needs of the parsed study after load_study_text has returned.
struct TrialFactory {
  Layer values;
  std::vector<VariantDecl> decls;
  bool explicit_variants = false;
  std::vector<SearchKey> keys;
  std::string label_template;
  std::string file;
  int trials = 0;
};

namespace {

// Trial `trial` of declared variant `d` (index `di`) at point x; problems go to diags.
Variant make_trial(const TrialFactory& f, std::size_t di, int trial, const sweeps::Sample& x,
                   const std::set<std::string>& rejected, Diags& diags) {
  const VariantDecl& d = f.decls.at(di);
  Layer layer = f.values;
  for (const auto& [k, s] : d.overrides) layer[k] = s;
  sweeps::GridPoint shown;
  sweeps::Space space;
  for (std::size_t j = 0; j < f.keys.size(); ++j) {
    const SearchKey& sk = f.keys[j];
    const KeyDef* kd = find_key(sk.param.key);
    Value v;
    if (sk.param.dist == sweeps::Distribution::kChoice) {
      v = sk.choices.at(static_cast<std::size_t>(x.at(j)));
    } else {
      v.type = kd->type;
      if (kd->type == ValueType::kInt) v.i = static_cast<std::int64_t>(x.at(j));
      else v.d = x.at(j);
    }
    layer[sk.param.key] = Setting{v, Origin::kSweep, sk.file, sk.line, sk.column, {}, {}, {}};
    shown.emplace_back(sk.param.key, sweeps::short_value(sk.param, x.at(j)));
  }
  char tag[32];
  std::snprintf(tag, sizeof tag, "t%03d", trial);
  Variant v;
  v.trial = trial;
  v.point = x;
  v.declared = f.explicit_variants ? d.name : "";
  v.ordinal = static_cast<int>(di) * f.trials + trial;
  const std::string point = sweeps::point_name(shown), label = sweeps::point_label(shown, f.label_template);
  v.name = (f.explicit_variants ? d.name + "_" : std::string()) + tag + "_" + point;
  v.label = f.explicit_variants ? d.label + " (#" + std::to_string(trial) + ": " + label + ")"
                                : "#" + std::to_string(trial) + " " + label;
  resolve_variant(v, layer, f.file, rejected, diags);
  return v;
}

// The search of a [sweep]: method, budget, objective and space into study.search; random and sobol trials
// into study.variants.
void resolve_search(Study& study, const Parsed& parsed, const std::vector<VariantDecl>& decls, bool explicit_variants,
                    const std::string& file, const std::set<std::string>& rejected, Diags& diags) {
  const SearchDecl& sd = parsed.search;
  Search& s = study.search;
  s.method = sd.method;
  s.trials = sd.trials;
  if (sd.startup > 0) s.startup = sd.startup;
  s.seed = study.base.study.seed;
  for (const auto& k : sd.keys) s.space.push_back(k.param);
  for (const auto& d : decls) s.declared.push_back(explicit_variants ? d.name : "");
  // bind_objective made train.select_metric the objective (or refused the study where they differ).
  s.objective = study.base.train.select_metric;
  s.minimize = sweeps::objective_direction(s.objective) == sweeps::Direction::kMinimize;
  if (!s.sampled()) return;
  // Every trial must select its epochs on the objective: a variant or a sampled key that changed
  // train.select_metric would make the trials' objectives different metrics.
  for (const auto& d : decls) {
    const auto it = d.overrides.find("train.select_metric");
    if (it == d.overrides.end() || it->second.value.s == s.objective || rejected.count("train.select_metric")) continue;
    diags.add(it->second.file, it->second.line, it->second.column, "train.select_metric",
              "variant `" + d.name + "` selects on \"" + it->second.value.s + "\" but the search's objective is \"" +
                  s.objective + "\": every trial of a search is selected, and compared, on its objective");
  }
  for (const auto& k : sd.keys) {
    if (k.param.key != "train.select_metric") continue;
    diags.add(k.file, k.line, k.column, "sweep.train.select_metric",
              "a search cannot sample train.select_metric: it is the objective the trials are compared on (sweep.objective)");
  }
  auto factory = std::make_shared<TrialFactory>();
  factory->values = parsed.values;
  factory->decls = decls;
  factory->explicit_variants = explicit_variants;
  factory->keys = sd.keys;
  factory->label_template = parsed.sweep_label;
  factory->file = file;
  factory->trials = sd.trials;
  study.factory = factory;
  if (s.adaptive() || sd.keys.empty() || sd.trials == 0) return;
  for (std::size_t di = 0; di < decls.size(); ++di) {
    for (int t = 0; t < sd.trials; ++t) {
      const sweeps::Sample x = s.method == "sobol" ? sweeps::sobol_sample(s.space, s.seed, static_cast<std::uint64_t>(t))
                                                   : sweeps::random_sample(s.space, s.seed, static_cast<std::uint64_t>(t));
      study.variants.push_back(make_trial(*factory, di, t, x, rejected, diags));
    }
  }
}

}  // namespace

Variant trial_variant(const Study& study, const std::string& declared, int trial, const sweeps::Sample& x) {
  if (!study.factory) throw std::logic_error("trial_variant: the study has no search");
  const auto& decls = study.search.declared;
  const auto it = std::find(decls.begin(), decls.end(), declared);
  if (it == decls.end()) throw std::logic_error("trial_variant: no declared variant `" + declared + "`");
  Diags diags;
  Variant v = make_trial(*study.factory, static_cast<std::size_t>(it - decls.begin()), trial, x, {}, diags);
  if (!diags.list.empty()) throw SpecError(diags.list);
  return v;
}

std::string canonical_text(const VariantConfig& config) {
  std::string out;
  for (const auto& k : schema()) {
    if (!k.in_canonical) continue;
    out += k.path + " = " + to_literal(k.get(config)) + "\n";
  }
  return out;
}

std::string resolved_text(const VariantConfig& config) {
  std::string out;
  for (const auto& k : schema()) out += k.path + " = " + to_literal(k.get(config)) + "\n";
  return out;
}

std::string config_hash(const VariantConfig& config, bool training_only) {
  // study.folds means nothing under a fixed split: changing it then changes no result.
  const bool fixed_split = !config.study.split.empty();
  std::string hashed;
  for (const auto& k : schema()) {
    if (!k.hashed || (training_only && k.evaluation_only) || (fixed_split && k.path == "study.folds")) continue;
    hashed += k.path + " = " + to_literal(k.get(config)) + "\n";
  }
  return sha256_hex(hashed).substr(0, 16);
}

VariantConfig parse_canonical(const std::string& text) {
  Diags diags;
  Layer layer;
  try {
    toml::table doc = toml::parse(std::string_view(text), std::string_view("<canonical>"));
    flatten(doc, "", "<canonical>", Origin::kStudy, layer, diags);
  } catch (const toml::parse_error& e) {
    diags.add("<canonical>", e.source(), "", std::string(e.description()));
  }
  if (!diags.list.empty()) throw SpecError(diags.list);
  // Paths were made absolute when the study was loaded; flatten() leaves absolute paths alone.
  return apply(layer);
}

std::map<std::string, std::string> canonical_values(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find(" = ");
    if (eq == std::string::npos) continue;
    out[line.substr(0, eq)] = line.substr(eq + 3);
  }
  return out;
}

std::vector<std::string> changed_keys(const std::string& canonical_a, const std::string& canonical_b) {
  auto a = canonical_values(canonical_a), b = canonical_values(canonical_b);
  auto fixed_split = [](const std::map<std::string, std::string>& values) {
    auto it = values.find("study.split");
    return it != values.end() && it->second != "[]";
  };
  const bool folds_unused = fixed_split(a) && fixed_split(b);  // as config_hash leaves study.folds out
  std::set<std::string> keys;
  for (const auto& [k, v] : a) keys.insert(k);
  for (const auto& [k, v] : b) keys.insert(k);
  std::vector<std::string> out;
  for (const auto& k : keys) {
    const KeyDef* kd = find_key(k);
    if ((kd && !kd->hashed) || (folds_unused && k == "study.folds")) continue;
    auto ia = a.find(k), ib = b.find(k);
    if (ia == a.end() || ib == b.end() || ia->second != ib->second) out.push_back(k);
  }
  return out;
}

namespace {

// `--set key=value` (Hydra-style): the value is a TOML literal, or plain text for a string key
// (`--set model.msc=kcm`). Schema keys and sweep.method / sweep.trials / sweep.objective; each is checked
// as the same key in the file would be, and its problems name the `--set` argument.
void apply_overrides(const std::vector<std::string>& overrides, Parsed& parsed, Diags& diags) {
  for (const auto& arg : overrides) {
    const std::string where = "--set " + arg;
    const auto eq = arg.find('=');
    auto trim = [](std::string x) {
      const auto a = x.find_first_not_of(" \t"), b = x.find_last_not_of(" \t");
      return a == std::string::npos ? std::string() : x.substr(a, b - a + 1);
    };
    const std::string key = trim(arg.substr(0, eq));
    if (eq == std::string::npos || key.empty()) {
      diags.add(where, 0, 0, "", "expected key=value, e.g. --set train.lr=3e-4");
      continue;
    }
    const std::string value = trim(arg.substr(eq + 1));
    const KeyDef* kd = find_key(key);
    const bool search_key = key == "sweep.method" || key == "sweep.trials" || key == "sweep.objective" || key == "sweep.startup";
    if (!kd && !search_key) {
      std::string hint = key_hint(key);
      if (hint.empty()) hint = closest(key, {"sweep.method", "sweep.trials", "sweep.objective", "sweep.startup"});
      diags.add(where, 0, 0, key,
                "unknown key" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)") +
                    "; --set takes a study key or sweep.method, sweep.trials, sweep.startup, sweep.objective");
      continue;
    }
    toml::table doc;
    try {
      doc = toml::parse("x = " + value);
    } catch (const toml::parse_error&) {
      // Plain text for a string key; anything else is not a value.
      if ((kd && kd->type == ValueType::kString) || key == "sweep.method" || key == "sweep.objective") {
        doc = toml::table{{"x", value}};
      } else {
        diags.add(where, 0, 0, key, "`" + value + "` is not a value: expected " + (kd ? kd->allowed() : "an integer"));
        continue;
      }
    }
    const toml::node& node = *doc.get("x");
    Diags local;
    if (search_key) {
      parse_search_setting(key.substr(6), node, where, parsed.search, local);
      parsed.search.present = true;
    } else if (auto v = read_value(node, *kd, where, local)) {
      parsed.values[key] = Setting{*v, Origin::kOverride, where, 0, 0, {}, {}, {}};
    }
    // Positions inside the argument mean nothing to the user: the argument is named instead.
    for (auto d : local.list) {
      d.line = 0, d.column = 0;
      diags.list.push_back(d);
    }
  }
}

// "" or why the study is too large: variants (declared variants x grid points, or x the trials of a
// sampled search, `trials` > 0) x folds x repeats against study.max_tasks, counted without expanding
// anything (and without overflow).
std::string check_study_size(const StudyConfig& s, std::size_t declared, const std::vector<sweeps::Axis>& axes,
                             int trials) {
  const double limit = s.max_tasks;
  double variants = static_cast<double>(declared);
  std::string grid;
  if (trials > 0) {
    variants *= trials;
    grid = std::to_string(trials) + " trials";
  } else {
    for (const auto& a : axes) {
      variants *= static_cast<double>(a.values.size());
      grid += (grid.empty() ? "" : " x ") + std::to_string(a.values.size());
    }
  }
  const int folds = s.split.empty() ? s.folds : 1;
  const int repeats = std::max(1, s.repeats);
  const double tasks = variants * folds * repeats;
  if (tasks <= limit) return "";
  std::ostringstream m;
  m.precision(15);
  m << "the study expands to " << variants << " variant(s)";
  if (trials > 0) {
    m << " (" << declared << " declared x " << grid << ")";
  } else if (!axes.empty()) {
    m << " (" << declared << " declared x a [sweep] grid of " << grid << ")";
  }
  m << " x " << folds << " fold(s) x " << repeats << " repeat(s) = " << tasks << " tasks, more than study.max_tasks = "
    << s.max_tasks << "; shrink the sweep, or raise study.max_tasks in [study] (at most 1000000) if so many are meant";
  return m.str();
}

// The design's points as variant declarations, each with the union of its components' `set` layers.
// Fills study.design_spec, design_plan and the stored form (masks are added as variants resolve).
std::vector<VariantDecl> design_decls(const Parsed& parsed, Study& study, Diags& diags) {
  std::vector<VariantDecl> out;
  const ParsedDesign& pd = parsed.design;
  if (!pd.present || pd.spec.components.empty() || pd.spec.designs.empty()) return out;
  study.design_spec = pd.spec;
  study.design_plan = generate_design(pd.spec);
  for (const auto& c : pd.spec.components) study.design.components.push_back(c.label);
  study.design.baseline = pd.spec.baseline_name;
  study.design.designs = pd.spec.designs;
  study.design.resolution = study.design_plan.fraction.resolution;
  study.design.fraction = study.design_plan.fraction.runs;
  for (const auto& point : study.design_plan.points) {
    VariantDecl d;
    d.name = point.name;
    d.label = point.label;
    d.mask = point.mask;
    d.file = pd.file, d.line = pd.line, d.column = pd.column;
    std::map<std::string, std::size_t> set_by;  // key -> component that set it
    for (std::size_t i = 0; i < pd.spec.components.size(); ++i) {
      if (!(point.mask & (1u << i))) continue;
      for (const auto& [key, setting] : pd.sets[i]) {
        auto [it, fresh] = set_by.emplace(key, i);
        if (!fresh && to_literal(d.overrides[key].value) != to_literal(setting.value)) {
          const std::string& a = pd.spec.components[it->second].label;
          const std::string& b = pd.spec.components[i].label;
          diags.add(setting.file, setting.line, setting.column, "ablation.components",
                    "components `" + a + "` and `" + b + "` set `" + key + "` to different values in design point `" +
                        point.name + "`: add excludes = [[\"" + a + "\", \"" + b + "\"]]");
          continue;
        }
        d.overrides[key] = setting;
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

// Appends the hand-written [[ablation.variant]] rows to the design's; a row with the configuration of a
// design point is that point (one variant, one training) and gives it its name and label.
void hand_written_rows(const Layer& values, const std::vector<VariantDecl>& rows, std::vector<VariantDecl>& decls) {
  auto hash_of = [&](const Layer& overrides) {
    Layer layer = values;
    for (const auto& [k, s] : overrides) layer[k] = s;
    return config_hash(apply(layer));
  };
  std::map<std::string, std::size_t> design_hash;
  for (std::size_t i = 0; i < decls.size(); ++i) design_hash.emplace(hash_of(decls[i].overrides), i);
  for (const auto& row : rows) {
    if (!design_hash.empty()) {
      if (auto it = design_hash.find(hash_of(row.overrides)); it != design_hash.end()) {
        VariantDecl& point = decls[it->second];
        point.name = row.name, point.label = row.label;
        point.file = row.file, point.line = row.line, point.column = row.column;
        continue;
      }
    }
    decls.push_back(row);
  }
}

}  // namespace

Study load_study_text(const std::string& text, const std::string& file, const std::vector<std::string>& overrides) {
  Diags diags;
  std::vector<std::string> stack = {fs::path(file).lexically_normal().string()};
  Parsed parsed = parse_document(text, file, Origin::kStudy, stack, diags);
  if (!diags.fatal) apply_overrides(overrides, parsed, diags);
  check_search(parsed, file, diags);
  bind_objective(parsed, diags);
  std::set<std::string> declared_twice;
  {
    std::set<std::string> names;
    for (const auto& d : parsed.variants) {
      if (!names.insert(d.name).second) {
        diags.add(d.file, d.line, d.column, "ablation.variant.name", "duplicate variant name `" + d.name + "`");
        declared_twice.insert(d.name);
      }
    }
  }
  if (diags.fatal) throw SpecError(sorted(diags.list));
  // Values were rejected, but the rest of the file is known: go on, so that every problem of the file is
  // reported together, and leave out checks that involve a rejected key.
  std::set<std::string> rejected;
  for (const auto& d : diags.list) {
    rejected.insert(d.key.rfind("sweep.", 0) == 0 ? d.key.substr(6) : d.key);
  }

  Study study;
  study.file = file;
  study.text = text;
  study.base = apply(parsed.values);

  std::vector<VariantDecl> decls = design_decls(parsed, study, diags);
  hand_written_rows(parsed.values, parsed.variants, decls);
  const bool explicit_variants = !decls.empty();
  if (!explicit_variants) {
    VariantDecl only;
    only.name = "base";
    only.label = study.base.study.name;
    decls.push_back(only);
  }

  // The grid, through sweeps/: values travel as literals and map back to their parsed Values.
  std::vector<sweeps::Axis> axes;
  std::map<std::pair<std::string, std::string>, Value> by_literal;
  for (const auto& a : parsed.sweep) {
    sweeps::Axis axis{a.key, {}};
    for (const auto& v : a.values) {
      axis.values.push_back(to_literal(v));
      by_literal[{a.key, axis.values.back()}] = v;
    }
    axes.push_back(std::move(axis));
  }
  // The size check comes before the grid is expanded: a runaway [sweep] must cost nothing.
  if (const std::string problem = check_study_size(study.base.study, decls.size(), axes, parsed.search.method != "grid" ? parsed.search.trials : 0); !problem.empty()) {
    const bool swept = !parsed.sweep.empty();
    diags.add(swept ? parsed.sweep.front().file : file, swept ? parsed.sweep.front().line : 0,
              swept ? parsed.sweep.front().column : 0, "study.max_tasks", problem);
    throw SpecError(sorted(diags.list));
  }
  // A sampled search has no grid points: its trials are made below (random, sobol) or by the coordinator (tpe).
  const auto points = parsed.search.method != "grid" ? std::vector<sweeps::GridPoint>{} : sweeps::expand_grid(axes);

  // Variant names key the store: each expanded name must be unique. Where two differ only in their
  // sweep point, the value names collapse ("a b" and "a-b" both give "a-b").
  std::map<std::string, std::string> produced_by;  // name -> "variant `x` at point y" or "sweep point y"
  int ordinal = 0;
  for (const auto& d : decls) {
    for (const auto& point : points) {
      Variant v;
      v.ordinal = ordinal++;
      if (axes.empty()) {
        v.name = d.name, v.label = d.label;
      } else if (explicit_variants) {
        v.name = d.name + "_" + sweeps::point_name(point);
        v.label = d.label + " (" + sweeps::point_label(point, parsed.sweep_label) + ")";
      } else {
        v.name = sweeps::point_name(point);
        v.label = sweeps::point_label(point, parsed.sweep_label);
      }
      {
        const std::string origin = (explicit_variants ? "variant `" + d.name + "`" : std::string("")) +
                                   (axes.empty() ? std::string()
                                                 : std::string(explicit_variants ? " at " : "") + "sweep point " +
                                                       sweeps::point_label(point));
        auto [it, fresh] = produced_by.emplace(v.name, origin);
        if (!fresh && !declared_twice.count(d.name)) {
          // Point at the variant table when there is one, else at the first swept key.
          const std::string& f = explicit_variants ? d.file : parsed.sweep.front().file;
          const int line = explicit_variants ? d.line : parsed.sweep.front().line;
          const int column = explicit_variants ? d.column : parsed.sweep.front().column;
          diags.add(f, line, column, explicit_variants ? "ablation.variant.name" : "sweep",
                    "variant name `" + v.name + "` is produced twice: by " + it->second + " and by " + origin +
                        "; rename a variant or change the values");
        }
      }
      Layer layer = parsed.values;
      for (const auto& [k, s] : d.overrides) layer[k] = s;
      for (const auto& [k, lit] : point) {
        // A sweep value's problems point at the value in the [sweep] array.
        // (A named copy: C++17 lambdas cannot capture a structured binding; clang refuses it.)
        const std::string& swept = k;
        const SweepAxis& axis = *std::find_if(parsed.sweep.begin(), parsed.sweep.end(),
                                              [&](const SweepAxis& a) { return a.key == swept; });
        std::pair<int, int> where{axis.line, axis.column};
        for (std::size_t i = 0; i < axis.values.size(); ++i) {
          if (to_literal(axis.values[i]) == lit) where = axis.where[i];
        }
        layer[k] = Setting{by_literal.at({k, lit}), Origin::kSweep, axis.file, where.first, where.second, {}, {}, {}};
      }
      resolve_variant(v, layer, file, rejected, diags);
      if (d.mask >= 0) study.design.masks[v.name] = static_cast<std::uint32_t>(d.mask);
      study.variants.push_back(std::move(v));
    }
  }
  resolve_search(study, parsed, decls, explicit_variants, file, rejected, diags);
  // The [report] keys are the study's (a variant cannot set them); a problem points at the value, or the
  // list item, in the file.
  auto report_error = [&](const std::string& key, std::size_t item, const std::string& msg) {
    std::string where_file = file;
    int line = 0, column = 0;
    if (auto it = parsed.values.find(key); it != parsed.values.end()) {
      where_file = it->second.file, line = it->second.line, column = it->second.column;
      if (item < it->second.items.size()) std::tie(line, column) = it->second.items[item];
    }
    diags.add(where_file, line, column, key, msg);
  };
  // Report rows and baseline must name variants.
  std::vector<std::string> names;
  for (const auto& v : study.variants) names.push_back(v.name);
  auto check_name = [&](const std::string& key, const std::string& name, std::size_t item) {
    if (std::find(names.begin(), names.end(), name) != names.end()) return;
    std::string hint = closest(name, names);
    report_error(key, item, "no variant named `" + name + "`" + (hint.empty() ? "" : " (did you mean `" + hint + "`?)"));
  };
  if (!rejected.count("report.baseline") && !study.base.report.baseline.empty()) {
    check_name("report.baseline", study.base.report.baseline, std::string::npos);
  }
  if (!rejected.count("report.rows")) {
    for (std::size_t i = 0; i < study.base.report.rows.size(); ++i) check_name("report.rows", study.base.report.rows[i], i);
  }
  if (!rejected.count("report.components")) {
    std::vector<std::string> bools;
    for (const auto& k : schema()) {
      if (k.path.rfind("model.", 0) == 0 && k.type == ValueType::kBool) bools.push_back(k.path.substr(6));
    }
    const auto& components = study.base.report.components;
    for (std::size_t i = 0; i < components.size(); ++i) {
      if (std::find(bools.begin(), bools.end(), components[i]) != bools.end()) continue;
      const std::string hint = closest(components[i], bools);
      report_error("report.components", i,
                   "`" + components[i] + "` is not a boolean model key" +
                       (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)"));
    }
  }
  // Early stopping: the rungs end at train.epochs, which every variant shares (a rung is an epoch of all).
  if (parsed.early_stop) {
    study.early_stop = *parsed.early_stop;
    const int epochs = study.base.train.epochs;
    const std::string problem = sweeps::check_early_stop(study.early_stop, epochs);
    if (!problem.empty()) {
      const auto colon = problem.find(" = ");
      diags.add(parsed.early_stop_file, parsed.early_stop_line, parsed.early_stop_column,
                colon == std::string::npos ? "sweep.early_stop" : problem.substr(0, colon), problem.substr(colon == std::string::npos ? 0 : colon + 3));
    } else if (study.early_stop.method != "none") {
      for (const auto& v : study.variants) {
        if (v.config.train.epochs != epochs) {
          diags.add(parsed.early_stop_file, parsed.early_stop_line, parsed.early_stop_column, "sweep.early_stop.rungs",
                    "variant `" + v.name + "` trains " + std::to_string(v.config.train.epochs) + " epochs, the study " +
                        std::to_string(epochs) + ": with early stopping every variant has the same train.epochs (the last rung)");
          break;
        }
        // A fold that ends itself between two rungs would never reach the next one.
        if (v.config.train.early_stop_patience > 0) {
          diags.add(parsed.early_stop_file, parsed.early_stop_line, parsed.early_stop_column, "sweep.early_stop.method",
                    "variant `" + v.name + "` sets train.early_stop_patience = " + std::to_string(v.config.train.early_stop_patience) +
                        ": patience within a task and rungs between tasks do not mix; set it to 0 or method = \"none\"");
          break;
        }
      }
    }
  }
  if (const std::string& key = study.base.report.sweep_key;
      !rejected.count("report.sweep_key") && !key.empty() && !find_key(key)) {
    const std::string hint = key_hint(key);
    report_error("report.sweep_key", std::string::npos,
                 "`" + key + "` is not a study key" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)"));
  }

  // Published rows name variants, by label or by name.
  if (auto it = parsed.values.find("report.published"); it != parsed.values.end() && !rejected.count("report.published")) {
    std::vector<std::string> known = names;
    for (const auto& v : study.variants)
      if (std::find(known.begin(), known.end(), v.label) == known.end()) known.push_back(v.label);
    for (const auto& r : it->second.published_rows) {
      if (std::find(known.begin(), known.end(), r.row) != known.end()) continue;
      const std::string hint = closest(r.row, known);
      diags.add(it->second.file, r.line, r.column, "report.published",
                "table " + std::to_string(r.table + 1) + ": no variant labelled or named `" + r.row + "`" +
                    (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)"));
    }
    // A table's class names a class of the study: report.class_names[k - 1], or "class k", for the
    // classes 1..K of data.label_groups (at least as many as report.class_names names).
    const int n_classes = std::max<int>(study.base.data.foreground_classes(),
                                        static_cast<int>(study.base.report.class_names.size()));
    std::vector<std::string> class_choices;
    for (int k = 1; k <= n_classes; ++k) {
      const auto i = static_cast<std::size_t>(k - 1);
      if (i < study.base.report.class_names.size() && !study.base.report.class_names[i].empty())
        class_choices.push_back(study.base.report.class_names[i]);
      class_choices.push_back("class " + std::to_string(k));
    }
    for (const auto& c : it->second.published_classes) {
      if (std::find(class_choices.begin(), class_choices.end(), c.row) != class_choices.end()) continue;
      const std::string hint = closest(c.row, class_choices);
      std::string allowed;
      for (const auto& name : class_choices) allowed += (allowed.empty() ? "" : ", ") + name;
      diags.add(it->second.file, c.line, c.column, "report.published",
                "table " + std::to_string(c.table + 1) + ": class `" + c.row + "` is no class of the study" +
                    (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)") + "; allowed: " + allowed +
                    " (report.class_names and data.label_groups)");
    }
  }

  // Keep one copy of each cross-key problem that every variant repeats.
  std::vector<Diagnostic> unique;
  std::set<std::string> shown;
  for (const auto& d : diags.list) {
    if (shown.insert(d.str()).second) unique.push_back(d);
  }
  if (!unique.empty()) throw SpecError(sorted(unique));
  return study;
}

Study load_study(const std::string& path, const std::vector<std::string>& overrides) {
  if (fs::is_directory(path)) {
    throw SpecError({Diagnostic{path, 0, 0, "", "is a directory, expected a study file (.toml)"}});
  }
  std::string text;
  if (const std::string problem = read_study_file(path, text); !problem.empty()) {
    throw SpecError({Diagnostic{path, 0, 0, "", problem == "no such file" ? "no such study file" : problem}});
  }
  return load_study_text(text, path, overrides);
}

}  // namespace ablate
