// Where the engine computes: parsing --device (cpu, cuda, cuda:N, auto) and --dtype (auto, float32,
// bfloat16, float16) into a device and a compute dtype, with clear errors when a build or machine lacks CUDA.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>

namespace shedder {

// "cpu", "cuda", "cuda:N" or "auto" (the first GPU when libtorch has CUDA and one is visible, else the CPU).
// Throws shedder::Error naming the option when the device does not exist here.
at::Device parse_device(const std::string& spec);
// Number of CUDA devices visible to this process (0 for a CPU-only libtorch).
int64_t cuda_device_count();
// True when this build carries the project's own CUDA kernels (kernels/cuda).
bool have_cuda_kernels();

// The dtype matrices are multiplied in. "auto": float32 on the CPU (the CPU kernels are float32), on a GPU
// the checkpoint's dtype (bfloat16 / float16 checkpoints compute in it, float32 ones in float32).
// `stored` is the safetensors dtype name of the checkpoint ("F32", "BF16", "F16").
at::ScalarType resolve_compute_dtype(const std::string& spec, const at::Device& device, const std::string& stored);
const char* dtype_name(at::ScalarType t);  // "float32", "bfloat16", "float16"

// Memory free for caches on `device`, in MB: half the machine's physical memory on the CPU, the free memory
// of the GPU (minus a reserve for activations) on CUDA.
int64_t cache_memory_budget_mb(const at::Device& device);

// Blocks until the work queued on `device` has finished (no-op on the CPU); for timings.
void synchronize(const at::Device& device);

}  // namespace shedder
