// Reports: the tables and figures of the papers recomputed from the store (docs/REPORTS.md).
//
//   comparison table   001 Table II: one row per variant, check-mark component columns, per study (and
//                      class) a column group of metrics; mean ± sd over folds (002 Table I) or pooled over
//                      cases; best bold, second underlined; paired significance marks against the baseline.
//   sensitivity        001 Fig. 5: metrics against one swept key (table and line plot).
//   model table        003 Table 6: parameters, inference time and the metrics per variant.
//   Pareto fronts      each metric against parameters and inference time: the front, its hypervolume.
//   box plots          002 Fig. 4: per-case distributions per variant × metric × class (data and SVG).
//   convergence        validation Dice per epoch per variant (SVG).
// Every writer is deterministic: the same StudyData gives byte-identical text.
//
// Contract (every header of reports/): functions of the StudyData values the caller read from the store (they
// never open one) and of ReportConfig; no global state, so any thread may call them, on distinct or shared
// const inputs. Missing or odd data never throw: a cell shows n/a and a note says why. What throws is the
// caller's input: std::invalid_argument for a layout that cannot be drawn (effective_config: an aggregate
// other than folds or cases, no metric; write_report: an unknown format), std::runtime_error naming the
// file when write_report cannot create the folder or write a file.
#pragma once

#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ablations/config.hpp"
#include "db/rows.hpp"
#include "reports/statistics.hpp"

namespace ablate::reports {

// ---- layout ----------------------------------------------------------------------------------------

// The [report] section of a study as stored in its provenance: the report.* keys of "study_resolved"
// (the resolved configuration the coordinator stores, includes already applied), so that included
// files edited or removed since the run do not matter. Stores written before "study_resolved" existed
// fall back to "study_text" (anchored at "study_file"), read with ablate::load_study_text; when that
// fails (e.g. an include that no longer resolves) the [report] table alone is read from the text.
// Defaults when neither is stored. Each fallback adds a line to `notes` (may be null).
ReportConfig report_config_of(const db::StudyData& study, std::vector<std::string>* notes);

// ---- notes -----------------------------------------------------------------------------------------

// A note about many variants (or tasks) for one cause (docs/REPORTS.md "Notes"): one line per cause with
// the count in `cause` and the names after it. Text outputs (Markdown, LaTeX, the CLI) print the line; HTML
// prints the cause and the names in a collapsed <details>.
struct NoteList {
  std::string cause;               // "study 's': 8 variants were stopped early at a rung ..."
  std::vector<std::string> names;  // "alpha0.1 at epoch 1", ...
};
// Appends the note's line (`cause: name, name, ...`) to `notes` and keeps its names for HTML in `lists`.
void add_note_list(std::vector<std::string>& notes, std::map<std::string, NoteList>& lists, const NoteList& note);
// <ul class="notes"> of the notes, each once, in order; a note of `lists` with its names in a <details>; ""
// without notes.
std::string notes_html(const std::vector<std::string>& notes, const std::map<std::string, NoteList>& lists);

// ---- significance ----------------------------------------------------------------------------------

struct SignificanceRow {
  std::string study;
  int cls = 1;
  std::string metric;
  std::string variant, baseline;
  // "case": one pair per case id, each side the mean of the case's rows over the repeats that both have
  // (matched by (fold, repeat, case)); "fold": one pair per (fold, repeat), where a side has no case rows.
  std::string unit;
  std::size_t n = 0;  // pairs: cases ("case") or (fold, repeat)s ("fold")
  double mean_difference = 0;  // variant - baseline, stored units
  WilcoxonResult wilcoxon;
  TTestResult t_test;
  double wilcoxon_p_holm = 0, t_p_holm = 0;  // Holm over the variants of one (study, class, metric)
  // +1: the variant is better than the baseline, -1: worse, 0: neither. Read from the Wilcoxon
  // statistic against its null mean n(n+1)/4 (V above it: the differences variant - baseline tend to be
  // positive) and the metric's direction (metric_higher_is_better).
  int direction = 0;
};
// Paired tests of every non-baseline variant against the baseline, per study × class × metric of the
// table. Pairs are per case (subject) when both have per-case rows, its repeats averaged, else per
// (fold, repeat) (SignificanceRow::unit).
std::vector<SignificanceRow> significance_tests(const std::vector<db::StudyData>& studies, const ReportConfig& config,
                                                std::vector<std::string>* notes);
std::string significance_csv(const std::vector<SignificanceRow>& rows);
// Mark of a Holm-adjusted Wilcoxon p-value and the direction of the difference: a variant better than
// the baseline gets "**" below 0.01 and "*" below 0.05; a worse one "††" and "†"; "" otherwise.
std::string significance_mark(double p_holm, int direction);

// ---- comparison table ------------------------------------------------------------------------------

struct Cell {
  MeanSd stats;               // in display units (percent applied)
  std::string value;          // "67.80 ± 1.20" style text without marks; "n/a" when missing
  int rank = 0;               // 1 = best of its column (bold), 2 = second (underlined), 0 = neither
  std::string mark;           // significance mark against the baseline (significance_mark)
  double p_holm = 0;          // NaN when not tested
  // The paper's mean in display units, where [[report.published]] gives one (reports/reproduction.hpp);
  // NaN otherwise. published_inside: 1 inside our 95 % interval, 0 outside, -1 no interval.
  double published = std::numeric_limits<double>::quiet_NaN();
  int published_inside = -1;
};
struct ColumnGroup {
  std::string study;
  int cls = 1;
  std::string dataset;     // report.dataset of the study, or its name
  std::string class_name;  // report.class_names[cls - 1], or "class k"
  // dataset, with " (class name)" when the study has several classes or names this one; shown above
  // the group's columns (Markdown: before each metric when there are several groups or the title was
  // configured).
  std::string title;
};
struct Column {
  std::size_t group = 0;
  std::string metric;
  bool higher_is_better = true;
};
struct TableRow {
  std::string variant;
  std::string label;   // with " [GPU]" or " [CPU+GPU]" after it where the table mixes devices (device_legend)
  std::string device;  // where its results were trained: "cpu", "gpu", "cpu+gpu"; "" when not recorded
  std::vector<bool> components;  // one per ComparisonTable::components
  bool baseline = false;
};
// A trivial predictor's scores (ablations/task.hpp trivial_predictors: every voxel background, every
// voxel foreground) on the same test cases as the variants, shown under them as the floor that a network
// that learnt clears; never ranked or tested. Only where the store has them (evaluations since they exist).
struct TrivialRow {
  std::string predictor;    // all_background | all_foreground
  std::string label;        // "all background (trivial)"
  std::vector<Cell> cells;  // per column; "n/a" where the metric has no trivial score (distances)
};
// How far above both trivial predictors a variant's DSC must be for the report to call it learnt: 5 points
// of DSC (0.05). Below it, on every row of a column, the table notes that no variant learnt.
constexpr double kLearntDiceMargin = 0.05;

struct ComparisonTable {
  std::vector<std::string> components;  // component keys as configured (display: component_display)
  std::vector<ColumnGroup> groups;
  std::vector<Column> columns;
  std::vector<TableRow> rows;
  std::vector<std::vector<Cell>> cells;  // [row][column]
  std::vector<TrivialRow> trivial;       // under the rows, where the store has them
  std::string aggregate;                  // folds | cases
  int decimals = 2;
  bool percent = true;
  std::string baseline;                   // variant name
  std::vector<std::string> notes;         // messages about missing data and fallbacks
  std::map<std::string, NoteList> note_lists;  // the notes (by their line) that list many variants
  // With published values (mark_published): the legend's sentence about them, and whether LaTeX shows
  // them as a column group of their own (report.published_columns) rather than beside each cell.
  std::string published_legend;
  bool published_columns = false;
  // Where rows come from a GPU (docs/REPORTS.md "Devices"): the legend's sentence about the devices, and
  // the CSV's `device` column; "" for a table whose rows all come from the CPU (its bytes stay as they were).
  std::string device_legend;
};
ComparisonTable comparison_table(const std::vector<db::StudyData>& studies, const ReportConfig& config,
                                 const std::vector<SignificanceRow>& significance);

std::string render_markdown(const ComparisonTable& table);
std::string render_latex(const ComparisonTable& table);   // booktabs tabular, needs amssymb for \checkmark
std::string render_csv(const ComparisonTable& table);     // tidy long: one line per row × column
std::string render_html(const ComparisonTable& table);    // a <table> element

// A column of the sensitivity and model tables: one report metric of one class. Every class that
// stores a report metric gets its columns.
struct ClassMetric {
  int cls = 1;
  std::string metric;
  std::string title;  // metric_display, after the class name where the class is shown ("pancreas DSC")
};

// ---- sensitivity (001 Fig. 5) ----------------------------------------------------------------------

struct SensitivityPoint {
  double x = 0;
  std::string variant;
  std::vector<MeanSd> metrics;  // per SensitivityTable::columns, display units
};
struct SensitivitySeries {
  std::string label;  // the keys (besides the swept one) that set this series apart; "" for one series
  std::vector<SensitivityPoint> points;  // ascending x
};
struct SensitivityTable {
  std::string study, key;
  std::vector<ClassMetric> columns;
  std::vector<SensitivitySeries> series;
  int decimals = 2;
};
// Empty series when no variant has a numeric value for the key.
SensitivityTable sensitivity_table(const db::StudyData& study, const ReportConfig& config, const std::string& key);
std::string render_sensitivity_markdown(const SensitivityTable& table);
std::string render_sensitivity_csv(const SensitivityTable& table);
std::string sensitivity_svg(const SensitivityTable& table);

// ---- parameters / inference time / metrics (003 Table 6) -------------------------------------------

std::string render_model_markdown(const db::StudyData& study, const ReportConfig& config);
std::string render_model_csv(const db::StudyData& study, const ReportConfig& config);

// ---- accuracy against cost: Pareto fronts (003 Table 6 as a trade-off) ------------------------------

// One reported metric (and class) against one model fact, over a study's variants: each variant with both
// values (mean over its folds in display units; parameters in millions, inference in ms per case) is a
// point; `front` marks the non-dominated ones (sweeps::pareto_front, each objective in its direction:
// sweeps::objective_direction). The hypervolume is that of the points against `reference`, the
// sweeps::reference_point of the panel's points (each objective's worst value plus a tenth of its range),
// in units of cost × metric.
struct ParetoPoint {
  std::string variant, label;
  double cost = std::numeric_limits<double>::quiet_NaN(), value = std::numeric_limits<double>::quiet_NaN();
  bool front = false;
};
struct ParetoPanel {
  ClassMetric column;
  std::string cost;        // "params" | "inference_ms" (sweeps::model_fact_names)
  std::string cost_title;  // "Parameters (M)" | "Inference (ms/case)"
  std::vector<ParetoPoint> points;  // in the study's variant order
  double reference_cost = std::numeric_limits<double>::quiet_NaN(), reference_value = std::numeric_limits<double>::quiet_NaN();
  double hypervolume = std::numeric_limits<double>::quiet_NaN();  // NaN without points
};
// Per reported metric column: against parameters, then against inference time.
std::vector<ParetoPanel> pareto_panels(const db::StudyData& study, const ReportConfig& config);
// Per panel: its hypervolume with the reference point stated, and the table of its non-dominated variants.
std::string render_pareto_markdown(const std::vector<ParetoPanel>& panels, int decimals);
// Every point of every panel (tidy CSV): study, cost, class, metric, variant, label, cost value, value, front.
std::string render_pareto_csv(const std::string& study, const std::vector<ParetoPanel>& panels);
// The panels side by side: non-dominated variants in colour with their labels, dominated ones grey, the
// front as a step line (the boundary of what it dominates).
std::string pareto_svg(const std::string& title, const std::vector<ParetoPanel>& panels);

// ---- box plots (002 Fig. 4) and convergence --------------------------------------------------------

struct BoxRow {
  std::string study, variant, label, metric;
  int cls = 1;
  std::string class_name;    // report.class_names[cls - 1], or "class k"
  std::string title;         // panel title: "DSC", or "pancreas DSC" where the study has several classes or
                             // names this one
  std::size_t variant_index = 0;  // position of the variant in the study's variant order: its colour
  BoxStats stats;  // stored units
};
// From the per-case rows: one row per variant (study order) × metric (display order) × class. A case
// is one subject: its values over the repeats (one per repeat, each repeat tests every case once) are
// averaged first, so that n is the number of cases, not cases × repeats. Class names from the study's
// own stored [report].
std::vector<BoxRow> box_rows(const db::StudyData& study);
std::string box_csv(const std::vector<BoxRow>& rows);
std::string box_json(const std::vector<BoxRow>& rows);
// One panel per metric (and class), the variants side by side; a variant's colour is the same in
// every panel (BoxRow::variant_index), whichever variants a panel lacks.
std::string box_svg(const std::string& title, const std::vector<BoxRow>& rows);
// Validation Dice per epoch per variant (mean over folds and repeats), and its data as tidy CSV.
std::string convergence_svg(const db::StudyData& study);
std::string convergence_csv(const db::StudyData& study);

// ---- everything ------------------------------------------------------------------------------------

struct ReportOptions {
  bool use_config = false;  // take `config` as given instead of the first study's [report]
  ReportConfig config;
  // Overrides applied on top of the study's [report] (empty/negative = keep).
  std::vector<std::string> metrics;
  std::string aggregate;
  std::string sweep_key;
  std::vector<std::string> formats = {"md", "tex", "csv", "html"};  // of table.*; html also writes report.html
  // `ablate report --published FILE`: that study file's [report] (as loaded, includes applied). Its
  // published tables replace the stored ones; its dataset and class names fill empty stored ones. For
  // stores whose study carried no published values when it ran, or whose study text no longer reads.
  std::optional<ReportConfig> published;
  std::string published_file;  // named in the report's note
};
struct ReportResult {
  std::string markdown;            // the comparison table in Markdown
  std::string html_path;           // report.html ("" when html was not asked for)
  std::vector<std::string> files;  // every file written, sorted
  std::vector<std::string> notes;
};
// Writes every artefact into out_dir (created). Throws std::runtime_error naming the file when a file
// cannot be written; missing data never throws (n/a and a note).
ReportResult write_report(const std::vector<db::StudyData>& studies, const ReportOptions& options,
                          const std::string& out_dir);
// The layout write_report uses: options.config, or the first study's [report] with the overrides.
ReportConfig effective_config(const std::vector<db::StudyData>& studies, const ReportOptions& options,
                              std::vector<std::string>* notes);

}  // namespace ablate::reports
