// Mamba-1 and Mamba-2 (transformers' MambaForCausalLM / Mamba2ForCausalLM, and the original mamba_ssm layout):
// the architecture file of the model interface (model.h). Loads config.json and every tensor it implies (shape,
// dtype, finiteness), runs its layers with the shared mixers (mamba_mixer.h) — on a GPU fusing each residual add
// into the next block's norm —, removes blocks and SSMs, and writes pruned checkpoints transformers loads.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model/mamba_mixer.h"
#include "model/mamba_width.h"
#include "model/model.h"
#include "model/model_config.h"

namespace shedder {

struct LayerMask;  // model/mamba_plan.h

// One layer: its pre-norm and the mixer of its architecture.
struct LayerWeights {
  at::Tensor norm_w;  // [H]
  Mamba1Weights m1;
  Mamba2Weights m2;
  bool has_ssm = true;  // false when an export dropped this layer's SSM weights
  Mamba2Shape s2;       // Mamba-2: this layer's sizes (per layer after an unequal width export)
  std::vector<int64_t> state_order;  // state dimensions, least important first (model/mamba_width.h)
  std::vector<int64_t> head_order;   // Mamba-2 heads, least important first (mamba2_head_order; width-search mode)
  // Mamba-1 after reorder_mlp_channels: inner channel i is channel channel_perm[i] of the stored tensors; empty else.
  std::vector<int64_t> channel_perm;
};

struct ParamCounts {
  int64_t total = 0;       // unique parameters (tied head counted once)
  int64_t embedding = 0;
  int64_t lm_head = 0;     // 0 when tied
  int64_t final_norm = 0;
  std::vector<int64_t> block;  // per layer, everything in the block
  std::vector<int64_t> ssm;    // per layer, the parameters that die when its SSM is removed
};

class MambaModel : public Model {
 public:
  // Loads config.json, the weights and (if present) tokenizer.json from `dir`; validates every tensor the config
  // implies (presence, shape, dtype, finiteness). Throws shedder::Error naming the file.
  static std::shared_ptr<MambaModel> load(const std::string& dir, const LoadOptions& opts = {});
  ~MambaModel() override;

  const ModelConfig& config() const { return config_; }
  const ParamCounts& params() const { return params_; }
  const std::vector<LayerWeights>& layer_weights() const { return layers_; }

  const char* arch() const override { return arch_name(config_.arch); }
  int64_t num_layers() const override { return config_.num_layers; }
  int64_t hidden_size() const override { return config_.hidden_size; }
  int64_t vocab_size() const override { return config_.vocab_size; }
  int64_t vocab_rows() const override { return config_.padded_vocab; }
  int64_t eos_token_id() const override { return config_.eos_token_id; }
  nlohmann::json summary() const override;
  std::string description() const override;

  Component component_tree() const override;
  std::vector<Granularity> granularities() const override;
  std::vector<ComponentId> candidates(Granularity g, const RemovalSet& removed) const override;
  int64_t total_parameters() const override { return params_.total; }
  // The state dimensions of chunk j of `layer` (SsmState: state_step() of them in the layer's importance order).
  std::vector<int64_t> state_chunk(int64_t layer, int64_t j) const;
  int64_t state_chunks(int64_t layer) const;
  // The width components of `layer`'s mixer of granularity `g`: Mamba-2 heads (SsmHeads) or head-dimension channel
  // groups (MixerChannels), Mamba-1 inner channel groups (MixerChannels).
  int64_t width_units(int64_t layer, Granularity g) const;

  PlanPtr plan(const RemovalSet& removed, const std::string& label = "removal") const override;
  Activations embed(const at::Tensor& ids, const ForwardPlan& p, RecurrentState* state) const override;
  void layer(int64_t l, Activations& a, const ForwardPlan& p, RecurrentState* state) const override;
  void layers(int64_t from, int64_t to, Activations& a, const ForwardPlan& p, RecurrentState* state) const override;
  at::Tensor head_logits(const at::Tensor& hidden) const override;

  PrunedCheckpoint pruned_checkpoint(const ForwardPlan& p) const override;
  std::vector<WeightSlot> weight_slots() override;
  // Mamba-1: every mixer's inner channels sorted by mamba1_channel_order (the function is unchanged); Mamba-2: none
  // (a head is one unit; the width-search mode takes the heads in mamba2_head_order).
  void reorder_mlp_channels() override;

  // One block including its residual add (`skip_ssm` removes the selective scan only), continuing and updating
  // `state` when given.
  at::Tensor block(int64_t layer, const at::Tensor& hidden, bool skip_ssm = false, LayerState* state = nullptr) const;

 protected:
  std::vector<LayerState> zero_state(int64_t batch, const ForwardPlan& p) const override;

 private:
  MambaModel();
  // Sets up the cut cache and checks the analytic parameter counts of cut plans against the loaded tensors.
  void init_cuts();
  // Parameters of layer l's block under mask m (cut, SSM skipped or whole; not for a skipped block).
  int64_t cut_block_params(int64_t l, const LayerMask& m) const;
  // Fills m.keep for layer li from the width components removed (channel / head groups, state chunks, Mamba-2
  // head-dimension groups) and sets m.cut, or m.skip_block when no head or channel is left; a zero-size state throws.
  void cut_width(int64_t li, const std::set<int64_t>& units_out, const std::set<int64_t>& chunks_out,
                 const std::set<int64_t>& head_channels_out, LayerMask& m, const std::string& label) const;
  struct CutCache;
  // The block's branch (mixer output) for its normalised input x, with the weights `w` (the layer's or a cut).
  at::Tensor branch(const LayerWeights& w, const at::Tensor& x, bool skip_ssm, LayerState* state) const;
  // Layer `l` cut to `keep` (model/mamba_width.h): one cut per layer is kept, so the candidates of a search step,
  // which share the cuts of every other layer, cut one layer each.
  std::shared_ptr<const LayerWeights> cut_layer(int64_t l, const MixerKeep& keep) const;

  ModelConfig config_;
  at::Tensor embedding_, norm_f_, lm_head_;
  std::vector<LayerWeights> layers_;
  ParamCounts params_;
  std::unique_ptr<CutCache> cuts_;
};

}  // namespace shedder
