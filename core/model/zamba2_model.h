// Zamba2ForCausalLM (transformers' `zamba2`): the architecture file of the model interface (model.h). Mamba-2
// layers (the shared Mamba-2 mixer, model/mamba_mixer.h), some of them "hybrid" layers that first run one of
// num_mem_blocks shared transformer blocks — attention over [hidden, original embeddings] with per-use q/k/v LoRA
// adapters, then an MLP with per-use gate/up adapters — whose output, through the layer's own linear, is added to
// the Mamba layer's input. Removable: layers, SSMs, a layer's use of its shared block, a shared block's attention
// head groups and MLP channel groups (in every use). The math is transformers' torch path.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/mamba_mixer.h"
#include "model/model.h"
#include "model/zamba2_config.h"

namespace shedder {

class Zamba2Model : public Model {
 public:
  static std::shared_ptr<Zamba2Model> load(const std::string& dir, const LoadOptions& opts = {});
  ~Zamba2Model() override;

  const Zamba2Config& config() const { return cfg_; }
  const char* arch() const override { return "zamba2"; }
  int64_t num_layers() const override { return cfg_.num_layers; }
  int64_t hidden_size() const override { return cfg_.hidden_size; }
  int64_t vocab_size() const override { return cfg_.vocab_size; }
  int64_t vocab_rows() const override { return cfg_.vocab_size; }
  int64_t eos_token_id() const override { return cfg_.eos_token_id; }
  nlohmann::json summary() const override;
  std::string description() const override;

  Component component_tree() const override;
  std::vector<Granularity> granularities() const override;
  bool layer_local(Granularity g) const override;
  std::vector<ComponentId> candidates(Granularity g, const RemovalSet& removed) const override;
  int64_t total_parameters() const override;
  int64_t kept_parameters(const RemovalSet& removed, const std::string& label = "removal") const override;
  int64_t first_layer(const ComponentId& c) const override;

  PlanPtr plan(const RemovalSet& removed, const std::string& label = "removal") const override;
  Activations embed(const at::Tensor& ids, const ForwardPlan& p, RecurrentState* state) const override;
  void layer(int64_t l, Activations& a, const ForwardPlan& p, RecurrentState* state) const override;
  at::Tensor head_logits(const at::Tensor& hidden) const override;

  PrunedCheckpoint pruned_checkpoint(const ForwardPlan& p) const override;
  std::vector<WeightSlot> weight_slots() override;

  struct Layer {  // one Mamba-2 layer with its pre-norm
    at::Tensor norm_w;
    Mamba2Weights mixer;
  };
  struct Shared {  // one shared transformer block
    at::Tensor in_norm_w, q_w, k_w, v_w, o_w, pre_ff_norm_w, gate_up_w, down_w;
    int64_t heads = 0, kv_heads = 0, intermediate = 0;
  };
  struct Use {  // a hybrid layer's use of a shared block: its adapters (undefined when absent) and linear
    int64_t block = 0;
    at::Tensor q_a0, q_a1, k_a0, k_a1, v_a0, v_a1, mlp_a0, mlp_a1, linear_w;
    std::string adapters_at;  // where the checkpoint stores this use's adapters ("model.layers.N.shared_transformer.")
  };
  struct Plan;

 protected:
  void reorder_mlp_channels() override;
  std::vector<LayerState> zero_state(int64_t batch, const ForwardPlan& p) const override;

 private:
  Zamba2Model() = default;
  // The plan of `removed`; with `materialize`, also the weights with the removals cut out (what a pass needs).
  std::shared_ptr<Plan> resolve(const RemovalSet& removed, const std::string& label, bool materialize = true) const;
  int64_t count_params(const Plan& p) const;
  Mamba2Shape mixer_shape() const;
  at::Tensor shared_block(const Shared& s, const Use& u, const at::Tensor& h, const at::Tensor& emb, int64_t position,
                          LayerState* state) const;

  Zamba2Config cfg_;
  at::Tensor embedding_, final_norm_w_, lm_head_;
  std::vector<Layer> layers_;
  std::vector<int64_t> use_of_layer_;  // per layer: use index or -1
  std::vector<Shared> shared_;
  std::vector<Use> uses_;
};

}  // namespace shedder
