// Fused CPU selective scan for the training path, forward and backward (the backward recomputes the
// states of a block of channels into a cache-sized buffer instead of storing [B, L, D, N] states):
//   h_t[d, n] = exp(dt_t[d] * A[d, n]) * h_{t-1}[d, n] + dt_t[d] * x_t[d] * B_t[g(d), n]
//   y_t[d]    = sum_n C_t[g(d), n] * h_t[d, n]          with g(d) = d / (D / G), h_{-1} = 0.
// Mamba-1 is G = 1; Mamba-2 maps its per-head dt / A onto the head's channels. The softplus of dt, the D
// skip and the z gate stay outside (cheap ATen ops that autograd differentiates).
#pragma once

#include <ATen/ATen.h>

namespace shedder::kernels {

// x, dt: [B, L, D]; A: [D, N]; Bm, Cm: [B, L, G, N]; float32 CPU, contiguous. Returns y [B, L, D].
at::Tensor ssm_scan_forward(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& Bm,
                            const at::Tensor& Cm);

struct SsmScanGrads {
  at::Tensor dx, ddt, dA, dB, dC;  // shapes of x, dt, A, Bm, Cm
};

// Gradients of sum(gy * y) with respect to every input (gy: [B, L, D]).
SsmScanGrads ssm_scan_backward(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& Bm,
                               const at::Tensor& Cm, const at::Tensor& gy);

}  // namespace shedder::kernels
