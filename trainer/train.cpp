// run_task: train one variant on one fold, select the best epoch on the validation cases, evaluate the
// test cases per case. Protocol of 001 Sec. IV-C (Adam, lr 1e-5, cosine annealing, batch 4, 150 epochs,
// best-on-validation selection) and 002 Sec. IV-A (reduce-on-plateau: lr x 0.5 after 50 epochs without
// improvement on the validation set), every number a study key.
//
// Resumption: a checkpoint (trainer/checkpoint.hpp) is written atomically after every epoch, at a pause
// and when a stop is requested. Batches and augmentation draws are functions of (seed, epoch, step), so a
// resumed task continues exactly where an uninterrupted one would be (bit-for-bit on CPU with the same
// thread count).
#include <ATen/autocast_mode.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "ablations/sharing.hpp"
#include "trainer/checkpoint.hpp"
#include "trainer/data/dataset.hpp"
#include "trainer/data/loader.hpp"
#include "trainer/data/prefetch.hpp"
#include "trainer/data/preprocess.hpp"
#include "trainer/device.hpp"
#include "trainer/losses.hpp"
#include "trainer/metrics.hpp"
#include "trainer/nn/network.hpp"
#include "trainer/trainer.hpp"

namespace ablate::trainer {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void validate_train_config(const TrainConfig& t) {
  auto bad = [](const std::string& key, const std::string& value, const std::string& allowed) {
    throw std::runtime_error("train." + key + " = " + value + ": allowed " + allowed);
  };
  if (t.optimizer != "adam" && t.optimizer != "adamw" && t.optimizer != "sgd") bad("optimizer", "\"" + t.optimizer + "\"", "adam | adamw | sgd");
  if (t.scheduler != "cosine" && t.scheduler != "plateau" && t.scheduler != "none") bad("scheduler", "\"" + t.scheduler + "\"", "cosine | plateau | none");
  if (!(t.lr > 0)) bad("lr", std::to_string(t.lr), "> 0");
  if (t.weight_decay < 0) bad("weight_decay", std::to_string(t.weight_decay), ">= 0");
  if (t.epochs < 1) bad("epochs", std::to_string(t.epochs), ">= 1");
  if (t.batch_size < 1) bad("batch_size", std::to_string(t.batch_size), ">= 1");
  if (t.accumulate < 1) bad("accumulate", std::to_string(t.accumulate), ">= 1");
  if (t.steps_per_epoch < 0) bad("steps_per_epoch", std::to_string(t.steps_per_epoch), ">= 0 (0 = one pass)");
  if (t.early_stop_patience < 0) bad("early_stop_patience", std::to_string(t.early_stop_patience), ">= 0 (0 = off)");
  if (t.precision != "fp32" && t.precision != "bf16")
    bad("precision", "\"" + t.precision + "\"", "fp32 | bf16");
  if (t.prefetch < 0) bad("prefetch", std::to_string(t.prefetch), ">= 0 (0 = no prefetch thread)");
  if (!(t.checkpoint_seconds >= 0))
    bad("checkpoint_seconds", std::to_string(t.checkpoint_seconds), ">= 0 (0 = per epoch only)");
  if (t.plateau_patience < 1) bad("plateau_patience", std::to_string(t.plateau_patience), ">= 1");
  if (!(t.plateau_factor > 0 && t.plateau_factor <= 1)) bad("plateau_factor", std::to_string(t.plateau_factor), "(0, 1] (1 = no reduction)");
  if (t.select_metric != "loss") {
    const auto& names = metric_names();
    if (std::find(names.begin(), names.end(), t.select_metric) == names.end()) {
      bad("select_metric", "\"" + t.select_metric + "\"", "loss | dice | iou | sensitivity | precision | specificity | vs | assd | hd95");
    }
  }
}

// Learning rate of a (1-based) epoch under cosine annealing (per epoch, T_max = epochs, like PyTorch's
// CosineAnnealingLR stepped once per epoch).
double cosine_lr(const TrainConfig& t, int epoch) {
  constexpr double kPi = 3.14159265358979323846;
  return t.min_lr + 0.5 * (t.lr - t.min_lr) * (1.0 + std::cos(kPi * (epoch - 1) / t.epochs));
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& t, const std::vector<torch::Tensor>& params) {
  if (t.optimizer == "adam") {
    return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(t.lr).weight_decay(t.weight_decay));
  }
  if (t.optimizer == "adamw") {
    return std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(t.lr).weight_decay(t.weight_decay));
  }
  return std::make_unique<torch::optim::SGD>(params,
                                             torch::optim::SGDOptions(t.lr).momentum(t.momentum).weight_decay(t.weight_decay));
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

// Parameters then buffers, in registration order: the layout of the "best" weights in a checkpoint.
std::vector<torch::Tensor> state_tensors(SegmentationNet& net) {
  std::vector<torch::Tensor> out;
  for (const auto& p : net->named_parameters(true)) out.push_back(p.value());
  for (const auto& b : net->named_buffers(true)) out.push_back(b.value());
  return out;
}

std::vector<torch::Tensor> copy_state(SegmentationNet& net) {
  std::vector<torch::Tensor> out;
  for (const auto& t : state_tensors(net)) out.push_back(t.detach().clone());
  return out;
}

void restore_state(SegmentationNet& net, const std::vector<torch::Tensor>& saved) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> live = state_tensors(net);
  if (live.size() != saved.size()) throw std::runtime_error("best weights do not match the network's parameters");
  for (std::size_t i = 0; i < live.size(); ++i) live[i].copy_(saved[i]);
}

// train.precision = "bf16": the forward pass under CUDA autocast in bfloat16 (convolutions and matrix
// products in bf16; the reductions, norms and softmaxes autocast keeps in fp32), its outputs cast back to
// fp32, so that the losses, metrics and read-backs are fp32 whatever the precision. bf16 has fp32's
// exponent range: SC's N x N products cannot overflow as fp16's would (hence no fp16, and no loss scaling,
// which LibTorch's C++ API lacks: there is no GradScaler). Autocast state is thread-local, as is this scope.
class Bf16Autocast {
 public:
  Bf16Autocast() : enabled_(at::autocast::is_enabled()), dtype_(at::autocast::get_autocast_gpu_dtype()) {
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
    at::autocast::increment_nesting();
  }
  ~Bf16Autocast() {
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();  // the casts of the weights
    at::autocast::set_enabled(enabled_);
    at::autocast::set_autocast_gpu_dtype(dtype_);
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool enabled_;
  at::ScalarType dtype_;
};

NetOutput forward(SegmentationNet& net, const torch::Tensor& x, bool bf16) {
  if (!bf16) return net->forward(x);
  NetOutput o;
  {
    const Bf16Autocast autocast;
    o = net->forward(x);
  }
  auto fp32 = [](torch::Tensor& t) {
    if (t.defined()) t = t.to(torch::kFloat32);
  };
  fp32(o.main);
  for (auto& t : o.sides) fp32(t);
  fp32(o.aux);
  fp32(o.recon);
  for (auto& [a, b] : o.guided) fp32(a), fp32(b);
  for (auto& [a, b] : o.feature_recon) fp32(a), fp32(b);
  return o;
}

// Inference on all slices of a case: the 3D label map, slice-major like PreparedCase::label. With
// native (data.evaluate_at = "native") the logits are resampled bilinearly (align_corners = false, the
// convention of the preprocessing's resize) to the case's own rows x cols before the labels are taken,
// so the map lies on the grid of the original label.
// Validation sums over the cases of one pass: the configured loss (per slice) and the soft Dice terms
// (soft_dice_terms: per foreground class sum(p y) and sum(p) + sum(y)) on the preprocessed grid.
struct ValidationSums {
  double loss_sum = 0;
  std::int64_t loss_count = 0;
  torch::Tensor dice_terms;  // 2 x classes, float64 on the CPU; undefined before the first batch

  // The validation soft Dice: mean over the foreground classes of 2 sum(p y) / (sum(p) + sum(y)) over all
  // the cases (a class absent from both the truth and the probabilities counts 1). It does not depend on
  // the loss's settings, so it ranks trials that train with different losses on one scale (the
  // early-stopping tie-break, docs/STUDY.md "Early stopping").
  double soft_dice() const {
    if (!dice_terms.defined()) return std::numeric_limits<double>::quiet_NaN();
    auto t = dice_terms.accessor<double, 2>();
    double sum = 0;
    for (std::int64_t c = 0; c < t.size(1); ++c) sum += t[1][c] > 0 ? 2 * t[0][c] / t[1][c] : 1.0;
    return sum / static_cast<double>(t.size(1));
  }
};

std::vector<std::uint8_t> predict_case(SegmentationNet& net, const data::PreparedCase& c,
                                       const torch::Device& device, int batch, bool bf16,
                                       const LossConfig* loss_config, ValidationSums* sums,
                                       const data::NativeLabel* native = nullptr) {
  torch::NoGradGuard no_grad;
  const std::int64_t s = c.size;
  const std::int64_t plane = native ? static_cast<std::int64_t>(native->rows) * native->cols : c.pixels_per_slice();
  std::vector<std::uint8_t> out(static_cast<std::size_t>(plane) * c.slices);
  torch::Tensor images = torch::from_blob(const_cast<float*>(c.image.data()), {c.slices, 1, s, s}, torch::kFloat32);
  torch::Tensor labels = torch::from_blob(const_cast<std::uint8_t*>(c.label.data()), {c.slices, s, s}, torch::kUInt8);
  for (std::int64_t begin = 0; begin < c.slices; begin += batch) {
    const std::int64_t end = std::min<std::int64_t>(c.slices, begin + batch);
    torch::Tensor x = images.slice(0, begin, end).to(device);
    NetOutput o = forward(net, x, bf16);
    if (loss_config) {
      torch::Tensor y = labels.slice(0, begin, end).to(device).to(torch::kInt64);
      sums->loss_sum += compute_loss(o, y, x, *loss_config).value * (end - begin);
      sums->loss_count += end - begin;
      const torch::Tensor terms = soft_dice_terms(o.main, y);
      sums->dice_terms = sums->dice_terms.defined() ? sums->dice_terms + terms : terms;
    }
    torch::Tensor logits = o.main;
    if (native) {
      namespace F = torch::nn::functional;
      logits = F::interpolate(logits, F::InterpolateFuncOptions()
                                          .size(std::vector<std::int64_t>{native->rows, native->cols})
                                          .mode(torch::kBilinear)
                                          .align_corners(false));
    }
    torch::Tensor pred = predict_labels(logits).to(torch::kCPU).to(torch::kUInt8).contiguous();
    std::copy(pred.data_ptr<std::uint8_t>(), pred.data_ptr<std::uint8_t>() + (end - begin) * plane, out.begin() + begin * plane);
  }
  return out;
}

Grid grid_of(const data::PreparedCase& c) {
  Grid g;
  g.dim = {c.slices, c.size, c.size};
  g.spacing = c.spacing;
  return g;
}

Grid grid_of(const data::NativeLabel& n) {
  Grid g;
  g.dim = {n.slices, n.rows, n.cols};
  g.spacing = n.spacing;
  return g;
}

struct CaseScores {
  std::string id;
  std::vector<SegmentationMetrics> per_class;  // classes 1..C
  std::vector<SegmentationMetrics> per_class_2d;  // per-slice means (metrics.hpp slice_metrics); test evaluation only
  // Ground-truth voxels of classes 1..C and of the whole grid, for the trivial predictors; test evaluation
  // only.
  std::vector<std::int64_t> gt_voxels;
  std::int64_t voxels = 0;
  double ms = 0;                               // inference time
};

// Prediction and metrics for a list of cases. distances = false skips ASSD/HD95 (validation on Dice).
// With `native_label` the test metrics are computed on each case's own grid against that label (read one
// case at a time: a native CT label is tens of MB).
using NativeLabelOf = std::function<data::NativeLabel(const data::PreparedCase&)>;
std::vector<CaseScores> score_cases(SegmentationNet& net, const std::vector<const data::PreparedCase*>& cases,
                                    const torch::Device& device, int batch, bool bf16, int classes,
                                    bool distances, const LossConfig* loss_config, ValidationSums* sums,
                                    const NativeLabelOf& native_label = nullptr) {
  net->eval();
  std::vector<CaseScores> out;
  for (const data::PreparedCase* c : cases) {
    data::NativeLabel native;
    if (native_label) native = native_label(*c);
    const data::NativeLabel* n = native_label ? &native : nullptr;
    CaseScores cs;
    cs.id = c->id;
    const auto t0 = Clock::now();
    std::vector<std::uint8_t> pred =
        predict_case(net, *c, device, batch, bf16, loss_config, sums, n);
    cs.ms = 1000.0 * seconds_since(t0);
    const std::vector<std::uint8_t>& truth = n ? n->label : c->label;
    const Grid grid = n ? grid_of(*n) : grid_of(*c);
    if (distances) {
      cs.per_class = class_metrics(pred, truth, grid, classes);
    } else {
      std::vector<std::uint8_t> p(pred.size()), g(pred.size());
      for (int cls = 1; cls <= classes; ++cls) {
        for (std::size_t i = 0; i < pred.size(); ++i) {
          p[i] = pred[i] == cls;
          g[i] = truth[i] == cls;
        }
        cs.per_class.push_back(overlap_metrics(overlap_counts(p, g)));
      }
    }
    if (distances) {
      for (int cls = 1; cls <= classes; ++cls) cs.per_class_2d.push_back(slice_metrics(pred, truth, grid, cls));
      cs.gt_voxels.assign(classes, 0);
      for (std::uint8_t v : truth)
        if (v >= 1 && v <= classes) ++cs.gt_voxels[v - 1];
      cs.voxels = static_cast<std::int64_t>(truth.size());
    }
    out.push_back(std::move(cs));
  }
  return out;
}

double mean_metric(const std::vector<CaseScores>& scores, const std::string& metric) {
  double sum = 0;
  int n = 0;
  for (const auto& cs : scores)
    for (const auto& m : cs.per_class) {
      sum += metric_value(m, metric);
      ++n;
    }
  return n ? sum / n : 0.0;
}

// A progress bar on a terminal; otherwise a log line at most every `log_seconds` within an epoch (the
// per-epoch log line is always written), so a log file shows where a long epoch is.
class ProgressBar {
 public:
  ProgressBar(std::string where, double log_seconds)
      : enabled_(::isatty(STDERR_FILENO) == 1 && spdlog::default_logger()->should_log(spdlog::level::info)),
        where_(std::move(where)),
        log_seconds_(log_seconds) {}
  void update(int epoch, int epochs, int step, int steps, double loss) {
    const auto now = Clock::now();
    if (!enabled_) {
      if (step + 1 < steps && std::chrono::duration<double>(now - last_).count() >= log_seconds_) {
        last_ = now;
        spdlog::info("{}: epoch {}/{} step {}/{} loss {:.4f}", where_, epoch, epochs, step + 1, steps, loss);
      }
      return;
    }
    if (step + 1 < steps && std::chrono::duration<double>(now - last_).count() < 0.2) return;
    last_ = now;
    const int width = 30, filled = steps ? width * (step + 1) / steps : width;
    std::fprintf(stderr, "\r  epoch %d/%d [%s%s] %d/%d loss %.4f ", epoch, epochs, std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), step + 1, steps, loss);
    std::fflush(stderr);
    dirty_ = true;
  }
  void clear() {
    if (enabled_ && dirty_) {
      std::fprintf(stderr, "\r%80s\r", "");
      std::fflush(stderr);
    }
    dirty_ = false;
  }

 private:
  bool enabled_;
  std::string where_;
  double log_seconds_;
  bool dirty_ = false;
  Clock::time_point last_ = Clock::now();
};

// train.device = auto: the worker's placement (its GPU, else the CPU); cpu: the CPU; cuda: a GPU or a clear
// failure (a study that asks for GPUs must not silently train a hundred times slower on a CPU).
torch::Device pick_device(const RunContext& ctx, const TrainConfig& t) {
  if (t.device == "cpu") return torch::kCPU;
  const bool placed_on_gpu = ctx.device.rfind("cuda", 0) == 0;
  const bool wants_cuda = placed_on_gpu || t.device == "cuda";
  if (!wants_cuda) return torch::kCPU;
  if (!torch::cuda::is_available()) {
    if (t.device == "cuda") {
      throw std::runtime_error("train.device = \"cuda\" but this worker sees no CUDA device (LibTorch " + libtorch_version() +
                               " built without CUDA, or no GPU visible); use train.device = \"auto\" to fall back to the CPU");
    }
    spdlog::warn("device {} requested but this LibTorch build has no CUDA device: training on the CPU", ctx.device);
    return torch::kCPU;
  }
  return torch::Device(placed_on_gpu ? ctx.device : std::string("cuda:0"));
}

}  // namespace

namespace {

// The data of one task: its validation and test cases as whole cases, its training slices as tensors and
// the batch sampler over them. Filled in place (TrainBatches refers to train_slices).
struct TaskData {
  data::DatasetInfo info;
  std::map<std::string, const data::CaseEntry*> by_id;
  std::map<std::string, data::PreparedCase> prepared;  // validation and test cases
  std::vector<const data::PreparedCase*> val_cases, test_cases;
  data::SliceTensors train_slices;
  std::unique_ptr<data::TrainBatches> batches;
  int classes = 1;
};

// One task from its configuration to its result, phase by phase: prepare_data, build_model, resume, train
// (the epoch loop: train_epoch, validate, select), evaluate. The phases share this state; run_task_impl
// calls them in order.
class TaskRun {
 public:
  // `others`: the configurations of task.shared_with (run_group), one each.
  TaskRun(const Task& task, const VariantConfig& config, const RunContext& ctx, const std::vector<VariantConfig>& others = {})
      : task_(task), config_(config), tc_(config.train), ctx_(ctx), start_(Clock::now()) {
    validate_train_config(tc_);
    data::validate_data_config(config.data);
    where_ = where_of(task.variant);
    if (task.train_cases.empty()) throw std::runtime_error(where_ + ": the task has no training case");
    if (others.size() != task.shared_with.size()) throw std::runtime_error(where_ + ": a configuration for every shared member is needed");
    if (!others.empty() && task.pause_after_epoch > 0) throw std::runtime_error(where_ + ": a shared training cannot pause at a rung");
    if (!others.empty()) {
      const std::string why = training_not_shareable(config);
      if (!why.empty()) throw std::runtime_error(where_ + ": its training cannot be shared: " + why);
    }
    const std::string key = others.empty() ? std::string() : training_key(config);
    for (std::size_t m = 0; m < others.size(); ++m) {
      validate_train_config(others[m].train);
      const std::string& name = task.shared_with[m].variant;
      if (training_key(others[m]) != key) {
        throw std::runtime_error(where_ + ": variant " + name + " differs from it in more than evaluation-only keys: it cannot share its training");
      }
      members_.push_back(Member{name, where_of(name), &others[m], {}});
    }
  }

  void prepare_data();
  void build_model();
  void resume();
  // Returns true when the task paused at Task::pause_after_epoch (then paused_result(), not evaluate()).
  bool train();
  TaskResult evaluate();
  TaskResult paused_result() const;
  // run_group: member m's result (m >= 1), evaluated from its own selected weights.
  TaskResult evaluate_member(std::size_t m);
  std::size_t member_count() const { return members_.size(); }
  // Where member m is (0: the task itself), for messages.
  const std::string& member_where(std::size_t m) const { return m == 0 ? where_ : members_[m - 1].where; }

 private:
  const data::CaseEntry& entry_of(const std::string& id, const char* part) const;
  data::PreparedCase load(const data::CaseEntry& e);
  std::vector<const data::PreparedCase*> prepare(const std::vector<std::string>& ids, const char* part);
  void load_train_slices();
  // Writes `st` (the task's state, or a within-epoch copy of it) with the network, optimiser and best
  // weights.
  void checkpoint(const TrainState& st) {
    if (task_.checkpoint_path.empty()) return;
    std::vector<MemberState> states;
    for (const auto& m : members_) states.push_back(m.state);
    save_checkpoint(task_.checkpoint_path, task_, net_, *opt_, st, best_, states);
    last_checkpoint_ = Clock::now();
    if (ctx_.on_checkpoint) ctx_.on_checkpoint(st.epochs_done, st.next_step);
  }
  void checkpoint() { checkpoint(st_); }
  // train.checkpoint_seconds have passed since the last checkpoint (or since training began).
  bool checkpoint_due() const {
    return tc_.checkpoint_seconds > 0 && !task_.checkpoint_path.empty() &&
           seconds_since(last_checkpoint_) >= tc_.checkpoint_seconds;
  }
  std::string where_of(const std::string& variant) const {
    return "variant " + variant + " fold " + std::to_string(task_.fold) + (task_.repeat ? " repeat " + std::to_string(task_.repeat) : "");
  }
  // The test evaluation of the weights `best` (the network as it is when empty) with `config`'s
  // evaluation keys; `sel` gives the epochs and best epoch of the result.
  TaskResult evaluate_with(const std::string& where, const VariantConfig& config, const std::vector<torch::Tensor>& best,
                           const TrainState& sel);
  bool stop_requested() const { return ctx_.stop && ctx_.stop->load(); }
  // The optimisation steps of one epoch; returns the mean training loss. Throws TaskInterrupted when a stop
  // is requested between two optimiser steps (after checkpointing the partial epoch).
  double train_epoch(int epoch, const Clock::time_point& epoch_start, double carried_seconds, ProgressBar& bar);
  // Validation loss, Dice and select-metric value of the epoch into rec; returns the selection score
  // (higher is better).
  double validate(EpochRecord& rec) { return validate(rec, tc_); }
  double validate(EpochRecord& rec, const TrainConfig& tc);
  // The epoch becomes st's best, and `best` its weights, when its score is strictly better.
  void keep_if_best(TrainState& st, std::vector<torch::Tensor>& best, int epoch, double score);
  // Best-epoch selection, the plateau schedule and patience-based early stopping after an epoch.
  void select(int epoch, double score);
  // run_group: every member's validation and selection of the epoch just trained (rec: the shared part).
  void validate_members(const EpochRecord& rec);

  // A member of a shared training beside the task itself (run_group): its own selection and best weights.
  struct Member {
    std::string variant;
    std::string where;
    const VariantConfig* config = nullptr;
    MemberState state;
  };
  std::vector<Member> members_;

  const Task& task_;
  const VariantConfig& config_;
  const TrainConfig& tc_;
  const RunContext& ctx_;
  const Clock::time_point start_;
  Clock::time_point last_checkpoint_ = Clock::now();
  std::string where_;
  torch::Device device_ = torch::kCPU;
  bool bf16_ = false;  // train.precision = "bf16" (on a CUDA device only)
  int eval_batch_ = 8;
  int cached_ = 0;  // cases loaded from the preprocessing cache
  TaskData d_;
  SegmentationNet net_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> opt_;
  std::int64_t parameters_ = 0;
  TrainState st_;
  std::vector<torch::Tensor> best_;
};

const data::CaseEntry& TaskRun::entry_of(const std::string& id, const char* part) const {
  auto it = d_.by_id.find(id);
  if (it == d_.by_id.end()) {
    throw std::runtime_error(where_ + ": " + part + " case \"" + id + "\" is not in " + d_.info.root + "/dataset.json");
  }
  return *it->second;
}

data::PreparedCase TaskRun::load(const data::CaseEntry& e) {
  bool hit = false;
  data::PreparedCase c = data::load_case(e, config_.data, &hit);
  cached_ += hit;
  return c;
}

// Validation and test cases stay in memory as cases (they are predicted whole).
std::vector<const data::PreparedCase*> TaskRun::prepare(const std::vector<std::string>& ids, const char* part) {
  std::vector<const data::PreparedCase*> out;
  for (const std::string& id : ids) {
    auto p = d_.prepared.find(id);
    if (p == d_.prepared.end()) p = d_.prepared.emplace(id, load(entry_of(id, part))).first;
    out.push_back(&p->second);
  }
  return out;
}

// Training slices: sized from the cache files' headers (preprocessing a case on a cache miss), then
// loaded and copied into the tensors one case at a time, so that beside the tensors only one case's copy
// exists (the memory of a rank is about the training slices once, docs/DATA.md). A case the cache could
// not hold (read-only dataset folder) is kept from the first pass instead of being preprocessed twice.
void TaskRun::load_train_slices() {
  std::map<std::string, data::PreparedCase> uncached;
  std::int64_t count = 0;
  int slice_size = 0;
  for (const std::string& id : task_.train_cases) {
    const data::CaseEntry& e = entry_of(id, "training");
    int slices = 0, size = 0;
    if (!data::cached_case_shape(e, config_.data, slices, size)) {
      data::PreparedCase c = load(e);
      slices = c.slices;
      size = c.size;
      if (!data::cached_case_shape(e, config_.data, slices, size)) uncached.emplace(id, std::move(c));
    }
    if (slice_size && size != slice_size) throw std::runtime_error(where_ + ": case \"" + id + "\": slice size differs from the other cases");
    slice_size = size;
    count += slices;
  }
  data::SliceStacker stack(count, slice_size);
  for (const std::string& id : task_.train_cases) {
    auto kept = uncached.find(id);
    if (kept != uncached.end()) {
      stack.add(kept->second);
      uncached.erase(kept);
    } else {
      stack.add(load(entry_of(id, "training")));
    }
  }
  d_.train_slices = stack.take();
}

// Phase 1: the device, then every case of the task, preprocessed once and cached (trainer/data/preprocess.hpp).
void TaskRun::prepare_data() {
  const int threads = ctx_.threads > 0 ? ctx_.threads : (tc_.threads > 0 ? tc_.threads : 1);
  torch::set_num_threads(threads);
  device_ = pick_device(ctx_, tc_);  // the numerics flags are the caller's NumericsScope (trainer/device.hpp)
  bf16_ = tc_.precision == "bf16";
  if (bf16_ && !device_.is_cuda()) {
    // Refused rather than trained in fp32: the precision is in the variant's hash, and a result stored as
    // bf16 must be one.
    const std::string seen = ctx_.device + ", " + framework_description();
    throw std::runtime_error(where_ + ": train.precision = \"bf16\" needs a CUDA device (autocast on the GPU) but " +
                             "this task trains on the CPU (" + seen + "); allowed on the CPU: train.precision = \"fp32\"");
  }
  const auto data_start = Clock::now();
  d_.info = data::read_dataset(config_.data.path);
  for (const auto& c : d_.info.cases) d_.by_id[c.id] = &c;
  d_.val_cases = prepare(task_.val_cases, "validation");
  d_.test_cases = prepare(task_.test_cases, "test");
  d_.classes = config_.data.foreground_classes();
  load_train_slices();
  spdlog::debug("{}: {} training slices and {} other cases ready in {:.1f} s ({} loads from the cache)", where_,
                d_.train_slices.size(), d_.prepared.size(), seconds_since(data_start), cached_);
  d_.batches = std::make_unique<data::TrainBatches>(d_.train_slices, config_.data, tc_.batch_size, tc_.steps_per_epoch, task_.seed);
  d_.batches->set_pin_memory(device_.is_cuda());
  // A GPU evaluates 32 slices per forward (fewer launches and read-backs); the CPU keeps its 8, which the
  // stored CPU results were computed with.
  eval_batch_ = std::max(tc_.batch_size, device_.is_cuda() ? 32 : 8);
}

// Phase 2: model and optimiser.
void TaskRun::build_model() {
  // The initial weights come from the process-wide generator: seeding and construction happen under one
  // lock so that tasks running in worker threads of one process (`ablate run --workers N`) cannot
  // interleave their draws, and each task's initialisation depends on its seed alone.
  static std::mutex init_mutex;
  std::unique_lock<std::mutex> init_lock(init_mutex);
  torch::manual_seed(task_.seed);
  net_ = SegmentationNet(config_.model, output_channels(config_));
  init_lock.unlock();
  net_->to(device_);
  // The network as it predicts: with model.prune_level the pruned one (003 Table 6); training updates all.
  parameters_ = net_->inference_parameters();
  for (auto& m : members_) {
    net_->set_prune_level(m.config->model.prune_level);  // checked now, before any training
    m.state = MemberState{};
  }
  if (!members_.empty()) net_->set_prune_level(config_.model.prune_level);
  opt_ = make_optimizer(tc_, net_->parameters());
  st_ = TrainState();
  st_.lr = tc_.lr;
  best_.clear();
}

// Phase 3: resume from the task's checkpoint when there is one of this task.
void TaskRun::resume() {
  if (task_.checkpoint_path.empty() || !fs::exists(task_.checkpoint_path)) return;
  std::vector<MemberState> states;
  if (load_checkpoint(task_.checkpoint_path, task_, device_, net_, *opt_, st_, best_, &states)) {
    for (std::size_t m = 0; m < members_.size(); ++m) members_[m].state = std::move(states[m]);
    spdlog::info("{}: resuming from {} after epoch {}{}", where_, task_.checkpoint_path, st_.epochs_done,
                 st_.next_step ? " step " + std::to_string(st_.next_step) : std::string());
  }
}

double TaskRun::train_epoch(int epoch, const Clock::time_point& epoch_start, double carried_seconds, ProgressBar& bar) {
  const std::vector<std::int64_t> order = d_.batches->epoch_order(epoch);
  const int steps = d_.batches->steps(order);
  double loss_sum = st_.partial_loss_sum;
  std::int64_t loss_count = st_.partial_loss_count;
  const int first_step = st_.next_step;
  st_.next_step = 0;
  st_.partial_loss_sum = 0;
  st_.partial_loss_count = 0;
  st_.partial_seconds = 0;

  net_->train();
  opt_->zero_grad();
  // Batch k + 1 is gathered and augmented on the prefetch thread while step k runs; destroyed (joined) on
  // every way out of this function, a stop and a failed step included.
  const data::TrainBatches& batches = *d_.batches;
  const torch::Device device = device_;
  // Pinned memory is allocated in the current device's CUDA context: the worker's GPU, not a stray context
  // on GPU 0 (the prefetch thread starts with device 0 current, as every new thread does).
  auto make_batch = [&batches, &order, epoch, device](int step) {
    c10::OptionalDeviceGuard on_device;
    if (device.is_cuda()) on_device.reset_device(device);
    return batches.get(order, epoch, step);
  };
  data::Prefetcher<data::Batch> next_batch(first_step, steps, tc_.prefetch, make_batch);
  // From pinned memory (TrainBatches::set_pin_memory) the copies to a GPU are asynchronous; the labels
  // travel as uint8 and become the losses' int64 class indices on the device.
  const bool async_copy = device_.is_cuda();
  for (int step = first_step; step < steps; ++step) {
    data::Batch b = next_batch.next();
    torch::Tensor x = b.images.to(device_, async_copy),
                  y = b.labels.to(device_, async_copy).to(torch::kInt64);
    NetOutput out = forward(net_, x, bf16_);
    LossTerms terms = compute_loss(out, y, x, config_.loss);
    const double value = terms.value;  // read back once per step, with the unweighted terms
    if (!std::isfinite(value)) {
      throw std::runtime_error(where_ + ": non-finite loss (" + std::to_string(value) + ") at epoch " + std::to_string(epoch) +
                               " step " + std::to_string(step + 1) + " of " + std::to_string(steps) +
                               " (lower train.lr, or check the intensity settings data.intensity/data.window_*)");
    }
    // The mean over the batches of one optimiser step; the last group of an epoch may be shorter.
    const int group = std::min(tc_.accumulate, steps - (step - step % tc_.accumulate));
    (group > 1 ? terms.total / group : terms.total).backward();
    loss_sum += value;
    ++loss_count;
    const bool boundary = (step + 1) % tc_.accumulate == 0 || step + 1 == steps;
    if (boundary) {
      opt_->step();
      opt_->zero_grad();
    }
    bar.update(epoch, tc_.epochs, step, steps, loss_sum / loss_count);
    if (!boundary || step + 1 == steps) continue;  // the epoch's end writes its own checkpoint
    // At an optimiser-step boundary the state is whole: a checkpoint here resumes at step + 1 exactly.
    auto within_epoch = [&] {
      TrainState s = st_;
      s.epochs_done = epoch - 1;
      s.next_step = step + 1;
      s.partial_loss_sum = loss_sum;
      s.partial_loss_count = loss_count;
      s.partial_seconds = carried_seconds + seconds_since(epoch_start);
      s.train_seconds += seconds_since(epoch_start);
      return s;
    };
    if (stop_requested()) {
      bar.clear();
      st_ = within_epoch();
      checkpoint();
      throw TaskInterrupted(where_ + ": stopped at epoch " + std::to_string(epoch) + " step " + std::to_string(step + 1) +
                            "; checkpoint " + task_.checkpoint_path);
    }
    if (checkpoint_due()) checkpoint(within_epoch());
  }
  bar.clear();
  return loss_count ? loss_sum / loss_count : 0.0;
}

// Validation: loss and per-case 3D metrics; the best epoch is selected on train.select_metric.
double TaskRun::validate(EpochRecord& rec, const TrainConfig& tc) {
  if (d_.val_cases.empty()) {
    rec.val_score = rec.train_loss;
    return -rec.train_loss;  // no validation cases: the training loss decides (documented in docs/DATA.md)
  }
  const bool distances = tc.select_metric == "assd" || tc.select_metric == "hd95";
  ValidationSums sums;
  const auto scores = score_cases(net_, d_.val_cases, device_, eval_batch_, bf16_, d_.classes, distances,
                                  &config_.loss, &sums);
  rec.val_loss = sums.loss_count ? sums.loss_sum / sums.loss_count : 0.0;
  rec.val_soft_dice = sums.soft_dice();
  rec.val_dice = mean_metric(scores, "dice");
  if (tc.select_metric == "loss") {
    rec.val_score = rec.val_loss;
    return -rec.val_loss;
  }
  rec.val_score = mean_metric(scores, tc.select_metric);
  return metric_higher_is_better(tc.select_metric) ? rec.val_score : -rec.val_score;
}

// Each member at its own prune level and select metric: the validation pass reads the weights and changes
// nothing (evaluation mode: no batch-norm statistics move, no random draw), so the shared training goes on
// as each member's own would. Selection as select() without the plateau schedule and early stopping,
// which a shared training never has (ablations/sharing.hpp).
void TaskRun::validate_members(const EpochRecord& shared) {
  for (auto& m : members_) {
    net_->set_prune_level(m.config->model.prune_level);
    EpochRecord rec = shared;
    rec.val_loss = rec.val_dice = rec.val_score = 0;
    rec.val_soft_dice = std::numeric_limits<double>::quiet_NaN();
    keep_if_best(m.state.st, m.state.best, rec.epoch, validate(rec, m.config->train));
    m.state.st.history.push_back(rec);
  }
  net_->set_prune_level(config_.model.prune_level);
}

void TaskRun::keep_if_best(TrainState& st, std::vector<torch::Tensor>& best, int epoch, double score) {
  // Strictly better (ties keep the earlier epoch).
  if (score > st.best_score || st.best_epoch == 0) {
    st.best_score = score;
    st.best_epoch = epoch;
    st.since_best = 0;
    best = copy_state(net_);
  } else {
    ++st.since_best;
  }
}

void TaskRun::select(int epoch, double score) {
  keep_if_best(st_, best_, epoch, score);
  if (tc_.scheduler == "plateau") {
    // 002: "multiplied by 0.5 after 50 epochs without improvement on the validation set".
    if (score > st_.plateau_best) {
      st_.plateau_best = score;
      st_.plateau_bad = 0;
    } else if (++st_.plateau_bad >= tc_.plateau_patience) {
      st_.lr = std::max(tc_.min_lr, st_.lr * tc_.plateau_factor);
      st_.plateau_bad = 0;
    }
  }
  if (tc_.early_stop_patience > 0 && st_.since_best >= tc_.early_stop_patience) {
    spdlog::info("{}: early stop after epoch {} ({} epochs without improvement; best epoch {})", where_, epoch, st_.since_best,
                 st_.best_epoch);
    st_.finished = true;
  }
  if (epoch == tc_.epochs) st_.finished = true;
}

// Phase 4: the epoch loop, from the epoch after the checkpoint's to the last (or an early stop), or to
// Task::pause_after_epoch. A checkpoint is written after every epoch, so a pause is an epoch boundary
// like any other: the resumed task starts at the next epoch with the state an uninterrupted one has there
// (the cosine schedule is a function of train.epochs, not of the pause). Within an epoch one is written
// every train.checkpoint_seconds (at an optimiser step), so a killed long epoch is not lost whole.
bool TaskRun::train() {
  const int pause = task_.pause_after_epoch;
  const int last = pause > 0 && pause < tc_.epochs ? pause : tc_.epochs;
  ProgressBar bar(where_, ctx_.progress_log_seconds);
  last_checkpoint_ = Clock::now();
  for (int epoch = st_.epochs_done + 1; epoch <= last && !st_.finished; ++epoch) {
    const auto epoch_start = Clock::now();
    const double lr = tc_.scheduler == "cosine" ? cosine_lr(tc_, epoch) : st_.lr;
    set_lr(*opt_, lr);
    const double carried_seconds = st_.partial_seconds;
    EpochRecord rec;
    rec.epoch = epoch;
    rec.train_loss = train_epoch(epoch, epoch_start, carried_seconds, bar);
    rec.lr = lr;
    select(epoch, validate(rec));
    if (!members_.empty()) validate_members(rec);
    rec.seconds = carried_seconds + seconds_since(epoch_start);
    st_.train_seconds += seconds_since(epoch_start);
    st_.epochs_done = epoch;
    st_.history.push_back(rec);
    for (auto& m : members_) m.state.st.history.back().seconds = rec.seconds;
    checkpoint();
    spdlog::info("{}: epoch {}/{} loss {:.4f} val loss {:.4f} val dice {:.4f} lr {:.3g} ({:.1f} s)", where_, epoch, tc_.epochs,
                 rec.train_loss, rec.val_loss, rec.val_dice, lr, rec.seconds);
    if (ctx_.on_member_epoch) {
      ctx_.on_member_epoch(0, rec);
      for (std::size_t m = 0; m < members_.size(); ++m) ctx_.on_member_epoch(m + 1, members_[m].state.st.history.back());
    } else if (ctx_.on_epoch) {
      ctx_.on_epoch(rec);
    }
    if (!st_.finished && epoch < last && stop_requested()) {
      throw TaskInterrupted(where_ + ": stopped after epoch " + std::to_string(epoch) + "; checkpoint " + task_.checkpoint_path);
    }
  }
  // Also when the checkpoint is already at (or past) the pause: nothing is trained twice.
  return !st_.finished && last < tc_.epochs && st_.epochs_done >= last;
}

TaskResult TaskRun::paused_result() const {
  TaskResult result;
  result.epochs = st_.history;
  result.best_epoch = st_.best_epoch;
  result.parameters = parameters_;
  result.train_seconds = st_.train_seconds;
  result.paused_after_epoch = st_.epochs_done;
  spdlog::info("{}: paused after epoch {} (best epoch {}); checkpoint {}", where_, st_.epochs_done, st_.best_epoch,
               task_.checkpoint_path);
  return result;
}

// Phases 5 and 6: the selected epoch's weights, evaluated on the test cases: whole volumes, every metric,
// per class.
TaskResult TaskRun::evaluate() {
  if (!members_.empty()) net_->set_prune_level(config_.model.prune_level);
  return evaluate_with(where_, config_, best_, st_);
}

TaskResult TaskRun::evaluate_member(std::size_t m) {
  const Member& member = members_.at(m - 1);
  net_->set_prune_level(member.config->model.prune_level);
  TrainState sel = member.state.st;
  sel.train_seconds = st_.train_seconds;  // the shared training's
  return evaluate_with(member.where, *member.config, member.state.best, sel);
}

TaskResult TaskRun::evaluate_with(const std::string& where, const VariantConfig& config, const std::vector<torch::Tensor>& best,
                                  const TrainState& sel) {
  if (!best.empty()) restore_state(net_, best);
  TaskResult result;
  result.epochs = sel.history;
  result.best_epoch = sel.best_epoch;
  result.parameters = net_->inference_parameters();
  result.train_seconds = sel.train_seconds;
  const int classes = d_.classes;
  // data.evaluate_at = native: every test case against its original label, on its own grid and spacing.
  NativeLabelOf native_label;
  if (config.data.evaluate_at == "native") {
    native_label = [&](const data::PreparedCase& c) {
      data::NativeLabel n = data::load_native_label(*d_.by_id.at(c.id), config.data);
      if (n.slices != c.slices) {
        throw std::runtime_error(where + ": case \"" + c.id + "\": the label has " + std::to_string(n.slices) +
                                 " slices, the prepared image " + std::to_string(c.slices));
      }
      return n;
    };
  }
  // One untimed forward pass first, so that the first case's time does not include the allocator's and
  // (on CUDA) the kernels' warm-up: inference_ms_per_case is a steady-state figure.
  if (!d_.test_cases.empty()) {
    torch::NoGradGuard no_grad;
    net_->eval();
    const data::PreparedCase& c = *d_.test_cases.front();
    const std::int64_t n = std::min<std::int64_t>(eval_batch_, c.slices);
    forward(net_,
            torch::from_blob(const_cast<float*>(c.image.data()), {n, 1, c.size, c.size}, torch::kFloat32)
                .to(device_),
            bf16_);
  }
  const auto scores = score_cases(net_, d_.test_cases, device_, eval_batch_, bf16_, classes, true, nullptr,
                                  nullptr, native_label);
  std::map<std::pair<std::string, int>, double> sums;
  double ms = 0;
  for (const auto& cs : scores) {
    ms += cs.ms;
    for (int cls = 1; cls <= classes; ++cls) {
      for (const auto& name : metric_names()) {
        const double v = metric_value(cs.per_class[cls - 1], name);
        result.case_metrics.push_back(CaseMetricValue{cs.id, cls, name, v});
        sums[{name, cls}] += v;
      }
      // The same metrics per slice, "<metric>_2d" (metrics.hpp slice_metrics).
      for (std::size_t k = 0; k < metric_names().size(); ++k) {
        const double v = metric_value(cs.per_class_2d[cls - 1], metric_names()[k]);
        result.case_metrics.push_back(CaseMetricValue{cs.id, cls, slice_metric_names()[k], v});
        sums[{slice_metric_names()[k], cls}] += v;
      }
      // The trivial predictors on the same case and grid: what the report sets beside the rows.
      for (const auto& t : trivial_scores(cs.gt_voxels[cls - 1], cs.voxels)) {
        for (const auto& name : trivial_metric_names())
          result.case_metrics.push_back(
              CaseMetricValue{cs.id, cls, trivial_metric_name(t.predictor, name), metric_value(t.metrics, name)});
      }
    }
  }
  if (!scores.empty()) {
    std::vector<std::string> names = metric_names();
    names.insert(names.end(), slice_metric_names().begin(), slice_metric_names().end());
    for (int cls = 1; cls <= classes; ++cls)
      for (const auto& name : names) result.fold_metrics.push_back(MetricValue{name, cls, sums[{name, cls}] / scores.size()});
    result.inference_ms_per_case = ms / scores.size();
  }
  spdlog::info("{}: best epoch {}, test dice {:.4f} over {} cases, {:.0f} ms per case, {} parameters ({:.1f} s)", where,
               result.best_epoch, scores.empty() ? 0.0 : sums[{"dice", 1}] / scores.size(), scores.size(), result.inference_ms_per_case,
               result.parameters, seconds_since(start_));
  return result;
}

std::string task_where(const Task& task) { return "variant " + task.variant + " fold " + std::to_string(task.fold); }

TaskResult run_task_impl(const Task& task, const VariantConfig& config, const RunContext& ctx) {
  const NumericsScope numerics(config.train, task_where(task));
  TaskRun run(task, config, ctx);
  run.prepare_data();
  run.build_model();
  run.resume();
  if (run.train()) return run.paused_result();
  return run.evaluate();
}

// The text of a failure for the store: LibTorch's without its backtrace.
std::string failure_text(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  if (dynamic_cast<const std::bad_alloc*>(&e)) return "out of memory (an allocation failed)";
  return e.what();
}

std::vector<MemberOutcome> run_group_impl(const Task& task, const std::vector<VariantConfig>& configs, const RunContext& ctx) {
  if (configs.size() != task.shared_with.size() + 1) {
    throw std::runtime_error("variant " + task.variant + ": run_group needs one configuration per member");
  }
  const std::vector<VariantConfig> others(configs.begin() + 1, configs.end());
  // train.deterministic is a training key: every member shares the task's.
  const NumericsScope numerics(configs.front().train, task_where(task));
  TaskRun run(task, configs.front(), ctx, others);
  run.prepare_data();
  run.build_model();
  run.resume();
  run.train();
  spdlog::info("variant {} fold {}: one training for {} task(s); evaluating each from its own best epoch", task.variant, task.fold,
               run.member_count() + 1);
  std::vector<MemberOutcome> out(run.member_count() + 1);
  for (std::size_t m = 0; m < out.size(); ++m) {
    try {
      out[m].result = m == 0 ? run.evaluate() : run.evaluate_member(m);
      out[m].ok = true;
    } catch (const std::exception& e) {
      // A broken device fails every member and the worker (with_task_errors); memory is the member's own.
      if (classify_failure(e) == FailureKind::kDeviceFault) throw;
      out[m].out_of_memory = classify_failure(e) == FailureKind::kOutOfMemory;
      out[m].error = run.member_where(m) + ": evaluation from the shared training failed: " + failure_text(e);
      spdlog::warn("{}", out[m].error);
    }
  }
  return out;
}

// The contract of run_task and run_group: a failure is a runtime_error naming the variant and fold, without
// LibTorch's backtrace (hundreds of lines: it goes to --log-level debug only); TaskInterrupted passes through.
// GPU faults keep their kind (trainer.hpp): DeviceOutOfMemory for LibTorch's OutOfMemoryError and a failed
// host allocation, DeviceFault for a sticky CUDA error, so that the runner neither retries the one nor keeps
// a broken worker for the other.
template <class Body>
auto with_task_errors(const Task& task, Body&& body) -> decltype(body()) {
  const auto where = [&] { return task_where(task); };
  try {
    return body();
  } catch (const std::invalid_argument& e) {
    // Configuration checks of the network and losses throw invalid_argument.
    throw std::runtime_error(where() + ": " + e.what());
  } catch (const c10::OutOfMemoryError& e) {
    throw DeviceOutOfMemory(where() + ": " + e.what_without_backtrace());
  } catch (const c10::Error& e) {
    spdlog::debug("{}: LibTorch error, with its backtrace: {}", where(), e.what());
    const std::string text = where() + ": " + e.what_without_backtrace();
    if (is_sticky_device_error(text)) throw DeviceFault(text);
    throw std::runtime_error(text);
  } catch (const std::bad_alloc&) {
    throw DeviceOutOfMemory(where() + ": out of memory (a host allocation failed)");
  }
}

}  // namespace

std::vector<MemberOutcome> run_group(const Task& task, const std::vector<VariantConfig>& configs, const RunContext& ctx) {
  return with_task_errors(task, [&] { return run_group_impl(task, configs, ctx); });
}

TaskResult run_task(const Task& task, const VariantConfig& config, const RunContext& ctx) {
  return with_task_errors(task, [&] { return run_task_impl(task, config, ctx); });
}

}  // namespace ablate::trainer
