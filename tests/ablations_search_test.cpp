// Searches in a study file ([sweep] method = random | sobol | tpe) and `--set` overrides: parsing, located
// errors, trial expansion (names, labels, values, hashes), reproducibility, and trial_variant.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "ablations/schema.hpp"
#include "ablations/study.hpp"
#include "sweeps/metric.hpp"

using namespace ablate;

namespace {

std::vector<std::string> printed_errors(const std::string& text, const std::vector<std::string>& set = {}) {
  try {
    load_study_text(text, "/tmp/s.toml", set);
  } catch (const SpecError& e) {
    std::vector<std::string> out;
    for (const auto& d : e.diagnostics()) out.push_back(d.str());
    return out;
  }
  return {};
}

using Lines = std::vector<std::string>;

const char* kRandom = R"([study]
name = "search"
seed = 7
[sweep]
method = "random"
trials = 6
"train.lr" = { log_uniform = [1e-5, 1e-2] }
"loss.alpha" = { uniform = [0.1, 0.9] }
"model.dspa_k" = { int = [1, 16] }
"model.msc" = { choice = ["msc", "kcm", "cascade"] }
)";

}  // namespace

TEST(StudySearch, RandomTrialsAreVariantsNamedFromTheirValues) {
  const Study s = load_study_text(kRandom, "/tmp/s.toml");
  EXPECT_EQ(s.search.method, "random");
  EXPECT_EQ(s.search.trials, 6);
  EXPECT_EQ(s.search.objective, "dice");  // train.select_metric's default
  EXPECT_FALSE(s.search.minimize);
  ASSERT_EQ(s.search.space.size(), 4u);
  EXPECT_EQ(s.search.space[0].key, "train.lr");  // file order
  EXPECT_EQ(s.search.space[3].key, "model.msc");
  ASSERT_EQ(s.variants.size(), 6u);
  std::set<std::string> names, hashes;
  for (int t = 0; t < 6; ++t) {
    const Variant& v = s.variants[t];
    EXPECT_EQ(v.trial, t);
    EXPECT_EQ(v.ordinal, t);
    EXPECT_EQ(v.name.substr(0, 5), "t00" + std::to_string(t) + "_") << v.name;
    EXPECT_NE(v.name.find("_lr"), std::string::npos) << v.name;
    EXPECT_EQ(v.label.substr(0, 2), "#" + std::to_string(t)) << v.label;
    EXPECT_GE(v.config.train.lr, 1e-5);
    EXPECT_LE(v.config.train.lr, 1e-2);
    EXPECT_GE(v.config.model.dspa_k, 1);
    EXPECT_LE(v.config.model.dspa_k, 16);
    EXPECT_TRUE(v.config.model.msc == "msc" || v.config.model.msc == "kcm" || v.config.model.msc == "cascade");
    EXPECT_EQ(v.values.at("loss.alpha").origin, Origin::kSweep);
    EXPECT_EQ(v.values.at("loss.alpha").where, "/tmp/s.toml:8");
    names.insert(v.name);
    hashes.insert(v.hash);
    // The sampled point is what the configuration holds.
    EXPECT_EQ(v.point[0], v.config.train.lr);
    EXPECT_EQ(v.point[1], v.config.loss.alpha);
  }
  EXPECT_EQ(names.size(), 6u);
  EXPECT_EQ(hashes.size(), 6u);
  // Reproducible: the same text gives the same trials; more trials extend the same sequence.
  const Study again = load_study_text(kRandom, "/tmp/s.toml");
  for (int t = 0; t < 6; ++t) EXPECT_EQ(again.variants[t].hash, s.variants[t].hash);
  const Study more = load_study_text(kRandom, "/tmp/s.toml", {"sweep.trials=9"});
  ASSERT_EQ(more.variants.size(), 9u);
  for (int t = 0; t < 6; ++t) EXPECT_EQ(more.variants[t].name, s.variants[t].name);
  // Another seed, other trials.
  const Study other = load_study_text(kRandom, "/tmp/s.toml", {"study.seed=8"});
  EXPECT_NE(other.variants[0].name, s.variants[0].name);
}

TEST(StudySearch, SobolCrossesTheDeclaredVariants) {
  const Study s = load_study_text(R"([study]
name = "sob"
[[ablation.variant]]
name = "unet"
[[ablation.variant]]
name = "cc"
label = "U-Net+CC"
"model.cc" = true
[sweep]
method = "sobol"
trials = 4
"loss.alpha" = { uniform = [0.0, 1.0] }
"model.dspa_k" = { int = [1, 4] }
)",
                                  "/tmp/s.toml");
  ASSERT_EQ(s.variants.size(), 8u);
  EXPECT_EQ(s.search.declared, (std::vector<std::string>{"unet", "cc"}));
  for (int d = 0; d < 2; ++d) {
    std::set<long> ks;
    std::set<int> halves;
    for (int t = 0; t < 4; ++t) {
      const Variant& v = s.variants[d * 4 + t];
      EXPECT_EQ(v.ordinal, d * 4 + t);
      EXPECT_EQ(v.declared, d == 0 ? "unet" : "cc");
      EXPECT_EQ(v.name.rfind(v.declared + "_t00" + std::to_string(t) + "_", 0), 0u) << v.name;
      EXPECT_EQ(v.config.model.cc, d == 1);
      ks.insert(v.config.model.dspa_k);
      halves.insert(v.config.loss.alpha < 0.5);
    }
    // Four Sobol points stratify: every K of 1..4 once, both halves of alpha.
    EXPECT_EQ(ks.size(), 4u);
    EXPECT_EQ(halves.size(), 2u);
  }
  EXPECT_EQ(s.variants[5].label.rfind("U-Net+CC (#1: ", 0), 0u) << s.variants[5].label;
  // The same points for both declared variants (paired).
  EXPECT_EQ(s.variants[1].point, s.variants[5].point);
}

TEST(StudySearch, TpeHasNoTrialsAtLoadAndTrialVariantMakesThem) {
  const Study s = load_study_text(R"([study]
name = "t"
[train]
select_metric = "loss"
[sweep]
method = "tpe"
trials = 20
startup = 4
"train.lr" = { log_uniform = [1e-4, 1e-2] }
"model.msc" = { choice = ["msc", "kcm"] }
)",
                                  "/tmp/s.toml");
  EXPECT_TRUE(s.variants.empty());
  EXPECT_TRUE(s.search.adaptive());
  EXPECT_EQ(s.search.startup, 4);
  EXPECT_EQ(s.search.objective, "loss");
  EXPECT_TRUE(s.search.minimize);
  const Variant v = trial_variant(s, "", 3, {0.00123, 1});
  EXPECT_EQ(v.trial, 3);
  EXPECT_EQ(v.ordinal, 3);
  EXPECT_EQ(v.name, "t003_lr0.00123_msckcm");
  EXPECT_EQ(v.label, "#3 lr=0.00123, msc=kcm");
  EXPECT_EQ(v.config.train.lr, 0.00123);
  EXPECT_EQ(v.config.model.msc, "kcm");
  EXPECT_EQ(trial_variant(s, "", 3, {0.00123, 1}).hash, v.hash);
}

TEST(StudySearch, ErrorsNameTheLineTheKeyAndWhatIsAllowed) {
  EXPECT_EQ(printed_errors(R"([sweep]
"loss.alpha" = { uniform = [0.1, 0.9] }
)"),
            (Lines{"/tmp/s.toml:2:1: `sweep.loss.alpha`: a distribution needs method = \"random\", \"sobol\", \"tpe\", \"motpe\" or "
                   "\"nsga2\" in [sweep] (a grid takes a list of values)"}));
  EXPECT_EQ(printed_errors(R"([sweep]
method = "random"
"loss.alpha" = [0.1, 0.2]
)"),
            (Lines{"/tmp/s.toml:2:10: `sweep.method`: method = \"random\" has no key to sample: add e.g. \"train.lr\" = { "
                   "log_uniform = [1e-5, 1e-2] }",
                   "/tmp/s.toml:2:10: `sweep.trials`: method = \"random\" needs trials = N in [sweep] (the number of "
                   "sampled configurations)",
                   "/tmp/s.toml:3:1: `sweep.loss.alpha`: method = \"random\" samples distributions: write { choice = [...] } "
                   "for a list of values"}));
  EXPECT_EQ(printed_errors(R"([sweep]
method = "bayes"
trials = 0
)"),
            (Lines{"/tmp/s.toml:2:10: `sweep.method`: expected one of: grid, random, sobol, tpe, motpe, nsga2",
                   "/tmp/s.toml:3:10: `sweep.trials`: expected an integer in [1, 100000]: the number of sampled configurations"}));
  const auto e = printed_errors(R"([sweep]
method = "random"
trials = 3
"train.lr" = { log_uniform = [0, 1e-2] }
"loss.alpha" = { uniform = [0.2, 1.5] }
"model.dspa_k" = { uniform = [1, 4] }
"model.msc" = { gaussian = [1, 2] }
"model.cc" = { choice = [true, true] }
"study.seed" = { int = [1, 3] }
"train.epochs" = { int = [0.5, 3] }
)");
  EXPECT_EQ(e, (Lines{
                   // Every key was refused, each where it is written; "has no key to sample" would only repeat
                   // them (issue 25), so it is not said.
                   "/tmp/s.toml:4:30: `sweep.train.lr`: log_uniform: expected 0 < low < high",
                   "/tmp/s.toml:5:34: `loss.alpha`: value 1.5 is not allowed: expected a number in [0.0, 1.0]",
                   "/tmp/s.toml:6:20: `sweep.model.dspa_k`: uniform needs a number key; for this integer key use { int = [a, b] } "
                   "or { choice = [...] }",
                   "/tmp/s.toml:7:17: `sweep.model.msc`: unknown distribution `gaussian`: expected one of { uniform = [a, b] }, "
                   "{ log_uniform = [a, b] }, { int = [a, b] }, { choice = [...] }",
                   "/tmp/s.toml:8:32: `sweep.model.cc`: choice: value true is listed twice",
                   "/tmp/s.toml:9:1: `sweep.study.seed`: cannot be swept: " + find_key("study.seed")->study_wide,
                   "/tmp/s.toml:10:26: `sweep.train.epochs`: int: expected [low, high], two integers",
               }));
  EXPECT_EQ(printed_errors(R"([sweep]
method = "tpe"
trials = 5
objective = "test_dice"
"loss.alpha" = { uniform = [0.1, 0.9] }
)"),
            (Lines{"/tmp/s.toml:4:13: `sweep.objective`: expected one of: loss, dice, iou, sensitivity, precision, "
                   "specificity, vs, assd, hd95 (a validation metric, as train.select_metric; test metrics never steer a "
                   "search)"}));
}

// The objective is the validation metric train.select_metric selects on: any metric it allows, with the
// metric's direction; objective alone sets select_metric, both written must agree, and no trial may select
// on another metric.
TEST(StudySearch, TheObjectiveIsTheSelectMetricWithItsDirection) {
  const std::string space = "method = \"tpe\"\ntrials = 5\n\"loss.alpha\" = { uniform = [0.1, 0.9] }\n";
  // select_metric alone: the objective, whatever the metric (hd95: lower is better).
  for (const auto& [metric, minimize] : std::vector<std::pair<std::string, bool>>{
           {"hd95", true}, {"assd", true}, {"loss", true}, {"iou", false}, {"specificity", false}, {"vs", false}}) {
    const Study s = load_study_text("[train]\nselect_metric = \"" + metric + "\"\n[sweep]\n" + space, "/tmp/s.toml");
    EXPECT_EQ(s.search.objective, metric);
    EXPECT_EQ(s.search.minimize, minimize) << metric;
  }
  // objective alone sets train.select_metric, as if written, with the sweep as its origin.
  const Study set = load_study_text("[sweep]\nobjective = \"assd\"\n" + space, "/tmp/s.toml");
  EXPECT_EQ(set.search.objective, "assd");
  EXPECT_TRUE(set.search.minimize);
  EXPECT_EQ(set.base.train.select_metric, "assd");
  const Study written = load_study_text("[train]\nselect_metric = \"assd\"\n[sweep]\n" + space, "/tmp/s.toml");
  EXPECT_EQ(trial_variant(set, "", 0, {0.5}).hash, trial_variant(written, "", 0, {0.5}).hash);
  EXPECT_EQ(load_study_text("[sweep]\n" + space, "/tmp/s.toml", {"sweep.objective=loss"}).base.train.select_metric, "loss");
  // Both written, the same metric: fine; different: the error names both places.
  EXPECT_EQ(load_study_text("[train]\nselect_metric = \"hd95\"\n[sweep]\nobjective = \"hd95\"\n" + space, "/tmp/s.toml")
                .search.objective,
            "hd95");
  EXPECT_EQ(printed_errors("[train]\nselect_metric = \"dice\"\n[sweep]\nobjective = \"hd95\"\n" + space),
            (Lines{"/tmp/s.toml:4:13: `sweep.objective`: objective = \"hd95\" but train.select_metric = \"dice\" "
                   "(/tmp/s.toml:2): a search's objective is the validation metric the epochs are selected on; write one "
                   "of the two, or the same metric in both"}));
  EXPECT_EQ(printed_errors("[sweep]\nobjective = \"hd95\"\n" + space, {"train.select_metric=iou"}),
            (Lines{"/tmp/s.toml:2:13: `sweep.objective`: objective = \"hd95\" but train.select_metric = \"iou\" "
                   "(--set train.select_metric=iou): a search's objective is the validation metric the epochs are "
                   "selected on; write one of the two, or the same metric in both"}));
  // A variant selecting on another metric, or a sampled select_metric, would compare unlike values.
  EXPECT_EQ(printed_errors("[sweep]\nobjective = \"hd95\"\n" + space +
                           "[[ablation.variant]]\nname = \"a\"\n[[ablation.variant]]\nname = \"b\"\n"
                           "\"train.select_metric\" = \"dice\"\n"),
            (Lines{"/tmp/s.toml:10:25: `train.select_metric`: variant `b` selects on \"dice\" but the search's objective is "
                   "\"hd95\": every trial of a search is selected, and compared, on its objective"}));
  EXPECT_EQ(printed_errors("[sweep]\n" + space + "\"train.select_metric\" = { choice = [\"dice\", \"iou\"] }\n"),
            (Lines{"/tmp/s.toml:5:1: `sweep.train.select_metric`: a search cannot sample train.select_metric: it is the "
                   "objective the trials are compared on (sweep.objective)"}));
  // A grid has no objective: each variant selects on its own train.select_metric.
  EXPECT_EQ(printed_errors("[sweep]\nobjective = \"dice\"\n\"loss.alpha\" = [0.1, 0.9]\n"),
            (Lines{"/tmp/s.toml:2:13: `sweep.objective`: a grid runs every point: objective goes with method = \"random\", "
                   "\"sobol\" or \"tpe\" (each variant selects its epoch on train.select_metric)"}));
}

TEST(StudySet, OverridesAreALayerAboveTheFileValidatedAndHashed) {
  const char* text = "[study]\nname = \"o\"\n[train]\nlr = 0.001\n[[ablation.variant]]\nname = \"a\"\n"
                     "[[ablation.variant]]\nname = \"b\"\n\"train.lr\" = 0.01\n";
  const Study plain = load_study_text(text, "/tmp/s.toml");
  const Study set = load_study_text(text, "/tmp/s.toml", {"train.lr=3e-4", "model.msc=kcm", "train.epochs = 7"});
  EXPECT_EQ(set.variants[0].config.train.lr, 3e-4);
  EXPECT_EQ(set.variants[0].values.at("train.lr").origin, Origin::kOverride);
  EXPECT_EQ(set.variants[0].values.at("train.lr").where, "--set train.lr=3e-4");
  EXPECT_EQ(set.variants[1].config.train.lr, 0.01);  // a variant's own value stays above --set
  EXPECT_EQ(set.variants[0].config.model.msc, "kcm");  // plain text for a string key
  EXPECT_EQ(set.variants[0].config.train.epochs, 7);
  EXPECT_NE(set.variants[0].hash, plain.variants[0].hash);
  EXPECT_EQ(load_study_text(text, "/tmp/s.toml", {"train.lr=0.001"}).variants[0].hash, plain.variants[0].hash);
  EXPECT_EQ(printed_errors(text, {"train.lr=fast", "train.lrate=1", "loss.alpha=2", "novalue", "model.msc=wavelet"}),
            (Lines{"--set loss.alpha=2: `loss.alpha`: value 2.0 is not allowed: expected a number in [0.0, 1.0]",
                   "--set model.msc=wavelet: `model.msc`: value \"wavelet\" is not allowed: expected a string, one of: none, msc, "
                   "kcm, cascade",
                   "--set novalue: expected key=value, e.g. --set train.lr=3e-4",
                   "--set train.lr=fast: `train.lr`: `fast` is not a value: expected a number in (0.0, inf)",
                   "--set train.lrate=1: `train.lrate`: unknown key (did you mean `train.lr`?); --set takes a study key or "
                   "sweep.method, sweep.trials, sweep.startup, sweep.objective, or sweep.KEY for a key the search samples"}));
}

// `--set sweep.KEY={ ... }` replaces the distribution of a key the search samples (ablate demo narrows a
// searched learning rate so), checked as in the file; a key it does not sample, a grid's values and a value
// that is no distribution are refused by name.
TEST(StudySet, ASampledKeysDistributionCanBeReplaced) {
  const Study s = load_study_text(kRandom, "/tmp/s.toml", {"sweep.train.lr={ log_uniform = [3e-4, 1e-2] }"});
  const auto lr = std::find_if(s.search.space.begin(), s.search.space.end(),
                               [](const sweeps::Param& p) { return p.key == "train.lr"; });
  ASSERT_NE(lr, s.search.space.end());
  EXPECT_EQ(lr->dist, sweeps::Distribution::kLogUniform);
  EXPECT_EQ(lr->low, 3e-4);
  EXPECT_EQ(lr->high, 1e-2);
  for (const auto& v : s.variants) {
    EXPECT_GE(v.config.train.lr, 3e-4) << v.name;
    EXPECT_LE(v.config.train.lr, 1e-2) << v.name;
  }
  EXPECT_EQ(printed_errors(kRandom, {"sweep.train.lr={ log_uniform = [0, 1e-2] }", "sweep.train.epochs={ int = [1, 3] }",
                                     "sweep.loss.alpha=0.5", "sweep.trails=3"}),
            (Lines{"--set sweep.loss.alpha=0.5: `sweep.loss.alpha`: `0.5` is not a distribution: expected one of { uniform = "
                   "[a, b] }, { log_uniform = [a, b] }, { int = [a, b] }, { choice = [...] }",
                   "--set sweep.trails=3: `sweep.trails`: unknown key (did you mean `sweep.trials`?); --set sweep.KEY replaces "
                   "the distribution of a key the study's search samples; it samples sweep.train.lr, sweep.loss.alpha, "
                   "sweep.model.dspa_k, sweep.model.msc",
                   "--set sweep.train.epochs={ int = [1, 3] }: `sweep.train.epochs`: --set sweep.KEY replaces the distribution "
                   "of a key the study's search samples; it samples sweep.train.lr, sweep.loss.alpha, sweep.model.dspa_k, "
                   "sweep.model.msc",
                   "--set sweep.train.lr={ log_uniform = [0, 1e-2] }: `sweep.train.lr`: log_uniform: expected 0 < low < high"}));
  // A grid's values name its variants: not replaced by --set.
  EXPECT_EQ(printed_errors("[study]\nname = \"g\"\n[sweep]\n\"train.lr\" = [1e-3, 1e-2]\n", {"sweep.train.lr=[1e-4]"}),
            (Lines{"--set sweep.train.lr=[1e-4]: `sweep.train.lr`: --set sweep.KEY replaces the distribution of a key the "
                   "study's search samples; this study's grid lists sweep.train.lr, whose values name its variants: change "
                   "them in the file"}));
}

TEST(StudySet, SweepKeysCanBeOverridden) {
  const Study s = load_study_text(kRandom, "/tmp/s.toml", {"sweep.method=sobol", "sweep.trials=2"});
  EXPECT_EQ(s.search.method, "sobol");
  EXPECT_EQ(s.variants.size(), 2u);
  EXPECT_EQ(s.variants[0].point, sweeps::sobol_sample(s.search.space, 7, 0));
}

// sweep.objectives: one validation metric (bound to train.select_metric as sweep.objective is) and model
// facts, each in its own direction; the methods that use them, the errors, and early stopping refused.
TEST(StudySearch, SeveralObjectivesAreOneValidationMetricAndModelFacts) {
  const std::string space = "trials = 5\n\"loss.alpha\" = { uniform = [0.1, 0.9] }\n";
  for (const std::string method : {"motpe", "nsga2"}) {
    const Study s = load_study_text("[sweep]\nmethod = \"" + method + "\"\nobjectives = [\"hd95\", \"params\", \"inference_ms\"]\n" + space,
                                    "/tmp/s.toml");
    EXPECT_EQ(s.search.method, method);
    EXPECT_TRUE(s.search.adaptive());  // proposed by the coordinator from the stored results
    EXPECT_TRUE(s.variants.empty());
    EXPECT_EQ(s.search.objectives, (std::vector<std::string>{"hd95", "params", "inference_ms"}));
    EXPECT_EQ(s.search.objective, "hd95");
    EXPECT_EQ(s.base.train.select_metric, "hd95");  // set by objectives' metric, as by objective
    EXPECT_TRUE(s.search.minimize);
  }
  // random and sobol keep their trials and record the objectives (for the report).
  const Study r = load_study_text("[sweep]\nmethod = \"random\"\nobjectives = [\"params\", \"dice\", \"train_seconds\"]\n" + space,
                                  "/tmp/s.toml");
  EXPECT_EQ(r.variants.size(), 5u);
  EXPECT_EQ(r.search.objective, "dice");
  EXPECT_EQ(r.search.objectives.size(), 3u);
  // Every model fact is minimised, the metric keeps its direction: one place says so (sweeps/metric.hpp).
  for (const auto& f : sweeps::model_fact_names()) EXPECT_EQ(sweeps::objective_direction(f), sweeps::Direction::kMinimize) << f;

  const std::string head = "[sweep]\nmethod = \"motpe\"\n";
  EXPECT_EQ(printed_errors(head + "objectives = [\"dice\", \"flops\", \"dice\", \"iou\", 3]\n" + space),
            (Lines{"/tmp/s.toml:3:23: `sweep.objectives`: unknown objective `flops`: allowed are one validation metric (loss, "
                   "dice, iou, sensitivity, precision, specificity, vs, assd, hd95) and one or more model facts (params, "
                   "inference_ms, train_seconds)",
                   "/tmp/s.toml:3:32: `sweep.objectives`: `dice` is listed twice",
                   "/tmp/s.toml:3:40: `sweep.objectives`: a second validation metric `iou` beside `dice`: the store keeps one "
                   "validation value per epoch (train.select_metric's), so a search has one metric among its objectives; "
                   "allowed are one validation metric (loss, dice, iou, sensitivity, precision, specificity, vs, assd, hd95) "
                   "and one or more model facts (params, inference_ms, train_seconds)",
                   "/tmp/s.toml:3:47: `sweep.objectives`: expected a name: allowed are one validation metric (loss, dice, iou, "
                   "sensitivity, precision, specificity, vs, assd, hd95) and one or more model facts (params, inference_ms, "
                   "train_seconds)"}));
  EXPECT_EQ(printed_errors(head + "objectives = [\"params\", \"inference_ms\"]\n" + space),
            (Lines{"/tmp/s.toml:3:14: `sweep.objectives`: expected one validation metric (loss, dice, iou, sensitivity, "
                   "precision, specificity, vs, assd, hd95) and one or more model facts (params, inference_ms, train_seconds) "
                   "(no metric is listed)"}));
  // motpe and nsga2 without objectives, tpe with several, a grid with them, objective beside objectives.
  EXPECT_EQ(printed_errors("[sweep]\nmethod = \"nsga2\"\n" + space),
            (Lines{"/tmp/s.toml:2:10: `sweep.method`: method = \"nsga2\" searches several objectives: add objectives = "
                   "[\"dice\", \"params\"] (a validation metric and model facts), or use method = \"tpe\" for one"}));
  EXPECT_EQ(printed_errors("[sweep]\nmethod = \"tpe\"\nobjectives = [\"dice\", \"params\"]\n" + space),
            (Lines{"/tmp/s.toml:2:10: `sweep.method`: tpe optimises one objective but sweep.objectives lists 2: use method = "
                   "\"motpe\" or \"nsga2\" for several, or objective = \"dice\" for one"}));
  EXPECT_EQ(printed_errors("[sweep]\nobjectives = [\"dice\", \"params\"]\n\"loss.alpha\" = [0.1, 0.9]\n"),
            (Lines{"/tmp/s.toml:2:14: `sweep.objectives`: a grid runs every point: objectives goes with method = \"motpe\", "
                   "\"nsga2\", \"random\" or \"sobol\" (every report draws the Pareto front of each metric against "
                   "parameters and inference time, docs/REPORTS.md)"}));
  EXPECT_EQ(printed_errors(head + "objective = \"dice\"\nobjectives = [\"dice\", \"params\"]\n" + space),
            (Lines{"/tmp/s.toml:4:14: `sweep.objectives`: sweep.objective and sweep.objectives are both written: write "
                   "objective for one objective or objectives for several (its metric is the objective)"}));
  EXPECT_EQ(printed_errors("[train]\nselect_metric = \"iou\"\n" + head + "objectives = [\"dice\", \"params\"]\n" + space),
            (Lines{"/tmp/s.toml:5:14: `sweep.objectives`: objectives' metric is \"dice\" but train.select_metric = \"iou\" "
                   "(/tmp/s.toml:2): a search's objective is the validation metric the epochs are selected on; write one of "
                   "the two, or the same metric in both"}));
  // Early stopping ranks on one value: refused, naming both features and why.
  EXPECT_EQ(printed_errors("[train]\nepochs = 4\n" + head + "objectives = [\"dice\", \"params\"]\n" + space +
                           "[sweep.early_stop]\nmethod = \"asha\"\nrungs = [2, 4]\n"),
            (Lines{"/tmp/s.toml:8:1: `sweep.early_stop.method`: [sweep.early_stop] method = \"asha\" with sweep.objectives = "
                   "[\"dice\", \"params\"]: a rung ranks trials on one validation value, and a trial stopped on dice alone "
                   "may be on the front of the others (inference time is measured only when a trial finishes); remove "
                   "[sweep.early_stop] or search on one objective"}));
}
