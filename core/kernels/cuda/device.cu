// Device queries of the CUDA kernels (multiprocessor count, compute capability; cached per device) and the
// device-wide synchronisation the engine's timers use.

#include <cstdint>

#include "kernels/cuda/device_common.cuh"

namespace shedder::cuda {
namespace {

// One attribute of devices 0-63, queried once each; `fallback` where the query fails or the device is out of range.
template <cudaDeviceAttr Attr>
int cached_attribute(int device, int fallback) {
  static int cached[64] = {0};
  if (device < 0 || device >= 64) return fallback;
  if (cached[device] == 0) {
    int v = 0;
    if (cudaDeviceGetAttribute(&v, Attr, device) != cudaSuccess || v <= 0) {
      (void)cudaGetLastError();
      v = fallback;
    }
    cached[device] = v;
  }
  return cached[device];
}

}  // namespace

void synchronize_device() { (void)cudaDeviceSynchronize(); }

int64_t multiprocessor_count(int device) { return cached_attribute<cudaDevAttrMultiProcessorCount>(device, 132); }

int compute_capability_major(int device) { return cached_attribute<cudaDevAttrComputeCapabilityMajor>(device, -1); }

}  // namespace shedder::cuda
