// The numbers a study's paper publishes, beside which a report puts ours ([[report.published]],
// docs/REPORTS.md "Reproduction"). A study writes them as TOML tables:
//
//   [[report.published]]
//   source = "001 Table II"     # shown in the report
//   dataset = "MSD"             # the column group the table belongs to ("" = the report's first group)
//   class = "liver"             # optional: the class (organ) of the group, a name of report.class_names or
//                               # "class k"; "" = the dataset's first class (002 Table I: one table per organ)
//   scale = "percent"           # percent | ratio: how the paper prints the overlap metrics
//   [report.published.values]   # row (a variant's label or name) -> metric -> published mean
//   "U-Net" = { dice = 65.35, sensitivity = 70.74, precision = 77.56 }
//   # [report.published.sd]     # the same shape, where the paper prints a spread
//
// One parser reads them wherever they come from (published.cpp): a study file and its includes (the
// loader), a `--published` study file (`ablate report`, through the loader), a stored study text read
// without its includes (published_in_document) and the one-line form (parse_published). Its rules:
// the keys source, dataset, class, scale, values, sd and no other (did-you-mean for a misspelt one);
// source and values required; scale percent | ratio; metrics those of published_metrics(); every value
// a finite number >= 0; sd only where values has the mean; no cell (dataset, class, row, metric)
// published by two tables. Each problem is a Diagnostic located at the key or value (file:line:column)
// naming the key path (`report.published[2].values.U-Net.dice`) and what is allowed.
//
// The loader keeps the tables, like every key, as one resolved value: published_text's one line of
// TOML, which is what ReportConfig::published holds and what the store keeps in the resolved
// configuration. They never enter the variant hash.
//
// Thread safety: pure functions of their arguments; safe from any thread.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ablations/diagnostic.hpp"

namespace ablate {

struct PublishedTable {
  std::string source;
  std::string dataset;
  // The class of the column group: report.class_names[k - 1] or "class k"; "" = the first group of the
  // dataset (whatever its class). Written as `class` in TOML.
  std::string class_name;
  std::string scale = "percent";
  // row key (variant label or name) -> metric -> value; sd rows are a subset of values rows.
  std::map<std::string, std::map<std::string, double>> values;
  std::map<std::string, std::map<std::string, double>> sd;
};

// Metrics a published table may give: the choices of report.metrics (the 3D metrics and their per-slice
// forms) and `params`, the parameter count in millions (003 Table 6; ours from the stored model facts).
const std::vector<std::string>& published_metrics();

// One line of TOML, an inline array of inline tables; "" for no table. parse_published reads it back.
std::string published_text(const std::vector<PublishedTable>& tables);
// Reads published_text's form; "" gives no table. Throws SpecError with every problem (file
// "<report.published>", the key path naming table, row and metric).
std::vector<PublishedTable> parse_published(const std::string& text);
// The report.published tables of a TOML document (a study text, read without its includes, or a resolved
// configuration), read by the loader's parser but without its checks against the variants and classes;
// none when it has no report.published. For stored study texts that no longer load as a whole. Throws
// SpecError with every problem located in `file`.
std::vector<PublishedTable> published_in_document(const std::string& text, const std::string& file);

// The note for the rows of `table` (its values) that have no variant: "7 of 10 published rows of 001
// Table II (MSD) have no variant in this study: U-Net+SC, ..." (dataset and class in parentheses where
// the table names them). The loader (Study::notes, `ablate plan`) and
// the report's reproduction section both print this line.
std::string unmatched_rows_note(const PublishedTable& table, const std::vector<std::string>& unmatched);

}  // namespace ablate
