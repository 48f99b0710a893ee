// run_task: train one variant on one fold, select the best epoch on the validation cases, evaluate the
// test cases per case. Protocol of 001 Sec. IV-C (Adam, lr 1e-5, cosine annealing, batch 4, 150 epochs,
// best-on-validation selection) and 002 Sec. IV-A (reduce-on-plateau: lr x 0.5 after 50 epochs without
// improvement on the validation set), every number a study key.
//
// Resumption: a checkpoint (model, optimiser, scheduler state, epoch and step, best weights, the CPU
// generator state) is written atomically after every epoch and when a stop is requested. Batches and
// augmentation draws are functions of (seed, epoch, step), so a resumed task continues exactly where an
// uninterrupted one would be (bit-for-bit on CPU with the same thread count).
#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <fcntl.h>
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

#include "trainer/data/dataset.hpp"
#include "trainer/data/loader.hpp"
#include "trainer/data/preprocess.hpp"
#include "trainer/losses.hpp"
#include "trainer/metrics.hpp"
#include "trainer/nn/network.hpp"
#include "trainer/trainer.hpp"

namespace ablate::trainer {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kCheckpointVersion = 1;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

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
  if (t.plateau_patience < 1) bad("plateau_patience", std::to_string(t.plateau_patience), ">= 1");
  if (!(t.plateau_factor > 0 && t.plateau_factor <= 1)) bad("plateau_factor", std::to_string(t.plateau_factor), "(0, 1] (1 = no reduction)");
  if (t.select_metric != "loss") {
    const auto& names = metric_names();
    if (std::find(names.begin(), names.end(), t.select_metric) == names.end()) {
      bad("select_metric", "\"" + t.select_metric + "\"", "loss | dice | iou | sensitivity | precision | specificity | vs | assd | hd95");
    }
  }
}

// Everything about the optimisation that is not in the model or optimiser state.
struct TrainState {
  int epochs_done = 0;         // completed epochs
  int next_step = 0;           // > 0: epoch epochs_done + 1 was interrupted before this step
  double partial_loss_sum = 0;  // of the interrupted epoch
  std::int64_t partial_loss_count = 0;
  double partial_seconds = 0;
  double lr = 0;               // current learning rate (plateau/none schedulers)
  double plateau_best = kNegInf;
  int plateau_bad = 0;
  int best_epoch = 0;
  double best_score = kNegInf;
  int since_best = 0;
  bool finished = false;       // training done (all epochs or early stop): only evaluation remains
  double train_seconds = 0;    // over all attempts
  // Every completed epoch of the task, over all attempts: re-reported with the result so that an epoch
  // whose progress message was lost in a crash (checkpoint written, message not yet stored) still lands.
  std::vector<EpochRecord> history;
};

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

std::string identity_of(const Task& task) {
  return task.variant_hash + "/fold" + std::to_string(task.fold) + "/repeat" + std::to_string(task.repeat) + "/seed" +
         std::to_string(task.seed);
}

void save_checkpoint(const std::string& path, const Task& task, SegmentationNet& net, const torch::optim::Optimizer& opt,
                     const TrainState& st, const std::vector<torch::Tensor>& best) {
  torch::serialize::OutputArchive root;
  root.write("version", c10::IValue(static_cast<std::int64_t>(kCheckpointVersion)));
  root.write("identity", c10::IValue(identity_of(task)));
  torch::serialize::OutputArchive model;
  net->save(model);
  root.write("model", model);
  torch::serialize::OutputArchive optimizer;
  opt.save(optimizer);
  root.write("optimizer", optimizer);
  torch::serialize::OutputArchive best_archive;
  for (std::size_t i = 0; i < best.size(); ++i) best_archive.write("t" + std::to_string(i), best[i]);
  root.write("best", best_archive);
  root.write("best_count", c10::IValue(static_cast<std::int64_t>(best.size())));
  root.write("epochs_done", c10::IValue(static_cast<std::int64_t>(st.epochs_done)));
  root.write("next_step", c10::IValue(static_cast<std::int64_t>(st.next_step)));
  root.write("partial_loss_sum", c10::IValue(st.partial_loss_sum));
  root.write("partial_loss_count", c10::IValue(st.partial_loss_count));
  root.write("partial_seconds", c10::IValue(st.partial_seconds));
  root.write("lr", c10::IValue(st.lr));
  root.write("plateau_best", c10::IValue(st.plateau_best));
  root.write("plateau_bad", c10::IValue(static_cast<std::int64_t>(st.plateau_bad)));
  root.write("best_epoch", c10::IValue(static_cast<std::int64_t>(st.best_epoch)));
  root.write("best_score", c10::IValue(st.best_score));
  root.write("since_best", c10::IValue(static_cast<std::int64_t>(st.since_best)));
  root.write("finished", c10::IValue(st.finished));
  root.write("train_seconds", c10::IValue(st.train_seconds));
  root.write("rng_cpu", at::detail::getDefaultCPUGenerator().get_state());
  // One row per completed epoch: epoch, train loss, val loss, val Dice, lr, seconds.
  auto history = torch::zeros({static_cast<std::int64_t>(st.history.size()), 6}, torch::kFloat64);
  auto h = history.accessor<double, 2>();
  for (std::size_t i = 0; i < st.history.size(); ++i) {
    const auto& e = st.history[i];
    const double row[6] = {static_cast<double>(e.epoch), e.train_loss, e.val_loss, e.val_dice, e.lr, e.seconds};
    for (int c = 0; c < 6; ++c) h[i][c] = row[c];
  }
  root.write("history", history);
  // Write then rename: a reader (or a restart after a crash) sees the old or the new checkpoint, never half.
  std::error_code ec;
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  try {
    root.save_to(tmp);
  } catch (const std::exception& e) {
    fs::remove(tmp, ec);
    throw std::runtime_error(path + ": cannot write the checkpoint: " + e.what());
  }
  // On disk before the rename: after a node crash the name must not point at data still in the page cache.
  const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw std::runtime_error(path + ": cannot move the checkpoint into place: " + ec.message());
  }
}

// Returns false (and leaves everything as it is) when the checkpoint belongs to another task.
bool load_checkpoint(const std::string& path, const Task& task, const torch::Device& device, SegmentationNet& net,
                     torch::optim::Optimizer& opt, TrainState& st, std::vector<torch::Tensor>& best) {
  torch::serialize::InputArchive root;
  try {
    root.load_from(path, device);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": unreadable checkpoint (" + std::string(e.what()).substr(0, 200) +
                             "); delete it to start the task afresh");
  }
  c10::IValue v;
  root.read("version", v);
  if (v.toInt() != kCheckpointVersion) {
    throw std::runtime_error(path + ": checkpoint format " + std::to_string(v.toInt()) + ", this build reads " +
                             std::to_string(kCheckpointVersion) + "; delete it to start the task afresh");
  }
  root.read("identity", v);
  if (v.toStringRef() != identity_of(task)) {
    spdlog::warn("{}: checkpoint of {} ignored (this task is {})", path, v.toStringRef(), identity_of(task));
    return false;
  }
  torch::serialize::InputArchive model;
  root.read("model", model);
  net->load(model);
  torch::serialize::InputArchive optimizer;
  root.read("optimizer", optimizer);
  opt.load(optimizer);
  root.read("best_count", v);
  const std::int64_t n_best = v.toInt();
  torch::serialize::InputArchive best_archive;
  root.read("best", best_archive);
  best.clear();
  for (std::int64_t i = 0; i < n_best; ++i) {
    torch::Tensor t;
    best_archive.read("t" + std::to_string(i), t);
    best.push_back(t);
  }
  auto get_int = [&](const char* key) {
    root.read(key, v);
    return v.toInt();
  };
  auto get_double = [&](const char* key) {
    root.read(key, v);
    return v.toDouble();
  };
  st.epochs_done = static_cast<int>(get_int("epochs_done"));
  st.next_step = static_cast<int>(get_int("next_step"));
  st.partial_loss_sum = get_double("partial_loss_sum");
  st.partial_loss_count = get_int("partial_loss_count");
  st.partial_seconds = get_double("partial_seconds");
  st.lr = get_double("lr");
  st.plateau_best = get_double("plateau_best");
  st.plateau_bad = static_cast<int>(get_int("plateau_bad"));
  st.best_epoch = static_cast<int>(get_int("best_epoch"));
  st.best_score = get_double("best_score");
  st.since_best = static_cast<int>(get_int("since_best"));
  root.read("finished", v);
  st.finished = v.toBool();
  st.train_seconds = get_double("train_seconds");
  torch::Tensor history;
  st.history.clear();
  if (root.try_read("history", history)) {  // absent in checkpoints of earlier builds
    history = history.to(torch::kCPU, torch::kFloat64).contiguous();
    auto h = history.accessor<double, 2>();
    for (std::int64_t i = 0; i < history.size(0); ++i) {
      st.history.push_back({static_cast<int>(h[i][0]), h[i][1], h[i][2], h[i][3], h[i][4], h[i][5]});
    }
  }
  torch::Tensor rng;
  root.read("rng_cpu", rng);
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  generator.set_state(rng.to(torch::kCPU));
  return true;
}

// Inference on all slices of a case: the 3D label map, slice-major like PreparedCase::label. With
// native (data.evaluate_at = "native") the logits are resampled bilinearly (align_corners = false, the
// convention of the preprocessing's resize) to the case's own rows x cols before the labels are taken,
// so the map lies on the grid of the original label.
std::vector<std::uint8_t> predict_case(SegmentationNet& net, const data::PreparedCase& c, const torch::Device& device,
                                       int batch, const LossConfig* loss_config, double* loss_sum, std::int64_t* loss_count,
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
    NetOutput o = net->forward(x);
    if (loss_config) {
      torch::Tensor y = labels.slice(0, begin, end).to(torch::kInt64).to(device);
      *loss_sum += compute_loss(o, y, x, *loss_config).total.item<double>() * (end - begin);
      *loss_count += end - begin;
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
  double ms = 0;                               // inference time
};

// Prediction and metrics for a list of cases. distances = false skips ASSD/HD95 (validation on Dice).
// With `native_label` the test metrics are computed on each case's own grid against that label (read one
// case at a time: a native CT label is tens of MB).
using NativeLabelOf = std::function<data::NativeLabel(const data::PreparedCase&)>;
std::vector<CaseScores> score_cases(SegmentationNet& net, const std::vector<const data::PreparedCase*>& cases,
                                    const torch::Device& device, int batch, int classes, bool distances,
                                    const LossConfig* loss_config, double* mean_loss,
                                    const NativeLabelOf& native_label = nullptr) {
  net->eval();
  std::vector<CaseScores> out;
  double loss_sum = 0;
  std::int64_t loss_count = 0;
  for (const data::PreparedCase* c : cases) {
    data::NativeLabel native;
    if (native_label) native = native_label(*c);
    const data::NativeLabel* n = native_label ? &native : nullptr;
    CaseScores cs;
    cs.id = c->id;
    const auto t0 = Clock::now();
    std::vector<std::uint8_t> pred = predict_case(net, *c, device, batch, loss_config, &loss_sum, &loss_count, n);
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
    }
    out.push_back(std::move(cs));
  }
  if (mean_loss) *mean_loss = loss_count ? loss_sum / loss_count : 0.0;
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

TaskResult run_task_impl(const Task& task, const VariantConfig& config, const RunContext& ctx) {
  const auto task_start = Clock::now();
  const TrainConfig& tc = config.train;
  validate_train_config(tc);
  data::validate_data_config(config.data);
  const std::string where = "variant " + task.variant + " fold " + std::to_string(task.fold) +
                            (task.repeat ? " repeat " + std::to_string(task.repeat) : "");
  if (task.train_cases.empty()) throw std::runtime_error(where + ": the task has no training case");

  const int threads = ctx.threads > 0 ? ctx.threads : (tc.threads > 0 ? tc.threads : 1);
  torch::set_num_threads(threads);
  const torch::Device device = pick_device(ctx, tc);
  if (device.is_cuda() && tc.deterministic) {
    at::globalContext().setDeterministicCuDNN(true);
    at::globalContext().setBenchmarkCuDNN(false);
  }

  // Data: every case of the task, preprocessed once and cached (trainer/data/preprocess.hpp).
  const auto data_start = Clock::now();
  const data::DatasetInfo info = data::read_dataset(config.data.path);
  std::map<std::string, const data::CaseEntry*> by_id;
  for (const auto& c : info.cases) by_id[c.id] = &c;
  auto entry_of = [&](const std::string& id, const char* part) -> const data::CaseEntry& {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      throw std::runtime_error(where + ": " + part + " case \"" + id + "\" is not in " + info.root + "/dataset.json");
    }
    return *it->second;
  };
  int cached = 0;
  auto load = [&](const data::CaseEntry& e) {
    bool hit = false;
    data::PreparedCase c = data::load_case(e, config.data, &hit);
    cached += hit;
    return c;
  };
  // Validation and test cases stay in memory as cases (they are predicted whole).
  std::map<std::string, data::PreparedCase> prepared;
  auto prepare = [&](const std::vector<std::string>& ids, const char* part) {
    std::vector<const data::PreparedCase*> out;
    for (const std::string& id : ids) {
      auto p = prepared.find(id);
      if (p == prepared.end()) p = prepared.emplace(id, load(entry_of(id, part))).first;
      out.push_back(&p->second);
    }
    return out;
  };
  const auto val_cases = prepare(task.val_cases, "validation");
  const auto test_cases = prepare(task.test_cases, "test");
  const int classes = config.data.foreground_classes();

  // Training slices: sized from the cache files' headers (preprocessing a case on a cache miss), then
  // loaded and copied into the tensors one case at a time, so that beside the tensors only one case's copy
  // exists (the memory of a rank is about the training slices once, docs/DATA.md). A case the cache could
  // not hold (read-only dataset folder) is kept from the first pass instead of being preprocessed twice.
  std::map<std::string, data::PreparedCase> uncached;
  std::int64_t train_slice_count = 0;
  int slice_size = 0;
  for (const std::string& id : task.train_cases) {
    const data::CaseEntry& e = entry_of(id, "training");
    int slices = 0, size = 0;
    if (!data::cached_case_shape(e, config.data, slices, size)) {
      data::PreparedCase c = load(e);
      slices = c.slices;
      size = c.size;
      if (!data::cached_case_shape(e, config.data, slices, size)) uncached.emplace(id, std::move(c));
    }
    if (slice_size && size != slice_size) throw std::runtime_error(where + ": case \"" + id + "\": slice size differs from the other cases");
    slice_size = size;
    train_slice_count += slices;
  }
  data::SliceStacker stack(train_slice_count, slice_size);
  for (const std::string& id : task.train_cases) {
    auto kept = uncached.find(id);
    if (kept != uncached.end()) {
      stack.add(kept->second);
      uncached.erase(kept);
    } else {
      stack.add(load(entry_of(id, "training")));
    }
  }
  const data::SliceTensors train_slices = stack.take();
  spdlog::debug("{}: {} training slices and {} other cases ready in {:.1f} s ({} loads from the cache)", where, train_slice_count,
                prepared.size(), seconds_since(data_start), cached);
  const data::TrainBatches batches(train_slices, config.data, tc.batch_size, tc.steps_per_epoch, task.seed);

  // Model and optimiser.
  // The initial weights come from the process-wide generator: seeding and construction happen under one
  // lock so that tasks running in worker threads of one process (`ablate run --workers N`) cannot
  // interleave their draws, and each task's initialisation depends on its seed alone.
  static std::mutex init_mutex;
  std::unique_lock<std::mutex> init_lock(init_mutex);
  torch::manual_seed(task.seed);
  SegmentationNet net(config.model, output_channels(config));
  init_lock.unlock();
  net->to(device);
  // The network as it predicts: with model.prune_level the pruned one (003 Table 6); training updates all.
  const std::int64_t parameters = net->inference_parameters();
  std::unique_ptr<torch::optim::Optimizer> opt = make_optimizer(tc, net->parameters());

  TrainState st;
  st.lr = tc.lr;
  std::vector<torch::Tensor> best;
  if (!task.checkpoint_path.empty() && fs::exists(task.checkpoint_path)) {
    if (load_checkpoint(task.checkpoint_path, task, device, net, *opt, st, best)) {
      spdlog::info("{}: resuming from {} after epoch {}{}", where, task.checkpoint_path, st.epochs_done,
                   st.next_step ? " step " + std::to_string(st.next_step) : std::string());
    }
  }
  auto checkpoint = [&] {
    if (!task.checkpoint_path.empty()) save_checkpoint(task.checkpoint_path, task, net, *opt, st, best);
  };
  auto stop_requested = [&] { return ctx.stop && ctx.stop->load(); };
  const int eval_batch = std::max(tc.batch_size, 8);
  const bool select_distances = tc.select_metric == "assd" || tc.select_metric == "hd95";

  TaskResult result;
  ProgressBar bar(where, ctx.progress_log_seconds);
  for (int epoch = st.epochs_done + 1; epoch <= tc.epochs && !st.finished; ++epoch) {
    const auto epoch_start = Clock::now();
    const double lr = tc.scheduler == "cosine" ? cosine_lr(tc, epoch) : st.lr;
    set_lr(*opt, lr);
    const std::vector<std::int64_t> order = batches.epoch_order(epoch);
    const int steps = batches.steps(order);
    double loss_sum = st.partial_loss_sum;
    std::int64_t loss_count = st.partial_loss_count;
    const double carried_seconds = st.partial_seconds;
    const int first_step = st.next_step;
    st.next_step = 0;
    st.partial_loss_sum = 0;
    st.partial_loss_count = 0;
    st.partial_seconds = 0;

    net->train();
    opt->zero_grad();
    for (int step = first_step; step < steps; ++step) {
      data::Batch b = batches.get(order, epoch, step);
      torch::Tensor x = b.images.to(device), y = b.labels.to(device);
      NetOutput out = net->forward(x);
      LossTerms terms = compute_loss(out, y, x, config.loss);
      const double value = terms.total.item<double>();
      if (!std::isfinite(value)) {
        throw std::runtime_error(where + ": non-finite loss (" + std::to_string(value) + ") at epoch " + std::to_string(epoch) +
                                 " step " + std::to_string(step + 1) + " of " + std::to_string(steps) +
                                 " (lower train.lr, or check the intensity settings data.intensity/data.window_*)");
      }
      // The mean over the batches of one optimiser step; the last group of an epoch may be shorter.
      const int group = std::min(tc.accumulate, steps - (step - step % tc.accumulate));
      (group > 1 ? terms.total / group : terms.total).backward();
      loss_sum += value;
      ++loss_count;
      const bool boundary = (step + 1) % tc.accumulate == 0 || step + 1 == steps;
      if (boundary) {
        opt->step();
        opt->zero_grad();
      }
      bar.update(epoch, tc.epochs, step, steps, loss_sum / loss_count);
      if (boundary && step + 1 < steps && stop_requested()) {
        bar.clear();
        st.epochs_done = epoch - 1;
        st.next_step = step + 1;
        st.partial_loss_sum = loss_sum;
        st.partial_loss_count = loss_count;
        st.partial_seconds = carried_seconds + seconds_since(epoch_start);
        st.train_seconds += seconds_since(epoch_start);
        checkpoint();
        throw TaskInterrupted(where + ": stopped at epoch " + std::to_string(epoch) + " step " + std::to_string(step + 1) +
                              "; checkpoint " + task.checkpoint_path);
      }
    }
    bar.clear();

    // Validation: loss and per-case 3D metrics; the best epoch is selected on train.select_metric.
    EpochRecord rec;
    rec.epoch = epoch;
    rec.train_loss = loss_count ? loss_sum / loss_count : 0.0;
    rec.lr = lr;
    double score = 0;
    if (!val_cases.empty()) {
      const auto scores = score_cases(net, val_cases, device, eval_batch, classes, select_distances, &config.loss, &rec.val_loss);
      rec.val_dice = mean_metric(scores, "dice");
      if (tc.select_metric == "loss") {
        score = -rec.val_loss;
      } else {
        const double v = mean_metric(scores, tc.select_metric);
        score = metric_higher_is_better(tc.select_metric) ? v : -v;
      }
    } else {
      score = -rec.train_loss;  // no validation cases: the training loss decides (documented in docs/DATA.md)
    }
    // Strictly better (ties keep the earlier epoch).
    if (score > st.best_score || st.best_epoch == 0) {
      st.best_score = score;
      st.best_epoch = epoch;
      st.since_best = 0;
      best = copy_state(net);
    } else {
      ++st.since_best;
    }
    if (tc.scheduler == "plateau") {
      // 002: "multiplied by 0.5 after 50 epochs without improvement on the validation set".
      if (score > st.plateau_best) {
        st.plateau_best = score;
        st.plateau_bad = 0;
      } else if (++st.plateau_bad >= tc.plateau_patience) {
        st.lr = std::max(tc.min_lr, st.lr * tc.plateau_factor);
        st.plateau_bad = 0;
      }
    }
    rec.seconds = carried_seconds + seconds_since(epoch_start);
    st.train_seconds += seconds_since(epoch_start);
    st.epochs_done = epoch;
    if (tc.early_stop_patience > 0 && st.since_best >= tc.early_stop_patience) {
      spdlog::info("{}: early stop after epoch {} ({} epochs without improvement; best epoch {})", where, epoch, st.since_best,
                   st.best_epoch);
      st.finished = true;
    }
    if (epoch == tc.epochs) st.finished = true;
    st.history.push_back(rec);
    checkpoint();
    spdlog::info("{}: epoch {}/{} loss {:.4f} val loss {:.4f} val dice {:.4f} lr {:.3g} ({:.1f} s)", where, epoch, tc.epochs,
                 rec.train_loss, rec.val_loss, rec.val_dice, lr, rec.seconds);
    if (ctx.on_epoch) ctx.on_epoch(rec);
    if (!st.finished && stop_requested()) {
      throw TaskInterrupted(where + ": stopped after epoch " + std::to_string(epoch) + "; checkpoint " + task.checkpoint_path);
    }
  }

  // Evaluation of the selected epoch on the test cases: whole volumes, every metric, per class.
  if (!best.empty()) restore_state(net, best);
  result.epochs = st.history;
  result.best_epoch = st.best_epoch;
  result.parameters = parameters;
  result.train_seconds = st.train_seconds;
  // data.evaluate_at = native: every test case against its original label, on its own grid and spacing.
  NativeLabelOf native_label;
  if (config.data.evaluate_at == "native") {
    native_label = [&](const data::PreparedCase& c) {
      data::NativeLabel n = data::load_native_label(*by_id.at(c.id), config.data);
      if (n.slices != c.slices) {
        throw std::runtime_error(where + ": case \"" + c.id + "\": the label has " + std::to_string(n.slices) +
                                 " slices, the prepared image " + std::to_string(c.slices));
      }
      return n;
    };
  }
  // One untimed forward pass first, so that the first case's time does not include the allocator's and
  // (on CUDA) the kernels' warm-up: inference_ms_per_case is a steady-state figure.
  if (!test_cases.empty()) {
    torch::NoGradGuard no_grad;
    net->eval();
    const data::PreparedCase& c = *test_cases.front();
    const std::int64_t n = std::min<std::int64_t>(eval_batch, c.slices);
    net->forward(torch::from_blob(const_cast<float*>(c.image.data()), {n, 1, c.size, c.size}, torch::kFloat32).to(device));
  }
  const auto scores = score_cases(net, test_cases, device, eval_batch, classes, true, nullptr, nullptr, native_label);
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
               parameters, seconds_since(task_start));
  return result;
}

}  // namespace

TaskResult run_task(const Task& task, const VariantConfig& config, const RunContext& ctx) {
  try {
    return run_task_impl(task, config, ctx);
  } catch (const std::invalid_argument& e) {
    // Configuration checks of the network and losses throw invalid_argument; the contract is runtime_error.
    throw std::runtime_error("variant " + task.variant + " fold " + std::to_string(task.fold) + ": " + e.what());
  } catch (const c10::Error& e) {
    // LibTorch appends its C++ backtrace (hundreds of lines) to what(): the reason goes on to the log and the
    // store, the backtrace only to --log-level debug.
    const std::string where = "variant " + task.variant + " fold " + std::to_string(task.fold);
    spdlog::debug("{}: LibTorch error, with its backtrace: {}", where, e.what());
    throw std::runtime_error(where + ": " + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw std::runtime_error("variant " + task.variant + " fold " + std::to_string(task.fold) +
                             ": out of memory (an allocation failed; lower train.batch_size, data.image_size or the widths)");
  }
}

}  // namespace ablate::trainer
