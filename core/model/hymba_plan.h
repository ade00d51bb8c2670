// HymbaModel's forward plan (private to model/hymba_*.cpp): per layer which parts are skipped, the kept attention
// groups, KV groups, SSM heads and MLP channels, and the layers with the removals cut out.
#pragma once

#include <vector>

#include "model/hymba_model.h"

namespace shedder {

struct HymbaModel::Plan : public ForwardPlan {
  std::vector<char> skip_layer, skip_attn, skip_ssm, skip_mlp;  // skip_layer: the Hymba block (mixer)
  std::vector<std::vector<int64_t>> groups, kv_groups, ssm_heads, channels;  // kept, per layer (original numbering)
  std::vector<Layer> cut;  // the layers with the removals cut out (what the pass runs and export writes)
  bool attends(size_t l) const { return !skip_layer[l] && !skip_attn[l] && !groups[l].empty(); }
  using ForwardPlan::set;
};

inline const HymbaModel::Plan& hplan(const ForwardPlan& p) { return static_cast<const HymbaModel::Plan&>(p); }

}  // namespace shedder
