// Zamba2Model's forward plan (private to model/zamba2_*.cpp): per layer which parts are skipped, per shared block
// the kept KV heads and MLP channels, and the shared blocks and adapters with the removals cut out.
#pragma once

#include <vector>

#include "model/zamba2_model.h"

namespace shedder {

struct Zamba2Model::Plan : public ForwardPlan {
  std::vector<char> skip_layer, skip_ssm, skip_use;    // per layer
  std::vector<std::vector<int64_t>> kv_kept, ch_kept;  // per block: kept KV heads / MLP channels (ascending)
  std::vector<char> block_alive;                       // per block: some use remains
  // The shared blocks and the uses' adapters with removed heads and channels cut out (what the pass runs).
  std::vector<Shared> blocks;
  std::vector<Use> uses;
  using ForwardPlan::set;
};

inline const Zamba2Model::Plan& zplan(const ForwardPlan& p) { return static_cast<const Zamba2Model::Plan&>(p); }

}  // namespace shedder
