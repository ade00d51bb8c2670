// Shared pieces of the benchmark programs: wall-clock timing and the plain fp32 matmul baseline every
// benchmark reports its ratio against.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace shedder::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Best of 5 runs of 20 [m x k] x [k x n] float32 matmuls, in FLOP/s.
inline double matmul_flops(int64_t m, int64_t k, int64_t n) {
  at::Tensor a = at::randn({m, k}), b = at::randn({n, k});
  for (int i = 0; i < 3; ++i) (void)at::linear(a, b);
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const int iters = 20;
    auto t0 = Clock::now();
    for (int i = 0; i < iters; ++i) (void)at::linear(a, b);
    best = std::max(best, 2.0 * static_cast<double>(m * k * n) * iters / seconds_since(t0));
  }
  return best;
}

}  // namespace shedder::bench
