// The fixture of the tests of the store on real SQLite files (db_store_test, db_early_stop_test): a fresh
// folder per test (test_dir.hpp), removed at the end, with `path_` a store file in it that the test
// creates; and the small study that most of those tests start from.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "db/store.hpp"
#include "test_dir.hpp"

namespace store_test {

// The variants of a study, each with its components text:
// e.g. {{"unet", "U-Net", "h1", "model.cc = false\n", 0}, ""}.
using Variants = std::vector<std::pair<ablate::db::VariantRow, std::string>>;

class StoreFixture : public ::testing::Test {
 protected:
  // The folder is <temp>/PREFIX-<pid>-<test name>; `variants` are those of the study that fill() stores.
  StoreFixture(std::string prefix, Variants variants)
      : prefix_(std::move(prefix)), variants_(std::move(variants)) {}

  void SetUp() override {
    dir_ = fresh_test_dir(prefix_);
    path_ = (dir_ / "s.sqlite").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Study "st" (seed 42, 2 folds, 1 repeat) with the fixture's variants, two folds over the cases a, b, c,
  // d, and its tasks created; returns the study's id.
  std::int64_t fill(ablate::db::Store& s) const {
    const auto id = s.create_study({"st", 42, 2, 1});
    for (const auto& [v, components] : variants_) s.upsert_variant(id, v, components);
    s.store_folds(id, {{0, 0, {"a", "b"}, {"c"}, {"d"}}, {1, 0, {"c", "d"}, {"a"}, {"b"}}});
    s.ensure_tasks(id);
    return id;
  }

  std::filesystem::path dir_;
  std::string path_;

 private:
  std::string prefix_;
  Variants variants_;
};

}  // namespace store_test
