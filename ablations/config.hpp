// The resolved configuration of one variant: plain structs that cross every library border
// (no LibTorch, no MPI, no SQLite). Every field is a study key; docs/STUDY.md documents each one with
// its default, range and the paper it comes from, and ablations/schema.cpp is the single table that
// maps keys to these fields.
//
// Contract: values only: no functions, no pointers, no global state; copied freely between threads and
// processes (a Task carries one as canonical text, ablations/task.hpp). The defaults here are the schema's
// defaults; a configuration read from a study has passed the schema's checks, one built in code has not.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ablate {

// [study]: identity, seeds and the split protocol.
struct StudyConfig {
  std::string name = "study";
  std::string description;
  std::uint64_t seed = 42;
  int folds = 5;                     // k-fold cross-validation over cases (>= 2), unless split is set
  std::vector<double> split;         // fixed train/validation/test ratios, e.g. {0.7, 0.1, 0.2}; empty = k-fold
  int repeats = 1;                   // each repeat r trains with seed + r
  double validation_fraction = 0.2;  // part of each training fold held out for model selection
  int max_tasks = 10000;             // refuse a study of more variants x folds x repeats (a runaway [sweep])
};

// Augmentation (001 Sec. IV-C): each with its probability and range.
struct AugmentConfig {
  double flip_p = 0.5;                  // horizontal flip
  double rotate_p = 0.5;                // rotation within +-rotate_degrees
  double rotate_degrees = 10.0;
  double blur_p = 0.5;                  // Gaussian blur with sigma uniform in [blur_sigma_min, blur_sigma_max]
  double blur_sigma_min = 0.1;
  double blur_sigma_max = 1.0;
};

// [data]: where the volumes come from and how they become 2D training images.
struct DataConfig {
  std::string path;                        // Medical Segmentation Decathlon folder (dataset.json, imagesTr/, labelsTr/)
  std::string cache_dir;                   // preprocessing cache; empty = <path>/.ablate-cache
  int axis = 2;                            // slicing axis of the volume (0 = x, 1 = y, 2 = z)
  std::string intensity = "window";        // window | zscore | none
  double window_min = -200.0;              // Hounsfield window of the CT papers
  double window_max = 200.0;
  int image_size = 256;                    // slices are resized to image_size x image_size
  std::vector<std::vector<int>> label_groups;  // each group of source labels becomes one class; empty = all > 0 merged
  double empty_slice_ratio = 0.1;          // fraction of slices without foreground kept for training
  std::string evaluate_at = "native";      // test metrics: native (the case's own grid) | prepared (image_size grid)
  AugmentConfig augment;

  // Number of foreground classes after label mapping.
  int foreground_classes() const { return label_groups.empty() ? 1 : static_cast<int>(label_groups.size()); }
};

// [model]: one configurable network family; every component is a key (GUIDE: components as data).
struct ModelConfig {
  int in_channels = 1;
  std::vector<int> widths = {64, 128, 256, 512, 1024};  // depth = widths.size(); the last width is the bridge
  std::string up = "transpose";      // transpose | bilinear
  bool conv_bias = false;            // with BN the bias is redundant (READINGS, Common)

  // EC-CaM-UNet (001): the five components of Table II.
  bool cc = false;                   // channel-correlation attention (eqs. 2-3, 5-7)
  bool sc = false;                   // spatial-correlation attention (eqs. 1, 8-9); CC+SC = CoA (eq. 4)
  bool mus = false;                  // ASPP multi-scale block at the bridge
  bool ec = false;                   // enhanced convolution in the encoder
  bool dws = false;                  // decoder with side outputs (deep supervision)
  std::string dws_taps = "bridge";   // bridge: one 16x side output from the fused bridge (001 Fig. 2(d), READINGS);
                                     // decoder: one side output per decoder stage below full resolution (the reading)
  std::string fusion = "deep";       // deep | add | serial: how CoA and MuS combine (Table III)
  std::vector<int> mus_rates = {6, 12, 18};
  int mus_branch_width = 0;          // 0 = the input width C; otherwise fixed (torchvision ASPP uses 256)
  bool mus_1x1_branch = false;       // DeepLab's extra 1x1 branch
  std::string ec_levels = "all";     // all | shallow (the first half of the encoder levels)
  std::string ec_merge = "sum";      // sum: BN per branch, summed, ReLU (ACNet) | relu_sum: conv+BN+ReLU per branch, summed
  std::string attention = "none";    // none | se | cbam (001 Table V) | pam | cam | pam_cam (002): placed where CoA sits
  std::string cam_energy = "similarity";  // CAM's softmax input: similarity (002 eq. 4) | max_minus (DANet's code)
  bool attention_gates = false;      // Attention U-Net gates on the skips (Table I)
  int attention_reduction = 16;      // SE / CBAM reduction ratio

  // MDA-U-Net* (000).
  bool aux_path = false;             // additional expansive path with its own head (eqs. 2-5)
  bool dspa = false;                 // dense spatial position attention on the skips (eqs. 9-11)
  int dspa_k = 10;                   // K dense features
  bool ca = false;                   // channel self-attention after DSPA (eqs. 12-13)

  // DSMS U-Net (004).
  std::string msc = "none";          // none | msc | kcm | cascade: multi-scale module on every skip
  bool restoration = false;          // restoration decoder with a reconstruction loss

  // ANU-Net (003).
  bool nested = false;               // nested dense skip pathways X^{i,j} (eq. 4; UNet++ with model.attention_gates off)
  bool nested_supervision = true;    // conv1x1 heads on X^{0,1}..X^{0,depth-2} (Sec. 3.4), weighted by loss.side_weight
  int prune_level = 0;               // inference from X^{0,L} only (Sec. 3.5, Table 6); 0 = the full network
  std::string nested_layout = "shared";  // shared: one up-sampling (ConvT + BN + ReLU) per level, one gate per
                                     // predecessor (Table 6's counts) | per_node: an up-sampling per node, a gate per
                                     // (node, predecessor) pair (docs/MODELS.md, "Nested skips")

  // Multi-scale self-guided attention (002): model.backbone = "resnet" builds 002's network (trainer/nn/guided.hpp);
  // model.widths are then the planes of the ResNet stages (S scales = their count) and model.attention picks the
  // self-attention of every module (none | pam | cam | pam_cam).
  std::string backbone = "unet";     // unet: the U-Net family above | resnet: 002's multi-scale guided network
  std::vector<int> resnet_blocks = {3, 4, 23, 3};  // bottleneck blocks per ResNet stage (ResNet-101, Sec. IV-A2)
  int guided_width = 64;             // G: width of the projected scales F'_s, F_MS and the attention modules
  int refinements = 1;               // attention modules stacked per scale (1: DualNet, 2: MS-Dual, Sec. III-C)
  bool semantic_guidance = false;    // the encoder-decoders of Fig. 3 (eqs. 6-7): MS-Dual-Guided
};

// [loss].
struct LossConfig {
  std::string name = "hybrid";       // dice | bce | hybrid | focal | dice_focal_bce | ce_dice
  std::string side_name = "same";    // loss of the DWS side outputs: same (= name) or one of name's values;
                                     // 001 Sec. III-B puts Dice on the main output and BCE on the side output
  double alpha = 0.5;                // hybrid: alpha*Dice + (1-alpha)*BCE (001 eq. 17)
  double focal_gamma = 2.0;
  double focal_alpha = 0.25;
  double dice_smooth = 1.0;
  std::string dice_denominator = "sum";  // sum: Σp + Σy (001 eq. 11) | squares: Σp² + Σy² (003 eqs. 5, 8; V-Net)
  double main_weight = 1.0;          // weight of the main output's loss (Ls in 000 eq. 8)
  double side_weight = 1.0;          // DWS side output(s) or the nested deep-supervision heads (003)
  double aux_weight = 1.0;           // lambda of 000 eq. 8: weight of the auxiliary path's loss La
  double recon_weight = 0.1;         // DSMS restoration loss (segmentation : reconstruction = 10 : 1); 002's
                                     // feature reconstruction (gamma of eq. 11, 0.1)
  double guided_weight = 0.25;       // 002's guided loss between consecutive encoder-decoders (beta of eq. 11)
};

// [train].
struct TrainConfig {
  std::string optimizer = "adam";    // adam | adamw | sgd
  double lr = 1e-5;
  double weight_decay = 1e-4;
  double momentum = 0.9;             // sgd
  std::string scheduler = "cosine";  // cosine | plateau | none
  int plateau_patience = 50;         // 002: halve the learning rate after 50 epochs without improvement
  double plateau_factor = 0.5;
  double min_lr = 0.0;
  int epochs = 150;
  int batch_size = 4;
  int accumulate = 1;                // gradient accumulation steps
  int steps_per_epoch = 0;           // 0 = one pass over the training slices
  int early_stop_patience = 0;       // 0 = off
  std::string select_metric = "dice";  // validation metric for best-epoch selection
  int threads = 0;                   // intra-op threads per process; 0 = the rank's share of the node's cores
  std::string device = "auto";       // auto | cpu | cuda
  bool deterministic = true;
  std::string precision = "fp32";   // fp32 | bf16 (CUDA autocast; losses in fp32)
  int prefetch = 2;                 // training batches prepared ahead on a thread; 0 = on the training thread
  double checkpoint_seconds = 600;  // also checkpoint within an epoch at most this often; 0 = per epoch only
};

// [resources]: used by `ablate submit` and by device placement.
struct ResourcesConfig {
  int ranks = 3;                     // MPI ranks: one coordinator + workers
  int nodes = 1;
  int gpus_per_node = 0;
  int ranks_per_gpu = 1;
  int cpus_per_rank = 1;
  std::string time = "24:00:00";
  std::string partition;
  std::string account;
  std::string memory;                // e.g. "32G"; empty = cluster default
  std::string mpi = "pmix";          // srun --mpi=: pmix | pmi2 | none
  int array = 0;                     // > 0: a Slurm job array of this many elements (runner/shards.hpp); 0 = one MPI job
};

// [report]: the table layout.
struct ReportConfig {
  std::vector<std::string> metrics = {"dice", "sensitivity", "precision"};
  int decimals = 2;
  bool percent = true;
  std::string baseline;              // variant name; empty = the first variant
  std::string aggregate = "folds";   // folds (mean +- sd over folds) | cases (pooled over cases)
  std::vector<std::string> components = {"cc", "sc", "mus", "ec", "dws"};  // check-mark columns
  std::vector<std::string> rows;     // variant order; empty = study order
  std::string sweep_key;             // a swept key for the sensitivity table/curve (e.g. loss.alpha)
  std::string dataset;               // title of the study's column group; empty = the study name
  std::vector<std::string> class_names;  // names of classes 1, 2, ...; missing = "class k"
  // [[report.published]]: the paper's numbers, as one line of TOML (ablations/published.hpp reads it);
  // "" = none. Checked against the variants and metrics when the study loads.
  std::string published;
  bool published_columns = false;    // LaTeX: the published values as a column group of their own
};

// Everything that defines one variant of a study.
struct VariantConfig {
  StudyConfig study;
  DataConfig data;
  ModelConfig model;
  LossConfig loss;
  TrainConfig train;
  ResourcesConfig resources;
  ReportConfig report;
};

}  // namespace ablate
