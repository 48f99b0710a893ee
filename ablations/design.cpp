#include "ablations/design.hpp"

#include <algorithm>
#include <bitset>
#include <cctype>
#include <set>
#include <sstream>
#include <stdexcept>

namespace ablate {

const std::vector<std::string>& design_names() {
  static const std::vector<std::string> names = {"add-one", "leave-one-out", "cumulative", "factorial", "fractional"};
  return names;
}

std::string design_name(const std::string& label) {
  std::string out;
  for (unsigned char c : label) {
    if (std::isalnum(c) || c == '_' || c == '.' || c == '+' || c == '=') out += static_cast<char>(std::tolower(c));
    else out += '-';
  }
  return out;
}

int popcount(std::uint32_t m) { return static_cast<int>(std::bitset<32>(m).count()); }

namespace {

// One row of the generator table: for k components, p generated ones, each generator the letters (as a
// mask over the k-p basic factors) whose product defines the next component.
struct Fraction {
  int k, p;
  std::vector<const char*> words;  // letters of each generator, for components k-p .. k-1
};

// Montgomery, Design and Analysis of Experiments, Table 8.14 (minimum-aberration 2^(k-p) designs).
const std::vector<Fraction>& fraction_table() {
  static const std::vector<Fraction> table = {
      {3, 1, {"AB"}},
      {4, 1, {"ABC"}},
      {5, 1, {"ABCD"}},
      {5, 2, {"AB", "AC"}},
      {6, 1, {"ABCDE"}},
      {6, 2, {"ABC", "BCD"}},
      {6, 3, {"AB", "AC", "BC"}},
      {7, 1, {"ABCDEF"}},
      {7, 2, {"ABCD", "ABDE"}},
      {7, 3, {"ABC", "BCD", "ACD"}},
      {7, 4, {"AB", "AC", "BC", "ABC"}},
      {8, 1, {"ABCDEFG"}},
      {8, 2, {"ABCD", "ABEF"}},
      {8, 3, {"ABC", "ABD", "BCDE"}},
      {8, 4, {"BCD", "ACD", "ABC", "ABD"}},
  };
  return table;
}

std::uint32_t letters_mask(const std::string& word) {
  std::uint32_t m = 0;
  for (char c : word) m |= 1u << (c - 'A');
  return m;
}

// The resolution of a fraction: the length of the shortest word of its defining relation, i.e. of every
// non-empty product of the generators' words I = X·(its letters).
int resolution_of(int k, int p, const std::vector<std::uint32_t>& words) {
  int shortest = k + 1;
  for (std::uint32_t s = 1; s < (1u << p); ++s) {
    std::uint32_t word = 0;
    for (int j = 0; j < p; ++j) {
      if (s & (1u << j)) word ^= words[j] | (1u << (k - p + j));
    }
    shortest = std::min(shortest, popcount(word));
  }
  return shortest;
}

std::string generator_text(int target, const std::string& word) {
  // Sign -(-1)^m keeps the all-off run in the fraction.
  const bool negative = word.size() % 2 == 0;
  return std::string(1, static_cast<char>('A' + target)) + " = " + (negative ? "-" : "+") + word;
}

}  // namespace

FractionalDesign fractional_design(int k, int resolution) {
  FractionalDesign d;
  d.k = k;
  // Candidates: the table's rows for k, and the half fraction of any k >= 3 (last = product of the others).
  std::vector<std::vector<std::string>> candidates;
  for (const auto& f : fraction_table()) {
    if (f.k == k) candidates.emplace_back(f.words.begin(), f.words.end());
  }
  if (candidates.empty() && k >= 3) {
    std::string all;
    for (int i = 0; i < k - 1; ++i) all += static_cast<char>('A' + i);
    candidates.push_back({all});
  }
  std::vector<std::string> best;
  int best_resolution = 0;
  for (const auto& words : candidates) {
    const int p = static_cast<int>(words.size());
    std::vector<std::uint32_t> masks;
    for (const auto& w : words) masks.push_back(letters_mask(w));
    const int r = resolution_of(k, p, masks);
    if (r >= resolution && words.size() > best.size()) best = words, best_resolution = r;
  }
  d.p = static_cast<int>(best.size());
  d.resolution = best_resolution;
  const int basic = k - d.p;
  for (int j = 0; j < d.p; ++j) d.generators.push_back(generator_text(basic + j, best[j]));
  for (std::uint32_t run = 0; run < (1u << basic); ++run) {
    std::uint32_t mask = run;
    for (int j = 0; j < d.p; ++j) {
      // x = ±1 coding: on = +1. The product of the word's columns is +1 when an even number of them are
      // off; the sign flips it for words of even length.
      const std::uint32_t w = letters_mask(best[j]);
      const int off = popcount(w & ~run);
      int x = off % 2 == 0 ? 1 : -1;
      if (best[j].size() % 2 == 0) x = -x;
      if (x > 0) mask |= 1u << (basic + j);
    }
    d.runs.push_back(mask);
  }
  return d;
}

namespace {

std::uint32_t full_mask(std::size_t k) { return k >= 32 ? ~0u : (1u << k) - 1; }

int lowest(std::uint32_t m) {
  for (int i = 0; i < 32; ++i) {
    if (m & (1u << i)) return i;
  }
  return 32;
}

void name_point(const DesignSpec& spec, DesignPoint& point) {
  if (point.mask == 0) {
    point.name = spec.baseline_name, point.label = spec.baseline_label;
    return;
  }
  for (const auto& c : spec.composites) {
    if (c.of == point.mask) {
      point.name = c.name;
      point.label = c.row_label.empty() ? spec.baseline_label + "+" + c.label : c.row_label;
      return;
    }
  }
  struct Part {
    int first;
    std::string name, label;
  };
  std::vector<Part> parts;
  std::uint32_t left = point.mask;
  while (true) {
    const DesignComposite* pick = nullptr;
    for (const auto& c : spec.composites) {
      if ((c.of & left) == c.of && popcount(c.of) >= 2 && (!pick || popcount(c.of) > popcount(pick->of))) pick = &c;
    }
    if (!pick) break;
    parts.push_back({lowest(pick->of), pick->name, pick->label});
    left &= ~pick->of;
  }
  for (std::size_t i = 0; i < spec.components.size(); ++i) {
    if (left & (1u << i)) parts.push_back({static_cast<int>(i), spec.components[i].name, spec.components[i].label});
  }
  std::stable_sort(parts.begin(), parts.end(), [](const Part& a, const Part& b) { return a.first < b.first; });
  point.label = spec.baseline_label;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    point.name += (i ? "-" : "") + parts[i].name;
    point.label += "+" + parts[i].label;
  }
}

std::string broken_constraint(const DesignSpec& spec, std::uint32_t mask) {
  auto label = [&](int i) { return spec.components[static_cast<std::size_t>(i)].label; };
  for (const auto& r : spec.requires_) {
    if (r.empty() || !(mask & (1u << r[0]))) continue;
    std::string missing;
    for (std::size_t j = 1; j < r.size(); ++j) {
      if (!(mask & (1u << r[j]))) missing += (missing.empty() ? "" : ", ") + label(r[j]);
    }
    if (!missing.empty()) return "requires: " + label(r[0]) + " needs " + missing;
  }
  for (const auto& e : spec.excludes) {
    std::uint32_t all = 0;
    for (int i : e) all |= 1u << i;
    if (!e.empty() && (mask & all) == all) {
      std::string names;
      for (int i : e) names += (names.empty() ? "" : " and ") + label(i);
      return "excludes: " + names + " together";
    }
  }
  return "";
}

}  // namespace

DesignPlan generate_design(const DesignSpec& spec) {
  DesignPlan plan;
  const std::size_t k = spec.components.size();
  const std::uint32_t full = full_mask(k);
  std::vector<std::pair<std::uint32_t, std::string>> wanted = {{0u, "baseline"}};
  for (const auto& design : spec.designs) {
    if (design == "add-one") {
      for (std::size_t i = 0; i < k; ++i) wanted.emplace_back(1u << i, design);
    } else if (design == "leave-one-out") {
      wanted.emplace_back(full, design);
      for (std::size_t i = 0; i < k; ++i) wanted.emplace_back(full & ~(1u << i), design);
    } else if (design == "cumulative") {
      for (std::size_t i = 0; i < k; ++i) wanted.emplace_back(full_mask(i + 1), design);
    } else if (design == "factorial") {
      for (std::uint32_t m = 0; m <= full; ++m) wanted.emplace_back(m, design);
    } else if (design == "fractional") {
      plan.fraction = fractional_design(static_cast<int>(k), spec.resolution);
      for (std::uint32_t m : plan.fraction.runs) wanted.emplace_back(m, design);
    }
  }
  // mask -> where its point went (index into points, or into removed as -1 - index): a factorial's 2^16
  // points are deduplicated in n log n, not by a scan of the points made so far.
  std::map<std::uint32_t, long> made;
  for (const auto& [mask, design] : wanted) {
    if (auto it = made.find(mask); it != made.end()) {
      auto& from = it->second >= 0 ? plan.points[static_cast<std::size_t>(it->second)].from
                                   : plan.removed[static_cast<std::size_t>(-1 - it->second)].point.from;
      if (std::find(from.begin(), from.end(), design) == from.end()) from.push_back(design);
      continue;
    }
    DesignPoint point;
    point.mask = mask;
    point.from = {design};
    name_point(spec, point);
    const std::string why = broken_constraint(spec, mask);
    if (why.empty()) {
      made[mask] = static_cast<long>(plan.points.size());
      plan.points.push_back(std::move(point));
    } else {
      made[mask] = -1 - static_cast<long>(plan.removed.size());
      plan.removed.push_back({std::move(point), why});
    }
  }
  return plan;
}

std::uint64_t design_point_count(const DesignSpec& spec) {
  const std::size_t k = spec.components.size();
  const auto& d = spec.designs;
  if (std::find(d.begin(), d.end(), "factorial") != d.end()) return std::uint64_t{1} << k;
  // The other designs name few points (the fraction at most 2^15 for 16 components): their masks are
  // collected, not their points, so that a point two designs share is counted once.
  std::set<std::uint32_t> masks = {0u};
  const std::uint32_t full = full_mask(k);
  for (const auto& design : d) {
    for (std::size_t i = 0; i < k; ++i) {
      if (design == "add-one") masks.insert(1u << i);
      if (design == "leave-one-out") masks.insert(full & ~(1u << i));
      if (design == "cumulative") masks.insert(full_mask(i + 1));
    }
    if (design == "leave-one-out") masks.insert(full);
    if (design == "fractional") {
      for (std::uint32_t m : fractional_design(static_cast<int>(k), spec.resolution).runs) masks.insert(m);
    }
  }
  return masks.size();
}

std::string design_size_text(const DesignSpec& spec) {
  const std::uint64_t n = design_point_count(spec);
  const auto& d = spec.designs;
  if (std::find(d.begin(), d.end(), "factorial") != d.end()) {
    return "a factorial design of 2^" + std::to_string(spec.components.size()) + " = " + std::to_string(n) + " points";
  }
  return "a design of " + std::to_string(n) + " points";
}

namespace {

std::string pad(const std::string& s, std::size_t width) {
  std::size_t cps = 0;  // code points, so ✓ and α line up
  for (unsigned char c : s) cps += (c & 0xC0) != 0x80;
  return s + std::string(width > cps ? width - cps : 0, ' ');
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

}  // namespace

std::string design_matrix_text(const DesignSpec& spec, const DesignPlan& plan,
                               const std::map<std::string, std::uint32_t>& names) {
  std::map<std::uint32_t, std::string> name_of;
  for (const auto& [name, mask] : names) name_of.emplace(mask, name);
  std::vector<std::string> labels;
  for (const auto& c : spec.components) labels.push_back(c.label);
  std::ostringstream s;
  s << "design: " << join(spec.designs, " + ") << " over " << spec.components.size() << " component(s) ("
    << join(labels, ", ") << "), baseline " << spec.baseline_name << "\n";
  auto name = [&](const DesignPoint& p) {
    auto it = name_of.find(p.mask);
    return it == name_of.end() ? p.name : it->second;
  };
  std::size_t w = 7;
  for (const auto& p : plan.points) w = std::max(w, name(p).size());
  for (const auto& r : plan.removed) w = std::max(w, r.point.name.size());
  s << "  " << pad("variant", w);
  for (const auto& l : labels) s << "  " << pad(l, std::max<std::size_t>(3, l.size()));
  s << "  from\n";
  auto row = [&](const std::string& n, std::uint32_t mask, const std::string& tail) {
    s << "  " << pad(n, w);
    for (std::size_t i = 0; i < labels.size(); ++i) {
      s << "  " << pad(mask & (1u << i) ? "✓" : ".", std::max<std::size_t>(3, labels[i].size()));
    }
    s << "  " << tail << "\n";
  };
  for (const auto& p : plan.points) row(name(p), p.mask, join(p.from, ", "));
  if (std::find(spec.designs.begin(), spec.designs.end(), "fractional") != spec.designs.end()) {
    const auto& f = plan.fraction;
    s << "fractional: ";
    if (f.p == 0) {
      s << "no fraction of " << f.k << " components reaches resolution " << spec.resolution
        << ": the full factorial (2^" << f.k << " runs)\n";
    } else {
      std::string letters;
      for (int i = 0; i < f.k; ++i) letters += (i ? ", " : "") + std::string(1, static_cast<char>('A' + i)) + " = " + labels[i];
      s << "2^(" << f.k << "-" << f.p << ") = " << f.runs.size() << " runs of resolution " << f.resolution
        << ", generators " << join(f.generators, ", ") << " (" << letters << ")\n";
    }
  }
  if (!plan.removed.empty()) {
    s << "left out by constraints (" << plan.removed.size() << "):\n";
    for (const auto& r : plan.removed) row(r.point.name, r.point.mask, r.reason);
  }
  return s.str();
}

std::string mask_labels(const std::vector<std::string>& components, std::uint32_t mask) {
  std::string out;
  for (std::size_t i = 0; i < components.size(); ++i) {
    if (mask & (1u << i)) out += (out.empty() ? "" : "+") + components[i];
  }
  return out.empty() ? "-" : out;
}

// One line per item, values without newlines (labels are single-line TOML strings):
//   component = CC
//   baseline = unet
//   design = factorial
//   resolution = 4
//   fraction = 0 7 11 ...
//   variant cc = 1
std::string design_text(const StoredDesign& design) {
  std::ostringstream s;
  for (const auto& c : design.components) s << "component = " << c << "\n";
  s << "baseline = " << design.baseline << "\n";
  for (const auto& d : design.designs) s << "design = " << d << "\n";
  if (!design.fraction.empty()) {
    s << "resolution = " << design.resolution << "\nfraction =";
    for (auto m : design.fraction) s << " " << m;
    s << "\n";
  }
  for (const auto& [name, mask] : design.masks) s << "variant " << name << " = " << mask << "\n";
  return s.str();
}

StoredDesign parse_design_text(const std::string& text) {
  StoredDesign d;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    const auto eq = line.find(" = ");
    if (eq == std::string::npos) throw std::runtime_error("study_design line " + std::to_string(number) + ": no ` = `");
    const std::string key = line.substr(0, eq), value = line.substr(eq + 3);
    try {
      if (key == "component") d.components.push_back(value);
      else if (key == "baseline") d.baseline = value;
      else if (key == "design") d.designs.push_back(value);
      else if (key == "resolution") d.resolution = std::stoi(value);
      else if (key == "fraction") {
        std::istringstream v(value);
        std::uint32_t m;
        while (v >> m) d.fraction.push_back(m);
      } else if (key.rfind("variant ", 0) == 0) {
        d.masks[key.substr(8)] = static_cast<std::uint32_t>(std::stoul(value));
      } else {
        throw std::runtime_error("unknown key `" + key + "`");
      }
    } catch (const std::logic_error& e) {
      throw std::runtime_error("study_design line " + std::to_string(number) + ": " + e.what());
    }
  }
  return d;
}

}  // namespace ablate
