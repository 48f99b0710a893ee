// Device facts of this LibTorch build (Debian's CPU build here, an official CUDA build on clusters).
#include <torch/torch.h>

#include "trainer/trainer.hpp"

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

}  // namespace ablate::trainer
