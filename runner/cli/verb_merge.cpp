// ablate merge A.sqlite B.sqlite ... --into C.sqlite [--prefer newest|first]: the studies of several stores
// in one (db/merge.hpp has the rules; docs/RUNNER.md "Merging stores").
#include <iostream>

#include "db/merge.hpp"
#include "runner/cli/cli.hpp"

namespace ablate::cli {

int verb_merge(const std::vector<std::string>& args) {
  po::options_description options("ablate merge");
  options.add_options()("into", po::value<std::string>(), "the store to write (replaced atomically; an existing one is merged too)")(
      "prefer", po::value<std::string>()->default_value(""),
      "a task done in several stores with different results: keep the one that ended last (newest) or the first store's (first); default: refuse")(
      "stores", po::value<std::vector<std::string>>()->multitoken(), "the stores to merge");
  options.add(common_options());
  po::positional_options_description positional;
  positional.add("stores", -1);
  po::variables_map vm;
  if (!parse_args("merge", "ablate merge STORE... --into FILE [--prefer newest|first]", options, positional, args, vm)) return kExitOk;
  if (!vm.count("into")) throw UsageError("missing --into FILE");
  if (!vm.count("stores")) throw UsageError("no store to merge: name one or more stores before --into");
  const std::string prefer = vm["prefer"].as<std::string>();
  if (!prefer.empty() && prefer != "newest" && prefer != "first") {
    throw UsageError("--prefer " + prefer + ": allowed are newest and first");
  }
  const db::Prefer p = prefer == "newest" ? db::Prefer::kNewest : prefer == "first" ? db::Prefer::kFirst : db::Prefer::kRefuse;
  const std::string into = vm["into"].as<std::string>();
  db::MergeSummary s;
  try {
    s = db::merge_stores(vm["stores"].as<std::vector<std::string>>(), into, p);
  } catch (const db::MergeError& e) {
    throw UsageError(e.what());
  }
  std::cout << "merged " << s.sources << " store(s) into " << into << ": " << s.studies << " stud" << (s.studies == 1 ? "y" : "ies")
            << ", " << s.tasks << " task(s), " << s.done << " done";
  if (s.duplicates) std::cout << "; " << s.duplicates << " found in several stores with identical results, kept once";
  if (s.conflicts_resolved) std::cout << "; " << s.conflicts_resolved << " with different results, kept by --prefer " << prefer;
  std::cout << "\n";
  return kExitOk;
}

}  // namespace ablate::cli
