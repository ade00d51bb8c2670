// The removal mask of one forward pass: which blocks are the identity and which SSMs are skipped (what the
// shedding engine removes, reversibly).
#pragma once

#include <vector>

namespace shedder {

struct LayerMask {
  bool skip_block = false;  // the block is the identity
  bool skip_ssm = false;    // the selective scan is skipped (y = x), the rest of the mixer runs
};
using ModelMask = std::vector<LayerMask>;  // empty = nothing removed

}  // namespace shedder
