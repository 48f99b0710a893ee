// Loading a study: TOML (toml++) -> layers of dotted keys (defaults < base files < study < variant <
// sweep point) -> one validated VariantConfig per variant, with canonical text and hash. The phases
// live in the study_*.cpp files beside this one (ablations/study_internal.hpp); this file orders them.
#include "ablations/study_internal.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "ablations/published.hpp"
#include "ablations/schema.hpp"
#include "sweeps/early_stop.hpp"
#include "sweeps/grid.hpp"

namespace fs = std::filesystem;

namespace ablate {

using namespace study_internal;

// "" or why the study is too large: variants (declared variants x grid points, or x the trials of a
// sampled search, `trials` > 0) x folds x repeats against study.max_tasks, counted without expanding
// anything (and without overflow). `declared_text` says what was declared ("" = the count alone).
std::string study_internal::check_study_size(const StudyConfig& s, double declared, const std::string& declared_text,
                                             const std::vector<std::size_t>& axis_sizes, int trials) {
  const double limit = s.max_tasks;
  double variants = declared;
  std::string grid;
  if (trials > 0) {
    variants *= trials;
    grid = std::to_string(trials) + " trials";
  } else {
    for (const std::size_t n : axis_sizes) {
      variants *= static_cast<double>(n);
      grid += (grid.empty() ? "" : " x ") + std::to_string(n);
    }
  }
  const int folds = s.split.empty() ? s.folds : 1;
  const int repeats = std::max(1, s.repeats);
  const double tasks = variants * folds * repeats;
  if (tasks <= limit) return "";
  std::ostringstream m;
  m.precision(15);
  m << "the study expands to " << variants << " variant(s)";
  const std::string what = declared_text.empty() ? "" : ": " + declared_text;
  if (trials > 0) {
    m << " (" << declared << " declared" << what << " x " << grid << ")";
  } else if (!axis_sizes.empty()) {
    m << " (" << declared << " declared" << what << " x a [sweep] grid of " << grid << ")";
  } else if (!what.empty()) {
    m << " (" << declared_text << ")";
  }
  m << " x " << folds << " fold(s) x " << repeats << " repeat(s) = " << tasks << " tasks, more than study.max_tasks = "
    << s.max_tasks << "; shrink the sweep, or raise study.max_tasks in [study] (at most 1000000) if so many are meant";
  return m.str();
}

namespace {

// The study file over its includes, with `--set` on top and the search bound to its objective. Variant
// names declared twice go to `declared_twice`. Throws when a file could not be read or parsed.
Parsed parse_study(const std::string& text, const std::string& file, const std::vector<std::string>& overrides,
                   std::set<std::string>& declared_twice, Diags& diags) {
  std::vector<std::string> stack = {fs::path(file).lexically_normal().string()};
  Parsed parsed = parse_document(text, file, Origin::kStudy, stack, diags);
  if (!diags.fatal) apply_overrides(overrides, parsed, diags);
  check_search(parsed, file, diags);
  bind_objective(parsed, diags);
  std::set<std::string> names;
  for (const auto& d : parsed.variants) {
    if (!names.insert(d.name).second) {
      diags.add(d.file, d.line, d.column, "ablation.variant.name", "duplicate variant name `" + d.name + "`");
      declared_twice.insert(d.name);
    }
  }
  // A limit already exceeded (Diags::halt) forbids the expansion that follows.
  if (diags.fatal || diags.halt) throw SpecError(sorted(diags.list));
  return parsed;
}

// The keys whose values were rejected. The rest of the file is known: the load goes on, so that every
// problem of the file is reported together, and leaves out checks that involve a rejected key.
std::set<std::string> rejected_keys(const Diags& diags) {
  std::set<std::string> rejected;
  for (const auto& d : diags.list) {
    rejected.insert(d.key.rfind("sweep.", 0) == 0 ? d.key.substr(6) : d.key);
  }
  return rejected;
}

// The declared variants: the design's points, then the hand-written rows; one `base` for neither.
std::vector<VariantDecl> declarations(const Parsed& parsed, Study& study, bool& explicit_variants, Diags& diags) {
  std::vector<VariantDecl> decls = design_decls(parsed, study, diags);
  hand_written_rows(parsed.values, parsed.variants, decls);
  explicit_variants = !decls.empty();
  if (!explicit_variants) {
    VariantDecl only;
    only.name = "base";
    only.label = study.base.study.name;
    decls.push_back(only);
  }
  return decls;
}

// The grid's axes for sweeps/: values travel as literals and map back to their parsed Values.
struct GridAxes {
  std::vector<sweeps::Axis> axes;
  std::map<std::pair<std::string, std::string>, Value> by_literal;
};

GridAxes grid_axes(const Parsed& parsed) {
  GridAxes g;
  for (const auto& a : parsed.sweep) {
    sweeps::Axis axis{a.key, {}};
    for (const auto& v : a.values) {
      axis.values.push_back(to_literal(v));
      g.by_literal[{a.key, axis.values.back()}] = v;
    }
    g.axes.push_back(std::move(axis));
  }
  return g;
}

// The layer of declared variant `d` at grid point `point`: a sweep value's problems point at the value
// in the [sweep] array.
Layer point_layer(const Parsed& parsed, const VariantDecl& d, const sweeps::GridPoint& point, const GridAxes& grid) {
  Layer layer = parsed.values;
  for (const auto& [k, s] : d.overrides) layer[k] = s;
  for (const auto& [k, lit] : point) {
    // (A named copy: C++17 lambdas cannot capture a structured binding; clang refuses it.)
    const std::string& swept = k;
    const SweepAxis& axis = *std::find_if(parsed.sweep.begin(), parsed.sweep.end(),
                                          [&](const SweepAxis& a) { return a.key == swept; });
    std::pair<int, int> where{axis.line, axis.column};
    for (std::size_t i = 0; i < axis.values.size(); ++i) {
      if (to_literal(axis.values[i]) == lit) where = axis.where[i];
    }
    layer[k] = Setting{grid.by_literal.at({k, lit}), Origin::kSweep, axis.file, where.first, where.second, {}, {}, {}};
  }
  return layer;
}

// The declared variants crossed with the [sweep] grid (a sampled search has no grid: its trials are made
// by resolve_search or by the coordinator), each resolved, into study.variants.
void expand_variants(Study& study, const Parsed& parsed, const std::vector<VariantDecl>& decls, bool explicit_variants,
                     const std::set<std::string>& declared_twice, const std::set<std::string>& rejected,
                     const std::string& file, Diags& diags) {
  // The size check comes before the grid is expanded: a runaway [sweep] must cost nothing.
  std::vector<std::size_t> axis_sizes;
  for (const auto& a : parsed.sweep) axis_sizes.push_back(a.values.size());
  if (const std::string problem = check_study_size(study.base.study, static_cast<double>(decls.size()), "", axis_sizes,
                                                   parsed.search.method != "grid" ? parsed.search.trials : 0);
      !problem.empty()) {
    const bool swept = !parsed.sweep.empty();
    diags.add(swept ? parsed.sweep.front().file : file, swept ? parsed.sweep.front().line : 0,
              swept ? parsed.sweep.front().column : 0, "study.max_tasks", problem);
    throw SpecError(sorted(diags.list));
  }
  const GridAxes grid = grid_axes(parsed);
  const auto& axes = grid.axes;
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
      // A design point and a hand-written row of one name differ in what made them.
      const std::string declared_as =
          d.mask >= 0 ? "design point `" + d.name + "` (" +
                            mask_labels(study.design.components, static_cast<std::uint32_t>(d.mask)) + ")"
                      : "variant `" + d.name + "`";
      const std::string origin = (explicit_variants ? declared_as : std::string("")) +
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
      resolve_variant(v, point_layer(parsed, d, point, grid), file, rejected, diags);
      if (d.mask >= 0) study.design.masks[v.name] = static_cast<std::uint32_t>(d.mask);
      study.variants.push_back(std::move(v));
    }
  }
}

// A problem of a [report] key (the study's: a variant cannot set them), located at the value or at the
// list item `item` in the file.
void report_error(const Parsed& parsed, const std::string& file, const std::string& key, std::size_t item,
                  const std::string& msg, Diags& diags) {
  std::string where_file = file;
  int line = 0, column = 0;
  if (auto it = parsed.values.find(key); it != parsed.values.end()) {
    where_file = it->second.file, line = it->second.line, column = it->second.column;
    if (item < it->second.items.size()) std::tie(line, column) = it->second.items[item];
  }
  diags.add(where_file, line, column, key, msg);
}

// Where an inherited setting was written, for its note.
std::string written_in(const Parsed& parsed, const std::string& key) {
  const auto it = parsed.values.find(key);
  return it == parsed.values.end() ? std::string() : it->second.file;
}

// A [report] key a base file set (include): it may name no variant of this study without an error.
bool inherited(const Parsed& parsed, const std::string& key) {
  const auto it = parsed.values.find(key);
  return it != parsed.values.end() && it->second.origin == Origin::kBase;
}

// report.baseline and report.rows name variants (docs/STUDY.md "Inherited settings"): in the study's own
// file (or --set) a name that is no variant is an error with did-you-mean; inherited from an include,
// it is ignored with a note. A search ranks its trials by the objective: a baseline does not apply.
void check_report_names(Study& study, const Parsed& parsed, const std::string& file,
                        const std::set<std::string>& rejected, Diags& diags) {
  std::vector<std::string> names;
  for (const auto& v : study.variants) names.push_back(v.name);
  auto known = [&](const std::string& name) { return std::find(names.begin(), names.end(), name) != names.end(); };
  auto check_name = [&](const std::string& key, const std::string& name, std::size_t item) {
    std::string hint = closest(name, names);
    report_error(parsed, file, key, item,
                 "no variant named `" + name + "`" + (hint.empty() ? "" : " (did you mean `" + hint + "`?)"), diags);
  };
  ReportConfig& report = study.base.report;
  if (!rejected.count("report.baseline") && !report.baseline.empty()) {
    if (study.search.sampled()) {
      study.notes.push_back("report.baseline = \"" + report.baseline + "\" does not apply to a " + study.search.method +
                            " search: its trials are ranked by the objective (validation " + study.search.objective +
                            "); ignored");
      report.baseline.clear();
    } else if (!known(report.baseline) && inherited(parsed, "report.baseline")) {
      study.notes.push_back("report.baseline = \"" + report.baseline + "\" (from " + written_in(parsed, "report.baseline") +
                            ") names no variant of this study; ignored");
      report.baseline.clear();
    } else if (!known(report.baseline)) {
      check_name("report.baseline", report.baseline, std::string::npos);
    }
  }
  if (!rejected.count("report.rows")) {
    std::vector<std::string> kept, dropped;
    for (std::size_t i = 0; i < report.rows.size(); ++i) {
      const std::string& row = report.rows[i];
      if (known(row)) kept.push_back(row);
      else if (inherited(parsed, "report.rows")) dropped.push_back(row);
      else check_name("report.rows", row, i);
    }
    if (!dropped.empty()) {
      std::string list;
      for (const auto& r : dropped) list += (list.empty() ? "" : ", ") + r;
      study.notes.push_back("report.rows (from " + written_in(parsed, "report.rows") + "): " + list +
                            (dropped.size() == 1 ? " names" : " name") + " no variant of this study; left out");
      report.rows = kept;
    }
  }
  for (auto& v : study.variants) v.config.report.baseline = report.baseline, v.config.report.rows = report.rows;
}

// report.components are boolean model keys.
void check_report_keys(Study& study, const Parsed& parsed, const std::string& file,
                       const std::set<std::string>& rejected, Diags& diags) {
  check_report_names(study, parsed, file, rejected, diags);
  if (!rejected.count("report.components")) {
    std::vector<std::string> bools;
    for (const auto& k : schema()) {
      if (k.path.rfind("model.", 0) == 0 && k.type == ValueType::kBool) bools.push_back(k.path.substr(6));
    }
    const auto& components = study.base.report.components;
    for (std::size_t i = 0; i < components.size(); ++i) {
      if (std::find(bools.begin(), bools.end(), components[i]) != bools.end()) continue;
      const std::string hint = closest(components[i], bools);
      report_error(parsed, file, "report.components", i,
                   "`" + components[i] + "` is not a boolean model key" +
                       (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)"),
                   diags);
    }
  }
}

// Early stopping: the rungs end at train.epochs, which every variant shares (a rung is an epoch of all).
void check_early_stop(Study& study, const Parsed& parsed, Diags& diags) {
  if (!parsed.early_stop) return;
  study.early_stop = *parsed.early_stop;
  const int epochs = study.base.train.epochs;
  const std::string problem = sweeps::check_early_stop(study.early_stop, epochs);
  if (!problem.empty()) {
    const auto colon = problem.find(" = ");
    const std::string key = colon == std::string::npos ? "sweep.early_stop" : problem.substr(0, colon);
    // At the key's value where it is written (rungs = [...]), else at the table.
    std::pair<int, int> at{parsed.early_stop_line, parsed.early_stop_column};
    const auto written = parsed.early_stop_keys.find(key.substr(key.rfind('.') + 1));
    if (written != parsed.early_stop_keys.end()) at = written->second;
    diags.add(parsed.early_stop_file, at.first, at.second, key,
              problem.substr(colon == std::string::npos ? 0 : colon + 3));
  } else if (study.early_stop.method != "none" && !study.search.objectives.empty()) {
    // A rung ranks trials on one value; stopping on the metric alone would drop the small, fast networks a
    // front of accuracy against cost is for, and the model facts are not known before a trial finishes.
    std::string list;
    for (const auto& o : study.search.objectives) list += (list.empty() ? "\"" : ", \"") + o + "\"";
    diags.add(parsed.early_stop_file, parsed.early_stop_line, parsed.early_stop_column, "sweep.early_stop.method",
              "[sweep.early_stop] method = \"" + study.early_stop.method + "\" with sweep.objectives = [" + list +
                  "]: a rung ranks trials on one validation value, and a trial stopped on " + study.search.objective +
                  " alone may be on the front of the others (inference time is measured only when a trial finishes); "
                  "remove [sweep.early_stop] or search on one objective");
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

// The files a study's variants are declared in ([[ablation.variant]], the design).
std::set<std::string> declaration_files(const std::vector<VariantDecl>& decls, bool explicit_variants) {
  std::set<std::string> files;
  if (explicit_variants)
    for (const auto& d : decls) files.insert(d.file);
  return files;
}

// Published rows are compared on the variants the study has (docs/STUDY.md "Inherited settings"). A row
// that names no variant is an error (located, did-you-mean) only where it is certainly a mistake: one
// edit away from the label or name of a variant that no row of its table names (a typo), or in a table
// written in the file that declares the variants when none of that table's rows names one. Every other
// such row is listed in one note per table.
void check_published_rows(Study& study, const Setting& published, const std::vector<VariantDecl>& decls,
                          bool explicit_variants, Diags& diags) {
  // (name, label) of every variant, and of the declared variants a [sweep] or search crosses.
  std::vector<std::pair<std::string, std::string>> variants;
  for (const auto& v : study.variants) variants.emplace_back(v.name, v.label);
  const std::size_t n_compared = variants.size();  // the report matches a row to these alone
  if (explicit_variants)
    for (const auto& d : decls) variants.emplace_back(d.name, d.label);
  std::set<std::string> compared, known;
  for (std::size_t i = 0; i < variants.size(); ++i) {
    for (const std::string* x : {&variants[i].first, &variants[i].second}) {
      known.insert(*x);
      if (i < n_compared) compared.insert(*x);
    }
  }
  const bool same_file = declaration_files(decls, explicit_variants).count(published.file) > 0;
  std::map<std::size_t, std::set<std::string>> rows_of;  // table -> its rows
  for (const auto& r : published.published_rows) rows_of[r.table].insert(r.row);
  // A typo: one edit from the name or label of a variant that no row of the table names.
  auto typo_of = [&](const std::string& row, const std::set<std::string>& rows) {
    for (const auto& [name, label] : variants) {
      if (rows.count(name) || rows.count(label)) continue;
      for (const std::string* x : {&label, &name})
        if (edit_distance(row, *x) == 1) return *x;
    }
    return std::string();
  };
  // One variant published twice in a table, once by its name and once by its label: the report would
  // set two different numbers beside one row.
  std::map<std::pair<std::size_t, std::size_t>, std::string> named_by;  // (table, variant) -> the row naming it
  for (const auto& r : published.published_rows) {
    for (std::size_t i = 0; i < n_compared; ++i) {
      if (r.row != variants[i].first && r.row != variants[i].second) continue;
      auto [it, fresh] = named_by.emplace(std::make_pair(r.table, i), r.row);
      if (!fresh && it->second != r.row) {
        diags.add(published.file, r.line, r.column, "report.published",
                  "table " + std::to_string(r.table + 1) + ": rows `" + it->second + "` and `" + r.row +
                      "` both name variant `" + variants[i].first + "` (by its name and by its label): keep one");
      }
    }
  }
  std::set<std::pair<std::size_t, std::string>> refused;
  for (const auto& r : published.published_rows) {
    if (known.count(r.row)) continue;
    const auto& rows = rows_of[r.table];
    const std::string typo = typo_of(r.row, rows);
    const bool none_named = std::none_of(rows.begin(), rows.end(), [&](const std::string& x) { return known.count(x) > 0; });
    if (typo.empty() && !(same_file && none_named)) continue;
    const std::string hint = !typo.empty() ? typo : closest(r.row, std::vector<std::string>(known.begin(), known.end()));
    diags.add(published.file, r.line, r.column, "report.published",
              "table " + std::to_string(r.table + 1) + ": no variant labelled or named `" + r.row + "`" +
                  (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)"));
    refused.emplace(r.table, r.row);
  }
  std::vector<PublishedTable> tables;
  try {
    tables = parse_published(published.value.s);
  } catch (const SpecError&) {
    return;  // its problems are reported already; the load fails
  }
  for (std::size_t t = 0; t < tables.size(); ++t) {
    std::vector<std::string> unmatched;
    for (const auto& [row, metrics] : tables[t].values)
      if (!compared.count(row) && !refused.count({t, row})) unmatched.push_back(row);
    if (!unmatched.empty()) study.notes.push_back(unmatched_rows_note(tables[t], unmatched));
  }
}

// Published rows name variants, by label or by name; a table's class names a class of the study.
void check_published(Study& study, const Parsed& parsed, const std::vector<VariantDecl>& decls, bool explicit_variants,
                     const std::set<std::string>& rejected, Diags& diags) {
  if (auto it = parsed.values.find("report.published"); it != parsed.values.end() && !rejected.count("report.published")) {
    check_published_rows(study, it->second, decls, explicit_variants, diags);
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
}

}  // namespace

Study load_study_text(const std::string& text, const std::string& file, const std::vector<std::string>& overrides) {
  Diags diags;
  std::set<std::string> declared_twice;
  Parsed parsed = parse_study(text, file, overrides, declared_twice, diags);
  const std::set<std::string> rejected = rejected_keys(diags);

  Study study;
  study.file = file;
  study.text = text;
  study.base = apply(parsed.values);

  bool explicit_variants = false;
  const std::vector<VariantDecl> decls = declarations(parsed, study, explicit_variants, diags);
  expand_variants(study, parsed, decls, explicit_variants, declared_twice, rejected, file, diags);
  resolve_search(study, parsed, decls, explicit_variants, file, rejected, diags);
  check_report_keys(study, parsed, file, rejected, diags);
  check_early_stop(study, parsed, diags);
  if (const std::string& key = study.base.report.sweep_key;
      !rejected.count("report.sweep_key") && !key.empty() && !find_key(key)) {
    const std::string hint = key_hint(key);
    report_error(parsed, file, "report.sweep_key", std::string::npos,
                 "`" + key + "` is not a study key" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)"),
                 diags);
  }
  check_published(study, parsed, decls, explicit_variants, rejected, diags);

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
