#include "ablations/schema.hpp"

#include "ablations/components.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <regex>
#include <sstream>
#include <type_traits>
#include <utility>

namespace ablate {

const char* type_name(ValueType t) {
  switch (t) {
    case ValueType::kBool: return "a boolean";
    case ValueType::kInt: return "an integer";
    case ValueType::kFloat: return "a number";
    case ValueType::kString: return "a string";
    case ValueType::kIntList: return "an array of integers";
    case ValueType::kFloatList: return "an array of numbers";
    case ValueType::kStringList: return "an array of strings";
    case ValueType::kIntListList: return "an array of arrays of integers";
  }
  return "?";
}

namespace {

std::string float_literal(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  // Shortest representation that reads back to the same double, so equal values print equally.
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string s = buf;
  // Plain decimals read better than exponents in the range studies use (10.0, not 1e+01).
  if (s.find('e') != std::string::npos && std::fabs(d) >= 1e-4 && std::fabs(d) < 1e15) {
    for (int decimals = 0; decimals <= 20; ++decimals) {
      std::snprintf(buf, sizeof buf, "%.*f", decimals, d);
      if (std::strtod(buf, nullptr) == d) break;
    }
    s = buf;
  }
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string string_literal(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

template <class T, class F>
std::string join(const std::vector<T>& items, F f) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + f(items[i]);
  return out + "]";
}

// --- mapping C++ field types onto schema value types ------------------------------------------------
template <class T>
struct Traits;
template <>
struct Traits<bool> {
  static constexpr ValueType type = ValueType::kBool;
  static Value to(bool x) { Value v; v.type = type; v.b = x; return v; }
  static bool from(const Value& v) { return v.b; }
};
template <>
struct Traits<int> {
  static constexpr ValueType type = ValueType::kInt;
  static Value to(int x) { Value v; v.type = type; v.i = x; return v; }
  static int from(const Value& v) { return static_cast<int>(v.i); }
};
template <>
struct Traits<std::uint64_t> {
  static constexpr ValueType type = ValueType::kInt;
  static Value to(std::uint64_t x) { Value v; v.type = type; v.i = static_cast<std::int64_t>(x); return v; }
  static std::uint64_t from(const Value& v) { return static_cast<std::uint64_t>(v.i); }
};
template <>
struct Traits<double> {
  static constexpr ValueType type = ValueType::kFloat;
  static Value to(double x) { Value v; v.type = type; v.d = x; return v; }
  static double from(const Value& v) { return v.d; }
};
template <>
struct Traits<std::string> {
  static constexpr ValueType type = ValueType::kString;
  static Value to(const std::string& x) { Value v; v.type = type; v.s = x; return v; }
  static std::string from(const Value& v) { return v.s; }
};
template <>
struct Traits<std::vector<int>> {
  static constexpr ValueType type = ValueType::kIntList;
  static Value to(const std::vector<int>& x) { Value v; v.type = type; v.il.assign(x.begin(), x.end()); return v; }
  static std::vector<int> from(const Value& v) { return {v.il.begin(), v.il.end()}; }
};
template <>
struct Traits<std::vector<double>> {
  static constexpr ValueType type = ValueType::kFloatList;
  static Value to(const std::vector<double>& x) { Value v; v.type = type; v.dl = x; return v; }
  static std::vector<double> from(const Value& v) { return v.dl; }
};
template <>
struct Traits<std::vector<std::string>> {
  static constexpr ValueType type = ValueType::kStringList;
  static Value to(const std::vector<std::string>& x) { Value v; v.type = type; v.sl = x; return v; }
  static std::vector<std::string> from(const Value& v) { return v.sl; }
};
template <>
struct Traits<std::vector<std::vector<int>>> {
  static constexpr ValueType type = ValueType::kIntListList;
  static Value to(const std::vector<std::vector<int>>& x) {
    Value v;
    v.type = type;
    for (const auto& g : x) v.ill.emplace_back(g.begin(), g.end());
    return v;
  }
  static std::vector<std::vector<int>> from(const Value& v) {
    std::vector<std::vector<int>> out;
    for (const auto& g : v.ill) out.emplace_back(g.begin(), g.end());
    return out;
  }
};

// Chained set-up of one key, in the spirit of LibTorch's Options.
struct Key {
  KeyDef def;
  Key& in(double lo, double hi) { def.min = lo, def.max = hi; return *this; }
  Key& at_least(double lo) { def.min = lo; return *this; }
  Key& above(double lo) { def.min = lo, def.min_exclusive = true; return *this; }
  Key& one_of(std::vector<std::string> c) { def.choices = std::move(c); return *this; }
  Key& items(std::size_t n) { def.min_items = n; return *this; }
  Key& unhashed() { def.hashed = false; return *this; }
  Key& evaluation_only() { def.evaluation_only = true; return *this; }
  Key& added_later() { def.hashed_at_default = false; return *this; }
  Key& most_items(std::size_t n) { def.max_items = n; return *this; }
  Key& study_wide(const char* why) { def.study_wide = why; return *this; }
  // Neither in the canonical text nor in the hash: a limit of the runner that changes no result.
  Key& outside_canonical() { def.in_canonical = false, def.hashed = false; return *this; }
  // A rule beyond type, range and choices: `ok` decides, `what` says what is allowed (in errors and docs).
  Key& checked(std::string what, std::function<bool(const Value&)> ok) {
    def.rule = what;
    def.check = [what, ok = std::move(ok)](const Value& v) { return ok(v) ? std::string() : what; };
    return *this;
  }
  // A rule that the study loader checks (it needs other keys or the variants): documented here.
  Key& rule(std::string what) { def.rule = std::move(what); return *this; }
};

template <class T, class Accessor>
Key make_key(const char* path, Accessor acc, const char* doc, const char* paper) {
  Key k;
  k.def.path = path;
  k.def.type = Traits<T>::type;
  k.def.doc = doc;
  k.def.paper = paper;
  k.def.get = [acc](const VariantConfig& c) { return Traits<T>::to(acc(const_cast<VariantConfig&>(c))); };
  k.def.set = [acc](VariantConfig& c, const Value& v) { acc(c) = Traits<T>::from(v); };
  const std::string p = path;
  if (p.rfind("resources.", 0) == 0 || p.rfind("report.", 0) == 0) k.def.in_canonical = false, k.def.hashed = false;
  return k;
}

#define KEY(field, doc, paper)                                                                  \
  make_key<std::decay_t<decltype(std::declval<VariantConfig&>().field)>>(                      \
      #field, [](VariantConfig& c) -> auto& { return c.field; }, doc, paper)

// A component's own boolean key: its documentation and paper are the registry's (ablations/components.hpp).
#define COMPONENT_KEY(field) KEY(field, component_of_key(#field)->doc, component_of_key(#field)->paper)

constexpr const char* kNameRule = "a name of letters, digits and _ - . + = (not . or ..), at most 200 characters";

std::vector<KeyDef> build_schema() {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<Key> k = {
      // [study]
      KEY(study.name, "Study name: the store keys results by it; the default store and checkpoint folder are named after it.", "-").unhashed().study_wide("the store keys a study by its name; set it in [study]").checked(kNameRule, [](const Value& v) { return valid_name(v.s); }),
      KEY(study.description, "Free text for the report.", "-").unhashed().study_wide("the description is the study's; set it in [study]"),
      KEY(study.seed, "Seed of folds, initialisation, shuffling and augmentation; repeat r uses seed + r.", "-").at_least(0).study_wide("folds are shared by all variants of a study; set it in [study] or make a separate study"),
      KEY(study.folds, "k of k-fold cross-validation over cases (002 uses 3-fold). Ignored, and left out of the hash, when study.split is set.", "002 Sec. 4.2").in(2, 100).study_wide("folds are shared by all variants of a study; set it in [study] or make a separate study"),
      KEY(study.split, "Fixed train/validation/test ratios summing to 1, e.g. [0.7, 0.1, 0.2], or the same as percentages \"70/10/20\"; empty = k-fold.", "003, 004").in(0, 1).study_wide("folds are shared by all variants of a study; set it in [study] or make a separate study"),
      KEY(study.repeats, "Repeats of every (variant, fold) with seeds seed + r.", "-").in(1, 1000).study_wide("folds are shared by all variants of a study; set it in [study] or make a separate study"),
      KEY(study.validation_fraction, "Part of each training fold held out (by case) for best-epoch selection.", "001 Sec. IV-C").above(0).in(0, 0.9).study_wide("folds are shared by all variants of a study; set it in [study] or make a separate study"),
      KEY(study.max_tasks, "Largest study accepted: variants x folds x repeats (folds = 1 under study.split). A study that expands to more is refused before it is expanded (a [sweep] of three 100-value keys is a million variants); raise it when that many tasks are meant.", "-").in(1, 1000000).outside_canonical().study_wide("the size limit is the study's; set it in [study]"),
      // [data]
      KEY(data.path, "Medical Segmentation Decathlon folder (dataset.json, imagesTr/, labelsTr/), relative to the study file. Where the data lies is not part of the hash (a moved checkout resumes); the dataset's identity is kept by the folds' case lists in the store.", "-").unhashed().study_wide("the folds' case lists come from the study's dataset and are shared by all variants; set it in [data] or make a separate study"),
      KEY(data.cache_dir, "Preprocessing cache; empty = <data.path>/.ablate-cache.", "-").unhashed(),
      KEY(data.axis, "Slicing axis of the volumes: 0 (x), 1 (y), 2 (z, axial).", "-").in(0, 2),
      KEY(data.intensity, "Intensity handling: window (clip to [window_min, window_max], scale to [0, 1]), zscore (per volume, MRI), none.", "001, 002").one_of({"window", "zscore", "none"}),
      KEY(data.window_min, "Lower end of the intensity window (Hounsfield units for CT); the default [-200, 200] HU is ANU-Net's (001 states no window).", "003 Sec. 4.1"),
      KEY(data.window_max, "Upper end of the intensity window.", "003 Sec. 4.1"),
      KEY(data.image_size, "Slices are resized to image_size x image_size (512 in 001); must be divisible by 2^(depth-1).", "001 Sec. IV-C").in(8, 4096),
      KEY(data.label_groups, "Label mapping: each group of source label values becomes one class, e.g. [[1, 2]] merges pancreas and tumour; empty = every label > 0 is one foreground.", "001, 003").in(1, 255),
      KEY(data.empty_slice_ratio, "Fraction of training slices without foreground that are kept.", "-").in(0, 1),
      KEY(data.evaluate_at, "Grid of the test metrics: native (the prediction resampled to each case's own slice size and voxel spacing and scored against the original label, as the papers report per case) or prepared (the image_size x image_size grid the network sees: faster, but resizing can erase or inflate small structures and biases the scores). Validation during training always uses the prepared grid.", "-").one_of({"native", "prepared"}).evaluation_only(),
      KEY(data.augment.flip_p, "Probability of a horizontal flip.", "001 Sec. IV-C").in(0, 1),
      KEY(data.augment.rotate_p, "Probability of a rotation.", "001 Sec. IV-C").in(0, 1),
      KEY(data.augment.rotate_degrees, "Rotation angle range +-degrees.", "001 Sec. IV-C").in(0, 180),
      KEY(data.augment.blur_p, "Probability of a Gaussian blur.", "001 Sec. IV-C").in(0, 1),
      KEY(data.augment.blur_sigma_min, "Smallest blur sigma (pixels).", "001 Sec. IV-C").in(0, 10),
      KEY(data.augment.blur_sigma_max, "Largest blur sigma (pixels).", "001 Sec. IV-C").in(0, 10),
      // [model]
      KEY(model.in_channels, "Input channels.", "001").in(1, 64),
      KEY(model.widths, "Encoder widths per level; depth = their count, the last is the bridge (001: 64..1024).", "READINGS").in(1, 65536).items(2),
      KEY(model.up, "Decoder up-sampling: transpose (2x2 transposed conv) or bilinear (+ 1x1 conv).", "READINGS").one_of({"transpose", "bilinear"}),
      KEY(model.conv_bias, "Bias in convolutions followed by BN (redundant there).", "READINGS"),
      COMPONENT_KEY(model.cc),
      COMPONENT_KEY(model.sc),
      COMPONENT_KEY(model.mus),
      COMPONENT_KEY(model.ec),
      COMPONENT_KEY(model.dws),
      KEY(model.dws_taps, "Where the DWS side outputs tap: bridge (one output, the fused bridge up-sampled 16x by the DeConv2x-DeConv2x-DeConv4x chain) or decoder (one output per decoder stage below full resolution, each one ConvT to full size).", "001 Fig. 2(d); READINGS").one_of({"bridge", "decoder"}),
      KEY(model.fusion, "How CoA and MuS combine when both are on: deep (1x1 conv over the concatenation), add, serial (MuS after CoA).", "001 Table III").one_of(component_choices("model.fusion")),
      KEY(model.mus_rates, "Dilation rates of the MuS branches.", "001 Fig. 2c").in(1, 1024).items(1),
      KEY(model.mus_branch_width, "Width of each MuS branch; 0 = the input width C (torchvision's ASPP uses 256).", "READINGS").in(0, 65536),
      KEY(model.mus_1x1_branch, "Add DeepLab's 1x1 branch to MuS.", "READINGS"),
      KEY(model.ec_levels, "Encoder levels that get EC: all, or shallow (the first half).", "READINGS").one_of({"all", "shallow"}),
      KEY(model.ec_merge, "How EC combines its 3x3, 1x3 and 3x1 branches: sum (BN per branch, summed, then ReLU; ACNet) or relu_sum (conv + BN + ReLU per branch, summed).", "001 Sec. III, Fig. 2(a); READINGS").one_of({"sum", "relu_sum"}),
      KEY(model.attention, "Attention placed where CoA sits (the bridge): none, se, cbam (001's Table V baselines), pam (position attention: query/key 1x1 convs to C/8, value 1x1 conv, F + gamma * attention, gamma starting at 0), cam (channel attention: F + gamma * softmax(F F^T) F), pam_cam (both, each followed by conv3x3 + BN + ReLU, summed: 002's dual attention).", "001 Table V; 002 eqs. 2-5").one_of(component_choices("model.attention")),
      KEY(model.cam_energy, "Softmax input of CAM: similarity (002 eq. 4: softmax_j(F_i . F_j)) or max_minus (DANet's and 002's published code: softmax_j(max_k e_ik - e_ij), which equals softmax_j(-F_i . F_j)).", "002 eq. 4; DANet").one_of({"similarity", "max_minus"}),
      COMPONENT_KEY(model.attention_gates),
      KEY(model.attention_reduction, "Reduction ratio of SE and CBAM.", "READINGS").in(1, 1024),
      COMPONENT_KEY(model.aux_path),
      COMPONENT_KEY(model.dspa),
      KEY(model.dspa_k, "K: number of dense features of DSPA.", "000 Sec. 3.3 (K = 10)").in(1, 4096),
      COMPONENT_KEY(model.ca),
      KEY(model.msc, "Multi-scale module on every skip: none, msc (1x1/3x3/5x5), kcm (three 3x3), cascade (000 eq. 14).", "004, 000 eq. 14").one_of(component_choices("model.msc")),
      COMPONENT_KEY(model.restoration),
      COMPONENT_KEY(model.nested),
      KEY(model.nested_supervision, "With model.nested: a conv1x1 head on each of X^{0,1}..X^{0,depth-2} (side outputs, weight loss.side_weight; eq. 8's plain sum over the four heads is side_weight = depth - 2) besides the main head on X^{0,depth-1}.", "003 Sec. 3.4, Fig. 6, eq. 8"),
      KEY(model.prune_level, "Inference-time pruning L: evaluation, test metrics, inference time and the reported parameters use only the sub-network up to X^{0,L} and its head; training always runs the full network with every head. 0 or depth-1 = unpruned. Needs model.nested and model.nested_supervision.", "003 Sec. 3.5, Fig. 7, Table 6").in(0, 7).evaluation_only(),
      KEY(model.nested_layout, "How the nested grid is wired: shared (one up-sampling per level, ConvT 2x2 + BN + ReLU, shared by every node of the level; one attention gate per predecessor X^{i,k}, gated by the up-sampled map of the node that reads it first, its output reused by the later nodes; gate width max(C_i/2, C_0): the reading that reproduces 003 Table 6's parameter counts with model.conv_bias) or per_node (an up-sampling per node, ConvT 2x2 without BN; one gate per (node, predecessor) pair, width C_i/2).", "003 eq. 4, Fig. 7, Table 6").one_of({"shared", "per_node"}),
      KEY(model.backbone, "Network: unet (the U-Net family every other model key configures) or resnet (002's multi-scale guided attention network: a ResNet encoder whose stage outputs are projected to model.guided_width channels, up-sampled to 1/4 of the input and fused, with model.attention's self-attention modules at every scale and deep supervision on every scale; model.widths are then the stages' planes, each stage putting out 4x its planes).", "002 Sec. III, Fig. 1").one_of({"unet", "resnet"}),
      KEY(model.resnet_blocks, "With model.backbone = resnet: bottleneck blocks per ResNet stage, one number per model.widths entry (ResNet-101: 3, 4, 23, 3).", "002 Sec. IV-A2").in(1, 1000).items(1),
      KEY(model.guided_width, "With model.backbone = resnet: width G of the projected scales F'_s, the fused map F_MS and the attention modules (002's code: 64).", "002 Sec. III-B").in(1, 65536),
      KEY(model.refinements, "With model.backbone = resnet: attention modules stacked per scale; step r + 1 reads concat(F'_s, A_r * F_MS). 1 = DualNet, 2 = MS-Dual.", "002 Sec. III-C, Table I").in(1, 8),
      COMPONENT_KEY(model.semantic_guidance),
      // [loss]
      KEY(loss.name, "Segmentation loss: dice, bce, hybrid (alpha*Dice + (1-alpha)*BCE), focal, dice_focal_bce (003 eq. 8), ce_dice (BCE + Dice with equal weights, eq. 13; cross-entropy for several classes).", "001 eq. 17, Table IV; 003 eq. 8").one_of({"dice", "bce", "hybrid", "focal", "dice_focal_bce", "ce_dice"}),
      KEY(loss.alpha, "alpha of the hybrid loss alpha*Dice + (1-alpha)*BCE.", "001 eq. 17, Fig. 5").in(0, 1),
      KEY(loss.focal_gamma, "Focusing parameter of the focal loss.", "003 eq. 8").in(0, 10),
      KEY(loss.focal_alpha, "Class balance of the focal loss.", "003 eq. 8").in(0, 1),
      KEY(loss.dice_smooth, "Smoothing term of the soft Dice.", "-").in(0, inf),
      KEY(loss.dice_denominator, "Denominator of the soft Dice: sum (sum p + sum y, 001 eq. 11) or squares (sum p^2 + sum y^2, V-Net; 003 eqs. 5, 8).", "001 eq. 11; 003 eqs. 5, 8").one_of({"sum", "squares"}),
      KEY(loss.main_weight, "Weight of the main output's loss (Ls of 000 eq. 8; 10 in 004).", "000 eq. 8, 004").in(0, inf),
      KEY(loss.side_weight, "Weight of the side outputs' loss (the mean over them): the DWS side outputs, or the nested deep-supervision heads on X^{0,1}..X^{0,depth-2}.", "001; 003 eq. 8").in(0, inf),
      KEY(loss.side_name, "Loss of the side outputs (DWS or nested deep supervision): same (= loss.name) or one of loss.name's values; 001's setting is name = dice, side_name = bce.", "001 Sec. III-B, eqs. 11-13").one_of({"same", "dice", "bce", "hybrid", "focal", "dice_focal_bce", "ce_dice"}),
      KEY(loss.aux_weight, "lambda: weight of the auxiliary path's loss La (000 eq. 8).", "000 eq. 8").in(0, inf),
      KEY(loss.recon_weight, "Weight of the reconstruction loss: the restoration decoder's BCE against the input (segmentation : reconstruction = 10 : 1 in 004), or gamma of 002 eq. 11: the summed mean squared errors between the inputs of the semantic encoder-decoders and their reconstructions (eqs. 7, 9; 0.1).", "004; 002 eq. 11").in(0, inf),
      KEY(loss.guided_weight, "beta of 002 eq. 11: weight of the guided loss, the summed mean squared errors between the codes of consecutive encoder-decoders at every scale (eqs. 6, 8; 0.25).", "002 eq. 11").in(0, inf),
      // [train]
      KEY(train.optimizer, "adam, adamw or sgd (with momentum).", "001 Sec. IV-C").one_of({"adam", "adamw", "sgd"}),
      KEY(train.lr, "Initial learning rate.", "001 Sec. IV-C (1e-5)").above(0),
      KEY(train.weight_decay, "Weight decay.", "001 Sec. IV-C (1e-4 or 2e-4)").at_least(0),
      KEY(train.momentum, "SGD momentum.", "-").in(0, 1),
      KEY(train.scheduler, "cosine (annealing to min_lr over the epochs), plateau (multiply by plateau_factor after plateau_patience epochs without improvement), none.", "001; 002").one_of({"cosine", "plateau", "none"}),
      KEY(train.plateau_patience, "Consecutive epochs without a strictly better validation score after which the plateau scheduler lowers the rate (at the patience-th such epoch, 002's \"after 50 epochs\"; PyTorch's ReduceLROnPlateau waits one epoch more and has a threshold).", "002 (50)").in(1, 100000),
      KEY(train.plateau_factor, "Factor of the plateau scheduler (1 = never lower the rate).", "002 (0.5)").above(0).in(0, 1),
      KEY(train.min_lr, "Floor of the learning rate.", "-").at_least(0),
      KEY(train.epochs, "Training epochs.", "001 (150)").in(1, 100000),
      KEY(train.batch_size, "Slices per step.", "001 (4)").in(1, 4096),
      KEY(train.accumulate, "Batches per optimiser step (gradient accumulation; the loss is averaged over them). Not the same as a batch of batch_size * accumulate: batch norm and the batch-global soft Dice still see batch_size slices.", "-").in(1, 1024),
      KEY(train.steps_per_epoch, "Steps per epoch; 0 = one pass over the training slices.", "-").in(0, 1e9),
      KEY(train.early_stop_patience, "Stop after this many epochs without validation improvement; 0 = off.", "-").in(0, 100000),
      KEY(train.select_metric, "Validation metric for best-epoch selection (mean over the validation cases; assd and hd95 lower is better). It also drives train.scheduler = plateau and train.early_stop_patience; without those it acts on the selection only.", "001").one_of({"loss", "dice", "iou", "sensitivity", "precision", "specificity", "vs", "assd", "hd95"}).evaluation_only(),
      KEY(train.threads, "Intra-op threads per process; 0 = the rank's share of the node's cores. Bit-for-bit repeatable CPU runs also need the same thread count.", "-").in(0, 1024).unhashed(),
      KEY(train.device, "auto (the rank's GPU when LibTorch has CUDA, else CPU), cpu, cuda.", "-").one_of({"auto", "cpu", "cuda"}).unhashed(),
      KEY(train.deterministic, "Deterministic cuDNN kernels (cudnn.deterministic, no benchmark); CPU kernels are deterministic already for a fixed thread count (train.threads).", "-"),
      KEY(train.precision, "fp32, or bf16: the forward pass under CUDA autocast in bfloat16 (convolutions and matrix products in bf16, reductions and softmaxes in fp32), the outputs cast back to fp32 for the losses and metrics; the weights, gradients and optimiser stay fp32. CUDA only: refused with train.device = cpu, and a study with bf16 asks for GPUs (a worker without one refuses to start). No fp16: SC's products overflow its range, and LibTorch's C++ API has no loss scaler. docs/MODELS.md \"Precision\".", "-").one_of({"fp32", "bf16"}).added_later(),
      KEY(train.prefetch, "Training batches prepared ahead on a thread of their own while the step runs (gather and augmentation off the training thread; a bounded queue of this many batches). 0 = prepared on the training thread. Each batch is a function of the seed, epoch and step, so the results are the same either way.", "-").in(0, 64).unhashed(),
      KEY(train.checkpoint_seconds, "Besides the checkpoint after every epoch, one within an epoch (at an optimiser step) once this many seconds have passed since the last, so that a preempted or killed long epoch loses at most about this much training. 0 = after every epoch only.", "-").in(0, 1e9).unhashed(),
      // [resources]
      KEY(resources.ranks, "MPI ranks of the job: one coordinator plus workers.", "-").in(1, 100000),
      KEY(resources.nodes, "Nodes of the job.", "-").in(1, 10000),
      KEY(resources.gpus_per_node, "GPUs per node (0 = CPU workers).", "-").in(0, 64),
      KEY(resources.ranks_per_gpu, "Worker ranks sharing one GPU.", "-").in(1, 64),
      KEY(resources.cpus_per_rank, "CPU cores per rank.", "-").in(1, 1024),
      KEY(resources.time, "Wall time limit of the job in one of Slurm's forms: minutes (90), MM:SS (90:00), HH:MM:SS (24:00:00), D-HH (2-12), D-HH:MM (2-12:30) or D-HH:MM:SS (2-00:00:00).", "-").checked("a Slurm time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS", [](const Value& v) { return valid_time_limit(v.s); }),
      KEY(resources.partition, "Slurm partition, or several separated by commas; empty = the cluster default.", "-").checked("empty or Slurm partition names (letters, digits, _ - .) separated by commas", [](const Value& v) { return valid_slurm_names(v.s, true); }),
      KEY(resources.account, "Slurm account; empty = none.", "-").checked("empty or a Slurm account name (letters, digits, _ - .)", [](const Value& v) { return valid_slurm_names(v.s, false); }),
      KEY(resources.memory, "Memory per node (sbatch --mem), e.g. 32G; empty = the cluster default.", "-").checked("empty or a Slurm memory size: digits with an optional unit K, M, G or T (default M; 0 = all of a node's memory)", [](const Value& v) { return valid_memory_size(v.s); }),
      KEY(resources.mpi, "How srun starts the MPI ranks (srun --mpi=...): pmix (Open MPI 4 and 5 on Slurm with PMIx, Debian's slurm-wlm), pmi2, or none (an MPI that needs no PMI from Slurm). `ablate submit` checks it against `srun --mpi=list` when srun is on the PATH.", "-").one_of({"pmix", "pmi2", "none"}),
      KEY(resources.array, "`ablate submit`: 0 = one MPI job (a coordinator and ranks - 1 workers, started together); N > 0 = a Slurm job array of N elements, each running a shard of the tasks (`ablate run --shard i/N`) in one process with its own GPUs (gpus_per_node) and cpus_per_rank cores per worker, then a merge job (docs/RUNNER.md \"Job arrays vs one MPI job\"). `--array N` overrides it. Refused for a TPE search and [sweep.early_stop].", "-").in(0, 1000),
      // [report]
      KEY(report.metrics, "Metrics of the table's column groups: any stored metric, the 3D ones or their per-slice means <metric>_2d (docs/DATA.md).", "001 Table II").one_of({"dice", "iou", "sensitivity", "precision", "specificity", "vs", "assd", "hd95", "dice_2d", "iou_2d", "sensitivity_2d", "precision_2d", "specificity_2d", "vs_2d", "assd_2d", "hd95_2d"}).items(1),
      KEY(report.decimals, "Decimals in table cells.", "-").in(0, 10),
      KEY(report.percent, "Show overlap metrics in percent.", "001 Table II"),
      KEY(report.baseline, "Variant the significance tests compare against; empty = the first.", "-").rule("empty or the name of a variant of the study"),
      KEY(report.aggregate, "folds: mean +- sd over folds; cases: pooled over cases.", "002 Table I").one_of({"folds", "cases"}),
      KEY(report.components, "Check-mark columns of the tables and of `ablate plan`: boolean model keys, without the `model.` prefix.", "001 Table II"),
      KEY(report.rows, "Variant order of the table; empty = study order.", "-").rule("names of variants of the study"),
      KEY(report.sweep_key, "Swept key for the sensitivity table and curve, e.g. loss.alpha.", "001 Fig. 5").rule("empty or a study key (dotted), e.g. loss.alpha"),
      KEY(report.dataset, "Title of this study's column group (e.g. TCIA, MSD, KiTS, Cardiac side by side as in 001 Table II); empty = the study name.", "001 Table II"),
      KEY(report.published, "The paper's numbers beside ours (docs/REPORTS.md, \"Reproduction\"): [[report.published]] tables, each with source (e.g. \"001 Table II\"), dataset (the column group it belongs to; empty = the report's first), class (optional: the class of that group, a name of report.class_names or \"class k\", for papers that print one column group per organ), scale (percent or ratio: how the paper prints the overlap metrics) and values, a table per row: \"U-Net\" = { dice = 65.35, sensitivity = 70.74 }; optional sd of the same shape. A study file's tables replace a base file's. Kept as one line of TOML in the resolved configuration.", "-").rule("[[report.published]] tables; rows name a variant (label or name), class a class of the study, metrics are those of report.metrics or params (millions of parameters)"),
      KEY(report.published_columns, "LaTeX table: the published values as a column group of their own (with the interval verdict) instead of beside each cell.", "-"),
      KEY(report.class_names, "Names of the foreground classes 1, 2, ... in column groups, box plots and per-class tables (e.g. [\"pancreas\"]); a class without a name shows as `class k`.", "-"),
  };
  // The component columns' rule lists the boolean model keys, so it follows the schema.
  std::string bools;
  for (const auto& key : k) {
    const std::string& p = key.def.path;
    if (p.rfind("model.", 0) == 0 && key.def.type == ValueType::kBool) bools += (bools.empty() ? "" : ", ") + p.substr(6);
  }
  for (auto& key : k) {
    if (key.def.path == "report.components") key.rule("each a boolean model key: " + bools);
  }
  std::vector<KeyDef> out;
  for (auto& key : k) out.push_back(std::move(key.def));
  std::sort(out.begin(), out.end(), [](const KeyDef& a, const KeyDef& b) { return a.path < b.path; });
  return out;
}

}  // namespace

std::string to_literal(const Value& v) {
  switch (v.type) {
    case ValueType::kBool: return v.b ? "true" : "false";
    case ValueType::kInt: return std::to_string(v.i);
    case ValueType::kFloat: return float_literal(v.d);
    case ValueType::kString: return string_literal(v.s);
    case ValueType::kIntList: return join(v.il, [](std::int64_t x) { return std::to_string(x); });
    case ValueType::kFloatList: return join(v.dl, float_literal);
    case ValueType::kStringList: return join(v.sl, string_literal);
    case ValueType::kIntListList:
      return join(v.ill, [](const std::vector<std::int64_t>& g) {
        return join(g, [](std::int64_t x) { return std::to_string(x); });
      });
  }
  return "";
}

std::string KeyDef::allowed() const {
  // [[report.published]] is written as tables, not as the string it is kept as.
  if (path == "report.published") return rule;
  std::ostringstream s;
  // A number without bounds must still be finite (check_range refuses inf and nan).
  const bool unbounded = !std::isfinite(min) && !std::isfinite(max);
  if (type == ValueType::kFloat && unbounded) s << "a finite number";
  else if (type == ValueType::kFloatList && unbounded) s << "an array of finite numbers";
  else s << type_name(type);
  if (!choices.empty()) {
    s << ", one of: ";
    for (std::size_t i = 0; i < choices.size(); ++i) s << (i ? ", " : "") << choices[i];
  }
  const bool numeric = type == ValueType::kInt || type == ValueType::kFloat || type == ValueType::kIntList ||
                       type == ValueType::kFloatList || type == ValueType::kIntListList;
  if (numeric && (std::isfinite(min) || std::isfinite(max))) {
    auto num = [](double x) { return std::isinf(x) ? std::string(x > 0 ? "inf" : "-inf") : float_literal(x); };
    std::string lo = num(min), hi = num(max);
    if (type == ValueType::kInt || type == ValueType::kIntList || type == ValueType::kIntListList) {
      if (std::isfinite(min)) lo = std::to_string(static_cast<long long>(min));
      if (std::isfinite(max)) hi = std::to_string(static_cast<long long>(max));
    }
    const bool list = type != ValueType::kInt && type != ValueType::kFloat;
    s << (list ? " with elements in " : " in ") << (min_exclusive ? "(" : "[") << lo << ", " << hi
      << (std::isinf(max) ? ")" : "]");
  }
  if (min_items > 0) s << ", at least " << min_items << " item" << (min_items > 1 ? "s" : "");
  if (max_items != std::numeric_limits<std::size_t>::max()) s << ", at most " << max_items << " items";
  if (!rule.empty()) s << ", " << rule;
  return s.str();
}

const std::vector<KeyDef>& schema() {
  static const std::vector<KeyDef> keys = build_schema();
  return keys;
}

const KeyDef* find_key(const std::string& path) {
  const auto& keys = schema();
  auto it = std::lower_bound(keys.begin(), keys.end(), path, [](const KeyDef& k, const std::string& p) { return k.path < p; });
  return it != keys.end() && it->path == path ? &*it : nullptr;
}

std::vector<std::string> all_key_paths() {
  std::vector<std::string> out;
  for (const auto& k : schema()) out.push_back(k.path);
  return out;
}

const std::vector<std::string>& section_names() {
  static const std::vector<std::string> names = {"study", "data", "model", "loss", "train", "resources", "report", "ablation", "sweep"};
  return names;
}

std::string check_range(const KeyDef& key, const Value& v) {
  auto in_range = [&](double x) {
    if (std::isnan(x)) return false;
    if (key.min_exclusive ? !(x > key.min) : !(x >= key.min)) return false;
    return x <= key.max;
  };
  auto in_choices = [&](const std::string& s) {
    return key.choices.empty() || std::find(key.choices.begin(), key.choices.end(), s) != key.choices.end();
  };
  bool ok = true;
  std::size_t n = 0;
  switch (v.type) {
    case ValueType::kBool: break;
    case ValueType::kInt: ok = in_range(static_cast<double>(v.i)); break;
    case ValueType::kFloat: ok = in_range(v.d); break;
    case ValueType::kString: ok = in_choices(v.s); break;
    case ValueType::kIntList:
      for (auto x : v.il) ok = ok && in_range(static_cast<double>(x));
      n = v.il.size();
      break;
    case ValueType::kFloatList:
      for (auto x : v.dl) ok = ok && in_range(x);
      n = v.dl.size();
      break;
    case ValueType::kStringList:
      for (const auto& x : v.sl) ok = ok && in_choices(x);
      n = v.sl.size();
      break;
    case ValueType::kIntListList:
      for (const auto& g : v.ill) {
        ok = ok && !g.empty();
        for (auto x : g) ok = ok && in_range(static_cast<double>(x));
      }
      n = v.ill.size();
      break;
  }
  // inf and nan pass no range check worth having (inf lies within [0, inf]), so they are refused as such.
  const bool finite = v.type == ValueType::kFloat ? std::isfinite(v.d)
                      : v.type == ValueType::kFloatList
                          ? std::all_of(v.dl.begin(), v.dl.end(), [](double x) { return std::isfinite(x); })
                          : true;
  if (!finite) return "value " + to_literal(v) + " is not allowed: not a finite number; expected " + key.allowed();
  if (ok && (n < key.min_items || n > key.max_items)) ok = false;
  if (ok && key.check) {
    std::string rule = key.check(v);
    if (!rule.empty()) return "value " + to_literal(v) + " is not allowed: expected " + rule;
  }
  if (ok) return "";
  return "value " + to_literal(v) + " is not allowed: expected " + key.allowed();
}

bool valid_name(const std::string& name) {
  // Names become file names (<name>.sqlite, <name>.work/): at most 200 characters leaves room for the suffixes
  // within a file system's 255.
  if (name.empty() || name.size() > kMaxNameLength || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '+' || c == '=';
  });
}

std::string key_reference_markdown() {
  // Table cells: a '|' in a text would end the cell.
  auto cell = [](std::string text) {
    for (auto pos = text.find('|'); pos != std::string::npos; pos = text.find('|', pos + 2)) text.replace(pos, 1, "\\|");
    return text;
  };
  std::ostringstream out;
  std::string section;
  for (const auto& k : schema()) {
    const std::string s = k.path.substr(0, k.path.find('.'));
    if (s != section) {
      section = s;
      out << "\n### [" << section << "]\n\n| key | default | allowed | paper | meaning |\n|---|---|---|---|---|\n";
    }
    out << "| `" << k.path << "` | `" << to_literal(k.get(VariantConfig{})) << "` | " << cell(k.allowed()) << " | "
        << k.paper << " | " << cell(k.doc) << (k.hashed ? "" : " *(does not change results or the hash)*")
        << (k.study_wide.empty() ? "" : " *(study-wide: not in a variant or a sweep)*")
        << (k.evaluation_only ? " *(evaluation-only: variants that differ only in such keys share one training per fold, unless train.scheduler = plateau or train.early_stop_patience > 0 or [sweep.early_stop] is on; docs/RUNNER.md \"Shared trainings\")*" : "")
        << " |\n";
  }
  return out.str();
}

bool valid_slurm_names(const std::string& names, bool list) {
  static const std::regex one(R"(^[A-Za-z0-9_.-]*$)");
  static const std::regex several(R"(^([A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*)?$)");
  return std::regex_match(names, list ? several : one);
}

bool valid_memory_size(const std::string& size) {
  static const std::regex pattern(R"(^([0-9]{1,12}[KMGTkmgt]?)?$)");
  return std::regex_match(size, pattern);
}

bool valid_time_limit(const std::string& time) {
  static const std::regex pattern(R"(^(\d+-)?\d{1,2}(:\d{2}){0,2}$|^\d+$)");
  return std::regex_match(time, pattern);
}

}  // namespace ablate
