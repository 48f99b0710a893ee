#include "reports/svg.hpp"

#include <algorithm>
#include <cmath>

#include "reports/format.hpp"

namespace ablate::reports::svg {

std::string open(double width, double height) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + coord(width) + "\" height=\"" +
         coord(height) + "\" viewBox=\"0 0 " + coord(width) + " " + coord(height) +
         "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n" +
         "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
}

std::string close() {
  return "</svg>\n";
}

std::string coord(double value) {
  return fixed(value, 1);
}

void text(std::ostringstream& o, double x, double y, const std::string& content, const char* anchor,
          const std::string& extra) {
  o << "<text x=\"" << coord(x) << "\" y=\"" << coord(y) << "\" text-anchor=\"" << anchor << "\"" << extra
    << ">" << html_escape(content) << "</text>\n";
}

void turned_text(std::ostringstream& o, double x, double y, const std::string& content, double degrees,
                 const char* anchor) {
  o << "<text x=\"" << coord(x) << "\" y=\"" << coord(y) << "\" text-anchor=\"" << anchor
    << "\" transform=\"rotate(" << fixed(degrees, 0) << " " << coord(x) << " " << coord(y) << ")\">"
    << html_escape(content) << "</text>\n";
}

double text_width(const std::string& content) {
  double n = 0;
  for (unsigned char c : content) n += (c & 0xC0) != 0x80;  // UTF-8 code points: skip continuation bytes
  return 7.0 * n;
}

Ticks nice_ticks(double lo, double hi, bool integer) {
  Ticks t;
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (hi - lo < 1e-12) {
    const double pad = std::fabs(lo) > 0 ? std::fabs(lo) * 0.05 : 0.5;
    lo -= pad, hi += pad;
  }
  const double raw = (hi - lo) / 5;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  if (integer) step = std::max(1.0, std::round(step));
  t.lo = std::floor(lo / step) * step;
  t.hi = std::ceil(hi / step) * step;
  // The tolerance keeps the last tick when lo + i·step lands a rounding error above hi.
  for (int i = 0; t.lo + i * step <= t.hi + step * 1e-9; ++i) t.at.push_back(t.lo + i * step);
  t.decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  return t;
}

void y_grid(std::ostringstream& o, const Panel& p, const Ticks& y) {
  for (double v : y.at) {
    const double py = y.up(v, p.y0, p.h);
    o << "<line x1=\"" << coord(p.x0) << "\" y1=\"" << coord(py) << "\" x2=\"" << coord(p.x0 + p.w)
      << "\" y2=\"" << coord(py) << "\" stroke=\"" << kGrid << "\"/>\n";
    text(o, p.x0 - 6, py + 4, fixed(v, y.decimals), "end");
  }
}

void x_labels(std::ostringstream& o, const Panel& p,
              const std::vector<std::pair<double, std::string>>& labels) {
  for (const auto& [x, label] : labels) text(o, x, p.y0 + p.h + 16, label);
}

void x_labels(std::ostringstream& o, const Panel& p, const Ticks& x) {
  for (double v : x.at) text(o, x.along(v, p.x0, p.w), p.y0 + p.h + 16, fixed(v, x.decimals));
}

void frame(std::ostringstream& o, const Panel& p) {
  o << "<rect x=\"" << coord(p.x0) << "\" y=\"" << coord(p.y0) << "\" width=\"" << coord(p.w)
    << "\" height=\"" << coord(p.h) << "\" fill=\"none\" stroke=\"" << kInk << "\"/>\n";
}

void y_title(std::ostringstream& o, const Panel& p, const std::string& label) {
  turned_text(o, p.x0 - 48, p.y0 + p.h / 2, label, -90);
}

void x_title(std::ostringstream& o, const Panel& p, const std::string& label, const std::string& extra) {
  text(o, p.x0 + p.w / 2, p.y0 + p.h + 34, label, "middle", extra);
}

const char* colour(std::size_t index) {
  static const char* const tableau10[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                          "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  return tableau10[index % 10];
}

}  // namespace ablate::reports::svg
