// Demo scale: the `--set` overrides that shrink any study to a run of minutes on a 2-core machine, and the
// synthetic dataset that matches its classes (`ablate demo --study FILE`, docs/CLI.md "demo").
//
// Contract: demo_scale() is a pure function of the loaded study (its base configuration, before variants
// and sweep points) and the options; it reads no file and runs nothing. The caller synthesises the
// dataset described by DemoScale::data and passes DemoScale::overrides to `ablate run --set`, so that the
// demo is the user's own study file through the one override layer (ablations/study.hpp precedence:
// above the file and its bases, below the variants and the sweep), never a second study path. Everything
// the rules below do not name (variants, designs, sweeps and their keys, early stopping, published
// tables, report settings, losses, the intensity handling) stays as the file says.
//
// The rules (each override is listed in DemoScale::changes with the file's value and why):
//   data.path        the synthetic dataset's folder
//   data.image_size  min(file, 64); tiny: min(file, 32)
//   model.widths     divided by widths[0] / 8 (tiny: / 4) when widths[0] is larger: the ratios stay
//   model.mus_rates  scaled so that the largest is bridge - 1, where bridge = image_size / 2^(depth - 1)
//                    (a dilation >= the bridge reads only padding, docs/MODELS.md "MuS at small bridges")
//   model.resnet_blocks  one bottleneck per stage; model.guided_width min(file, 8)   (backbone = resnet)
//   train.epochs, train.steps_per_epoch  10 x 20 (tiny: 1 x 2); train.batch_size 8 (tiny 2)
//   train.lr         3e-3 (Adam at 200 steps; the papers' 1e-5..1e-3 are for hundreds of epochs)
//   sweep.train.lr   a searched (uniform or log_uniform) learning rate: log_uniform [3e-4, 1e-2], a decade
//                    below the demo's rate to about 3 times it (a choice of rates stays as written)
//   train.accumulate 1; train.threads 1 (ranks share the cores)
//   data.empty_slice_ratio  0.2 (demo slices mostly hold the organs)
//   resources.gpus_per_node 0, resources.nodes 1, train.device "cuda" -> "auto": the machine at hand
//   sweep.trials     min(file, 8) for a search (tiny: 2); sweep.startup at most half of them (tpe)
//   study.split      tiny only: [0.5, 0.25, 0.25] (one split of 4 cases instead of k folds)
// The dataset: labels 1..L where L is the largest label in data.label_groups (1 or 2 when they are empty:
// organ and tumour): L <= 2 -> one organ and a tumour inside it (labels 1, 2); L = 3 or 4 -> L organs;
// L = 5 -> four organs and a tumour. Larger L is refused. image_size voxels in-plane, 16 slices (tiny 6),
// 10 cases (tiny 4), never fewer than study.folds.
#pragma once

#include <string>
#include <vector>

#include "ablations/study.hpp"

namespace ablate {

struct DemoOptions {
  std::string data_dir;  // where the synthetic dataset is (or will be) written: data.path's value
  bool tiny = false;     // the smoke-test scale: one split, one epoch of two steps, 32 px
  int epochs = 0;        // > 0: train.epochs instead of the rule's
  int steps = -1;        // >= 0: train.steps_per_epoch instead of the rule's (0 = one pass)
  int cases = 0;         // > 0: synthetic cases instead of the rule's
};

struct DemoChange {
  std::string key;
  std::string from;  // the file's value (canonical TOML literal)
  std::string to;    // the demo's value
  std::string why;
};

// The synthetic dataset (trainer/data/synth.hpp SynthOptions' fields of the same names).
struct DemoData {
  int organs = 1;
  bool tumour = true;
  int size = 64;
  int slices = 16;
  int cases = 10;
  // What the study's classes are on it, one line: "class 1 (liver) = organ (label 1); ...".
  std::string labels;
};

struct DemoScale {
  std::vector<std::string> overrides;  // "key=value", for --set
  std::vector<DemoChange> changes;     // the same, with the file's values and the reasons, for printing
  DemoData data;
};

// Throws SpecError when the study cannot be shown at demo scale (more labels than the synthetic data has),
// naming the study file, the key and what is allowed.
DemoScale demo_scale(const Study& study, const DemoOptions& options);

}  // namespace ablate
