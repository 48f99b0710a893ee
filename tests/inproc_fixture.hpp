// The fixture of the tests that run whole studies in this process with scripted executors
// (runner_inproc_test, runner_search_test, runner_early_stop_test): a fresh folder per test (test_dir.hpp),
// removed at the end; run options with the store s.sqlite in it, a number of in-process workers, and
// fixed case ids split round-robin into folds instead of a dataset; the stop flag clear before and after
// each test (a test may raise it, as a SIGTERM would).
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "ablations/config.hpp"
#include "runner/run.hpp"
#include "test_dir.hpp"

namespace inproc_test {

// The folds of `cases` without a dataset: case i is the test case of fold i mod folds and a training case
// of every other fold.
inline std::vector<ablate::runner::CaseSplit> round_robin_splits(const std::vector<std::string>& cases,
                                                                 const ablate::StudyConfig& s, int /*repeat*/) {
  std::vector<ablate::runner::CaseSplit> out(s.folds);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    for (int f = 0; f < s.folds; ++f) (static_cast<int>(i) % s.folds == f ? out[f].test : out[f].train).push_back(cases[i]);
  }
  return out;
}

// round_robin_splits with the first training case of each fold moved to its validation cases: a study
// whose validation objective (a search's, early stopping's) is a validation metric, not the training loss.
inline std::vector<ablate::runner::CaseSplit> validation_splits(const std::vector<std::string>& cases,
                                                                const ablate::StudyConfig& s, int repeat) {
  std::vector<ablate::runner::CaseSplit> out = round_robin_splits(cases, s, repeat);
  for (auto& split : out) {
    split.val.push_back(split.train.front());
    split.train.erase(split.train.begin());
  }
  return out;
}

class InprocFixture : public ::testing::Test {
 protected:
  // The folder is <temp>/PREFIX-<pid>-<test name>.
  InprocFixture(std::string prefix, int workers, std::vector<std::string> cases)
      : prefix_(std::move(prefix)), workers_(workers), cases_(std::move(cases)) {}

  void SetUp() override {
    dir_ = fresh_test_dir(prefix_);
    opt_.db_path = (dir_ / "s.sqlite").string();
    opt_.inproc_workers = workers_;
    opt_.list_cases = [cases = cases_](const ablate::DataConfig&) { return cases; };
    opt_.make_splits = round_robin_splits;
    ablate::runner::stop_flag().store(false);
  }
  void TearDown() override {
    ablate::runner::stop_flag().store(false);
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  ablate::runner::RunOptions opt_;

 private:
  std::string prefix_;
  int workers_;
  std::vector<std::string> cases_;
};

}  // namespace inproc_test
