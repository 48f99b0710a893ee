// [sweep]: a grid of values, or a search (method, budget, objective, distributions), and
// [sweep.early_stop].
#include "ablations/study_internal.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <tuple>

#include "ablations/schema.hpp"
#include "sweeps/early_stop.hpp"
#include "sweeps/metric.hpp"
#include "sweeps/samplers.hpp"

namespace ablate::study_internal {

// `objectives = ["dice", "params", "inference_ms"]`: one validation metric (as train.select_metric, which it
// sets or must equal, like sweep.objective) and at least one model fact, each once. Only the validation
// value of train.select_metric is stored per epoch, so a second metric could not be read without the test
// cases; the facts are measured on every trained model.
void parse_objectives(const toml::node& node, const std::string& file, SearchDecl& search, Diags& diags) {
  const std::vector<std::string>& metrics = find_key("train.select_metric")->choices;
  std::string metric_list, fact_list;
  for (const auto& m : metrics) metric_list += (metric_list.empty() ? "" : ", ") + m;
  for (const auto& f : sweeps::model_fact_names()) fact_list += (fact_list.empty() ? "" : ", ") + f;
  search.objectives_line = static_cast<int>(node.source().begin.line);  // written, even where refused below
  search.objectives_column = static_cast<int>(node.source().begin.column);
  const std::string allowed = "one validation metric (" + metric_list + ") and one or more model facts (" + fact_list + ")";
  const toml::array* arr = node.as_array();
  if (!arr) {
    diags.add(file, node.source(), "sweep.objectives", "expected an array of names: " + allowed + ", e.g. [\"dice\", \"params\"]");
    return;
  }
  std::vector<std::string> names;
  std::string metric;
  bool ok = true;
  for (const auto& el : *arr) {
    const std::string name = el.is_string() ? el.as_string()->get() : std::string();
    const bool is_metric = std::find(metrics.begin(), metrics.end(), name) != metrics.end();
    if (!is_metric && !sweeps::is_model_fact(name)) {
      diags.add(file, el.source(), "sweep.objectives",
                (name.empty() ? std::string("expected a name") : "unknown objective `" + name + "`") + ": allowed are " + allowed);
      ok = false;
      continue;
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      diags.add(file, el.source(), "sweep.objectives", "`" + name + "` is listed twice");
      ok = false;
      continue;
    }
    if (is_metric && !metric.empty()) {
      diags.add(file, el.source(), "sweep.objectives",
                "a second validation metric `" + name + "` beside `" + metric +
                    "`: the store keeps one validation value per epoch (train.select_metric's), so a search has one "
                    "metric among its objectives; allowed are " + allowed);
      ok = false;
      continue;
    }
    if (is_metric) metric = name;
    names.push_back(name);
  }
  if (!ok) return;
  if (metric.empty() || names.size() < 2) {
    diags.add(file, node.source(), "sweep.objectives",
              "expected " + allowed + (metric.empty() ? " (no metric is listed)" : " (only the metric is listed: write objective = \"" + metric + "\" for one objective)"));
    return;
  }
  search.objectives = names;
  search.objective = metric;
  search.objective_file = file;
  search.objective_line = search.objectives_line, search.objective_column = search.objectives_column;
}

// method, trials and objective of [sweep]; returns false for any other name.
bool parse_search_setting(const std::string& name, const toml::node& node, const std::string& file, SearchDecl& search,
                          Diags& diags) {
  const int line = static_cast<int>(node.source().begin.line), column = static_cast<int>(node.source().begin.column);
  if (name == "method") {
    static const std::vector<std::string> methods = {"grid", "random", "sobol", "tpe", "motpe", "nsga2"};
    if (!node.is_string() || std::find(methods.begin(), methods.end(), node.as_string()->get()) == methods.end()) {
      diags.add(file, node.source(), "sweep.method", "expected one of: grid, random, sobol, tpe, motpe, nsga2");
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
    search.objective_written = true;
    if (!search.objectives.empty()) return true;  // check_search refuses the pair
    search.objective = node.as_string()->get();
    search.objective_file = file;
    search.objective_line = line, search.objective_column = column;
    return true;
  }
  if (name == "objectives") return parse_objectives(node, file, search, diags), true;
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
  if (!std::isfinite(a) || !std::isfinite(b)) {
    diags.add(file, dnode.source(), where, dist + ": expected [low, high], two finite numbers (nan and inf bound nothing)");
    return std::nullopt;
  }
  if (!(dist == "int" ? a <= b : a < b) ||
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
                "a distribution needs method = \"random\", \"sobol\", \"tpe\", \"motpe\" or \"nsga2\" in [sweep] (a grid takes a list of values)");
    }
    if (s.trials > 0) {
      diags.add(file, s.trials_line, s.trials_column, "sweep.trials",
                "a grid runs every point: trials goes with method = \"random\", \"sobol\", \"tpe\", \"motpe\" or \"nsga2\"");
    }
  }
  if (s.startup > 0 && s.method != "tpe" && s.method != "motpe") {
    diags.add(file, s.startup_line, s.startup_column, "sweep.startup", "startup goes with method = \"tpe\" or \"motpe\"");
  }
  const bool several = !s.objectives.empty();
  if (several && s.objective_written) {
    diags.add(file, s.objectives_line, s.objectives_column, "sweep.objectives",
              "sweep.objective and sweep.objectives are both written: write objective for one objective or objectives for "
              "several (its metric is the objective)");
  }
  if (several && !sampled) {
    diags.add(file, s.objectives_line, s.objectives_column, "sweep.objectives",
              "a grid runs every point: objectives goes with method = \"motpe\", \"nsga2\", \"random\" or \"sobol\" (every "
              "report draws the Pareto front of each metric against parameters and inference time, docs/REPORTS.md)");
  } else if (several && s.method == "tpe") {
    diags.add(file, s.method_line, s.method_column, "sweep.method",
              "tpe optimises one objective but sweep.objectives lists " + std::to_string(s.objectives.size()) +
                  ": use method = \"motpe\" or \"nsga2\" for several, or objective = \"" + s.objective + "\" for one");
  } else if (!several && s.objectives_line == 0 && (s.method == "motpe" || s.method == "nsga2")) {
    diags.add(file, s.method_line, s.method_column, "sweep.method",
              "method = \"" + s.method + "\" searches several objectives: add objectives = [\"dice\", \"params\"] (a validation "
              "metric and model facts), or use method = \"tpe\" for one");
  }
  if (!sampled && !s.objective.empty() && !several) {
    diags.add(s.objective_file, s.objective_line, s.objective_column, "sweep.objective",
              "a grid runs every point: objective goes with method = \"random\", \"sobol\" or \"tpe\" (each variant "
              "selects its epoch on train.select_metric)");
  }
  if (!sampled) return;
  for (const auto& a : parsed.sweep) {
    diags.add(file, a.line, a.column, "sweep." + a.key,
              "method = \"" + s.method + "\" samples distributions: write { choice = [...] } for a list of values");
  }
  // A key whose distribution was refused has its own problem: "no key to sample" would only repeat it.
  if (s.keys.empty() && s.keys_written == 0) {
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
    diags.halt = true;  // the sampler has no direction numbers past them: nothing may be sampled
  }
  // startup random trials before tpe models the results: more than the budget would leave no modelled trial.
  if ((s.method == "tpe" || s.method == "motpe") && s.startup > 0 && s.trials > 0 && s.startup > s.trials) {
    diags.add(file, s.startup_line, s.startup_column, "sweep.startup",
              "startup = " + std::to_string(s.startup) + " is more than trials = " + std::to_string(s.trials) +
                  ": every trial would be random; allowed 1 <= startup <= trials (or use method = \"random\")");
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
  const bool several = !sd.objectives.empty();
  diags.add(sd.objective_file, sd.objective_line, sd.objective_column, several ? "sweep.objectives" : "sweep.objective",
            std::string(several ? "objectives' metric is \"" : "objective = \"") + sd.objective + "\" but train.select_metric = \"" + w.value.s + "\" (" + w.file +
                (w.line > 0 ? ":" + std::to_string(w.line) : std::string()) +
                "): a search's objective is the validation metric the epochs are selected on; write one of the two, "
                "or the same metric in both");
}

// [sweep.early_stop]: method, rungs, reduction, startup_trials, brackets (docs/STUDY.md "Early stopping"). The values
// are checked against train.epochs once the study is resolved (load_study_text).
void parse_early_stop(const toml::node& node, const std::string& file, Parsed& parsed, Diags& diags) {
  const toml::table* table = node.as_table();
  const std::string key = "sweep.early_stop";
  if (!table) {
    diags.add(file, node.source(), key,
              "expected a table: method = \"none\" | \"median\" | \"asha\" | \"hyperband\", rungs = [epochs], reduction, "
              "startup_trials, brackets");
    return;
  }
  sweeps::EarlyStopConfig c;
  bool ok = true, has_method = false;
  auto integer = [&](const toml::node& n, const std::string& name, int& out) {
    constexpr std::int64_t kLimit = 1000000;
    if (const auto* i = n.as_integer(); i && i->get() >= -kLimit && i->get() <= kLimit) {
      out = static_cast<int>(i->get());
      return true;
    }
    diags.add(file, n.source(), key + "." + name,
              n.is_integer() ? "value " + std::to_string(n.as_integer()->get()) + " is out of range: at most " +
                                   std::to_string(kLimit) + " in magnitude"
                             : std::string("expected an integer"));
    ok = false;
    return false;
  };
  std::map<std::string, std::pair<int, int>> where;  // key -> line, column of its value
  for (const auto& [k, sub] : *table) {
    const std::string name(k.str());
    where[name] = {static_cast<int>(sub.source().begin.line), static_cast<int>(sub.source().begin.column)};
    if (name == "method") {
      has_method = true;
      if (!sub.is_string()) {
        diags.add(file, sub.source(), key + ".method", "expected a string: \"none\" | \"median\" | \"asha\" | \"hyperband\"");
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
    } else if (name == "brackets") {
      integer(sub, "brackets", c.brackets);
    } else {
      const std::vector<std::string> names = {"method", "rungs", "reduction", "startup_trials", "brackets"};
      const std::string hint = closest(name, names);
      diags.add(file, k.source(), key + "." + name,
                "unknown key" + (hint.empty() ? std::string(" (allowed: method, rungs, reduction, startup_trials, brackets)")
                                              : " (did you mean `" + hint + "`?)"));
      ok = false;
    }
  }
  if (!has_method && !table->empty()) {
    // Rungs without a method would silently train every trial to the end.
    diags.add(file, node.source(), key + ".method", "missing: set method = \"asha\", \"hyperband\" or \"median\" (or \"none\")");
    ok = false;
  }
  // A key the method does not read would be ignored without a word: refused where it is written.
  auto unused = [&](const char* name, const char* method, const char* used_by) {
    if (c.method != method || !where.count(name)) return;
    diags.add(file, where[name].first, where[name].second, key + "." + name,
              std::string(name) + " is not used by method = \"" + method + "\" (it goes with \"" + used_by +
                  "\"); remove it");
    ok = false;
  };
  unused("reduction", "median", "asha\" or \"hyperband");
  unused("startup_trials", "asha", "median");
  unused("startup_trials", "hyperband", "median");
  unused("brackets", "asha", "hyperband");
  unused("brackets", "median", "hyperband");
  if (!ok) return;
  parsed.early_stop = c;
  parsed.early_stop_keys = where;
  parsed.early_stop_file = file;
  parsed.early_stop_line = static_cast<int>(node.source().begin.line);
  parsed.early_stop_column = static_cast<int>(node.source().begin.column);
}

// `key = [values]` of a grid: one axis, its values parsed for the key, each located.
void parse_grid_axis(const KeyDef& kd, const std::string& path, const toml::key& k, const toml::node& sub,
                     const std::string& file, Parsed& parsed, Diags& diags) {
  const toml::array* arr = sub.as_array();
  if (!arr || arr->empty()) {
    diags.add(file, sub.source(), "sweep." + path, "expected a non-empty array of values to sweep");
    return;
  }
  // Counted before any value is read: an axis past the limit would hold a parsed value and a name per
  // element (a 1 MiB file lists half a million) for a study that study.max_tasks refuses anyway.
  if (arr->size() > static_cast<std::size_t>(kMaxAxisValues)) {
    diags.add(file, sub.source(), "sweep." + path,
              std::to_string(arr->size()) + " values: a grid axis has at most " + std::to_string(kMaxAxisValues) +
                  " (as a search has at most " + std::to_string(kMaxTrials) + " trials)");
    diags.halt = true;
    return;
  }
  SweepAxis axis;
  axis.key = path;
  axis.file = file;
  axis.line = static_cast<int>(k.source().begin.line);
  axis.column = static_cast<int>(k.source().begin.column);
  std::map<std::string, std::pair<int, int>> seen;  // literal -> where first listed
  for (const auto& el : *arr) {
    auto v = read_value(el, kd, file, diags);
    if (!v) continue;
    const int line = static_cast<int>(el.source().begin.line), column = static_cast<int>(el.source().begin.column);
    // Equal values give equal variant names (and equal configurations): the grid would run twice.
    const std::string literal = to_literal(*v);
    if (auto it = seen.find(literal); it != seen.end()) {
      if (!diags.shows(file, "sweep." + path)) {
        diags.add_more(file, line, column, "sweep." + path, 1);
        continue;
      }
      diags.add(file, line, column, "sweep." + path,
                "value " + literal + " is listed twice (first at " + std::to_string(it->second.first) + ":" +
                    std::to_string(it->second.second) + "); variant names must be unique");
      continue;
    }
    seen[literal] = {line, column};
    axis.values.push_back(*v);
    axis.where.emplace_back(line, column);
  }
  if (!kd.in_canonical) {
    diags.add(file, sub.source(), "sweep." + path, "sweeping a [resources] or [report] key changes no result");
  }
  if (!axis.values.empty()) parsed.sweep.push_back(std::move(axis));
}

// Every {placeholder} of sweep.label must name a swept key, or it would print literally in every label.
void check_sweep_label(const toml::table& table, const std::string& file, const Parsed& parsed, Diags& diags) {
  if (const toml::node* label = table.get("label"); label && label->is_string()) {
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
        ++parsed.search.keys_written;
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
      parse_grid_axis(*kd, path, k, sub, file, parsed, diags);
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
  check_sweep_label(*table, file, parsed, diags);
}

}  // namespace ablate::study_internal
