// Automated ablation designs: the [ablation] keys baseline, components, design, fractional, composites,
// requires and excludes (docs/STUDY.md "Designs") expand into design points, each a set of components
// switched on over the all-off baseline. Pure code: the study loader (study.cpp) parses the TOML and turns
// each point into a variant whose overrides are the union of its components' `set` tables, so a generated
// variant has exactly the configuration, and the hash, of the same variant written by hand.
//
// A point is a bit mask over the components in file order (bit i = components[i]); so at most
// kMaxComponents components.
//
//   add-one        the baseline and each component alone: {i} for every i
//   leave-one-out  the full model and the full model without each component: N \ {i}
//   cumulative     the components added in file order: {0}, {0,1}, ..., N
//   factorial      all 2^k subsets, in Yates (standard) order: bit i of the run index = component i
//   fractional     a 2^(k-p) fractional factorial of at least the requested resolution (fractional_design)
// The baseline (the empty set) is always the first point. Points are deduplicated across designs (the
// first design that produces a point names where it came from; `from` lists every design).
//
// Contract: pure functions of their arguments (the design tables are constants); any thread may call them.
// Only parse_design_text throws (std::runtime_error on a malformed stored text); the spec's own problems are
// the study loader's to report, before generate_design runs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ablate {

constexpr int kMaxComponents = 16;

struct DesignComponent {
  std::string label;  // as the papers write it: "CC", "KCM"
  std::string name;   // for variant names; default: the label in lower case (design_name)
};

// A label the study gives a combination of components ("CoA" for CC+SC). Inside a larger point it stands
// for its components ("U-Net+CoA+EC"); the point of exactly these components is named `name` and
// labelled `row_label` (default: baseline label + "+" + label).
struct DesignComposite {
  std::uint32_t of = 0;  // component mask
  std::string name, label, row_label;
};

struct DesignSpec {
  std::string baseline_name = "baseline", baseline_label = "baseline";
  std::vector<DesignComponent> components;
  std::vector<DesignComposite> composites;
  std::vector<std::string> designs;  // add-one | leave-one-out | cumulative | factorial | fractional, file order
  int resolution = 0;                // fractional: the requested resolution (3..)
  // requires {a, b, c}: a point with component a must also have b and c.
  std::vector<std::vector<int>> requires_;
  // excludes {a, b, ...}: no point has all of them.
  std::vector<std::vector<int>> excludes;
};

// The design names a study may list.
const std::vector<std::string>& design_names();

struct DesignPoint {
  std::uint32_t mask = 0;
  std::string name, label;
  std::vector<std::string> from;  // the designs that produce it ("baseline" for the all-off point)
};

// A 2^(k-p) fractional factorial: the first k-p components form a full factorial (Yates order) and each
// further component is the product of a generator's columns in ±1 coding. Generators are the standard
// minimum-aberration ones (Montgomery, Design and Analysis of Experiments, Table 8.14) for k <= 8; for
// any k the half fraction with the last component = the product of all others (resolution k). Signs are
// chosen so that the all-off run (the baseline) is in the fraction: a generator of m letters gets the
// sign -(-1)^m (e.g. E = -ABCD, D = +ABC), which changes no resolution. When no fraction of k components
// reaches the resolution, the design is the full factorial (p = 0, resolution 0 = "full").
struct FractionalDesign {
  int k = 0, p = 0;
  int resolution = 0;                   // achieved; 0 = full factorial (no aliasing)
  std::vector<std::string> generators;  // "E = -ABCD" (letters A.. = components in file order)
  std::vector<std::uint32_t> runs;      // masks, 2^(k-p)
};
FractionalDesign fractional_design(int k, int resolution);

struct DesignPlan {
  std::vector<DesignPoint> points;  // baseline first, then in design order, deduplicated
  struct Removed {
    DesignPoint point;
    std::string reason;  // "requires: MuS needs CC"
  };
  std::vector<Removed> removed;     // points that broke a requires/excludes constraint
  FractionalDesign fraction;        // when "fractional" is listed
};

// Expands the spec. Names and labels: the baseline's for the empty set; a composite's name and row label
// for exactly its components; else the parts joined - the largest composites contained in the point
// (greedy, file order on ties), then the remaining components, in component order - names with "-",
// labels as baseline label + "+" + parts joined with "+" ("U-Net+CoAG-MuSFu+EC").
DesignPlan generate_design(const DesignSpec& spec);

// The default name of a component from its label: lower case; characters other than letters, digits and
// _ . + = become "-".
std::string design_name(const std::string& label);

// How many distinct points the designs of `spec` name before requires/excludes remove any, counted
// without building them: factorial 2^k (every subset, so every other design's points too), else the
// union of the baseline, add-one (k singletons), leave-one-out (k + 1), cumulative (k) and fractional
// (2^(k-p)) masks, at most 3k + 2 + 2^(k-1) of them. The loader checks this count against
// study.max_tasks before generate_design runs. Needs k <= kMaxComponents (masks are 32 bits).
std::uint64_t design_point_count(const DesignSpec& spec);
// The count as the size error prints it: "factorial: 2^16 = 65536 points" or "3 designs: 34 points".
std::string design_size_text(const DesignSpec& spec);

// The design matrix as `ablate plan` prints it: one line per point with its variant name (`names`: the
// study's, where a hand-written row renamed a point), a ✓ per component (as the report's tables mark
// them) and the designs it comes from; then the fraction's generators and the points constraints removed.
std::string design_matrix_text(const DesignSpec& spec, const DesignPlan& plan,
                               const std::map<std::string, std::uint32_t>& names);

// What reports need of a study's design, stored by the coordinator as provenance "study_design" and read
// back with parse_design_text (text: one `key = value` line each; see design_text).
struct StoredDesign {
  std::vector<std::string> components;  // labels in file order
  std::string baseline;                 // variant name of the all-off point
  std::vector<std::string> designs;
  int resolution = 0;                   // fractional: achieved (0 = full)
  std::vector<std::uint32_t> fraction;  // fractional: its runs
  std::map<std::string, std::uint32_t> masks;  // variant name -> components on
  bool empty() const { return components.empty(); }
};
std::string design_text(const StoredDesign& design);
// Throws std::runtime_error on a malformed text.
StoredDesign parse_design_text(const std::string& text);
// "CC+SC" for a mask ("-" for the empty set).
std::string mask_labels(const std::vector<std::string>& components, std::uint32_t mask);
// The number of components a mask switches on.
int popcount(std::uint32_t mask);

}  // namespace ablate
