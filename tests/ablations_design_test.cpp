// Automated ablation designs (ablations/design.hpp and the [ablation] design keys of a study): the points
// of each design, names and labels, deduplication, constraints, fractional factorials and their
// resolution, located errors, and the hash equality of a design with the same rows written by hand.
#include <gtest/gtest.h>

#include <bitset>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ablations/design.hpp"
#include "ablations/study.hpp"

using namespace ablate;

namespace {

DesignSpec spec_of(std::vector<std::string> labels, std::vector<std::string> designs) {
  DesignSpec s;
  s.baseline_name = "unet", s.baseline_label = "U-Net";
  for (const auto& l : labels) s.components.push_back({l, design_name(l)});
  s.designs = std::move(designs);
  return s;
}

std::vector<std::uint32_t> masks_of(const DesignPlan& p) {
  std::vector<std::uint32_t> out;
  for (const auto& pt : p.points) out.push_back(pt.mask);
  return out;
}

std::vector<std::string> printed_errors(const std::string& text) {
  std::vector<std::string> out;
  try {
    load_study_text(text, "/tmp/d.toml");
  } catch (const SpecError& e) {
    for (const auto& d : e.diagnostics()) out.push_back(d.str());
  }
  return out;
}

const char* kHead = R"(
[study]
name = "d"
[model]
widths = [4, 8]
[data]
image_size = 32
)";

}  // namespace

TEST(Design, EachDesignsPoints) {
  EXPECT_EQ(masks_of(generate_design(spec_of({"A", "B", "C"}, {"add-one"}))), (std::vector<std::uint32_t>{0, 1, 2, 4}));
  EXPECT_EQ(masks_of(generate_design(spec_of({"A", "B", "C"}, {"leave-one-out"}))),
            (std::vector<std::uint32_t>{0, 7, 6, 5, 3}));
  EXPECT_EQ(masks_of(generate_design(spec_of({"A", "B", "C"}, {"cumulative"}))), (std::vector<std::uint32_t>{0, 1, 3, 7}));
  EXPECT_EQ(masks_of(generate_design(spec_of({"A", "B", "C"}, {"factorial"}))),
            (std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  // Deduplicated across designs: cumulative's first row is add-one's; the point remembers both.
  const DesignPlan both = generate_design(spec_of({"A", "B", "C"}, {"add-one", "cumulative"}));
  EXPECT_EQ(masks_of(both), (std::vector<std::uint32_t>{0, 1, 2, 4, 3, 7}));
  EXPECT_EQ(both.points[1].from, (std::vector<std::string>{"add-one", "cumulative"}));
  EXPECT_EQ(both.points[0].from, (std::vector<std::string>{"baseline"}));
}

TEST(Design, NamesAndLabels) {
  DesignSpec s = spec_of({"CC", "SC", "MuS", "EC"}, {"factorial"});
  s.composites.push_back({0b0011, "coa", "CoA", ""});
  s.composites.push_back({0b1111, "full", "Full", "EC-CaM"});
  const DesignPlan p = generate_design(s);
  std::map<std::uint32_t, std::pair<std::string, std::string>> by_mask;
  for (const auto& pt : p.points) by_mask[pt.mask] = {pt.name, pt.label};
  EXPECT_EQ(by_mask[0], std::make_pair(std::string("unet"), std::string("U-Net")));
  EXPECT_EQ(by_mask[0b0001], std::make_pair(std::string("cc"), std::string("U-Net+CC")));
  EXPECT_EQ(by_mask[0b0011], std::make_pair(std::string("coa"), std::string("U-Net+CoA")));
  EXPECT_EQ(by_mask[0b0111], std::make_pair(std::string("coa-mus"), std::string("U-Net+CoA+MuS")));
  EXPECT_EQ(by_mask[0b0101], std::make_pair(std::string("cc-mus"), std::string("U-Net+CC+MuS")));
  EXPECT_EQ(by_mask[0b1110], std::make_pair(std::string("sc-mus-ec"), std::string("U-Net+SC+MuS+EC")));
  EXPECT_EQ(by_mask[0b1111], std::make_pair(std::string("full"), std::string("EC-CaM")));
  std::set<std::string> names;
  for (const auto& pt : p.points) names.insert(pt.name);
  EXPECT_EQ(names.size(), 16u);
  EXPECT_EQ(design_name("CoAG MuSFu/x"), "coag-musfu-x");
}

TEST(Design, ConstraintsRemovePointsAndSayWhy) {
  DesignSpec s = spec_of({"DRS", "KCM", "MSC"}, {"factorial"});
  s.requires_ = {{1, 0}, {2, 0}};
  s.excludes = {{1, 2}};
  const DesignPlan p = generate_design(s);
  EXPECT_EQ(masks_of(p), (std::vector<std::uint32_t>{0, 1, 3, 5}));
  ASSERT_EQ(p.removed.size(), 4u);
  EXPECT_EQ(p.removed[0].point.mask, 2u);
  EXPECT_EQ(p.removed[0].reason, "requires: KCM needs DRS");
  EXPECT_EQ(p.removed[3].point.mask, 7u);
  EXPECT_EQ(p.removed[3].reason, "excludes: KCM and MSC together");
}

// The resolution of each generator set, computed from its defining relation, is the table's; every
// fraction holds the baseline, is balanced (each component on in half the runs), and a fraction of
// resolution >= 3 has orthogonal main-effect columns (>= 4: also orthogonal to every two-way column).
TEST(Design, FractionalFactorials) {
  struct Want {
    int k, resolution, p, achieved;
  };
  for (const Want& w : std::vector<Want>{{3, 3, 1, 3}, {4, 4, 1, 4}, {5, 3, 2, 3}, {5, 4, 1, 5}, {5, 5, 1, 5},
                                         {6, 4, 2, 4}, {6, 5, 1, 6}, {7, 4, 3, 4}, {7, 3, 4, 3}, {8, 5, 2, 5},
                                         {8, 4, 4, 4}, {10, 4, 1, 10}, {5, 6, 0, 0}, {2, 3, 0, 0}}) {
    SCOPED_TRACE("k=" + std::to_string(w.k) + " R=" + std::to_string(w.resolution));
    const FractionalDesign d = fractional_design(w.k, w.resolution);
    EXPECT_EQ(d.p, w.p);
    EXPECT_EQ(d.resolution, w.achieved);
    ASSERT_EQ(d.runs.size(), 1u << (w.k - w.p));
    EXPECT_EQ(d.runs[0], 0u);  // the baseline
    EXPECT_EQ(std::set<std::uint32_t>(d.runs.begin(), d.runs.end()).size(), d.runs.size());
    auto x = [](std::uint32_t run, int i) { return (run >> i) & 1u ? 1 : -1; };
    for (int i = 0; i < w.k; ++i) {
      int sum = 0;
      for (auto r : d.runs) sum += x(r, i);
      EXPECT_EQ(sum, 0) << "component " << i;
      for (int j = i + 1; j < w.k; ++j) {
        int dot = 0;
        for (auto r : d.runs) dot += x(r, i) * x(r, j);
        EXPECT_EQ(dot, 0) << i << "," << j;
        if (d.resolution == 0 || d.resolution >= 4) {
          for (int l = 0; l < w.k; ++l) {
            if (l == i || l == j) continue;
            int three = 0;
            for (auto r : d.runs) three += x(r, i) * x(r, j) * x(r, l);
            EXPECT_EQ(three, 0) << l << " against " << i << "x" << j;
          }
        }
      }
    }
  }
  // 2^(5-1) of resolution V: E = +ABCD with the baseline in the fraction needs the minus sign.
  EXPECT_EQ(fractional_design(5, 5).generators, (std::vector<std::string>{"E = -ABCD"}));
  EXPECT_EQ(fractional_design(4, 4).generators, (std::vector<std::string>{"D = +ABC"}));
  EXPECT_EQ(fractional_design(7, 4).generators, (std::vector<std::string>{"E = +ABC", "F = +BCD", "G = +ACD"}));
  // Resolution III: a main effect is aliased with a two-way interaction (C = -AB).
  const FractionalDesign three = fractional_design(3, 3);
  ASSERT_EQ(three.runs.size(), 4u);  // 2^(3-1) runs, or the loop below checks nothing
  for (auto r : three.runs) EXPECT_EQ(popcount(r) % 2, 0);
}

TEST(Design, StoredTextRoundTrip) {
  StoredDesign d;
  d.components = {"CC", "SC"};
  d.baseline = "unet";
  d.designs = {"fractional"};
  d.resolution = 3;
  d.fraction = {0, 3};
  d.masks = {{"unet", 0}, {"coa", 3}};
  const StoredDesign back = parse_design_text(design_text(d));
  EXPECT_EQ(back.components, d.components);
  EXPECT_EQ(back.baseline, "unet");
  EXPECT_EQ(back.designs, d.designs);
  EXPECT_EQ(back.resolution, 3);
  EXPECT_EQ(back.fraction, d.fraction);
  EXPECT_EQ(back.masks, d.masks);
  EXPECT_THROW(parse_design_text("what\n"), std::runtime_error);
  EXPECT_EQ(mask_labels(d.components, 3), "CC+SC");
  EXPECT_EQ(mask_labels(d.components, 0), "-");
}

// Table II (examples/table2.toml) rewritten as a design: the ten rows, in order, with the same names,
// labels and hashes, so a study that switches keeps its stored results.
TEST(DesignStudy, TableTwoAsADesignHasTheHandWrittenHashes) {
  const Study hand = load_study(std::string(ABLATE_SOURCE_DIR) + "/examples/table2.toml");
  const Study design = load_study(std::string(ABLATE_SOURCE_DIR) + "/examples/table2_design.toml");
  ASSERT_EQ(hand.variants.size(), 10u);
  ASSERT_EQ(design.variants.size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(design.variants[i].name, hand.variants[i].name);
    EXPECT_EQ(design.variants[i].label, hand.variants[i].label);
    EXPECT_EQ(design.variants[i].hash, hand.variants[i].hash) << hand.variants[i].name;
    EXPECT_EQ(design.variants[i].canonical, hand.variants[i].canonical);
  }
  EXPECT_TRUE(hand.design.empty());
  EXPECT_EQ(design.design.components, (std::vector<std::string>{"CC", "SC", "MuS", "EC", "DWS"}));
  EXPECT_EQ(design.design.masks.at("coag-musfu-ec"), 0b01111u);
  EXPECT_EQ(design.design.masks.at("ec-cam-unet"), 0b11111u);
  // Through an include the design is inherited (the demo's rows), and a study's own variant list replaces it.
  const Study demo = load_study_text("include = \"table2_design.toml\"\n[study]\nname = \"x\"\n",
                                     std::string(ABLATE_SOURCE_DIR) + "/examples/x.toml");
  EXPECT_EQ(demo.variants.size(), 10u);
  const Study replaced = load_study_text(
      "include = \"factorial_tiny.toml\"\n[report]\nbaseline = \"only\"\n[[ablation.variant]]\nname = \"only\"\n",
      std::string(ABLATE_SOURCE_DIR) + "/examples/x.toml");
  ASSERT_EQ(replaced.variants.size(), 1u);
  EXPECT_TRUE(replaced.design.empty());
}

TEST(DesignStudy, AnyKeysAndHandWrittenRowsAddUp) {
  const Study s = load_study_text(std::string(kHead) + R"(
[ablation]
baseline = { name = "unet", label = "U-Net" }
components = [
  { label = "KCM", set = { "model.msc" = "kcm", "model.restoration" = true } },
  { label = "CC", set = { model = { cc = true } } },
]
design = "add-one"

[[ablation.variant]]
name = "kcm-by-hand"
label = "KCM by hand"
"model.msc" = "kcm"
"model.restoration" = true

[[ablation.variant]]
name = "extra"
"train.lr" = 0.1
)", "/tmp/d.toml");
  ASSERT_EQ(s.variants.size(), 4u);  // unet, KCM (= the hand-written row), CC, extra
  EXPECT_EQ(s.variants[0].name, "unet");
  EXPECT_EQ(s.variants[1].name, "kcm-by-hand");
  EXPECT_EQ(s.variants[1].config.model.msc, "kcm");
  EXPECT_TRUE(s.variants[1].config.model.restoration);
  EXPECT_EQ(s.variants[2].name, "cc");
  EXPECT_EQ(s.variants[2].label, "U-Net+CC");
  EXPECT_TRUE(s.variants[2].config.model.cc);
  EXPECT_EQ(s.variants[3].name, "extra");
  EXPECT_EQ(s.design.masks.at("kcm-by-hand"), 1u);
  EXPECT_EQ(s.design.masks.count("extra"), 0u);
  EXPECT_EQ(s.variants[2].values.at("model.cc").origin, Origin::kVariant);
}

TEST(DesignStudy, LocatedErrors) {
  const std::string head = kHead;
  EXPECT_EQ(printed_errors(head + R"([ablation]
components = [{ label = "CC", set = { "model.ccc" = true } }]
design = ["add-on"]
requires = [["CC", "SX"]]
fractional = { resolution = 4 }
desing = 1
)"),
            (std::vector<std::string>{
                "/tmp/d.toml:9:39: `model.ccc`: unknown key (did you mean `model.cc`?)",
                "/tmp/d.toml:10:11: `ablation.design`: unknown design `add-on` (did you mean `add-one`?) (allowed: "
                "add-one, leave-one-out, cumulative, factorial, fractional)",
                "/tmp/d.toml:11:13: `ablation.requires`: expected [component, what it needs, ...]: two or more labels",
                "/tmp/d.toml:11:20: `ablation.requires`: no component labelled `SX` (did you mean `CC`?) (components: CC)",
                "/tmp/d.toml:12:14: `ablation.fractional`: is set but design does not list \"fractional\"",
                "/tmp/d.toml:13:1: `ablation.desing`: unknown key (did you mean `design`?) (allowed: [[ablation.variant]] "
                "tables with name, label and dotted overrides, and the design keys baseline, components, composites, "
                "design, fractional, requires, excludes)",
            }));
  // Two components that set one key differently in one point; a study-wide key in a component.
  EXPECT_EQ(printed_errors(head + R"([ablation]
components = [{ label = "KCM", set = { "model.msc" = "kcm" } }, { label = "MSC", set = { "model.msc" = "msc" } }]
design = "factorial"
)"),
            (std::vector<std::string>{"/tmp/d.toml:9:104: `ablation.components`: components `KCM` and `MSC` set "
                                      "`model.msc` to different values in design point `kcm-msc`: add excludes = "
                                      "[[\"KCM\", \"MSC\"]]"}));
  const auto folds = printed_errors(head + R"([ablation]
components = [{ label = "F", set = { "study.folds" = 3 } }]
design = "add-one"
)");
  ASSERT_EQ(folds.size(), 1u);
  EXPECT_NE(folds[0].find("`study.folds`: cannot be set in an [[ablation.variant]]"), std::string::npos) << folds[0];
}

// The examples written as designs load, and those that rewrite a hand-written table have its variants
// (names and hashes; 003's order differs, so by name).
TEST(DesignStudy, ExamplesParseAndMatchTheirTables) {
  const std::string ex = std::string(ABLATE_SOURCE_DIR) + "/examples/";
  auto by_name = [](const Study& s) {
    std::map<std::string, std::pair<std::string, std::string>> out;
    for (const auto& v : s.variants) out[v.name] = {v.label, v.hash};
    return out;
  };
  EXPECT_EQ(by_name(load_study(ex + "dsms_design.toml")), by_name(load_study(ex + "dsms_table.toml")));
  const Study dsms = load_study(ex + "dsms_design.toml");
  EXPECT_EQ(dsms.design_plan.removed.size(), 4u);
  EXPECT_EQ(by_name(load_study(ex + "anunet_table6_design.toml")), by_name(load_study(ex + "anunet_table6.toml")));
  const Study factorial = load_study(ex + "table2_factorial_demo.toml");
  ASSERT_EQ(factorial.variants.size(), 32u);
  const auto table2 = by_name(load_study(ex + "table2_demo.toml"));
  const auto all = by_name(factorial);
  for (const auto& [name, label_hash] : table2) {
    ASSERT_TRUE(all.count(name)) << name;
    EXPECT_EQ(all.at(name).second, label_hash.second) << name;  // Table II's rows, same hashes
  }
  const Study tiny = load_study(ex + "factorial_tiny.toml");
  EXPECT_EQ(tiny.variants.size(), 8u);
  EXPECT_EQ(tiny.variants[3].name, "coa");
  EXPECT_EQ(tiny.variants[7].label, "U-Net+CoA+MuS");
}
