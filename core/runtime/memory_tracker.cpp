// The counting CPU allocator (see memory_tracker.h). libtorch 1.x declares Allocator::allocate const and
// 2.x non-const with a pure copy_data: both signatures are defined (without `override`), so whichever the
// installed libtorch declares is the one overridden.
#include "runtime/memory_tracker.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <atomic>
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

struct Block {
  c10::DataPtr inner;
  int64_t bytes;
};

void release(void* ctx) {
  auto* b = static_cast<Block*>(ctx);
  g_current.fetch_sub(b->bytes);
  delete b;  // frees the inner allocation through its own deleter
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#pragma GCC diagnostic ignored "-Wsuggest-override"
class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* inner) : inner_(inner) {}

  c10::DataPtr allocate(size_t n) const { return wrap(n); }
  c10::DataPtr allocate(size_t n) { return wrap(n); }
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

 private:
  c10::DataPtr wrap(size_t n) const {
    c10::DataPtr p = inner_->allocate(n);
    void* data = p.get();
    const c10::Device dev = p.device();
    auto* b = new Block{std::move(p), static_cast<int64_t>(n)};
    const int64_t now = g_current.fetch_add(b->bytes) + b->bytes;
    int64_t peak = g_peak.load();
    while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
    }
    return c10::DataPtr(data, b, &release, dev);
  }
  c10::Allocator* inner_;
};
#pragma GCC diagnostic pop

}  // namespace

void install_tracker() {
  static std::once_flag once;
  std::call_once(once, [] {
    static CountingAllocator alloc(c10::GetCPUAllocator());
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
