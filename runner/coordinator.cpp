// The coordinator: expands the study, stores variants and folds, plans tasks = variant x fold x repeat,
// and hands them to idle workers (dynamic pull scheduling, longest first), storing progress and results
// as they arrive. Only this rank writes the store.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "ablations/components.hpp"
#include "ablations/schema.hpp"
#include "ablations/sharing.hpp"
#include "ablations/study.hpp"
#include "db/store.hpp"
#include "runner/messages.hpp"
#include "runner/reuse.hpp"
#include "runner/rungs.hpp"
#include "runner/shards.hpp"
#include "runner/worker.hpp"
#include "sweeps/metric.hpp"
#include "sweeps/multi_objective.hpp"

namespace ablate::runner {

namespace {

namespace fs = std::filesystem;

struct PlannedTask {
  std::int64_t id = 0;
  const Variant* variant = nullptr;
  const db::FoldCases* fold = nullptr;
  double cost = 0;
  int attempts_total = 0;   // stored attempts so far (all runs)
  int attempts_run = 0;     // attempts in this run (the retry budget)
  std::set<int> failed_on;  // workers on which it failed in this run
  // Train once, evaluate many (ablations/sharing.hpp): on the task that trains, the tasks evaluated from
  // its training (indices into tasks_); such a member is never queued itself.
  std::vector<size_t> shared;
  bool member = false;      // evaluated from another task's training (in that task's `shared`)
};

class Coordinator {
 public:
  Coordinator(const RunOptions& o, Transport& t, Executor& e, const std::atomic<bool>& stop)
      : opt_(o), t_(t), exec_(e), stop_(stop) {}

  int run(bool& started);

 private:
  // Planning (plan() runs the phases in order).
  void plan();
  void load();
  void lock_or_refuse(std::int64_t study_id);
  void open_study();
  void archive_study(std::int64_t stored_id);
  void create_study();
  void check_resume();
  void prepare_workdir();
  void check_validation(const std::vector<db::FoldCases>& folds) const;
  void prepare_folds();
  void reuse_finished();
  void record_provenance();
  std::map<std::string, double> estimate_costs();
  void queue_tasks(std::map<std::string, double> cost);
  std::set<std::int64_t> shard_task_ids(const std::vector<db::TaskRow>& rows) const;
  void replay_trials();
  void record_sampled_trials();
  bool can_propose() const;
  bool propose();
  void add_tasks_of(const Variant& v);
  void group_tasks();
  void dispatch(int worker);
  void handle(const Envelope& env);
  void handle_group(int worker, size_t idx, const ResultMessage& r);
  std::string checkpoint_of(const PlannedTask& p) const;
  // Early stopping (runner/rungs.hpp): the tasks of a trial that goes on move from held_ to promoted_.
  void plan_rungs();
  void act(const std::optional<sweeps::Decision>& d);
  bool take_promotion();
  void shutdown_workers();
  // run()'s phases around its dispatch loop: plan and greet the workers; log the end, give the exit code.
  void start(bool& started);
  int finish();

  const RunOptions& opt_;
  Transport& t_;
  Executor& exec_;
  const std::atomic<bool>& stop_;

  Study study_;
  std::string name_;
  std::string db_path_;
  std::string workdir_;
  std::unique_ptr<db::Store> store_;
  std::int64_t study_id_ = 0;
  std::int64_t run_id_ = 0;
  std::vector<db::FoldCases> folds_;
  std::string data_fingerprint_;             // of the dataset as this run reads it; "" unknown
  std::vector<PlannedTask> tasks_;
  std::map<std::string, double> estimate_;  // the executor's cost estimate per variant (estimate_costs)
  std::deque<size_t> pending_;               // indices into tasks_, longest first
  std::unique_ptr<RungScheduler> rungs_;     // [sweep.early_stop]; null without early stopping
  std::deque<size_t> promoted_;              // tasks of trials going on to their next rung: before pending_
  std::map<std::string, std::vector<size_t>> held_;  // variant -> its tasks waiting at a rung
  std::map<int, Placement> workers_;         // ready workers and their placement
  std::set<int> idle_;
  std::set<int> retired_;                    // workers that hit a sticky device error: sent no more tasks
  std::map<int, size_t> running_;            // worker -> task index
  std::map<std::int64_t, size_t> by_id_;
  int failed_final_ = 0;
  int done_ = 0;
  bool stopping_ = false;
};

// The phases of planning, in order; each one either leaves the study ready for the next or throws (a
// RunRefused for what the user can fix, with the lock released where this coordinator took it).
void Coordinator::plan() {
  load();
  store_ = std::make_unique<db::Store>(db_path_);
  open_study();
  prepare_workdir();
  prepare_folds();
  for (const auto& v : study_.variants) {
    store_->upsert_variant(study_id_, {v.name, v.label, v.hash, v.canonical, v.ordinal}, recorded_components(v.config.model));
  }
  store_->ensure_tasks(study_id_);
  record_sampled_trials();
  int recovered = store_->recover_running(study_id_);
  if (recovered > 0) spdlog::info("{} task(s) left running by an earlier coordinator are marked interrupted", recovered);
  record_provenance();
  run_id_ = store_->begin_run(study_id_, opt_.command_line, t_.size());
  reuse_finished();
  queue_tasks(estimate_costs());
}

// The study file (with --set) expanded, and where its store and checkpoints go.
void Coordinator::load() {
  study_ = load_study(opt_.study_file, opt_.overrides);
  if (study_.variants.empty() && !study_.search.adaptive()) throw std::runtime_error(opt_.study_file + ": the study has no variants");
  // Tasks point into study_.variants; a tpe search appends its trials as it proposes them, so the vector
  // must never reallocate.
  if (study_.search.adaptive()) {
    study_.variants.reserve(study_.variants.size() +
                            static_cast<std::size_t>(study_.search.trials) * study_.search.declared.size());
  }
  name_ = study_.base.study.name;
  const Shard& shard = opt_.shard;
  if (shard.active()) {
    if (const std::string why = array_refusal(study_); !why.empty()) throw RunRefused(RunRefused::kInput, why);
  }
  const std::string default_db =
      shard.active() ? shard_db_path(opt_.study_file, name_, shard.index) : default_db_path(opt_.study_file, name_);
  db_path_ = opt_.db_path.empty() ? default_db : opt_.db_path;
  // A shard keeps its checkpoints apart too: --new-study of one shard must not move another's.
  const std::string work = shard.active() ? name_ + ".shard-" + std::to_string(shard.index) + ".work" : name_ + ".work";
  workdir_ = opt_.workdir.empty() ? (fs::path(db_path_).parent_path() / work).string() : opt_.workdir;
  // Checked before any task: a file where the checkpoints go would fail every task and its retries.
  std::error_code ec;
  if (fs::exists(workdir_, ec) && !fs::is_directory(workdir_, ec)) {
    throw RunRefused(RunRefused::kInput, "--workdir " + workdir_ + ": is a file, expected a folder for the checkpoints");
  }
}

// The study's lock, or the refusal (exit code of kLocked) that names who holds it.
void Coordinator::lock_or_refuse(std::int64_t study_id) {
  try {
    const db::LockVerdict v = store_->acquire_lock(study_id, opt_.stale_lock_seconds);
    if (v == db::LockVerdict::kEarlierRun) {
      spdlog::info("{}: took over the lock of an earlier run of this Slurm job (requeued; that run is over)", db_path_);
    } else if (v == db::LockVerdict::kDeadProcess || v == db::LockVerdict::kStale) {
      spdlog::info("{}: took over the lock of a coordinator that is gone ({})", db_path_,
                   v == db::LockVerdict::kStale ? "no heartbeat for " + std::to_string(static_cast<int>(opt_.stale_lock_seconds)) + " s"
                                                : "its process on this host no longer runs");
    }
  } catch (const db::LockError& e) {
    throw RunRefused(RunRefused::kLocked, e.what());
  }
}

// The stored study resumed (after --new-study archived it, a new one), locked for this coordinator.
void Coordinator::open_study() {
  auto existing = store_->find_study(name_);
  if (existing && opt_.new_study) {
    archive_study(*existing);
    existing.reset();
  }
  if (!existing) {
    create_study();
    return;
  }
  study_id_ = *existing;
  lock_or_refuse(study_id_);
  // Between find_study and the lock another coordinator may have archived this study (--new-study):
  // resuming the archived rows under the old name would mix two studies.
  if (store_->find_study(name_) != existing) {
    store_->release_lock(study_id_);
    study_id_ = 0;
    throw RunRefused(RunRefused::kLocked, db_path_ + ": study '" + name_ +
                                              "' was archived by another coordinator (--new-study) while this one started; "
                                              "run again to join the new study");
  }
  // A tpe search's stored proposals are its trials: rebuilt from the store, never sampled again.
  if (study_.search.adaptive()) replay_trials();
  check_resume();
}

// --new-study: the stored study and its checkpoints are kept under "<name>~k".
void Coordinator::archive_study(std::int64_t stored_id) {
  // Never archive a study under a running coordinator's feet: take its lock first.
  lock_or_refuse(stored_id);
  std::string archived = store_->archive_study(name_);
  store_->release_lock(stored_id);
  // Checkpoints of the archived study must not be resumed by the new one (its folds may differ).
  if (fs::exists(workdir_)) {
    std::error_code ec;
    const std::string moved = workdir_ + "~" + archived.substr(archived.rfind('~') + 1);
    fs::rename(workdir_, moved, ec);
    if (ec) throw std::runtime_error(workdir_ + ": cannot move the archived study's checkpoints to " + moved + ": " + ec.message());
    spdlog::info("--new-study: its checkpoints are kept in {}", moved);
  }
  spdlog::info("--new-study: the stored study '{}' is kept as '{}'; starting afresh", name_, archived);
}

void Coordinator::create_study() {
  const VariantConfig& base = study_.base;
  db::StudyInfo info;
  info.name = name_;
  info.seed = base.study.seed;
  info.repeats = base.study.repeats;
  info.folds = base.study.split.empty() ? base.study.folds : 1;
  try {
    study_id_ = store_->create_study(info);
  } catch (const std::exception& e) {
    // Two coordinators starting a new study at once: the loser finds the winner's row.
    if (!store_->find_study(name_)) throw;
    throw RunRefused(RunRefused::kLocked, db_path_ + ": another coordinator has just created study '" + name_ +
                                              "' and is running it; wait for it to finish or stop it");
  }
  lock_or_refuse(study_id_);
}

// The resume check: a variant whose configuration changed must not mix old and new results.
void Coordinator::check_resume() {
  std::map<std::string, db::StoredVariant> stored;
  for (auto& v : store_->variants(study_id_)) stored[v.name] = v;
  std::map<std::string, int> has_results;
  for (const auto& t : store_->tasks(study_id_)) {
    if (t.attempts > 0 || t.status != "pending") has_results[t.variant]++;
  }
  std::ostringstream refused;
  int changed = 0;
  for (const auto& v : study_.variants) {
    auto it = stored.find(v.name);
    if (it == stored.end()) continue;
    if (it->second.hash == v.hash) {
      // Same results, other unhashed values (threads, a moved data.path): keep the stored text current.
      if (it->second.canonical != v.canonical) store_->refresh_variant(study_id_, v.name, v.hash, v.canonical);
      continue;
    }
    if (has_results[v.name] == 0) {
      store_->replace_variant(study_id_, {v.name, v.label, v.hash, v.canonical, v.ordinal}, recorded_components(v.config.model));
      continue;
    }
    auto keys = changed_keys(it->second.canonical, v.canonical);
    // Only keys outside the hash differ (a moved data.path, or a store written when such a key was still
    // hashed): the results stay valid; the stored hash and configuration are brought up to date.
    if (std::none_of(keys.begin(), keys.end(), [](const std::string& k) {
          const KeyDef* d = find_key(k);
          return d == nullptr || d->hashed;
        })) {
      store_->refresh_variant(study_id_, v.name, v.hash, v.canonical);
      spdlog::info("variant '{}': only keys outside the hash changed; stored hash updated {} -> {}", v.name,
                   it->second.hash, v.hash);
      continue;
    }
    ++changed;
    std::string list;
    for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
    refused << "\n  variant '" << v.name << "' (stored hash " << it->second.hash << ", now " << v.hash
            << "): changed keys: " << (list.empty() ? "(none listed)" : list);
  }
  if (changed > 0) {
    store_->release_lock(study_id_);
    throw RunRefused(RunRefused::kChanged,
                     opt_.study_file + ": the configuration of " + std::to_string(changed) + " variant(s) with stored results in " +
                         db_path_ + " changed:" + refused.str() +
                         "\nrestore the study file, or run with --new-study to keep the stored study as '" + name_ +
                         "~k' and start afresh");
  }
}

void Coordinator::prepare_workdir() {
  std::error_code ec;
  fs::create_directories(workdir_, ec);
  if (ec) throw RunRefused(RunRefused::kInput, "--workdir " + workdir_ + ": cannot create the checkpoint folder: " + ec.message());
}

// A search compares its trials on validation values only (docs/STUDY.md "Searches"): in a fold without
// validation cases the trainer selects on the training loss, which no objective may stand for. Checked
// before new folds are stored, so that the study can be run again with more validation cases.
void Coordinator::check_validation(const std::vector<db::FoldCases>& folds) const {
  if (!study_.search.sampled()) return;
  for (const auto& f : folds) {
    if (!f.val.empty()) continue;
    throw RunRefused(RunRefused::kInput,
                     opt_.study_file + ": fold " + std::to_string(f.fold) + " (repeat " + std::to_string(f.repeat) +
                         ") has no validation cases, and a search (sweep.method = \"" + study_.search.method +
                         "\") compares its trials on the validation " + study_.search.objective +
                         " only, never on the test cases: raise study.validation_fraction (or the validation part "
                         "of study.split) or use more cases");
  }
}

// Folds: made once per study and stored, so every variant (and every later run) sees the same cases.
void Coordinator::prepare_folds() {
  const VariantConfig& base = study_.base;
  data_fingerprint_ = fingerprint_of(opt_, base.data);
  folds_ = store_->folds(study_id_);
  if (folds_.empty()) {
    std::vector<db::FoldCases> folds = make_folds(opt_, base);
    check_validation(folds);
    store_->store_folds(study_id_, folds, data_fingerprint_);
    folds_ = store_->folds(study_id_);
  } else if (const std::string stored = store_->data_fingerprint(study_id_);
             !data_fingerprint_.empty() && stored != data_fingerprint_) {
    // The tasks trained from now on read these data: their reuse keys name them (docs/RUNNER.md).
    if (!stored.empty()) {
      spdlog::warn("{}: the dataset changed since the study's folds were made (fingerprint {} -> {}): tasks trained from now "
                   "on are keyed to the new files; done tasks keep theirs",
                   base.data.path, stored, data_fingerprint_);
    }
    store_->set_data_fingerprint(study_id_, data_fingerprint_);
  }
  check_validation(folds_);
}

// Never train the same thing twice (docs/RUNNER.md "Reusing finished trainings"): every open task gets
// its reuse key; one whose key has a finished task in this store (any study) or in a `--reuse` store takes
// that task's results, copied in one transaction, instead of a training. Not under early stopping (the
// rungs' log must see every arrival) nor for a TPE search's trials (proposed during the run).
void Coordinator::reuse_finished() {
  std::map<std::string, const Variant*> by_name;
  for (const auto& v : study_.variants) by_name[v.name] = &v;
  std::map<std::pair<int, int>, const db::FoldCases*> fold_of;
  for (const auto& f : folds_) fold_of[{f.fold, f.repeat}] = &f;
  std::map<std::int64_t, std::string> keys;
  for (const auto& row : store_->tasks(study_id_)) {
    auto v = by_name.find(row.variant);
    if (v == by_name.end() || row.status == "done") continue;
    keys[row.id] = reuse_key(*v->second, *fold_of.at({row.fold, row.repeat}), data_fingerprint_);
  }
  store_->set_reuse_keys(keys);
  if (!opt_.reuse || study_.early_stop.method != "none") return;
  std::unique_ptr<ReuseFinder> finder;
  try {
    finder = std::make_unique<ReuseFinder>(store_.get(), opt_.reuse_stores);
  } catch (const std::exception& e) {
    throw RunRefused(RunRefused::kInput, e.what());
  }
  std::vector<std::pair<std::int64_t, db::ReuseSource>> reused;
  std::map<std::string, int> from;
  for (const auto& [id, key] : keys) {
    if (auto src = finder->find(key, id)) {
      from[src->store + ": " + src->study]++;
      reused.emplace_back(id, std::move(*src));
    }
  }
  if (reused.empty()) return;
  store_->record_reused(reused);
  for (const auto& [where, n] : from) spdlog::info("{} task(s) reused from finished trainings in {}", n, where);
}

// Provenance of this run.
void Coordinator::record_provenance() {
  std::map<std::string, std::string> prov;
  prov["ablate_version"] = ABLATE_VERSION;
  prov["git_commit"] = ABLATE_GIT_COMMIT;
  prov["study_file"] = fs::absolute(opt_.study_file).string();
  prov["study_text"] = study_.text;
  prov["study_resolved"] = resolved_text(study_.base);  // every key, includes resolved (for reports)
  if (!study_.design.empty()) prov["study_design"] = design_text(study_.design);  // for the effects (reports)
  prov["command_line"] = opt_.command_line;
  {
    std::string set;
    for (const auto& o : opt_.overrides) set += o + "\n";
    prov["overrides"] = set;  // one `key=value` per line, as given to --set; "" without (a later run replaces it)
  }
  if (study_.search.sampled()) {
    // What `status` and `report` need to read a search without the study file.
    prov["search_method"] = study_.search.method;
    prov["search_trials"] = std::to_string(study_.search.trials);
    prov["search_objective"] = study_.search.objective;
    if (!study_.search.objectives.empty()) {
      std::string names;
      for (const auto& o : study_.search.objectives) names += (names.empty() ? "" : " ") + o;
      prov["search_objectives"] = names;  // sweep.objectives, space-separated, in the order written
    }
    std::string space;
    for (const auto& p : study_.search.space) space += p.key + " " + sweeps::distribution_name(p.dist) + "\n";
    prov["search_space"] = space;  // one `key distribution` line per sampled key, in the space's order
  }
  prov["mpi_version"] = t_.library_version();
  prov["framework_version"] = exec_.framework_version();
  prov["ranks"] = std::to_string(t_.size());
  const auto all_hosts = t_.hosts();
  std::set<std::string> hosts(all_hosts.begin(), all_hosts.end());
  std::string hl;
  for (const auto& h : hosts) hl += (hl.empty() ? "" : ",") + h;
  prov["hostnames"] = hl;
  prov["db_schema_version"] = std::to_string(store_->schema_version());
  store_->set_provenance(study_id_, prov);
}

// Cost estimate per variant: measured seconds where earlier tasks finished, else the executor's estimate
// scaled into seconds by the measured variants (so both kinds order together).
std::map<std::string, double> Coordinator::estimate_costs() {
  auto measured = store_->measured_seconds(study_id_);
  std::map<std::string, double>& estimate = estimate_;
  double ratio_sum = 0;
  int ratio_n = 0;
  auto last_beat = std::chrono::steady_clock::now();
  for (const auto& v : study_.variants) {
    // A stop during planning: the run loop sees the flag before dispatching anything and ends with exit 3.
    if (stop_.load()) break;
    estimate[v.name] = exec_.estimate_cost(v);  // one network per architecture (the executor caches it)
    if (std::chrono::steady_clock::now() - last_beat > std::chrono::duration<double>(opt_.heartbeat_seconds)) {
      store_->heartbeat(study_id_);
      last_beat = std::chrono::steady_clock::now();
    }
    auto m = measured.find(v.name);
    if (m != measured.end() && estimate[v.name] > 0) {
      ratio_sum += m->second / estimate[v.name];
      ++ratio_n;
    }
  }
  std::map<std::string, double> cost;
  for (const auto& v : study_.variants) {
    auto m = measured.find(v.name);
    cost[v.name] = m != measured.end() ? m->second : estimate[v.name] * (ratio_n ? ratio_sum / ratio_n : 1.0);
  }
  return cost;
}

// The open tasks of the study's variants, longest first (or held at their rungs under early stopping).
void Coordinator::queue_tasks(std::map<std::string, double> cost) {
  std::map<std::string, const Variant*> by_name;
  for (const auto& v : study_.variants) by_name[v.name] = &v;
  std::map<std::pair<int, int>, const db::FoldCases*> fold_of;
  for (const auto& f : folds_) fold_of[{f.fold, f.repeat}] = &f;
  int done_before = 0;
  const auto rows = store_->tasks(study_id_);
  // A stop during planning leaves the estimates incomplete; nothing is dispatched then, so no shard is needed.
  const bool sharded = opt_.shard.active() && !stop_.load();
  const std::set<std::int64_t> mine = sharded ? shard_task_ids(rows) : std::set<std::int64_t>{};
  for (const auto& row : rows) {
    auto v = by_name.find(row.variant);
    if (v == by_name.end()) continue;  // a variant no longer in the study file: kept, not run
    if (sharded && !mine.count(row.id)) continue;  // another shard's: pending here, done in its own store
    if (row.status == "done") {
      ++done_before;
      continue;
    }
    PlannedTask p;
    p.id = row.id;
    p.variant = v->second;
    p.fold = fold_of.at({row.fold, row.repeat});
    p.cost = cost[row.variant];
    p.attempts_total = row.attempts;
    tasks_.push_back(p);
  }
  if (study_.early_stop.method == "none") group_tasks();
  std::vector<size_t> queued;
  std::vector<double> queued_cost;
  for (size_t i = 0; i < tasks_.size(); ++i) {
    if (!tasks_[i].member) queued.push_back(i), queued_cost.push_back(tasks_[i].cost);
  }
  // Longest first (LPT): the long tasks start early and the short ones fill the gaps at the end.
  for (size_t k : longest_first(queued_cost)) pending_.push_back(queued[k]);
  for (size_t i = 0; i < tasks_.size(); ++i) by_id_[tasks_[i].id] = i;
  if (study_.early_stop.method != "none") plan_rungs();
  spdlog::info("study '{}' in {}{}: {} variant(s) x {} fold(s): {} task(s) done, {} to run on {} worker(s)", name_, db_path_,
               sharded ? " (shard " + std::to_string(opt_.shard.index) + " of " + std::to_string(opt_.shard.count) + ": " +
                             std::to_string(mine.size()) + " of " + std::to_string(rows.size()) + " tasks)"
                       : std::string(),
               study_.variants.size(), folds_.size(), done_before, tasks_.size(), t_.size() - 1);
}

// --shard i/N (runner/shards.hpp): the ids of this shard's tasks. Every task of the study's variants in a
// canonical order (variant ordinal, repeat, fold: row ids differ between the shards' stores), grouped by
// shared training, assigned by the executor's estimates alone: measured seconds differ between the shards'
// stores (and after a requeue), and the elements of an array must all compute the same shards.
std::set<std::int64_t> Coordinator::shard_task_ids(const std::vector<db::TaskRow>& rows) const {
  std::map<std::string, const Variant*> by_name;
  for (const auto& v : study_.variants) by_name[v.name] = &v;
  std::vector<std::pair<const Variant*, const db::TaskRow*>> all;
  for (const auto& row : rows) {
    auto v = by_name.find(row.variant);
    if (v != by_name.end()) all.emplace_back(v->second, &row);
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return std::make_tuple(a.first->ordinal, a.second->repeat, a.second->fold) <
           std::make_tuple(b.first->ordinal, b.second->repeat, b.second->fold);
  });
  std::vector<ShareCandidate> candidates;
  std::vector<double> cost;
  for (const auto& [v, row] : all) {
    candidates.push_back({training_key(v->config), v->ordinal, row->fold, row->repeat, training_not_shareable(v->config).empty()});
    const auto e = estimate_.find(v->name);
    cost.push_back(e == estimate_.end() ? 0.0 : e->second);
  }
  const std::vector<int> shard_of = assign_shards(training_groups(candidates), cost, opt_.shard.count);
  std::set<std::int64_t> mine;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (shard_of[i] == opt_.shard.index) mine.insert(all[i].second->id);
  }
  return mine;
}

// Train once, evaluate many: the open tasks whose variants differ only in evaluation-only keys (same fold
// and repeat) go out as one shared training (docs/RUNNER.md "Shared trainings"). Not under early stopping:
// a shared training never pauses at a rung (the coordinator sets no group there).
void Coordinator::group_tasks() {
  std::vector<ShareCandidate> candidates;
  std::map<const Variant*, std::string> key_of;
  for (const auto& p : tasks_) {
    auto k = key_of.find(p.variant);
    if (k == key_of.end()) k = key_of.emplace(p.variant, training_key(p.variant->config)).first;
    candidates.push_back({k->second, p.variant->ordinal, p.fold->fold, p.fold->repeat,
                          training_not_shareable(p.variant->config).empty()});
  }
  const auto groups = training_groups(candidates);
  for (const auto& g : groups) {
    if (g.size() < 2) continue;
    PlannedTask& lead = tasks_[g.front()];
    for (size_t i = 1; i < g.size(); ++i) {
      lead.shared.push_back(g[i]);
      tasks_[g[i]].member = true;
    }
  }
  const SharingSummary sum = summarize_sharing(groups);
  if (sum.evaluated_from_shared > 0) {
    spdlog::info("{} task(s) to run in {} training(s): {} evaluated from a shared training (evaluation-only keys)", sum.tasks,
                 sum.trainings, sum.evaluated_from_shared);
  }
}

std::string Coordinator::checkpoint_of(const PlannedTask& p) const {
  return (fs::path(workdir_) / p.variant->name /
          ("repeat" + std::to_string(p.fold->repeat) + "-fold" + std::to_string(p.fold->fold) + ".ckpt"))
      .string();
}

void Coordinator::replay_trials() {
  for (const auto& row : store_->trials(study_id_)) {
    auto refuse = [&](const std::string& why) {
      store_->release_lock(study_id_);
      throw RunRefused(RunRefused::kChanged,
                       opt_.study_file + ": stored trial " + std::to_string(row.trial) + " (" + row.variant + ") of the search in " +
                           db_path_ + " " + why +
                           ": the search space changed; restore the study file, or run with --new-study to keep the stored "
                           "study as '" + name_ + "~k' and start afresh");
    };
    const auto& declared = study_.search.declared;
    if (std::find(declared.begin(), declared.end(), row.declared) == declared.end()) continue;  // a variant no longer declared
    if (row.method != study_.search.method) refuse("was proposed by method " + row.method);
    const std::optional<sweeps::Sample> point = sweeps::parse_point(row.point);
    if (!point) refuse("has an unreadable point \"" + row.point + "\" (expected [x0, x1, ...])");
    const sweeps::Sample& x = *point;
    if (x.size() != study_.search.space.size()) refuse("has " + std::to_string(x.size()) + " sampled keys");
    for (std::size_t j = 0; j < x.size(); ++j) {
      const auto& p = study_.search.space[j];
      if (p.dist == sweeps::Distribution::kChoice && !(x[j] >= 0 && x[j] < static_cast<double>(p.choices.size()))) {
        refuse("has no choice " + std::to_string(x[j]) + " of " + p.key);
      }
    }
    Variant v;
    try {
      v = trial_variant(study_, row.declared, row.trial, x);
    } catch (const SpecError& e) {
      refuse(std::string("no longer resolves: ") + e.what());
    }
    if (v.name != row.variant) refuse("is now named " + v.name);
    if (study_.variants.size() == study_.variants.capacity()) refuse("is beyond sweep.trials");
    study_.variants.push_back(std::move(v));
  }
}

// random and sobol trials are known at load time; their rows in `trials` make every search readable the
// same way (reports, status).
void Coordinator::record_sampled_trials() {
  const Search& s = study_.search;
  if (!s.sampled() || s.adaptive()) return;
  std::set<std::string> stored;
  for (const auto& t : store_->trials(study_id_)) stored.insert(t.variant);
  const double now = db::now_seconds();
  for (const auto& v : study_.variants) {
    if (v.trial < 0 || stored.count(v.name)) continue;
    store_->record_trial(study_id_, {v.declared, v.trial, v.name, s.method, sweeps::point_text(v.point), "", now},
                         {v.name, v.label, v.hash, v.canonical, v.ordinal}, recorded_components(v.config.model));
  }
}

bool Coordinator::can_propose() const {
  const Search& s = study_.search;
  if (!s.adaptive()) return false;
  std::map<std::string, int> count;
  for (const auto& v : study_.variants) count[v.declared] += v.trial >= 0;
  for (const auto& d : s.declared) {
    if (count[d] < s.trials) return true;
  }
  return false;
}

void Coordinator::add_tasks_of(const Variant& v) {
  std::map<std::pair<int, int>, const db::FoldCases*> fold_of;
  for (const auto& f : folds_) fold_of[{f.fold, f.repeat}] = &f;
  for (const auto& row : store_->tasks(study_id_)) {
    if (row.variant != v.name || row.status == "done" || by_id_.count(row.id)) continue;
    PlannedTask p;
    p.id = row.id;
    p.variant = &v;
    p.fold = fold_of.at({row.fold, row.repeat});
    p.attempts_total = row.attempts;
    tasks_.push_back(p);
    by_id_[p.id] = tasks_.size() - 1;
    pending_.push_back(tasks_.size() - 1);
  }
}

// TPE, asynchronously: a free worker gets the next proposal from the results stored so far. The proposal
// (with the trials it saw) is stored before any of its tasks is dispatched.
bool Coordinator::propose() {
  if (!can_propose()) return false;
  const Search& s = study_.search;
  // Round robin over the declared variants: the one with the fewest trials.
  std::map<std::string, std::vector<const Variant*>> trials;
  for (const auto& v : study_.variants) {
    if (v.trial >= 0) trials[v.declared].push_back(&v);
  }
  const std::string* pick = nullptr;
  std::size_t fewest = 0;
  for (const auto& d : s.declared) {
    const std::size_t n = trials[d].size();
    if (n < static_cast<std::size_t>(s.trials) && (!pick || n < fewest)) pick = &d, fewest = n;
  }
  auto& mine = trials[*pick];
  std::sort(mine.begin(), mine.end(), [](const Variant* a, const Variant* b) { return a->trial < b->trial; });
  // Observed: the trials of this declared variant whose every task is done, in trial order.
  const auto objectives = store_->validation_objective(study_id_, s.objective);
  std::map<std::string, db::ModelFactRow> facts;
  if (!s.objectives.empty())
    for (auto& f : store_->model_facts(study_id_)) facts[f.variant] = f;
  std::vector<sweeps::Observation> seen;
  std::vector<sweeps::MultiObservation> seen_multi;
  std::string seen_text;
  for (const Variant* v : mine) {
    auto it = objectives.find(v->name);
    if (it == objectives.end() || it->second.done < it->second.tasks || !std::isfinite(it->second.value)) {
      // A trial stopped or paused at a rung: its score there, ranked below every finished trial (as
      // Optuna's TPE ranks pruned trials). Early stopping is refused with several objectives.
      const auto at = rungs_ && s.objectives.empty() ? rungs_->standing(v->name) : std::nullopt;
      if (!at || !std::isfinite(at->second)) continue;
      char buf[80];
      std::snprintf(buf, sizeof buf, "t%03d=%.6g@rung%d", v->trial, at->second, at->first);
      seen_text += (seen_text.empty() ? "" : ", ") + std::string(buf);
      seen.push_back({v->point, rungs_->minimizes() ? at->second : -at->second, at->first});
      continue;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "t%03d=%.6g", v->trial, it->second.value);
    std::string text = buf;
    if (s.objectives.empty()) {
      seen.push_back({v->point, s.minimize ? it->second.value : -it->second.value});
    } else {
      const auto f = facts.find(v->name);
      if (f == facts.end()) continue;  // a trial done before its facts were stored: not observed
      sweeps::Objectives y;
      for (const auto& name : s.objectives) {
        const double value = name == s.objective      ? it->second.value
                             : name == "params"       ? static_cast<double>(f->second.parameters)
                             : name == "inference_ms" ? f->second.inference_ms_per_case
                                                      : f->second.train_seconds;
        y.push_back(sweeps::objective_direction(name) == sweeps::Direction::kMinimize ? value : -value);
        if (name != s.objective) {
          std::snprintf(buf, sizeof buf, "/%.6g", value);
          text += buf;
        }
      }
      seen_multi.push_back({v->point, y});
    }
    seen_text += (seen_text.empty() ? "" : ", ") + text;
  }
  sweeps::TpeOptions options;
  options.n_startup = s.startup;
  const int trial = static_cast<int>(fewest);
  const auto t = static_cast<std::uint64_t>(trial);
  const sweeps::Sample x = s.method == "motpe"   ? sweeps::motpe_sample(s.space, s.seed, t, seen_multi, options)
                           : s.method == "nsga2" ? sweeps::nsga2_sample(s.space, s.seed, t, seen_multi)
                                                 : sweeps::tpe_sample(s.space, s.seed, t, seen, options);
  Variant v = trial_variant(study_, *pick, trial, x);
  store_->record_trial(study_id_, {*pick, trial, v.name, s.method, sweeps::point_text(x), seen_text, db::now_seconds()},
                       {v.name, v.label, v.hash, v.canonical, v.ordinal}, recorded_components(v.config.model));
  spdlog::info("{}: trial {} {} proposed from {} finished or stopped trial(s)", s.method, trial, v.name,
               s.objectives.empty() ? seen.size() : seen_multi.size());
  study_.variants.push_back(std::move(v));
  if (rungs_) rungs_->add_trial(study_.variants.back().name, study_.variants.back().ordinal);
  add_tasks_of(study_.variants.back());
  return true;
}

// Replays the early-stopping log and sorts the open tasks: those due at their trial's rung are queued (the
// tasks of trials past their first rung, i.e. promoted or continued before the last coordinator ended,
// first, as a free worker takes a promotion first), the others wait at their rung.
void Coordinator::plan_rungs() {
  std::vector<std::pair<int, int>> folds;
  bool validation = false;
  for (const auto& f : folds_) {
    folds.emplace_back(f.fold, f.repeat);
    validation = validation || !f.val.empty();
  }
  // Without validation cases the trainer's val_score is the training loss (docs/DATA.md): minimised.
  const std::string objective = validation ? study_.base.train.select_metric : "loss";
  const std::string varied = varied_loss_key(study_);
  if (!varied.empty()) {
    spdlog::info("early stopping: the trials differ in {}, so their validation losses are not comparable: ties at a rung go "
                 "by the validation soft Dice, which does not depend on the loss, else by the trial order", varied);
  }
  rungs_ = std::make_unique<RungScheduler>(study_.early_stop, objective, folds, *store_, study_id_, varied.empty());
  // A grid or a design starts its trials in a seeded random order, numbered in that order (the last
  // tie-break of a rung): a grid's order often runs from worse to better configurations, and ASHA promotes
  // from the trials seen so far. A search's trials keep the sampler's order.
  const bool shuffle = !study_.search.sampled();
  std::vector<std::string> names;
  for (const auto& v : study_.variants) names.push_back(v.name);
  const std::vector<std::size_t> order = sweeps::trial_order(names, study_.base.study.seed);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const Variant& v = study_.variants[order[i]];
    rungs_->add_trial(v.name, shuffle ? static_cast<std::int64_t>(i) : v.ordinal);
  }
  const int replayed = rungs_->replay();
  std::deque<size_t> queued;
  for (size_t idx : pending_) {
    const PlannedTask& p = tasks_[idx];
    if (!rungs_->runnable(p.variant->name, p.fold->fold, p.fold->repeat)) {
      held_[p.variant->name].push_back(idx);
    } else if (rungs_->past_first_rung(p.variant->name)) {
      promoted_.push_back(idx);
    } else {
      queued.push_back(idx);
    }
  }
  if (shuffle) {
    std::stable_sort(queued.begin(), queued.end(), [&](size_t a, size_t b) {
      return rungs_->trial_id(tasks_[a].variant->name) < rungs_->trial_id(tasks_[b].variant->name);
    });
  }
  pending_ = std::move(queued);
  spdlog::info("early stopping ({}): {} logged event(s) replayed; {} task(s) resume from a rung, {} wait at one{}",
               study_.early_stop.method, replayed, promoted_.size(), [&] {
                 size_t n = 0;
                 for (const auto& [v, h] : held_) n += h.size();
                 return n;
               }(), rungs_->populations_text());
}

void Coordinator::act(const std::optional<sweeps::Decision>& d) {
  if (!d) return;
  if (d->kind != sweeps::DecisionKind::kContinue && d->kind != sweeps::DecisionKind::kPromote) return;
  auto it = held_.find(rungs_->variant_of(d->trial));
  if (it == held_.end()) return;
  for (size_t idx : it->second) promoted_.push_back(idx);
  held_.erase(it);
}

// ASHA: a free worker takes a promotion before a new trial (Li et al. 2020, Algorithm 2).
bool Coordinator::take_promotion() {
  if (!rungs_ || !promoted_.empty()) return false;
  auto d = rungs_->promote_next();
  act(d);
  return d.has_value();
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void Coordinator::dispatch(int worker) {
  const auto t0 = std::chrono::steady_clock::now();
  // The first pending task this worker has not failed in this run; a task that failed on every worker
  // may run anywhere.
  const int workers = t_.size() - 1 - static_cast<int>(retired_.size());
  for (std::deque<size_t>* queue : {&promoted_, &pending_})
  for (auto it = queue->begin(); it != queue->end(); ++it) {
    PlannedTask& p = tasks_[*it];
    bool avoid = p.failed_on.count(worker) && static_cast<int>(p.failed_on.size()) < workers;
    if (avoid) continue;
    size_t idx = *it;
    queue->erase(it);
    Task task;
    task.task_id = p.id;
    task.study = name_;
    task.variant = p.variant->name;
    task.variant_hash = p.variant->hash;
    task.canonical_config = p.variant->canonical;
    task.fold = p.fold->fold;
    task.repeat = p.fold->repeat;
    task.seed = task_seed(study_.base.study, p.fold->repeat);
    task.train_cases = p.fold->train;
    task.val_cases = p.fold->val;
    task.test_cases = p.fold->test;
    task.checkpoint_path = checkpoint_of(p);
    std::error_code ec;
    fs::create_directories(fs::path(task.checkpoint_path).parent_path(), ec);
    ++p.attempts_total;
    ++p.attempts_run;
    task.attempt = p.attempts_total;
    if (rungs_) task.pause_after_epoch = rungs_->pause_epoch(p.variant->name);
    // The members of a shared training are trained and evaluated where their trainer is (the worker places
    // the task by the trainer's configuration): that is where their results come from (the reports' devices).
    const Placement where = place_task(workers_.at(worker), p.variant->config);
    store_->mark_running(p.id, where, db::now_seconds());
    for (size_t q : p.shared) {
      PlannedTask& m = tasks_[q];
      ++m.attempts_total;
      ++m.attempts_run;
      task.shared_with.push_back({m.id, m.variant->name, m.variant->hash, m.variant->canonical, m.attempts_total});
      store_->mark_running(m.id, where, db::now_seconds());
    }
    if (!p.shared.empty()) {
      spdlog::info("{} fold {} repeat {}: one training for {} task(s) (evaluation-only keys differ)", p.variant->name,
                   p.fold->fold, p.fold->repeat, p.shared.size() + 1);
      if (opt_.stats) opt_.stats->shared_dispatched += static_cast<int>(p.shared.size());
    }
    t_.send(worker, encode(task));
    idle_.erase(worker);
    running_[worker] = idx;
    if (opt_.stats) {
      opt_.stats->tasks_dispatched++;
      opt_.stats->dispatch_seconds += since(t0);
    }
    return;
  }
}

void Coordinator::handle(const Envelope& env) {
  switch (kind_of(env.bytes)) {
    case MessageKind::kReady: {
      workers_[env.source] = decode_ready(env.bytes);
      idle_.insert(env.source);
      return;
    }
    case MessageKind::kProgress: {
      const auto t0 = std::chrono::steady_clock::now();
      Progress p = decode_progress(env.bytes);
      store_->record_epoch(p.task_id, p.epoch);
      if (opt_.stats) opt_.stats->progress_seconds += since(t0);
      return;
    }
    case MessageKind::kResult: {
      const auto t0 = std::chrono::steady_clock::now();
      struct Account {
        const RunOptions& o;
        std::chrono::steady_clock::time_point t0;
        ~Account() {
          if (o.stats) {
            o.stats->results++;
            o.stats->result_seconds += since(t0);
          }
        }
      } account{opt_, t0};
      ResultMessage r = decode_result(env.bytes);
      running_.erase(env.source);
      idle_.insert(env.source);
      if (r.retired) {
        idle_.erase(env.source);
        retired_.insert(env.source);
        spdlog::error("worker {} retired ({} of {} left): {}", env.source, t_.size() - 1 - retired_.size(), t_.size() - 1, r.error);
      }
      auto it = by_id_.find(r.task_id);
      if (it == by_id_.end()) throw MessageError("result of unknown task " + std::to_string(r.task_id));
      PlannedTask& p = tasks_[it->second];
      if (!p.shared.empty()) {
        handle_group(env.source, it->second, r);
        return;
      }
      const double now = db::now_seconds();
      const std::string what = p.variant->name + " fold " + std::to_string(p.fold->fold) + " repeat " + std::to_string(p.fold->repeat);
      if (r.outcome == Outcome::kDone && rungs_ && r.result.paused_after_epoch > 0) {
        held_[p.variant->name].push_back(it->second);
        spdlog::info("paused: {} after epoch {} ({:.1f} s)", what, r.result.paused_after_epoch, r.seconds);
        act(rungs_->paused(p.id, p.variant->name, p.fold->fold, p.fold->repeat, r.result, now));
      } else if (r.outcome == Outcome::kDone) {
        if (rungs_) {
          act(rungs_->done(p.id, p.variant->name, p.fold->fold, p.fold->repeat, r.result, now));
        } else {
          store_->record_done(p.id, r.result, now);
        }
        ++done_;
        spdlog::info("done: {} ({:.1f} s, {} of {} this run)", what, r.seconds, done_, tasks_.size());
        // The checkpoint served its purpose: the results are stored.
        std::error_code ec;
        fs::remove(checkpoint_of(p), ec);
      } else if (r.outcome == Outcome::kInterrupted) {
        store_->record_interrupted(p.id, r.error, now);
        spdlog::warn("interrupted: {}: {}", what, r.error);
        stopping_ = true;  // a worker was told to stop: the job is being stopped
      } else {
        store_->record_failed(p.id, r.error, now);
        p.failed_on.insert(env.source);
        // An out-of-memory would recur; a retired worker's failure is the worker's, not the task's.
        if ((p.attempts_run <= opt_.max_retries || r.retired) && r.outcome != Outcome::kOutOfMemory && !stopping_) {
          spdlog::warn("failed (attempt {}, retrying): {}: {}", p.attempts_total, what, r.error);
          pending_.push_front(it->second);
        } else {
          ++failed_final_;
          spdlog::error("failed (attempt {}, no retries left): {}: {}", p.attempts_total, what, r.error);
          if (rungs_ && !stopping_) act(rungs_->failed(p.variant->name, p.fold->fold, p.fold->repeat));
        }
      }
      return;
    }
    case MessageKind::kWorkerError:
      throw std::runtime_error("worker " + std::to_string(env.source) + " failed outside a task: " +
                               decode_worker_error(env.bytes));
    default:
      throw MessageError("coordinator: unexpected message kind from rank " + std::to_string(env.source));
  }
}

// The end of a shared training. The training failed or was interrupted: every member failed (and the group
// is retried as a unit) or was interrupted. It ended: the members that were evaluated are stored together,
// in one transaction; a member whose evaluation failed is failed alone and retried as a task of its own.
void Coordinator::handle_group(int worker, size_t idx, const ResultMessage& r) {
  PlannedTask& lead = tasks_[idx];
  std::vector<size_t> all{idx};
  all.insert(all.end(), lead.shared.begin(), lead.shared.end());
  const double now = db::now_seconds();
  auto what = [&](size_t i) {
    const PlannedTask& p = tasks_[i];
    return p.variant->name + " fold " + std::to_string(p.fold->fold) + " repeat " + std::to_string(p.fold->repeat);
  };
  auto give_up = [&](size_t i, const std::string& error) {
    ++failed_final_;
    spdlog::error("failed (attempt {}, no retries left): {}: {}", tasks_[i].attempts_total, what(i), error);
  };
  if (r.outcome == Outcome::kInterrupted) {
    for (size_t i : all) store_->record_interrupted(tasks_[i].id, r.error, now);
    spdlog::warn("interrupted: the shared training of {} ({} task(s)): {}", what(idx), all.size(), r.error);
    stopping_ = true;
    return;
  }
  if (r.outcome == Outcome::kFailed || r.outcome == Outcome::kOutOfMemory) {
    for (size_t i : all) {
      store_->record_failed(tasks_[i].id, r.error, now);
      tasks_[i].failed_on.insert(worker);
    }
    if ((lead.attempts_run <= opt_.max_retries || r.retired) && r.outcome != Outcome::kOutOfMemory && !stopping_) {
      spdlog::warn("failed (attempt {}, retrying the {} task(s) sharing it): the training of {}: {}", lead.attempts_total,
                   all.size(), what(idx), r.error);
      pending_.push_front(idx);
    } else {
      for (size_t i : all) give_up(i, r.error);
    }
    return;
  }
  std::map<std::int64_t, const MemberResult*> by_task;
  for (const auto& m : r.members) by_task[m.task_id] = &m;
  std::vector<std::pair<std::int64_t, TaskResult>> done;
  std::vector<std::pair<size_t, std::string>> failed;
  std::set<size_t> out_of_memory;  // failed members that would fail the same way again
  for (size_t i : all) {
    auto m = by_task.find(tasks_[i].id);
    if (m == by_task.end()) {
      failed.emplace_back(i, "no result came back for it from the shared training");
    } else if (m->second->outcome == Outcome::kDone) {
      done.emplace_back(tasks_[i].id, m->second->result);
    } else {
      failed.emplace_back(i, m->second->error);
      if (m->second->outcome == Outcome::kOutOfMemory) out_of_memory.insert(i);
    }
  }
  store_->record_done(lead.id, done, now);
  done_ += static_cast<int>(done.size());
  spdlog::info("done: {} of the {} task(s) trained once with {} ({:.1f} s, {} of {} this run)", done.size(), all.size(), what(idx),
               r.seconds, done_, tasks_.size());
  std::error_code ec;
  fs::remove(checkpoint_of(lead), ec);  // the group's; a member retried alone trains afresh
  lead.shared.clear();
  for (const auto& [i, error] : failed) {
    PlannedTask& p = tasks_[i];
    p.member = false;
    store_->record_failed(p.id, error, now);
    p.failed_on.insert(worker);
    if (p.attempts_run <= opt_.max_retries && !out_of_memory.count(i) && !stopping_) {
      spdlog::warn("failed (attempt {}, retrying on its own): {}: {}", p.attempts_total, what(i), error);
      pending_.push_front(i);
    } else {
      give_up(i, error);
    }
  }
}

void Coordinator::shutdown_workers() {
  for (int w = 1; w < t_.size(); ++w) t_.send(w, encode_shutdown());
}

// Planned, the lock held, and every worker checked its device; or the lock released and the error passed on.
void Coordinator::start(bool& started) {
  try {
    plan();
  } catch (...) {
    // Leave no lock behind a refused or failed start.
    if (store_ && study_id_ != 0) {
      try {
        store_->release_lock(study_id_);
      } catch (const std::exception&) {
      }
    }
    throw;
  }
  Welcome welcome;
  welcome.ranks_per_gpu = std::max(1, study_.base.resources.ranks_per_gpu);
  welcome.gpus_per_node = study_.base.resources.gpus_per_node;
  welcome.gpus_required = study_wants_gpu(study_);
  for (int w = 1; w < t_.size(); ++w) t_.send(w, encode(welcome));
  started = true;
  try {
    workers_ = await_workers(t_);  // every worker checked its device before any task goes out
  } catch (const RunRefused&) {
    started = false;  // nothing was sent: the workers are just shut down (exit 2)
    store_->end_run(run_id_, 2);
    store_->release_lock(study_id_);
    throw;
  }
  for (const auto& [w, p] : workers_) idle_.insert(w);
  Placement self;  // the coordinator's own GPUs, none under the Slurm script's per-rank wrapper
  self.host = t_.node().host;
  self.given_gpus = given_gpus();
  store_->set_provenance(study_id_, device_provenance(workers_, self));
}

int Coordinator::run(bool& started) {
  start(started);
  auto last_beat = std::chrono::steady_clock::now();
  const auto first_dispatch = last_beat;
  if (opt_.stats) opt_.stats->workers = t_.size() - 1;
  Envelope env;
  for (;;) {
    if (stop_.load() && !stopping_) {
      spdlog::warn("stop requested: no new tasks; waiting for {} running task(s) to checkpoint", running_.size());
      stopping_ = true;
    }
    if (!stopping_) {
      for (int w : std::vector<int>(idle_.begin(), idle_.end())) {
        take_promotion();
        if (pending_.empty() && promoted_.empty() && !propose()) break;
        dispatch(w);
      }
    }
    const bool no_workers = static_cast<int>(retired_.size()) == t_.size() - 1;
    if (running_.empty() && (no_workers ||
        stopping_ || (pending_.empty() && promoted_.empty() && !(rungs_ && rungs_->has_promotion()) && !can_propose()))) {
      break;
    }
    if (t_.receive(env, 0.5)) handle(env);
    // Drain whatever else has arrived before dispatching again.
    while (t_.receive(env, 0.0)) handle(env);
    if (std::chrono::steady_clock::now() - last_beat > std::chrono::duration<double>(opt_.heartbeat_seconds)) {
      store_->heartbeat(study_id_);
      last_beat = std::chrono::steady_clock::now();
    }
  }
  if (opt_.stats) opt_.stats->makespan_seconds = since(first_dispatch);
  if (rungs_) spdlog::info("early stopping: rung populations{}", rungs_->populations_text());
  shutdown_workers();
  return finish();
}

int Coordinator::finish() {
  // Exit codes are a contract (README "Exit codes"): a study that still holds failed tasks exits 1 whatever
  // the policy. Under early stopping a fold that failed for good in an earlier run is logged out of its
  // trial and never dispatched again, so this run's own failures are not the whole count.
  std::vector<std::string> failed_before;
  for (const auto& t : store_->tasks(study_id_)) {
    if (t.status == "failed" && by_id_.count(t.id) && tasks_[by_id_.at(t.id)].attempts_run == 0) {
      failed_before.push_back(t.variant + " fold " + std::to_string(t.fold) + " repeat " + std::to_string(t.repeat));
    }
  }
  const bool all_retired = static_cast<int>(retired_.size()) == t_.size() - 1;
  if (all_retired) spdlog::error("every worker retired after a sticky device error: the tasks left are pending; run again on working GPUs");
  int code = run_exit_code(stopping_, failed_final_, static_cast<int>(failed_before.size()));
  if (code == kRunOk && all_retired) code = kRunFailed;
  store_->end_run(run_id_, code);
  store_->release_lock(study_id_);
  if (code == kRunInterrupted) {
    spdlog::warn("stopped: everything is stored in {}; run the same command again to resume (exit {})", db_path_, code);
  } else if (code == kRunFailed) {
    if (failed_final_ > 0) {
      spdlog::error("{} task(s) failed after {} retr{}; the others are stored in {} (ablate status --db {})", failed_final_,
                    opt_.max_retries, opt_.max_retries == 1 ? "y" : "ies", db_path_, db_path_);
    }
    if (!failed_before.empty()) {
      std::string list;
      for (std::size_t i = 0; i < failed_before.size() && i < 5; ++i) list += (i ? ", " : "") + failed_before[i];
      if (failed_before.size() > 5) list += " and " + std::to_string(failed_before.size() - 5) + " more";
      spdlog::error("{} task(s) failed in an earlier run and stay failed: early stopping ({}) logged them out of their "
                    "trial for good, so they are not retried ({}); the study in {} is incomplete (ablate status --db {}; "
                    "--new-study starts afresh)",
                    failed_before.size(), study_.early_stop.method, list, db_path_, db_path_);
    }
  } else if (opt_.shard.active()) {
    spdlog::info("study '{}', shard {} of {} complete: results in {} (the other shards' tasks stay pending there; "
                 "ablate merge joins the shards)",
                 name_, opt_.shard.index, opt_.shard.count, db_path_);
  } else {
    spdlog::info("study '{}' complete: results in {}", name_, db_path_);
  }
  return code;
}

}  // namespace

int run_coordinator(const RunOptions& options, Transport& transport, Executor& executor, const std::atomic<bool>& stop,
                    bool& started) {
  Coordinator c(options, transport, executor, stop);
  return c.run(started);
}

}  // namespace ablate::runner
