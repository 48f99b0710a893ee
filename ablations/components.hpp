// The registry of the network's components: each component's name, the study key that turns it on, its
// paper and equations, its parameter-accounting group, its column in tables, where it may sit and how the
// store records it, written once. The network builder (parameter accounting and its model.* checks,
// trainer/nn/network.cpp), the coordinator (the variants.components column), the study checks
// (ablations/study.cpp, ablations/schema.cpp: the component keys' documentation and choice lists) and the
// reports (reports/format.cpp: table headings) all read it, so that a component cannot mean one thing in
// one place and another elsewhere (docs/ARCHITECTURE.md, "Components").
//
// Contract: plain data and pure functions of a ModelConfig; no LibTorch. Thread safety: the table is built
// once on first use (a function-local static) and only read afterwards, so every function may be called
// from any thread. Nothing here throws, except component_choices() for a key that has no choice list
// (std::out_of_range: a programming error).
#pragma once

#include <string>
#include <vector>

#include "ablations/config.hpp"

namespace ablate {

// Where a component may sit (bit flags).
enum ComponentPlacement : unsigned {
  kAnywhere = 0,
  // A module of the U-Net family: 002's network (model.backbone = "resnet") has its own decoder-free
  // multi-scale head and takes none of them (002 Sec. III).
  kUNetOnly = 1u << 0,
  // Acts on the plain U-Net decoder's stages or skips, which the nested decoder (model.nested, 003 eq. 4)
  // replaces with its own deep supervision and dense skips.
  kNotWithNested = 1u << 1,
};

// How the variants.components column of the store records a component that is on (db/SCHEMA.md).
enum class Recorded {
  kFlag,    // its name, in registry order ("cc,sc,mus")
  kChoice,  // "<key>=<value>" once per choice key ("attention=pam_cam", "msc=kcm"), after the flags
  kMode,    // "<key>=<value>" of its mode key when `recorded_when` holds ("fusion=deep"), last
  kNo,      // not in the column (the column predates it; stores written before keep comparing equal)
};

struct Component {
  const char* name;    // its parameter-accounting group and the prefix of its submodules' registered names
                       // in the network ("cc", "aux_path_head" -> aux_path; trainer/nn/network.cpp)
  const char* key;     // the study key that turns it on ("model.cc"); "" for the backbone
  const char* value;   // for a string key, the value that turns it on alone ("se"); "" for a boolean key
  const char* doc;     // a boolean key's documentation in the schema (docs/STUDY.md); "" where the key is shared
  const char* paper;   // the paper and equations it follows
  const char* label;   // its column heading in tables ("CC"); "" = the key's last segment
  bool (*on)(const ModelConfig&);  // whether the network built from the configuration holds it
  unsigned placement;  // ComponentPlacement bits
  Recorded recorded;
  // kChoice and kMode: the configuration's value of the recorded key.
  const std::string ModelConfig::*recorded_value;
  // kMode: when the mode is recorded (nullptr = whenever on).
  bool (*recorded_when)(const ModelConfig&);
};

// Every component, "backbone" first, in display order (`ablate params`, the per-component counts).
const std::vector<Component>& components();
// The component of that name, or nullptr.
const Component* find_component(const std::string& name);
// The component a boolean study key ("model.cc" or "cc") turns on, or nullptr.
const Component* component_of_key(const std::string& key);

// The names of the components on in m, "backbone" first, in registry order.
std::vector<std::string> components_on(const ModelConfig& m);
// The keys of the components on in m whose placement has any of the bits ("model.dws", ...), in registry
// order, each key once.
std::vector<std::string> component_keys_on(const ModelConfig& m, unsigned placement);
// The keys of every component whose placement has any of the bits, in registry order, each key once.
std::vector<std::string> component_keys(unsigned placement);
// The text of the variants.components column (db/SCHEMA.md): the kFlag components on, then the kChoice
// keys, then the kMode keys, comma-separated ("cc,sc,mus,fusion=deep").
std::string recorded_components(const ModelConfig& m);

// The values a component choice key allows ("model.attention", "model.msc", "model.fusion"), in the order
// the schema lists them (its one_of, the network's checks and docs/STUDY.md read this list).
const std::vector<std::string>& component_choices(const std::string& key);

// A component or boolean model key's column heading: "CC" for "cc" or "model.cc"; else the last segment
// of the key ("model.nested" -> "nested").
std::string component_label(const std::string& key);

}  // namespace ablate
