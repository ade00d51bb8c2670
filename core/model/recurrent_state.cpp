// Allocation and batch manipulation of the recurrent (conv + SSM) state (see recurrent_state.h).
#include "model/recurrent_state.h"

#include "model/mamba_model.h"
#include "util/error.h"

namespace shedder {

RecurrentState RecurrentState::zeros(const MambaModel& model, int64_t batch) {
  if (batch < 1) throw Error("recurrent state: batch must be at least 1");
  const ModelConfig& c = model.config();
  RecurrentState s;
  s.batch_ = batch;
  s.layers.resize(static_cast<size_t>(model.num_layers()));
  for (int64_t l = 0; l < model.num_layers(); ++l) {
    const LayerWeights& w = model.layers()[static_cast<size_t>(l)];
    LayerState& ls = s.layers[static_cast<size_t>(l)];
    const int64_t channels = w.conv_w_kc.size(1);
    ls.conv = at::zeros({batch, c.conv_kernel - 1, channels}, at::kFloat);
    if (!w.has_ssm) continue;
    if (c.arch == Arch::Mamba1)
      ls.ssm = at::zeros({batch, c.intermediate_size, c.state_size}, at::kFloat);
    else
      ls.ssm = at::zeros({batch, c.num_heads, c.head_dim, c.state_size}, at::kFloat);
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
    if (layers[l].conv.defined()) s.layers[l].conv = layers[l].conv.index_select(0, idx).contiguous();
    if (layers[l].ssm.defined()) s.layers[l].ssm = layers[l].ssm.index_select(0, idx).contiguous();
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
