// Rotary tables, masked grouped-query attention and the KV cache (see attention.h).
#include "model/attention.h"

#include <torch/version.h>

#include <limits>

namespace shedder {

RotaryTable rotary_table(int64_t first, int64_t count, int64_t dim, double base, const at::Device& device) {
  at::Tensor inv = 1.0 / at::pow(base, at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim));
  at::Tensor freqs = at::arange(first, first + count, at::kLong).to(at::kFloat).unsqueeze(1) * inv.unsqueeze(0);
  at::Tensor e = at::cat({freqs, freqs}, -1);
  return {e.cos().to(device), e.sin().to(device)};
}

at::Tensor apply_rotary(const at::Tensor& t, const RotaryTable& r) {
  const int64_t d = t.size(-1), half = d / 2;
  at::Tensor rh = at::cat({-t.narrow(-1, half, d - half), t.narrow(-1, 0, half)}, -1);
  return (t * r.cos + rh * r.sin).to(t.scalar_type());
}

namespace {

// [T, S] true where query i (position q_first + i) may read key j.
at::Tensor allowed(const AttentionMask& m, int64_t T, int64_t S, const at::Device& device) {
  at::Tensor qi = at::arange(m.q_first, m.q_first + T, at::TensorOptions().dtype(at::kLong).device(device)).unsqueeze(1);
  at::Tensor kj = at::arange(S, at::TensorOptions().dtype(at::kLong).device(device)).unsqueeze(0);
  at::Tensor ok = kj <= qi;
  if (m.window > 0) ok = ok & ((qi - kj <= m.window) | (kj < m.always_visible));
  return ok;
}

}  // namespace

at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const AttentionMask& mask, double scale) {
  const int64_t rep = q.size(1) / k.size(1), T = q.size(2), S = k.size(2);
  at::Tensor kk = rep > 1 ? k.repeat_interleave(rep, 1) : k, vv = rep > 1 ? v.repeat_interleave(rep, 1) : v;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  if (!q.device().is_cpu()) {
    // Plain causal attention (no window; the queries are the last T positions) needs no mask tensor, so the fused
    // (flash) kernels can run: is_causal for a whole sequence, nothing for one new token against its cache.
    const bool plain = mask.window <= 0 && mask.q_first == S - T;
    kk = kk.to(q.scalar_type());
    vv = vv.to(q.scalar_type());
    if (plain && T == S) return at::scaled_dot_product_attention(q, kk, vv, {}, 0.0, true, scale);
    if (plain && T == 1) return at::scaled_dot_product_attention(q, kk, vv, {}, 0.0, false, scale);
    return at::scaled_dot_product_attention(q, kk, vv, allowed(mask, T, S, q.device()), 0.0, false, scale);
  }
#endif
  const at::Tensor ok = allowed(mask, T, S, q.device());
  at::Tensor scores = at::matmul(q.to(at::kFloat), kk.to(at::kFloat).transpose(2, 3)) * scale;
  scores = scores.masked_fill(~ok, -std::numeric_limits<float>::infinity());
  return at::matmul(at::softmax(scores, -1), vv.to(at::kFloat)).to(q.scalar_type());
}

at::Tensor append_to_cache(at::Tensor& cache, const at::Tensor& next) {
  cache = cache.defined() ? at::cat({cache, next}, 2) : next.contiguous();
  return cache;
}

}  // namespace shedder
