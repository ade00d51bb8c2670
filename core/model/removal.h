// What the engine removes from a model, for every architecture: the granularities (kinds of component), typed
// component ids parsed and formatted here only ("layers.8", "layers.3.ssm", "shared.0.attn.heads.1",
// "layers.2.mlp.channels.5", ...), and the removal set — the components removed, in removal order — with its JSON
// forms (the reference tool's pruning_config.json for blocks and SSMs, {"removed": [ids]} for everything).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shedder {

// Kinds of removable component. Every model reports which it has (Model::granularities()).
//  Block           layers.N              a whole layer (Mamba block; Zamba2 layer; Hymba's attention+SSM block)
//  Ssm             layers.N.ssm          the selective scan (the rest of the mixer stays)
//  SharedBlock     layers.N.shared       Zamba2: this layer's use of its shared transformer block
//  Attention       layers.N.attn         Hymba: a layer's attention branch
//  Mlp             layers.N.mlp          Hymba: a layer's MLP
//  AttentionHeads  layers.N.attn.heads.G / shared.K.attn.heads.G   one KV head with its query heads
//  MlpChannels     layers.N.mlp.channels.C / shared.K.mlp.channels.C   a group of MLP channels
//  SsmHeads        layers.N.ssm.heads.S  an SSM head (Hymba, Mamba-2)
//  MixerChannels   layers.N.mixer.channels.C   a group of a Mamba-1 mixer's inner channels
//  SsmState        layers.N.ssm.state.J  state dimensions: the J-th chunk in the layer's importance order (Mamba)
enum class Granularity { Block, Ssm, SharedBlock, Attention, Mlp, AttentionHeads, MlpChannels, SsmHeads,
                         MixerChannels, SsmState };

// "block", "ssm", "shared", "attn", "mlp", "head", "channel", "ssm-head", "mixer-channel", "state".
const char* granularity_name(Granularity g);
// Accepts the names above (and "mamba_block", the reference's name for block).
std::optional<Granularity> parse_granularity(const std::string& s);
const std::vector<Granularity>& all_granularities();
// "block|ssm|shared|attn|mlp|head|channel|ssm-head|mixer-channel|state" (for messages), or the names of `gs` joined by `sep`.
std::string granularity_names(const std::vector<Granularity>& gs, const char* sep = ", ");

// One component: a granularity and where it is.
struct ComponentId {
  Granularity kind = Granularity::Block;
  int64_t layer = -1;   // layers.N (-1 for the parts of a shared block)
  int64_t shared = -1;  // shared.K: Zamba2's shared transformer block K
  int64_t index = -1;   // head group, channel group or SSM head within the layer or shared block

  static ComponentId layer_of(Granularity kind, int64_t layer, int64_t index = -1);
  static ComponentId shared_of(Granularity kind, int64_t block, int64_t index);
  // Parses an id; shedder::Error (naming `text` and the grammar) when it is not one.
  static ComponentId parse(const std::string& text);
  std::string str() const;

  bool operator==(const ComponentId& o) const {
    return kind == o.kind && layer == o.layer && shared == o.shared && index == o.index;
  }
  bool operator!=(const ComponentId& o) const { return !(*this == o); }
};

// The components removed, in removal order.
struct RemovalSet {
  std::vector<ComponentId> items;

  bool empty() const { return items.empty(); }
  size_t size() const { return items.size(); }
  bool contains(const ComponentId& c) const;
  bool contains(Granularity g, int64_t layer) const { return contains(ComponentId::layer_of(g, layer)); }
  void add(const ComponentId& c);  // no-op when present
  void add(Granularity g, int64_t layer) { add(ComponentId::layer_of(g, layer)); }
  void remove_last() { items.pop_back(); }
  // Layer indices of the layer-level components of kind `g`, in removal order (blocks, SSMs, ...).
  std::vector<int64_t> layers_of(Granularity g) const;
  std::vector<std::string> ids() const;
  // True when only whole blocks and SSMs are removed (what the reference tool's files can say).
  bool blocks_and_ssms_only() const;

  // Adds the components of a spec: comma-separated ids ("layers.8,layers.3.ssm,shared.0.attn.heads.1") or
  // "block:8,3" / "ssm:1" (and every granularity name, "head:layers.2.attn.heads.1" is just an id).
  void add_spec(const std::string& spec);
  // The reference tool's {"pruned_mamba_block_idx": [...]} / {"pruned_ssm_idx": [...]} when only blocks and SSMs
  // are removed; otherwise {"removed": [ids]}. `extra` fields (e.g. the MLP channel group) are added.
  nlohmann::json to_json(const nlohmann::json& extra = nlohmann::json::object()) const;
  // Reads either form (shedder::Error prefixed by `label` on anything else).
  void add_json(const nlohmann::json& j, const std::string& label);
  static RemovalSet from_file(const std::string& path);
};

}  // namespace shedder
