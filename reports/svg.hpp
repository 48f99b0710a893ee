// The SVG vocabulary of every figure of the report (box plots, convergence and sensitivity curves, the
// search figures, the reproduction's dumbbells, the effects' forest plot): one document header, one number
// format for coordinates, one text helper, one tick rule, one frame and grid, one palette. A figure written
// with these looks like the others of its report, and a new one (a Pareto front, ...) takes the style by
// calling them instead of copying it.
//
// Contract: plain functions of their arguments, no state, safe from any thread. Text arguments are plain
// UTF-8 and XML-escaped here; attributes passed as `extra` are written as given (callers escape what they
// build from data). Coordinates are written with one decimal, locale-free and never "-0.0" (coord). Nothing
// throws except std::bad_alloc.
#pragma once

#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

namespace ablate::reports::svg {

// ---- document --------------------------------------------------------------------------------------

// "<svg ...>" of width × height user units — width, height and viewBox agree, so that the figure keeps its
// size in a file and scales inline in the HTML page — in the report's font (Helvetica/Arial, 12), on a white
// background. A figure ends with close().
std::string open(double width, double height);
std::string close();

// A coordinate or length: one decimal, "-0.0" written "0.0".
std::string coord(double value);

// ---- text ------------------------------------------------------------------------------------------

// A figure's title (16, bold), a panel's title (14, bold), a key under its axis (bold), a muted remark
// ("n/a: no data"): attribute strings for text()'s `extra`.
inline constexpr const char* kFigureTitle = " font-weight=\"bold\" font-size=\"16\"";
inline constexpr const char* kPanelTitle = " font-weight=\"bold\" font-size=\"14\"";
inline constexpr const char* kBold = " font-weight=\"bold\"";
inline constexpr const char* kMutedText = " fill=\"#888\"";

// <text> at (x, y), anchored "start", "middle" or "end"; `extra` holds further attributes, each with a
// leading space.
void text(std::ostringstream& o, double x, double y, const std::string& content,
          const char* anchor = "middle", const std::string& extra = "");
// A text turned by `degrees` (negative: anticlockwise) around its anchor point at (x, y): -90 for a y axis
// label, -45 for the labels under a box plot.
void turned_text(std::ostringstream& o, double x, double y, const std::string& content, double degrees,
                 const char* anchor = "middle");
// Width of a text in the document font, for laying out legends and label columns: 7 units a code point.
double text_width(const std::string& content);

// ---- axes and ticks --------------------------------------------------------------------------------

// An axis: its range [lo, hi], the ticks, and the decimals that tell neighbouring ticks apart.
struct Ticks {
  double lo = 0, hi = 1;
  std::vector<double> at;
  int decimals = 0;
  // The position of `value` on an axis drawn from `from` over `length` (lo at from).
  double along(double value, double from, double length) const {
    return from + (value - lo) / (hi - lo) * length;
  }
  // The same upwards, for a y axis whose bottom is at from + length.
  double up(double value, double from, double length) const {
    return from + length - (value - lo) / (hi - lo) * length;
  }
};
// About five ticks at 1, 2 or 5 × 10^k, the range widened to the ticks that cover [lo, hi]. A range of
// one value is widened by 5 % of it (0.5 around zero); bounds that are not finite (no data) give [0, 1].
// `integer`: steps of at least 1 (epochs, counts).
Ticks nice_ticks(double lo, double hi, bool integer = false);

// The plotting rectangle of a panel.
struct Panel {
  double x0 = 0, y0 = 0, w = 0, h = 0;
};
// Light horizontal grid lines at the ticks of a y axis, labelled to the left of the panel.
void y_grid(std::ostringstream& o, const Panel& p, const Ticks& y);
// Tick labels under the panel (x: positions along its width, labels as given).
void x_labels(std::ostringstream& o, const Panel& p,
              const std::vector<std::pair<double, std::string>>& labels);
// The labels of a numeric x axis under the panel.
void x_labels(std::ostringstream& o, const Panel& p, const Ticks& x);
// The panel's outline.
void frame(std::ostringstream& o, const Panel& p);
// A y axis label, turned, centred left of the panel.
void y_title(std::ostringstream& o, const Panel& p, const std::string& label);
// Below the panel's tick labels: an x axis label.
void x_title(std::ostringstream& o, const Panel& p, const std::string& label, const std::string& extra = "");

// ---- colours ---------------------------------------------------------------------------------------

// Series colours: Tableau 10 (distinguishable, friendlier to colour-blind readers than a rainbow), cycling.
// A series keeps its index across the figures of a study (a variant: its position in the study's order).
const char* colour(std::size_t index);
// Neutral tones: grid lines, frames and whiskers, muted marks (connectors, pruned trials).
inline constexpr const char* kGrid = "#e0e0e0";
inline constexpr const char* kInk = "#333";
inline constexpr const char* kMuted = "#888";

}  // namespace ablate::reports::svg
