// Fused CPU kernels for the sequence mixers: causal depthwise conv (+SiLU), the Mamba-1 selective
// scan and the Mamba-2 SSD recurrence. Each runs one pass over contiguous memory per (batch, channel
// block) with the state kept in cache, instead of one tensor op per time step.
// All tensors are float32 on CPU. "Row-strided" inputs may be narrow() views of a larger projection:
// the last dimension must be contiguous, the other strides are arbitrary.
#pragma once

#include <ATen/ATen.h>

namespace shedder::kernels {

// out[b,t,c] = bias[c] + sum_k w_kc[k,c] * x[b, t-(K-1)+k, c], then SiLU if asked. Positions before the
// start read `prev` ([B, K-1, C], the K-1 inputs that preceded x: the conv state of recurrent decoding) or
// zero when `prev` is undefined (zero left padding). The terms are added in the same order either way, so
// a sequence split into pieces gives bit-identical outputs.
// x: [B, L, C] row-strided; w_kc: [K, C] contiguous; bias: [C] or undefined. Returns [B, L, C] contiguous.
at::Tensor causal_conv1d(const at::Tensor& x, const at::Tensor& w_kc, const at::Tensor& bias, bool silu,
                         const at::Tensor& prev = at::Tensor());

// Mamba-1 selective scan (transformers' MambaMixer.slow_forward math):
//   s_t[d,n] = exp(dt[t,d] * A[d,n]) * s_{t-1}[d,n] + dt[t,d] * B[t,n] * u[t,d]
//   y[t,d]   = (sum_n s_t[d,n] * C[t,n] + D[d] * u[t,d]) * silu(z[t,d])     (gate only if z defined)
// with dt = softplus(dt_raw) computed inside (torch's threshold-20 softplus).
// u, dt_raw: [B, L, D] contiguous; A_nd: [N, D] contiguous (A transposed, A = -exp(A_log));
// Bm, Cm: [B, L, N] row-strided; Dv: [D]; z: [B, L, D] row-strided or undefined. Returns [B, L, D].
// `state` ([B, D, N] float32 contiguous, transformers' ssm_states layout) is optional: when given, the scan
// starts from it instead of zeros and it is overwritten with the state after the last step.
at::Tensor selective_scan(const at::Tensor& u, const at::Tensor& dt_raw, const at::Tensor& A_nd, const at::Tensor& Bm,
                          const at::Tensor& Cm, const at::Tensor& Dv, const at::Tensor& z,
                          const at::Tensor& state = at::Tensor());

// Mamba-2 SSD recurrence (same result as transformers' chunked torch_forward):
//   dt[t,h] = clamp(softplus(dt_raw[t,h] + dt_bias[h]), lo, hi)
//   S_t[h,p,n] = exp(dt*A[h]) * S_{t-1}[h,p,n] + dt * x[t,h,p] * B[t,g(h),n]
//   y[t,h,p]  = sum_n S_t[h,p,n] * C[t,g(h),n] + D[h] * x[t,h,p]
// x: [B, L, H*P] row-strided; dt_raw: [B, L, H] row-strided; Bm, Cm: [B, L, G*N] row-strided;
// dt_bias, A (= -exp(A_log)), Dv: [H]. Returns y: [B, L, H*P] contiguous.
// `state` ([B, H, P, N] float32 contiguous, transformers' ssm_states layout) is optional: when given, the
// recurrence starts from it instead of zeros and it is overwritten with the state after the last step.
at::Tensor ssd_scan(const at::Tensor& x, const at::Tensor& dt_raw, const at::Tensor& dt_bias, const at::Tensor& A,
                    const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& Dv, int64_t head_dim,
                    int64_t n_groups, double dt_min, double dt_max, const at::Tensor& state = at::Tensor());

// Next-token negative log-likelihood of each row: logsumexp(logits[r, :]) - logits[r, targets[r]], in one
// pass per row (no log_softmax tensor); never below 0, as the true value. logits: [M, V] float32 rows contiguous;
// returns [M] float64.
at::Tensor row_nll(const at::Tensor& logits, const at::Tensor& targets);
// row_nll's targets as a contiguous int64 CPU tensor: c10::Error when not integers, shedder::Error naming the first
// id outside [0, V).
at::Tensor checked_targets(const at::Tensor& targets, int64_t V);

}  // namespace shedder::kernels
