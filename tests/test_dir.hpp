// A folder of one test: <temp>/PREFIX-<pid>-<test name>, so that test processes running at once (ctest -j,
// one process per test) never share one; made afresh, emptied of what a crashed earlier run left there.
// The fixtures that use it (store_fixture.hpp, inproc_fixture.hpp) remove it in their TearDown.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

inline std::filesystem::path fresh_test_dir(const std::string& prefix) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    (prefix + "-" + std::to_string(::getpid()) + "-" +
                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}
