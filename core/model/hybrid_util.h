// Small helpers the hybrid architecture files share (zamba2_*.cpp, hymba_*.cpp; mamba_model.cpp the group size): the
// MLP channel group size, activations, index lists for cutting heads and channels out of weights (what a plan and an
// export do), and the start of a pruned checkpoint.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"

namespace shedder::hybrid_util {

// Channels per MLP group: `requested`, or intermediate/16 rounded to a power of two in [16, 128].
inline int64_t mlp_group_size(int64_t requested, int64_t intermediate) {
  if (requested > 0) return requested;
  int64_t g = 16;
  while (g < 128 && g * 16 <= intermediate) g *= 2;
  return g;
}

inline at::Tensor activation(const at::Tensor& x, const std::string& act) {
  if (act == "gelu") return at::gelu(x);
  if (act == "gelu_pytorch_tanh" || act == "gelu_new") return at::gelu(x, "tanh");
  if (act == "silu" || act == "swish") return at::silu(x);
  return at::relu(x);  // validated at load: only "relu" reaches here
}

// The start of a hybrid's pruned checkpoint: the in-memory (compute dtype) embedding, final norm and, when not tied,
// LM head under transformers' names.
inline PrunedCheckpoint checkpoint_with_ends(const at::Tensor& embedding, const at::Tensor& final_norm,
                                             const at::Tensor& lm_head, bool tied) {
  PrunedCheckpoint out;
  out.in_compute_dtype = true;
  out.tensors.emplace_back("model.embed_tokens.weight", embedding);
  out.tensors.emplace_back("model.final_layernorm.weight", final_norm);
  if (!tied) out.tensors.emplace_back("lm_head.weight", lm_head);
  return out;
}

inline at::Tensor idx(const std::vector<int64_t>& v, const at::Device& d = at::kCPU) {
  return at::tensor(v, at::kLong).to(d);
}

// Rows [i*size, (i+1)*size) for every i in `units`.
inline std::vector<int64_t> unit_rows(const std::vector<int64_t>& units, int64_t size, int64_t offset = 0) {
  std::vector<int64_t> r;
  for (int64_t u : units)
    for (int64_t k = 0; k < size; ++k) r.push_back(offset + u * size + k);
  return r;
}

inline at::Tensor rows(const at::Tensor& t, const std::vector<int64_t>& r) {
  return t.index_select(0, idx(r, t.device())).contiguous();
}
inline at::Tensor cols(const at::Tensor& t, const std::vector<int64_t>& r) {
  return t.index_select(1, idx(r, t.device())).contiguous();
}

}  // namespace shedder::hybrid_util
