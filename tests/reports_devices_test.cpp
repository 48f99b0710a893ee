// CPU vs GPU in the reports (docs/REPORTS.md "Devices"): the store's per-variant reader of where each done
// task trained (tasks.device and the attempts a resumed training came through), the marks a table gets
// from it (none for CPU-only rows, a legend for GPU-only rows, a mark per row where devices mix), and a real
// in-process run whose worker has a (scripted) GPU and whose study keeps one variant on the CPU.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "db/rows.hpp"
#include "db/store.hpp"
#include "inproc_fixture.hpp"
#include "reports/report.hpp"
#include "reports/study_index.hpp"
#include "runner/run.hpp"
#include "store_fixture.hpp"

namespace fs = std::filesystem;
using namespace ablate;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Placement on(const std::string& device) {
  return Placement{"host", 1, 0, device, 1, "", ""};
}

TaskResult result(double dice) {
  TaskResult r;
  r.epochs.push_back({2, 0.5, 0.5, dice, 1e-3, 1.0, dice});
  r.best_epoch = 2;
  r.fold_metrics.push_back({"dice", 1, dice});
  r.parameters = 1000;
  r.inference_ms_per_case = 2.0;
  return r;
}

EpochRecord epoch(int e) {
  return {e, 1.0 / e, 1.0, 0.5, 1e-3, 1.0, 0.5};
}

class DevicesStore : public store_test::StoreFixture {
 protected:
  DevicesStore()
      : StoreFixture("ablate-devices", {{{"cpu", "", "h1", "", 0}, ""},
                                        {{"gpu", "", "h2", "", 1}, ""},
                                        {{"resumed", "", "h3", "", 2}, ""},
                                        {{"pending", "", "h4", "", 3}, ""}}) {}
  // Task `variant`, fold `fold` of the study.
  std::int64_t task(db::Store& s, std::int64_t study, const std::string& variant, int fold) {
    for (const auto& t : s.tasks(study))
      if (t.variant == variant && t.fold == fold) return t.id;
    ADD_FAILURE() << variant << " fold " << fold;
    return 0;
  }
};

// Scripted attempts on a real store: a task counts where its result was trained, including the attempts a
// resumed training came through, and never an attempt that restarted from scratch, reported nothing or
// was replaced by a copied result.
TEST_F(DevicesStore, EachDoneTaskCountsWhereItsResultWasTrained) {
  db::Store s(path_);
  const auto id = fill(s);
  for (int f = 0; f < 2; ++f) {
    const auto cpu = task(s, id, "cpu", f), gpu = task(s, id, "gpu", f);
    s.mark_running(cpu, on("cpu"), 1);
    s.record_epoch(cpu, epoch(1));
    s.record_done(cpu, result(0.7), 2);
    s.mark_running(gpu, on("cuda:1"), 1);
    s.record_epoch(gpu, epoch(1));
    s.record_done(gpu, result(0.8), 2);
  }
  // Fold 0: epoch 1 on a GPU, interrupted; resumed at epoch 2 on the CPU: trained on both.
  const auto r0 = task(s, id, "resumed", 0);
  s.mark_running(r0, on("cuda:0"), 1);
  s.record_epoch(r0, epoch(1));
  s.record_interrupted(r0, "stopped", 2);
  s.mark_running(r0, on("cpu"), 3);
  s.record_epoch(r0, epoch(2));
  s.record_done(r0, result(0.75), 4);
  // Fold 1: a GPU attempt that failed after epoch 1, then one that reported nothing, then a fresh start on
  // the CPU: the CPU's alone.
  const auto r1 = task(s, id, "resumed", 1);
  s.mark_running(r1, on("cuda:0"), 1);
  s.record_epoch(r1, epoch(1));
  s.record_failed(r1, "CUDA out of memory", 2);
  s.mark_running(r1, on("cuda:0"), 3);
  s.record_failed(r1, "CUDA error: device-side assert triggered", 4);
  s.mark_running(r1, on("cpu"), 5);
  s.record_epoch(r1, epoch(1));
  s.record_done(r1, result(0.76), 6);
  // A task of "pending" that is running on a GPU is no result yet.
  s.mark_running(task(s, id, "pending", 0), on("cuda:0"), 1);

  const auto devices = s.variant_devices(id);
  ASSERT_EQ(devices.size(), 3u);
  EXPECT_EQ(devices.at("cpu").cpu, 2);
  EXPECT_EQ(devices.at("cpu").gpu, 0);
  EXPECT_EQ(devices.at("gpu").gpu, 2);
  EXPECT_EQ(devices.at("gpu").cpu, 0);
  EXPECT_EQ(devices.at("resumed").cpu, 2);
  EXPECT_EQ(devices.at("resumed").gpu, 1);
  EXPECT_EQ(devices.at("resumed").unknown, 0);
  // The reports' bulk reader carries it.
  const db::StudyData data = db::load_study_data(path_, "st");
  EXPECT_EQ(data.devices.at("resumed").gpu, 1);
  EXPECT_FALSE(data.devices.count("pending"));

  // A task without a recorded device (a store of a build that did not record one) is unknown.
  s.exec("UPDATE tasks SET device = '' WHERE variant_id = (SELECT id FROM variants WHERE name = 'cpu')");
  s.exec(
      "UPDATE attempts SET device = '' WHERE task_id IN (SELECT t.id FROM tasks t JOIN variants v ON v.id = "
      "t.variant_id WHERE v.name = 'cpu')");
  EXPECT_EQ(s.variant_devices(id).at("cpu").unknown, 2);
  EXPECT_EQ(s.variant_devices(id).at("cpu").cpu, 0);
}

db::StudyData study_with(const std::map<std::string, db::VariantDevices>& devices) {
  db::StudyData s;
  s.study = "s";
  int ordinal = 0;
  for (const auto& [name, d] : devices) s.variants.push_back({name, name, "h", "", ordinal++});
  s.devices = devices;
  return s;
}

// The rule on scripted rows: nothing for the CPU, the legend alone for GPU-only rows, a mark per GPU row
// where devices mix; a variant is the union of the studies that have it.
TEST(DeviceMarks, NothingForTheCpuALegendForGpuRowsAMarkWhereDevicesMix) {
  const db::StudyData cpu = study_with({{"a", {2, 0, 0}}, {"b", {2, 0, 0}}, {"c", {0, 0, 2}}});
  const auto none = reports::device_marks({&cpu}, {"a", "b", "c", "gone"});
  EXPECT_EQ(none.legend, "");
  EXPECT_TRUE(none.mark.empty());
  EXPECT_EQ(none.device.at("a"), "cpu");
  EXPECT_FALSE(none.device.count("c"));

  const db::StudyData gpu = study_with({{"a", {0, 2, 0}}, {"b", {0, 2, 0}}});
  const auto all = reports::device_marks({&gpu}, {"a", "b"});
  EXPECT_TRUE(all.mark.empty());
  EXPECT_EQ(all.legend.rfind("Every row was trained on a GPU; ", 0), 0u) << all.legend;

  const db::StudyData mixed =
      study_with({{"a", {2, 0, 0}}, {"b", {0, 2, 0}}, {"c", {1, 1, 0}}, {"d", {0, 0, 2}}});
  const auto m = reports::device_marks({&mixed}, {"a", "b", "c", "d"});
  EXPECT_FALSE(m.mark.count("a"));
  EXPECT_EQ(m.mark.at("b"), " [GPU]");
  EXPECT_EQ(m.mark.at("c"), " [CPU+GPU]");
  EXPECT_FALSE(m.mark.count("d"));
  EXPECT_EQ(m.device.at("c"), "cpu+gpu");
  EXPECT_NE(m.legend.find("[GPU]: trained on a GPU; [CPU+GPU]: some folds trained on a GPU, some on the CPU; "
                          "unmarked rows: on the CPU (or no device recorded)"),
            std::string::npos)
      << m.legend;

  // Two studies side by side: "a" on the CPU in one and on a GPU in the other is a row of both.
  const db::StudyData other = study_with({{"a", {0, 2, 0}}});
  const auto both = reports::device_marks({&cpu, &other}, {"a", "b"});
  EXPECT_EQ(both.mark.at("a"), " [CPU+GPU]");
  EXPECT_FALSE(both.mark.count("b"));
}

// A real run: one in-process worker with a (scripted) GPU, a study whose "fast" variant trains there and
// whose "reference" variant (another training: fewer epochs) keeps train.device = "cpu". The store holds
// both, and every table says so. "fast_cpu" differs from "fast" only in train.device, which is outside the
// training key: it is evaluated from fast's training, on fast's GPU, and stored so. The same study run on
// the CPU alone gets no mark, no legend and no device column.
class DevicesRun : public inproc_test::InprocFixture {
 protected:
  DevicesRun() : InprocFixture("ablate-devices-run", 1, {"a", "b", "c", "d"}) {}
  void SetUp() override {
    InprocFixture::SetUp();
    opt_.study_file = (dir_ / "s.toml").string();
    std::ofstream(opt_.study_file)
        << "[study]\nname = \"s\"\nseed = 3\nfolds = 2\n[data]\npath = \"nowhere\"\n"
           "[train]\nepochs = 1\n[resources]\ngpus_per_node = 1\n[report]\nmetrics = [\"dice\"]\n"
           "[[ablation.variant]]\nname = \"reference\"\nlabel = \"U-Net (CPU)\"\n"
           "\"train.device\" = \"cpu\"\n"
           "[[ablation.variant]]\nname = \"fast\"\nlabel = \"U-Net\"\n\"train.epochs\" = 2\n"
           "[[ablation.variant]]\nname = \"fast_cpu\"\n\"train.epochs\" = 2\n"
           "\"train.device\" = \"cpu\"\n";
  }
};

struct OneGpu : runner::Executor {
  std::unique_ptr<runner::Executor> inner =
      runner::make_sleep_executor([](const Task&) { return 0.001; }, [](const Variant&) { return 1.0; });
  int gpus = 1;
  TaskResult execute(const Task& t, const runner::ExecContext& ctx) override {
    EXPECT_EQ(ctx.placement.device, t.variant == "reference" || gpus == 0 ? "cpu" : "cuda:0") << t.variant;
    return inner->execute(t, ctx);
  }
  double estimate_cost(const Variant& v) override { return inner->estimate_cost(v); }
  int gpu_count() override { return gpus; }
  runner::DeviceReport check_device(const Placement& p, int) override {
    return {true, p.device == "cpu" ? "cpu" : "Fake GPU on " + p.device, ""};
  }
};

TEST_F(DevicesRun, AStoreHoldingCpuAndGpuResultsMarksItsTables) {
  OneGpu exec;
  ASSERT_EQ(runner::run_study(opt_, exec), runner::kRunOk);
  const db::StudyData data = db::load_study_data(opt_.db_path, "s");
  EXPECT_EQ(data.devices.at("reference").cpu, 2);
  EXPECT_EQ(data.devices.at("fast").gpu, 2);
  EXPECT_EQ(data.devices.at("fast_cpu").gpu, 2);  // evaluated from fast's training on the GPU
  EXPECT_EQ(data.devices.at("fast_cpu").cpu, 0);

  const fs::path out = dir_ / "report";
  const reports::ReportResult r = reports::write_report({data}, reports::ReportOptions{}, out.string());
  EXPECT_NE(r.markdown.find("| U-Net (CPU) |"), std::string::npos) << r.markdown;
  EXPECT_NE(r.markdown.find("| U-Net [GPU] |"), std::string::npos) << r.markdown;
  EXPECT_NE(r.markdown.find("| fast_cpu [GPU] |"), std::string::npos) << r.markdown;
  EXPECT_NE(
      r.markdown.find("[GPU]: trained on a GPU; unmarked rows: on the CPU; scores of different devices"),
      std::string::npos)
      << r.markdown;
  EXPECT_NE(slurp(out / "table.tex").find("U-Net [GPU] &"), std::string::npos);
  const std::string html = slurp(out / "table.html");
  EXPECT_NE(html.find("<td class=\"label\">U-Net [GPU]</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("unmarked rows: on the CPU"), std::string::npos);
  const std::string csv = slurp(out / "table.csv");
  EXPECT_NE(csv.find(",mark,device\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("s,1,s,class 1,reference,U-Net (CPU),true,dice,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",cpu\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",gpu\n"), std::string::npos) << csv;
  const std::string model = slurp(out / "model-s.md");
  EXPECT_NE(model.find("| U-Net [GPU] |"), std::string::npos) << model;
  EXPECT_NE(model.find("unmarked rows: on the CPU"), std::string::npos) << model;
  EXPECT_NE(slurp(out / "model-s.csv").find(",sd,device\n"), std::string::npos);
  EXPECT_NE(slurp(out / "report.html").find("unmarked rows: on the CPU"), std::string::npos);

  // The same study on a worker without a GPU (train.device = "cpu" everywhere): no mark anywhere.
  exec.gpus = 0;
  opt_.overrides = {"resources.gpus_per_node=0"};
  opt_.new_study = true;
  ASSERT_EQ(runner::run_study(opt_, exec), runner::kRunOk);
  const fs::path cpu_out = dir_ / "cpu-report";
  const reports::ReportResult c = reports::write_report({db::load_study_data(opt_.db_path, "s")},
                                                        reports::ReportOptions{}, cpu_out.string());
  EXPECT_NE(c.markdown.find("| U-Net |"), std::string::npos) << c.markdown;
  for (const char* file :
       {"table.md", "table.tex", "table.html", "table.csv", "model-s.md", "model-s.csv", "report.html"}) {
    const std::string text = slurp(cpu_out / file);
    EXPECT_EQ(text.find("GPU"), std::string::npos) << file << "\n" << text;
  }
  EXPECT_EQ(slurp(cpu_out / "table.csv").find(",device"), std::string::npos);
  EXPECT_EQ(slurp(cpu_out / "model-s.csv").find(",device"), std::string::npos);
}

}  // namespace
