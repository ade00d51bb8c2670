// MambaModel's forward plan (private to model/mamba_*.cpp): per layer, whether the block is the identity, whether
// its SSM is skipped, and which heads, channels and state dimensions it keeps when width components are removed.
#pragma once

#include <vector>

#include "model/mamba_width.h"
#include "model/model.h"

namespace shedder {

struct LayerMask {
  bool skip_block = false;
  bool skip_ssm = false;
  bool cut = false;  // width components removed: the layer runs cut to `keep` (model/mamba_width.h)
  MixerKeep keep;
};

class MambaPlan : public ForwardPlan {
 public:
  MambaPlan(RemovalSet r, std::vector<LayerMask> m, int64_t kept) : mask(std::move(m)) { set(std::move(r), kept); }
  std::vector<LayerMask> mask;  // per layer
};

inline const MambaPlan& mamba_plan(const ForwardPlan& p) { return static_cast<const MambaPlan&>(p); }

}  // namespace shedder
