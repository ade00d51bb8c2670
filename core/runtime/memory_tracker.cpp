// The counting CPU allocator (see memory_tracker.h). libtorch 1.x declares Allocator::allocate const and
// 2.x non-const with a pure copy_data: both signatures are defined (without `override`), so whichever the
// installed libtorch declares is the one overridden. It allocates itself (aligned, with a size header) rather than
// wrapping the default allocator, so its DataPtrs satisfy raw_allocate's data == context rule.
#include "runtime/memory_tracker.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <cstring>
#include <mutex>

#ifdef SHEDDER_WITH_CUDA
#include "kernels/cuda/cuda_ops.h"
#endif

namespace shedder::memory {

namespace {

std::atomic<int64_t> g_current{0};
std::atomic<int64_t> g_peak{0};
std::atomic<bool> g_installed{false};

// Each allocation carries its size in a 64-byte header in front of the data, so the DataPtr's context is its data
// pointer (as c10 requires of an allocator that kernels may call raw_allocate / raw_deleter on) and the deleter
// knows what to subtract. 64 bytes keep c10's alignment.
constexpr size_t kHeader = 64;

void release(void* data) {
  if (!data) return;
  char* base = static_cast<char*>(data) - kHeader;
  int64_t bytes;
  std::memcpy(&bytes, base, sizeof bytes);
  g_current.fetch_sub(bytes);
  std::free(base);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#pragma GCC diagnostic ignored "-Wsuggest-override"
class CountingAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const { return make(n); }
  c10::DataPtr allocate(size_t n) { return make(n); }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

 private:
  static c10::DataPtr make(size_t n) {
    void* base = nullptr;
    if (posix_memalign(&base, kHeader, n + kHeader) != 0 || !base) throw std::bad_alloc();
    const int64_t bytes = static_cast<int64_t>(n);
    std::memcpy(base, &bytes, sizeof bytes);
    void* data = static_cast<char*>(base) + kHeader;
    const int64_t now = g_current.fetch_add(bytes) + bytes;
    int64_t peak = g_peak.load();
    while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
    }
    return c10::DataPtr(data, data, &release, c10::Device(c10::DeviceType::CPU));
  }
};
#pragma GCC diagnostic pop

}  // namespace

void install_tracker() {
  static std::once_flag once;
  std::call_once(once, [] {
    static CountingAllocator alloc;
    c10::SetCPUAllocator(&alloc, /*priority=*/100);
    g_installed.store(true);
  });
}

bool tracker_installed() { return g_installed.load(); }
int64_t allocated_bytes() { return g_current.load(); }
int64_t peak_bytes() { return g_peak.load(); }
void reset_peak() { g_peak.store(g_current.load()); }

#ifdef SHEDDER_WITH_CUDA
namespace {
int index_of(const c10::Device& d) { return d.has_index() ? d.index() : 0; }
}  // namespace
int64_t allocated_bytes(const c10::Device& d) { return d.is_cuda() ? cuda::allocated_bytes(index_of(d)) : allocated_bytes(); }
int64_t peak_bytes(const c10::Device& d) { return d.is_cuda() ? cuda::peak_allocated_bytes(index_of(d)) : peak_bytes(); }
void reset_peak(const c10::Device& d) { d.is_cuda() ? cuda::reset_peak_allocated(index_of(d)) : reset_peak(); }
#else
int64_t allocated_bytes(const c10::Device&) { return allocated_bytes(); }
int64_t peak_bytes(const c10::Device&) { return peak_bytes(); }
void reset_peak(const c10::Device&) { reset_peak(); }
#endif

}  // namespace shedder::memory
