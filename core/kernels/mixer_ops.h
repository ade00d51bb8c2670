// The sequence-mixer operations of the forward pass on any device and dtype: the fused float32 CPU kernels
// (cpu_kernels.h) on the CPU, the project's CUDA kernels (cuda/) on a GPU when the build has them, and a
// plain ATen formulation (chunked scans, float32 inside) everywhere else. Inputs and outputs keep the
// compute dtype of the activations; states, norms' statistics and scan arithmetic are float32, as the
// reference keeps them. Semantics are those of cpu_kernels.h.
#pragma once

#include <ATen/ATen.h>

namespace shedder::ops {

// Which implementation runs: the default picks the fastest available; the tests force one.
enum class Impl { Auto, Aten };

// Causal depthwise conv (+SiLU). x: [B, L, C] row-strided; w_kc: [K, C] float32; bias: [C] float32 or
// undefined; prev: [B, K-1, C] (x's dtype) or undefined. Returns [B, L, C] in x's dtype.
at::Tensor causal_conv1d(const at::Tensor& x, const at::Tensor& w_kc, const at::Tensor& bias, bool silu,
                         const at::Tensor& prev = at::Tensor(), Impl impl = Impl::Auto);

// Mamba-1 selective scan (softplus inside, D skip, optional SiLU(z) gate). A_nd, Dv float32; state
// [B, D, N] float32 (in/out) or undefined. `dt_bias` ([D] float32 or undefined) is added to dt_raw in float32
// before the softplus (mamba_ssm's delta_bias: the GPU path leaves the bias out of dt_proj's matmul).
// Returns y [B, L, D] in u's dtype.
at::Tensor selective_scan(const at::Tensor& u, const at::Tensor& dt_raw, const at::Tensor& A_nd, const at::Tensor& Bm,
                          const at::Tensor& Cm, const at::Tensor& Dv, const at::Tensor& z,
                          const at::Tensor& state = at::Tensor(), Impl impl = Impl::Auto,
                          const at::Tensor& dt_bias = at::Tensor());

// Mamba-2 SSD recurrence. dt_bias, A, Dv float32 [H]; state [B, H, P, N] float32 (in/out) or undefined.
at::Tensor ssd_scan(const at::Tensor& x, const at::Tensor& dt_raw, const at::Tensor& dt_bias, const at::Tensor& A,
                    const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& Dv, int64_t head_dim,
                    int64_t n_groups, double dt_min, double dt_max, const at::Tensor& state = at::Tensor(),
                    Impl impl = Impl::Auto);

// RMSNorm as transformers' MambaRMSNorm computes it: variance in float32 of x, the normalised value cast to
// `w`'s dtype, times w. With `round_input`, x is first rounded to w's dtype (a block norm: transformers casts
// the float32 residual to the weight dtype before its norm); the final norm takes the float32 residual as is
// and returns float32. x: [..., H]; w: [H].
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps, bool round_input = true,
                    Impl impl = Impl::Auto);

// The residual connection and the next block's norm in one pass: h_out = h + delta (float32), returns
// rms_norm(h_out, w, eps, round_input = true). h: float32 [..., H]; delta: same shape, any dtype.
at::Tensor add_rms_norm(const at::Tensor& h, const at::Tensor& delta, const at::Tensor& w, double eps, at::Tensor& h_out,
                        Impl impl = Impl::Auto);

// Mamba-2's gated RMSNorm: w * cast(normalize(y * silu(z)) per group of the last dimension, in float32).
// y: [B, L, D]; z: [B, L, D] row-strided; w: [D]. Returns w's dtype.
at::Tensor gated_rms_norm(const at::Tensor& y, const at::Tensor& z, const at::Tensor& w, int64_t groups, double eps,
                          Impl impl = Impl::Auto);

// How many times a CUDA tensor went to the ATen formulation because the CUDA kernels do not cover its shape or
// dtype (checks use it to make sure the kernels really ran).
int64_t cuda_fallbacks();

// Next-token NLL of each row (logsumexp - gold logit, never below 0, from the logits' values in float32 or wider),
// float64 on the logits' device. logits: [M, V] in any floating dtype (on CUDA, float32/float16/bfloat16 rows with a
// contiguous last dimension are read as they are by one fused kernel; on the CPU they are converted to float32 for
// the CPU kernel). targets: [M] integers in [0, V); shedder::Error naming the first one outside when they are on the
// CPU (targets on the device are not checked: the CUDA kernel gives NaN for one outside).
at::Tensor row_nll(const at::Tensor& logits, const at::Tensor& targets, Impl impl = Impl::Auto);

// While autograd records (training), the scans run the fused forward/backward kernels on the CPU (on, the default)
// or the chunked ATen form autograd differentiates by itself (off; for the training benchmark's comparison).
// Per thread.
void set_fused_training_scan(bool on);

}  // namespace shedder::ops
