// Mamba-1 / Mamba-2: the removable components — blocks, SSMs, and the width components of their mixers (Mamba-2
// SSM heads, Mamba-1 inner channel groups, chunks of state dimensions) —, the component tree, the candidates of a
// search step and the plans that resolve a removal set, with the cut layers they run (see mamba_model.h and
// mamba_width.h).
#include <algorithm>
#include <mutex>
#include <numeric>
#include <set>

#include "model/mamba_model.h"
#include "model/mamba_plan.h"
#include "tokenizer/bpe_tokenizer.h"  // (the model holds one)
#include "util/error.h"

namespace shedder {

struct MambaModel::CutCache {
  std::mutex mutex;
  std::vector<std::pair<std::string, std::shared_ptr<const LayerWeights>>> layers;  // one cut per layer
};

std::vector<Granularity> MambaModel::granularities() const {
  if (config_.arch == Arch::Mamba2)
    return {Granularity::Block, Granularity::Ssm, Granularity::SsmHeads, Granularity::MixerChannels,
            Granularity::SsmState};
  return {Granularity::Block, Granularity::Ssm, Granularity::MixerChannels, Granularity::SsmState};
}

int64_t MambaModel::width_units(int64_t layer, Granularity g) const {
  const LayerWeights& w = layers_.at(static_cast<size_t>(layer));
  if (config_.arch == Arch::Mamba2 && g == Granularity::SsmHeads) return w.s2.heads;
  const int64_t channels = config_.arch == Arch::Mamba2 ? w.s2.head_dim : w.m1.out_proj_w.size(1);
  return (channels + mlp_group_ - 1) / mlp_group_;
}

int64_t MambaModel::state_chunks(int64_t layer) const {
  const int64_t n = static_cast<int64_t>(layers_.at(static_cast<size_t>(layer)).state_order.size());
  return (n + state_step_ - 1) / state_step_;
}

std::vector<int64_t> MambaModel::state_chunk(int64_t layer, int64_t j) const {
  const std::vector<int64_t>& order = layers_.at(static_cast<size_t>(layer)).state_order;
  const int64_t n = static_cast<int64_t>(order.size()), b = std::min(n, j * state_step_);
  return std::vector<int64_t>(order.begin() + b, order.begin() + std::min(n, b + state_step_));
}

namespace {

// Every layer's removed width units and state chunks.
struct WidthRemovals {
  std::vector<std::set<int64_t>> units, chunks, head_channels;  // head_channels: Mamba-2 head-dimension groups
  explicit WidthRemovals(size_t layers) : units(layers), chunks(layers), head_channels(layers) {}
};

}  // namespace

// ---- the component tree and the candidates ------------------------------------------------------------------

Component MambaModel::component_tree() const {
  const ParamCounts& pc = params_;
  const bool m2 = config_.arch == Arch::Mamba2;
  auto node = [&](const ComponentId& id, ComponentKind k, int64_t count) {
    RemovalSet r;
    r.add(id);
    return make_component(id.str(), k, id.layer, pc.total - kept_parameters(r, id.str()), count);
  };
  Component root = make_component("model", ComponentKind::Model, -1, pc.total);
  for (int64_t i = 0; i < num_layers(); ++i) {
    const LayerWeights& w = layers_[static_cast<size_t>(i)];
    Component blk = make_component("layers." + std::to_string(i), ComponentKind::Block, i, pc.block[size_t(i)]);
    // Children are parts of their parent: the heads or channel groups (their x/z rows and out_proj columns outlive
    // the SSM) belong to the block, the state chunks (B/C rows) to the SSM.
    if (m2)
      for (int64_t u = 0; u < width_units(i, Granularity::SsmHeads); ++u)
        blk.children.push_back(node(ComponentId::layer_of(Granularity::SsmHeads, i, u), ComponentKind::SsmHeadGroup,
                                    w.s2.head_dim));
    // Channel groups: Mamba-1 inner channels; Mamba-2 positions of the head dimension (the count: in every head).
    const int64_t channels = m2 ? w.s2.head_dim : w.m1.out_proj_w.size(1);
    for (int64_t u = 0; u < width_units(i, Granularity::MixerChannels); ++u)
      blk.children.push_back(node(ComponentId::layer_of(Granularity::MixerChannels, i, u), ComponentKind::MixerChannels,
                                  std::min(mlp_group_, channels - u * mlp_group_) * (m2 ? w.s2.heads : 1)));
    if (w.has_ssm) {
      Component ssm = make_component(blk.id + ".ssm", ComponentKind::Ssm, i, pc.ssm[size_t(i)]);
      // A state of one chunk lists none: removing it would leave no state (the SSM is the component then).
      for (int64_t j = 0; state_chunks(i) > 1 && j < state_chunks(i); ++j)
        ssm.children.push_back(node(ComponentId::layer_of(Granularity::SsmState, i, j), ComponentKind::SsmState,
                                    static_cast<int64_t>(state_chunk(i, j).size())));
      blk.children.push_back(std::move(ssm));
    }
    root.children.push_back(std::move(blk));
  }
  return root;
}

std::vector<ComponentId> MambaModel::candidates(Granularity g, const RemovalSet& removed) const {
  std::vector<ComponentId> c;
  if (!has_granularity(g)) return c;
  const PlanPtr p = plan(removed, "candidates");
  const std::vector<LayerMask>& mask = mamba_plan(*p).mask;
  for (int64_t l = 0; l < num_layers(); ++l) {
    const LayerMask& m = mask[static_cast<size_t>(l)];
    if (m.skip_block) continue;  // removed, or every head / channel of it
    const bool ssm = layers_[static_cast<size_t>(l)].has_ssm && !m.skip_ssm;
    if (g == Granularity::Block) {
      c.push_back(ComponentId::layer_of(g, l));
    } else if (g == Granularity::Ssm) {
      if (ssm) c.push_back(ComponentId::layer_of(g, l));
    } else if (g == Granularity::SsmHeads || g == Granularity::MixerChannels) {
      std::vector<int64_t> left;
      if (tail_groups_ && g == Granularity::SsmHeads) {  // the width-search mode: the least important head
        for (int64_t u : layers_[static_cast<size_t>(l)].head_order)
          if (!removed.contains(ComponentId::layer_of(g, l, u))) left.push_back(u);
        if (!left.empty()) left.resize(1);
      } else {
        for (int64_t u = 0; u < width_units(l, g); ++u)
          if (!removed.contains(ComponentId::layer_of(g, l, u))) left.push_back(u);
        if (tail_groups_ && !left.empty()) left = {left.back()};  // the width-search mode: the last group
      }
      for (int64_t u : left) c.push_back(ComponentId::layer_of(g, l, u));
    } else if (g == Granularity::SsmState && ssm) {
      // The next chunk in importance order, while another one would remain (a state keeps one dimension at least).
      std::vector<int64_t> left;
      for (int64_t j = 0; j < state_chunks(l); ++j)
        if (!removed.contains(ComponentId::layer_of(g, l, j))) left.push_back(j);
      if (left.size() > 1) c.push_back(ComponentId::layer_of(g, l, left.front()));
    }
  }
  return c;
}

// ---- plans --------------------------------------------------------------------------------------------------------

PlanPtr MambaModel::plan(const RemovalSet& removed, const std::string& label) const {
  const bool m2 = config_.arch == Arch::Mamba2;
  const size_t layers = static_cast<size_t>(num_layers());
  std::vector<LayerMask> mask(layers);
  WidthRemovals width(layers);
  for (const ComponentId& c : removed.items) {
    const bool kind_ok = c.kind == Granularity::Block || c.kind == Granularity::Ssm || c.kind == Granularity::SsmState ||
                         c.kind == Granularity::MixerChannels || (m2 && c.kind == Granularity::SsmHeads);
    if (!kind_ok || c.shared >= 0)
      throw Error(label + ": " + c.str() + ": a " + arch() + " model has blocks (layers.N), SSMs (layers.N.ssm), " +
                  (m2 ? "SSM heads (layers.N.ssm.heads.H), head-dimension channel groups (layers.N.mixer.channels.C)"
                      : "inner channel groups (layers.N.mixer.channels.C)") +
                  " and state chunks (layers.N.ssm.state.J)");
    if (c.layer < 0 || c.layer >= num_layers())
      throw Error(label + ": " + c.str() + " is outside the model's layers (0.." + std::to_string(num_layers() - 1) + ")");
    const size_t l = static_cast<size_t>(c.layer);
    LayerMask& m = mask[l];
    const bool has_ssm = layers_[l].has_ssm;
    auto check_index = [&](int64_t n, const char* what) {
      if (c.index < 0 || c.index >= n)
        throw Error(label + ": " + c.str() + ": layer " + std::to_string(c.layer) + " has " + std::to_string(n) + " " +
                    what + " (0.." + std::to_string(n - 1) + ")");
    };
    switch (c.kind) {
      case Granularity::Block: m.skip_block = true; break;
      case Granularity::Ssm:
        if (!has_ssm) throw Error(label + ": layer " + std::to_string(c.layer) + " has no SSM to remove");
        m.skip_ssm = true;
        break;
      case Granularity::SsmState:
        if (!has_ssm) throw Error(label + ": layer " + std::to_string(c.layer) + " has no SSM state to cut");
        check_index(state_chunks(c.layer), "state chunks");
        width.chunks[l].insert(c.index);
        break;
      case Granularity::SsmHeads:
        check_index(width_units(c.layer, c.kind), "heads");
        width.units[l].insert(c.index);
        break;
      default:  // MixerChannels
        check_index(width_units(c.layer, c.kind), m2 ? "head-dimension channel groups" : "channel groups");
        (m2 ? width.head_channels : width.units)[l].insert(c.index);
        break;
    }
  }
  int64_t kept = params_.total;
  for (size_t l = 0; l < layers; ++l) {
    LayerMask& m = mask[l];
    if (!m.skip_block && (!width.units[l].empty() || !width.chunks[l].empty() || !width.head_channels[l].empty()))
      cut_width(static_cast<int64_t>(l), width.units[l], width.chunks[l], width.head_channels[l], m, label);
    if (m.skip_block) {
      kept -= params_.block[l];
    } else if (m.cut) {
      kept -= params_.block[l] - cut_block_params(static_cast<int64_t>(l), m);
    } else if (m.skip_ssm) {
      kept -= params_.ssm[l];
    }
  }
  return std::make_shared<MambaPlan>(removed, std::move(mask), kept);
}

void MambaModel::cut_width(int64_t li, const std::set<int64_t>& units_out, const std::set<int64_t>& chunks_out,
                           const std::set<int64_t>& head_channels_out, LayerMask& m, const std::string& label) const {
  const bool m2 = config_.arch == Arch::Mamba2;
  const LayerWeights& w = layers_[static_cast<size_t>(li)];
  const int64_t units = m2 ? w.s2.heads : w.m1.out_proj_w.size(1);
  const int64_t per = m2 ? 1 : mlp_group_;
  for (int64_t u = 0; u < units; ++u)
    if (!units_out.count(u / per)) m.keep.units.push_back(u);
  std::set<int64_t> cut_dims;
  for (int64_t j : chunks_out)
    for (int64_t n : state_chunk(li, j)) cut_dims.insert(n);
  const int64_t N = m2 ? w.s2.state : w.m1.ssm.state_size;
  for (int64_t n = 0; n < N; ++n)
    if (!cut_dims.count(n)) m.keep.state.push_back(n);
  if (m2 && !head_channels_out.empty()) {
    for (int64_t p = 0; p < w.s2.head_dim; ++p)
      if (!head_channels_out.count(p / mlp_group_)) m.keep.head_channels.push_back(p);
    if (m.keep.head_channels.empty()) m.keep.units.clear();  // no channel left in any head: no mixer
  }
  if (m.keep.units.empty()) {
    m.skip_block = true;  // no head or channel left: the whole mixer, which is the block
  } else if (m.keep.state.empty()) {
    throw Error(label + ": removing every state chunk of layer " + std::to_string(li) +
                " leaves a zero-size state (remove layers." + std::to_string(li) + ".ssm instead)");
  } else {
    m.cut = true;
  }
}

int64_t MambaModel::cut_block_params(int64_t l, const LayerMask& m) const {
  const ModelConfig& c = config_;
  const LayerWeights& w = layers_[static_cast<size_t>(l)];
  const bool ssm = w.has_ssm && !m.skip_ssm;
  const int64_t mixer =
      c.arch == Arch::Mamba2
          ? mamba2_mixer_params(m.cut ? cut_mamba2_shape(w.s2, m.keep) : w.s2, c.hidden_size, c.conv_kernel,
                                c.use_bias, c.use_conv_bias, ssm)
          : mamba1_mixer_params(m.cut ? int64_t(m.keep.units.size()) : w.m1.out_proj_w.size(1),
                                m.cut ? int64_t(m.keep.state.size()) : w.m1.ssm.state_size, c.time_step_rank,
                                c.hidden_size, c.conv_kernel, c.use_bias, c.use_conv_bias, ssm);
  return w.norm_w.numel() + mixer;
}

std::shared_ptr<const LayerWeights> MambaModel::cut_layer(int64_t l, const MixerKeep& keep) const {
  std::lock_guard<std::mutex> lock(cuts_->mutex);
  auto& slot = cuts_->layers.at(static_cast<size_t>(l));
  const std::string key = keep.key();
  if (slot.second && slot.first == key) return slot.second;
  const LayerWeights& w = layers_[static_cast<size_t>(l)];
  auto cut = std::make_shared<LayerWeights>();
  cut->norm_w = w.norm_w;
  cut->has_ssm = w.has_ssm;
  if (config_.arch == Arch::Mamba2) {
    cut->m2 = cut_mamba2(w.m2, w.s2, keep);
    cut->s2 = cut_mamba2_shape(w.s2, keep);
  } else {
    cut->m1 = cut_mamba1(w.m1, keep);
  }
  slot = {key, cut};
  return cut;
}

void MambaModel::init_cuts() {
  cuts_ = std::make_unique<CutCache>();
  cuts_->layers.resize(layers_.size());
  // The analytic counts the cut plans use must agree with the loaded tensors (an internal check).
  for (int64_t l = 0; l < num_layers(); ++l) {
    const size_t li = static_cast<size_t>(l);
    LayerMask whole, no_ssm;
    no_ssm.skip_ssm = true;
    if (cut_block_params(l, whole) != params_.block[li] ||
        (layers_[li].has_ssm && params_.block[li] - cut_block_params(l, no_ssm) != params_.ssm[li]))
      throw Error("internal: the parameter count of layer " + std::to_string(l) + " of " + dir_ +
                  " disagrees with its tensors");
  }
}

void MambaModel::reorder_mlp_channels() {
  if (config_.arch != Arch::Mamba1) return;
  for (LayerWeights& L : layers_) {
    MixerKeep all;  // every channel, in importance order, and every state dimension
    all.units = mamba1_channel_order(L.m1);
    all.state.resize(static_cast<size_t>(L.m1.ssm.state_size));
    std::iota(all.state.begin(), all.state.end(), int64_t{0});
    L.m1 = cut_mamba1(L.m1, all);
    L.channel_perm = all.units;  // the export cuts the stored tensors (their dtype kept) through it
  }
  init_cuts();  // no cut of the old order may outlive it
}

MambaModel::MambaModel() = default;
MambaModel::~MambaModel() = default;

}  // namespace shedder
