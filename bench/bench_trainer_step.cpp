// Training-step time and peak memory of the network family: every row of 001 Table II and the paper
// rows of 000, 004, 003 (UNet++, ANU-Net) and 002 (PAM, CAM, both), plus the Attention U-Net / SE / CBAM
// baselines. ANU-Net's pruning levels (003 Table 6) are not rows: training always runs the full network.
//
// One step = zero_grad + forward + compute_loss (hybrid, all heads) + backward + Adam step, on a fixed
// random batch. Reported: median (and min/max) wall time of --steps timed steps after --warmup steps;
// peak memory: on CPU the peak resident set size of a process that runs only that variant (each variant
// runs in its own child process, so ru_maxrss is its own) and its growth over the RSS measured just
// before the network was built; on CUDA torch's max memory allocated.
//
//   bench_trainer_step [--widths 64,128,256,512,1024] [--size 256] [--batch 4] [--steps 5] [--warmup 1]
//                      [--variants unet,cc,...] [--device cpu|cuda] [--threads N] [--list]
#include <sys/resource.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#if __has_include(<c10/cuda/CUDACachingAllocator.h>) && __has_include(<cuda_runtime_api.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#define ABLATE_BENCH_CUDA 1
#endif

#include "trainer/losses.hpp"
#include "trainer/nn/network.hpp"

using namespace ablate;

namespace {

struct Row {
  std::string name, label;
  std::function<void(ModelConfig&)> set;
};

const std::vector<Row>& rows() {
  static const std::vector<Row> r = {
      // 001 Table II.
      {"unet", "U-Net", [](ModelConfig&) {}},
      {"cc", "U-Net+CC", [](ModelConfig& m) { m.cc = true; }},
      {"sc", "U-Net+SC", [](ModelConfig& m) { m.sc = true; }},
      {"mus", "U-Net+MuS", [](ModelConfig& m) { m.mus = true; }},
      {"ec", "U-Net+EC", [](ModelConfig& m) { m.ec = true; }},
      {"dws", "U-Net+DWS", [](ModelConfig& m) { m.dws = true; }},
      {"coa", "U-Net+CoA", [](ModelConfig& m) { m.cc = m.sc = true; }},
      {"coag-musfu", "U-Net+CoAG-MuSFu", [](ModelConfig& m) { m.cc = m.sc = m.mus = true; }},
      {"coag-musfu-ec", "U-Net+CoAG-MuSFu+EC", [](ModelConfig& m) { m.cc = m.sc = m.mus = m.ec = true; }},
      {"ec-cam-unet", "EC-CaM-UNet", [](ModelConfig& m) { m.cc = m.sc = m.mus = m.ec = m.dws = true; }},
      // 001 Table V / Table I baselines.
      {"se", "U-Net+SE", [](ModelConfig& m) { m.attention = "se"; }},
      {"cbam", "U-Net+CBAM", [](ModelConfig& m) { m.attention = "cbam"; }},
      {"attention-unet", "Attention U-Net", [](ModelConfig& m) { m.attention_gates = true; }},
      // 004 rows.
      {"drs-unet", "DRS U-Net", [](ModelConfig& m) { m.restoration = true; }},
      {"kcmdrs-unet", "KCMDRS U-Net", [](ModelConfig& m) { m.restoration = true; m.msc = "kcm"; }},
      {"dsmsc-unet", "DSMSC U-Net", [](ModelConfig& m) { m.restoration = true; m.msc = "msc"; }},
      // 000: the full MDA-U-Net*.
      {"mda-unet", "MDA-U-Net*", [](ModelConfig& m) { m.aux_path = m.dspa = m.ca = true; m.msc = "cascade"; }},
      // 003: nested dense skips without (UNet++) and with attention gates (ANU-Net), deep supervision on.
      {"unetpp", "UNet++", [](ModelConfig& m) { m.nested = true; }},
      {"anu-net", "ANU-Net", [](ModelConfig& m) { m.nested = m.attention_gates = true; }},
      // 002: position / channel / dual attention at the bridge.
      {"pam", "U-Net+PAM", [](ModelConfig& m) { m.attention = "pam"; }},
      {"cam", "U-Net+CAM", [](ModelConfig& m) { m.attention = "cam"; }},
      {"pam-cam", "U-Net+PAM+CAM", [](ModelConfig& m) { m.attention = "pam_cam"; }},
  };
  return r;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

double rss_mib() {  // current resident set size
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;  // KiB on Linux
}

struct Options {
  std::vector<int> widths = {64, 128, 256, 512, 1024};
  int size = 256, batch = 4, steps = 5, warmup = 1, threads = 0;
  std::string device = "cpu";
  std::vector<std::string> variants;
  bool child = false;
};

// Runs one variant in this process; prints one tab-separated result line.
int run_one(const Options& o, const Row& row) {
  if (o.threads > 0) torch::set_num_threads(o.threads);
  torch::manual_seed(0);
  torch::Device device(o.device);
  const double rss_before = rss_mib();
  ModelConfig m;
  m.widths = o.widths;
  row.set(m);
  trainer::SegmentationNet net(m, 1);
  net->to(device);
  net->train();
  std::int64_t params = 0;
  for (const auto& p : net->parameters()) params += p.numel();
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-5));
  torch::Tensor x = torch::randn({o.batch, 1, o.size, o.size}).to(device);
  torch::Tensor y = (torch::rand({o.batch, o.size, o.size}) > 0.9).to(torch::kLong).to(device);
  LossConfig lc;
#ifdef ABLATE_BENCH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
#endif
  std::vector<double> ms;
  for (int s = 0; s < o.warmup + o.steps; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    opt.zero_grad();
    auto terms = trainer::compute_loss(net->forward(x), y, x, lc);
    terms.total.backward();
    opt.step();
    if (device.is_cuda()) torch::cuda::synchronize();
    const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (s >= o.warmup) ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms.size() % 2 ? ms[ms.size() / 2] : (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]) / 2;
  double peak = peak_rss_mib(), growth = peak - rss_before;
#ifdef ABLATE_BENCH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    peak = stats.allocated_bytes[0].peak / (1024.0 * 1024.0);
    growth = peak;
  }
#endif
  std::printf("%s\t%s\t%lld\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\n", row.name.c_str(), row.label.c_str(),
              static_cast<long long>(params), median, ms.front(), ms.back(), peak, growth);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> passthrough;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    // The option's value; passed on to the per-variant child processes unless it is --variants (each
    // child gets its own).
    auto next = [&](bool pass_on = true) -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "bench_trainer_step: " << a << " needs a value\n";
        std::exit(2);
      }
      if (pass_on) {
        passthrough.push_back(a);
        passthrough.push_back(argv[i + 1]);
      }
      return argv[++i];
    };
    try {
      if (a == "--widths") {
        o.widths.clear();
        for (const auto& w : split(next())) o.widths.push_back(std::stoi(w));
      } else if (a == "--size") {
        o.size = std::stoi(next());
      } else if (a == "--batch") {
        o.batch = std::stoi(next());
      } else if (a == "--steps") {
        o.steps = std::stoi(next());
      } else if (a == "--warmup") {
        o.warmup = std::stoi(next());
      } else if (a == "--threads") {
        o.threads = std::stoi(next());
      } else if (a == "--device") {
        o.device = next();
      } else if (a == "--variants") {
        o.variants = split(next(false));
      } else if (a == "--child") {
        o.child = true;
      } else if (a == "--list") {
        for (const auto& r : rows()) std::cout << r.name << "\t" << r.label << "\n";
        return 0;
      } else {
        std::cerr << "bench_trainer_step: unknown option " << a
                  << " (allowed --widths --size --batch --steps --warmup --threads --device --variants --list)\n";
        return 2;
      }
    } catch (const std::exception& e) {
      std::cerr << "bench_trainer_step: bad value for " << a << ": " << e.what() << "\n";
      return 2;
    }
  }
  if (o.steps < 1 || o.size < 1 || o.batch < 1 || o.warmup < 0) {
    std::cerr << "bench_trainer_step: --steps, --size, --batch must be >= 1 and --warmup >= 0\n";
    return 2;
  }
  std::vector<const Row*> selected;
  for (const auto& r : rows())
    if (o.variants.empty() || std::find(o.variants.begin(), o.variants.end(), r.name) != o.variants.end()) selected.push_back(&r);
  if (selected.empty()) {
    std::cerr << "bench_trainer_step: no variant selected (see --list)\n";
    return 2;
  }
  if (o.child) {
    try {
      return run_one(o, *selected.front());
    } catch (const std::exception& e) {
      std::cerr << "bench_trainer_step: " << selected.front()->name << ": " << e.what() << "\n";
      return 1;
    }
  }

  std::ostringstream widths;
  for (size_t i = 0; i < o.widths.size(); ++i) widths << (i ? "," : "") << o.widths[i];
  std::cout << "# device " << o.device << ", widths " << widths.str() << ", input " << o.size << "x" << o.size << ", batch "
            << o.batch << ", " << o.warmup << " warm-up + " << o.steps << " timed steps, threads "
            << (o.threads > 0 ? std::to_string(o.threads) : std::string("default")) << "\n";
  std::cout << "| variant | parameters | step median (ms) | min | max | peak "
            << (o.device.rfind("cuda", 0) == 0 ? "CUDA allocated (MiB) | - |" : "RSS (MiB) | growth (MiB) |") << "\n"
            << "|---|---:|---:|---:|---:|---:|---:|\n";
  std::string args;
  for (const auto& p : passthrough) args += " '" + p + "'";
  int failures = 0;
  for (const Row* r : selected) {
    const std::string cmd = "'/proc/" + std::to_string(getpid()) + "/exe'" + args + " --child --variants " + r->name;
    FILE* pipe = popen(cmd.c_str(), "r");
    std::string out;
    char buf[512];
    while (pipe && fgets(buf, sizeof buf, pipe)) out += buf;
    const int rc = pipe ? pclose(pipe) : -1;
    std::vector<std::string> f;
    std::stringstream in(out);
    std::string cell;
    while (std::getline(in, cell, '\t')) f.push_back(cell);
    if (rc != 0 || f.size() != 8) {
      ++failures;
      std::cout << "| " << r->label << " | failed (exit " << rc << ") | | | | | |\n";
      continue;
    }
    if (!f[7].empty() && f[7].back() == '\n') f[7].pop_back();
    std::cout << "| " << f[1] << " | " << f[2] << " | " << f[3] << " | " << f[4] << " | " << f[5] << " | " << f[6] << " | "
              << f[7] << " |" << std::endl;
  }
  return failures ? 1 : 0;
}
