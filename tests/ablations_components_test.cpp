// The component registry (ablations/components.hpp): the lists every other place reads from it, the
// variants.components column it writes (byte for byte as before the registry), and its agreement with the
// schema that documents and checks the component keys.
#include <gtest/gtest.h>

#include <set>

#include "ablations/components.hpp"
#include "ablations/schema.hpp"
#include "reports/format.hpp"

using namespace ablate;

namespace {

std::vector<std::string> names() {
  std::vector<std::string> n;
  for (const auto& c : components()) n.push_back(c.name);
  return n;
}

}  // namespace

TEST(Components, OneEntryPerNameInDisplayOrder) {
  EXPECT_EQ(names(), (std::vector<std::string>{"backbone", "cc", "sc", "se", "cbam", "pam", "cam", "mus", "fusion", "ec",
                                               "dws", "nested", "attention_gates", "aux_path", "dspa", "ca", "msc",
                                               "restoration", "multiscale", "refinement", "guidance"}));
  const auto all = names();
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), all.size());
  ASSERT_NE(find_component("dspa"), nullptr);
  EXPECT_STREQ(find_component("dspa")->paper, "000 eqs. 9-11");
  EXPECT_EQ(find_component("dspa_k"), nullptr);
}

TEST(Components, OnlyTheBackboneIsOnByDefault) {
  EXPECT_EQ(components_on(ModelConfig{}), std::vector<std::string>{"backbone"});
  ModelConfig m;
  m.backbone = "resnet";
  m.attention = "pam_cam";
  m.refinements = 2;
  m.semantic_guidance = true;
  EXPECT_EQ(components_on(m), (std::vector<std::string>{"backbone", "pam", "cam", "multiscale", "refinement", "guidance"}));
  ModelConfig f;
  f.mus = true;
  f.attention = "se";
  EXPECT_EQ(components_on(f), (std::vector<std::string>{"backbone", "se", "mus", "fusion"}));
}

// The column's text is what runner/coordinator.cpp's components_of wrote before the registry: flags in
// this order, then attention= and msc=, then fusion= (only with CC or SC); nested and 002's parts absent.
TEST(Components, RecordedColumnIsUnchanged) {
  EXPECT_EQ(recorded_components(ModelConfig{}), "");
  ModelConfig coa;
  coa.cc = coa.sc = coa.mus = true;
  EXPECT_EQ(recorded_components(coa), "cc,sc,mus,fusion=deep");
  ModelConfig all;
  all.cc = all.mus = all.ec = all.dws = all.attention_gates = all.aux_path = all.dspa = all.ca = all.restoration = true;
  all.msc = "kcm";
  all.fusion = "serial";
  EXPECT_EQ(recorded_components(all), "cc,mus,ec,dws,attention_gates,aux_path,dspa,ca,restoration,msc=kcm,fusion=serial");
  ModelConfig dual;
  dual.mus = true;
  dual.attention = "pam_cam";  // fusion is on (parameters) but the column never recorded it without CC or SC
  EXPECT_EQ(recorded_components(dual), "mus,attention=pam_cam");
  ModelConfig anu;
  anu.nested = anu.attention_gates = true;
  anu.attention = "cbam";
  anu.msc = "cascade";
  EXPECT_EQ(recorded_components(anu), "attention_gates,attention=cbam,msc=cascade");
  ModelConfig msga;
  msga.backbone = "resnet";
  msga.attention = "cam";
  msga.semantic_guidance = true;
  EXPECT_EQ(recorded_components(msga), "attention=cam");
}

TEST(Components, PlacementListsKeepTheirOrder) {
  EXPECT_EQ(component_keys(kNotWithNested),
            (std::vector<std::string>{"model.dws", "model.aux_path", "model.dspa", "model.ca", "model.msc"}));
  EXPECT_EQ(component_keys(kUNetOnly),
            (std::vector<std::string>{"model.cc", "model.sc", "model.attention", "model.mus", "model.ec", "model.dws",
                                      "model.nested", "model.attention_gates", "model.aux_path", "model.dspa", "model.ca",
                                      "model.msc", "model.restoration"}));
  ModelConfig m;
  m.nested = m.dws = true;
  m.msc = "msc";
  EXPECT_EQ(component_keys_on(m, kNotWithNested), (std::vector<std::string>{"model.dws", "model.msc"}));
  m.attention = "pam";  // 002's attention: allowed on either backbone
  EXPECT_EQ(component_keys_on(m, kUNetOnly), (std::vector<std::string>{"model.dws", "model.nested", "model.msc"}));
  m.attention = "se";
  EXPECT_EQ(component_keys_on(m, kUNetOnly), (std::vector<std::string>{"model.attention", "model.dws", "model.nested", "model.msc"}));
}

// The schema documents and checks the component keys from the registry: a boolean key's doc and paper,
// the choice lists, and every key a component names exists with the value that turns it on allowed.
TEST(Components, TheSchemaReadsTheRegistry) {
  int own_keys = 0;
  for (const auto& c : components()) {
    if (*c.key == '\0') continue;
    const KeyDef* k = find_key(c.key);
    ASSERT_NE(k, nullptr) << c.name << ": " << c.key;
    if (*c.doc != '\0') {
      ++own_keys;
      EXPECT_EQ(k->type, ValueType::kBool) << c.key;
      EXPECT_EQ(k->doc, c.doc) << c.key;
      EXPECT_EQ(k->paper, c.paper) << c.key;
      EXPECT_EQ(component_of_key(c.key), &c);
    }
    if (*c.value != '\0') {
      EXPECT_NE(std::find(k->choices.begin(), k->choices.end(), c.value), k->choices.end()) << c.key << " = " << c.value;
    }
  }
  EXPECT_EQ(own_keys, 12);
  for (const char* key : {"model.attention", "model.msc", "model.fusion"}) {
    EXPECT_EQ(find_key(key)->choices, component_choices(key)) << key;
  }
  EXPECT_EQ(component_choices("model.attention"), (std::vector<std::string>{"none", "se", "cbam", "pam", "cam", "pam_cam"}));
  EXPECT_THROW(component_choices("model.up"), std::out_of_range);
}

TEST(Components, TableHeadingsComeFromTheRegistry) {
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"cc", "CC"},   {"model.sc", "SC"}, {"mus", "MuS"},  {"ec", "EC"},          {"dws", "DWS"},
      {"dspa", "DSPA"}, {"ca", "CA"},     {"aux_path", "Aux"}, {"restoration", "Rest."}, {"attention_gates", "AG"},
      {"nested", "nested"}, {"semantic_guidance", "semantic_guidance"}, {"train.lr", "lr"}};
  for (const auto& [key, label] : expected) {
    EXPECT_EQ(component_label(key), label) << key;
    EXPECT_EQ(reports::component_display(key), label) << key;
  }
}
