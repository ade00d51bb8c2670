// Allocation and batch manipulation of the recurrent (conv + SSM) state (see recurrent_state.h).
#include "model/recurrent_state.h"

#include "model/mamba_model.h"
#include "util/error.h"

namespace shedder {

std::vector<uint8_t> mask_signature(const ModelMask& mask, int64_t layers) {
  std::vector<uint8_t> sig(static_cast<size_t>(layers), 0);
  for (size_t i = 0; i < mask.size() && i < sig.size(); ++i) sig[i] = mask[i].skip_block ? 2 : (mask[i].skip_ssm ? 1 : 0);
  return sig;
}

RecurrentState RecurrentState::zeros(const MambaModel& model, int64_t batch, const ModelMask& mask) {
  if (batch < 1) throw Error("recurrent state: batch must be at least 1");
  if (!mask.empty() && static_cast<int64_t>(mask.size()) != model.num_layers())
    throw Error("recurrent state: the removal mask has " + std::to_string(mask.size()) + " entries for a model of " +
                std::to_string(model.num_layers()) + " layers");
  const ModelConfig& c = model.config();
  RecurrentState s;
  s.batch_ = batch;
  s.layers.resize(static_cast<size_t>(model.num_layers()));
  s.mask_ = mask_signature(mask, model.num_layers());
  const auto f32 = at::TensorOptions().device(model.device()).dtype(at::kFloat);  // scan states stay float32
  for (int64_t l = 0; l < model.num_layers(); ++l) {
    const LayerWeights& w = model.layers()[static_cast<size_t>(l)];
    LayerState& ls = s.layers[static_cast<size_t>(l)];
    const uint8_t m = s.mask_[static_cast<size_t>(l)];
    if (m == 2) continue;  // removed block
    const int64_t channels = w.conv_w_kc.size(1);
    ls.conv = at::zeros({batch, c.conv_kernel - 1, channels}, at::TensorOptions().device(model.device()).dtype(model.compute_dtype()));
    if (!w.has_ssm || m == 1) continue;
    if (c.arch == Arch::Mamba1)
      ls.ssm = at::zeros({batch, c.intermediate_size, c.state_size}, f32);
    else
      ls.ssm = at::zeros({batch, c.num_heads, c.head_dim, c.state_size}, f32);
  }
  return s;
}

int64_t RecurrentState::bytes() const {
  int64_t b = 0;
  for (const auto& l : layers) {
    if (l.conv.defined()) b += l.conv.numel() * static_cast<int64_t>(l.conv.element_size());
    if (l.ssm.defined()) b += l.ssm.numel() * static_cast<int64_t>(l.ssm.element_size());
  }
  return b;
}

RecurrentState RecurrentState::select(const std::vector<int64_t>& rows) const {
  for (int64_t r : rows)
    if (r < 0 || r >= batch_) throw Error("recurrent state: row " + std::to_string(r) + " outside the batch");
  at::Tensor idx = at::empty({static_cast<int64_t>(rows.size())}, at::kLong);
  std::copy(rows.begin(), rows.end(), idx.data_ptr<int64_t>());
  RecurrentState s;
  s.batch_ = static_cast<int64_t>(rows.size());
  s.position_ = position_;
  s.mask_ = mask_;
  s.layers.resize(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    if (layers[l].conv.defined()) s.layers[l].conv = layers[l].conv.index_select(0, idx.to(layers[l].conv.device())).contiguous();
    if (layers[l].ssm.defined()) s.layers[l].ssm = layers[l].ssm.index_select(0, idx.to(layers[l].ssm.device())).contiguous();
  }
  return s;
}

RecurrentState RecurrentState::repeat(int64_t n) const {
  std::vector<int64_t> rows;
  for (int64_t b = 0; b < batch_; ++b)
    for (int64_t k = 0; k < n; ++k) rows.push_back(b);
  return select(rows);
}

RecurrentState RecurrentState::clone() const {
  std::vector<int64_t> rows;
  for (int64_t b = 0; b < batch_; ++b) rows.push_back(b);
  return select(rows);
}

}  // namespace shedder
