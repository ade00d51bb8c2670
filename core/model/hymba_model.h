// Hymba (nvidia/Hymba-1.5B-Base layout, its own modeling_hymba.py): the architecture file of the model interface
// (model.h). Every layer runs attention heads and an SSM (the shared Mamba-1 SSM core, model/mamba_mixer.h) in
// parallel from one in_proj, normalises each branch's output (RMSNorm over the inner width), averages them into
// out_proj, then an MLP; learned meta (memory) tokens are prepended to the sequence; most layers use sliding-window
// attention (meta tokens always visible), a few global attention; consumer layers reuse the K/V of a producer
// layer (kv_reuse_group), which the stream carries (Activations::carried) so a pass can resume at any layer.
//
// Removal semantics, as the reference's pruning patch (one code path for masked evaluation and the exported model):
// `layers.N` is the Hymba block (input norm, attention and SSM heads, out_proj; the layer's MLP stays), `.attn` /
// `.ssm` one branch (the other branch's normed output then goes to out_proj alone, not averaged), `.mlp` the MLP.
// A removed attention head group (a KV head with its query heads) or SSM head (a slice of the SSM's inner channels)
// contributes zeros to its branch, whose RMSNorm still averages over the full inner width. A layer whose K/V later
// kept layers reuse keeps its attention until they are gone.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/hymba_config.h"
#include "model/mamba_mixer.h"
#include "model/model.h"

namespace shedder {

class HymbaModel : public Model {
 public:
  static std::shared_ptr<HymbaModel> load(const std::string& dir, const LoadOptions& opts = {});
  ~HymbaModel() override;

  const HymbaConfig& config() const { return cfg_; }
  const char* arch() const override { return "hymba"; }
  int64_t num_layers() const override { return cfg_.num_layers; }
  int64_t hidden_size() const override { return cfg_.hidden_size; }
  int64_t vocab_size() const override { return cfg_.vocab_size; }
  int64_t vocab_rows() const override { return cfg_.vocab_size; }
  int64_t eos_token_id() const override { return cfg_.eos_token_id; }
  nlohmann::json summary() const override;
  std::string description() const override;

  Component component_tree() const override;
  std::vector<Granularity> granularities() const override;
  std::vector<ComponentId> candidates(Granularity g, const RemovalSet& removed) const override;
  int64_t total_parameters() const override;
  int64_t kept_parameters(const RemovalSet& removed, const std::string& label = "removal") const override;
  // A component of an attending layer can change which K/V groups its producer layer keeps: from the producer on.
  int64_t first_layer(const ComponentId& c) const override;

  PlanPtr plan(const RemovalSet& removed, const std::string& label = "removal") const override;
  Activations embed(const at::Tensor& ids, const ForwardPlan& p, RecurrentState* state) const override;
  void layer(int64_t l, Activations& a, const ForwardPlan& p, RecurrentState* state) const override;
  at::Tensor head_logits(const at::Tensor& hidden) const override;

  PrunedCheckpoint pruned_checkpoint(const ForwardPlan& p) const override;
  std::vector<WeightSlot> weight_slots() override;

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
    at::Tensor x_w, z_w;
    Mamba1Ssm ssm;
    at::Tensor ln_attn_w, ln_ssm_w, out_proj_w;  // [inner], [inner], [H, inner]
    at::Tensor mlp_norm_w, gate_w, up_w, down_w;  // MLP (undefined when intermediate_size is 0)
  };
  struct Plan;

 protected:
  void reorder_mlp_channels() override;
  std::vector<LayerState> zero_state(int64_t batch, const ForwardPlan& p) const override;

 private:
  HymbaModel() = default;
  // The plan of `removed`; with `materialize`, also the weights with the removals cut out (what a pass needs).
  std::shared_ptr<Plan> resolve(const RemovalSet& removed, const std::string& label, bool materialize = true) const;
  int64_t count_params(const Plan& p) const;
  Layer cut(int64_t layer, const Plan& p) const;

  HymbaConfig cfg_;
  at::Tensor embedding_, final_norm_w_, lm_head_, memory_tokens_;
  std::vector<Layer> layers_;
};

}  // namespace shedder
