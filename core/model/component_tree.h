// The tree of prunable components of a model (model -> blocks -> SSMs -> ...), with stable string ids
// ("layers.7", "layers.7.ssm"), kinds and parameter counts, as each architecture builds it
// (Model::component_tree). The GUI shows it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace shedder {

// Heads: the SSM heads of a Mamba-2 layer, one node for the group (not a search candidate). Hybrid models
// (Zamba2, Hymba) add: HybridBlock (a layer with attention and SSM), SharedBlock (one use of a shared
// transformer block), SharedWeights (a shared block's weights: a group node), AttentionHeads (one KV head with its
// query heads), MlpChannels (a group of MLP channels), SsmHeadGroup (a group of SSM heads of a hybrid layer),
// Attention (a layer's attention branch) and Mlp (a layer's MLP). Pure Mamba models' width components:
// SsmHeadGroup (one Mamba-2 head), MixerChannels (a group of Mamba-1 inner channels) and SsmState (a chunk of state
// dimensions).
enum class ComponentKind { Model, Block, Ssm, SsmHeads, HybridBlock, SharedBlock, SharedWeights, AttentionHeads,
                           MlpChannels, SsmHeadGroup, Attention, Mlp, MixerChannels, SsmState };
// "model", "block", "ssm", "heads", "hybrid_block", "shared_block", "shared_weights", "attn_heads",
// "mlp_channels", "ssm_heads", "attention", "mlp", "mixer_channels", "ssm_state"
const char* component_kind_name(ComponentKind k);

struct Component {
  std::string id;
  ComponentKind kind = ComponentKind::Model;
  int64_t layer = -1;       // block index, -1 for the model
  int64_t parameters = 0;   // parameters that go away when this component is removed
  int64_t count = 0;        // for group nodes (heads): how many members
  std::vector<Component> children;
};

// A node without children (the models' tree builders).
Component make_component(std::string id, ComponentKind kind, int64_t layer, int64_t parameters, int64_t count = 0);

nlohmann::json component_to_json(const Component& c);

}  // namespace shedder
