// Job scripts of `ablate submit`: the Slurm directives follow [resources], the requeue contract is in
// place, the scripts are valid bash, and malformed resources are refused with the key named.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "cluster/job.hpp"

using namespace ablate;

namespace {

cluster::JobOptions options(const std::string& scheduler) {
  cluster::JobOptions o;
  o.scheduler = scheduler;
  o.study_file = "/s/study dir/table2.toml";
  o.db_file = "/s/table2.sqlite";
  o.ablate_exe = "/opt/ablate/bin/ablate";
  o.log_dir = "/s/logs";
  o.job_name = "ablate-table2";
  return o;
}

bool bash_syntax_ok(const std::string& script) {
  const std::string path = "/tmp/ablate-job-test.sh";
  std::ofstream(path) << script;
  int rc = std::system(("bash -n " + path).c_str());
  std::remove(path.c_str());
  return rc == 0;
}

}  // namespace

TEST(JobScript, SlurmDirectivesFollowResources) {
  ResourcesConfig r;
  r.ranks = 9;
  r.nodes = 2;
  r.gpus_per_node = 4;
  r.cpus_per_rank = 8;
  r.time = "1-12:00:00";
  r.partition = "gpu";
  r.account = "lab";
  r.memory = "64G";
  const std::string s = cluster::job_script(r, options("slurm"));
  for (const char* line : {"#SBATCH --nodes=2\n", "#SBATCH --ntasks=9\n", "#SBATCH --ntasks-per-node=5\n",
                           "#SBATCH --cpus-per-task=8\n", "#SBATCH --time=1-12:00:00\n", "#SBATCH --gpus-per-node=4\n",
                           "#SBATCH --partition=gpu\n", "#SBATCH --account=lab\n", "#SBATCH --mem=64G\n",
                           "#SBATCH --signal=USR1@300\n", "#SBATCH --requeue\n"}) {
    EXPECT_NE(s.find(line), std::string::npos) << line;
  }
  // The study path with a space is quoted; exit code 3 triggers the requeue.
  EXPECT_NE(s.find("'/opt/ablate/bin/ablate' run '/s/study dir/table2.toml' --db '/s/table2.sqlite'"), std::string::npos);
  EXPECT_NE(s.find("if [ \"$rc\" -eq 3 ]; then"), std::string::npos);
  EXPECT_TRUE(bash_syntax_ok(s));
}

TEST(JobScript, CpuJobHasNoGpuDirectiveAndNoEmptyOnes) {
  ResourcesConfig r;
  const std::string s = cluster::job_script(r, options("slurm"));
  EXPECT_EQ(s.find("--gpus-per-node"), std::string::npos);
  EXPECT_EQ(s.find("--partition"), std::string::npos);
  EXPECT_EQ(s.find("--account"), std::string::npos);
}

TEST(JobScript, MpirunScriptUsesHostfile) {
  ResourcesConfig r;
  r.ranks = 4;
  auto o = options("mpirun");
  o.hostfile = "/s/hosts";
  const std::string s = cluster::job_script(r, o);
  EXPECT_NE(s.find("exec mpirun -np 4 --hostfile '/s/hosts' '/opt/ablate/bin/ablate' run"), std::string::npos);
  EXPECT_TRUE(bash_syntax_ok(s));
  o.hostfile.clear();
  EXPECT_NE(cluster::job_script(r, o).find("mpirun -np 4 --oversubscribe"), std::string::npos);
}

TEST(JobScript, MalformedResourcesNameTheKey) {
  ResourcesConfig r;
  r.time = "two days";
  try {
    cluster::job_script(r, options("slurm"));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("resources.time"), std::string::npos);
  }
  r.time = "01:00:00";
  r.ranks = 1;
  EXPECT_THROW(cluster::job_script(r, options("slurm")), std::invalid_argument);
  r.ranks = 3;
  EXPECT_THROW(cluster::job_script(r, options("pbs")), std::invalid_argument);
}

TEST(JobScript, TimeLimitFormats) {
  for (const char* ok : {"30", "30:00", "01:30:00", "2-00:00:00", "2-12"}) EXPECT_TRUE(cluster::valid_time_limit(ok)) << ok;
  for (const char* bad : {"", "1h", "01:30:00:00", "a-01:00:00"}) EXPECT_FALSE(cluster::valid_time_limit(bad)) << bad;
}
