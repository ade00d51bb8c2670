// The Mamba mixers every architecture shares: Mamba-1 (MambaModel's Mamba-1 layers; its SSM core also runs
// Hymba's SSM heads) and Mamba-2 (MambaModel's Mamba-2 layers and every Zamba2 layer), with transformers' math, the
// fused kernels of kernels/mixer_ops, the removal of the selective scan ("skip_ssm"), and the recurrent state.
// Weights are float32 on the CPU; on a GPU the matrices are in the compute dtype and conv, A, D, dt_bias float32.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "model/model.h"

namespace shedder {

// ---- Mamba-1 -----------------------------------------------------------------------------------------------------

// The selective-scan part of a Mamba-1 mixer: conv over the x projection, x_proj into dt/B/C (optionally
// RMS-normed, as Hymba's inner layernorms), dt_proj, the scan with the D skip and the silu(z) gate.
struct Mamba1Ssm {
  at::Tensor conv_w_kc, conv_b;        // conv weight transposed to [K, C]; [C] or undefined
  at::Tensor x_proj_w;                 // [R + 2N, C]
  at::Tensor dt_proj_w, dt_proj_b;     // [C, R], [C]
  at::Tensor A_nd;                     // -exp(A_log), transposed to [N, C]
  at::Tensor Dv;                       // [C]
  at::Tensor dt_norm_w, B_norm_w, C_norm_w;  // Hymba's inner RMSNorms (undefined: none)
  int64_t dt_rank = 0, state_size = 0;
  double norm_eps = 1e-6;
};

struct Mamba1Weights {
  at::Tensor in_proj_w, in_proj_b;    // [2D, H], [2D] or undefined
  at::Tensor out_proj_w, out_proj_b;  // [H, D]
  Mamba1Ssm ssm;                      // conv always; the SSM tensors undefined when an export dropped them
  bool has_ssm = true;
};

// y = scan(conv(xs), z) of the SSM core over inputs xs, z [B, L, C] (z may be a strided view). skip_ssm: the scan
// goes (y = conv(xs) * silu(z)). With `state` the pass continues its conv and SSM state and updates them.
at::Tensor mamba1_ssm(const Mamba1Ssm& w, const at::Tensor& xs, const at::Tensor& z, bool skip_ssm, LayerState* state,
                      const at::Device& device);
// The whole mixer for the normalised input x [B, L, H] -> [B, L, H].
at::Tensor mamba1_mixer(const Mamba1Weights& w, const at::Tensor& x, bool skip_ssm, LayerState* state,
                        const at::Device& device);

// ---- Mamba-2 -----------------------------------------------------------------------------------------------------

struct Mamba2Shape {
  int64_t inner = 0, heads = 0, head_dim = 0, groups = 1, state = 0;
  int64_t norm_groups = 1;   // the gated RMSNorm's groups: transformers' Mamba2 1, mamba_ssm and Zamba2 n_groups
  double norm_eps = 1e-5;
  double dt_min = 0, dt_max = 0;  // dt clamp (Zamba2: time_step_min, no upper limit)
  // Heads of each B/C group, in order, when the groups are unequal (a pure Mamba-2 layer whose heads were cut,
  // model/mamba_width.h); empty: heads / groups each. Unequal groups give each head its group's B and C (a gather
  // after the conv, no copied weights), and a grouped gated norm normalises each group over its own channels.
  std::vector<int64_t> group_heads;
  int64_t conv_dim() const { return inner + 2 * groups * state; }
  int64_t in_proj_rows() const { return inner + conv_dim() + heads; }
};

// The B/C group of each head of a layer of shape `s` (equal groups, or s.group_heads).
std::vector<int64_t> mamba2_group_of_heads(const Mamba2Shape& s);

struct Mamba2Weights {
  at::Tensor in_proj_w, in_proj_b;    // [z | x B C | dt] rows; only z and x when an export dropped the SSM
  at::Tensor conv_w_kc, conv_b;       // [K, conv_dim] (or [K, inner] without the SSM)
  at::Tensor dt_bias, A_h, Dv;        // [heads]; A = -exp(A_log)
  at::Tensor gnorm_w;                 // gated RMSNorm weight [inner]
  at::Tensor out_proj_w, out_proj_b;  // [H, inner]
  bool has_ssm = true;
};

// Mamba-2 mixer for the normalised input x [B, L, H] -> [B, L, H]: in_proj, conv, SSD, gated RMSNorm,
// out_proj. skip_ssm: y = the conv-activated x part. With `state`, continues and updates it.
at::Tensor mamba2_mixer(const Mamba2Weights& w, const Mamba2Shape& s, const at::Tensor& x, bool skip_ssm,
                        LayerState* state, const at::Device& device);

// The conv inputs to keep after `x` ([B, L, C], row-strided) in a conv state [B, K-1, C]: the last K-1 of
// (previous state, x).
void advance_conv_state(at::Tensor& conv, const at::Tensor& x);

}  // namespace shedder
