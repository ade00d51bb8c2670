// ATen-level entry points of the project's CUDA kernels (compiled only when the build has CUDA: see
// core/CMakeLists.txt). Each validates its inputs, allocates the output on the input's device and launches
// on the current stream; it returns an undefined tensor for shapes or dtypes the kernels do not cover,
// and the caller (mixer_ops.cpp) then uses the ATen formulation. Semantics: mixer_ops.h.
#pragma once

#include <ATen/ATen.h>

namespace shedder::cuda {

at::Tensor causal_conv1d(const at::Tensor& x, const at::Tensor& w_kc, const at::Tensor& bias, bool silu,
                         const at::Tensor& prev);
at::Tensor selective_scan(const at::Tensor& u, const at::Tensor& dt_raw, const at::Tensor& A_nd, const at::Tensor& Bm,
                          const at::Tensor& Cm, const at::Tensor& Dv, const at::Tensor& z, const at::Tensor& state,
                          const at::Tensor& dt_bias);
at::Tensor ssd_scan(const at::Tensor& x, const at::Tensor& dt_raw, const at::Tensor& dt_bias, const at::Tensor& A,
                    const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& Dv, int64_t head_dim, int64_t n_groups,
                    double dt_min, double dt_max, const at::Tensor& state);
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps, bool round_input);
// h_out = h + delta (float32) and rms_norm(h_out, w, eps, round_input = true) in one pass; h float32, delta
// [.., H] any dtype. Returns the norm (undefined h_out and result: not handled).
at::Tensor add_rms_norm(const at::Tensor& h, const at::Tensor& delta, const at::Tensor& w, double eps, at::Tensor& h_out);
at::Tensor gated_rms_norm(const at::Tensor& y, const at::Tensor& z, const at::Tensor& w, int64_t groups, double eps);
// logits [M, V] (float32/float16/bfloat16, rows contiguous, any row stride), targets [M] integers in [0, V) (one
// outside gives NaN): float64 NLLs of the rows on the logits' device.
at::Tensor row_nll(const at::Tensor& logits, const at::Tensor& targets);

// Waits for all work on `device_index` (cheaper than a copy back).
void synchronize(int device_index);

// The profiler's events (runtime/op_profile): one recorded on the current stream of `device_index`, and the
// milliseconds between two of them (waits for `end`; destroys both; 0 if either failed).
void* record_event(int device_index);
double event_elapsed_ms(void* start, void* end);

// Free memory on the current CUDA device in bytes (for cache budgets), 0 when unknown.
int64_t free_device_memory(int device_index);

// The CUDA caching allocator's statistics of tensor memory on `device_index` (what torch.cuda.memory_allocated /
// max_memory_allocated report): bytes allocated now, the most since the last reset, and the reset.
int64_t allocated_bytes(int device_index);
int64_t peak_allocated_bytes(int device_index);
void reset_peak_allocated(int device_index);

}  // namespace shedder::cuda
