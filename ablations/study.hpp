// The study specification: a TOML file (with optional `include` of a base study) that resolves, per
// variant, to a VariantConfig with a canonical text form and a stable content hash.
//
// Precedence of a key's value, lowest first: the schema default, base files (outer to inner include),
// the study file, `--set` overrides, the variant's overrides ([[ablation.variant]]), the sweep point.
//
// Contract.
// - What a loaded Study guarantees (load_study, load_study_text return only such a Study):
//   * includes resolved: every base file read (relative to the file that includes it; a cycle, a missing
//     or oversized file is an error), its layers merged under the study's in the precedence above;
//   * validated: every key of every layer and every variant against the schema (ablations/schema.hpp:
//     type, range, choices; unknown keys with a did-you-mean), the constraints between keys
//     (study_constraints.cpp, components.hpp), [report] (sweep key, baseline, rows), [[report.published]]
//     through the one published-table parser (ablations/published.hpp) with its rows matched to variants,
//     the design, the search and early stopping;
//   * expanded: `variants` in expansion order (ordinal 0..n-1), names unique, each with its fully resolved
//     config, every key's value and origin, canonical text and hash; a tpe search has no variants yet
//     (trial_variant makes them). The expansion stays within study.max_tasks and the limits of
//     docs/PERFORMANCE.md "Limits" (files <= kMaxStudyFileBytes, grid axes counted before they are read);
//   * `notes`: what the study inherits but cannot apply (docs/STUDY.md "Inherited settings"): never an
//     error, so an inherited setting never makes a valid study fail.
// - Errors: every problem found is collected and thrown together as one SpecError (ablations/
//   diagnostic.hpp) whose diagnostics name file:line:column, the key and what is allowed, sorted by
//   file and position; nothing partial is returned. parse_canonical and trial_variant throw SpecError too.
// - Ownership and threads: a Study is a plain value (copyable; `factory` is shared and immutable). The
//   loader keeps no state between calls and reads no globals but the schema and the component registry,
//   which are immutable: loading several studies from several threads is safe, and a const Study may be
//   read, and trial_variant called on it, from any thread. The loader only reads files, never writes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "ablations/config.hpp"
#include "ablations/diagnostic.hpp"
#include "sweeps/samplers.hpp"
#include "ablations/design.hpp"
#include "sweeps/early_stop.hpp"

namespace ablate {

// Where a resolved value came from (for `ablate plan --explain`).
enum class Origin { kDefault, kBase, kStudy, kVariant, kSweep, kOverride };  // kOverride: `--set key=value`
const char* origin_name(Origin o);

struct ResolvedValue {
  std::string text;  // canonical TOML literal
  Origin origin = Origin::kDefault;
  std::string where;  // file:line for base/study/variant values
};

struct Variant {
  std::string name;    // unique within the study
  std::string label;   // display label for tables
  int ordinal = 0;     // position in the study's expansion order
  VariantConfig config;
  std::map<std::string, ResolvedValue> values;  // every schema key
  std::string canonical;                        // canonical_text(config)
  std::string hash;                             // content hash of the canonical text
  // Of a searched study (method random, sobol or tpe): the trial index, the declared variant it crosses
  // ("" for a study without [[ablation.variant]]) and the sampled point; trial = -1 otherwise.
  int trial = -1;
  std::string declared;
  sweeps::Sample point;
};

// The search of a study's [sweep] (docs/STUDY.md "Searches"). method = grid is today's full grid; the
// others sample `space` `trials` times per declared variant, with study.seed as the samplers' seed.
struct Search {
  std::string method = "grid";  // grid | random | sobol | tpe | motpe | nsga2
  int trials = 0;
  int startup = sweeps::TpeOptions{}.n_startup;  // tpe: random trials before the model (sweep.startup)
  // The validation metric the trials are compared on: train.select_metric (sweep.objective, when written,
  // sets it or must equal it), read per epoch as epochs.val_score at the selected epoch.
  std::string objective;
  bool minimize = false;        // loss, assd, hd95 (sweeps::objective_direction)
  // sweep.objectives: the objective above and model facts (sweeps::model_fact_names), in the order
  // written, each in its own direction (sweeps::objective_direction); empty for a search on one objective.
  // motpe and nsga2 propose from them; random and sobol record them for the report.
  std::vector<std::string> objectives;
  sweeps::Space space;          // the sampled keys, in the order the file writes them
  std::uint64_t seed = 0;
  std::vector<std::string> declared;  // names of the [[ablation.variant]]s a trial is crossed with ("" = none)
  bool sampled() const { return method != "grid"; }
  // Proposals depend on results: made by the coordinator.
  bool adaptive() const { return method == "tpe" || method == "motpe" || method == "nsga2"; }
};

struct TrialFactory;  // the parsed layers a trial is resolved from (study.cpp)

struct Study {
  std::string file;        // path of the study file
  std::string text;        // its text, for provenance
  VariantConfig base;      // the study without variant or sweep overrides
  // Every variant: the grid's, or a random/sobol search's trials. A tpe search has none at load time: the
  // coordinator makes them with trial_variants as results arrive.
  std::vector<Variant> variants;
  Search search;
  std::shared_ptr<const TrialFactory> factory;
  // The [ablation] design, when the file (or its base) has one (ablations/design.hpp): the spec, its
  // expansion (points, the points constraints removed, the fraction) and what reports need of it
  // (design.masks: variant name -> components on; empty components when the study has no design).
  DesignSpec design_spec;
  DesignPlan design_plan;
  StoredDesign design;
  sweeps::EarlyStopConfig early_stop;  // [sweep.early_stop]; method "none" when absent (checked against train.epochs)
  // What the study inherits but cannot apply, one line each (docs/STUDY.md "Inherited settings"):
  // published rows without a variant (one line per table), an inherited report.baseline or report.rows
  // that names no variant (ignored), a baseline in a search (does not apply). `ablate plan` prints them.
  std::vector<std::string> notes;
};

// The variant of trial `trial` of a searched study at point `x` (a sweeps:: Sample of search.space) for
// the declared variant `declared` (an entry of search.declared). Ordinal = declared index * trials + trial.
// Throws SpecError when the point breaks a constraint between keys (the message names the trial).
Variant trial_variant(const Study& study, const std::string& declared, int trial, const sweeps::Sample& x);

// Study and include files are read only when they are regular files of at most this size (a device such
// as /dev/zero would be read without end, a FIFO would block). 1 MiB is some hundred times a large study
// and bounds what parsing costs: half a million TOML values, ~30 MB (docs/PERFORMANCE.md "Limits").
constexpr std::uintmax_t kMaxStudyFileBytes = 1u << 20;
// Reads a study or include file into `text`; returns "" or why it cannot ("no such file", "it is a
// directory ...", "not a regular file ...", "it has N bytes; ... at most M").
std::string read_study_file(const std::string& path, std::string& text);

// Reads, validates and expands a study file. Throws SpecError with every problem found.
// `overrides` are `--set key=value` arguments (Hydra-style): a layer above the study file and its bases,
// below the variants and the sweep; each is validated as the key in the file is, and named in errors.
Study load_study(const std::string& path, const std::vector<std::string>& overrides = {});
// The same from text; `file` names it in diagnostics and anchors relative paths (include, data.path).
Study load_study_text(const std::string& text, const std::string& file, const std::vector<std::string>& overrides = {});

// Canonical text: one `key = literal` line per key of [study], [data], [model], [loss] and [train], sorted
// by key: what a worker receives. The sections [resources] and [report] do not change results and are
// left out.
std::string canonical_text(const VariantConfig& config);
// Every key with its resolved value, [resources] and [report] included, in the flat form of canonical
// text: what the store keeps as the study's resolved configuration, so that readers (reports) do not
// depend on included files that may have changed or gone since. parse_canonical reads it back.
std::string resolved_text(const VariantConfig& config);
// Parses canonical text (as carried by a Task) back into a configuration. Throws SpecError.
VariantConfig parse_canonical(const std::string& text);
// Flat dotted-key -> literal map of canonical text (for readers such as reports).
std::map<std::string, std::string> canonical_values(const std::string& text);
// The variant's content hash: SHA-256 of the canonical lines of the hashed keys only (KeyDef::hashed; not
// study.name, data.path, train.threads, ...; and not study.folds under a fixed study.split, where it
// means nothing), first 16 hex digits. So it is not the hash of the whole canonical text. With
// `training_only` the evaluation-only keys (KeyDef::evaluation_only) are left out too: the hash of what
// training depends on (ablations/sharing.hpp training_key).
std::string config_hash(const VariantConfig& config, bool training_only = false);
std::string sha256_hex(const std::string& data);

// The hashed keys whose values differ between two canonical texts (for the resume check).
std::vector<std::string> changed_keys(const std::string& canonical_a, const std::string& canonical_b);
}  // namespace ablate
