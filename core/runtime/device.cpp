// Device and dtype selection (see device.h).
#include "runtime/device.h"

#include <ATen/detail/CUDAHooksInterface.h>

#include <unistd.h>

#include <algorithm>

#include "util/error.h"
#ifdef SHEDDER_WITH_CUDA
#include "kernels/cuda/cuda_ops.h"
#endif

namespace shedder {

#ifdef SHEDDER_WITH_CUDA
bool have_cuda_kernels() { return true; }
#else
bool have_cuda_kernels() { return false; }
#endif

int64_t cuda_device_count() {
  if (!at::hasCUDA()) return 0;
  return static_cast<int64_t>(at::detail::getCUDAHooks().getNumGPUs());
}

at::Device parse_device(const std::string& spec) {
  const std::string bad = "--device " + spec + ": not a device (use cpu, cuda, cuda:N or auto)";
  if (spec == "cpu") return at::Device(at::kCPU);
  if (spec == "auto") return cuda_device_count() > 0 ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  if (spec.rfind("cuda", 0) != 0) throw Error(bad);
  at::Device d(at::kCPU);
  try {
    d = at::Device(spec);
  } catch (const std::exception&) {
    throw Error(bad);
  }
  const int64_t n = cuda_device_count();
  if (n == 0) throw Error("--device " + spec + ": this build of libtorch has no CUDA, or no GPU is visible");
  if (!d.has_index()) d = at::Device(at::kCUDA, 0);
  if (d.index() >= n)
    throw Error("--device " + spec + ": only " + std::to_string(n) + " GPU(s) are visible (cuda:0..cuda:" +
                std::to_string(n - 1) + ")");
  return d;
}

const char* dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    case at::kDouble: return "float64";
    default: return "other";
  }
}

at::ScalarType resolve_compute_dtype(const std::string& spec, const at::Device& device, const std::string& stored) {
  if (spec == "auto" || spec.empty()) {
    if (device.is_cpu()) return at::kFloat;
    if (stored == "BF16") return at::kBFloat16;
    if (stored == "F16") return at::kHalf;
    return at::kFloat;
  }
  at::ScalarType t;
  if (spec == "float32" || spec == "fp32" || spec == "f32") t = at::kFloat;
  else if (spec == "bfloat16" || spec == "bf16") t = at::kBFloat16;
  else if (spec == "float16" || spec == "fp16" || spec == "f16" || spec == "half") t = at::kHalf;
  else throw Error("--dtype " + spec + ": not a dtype (use auto, float32, bfloat16 or float16)");
  if (device.is_cpu() && t != at::kFloat)
    throw Error("--dtype " + spec + ": the CPU engine computes in float32 (reduced precision needs --device cuda)");
  return t;
}

int64_t cache_memory_budget_mb(const at::Device& device) {
  if (device.is_cpu()) {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page <= 0) return 2048;
    return std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(pages) * static_cast<double>(page) / 2097152.0));
  }
#ifdef SHEDDER_WITH_CUDA
  if (device.is_cuda()) {
    const int64_t free_mb = cuda::free_device_memory(device.index()) / 1048576;
    if (free_mb > 0) return std::max<int64_t>(1, free_mb / 2);
  }
#endif
  return 4096;
}

void synchronize(const at::Device& device) {
  if (device.is_cpu()) return;
#ifdef SHEDDER_WITH_CUDA
  if (device.is_cuda()) {
    cuda::synchronize(device.index() < 0 ? 0 : device.index());
    return;
  }
#endif
  // A scalar copied back waits for everything queued before it on the current stream.
  (void)at::zeros({1}, at::TensorOptions().device(device)).sum().item<float>();
}

}  // namespace shedder
