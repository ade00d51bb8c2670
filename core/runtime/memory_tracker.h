// Peak tensor memory on the CPU, like CUDA's max_memory_allocated: a counting wrapper around libtorch's
// CPU allocator, installed on demand (benchmarks). Tensors allocated before it was installed keep their
// own deleters and are not counted; memory-mapped weights are never counted.
#pragma once

#include <cstdint>

namespace shedder::memory {

void install_tracker();    // idempotent; afterwards every CPU tensor allocation is counted
bool tracker_installed();
int64_t allocated_bytes();  // bytes currently allocated through the tracker
int64_t peak_bytes();       // the most allocated at once since the last reset_peak()
void reset_peak();          // peak := current

}  // namespace shedder::memory
