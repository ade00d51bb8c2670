// Width cuts inside the mixers of pure Mamba models: which SSM heads (Mamba-2), inner channels (Mamba-1) and state
// dimensions (both) of one layer a removal set keeps, and the layer cut to them. The masked model the search
// evaluates is this cut layer itself (its tensors narrowed to the kept rows and columns), so an export writes the
// same tensors and reproduces the search's numbers exactly. docs/width.md states the semantics:
//  - a Mamba-2 head is its z, x and dt rows of in_proj, its conv channels, A_log, D, dt_bias, its gated-norm
//    channels and out_proj columns; B/C stay with their group and go when the group has no head left; the gated
//    norm averages over the kept channels (of each group, where the model normalises per group);
//  - a Mamba-1 inner channel is its x and z rows of in_proj, its conv channel, x_proj column, dt_proj row, A_log
//    and D rows, and out_proj column;
//  - a state dimension n is B's and C's row n (in every group), and A_log's column n in Mamba-1.
//  - a Mamba-2 head-dimension channel is position p of every head: its z and x rows of in_proj, its conv channels,
//    gated-norm channels and out_proj columns in each head (dt, A, D, B, C stay);
// Removing every head or channel of a layer removes its whole mixer, which Model::plan treats as the block.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/mamba_mixer.h"

namespace shedder {

// What one mixer keeps (indices into the layer as loaded, ascending).
struct MixerKeep {
  std::vector<int64_t> units;  // Mamba-2: heads; Mamba-1: inner channels
  std::vector<int64_t> state;  // state dimensions
  // Mamba-2: positions of the head dimension kept in every head; empty: all of them.
  std::vector<int64_t> head_channels;
  std::string key() const;     // identifies the cut (cache key)
};

// ---- Mamba-2 ----------------------------------------------------------------------------------------------------

// The shape of a layer of shape `s` cut to `k` (groups left without a head dropped; group_heads set when the kept
// groups have unequal head counts). `k` must keep at least one head and one state dimension.
Mamba2Shape cut_mamba2_shape(const Mamba2Shape& s, const MixerKeep& k);
// The rows of in_proj, the conv channels and the inner channels a cut keeps, as index tensors (CPU, int64).
struct Mamba2CutIndex {
  at::Tensor in_rows, conv_channels, heads, inner;
};
Mamba2CutIndex mamba2_cut_index(const Mamba2Shape& s, const MixerKeep& k, bool has_ssm);
// The mixer's weights cut to `k` (copies; on the weights' device).
Mamba2Weights cut_mamba2(const Mamba2Weights& w, const Mamba2Shape& s, const MixerKeep& k);
// Parameters of a Mamba-2 mixer of shape `s` (norm weight of the block not included); `ssm`: with its selective
// scan (B/C/dt rows, their conv channels, dt_bias, A_log, D).
int64_t mamba2_mixer_params(const Mamba2Shape& s, int64_t hidden, int64_t conv_kernel, bool bias, bool conv_bias,
                            bool ssm);
// State dimensions in the order they are cut: the reference's L1 criterion on B and C, least important first —
// n's importance is the sum over groups of the L1 norms of in_proj's B and C rows for n.
std::vector<int64_t> mamba2_state_order(const Mamba2Weights& w, const Mamba2Shape& s);
// Heads in the order the width-search mode (LoadOptions::mlp_tail_groups) removes them, least important first:
// a head's importance is the L1 norm of its z and x rows of in_proj (the reference's channel criterion).
std::vector<int64_t> mamba2_head_order(const Mamba2Weights& w, const Mamba2Shape& s);

// ---- Mamba-1 ----------------------------------------------------------------------------------------------------

struct Mamba1CutIndex {
  at::Tensor in_rows, channels, x_proj_rows, state;
};
Mamba1CutIndex mamba1_cut_index(int64_t inner, int64_t state, int64_t dt_rank, const MixerKeep& k);
Mamba1Weights cut_mamba1(const Mamba1Weights& w, const MixerKeep& k);
int64_t mamba1_mixer_params(int64_t inner, int64_t state, int64_t dt_rank, int64_t hidden, int64_t conv_kernel,
                            bool bias, bool conv_bias, bool ssm);
// As mamba2_state_order, on x_proj's B and C rows.
std::vector<int64_t> mamba1_state_order(const Mamba1Weights& w);
// Inner channels, MOST important first (the order --reorder-channels gives them, so that the last channel group is
// the least important): the L1 norm of a channel's x and z rows of in_proj, ties by index.
std::vector<int64_t> mamba1_channel_order(const Mamba1Weights& w);

}  // namespace shedder
