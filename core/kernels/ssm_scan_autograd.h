// The differentiable selective scan: what the mixer ops (mixer_ops.h) run while autograd records, e.g. in
// training. On the CPU: the fused forward/backward kernels (kernels/ssm_scan_grad.h) behind a custom autograd
// function; on other devices: the chunked ATen recurrence (chunked_scan.h), which autograd differentiates by
// itself. Same math either way:
//   h_t[d, n] = exp(dt_t[d] A[d, n]) h_{t-1}[d, n] + dt_t[d] x_t[d] B_t[g(d), n],  y_t[d] = sum_n C_t[g(d), n] h_t[d, n]
#pragma once

#include <ATen/ATen.h>

namespace shedder {

// x, dt: [B, L, D]; A: [D, N]; Bm, Cm: [B, L, G, N] (channel d belongs to group d / (D / G)). Returns y [B, L, D].
// `fused`: use the fused kernels when the tensors are float32 on the CPU (false: always the chunked form,
// for comparisons).
at::Tensor differentiable_ssm_scan(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                                   const at::Tensor& Bm, const at::Tensor& Cm, bool fused = true);

// The chunked ATen form alone (any device); the tests compare the two.
at::Tensor chunked_ssm_scan(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& Bm,
                            const at::Tensor& Cm);

}  // namespace shedder
