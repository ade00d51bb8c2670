// shedder::kernels::parallel_for (see parallel.h): the one translation unit compiled with -fopenmp.
#include "kernels/parallel.h"

#include <ATen/Parallel.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>

namespace shedder::kernels::detail {

void parallel_for_impl(int64_t begin, int64_t end, int64_t grain, RangeFn fn, const void* body) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  // The team size is asked for explicitly: libtorch may bundle its own OpenMP runtime (PyTorch's wheels), whose
  // thread count at::set_num_threads sets; this runtime's default would be every core.
  const int64_t threads = std::min<int64_t>(at::get_num_threads(), (n + grain - 1) / grain);
  if (threads <= 1 || omp_in_parallel() || at::in_parallel_region()) {
    fn(body, begin, end);
    return;
  }
  std::exception_ptr error;
  std::atomic_flag failed = ATOMIC_FLAG_INIT;
#pragma omp parallel num_threads(static_cast<int>(threads))
  {
    const int64_t t = omp_get_thread_num(), team = omp_get_num_threads();
    const int64_t chunk = std::max((n + team - 1) / team, grain);
    const int64_t b = begin + t * chunk;
    if (b < end) {
      try {
        fn(body, b, std::min(end, b + chunk));
      } catch (...) {
        if (!failed.test_and_set()) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace shedder::kernels::detail
