// `ablate report --db FILE --study NAME [--study NAME2 ...] --out DIR`: every table and figure of
// docs/REPORTS.md recomputed from the store; prints the Markdown comparison table and the path of
// report.html.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "ablations/study.hpp"
#include "db/rows.hpp"
#include "reports/format.hpp"
#include "reports/report.hpp"
#include "runner/cli/cli.hpp"

namespace ablate::cli {

namespace {
std::vector<std::string> split_list(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    std::stringstream s(v);
    std::string item;
    while (std::getline(s, item, ','))
      if (!item.empty()) out.push_back(item);
  }
  return out;
}
}  // namespace

int verb_report(const std::vector<std::string>& args) {
  po::options_description options("ablate report");
  options.add_options()("db", po::value<std::string>(), "store file (SQLite) written by `ablate run`")(
      "study", po::value<std::vector<std::string>>()->composing(),
      "study to report; repeat for several studies side by side (default: every study of the store)")(
      "out", po::value<std::string>(), "output folder (created)")(
      "format", po::value<std::vector<std::string>>()->composing(),
      "table formats, comma separated: md, tex, csv, html (default: all; html also writes report.html)")(
      "aggregate", po::value<std::string>(), "folds (mean ± sd over folds) or cases (pooled over cases); default: the study's report.aggregate")(
      "metrics", po::value<std::vector<std::string>>()->multitoken()->composing(),
      "metrics of the column groups (comma or space separated); default: the study's report.metrics")(
      "sweep-key", po::value<std::string>(), "swept key for the sensitivity table and curve, e.g. loss.alpha")(
      "published", po::value<std::string>(),
      "study file whose [[report.published]] tables (includes applied, checked as `ablate plan` checks them) replace "
      "the stored ones: for stores of runs before the study carried them or whose stored study text no longer reads");
  options.add(common_options());
  po::positional_options_description positional;
  po::variables_map vm;
  if (!parse_args("report",
                  "ablate report --db FILE [--study NAME [--study NAME2 ...]] --out DIR [--format md,tex,csv,html] "
                  "[--published STUDY_FILE]",
                  options, positional, args, vm))
    return kExitOk;
  setup_logging(vm);
  if (!vm.count("db")) throw UsageError("--db FILE is required; see: ablate report --help");
  if (!vm.count("out")) throw UsageError("--out DIR is required; see: ablate report --help");
  const std::string db_path = vm["db"].as<std::string>();
  if (!std::filesystem::exists(db_path)) throw UsageError("store file " + db_path + " does not exist");

  reports::ReportOptions opts;
  if (vm.count("format")) opts.formats = split_list(vm["format"].as<std::vector<std::string>>());
  for (const auto& f : opts.formats)
    if (f != "md" && f != "tex" && f != "csv" && f != "html")
      throw UsageError("--format '" + f + "' is not one of: md, tex, csv, html");
  if (vm.count("aggregate")) {
    opts.aggregate = vm["aggregate"].as<std::string>();
    if (opts.aggregate != "folds" && opts.aggregate != "cases")
      throw UsageError("--aggregate '" + opts.aggregate + "' is not one of: folds, cases");
  }
  if (vm.count("metrics")) opts.metrics = split_list(vm["metrics"].as<std::vector<std::string>>());
  if (vm.count("sweep-key")) opts.sweep_key = vm["sweep-key"].as<std::string>();
  if (vm.count("published")) {
    // Loaded as every study file is: a bad table, an unknown row or class is a located error (exit 2).
    const std::string file = vm["published"].as<std::string>();
    const Study from = load_study(file);
    if (from.base.report.published.empty())
      throw UsageError("--published " + file + ": the study has no [[report.published]] tables");
    opts.published = from.base.report;
    opts.published_file = file;
  }

  const std::vector<std::string> stored = db::list_studies(db_path);
  std::vector<std::string> names;
  if (vm.count("study")) names = vm["study"].as<std::vector<std::string>>();
  for (const auto& n : names) {
    if (std::find(stored.begin(), stored.end(), n) != stored.end()) continue;
    std::string list;
    for (const auto& s : stored) list += (list.empty() ? "" : ", ") + s;
    throw UsageError("study '" + n + "' is not in the store " + db_path + " (studies: " + (list.empty() ? "none" : list) + ")");
  }
  if (names.empty()) names = stored;
  if (names.empty()) std::cerr << "ablate report: the store " << db_path << " holds no study; the table says n/a\n";
  std::vector<db::StudyData> studies;
  for (const auto& name : names) studies.push_back(db::load_study_data(db_path, name));

  const reports::ReportResult result = reports::write_report(studies, opts, vm["out"].as<std::string>());
  for (const auto& n : result.notes) std::cerr << "ablate report: note: " << reports::one_line(n) << '\n';
  std::cout << result.markdown;
  if (!result.html_path.empty()) std::cout << "\nreport: " << result.html_path << '\n';
  return kExitOk;
}

}  // namespace ablate::cli
