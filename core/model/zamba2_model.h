// Zamba2ForCausalLM (transformers' `zamba2`): Mamba-2 layers, some of them "hybrid" layers that first run one of
// num_mem_blocks shared transformer blocks (attention over [hidden, embeddings] with per-use q/k/v LoRA adapters,
// then an MLP with per-use gate/up adapters) whose output, through the layer's own linear, is added to the Mamba
// layer's input. Loading, the forward pass with components removed (the math of transformers' torch path) and
// export with heads / channels physically cut out.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/hybrid_model.h"
#include "model/zamba2_config.h"

namespace shedder {

class Zamba2Model : public HybridModel {
 public:
  static std::shared_ptr<Zamba2Model> load(const std::string& dir, const HybridLoadOptions& opts = {});
  ~Zamba2Model() override;

  const char* arch() const override { return "zamba2"; }
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

  const Zamba2Config& config() const { return cfg_; }

  struct Mixer {  // one Mamba-2 mixer with its pre-norm
    at::Tensor norm_w, in_proj_w, conv_w_kc, conv_b, dt_bias, A_h, Dv, gnorm_w, out_proj_w;
    bool has_ssm = true;
  };
  struct Shared {  // one shared transformer block
    at::Tensor in_norm_w, q_w, k_w, v_w, o_w, pre_ff_norm_w, gate_up_w, down_w;
    int64_t heads = 0, kv_heads = 0, intermediate = 0;
  };
  struct Use {  // a hybrid layer's use of a shared block: its adapters (undefined when absent) and linear
    int64_t block = 0;
    at::Tensor q_a0, q_a1, k_a0, k_a1, v_a0, v_a1, mlp_a0, mlp_a1, linear_w;
  };

 private:
  Zamba2Model() = default;
  struct Plan;
  Plan plan(const HybridRemoval& removed, const std::string& label) const;
  int64_t count_params(const Plan& p) const;
  at::Tensor mixer(const Mixer& m, const at::Tensor& x, bool skip_ssm) const;
  at::Tensor shared_block(const Shared& s, const Use& u, const at::Tensor& h, const at::Tensor& emb) const;

  Zamba2Config cfg_;
  std::vector<Mixer> mixers_;        // per layer
  std::vector<int64_t> use_of_layer_;  // per layer: use index or -1
  std::vector<Shared> shared_;
  std::vector<Use> uses_;
};

}  // namespace shedder
