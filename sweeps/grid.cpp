#include "sweeps/grid.hpp"

namespace ablate::sweeps {

namespace {

std::string last_component(const std::string& key) {
  auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

std::string unquote(const std::string& literal) {
  if (literal.size() >= 2 && literal.front() == '"' && literal.back() == '"') return literal.substr(1, literal.size() - 2);
  return literal;
}

}  // namespace

std::vector<GridPoint> expand_grid(const std::vector<Axis>& axes) {
  std::vector<GridPoint> points(1);
  for (const auto& axis : axes) {
    std::vector<GridPoint> next;
    next.reserve(points.size() * axis.values.size());
    for (const auto& p : points) {
      for (const auto& v : axis.values) {
        GridPoint q = p;
        q.emplace_back(axis.key, v);
        next.push_back(std::move(q));
      }
    }
    points = std::move(next);
  }
  return points;
}

std::string point_label(const GridPoint& point, const std::string& label_template) {
  if (label_template.empty()) {
    std::string out;
    for (const auto& [key, value] : point) {
      if (!out.empty()) out += ", ";
      out += last_component(key) + "=" + unquote(value);
    }
    return out;
  }
  std::string out = label_template;
  for (const auto& [key, value] : point) {
    const std::string needle = "{" + key + "}";
    for (auto pos = out.find(needle); pos != std::string::npos; pos = out.find(needle, pos)) {
      out.replace(pos, needle.size(), unquote(value));
      pos += unquote(value).size();
    }
  }
  return out;
}

std::string point_name(const GridPoint& point) {
  std::string out;
  for (const auto& [key, value] : point) {
    if (!out.empty()) out += "_";
    out += last_component(key);
    for (char c : unquote(value)) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
      out += ok ? c : '-';
    }
  }
  return out;
}

}  // namespace ablate::sweeps
