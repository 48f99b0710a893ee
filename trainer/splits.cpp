// Folds over cases (never over slices), deterministic from the study seed with a fixed permutation
// algorithm (trainer/data/random.hpp), so every platform and every variant of a study gets the same folds.
#include "trainer/splits.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <set>
#include <stdexcept>

#include "ablations/study.hpp"
#include "trainer/data/dataset.hpp"
#include "trainer/data/random.hpp"

namespace ablate::trainer {

std::vector<std::string> list_cases(const DataConfig& data) {
  if (data.path.empty()) throw std::runtime_error("data.path is empty: set it to a Medical Segmentation Decathlon folder");
  std::vector<std::string> ids;
  for (const auto& c : data::read_dataset(data.path).cases) ids.push_back(c.id);
  return ids;
}

std::string dataset_fingerprint(const DataConfig& data) {
  if (data.path.empty()) throw std::runtime_error("data.path is empty: set it to a Medical Segmentation Decathlon folder");
  const data::DatasetInfo info = data::read_dataset(data.path);
  const std::filesystem::path root(info.root);
  std::string text;
  auto add = [&](const std::filesystem::path& file) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(file, ec);
    if (ec) throw std::runtime_error(file.string() + ": cannot read its size for the dataset fingerprint: " + ec.message());
    const auto mtime = std::filesystem::last_write_time(file, ec);
    if (ec) throw std::runtime_error(file.string() + ": cannot read its modification time for the dataset fingerprint: " + ec.message());
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(mtime.time_since_epoch()).count();
    text += file.lexically_relative(root).generic_string() + " " + std::to_string(size) + " " + std::to_string(seconds) + "\n";
  };
  add(root / "dataset.json");
  for (const auto& c : info.cases) {
    add(c.image);
    add(c.label);
  }
  return sha256_hex(text).substr(0, 16);
}

namespace {

// Holds out round(fraction * n) of `pool` (at least 1 when fraction > 0 and n >= 2, never all) for validation.
void hold_out(std::vector<std::string> pool, double fraction, data::Rng& rng, Split& split) {
  data::shuffle(pool, rng);
  std::size_t n_val = 0;
  if (fraction > 0 && pool.size() >= 2) {
    n_val = static_cast<std::size_t>(std::lround(fraction * pool.size()));
    n_val = std::clamp<std::size_t>(n_val, 1, pool.size() - 1);
  }
  split.val.assign(pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(n_val));
  split.train.assign(pool.begin() + static_cast<std::ptrdiff_t>(n_val), pool.end());
  std::sort(split.val.begin(), split.val.end());
  std::sort(split.train.begin(), split.train.end());
}

}  // namespace

std::vector<Split> make_splits(const std::vector<std::string>& cases_in, const StudyConfig& study, int repeat) {
  std::set<std::string> unique(cases_in.begin(), cases_in.end());
  if (unique.size() != cases_in.size()) throw std::runtime_error("make_splits: the case list holds duplicate ids");
  // Sorted first, so the folds depend on the set of cases and the seed, not on dataset.json order.
  std::vector<std::string> cases(unique.begin(), unique.end());
  const std::size_t n = cases.size();
  if (!(study.validation_fraction >= 0.0 && study.validation_fraction < 1.0)) {
    throw std::runtime_error("study.validation_fraction = " + std::to_string(study.validation_fraction) + ": allowed [0, 1)");
  }
  data::Rng rng(data::mix_seed(study.seed, static_cast<std::uint64_t>(repeat), 0xF01D5));
  std::vector<std::string> order = cases;
  data::shuffle(order, rng);
  std::vector<Split> splits;

  if (!study.split.empty()) {
    // Fixed train/validation/test ratios (001: e.g. 236/5/40 cases of MSD pancreas).
    if (study.split.size() != 3) {
      throw std::runtime_error("study.split must hold 3 ratios [train, validation, test], got " + std::to_string(study.split.size()));
    }
    double sum = 0;
    for (double r : study.split) {
      if (!(r >= 0)) throw std::runtime_error("study.split: ratios must be >= 0");
      sum += r;
    }
    if (std::abs(sum - 1.0) > 1e-6) throw std::runtime_error("study.split: ratios must sum to 1 (got " + std::to_string(sum) + ")");
    if (n < 3) throw std::runtime_error("study.split needs at least 3 cases, the dataset has " + std::to_string(n));
    std::size_t n_test = static_cast<std::size_t>(std::lround(study.split[2] * n));
    std::size_t n_val = static_cast<std::size_t>(std::lround(study.split[1] * n));
    if (study.split[2] > 0) n_test = std::max<std::size_t>(n_test, 1);
    if (study.split[1] > 0) n_val = std::max<std::size_t>(n_val, 1);
    if (n_test + n_val >= n) throw std::runtime_error("study.split leaves no training case for " + std::to_string(n) + " cases");
    Split s;
    s.test.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_test));
    s.val.assign(order.begin() + static_cast<std::ptrdiff_t>(n_test), order.begin() + static_cast<std::ptrdiff_t>(n_test + n_val));
    s.train.assign(order.begin() + static_cast<std::ptrdiff_t>(n_test + n_val), order.end());
    for (auto* v : {&s.train, &s.val, &s.test}) std::sort(v->begin(), v->end());
    splits.push_back(std::move(s));
    return splits;
  }

  const int k = study.folds;
  if (k < 2) throw std::runtime_error("study.folds = " + std::to_string(k) + ": allowed >= 2 (or set study.split)");
  if (static_cast<std::size_t>(k) > n) {
    throw std::runtime_error("study.folds = " + std::to_string(k) + " exceeds the number of cases (" + std::to_string(n) + ")");
  }
  // Fold f tests the cases at positions f, f + k, ... of the permutation: sizes differ by at most one.
  for (int f = 0; f < k; ++f) {
    Split s;
    std::vector<std::string> pool;
    for (std::size_t i = 0; i < n; ++i) (static_cast<int>(i % k) == f ? s.test : pool).push_back(order[i]);
    std::sort(s.test.begin(), s.test.end());
    data::Rng fold_rng(data::mix_seed(study.seed, static_cast<std::uint64_t>(repeat), 0xA11D, static_cast<std::uint64_t>(f)));
    hold_out(std::move(pool), study.validation_fraction, fold_rng, s);
    splits.push_back(std::move(s));
  }
  return splits;
}

}  // namespace ablate::trainer
