// The store's journal mode: WAL on a local file system, a rollback journal on a network file system (a
// login node reading the store of a running job: SQLite's WAL needs shared memory on one host), and
// ABLATE_DB_JOURNAL to choose by hand. A store keeps its results when it changes mode.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "db/store.hpp"

namespace fs = std::filesystem;
using namespace ablate::db;

namespace {

class Journal : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ablate-journal-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    unsetenv("ABLATE_DB_JOURNAL");
  }
  void TearDown() override {
    unsetenv("ABLATE_DB_JOURNAL");
    fs::remove_all(dir_);
  }
  fs::path dir_;
};

}  // namespace

TEST_F(Journal, NetworkFileSystemsAreKnownByTheirMagic) {
  EXPECT_EQ(network_file_system_name(0x6969), "nfs");
  EXPECT_EQ(network_file_system_name(0x0BD00BD0), "lustre");
  EXPECT_EQ(network_file_system_name(0x47504653), "gpfs");
  EXPECT_EQ(network_file_system_name(0x19830326), "beegfs");
  EXPECT_EQ(network_file_system_name(static_cast<long>(0xFF534D42UL)), "cifs");
  EXPECT_EQ(network_file_system_name(0xEF53), "");      // ext4
  EXPECT_EQ(network_file_system_name(0x01021994), "");  // tmpfs
  EXPECT_EQ(network_file_system_name(0x794C7630), "");  // overlayfs
  EXPECT_EQ(network_file_system_name(0x58465342), "");  // xfs
}

TEST_F(Journal, LocalStoreUsesWalAndAForcedRollbackJournalKeepsTheData) {
  const std::string db = (dir_ / "sub" / "s.sqlite").string();
  fs::create_directories(dir_ / "sub");
  // The folder of a store not yet created decides; this machine's /tmp may itself be remote.
  const std::string remote = network_file_system(db);
  {
    Store s(db);
    EXPECT_EQ(s.journal_mode(), remote.empty() ? "wal" : "delete") << remote;
    s.exec("CREATE TABLE IF NOT EXISTS probe(x INTEGER)");
    s.exec("INSERT INTO probe VALUES (42)");
  }
  setenv("ABLATE_DB_JOURNAL", "delete", 1);
  {
    Store s(db);
    EXPECT_EQ(s.journal_mode(), "delete");
    EXPECT_EQ(s.query_int("SELECT x FROM probe"), 42);
  }
  EXPECT_FALSE(fs::exists(db + "-wal"));
  {
    Store reader(db, true);
    EXPECT_EQ(reader.journal_mode(), "delete");
    EXPECT_EQ(reader.query_int("SELECT x FROM probe"), 42);
  }
  setenv("ABLATE_DB_JOURNAL", "wal", 1);
  EXPECT_EQ(Store(db).journal_mode(), "wal");
  setenv("ABLATE_DB_JOURNAL", "memory", 1);
  try {
    Store s(db);
    FAIL();
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("ABLATE_DB_JOURNAL=memory"), std::string::npos) << e.what();
  }
}
