// Grid expansion for [sweep]: the Cartesian product over listed keys, with display labels.
// Knows nothing of the study schema: keys and values are dotted paths and TOML literals.
//
// Contract: pure functions of their arguments; any thread may call them; nothing throws but std::bad_alloc
// (the study loader bounds the grid with study.max_tasks before expanding it).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ablate::sweeps {

struct Axis {
  std::string key;                  // dotted key, e.g. "loss.alpha"
  std::vector<std::string> values;  // TOML literals, e.g. "0.1", "true", "\"kcm\""
};

// One point of the grid: (key, literal) per axis, in axis order.
using GridPoint = std::vector<std::pair<std::string, std::string>>;

// All points, the last axis varying fastest. An empty axis list gives one empty point.
std::vector<GridPoint> expand_grid(const std::vector<Axis>& axes);

// Label for a point. A template substitutes "{key}" with the value (strings unquoted); with an empty
// template the label is "key=value" pairs joined by ", " using the key's last path component.
std::string point_label(const GridPoint& point, const std::string& label_template = "");

// A file-system- and identifier-safe name for a point: "alpha0.3_k10"-like.
std::string point_name(const GridPoint& point);

}  // namespace ablate::sweeps
