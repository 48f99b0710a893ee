#include "ablations/components.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace ablate {

namespace {

bool coa_or_attention(const ModelConfig& m) { return m.cc || m.sc || m.attention != "none"; }

// The table. The order is the display order, and it also fixes the order of the lists built from it: the
// flags of the variants.components column (cc,sc,mus,ec,dws,attention_gates,aux_path,dspa,ca,restoration),
// the keys 002's network refuses and the keys the nested decoder refuses, as the messages have always
// listed them. A new component is one entry here (docs/ARCHITECTURE.md "Components").
std::vector<Component> build() {
  const std::string ModelConfig::*attention = &ModelConfig::attention;
  const std::string ModelConfig::*msc = &ModelConfig::msc;
  const std::string ModelConfig::*fusion = &ModelConfig::fusion;
  const unsigned unet = kUNetOnly, decoder = kUNetOnly | kNotWithNested;
  return {
      {"backbone", "", "", "", "READINGS, Common (U-Net); 002 Sec. III-A (ResNet)", "",
       [](const ModelConfig&) { return true; }, kAnywhere, Recorded::kNo, nullptr, nullptr},
      {"cc", "model.cc", "", "CC: channel-correlation attention at the bridge.", "001 eqs. 2-3, 5-7, Fig. 2(b), Table II",
       "CC", [](const ModelConfig& m) { return m.cc; }, unet, Recorded::kFlag, nullptr, nullptr},
      {"sc", "model.sc", "", "SC: spatial-correlation attention at the bridge; cc + sc = CoA (F_A = S ⊙ F_C + F).",
       "001 eqs. 1, 8-9 (CoA eq. 4), Table II", "SC", [](const ModelConfig& m) { return m.sc; }, unet, Recorded::kFlag,
       nullptr, nullptr},
      {"se", "model.attention", "se", "", "001 Table V (squeeze-and-excitation)", "",
       [](const ModelConfig& m) { return m.attention == "se"; }, unet, Recorded::kChoice, attention, nullptr},
      {"cbam", "model.attention", "cbam", "", "001 Table V (CBAM)", "",
       [](const ModelConfig& m) { return m.attention == "cbam"; }, unet, Recorded::kChoice, attention, nullptr},
      {"pam", "model.attention", "pam", "", "002 eqs. 2-3, Sec. III-C", "",
       [](const ModelConfig& m) { return m.attention == "pam" || m.attention == "pam_cam"; }, kAnywhere,
       Recorded::kChoice, attention, nullptr},
      {"cam", "model.attention", "cam", "", "002 eqs. 4-5, Sec. III-C", "",
       [](const ModelConfig& m) { return m.attention == "cam" || m.attention == "pam_cam"; }, kAnywhere,
       Recorded::kChoice, attention, nullptr},
      {"mus", "model.mus", "", "MuS: atrous spatial pyramid pooling at the bridge.", "001 Fig. 2c, Table II", "MuS",
       [](const ModelConfig& m) { return m.mus; }, unet, Recorded::kFlag, nullptr, nullptr},
      // On whenever MuS meets an attention at the bridge (model.fusion says how, 001 eq. 10 and Table III);
      // the column has recorded its mode only with CC or SC, as db/SCHEMA.md says.
      {"fusion", "model.fusion", "", "", "001 eq. 10, Table III", "",
       [](const ModelConfig& m) { return m.mus && coa_or_attention(m); }, kAnywhere, Recorded::kMode, fusion,
       [](const ModelConfig& m) { return m.mus && (m.cc || m.sc); }},
      {"ec", "model.ec", "", "EC: enhanced convolution (parallel 3x3, 1x3, 3x1) in the encoder.", "001 Fig. 2(a), Table II",
       "EC", [](const ModelConfig& m) { return m.ec; }, unet, Recorded::kFlag, nullptr, nullptr},
      {"dws", "model.dws", "", "DWS: decoder side output with deep supervision.", "001 Fig. 2(d), Sec. III-B, Table II",
       "DWS", [](const ModelConfig& m) { return m.dws; }, decoder, Recorded::kFlag, nullptr, nullptr},
      {"nested", "model.nested", "",
       "ANU-Net / UNet++: nested dense skip pathways; node X^{i,j} (j >= 1) is a conv block over the concatenation of "
       "X^{i,0..j-1} (each through an attention gate when model.attention_gates is on) and the up-sampled X^{i+1,j-1}. "
       "Not with model.dws, aux_path, dspa, ca or msc.",
       "003 eq. 4, Figs. 4-5", "", [](const ModelConfig& m) { return m.nested; }, unet, Recorded::kNo, nullptr, nullptr},
      {"attention_gates", "model.attention_gates", "", "Attention U-Net gates on the skip connections.", "001 Table I, 003",
       "AG", [](const ModelConfig& m) { return m.attention_gates; }, unet, Recorded::kFlag, nullptr, nullptr},
      {"aux_path", "model.aux_path", "", "MDA-U-Net*: additional expansive path with its own head (dual supervision).",
       "000 eqs. 2-5, 8", "Aux", [](const ModelConfig& m) { return m.aux_path; }, decoder, Recorded::kFlag, nullptr,
       nullptr},
      {"dspa", "model.dspa", "",
       "MDA-U-Net*: dense spatial position attention on the skips between the two expansive paths.", "000 eqs. 9-11",
       "DSPA", [](const ModelConfig& m) { return m.dspa; }, decoder, Recorded::kFlag, nullptr, nullptr},
      {"ca", "model.ca", "", "MDA-U-Net*: channel self-attention after DSPA.", "000 eqs. 12-13", "CA",
       [](const ModelConfig& m) { return m.ca; }, decoder, Recorded::kFlag, nullptr, nullptr},
      {"msc", "model.msc", "", "", "004; 000 eq. 14 (cascade)", "",
       [](const ModelConfig& m) { return m.msc != "none"; }, decoder, Recorded::kChoice, msc, nullptr},
      {"restoration", "model.restoration", "", "DSMS U-Net: restoration decoder with a reconstruction loss.", "004",
       "Rest.", [](const ModelConfig& m) { return m.restoration; }, unet, Recorded::kFlag, nullptr, nullptr},
      {"multiscale", "model.backbone", "resnet", "", "002 Sec. III-B, Fig. 1", "",
       [](const ModelConfig& m) { return m.backbone == "resnet"; }, kAnywhere, Recorded::kNo, nullptr, nullptr},
      {"refinement", "model.refinements", "", "", "002 Sec. III-C, Table I", "",
       [](const ModelConfig& m) { return m.backbone == "resnet" && m.refinements > 1; }, kAnywhere, Recorded::kNo,
       nullptr, nullptr},
      {"guidance", "model.semantic_guidance", "",
       "With model.backbone = resnet: an encoder-decoder per refinement step whose reconstruction multiplies the "
       "attention features and whose codes are pulled together by the guided loss (loss.guided_weight) and whose "
       "reconstructions by loss.recon_weight: MS-Dual-Guided.",
       "002 Fig. 3, eqs. 6-7, Table I", "", [](const ModelConfig& m) { return m.backbone == "resnet" && m.semantic_guidance; },
       kAnywhere, Recorded::kNo, nullptr, nullptr},
  };
}

std::string short_key(const std::string& key) { return key.rfind("model.", 0) == 0 ? key.substr(6) : key; }

void add_once(std::vector<std::string>& list, const std::string& item) {
  if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
}

}  // namespace

const std::vector<Component>& components() {
  static const std::vector<Component> table = build();
  return table;
}

const Component* find_component(const std::string& name) {
  for (const auto& c : components())
    if (name == c.name) return &c;
  return nullptr;
}

const Component* component_of_key(const std::string& key) {
  const std::string full = key.find('.') == std::string::npos ? "model." + key : key;
  for (const auto& c : components())
    if (full == c.key && *c.value == '\0' && *c.doc != '\0') return &c;
  return nullptr;
}

std::vector<std::string> components_on(const ModelConfig& m) {
  std::vector<std::string> on;
  for (const auto& c : components())
    if (c.on(m)) on.push_back(c.name);
  return on;
}

std::vector<std::string> component_keys_on(const ModelConfig& m, unsigned placement) {
  std::vector<std::string> keys;
  for (const auto& c : components())
    if ((c.placement & placement) != 0 && c.on(m)) add_once(keys, c.key);
  return keys;
}

std::vector<std::string> component_keys(unsigned placement) {
  std::vector<std::string> keys;
  for (const auto& c : components())
    if ((c.placement & placement) != 0) add_once(keys, c.key);
  return keys;
}

std::string recorded_components(const ModelConfig& m) {
  std::vector<std::string> parts;
  for (Recorded pass : {Recorded::kFlag, Recorded::kChoice, Recorded::kMode}) {
    for (const auto& c : components()) {
      if (c.recorded != pass || !c.on(m)) continue;
      if (pass == Recorded::kFlag) {
        parts.push_back(c.name);
      } else if (pass == Recorded::kChoice || c.recorded_when == nullptr || c.recorded_when(m)) {
        add_once(parts, short_key(c.key) + "=" + m.*c.recorded_value);
      }
    }
  }
  std::string text;
  for (const auto& p : parts) text += (text.empty() ? "" : ",") + p;
  return text;
}

const std::vector<std::string>& component_choices(const std::string& key) {
  static const std::map<std::string, std::vector<std::string>> choices = {
      {"model.attention", {"none", "se", "cbam", "pam", "cam", "pam_cam"}},
      {"model.msc", {"none", "msc", "kcm", "cascade"}},
      {"model.fusion", {"deep", "add", "serial"}},
  };
  return choices.at(key);
}

std::string component_label(const std::string& key) {
  const std::string last = key.substr(key.rfind('.') == std::string::npos ? 0 : key.rfind('.') + 1);
  const Component* c = component_of_key("model." + last);
  return c != nullptr && *c->label != '\0' ? c->label : last;
}

}  // namespace ablate
