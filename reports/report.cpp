// Layout from the stored study text, and write_report: every artefact of docs/REPORTS.md into one folder.
#include "reports/report.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "ablations/published.hpp"
#include "ablations/study.hpp"
#include "reports/effects.hpp"
#include "reports/format.hpp"
#include "reports/reproduction.hpp"
#include "reports/search.hpp"
#include "reports/study_index.hpp"

namespace ablate::reports {

namespace fs = std::filesystem;

namespace {

// The [report] table alone, for study texts that no longer load as a whole (a missing include).
// `published_problem` says why the published tables could not be read ("" when they could).
ReportConfig report_section_only(const std::string& text, const std::string& file, std::string& published_problem) {
  ReportConfig c;
  toml::table doc;
  try {
    doc = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(std::string(e.description()));
  }
  const toml::table* r = doc["report"].as_table();
  if (!r) return c;
  auto strings = [&](const char* key, std::vector<std::string>& out) {
    if (const toml::array* a = (*r)[key].as_array()) {
      out.clear();
      for (const auto& e : *a)
        if (auto s = e.value<std::string>()) out.push_back(*s);
    }
  };
  strings("metrics", c.metrics);
  strings("components", c.components);
  strings("rows", c.rows);
  if (auto v = (*r)["decimals"].value<std::int64_t>()) c.decimals = static_cast<int>(std::clamp<std::int64_t>(*v, 0, 10));
  if (auto v = (*r)["percent"].value<bool>()) c.percent = *v;
  if (auto v = (*r)["baseline"].value<std::string>()) c.baseline = *v;
  if (auto v = (*r)["aggregate"].value<std::string>()) c.aggregate = *v == "cases" ? "cases" : "folds";
  if (auto v = (*r)["sweep_key"].value<std::string>()) c.sweep_key = *v;
  if (auto v = (*r)["dataset"].value<std::string>()) c.dataset = *v;
  strings("class_names", c.class_names);
  if (auto v = (*r)["published_columns"].value<bool>()) c.published_columns = *v;
  // The paper's numbers, as written in this file (a base file's, lost with the include, are not here).
  try {
    c.published = published_text(published_in_document(text, file));
  } catch (const std::exception& e) {
    published_problem = e.what();
  }
  return c;
}

// The report.* lines of a stored resolved configuration (ablate::resolved_text: one "key = literal"
// line per key, includes already applied). Only those lines are parsed: a key of another section that
// a later schema dropped or renamed must not cost the layout.
ReportConfig resolved_report(const std::string& resolved) {
  std::string lines;
  for (const auto& [key, literal] : canonical_values(resolved))
    if (key.rfind("report.", 0) == 0) lines += key + " = " + literal + "\n";
  return parse_canonical(lines).report;
}

std::string first_line(const std::string& text) {
  const std::string line = text.substr(0, text.find('\n'));
  return line.rfind("error: ", 0) == 0 ? line.substr(7) : line;
}

void write_file(const fs::path& path, const std::string& text, std::vector<std::string>& files) {
  write_text_file(path.string(), text);
  files.push_back(path.string());
}

// A pipe table as written by the Markdown renderers -> an HTML table.
std::string markdown_table_to_html(const std::string& md) {
  std::istringstream in(md);
  std::string line;
  std::ostringstream o;
  int row = 0;
  o << "<table class=\"cmp\">\n";
  while (std::getline(in, line)) {
    if (line.size() < 2 || line[0] != '|') continue;
    ++row;
    if (row == 2) continue;  // alignment line
    std::vector<std::string> cells;
    std::string cur;
    for (std::size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '|') {
        cur += '|', ++i;
      } else if (line[i] == '|') {
        cells.push_back(cur), cur.clear();
      } else {
        cur += line[i];
      }
    }
    o << "<tr>";
    for (auto& c : cells) {
      const auto b = c.find_first_not_of(' '), e = c.find_last_not_of(' ');
      c = b == std::string::npos ? "" : c.substr(b, e - b + 1);
      const char* tag = row == 1 ? "th" : "td";
      o << '<' << tag << '>' << html_escape(c) << "</" << tag << '>';
    }
    o << "</tr>\n";
  }
  o << "</table>\n";
  return o.str();
}

// Paragraphs and pipe tables separated by blank lines (render_pareto_markdown) -> HTML; a paragraph's
// leading **title** becomes <strong>.
std::string markdown_to_html(const std::string& md) {
  std::ostringstream o;
  std::size_t at = 0;
  while (at < md.size()) {
    std::size_t end = md.find("\n\n", at);
    if (end == std::string::npos) end = md.size();
    const std::string block = md.substr(at, end - at);
    at = end + 2;
    if (block.empty()) continue;
    if (block[0] == '|') {
      o << markdown_table_to_html(block);
      continue;
    }
    std::string text = block;
    if (text.rfind("**", 0) == 0) {
      const auto close = text.find("**", 2);
      if (close != std::string::npos) {
        o << "<p><strong>" << html_escape(text.substr(2, close - 2)) << "</strong>" << html_escape(text.substr(close + 2)) << "</p>\n";
        continue;
      }
    }
    o << "<p>" << html_escape(text) << "</p>\n";
  }
  return o.str();
}

// `searches`: every reported study is a search, whose comparison is its ranked trials.
std::string significance_html(const std::vector<SignificanceRow>& rows, bool searches) {
  if (rows.empty() && searches) {
    return "<p class=\"na\">n/a: a search ranks its trials by the validation objective (<a href=\"#search\">Search</a>); "
           "no trial is tested against another</p>\n";
  }
  if (rows.empty()) return "<p class=\"na\">n/a: no paired comparison against a baseline</p>\n";
  std::ostringstream o;
  o << "<table class=\"cmp\">\n<tr><th>Study</th><th>Class</th><th>Metric</th><th>Variant</th><th>Baseline</th>"
       "<th>Paired by</th><th>n</th><th>Mean diff.</th><th>Wilcoxon V</th><th>p</th><th>p (Holm)</th>"
       "<th>t</th><th>df</th><th>p</th><th>p (Holm)</th></tr>\n";
  for (const auto& r : rows) {
    o << "<tr><td>" << html_escape(r.study) << "</td><td>" << r.cls << "</td><td>" << html_escape(r.metric)
      << "</td><td>" << html_escape(r.variant) << "</td><td>" << html_escape(r.baseline) << "</td><td>" << r.unit
      << "</td><td class=\"num\">" << r.n << "</td><td class=\"num\">" << fixed(r.mean_difference, 4)
      << "</td><td class=\"num\">" << number(r.wilcoxon.statistic) << (r.wilcoxon.exact ? "" : " (normal)")
      << "</td><td class=\"num\">" << number(r.wilcoxon.p) << "</td><td class=\"num\">" << number(r.wilcoxon_p_holm)
      << significance_mark(r.wilcoxon_p_holm, r.direction) << "</td><td class=\"num\">" << fixed(r.t_test.t, 3)
      << "</td><td class=\"num\">" << number(r.t_test.df) << "</td><td class=\"num\">" << number(r.t_test.p)
      << "</td><td class=\"num\">" << number(r.t_p_holm) << "</td></tr>\n";
  }
  o << "</table>\n";
  return o.str();
}

const char* kCss = R"(body{font-family:Helvetica,Arial,sans-serif;margin:2em auto;max-width:1400px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table.cmp{border-collapse:collapse;margin:1em 0;font-size:.9em}
table.cmp th,table.cmp td{padding:.25em .6em;border-bottom:1px solid #e4e4e4}
table.cmp thead tr:first-child th{border-bottom:1px solid #999}
table.cmp td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.cmp td.chk{text-align:center}table.cmp .grp{border-left:1px solid #bbb}
table.cmp td.na{color:#999}tr.baseline td.label{font-style:italic}
p.legend{font-size:.85em;color:#555}ul.notes{color:#8a4b00;font-size:.9em}tr.pruned td{color:#777}
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:.85em}
.svg{overflow-x:auto;margin:1em 0}nav a{margin-right:1em}
)";

}  // namespace

void add_note_list(std::vector<std::string>& notes, std::map<std::string, NoteList>& lists, const NoteList& note) {
  std::string line = note.cause + ":";
  for (std::size_t i = 0; i < note.names.size(); ++i) line += (i ? ", " : " ") + note.names[i];
  notes.push_back(line);
  lists[line] = note;
}

std::string notes_html(const std::vector<std::string>& notes, const std::map<std::string, NoteList>& lists) {
  if (notes.empty()) return "";
  std::ostringstream o;
  o << "<ul class=\"notes\">\n";
  std::set<std::string> seen;
  for (const auto& n : notes) {
    if (!seen.insert(n).second) continue;
    const auto list = lists.find(n);
    if (list == lists.end()) {
      o << "<li>" << html_escape(n) << "</li>\n";
      continue;
    }
    o << "<li>" << html_escape(list->second.cause) << " <details><summary>" << list->second.names.size()
      << " names</summary>";
    for (std::size_t i = 0; i < list->second.names.size(); ++i) o << (i ? ", " : "") << html_escape(list->second.names[i]);
    o << "</details></li>\n";
  }
  o << "</ul>\n";
  return o.str();
}

ReportConfig report_config_of(const db::StudyData& study, std::vector<std::string>* notes) {
  auto note = [&](const std::string& n) {
    if (notes) notes->push_back(n);
  };
  auto resolved = study.provenance.find("study_resolved");
  if (resolved != study.provenance.end() && !resolved->second.empty()) {
    try {
      return resolved_report(resolved->second);
    } catch (const std::exception& e) {
      note("study '" + study.study + "': the stored resolved configuration has an unreadable [report] key (" +
           first_line(e.what()) + "); the study text is read instead");
    }
  }
  auto text = study.provenance.find("study_text");
  if (text == study.provenance.end() || text->second.empty()) {
    note("study '" + study.study + "': no study text in the store's provenance; default [report] layout" +
         " (and no published values: a Reproduction section needs ablate report --published STUDY_FILE)");
    return ReportConfig{};
  }
  auto file_it = study.provenance.find("study_file");
  const std::string file = file_it != study.provenance.end() && !file_it->second.empty()
                               ? file_it->second
                               : "<stored text of study " + study.study + ">";
  try {
    return load_study_text(text->second, file).base.report;
  } catch (const std::exception& whole) {
    try {
      std::string published_problem;
      ReportConfig c = report_section_only(text->second, file, published_problem);
      note("study '" + study.study + "': the stored study text does not load as a whole (" +
           first_line(whole.what()) + "); its [report] section was read alone" +
           (!published_problem.empty()
                ? ", without its published values (" + first_line(published_problem) +
                      "; give them with ablate report --published STUDY_FILE)"
            : c.published.empty()
                ? std::string(", with no published values of its own (an included file's are not read; give them "
                              "with ablate report --published STUDY_FILE)")
                : std::string()));
      return c;
    } catch (const std::exception& e) {
      note("study '" + study.study + "': the stored study text cannot be parsed (" + e.what() +
           "); default [report] layout (and no published values: a Reproduction section needs ablate report "
           "--published STUDY_FILE)");
      return ReportConfig{};
    }
  }
}

ReportConfig effective_config(const std::vector<db::StudyData>& studies, const ReportOptions& options,
                              std::vector<std::string>* notes) {
  ReportConfig c = options.use_config || studies.empty() ? options.config : report_config_of(studies.front(), notes);
  if (options.published) {
    // `ablate report --published FILE`: the file's tables replace the stored ones (a store written
    // before the study carried them, or without a readable study text); the file's names of the dataset
    // and the classes fill the stored layout's empty ones, so that its tables find their column groups.
    c.published = options.published->published;
    if (c.dataset.empty()) c.dataset = options.published->dataset;
    if (c.class_names.empty()) c.class_names = options.published->class_names;
    if (notes)
      notes->push_back("the published values are those of " +
                       (options.published_file.empty() ? std::string("the given study file") : options.published_file) +
                       " (--published), not the store's");
  }
  if (!options.metrics.empty()) c.metrics = options.metrics;
  if (!options.aggregate.empty()) c.aggregate = options.aggregate;
  if (!options.sweep_key.empty()) c.sweep_key = options.sweep_key;
  if (c.aggregate != "folds" && c.aggregate != "cases")
    throw std::invalid_argument("aggregate '" + c.aggregate + "' is not one of: folds, cases");
  if (c.metrics.empty()) throw std::invalid_argument("no metric to report (report.metrics is empty)");
  return c;
}

namespace {

// The formats asked for, checked against the ones written.
struct Formats {
  const std::vector<std::string>& asked;
  bool wants(const char* f) const { return std::find(asked.begin(), asked.end(), f) != asked.end(); }
};
Formats checked_formats(const ReportOptions& options) {
  static const std::vector<std::string> kFormats = {"md", "tex", "csv", "html"};
  for (const auto& f : options.formats)
    if (std::find(kFormats.begin(), kFormats.end(), f) == kFormats.end())
      throw std::invalid_argument("format '" + f + "' is not one of: md, tex, csv, html");
  return Formats{options.formats};
}

// Everything computed across the studies before a file is written: the layout, the tests, the
// comparison table with the paper's numbers marked, and the notes found on the way.
struct Analysis {
  ReportConfig config;
  std::vector<StudyIndex> indexes;  // shared by every table and figure
  std::vector<SignificanceRow> significance;
  ComparisonTable table;
  Reproduction repro;
  std::vector<std::string> notes;
};
Analysis analyse(const std::vector<db::StudyData>& studies, const ReportOptions& options) {
  Analysis a;
  a.config = effective_config(studies, options, &a.notes);
  a.indexes = make_indexes(studies, a.config);
  a.significance = significance_tests(studies, a.indexes, a.config, &a.notes);
  a.table = comparison_table(studies, a.indexes, a.config, a.significance);
  // The paper's numbers beside ours (only where the study gives them: otherwise nothing changes).
  a.repro = reproduction(studies, a.indexes, a.config, a.table);
  mark_published(a.table, a.repro, a.config.published_columns);
  for (const auto& n : a.table.notes) a.notes.push_back(n);
  for (const auto& n : a.repro.notes) a.notes.push_back(n);
  return a;
}

fs::path output_folder(const std::string& out_dir) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec || !fs::is_directory(out_dir))
    throw std::runtime_error("cannot create output folder " + out_dir + ": " + ec.message());
  return fs::path(out_dir);
}

// The comparison table in each format asked, the significance tests and the reproduction check.
void write_tables(const fs::path& dir, const Analysis& a, const Formats& formats, ReportResult& result) {
  std::vector<std::string>& files = result.files;
  result.markdown = render_markdown(a.table);
  if (formats.wants("md")) write_file(dir / "table.md", result.markdown, files);
  if (formats.wants("tex")) write_file(dir / "table.tex", render_latex(a.table), files);
  if (formats.wants("csv")) write_file(dir / "table.csv", render_csv(a.table), files);
  if (formats.wants("html")) {
    write_file(dir / "table.html",
               "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>ablate table</title>\n<style>\n" +
                   std::string(kCss) + "</style>\n</head>\n<body>\n" + render_html(a.table) + "</body>\n</html>\n",
               files);
  }
  write_file(dir / "significance.csv", significance_csv(a.significance), files);
  if (!a.repro.empty()) {
    write_file(dir / "reproduction.csv", reproduction_csv(a.repro, a.table), files);
    write_file(dir / "reproduction-steps.csv", reproduction_steps_csv(a.repro, a.table), files);
  }
}

// The per-study parts of report.html, each section's studies in order.
struct StudySections {
  std::ostringstream model, pareto, sens, box, conv, prov, search, effects;
};

// One-line values in a table; texts (study_text, study_resolved) keep their lines in <pre>.
void provenance_html(std::ostringstream& prov, const db::StudyData& study, const std::string& title) {
  prov << "<h3>" << title << "</h3>\n<table class=\"cmp\">\n";
  for (const auto& [k, v] : study.provenance)
    if (v.find('\n') == std::string::npos)
      prov << "<tr><th>" << html_escape(k) << "</th><td>" << html_escape(v) << "</td></tr>\n";
  prov << "<tr><th>variants</th><td>" << study.variants.size() << "</td></tr>\n</table>\n";
  for (const auto& [k, v] : study.provenance)
    if (v.find('\n') != std::string::npos)
      prov << "<h4>" << html_escape(k) << "</h4>\n<pre>" << html_escape(v) << "</pre>\n";
  if (!study.variants.empty()) {
    prov << "<table class=\"cmp\">\n<tr><th>Variant</th><th>Label</th><th>Hash</th></tr>\n";
    for (const auto& v : study.variants)
      prov << "<tr><td>" << html_escape(v.name) << "</td><td>" << html_escape(v.label) << "</td><td><code>"
           << html_escape(v.hash) << "</code></td></tr>\n";
    prov << "</table>\n";
  }
  if (!study.reused.empty()) {
    prov << "<h4>Reused trainings</h4>\n<p>" << study.reused.size()
         << " task(s) took the stored results of a finished training with the same key instead of training "
            "(docs/RUNNER.md).</p>\n<table class=\"cmp\">\n<tr><th>Task</th><th>Source</th></tr>\n";
    for (const auto& [task, source] : study.reused)
      prov << "<tr><td>" << html_escape(task) << "</td><td>" << html_escape(source) << "</td></tr>\n";
    prov << "</table>\n";
  }
}

// The artefacts of one study, named by its slug `s`: box plots (its rows appended to `all_boxes`),
// convergence, the model table, sensitivity, search and effects where they apply, and its provenance.
void write_study(const fs::path& dir, const db::StudyData& study, const StudyIndex& index, const std::string& s,
                 const ReportConfig& config, const Formats& formats, std::vector<std::string>& files,
                 std::vector<std::string>& notes, StudySections& html, std::vector<BoxRow>& all_boxes) {
  const std::string title = html_escape(study.study);

  const std::vector<BoxRow> boxes = box_rows(index);
  all_boxes.insert(all_boxes.end(), boxes.begin(), boxes.end());
  if (boxes.empty() && !study.variants.empty())
    notes.push_back("study '" + study.study + "': no per-case metrics; box plots are empty");
  const std::string box = box_svg("Per-case distributions: " + study.study, boxes);
  write_file(dir / ("boxplot-" + s + ".svg"), box, files);
  html.box << "<h3>" << title << "</h3>\n<div class=\"svg\">\n" << box << "</div>\n";

  const std::string conv = convergence_svg(study);
  write_file(dir / ("convergence-" + s + ".svg"), conv, files);
  write_file(dir / ("convergence-" + s + ".csv"), convergence_csv(study), files);
  html.conv << "<h3>" << title << "</h3>\n<div class=\"svg\">\n" << conv << "</div>\n";

  const std::string model_md = render_model_markdown(index, config);
  write_file(dir / ("model-" + s + ".md"), model_md, files);
  write_file(dir / ("model-" + s + ".csv"), render_model_csv(index, config), files);
  html.model << "<h3>" << title << "</h3>\n" << markdown_table_to_html(model_md);
  if (const std::string devices = model_device_legend(index, config); !devices.empty())
    html.model << "<p class=\"legend\">" << html_escape(devices) << "</p>\n";
  if (study.model_facts.empty() && !study.variants.empty())
    notes.push_back("study '" + study.study + "': no model facts (parameters, inference time) stored");

  // Accuracy against cost, for every study that has model facts (searched or not).
  if (!study.model_facts.empty()) {
    const std::vector<ParetoPanel> panels = pareto_panels(index, config);
    const std::string pareto_md = render_pareto_markdown(panels, config.decimals);
    const std::string pareto = pareto_svg("Accuracy against cost: " + study.study, panels);
    write_file(dir / ("pareto-" + s + ".md"), pareto_md, files);
    write_file(dir / ("pareto-" + s + ".csv"), render_pareto_csv(study.study, panels), files);
    write_file(dir / ("pareto-" + s + ".svg"), pareto, files);
    html.pareto << "<h3>" << title << "</h3>\n" << markdown_to_html(pareto_md) << "<div class=\"svg\">\n" << pareto << "</div>\n";
  }

  if (!config.sweep_key.empty()) {
    const SensitivityTable sens = sensitivity_table(index, config, config.sweep_key);
    if (sens.series.empty())
      notes.push_back("study '" + study.study + "': no variant has a numeric value of the swept key '" +
                      config.sweep_key + "'");
    const std::string sens_md = render_sensitivity_markdown(sens);
    const std::string sens_svg = sensitivity_svg(sens);
    write_file(dir / ("sensitivity-" + s + ".md"), sens_md, files);
    write_file(dir / ("sensitivity-" + s + ".csv"), render_sensitivity_csv(sens), files);
    write_file(dir / ("sensitivity-" + s + ".svg"), sens_svg, files);
    html.sens << "<h3>" << title << "</h3>\n" << markdown_table_to_html(sens_md) << "<div class=\"svg\">\n"
              << sens_svg << "</div>\n";
  }

  // A searched study's trials (reports/search.hpp); nothing for any other study.
  if (!study.trials.empty()) {
    write_file(dir / ("search-" + s + ".csv"), search_trials_csv(study), files);
    html.search << search_section_html(study);
  }
  // What each component is worth, for a study with an [ablation] design (reports/effects.hpp).
  if (const StoredDesign design = stored_design(study, &notes); !design.empty()) {
    const EffectsTable effects = effects_table(study, design, config);
    if (formats.wants("md")) write_file(dir / ("effects-" + s + ".md"), render_effects_markdown(effects), files);
    if (formats.wants("tex")) write_file(dir / ("effects-" + s + ".tex"), render_effects_latex(effects), files);
    if (formats.wants("csv")) write_file(dir / ("effects-" + s + ".csv"), render_effects_csv(effects), files);
    const std::string forest = effects_svg(effects);
    write_file(dir / ("effects-" + s + ".svg"), forest, files);
    html.effects << "<h3>" << title << "</h3>\n" << render_effects_html(effects) << "<div class=\"svg\">\n" << forest
                 << "</div>\n";
  }

  provenance_html(html.prov, study, title);
}

// Notes once each, in the order found.
std::vector<std::string> unique_notes(const std::vector<std::string>& notes) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& n : notes)
    if (seen.insert(n).second) out.push_back(n);
  return out;
}

// report.html: the navigation, the notes once, then every section; `files` are the files beside it.
std::string report_page(const std::vector<db::StudyData>& studies, const Analysis& a, const StudySections& html,
                        const std::vector<std::string>& notes, const std::vector<std::string>& files) {
  std::string names;
  for (const auto& s : studies) names += (names.empty() ? "" : ", ") + s.study;
  if (names.empty()) names = "n/a";
  const std::string effects = html.effects.str(), search = html.search.str();
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>ablate report: "
    << html_escape(names) << "</title>\n<style>\n" << kCss << "</style>\n</head>\n<body>\n<h1>Ablation report: "
    << html_escape(names) << "</h1>\n<nav><a href=\"#table\">Comparison</a>"
    << (a.repro.empty() ? "" : "<a href=\"#reproduction\">Reproduction</a>") << "<a href=\"#significance\">Significance</a>"
    << (effects.empty() ? "" : "<a href=\"#effects\">Effects</a>")
    << "<a href=\"#model\">Model size</a>" << (html.pareto.str().empty() ? "" : "<a href=\"#pareto\">Accuracy against cost</a>") << (a.config.sweep_key.empty() ? "" : "<a href=\"#sensitivity\">Sensitivity</a>")
    << (search.empty() ? "" : "<a href=\"#search\">Search</a>")
    << "<a href=\"#boxplots\">Box plots</a><a href=\"#convergence\">Convergence</a><a href=\"#provenance\">Provenance</a></nav>\n";
  h << notes_html(notes, a.table.note_lists);
  // The page prints every note once, at the top: its copy of the table without them.
  ComparisonTable page_table = a.table;
  page_table.notes.clear();
  h << "<h2 id=\"table\">Comparison</h2>\n" << render_html(page_table);
  if (!a.repro.empty()) h << reproduction_html(a.repro, a.table);
  const bool searches = !studies.empty() && std::all_of(studies.begin(), studies.end(), [](const db::StudyData& s) {
    return !s.trials.empty();
  });
  h << "<h2 id=\"significance\">Significance against the baseline</h2>\n" << significance_html(a.significance, searches);
  if (!effects.empty()) h << "<h2 id=\"effects\">Effects of the components</h2>\n" << effects;
  h << "<h2 id=\"model\">Parameters, inference time and metrics</h2>\n" << html.model.str();
  if (!html.pareto.str().empty()) h << "<h2 id=\"pareto\">Accuracy against cost</h2>\n" << html.pareto.str();
  if (!a.config.sweep_key.empty())
    h << "<h2 id=\"sensitivity\">Sensitivity to " << html_escape(a.config.sweep_key) << "</h2>\n" << html.sens.str();
  if (!search.empty()) h << "<h2 id=\"search\">Search</h2>\n" << search;
  h << "<h2 id=\"boxplots\">Per-case distributions</h2>\n" << html.box.str();
  h << "<h2 id=\"convergence\">Convergence</h2>\n" << html.conv.str();
  h << "<h2 id=\"provenance\">Provenance</h2>\n" << html.prov.str();
  h << "<p class=\"legend\">Written by ablate report. Files beside this page: ";
  std::vector<std::string> names_only;
  for (const auto& f : files) names_only.push_back(fs::path(f).filename().string());
  names_only.push_back("report.html");
  std::sort(names_only.begin(), names_only.end());
  for (std::size_t i = 0; i < names_only.size(); ++i) h << (i ? ", " : "") << html_escape(names_only[i]);
  h << ".</p>\n</body>\n</html>\n";
  return h.str();
}

}  // namespace

ReportResult write_report(const std::vector<db::StudyData>& studies, const ReportOptions& options,
                          const std::string& out_dir) {
  const Formats formats = checked_formats(options);
  Analysis a = analyse(studies, options);
  const fs::path dir = output_folder(out_dir);
  ReportResult result;
  write_tables(dir, a, formats, result);

  // Per-study artefacts, named by a slug of the study (made unique).
  std::vector<BoxRow> all_boxes;
  StudySections html;
  std::set<std::string> slugs;
  for (std::size_t si = 0; si < studies.size(); ++si) {
    std::string s = slug(studies[si].study);
    for (int k = 2; !slugs.insert(s).second; ++k) s = slug(studies[si].study) + "-" + std::to_string(k);
    write_study(dir, studies[si], a.indexes[si], s, a.config, formats, result.files, a.notes, html, all_boxes);
  }
  write_file(dir / "boxplot.csv", box_csv(all_boxes), result.files);
  write_file(dir / "boxplot.json", box_json(all_boxes), result.files);

  result.notes = unique_notes(a.notes);
  if (formats.wants("html")) {
    write_file(dir / "report.html", report_page(studies, a, html, result.notes, result.files), result.files);
    result.html_path = (dir / "report.html").string();
  }
  std::sort(result.files.begin(), result.files.end());
  return result;
}

}  // namespace ablate::reports
