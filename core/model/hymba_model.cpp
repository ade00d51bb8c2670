// Hymba: loading, plans (removals resolved, layers cut), the layers (meta tokens, sliding-window / global attention,
// cross-layer K/V reuse through the stream, parallel attention and SSM heads), the component tree (see
// hymba_model.h; export and training slots: hymba_export.cpp). The math follows nvidia/Hymba-1.5B-Base's modeling_hymba.py (flex-attention
// mask: meta tokens always visible).
#include "model/hymba_model.h"
#include "model/hymba_plan.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "io/checkpoint.h"
#include "kernels/mixer_ops.h"
#include "model/attention.h"
#include "model/hybrid_util.h"
#include "model/weight_loader.h"
#include "runtime/device.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace shedder {

using namespace hybrid_util;

namespace {

constexpr double kKqNormEps = 1e-6;  // HymbaRMSNorm's default eps, used by the q/k norms

at::Tensor kq_norm(const at::Tensor& t, const at::Tensor& w) {
  return w.defined() ? ops::rms_norm(t, w, kKqNormEps, /*round_input=*/false) : t;
}

}  // namespace

// ---- loading ------------------------------------------------------------------------------------------------------

HymbaModel::~HymbaModel() = default;

std::shared_ptr<HymbaModel> HymbaModel::load(const std::string& dir, const LoadOptions& opts) {
  std::shared_ptr<HymbaModel> m(new HymbaModel());
  const std::string cfg_path = m->open_folder(dir);
  m->cfg_ = HymbaConfig::from_file(cfg_path);
  const HymbaConfig& c = m->cfg_;
  WeightStore ws = WeightStore::open_folder(dir);
  m->place(ws, opts, "model.embed_tokens.weight");
  const WeightLoader wl(ws, dir, "config.json", opts.check_finite, m->device_, m->dtype_);
  const int64_t H = c.hidden_size, D = c.inner, N = c.d_state, R = c.dt_rank, K = c.d_conv;
  const int64_t qhd = c.q_head_dim, vhd = c.v_head_dim, rep = c.num_heads / c.num_kv_heads;
  m->embedding_ = wl.get("model.embed_tokens.weight", {c.vocab_size, H});
  m->final_norm_w_ = wl.get("model.final_layernorm.weight", {H});
  m->lm_head_ = c.tie_word_embeddings ? m->embedding_ : wl.get("lm_head.weight", {c.vocab_size, H});
  if (c.num_memory_tokens > 0) m->memory_tokens_ = wl.get("model.memory_tokens", {c.num_memory_tokens, H});
  const std::set<int64_t> no_ssm(c.layers_without_ssm.begin(), c.layers_without_ssm.end());
  const std::set<int64_t> no_attn(c.layers_without_attn.begin(), c.layers_without_attn.end());
  const std::set<int64_t> no_mixer(c.layers_without_mixer.begin(), c.layers_without_mixer.end());
  auto attends = [&](int64_t l) { return !no_mixer.count(l) && !no_attn.count(l); };
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    const std::string p = "model.layers." + std::to_string(l) + ".";
    Layer L;
    L.has_mixer = !no_mixer.count(l);
    L.has_attn = attends(l);
    L.has_ssm = L.has_mixer && !no_ssm.count(l);
    if (L.has_attn) L.groups = c.kept_groups[li];
    if (c.kv_producer[li] == l) {  // the groups any of its attending users keeps
      std::set<int64_t> need;
      for (int64_t u = l; u < c.num_layers; ++u)
        if (c.kv_producer[static_cast<size_t>(u)] == l && attends(u))
          for (int64_t g : c.kept_groups[static_cast<size_t>(u)]) need.insert(g);
      if (!need.empty() && !L.has_attn)
        throw Error(cfg_path + ": layer " + std::to_string(l) + " has no attention but provides K/V to later layers");
      L.kv_groups.assign(need.begin(), need.end());
    } else if (L.has_attn && !attends(c.kv_producer[li])) {
      throw Error(cfg_path + ": layer " + std::to_string(l) + " reuses the K/V of layer " +
                  std::to_string(c.kv_producer[li]) + ", which has no attention");
    }
    if (L.has_ssm) L.ssm_channels = unit_rows(c.kept_ssm_heads[li], vhd);
    const int64_t I = c.layer_intermediate[li];
    if (I > 0) {
      const std::string e = p + "moe.experts.0.";
      L.mlp_norm_w = wl.get(p + "pre_moe_layernorm.weight", {H});
      if (c.mlp_act == "silu") L.gate_w = wl.get(e + "gate_proj.weight", {I, H});
      L.up_w = wl.get(e + "up_proj.weight", {I, H});
      L.down_w = wl.get(e + "down_proj.weight", {H, I});
    }
    if (!L.has_mixer) {
      m->layers_.push_back(std::move(L));
      continue;
    }
    const int64_t nq = static_cast<int64_t>(L.groups.size()) * rep, nkv = static_cast<int64_t>(L.kv_groups.size());
    const int64_t Dk = static_cast<int64_t>(L.ssm_channels.size());
    L.in_norm_w = wl.get(p + "input_layernorm.weight", {H});
    at::Tensor in_proj = wl.get(p + "mamba.in_proj.weight", {nq * qhd + nkv * (qhd + vhd) + 2 * Dk, H});
    int64_t o = 0;
    auto take = [&](int64_t n) {
      at::Tensor t = in_proj.narrow(0, o, n).contiguous();
      o += n;
      return t;
    };
    if (L.has_attn) L.q_w = take(nq * qhd);
    if (nkv > 0) {
      L.k_w = take(nkv * qhd);
      L.v_w = take(nkv * vhd);
    }
    if (L.has_ssm) {
      L.x_w = take(Dk);
      L.z_w = take(Dk);
    }
    const std::string a = p + "mamba.self_attn.";
    if (c.kq_norm == "rms") {
      if (L.has_attn) L.q_norm_w = wl.get(a + "q_norm.weight", {qhd});
      if (nkv > 0) L.k_norm_w = wl.get(a + "k_norm.weight", {qhd});
    } else if (c.kq_norm == "perhead-rms") {
      if (L.has_attn) L.q_norm_w = wl.get(a + "q_norm.weight", {1, nq, 1, qhd});
      if (nkv > 0) L.k_norm_w = wl.get(a + "k_norm.weight", {1, nkv, 1, qhd});
    }
    if (L.has_ssm) {
      const std::string s = p + "mamba.";
      Mamba1Ssm& w = L.ssm;
      w.dt_rank = R;
      w.state_size = N;
      w.norm_eps = c.rms_norm_eps;
      w.conv_w_kc = wl.get(s + "conv1d.weight", {Dk, 1, K}, true).reshape({Dk, K}).t().contiguous();
      if (c.conv_bias) w.conv_b = wl.get(s + "conv1d.bias", {Dk}, true);
      w.x_proj_w = wl.get(s + "x_proj.0.weight", {R + 2 * N, Dk});
      w.dt_proj_w = wl.get(s + "dt_proj.0.weight", {Dk, R});
      w.dt_proj_b = wl.get(s + "dt_proj.0.bias", {Dk}, true);
      w.A_nd = (-at::exp(wl.get(s + "A_log.0", {Dk, N}, true))).t().contiguous();
      w.Dv = wl.get(s + "D.0", {Dk}, true);
      if (c.inner_layernorms) {
        w.dt_norm_w = wl.get(s + "dt_layernorm.weight", {R});
        w.B_norm_w = wl.get(s + "B_layernorm.weight", {N});
        w.C_norm_w = wl.get(s + "C_layernorm.weight", {N});
      }
      L.ln_ssm_w = wl.get(s + "pre_avg_layernorm2.weight", {D});
    }
    if (L.has_attn) L.ln_attn_w = wl.get(p + "mamba.pre_avg_layernorm1.weight", {D});
    if (!L.has_attn && !L.has_ssm)
      throw Error(cfg_path + ": layer " + std::to_string(l) + " lists neither attention nor SSM but keeps its mixer");
    L.out_proj_w = wl.get(p + "mamba.out_proj.weight", {H, D});
    m->layers_.push_back(std::move(L));
  }
  m->mlp_group_ = mlp_group_size(opts.mlp_channel_group, c.intermediate_size);
  m->tail_groups_ = opts.mlp_tail_groups;
  m->load_tokenizer();
  return m;
}

nlohmann::json HymbaModel::summary() const {
  const HymbaConfig& c = cfg_;
  return {{"model_type", "hymba"},
          {"vocab_size", c.vocab_size},
          {"hidden_size", c.hidden_size},
          {"num_hidden_layers", c.num_layers},
          {"num_attention_heads", c.num_heads},
          {"num_key_value_heads", c.num_kv_heads},
          {"mamba_inner", c.inner},
          {"mamba_d_state", c.d_state},
          {"intermediate_size", c.intermediate_size},
          {"num_memory_tokens", c.num_memory_tokens},
          {"sliding_window", c.sliding_window},
          {"global_attn_idx", c.global_attn_idx},
          {"mlp_channel_group", mlp_group_}};
}

std::string HymbaModel::description() const {
  const HymbaConfig& c = cfg_;
  auto n = [](int64_t v) { return std::to_string(v); };
  std::string d = "Hymba (HymbaForCausalLM): " + n(c.num_layers) + " layers, hidden " + n(c.hidden_size) +
                  ", attention " + n(c.num_heads) + " heads / " + n(c.num_kv_heads) + " KV, SSM inner " + n(c.inner) +
                  " state " + n(c.d_state) + ", MLP " + n(c.intermediate_size);
  if (c.num_memory_tokens > 0) d += ", " + n(c.num_memory_tokens) + " meta tokens";
  if (c.sliding_window > 0) d += ", sliding window " + n(c.sliding_window);
  return d + ", vocab " + n(c.vocab_size);
}

// ---- plans ------------------------------------------------------------------------------------------------------


std::shared_ptr<HymbaModel::Plan> HymbaModel::resolve(const RemovalSet& removed, const std::string& label,
                                                     bool materialize) const {
  const HymbaConfig& c = cfg_;
  const size_t L = static_cast<size_t>(c.num_layers);
  auto p = std::make_shared<Plan>();
  p->skip_layer.assign(L, 0);
  p->skip_attn.assign(L, 0);
  p->skip_ssm.assign(L, 0);
  p->skip_mlp.assign(L, 0);
  std::vector<std::set<int64_t>> g_gone(L), h_gone(L), ch_gone(L);
  for (const ComponentId& id : removed.items) {
    auto bad = [&](const std::string& why) { return Error(label + ": component '" + id.str() + "': " + why); };
    if (id.shared >= 0 || id.kind == Granularity::SharedBlock)
      throw bad("a Hymba model has layers.N, layers.N.attn, layers.N.ssm, layers.N.mlp, layers.N.attn.heads.G, "
                "layers.N.ssm.heads.S and layers.N.mlp.channels.C");
    if (id.layer >= c.num_layers) throw bad("this model has " + std::to_string(c.num_layers) + " layers");
    const size_t li = static_cast<size_t>(id.layer);
    const Layer& ly = layers_[li];
    const bool has_mlp = ly.down_w.defined();
    switch (id.kind) {
      case Granularity::Block:
        if (!ly.has_mixer) throw bad("this layer's Hymba block was already removed by an export");
        p->skip_layer[li] = 1;
        break;
      case Granularity::Attention:
        if (!ly.has_attn) throw bad("this layer has no attention (removed by an export)");
        p->skip_attn[li] = 1;
        break;
      case Granularity::Ssm:
        if (!ly.has_ssm) throw bad("this layer has no SSM (removed by an export)");
        p->skip_ssm[li] = 1;
        break;
      case Granularity::Mlp:
        if (!has_mlp) throw bad("this layer has no MLP");
        p->skip_mlp[li] = 1;
        break;
      case Granularity::AttentionHeads:
        if (std::find(ly.groups.begin(), ly.groups.end(), id.index) == ly.groups.end())
          throw bad("no attention head group " + std::to_string(id.index) + " in this layer");
        g_gone[li].insert(id.index);
        break;
      case Granularity::SsmHeads: {
        const auto& kept = c.kept_ssm_heads[li];
        if (!ly.has_ssm || std::find(kept.begin(), kept.end(), id.index) == kept.end())
          throw bad("no SSM head " + std::to_string(id.index) + " in this layer");
        h_gone[li].insert(id.index);
        break;
      }
      case Granularity::MlpChannels:
        if (!has_mlp || id.index * mlp_group_ >= ly.down_w.size(1)) throw bad("no such MLP channel group");
        ch_gone[li].insert(id.index);
        break;
      default:
        throw bad("not a component of a Hymba model");
    }
  }
  p->groups.resize(L);
  p->kv_groups.resize(L);
  p->ssm_heads.resize(L);
  p->channels.resize(L);
  for (size_t l = 0; l < L; ++l) {
    const Layer& ly = layers_[l];
    for (int64_t g : ly.groups)
      if (!g_gone[l].count(g)) p->groups[l].push_back(g);
    if (ly.has_ssm)
      for (int64_t h : c.kept_ssm_heads[l])
        if (!h_gone[l].count(h)) p->ssm_heads[l].push_back(h);
    if (ly.down_w.defined())
      for (int64_t ch = 0; ch < ly.down_w.size(1); ++ch)
        if (!ch_gone[l].count(ch / mlp_group_)) p->channels[l].push_back(ch);
    const std::string where = label + ": layers." + std::to_string(l);
    if (ly.down_w.defined() && !p->skip_mlp[l] && p->channels[l].empty())
      throw Error(where + ": every MLP channel would be removed; remove layers." + std::to_string(l) + ".mlp instead");
    if (!ly.has_mixer || p->skip_layer[l]) continue;
    const bool attn = ly.has_attn && !p->skip_attn[l], ssm = ly.has_ssm && !p->skip_ssm[l];
    if (!attn && !ssm)
      throw Error(where + ": both the attention and the SSM would be removed; remove the Hymba block (layers." +
                  std::to_string(l) + ") instead");
    if (attn && p->groups[l].empty())
      throw Error(where + ": every attention head group would be removed; remove layers." + std::to_string(l) +
                  ".attn instead");
    if (ssm && p->ssm_heads[l].empty())
      throw Error(where + ": every SSM head would be removed; remove layers." + std::to_string(l) + ".ssm instead");
  }
  for (size_t l = 0; l < L; ++l) {
    if (c.kv_producer[l] != static_cast<int64_t>(l)) continue;
    std::set<int64_t> need;
    for (size_t u = l; u < L; ++u)
      if (c.kv_producer[u] == static_cast<int64_t>(l) && layers_[u].has_attn && p->attends(u))
        need.insert(p->groups[u].begin(), p->groups[u].end());
    if (!need.empty() && !p->attends(l))
      throw Error(label + ": layers." + std::to_string(l) +
                  " provides K/V to later layers that keep their attention; remove those first");
    p->kv_groups[l].assign(need.begin(), need.end());
  }
  p->set(removed, count_params(*p));
  if (materialize)
    for (int64_t l = 0; l < c.num_layers; ++l) p->cut.push_back(cut(l, *p));
  return p;
}

PlanPtr HymbaModel::plan(const RemovalSet& removed, const std::string& label) const { return resolve(removed, label); }

int64_t HymbaModel::count_params(const Plan& p) const {
  const HymbaConfig& c = cfg_;
  const int64_t H = c.hidden_size, D = c.inner, N = c.d_state, R = c.dt_rank, K = c.d_conv;
  const int64_t qhd = c.q_head_dim, vhd = c.v_head_dim, rep = c.num_heads / c.num_kv_heads;
  int64_t n = embedding_.numel() + final_norm_w_.numel() + (c.tie_word_embeddings ? 0 : lm_head_.numel()) +
              (memory_tokens_.defined() ? memory_tokens_.numel() : 0);
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& ly = layers_[l];
    if (ly.down_w.defined() && !p.skip_mlp[l])
      n += H + (ly.gate_w.defined() ? 3 : 2) * static_cast<int64_t>(p.channels[l].size()) * H;
    if (!ly.has_mixer || p.skip_layer[l]) continue;
    n += H + H * D;  // input norm, out_proj
    const int64_t nkv = static_cast<int64_t>(p.kv_groups[l].size());
    if (ly.has_attn && !p.skip_attn[l]) {
      const int64_t nq = static_cast<int64_t>(p.groups[l].size()) * rep;
      n += nq * qhd * H + D + (c.kq_norm == "rms" ? qhd : c.kq_norm == "perhead-rms" ? nq * qhd : 0);
    }
    n += nkv * (qhd + vhd) * H + (nkv > 0 ? (c.kq_norm == "rms" ? qhd : c.kq_norm == "perhead-rms" ? nkv * qhd : 0) : 0);
    if (ly.has_ssm && !p.skip_ssm[l]) {
      const int64_t Dk = static_cast<int64_t>(p.ssm_heads[l].size()) * vhd;
      n += 2 * Dk * H + Dk * K + (c.conv_bias ? Dk : 0) + (R + 2 * N) * Dk + Dk * R + Dk + Dk * N + Dk + D +
           (c.inner_layernorms ? R + 2 * N : 0);
    }
  }
  return n;
}

int64_t HymbaModel::total_parameters() const { return kept_parameters({}, "model"); }

int64_t HymbaModel::kept_parameters(const RemovalSet& removed, const std::string& label) const {
  return resolve(removed, label, /*materialize=*/false)->kept_parameters();
}

int64_t HymbaModel::first_layer(const ComponentId& c) const {
  const bool touches_attention =
      c.kind == Granularity::Block || c.kind == Granularity::Attention || c.kind == Granularity::AttentionHeads;
  return touches_attention ? std::min(c.layer, cfg_.kv_producer[static_cast<size_t>(c.layer)]) : c.layer;
}

// A layer's weights with the plan's removals cut out (what the pass runs and export writes).
HymbaModel::Layer HymbaModel::cut(int64_t layer, const Plan& p) const {
  const HymbaConfig& c = cfg_;
  const size_t li = static_cast<size_t>(layer);
  const Layer& a = layers_[li];
  Layer b = a;
  const int64_t qhd = c.q_head_dim, vhd = c.v_head_dim, rep = c.num_heads / c.num_kv_heads;
  auto positions = [](const std::vector<int64_t>& have, const std::vector<int64_t>& keep) {
    std::vector<int64_t> pos;
    for (int64_t g : keep) pos.push_back(std::find(have.begin(), have.end(), g) - have.begin());
    return pos;
  };
  if (a.down_w.defined() && p.skip_mlp[li]) {
    b.mlp_norm_w = b.gate_w = b.up_w = b.down_w = at::Tensor();
  } else if (a.down_w.defined() && static_cast<int64_t>(p.channels[li].size()) != a.down_w.size(1)) {
    if (a.gate_w.defined()) b.gate_w = rows(a.gate_w, p.channels[li]);
    b.up_w = rows(a.up_w, p.channels[li]);
    b.down_w = cols(a.down_w, p.channels[li]);
  }
  const bool mixer = a.has_mixer && !p.skip_layer[li];
  const bool attn = mixer && a.has_attn && !p.skip_attn[li], ssm = mixer && a.has_ssm && !p.skip_ssm[li];
  if (!mixer) b.has_mixer = false;
  if (!mixer) b.in_norm_w = b.out_proj_w = at::Tensor();
  if (!attn) {
    b.has_attn = false;
    b.groups.clear();
    b.q_w = b.q_norm_w = b.ln_attn_w = at::Tensor();
  } else if (p.groups[li] != a.groups) {
    const std::vector<int64_t> gp = positions(a.groups, p.groups[li]);
    b.q_w = rows(a.q_w, unit_rows(gp, rep * qhd));
    if (c.kq_norm == "perhead-rms")
      b.q_norm_w = a.q_norm_w.index_select(1, idx(unit_rows(gp, rep), a.q_norm_w.device())).contiguous();
    b.groups = p.groups[li];
  }
  if (p.kv_groups[li].empty()) {
    b.kv_groups.clear();
    b.k_w = b.v_w = b.k_norm_w = at::Tensor();
  } else if (p.kv_groups[li] != a.kv_groups) {
    const std::vector<int64_t> kp = positions(a.kv_groups, p.kv_groups[li]);
    b.k_w = rows(a.k_w, unit_rows(kp, qhd));
    b.v_w = rows(a.v_w, unit_rows(kp, vhd));
    if (c.kq_norm == "perhead-rms") b.k_norm_w = a.k_norm_w.index_select(1, idx(kp, a.k_norm_w.device())).contiguous();
    b.kv_groups = p.kv_groups[li];
  }
  if (!ssm) {
    b.has_ssm = false;
    b.ssm_channels.clear();
    b.x_w = b.z_w = b.ln_ssm_w = at::Tensor();
    b.ssm = Mamba1Ssm();
  } else if (p.ssm_heads[li] != c.kept_ssm_heads[li]) {
    const std::vector<int64_t> hp = unit_rows(positions(c.kept_ssm_heads[li], p.ssm_heads[li]), vhd);
    b.ssm_channels = unit_rows(p.ssm_heads[li], vhd);
    b.x_w = rows(a.x_w, hp);
    b.z_w = rows(a.z_w, hp);
    b.ssm.conv_w_kc = cols(a.ssm.conv_w_kc, hp);
    if (a.ssm.conv_b.defined()) b.ssm.conv_b = rows(a.ssm.conv_b, hp);
    b.ssm.x_proj_w = cols(a.ssm.x_proj_w, hp);
    b.ssm.dt_proj_w = rows(a.ssm.dt_proj_w, hp);
    b.ssm.dt_proj_b = rows(a.ssm.dt_proj_b, hp);
    b.ssm.A_nd = cols(a.ssm.A_nd, hp);
    b.ssm.Dv = rows(a.ssm.Dv, hp);
  }
  return b;
}

// ---- forward ----------------------------------------------------------------------------------------------------

std::vector<LayerState> HymbaModel::zero_state(int64_t batch, const ForwardPlan& fp) const {
  const Plan& p = hplan(fp);
  std::vector<LayerState> s(layers_.size());
  for (size_t l = 0; l < s.size(); ++l) {
    const Layer& w = p.cut[l];
    if (!w.has_ssm) continue;  // the attention K/V caches start empty and grow with the sequence
    const int64_t Dk = w.ssm.conv_w_kc.size(1);
    s[l].conv = at::zeros({batch, cfg_.d_conv - 1, Dk}, at::TensorOptions().device(device_).dtype(dtype_));
    s[l].ssm = at::zeros({batch, Dk, cfg_.d_state}, at::TensorOptions().device(device_).dtype(at::kFloat));
  }
  return s;
}

Activations HymbaModel::embed(const at::Tensor& ids, const ForwardPlan&, RecurrentState* state) const {
  Activations a;
  a.ids = checked_ids(ids);
  a.hidden = at::embedding(embedding_, a.ids).to(at::kFloat);
  const int64_t M = cfg_.num_memory_tokens, B = a.ids.size(0);
  a.carried.resize(layers_.size());
  if (!state || state->position() == 0) {  // a sequence starts with the meta tokens
    if (M > 0) a.hidden = at::cat({memory_tokens_.to(at::kFloat).unsqueeze(0).expand({B, M, cfg_.hidden_size}), a.hidden}, 1);
    a.prefix = M;
    a.position = 0;
  } else {
    a.position = M + state->position();
  }
  return a;
}

void HymbaModel::layer(int64_t l, Activations& a, const ForwardPlan& fp, RecurrentState* state) const {
  const Plan& p = hplan(fp);
  const HymbaConfig& c = cfg_;
  const size_t li = static_cast<size_t>(l);
  const Layer& w = p.cut[li];
  LayerState* ls = state ? &state->layers[li] : nullptr;
  at::Tensor& h = a.hidden;
  const int64_t B = h.size(0), T = h.size(1), D = c.inner;
  const int64_t qhd = c.q_head_dim, vhd = c.v_head_dim, rep = c.num_heads / c.num_kv_heads;
  if (w.has_mixer) {
    at::Tensor x = ops::rms_norm(h, w.in_norm_w, c.rms_norm_eps);
    RotaryTable rot;
    if (c.rope && (w.has_attn || !w.kv_groups.empty())) rot = rotary_table(a.position, T, qhd, c.rope_base, device_);
    auto rope = [&](const at::Tensor& t) { return c.rope ? apply_rotary(t, rot) : t; };
    if (!w.kv_groups.empty()) {  // this layer makes K/V (for itself and the layers that reuse them)
      const int64_t nkv = static_cast<int64_t>(w.kv_groups.size());
      at::Tensor k = rope(kq_norm(at::linear(x, w.k_w).view({B, T, nkv, qhd}).transpose(1, 2), w.k_norm_w));
      at::Tensor v = at::linear(x, w.v_w).view({B, T, nkv, vhd}).transpose(1, 2);
      if (ls) {  // the whole sequence's K/V, in the producer's state
        k = append_to_cache(ls->k, k);
        v = append_to_cache(ls->v, v);
      }
      a.carried[li] = {k, v};
    }
    // A branch's RMSNorm averages over the full inner width (removed heads count as zeros).
    auto branch_norm = [&](const at::Tensor& y, const at::Tensor& lw, const std::vector<int64_t>& ch) {
      at::Tensor yf = y.to(at::kFloat);
      at::Tensor r = at::rsqrt(yf.pow(2).sum(-1, true) / static_cast<double>(D) + c.rms_norm_eps);
      return lw.index_select(0, idx(ch, lw.device())).to(at::kFloat) * (yf * r);
    };
    at::Tensor mix = at::zeros({B, T, D}, h.options());
    const double share = w.has_attn && w.has_ssm ? 0.5 : 1.0;  // one branch alone is not averaged
    if (w.has_attn) {
      const int64_t nq = static_cast<int64_t>(w.groups.size()) * rep;
      at::Tensor q = rope(kq_norm(at::linear(x, w.q_w).view({B, T, nq, qhd}).transpose(1, 2), w.q_norm_w));
      const size_t prod = static_cast<size_t>(c.kv_producer[li]);
      const std::vector<int64_t>& have = p.kv_groups[prod];
      std::vector<int64_t> head_kv, qheads;  // per kept query head: its K/V row in the producer's tensors
      for (int64_t g : w.groups)
        for (int64_t r = 0; r < rep; ++r) {
          head_kv.push_back(std::find(have.begin(), have.end(), g) - have.begin());
          qheads.push_back(g * rep + r);
        }
      const std::vector<at::Tensor>& kv = a.carried[prod];
      const at::Tensor sel = idx(head_kv, device_);
      at::Tensor k = kv.at(0).index_select(1, sel), v = kv.at(1).index_select(1, sel);
      AttentionMask mask;
      mask.q_first = k.size(2) - T;  // cached positions come first
      if (!c.is_global(l)) {
        mask.window = c.sliding_window;
        mask.always_visible = c.num_memory_tokens;
      }
      at::Tensor attn = attend(q, k, v, mask, 1.0 / std::sqrt(static_cast<double>(qhd)));
      attn = attn.transpose(1, 2).reshape({B, T, nq * vhd});
      const std::vector<int64_t> attn_ch = unit_rows(qheads, vhd);
      mix = mix.index_add(2, idx(attn_ch, device_), branch_norm(attn, w.ln_attn_w, attn_ch) * share);
    }
    if (w.has_ssm) {  // Mamba-1 selective scan over the kept SSM heads' channels
      at::Tensor y = mamba1_ssm(w.ssm, at::linear(x, w.x_w), at::linear(x, w.z_w), false, ls, device_);
      mix = mix.index_add(2, idx(w.ssm_channels, device_), branch_norm(y, w.ln_ssm_w, w.ssm_channels) * share);
    }
    h = h + at::linear(mix.to(w.out_proj_w.scalar_type()), w.out_proj_w);
  }
  if (w.down_w.defined()) {
    at::Tensor u = ops::rms_norm(h, w.mlp_norm_w, c.rms_norm_eps);
    at::Tensor act = w.gate_w.defined() ? at::silu(at::linear(u, w.gate_w)) * at::linear(u, w.up_w)
                                        : at::relu(at::linear(u, w.up_w)).pow(2);
    h = h + at::linear(act, w.down_w);
  }
}

at::Tensor HymbaModel::head_logits(const at::Tensor& hidden) const {
  at::Tensor h = ops::rms_norm(hidden, final_norm_w_, cfg_.rms_norm_eps, /*round_input=*/false);
  return at::linear(h.to(lm_head_.scalar_type()), lm_head_);
}

// ---- components -------------------------------------------------------------------------------------------------

std::vector<Granularity> HymbaModel::granularities() const {
  return {Granularity::Block,  Granularity::Attention,      Granularity::Ssm,        Granularity::Mlp,
          Granularity::AttentionHeads, Granularity::SsmHeads, Granularity::MlpChannels};
}

Component HymbaModel::component_tree() const {
  const HymbaConfig& c = cfg_;
  const int64_t total = total_parameters();
  auto cost = [&](const ComponentId& id) {
    RemovalSet r;
    r.add(id);
    try {
      return total - kept_parameters(r, id.str());
    } catch (const Error&) {
      return int64_t(0);  // not removable on its own (a K/V producer, the last head group)
    }
  };
  auto node = [&](const ComponentId& id, ComponentKind k, int64_t count) {
    return make_component(id.str(), k, id.layer, cost(id), count);
  };
  // Children are parts of their parent (removing the parent removes them): a layer's Hymba block (layers.N: its
  // attention and SSM heads) and its MLP (layers.N.mlp), which the block's removal keeps, are siblings.
  Component root = make_component("model", ComponentKind::Model, -1, total);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const Layer& ly = layers_[static_cast<size_t>(l)];
    if (ly.has_mixer) {  // (an export may have removed it)
      Component blk = node(ComponentId::layer_of(Granularity::Block, l), ComponentKind::HybridBlock, 0);
      if (ly.has_attn) {
        Component a = node(ComponentId::layer_of(Granularity::Attention, l), ComponentKind::Attention, 0);
        for (int64_t g : ly.groups)
          a.children.push_back(node(ComponentId::layer_of(Granularity::AttentionHeads, l, g),
                                    ComponentKind::AttentionHeads, c.num_heads / c.num_kv_heads));
        blk.children.push_back(std::move(a));
      }
      if (ly.has_ssm) {
        Component s = node(ComponentId::layer_of(Granularity::Ssm, l), ComponentKind::Ssm, 0);
        for (int64_t h : c.kept_ssm_heads[static_cast<size_t>(l)])
          s.children.push_back(node(ComponentId::layer_of(Granularity::SsmHeads, l, h), ComponentKind::SsmHeadGroup,
                                    c.v_head_dim));
        blk.children.push_back(std::move(s));
      }
      root.children.push_back(std::move(blk));
    }
    if (ly.down_w.defined()) {
      Component m = node(ComponentId::layer_of(Granularity::Mlp, l), ComponentKind::Mlp, 0);
      const int64_t I = ly.down_w.size(1), groups = (I + mlp_group_ - 1) / mlp_group_;
      for (int64_t g = 0; g < groups; ++g)
        m.children.push_back(node(ComponentId::layer_of(Granularity::MlpChannels, l, g), ComponentKind::MlpChannels,
                                  std::min(mlp_group_, I - g * mlp_group_)));
      root.children.push_back(std::move(m));
    }
  }
  return root;
}

std::vector<ComponentId> HymbaModel::candidates(Granularity g, const RemovalSet& removed) const {
  const std::shared_ptr<Plan> p = resolve(removed, "removal", /*materialize=*/false);
  auto ok = [&](const ComponentId& cand) {  // removable now (not a K/V producer others still need, ...)
    RemovalSet t = removed;
    t.add(cand);
    try {
      resolve(t, "candidate", /*materialize=*/false);
      return true;
    } catch (const Error&) {
      return false;
    }
  };
  std::vector<ComponentId> out;
  for (int64_t l = 0; l < cfg_.num_layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    const Layer& ly = layers_[li];
    const bool mixer = ly.has_mixer && !p->skip_layer[li];
    const bool attn = mixer && ly.has_attn && !p->skip_attn[li], ssm = mixer && ly.has_ssm && !p->skip_ssm[li];
    const bool mlp = ly.down_w.defined() && !p->skip_mlp[li];
    std::vector<ComponentId> c;
    if (g == Granularity::Block && mixer) c.push_back(ComponentId::layer_of(g, l));
    if (g == Granularity::Attention && attn) c.push_back(ComponentId::layer_of(g, l));
    if (g == Granularity::Ssm && ssm) c.push_back(ComponentId::layer_of(g, l));
    if (g == Granularity::Mlp && mlp) c.push_back(ComponentId::layer_of(g, l));
    if (g == Granularity::AttentionHeads && attn)
      for (int64_t k : p->groups[li]) c.push_back(ComponentId::layer_of(g, l, k));
    if (g == Granularity::SsmHeads && ssm)
      for (int64_t k : p->ssm_heads[li]) c.push_back(ComponentId::layer_of(g, l, k));
    if (g == Granularity::MlpChannels && mlp) {
      std::vector<int64_t> gs;
      for (int64_t ch : p->channels[li])
        if (gs.empty() || gs.back() != ch / mlp_group_) gs.push_back(ch / mlp_group_);
      if (tail_groups_ && !gs.empty()) gs = {gs.back()};
      for (int64_t k : gs) c.push_back(ComponentId::layer_of(g, l, k));
    }
    for (const auto& cand : c)
      if (ok(cand)) out.push_back(cand);
  }
  return out;
}

void HymbaModel::reorder_mlp_channels() {
  for (Layer& L : layers_) {
    if (!L.down_w.defined()) continue;
    at::Tensor imp = L.up_w.abs().sum(1);  // the reference: L1 norms of the gate and up rows
    if (L.gate_w.defined()) imp = imp + L.gate_w.abs().sum(1);
    at::Tensor order = std::get<1>(imp.sort(0, /*descending=*/true));
    if (L.gate_w.defined()) L.gate_w = L.gate_w.index_select(0, order).contiguous();
    L.up_w = L.up_w.index_select(0, order).contiguous();
    L.down_w = L.down_w.index_select(1, order).contiguous();
  }
}

}  // namespace shedder
