// Peak tensor memory, like CUDA's max_memory_allocated. On the CPU: a counting wrapper around libtorch's CPU
// allocator, installed on demand (benchmarks); tensors allocated before it was installed keep their own deleters
// and are not counted; memory-mapped weights are never counted. On a GPU: the CUDA caching allocator's own
// statistics (the device overloads below; builds without the CUDA kernels report the CPU view).
#pragma once

#include <c10/core/Device.h>

#include <cstdint>

namespace shedder::memory {

void install_tracker();    // idempotent; afterwards every CPU tensor allocation is counted
bool tracker_installed();
int64_t allocated_bytes();  // bytes currently allocated through the tracker
int64_t peak_bytes();       // the most allocated at once since the last reset_peak()
void reset_peak();          // peak := current

// The same for where `device` computes: the CPU tracker above, or the CUDA caching allocator of that GPU.
int64_t allocated_bytes(const c10::Device& device);
int64_t peak_bytes(const c10::Device& device);
void reset_peak(const c10::Device& device);

}  // namespace shedder::memory
