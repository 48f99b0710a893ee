// Reading study files and their includes: one document parsed into a layer over its base files'.
#include "ablations/study_internal.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "ablations/schema.hpp"

namespace fs = std::filesystem;

namespace ablate::study_internal {

Parsed parse_document(const std::string& text, const std::string& file, Origin origin, std::vector<std::string>& stack,
                      Diags& diags);

// The include = "base.toml" (or a list) of a document: base files first, their values the layer under
// this file's, their variants, design, sweep and early stopping what this file inherits.
void read_includes(const toml::node& inc, const std::string& file, std::vector<std::string>& stack, Parsed& parsed,
                   Diags& diags) {
  std::vector<std::pair<std::string, toml::source_region>> includes;
  if (inc.is_string()) {
    includes.emplace_back(inc.as_string()->get(), inc.source());
  } else if (const toml::array* arr = inc.as_array()) {
    for (const auto& el : *arr) {
      if (el.is_string()) includes.emplace_back(el.as_string()->get(), el.source());
      else diags.add(file, el.source(), "include", "expected a file name (string)"), diags.fatal = true;
    }
  } else {
    diags.add(file, inc.source(), "include", "expected a file name or an array of file names");
    diags.fatal = true;
  }
  for (const auto& [name, where] : includes) {
    fs::path p = fs::path(name).is_relative() ? fs::path(file).parent_path() / name : fs::path(name);
    const std::string ps = p.lexically_normal().string();
    if (std::find(stack.begin(), stack.end(), ps) != stack.end()) {
      diags.add(file, where, "include", "include cycle: `" + ps + "` includes itself");
      diags.fatal = true;
      continue;
    }
    std::string base_text;
    if (const std::string problem = read_study_file(ps, base_text); !problem.empty()) {
      diags.add(file, where, "include", "cannot read base study `" + ps + "`: " + problem);
      diags.fatal = true;
      continue;
    }
    stack.push_back(ps);
    Parsed base = parse_document(base_text, ps, Origin::kBase, stack, diags);
    stack.pop_back();
    for (auto& [k, s] : base.values) {
      s.origin = Origin::kBase;
      parsed.values[k] = s;
    }
    if (!base.variants.empty() || base.design.present) parsed.variants = base.variants, parsed.design = base.design;
    if (!base.sweep.empty() || base.search.present) {
      parsed.sweep = base.sweep, parsed.sweep_label = base.sweep_label, parsed.search = base.search;
    }
    if (base.early_stop) {
      parsed.early_stop = base.early_stop;
      parsed.early_stop_file = base.early_stop_file;
      parsed.early_stop_line = base.early_stop_line;
      parsed.early_stop_column = base.early_stop_column;
      parsed.early_stop_keys = base.early_stop_keys;
    }
  }
}

// A top-level key that is no section and no schema key: a located error with a did-you-mean; true for
// a key flatten_entry reads.
bool known_top_level(const toml::key& k, const toml::node& node, const std::string& section, const std::string& file,
                     Diags& diags) {
  const auto& sections = section_names();
  if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
    if (const KeyDef* kd = find_key(section); kd == nullptr && !node.is_table()) {
      // A dotted key at the top level ("model.cc" = true) is allowed: it names a schema key. A bare key
      // (`lr = 1e-4` before any section) is matched by its name, else by the sections' names.
      std::string hint = key_hint(section);
      if (hint.empty() && section.find('.') == std::string::npos) {
        std::vector<std::string> candidates = sections;
        candidates.push_back("include");
        hint = closest(section, candidates);
        if (!hint.empty() && hint != "include") hint = "[" + hint + "]";
      }
      diags.add(file, k.source(), section,
                "unknown key" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)"));
      return false;
    }
    if (node.is_table()) {
      std::vector<std::string> candidates = sections;
      std::string hint = closest(section, candidates);
      diags.add(file, k.source(), section,
                "unknown section" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)"));
      return false;
    }
  }
  return true;
}

Parsed parse_document(const std::string& text, const std::string& file, Origin origin, std::vector<std::string>& stack,
                      Diags& diags) {
  Parsed parsed;
  toml::table doc;
  try {
    doc = toml::parse(std::string_view(text), std::string_view(file));
  } catch (const toml::parse_error& e) {
    diags.add(file, e.source(), "", std::string(e.description()));
    diags.fatal = true;
    return parsed;
  }
  // Base files first: their values are the layer under this file's.
  if (const toml::node* inc = doc.get("include")) read_includes(*inc, file, stack, parsed, diags);
  bool own_variants = false, own_sweep = false;
  for (const auto& [k, node] : doc) {
    const std::string section(k.str());
    if (section == "include") continue;
    if (section == "ablation") {
      Parsed own;
      parse_ablation(node, file, own, diags);
      parsed.variants = std::move(own.variants);
      parsed.design = std::move(own.design);  // a design replaces inherited variants as a variant list does
      own_variants = true;
      continue;
    }
    if (section == "sweep") {
      Parsed own;
      parse_sweep(node, file, own, diags);
      // A [sweep] that holds only [sweep.early_stop] keeps the base's grid or search.
      const toml::table* own_table = node.as_table();
      if (!(own_table && own_table->size() == 1 && own_table->contains("early_stop"))) {
        parsed.sweep = std::move(own.sweep);
        parsed.sweep_label = own.sweep_label;
        parsed.search = std::move(own.search);
      }
      if (own.early_stop) {
        parsed.early_stop = own.early_stop;
        parsed.early_stop_file = own.early_stop_file;
        parsed.early_stop_line = own.early_stop_line;
        parsed.early_stop_column = own.early_stop_column;
        parsed.early_stop_keys = own.early_stop_keys;
      }
      own_sweep = true;
      continue;
    }
    if (!known_top_level(k, node, section, file, diags)) continue;
    flatten_entry(k, node, section, file, origin, parsed.values, diags);
  }
  (void)own_variants;
  (void)own_sweep;
  return parsed;
}

}  // namespace ablate::study_internal

namespace ablate {

using namespace study_internal;

std::string read_study_file(const std::string& path, std::string& text) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return "no such file";
  if (fs::is_directory(st)) return "it is a directory, expected a .toml file";
  // A device (/dev/zero), a FIFO or a socket could be read without end or block forever.
  if (!fs::is_regular_file(st)) return "not a regular file (a device, FIFO or socket), expected a study file (.toml)";
  const auto size = fs::file_size(path, ec);
  if (ec) return "cannot read it: " + ec.message();
  const std::string too_large = "; a study file may have at most " + std::to_string(kMaxStudyFileBytes);
  if (size > kMaxStudyFileBytes) return "it has " + std::to_string(size) + " bytes" + too_large;
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot open it for reading";
  // Read to the end, whatever stat said: a /proc file has size 0 and a content; a file that grows while
  // it is read stops at the cap.
  std::string out;
  char buffer[65536];
  while (in && out.size() <= kMaxStudyFileBytes) {
    in.read(buffer, sizeof buffer);
    out.append(buffer, static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) return "cannot read it";
  if (out.size() > kMaxStudyFileBytes) return "it has more than " + std::to_string(kMaxStudyFileBytes) + " bytes" + too_large;
  text = std::move(out);
  return "";
}

}  // namespace ablate
