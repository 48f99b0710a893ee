// Internal to reports/: the metric rows of one study grouped by (variant, class, metric), sorted by
// (fold, repeat[, case]) so that sums, pairings and outputs do not depend on the row order of the store.
//
// Contract: a StudyIndex is built from, and keeps pointers into, the StudyData it was made from: that data
// must outlive it and stay unchanged. Once built it is only read, so any thread may read it; as the rest of
// reports/, odd or missing data give n/a, never an exception.
#pragma once

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "ablations/config.hpp"
#include "db/rows.hpp"
#include "reports/report.hpp"

namespace ablate::reports {

struct FoldKey {
  int fold = 0, repeat = 0;
  bool operator<(const FoldKey& o) const { return std::tie(fold, repeat) < std::tie(o.fold, o.repeat); }
  bool operator==(const FoldKey& o) const { return fold == o.fold && repeat == o.repeat; }
};
struct CaseKey {
  int fold = 0, repeat = 0;
  std::string case_id;
  bool operator<(const CaseKey& o) const {
    return std::tie(fold, repeat, case_id) < std::tie(o.fold, o.repeat, o.case_id);
  }
  bool operator==(const CaseKey& o) const { return fold == o.fold && repeat == o.repeat && case_id == o.case_id; }
};
struct GroupKey {
  std::string variant;
  int cls = 1;
  std::string metric;
  bool operator<(const GroupKey& o) const {
    return std::tie(variant, cls, metric) < std::tie(o.variant, o.cls, o.metric);
  }
  bool operator==(const GroupKey& o) const { return cls == o.cls && variant == o.variant && metric == o.metric; }
};
struct Series {
  std::vector<std::pair<FoldKey, double>> folds;
  std::vector<std::pair<CaseKey, double>> cases;
};

// A case (subject) is tested once per repeat (in the fold that holds it in that repeat's split), so its
// rows of several repeats are repeated measurements of one subject, not independent samples. Where the
// unit is the case (box plots, the "cases" aggregate, the paired tests) it is counted once:
// case_means gives the mean of each case's rows, in case-id order (a stable order: within a case the
// (fold, repeat) order of the sorted rows stays, so the sums do not depend on the store's row order).
std::vector<double> case_means(const std::vector<std::pair<CaseKey, double>>& rows);

// How a study is named in the tables and figures: report.dataset and report.class_names of its
// [report] (docs/REPORTS.md "Names").
struct StudyNames {
  std::string dataset;                   // report.dataset, or the study name when that is empty
  std::vector<std::string> class_names;  // report.class_names: classes 1, 2, ...
  // class_names[cls - 1] when given and not empty, else "class <cls>".
  std::string class_name(int cls) const;
  bool named(int cls) const;  // report.class_names has a non-empty name for the class
  // Whether titles name the class: the study reports several classes (n_classes > 1) or
  // report.class_names names this one.
  bool show_class(int cls, std::size_t n_classes) const { return n_classes > 1 || named(cls); }
  // "TCIA (pancreas)" where the class is shown, else "TCIA".
  std::string group_title(int cls, std::size_t n_classes) const;
};
StudyNames study_names(const std::string& study, const ReportConfig& config);

class StudyIndex {
 public:
  // `names` come from the study's [report]; see make_indexes.
  StudyIndex(const db::StudyData& data, StudyNames names);

  const db::StudyData& data() const { return *data_; }
  const Series* find(const std::string& variant, int cls, const std::string& metric) const;
  // Values for a table cell: aggregate "folds" = one value per (fold, repeat) (fold rows, or the mean of
  // the case rows of each fold when the study has no fold rows for it); "cases" = one value per case,
  // its mean over the repeats (case_means).
  std::vector<double> values(const std::string& variant, int cls, const std::string& metric,
                             const std::string& aggregate) const;
  // The same for a trivial predictor (ablations/task.hpp trivial_predictors) on `metric`: its per-case
  // rows, stored beside every variant's, are one value per (fold, repeat, case) whichever variant's
  // evaluation wrote them (the same test cases), so they are pooled over the variants.
  std::vector<double> trivial_values(const std::string& predictor, int cls, const std::string& metric,
                                     const std::string& aggregate) const;
  bool has_variant(const std::string& name) const;
  bool has_results(const std::string& variant) const;
  const std::set<int>& classes() const { return classes_; }
  // Classes that store any of `metrics`, ascending; {1} when none does (a table still has a column).
  std::vector<int> classes_with(const std::vector<std::string>& metrics) const;
  const StudyNames& names() const { return names_; }
  const std::set<std::string>& metrics() const { return metrics_; }
  const std::map<GroupKey, Series>& series() const { return series_; }
  // Variant label, or the name when the study has no such variant.
  std::string label(const std::string& variant) const;

 private:
  const db::StudyData* data_;
  std::map<GroupKey, Series> series_;
  // The trivial predictors' rows, GroupKey::variant = the predictor; kept out of metrics() and series().
  std::map<GroupKey, Series> trivial_;
  std::set<int> classes_;
  std::set<std::string> metrics_;
  std::set<std::string> with_results_;
  std::map<std::string, std::string> labels_;
  StudyNames names_;
};

// One index per study, indexes[i] for studies[i]. Names: the first study's from `config` (the layout in
// effect: its [report] with the command line's overrides, or the configuration a caller gave), every
// further study's from its own stored [report] (report_config_of).
std::vector<StudyIndex> make_indexes(const std::vector<db::StudyData>& studies, const ReportConfig& config);

// Variant order of the reports: report.rows first, then every other variant in the order of the first
// study that has it (ordinal order). Names in report.rows that no study has are noted and skipped.
std::vector<std::string> variant_order(const std::vector<db::StudyData>& studies, const ReportConfig& config,
                                       std::vector<std::string>* notes);
// The same for one study (without copying it).
std::vector<std::string> variant_order(const db::StudyData& study, const ReportConfig& config);

// A metric's title in the per-study tables and box-plot panels: "pancreas DSC" where the class is shown
// (StudyNames::show_class), else "DSC".
std::string metric_title(const std::string& metric, const StudyNames& names, int cls, std::size_t n_classes);

// Mean ± sd of a table cell in display units: the values of config.aggregate, in percent where
// report.percent shows the metric so (metric_is_ratio).
MeanSd display_stats(const StudyIndex& index, const std::string& variant, int cls, const std::string& metric,
                     const ReportConfig& config);

// The same for a trivial predictor (StudyIndex::trivial_values).
MeanSd trivial_display_stats(const StudyIndex& index, const std::string& predictor, int cls,
                             const std::string& metric, const ReportConfig& config);

// The columns of the per-study tables: every class that stores one of `metrics` × `metrics`.
std::vector<ClassMetric> class_metrics(const StudyIndex& index, const std::vector<std::string>& metrics);

// The paired test of one variant against another (the "baseline" side) on one class and metric, as
// significance_tests runs it (per case, else per (fold, repeat)); the Holm fields are NaN (the caller
// adjusts over its own family). Without rows on either side: n = 0 and NaN p-values.
SignificanceRow paired_test(const StudyIndex& index, const std::string& variant, const std::string& baseline, int cls,
                            const std::string& metric);

// CPU vs GPU (docs/REPORTS.md "Devices"): where the rows of one table were trained, from
// StudyData::devices over the studies that have each variant. A table whose rows all come from the CPU
// (or record no device) gets nothing, so CPU-only reports keep their bytes; one whose rows all come from a
// GPU gets the legend alone; one that mixes devices marks each row trained, wholly or partly, on a GPU.
struct DeviceMarks {
  std::map<std::string, std::string> device;  // variant -> "cpu" | "gpu" | "cpu+gpu"; absent: not recorded
  std::map<std::string, std::string> mark;    // variant -> " [GPU]" | " [CPU+GPU]", after its label
  std::string legend;                         // the sentence that says so; "" when no row comes from a GPU
};
DeviceMarks device_marks(const std::vector<const db::StudyData*>& studies, const std::vector<std::string>& variants);
// The comparison table's rows get their device, their mark and the table its device_legend.
void mark_devices(ComparisonTable& table, const std::vector<db::StudyData>& studies);
// The device legend of a study's model table (and its Pareto panels): "" when every row comes from the CPU.
std::string model_device_legend(const StudyIndex& index, const ReportConfig& config);

// The public functions of report.hpp on indexes built once (write_report shares one index per study);
// indexes[i] indexes studies[i].
std::vector<SignificanceRow> significance_tests(const std::vector<db::StudyData>& studies,
                                                const std::vector<StudyIndex>& indexes, const ReportConfig& config,
                                                std::vector<std::string>* notes);
ComparisonTable comparison_table(const std::vector<db::StudyData>& studies, const std::vector<StudyIndex>& indexes,
                                 const ReportConfig& config, const std::vector<SignificanceRow>& significance);
std::vector<BoxRow> box_rows(const StudyIndex& index);
SensitivityTable sensitivity_table(const StudyIndex& index, const ReportConfig& config, const std::string& key);
std::string render_model_markdown(const StudyIndex& index, const ReportConfig& config);
std::string render_model_csv(const StudyIndex& index, const ReportConfig& config);
std::vector<ParetoPanel> pareto_panels(const StudyIndex& index, const ReportConfig& config);

}  // namespace ablate::reports
