// Construction of the component tree from a loaded model (see component_tree.h).
#include "model/component_tree.h"

#include "model/mamba_model.h"
#include "model/model_config.h"

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

Component build_component_tree(const MambaModel& model) {
  const ParamCounts& pc = model.params();
  Component root = make_component("model", ComponentKind::Model, -1, pc.total);
  for (int64_t i = 0; i < model.num_layers(); ++i) {
    const size_t li = static_cast<size_t>(i);
    Component blk = make_component("layers." + std::to_string(i), ComponentKind::Block, i, pc.block[li]);
    if (model.layers()[li].has_ssm) {
      Component ssm = make_component(blk.id + ".ssm", ComponentKind::Ssm, i, pc.ssm[li]);
      if (model.config().arch == Arch::Mamba2) {
        const int64_t heads = model.config().num_heads;  // dt_bias, A_log, D: one of each per head
        ssm.children.push_back(make_component(ssm.id + ".heads", ComponentKind::SsmHeads, i, 3 * heads, heads));
      }
      blk.children.push_back(std::move(ssm));
    }
    root.children.push_back(std::move(blk));
  }
  return root;
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
