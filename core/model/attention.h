// Attention pieces the hybrid architectures share (Zamba2's shared blocks, Hymba's attention heads): rotary
// position tables, grouped-query attention with a causal, sliding-window or meta-token mask, and the key/value
// cache of the recurrent state. On a GPU (libtorch 2.1+) the attention itself runs in ATen's fused
// scaled_dot_product_attention; on the CPU, softmax(q k^T * scale) v as transformers' eager path computes it.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace shedder {

// cos/sin of rotary embeddings for `count` positions from `first`, head size `dim` (inv_freq = base^(-2i/dim),
// the halves concatenated, as transformers' rotate_half convention): [count, dim] float32 on `device`.
struct RotaryTable {
  at::Tensor cos, sin;
};
RotaryTable rotary_table(int64_t first, int64_t count, int64_t dim, double base, const at::Device& device);
// t [..., count, dim] rotated (float32 arithmetic, result in t's dtype).
at::Tensor apply_rotary(const at::Tensor& t, const RotaryTable& r);

// Which keys a query sees: queries are the positions [q_first, q_first + T), keys the positions [0, S). Causal, and
// with `window` > 0 only keys within `window` positions back — except the first `always_visible` keys (meta tokens).
struct AttentionMask {
  int64_t q_first = 0;
  int64_t window = 0;
  int64_t always_visible = 0;
};

// q [B, Hq, T, d], k [B, Hk, S, d], v [B, Hk, S, dv] with Hq a multiple of Hk (query head h reads KV head h / (Hq /
// Hk)) -> [B, Hq, T, dv] in q's dtype, softmax in float32.
at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionMask& mask, double scale);

// Appends `next` [B, H, T, d] to a key or value cache along the sequence (an undefined cache starts with it) and
// returns the whole cache.
at::Tensor append_to_cache(at::Tensor& cache, const at::Tensor& next);

}  // namespace shedder
