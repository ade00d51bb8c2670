// The tree of prunable components of a model (model -> blocks -> SSMs -> ...), with stable string ids
// ("layers.7", "layers.7.ssm"), kinds and parameter counts. The GUI shows it; the search walks it.
// New component kinds (attention heads, MLP channels of hybrid models) extend ComponentKind.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace shedder {

class MambaModel;

enum class ComponentKind { Model, Block, Ssm };
const char* component_kind_name(ComponentKind k);  // "model", "block", "ssm"

struct Component {
  std::string id;
  ComponentKind kind = ComponentKind::Model;
  int64_t layer = -1;       // block index, -1 for the model
  int64_t parameters = 0;   // parameters that go away when this component is removed
  std::vector<Component> children;
};

Component build_component_tree(const MambaModel& model);
nlohmann::json component_to_json(const Component& c);

}  // namespace shedder
