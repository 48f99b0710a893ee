// Internal to the study loader (ablations/study*.cpp, diagnostics.cpp, canonical.cpp); not part of the
// public interface, which is ablations/study.hpp.
//
// A study is read in phases, one file each: study_includes.cpp parses a document over its base files
// (study_values.cpp reads each TOML value as its schema key, published.cpp the [[report.published]]
// tables, study_designs.cpp [ablation], study_sweeps.cpp [sweep]); study_overrides.cpp lays `--set` on
// top; study.cpp (load_study_text) expands the declarations into variants, which study_constraints.cpp
// validates and resolves, and study_trials.cpp makes a search's trials. Every phase adds its problems to
// one Diags, located at the value that caused them, so that a study's problems are reported together.
//
// Thread safety: the functions are pure but for the Diags and the structures they are handed; two loads
// on different threads share nothing.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ablations/design.hpp"
#include "ablations/schema.hpp"
#include "ablations/study.hpp"
#include "sweeps/early_stop.hpp"
#include "sweeps/grid.hpp"
#include "sweeps/samplers.hpp"

namespace ablate {
namespace study_internal {

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
  std::string objective;       // "" = from train.select_metric; with objectives, their validation metric
  bool objective_written = false;          // sweep.objective itself was written
  std::vector<std::string> objectives;     // sweep.objectives as written (one metric and model facts); empty = none
  int objectives_line = 0, objectives_column = 0;
  std::vector<SearchKey> keys;
  int keys_written = 0;        // distributions written, accepted or not
  std::string file;
  std::string objective_file;  // where objective was written: the file, or the --set argument
  int method_line = 0, method_column = 0, trials_line = 0, trials_column = 0, objective_line = 0, objective_column = 0;
  int startup_line = 0, startup_column = 0;
};

// The most trials a search may ask for.
constexpr int kMaxTrials = 100000;
// The most values one grid axis may list (its variants are at least as many).
constexpr int kMaxAxisValues = kMaxTrials;

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
  std::map<std::string, std::pair<int, int>> early_stop_keys;  // method, rungs, ... -> line, column of the value
};

// Every phase's problems. The problems of one cause (one file and key: a duplicate value of one swept
// key, two components of one design) are shown kShownPerCause times, then counted in one
// "… and N more of the same kind" line (diagnostics.cpp), so a cause that a million values or design
// points repeat costs one line and no memory per repeat.
class Diags {
 public:
  void add(const std::string& file, const toml::source_region& where, const std::string& key, const std::string& msg) {
    add(file, static_cast<int>(where.begin.line), static_cast<int>(where.begin.column), key, msg);
  }
  void add(const std::string& file, int line, int column, const std::string& key, const std::string& msg);
  // Counts `more` further problems of the cause (file, key) without building them; the count's line is
  // placed at (line, column).
  void add_more(const std::string& file, int line, int column, const std::string& key, std::uint64_t more);
  // False once the cause (file, key) has shown kShownPerCause problems: a loop over a million values can
  // then count its problems (add_more) without building their messages.
  bool shows(const std::string& file, const std::string& key) const {
    const auto it = causes_.find({file, key});
    return it == causes_.end() || it->second.shown < kShownPerCause;
  }
  static constexpr std::uint64_t kShownPerCause = 10;
  std::vector<Diagnostic> list;
  // A file that could not be read or parsed: its keys are unknown, so checks between keys would only
  // report consequences of the missing values.
  bool fatal = false;
  // A limit was exceeded (components, Sobol keys, tasks): nothing may be expanded, sampled or trained.
  bool halt = false;

 private:
  struct Cause {
    std::uint64_t shown = 0, hidden = 0;
    std::size_t summary = SIZE_MAX;  // index in `list` of its "… and N more" line
  };
  std::map<std::pair<std::string, std::string>, Cause> causes_;  // (file, key)
  std::set<std::string> seen_;  // exact repeats (one cross-key problem of every variant) are kept once
};

// --- study.cpp
// "" or why `declared` variants (times the grid's axis sizes, or times `trials` of a sampled search),
// folds and repeats exceed study.max_tasks; counted, never expanded.
std::string check_study_size(const StudyConfig& s, double declared, const std::string& declared_text,
                             const std::vector<std::size_t>& axis_sizes, int trials);

// --- diagnostics.cpp
// Diagnostics in reading order: by file, then line and column.
std::vector<Diagnostic> sorted(std::vector<Diagnostic> list);

// --- study_values.cpp
// A toml node as a value of the key's type, or an error naming what was expected.
std::optional<Value> read_value(const toml::node& node, const KeyDef& key, const std::string& file, Diags& diags);
// The schema key an unknown dotted key was probably meant to be, or "".
std::string key_hint(const std::string& path);
void unknown_key(const std::string& path, const std::string& file, const toml::source_region& where, Diags& diags);
// Flattens a table into dotted schema keys, reporting unknown keys and bad values.
void flatten(const toml::table& table, const std::string& prefix, const std::string& file, Origin origin, Layer& out,
             Diags& diags);
// One entry of a table: a schema key (leaf) or a table of further keys.
void flatten_entry(const toml::key& k, const toml::node& node, const std::string& path, const std::string& file,
                   Origin origin, Layer& out, Diags& diags);

// --- published.cpp (the one parser of the tables, ablations/published.hpp)
// [[report.published]] tables (or, in canonical text, their one-line string form) -> the string form,
// with every row's location in `rows` and every table's class in `classes`.
std::optional<Value> read_published(const toml::node& node, const std::string& file, Diags& diags,
                                    std::vector<PublishedRow>& rows, std::vector<PublishedRow>& classes);

// --- study_designs.cpp
// [ablation]: [[ablation.variant]] tables into parsed.variants, the design keys into parsed.design.
void parse_ablation(const toml::node& node, const std::string& file, Parsed& parsed, Diags& diags);
// The design's points as variant declarations; fills study.design_spec, design_plan and design.
std::vector<VariantDecl> design_decls(const Parsed& parsed, Study& study, Diags& diags);
// Appends the hand-written rows to the design's; a row with a design point's configuration names it.
void hand_written_rows(const Layer& values, const std::vector<VariantDecl>& rows, std::vector<VariantDecl>& decls);

// --- study_sweeps.cpp
// method, trials, startup and objective of [sweep]; returns false for any other name.
bool parse_search_setting(const std::string& name, const toml::node& node, const std::string& file, SearchDecl& search,
                          Diags& diags);
void parse_sweep(const toml::node& node, const std::string& file, Parsed& parsed, Diags& diags);
// `{ uniform = [a, b] }`, `{ log_uniform = [a, b] }`, `{ int = [a, b] }` or `{ choice = [...] }` for a key;
// nullopt (with its diagnostics) when it is none of them.
std::optional<SearchKey> parse_distribution(const KeyDef& kd, const toml::table& table, const std::string& file,
                                            Diags& diags);
// A [sweep]'s method against its keys.
void check_search(Parsed& parsed, const std::string& file, Diags& diags);
// sweep.objective bound to train.select_metric.
void bind_objective(Parsed& parsed, Diags& diags);

// --- study_includes.cpp
// One document over its includes (`stack`: the files being read, for the cycle check).
Parsed parse_document(const std::string& text, const std::string& file, Origin origin, std::vector<std::string>& stack,
                      Diags& diags);

// --- study_overrides.cpp
void apply_overrides(const std::vector<std::string>& overrides, Parsed& parsed, Diags& diags);

// --- study_constraints.cpp
VariantConfig apply(const Layer& layer);
// Validated, every key resolved with its origin, canonical text and hash.
void resolve_variant(Variant& v, const Layer& layer, const std::string& file, const std::set<std::string>& rejected,
                     Diags& diags);

// --- study_trials.cpp
// The search of a [sweep] into study.search; random and sobol trials into study.variants.
void resolve_search(Study& study, const Parsed& parsed, const std::vector<VariantDecl>& decls, bool explicit_variants,
                    const std::string& file, const std::set<std::string>& rejected, Diags& diags);

}  // namespace study_internal


// What trial_variant needs of the parsed study after load_study_text has returned.
struct TrialFactory {
  study_internal::Layer values;
  std::vector<study_internal::VariantDecl> decls;
  bool explicit_variants = false;
  std::vector<study_internal::SearchKey> keys;
  std::string label_template;
  std::string file;
  int trials = 0;
};

}  // namespace ablate
