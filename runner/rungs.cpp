#include "runner/rungs.hpp"

#include "ablations/study.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>
#include <tuple>

namespace ablate::runner {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

std::string varied_loss_key(const Study& study) {
  auto is_loss = [](const std::string& key) { return key.rfind("loss.", 0) == 0; };
  for (const auto& p : study.search.space) {
    if (is_loss(p.key)) return p.key;
  }
  if (study.variants.empty()) return "";
  for (const auto& [key, value] : study.variants.front().values) {
    if (!is_loss(key)) continue;
    for (const auto& v : study.variants) {
      auto it = v.values.find(key);
      if (it == v.values.end() || it->second.text != value.text) return key;
    }
  }
  return "";
}

RungScheduler::RungScheduler(const sweeps::EarlyStopConfig& config, const std::string& select_metric,
                             const std::vector<std::pair<int, int>>& folds, db::Store& store, std::int64_t study_id,
                             bool loss_breaks_ties)
    : policy_(config, sweeps::objective_direction(select_metric), static_cast<int>(folds.size())),
      dir_(sweeps::objective_direction(select_metric)),
      loss_breaks_ties_(loss_breaks_ties),
      folds_(folds),
      store_(store),
      study_id_(study_id) {}

void RungScheduler::add_trial(const std::string& variant, std::int64_t id) {
  ids_[variant] = id;
  names_[id] = variant;
}

int RungScheduler::slot_of(int fold, int repeat) const {
  for (std::size_t i = 0; i < folds_.size(); ++i) {
    if (folds_[i].first == fold && folds_[i].second == repeat) return static_cast<int>(i);
  }
  throw std::runtime_error("early stopping: no fold " + std::to_string(fold) + " repeat " + std::to_string(repeat) + " in the study");
}

db::EarlyStopEvent RungScheduler::event(const std::string& variant, const char* kind, int rung, int fold, int repeat,
                                        double score) const {
  db::EarlyStopEvent e;
  e.variant = variant;
  e.kind = kind;
  e.rung = rung;
  e.epoch = policy_.rung_epoch(rung);
  e.fold = fold;
  e.repeat = repeat;
  e.score = score;
  return e;
}

int RungScheduler::replay() {
  int n = 0;
  // The tie-breaking loss of a replayed arrival comes from the fold's stored epochs (stored in the same
  // transaction as the arrival), as fold_value() computed it from the result.
  std::map<std::tuple<std::string, int, int>, std::int64_t> task_of;
  for (const db::TaskRow& t : store_.tasks(study_id_)) task_of[{t.variant, t.fold, t.repeat}] = t.id;
  std::map<std::int64_t, std::vector<EpochRecord>> epochs_of;
  for (const db::TaskEpochRow& e : store_.task_epochs(study_id_)) {
    EpochRecord r;
    r.epoch = e.epoch;
    r.val_loss = e.val_loss;
    r.val_score = e.val_score;
    r.val_soft_dice = e.val_soft_dice;
    epochs_of[e.task_id].push_back(r);
  }
  auto stored_loss = [&](const db::EarlyStopEvent& e) {
    auto t = task_of.find({e.variant, e.fold, e.repeat});
    if (t == task_of.end()) return kNaN;
    return fold_value(epochs_of[t->second], e.epoch).loss;
  };
  std::vector<sweeps::Decision> derived;                  // what the replayed arrivals decide
  std::set<std::tuple<std::string, std::string, int>> logged;  // (variant, kind, rung) of the logged decisions
  for (const db::EarlyStopEvent& e : store_.early_stop_log(study_id_)) {
    auto it = ids_.find(e.variant);
    if (it == ids_.end()) continue;
    const std::int64_t trial = it->second;
    try {
      if (e.kind == "reached" || e.kind == "failed") {
        const bool reached = e.kind == "reached";
        auto d = policy_.report(trial, slot_of(e.fold, e.repeat), e.rung, reached ? std::optional<double>(e.score) : std::nullopt,
                                reached ? stored_loss(e) : kNaN);
        if (d) derived.push_back(*d);
        ++n;
      } else if (e.kind == "promote") {
        policy_.promote(trial, e.rung);
        ++n;
      } else {
        logged.insert({e.variant, e.kind, e.rung});
      }
    } catch (const std::invalid_argument& err) {
      throw std::runtime_error(store_.path() + ": the early-stopping log does not replay (" + err.what() +
                               "); was [sweep.early_stop] changed? run with --new-study to start afresh");
    }
  }
  // A coordinator killed between storing a fold's arrival and logging the decision it completed: the
  // decision follows from the arrivals, and is logged now.
  for (const auto& d : derived) {
    if (!logged.count({names_.at(d.trial), sweeps::decision_name(d.kind), d.rung})) log_decision(d);
  }
  return n;
}

bool RungScheduler::runnable(const std::string& variant, int fold, int repeat) const {
  auto it = ids_.find(variant);
  return it != ids_.end() && policy_.expects(it->second, slot_of(fold, repeat));
}

int RungScheduler::rung_of(const std::string& variant) const { return policy_.rung_index(ids_.at(variant)); }

int RungScheduler::pause_epoch(const std::string& variant) const {
  const std::int64_t trial = ids_.at(variant);
  const int rung = policy_.rung_index(trial);
  return rung + 1 < policy_.rungs() ? policy_.rung_epoch(rung) : 0;
}

// The fold's best validation objective up to the rung's epoch and the tie-break of that epoch
// (sweeps::rung_value): the soft Dice loss 1 - val_soft_dice, the same scale for every loss setting; for an
// epoch without it (stored before schema 7, or no validation cases) the validation loss where every trial
// computes the same loss, else none (the trial order decides a tie).
sweeps::RungValue RungScheduler::fold_value(const std::vector<EpochRecord>& epochs, int epoch) const {
  std::vector<double> values(static_cast<std::size_t>(epoch), kNaN), ties(static_cast<std::size_t>(epoch), kNaN);
  for (const EpochRecord& e : epochs) {
    if (e.epoch < 1 || e.epoch > epoch) continue;
    values[static_cast<std::size_t>(e.epoch - 1)] = e.val_score;
    ties[static_cast<std::size_t>(e.epoch - 1)] =
        std::isfinite(e.val_soft_dice) ? 1 - e.val_soft_dice : loss_breaks_ties_ ? e.val_loss : kNaN;
  }
  return sweeps::rung_value(values, ties, epoch, dir_);
}

void RungScheduler::log_decision(const sweeps::Decision& d) {
  const std::string& variant = names_.at(d.trial);
  store_.log_early_stop(study_id_, event(variant, sweeps::decision_name(d.kind), d.rung, -1, -1, d.score));
  spdlog::info("early stopping: {} {} at rung {} (epoch {}, score {:.4g}, validation loss {:.4g})", variant,
               sweeps::decision_name(d.kind), d.rung, policy_.rung_epoch(d.rung), d.score, d.loss);
}

std::optional<sweeps::Decision> RungScheduler::paused(std::int64_t task_id, const std::string& variant, int fold, int repeat,
                                                      const TaskResult& r, double now) {
  const std::int64_t trial = ids_.at(variant);
  const int rung = policy_.rung_index(trial);
  const int epoch = policy_.rung_epoch(rung);
  const sweeps::RungValue v = fold_value(r.epochs, epoch);
  // A checkpoint past the rung (one left in a shared workdir by another store's run of the same study)
  // pauses later than asked: the store keeps the rung's epochs, the rest comes back with the next result.
  TaskResult at_rung = r;
  at_rung.paused_after_epoch = epoch;
  at_rung.epochs.erase(std::remove_if(at_rung.epochs.begin(), at_rung.epochs.end(), [&](const EpochRecord& e) { return e.epoch > epoch; }),
                       at_rung.epochs.end());
  store_.record_paused(task_id, at_rung, now, study_id_, event(variant, "reached", rung, fold, repeat, v.score));
  auto d = policy_.report(trial, slot_of(fold, repeat), rung, v.score, v.loss);
  if (d) log_decision(*d);
  return d;
}

std::optional<sweeps::Decision> RungScheduler::done(std::int64_t task_id, const std::string& variant, int fold, int repeat,
                                                    const TaskResult& r, double now) {
  const std::int64_t trial = ids_.at(variant);
  const int rung = policy_.rung_index(trial);
  const sweeps::RungValue v = fold_value(r.epochs, policy_.rung_epoch(rung));
  const db::EarlyStopEvent e = event(variant, "reached", rung, fold, repeat, v.score);
  store_.record_done(task_id, r, now, study_id_, &e);
  auto d = policy_.report(trial, slot_of(fold, repeat), rung, v.score, v.loss);
  if (d) log_decision(*d);
  return d;
}

std::optional<sweeps::Decision> RungScheduler::failed(const std::string& variant, int fold, int repeat) {
  const std::int64_t trial = ids_.at(variant);
  const int rung = policy_.rung_index(trial);
  store_.log_early_stop(study_id_, event(variant, "failed", rung, fold, repeat, kNaN));
  auto d = policy_.report(trial, slot_of(fold, repeat), rung, std::nullopt);
  if (d) log_decision(*d);
  return d;
}

std::optional<sweeps::Decision> RungScheduler::promote_next() {
  auto d = policy_.next_promotion();
  if (!d) return d;
  log_decision(*d);  // stored before it is acted on
  policy_.promote(d->trial, d->rung);
  return d;
}

std::string RungScheduler::populations_text() const {
  std::string s;
  for (const auto& p : policy_.populations()) {
    s += "\n  rung epoch " + std::to_string(p.epoch) + ": reached " + std::to_string(p.reached) + ", promoted " +
         std::to_string(p.promoted) + ", waiting " + std::to_string(p.waiting) + ", stopped " + std::to_string(p.stopped) +
         ", failed " + std::to_string(p.failed);
  }
  return s;
}

}  // namespace ablate::runner
