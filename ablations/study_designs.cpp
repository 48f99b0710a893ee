// [ablation]: the hand-written [[ablation.variant]] list and the design keys (docs/STUDY.md "Designs"),
// and the design's points as variant declarations.
#include "ablations/study_internal.hpp"

#include <algorithm>

#include "ablations/design.hpp"
#include "ablations/schema.hpp"

namespace ablate::study_internal {

namespace {

const std::vector<std::string>& design_keys() {
  static const std::vector<std::string> keys = {"baseline", "components", "composites", "design",
                                                "fractional", "requires", "excludes"};
  return keys;
}

// A string-valued design key, where it is written; anything else is a located error.
void read_string(const toml::node* n, const std::string& key, std::string& into, const std::string& file, Diags& diags) {
  if (!n) return;
  if (!n->is_string()) return diags.add(file, n->source(), key, "expected a string");
  into = n->as_string()->get();
}

// Component label -> its index in spec.components.
using ComponentIndex = std::map<std::string, int>;

// baseline = { name, label }
void parse_design_baseline(const toml::table& table, const std::string& file, DesignSpec& spec, Diags& diags) {
  if (const toml::node* b = table.get("baseline")) {
    if (const toml::table* bt = b->as_table()) {
      for (const auto& [bk, bn] : *bt) {
        const std::string key(bk.str());
        if (key != "name" && key != "label") {
          diags.add(file, bk.source(), "ablation.baseline." + key, "unknown key (allowed: name, label)");
        }
      }
      read_string(bt->get("name"), "ablation.baseline.name", spec.baseline_name, file, diags);
      read_string(bt->get("label"), "ablation.baseline.label", spec.baseline_label, file, diags);
      if (!bt->contains("label")) spec.baseline_label = spec.baseline_name;
      if (!valid_name(spec.baseline_name)) {
        diags.add(file, b->source(), "ablation.baseline.name",
                  "name `" + spec.baseline_name + "` is not allowed: use letters, digits and _ - . + = (not . or ..)");
      }
    } else {
      diags.add(file, b->source(), "ablation.baseline", "expected a table { name = \"...\", label = \"...\" }");
    }
  }
}

// components = [{ label, name?, set = { key = value, ... } }]: into out.spec.components and out.sets.
ComponentIndex parse_design_components(const toml::table& table, const std::string& file, ParsedDesign& out,
                                       Diags& diags) {
  DesignSpec& spec = out.spec;
  const toml::node* comps = table.get("components");
  const toml::array* carr = comps ? comps->as_array() : nullptr;
  if (comps && (!carr || !carr->is_array_of_tables() || carr->empty())) {
    diags.add(file, comps->source(), "ablation.components",
              "expected a non-empty array of tables { label = \"CC\", set = { \"model.cc\" = true } }");
  } else if (!comps) {
    diags.add(file, out.line, out.column, "ablation.components",
              "a design needs components = [{ label = \"CC\", set = { \"model.cc\" = true } }, ...]");
  }
  std::map<std::string, int> index;  // label -> component
  if (carr && carr->is_array_of_tables()) {
    for (const auto& el : *carr) {
      const toml::table& ct = *el.as_table();
      DesignComponent c;
      Layer set;
      for (const auto& [ck, cn] : ct) {
        const std::string key(ck.str());
        if (key != "label" && key != "name" && key != "set") {
          const std::string hint = closest(key, {"label", "name", "set"});
          diags.add(file, ck.source(), "ablation.components." + key,
                    "unknown key" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)") +
                        " (allowed: label, name, set)");
        }
      }
      read_string(ct.get("label"), "ablation.components.label", c.label, file, diags);
      read_string(ct.get("name"), "ablation.components.name", c.name, file, diags);
      if (c.label.empty()) {
        diags.add(file, ct.source(), "ablation.components.label", "every component needs a label (e.g. \"CC\")");
        continue;
      }
      if (c.name.empty()) c.name = design_name(c.label);
      if (!valid_name(c.name)) {
        diags.add(file, ct.source(), "ablation.components.name",
                  "component `" + c.label + "`: name `" + c.name + "` is not allowed: use letters, digits and _ - . + =");
      }
      const toml::node* sn = ct.get("set");
      if (!sn || !sn->is_table() || sn->as_table()->empty()) {
        diags.add(file, sn ? sn->source() : ct.source(), "ablation.components.set",
                  "component `" + c.label + "` needs set = { \"model.key\" = value, ... } (the keys it changes)");
      } else {
        flatten(*sn->as_table(), "", file, Origin::kVariant, set, diags);
      }
      if (index.count(c.label)) {
        diags.add(file, ct.source(), "ablation.components.label", "component `" + c.label + "` is listed twice");
        continue;
      }
      index[c.label] = static_cast<int>(spec.components.size());
      spec.components.push_back(c);
      out.sets.push_back(std::move(set));
    }
    if (spec.components.size() > static_cast<std::size_t>(kMaxComponents)) {
      diags.add(file, comps->source(), "ablation.components",
                std::to_string(spec.components.size()) + " components: at most " + std::to_string(kMaxComponents) +
                    " (a factorial of k components has 2^k points)");
      diags.halt = true;
    }
  }
  return index;
}

// A list of component labels -> indices; unknown labels are located errors.
void components_of(const toml::node& n, const std::string& key, const DesignSpec& spec, const ComponentIndex& index,
                   std::vector<int>& into, const std::string& file, Diags& diags) {
  std::vector<std::string> labels;
  for (const auto& c : spec.components) labels.push_back(c.label);
  const toml::array* a = n.as_array();
  if (!a || a->empty()) return diags.add(file, n.source(), key, "expected a non-empty array of component labels");
  for (const auto& x : *a) {
    if (!x.is_string()) {
      diags.add(file, x.source(), key, "expected a component label (string)");
      continue;
    }
    const std::string l = x.as_string()->get();
    auto it = index.find(l);
    if (it == index.end()) {
      std::string all;
      for (const auto& s : labels) all += (all.empty() ? "" : ", ") + s;
      const std::string hint = closest(l, labels);
      diags.add(file, x.source(), key,
                "no component labelled `" + l + "`" + (hint.empty() ? "" : " (did you mean `" + hint + "`?)") +
                    " (components: " + all + ")");
      continue;
    }
    into.push_back(it->second);
  }
}

// design = "factorial" or ["add-one", "cumulative"], and fractional = { resolution = R }.
void parse_design_names(const toml::table& table, const std::string& file, ParsedDesign& out, Diags& diags) {
  DesignSpec& spec = out.spec;
  if (const toml::node* d = table.get("design")) {
    std::vector<const toml::node*> items;
    if (d->is_string()) items.push_back(d);
    else if (const toml::array* a = d->as_array()) for (const auto& x : *a) items.push_back(&x);
    if (items.empty() || !(d->is_string() || d->is_array())) {
      diags.add(file, d->source(), "ablation.design", "expected a design name or an array of them (" +
                                                          std::string("add-one, leave-one-out, cumulative, factorial, fractional)"));
    }
    for (const toml::node* x : items) {
      const auto& names = design_names();
      if (!x->is_string() || std::find(names.begin(), names.end(), x->as_string()->get()) == names.end()) {
        const std::string got = x->is_string() ? x->as_string()->get() : std::string();
        const std::string hint = closest(got, names);
        diags.add(file, x->source(), "ablation.design",
                  (got.empty() ? std::string("expected a design name") : "unknown design `" + got + "`") +
                      (hint.empty() ? "" : " (did you mean `" + hint + "`?)") +
                      " (allowed: add-one, leave-one-out, cumulative, factorial, fractional)");
        continue;
      }
      if (std::find(spec.designs.begin(), spec.designs.end(), x->as_string()->get()) == spec.designs.end()) {
        spec.designs.push_back(x->as_string()->get());
      }
    }
  } else {
    diags.add(file, out.line, out.column, "ablation.design",
              "components need a design: design = [\"add-one\", \"leave-one-out\", \"cumulative\", \"factorial\", "
              "\"fractional\"] (any of them)");
  }
  const bool wants_fraction = std::find(spec.designs.begin(), spec.designs.end(), "fractional") != spec.designs.end();
  if (const toml::node* f = table.get("fractional")) {
    const toml::table* ft = f->as_table();
    const toml::node* r = ft ? ft->get("resolution") : nullptr;
    if (!r || !r->is_integer() || r->as_integer()->get() < 3 || ft->size() != 1) {
      diags.add(file, f->source(), "ablation.fractional", "expected { resolution = R } with an integer R >= 3");
    } else {
      spec.resolution = static_cast<int>(r->as_integer()->get());
    }
    if (!wants_fraction) {
      diags.add(file, f->source(), "ablation.fractional", "is set but design does not list \"fractional\"");
    }
  } else if (wants_fraction) {
    diags.add(file, out.line, out.column, "ablation.fractional",
              "design \"fractional\" needs fractional = { resolution = R } (3: main effects aliased with two-way "
              "interactions; 4: main effects clear; 5: two-way interactions clear)");
  }
}

// composites = [{ of = ["CC", "SC"], label = "CoA", name = "coa", row_label = "..." }]
void parse_design_composites(const toml::table& table, const std::string& file, const ComponentIndex& index,
                             DesignSpec& spec, Diags& diags) {
  if (const toml::node* cn = table.get("composites")) {
    const toml::array* a = cn->as_array();
    if (!a || !a->is_array_of_tables()) {
      diags.add(file, cn->source(), "ablation.composites",
                "expected an array of tables { of = [\"CC\", \"SC\"], label = \"CoA\" }");
    } else {
      for (const auto& el : *a) {
        const toml::table& t = *el.as_table();
        DesignComposite c;
        for (const auto& [tk, tn] : t) {
          const std::string key(tk.str());
          if (key != "of" && key != "label" && key != "name" && key != "row_label") {
            diags.add(file, tk.source(), "ablation.composites." + key, "unknown key (allowed: of, label, name, row_label)");
          }
        }
        read_string(t.get("label"), "ablation.composites.label", c.label, file, diags);
        read_string(t.get("name"), "ablation.composites.name", c.name, file, diags);
        read_string(t.get("row_label"), "ablation.composites.row_label", c.row_label, file, diags);
        std::vector<int> of;
        if (const toml::node* o = t.get("of")) components_of(*o, "ablation.composites.of", spec, index, of, file, diags);
        if (of.empty() || c.label.empty()) {
          diags.add(file, t.source(), "ablation.composites",
                    "a composite needs of = [component labels] and a label");
          continue;
        }
        for (int i : of) c.of |= i < 32 ? 1u << i : 0u;  // past 32 components the study is refused (halt)
        if (c.name.empty()) c.name = design_name(c.label);
        if (!valid_name(c.name)) {
          diags.add(file, t.source(), "ablation.composites.name", "name `" + c.name + "` is not allowed");
        }
        spec.composites.push_back(c);
      }
    }
  }
}

// requires = [["MuS", "CC"]], excludes = [["CC", "SC"]]
void parse_design_constraints(const toml::table& table, const std::string& file, const ComponentIndex& index,
                              DesignSpec& spec, Diags& diags) {
  for (const char* which : {"requires", "excludes"}) {
    const toml::node* n = table.get(which);
    if (!n) continue;
    const std::string key = std::string("ablation.") + which;
    const toml::array* a = n->as_array();
    if (!a) {
      diags.add(file, n->source(), key, "expected an array of arrays of component labels, e.g. [[\"MuS\", \"CC\"]]");
      continue;
    }
    for (const auto& x : *a) {
      std::vector<int> group;
      components_of(x, key, spec, index, group, file, diags);
      if (group.size() < 2) {
        diags.add(file, x.source(), key,
                  std::string(which) == "requires" ? "expected [component, what it needs, ...]: two or more labels"
                                                   : "expected two or more component labels that exclude each other");
        continue;
      }
      (std::string(which) == "requires" ? spec.requires_ : spec.excludes).push_back(group);
    }
  }
}

// The design keys of an [ablation] table (docs/STUDY.md "Designs"); every problem is located.
void parse_design(const toml::table& table, const std::string& file, ParsedDesign& out, Diags& diags) {
  bool any = false;
  for (const auto& k : design_keys()) any = any || table.contains(k);
  if (!any) return;
  out.present = true;
  out.file = file;
  out.line = static_cast<int>(table.source().begin.line);
  out.column = static_cast<int>(table.source().begin.column);
  parse_design_baseline(table, file, out.spec, diags);
  const ComponentIndex index = parse_design_components(table, file, out, diags);
  parse_design_names(table, file, out, diags);
  parse_design_composites(table, file, index, out.spec, diags);
  parse_design_constraints(table, file, index, out.spec, diags);
}

}  // namespace

void parse_ablation(const toml::node& node, const std::string& file, Parsed& parsed, Diags& diags) {
  const toml::table* table = node.as_table();
  if (!table) {
    diags.add(file, node.source(), "ablation", "expected a table with [[ablation.variant]] entries");
    return;
  }
  parse_design(*table, file, parsed.design, diags);
  for (const auto& [k, sub] : *table) {
    if (k.str() != "variant") {
      const auto& keys = design_keys();
      if (std::find(keys.begin(), keys.end(), std::string(k.str())) != keys.end()) continue;
      std::vector<std::string> candidates = keys;
      candidates.push_back("variant");
      const std::string hint = closest(std::string(k.str()), candidates);
      diags.add(file, k.source(), "ablation." + std::string(k.str()),
                "unknown key" + (hint.empty() ? std::string() : " (did you mean `" + hint + "`?)") +
                    " (allowed: [[ablation.variant]] tables with name, label and dotted overrides, and the design "
                    "keys baseline, components, composites, design, fractional, requires, excludes)");
      continue;
    }
    const toml::array* arr = sub.as_array();
    if (!arr || !arr->is_array_of_tables()) {
      diags.add(file, sub.source(), "ablation.variant", "expected [[ablation.variant]] tables");
      continue;
    }
    for (const auto& el : *arr) {
      const toml::table& vt = *el.as_table();
      VariantDecl decl;
      decl.file = file;
      decl.line = static_cast<int>(vt.source().begin.line);
      decl.column = static_cast<int>(vt.source().begin.column);
      bool misspelt_name = false;
      for (const auto& [vk, vnode] : vt) {
        const std::string key(vk.str());
        if (key == "name" || key == "label") {
          if (!vnode.is_string()) {
            diags.add(file, vnode.source(), "ablation.variant." + key, "expected a string");
            continue;
          }
          (key == "name" ? decl.name : decl.label) = vnode.as_string()->get();
          continue;
        }
        // A misspelt `name` or `label` is no study key: say which of the two was meant.
        if (!find_key(key) && !vnode.is_table()) {
          const std::string hint = closest(key, {"name", "label"});
          if (!hint.empty()) {
            diags.add(file, vk.source(), "ablation.variant." + key, "unknown key (did you mean `" + hint + "`?)");
            misspelt_name = misspelt_name || hint == "name";
            continue;
          }
        }
        flatten_entry(vk, vnode, key, file, Origin::kVariant, decl.overrides, diags);
      }
      if (decl.name.empty()) {
        if (!misspelt_name) diags.add(file, vt.source(), "ablation.variant.name", "every [[ablation.variant]] needs a name");
        continue;
      }
      // Names become folders (<workdir>/<variant>/): "." and ".." would leave it.
      if (!valid_name(decl.name)) {
        diags.add(file, vt["name"].node()->source(), "ablation.variant.name",
                  decl.name.size() > kMaxNameLength
                      ? "a name of " + std::to_string(decl.name.size()) + " characters is not allowed: at most " +
                            std::to_string(kMaxNameLength) + " (it becomes a folder name)"
                      : "name `" + decl.name + "` is not allowed: use letters, digits and _ - . + = (not . or ..)");
      }
      if (decl.label.empty()) decl.label = decl.name;
      parsed.variants.push_back(std::move(decl));
    }
  }
}

namespace {

// Two components that set one key to different values cannot share a design point: one problem per pair
// and key, at the first point that holds both, the further points counted (Diags::add_more), not printed.
void check_component_conflicts(const ParsedDesign& pd, const DesignPlan& plan, Diags& diags) {
  const auto& components = pd.spec.components;
  for (std::size_t i = 0; i < components.size(); ++i) {
    for (std::size_t j = i + 1; j < components.size(); ++j) {
      for (const auto& [key, setting] : pd.sets[j]) {
        const auto other = pd.sets[i].find(key);
        if (other == pd.sets[i].end() || to_literal(other->second.value) == to_literal(setting.value)) continue;
        const std::uint32_t both = (1u << i) | (1u << j);
        const DesignPoint* first = nullptr;
        std::uint64_t more = 0;
        for (const auto& p : plan.points) {
          if ((p.mask & both) != both) continue;
          if (first) ++more;
          else first = &p;
        }
        if (!first) continue;  // requires/excludes keep them apart
        const std::string& a = components[i].label;
        const std::string& b = components[j].label;
        diags.add(setting.file, setting.line, setting.column, "ablation.components",
                  "components `" + a + "` and `" + b + "` set `" + key + "` to different values in design point `" +
                      first->name + "`" + (more ? " and " + std::to_string(more) + " more" : std::string()) +
                      ": add excludes = [[\"" + a + "\", \"" + b + "\"]]");
      }
    }
  }
}

}  // namespace

// The design's points as variant declarations, each with the union of its components' `set` layers.
// Fills study.design_spec, design_plan and the stored form (masks are added as variants resolve). The
// number of points is counted and checked against study.max_tasks before any is made.
std::vector<VariantDecl> design_decls(const Parsed& parsed, Study& study, Diags& diags) {
  std::vector<VariantDecl> out;
  const ParsedDesign& pd = parsed.design;
  if (!pd.present || pd.spec.components.empty() || pd.spec.designs.empty()) return out;
  // Past kMaxComponents (a problem already recorded) a point's mask does not fit: nothing is counted or made.
  if (pd.spec.components.size() > static_cast<std::size_t>(kMaxComponents)) return out;
  std::vector<std::size_t> axis_sizes;
  for (const auto& a : parsed.sweep) axis_sizes.push_back(a.values.size());
  // Hand-written rows are counted as variants of their own (one that repeats a point is not: an upper bound).
  const double declared = static_cast<double>(design_point_count(pd.spec) + parsed.variants.size());
  if (const std::string problem =
          check_study_size(study.base.study, declared, design_size_text(pd.spec), axis_sizes,
                           parsed.search.method != "grid" ? parsed.search.trials : 0);
      !problem.empty()) {
    diags.add(pd.file, pd.line, pd.column, "study.max_tasks", problem);
    diags.halt = true;
    throw SpecError(sorted(diags.list));
  }
  study.design_spec = pd.spec;
  study.design_plan = generate_design(pd.spec);
  // A point with two values for one key has no configuration: its variants are not made.
  const std::size_t before = diags.list.size();
  check_component_conflicts(pd, study.design_plan, diags);
  if (diags.list.size() != before) {
    diags.halt = true;
    throw SpecError(sorted(diags.list));
  }
  for (const auto& c : pd.spec.components) study.design.components.push_back(c.label);
  study.design.baseline = pd.spec.baseline_name;
  study.design.designs = pd.spec.designs;
  study.design.resolution = study.design_plan.fraction.resolution;
  study.design.fraction = study.design_plan.fraction.runs;
  for (const auto& point : study.design_plan.points) {
    VariantDecl d;
    d.name = point.name;
    d.label = point.label;
    d.mask = point.mask;
    d.file = pd.file, d.line = pd.line, d.column = pd.column;
    // The first component (file order) that sets a key gives its value; check_component_conflicts has
    // reported the points where another sets it differently.
    for (std::size_t i = 0; i < pd.spec.components.size(); ++i) {
      if (!(point.mask & (1u << i))) continue;
      for (const auto& [key, setting] : pd.sets[i]) d.overrides.emplace(key, setting);
    }
    out.push_back(std::move(d));
  }
  return out;
}

// Appends the hand-written [[ablation.variant]] rows to the design's; a row with the configuration of a
// design point is that point (one variant, one training) and gives it its name and label.
void hand_written_rows(const Layer& values, const std::vector<VariantDecl>& rows, std::vector<VariantDecl>& decls) {
  auto hash_of = [&](const Layer& overrides) {
    Layer layer = values;
    for (const auto& [k, s] : overrides) layer[k] = s;
    return config_hash(apply(layer));
  };
  std::map<std::string, std::size_t> design_hash;
  for (std::size_t i = 0; i < decls.size(); ++i) design_hash.emplace(hash_of(decls[i].overrides), i);
  for (const auto& row : rows) {
    if (!design_hash.empty()) {
      if (auto it = design_hash.find(hash_of(row.overrides)); it != design_hash.end()) {
        VariantDecl& point = decls[it->second];
        point.name = row.name, point.label = row.label;
        point.file = row.file, point.line = row.line, point.column = row.column;
        continue;
      }
    }
    decls.push_back(row);
  }
}

}  // namespace ablate::study_internal
