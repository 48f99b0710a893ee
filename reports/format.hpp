// Text helpers of the report writers: fixed number formatting (locale-free, no "-0.00"), escaping for
// LaTeX, HTML/SVG, CSV and JSON, file-name slugs and the display names of metrics and components.
//
// Contract: pure functions of their arguments (locale-free); any thread may call them; nothing throws.
#pragma once

#include <string>

#include "ablations/output.hpp"

namespace ablate::reports {

// printf("%.*f") without a negative zero ("-0.00" -> "0.00"); "n/a" for NaN.
std::string fixed(double value, int decimals);
// Shortest round-trip-ish form for data files: printf("%.10g"); "NA" for NaN (read as missing by
// pandas and R).
std::string number(double value);

// LaTeX text mode. The ten special characters are escaped; Greek letters and the symbols ±, ×, ≤, ≥,
// →, °, †, ✓ become math-mode commands ($\alpha$, $\pm$, ...) so that the output compiles with pdfLaTeX as
// well; any other non-ASCII character is kept as UTF-8 (inputenc's utf8 default).
std::string latex_escape(const std::string& text);
// One line: every CR, LF and tab becomes a space (notes after "% note:" or "> note:" must not break
// out of their comment or quote).
std::string one_line(const std::string& text);
// A Markdown table cell: '|' becomes "\|" and line breaks become spaces.
std::string markdown_cell(const std::string& text);
// &, <, >, " and ' for HTML and SVG (XML) text and attributes.
std::string html_escape(const std::string& text);
// RFC 4180: quoted when it holds a comma, quote, CR or LF (the one helper of every CSV writer).
using ablate::csv_field;
// A JSON string literal (with the quotes).
std::string json_string(const std::string& text);
// Lower-case ASCII letters, digits and '-' (file names of per-study artefacts).
std::string slug(const std::string& text);

// The per-slice metrics of the trainer are stored as "<metric>_2d" (docs/DATA.md): every property
// below is that of the 3D metric, so that "hd95_2d" is lower-is-better and "dice_2d" a ratio.
// metric_base strips the suffix ("hd95_2d" -> "hd95"); is_per_slice tells whether it was there.
std::string metric_base(const std::string& metric);
bool metric_is_per_slice(const std::string& metric);
// Display name of a stored metric (dice -> DSC, sensitivity -> Sens, precision -> PPV as in 001
// Table II; vs -> VS, assd -> ASSD (mm) ...; per slice: dice_2d -> DSC 2D, hd95_2d -> HD95 2D (mm));
// unknown names are shown as stored.
std::string metric_display(const std::string& metric);
// Whether a larger value is better: sweeps::objective_direction() (false for the surface distances assd,
// hd95, msd, asd, hd, their per-slice forms, the loss and anything ending in "_loss", "_ms" or "_seconds").
bool metric_higher_is_better(const std::string& metric);
// Whether a metric is a ratio in [0, 1] that report.percent shows as a percentage (dice, iou,
// sensitivity, precision, specificity, vs and their per-slice forms).
bool metric_is_ratio(const std::string& metric);
// Position of a metric in the fixed display order (dice, iou, sensitivity, precision, specificity, vs,
// assd, hd95, then the same per slice); unknown metrics come after, alphabetically.
int metric_order(const std::string& metric);
// Display name of a component column, the registry's label (ablations/components.hpp component_label):
// cc -> CC, sc -> SC, mus -> MuS, ec -> EC, dws -> DWS; a dotted key shows its last part.
std::string component_display(const std::string& component);
// The canonical key of a component column: "cc" -> "model.cc"; dotted keys are kept.
std::string component_key(const std::string& component);

}  // namespace ablate::reports
