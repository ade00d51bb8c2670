// Construction of the component tree from a loaded model (see component_tree.h).
#include "model/component_tree.h"


namespace shedder {

const char* component_kind_name(ComponentKind k) {
  switch (k) {
    case ComponentKind::Model: return "model";
    case ComponentKind::Block: return "block";
    case ComponentKind::Ssm: return "ssm";
    case ComponentKind::SsmHeads: return "heads";
    case ComponentKind::HybridBlock: return "hybrid_block";
    case ComponentKind::SharedBlock: return "shared_block";
    case ComponentKind::SharedWeights: return "shared_weights";
    case ComponentKind::AttentionHeads: return "attn_heads";
    case ComponentKind::MlpChannels: return "mlp_channels";
    case ComponentKind::SsmHeadGroup: return "ssm_heads";
    case ComponentKind::Attention: return "attention";
    case ComponentKind::Mlp: return "mlp";
    case ComponentKind::MixerChannels: return "mixer_channels";
    case ComponentKind::SsmState: return "ssm_state";
  }
  return "unknown";
}

Component make_component(std::string id, ComponentKind kind, int64_t layer, int64_t parameters, int64_t count) {
  Component n;
  n.id = std::move(id);
  n.kind = kind;
  n.layer = layer;
  n.parameters = parameters;
  n.count = count;
  return n;
}

nlohmann::json component_to_json(const Component& c) {
  nlohmann::json j;
  j["id"] = c.id;
  j["kind"] = component_kind_name(c.kind);
  j["parameters"] = c.parameters;
  if (c.layer >= 0) j["layer"] = c.layer;
  if (c.count > 0) j["count"] = c.count;
  if (!c.children.empty()) {
    j["children"] = nlohmann::json::array();
    for (const auto& ch : c.children) j["children"].push_back(component_to_json(ch));
  }
  return j;
}

}  // namespace shedder
