// Hymba: config parsing, loading, the forward pass with removals (meta tokens, sliding-window / global attention,
// cross-layer K/V reuse, parallel attention and SSM heads), the component tree and export (see hymba_model.h).
// The math follows nvidia/Hymba-1.5B-Base's modeling_hymba.py (flex-attention mask: meta tokens always visible).
#include "model/hymba_model.h"

#include <c10/core/GradMode.h>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include "io/checkpoint.h"
#include "io/model_folder.h"
#include "io/safetensors.h"
#include "kernels/mixer_ops.h"
#include "model/hybrid_util.h"
#include "model/model_config.h"
#include "shed/removal_set.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"
#include "util/file_util.h"

namespace fs = std::filesystem;

namespace shedder {

using namespace hybrid_util;

// ---- loading ------------------------------------------------------------------------------------------------

HymbaModel::~HymbaModel() = default;

std::shared_ptr<HymbaModel> HymbaModel::load(const std::string& dir, const HybridLoadOptions& opts) {
  const std::string cfg_path = config_path(dir);
  std::shared_ptr<HymbaModel> m(new HymbaModel());
  m->cfg_ = HymbaConfig::from_file(cfg_path);
  const HymbaConfig& c = m->cfg_;
  WeightStore ws = WeightStore::open_folder(dir);
  auto get = [&](const std::string& name, std::vector<int64_t> shape) {
    return load_weight(ws, dir, name, std::move(shape), opts.check_finite);
  };
  const int64_t H = c.hidden_size, D = c.inner, N = c.d_state, R = c.dt_rank, K = c.d_conv;
  const int64_t qhd = c.q_head_dim, vhd = c.v_head_dim, rep = c.num_heads / c.num_kv_heads;
  m->load_common(dir, ws, c.vocab_size, H, c.tie_word_embeddings, opts.check_finite);
  if (c.num_memory_tokens > 0) m->memory_tokens_ = get("model.memory_tokens", {c.num_memory_tokens, H});
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
      L.mlp_norm_w = get(p + "pre_moe_layernorm.weight", {H});
      if (c.mlp_act == "silu") L.gate_w = get(e + "gate_proj.weight", {I, H});
      L.up_w = get(e + "up_proj.weight", {I, H});
      L.down_w = get(e + "down_proj.weight", {H, I});
    }
    if (!L.has_mixer) {
      m->layers_.push_back(std::move(L));
      continue;
    }
    const int64_t nq = static_cast<int64_t>(L.groups.size()) * rep, nkv = static_cast<int64_t>(L.kv_groups.size());
    const int64_t Dk = static_cast<int64_t>(L.ssm_channels.size());
    L.in_norm_w = get(p + "input_layernorm.weight", {H});
    const int64_t rows = nq * qhd + nkv * (qhd + vhd) + 2 * Dk;
    at::Tensor in_proj = get(p + "mamba.in_proj.weight", {rows, H});
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
      if (L.has_attn) L.q_norm_w = get(a + "q_norm.weight", {qhd});
      if (nkv > 0) L.k_norm_w = get(a + "k_norm.weight", {qhd});
    } else if (c.kq_norm == "perhead-rms") {
      if (L.has_attn) L.q_norm_w = get(a + "q_norm.weight", {1, nq, 1, qhd});
      if (nkv > 0) L.k_norm_w = get(a + "k_norm.weight", {1, nkv, 1, qhd});
    }
    if (L.has_ssm) {
      const std::string s = p + "mamba.";
      L.conv_w_kc = get(s + "conv1d.weight", {Dk, 1, K}).reshape({Dk, K}).t().contiguous();
      if (c.conv_bias) L.conv_b = get(s + "conv1d.bias", {Dk});
      L.x_proj_w = get(s + "x_proj.0.weight", {R + 2 * N, Dk});
      L.dt_proj_w = get(s + "dt_proj.0.weight", {Dk, R});
      L.dt_proj_b = get(s + "dt_proj.0.bias", {Dk});
      L.A_nd = (-at::exp(get(s + "A_log.0", {Dk, N}))).t().contiguous();
      L.Dv = get(s + "D.0", {Dk});
      if (c.inner_layernorms) {
        L.dt_norm_w = get(s + "dt_layernorm.weight", {R});
        L.B_norm_w = get(s + "B_layernorm.weight", {N});
        L.C_norm_w = get(s + "C_layernorm.weight", {N});
      }
      L.ln_ssm_w = get(s + "pre_avg_layernorm2.weight", {D});
    }
    if (L.has_attn) L.ln_attn_w = get(p + "mamba.pre_avg_layernorm1.weight", {D});
    if (!L.has_attn && !L.has_ssm)
      throw Error(cfg_path + ": layer " + std::to_string(l) + " lists neither attention nor SSM but keeps its mixer");
    L.out_proj_w = get(p + "mamba.out_proj.weight", {H, D});
    m->layers_.push_back(std::move(L));
  }
  m->finish_load(opts, c.intermediate_size);
  return m;
}

// ---- removal plan -------------------------------------------------------------------------------------------

struct HymbaModel::Plan {
  std::vector<char> skip_layer, skip_attn, skip_ssm, skip_mlp;  // skip_layer: the Hymba block (mixer)
  std::vector<std::vector<int64_t>> groups, kv_groups, ssm_heads, channels;  // kept, per layer (original numbering)
  bool attends(size_t l) const { return !skip_layer[l] && !skip_attn[l] && !groups[l].empty(); }
};

HymbaModel::Plan HymbaModel::plan(const HybridRemoval& removed, const std::string& label) const {
  const HymbaConfig& c = cfg_;
  const size_t L = static_cast<size_t>(c.num_layers);
  Plan p;
  p.skip_layer.assign(L, 0);
  p.skip_attn.assign(L, 0);
  p.skip_ssm.assign(L, 0);
  p.skip_mlp.assign(L, 0);
  std::vector<std::set<int64_t>> g_gone(L), h_gone(L), ch_gone(L);
  for (const std::string& id : removed.ids) {
    const std::vector<std::string> parts = split(id, '.');
    int64_t l = -1, k = -1;
    auto bad = [&](const std::string& why) { return Error(label + ": component '" + id + "': " + why); };
    if (parts.size() < 2 || parts[0] != "layers" || !parse_index(parts[1], l))
      throw bad("unknown component id (layers.N[.attn | .ssm | .mlp | .attn.heads.G | .ssm.heads.S | .mlp.channels.C])");
    if (l >= c.num_layers) throw bad("this model has " + std::to_string(c.num_layers) + " layers");
    const size_t li = static_cast<size_t>(l);
    const Layer& ly = layers_[li];
    const bool has_mlp = ly.down_w.defined();
    if (parts.size() == 2) {
      if (!ly.has_mixer) throw bad("this layer's Hymba block was already removed by an export");
      p.skip_layer[li] = 1;
    } else if (parts.size() == 3 && parts[2] == "attn") {
      if (!ly.has_attn) throw bad("this layer has no attention (removed by an export)");
      p.skip_attn[li] = 1;
    } else if (parts.size() == 3 && parts[2] == "ssm") {
      if (!ly.has_ssm) throw bad("this layer has no SSM (removed by an export)");
      p.skip_ssm[li] = 1;
    } else if (parts.size() == 3 && parts[2] == "mlp") {
      if (!has_mlp) throw bad("this layer has no MLP");
      p.skip_mlp[li] = 1;
    } else if (parts.size() == 5 && parts[2] == "attn" && parts[3] == "heads" && parse_index(parts[4], k)) {
      if (std::find(ly.groups.begin(), ly.groups.end(), k) == ly.groups.end())
        throw bad("no attention head group " + std::to_string(k) + " in this layer");
      g_gone[li].insert(k);
    } else if (parts.size() == 5 && parts[2] == "ssm" && parts[3] == "heads" && parse_index(parts[4], k)) {
      const auto& kept = c.kept_ssm_heads[li];
      if (!ly.has_ssm || std::find(kept.begin(), kept.end(), k) == kept.end())
        throw bad("no SSM head " + std::to_string(k) + " in this layer");
      h_gone[li].insert(k);
    } else if (parts.size() == 5 && parts[2] == "mlp" && parts[3] == "channels" && parse_index(parts[4], k)) {
      if (!has_mlp || k * mlp_group_ >= ly.down_w.size(1)) throw bad("no such MLP channel group");
      ch_gone[li].insert(k);
    } else {
      throw bad("unknown component (layers.N[.attn | .ssm | .mlp | .attn.heads.G | .ssm.heads.S | .mlp.channels.C])");
    }
  }
  p.groups.resize(L);
  p.kv_groups.resize(L);
  p.ssm_heads.resize(L);
  p.channels.resize(L);
  for (size_t l = 0; l < L; ++l) {
    const Layer& ly = layers_[l];
    for (int64_t g : ly.groups)
      if (!g_gone[l].count(g)) p.groups[l].push_back(g);
    if (ly.has_ssm)
      for (int64_t h : c.kept_ssm_heads[l])
        if (!h_gone[l].count(h)) p.ssm_heads[l].push_back(h);
    if (ly.down_w.defined())
      for (int64_t ch = 0; ch < ly.down_w.size(1); ++ch)
        if (!ch_gone[l].count(ch / mlp_group_)) p.channels[l].push_back(ch);
    const std::string where = label + ": layers." + std::to_string(l);
    if (ly.down_w.defined() && !p.skip_mlp[l] && p.channels[l].empty())
      throw Error(where + ": every MLP channel would be removed; remove layers." + std::to_string(l) + ".mlp instead");
    if (!ly.has_mixer || p.skip_layer[l]) continue;
    const bool attn = ly.has_attn && !p.skip_attn[l], ssm = ly.has_ssm && !p.skip_ssm[l];
    if (!attn && !ssm)
      throw Error(where + ": both the attention and the SSM would be removed; remove the Hymba block (layers." +
                  std::to_string(l) + ") instead");
    if (attn && p.groups[l].empty())
      throw Error(where + ": every attention head group would be removed; remove layers." + std::to_string(l) + ".attn instead");
    if (ssm && p.ssm_heads[l].empty())
      throw Error(where + ": every SSM head would be removed; remove layers." + std::to_string(l) + ".ssm instead");
  }
  for (size_t l = 0; l < L; ++l) {
    if (c.kv_producer[l] != static_cast<int64_t>(l)) continue;
    std::set<int64_t> need;
    for (size_t u = l; u < L; ++u)
      if (c.kv_producer[u] == static_cast<int64_t>(l) && layers_[u].has_attn && p.attends(u))
        need.insert(p.groups[u].begin(), p.groups[u].end());
    if (!need.empty() && !p.attends(l))
      throw Error(label + ": layers." + std::to_string(l) +
                  " provides K/V to later layers that keep their attention; remove those first");
    p.kv_groups[l].assign(need.begin(), need.end());
  }
  return p;
}

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

int64_t HymbaModel::total_parameters() const { return count_params(plan({}, "model")); }
int64_t HymbaModel::removed_parameters(const HybridRemoval& r) const {
  return total_parameters() - count_params(plan(r, "removal"));
}
void HymbaModel::check_removal(const HybridRemoval& r, const std::string& label) const { plan(r, label); }

// A layer's weights with the plan's removals cut out (what export writes and the forward runs).
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
    if (c.kq_norm == "perhead-rms") b.q_norm_w = a.q_norm_w.index_select(1, idx(unit_rows(gp, rep))).contiguous();
    b.groups = p.groups[li];
  }
  if (p.kv_groups[li].empty()) {
    b.kv_groups.clear();
    b.k_w = b.v_w = b.k_norm_w = at::Tensor();
  } else if (p.kv_groups[li] != a.kv_groups) {
    const std::vector<int64_t> kp = positions(a.kv_groups, p.kv_groups[li]);
    b.k_w = rows(a.k_w, unit_rows(kp, qhd));
    b.v_w = rows(a.v_w, unit_rows(kp, vhd));
    if (c.kq_norm == "perhead-rms") b.k_norm_w = a.k_norm_w.index_select(1, idx(kp)).contiguous();
    b.kv_groups = p.kv_groups[li];
  }
  if (!ssm) {
    b.has_ssm = false;
    b.ssm_channels.clear();
    b.x_w = b.z_w = b.conv_w_kc = b.conv_b = b.x_proj_w = b.dt_proj_w = b.dt_proj_b = b.A_nd = b.Dv = at::Tensor();
    b.dt_norm_w = b.B_norm_w = b.C_norm_w = b.ln_ssm_w = at::Tensor();
  } else if (p.ssm_heads[li] != c.kept_ssm_heads[li]) {
    const std::vector<int64_t> hp = unit_rows(positions(c.kept_ssm_heads[li], p.ssm_heads[li]), vhd);
    b.ssm_channels = unit_rows(p.ssm_heads[li], vhd);
    b.x_w = rows(a.x_w, hp);
    b.z_w = rows(a.z_w, hp);
    b.conv_w_kc = cols(a.conv_w_kc, hp);
    if (a.conv_b.defined()) b.conv_b = rows(a.conv_b, hp);
    b.x_proj_w = cols(a.x_proj_w, hp);
    b.dt_proj_w = rows(a.dt_proj_w, hp);
    b.dt_proj_b = rows(a.dt_proj_b, hp);
    b.A_nd = cols(a.A_nd, hp);
    b.Dv = rows(a.Dv, hp);
  }
  return b;
}

// ---- forward ------------------------------------------------------------------------------------------------

at::Tensor HymbaModel::forward(const at::Tensor& ids, const HybridRemoval& removed) const {
  c10::NoGradGuard no_grad;
  const Plan p = plan(removed, "removal");
  const HymbaConfig& c = cfg_;
  if (ids.dim() != 2 || !at::isIntegralType(ids.scalar_type(), false))
    throw Error("input ids must be a [batch, length] integer tensor");
  at::Tensor idl = ids.to(at::kLong);
  if (idl.numel() > 0 && (idl.min().item<int64_t>() < 0 || idl.max().item<int64_t>() >= c.vocab_size))
    throw Error("a token id is outside the model's vocabulary (0.." + std::to_string(c.vocab_size - 1) + ")");
  const int64_t B = idl.size(0), M = c.num_memory_tokens, T = M + idl.size(1), D = c.inner;
  const int64_t qhd = c.q_head_dim, vhd = c.v_head_dim, rep = c.num_heads / c.num_kv_heads, N = c.d_state, R = c.dt_rank;
  at::Tensor h = at::embedding(embedding_, idl);
  if (M > 0) h = at::cat({memory_tokens_.unsqueeze(0).expand({B, M, c.hidden_size}), h}, 1);

  // Rotary tables over positions 0..T-1 (meta tokens first) and the two attention masks.
  at::Tensor cos, sin;
  if (c.rope) {
    at::Tensor inv = 1.0 / at::pow(c.rope_base, at::arange(0, qhd, 2, at::kLong).to(at::kFloat) / static_cast<double>(qhd));
    at::Tensor fr = at::arange(T, at::kFloat).unsqueeze(1) * inv.unsqueeze(0);
    at::Tensor e = at::cat({fr, fr}, -1);
    cos = e.cos();
    sin = e.sin();
  }
  auto rope = [&](const at::Tensor& t) {
    if (!c.rope) return t;
    const int64_t half = qhd / 2;
    return t * cos + at::cat({-t.narrow(-1, half, qhd - half), t.narrow(-1, 0, half)}, -1) * sin;
  };
  at::Tensor qi = at::arange(T, at::kLong).unsqueeze(1), ki = at::arange(T, at::kLong).unsqueeze(0);
  const at::Tensor causal = ki <= qi;
  const at::Tensor swa = causal & ((qi - ki <= c.sliding_window) | (ki < M));
  auto kq_norm = [&](const at::Tensor& t, const at::Tensor& w) {  // HymbaRMSNorm's default eps (1e-6)
    if (!w.defined()) return t;
    return w * (t * at::rsqrt(t.pow(2).mean(-1, true) + 1e-6));
  };
  // A branch's RMSNorm averages over the full inner width (removed heads count as zeros).
  auto branch_norm = [&](const at::Tensor& y, const at::Tensor& lw, const std::vector<int64_t>& ch) {
    at::Tensor r = at::rsqrt(y.pow(2).sum(-1, true) / static_cast<double>(D) + c.rms_norm_eps);
    return lw.index_select(0, idx(ch)) * (y * r);
  };

  std::vector<std::pair<at::Tensor, at::Tensor>> kv(layers_.size());
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    const Layer w = cut(l, p);
    if (w.has_mixer) {
      at::Tensor x = rms(h, w.in_norm_w, c.rms_norm_eps);
      if (!w.kv_groups.empty()) {  // this layer makes K/V (for itself and the layers that reuse them)
        const int64_t nkv = static_cast<int64_t>(w.kv_groups.size());
        at::Tensor k = rope(kq_norm(at::linear(x, w.k_w).view({B, T, nkv, qhd}).transpose(1, 2), w.k_norm_w));
        at::Tensor v = at::linear(x, w.v_w).view({B, T, nkv, vhd}).transpose(1, 2);
        kv[li] = {k, v};
      }
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
        at::Tensor k = kv[prod].first.index_select(1, idx(head_kv));
        at::Tensor v = kv[prod].second.index_select(1, idx(head_kv));
        at::Tensor scores = at::matmul(q, k.transpose(2, 3)) / std::sqrt(static_cast<double>(qhd));
        scores = scores.masked_fill(~(c.is_global(l) ? causal : swa), -std::numeric_limits<float>::infinity());
        at::Tensor attn = at::matmul(at::softmax(scores, -1), v).transpose(1, 2).reshape({B, T, nq * vhd});
        const std::vector<int64_t> attn_ch = unit_rows(qheads, vhd);
        mix.index_add_(2, idx(attn_ch), branch_norm(attn, w.ln_attn_w, attn_ch) * share);
      }
      if (w.has_ssm) {  // Mamba-1 selective scan over the kept SSM heads' channels
        at::Tensor xs = at::linear(x, w.x_w), z = at::linear(x, w.z_w);
        at::Tensor xc = ops::causal_conv1d(xs, w.conv_w_kc, w.conv_b, /*silu=*/true);
        at::Tensor sp = at::linear(xc, w.x_proj_w);
        at::Tensor dt = sp.narrow(2, 0, R), Bm = sp.narrow(2, R, N), Cm = sp.narrow(2, R + N, N);
        if (c.inner_layernorms) {
          dt = rms(dt, w.dt_norm_w, c.rms_norm_eps);
          Bm = rms(Bm, w.B_norm_w, c.rms_norm_eps);
          Cm = rms(Cm, w.C_norm_w, c.rms_norm_eps);
        }
        at::Tensor dt_raw = at::linear(dt, w.dt_proj_w, w.dt_proj_b).contiguous();
        at::Tensor y = ops::selective_scan(xc, dt_raw, w.A_nd, Bm.contiguous(), Cm.contiguous(), w.Dv, z);
        mix.index_add_(2, idx(w.ssm_channels), branch_norm(y, w.ln_ssm_w, w.ssm_channels) * share);
      }
      h = h + at::linear(mix, w.out_proj_w);
    }
    if (w.down_w.defined()) {
      at::Tensor u = rms(h, w.mlp_norm_w, c.rms_norm_eps);
      at::Tensor a = w.gate_w.defined() ? at::silu(at::linear(u, w.gate_w)) * at::linear(u, w.up_w)
                                        : at::relu(at::linear(u, w.up_w)).pow(2);
      h = h + at::linear(a, w.down_w);
    }
  }
  h = h.narrow(1, M, T - M);
  return at::linear(rms(h, final_norm_w_, c.rms_norm_eps), lm_head_);
}

// ---- components ---------------------------------------------------------------------------------------------

Component HymbaModel::component_tree() const {
  const HymbaConfig& c = cfg_;
  const int64_t total = count_params(plan({}, "model"));
  auto cost = [&](const std::string& id) {
    HybridRemoval r;
    r.add(id);
    try {
      return total - count_params(plan(r, id));
    } catch (const Error&) {
      return int64_t(0);  // not removable on its own (a K/V producer, the last head group)
    }
  };
  auto node = [&](const std::string& id, ComponentKind k, int64_t l, int64_t count) {
    return make_component(id, k, l, cost(id), count);
  };
  Component root = make_component("model", ComponentKind::Model, -1, total);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const Layer& ly = layers_[static_cast<size_t>(l)];
    const std::string id = "layers." + std::to_string(l);
    // Without its mixer (an export removed the Hymba block) a layer is its MLP: its parameters are summed below.
    Component blk = ly.has_mixer ? node(id, ComponentKind::HybridBlock, l, 0) : make_component(id, ComponentKind::Block, l, 0);
    if (ly.has_attn) {
      Component a = node(id + ".attn", ComponentKind::Attention, l, 0);
      for (int64_t g : ly.groups)
        a.children.push_back(node(id + ".attn.heads." + std::to_string(g), ComponentKind::AttentionHeads, l,
                                  c.num_heads / c.num_kv_heads));
      blk.children.push_back(std::move(a));
    }
    if (ly.has_ssm) {
      Component s = node(id + ".ssm", ComponentKind::Ssm, l, 0);
      for (int64_t h : c.kept_ssm_heads[static_cast<size_t>(l)])
        s.children.push_back(node(id + ".ssm.heads." + std::to_string(h), ComponentKind::SsmHeadGroup, l, c.v_head_dim));
      blk.children.push_back(std::move(s));
    }
    if (ly.down_w.defined()) {
      Component m = node(id + ".mlp", ComponentKind::Mlp, l, 0);
      const int64_t I = ly.down_w.size(1), groups = (I + mlp_group_ - 1) / mlp_group_;
      for (int64_t g = 0; g < groups; ++g)
        m.children.push_back(node(id + ".mlp.channels." + std::to_string(g), ComponentKind::MlpChannels, l,
                                  std::min(mlp_group_, I - g * mlp_group_)));
      blk.children.push_back(std::move(m));
    }
    if (!ly.has_mixer)
      for (const auto& ch : blk.children) blk.parameters += ch.parameters;
    root.children.push_back(std::move(blk));
  }
  return root;
}

std::vector<std::string> HymbaModel::candidates(HybridGranularity g, const HybridRemoval& removed) const {
  const Plan p = plan(removed, "removal");
  auto ok = [&](const std::string& cand) {  // removable now (not a K/V producer others still need, ...)
    HybridRemoval t = removed;
    t.add(cand);
    try {
      plan(t, "candidate");
      return true;
    } catch (const Error&) {
      return false;
    }
  };
  std::vector<std::string> out;
  for (int64_t l = 0; l < cfg_.num_layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    const Layer& ly = layers_[li];
    const std::string id = "layers." + std::to_string(l);
    const bool mixer = ly.has_mixer && !p.skip_layer[li];
    const bool attn = mixer && ly.has_attn && !p.skip_attn[li], ssm = mixer && ly.has_ssm && !p.skip_ssm[li];
    const bool mlp = ly.down_w.defined() && !p.skip_mlp[li];
    std::vector<std::string> c;
    if (g == HybridGranularity::Block && mixer) c.push_back(id);
    if (g == HybridGranularity::Attention && attn) c.push_back(id + ".attn");
    if (g == HybridGranularity::Ssm && ssm) c.push_back(id + ".ssm");
    if (g == HybridGranularity::Mlp && mlp) c.push_back(id + ".mlp");
    if (g == HybridGranularity::AttentionHeads && attn)
      for (int64_t k : p.groups[li]) c.push_back(id + ".attn.heads." + std::to_string(k));
    if (g == HybridGranularity::SsmHeads && ssm)
      for (int64_t k : p.ssm_heads[li]) c.push_back(id + ".ssm.heads." + std::to_string(k));
    if (g == HybridGranularity::MlpChannels && mlp) {
      std::vector<int64_t> gs;
      for (int64_t ch : p.channels[li])
        if (gs.empty() || gs.back() != ch / mlp_group_) gs.push_back(ch / mlp_group_);
      if (tail_groups_ && !gs.empty()) gs = {gs.back()};
      for (int64_t k : gs) c.push_back(id + ".mlp.channels." + std::to_string(k));
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

// ---- export -------------------------------------------------------------------------------------------------

void HymbaModel::export_pruned(const HybridRemoval& removed, const std::string& out_dir, bool force) const {
  const Plan p = plan(removed, "export");
  const HymbaConfig& c = cfg_;
  std::vector<std::pair<std::string, at::Tensor>> t;
  t.emplace_back("model.embed_tokens.weight", embedding_);
  t.emplace_back("model.final_layernorm.weight", final_norm_w_);
  if (!c.tie_word_embeddings) t.emplace_back("lm_head.weight", lm_head_);
  if (memory_tokens_.defined()) t.emplace_back("model.memory_tokens", memory_tokens_);
  // A layer with neither its Hymba block nor an MLP left is dropped and the rest renumbered.
  std::vector<Layer> cutl;
  std::vector<int64_t> new_index(layers_.size(), -1);
  int64_t nl = 0;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    cutl.push_back(cut(l, p));
    if (cutl.back().has_mixer || cutl.back().down_w.defined()) new_index[static_cast<size_t>(l)] = nl++;
  }
  nlohmann::json groups = nlohmann::json::array(), ssm_heads = nlohmann::json::array(), inter = nlohmann::json::array();
  std::vector<int64_t> no_ssm, no_attn, no_mixer, global;
  std::vector<std::vector<int64_t>> reuse(layers_.size());
  bool full = true;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    if (new_index[li] < 0) continue;
    const Layer& w = cutl[li];
    const int64_t nl_i = new_index[li];
    const std::string pre = "model.layers." + std::to_string(nl_i) + ".";
    if (w.has_mixer) {
      std::vector<at::Tensor> parts;
      parts.reserve(5);
      if (w.has_attn) parts.push_back(w.q_w);
      if (!w.kv_groups.empty()) {
        parts.push_back(w.k_w);
        parts.push_back(w.v_w);
      }
      if (w.has_attn && c.kv_producer[li] != l) reuse[static_cast<size_t>(c.kv_producer[li])].push_back(nl_i);
      if (w.has_ssm) {
        parts.push_back(w.x_w);
        parts.push_back(w.z_w);
      }
      t.emplace_back(pre + "input_layernorm.weight", w.in_norm_w);
      t.emplace_back(pre + "mamba.in_proj.weight", at::cat(parts, 0).contiguous());
      if (w.q_norm_w.defined()) t.emplace_back(pre + "mamba.self_attn.q_norm.weight", w.q_norm_w);
      if (w.k_norm_w.defined()) t.emplace_back(pre + "mamba.self_attn.k_norm.weight", w.k_norm_w);
      if (w.has_attn) t.emplace_back(pre + "mamba.pre_avg_layernorm1.weight", w.ln_attn_w);
      if (w.has_ssm) {
        t.emplace_back(pre + "mamba.conv1d.weight", w.conv_w_kc.t().unsqueeze(1).contiguous());
        if (w.conv_b.defined()) t.emplace_back(pre + "mamba.conv1d.bias", w.conv_b);
        t.emplace_back(pre + "mamba.x_proj.0.weight", w.x_proj_w);
        t.emplace_back(pre + "mamba.dt_proj.0.weight", w.dt_proj_w);
        t.emplace_back(pre + "mamba.dt_proj.0.bias", w.dt_proj_b);
        t.emplace_back(pre + "mamba.A_log.0", at::log(-w.A_nd).t().contiguous());
        t.emplace_back(pre + "mamba.D.0", w.Dv);
        if (w.dt_norm_w.defined()) {
          t.emplace_back(pre + "mamba.dt_layernorm.weight", w.dt_norm_w);
          t.emplace_back(pre + "mamba.B_layernorm.weight", w.B_norm_w);
          t.emplace_back(pre + "mamba.C_layernorm.weight", w.C_norm_w);
        }
        t.emplace_back(pre + "mamba.pre_avg_layernorm2.weight", w.ln_ssm_w);
      }
      t.emplace_back(pre + "mamba.out_proj.weight", w.out_proj_w);
      if (!w.has_attn) no_attn.push_back(nl_i);
      if (!w.has_ssm) no_ssm.push_back(nl_i);
    } else {
      no_mixer.push_back(nl_i);
    }
    if (w.down_w.defined()) {
      t.emplace_back(pre + "pre_moe_layernorm.weight", w.mlp_norm_w);
      if (w.gate_w.defined()) t.emplace_back(pre + "moe.experts.0.gate_proj.weight", w.gate_w);
      t.emplace_back(pre + "moe.experts.0.up_proj.weight", w.up_w);
      t.emplace_back(pre + "moe.experts.0.down_proj.weight", w.down_w);
    }
    const std::vector<int64_t> sh = w.has_ssm ? p.ssm_heads[li] : std::vector<int64_t>{};
    groups.push_back(w.groups);
    ssm_heads.push_back(sh);
    full &= (!w.has_attn || w.groups.size() == static_cast<size_t>(c.num_kv_heads)) &&
            (!w.has_ssm || sh.size() == static_cast<size_t>(c.num_heads));
    inter.push_back(w.down_w.defined() ? w.down_w.size(1) : 0);
    if (c.sliding_window > 0 && c.is_global(l)) global.push_back(nl_i);
  }
  nlohmann::json cfg = c.raw;
  cfg["num_hidden_layers"] = nl;
  for (const char* k : {"shedder_attn_groups", "shedder_ssm_heads", "shedder_intermediate_sizes", "shedder_layers_without_ssm",
                        "shedder_layers_without_attn", "shedder_layers_without_mixer", "kv_reuse_every_i_layer"})
    cfg.erase(k);
  nlohmann::json groups_json = nlohmann::json::array();
  for (size_t l = 0; l < layers_.size(); ++l)
    if (!reuse[l].empty()) {
      std::vector<int64_t> g{new_index[l]};
      g.insert(g.end(), reuse[l].begin(), reuse[l].end());
      groups_json.push_back(g);
    }
  cfg["kv_reuse_group"] = groups_json;
  if (c.sliding_window > 0) cfg["global_attn_idx"] = global;
  if (!full) {  // our extension: the reference cannot express per-layer head counts
    cfg["shedder_attn_groups"] = groups;
    cfg["shedder_ssm_heads"] = ssm_heads;
  }
  std::set<int64_t> widths;
  for (const auto& i : inter) widths.insert(i.get<int64_t>());
  if (widths.size() == 1) {
    cfg["intermediate_size"] = *widths.begin();
  } else {
    cfg["shedder_intermediate_sizes"] = inter;
  }
  if (!no_ssm.empty()) cfg["shedder_layers_without_ssm"] = no_ssm;
  if (!no_attn.empty()) cfg["shedder_layers_without_attn"] = no_attn;
  if (!no_mixer.empty()) cfg["shedder_layers_without_mixer"] = no_mixer;
  write_model_folder(out_dir, dir_, force, [&](const std::string& tmp) {
    write_safetensors((fs::path(tmp) / "model.safetensors").string(), t, {{"format", "pt"}});
    write_file_atomic((fs::path(tmp) / "config.json").string(), cfg.dump(2) + "\n");
    copy_tokenizer_files(dir_, tmp);
    const nlohmann::json report{{"source", fs::absolute(dir_).lexically_normal().string()},
                                {"architecture", arch()},
                                {"removed", removed.ids},
                                {"parameters_before", total_parameters()},
                                {"parameters_after", total_parameters() - removed_parameters(removed)}};
    write_file_atomic((fs::path(tmp) / "shedding_report.json").string(), report.dump(2) + "\n");
  });
}

}  // namespace shedder
