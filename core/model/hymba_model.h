// Hymba (nvidia/Hymba-1.5B-Base layout, its own modeling_hymba.py): every layer runs attention heads and an SSM
// (Mamba-1 selective scan) in parallel from one in_proj, normalises each branch's output (RMSNorm over the inner
// width), averages them into out_proj, then an MLP; learned meta (memory) tokens are prepended to the sequence;
// most layers use sliding-window attention (meta tokens always visible), a few global attention; consumer layers
// reuse the K/V of a producer layer (kv_reuse_group). Loading, the forward pass with components removed, and export.
//
// Removal semantics, as the reference's pruning patch (one code path for masked evaluation and the exported model):
// `layers.N` is the Hymba block (input norm, attention and SSM heads, out_proj; the layer's MLP stays), `.attn` /
// `.ssm` one branch (the other branch's normed output then goes to out_proj alone, not averaged), `.mlp` the MLP.
// A removed attention head group (a KV head with its query heads) or SSM head (a slice of the SSM's inner channels)
// contributes zeros to its branch, whose RMSNorm still averages over the full inner width. A layer whose K/V later
// kept layers reuse keeps its attention until they are gone.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/hybrid_model.h"
#include "model/hymba_config.h"

namespace shedder {

class HymbaModel : public HybridModel {
 public:
  static std::shared_ptr<HymbaModel> load(const std::string& dir, const HybridLoadOptions& opts = {});
  ~HymbaModel() override;

  const char* arch() const override { return "hymba"; }
  int64_t vocab_size() const override { return cfg_.vocab_size; }
  int64_t num_layers() const override { return cfg_.num_layers; }
  int64_t hidden_size() const override { return cfg_.hidden_size; }
  int64_t total_parameters() const override;
  Component component_tree() const override;
  std::vector<std::string> candidates(HybridGranularity g, const HybridRemoval& removed) const override;
  void check_removal(const HybridRemoval& removed, const std::string& label) const override;
  int64_t removed_parameters(const HybridRemoval& removed) const override;
  at::Tensor forward(const at::Tensor& ids, const HybridRemoval& removed = {}) const override;
  void export_pruned(const HybridRemoval& removed, const std::string& out_dir, bool force = false) const override;
  void reorder_mlp_channels() override;

  const HymbaConfig& config() const { return cfg_; }

  struct Layer {
    bool has_mixer = true, has_attn = true;  // the Hymba block (attention + SSM) and its attention branch
    at::Tensor in_norm_w;
    // Attention: q rows per kept query head; k, v rows per stored KV group (undefined for consumers).
    at::Tensor q_w, k_w, v_w, q_norm_w, k_norm_w;
    std::vector<int64_t> groups;      // the KV groups whose query heads this layer has (original numbering)
    std::vector<int64_t> kv_groups;   // the KV groups whose K/V rows this layer stores (producers)
    // SSM branch over the kept SSM heads' channels (original numbering in `ssm_channels`).
    bool has_ssm = true;
    std::vector<int64_t> ssm_channels;
    at::Tensor x_w, z_w, conv_w_kc, conv_b, x_proj_w, dt_proj_w, dt_proj_b, A_nd, Dv, dt_norm_w, B_norm_w, C_norm_w;
    at::Tensor ln_attn_w, ln_ssm_w, out_proj_w;  // [inner], [inner], [H, inner]
    at::Tensor mlp_norm_w, gate_w, up_w, down_w;  // MLP (undefined when intermediate_size is 0)
  };

 private:
  HymbaModel() = default;
  struct Plan;
  Plan plan(const HybridRemoval& removed, const std::string& label) const;
  int64_t count_params(const Plan& p) const;
  Layer cut(int64_t layer, const Plan& p) const;

  HymbaConfig cfg_;
  at::Tensor memory_tokens_;
  std::vector<Layer> layers_;
};

}  // namespace shedder
