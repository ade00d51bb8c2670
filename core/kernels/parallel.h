// The fused CPU kernels' parallel loop. ATen's at::parallel_for is an inline OpenMP template: it runs threads only
// in translation units compiled with -fopenmp, and none of ours is (the kernels use `omp simd` without a runtime), so
// through it every kernel ran on one thread (measured: the Mamba-1 scan took 1.8 s at 1 and at 16 threads while
// in_proj scaled 9x). This one is compiled once with OpenMP (parallel.cpp) and uses at::get_num_threads() threads.
#pragma once

#include <cstdint>

namespace shedder::kernels {

namespace detail {
using RangeFn = void (*)(const void* body, int64_t begin, int64_t end);
void parallel_for_impl(int64_t begin, int64_t end, int64_t grain, RangeFn fn, const void* body);
}  // namespace detail

// Calls f(b, e) on contiguous, disjoint sub-ranges covering [begin, end), each at least `grain` long (but the
// last), on up to at::get_num_threads() threads; on the calling thread alone when one thread is set, the range is
// within one grain, or the caller already runs inside a parallel region. Each index is handled by exactly one call,
// so kernels whose outputs per index do not depend on the split give the same bits at every thread count. The
// first exception a call throws is rethrown here, after every thread has finished.
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
  detail::parallel_for_impl(
      begin, end, grain, [](const void* body, int64_t b, int64_t e) { (*static_cast<const F*>(body))(b, e); }, &f);
}

}  // namespace shedder::kernels
