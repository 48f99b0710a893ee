// TOML values: a node read as a schema key's value, and tables flattened into layers of dotted keys.
#include "ablations/study_internal.hpp"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "ablations/schema.hpp"

namespace fs = std::filesystem;

namespace ablate::study_internal {

namespace {

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

}  // namespace

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

}  // namespace ablate::study_internal
