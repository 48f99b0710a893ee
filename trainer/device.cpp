// Device facts of this LibTorch build (Debian's CPU build here, an official CUDA build on clusters), the
// worker's device check, the per-task numerics flags and the classification of GPU faults.
//
// Everything CUDA-specific that needs no CUDA header goes through LibTorch's device-generic interfaces
// (the CUDA hooks, the device guard implementation), which a CPU build has too and which answer only when
// at::hasCUDA(). The caching allocator and the device properties need CUDA headers: ABLATE_TORCH_CUDA is
// defined by trainer/CMakeLists.txt when LibTorch comes with CUDA (the c10_cuda target exists).
#include "trainer/device.hpp"

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <new>

#include "trainer/trainer.hpp"

#ifdef ABLATE_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace ablate::trainer {

bool cuda_available() { return torch::cuda::is_available(); }

int cuda_device_count() { return cuda_available() ? static_cast<int>(torch::cuda::device_count()) : 0; }

std::string libtorch_version() {
#ifdef TORCH_VERSION
  return TORCH_VERSION;
#else
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
#endif
}

namespace {

// cudaRuntimeGetVersion's 1000 * major + 10 * minor.
std::string cuda_version_text(long v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

// cuDNN 8 numbers its versions 1000 * major + 100 * minor + patch, cuDNN 9 10000 * major + 100 * minor + patch.
std::string cudnn_version_text(long v) {
  const long major_unit = v >= 90000 ? 10000 : 1000;
  return std::to_string(v / major_unit) + "." + std::to_string((v % major_unit) / 100) + "." + std::to_string(v % 100);
}

// CUDA runtime and cuDNN versions, empty without CUDA (the hooks of a CPU build throw when asked).
std::string cuda_versions() {
  if (!at::hasCUDA()) return "";
  std::string out;
  try {
    out = "CUDA " + cuda_version_text(at::detail::getCUDAHooks().versionCUDART());
    if (at::globalContext().hasCuDNN()) out += ", cuDNN " + cudnn_version_text(at::detail::getCUDAHooks().versionCuDNN());
  } catch (const c10::Error& e) {
    out += (out.empty() ? "" : ", ") + std::string("versions unknown (") + e.what_without_backtrace() + ")";
  }
  return out;
}

int device_index(const std::string& device) {
  const torch::Device d(device);
  return d.has_index() ? d.index() : 0;
}

// The probe: a step of what every network here does (convolution, bilinear upsampling, softmax
// cross-entropy, backward), on fixed inputs so that it draws nothing from the seeded generators.
void probe_step(const torch::Device& device) {
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const auto x = torch::linspace(-1.0, 1.0, 2 * 1 * 8 * 8, opts).reshape({2, 1, 8, 8});
  auto w = torch::linspace(-0.5, 0.5, 3 * 1 * 3 * 3, opts).reshape({3, 1, 3, 3}).requires_grad_(true);
  auto y = torch::conv2d(x, w, {}, 1, 1);
  y = torch::nn::functional::interpolate(
      y, torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{16, 16}).mode(torch::kBilinear).align_corners(false));
  const auto labels = torch::arange(2 * 16 * 16, torch::TensorOptions().dtype(torch::kLong).device(device)).remainder(3).reshape({2, 16, 16});
  auto loss = torch::nn::functional::cross_entropy(y, labels);
  loss.backward();
  // Reading back synchronises: an asynchronous kernel failure surfaces here, not in the first task.
  const float value = loss.item<float>();
  const float grad = w.grad().abs().sum().item<float>();
  if (!std::isfinite(value) || !std::isfinite(grad) || grad == 0.0f) {
    throw std::runtime_error("the probe step gave loss " + std::to_string(value) + " and gradient norm " + std::to_string(grad) +
                             " (expected finite, non-zero)");
  }
}

std::string gpu_facts(int index, int ranks_per_gpu) {
  std::string facts = "cuda:" + std::to_string(index);
#ifdef ABLATE_TORCH_CUDA
  const auto* p = at::cuda::getDeviceProperties(index);
  char buf[256];
  std::snprintf(buf, sizeof buf, " %s, sm_%d%d, %.1f GiB", p->name, p->major, p->minor,
                static_cast<double>(p->totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  facts += buf;
#endif
  const std::string versions = cuda_versions();
  if (!versions.empty()) facts += ", " + versions;
  if (ranks_per_gpu > 1) {
    char buf2[64];
    std::snprintf(buf2, sizeof buf2, ", memory fraction %.2f", 0.95 / ranks_per_gpu);
    facts += buf2;
  }
  return facts;
}

}  // namespace

std::string framework_description() {
  std::string out = "LibTorch " + libtorch_version();
  const std::string versions = cuda_versions();
  if (versions.empty()) return out + ", CPU only";
  return out + ", " + versions + ", " + std::to_string(cuda_device_count()) + " GPU(s)";
}

DeviceCheck check_device(const std::string& device, int ranks_per_gpu) {
  DeviceCheck out;
  try {
    const torch::Device d(device);
    if (d.is_cuda()) {
      if (!cuda_available()) throw std::runtime_error("this LibTorch build sees no CUDA device (" + framework_description() + ")");
      const int index = device_index(device);
      if (index >= cuda_device_count()) {
        throw std::runtime_error(device + " does not exist: LibTorch sees " + std::to_string(cuda_device_count()) + " GPU(s)");
      }
      // The current device is per thread: this is the thread that runs the worker's tasks.
      c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->setDevice(c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(index)));
#ifdef ABLATE_TORCH_CUDA
      // Ranks sharing a GPU each keep within their share (the CUDA context itself, ~0.5 GiB, is outside it).
      if (ranks_per_gpu > 1) c10::cuda::CUDACachingAllocator::setMemoryFraction(0.95 / ranks_per_gpu, index);
#endif
      out.facts = gpu_facts(index, ranks_per_gpu);
    } else {
      out.facts = "cpu";
    }
    out.facts += ", LibTorch " + libtorch_version();
    probe_step(d);
    release_device_memory(device);
    out.ok = true;
  } catch (const c10::Error& e) {
    out.problem = e.what_without_backtrace();
  } catch (const std::exception& e) {
    out.problem = e.what();
  }
  if (out.facts.empty()) out.facts = device;
  return out;
}

void release_device_memory(const std::string& device) {
#ifdef ABLATE_TORCH_CUDA
  if (device.rfind("cuda", 0) == 0 && cuda_available()) {
    try {
      c10::cuda::CUDACachingAllocator::emptyCache();
    } catch (const std::exception& e) {
      // After a sticky error the driver refuses everything; the worker is retiring anyway.
      spdlog::debug("releasing cached memory on {} failed: {}", device, e.what());
    }
  }
#else
  (void)device;
#endif
}

bool is_sticky_device_error(const std::string& text) {
  static const std::array<const char*, 8> kSticky = {
      "device-side assert triggered", "illegal memory access", "illegal instruction", "misaligned address",
      "unspecified launch failure",   "uncorrectable ECC error", "CUDA error: unknown error", "CUDA error: an illegal"};
  return std::any_of(kSticky.begin(), kSticky.end(), [&](const char* s) { return text.find(s) != std::string::npos; });
}

FailureKind classify_failure(const std::exception& e) {
  if (dynamic_cast<const DeviceOutOfMemory*>(&e) || dynamic_cast<const c10::OutOfMemoryError*>(&e) ||
      dynamic_cast<const std::bad_alloc*>(&e)) {
    return FailureKind::kOutOfMemory;
  }
  if (dynamic_cast<const DeviceFault*>(&e) || is_sticky_device_error(e.what())) return FailureKind::kDeviceFault;
  return FailureKind::kTask;
}

// --- numerics ---------------------------------------------------------------------------------------------

bool NumericsFlags::operator==(const NumericsFlags& o) const {
  return deterministic_cudnn == o.deterministic_cudnn && benchmark_cudnn == o.benchmark_cudnn && tf32_cudnn == o.tf32_cudnn &&
         tf32_cublas == o.tf32_cublas && deterministic_algorithms == o.deterministic_algorithms;
}

NumericsFlags numerics_for(const TrainConfig& train) {
  NumericsFlags f;
  f.deterministic_cudnn = train.deterministic;
  f.benchmark_cudnn = !train.deterministic;
  f.tf32_cudnn = !train.deterministic;
  f.tf32_cublas = !train.deterministic;
  f.deterministic_algorithms = false;
  return f;
}

NumericsFlags current_numerics() {
  const auto& c = at::globalContext();
  NumericsFlags f;
  f.deterministic_cudnn = c.deterministicCuDNN();
  f.benchmark_cudnn = c.benchmarkCuDNN();
  f.tf32_cudnn = c.allowTF32CuDNN();
  f.tf32_cublas = c.allowTF32CuBLAS();
  f.deterministic_algorithms = c.deterministicAlgorithms();
  return f;
}

std::string numerics_text(const NumericsFlags& f) {
  auto b = [](bool v) { return v ? "1" : "0"; };
  return std::string("cudnn.deterministic=") + b(f.deterministic_cudnn) + " cudnn.benchmark=" + b(f.benchmark_cudnn) +
         " tf32.cudnn=" + b(f.tf32_cudnn) + " tf32.cublas=" + b(f.tf32_cublas) + " deterministic_algorithms=" +
         b(f.deterministic_algorithms);
}

void set_numerics(const NumericsFlags& f) {
  auto& c = at::globalContext();
  c.setDeterministicCuDNN(f.deterministic_cudnn);
  c.setBenchmarkCuDNN(f.benchmark_cudnn);
  c.setAllowTF32CuDNN(f.tf32_cudnn);
  c.setAllowTF32CuBLAS(f.tf32_cublas);
  c.setDeterministicAlgorithms(f.deterministic_algorithms, false);
}

namespace {

struct NumericsState {
  std::mutex mutex;
  int active = 0;
  NumericsFlags saved;    // the process's own, restored when the last task leaves
  NumericsFlags applied;  // in force while tasks run
};

NumericsState& numerics_state() {
  static NumericsState s;
  return s;
}

}  // namespace

NumericsScope::NumericsScope(const TrainConfig& train, std::string where) {
  const NumericsFlags wanted = numerics_for(train);
  NumericsState& s = numerics_state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.active == 0) {
    s.saved = current_numerics();
    set_numerics(wanted);
    s.applied = wanted;
  } else if (wanted != s.applied) {
    spdlog::warn("{}: runs with {} set by another task of this process, not its own {} (train.deterministic = {}); these "
                 "flags are process-wide: run studies with different train.deterministic under mpirun, one task per rank",
                 where, numerics_text(s.applied), numerics_text(wanted), train.deterministic);
  }
  ++s.active;
}

NumericsScope::~NumericsScope() {
  NumericsState& s = numerics_state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (--s.active == 0) set_numerics(s.saved);
}

}  // namespace ablate::trainer
