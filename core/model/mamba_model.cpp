// Mamba-1 / Mamba-2: loading with full validation against config.json, the layers through the shared mixers, the
// component tree, and removal of blocks and SSMs (see mamba_model.h).
#include "model/mamba_model.h"

#include <c10/core/GradMode.h>

#include <filesystem>
#include <functional>

#include "io/checkpoint.h"
#include "kernels/mixer_ops.h"
#include "model/hybrid_util.h"
#include "model/mamba_plan.h"
#include "model/weight_loader.h"
#include "runtime/device.h"
#include "runtime/op_profile.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace shedder {

namespace {

int64_t numel_or0(const at::Tensor& t) { return t.defined() ? t.numel() : 0; }

// Runs `f`, timed under `name` when SHEDDER_PROFILE is on (runtime/op_profile.h).
template <class F>
at::Tensor prof(const char* name, const at::Device& d, F&& f) {
  if (!profile::enabled()) return f();
  profile::Scope scope(name, d);
  return f();
}


// Layer i's Mamba-2 sizes: the config's, or its shedder_layer_sizes entry (unequal width exports).
Mamba2Shape layer_mamba2_shape(const ModelConfig& c, int64_t i) {
  Mamba2Shape s;
  s.inner = c.intermediate_size;
  s.heads = c.num_heads;
  s.head_dim = c.head_dim;
  s.groups = c.n_groups;
  s.state = c.state_size;
  s.norm_groups = c.norm_groups;
  s.norm_eps = c.layer_norm_epsilon;
  s.dt_min = c.time_step_limit_min;
  s.dt_max = c.time_step_limit_max;
  if (!c.layer_sizes.empty()) {
    const ModelConfig::LayerSizes& ls = c.layer_sizes[static_cast<size_t>(i)];
    s.group_heads = ls.group_heads;
    s.groups = static_cast<int64_t>(ls.group_heads.size());
    s.heads = 0;
    for (int64_t h : ls.group_heads) s.heads += h;
    s.head_dim = ls.head_dim;
    s.inner = s.heads * s.head_dim;
    s.state = ls.state;
    if (c.norm_groups != 1) s.norm_groups = s.groups;
    if (std::all_of(s.group_heads.begin(), s.group_heads.end(), [&](int64_t h) { return h == s.group_heads[0]; }))
      s.group_heads.clear();
  }
  return s;
}

// The tensors of one layer: the pre-norm, then the mixer of `c.arch`. Returns the block's parameter count and
// adds those that die with the SSM to `ssm_params`.
int64_t load_layer(const WeightLoader& wl, const ModelConfig& c, int64_t i, LayerWeights& L, int64_t& ssm_params) {
  const int64_t H = c.hidden_size, K = c.conv_kernel;
  const bool sized = !c.layer_sizes.empty();
  const int64_t N = sized ? c.layer_sizes[static_cast<size_t>(i)].state : c.state_size;
  const std::string p = "backbone.layers." + std::to_string(i) + ".";
  L.has_ssm = c.layer_has_ssm(i);
  L.norm_w = wl.get(p + "norm.weight", {H});
  ssm_params = 0;
  if (c.arch == Arch::Mamba1) {
    const int64_t D = sized ? c.layer_sizes[static_cast<size_t>(i)].inner : c.intermediate_size;
    Mamba1Weights& m = L.m1;
    const int64_t R = c.time_step_rank;
    m.has_ssm = L.has_ssm;
    m.in_proj_w = wl.get(p + "mixer.in_proj.weight", {2 * D, H});
    m.in_proj_b = wl.optional(c.use_bias, p + "mixer.in_proj.bias", {2 * D});
    at::Tensor conv = wl.get(p + "mixer.conv1d.weight", {D, 1, K}, /*keep_f32=*/true);
    m.ssm.conv_w_kc = conv.reshape({D, K}).t().contiguous();
    if (c.use_conv_bias) m.ssm.conv_b = wl.get(p + "mixer.conv1d.bias", {D}, /*keep_f32=*/true);
    m.ssm.dt_rank = R;
    m.ssm.state_size = N;
    if (L.has_ssm) {
      m.ssm.x_proj_w = wl.get(p + "mixer.x_proj.weight", {R + 2 * N, D});
      m.ssm.dt_proj_w = wl.get(p + "mixer.dt_proj.weight", {D, R});
      m.ssm.dt_proj_b = wl.get(p + "mixer.dt_proj.bias", {D}, /*keep_f32=*/true);  // added inside the scan on a GPU
      at::Tensor A_log = wl.get(p + "mixer.A_log", {D, N}, /*keep_f32=*/true);
      m.ssm.A_nd = (-at::exp(A_log)).t().contiguous();
      m.ssm.Dv = wl.get(p + "mixer.D", {D}, /*keep_f32=*/true);
      ssm_params = m.ssm.x_proj_w.numel() + m.ssm.dt_proj_w.numel() + m.ssm.dt_proj_b.numel() + A_log.numel() +
                   m.ssm.Dv.numel();
      L.state_order = mamba1_state_order(m);
    }
    m.out_proj_w = wl.get(p + "mixer.out_proj.weight", {H, D});
    m.out_proj_b = wl.optional(c.use_bias, p + "mixer.out_proj.bias", {H});
    return L.norm_w.numel() + m.in_proj_w.numel() + numel_or0(m.in_proj_b) + conv.numel() + numel_or0(m.ssm.conv_b) +
           ssm_params + m.out_proj_w.numel() + numel_or0(m.out_proj_b);
  }
  Mamba2Weights& m = L.m2;
  L.s2 = layer_mamba2_shape(c, i);
  const Mamba2Shape& s = L.s2;
  const int64_t D = s.inner, Hh = s.heads, GN = s.groups * s.state;
  m.has_ssm = L.has_ssm;
  const int64_t conv_ch = L.has_ssm ? s.conv_dim() : D;
  // Exactly z, x, B, C, dt: mamba_ssm's extra d_mlp rows only exist with d_ssm < d_inner, which the config parser
  // refuses.
  const int64_t rows = L.has_ssm ? s.in_proj_rows() : 2 * D;
  m.in_proj_w = wl.get(p + "mixer.in_proj.weight", {rows, H});
  m.in_proj_b = wl.optional(c.use_bias, p + "mixer.in_proj.bias", {rows});
  at::Tensor conv = wl.get(p + "mixer.conv1d.weight", {conv_ch, 1, K}, /*keep_f32=*/true);
  m.conv_w_kc = conv.reshape({conv_ch, K}).t().contiguous();
  if (c.use_conv_bias) m.conv_b = wl.get(p + "mixer.conv1d.bias", {conv_ch}, /*keep_f32=*/true);
  if (L.has_ssm) {
    m.dt_bias = wl.get(p + "mixer.dt_bias", {Hh}, /*keep_f32=*/true);
    m.A_h = -at::exp(wl.get(p + "mixer.A_log", {Hh}, /*keep_f32=*/true));
    m.Dv = wl.get(p + "mixer.D", {Hh}, /*keep_f32=*/true);
    // Dead with the SSM: dt_bias, A_log, D, and the B/C/dt rows of in_proj with their conv channels.
    const int64_t dead_rows = 2 * GN + Hh;
    ssm_params = 3 * Hh + dead_rows * H + (c.use_bias ? dead_rows : 0) + 2 * GN * K + (c.use_conv_bias ? 2 * GN : 0);
    L.state_order = mamba2_state_order(m, s);
  }
  m.gnorm_w = wl.get(p + "mixer.norm.weight", {D});
  m.out_proj_w = wl.get(p + "mixer.out_proj.weight", {H, D});
  m.out_proj_b = wl.optional(c.use_bias, p + "mixer.out_proj.bias", {H});
  return L.norm_w.numel() + m.in_proj_w.numel() + numel_or0(m.in_proj_b) + conv.numel() + numel_or0(m.conv_b) +
         (L.has_ssm ? 3 * Hh : 0) + m.gnorm_w.numel() + m.out_proj_w.numel() + numel_or0(m.out_proj_b);
}
}  // namespace


std::shared_ptr<MambaModel> MambaModel::load(const std::string& dir, const LoadOptions& opts) {
  std::shared_ptr<MambaModel> m(new MambaModel());
  const fs::path cfg_path = m->open_folder(dir);
  m->config_ = ModelConfig::from_file(cfg_path.string());
  const ModelConfig& c = m->config_;
  WeightStore ws = WeightStore::open_folder(dir);
  const std::string emb_name = "backbone.embeddings.weight";
  m->place(ws, opts, emb_name);
  const WeightLoader wl(ws, dir, cfg_path.filename().string(), opts.check_finite, m->device_, m->dtype_);

  const int64_t H = c.hidden_size;
  m->embedding_ = wl.get(emb_name, {c.padded_vocab, H});
  m->norm_f_ = wl.get("backbone.norm_f.weight", {H});
  m->lm_head_ = c.tie_word_embeddings ? m->embedding_ : wl.get("lm_head.weight", {c.padded_vocab, H});

  ParamCounts& pc = m->params_;
  pc.embedding = m->embedding_.numel();
  pc.final_norm = m->norm_f_.numel();
  pc.lm_head = c.tie_word_embeddings ? 0 : m->lm_head_.numel();
  // Layers are added as their weights are validated (no up-front allocation sized by an untrusted config).
  for (int64_t i = 0; i < c.num_layers; ++i) {
    int64_t ssm_params = 0;
    pc.block.push_back(load_layer(wl, c, i, m->layers_.emplace_back(), ssm_params));
    pc.ssm.push_back(ssm_params);
  }
  pc.total = pc.embedding + pc.final_norm + pc.lm_head;
  for (int64_t b : pc.block) pc.total += b;
  // Channel groups: Mamba-1 inner channels; Mamba-2 positions of the head dimension (head_dim / 8 by default).
  m->mlp_group_ = c.arch == Arch::Mamba2
                      ? (opts.mlp_channel_group > 0 ? opts.mlp_channel_group : std::max<int64_t>(1, c.head_dim / 8))
                      : hybrid_util::mlp_group_size(opts.mlp_channel_group, c.intermediate_size);
  if (opts.state_step < 0) throw Error("the state step must be >= 0 (0: state_size / 8)");
  m->state_step_ = opts.state_step > 0 ? opts.state_step : std::max<int64_t>(1, c.state_size / 8);
  m->tail_groups_ = opts.mlp_tail_groups;
  if (m->tail_groups_ && c.arch == Arch::Mamba2)  // the width-search mode's head order (mamba_width.h)
    for (LayerWeights& L : m->layers_) L.head_order = mamba2_head_order(L.m2, L.s2);
  m->init_cuts();
  m->load_tokenizer();
  return m;
}

nlohmann::json MambaModel::summary() const { return config_.to_hf_json(); }

std::string MambaModel::description() const {
  const ModelConfig& c = config_;
  auto n = [](int64_t v) { return std::to_string(v); };
  std::string d = c.arch == Arch::Mamba2 ? "Mamba-2 (Mamba2ForCausalLM" : "Mamba-1 (MambaForCausalLM";
  d += c.layout == WeightLayout::HuggingFace ? ", Hugging Face layout): " : ", mamba_ssm layout): ";
  d += n(c.num_layers) + " layers, hidden " + n(c.hidden_size) + ", inner " + n(c.intermediate_size) + ", state " +
       n(c.state_size) + ", conv " + n(c.conv_kernel);
  if (c.arch == Arch::Mamba2) d += ", heads " + n(c.num_heads) + " x " + n(c.head_dim) + ", groups " + n(c.n_groups);
  else d += ", dt rank " + n(c.time_step_rank);
  return d + ", vocab " + n(c.padded_vocab);
}

// ---- forward ----------------------------------------------------------------------------------------------------

Activations MambaModel::embed(const at::Tensor& ids, const ForwardPlan&, RecurrentState* state) const {
  Activations a;
  a.ids = checked_ids(ids);
  a.hidden = at::embedding(embedding_, a.ids).to(at::kFloat);
  a.position = state ? state->position() : 0;
  return a;
}

at::Tensor MambaModel::block(int64_t layer, const at::Tensor& hidden, bool skip_ssm, LayerState* state) const {
  const LayerWeights& w = layers_.at(static_cast<size_t>(layer));
  at::Tensor x = prof("norm", device_, [&] { return ops::rms_norm(hidden, w.norm_w, config_.layer_norm_epsilon); });
  at::Tensor out = branch(w, x, skip_ssm, state);
  return prof("residual", device_, [&] { return hidden + out; });  // residual kept in float32
}

at::Tensor MambaModel::branch(const LayerWeights& w, const at::Tensor& x, bool skip_ssm, LayerState* state) const {
  return config_.arch == Arch::Mamba1 ? mamba1_mixer(w.m1, x, skip_ssm || !w.has_ssm, state, device_)
                                      : mamba2_mixer(w.m2, w.s2, x, skip_ssm || !w.has_ssm, state, device_);
}

namespace {

// The weights layer l runs with under mask m: the loaded layer, or its cut (held by `hold`).
const LayerWeights& weights_for(const std::vector<LayerWeights>& layers, int64_t l, const LayerMask& m,
                                const std::function<std::shared_ptr<const LayerWeights>()>& cut,
                                std::shared_ptr<const LayerWeights>& hold) {
  if (!m.cut) return layers[static_cast<size_t>(l)];
  hold = cut();
  return *hold;
}

}  // namespace

void MambaModel::layer(int64_t l, Activations& a, const ForwardPlan& p, RecurrentState* state) const {
  const LayerMask& m = mamba_plan(p).mask[static_cast<size_t>(l)];
  if (m.skip_block) return;
  std::shared_ptr<const LayerWeights> hold;
  const LayerWeights& w = weights_for(layers_, l, m, [&] { return cut_layer(l, m.keep); }, hold);
  at::Tensor x = prof("norm", device_, [&] { return ops::rms_norm(a.hidden, w.norm_w, config_.layer_norm_epsilon); });
  at::Tensor out = branch(w, x, m.skip_ssm, state ? &state->layers[static_cast<size_t>(l)] : nullptr);
  a.hidden = prof("residual", device_, [&] { return a.hidden + out; });  // residual kept in float32
}

void MambaModel::layers(int64_t from, int64_t to, Activations& a, const ForwardPlan& p, RecurrentState* state) const {
  if (device_.is_cpu()) {
    Model::layers(from, to, a, p, state);
    return;
  }
  // On a GPU each block's residual add is fused with the next block's norm (one pass over the float32 residual
  // instead of two; the same arithmetic as layer()).
  const std::vector<LayerMask>& mask = mamba_plan(p).mask;
  at::Tensor& h = a.hidden;
  at::Tensor pending;  // the previous block's branch, not yet added to h
  for (int64_t i = from; i < to; ++i) {
    const LayerMask& lm = mask[static_cast<size_t>(i)];
    if (lm.skip_block) continue;
    LayerState* ls = state ? &state->layers[static_cast<size_t>(i)] : nullptr;
    std::shared_ptr<const LayerWeights> hold;
    const LayerWeights& w = weights_for(layers_, i, lm, [&] { return cut_layer(i, lm.keep); }, hold);
    at::Tensor x = prof("norm", device_, [&] {
      if (!pending.defined()) return ops::rms_norm(h, w.norm_w, config_.layer_norm_epsilon);
      at::Tensor next;
      at::Tensor n = ops::add_rms_norm(h, pending, w.norm_w, config_.layer_norm_epsilon, next);
      h = next;
      return n;
    });
    pending = branch(w, x, lm.skip_ssm, ls);
  }
  if (pending.defined()) h = prof("residual", device_, [&] { return h + pending; });
}

std::vector<LayerState> MambaModel::zero_state(int64_t batch, const ForwardPlan& p) const {
  const ModelConfig& c = config_;
  const std::vector<LayerMask>& mask = mamba_plan(p).mask;
  std::vector<LayerState> s(static_cast<size_t>(num_layers()));
  const auto f32 = at::TensorOptions().device(device_).dtype(at::kFloat);  // scan states stay float32
  for (size_t l = 0; l < s.size(); ++l) {
    const LayerMask& m = mask[l];
    if (m.skip_block) continue;  // a removed block holds no state
    const LayerWeights& w = layers_[l];
    const bool ssm = w.has_ssm && !m.skip_ssm;
    int64_t channels = 0;
    std::vector<int64_t> ssm_dims;
    if (c.arch == Arch::Mamba1) {
      const int64_t D = m.cut ? int64_t(m.keep.units.size()) : w.m1.out_proj_w.size(1);
      const int64_t N = m.cut ? int64_t(m.keep.state.size()) : w.m1.ssm.state_size;
      channels = D;
      ssm_dims = {batch, D, N};
    } else {
      const Mamba2Shape sh = m.cut ? cut_mamba2_shape(w.s2, m.keep) : w.s2;
      channels = w.has_ssm ? sh.conv_dim() : sh.inner;
      ssm_dims = {batch, sh.heads, sh.head_dim, sh.state};
    }
    s[l].conv = at::zeros({batch, c.conv_kernel - 1, channels}, at::TensorOptions().device(device_).dtype(dtype_));
    if (ssm) s[l].ssm = at::zeros(ssm_dims, f32);
  }
  return s;
}

at::Tensor MambaModel::head_logits(const at::Tensor& hidden) const {
  // transformers: the final norm takes the float32 residual, the head its output cast to the weight dtype.
  at::Tensor h = prof("final_norm", device_, [&] {
    return ops::rms_norm(hidden, norm_f_, config_.layer_norm_epsilon, /*round_input=*/false);
  });
  return prof("lm_head", device_, [&] { return at::linear(h.to(lm_head_.scalar_type()), lm_head_); });
}

// ---- training (export: mamba_export.cpp) ---------------------------------------------------------------------------

std::vector<WeightSlot> MambaModel::weight_slots() {
  const ModelConfig& c = config_;
  WeightSlotList s;
  const int64_t K = c.conv_kernel;
  const auto conv_kc = WeightSlotList::conv_from_stored(K);
  s.add_embedding_and_head("backbone.embeddings.weight", embedding_, lm_head_, c.tie_word_embeddings);
  s.add("backbone.norm_f.weight", norm_f_, false);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    LayerWeights& L = layers_[static_cast<size_t>(l)];
    const std::string p = "backbone.layers." + std::to_string(l) + ".";
    s.add(p + "norm.weight", L.norm_w, false);
    if (c.arch == Arch::Mamba1) {
      Mamba1Weights& m = L.m1;
      // The reference's LoRA targets: in_proj and out_proj of every mixer.
      s.add(p + "mixer.in_proj.weight", m.in_proj_w, true, true);
      s.add(p + "mixer.in_proj.bias", m.in_proj_b, false);
      s.add(p + "mixer.conv1d.weight", m.ssm.conv_w_kc, true, false, conv_kc);
      s.add(p + "mixer.conv1d.bias", m.ssm.conv_b, false);
      s.add(p + "mixer.x_proj.weight", m.ssm.x_proj_w, true);
      s.add(p + "mixer.dt_proj.weight", m.ssm.dt_proj_w, true);
      s.add(p + "mixer.dt_proj.bias", m.ssm.dt_proj_b, false);
      s.add(p + "mixer.A_log", m.ssm.A_nd, false, false, [](const at::Tensor& a) { return (-at::exp(a)).t().contiguous(); });
      s.add(p + "mixer.D", m.ssm.Dv, false);
      s.add(p + "mixer.out_proj.weight", m.out_proj_w, true, true);
      s.add(p + "mixer.out_proj.bias", m.out_proj_b, false);
    } else {
      Mamba2Weights& m = L.m2;
      s.add(p + "mixer.in_proj.weight", m.in_proj_w, true, true);
      s.add(p + "mixer.in_proj.bias", m.in_proj_b, false);
      s.add(p + "mixer.conv1d.weight", m.conv_w_kc, true, false, conv_kc);
      s.add(p + "mixer.conv1d.bias", m.conv_b, false);
      s.add(p + "mixer.dt_bias", m.dt_bias, false);
      s.add(p + "mixer.A_log", m.A_h, false, false, [](const at::Tensor& a) { return -at::exp(a); });
      s.add(p + "mixer.D", m.Dv, false);
      s.add(p + "mixer.norm.weight", m.gnorm_w, false);
      s.add(p + "mixer.out_proj.weight", m.out_proj_w, true, true);
      s.add(p + "mixer.out_proj.bias", m.out_proj_b, false);
    }
  }
  return s.take();
}

}  // namespace shedder
