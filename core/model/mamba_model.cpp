// Mamba-1 / Mamba-2: loading with full validation against config.json, the layers through the shared mixers, the
// component tree, and removal of blocks and SSMs (see mamba_model.h).
#include "model/mamba_model.h"

#include <c10/core/GradMode.h>

#include <filesystem>

#include "io/checkpoint.h"
#include "kernels/mixer_ops.h"
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

// Which blocks are the identity and which SSMs are skipped.
struct LayerMask {
  bool skip_block = false;
  bool skip_ssm = false;
};

class MambaPlan : public ForwardPlan {
 public:
  MambaPlan(RemovalSet r, std::vector<LayerMask> m, int64_t kept) : mask(std::move(m)) { set(std::move(r), kept); }
  std::vector<LayerMask> mask;  // per layer
};

const MambaPlan& mamba_plan(const ForwardPlan& p) { return static_cast<const MambaPlan&>(p); }

// The tensors of one layer: the pre-norm, then the mixer of `c.arch`. Returns the block's parameter count and
// adds those that die with the SSM to `ssm_params`.
int64_t load_layer(const WeightLoader& wl, const ModelConfig& c, int64_t i, LayerWeights& L, int64_t& ssm_params) {
  const int64_t H = c.hidden_size, D = c.intermediate_size, N = c.state_size, K = c.conv_kernel;
  const std::string p = "backbone.layers." + std::to_string(i) + ".";
  L.has_ssm = c.layer_has_ssm(i);
  L.norm_w = wl.get(p + "norm.weight", {H});
  ssm_params = 0;
  if (c.arch == Arch::Mamba1) {
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
    }
    m.out_proj_w = wl.get(p + "mixer.out_proj.weight", {H, D});
    m.out_proj_b = wl.optional(c.use_bias, p + "mixer.out_proj.bias", {H});
    return L.norm_w.numel() + m.in_proj_w.numel() + numel_or0(m.in_proj_b) + conv.numel() + numel_or0(m.ssm.conv_b) +
           ssm_params + m.out_proj_w.numel() + numel_or0(m.out_proj_b);
  }
  Mamba2Weights& m = L.m2;
  const int64_t Hh = c.num_heads, GN = c.n_groups * N;
  m.has_ssm = L.has_ssm;
  const int64_t conv_ch = L.has_ssm ? c.conv_dim() : D;
  // Exactly z, x, B, C, dt: mamba_ssm's extra d_mlp rows only exist with d_ssm < d_inner, which the config parser
  // refuses.
  const int64_t rows = L.has_ssm ? c.in_proj_rows() : 2 * D;
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
  }
  m.gnorm_w = wl.get(p + "mixer.norm.weight", {D});
  m.out_proj_w = wl.get(p + "mixer.out_proj.weight", {H, D});
  m.out_proj_b = wl.optional(c.use_bias, p + "mixer.out_proj.bias", {H});
  return L.norm_w.numel() + m.in_proj_w.numel() + numel_or0(m.in_proj_b) + conv.numel() + numel_or0(m.conv_b) +
         (L.has_ssm ? 3 * Hh : 0) + m.gnorm_w.numel() + m.out_proj_w.numel() + numel_or0(m.out_proj_b);
}

}  // namespace

MambaModel::~MambaModel() = default;

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
  m->load_tokenizer();
  return m;
}

nlohmann::json MambaModel::summary() const { return config_.to_hf_json(); }

Mamba2Shape MambaModel::mamba2_shape() const {
  const ModelConfig& c = config_;
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
  return s;
}

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

// ---- components and plans -------------------------------------------------------------------------------------

Component MambaModel::component_tree() const {
  const ParamCounts& pc = params_;
  Component root = make_component("model", ComponentKind::Model, -1, pc.total);
  for (int64_t i = 0; i < num_layers(); ++i) {
    const size_t li = static_cast<size_t>(i);
    Component blk = make_component("layers." + std::to_string(i), ComponentKind::Block, i, pc.block[li]);
    if (layers_[li].has_ssm) {
      Component ssm = make_component(blk.id + ".ssm", ComponentKind::Ssm, i, pc.ssm[li]);
      if (config_.arch == Arch::Mamba2) {
        const int64_t heads = config_.num_heads;  // dt_bias, A_log, D: one of each per head
        ssm.children.push_back(make_component(ssm.id + ".heads", ComponentKind::SsmHeads, i, 3 * heads, heads));
      }
      blk.children.push_back(std::move(ssm));
    }
    root.children.push_back(std::move(blk));
  }
  return root;
}

std::vector<ComponentId> MambaModel::candidates(Granularity g, const RemovalSet& removed) const {
  std::vector<ComponentId> c;
  if (g != Granularity::Block && g != Granularity::Ssm) return c;
  for (int64_t l = 0; l < num_layers(); ++l) {
    if (removed.contains(Granularity::Block, l)) continue;
    if (g == Granularity::Ssm && (removed.contains(Granularity::Ssm, l) || !layers_[static_cast<size_t>(l)].has_ssm))
      continue;
    c.push_back(ComponentId::layer_of(g, l));
  }
  return c;
}

PlanPtr MambaModel::plan(const RemovalSet& removed, const std::string& label) const {
  std::vector<LayerMask> mask(static_cast<size_t>(num_layers()));
  for (const ComponentId& c : removed.items) {
    if (c.kind != Granularity::Block && c.kind != Granularity::Ssm)
      throw Error(label + ": " + c.str() + ": a " + arch() + " model has only blocks (layers.N) and SSMs (layers.N.ssm)");
    if (c.layer < 0 || c.layer >= num_layers())
      throw Error(label + ": " + c.str() + " is outside the model's layers (0.." + std::to_string(num_layers() - 1) + ")");
    LayerMask& m = mask[static_cast<size_t>(c.layer)];
    if (c.kind == Granularity::Block) {
      m.skip_block = true;
    } else {
      if (!layers_[static_cast<size_t>(c.layer)].has_ssm)
        throw Error(label + ": layer " + std::to_string(c.layer) + " has no SSM to remove");
      m.skip_ssm = true;
    }
  }
  int64_t kept = params_.total;
  for (size_t l = 0; l < mask.size(); ++l)
    kept -= mask[l].skip_block ? params_.block[l] : mask[l].skip_ssm ? params_.ssm[l] : 0;
  return std::make_shared<MambaPlan>(removed, std::move(mask), kept);
}

std::vector<LayerState> MambaModel::zero_state(int64_t batch, const ForwardPlan& p) const {
  const ModelConfig& c = config_;
  const std::vector<LayerMask>& mask = mamba_plan(p).mask;
  std::vector<LayerState> s(static_cast<size_t>(num_layers()));
  const auto f32 = at::TensorOptions().device(device_).dtype(at::kFloat);  // scan states stay float32
  for (size_t l = 0; l < s.size(); ++l) {
    if (mask[l].skip_block) continue;  // a removed block holds no state
    const LayerWeights& w = layers_[l];
    const int64_t channels = c.arch == Arch::Mamba1 ? w.m1.ssm.conv_w_kc.size(1) : w.m2.conv_w_kc.size(1);
    s[l].conv = at::zeros({batch, c.conv_kernel - 1, channels}, at::TensorOptions().device(device_).dtype(dtype_));
    if (!w.has_ssm || mask[l].skip_ssm) continue;
    s[l].ssm = c.arch == Arch::Mamba1 ? at::zeros({batch, c.intermediate_size, c.state_size}, f32)
                                      : at::zeros({batch, c.num_heads, c.head_dim, c.state_size}, f32);
  }
  return s;
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
  at::Tensor out = branch(layer, x, skip_ssm, state);
  return prof("residual", device_, [&] { return hidden + out; });  // residual kept in float32
}

at::Tensor MambaModel::branch(int64_t layer, const at::Tensor& x, bool skip_ssm, LayerState* state) const {
  const LayerWeights& w = layers_.at(static_cast<size_t>(layer));
  return config_.arch == Arch::Mamba1 ? mamba1_mixer(w.m1, x, skip_ssm || !w.has_ssm, state, device_)
                                      : mamba2_mixer(w.m2, mamba2_shape(), x, skip_ssm || !w.has_ssm, state, device_);
}

void MambaModel::layer(int64_t l, Activations& a, const ForwardPlan& p, RecurrentState* state) const {
  const LayerMask& m = mamba_plan(p).mask[static_cast<size_t>(l)];
  if (m.skip_block) return;
  a.hidden = block(l, a.hidden, m.skip_ssm, state ? &state->layers[static_cast<size_t>(l)] : nullptr);
}

void MambaModel::layers(int64_t from, int64_t to, Activations& a, const ForwardPlan& p, RecurrentState* state) const {
  if (device_.is_cpu()) {
    Model::layers(from, to, a, p, state);
    return;
  }
  // On a GPU each block's residual add is fused with the next block's norm (one pass over the float32 residual
  // instead of two; the same arithmetic as block()).
  const std::vector<LayerMask>& mask = mamba_plan(p).mask;
  at::Tensor& h = a.hidden;
  at::Tensor pending;  // the previous block's branch, not yet added to h
  for (int64_t i = from; i < to; ++i) {
    const LayerMask& lm = mask[static_cast<size_t>(i)];
    if (lm.skip_block) continue;
    LayerState* ls = state ? &state->layers[static_cast<size_t>(i)] : nullptr;
    const LayerWeights& w = layers_[static_cast<size_t>(i)];
    at::Tensor x = prof("norm", device_, [&] {
      if (!pending.defined()) return ops::rms_norm(h, w.norm_w, config_.layer_norm_epsilon);
      at::Tensor next;
      at::Tensor n = ops::add_rms_norm(h, pending, w.norm_w, config_.layer_norm_epsilon, next);
      h = next;
      return n;
    });
    pending = branch(i, x, lm.skip_ssm, ls);
  }
  if (pending.defined()) h = prof("residual", device_, [&] { return h + pending; });
}

at::Tensor MambaModel::head(const at::Tensor& hidden) const {
  // transformers: the final norm takes the float32 residual, the head its output cast to the weight dtype.
  at::Tensor h = prof("final_norm", device_, [&] {
    return ops::rms_norm(hidden, norm_f_, config_.layer_norm_epsilon, /*round_input=*/false);
  });
  at::Tensor logits = prof("lm_head", device_, [&] { return at::linear(h.to(lm_head_.scalar_type()), lm_head_); });
  return prof("logits_to_f32", device_, [&] { return logits.to(at::kFloat); });
}

// ---- export and training --------------------------------------------------------------------------------------------

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
  const int64_t D = c.intermediate_size;
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
  // Mixer tensors that die with the SSM (Mamba-1: the selective scan's own parameters).
  const std::vector<std::string> dead = m2 ? std::vector<std::string>{"mixer.dt_bias", "mixer.A_log", "mixer.D"}
                                           : std::vector<std::string>{"mixer.x_proj.weight", "mixer.dt_proj.weight",
                                                                      "mixer.dt_proj.bias", "mixer.A_log", "mixer.D"};
  for (size_t j = 0; j < kept.size(); ++j) {
    const int64_t l = kept[j];
    const std::string from = "backbone.layers." + std::to_string(l) + ".";
    const std::string to = "backbone.layers." + std::to_string(j) + ".";
    const bool had_ssm = layers_[static_cast<size_t>(l)].has_ssm;
    const bool drop_ssm = !had_ssm || mask[static_cast<size_t>(l)].skip_ssm;
    if (drop_ssm) out_cfg.layers_without_ssm.push_back(static_cast<int64_t>(j));
    for (const auto& name : ws.names()) {
      if (name.compare(0, from.size(), from) != 0) continue;
      const std::string suffix = name.substr(from.size());
      if (drop_ssm && std::find(dead.begin(), dead.end(), suffix) != dead.end()) continue;
      at::Tensor t = stored(name);
      if (drop_ssm && m2 && had_ssm) {
        // Keep the gated-MLP rows (2*d_mlp, usually none), z and x (2*D) of in_proj and the x channels of the conv.
        if (suffix == "mixer.in_proj.weight" || suffix == "mixer.in_proj.bias") {
          const int64_t d_mlp = (t.size(0) - c.in_proj_rows()) / 2;
          t = t.narrow(0, 0, 2 * d_mlp + 2 * D);
        }
        if (suffix == "mixer.conv1d.weight" || suffix == "mixer.conv1d.bias") t = t.narrow(0, 0, D);
      }
      out.tensors.emplace_back(to + suffix, t);
    }
    out.layer_map[std::to_string(j)] = l;
  }
  out.config = out_cfg.to_hf_json();
  if (out_cfg.layers_without_ssm.empty()) out.config.erase("shedder_layers_without_ssm");
  // Carry over fields we do not model (e.g. time_step_* init settings), without overriding ours.
  if (c.layout == WeightLayout::HuggingFace)
    for (auto it = c.raw.begin(); it != c.raw.end(); ++it)
      if (!out.config.contains(it.key()) && it.key() != "shedder_layers_without_ssm") out.config[it.key()] = it.value();
  out.layers = out_cfg.num_layers;
  out.transformers_loadable = out_cfg.layers_without_ssm.empty();
  if (!out.transformers_loadable)
    out.note = "layers without SSM (shedder_layers_without_ssm): transformers has no SSM-less Mamba layer";
  return out;
}

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
