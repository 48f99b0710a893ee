// Canonical text and the content hash of a resolved configuration; reading canonical text back.
#include "ablations/study_internal.hpp"

#include <set>
#include <sstream>

#include "ablations/schema.hpp"

namespace ablate {

using namespace study_internal;

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
  static const VariantConfig defaults;
  std::string hashed;
  for (const auto& k : schema()) {
    if (!k.hashed || (training_only && k.evaluation_only) || (fixed_split && k.path == "study.folds")) continue;
    const std::string value = to_literal(k.get(config));
    if (!k.hashed_at_default && value == to_literal(k.get(defaults))) continue;  // as before the key existed
    hashed += k.path + " = " + value + "\n";
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
    if (kd && !kd->hashed_at_default && (ia == a.end() || ib == b.end())) {
      // A text from before the key existed: it ran at the key's default.
      static const VariantConfig defaults;
      const std::string def = to_literal(kd->get(defaults));
      if ((ia == a.end() ? def : ia->second) != (ib == b.end() ? def : ib->second)) out.push_back(k);
      continue;
    }
    if (ia == a.end() || ib == b.end() || ia->second != ib->second) out.push_back(k);
  }
  return out;
}

}  // namespace ablate
