// The trials of a searched study (random, sobol: at load time; tpe: by the coordinator through
// trial_variant).
#include "ablations/study_internal.hpp"

#include <cstdio>

#include "ablations/schema.hpp"
#include "sweeps/grid.hpp"
#include "sweeps/samplers.hpp"

namespace ablate::study_internal {

namespace {

// Trial `trial` of declared variant `d` (index `di`) at point x; problems go to diags.
Variant make_trial(const TrialFactory& f, std::size_t di, int trial, const sweeps::Sample& x,
                   const std::set<std::string>& rejected, Diags& diags) {
  const VariantDecl& d = f.decls.at(di);
  Layer layer = f.values;
  for (const auto& [k, s] : d.overrides) layer[k] = s;
  sweeps::GridPoint shown;
  sweeps::Space space;
  for (std::size_t j = 0; j < f.keys.size(); ++j) {
    const SearchKey& sk = f.keys[j];
    const KeyDef* kd = find_key(sk.param.key);
    Value v;
    if (sk.param.dist == sweeps::Distribution::kChoice) {
      v = sk.choices.at(static_cast<std::size_t>(x.at(j)));
    } else {
      v.type = kd->type;
      if (kd->type == ValueType::kInt) v.i = static_cast<std::int64_t>(x.at(j));
      else v.d = x.at(j);
    }
    layer[sk.param.key] = Setting{v, Origin::kSweep, sk.file, sk.line, sk.column, {}, {}, {}};
    shown.emplace_back(sk.param.key, sweeps::short_value(sk.param, x.at(j)));
  }
  char tag[32];
  std::snprintf(tag, sizeof tag, "t%03d", trial);
  Variant v;
  v.trial = trial;
  v.point = x;
  v.declared = f.explicit_variants ? d.name : "";
  v.ordinal = static_cast<int>(di) * f.trials + trial;
  const std::string point = sweeps::point_name(shown), label = sweeps::point_label(shown, f.label_template);
  v.name = (f.explicit_variants ? d.name + "_" : std::string()) + tag + "_" + point;
  v.label = f.explicit_variants ? d.label + " (#" + std::to_string(trial) + ": " + label + ")"
                                : "#" + std::to_string(trial) + " " + label;
  resolve_variant(v, layer, f.file, rejected, diags);
  return v;
}

}  // namespace

// The search of a [sweep]: method, budget, objective and space into study.search; random and sobol trials
// into study.variants.
void resolve_search(Study& study, const Parsed& parsed, const std::vector<VariantDecl>& decls, bool explicit_variants,
                    const std::string& file, const std::set<std::string>& rejected, Diags& diags) {
  const SearchDecl& sd = parsed.search;
  Search& s = study.search;
  s.method = sd.method;
  s.trials = sd.trials;
  if (sd.startup > 0) s.startup = sd.startup;
  s.seed = study.base.study.seed;
  for (const auto& k : sd.keys) s.space.push_back(k.param);
  for (const auto& d : decls) s.declared.push_back(explicit_variants ? d.name : "");
  // bind_objective made train.select_metric the objective (or refused the study where they differ).
  s.objective = study.base.train.select_metric;
  s.minimize = sweeps::objective_direction(s.objective) == sweeps::Direction::kMinimize;
  s.objectives = sd.objectives;
  if (!s.sampled()) return;
  // Every trial must select its epochs on the objective: a variant or a sampled key that changed
  // train.select_metric would make the trials' objectives different metrics.
  for (const auto& d : decls) {
    const auto it = d.overrides.find("train.select_metric");
    if (it == d.overrides.end() || it->second.value.s == s.objective || rejected.count("train.select_metric")) continue;
    diags.add(it->second.file, it->second.line, it->second.column, "train.select_metric",
              "variant `" + d.name + "` selects on \"" + it->second.value.s + "\" but the search's objective is \"" +
                  s.objective + "\": every trial of a search is selected, and compared, on its objective");
  }
  for (const auto& k : sd.keys) {
    if (k.param.key != "train.select_metric") continue;
    diags.add(k.file, k.line, k.column, "sweep.train.select_metric",
              "a search cannot sample train.select_metric: it is the objective the trials are compared on (sweep.objective)");
  }
  auto factory = std::make_shared<TrialFactory>();
  factory->values = parsed.values;
  factory->decls = decls;
  factory->explicit_variants = explicit_variants;
  factory->keys = sd.keys;
  factory->label_template = parsed.sweep_label;
  factory->file = file;
  factory->trials = sd.trials;
  study.factory = factory;
  if (s.adaptive() || sd.keys.empty() || sd.trials == 0) return;
  for (std::size_t di = 0; di < decls.size(); ++di) {
    for (int t = 0; t < sd.trials; ++t) {
      const sweeps::Sample x = s.method == "sobol" ? sweeps::sobol_sample(s.space, s.seed, static_cast<std::uint64_t>(t))
                                                   : sweeps::random_sample(s.space, s.seed, static_cast<std::uint64_t>(t));
      study.variants.push_back(make_trial(*factory, di, t, x, rejected, diags));
    }
  }
}

}  // namespace ablate::study_internal

namespace ablate {

using namespace study_internal;

Variant trial_variant(const Study& study, const std::string& declared, int trial, const sweeps::Sample& x) {
  if (!study.factory) throw std::logic_error("trial_variant: the study has no search");
  const auto& decls = study.search.declared;
  const auto it = std::find(decls.begin(), decls.end(), declared);
  if (it == decls.end()) throw std::logic_error("trial_variant: no declared variant `" + declared + "`");
  Diags diags;
  Variant v = make_trial(*study.factory, static_cast<std::size_t>(it - decls.begin()), trial, x, {}, diags);
  if (!diags.list.empty()) throw SpecError(diags.list);
  return v;
}

}  // namespace ablate
