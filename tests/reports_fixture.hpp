// A small fixed store content for the reports tests, built in code (no data files): study "tcia" with
// five variants (one without results, one with a UTF-8 label), 3 folds x 4 cases, per-case and per-fold
// dice/sensitivity/assd, epochs and model facts, its study text and resolved configuration as the
// coordinator stores them; study "msd" with two classes and only a resolved configuration (dataset
// "MSD", class 1 named "pancreas", class 2 unnamed).
#pragma once

#include <string>
#include <vector>

#include "db/rows.hpp"

namespace ablate::reports::testing {

inline db::StudyData tcia_study() {
  db::StudyData s;
  s.study = "tcia";
  s.provenance["ablate_version"] = "0.1.0";
  s.provenance["git_commit"] = "0123456789ab";
  s.provenance["study_file"] = "studies/tcia.toml";
  s.provenance["study_text"] =
      "[study]\nname = \"tcia\"\nfolds = 3\n\n[report]\nmetrics = [\"dice\", \"sensitivity\", \"assd\"]\n"
      "baseline = \"unet\"\nsweep_key = \"loss.alpha\"\ndataset = \"TCIA\"\nclass_names = [\"pancreas\"]\n\n"
      "[[ablation.variant]]\nname = \"unet\"\nlabel = \"U-Net\"\n";
  // runner/coordinator.cpp stores the resolved configuration (ablate::resolved_text: every key) beside
  // the text; the reports read its report.* lines only, so the fixture keeps those and two others (a
  // golden file that listed every key would change with every new study key).
  s.provenance["study_resolved"] =
      "report.aggregate = \"folds\"\nreport.baseline = \"unet\"\nreport.class_names = [\"pancreas\"]\n"
      "report.components = [\"cc\", \"sc\", \"mus\", \"ec\", \"dws\"]\nreport.dataset = \"TCIA\"\nreport.decimals = 2\n"
      "report.metrics = [\"dice\", \"sensitivity\", \"assd\"]\nreport.percent = true\nreport.rows = []\n"
      "report.sweep_key = \"loss.alpha\"\nstudy.folds = 3\nstudy.name = \"tcia\"\n";
  struct V {
    const char* name;
    const char* label;
    const char* canonical;
  };
  const std::vector<V> variants = {
      {"unet", "U-Net", "loss.alpha = 0.5\nmodel.cc = false\nmodel.ec = false\nmodel.sc = false\n"},
      {"cc", "U-Net+CC", "loss.alpha = 0.5\nmodel.cc = true\nmodel.ec = false\nmodel.sc = false\n"},
      {"coa3", "U-Net+CoA (α=0.3)", "loss.alpha = 0.3\nmodel.cc = true\nmodel.ec = false\nmodel.sc = true\n"},
      {"coa7", "U-Net+CoA (α=0.7)", "loss.alpha = 0.7\nmodel.cc = true\nmodel.ec = false\nmodel.sc = true\n"},
      {"ec", "U-Net+EC", "loss.alpha = 0.5\nmodel.cc = false\nmodel.ec = true\nmodel.sc = false\n"},
  };
  for (std::size_t k = 0; k < variants.size(); ++k)
    s.variants.push_back({variants[k].name, variants[k].label, "hash" + std::to_string(k), variants[k].canonical,
                          static_cast<int>(k)});
  // Results for the first four variants; "ec" has none.
  for (int k = 0; k < 4; ++k) {
    const std::string v = variants[static_cast<std::size_t>(k)].name;
    for (int fold = 0; fold < 3; ++fold) {
      double sum_d = 0, sum_s = 0, sum_a = 0;
      for (int c = 0; c < 4; ++c) {
        const int id = fold * 4 + c;
        char case_id[16];
        std::snprintf(case_id, sizeof case_id, "case_%02d", id);
        const double dice = 0.70 + 0.03 * k + 0.01 * ((id * 7 + k * 3) % 5);
        const double sens = 0.75 + 0.02 * (k % 3) + 0.015 * ((id * 5 + k) % 4);
        const double assd = 5.0 - 0.5 * k + 0.1 * ((id * 3 + k) % 4) + (id == 11 && k == 0 ? 9.0 : 0.0);
        s.case_metrics.push_back({v, fold, 0, case_id, 1, "dice", dice});
        s.case_metrics.push_back({v, fold, 0, case_id, 1, "sensitivity", sens});
        s.case_metrics.push_back({v, fold, 0, case_id, 1, "assd", assd});
        sum_d += dice, sum_s += sens, sum_a += assd;
      }
      s.fold_metrics.push_back({v, fold, 0, 1, "dice", sum_d / 4});
      s.fold_metrics.push_back({v, fold, 0, 1, "sensitivity", sum_s / 4});
      s.fold_metrics.push_back({v, fold, 0, 1, "assd", sum_a / 4});
      for (int e = 0; e < 3; ++e)
        s.epochs.push_back({v, fold, 0, e, 1.0 - 0.2 * e, 0.9 - 0.2 * e + 0.01 * fold, 0.5 + 0.1 * e + 0.02 * k, 1e-3, 2.0});
    }
    s.model_facts.push_back({v, 1000000 * (k + 1) + 123, 10.0 + 2.5 * k});
  }
  return s;
}

inline db::StudyData msd_study() {
  db::StudyData s;
  s.study = "msd";
  s.provenance["study_resolved"] = "report.class_names = [\"pancreas\"]\nreport.dataset = \"MSD\"\n";
  s.variants.push_back({"unet", "U-Net", "h0", "model.cc = false\n", 0});
  s.variants.push_back({"cc", "U-Net+CC", "h1", "model.cc = true\n", 1});
  for (int k = 0; k < 2; ++k) {
    const std::string v = k == 0 ? "unet" : "cc";
    for (int fold = 0; fold < 2; ++fold)
      for (int cls = 1; cls <= 2; ++cls) {
        double sum = 0;
        for (int c = 0; c < 3; ++c) {
          const double dice = 0.60 + 0.05 * k + 0.1 * cls + 0.01 * ((fold * 3 + c + k) % 3);
          s.case_metrics.push_back({v, fold, 0, "m" + std::to_string(fold * 3 + c), cls, "dice", dice});
          sum += dice;
        }
        s.fold_metrics.push_back({v, fold, 0, cls, "dice", sum / 3});
      }
  }
  return s;
}

}  // namespace ablate::reports::testing
