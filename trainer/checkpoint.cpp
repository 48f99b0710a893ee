#include "trainer/checkpoint.hpp"

#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

namespace ablate::trainer {

namespace fs = std::filesystem;

namespace {

constexpr int kCheckpointVersion = 1;

std::string identity_of(const Task& task) {
  std::string id = task.variant_hash + "/fold" + std::to_string(task.fold) + "/repeat" + std::to_string(task.repeat) + "/seed" +
                   std::to_string(task.seed);
  // A shared training (run_group) holds its members' selections: only the same group resumes it.
  for (const auto& m : task.shared_with) id += "/with:" + m.variant_hash;
  return id;
}

// One row per completed epoch: epoch, train loss, val loss, val Dice, lr, seconds, val score, val soft Dice.
torch::Tensor history_tensor(const std::vector<EpochRecord>& history) {
  constexpr int kColumns = 8;
  auto t = torch::zeros({static_cast<std::int64_t>(history.size()), kColumns}, torch::kFloat64);
  auto h = t.accessor<double, 2>();
  for (std::size_t i = 0; i < history.size(); ++i) {
    const auto& e = history[i];
    const double row[kColumns] = {static_cast<double>(e.epoch), e.train_loss, e.val_loss, e.val_dice,
                                  e.lr, e.seconds, e.val_score, e.val_soft_dice};
    for (int c = 0; c < kColumns; ++c) h[i][c] = row[c];
  }
  return t;
}

std::vector<EpochRecord> history_of(torch::Tensor history) {
  std::vector<EpochRecord> out;
  history = history.to(torch::kCPU, torch::kFloat64).contiguous();
  auto h = history.accessor<double, 2>();
  // The 7th and 8th columns are absent in checkpoints of earlier builds: NaN, "not recorded".
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const bool has_score = history.size(1) > 6, has_soft_dice = history.size(1) > 7;
  for (std::int64_t i = 0; i < history.size(0); ++i) {
    out.push_back({static_cast<int>(h[i][0]), h[i][1], h[i][2], h[i][3], h[i][4], h[i][5], has_score ? h[i][6] : nan,
                   has_soft_dice ? h[i][7] : nan});
  }
  return out;
}

void write_tensors(torch::serialize::OutputArchive& root, const std::string& key, const std::vector<torch::Tensor>& tensors) {
  torch::serialize::OutputArchive a;
  for (std::size_t i = 0; i < tensors.size(); ++i) a.write("t" + std::to_string(i), tensors[i]);
  root.write(key, a);
  root.write(key + "_count", c10::IValue(static_cast<std::int64_t>(tensors.size())));
}

std::vector<torch::Tensor> read_tensors(torch::serialize::InputArchive& root, const std::string& key) {
  c10::IValue v;
  root.read(key + "_count", v);
  const std::int64_t n = v.toInt();
  torch::serialize::InputArchive a;
  root.read(key, a);
  std::vector<torch::Tensor> out;
  for (std::int64_t i = 0; i < n; ++i) {
    torch::Tensor t;
    a.read("t" + std::to_string(i), t);
    out.push_back(t);
  }
  return out;
}

}  // namespace

void save_checkpoint(const std::string& path, const Task& task, SegmentationNet& net, const torch::optim::Optimizer& opt,
                     const TrainState& st, const std::vector<torch::Tensor>& best, const std::vector<MemberState>& members) {
  torch::serialize::OutputArchive root;
  root.write("version", c10::IValue(static_cast<std::int64_t>(kCheckpointVersion)));
  root.write("identity", c10::IValue(identity_of(task)));
  torch::serialize::OutputArchive model;
  net->save(model);
  root.write("model", model);
  torch::serialize::OutputArchive optimizer;
  opt.save(optimizer);
  root.write("optimizer", optimizer);
  write_tensors(root, "best", best);
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
  root.write("history", history_tensor(st.history));
  for (std::size_t m = 0; m < members.size(); ++m) {
    const std::string p = "member" + std::to_string(m + 1) + "_";
    const TrainState& ms = members[m].st;
    root.write(p + "best_epoch", c10::IValue(static_cast<std::int64_t>(ms.best_epoch)));
    root.write(p + "best_score", c10::IValue(ms.best_score));
    root.write(p + "since_best", c10::IValue(static_cast<std::int64_t>(ms.since_best)));
    root.write(p + "history", history_tensor(ms.history));
    write_tensors(root, p + "best", members[m].best);
  }
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

bool load_checkpoint(const std::string& path, const Task& task, const torch::Device& device, SegmentationNet& net,
                     torch::optim::Optimizer& opt, TrainState& st, std::vector<torch::Tensor>& best,
                     std::vector<MemberState>* members) {
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
  best = read_tensors(root, "best");
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
  if (root.try_read("history", history)) st.history = history_of(history);  // absent in checkpoints of earlier builds
  if (members) {
    // The identity names every member: a checkpoint of this group has every member's state.
    members->assign(task.shared_with.size(), MemberState{});
    for (std::size_t m = 0; m < members->size(); ++m) {
      const std::string p = "member" + std::to_string(m + 1) + "_";
      TrainState& ms = (*members)[m].st;
      ms.best_epoch = static_cast<int>(get_int((p + "best_epoch").c_str()));
      ms.best_score = get_double((p + "best_score").c_str());
      ms.since_best = static_cast<int>(get_int((p + "since_best").c_str()));
      torch::Tensor h;
      root.read(p + "history", h);
      ms.history = history_of(h);
      (*members)[m].best = read_tensors(root, p + "best");
    }
  }
  torch::Tensor rng;
  root.read("rng_cpu", rng);
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  generator.set_state(rng.to(torch::kCPU));
  return true;
}

}  // namespace ablate::trainer
