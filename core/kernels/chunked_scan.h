// The linear recurrence h_t = exp(log_a_t) * h_{t-1} + u_t of the selective scans (training path, and the
// inference fallback on devices without our kernels)
// along the time dimension, computed in chunks so that a sequence of length L takes about 2*sqrt(L)
// sequential steps of whole-batch ATen ops instead of L. Only ATen ops: autograd differentiates it and it
// runs on any device. Numerically it only ever exponentiates cumulative sums of log_a <= 0 (no overflow).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace shedder {

// u: [B, L, S...] (the input increments); log_a: broadcastable to u ([B, L, ...] with size-1 dims), the
// log of the decay (<= 0 for a stable SSM). Returns h: [B, L, S...] with h_{-1} = 0. `chunk` <= 0 picks
// about sqrt(L).
at::Tensor chunked_linear_recurrence(const at::Tensor& log_a, const at::Tensor& u, int64_t chunk = 0);

}  // namespace shedder
