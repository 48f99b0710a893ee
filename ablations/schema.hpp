// The study schema: one table of every key, its type, default, range, documentation and paper, and how
// it maps onto VariantConfig. Validation, defaults, canonical text, `plan --explain` and docs/STUDY.md
// all come from this table, so a key is added in exactly one place.
//
// Contract: the table is built once, on the first call of schema() (a function-local static), and only read
// afterwards: every function here may be called from any thread, and the KeyDef pointers and references it
// hands out live until the program ends. The checks return "" or what is wrong and never throw; a KeyDef's
// get/set act on the VariantConfig the caller owns (set assumes a Value of the key's type).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "ablations/config.hpp"

namespace ablate {

enum class ValueType { kBool, kInt, kFloat, kString, kIntList, kFloatList, kStringList, kIntListList };
const char* type_name(ValueType t);

// A study value of one of the schema's types.
struct Value {
  ValueType type = ValueType::kBool;
  bool b = false;
  std::int64_t i = 0;
  double d = 0;
  std::string s;
  std::vector<std::int64_t> il;
  std::vector<double> dl;
  std::vector<std::string> sl;
  std::vector<std::vector<std::int64_t>> ill;
};

// The canonical TOML literal of a value: shortest round-trip floats with a decimal point, sorted nothing
// (lists keep their order: widths and rates are ordered).
std::string to_literal(const Value& v);

struct KeyDef {
  std::string path;                 // dotted key, e.g. "loss.alpha"
  ValueType type;
  std::string doc;
  std::string paper;                // where the key comes from ("001 Table II", "000 eq. 8", "-")
  double min = -std::numeric_limits<double>::infinity();  // numbers and list elements
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;
  std::size_t min_items = 0;        // lists
  std::vector<std::string> choices; // strings and string-list elements; empty = free text
  bool in_canonical = true;         // false for [resources] and [report]: they never change results
  bool hashed = true;               // false for keys that change where/how fast, not what (threads, cache dir)
  // Acts only after training (on validation, selection, test evaluation): no training step depends on it,
  // so variants that differ only in such keys share one training (ablations/sharing.hpp, docs/RUNNER.md
  // "Shared trainings"). Still hashed: it changes the results.
  bool evaluation_only = false;
  // false for a key added after stores existed: at its default value it is left out of the hash (and a
  // canonical text without it reads as the default), so the variants stored before it keep their hashes
  // and results; any other value is hashed as usual.
  bool hashed_at_default = true;
  // Keys the runner reads from the study alone (folds, case lists, seeds): a variant or a sweep point
  // that set one would be silently ignored, so they are refused there. The text says why.
  std::string study_wide;
  std::size_t max_items = std::numeric_limits<std::size_t>::max();  // lists
  // A rule beyond type, range and choices (e.g. the form of a time limit): returns "" or what is allowed.
  std::function<std::string(const Value&)> check;
  // That rule in words, or a rule that the study loader checks between keys (report.components names
  // boolean model keys): shown by allowed(), so the key reference and error messages say it.
  std::string rule;
  std::function<Value(const VariantConfig&)> get;
  std::function<void(VariantConfig&, const Value&)> set;

  std::string allowed() const;      // "a number in [0, 1]", "one of: deep, add, serial", ...
};

const std::vector<KeyDef>& schema();
const KeyDef* find_key(const std::string& path);
std::vector<std::string> all_key_paths();
// Section names ("study", "data", ...).
const std::vector<std::string>& section_names();

// Checks a value against its key's range and choices; returns "" or what is wrong. Numbers must be
// finite (TOML's inf and nan are refused).
std::string check_range(const KeyDef& key, const Value& v);

// The key reference of docs/STUDY.md: one Markdown table per section, every key with its default, what
// is allowed, the paper and the meaning (`ablate plan --keys`). Starts with "\n### [".
std::string key_reference_markdown();

// A study or variant name: letters, digits and _ - . + =, not "." or "..", at most kMaxNameLength
// characters. Names become file names (the store, <workdir>/<variant>/), so nothing that could leave a
// folder, need quoting or exceed a file system's 255 characters.
constexpr std::size_t kMaxNameLength = 200;
bool valid_name(const std::string& name);

// A Slurm time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS. The one rule for
// resources.time, checked when a study loads; cluster/ may call it rather than keep its own copy.
bool valid_time_limit(const std::string& time);

// What Slurm accepts in resources.partition (a comma-separated list of names) and resources.account
// (one name): letters, digits and _ - . (empty = the cluster's default). Nothing that could end an
// #SBATCH line or be read by a shell.
bool valid_slurm_names(const std::string& names, bool list);
// A Slurm memory size for --mem: digits with an optional unit K, M, G or T (default M; 0 = all of the
// node's memory), or empty (the cluster's default).
bool valid_memory_size(const std::string& size);

}  // namespace ablate
