// The recurrent state of a Mamba model after a prefix of tokens (what transformers keeps in its cache
// params): per layer the last K-1 inputs of the causal conv and the SSM state. With it the model continues
// a sequence chunk by chunk or token by token (MambaModel::forward with a state, MambaModel::step) and
// gives the logits of the full-sequence pass.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "model/model_mask.h"

namespace shedder {

class MambaModel;

struct LayerState {
  at::Tensor conv;  // [B, K-1, C]: the conv's last K-1 inputs (C: intermediate, or Mamba-2's conv_dim);
                    // undefined for a removed block
  at::Tensor ssm;   // Mamba-1 [B, D, N], Mamba-2 [B, H, P, N]; undefined when the SSM is removed or absent
};

class RecurrentState {
 public:
  RecurrentState() = default;
  // The state before the first token (zeros) for `batch` sequences under `mask`: equivalent to the zero left
  // padding of the full pass. Removed blocks hold no state and removed SSMs no SSM state; the state must be
  // used with the same mask (anything else is refused).
  static RecurrentState zeros(const MambaModel& model, int64_t batch, const ModelMask& mask = {});

  bool empty() const { return layers.empty(); }
  int64_t batch() const { return batch_; }
  int64_t position() const { return position_; }  // tokens consumed so far
  int64_t bytes() const;                          // memory held by the state tensors

  // Row i of the result is row rows[i] of this state (e.g. one context state repeated for every choice).
  RecurrentState select(const std::vector<int64_t>& rows) const;
  RecurrentState repeat(int64_t n) const;  // every row n times, in order (batch 1 -> n copies)
  RecurrentState clone() const;

  std::vector<LayerState> layers;

 private:
  friend class MambaModel;
  int64_t batch_ = 0;
  int64_t position_ = 0;
  std::vector<uint8_t> mask_;  // the removal mask the state was built under (0 kept, 1 no SSM, 2 no block)
};

// Per layer 0 (kept), 1 (SSM removed), 2 (block removed): what a state records of its mask.
std::vector<uint8_t> mask_signature(const ModelMask& mask, int64_t layers);

}  // namespace shedder
