#include "sweeps/early_stop.hpp"

#include "sweeps/random.hpp"

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

RungValue rung_value(const std::vector<double>& scores, const std::vector<double>& losses, int epochs, Direction d) {
  RungValue v{kNaN, kNaN};
  const size_t n = std::min(scores.size(), static_cast<size_t>(std::max(0, epochs)));
  for (size_t i = 0; i < n; ++i) {
    if (better(scores[i], v.score, d)) v = {scores[i], i < losses.size() ? losses[i] : kNaN};  // strictly: the first epoch
  }
  return v;
}

std::vector<std::size_t> trial_order(const std::vector<std::string>& names, std::uint64_t seed) {
  std::vector<std::uint64_t> key(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, 64 bits
    for (unsigned char c : names[i]) h = (h ^ c) * 0x100000001b3ULL;
    key[i] = splitmix64(splitmix64(seed) ^ h);
  }
  std::vector<std::size_t> order(names.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return key[a] < key[b]; });
  return order;
}

std::string check_early_stop(const EarlyStopConfig& c, int epochs) {
  const std::string key = "sweep.early_stop.";
  if (c.method != "none" && c.method != "median" && c.method != "asha" && c.method != "hyperband") {
    return key + "method = \"" + c.method + "\": allowed none | median | asha | hyperband";
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
  const int n = static_cast<int>(c.rungs.size());
  if (c.method == "hyperband" && (c.brackets < 0 || c.brackets > n)) {
    return key + "brackets = " + std::to_string(c.brackets) + ": allowed 1.." + std::to_string(n) +
           " (bracket b starts its trials at rung b of rungs = " + list_text(c.rungs) + "), or 0 for one per rung";
  }
  return "";
}

std::vector<int> hyperband_brackets(int brackets, int rungs, int reduction, std::size_t n) {
  // Bracket b halves s = K - b times; its weight is Hyperband's n_s without the ceiling.
  const int K = rungs - 1;
  std::vector<double> weight(static_cast<size_t>(std::max(1, brackets)));
  double total = 0;
  for (size_t b = 0; b < weight.size(); ++b) {
    const int s = K - static_cast<int>(b);
    weight[b] = (K + 1) * std::pow(static_cast<double>(reduction), s) / (s + 1);
    total += weight[b];
  }
  // Smooth weighted round robin: each step every bracket gains its weight, the richest (the lower on a
  // tie) takes the trial and pays the total.
  std::vector<double> credit(weight.size(), 0.0);
  std::vector<int> out(n);
  for (size_t i = 0; i < n; ++i) {
    size_t pick = 0;
    for (size_t b = 0; b < weight.size(); ++b) {
      credit[b] += weight[b];
      if (credit[b] > credit[pick]) pick = b;
    }
    credit[pick] -= total;
    out[i] = static_cast<int>(pick);
  }
  return out;
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
    : method_(c.method),
      rungs_(c.rungs),
      reduction_(c.reduction),
      startup_(c.startup_trials),
      brackets_(c.method != "hyperband" ? 1 : c.brackets > 0 ? c.brackets : static_cast<int>(c.rungs.size())),
      dir_(d),
      folds_(folds_per_trial) {
  const std::string problem = check_early_stop(c, c.rungs.empty() ? 0 : c.rungs.back());
  if (!problem.empty()) throw std::invalid_argument(problem);
  if (c.method == "none") throw std::invalid_argument("sweep.early_stop.method = \"none\": no early stopping to run");
  if (folds_per_trial < 1) throw std::invalid_argument("early stopping: a trial needs at least one fold");
  scores_.resize(rungs_.size());
  losses_.resize(rungs_.size());
  arrivals_.resize(rungs_.size());
  failed_at_.assign(rungs_.size(), 0);
  stopped_at_.assign(rungs_.size(), 0);
}

int EarlyStopping::bracket(std::int64_t trial) const {
  if (brackets_ == 1 || trial < 0) return 0;
  if (static_cast<std::size_t>(trial) >= bracket_of_.size()) {
    bracket_of_ = hyperband_brackets(brackets_, static_cast<int>(rungs_.size()), reduction_,
                                     std::max(static_cast<std::size_t>(trial) + 1, 2 * bracket_of_.size()));
  }
  return bracket_of_[static_cast<std::size_t>(trial)];
}

EarlyStopping::Trial& EarlyStopping::trial_(std::int64_t id) {
  auto it = trials_.find(id);
  if (it != trials_.end()) return it->second;
  Trial& t = trials_[id];
  t.rung = bracket(id);  // Hyperband: the bracket's first rung
  return t;
}

std::optional<Decision> EarlyStopping::report(std::int64_t trial, int fold, int rung, std::optional<double> score, double loss) {
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
    t.pending[fold] = {*score, loss};
  } else {
    t.failed.insert(fold);
  }
  if (static_cast<int>(t.pending.size() + t.failed.size()) < folds_) return std::nullopt;

  const size_t k = static_cast<size_t>(rung);
  if (t.pending.empty()) {
    t.state = TrialState::kFailed;
    ++failed_at_[k];
    return Decision{DecisionKind::kFail, trial, rung, kNaN, kNaN};
  }
  double sum = 0, loss_sum = 0;
  int losses = 0;
  for (const auto& [f, v] : t.pending) {
    sum += v.score;
    if (!std::isnan(v.loss)) loss_sum += v.loss, ++losses;
  }
  const RungValue mean{sum / static_cast<double>(t.pending.size()), losses ? loss_sum / losses : kNaN};
  t.pending.clear();
  return judge(trial, t, mean);
}

Decision EarlyStopping::judge(std::int64_t id, Trial& t, RungValue v) {
  const double score = v.score;
  const size_t k = static_cast<size_t>(t.rung);
  // The others that reached this rung before this trial: the median's population.
  std::vector<double> others;
  for (std::int64_t o : arrivals_[k]) {
    const double s = scores_[k].at(o);
    if (!std::isnan(s)) others.push_back(s);
  }
  scores_[k][id] = score;
  losses_[k][id] = v.loss;
  arrivals_[k].push_back(id);
  Decision d{DecisionKind::kContinue, id, t.rung, score, v.loss};
  if (k + 1 == rungs_.size()) {
    t.state = TrialState::kFinished;
    d.kind = DecisionKind::kFinish;
    return d;
  }
  if (method_ != "median") {  // asha, hyperband
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
  // Equal scores (or both NaN): the lower validation loss, then the lower trial id.
  const auto& l = losses_.at(static_cast<size_t>(rung));
  const double la = l.at(a), lb = l.at(b);
  if (better(la, lb, Direction::kMinimize)) return true;
  if (better(lb, la, Direction::kMinimize)) return false;
  return a < b;
}

std::vector<std::int64_t> EarlyStopping::ranking(int rung, int bracket_index) const {
  std::vector<std::int64_t> ids;
  for (const auto& [id, s] : scores_.at(static_cast<size_t>(rung))) {
    if (bracket(id) == bracket_index) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end(), [&](std::int64_t a, std::int64_t b) { return ranks_before(a, b, rung); });
  return ids;
}

std::optional<Decision> EarlyStopping::next_promotion() const {
  if (method_ == "median") return std::nullopt;
  // Algorithm 2 of Li et al.: from the top rung below the last one down to the first; Hyperband: each
  // bracket that has the rung, in bracket order.
  for (int k = static_cast<int>(rungs_.size()) - 2; k >= 0; --k) {
    for (int b = 0; b < brackets_ && b <= k; ++b) {
      const std::vector<std::int64_t> order = ranking(k, b);
      const size_t top = order.size() / static_cast<size_t>(reduction_);
      for (size_t i = 0; i < top; ++i) {
        const Trial& t = trials_.at(order[i]);
        if (t.state == TrialState::kPaused && t.rung == k) {
          return Decision{DecisionKind::kPromote, order[i], k, scores_[static_cast<size_t>(k)].at(order[i]),
                          losses_[static_cast<size_t>(k)].at(order[i])};
        }
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

std::optional<std::pair<int, double>> EarlyStopping::standing(std::int64_t trial) const {
  auto it = trials_.find(trial);
  if (it == trials_.end() || (it->second.state != TrialState::kPaused && it->second.state != TrialState::kStopped)) return std::nullopt;
  const int k = it->second.rung;
  return std::make_pair(k, scores_.at(static_cast<size_t>(k)).at(trial));
}

bool EarlyStopping::expects(std::int64_t trial, int fold) const {
  auto it = trials_.find(trial);
  if (it == trials_.end()) return fold >= 0 && fold < folds_;
  const Trial& t = it->second;
  return t.state == TrialState::kRunning && fold >= 0 && fold < folds_ && !t.failed.count(fold) && !t.pending.count(fold);
}

int EarlyStopping::rung_index(std::int64_t trial) const {
  auto it = trials_.find(trial);
  return it == trials_.end() ? bracket(trial) : it->second.rung;
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
