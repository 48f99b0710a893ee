// `--set key=value` overrides: a layer above the study file and its bases.
#include "ablations/study_internal.hpp"

#include <algorithm>

#include "ablations/schema.hpp"

namespace ablate::study_internal {

namespace {

// `--set sweep.KEY={ log_uniform = [a, b] }`: the distribution of a key the study's search samples, replacing
// the file's (ablate demo narrows a searched learning rate so; ablations/demo_scale.hpp). Only a sampled
// key: a grid's values are its variants' names, and a key the search does not sample would change what the
// study is.
void override_distribution(const std::string& key, const std::string& value, const std::string& where, Parsed& parsed,
                           Diags& diags) {
  const std::string swept = key.substr(6);
  auto it = std::find_if(parsed.search.keys.begin(), parsed.search.keys.end(),
                         [&](const SearchKey& k) { return k.param.key == swept; });
  const KeyDef* kd = find_key(swept);
  if (!kd || it == parsed.search.keys.end()) {
    std::string sampled;
    for (const auto& k : parsed.search.keys) sampled += (sampled.empty() ? "" : ", ") + ("sweep." + k.param.key);
    const bool grid = std::any_of(parsed.sweep.begin(), parsed.sweep.end(), [&](const SweepAxis& a) { return a.key == swept; });
    const std::string hint = kd ? "" : closest(key, {"sweep.method", "sweep.trials", "sweep.objective", "sweep.startup"});
    diags.add(where, 0, 0, key,
              (hint.empty() ? std::string() : "unknown key (did you mean `" + hint + "`?); ") +
                  "--set sweep.KEY replaces the distribution of a key the study's search samples; " +
                  (grid ? "this study's grid lists " + key + ", whose values name its variants: change them in the file"
                        : sampled.empty() ? std::string("this study samples none") : "it samples " + sampled));
    return;
  }
  toml::table doc;
  try {
    doc = toml::parse("x = " + value);
  } catch (const toml::parse_error&) {
  }
  const toml::table* table = doc.get("x") ? doc.get("x")->as_table() : nullptr;
  if (!table) {
    diags.add(where, 0, 0, key, "`" + value + "` is not a distribution: expected one of { uniform = [a, b] }, "
                                "{ log_uniform = [a, b] }, { int = [a, b] }, { choice = [...] }");
    return;
  }
  Diags local;
  if (auto sk = parse_distribution(*kd, *table, where, local)) {
    sk->line = 0, sk->column = 0;
    *it = std::move(*sk);
  }
  for (auto d : local.list) {
    d.line = 0, d.column = 0;
    diags.list.push_back(d);
  }
}

}  // namespace

// `--set key=value` (Hydra-style): the value is a TOML literal, or plain text for a string key
// (`--set model.msc=kcm`). Schema keys, sweep.method / sweep.trials / sweep.objective / sweep.startup, and
// sweep.KEY for a key the search samples (override_distribution); each is checked as the same key in the
// file would be, and its problems name the `--set` argument.
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
    if (!kd && !search_key && key.rfind("sweep.", 0) == 0 && value.find_first_of("\n\r") == std::string::npos) {
      override_distribution(key, value, where, parsed, diags);
      continue;
    }
    if (!kd && !search_key) {
      std::string hint = key_hint(key);
      if (hint.empty()) hint = closest(key, {"sweep.method", "sweep.trials", "sweep.objective", "sweep.startup"});
      diags.add(where, 0, 0, key,
                "unknown key" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)") +
                    "; --set takes a study key or sweep.method, sweep.trials, sweep.startup, sweep.objective, "
                    "or sweep.KEY for a key the search samples");
      continue;
    }
    // One value, on one line: TOML separates keys by line breaks only, so a value without one is one
    // value; with one, the text after it would set other keys (or be dropped) while the provenance
    // records the whole argument.
    if (value.find_first_of("\n\r") != std::string::npos) {
      diags.add(where, 0, 0, key, "the value holds a line break: --set takes exactly one value, on one line");
      continue;
    }
    const bool string_key = (kd && kd->type == ValueType::kString) || key == "sweep.method" || key == "sweep.objective";
    toml::table doc;
    bool parsed_value = true;
    try {
      doc = toml::parse("x = " + value);
    } catch (const toml::parse_error&) {
      parsed_value = false;
    }
    // Plain text for a string key is the string ("kcm", and "00:20:00", which TOML would read as a
    // time); for any other key, text that is no TOML value is refused.
    if (string_key && (!parsed_value || !doc.get("x")->is_string())) {
      doc = toml::table{{"x", value}};
    } else if (!parsed_value) {
      diags.add(where, 0, 0, key, "`" + value + "` is not a value: expected " + (kd ? kd->allowed() : "an integer"));
      continue;
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

}  // namespace ablate::study_internal
