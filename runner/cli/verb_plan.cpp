// `ablate plan STUDY.toml`: the expansion of a study into variants x folds x repeats, and with
// --explain every key's resolved value and where it came from.
#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "ablations/output.hpp"
#include "ablations/schema.hpp"
#include "ablations/sharing.hpp"
#include "ablations/study.hpp"
#include "db/store.hpp"
#include "reports/format.hpp"
#include "runner/cli/cli.hpp"
#include "runner/reuse.hpp"
#include "runner/run.hpp"
#include "runner/shards.hpp"
#include "sweeps/metric.hpp"
#include "sweeps/multi_objective.hpp"

namespace ablate::cli {

namespace {

std::string overrides_of(const Variant& v) {
  std::string out;
  for (const auto& [key, rv] : v.values) {
    if (rv.origin != Origin::kVariant && rv.origin != Origin::kSweep && rv.origin != Origin::kOverride) continue;
    if (!out.empty()) out += ", ";
    out += key + "=" + rv.text;
  }
  return out.empty() ? "-" : out;
}

std::string pad(const std::string& s, std::size_t width) {
  // Width in code points, so labels with α line up.
  std::size_t cps = 0;
  for (unsigned char c : s) cps += (c & 0xC0) != 0x80;
  return s + std::string(width > cps ? width - cps : 0, ' ');
}

// Rewrites the key reference of a document such as docs/STUDY.md in place: the hand-written part up to
// the first "### [" heading stays, the reference after it is generated anew.
void update_keys_markdown(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("--update: cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  std::string doc = text.str();
  const auto start = doc.find("\n### [");
  if (start == std::string::npos) throw UsageError("--update: " + path + " has no \"### [section]\" heading to replace from");
  doc.erase(start + 1);
  while (doc.size() > 1 && doc[doc.size() - 1] == '\n' && doc[doc.size() - 2] == '\n') doc.pop_back();
  write_text_file(path, doc + key_reference_markdown());
  std::cout << "updated the key reference of " << path << "\n";
}

// Train once, evaluate many (docs/RUNNER.md "Shared trainings"): variants that differ only in
// evaluation-only keys share one training per fold and repeat (not under early stopping), so the budget
// in trainings is below the task count; printed with the groups when it is.
void print_trainings(const Study& study, long tasks) {
  if (study.early_stop.method != "none" || study.variants.empty()) return;
  std::vector<ShareCandidate> candidates;
  for (const auto& v : study.variants) {
    candidates.push_back({training_key(v.config), v.ordinal, 0, 0, training_not_shareable(v.config).empty()});
  }
  const auto groups = training_groups(candidates);
  const long trainings = static_cast<long>(groups.size()) * (tasks / static_cast<long>(study.variants.size()));
  if (trainings >= tasks) return;
  std::cout << "trainings: " << trainings << " (" << tasks << " tasks; " << tasks - trainings
            << " evaluated from a shared training: variants that differ only in evaluation-only keys)\n";
  for (const auto& g : groups) {
    if (g.size() < 2) continue;
    std::cout << "  one training for";
    for (std::size_t i : g) std::cout << " " << study.variants[i].name;
    std::cout << "\n";
  }
}

// Never train the same thing twice (docs/RUNNER.md "Reusing finished trainings"): how many of the study's
// open tasks a finished training in its store (any study) or a --reuse store stands for, and how many
// trainings are left, as the coordinator would count them. Printed when there is a store to look in.
void print_reuse(const Study& study, const std::string& db_option, const std::vector<std::string>& reuse_stores) {
  if (study.early_stop.method != "none" || study.search.adaptive() || study.variants.empty()) return;
  runner::RunOptions o;
  o.study_file = study.file;
  o = runner::with_defaults(o);
  const std::string db_path = db_option.empty() ? runner::default_db_path(study.file, study.base.study.name) : db_option;
  std::error_code ec;
  std::unique_ptr<db::Store> own;
  if (std::filesystem::is_regular_file(db_path, ec)) own = std::make_unique<db::Store>(db_path, /*read_only=*/true);
  if (!own && reuse_stores.empty()) return;
  std::vector<db::FoldCases> folds;
  std::map<std::tuple<std::string, int, int>, std::string> status;  // (variant, fold, repeat) -> stored status
  std::optional<std::int64_t> id;
  if (own) id = own->find_study(study.base.study.name);
  if (id) {
    folds = own->folds(*id);
    for (const auto& t : own->tasks(*id)) status[{t.variant, t.fold, t.repeat}] = t.status;
  }
  try {
    if (folds.empty()) folds = runner::make_folds(o, study.base);
  } catch (const std::exception& e) {
    std::cout << "reuse: not checked: " << e.what() << "\n";
    return;
  }
  const std::string fingerprint = runner::fingerprint_of(o, study.base.data);
  const runner::ReuseFinder finder(own.get(), reuse_stores);
  std::vector<ShareCandidate> open;
  std::map<std::string, int> from;
  int done = 0, reused = 0;
  for (const auto& v : study.variants) {
    const bool shareable = training_not_shareable(v.config).empty();
    for (const auto& f : folds) {
      const auto st = status.find({v.name, f.fold, f.repeat});
      if (st != status.end() && st->second == "done") {
        ++done;
      } else if (auto src = finder.find(runner::reuse_key(v, f, fingerprint))) {
        ++reused;
        from[src->store + ": " + src->study]++;
      } else {
        open.push_back({training_key(v.config), v.ordinal, f.fold, f.repeat, shareable});
      }
    }
  }
  std::cout << "trainings: " << training_groups(open).size() << " new, " << reused << " reused";
  if (done > 0) std::cout << " (" << done << " task(s) done)";
  std::cout << "\n";
  for (const auto& [where, n] : from) std::cout << "  " << n << " reused from " << where << "\n";
}

// The search space, method and budget of a sampled [sweep].
void print_search(const Study& study, int folds) {
  const Search& s = study.search;
  std::cout << "\nsearch: " << s.method << ", " << s.trials << " trial(s)";
  if (s.declared.size() > 1 || !s.declared.front().empty()) std::cout << " per variant (" << s.declared.size() << " variants)";
  std::cout << ", seed " << s.seed << "\n";
  std::cout << "objective: validation " << s.objective << " (train.select_metric) at the epoch it selects, mean over folds and repeats ("
            << (s.minimize ? "lower" : "higher") << " is better; test metrics are never used)\n";
  if (!s.objectives.empty()) {
    std::cout << "objectives:";
    for (const auto& o : s.objectives)
      std::cout << " " << o << " (" << (sweeps::objective_direction(o) == sweeps::Direction::kMinimize ? "lower" : "higher")
                << (o == s.objective ? ", validation" : ", model fact") << ")";
    std::cout << "\n";
  }
  if (s.method == "motpe") {
    const sweeps::TpeOptions tpe;
    std::cout << "motpe: the first " << s.startup << " trial(s) random, then each proposal from the results stored so far: "
              << "the good group by non-dominated sorting and hypervolume (gamma " << tpe.gamma << ", " << tpe.n_candidates
              << " candidates); proposed during the run\n";
  }
  if (s.method == "nsga2") {
    std::cout << "nsga2: the first " << sweeps::Nsga2Options{}.population
              << " trial(s) random, then each proposal bred from the best finished trials by front and crowding; proposed "
                 "during the run\n";
  }
  if (s.method == "tpe") {
    const sweeps::TpeOptions tpe;
    std::cout << "tpe: the first " << s.startup << " trial(s) random, then each proposal from the results stored so far (gamma "
              << tpe.gamma << ", " << tpe.n_candidates << " candidates); proposed during the run\n";
  }
  std::size_t key_w = 3;
  for (const auto& p : s.space) key_w = std::max(key_w, p.key.size());
  std::cout << "\n" << pad("key", key_w) << "  " << pad("distribution", 12) << "  range\n";
  for (const auto& p : s.space) {
    std::ostringstream range;
    if (p.dist == sweeps::Distribution::kChoice) {
      for (std::size_t i = 0; i < p.choices.size(); ++i) range << (i ? ", " : "") << p.choices[i];
    } else {
      range << "[" << p.low << ", " << p.high << "]";
    }
    std::cout << pad(p.key, key_w) << "  " << pad(sweeps::distribution_name(p.dist), 12) << "  " << range.str() << "\n";
  }
  const long trials = static_cast<long>(s.trials) * static_cast<long>(s.declared.size());
  const long repeats = study.base.study.repeats;
  std::cout << "\nbudget: " << trials << " trial(s) x " << folds << " fold(s) x " << repeats
            << " repeat(s) = " << trials * folds * repeats << " task(s)\n";
  if (!s.adaptive()) print_trainings(study, trials * folds * repeats);
}

po::options_description plan_options() {
  po::options_description options("ablate plan");
  options.add_options()("study", po::value<std::string>(), "study file (TOML)")(
      "keys", po::bool_switch(), "print the reference of every study key (Markdown, as in docs/STUDY.md)")(
      "update", po::value<std::string>()->default_value(""),
      "with --keys: rewrite the key reference of this file (e.g. docs/STUDY.md) after its first \"### [\" heading, "
      "keeping the text before it")(
      "explain", po::bool_switch(), "print every key of every variant with its value and origin")(
      "variant", po::value<std::string>()->default_value(""), "with --explain: only this variant (default: every variant)")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a study key: --set train.lr=3e-4 (repeatable; validated as in the file, part of the hash)")(
      "db", po::value<std::string>()->default_value(""), "the store to count reused trainings in; default: <study dir>/<study name>.sqlite")(
      "reuse", po::value<std::vector<std::string>>()->composing(), "another store whose finished trainings count as reused (as ablate run --reuse)")(
      "no-reuse", po::bool_switch(), "count no reused training (as ablate run --no-reuse)");
  options.add(common_options());
  return options;
}

// --explain: every key of every variant (or of `only`) with its value and origin.
void print_explain(const Study& study, const std::string& only) {
  bool found = false;
  for (const auto& v : study.variants) {
    if (!only.empty() && v.name != only) continue;
    found = true;
    std::cout << "# variant " << v.name << "  (" << v.label << ")  hash " << v.hash << "\n";
    for (const auto& [key, rv] : v.values) {
      std::cout << std::left << std::setw(32) << key << " = " << pad(rv.text, 28) << "  # " << origin_name(rv.origin)
                << (rv.where.empty() ? "" : " " + rv.where) << "\n";
    }
    std::cout << "\n";
  }
  if (!found) {
    std::string names;
    for (const auto& v : study.variants) names += (names.empty() ? "" : ", ") + v.name;
    throw UsageError("no variant named `" + only + "` in " + study.file + " (variants: " + names + ")");
  }
}

// The study's protocol, early stopping, job array and the notes on what it inherits but cannot apply
// (published rows without a variant, an ignored baseline).
void print_protocol(const Study& study) {
  const auto& base = study.base.study;
  const int array = study.base.resources.array;
  std::cout << "study " << base.name << "  (" << study.file << ")\n";
  if (base.split.empty()) {
    std::cout << "protocol: " << base.folds << "-fold cross-validation over cases";
  } else {
    std::ostringstream r;
    r << base.split[0] << "/" << base.split[1] << "/" << base.split[2];
    std::cout << "protocol: fixed train/validation/test split " << r.str();
  }
  std::cout << ", " << base.repeats << " repeat(s), seed " << base.seed << "\n";
  if (const auto& es = study.early_stop; es.method != "none") {
    std::string rungs;
    for (int r : es.rungs) rungs += (rungs.empty() ? "" : ", ") + std::to_string(r);
    std::cout << "early stopping: " << es.method << " at epochs [" << rungs << "] on validation " << study.base.train.select_metric
              << (es.method == "median" ? ", start-up " + std::to_string(es.startup_trials) + " trial(s)"
                                        : ", reduction " + std::to_string(es.reduction))
              << (es.method == "hyperband"
                      ? ", " + std::to_string(es.brackets > 0 ? es.brackets : static_cast<int>(es.rungs.size())) + " bracket(s)"
                      : "")
              << " (docs/STUDY.md)\n";
  }
  if (array > 0) {
    std::cout << "job array: " << array << " element(s), each `ablate run --shard i/" << array
              << "` into its own store, balanced on estimated cost; then `ablate merge` (docs/RUNNER.md)\n";
  }
  for (const auto& n : study.notes) std::cout << "note: " << n << "\n";
  std::cout << "\n";
}

// One line a variant: ordinal, name, label, hash, the check-mark columns of the study's own table
// (report.components, as the report will show them) and the keys the variant sets.
void print_variants(const Study& study) {
  std::size_t name_w = 7, label_w = 5;
  for (const auto& v : study.variants) name_w = std::max(name_w, v.name.size()), label_w = std::max(label_w, v.label.size());
  const std::vector<std::string>& marks = study.base.report.components;
  std::cout << std::right << std::setw(3) << "#" << "  " << pad("variant", name_w) << "  " << pad("label", label_w)
            << "  " << pad("hash", 16);
  for (const auto& m : marks) std::cout << "  " << pad(m, std::max<std::size_t>(3, m.size()));
  std::cout << "  overrides\n";
  for (const auto& v : study.variants) {
    std::cout << std::right << std::setw(3) << v.ordinal << "  " << pad(v.name, name_w) << "  " << pad(v.label, label_w)
              << "  " << v.hash;
    for (const auto& m : marks) {
      std::cout << "  " << pad(v.values.at(reports::component_key(m)).text == "true" ? "x" : ".", std::max<std::size_t>(3, m.size()));
    }
    std::cout << "  " << overrides_of(v) << "\n";
  }
  if (!study.design.empty()) std::cout << "\n" << design_matrix_text(study.design_spec, study.design_plan, study.design.masks);
}

}  // namespace

int verb_plan(const std::vector<std::string>& args) {
  po::options_description options = plan_options();
  po::positional_options_description positional;
  positional.add("study", 1);
  po::variables_map vm;
  if (!parse_args("plan", "ablate plan STUDY.toml [--set KEY=VALUE ...] [--db FILE] [--reuse STORE ...] [--no-reuse] [--explain [--variant NAME]] | ablate plan --keys [--update FILE]", options, positional, args, vm)) {
    return kExitOk;
  }
  if (vm["keys"].as<bool>()) {
    if (!vm["update"].as<std::string>().empty()) update_keys_markdown(vm["update"].as<std::string>());
    else std::cout << key_reference_markdown();
    return kExitOk;
  }
  if (!vm["update"].as<std::string>().empty()) throw UsageError("--update goes with --keys; see: ablate plan --help");
  if (!vm.count("study")) throw UsageError("a study file is required; see: ablate plan --help");
  const Study study = load_study(vm["study"].as<std::string>(),
                                 vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{});
  const auto& base = study.base.study;
  const int folds = base.split.empty() ? base.folds : 1;
  const std::string only = vm["variant"].as<std::string>();
  if (!only.empty() && !vm["explain"].as<bool>()) throw UsageError("--variant goes with --explain; see: ablate plan --help");
  if (vm["explain"].as<bool>()) {
    print_explain(study, only);
    return kExitOk;
  }

  const int array = study.base.resources.array;
  if (array > 0) {
    if (const std::string why = runner::array_refusal(study); !why.empty()) throw UsageError("[resources] array = " + std::to_string(array) + ": " + why);
  }
  print_protocol(study);
  if (study.search.adaptive()) {  // tpe: the trials are proposed during the run
    print_search(study, folds);
    return kExitOk;
  }
  print_variants(study);
  if (study.search.sampled()) {
    print_search(study, folds);
    return kExitOk;
  }
  const long tasks = static_cast<long>(study.variants.size()) * folds * base.repeats;
  std::cout << "\n" << study.variants.size() << " variant(s) x " << folds << " fold(s) x " << base.repeats
            << " repeat(s) = " << tasks << " task(s)\n";
  print_trainings(study, tasks);
  if (!vm["no-reuse"].as<bool>()) {
    print_reuse(study, vm["db"].as<std::string>(),
                vm.count("reuse") ? vm["reuse"].as<std::vector<std::string>>() : std::vector<std::string>{});
  }
  return kExitOk;
}

}  // namespace ablate::cli
