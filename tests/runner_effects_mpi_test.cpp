// Integration: a tiny full factorial (2^2: U-Net, +CC, +SC, +CC+SC) generated from an [ablation] design,
// run by the real `ablate run` under `mpirun -np 3`, then `ablate report`: the store holds the design
// (provenance study_design) and the report's effects table has the main effects, the interaction and the
// Shapley values with intervals, and the sum of the Shapley values equals full model - baseline.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "db/store.hpp"
#include "mpi_util.hpp"

namespace fs = std::filesystem;

using namespace mpi_util;

TEST(RunnerEffectsMpi, TinyFactorialReportShowsEffectsWithIntervals) {
  allow_mpirun_as_root();
  const fs::path dir = fs::temp_directory_path() / ("ablate-effects-test-" + std::to_string(::getpid()));
  const std::string exe = ABLATE_EXE;
  ASSERT_EQ(fresh_dir_with_data(dir, 6, 6), 0) << read_file(dir / "synth.log");
  std::ofstream(dir / "f.toml") << "[study]\nname = \"f\"\nseed = 3\nfolds = 2\n"
                                << "[data]\npath = \"data\"\nimage_size = 32\n"
                                << "[model]\nwidths = [4, 8, 16]\n"
                                << "[train]\nepochs = 1\nsteps_per_epoch = 2\nbatch_size = 2\nthreads = 1\nlr = 0.003\n"
                                << "[report]\nmetrics = [\"dice\"]\n"
                                << "[ablation]\nbaseline = { name = \"unet\", label = \"U-Net\" }\n"
                                << "components = [{ label = \"CC\", set = { \"model.cc\" = true } },\n"
                                << "              { label = \"SC\", set = { \"model.sc\" = true } }]\n"
                                << "design = \"factorial\"\n";
  ASSERT_EQ(run(mpirun(3) + exe + " run " + (dir / "f.toml").string(), dir / "run.log"), 0)
      << read_file(dir / "run.log");
  {
    ablate::db::Store s((dir / "f.sqlite").string(), true);
    EXPECT_EQ(s.query_int("SELECT count(*) FROM tasks WHERE status = 'done'"), 8);
    EXPECT_NE(s.query_text("SELECT value FROM provenance WHERE key = 'study_design'").find("variant cc-sc = 3"),
              std::string::npos);
  }
  ASSERT_EQ(run(exe + " report --db " + (dir / "f.sqlite").string() + " --out " + (dir / "report").string(),
                dir / "report.log"),
            0)
      << read_file(dir / "report.log");
  const std::string md = read_file(dir / "report" / "effects-f.md");
  for (const char* want : {"| DSC | main effect | CC |", "| DSC | main effect | SC |", "| DSC | interaction | CC×SC |",
                           "| DSC | Shapley value | CC |", "| DSC | Shapley value | SC |"}) {
    EXPECT_NE(md.find(want), std::string::npos) << want << "\n" << md;
  }
  // Every estimate has an interval [lo, hi] around it.
  const std::regex row(R"(\| (-?[0-9.]+) \| \[(-?[0-9.]+), (-?[0-9.]+)\] \| 6 \|)");
  int rows = 0;
  for (auto it = std::sregex_iterator(md.begin(), md.end(), row); it != std::sregex_iterator(); ++it, ++rows) {
    const double est = std::stod((*it)[1]), lo = std::stod((*it)[2]), hi = std::stod((*it)[3]);
    EXPECT_LE(lo, est + 0.005);
    EXPECT_GE(hi, est - 0.005);
  }
  EXPECT_EQ(rows, 5) << md;
  // Efficiency: the two numbers of the line are equal to rounding.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(md, m, std::regex(R"(Σ Shapley = (-?[0-9.]+), full − baseline = (-?[0-9.]+))"))) << md;
  EXPECT_NEAR(std::stod(m[1]), std::stod(m[2]), 0.011);
  const std::string html = read_file(dir / "report" / "report.html");
  EXPECT_NE(html.find("<h2 id=\"effects\">"), std::string::npos);
  EXPECT_NE(html.find("stroke-dasharray"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "report" / "effects-f.svg"));
  fs::remove_all(dir);
}
