// Mamba-1 / Mamba-2 export: the pruned checkpoint of a plan — removed blocks dropped and the rest renumbered, the
// tensors of removed SSMs dropped, and the layers cut to fewer heads, channels or state dimensions written cut
// (model/mamba_width.h), from the stored tensors in their stored dtype. The config stays what transformers reads when
// it can (every layer the same size); otherwise the documented extra fields carry what differs.
#include <algorithm>
#include <numeric>

#include "io/checkpoint.h"
#include "model/mamba_model.h"
#include "model/mamba_plan.h"
#include "util/error.h"

namespace shedder {

namespace {

// A stored tensor of a Mamba-2 layer cut to `keep`: the rows, channels and heads of mamba2_cut_index.
at::Tensor cut_stored_mamba2(const std::string& suffix, const at::Tensor& t, const Mamba2Shape& s,
                             const MixerKeep& keep, bool with_ssm) {
  const Mamba2CutIndex ix = mamba2_cut_index(s, keep, with_ssm);
  if (suffix == "mixer.in_proj.weight" || suffix == "mixer.in_proj.bias") return t.index_select(0, ix.in_rows);
  if (suffix == "mixer.conv1d.weight" || suffix == "mixer.conv1d.bias") return t.index_select(0, ix.conv_channels);
  if (suffix == "mixer.dt_bias" || suffix == "mixer.A_log" || suffix == "mixer.D") return t.index_select(0, ix.heads);
  if (suffix == "mixer.norm.weight") return t.index_select(0, ix.inner);
  if (suffix == "mixer.out_proj.weight") return t.index_select(1, ix.inner);
  return t;  // the block's norm, out_proj's bias
}

at::Tensor cut_stored_mamba1(const std::string& suffix, const at::Tensor& t, const Mamba1Weights& w,
                             const MixerKeep& keep) {
  const Mamba1CutIndex ix = mamba1_cut_index(w.out_proj_w.size(1), w.ssm.state_size, w.ssm.dt_rank, keep);
  if (suffix == "mixer.in_proj.weight" || suffix == "mixer.in_proj.bias") return t.index_select(0, ix.in_rows);
  if (suffix == "mixer.conv1d.weight" || suffix == "mixer.conv1d.bias" || suffix == "mixer.dt_proj.weight" ||
      suffix == "mixer.dt_proj.bias" || suffix == "mixer.D")
    return t.index_select(0, ix.channels);
  if (suffix == "mixer.x_proj.weight") return t.index_select(0, ix.x_proj_rows).index_select(1, ix.channels);
  if (suffix == "mixer.A_log") return t.index_select(0, ix.channels).index_select(1, ix.state);
  if (suffix == "mixer.out_proj.weight") return t.index_select(1, ix.channels);
  return t;
}

bool same_sizes(const ModelConfig::LayerSizes& a, const ModelConfig::LayerSizes& b) {
  return a.inner == b.inner && a.state == b.state && a.group_heads == b.group_heads && a.head_dim == b.head_dim;
}

// Sets the exported config's sizes: one size for every layer in the fields transformers reads when the layers
// agree (and, for Mamba-2, expand * hidden_size gives the width back exactly); shedder_layer_sizes otherwise.
void set_sizes(ModelConfig& out, const std::vector<ModelConfig::LayerSizes>& sizes) {
  out.layer_sizes.clear();
  const ModelConfig::LayerSizes& f = sizes.front();
  bool uniform = std::all_of(sizes.begin(), sizes.end(), [&](const auto& s) { return same_sizes(s, f); });
  if (out.arch == Arch::Mamba2)
    uniform = uniform && std::all_of(f.group_heads.begin(), f.group_heads.end(),
                                     [&](int64_t h) { return h == f.group_heads.front(); });
  const double expand = static_cast<double>(f.inner) / static_cast<double>(out.hidden_size);
  if (uniform && out.arch == Arch::Mamba2 &&
      static_cast<int64_t>(expand * static_cast<double>(out.hidden_size)) != f.inner)
    uniform = false;
  if (!uniform) {
    out.layer_sizes = sizes;
    return;
  }
  if (f.inner != out.intermediate_size) out.expand = expand;  // (Mamba-1 configs also write intermediate_size)
  out.state_size = f.state;
  out.intermediate_size = f.inner;
  if (out.arch == Arch::Mamba2) {
    out.n_groups = static_cast<int64_t>(f.group_heads.size());
    out.head_dim = f.head_dim;
    out.num_heads = f.inner / out.head_dim;
    if (out.norm_groups != 1) out.norm_groups = out.n_groups;
  }
}

// What a Mamba-1 layer keeps, in the stored tensors' channel order (they are not reordered by
// --reorder-channels; channel_perm maps the model's channels to them).
MixerKeep stored_keep(const LayerWeights& w, const LayerMask& m) {
  MixerKeep k = m.keep;
  if (!m.cut) {
    k.units.resize(static_cast<size_t>(w.m1.out_proj_w.size(1)));
    std::iota(k.units.begin(), k.units.end(), int64_t{0});
    k.state.resize(static_cast<size_t>(w.m1.ssm.state_size));
    std::iota(k.state.begin(), k.state.end(), int64_t{0});
  }
  if (!w.channel_perm.empty())
    for (int64_t& u : k.units) u = w.channel_perm[static_cast<size_t>(u)];
  return k;
}

}  // namespace

PrunedCheckpoint MambaModel::pruned_checkpoint(const ForwardPlan& p) const {
  const ModelConfig& c = config_;
  const std::vector<LayerMask>& mask = mamba_plan(p).mask;
  std::vector<int64_t> kept;
  for (int64_t l = 0; l < c.num_layers; ++l)
    if (!mask[static_cast<size_t>(l)].skip_block) kept.push_back(l);
  if (kept.empty()) throw Error("export: every block is removed; nothing would be left of the model");

  // The stored tensors (their dtype kept), renamed and cut.
  const WeightStore ws = WeightStore::open_folder(dir_);
  const bool m2 = c.arch == Arch::Mamba2;
  PrunedCheckpoint out;
  auto stored = [&](const std::string& name) {
    const WeightEntry& e = ws.at(name);
    if (!e.tensor.defined()) throw Error(e.file + ": tensor '" + name + "' has an unsupported dtype " + e.dtype);
    return e.tensor;
  };
  out.tensors.emplace_back("backbone.embeddings.weight", stored("backbone.embeddings.weight"));
  out.tensors.emplace_back("backbone.norm_f.weight", stored("backbone.norm_f.weight"));
  if (!c.tie_word_embeddings) out.tensors.emplace_back("lm_head.weight", stored("lm_head.weight"));

  ModelConfig out_cfg = c;
  out_cfg.num_layers = static_cast<int64_t>(kept.size());
  out_cfg.layers_without_ssm.clear();
  std::vector<ModelConfig::LayerSizes> sizes;
  // Mixer tensors that die with the SSM (Mamba-1: the selective scan's own parameters).
  const std::vector<std::string> dead = m2 ? std::vector<std::string>{"mixer.dt_bias", "mixer.A_log", "mixer.D"}
                                           : std::vector<std::string>{"mixer.x_proj.weight", "mixer.dt_proj.weight",
                                                                      "mixer.dt_proj.bias", "mixer.A_log", "mixer.D"};
  for (size_t j = 0; j < kept.size(); ++j) {
    const int64_t l = kept[j];
    const LayerMask& m = mask[static_cast<size_t>(l)];
    const LayerWeights& w = layers_[static_cast<size_t>(l)];
    const std::string from = "backbone.layers." + std::to_string(l) + ".";
    const std::string to = "backbone.layers." + std::to_string(j) + ".";
    const bool drop_ssm = !w.has_ssm || m.skip_ssm;
    if (drop_ssm) out_cfg.layers_without_ssm.push_back(static_cast<int64_t>(j));
    ModelConfig::LayerSizes ls;
    if (m2) {
      const Mamba2Shape s = m.cut ? cut_mamba2_shape(w.s2, m.keep) : w.s2;
      ls.inner = s.inner;
      ls.head_dim = s.head_dim;
      ls.group_heads = s.group_heads.empty() ? std::vector<int64_t>(size_t(s.groups), s.heads / s.groups) : s.group_heads;
      ls.state = s.state;
    } else {
      ls.inner = m.cut ? int64_t(m.keep.units.size()) : w.m1.out_proj_w.size(1);
      ls.state = m.cut ? int64_t(m.keep.state.size()) : w.m1.ssm.state_size;
    }
    sizes.push_back(ls);
    for (const auto& name : ws.names()) {
      if (name.compare(0, from.size(), from) != 0) continue;
      const std::string suffix = name.substr(from.size());
      if (drop_ssm && std::find(dead.begin(), dead.end(), suffix) != dead.end()) continue;
      at::Tensor t = stored(name);
      if (m.cut || !w.channel_perm.empty()) {
        t = m2 ? cut_stored_mamba2(suffix, t, w.s2, m.keep, !drop_ssm)
               : cut_stored_mamba1(suffix, t, w.m1, stored_keep(w, m));
      } else if (drop_ssm && m2 && w.has_ssm) {
        // Keep z and x (2*D rows) of in_proj and the x channels of the conv (the loader refuses mamba_ssm's extra
        // gated-MLP rows, so there are none).
        const int64_t D = w.s2.inner;
        if (suffix == "mixer.in_proj.weight" || suffix == "mixer.in_proj.bias") t = t.narrow(0, 0, 2 * D);
        if (suffix == "mixer.conv1d.weight" || suffix == "mixer.conv1d.bias") t = t.narrow(0, 0, D);
      }
      out.tensors.emplace_back(to + suffix, t.contiguous());
    }
    out.layer_map[std::to_string(j)] = l;
  }
  set_sizes(out_cfg, sizes);
  out.config = out_cfg.to_hf_json();
  // Carry over fields we do not model (e.g. time_step_* init settings), without overriding ours.
  if (c.layout == WeightLayout::HuggingFace)
    for (auto it = c.raw.begin(); it != c.raw.end(); ++it)
      if (!out.config.contains(it.key()) && it.key().rfind("shedder_", 0) != 0 && it.key() != "intermediate_size")
        out.config[it.key()] = it.value();
  out.layers = out_cfg.num_layers;
  // transformers derives the inner width from an integer expand (its config refuses a fractional one).
  const bool integral = out_cfg.intermediate_size % out_cfg.hidden_size == 0;
  out.transformers_loadable = out_cfg.layers_without_ssm.empty() && out_cfg.layer_sizes.empty() && integral;
  if (!out_cfg.layers_without_ssm.empty())
    out.note = "layers without SSM (shedder_layers_without_ssm): transformers has no SSM-less Mamba layer";
  else if (!out_cfg.layer_sizes.empty())
    out.note = "layers of different sizes (shedder_layer_sizes): transformers gives every layer the same size";
  else if (!integral)
    out.note = "an inner width of " + std::to_string(out_cfg.intermediate_size) + " is not a multiple of hidden_size " +
               std::to_string(out_cfg.hidden_size) + ": transformers wants an integer expand";
  return out;
}

}  // namespace shedder
