#include "sweeps/early_stop.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace ablate::sweeps {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string list_text(const std::vector<int>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

bool better(double a, double b, Direction d) {
  if (std::isnan(a)) return false;
  if (std::isnan(b)) return true;
  return d == Direction::kMinimize ? a < b : a > b;
}

double best_so_far(const std::vector<double>& values, int epochs, Direction d) {
  double best = kNaN;
  const size_t n = std::min(values.size(), static_cast<size_t>(std::max(0, epochs)));
  for (size_t i = 0; i < n; ++i) {
    if (better(values[i], best, d)) best = values[i];
  }
  return best;
}

std::string check_early_stop(const EarlyStopConfig& c, int epochs) {
  const std::string key = "sweep.early_stop.";
  if (c.method != "none" && c.method != "median" && c.method != "asha") {
    return key + "method = \"" + c.method + "\": allowed none | median | asha";
  }
  if (c.method == "none") return "";
  if (c.rungs.empty()) {
    return key + "rungs = []: list the epochs at which trials are compared, the last one = train.epochs (" +
           std::to_string(epochs) + ")";
  }
  for (size_t i = 0; i < c.rungs.size(); ++i) {
    if (c.rungs[i] < 1) return key + "rungs = " + list_text(c.rungs) + ": every rung is an epoch >= 1";
    if (i > 0 && c.rungs[i] <= c.rungs[i - 1]) return key + "rungs = " + list_text(c.rungs) + ": the rungs must increase strictly";
  }
  if (c.rungs.back() != epochs) {
    return key + "rungs = " + list_text(c.rungs) + ": the last rung must be train.epochs (" + std::to_string(epochs) + ")";
  }
  if (c.reduction < 2) return key + "reduction = " + std::to_string(c.reduction) + ": allowed >= 2";
  if (c.startup_trials < 1) return key + "startup_trials = " + std::to_string(c.startup_trials) + ": allowed >= 1";
  return "";
}

const char* state_name(TrialState s) {
  switch (s) {
    case TrialState::kRunning: return "running";
    case TrialState::kPaused: return "paused";
    case TrialState::kStopped: return "stopped";
    case TrialState::kFinished: return "finished";
    case TrialState::kFailed: return "failed";
  }
  return "?";
}

const char* decision_name(DecisionKind k) {
  switch (k) {
    case DecisionKind::kContinue: return "continue";
    case DecisionKind::kStop: return "stop";
    case DecisionKind::kPause: return "pause";
    case DecisionKind::kPromote: return "promote";
    case DecisionKind::kFinish: return "finish";
    case DecisionKind::kFail: return "fail";
  }
  return "?";
}

EarlyStopping::EarlyStopping(const EarlyStopConfig& c, Direction d, int folds_per_trial)
    : method_(c.method), rungs_(c.rungs), reduction_(c.reduction), startup_(c.startup_trials), dir_(d), folds_(folds_per_trial) {
  const std::string problem = check_early_stop(c, c.rungs.empty() ? 0 : c.rungs.back());
  if (!problem.empty()) throw std::invalid_argument(problem);
  if (c.method == "none") throw std::invalid_argument("sweep.early_stop.method = \"none\": no early stopping to run");
  if (folds_per_trial < 1) throw std::invalid_argument("early stopping: a trial needs at least one fold");
  scores_.resize(rungs_.size());
  arrivals_.resize(rungs_.size());
  failed_at_.assign(rungs_.size(), 0);
  stopped_at_.assign(rungs_.size(), 0);
}

std::optional<Decision> EarlyStopping::report(std::int64_t trial, int fold, int rung, std::optional<double> score) {
  const std::string who = "trial " + std::to_string(trial) + " fold " + std::to_string(fold);
  if (fold < 0 || fold >= folds_) {
    throw std::invalid_argument(who + ": fold out of range (0.." + std::to_string(folds_ - 1) + ")");
  }
  Trial& t = trial_(trial);
  if (t.state != TrialState::kRunning) {
    throw std::invalid_argument(who + ": reported at rung " + std::to_string(rung) + " but the trial is " + state_name(t.state) +
                                " at rung " + std::to_string(t.rung));
  }
  if (rung != t.rung) {
    throw std::invalid_argument(who + ": reported at rung " + std::to_string(rung) + " but it trains towards rung " +
                                std::to_string(t.rung));
  }
  if (t.failed.count(fold)) throw std::invalid_argument(who + ": reported after it failed");
  if (t.pending.count(fold)) throw std::invalid_argument(who + ": reported twice at rung " + std::to_string(rung));
  if (score) {
    t.pending[fold] = *score;
  } else {
    t.failed.insert(fold);
  }
  if (static_cast<int>(t.pending.size() + t.failed.size()) < folds_) return std::nullopt;

  const size_t k = static_cast<size_t>(rung);
  if (t.pending.empty()) {
    t.state = TrialState::kFailed;
    ++failed_at_[k];
    return Decision{DecisionKind::kFail, trial, rung, kNaN};
  }
  double sum = 0;
  for (const auto& [f, s] : t.pending) sum += s;
  const double mean = sum / static_cast<double>(t.pending.size());
  t.pending.clear();
  return judge(trial, t, mean);
}

Decision EarlyStopping::judge(std::int64_t id, Trial& t, double score) {
  const size_t k = static_cast<size_t>(t.rung);
  // The others that reached this rung before this trial: the median's population.
  std::vector<double> others;
  for (std::int64_t o : arrivals_[k]) {
    const double s = scores_[k].at(o);
    if (!std::isnan(s)) others.push_back(s);
  }
  scores_[k][id] = score;
  arrivals_[k].push_back(id);
  Decision d{DecisionKind::kContinue, id, t.rung, score};
  if (k + 1 == rungs_.size()) {
    t.state = TrialState::kFinished;
    d.kind = DecisionKind::kFinish;
    return d;
  }
  if (method_ == "asha") {
    t.state = TrialState::kPaused;
    d.kind = DecisionKind::kPause;
    return d;
  }
  bool stop = false;
  if (static_cast<int>(others.size()) >= startup_) {
    std::sort(others.begin(), others.end());
    const size_t n = others.size();
    const double median = n % 2 ? others[n / 2] : 0.5 * (others[n / 2 - 1] + others[n / 2]);
    stop = better(median, score, dir_);  // strictly worse than the median (a tie continues)
  }
  if (stop) {
    t.state = TrialState::kStopped;
    ++stopped_at_[k];
    d.kind = DecisionKind::kStop;
  } else {
    t.promoted_from.insert(t.rung);
    ++t.rung;
    d.kind = DecisionKind::kContinue;
  }
  return d;
}

bool EarlyStopping::ranks_before(std::int64_t a, std::int64_t b, int rung) const {
  const auto& s = scores_.at(static_cast<size_t>(rung));
  const double sa = s.at(a), sb = s.at(b);
  if (better(sa, sb, dir_)) return true;
  if (better(sb, sa, dir_)) return false;
  return a < b;  // equal (or both NaN): the earlier trial of the study's order first
}

std::vector<std::int64_t> EarlyStopping::ranking(int rung) const {
  std::vector<std::int64_t> ids;
  for (const auto& [id, s] : scores_.at(static_cast<size_t>(rung))) ids.push_back(id);
  std::sort(ids.begin(), ids.end(), [&](std::int64_t a, std::int64_t b) { return ranks_before(a, b, rung); });
  return ids;
}

std::optional<Decision> EarlyStopping::next_promotion() const {
  if (method_ != "asha") return std::nullopt;
  // Algorithm 2 of Li et al.: from the top rung below the last one down to the first.
  for (int k = static_cast<int>(rungs_.size()) - 2; k >= 0; --k) {
    const std::vector<std::int64_t> order = ranking(k);
    const size_t top = order.size() / static_cast<size_t>(reduction_);
    for (size_t i = 0; i < top; ++i) {
      const Trial& t = trials_.at(order[i]);
      if (t.state == TrialState::kPaused && t.rung == k) {
        return Decision{DecisionKind::kPromote, order[i], k, scores_[static_cast<size_t>(k)].at(order[i])};
      }
    }
  }
  return std::nullopt;
}

void EarlyStopping::promote(std::int64_t trial, int rung) {
  auto it = trials_.find(trial);
  if (it == trials_.end() || it->second.state != TrialState::kPaused || it->second.rung != rung) {
    throw std::invalid_argument("trial " + std::to_string(trial) + ": promoted from rung " + std::to_string(rung) +
                                " where it is not paused");
  }
  it->second.promoted_from.insert(rung);
  ++it->second.rung;
  it->second.state = TrialState::kRunning;
}

TrialState EarlyStopping::state(std::int64_t trial) const {
  auto it = trials_.find(trial);
  return it == trials_.end() ? TrialState::kRunning : it->second.state;
}

bool EarlyStopping::expects(std::int64_t trial, int fold) const {
  auto it = trials_.find(trial);
  if (it == trials_.end()) return fold >= 0 && fold < folds_;
  const Trial& t = it->second;
  return t.state == TrialState::kRunning && fold >= 0 && fold < folds_ && !t.failed.count(fold) && !t.pending.count(fold);
}

int EarlyStopping::rung_index(std::int64_t trial) const {
  auto it = trials_.find(trial);
  return it == trials_.end() ? 0 : it->second.rung;
}

std::vector<RungPopulation> EarlyStopping::populations() const {
  std::vector<RungPopulation> out(rungs_.size());
  for (size_t k = 0; k < rungs_.size(); ++k) {
    out[k].epoch = rungs_[k];
    out[k].reached = static_cast<int>(scores_[k].size());
    out[k].stopped = stopped_at_[k];
    out[k].failed = failed_at_[k];
  }
  for (const auto& [id, t] : trials_) {
    for (int k : t.promoted_from) ++out[static_cast<size_t>(k)].promoted;
    if (t.state == TrialState::kPaused) ++out[static_cast<size_t>(t.rung)].waiting;
  }
  return out;
}

}  // namespace ablate::sweeps
