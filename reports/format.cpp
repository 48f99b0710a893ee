#include "reports/format.hpp"

#include "ablations/components.hpp"
#include "sweeps/metric.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <vector>

namespace ablate::reports {

std::string fixed(double value, int decimals) {
  if (std::isnan(value)) return "n/a";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  std::string s = buf;
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

std::string number(double value) {
  if (std::isnan(value)) return "NA";
  if (std::isinf(value)) return value > 0 ? "Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", value == 0 ? 0.0 : value);
  return buf;
}

std::string latex_escape(const std::string& text) {
  static const std::map<std::string, std::string> symbols = {
      {"α", "$\\alpha$"}, {"β", "$\\beta$"},   {"γ", "$\\gamma$"}, {"δ", "$\\delta$"}, {"ε", "$\\epsilon$"},
      {"λ", "$\\lambda$"}, {"μ", "$\\mu$"},    {"σ", "$\\sigma$"}, {"τ", "$\\tau$"},   {"θ", "$\\theta$"},
      {"ω", "$\\omega$"}, {"±", "$\\pm$"},     {"×", "$\\times$"}, {"≤", "$\\leq$"},   {"≥", "$\\geq$"},
      {"✓", "\\checkmark{}"}, {"→", "$\\rightarrow$"}, {"°", "$^{\\circ}$"}, {"†", "$\\dagger$"}};
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      std::size_t len = (c >= 0xF0) ? 4 : (c >= 0xE0) ? 3 : (c >= 0xC0) ? 2 : 1;
      const std::string ch = text.substr(i, len);
      auto it = symbols.find(ch);
      out += it != symbols.end() ? it->second : ch;
      i += len;
      continue;
    }
    switch (c) {
      case '&': out += "\\&"; break;
      case '%': out += "\\%"; break;
      case '$': out += "\\$"; break;
      case '#': out += "\\#"; break;
      case '_': out += "\\_"; break;
      case '{': out += "\\{"; break;
      case '}': out += "\\}"; break;
      case '~': out += "\\textasciitilde{}"; break;
      case '^': out += "\\textasciicircum{}"; break;
      case '\\': out += "\\textbackslash{}"; break;
      default: out += static_cast<char>(c);
    }
    ++i;
  }
  return out;
}

std::string one_line(const std::string& text) {
  std::string out = text;
  for (char& c : out)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return out;
}

std::string markdown_cell(const std::string& text) {
  std::string out;
  for (char c : one_line(text)) {
    if (c == '|') out += "\\|";
    else out += c;
  }
  return out;
}

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string slug(const std::string& text) {
  std::string out;
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) && u < 0x80) {
      out += static_cast<char>(std::tolower(u));
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "study" : out;
}

namespace {
const std::vector<std::string>& known_metrics() {
  static const std::vector<std::string> m = {"dice", "iou", "sensitivity", "precision",
                                             "specificity", "vs", "assd", "hd95"};
  return m;
}
}  // namespace

std::string metric_base(const std::string& metric) { return sweeps::metric_base(metric); }

bool metric_is_per_slice(const std::string& metric) { return sweeps::metric_is_per_slice(metric); }

std::string metric_display(const std::string& metric) {
  static const std::map<std::string, std::string> names = {
      {"dice", "DSC"},         {"iou", "IoU"}, {"sensitivity", "Sens"},   {"precision", "PPV"},
      {"specificity", "Spec"}, {"vs", "VS"},   {"assd", "ASSD"}, {"hd95", "HD95"}};
  const std::string base = metric_base(metric);
  auto it = names.find(base);
  if (it == names.end()) return metric;
  const bool mm = base == "assd" || base == "hd95";
  return it->second + (metric_is_per_slice(metric) ? " 2D" : "") + (mm ? " (mm)" : "");
}

bool metric_higher_is_better(const std::string& metric) { return sweeps::higher_is_better(metric); }

bool metric_is_ratio(const std::string& metric) {
  const std::string base = metric_base(metric);
  return base == "dice" || base == "iou" || base == "sensitivity" || base == "precision" || base == "specificity" ||
         base == "vs";
}

int metric_order(const std::string& metric) {
  const auto& m = known_metrics();
  const int n = static_cast<int>(m.size());
  const std::string base = metric_base(metric);
  for (int i = 0; i < n; ++i)
    if (m[static_cast<std::size_t>(i)] == base) return i + (metric_is_per_slice(metric) ? n : 0);
  return 2 * n;
}

std::string component_display(const std::string& component) { return component_label(component); }

std::string component_key(const std::string& component) {
  return component.find('.') == std::string::npos ? "model." + component : component;
}

}  // namespace ablate::reports
