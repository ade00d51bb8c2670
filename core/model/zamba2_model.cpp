// Zamba2: config parsing, loading with validation, the forward pass with removals, the component tree, channel
// reordering and export (see zamba2_model.h). The math follows transformers' modeling_zamba2 torch path.
#include "model/zamba2_model.h"

#include <c10/core/GradMode.h>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

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

// ---- removal plan -----------------------------------------------------------------------------------------

struct Zamba2Model::Plan {
  std::vector<char> skip_layer, skip_ssm, skip_use;   // per layer
  std::vector<std::vector<int64_t>> kv_kept, ch_kept;  // per block: kept KV heads / MLP channels (ascending)
  std::vector<char> block_alive;                       // per block: some use remains
};


Zamba2Model::Plan Zamba2Model::plan(const HybridRemoval& removed, const std::string& label) const {
  const Zamba2Config& c = cfg_;
  Plan p;
  const size_t L = static_cast<size_t>(c.num_layers), M = shared_.size();
  p.skip_layer.assign(L, 0);
  p.skip_ssm.assign(L, 0);
  p.skip_use.assign(L, 0);
  std::vector<std::set<int64_t>> kv_gone(M), grp_gone(M);
  for (const std::string& id : removed.ids) {
    const std::vector<std::string> parts = split(id, '.');
    int64_t a = -1, b = -1;
    auto bad = [&](const std::string& why) { return Error(label + ": component '" + id + "': " + why); };
    if (parts.size() >= 2 && parts[0] == "layers" && parse_index(parts[1], a)) {
      if (a >= c.num_layers) throw bad("this model has " + std::to_string(c.num_layers) + " layers");
      if (parts.size() == 2) {
        p.skip_layer[static_cast<size_t>(a)] = 1;
      } else if (parts.size() == 3 && parts[2] == "ssm") {
        if (!mixers_[static_cast<size_t>(a)].has_ssm) throw bad("this layer's SSM was already removed by an export");
        p.skip_ssm[static_cast<size_t>(a)] = 1;
      } else if (parts.size() == 3 && parts[2] == "shared") {
        if (use_of_layer_[static_cast<size_t>(a)] < 0) throw bad("not a hybrid layer (no shared transformer use)");
        p.skip_use[static_cast<size_t>(a)] = 1;
      } else {
        throw bad("unknown component (layers.N, layers.N.ssm, layers.N.shared)");
      }
    } else if (parts.size() == 5 && parts[0] == "shared" && parse_index(parts[1], a) && parse_index(parts[4], b)) {
      if (a >= static_cast<int64_t>(M)) throw bad("this model has " + std::to_string(M) + " shared blocks");
      const Shared& s = shared_[static_cast<size_t>(a)];
      if (parts[2] == "attn" && parts[3] == "heads") {
        if (b >= s.kv_heads) throw bad("block " + std::to_string(a) + " has " + std::to_string(s.kv_heads) + " head groups");
        kv_gone[static_cast<size_t>(a)].insert(b);
      } else if (parts[2] == "mlp" && parts[3] == "channels") {
        if (b * mlp_group_ >= s.intermediate)
          throw bad("block " + std::to_string(a) + " has " + std::to_string((s.intermediate + mlp_group_ - 1) / mlp_group_) +
                    " channel groups of " + std::to_string(mlp_group_));
        grp_gone[static_cast<size_t>(a)].insert(b);
      } else {
        throw bad("unknown component (shared.K.attn.heads.G, shared.K.mlp.channels.G)");
      }
    } else {
      throw bad("unknown component id");
    }
  }
  p.block_alive.assign(M, 0);
  for (size_t l = 0; l < L; ++l)
    if (use_of_layer_[l] >= 0 && !p.skip_layer[l] && !p.skip_use[l])
      p.block_alive[static_cast<size_t>(uses_[static_cast<size_t>(use_of_layer_[l])].block)] = 1;
  p.kv_kept.resize(M);
  p.ch_kept.resize(M);
  for (size_t k = 0; k < M; ++k) {
    const Shared& s = shared_[k];
    for (int64_t g = 0; g < s.kv_heads; ++g)
      if (!kv_gone[k].count(g)) p.kv_kept[k].push_back(g);
    for (int64_t ch = 0; ch < s.intermediate; ++ch)
      if (!grp_gone[k].count(ch / mlp_group_)) p.ch_kept[k].push_back(ch);
    if (p.kv_kept[k].empty())
      throw Error(label + ": every attention head of shared block " + std::to_string(k) +
                  " is removed; remove its uses (layers.N.shared) instead");
    if (p.ch_kept[k].empty())
      throw Error(label + ": every MLP channel of shared block " + std::to_string(k) +
                  " is removed; remove its uses (layers.N.shared) instead");
  }
  return p;
}

int64_t Zamba2Model::count_params(const Plan& p) const {
  const Zamba2Config& c = cfg_;
  const int64_t H = c.hidden_size, D = c.mamba_inner, GN = c.n_groups * c.d_state, nh = c.mamba_heads, K = c.d_conv;
  const int64_t hd = c.attn_head_dim, r = c.adapter_rank;
  int64_t n = embedding_.numel() + final_norm_w_.numel() + (c.tie_word_embeddings ? 0 : lm_head_.numel());
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    if (p.skip_layer[li]) continue;
    const Mixer& m = mixers_[li];
    const bool ssm = m.has_ssm && !p.skip_ssm[li];
    const int64_t conv_ch = ssm ? D + 2 * GN : D;
    n += H + (ssm ? 2 * D + 2 * GN + nh : 2 * D) * H + conv_ch * K + (c.use_conv_bias ? conv_ch : 0) + (ssm ? 3 * nh : 0) +
         D + H * D;
    const int64_t u = use_of_layer_[li];
    if (u >= 0 && !p.skip_use[li]) {
      const Use& us = uses_[static_cast<size_t>(u)];
      const size_t k = static_cast<size_t>(us.block);
      const int64_t rep = shared_[k].heads / shared_[k].kv_heads;
      const int64_t kv = static_cast<int64_t>(p.kv_kept[k].size()), I = static_cast<int64_t>(p.ch_kept[k].size());
      n += H * H;  // linear
      if (us.q_a0.defined()) n += 3 * 2 * H * r + (rep * kv + 2 * kv) * hd * r;
      if (us.mlp_a0.defined()) n += H * r + r * 2 * I;
    }
  }
  for (size_t k = 0; k < shared_.size(); ++k) {
    if (!p.block_alive[k]) continue;
    const int64_t rep = shared_[k].heads / shared_[k].kv_heads;
    const int64_t kv = static_cast<int64_t>(p.kv_kept[k].size()), I = static_cast<int64_t>(p.ch_kept[k].size());
    n += 2 * H + H + (rep * kv + 2 * kv) * hd * 2 * H + H * rep * kv * hd + 2 * I * H + H * I;
  }
  return n;
}

int64_t Zamba2Model::total_parameters() const { return count_params(plan({}, "model")); }

int64_t Zamba2Model::removed_parameters(const HybridRemoval& removed) const {
  return total_parameters() - count_params(plan(removed, "removal"));
}

void Zamba2Model::check_removal(const HybridRemoval& removed, const std::string& label) const { plan(removed, label); }

// ---- loading ------------------------------------------------------------------------------------------------

Zamba2Model::~Zamba2Model() = default;

std::shared_ptr<Zamba2Model> Zamba2Model::load(const std::string& dir, const HybridLoadOptions& opts) {
  const std::string cfg_path = config_path(dir);
  std::shared_ptr<Zamba2Model> m(new Zamba2Model());
  m->cfg_ = Zamba2Config::from_file(cfg_path);
  const Zamba2Config& c = m->cfg_;
  WeightStore ws = WeightStore::open_folder(dir);
  auto get = [&](const std::string& name, std::vector<int64_t> shape) {
    return load_weight(ws, dir, name, std::move(shape), opts.check_finite);
  };
  const int64_t H = c.hidden_size, D = c.mamba_inner, GN = c.n_groups * c.d_state, nh = c.mamba_heads, K = c.d_conv;
  m->load_common(dir, ws, c.vocab_size, H, c.tie_word_embeddings, opts.check_finite);

  const std::set<int64_t> no_ssm(c.layers_without_ssm.begin(), c.layers_without_ssm.end());
  m->use_of_layer_.assign(static_cast<size_t>(c.num_layers), -1);
  for (size_t u = 0; u < c.hybrid_layer_ids.size(); ++u) m->use_of_layer_[static_cast<size_t>(c.hybrid_layer_ids[u])] = static_cast<int64_t>(u);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const bool hyb = c.hybrid[static_cast<size_t>(l)] != 0;
    const std::string p = "model.layers." + std::to_string(l) + (hyb ? ".mamba_decoder." : ".");
    Mixer mx;
    mx.has_ssm = !no_ssm.count(l);
    const int64_t conv_ch = mx.has_ssm ? D + 2 * GN : D;
    mx.norm_w = get(p + "input_layernorm.weight", {H});
    mx.in_proj_w = get(p + "mamba.in_proj.weight", {mx.has_ssm ? 2 * D + 2 * GN + nh : 2 * D, H});
    mx.conv_w_kc = get(p + "mamba.conv1d.weight", {conv_ch, 1, K}).reshape({conv_ch, K}).t().contiguous();
    if (c.use_conv_bias) mx.conv_b = get(p + "mamba.conv1d.bias", {conv_ch});
    if (mx.has_ssm) {
      mx.dt_bias = get(p + "mamba.dt_bias", {nh});
      mx.A_h = -at::exp(get(p + "mamba.A_log", {nh}));
      mx.Dv = get(p + "mamba.D", {nh});
    }
    mx.gnorm_w = get(p + "mamba.norm.weight", {D});
    mx.out_proj_w = get(p + "mamba.out_proj.weight", {H, D});
    m->mixers_.push_back(std::move(mx));
  }

  // Shared blocks: transformers stores (ties) each block under every hybrid layer that uses it; take the first.
  const int64_t hd = c.attn_head_dim, r = c.adapter_rank;
  for (int64_t k = 0; k < c.num_mem_blocks; ++k) {
    int64_t layer = -1;
    for (size_t u = 0; u < c.use_block.size() && layer < 0; ++u)
      if (c.use_block[u] == k) layer = c.hybrid_layer_ids[u];
    Shared s;
    s.heads = c.block_heads[static_cast<size_t>(k)];
    s.kv_heads = c.block_kv_heads[static_cast<size_t>(k)];
    s.intermediate = c.block_intermediate[static_cast<size_t>(k)];
    if (layer < 0) {  // a block no layer uses: nothing stored, nothing run
      m->shared_.push_back(std::move(s));
      continue;
    }
    const std::string p = "model.layers." + std::to_string(layer) + ".shared_transformer.";
    const int64_t I = s.intermediate;
    s.in_norm_w = get(p + "input_layernorm.weight", {2 * H});
    s.q_w = get(p + "self_attn.q_proj.weight", {s.heads * hd, 2 * H});
    s.k_w = get(p + "self_attn.k_proj.weight", {s.kv_heads * hd, 2 * H});
    s.v_w = get(p + "self_attn.v_proj.weight", {s.kv_heads * hd, 2 * H});
    s.o_w = get(p + "self_attn.o_proj.weight", {H, s.heads * hd});
    s.pre_ff_norm_w = get(p + "pre_ff_layernorm.weight", {H});
    s.gate_up_w = get(p + "feed_forward.gate_up_proj.weight", {2 * I, H});
    s.down_w = get(p + "feed_forward.down_proj.weight", {H, I});
    m->shared_.push_back(std::move(s));
  }
  for (size_t u = 0; u < c.hybrid_layer_ids.size(); ++u) {
    Use us;
    us.block = c.use_block[u];
    const Shared& s = m->shared_[static_cast<size_t>(us.block)];
    const std::string lp = "model.layers." + std::to_string(c.hybrid_layer_ids[u]) + ".";
    const std::string j = std::to_string(u);
    us.linear_w = get(lp + "linear.weight", {H, H});
    // The adapters live in the shared block's module, so transformers may store them under any layer of the block.
    auto where = [&](const std::string& suffix) {
      for (size_t v = 0; v < c.use_block.size(); ++v) {
        const std::string n = "model.layers." + std::to_string(c.hybrid_layer_ids[v]) + ".shared_transformer." + suffix;
        if (c.use_block[v] == us.block && ws.contains(n)) return n;
      }
      return lp + "shared_transformer." + suffix;  // absent: get() names the expected place
    };
    if (c.attention_adapter) {
      us.q_a0 = get(where("self_attn.linear_q_adapter_list." + j + ".0.weight"), {r, 2 * H});
      us.q_a1 = get(where("self_attn.linear_q_adapter_list." + j + ".1.weight"), {s.heads * hd, r});
      us.k_a0 = get(where("self_attn.linear_k_adapter_list." + j + ".0.weight"), {r, 2 * H});
      us.k_a1 = get(where("self_attn.linear_k_adapter_list." + j + ".1.weight"), {s.kv_heads * hd, r});
      us.v_a0 = get(where("self_attn.linear_v_adapter_list." + j + ".0.weight"), {r, 2 * H});
      us.v_a1 = get(where("self_attn.linear_v_adapter_list." + j + ".1.weight"), {s.kv_heads * hd, r});
    }
    const std::string ma = where("feed_forward.gate_up_proj_adapter_list." + j + ".0.weight");
    if (ws.contains(ma)) {
      us.mlp_a0 = get(ma, {r, H});
      us.mlp_a1 = get(where("feed_forward.gate_up_proj_adapter_list." + j + ".1.weight"), {2 * s.intermediate, r});
    }
    m->uses_.push_back(std::move(us));
  }
  m->finish_load(opts, c.intermediate_size);
  return m;
}

// ---- forward ------------------------------------------------------------------------------------------------

at::Tensor Zamba2Model::mixer(const Mixer& m, const at::Tensor& x, bool skip_ssm) const {
  const Zamba2Config& c = cfg_;
  const int64_t D = c.mamba_inner, GN = c.n_groups * c.d_state;
  at::Tensor proj = at::linear(x, m.in_proj_w);
  at::Tensor z = proj.narrow(2, 0, D);
  at::Tensor y;
  if (!m.has_ssm) {
    y = ops::causal_conv1d(proj.narrow(2, D, D), m.conv_w_kc, m.conv_b, true);
  } else {
    at::Tensor xBC = ops::causal_conv1d(proj.narrow(2, D, D + 2 * GN), m.conv_w_kc, m.conv_b, true);
    at::Tensor xs = xBC.narrow(2, 0, D);
    if (skip_ssm) {
      y = xs;
    } else {
      // transformers' torch path clamps dt from below at time_step_min (no upper limit).
      y = ops::ssd_scan(xs, proj.narrow(2, D + D + 2 * GN, c.mamba_heads), m.dt_bias, m.A_h, xBC.narrow(2, D, GN),
                        xBC.narrow(2, D + GN, GN), m.Dv, c.mamba_head_dim, c.n_groups, c.time_step_min,
                        std::numeric_limits<double>::infinity());
    }
  }
  at::Tensor g = ops::gated_rms_norm(y, z, m.gnorm_w, c.n_groups, 1e-5);
  return at::linear(g, m.out_proj_w);
}

at::Tensor Zamba2Model::shared_block(const Shared& s, const Use& u, const at::Tensor& h, const at::Tensor& emb) const {
  const Zamba2Config& c = cfg_;
  const int64_t B = h.size(0), L = h.size(1), hd = c.attn_head_dim;
  const int64_t nq = s.q_w.size(0) / hd, nkv = s.k_w.size(0) / hd;
  at::Tensor x = rms(at::cat({h, emb}, -1), s.in_norm_w, c.rms_norm_eps);
  at::Tensor q = at::linear(x, s.q_w), k = at::linear(x, s.k_w), v = at::linear(x, s.v_w);
  if (u.q_a0.defined()) {
    q = q + at::linear(at::linear(x, u.q_a0), u.q_a1);
    k = k + at::linear(at::linear(x, u.k_a0), u.k_a1);
    v = v + at::linear(at::linear(x, u.v_a0), u.v_a1);
  }
  q = q.view({B, L, nq, hd}).transpose(1, 2);
  k = k.view({B, L, nkv, hd}).transpose(1, 2);
  v = v.view({B, L, nkv, hd}).transpose(1, 2);
  if (c.use_mem_rope) {
    const int64_t half = hd / 2;
    at::Tensor inv = 1.0 / at::pow(c.rope_theta, at::arange(0, hd, 2, at::kLong).to(at::kFloat) / static_cast<double>(hd));
    at::Tensor freqs = at::arange(L, at::kFloat).unsqueeze(1) * inv.unsqueeze(0);  // [L, hd/2]
    at::Tensor e = at::cat({freqs, freqs}, -1);
    at::Tensor cos = e.cos(), sin = e.sin();
    auto rot = [&](const at::Tensor& t) {
      at::Tensor rh = at::cat({-t.narrow(-1, half, hd - half), t.narrow(-1, 0, half)}, -1);
      return t * cos + rh * sin;
    };
    q = rot(q);
    k = rot(k);
  }
  const int64_t rep = nq / nkv;
  if (rep > 1) {
    k = k.repeat_interleave(rep, 1);
    v = v.repeat_interleave(rep, 1);
  }
  at::Tensor scores = at::matmul(q, k.transpose(2, 3)) * std::pow(static_cast<double>(hd) / 2.0, -0.5);
  at::Tensor causal = at::ones({L, L}, at::kBool).triu(1);
  scores = scores.masked_fill(causal, -std::numeric_limits<float>::infinity());
  at::Tensor attn = at::matmul(at::softmax(scores, -1), v).transpose(1, 2).reshape({B, L, nq * hd});
  at::Tensor a = rms(at::linear(attn, s.o_w), s.pre_ff_norm_w, c.rms_norm_eps);
  at::Tensor gu = at::linear(a, s.gate_up_w);
  if (u.mlp_a0.defined()) gu = gu + at::linear(at::linear(a, u.mlp_a0), u.mlp_a1);
  const int64_t I = gu.size(-1) / 2;
  at::Tensor mlp = at::linear(activation(gu.narrow(-1, 0, I), c.hidden_act) * gu.narrow(-1, I, I), s.down_w);
  return at::linear(mlp, u.linear_w);
}


at::Tensor Zamba2Model::forward(const at::Tensor& ids, const HybridRemoval& removed) const {
  c10::NoGradGuard no_grad;
  const Plan p = plan(removed, "removal");
  const Zamba2Config& c = cfg_;
  if (ids.dim() != 2 || !at::isIntegralType(ids.scalar_type(), false))
    throw Error("input ids must be a [batch, length] integer tensor");
  at::Tensor idl = ids.to(at::kLong);
  if (idl.numel() > 0 && (idl.min().item<int64_t>() < 0 || idl.max().item<int64_t>() >= c.vocab_size))
    throw Error("a token id is outside the model's vocabulary (0.." + std::to_string(c.vocab_size - 1) + ")");
  const int64_t hd = c.attn_head_dim;
  // Slice each shared block and its uses' adapters once per call.
  std::vector<Shared> blocks(shared_.size());
  std::vector<Use> uses(uses_);
  for (size_t k = 0; k < shared_.size(); ++k) {
    const Shared& s = shared_[k];
    if (!p.block_alive[k]) continue;
    const bool all_heads = static_cast<int64_t>(p.kv_kept[k].size()) == s.kv_heads;
    const bool all_ch = static_cast<int64_t>(p.ch_kept[k].size()) == s.intermediate;
    Shared b = s;
    const int64_t rep = s.heads / s.kv_heads;
    std::vector<int64_t> qh;
    for (int64_t g : p.kv_kept[k])
      for (int64_t t = 0; t < rep; ++t) qh.push_back(g * rep + t);
    const std::vector<int64_t> qr = unit_rows(qh, hd), kr = unit_rows(p.kv_kept[k], hd);
    std::vector<int64_t> gur = p.ch_kept[k];
    for (int64_t ch : p.ch_kept[k]) gur.push_back(s.intermediate + ch);
    if (!all_heads) {
      b.q_w = rows(s.q_w, qr);
      b.k_w = rows(s.k_w, kr);
      b.v_w = rows(s.v_w, kr);
      b.o_w = cols(s.o_w, qr);
    }
    if (!all_ch) {
      b.gate_up_w = rows(s.gate_up_w, gur);
      b.down_w = cols(s.down_w, p.ch_kept[k]);
    }
    for (Use& u : uses) {
      if (u.block != static_cast<int64_t>(k)) continue;
      if (!all_heads && u.q_a1.defined()) {
        u.q_a1 = rows(u.q_a1, qr);
        u.k_a1 = rows(u.k_a1, kr);
        u.v_a1 = rows(u.v_a1, kr);
      }
      if (!all_ch && u.mlp_a1.defined()) u.mlp_a1 = rows(u.mlp_a1, gur);
    }
    blocks[k] = std::move(b);
  }
  at::Tensor emb = at::embedding(embedding_, idl);
  at::Tensor h = emb;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    if (p.skip_layer[li]) continue;
    at::Tensor in = h;
    const int64_t u = use_of_layer_[li];
    if (u >= 0 && !p.skip_use[li]) {
      const Use& us = uses[static_cast<size_t>(u)];
      in = h + shared_block(blocks[static_cast<size_t>(us.block)], us, h, emb);
    }
    const Mixer& m = mixers_[li];
    h = h + mixer(m, rms(in, m.norm_w, c.rms_norm_eps), p.skip_ssm[li] != 0);
  }
  return at::linear(rms(h, final_norm_w_, c.rms_norm_eps), lm_head_);
}

// ---- components ---------------------------------------------------------------------------------------------

Component Zamba2Model::component_tree() const {
  const Zamba2Config& c = cfg_;
  const Plan none = plan({}, "model");
  const int64_t total = count_params(none);
  auto removal_cost = [&](const std::string& id) {
    HybridRemoval r;
    r.add(id);
    return total - count_params(plan(r, id));
  };
  Component root = make_component("model", ComponentKind::Model, -1, total);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    const std::string id = "layers." + std::to_string(l);
    const bool hybrid = use_of_layer_[li] >= 0;
    Component blk = make_component(id, hybrid ? ComponentKind::HybridBlock : ComponentKind::Block, l, removal_cost(id));
    if (hybrid)
      blk.children.push_back(make_component(id + ".shared", ComponentKind::SharedBlock, l, removal_cost(id + ".shared")));
    if (mixers_[li].has_ssm)
      blk.children.push_back(make_component(id + ".ssm", ComponentKind::Ssm, l, removal_cost(id + ".ssm")));
    root.children.push_back(std::move(blk));
  }
  for (size_t k = 0; k < shared_.size(); ++k) {
    const Shared& s = shared_[k];
    if (!s.q_w.defined()) continue;
    Component sw = make_component("shared." + std::to_string(k), ComponentKind::SharedWeights, -1,
                                  s.in_norm_w.numel() + s.q_w.numel() + s.k_w.numel() + s.v_w.numel() + s.o_w.numel() +
                                      s.pre_ff_norm_w.numel() + s.gate_up_w.numel() + s.down_w.numel());
    for (int64_t g = 0; g < s.kv_heads; ++g) {
      const std::string a = sw.id + ".attn.heads." + std::to_string(g);
      sw.children.push_back(make_component(a, ComponentKind::AttentionHeads, -1, s.kv_heads > 1 ? removal_cost(a) : 0,
                                           s.heads / s.kv_heads));
    }
    const int64_t groups = (s.intermediate + mlp_group_ - 1) / mlp_group_;
    for (int64_t g = 0; g < groups; ++g) {
      const std::string mc = sw.id + ".mlp.channels." + std::to_string(g);
      sw.children.push_back(make_component(mc, ComponentKind::MlpChannels, -1, groups > 1 ? removal_cost(mc) : 0,
                                           std::min(mlp_group_, s.intermediate - g * mlp_group_)));
    }
    root.children.push_back(std::move(sw));
  }
  return root;
}

std::vector<std::string> Zamba2Model::candidates(HybridGranularity g, const HybridRemoval& removed) const {
  const Plan p = plan(removed, "removal");
  const Zamba2Config& c = cfg_;
  std::vector<std::string> out;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    if (p.skip_layer[li]) continue;
    const std::string id = "layers." + std::to_string(l);
    if (g == HybridGranularity::Block) out.push_back(id);
    if (g == HybridGranularity::Ssm && mixers_[li].has_ssm && !p.skip_ssm[li]) out.push_back(id + ".ssm");
    if (g == HybridGranularity::SharedBlock && use_of_layer_[li] >= 0 && !p.skip_use[li]) out.push_back(id + ".shared");
  }
  for (size_t k = 0; k < shared_.size(); ++k) {
    if (!p.block_alive[k]) continue;
    const std::string id = "shared." + std::to_string(k);
    if (g == HybridGranularity::AttentionHeads && p.kv_kept[k].size() > 1)
      for (int64_t h : p.kv_kept[k]) out.push_back(id + ".attn.heads." + std::to_string(h));
    if (g == HybridGranularity::MlpChannels) {
      std::vector<int64_t> groups;
      for (int64_t ch : p.ch_kept[k])
        if (groups.empty() || groups.back() != ch / mlp_group_) groups.push_back(ch / mlp_group_);
      const bool several = groups.size() > 1;  // the last group stays (remove the block's uses instead)
      if (tail_groups_ && several) groups = {groups.back()};
      if (several)
        for (int64_t gr : groups) out.push_back(id + ".mlp.channels." + std::to_string(gr));
    }
  }
  return out;
}

void Zamba2Model::reorder_mlp_channels() {
  for (size_t k = 0; k < shared_.size(); ++k) {
    Shared& s = shared_[k];
    if (!s.q_w.defined()) continue;
    const int64_t I = s.intermediate;
    // The reference's importance: L1 norms of the gate row and the up row.
    at::Tensor imp = s.gate_up_w.narrow(0, 0, I).abs().sum(1) + s.gate_up_w.narrow(0, I, I).abs().sum(1);
    at::Tensor order = std::get<1>(imp.sort(0, /*descending=*/true));
    at::Tensor gu_order = at::cat({order, order + I});
    s.gate_up_w = s.gate_up_w.index_select(0, gu_order).contiguous();
    s.down_w = s.down_w.index_select(1, order).contiguous();
    for (Use& u : uses_)
      if (u.block == static_cast<int64_t>(k) && u.mlp_a1.defined()) u.mlp_a1 = u.mlp_a1.index_select(0, gu_order).contiguous();
  }
}

// ---- export -------------------------------------------------------------------------------------------------

void Zamba2Model::export_pruned(const HybridRemoval& removed, const std::string& out_dir, bool force) const {
  const Plan p = plan(removed, "export");
  const Zamba2Config& c = cfg_;
  const int64_t hd = c.attn_head_dim;
  std::vector<std::pair<std::string, at::Tensor>> t;
  t.emplace_back("model.embed_tokens.weight", embedding_);
  t.emplace_back("model.final_layernorm.weight", final_norm_w_);
  if (!c.tie_word_embeddings) t.emplace_back("lm_head.weight", lm_head_);

  // Surviving blocks renumbered; each keeps its kept heads / channels.
  std::vector<int64_t> new_block(shared_.size(), -1);
  int64_t nb = 0;
  for (size_t k = 0; k < shared_.size(); ++k)
    if (p.block_alive[k]) new_block[k] = nb++;
  struct Cut {
    std::vector<int64_t> qr, kr, gur;
  };
  std::vector<Cut> cuts(shared_.size());
  for (size_t k = 0; k < shared_.size(); ++k) {
    if (!p.block_alive[k]) continue;
    const int64_t rep = shared_[k].heads / shared_[k].kv_heads;
    std::vector<int64_t> qh;
    for (int64_t g : p.kv_kept[k])
      for (int64_t r = 0; r < rep; ++r) qh.push_back(g * rep + r);
    cuts[k].qr = unit_rows(qh, hd);
    cuts[k].kr = unit_rows(p.kv_kept[k], hd);
    cuts[k].gur = p.ch_kept[k];
    for (int64_t ch : p.ch_kept[k]) cuts[k].gur.push_back(shared_[k].intermediate + ch);
  }

  nlohmann::json types = nlohmann::json::array();
  std::vector<int64_t> use_blocks, no_ssm;
  std::vector<std::pair<int64_t, int64_t>> kept_uses;  // (new layer, old use)
  int64_t nl = 0;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    if (p.skip_layer[li]) continue;
    const int64_t u = use_of_layer_[li];
    const bool hyb = u >= 0 && !p.skip_use[li];
    types.push_back(hyb ? "hybrid" : c.mamba_type_name);
    const std::string pre = "model.layers." + std::to_string(nl) + (hyb ? ".mamba_decoder." : ".");
    const Mixer& m = mixers_[li];
    const bool ssm = m.has_ssm && !p.skip_ssm[li];
    const int64_t D = c.mamba_inner;
    at::Tensor in_proj = m.in_proj_w, conv = m.conv_w_kc.t().unsqueeze(1).contiguous(), conv_b = m.conv_b;
    if (m.has_ssm && !ssm) {  // the SSM's dead weights go: B/C/dt rows of in_proj and the B/C conv channels
      in_proj = in_proj.narrow(0, 0, 2 * D);
      conv = conv.narrow(0, 0, D);
      if (conv_b.defined()) conv_b = conv_b.narrow(0, 0, D);
    }
    if (!ssm) no_ssm.push_back(nl);
    t.emplace_back(pre + "input_layernorm.weight", m.norm_w);
    t.emplace_back(pre + "mamba.in_proj.weight", in_proj.contiguous());
    t.emplace_back(pre + "mamba.conv1d.weight", conv.contiguous());
    if (conv_b.defined()) t.emplace_back(pre + "mamba.conv1d.bias", conv_b.contiguous());
    if (ssm) {
      t.emplace_back(pre + "mamba.dt_bias", m.dt_bias);
      t.emplace_back(pre + "mamba.A_log", at::log(-m.A_h));
      t.emplace_back(pre + "mamba.D", m.Dv);
    }
    t.emplace_back(pre + "mamba.norm.weight", m.gnorm_w);
    t.emplace_back(pre + "mamba.out_proj.weight", m.out_proj_w);
    if (hyb) {
      kept_uses.emplace_back(nl, u);
      use_blocks.push_back(new_block[static_cast<size_t>(uses_[static_cast<size_t>(u)].block)]);
    }
    ++nl;
  }
  // Every hybrid layer stores its block's weights and the adapters of every use of that block (as transformers).
  for (const auto& [layer, u] : kept_uses) {
    const Use& us = uses_[static_cast<size_t>(u)];
    const size_t k = static_cast<size_t>(us.block);
    const Shared& s = shared_[k];
    const Cut& cut = cuts[k];
    const std::string lp = "model.layers." + std::to_string(layer) + ".";
    const std::string sp = lp + "shared_transformer.";
    t.emplace_back(lp + "linear.weight", us.linear_w);
    t.emplace_back(sp + "input_layernorm.weight", s.in_norm_w);
    t.emplace_back(sp + "pre_ff_layernorm.weight", s.pre_ff_norm_w);
    t.emplace_back(sp + "self_attn.q_proj.weight", rows(s.q_w, cut.qr));
    t.emplace_back(sp + "self_attn.k_proj.weight", rows(s.k_w, cut.kr));
    t.emplace_back(sp + "self_attn.v_proj.weight", rows(s.v_w, cut.kr));
    t.emplace_back(sp + "self_attn.o_proj.weight", cols(s.o_w, cut.qr));
    t.emplace_back(sp + "feed_forward.gate_up_proj.weight", rows(s.gate_up_w, cut.gur));
    t.emplace_back(sp + "feed_forward.down_proj.weight", cols(s.down_w, p.ch_kept[k]));
    for (size_t j = 0; j < kept_uses.size(); ++j) {
      const Use& o = uses_[static_cast<size_t>(kept_uses[j].second)];
      if (o.block != us.block) continue;
      const std::string jj = std::to_string(j);
      if (o.q_a0.defined()) {
        const std::string ap = sp + "self_attn.linear_";
        t.emplace_back(ap + "q_adapter_list." + jj + ".0.weight", o.q_a0);
        t.emplace_back(ap + "q_adapter_list." + jj + ".1.weight", rows(o.q_a1, cut.qr));
        t.emplace_back(ap + "k_adapter_list." + jj + ".0.weight", o.k_a0);
        t.emplace_back(ap + "k_adapter_list." + jj + ".1.weight", rows(o.k_a1, cut.kr));
        t.emplace_back(ap + "v_adapter_list." + jj + ".0.weight", o.v_a0);
        t.emplace_back(ap + "v_adapter_list." + jj + ".1.weight", rows(o.v_a1, cut.kr));
      }
      if (o.mlp_a0.defined()) {
        const std::string mp = sp + "feed_forward.gate_up_proj_adapter_list." + jj;
        t.emplace_back(mp + ".0.weight", o.mlp_a0);
        t.emplace_back(mp + ".1.weight", rows(o.mlp_a1, cut.gur));
      }
    }
  }

  nlohmann::json cfg = c.raw;
  cfg["num_hidden_layers"] = nl;
  cfg["layers_block_type"] = types;
  nlohmann::json hyb_ids = nlohmann::json::array();
  for (const auto& ku : kept_uses) hyb_ids.push_back(ku.first);
  cfg["hybrid_layer_ids"] = hyb_ids;
  cfg["num_mem_blocks"] = std::max<int64_t>(nb, 1);
  cfg.erase("shedder_layers_without_ssm");
  cfg.erase("shedder_use_blocks");
  cfg.erase("shedder_shared_blocks");
  if (!no_ssm.empty()) cfg["shedder_layers_without_ssm"] = no_ssm;
  bool cyclic = true;
  for (size_t j = 0; j < use_blocks.size(); ++j) cyclic &= use_blocks[j] == static_cast<int64_t>(j) % std::max<int64_t>(nb, 1);
  if (!cyclic) cfg["shedder_use_blocks"] = use_blocks;
  // Block sizes: in the standard fields when all blocks agree and nothing changed the head count, else per block.
  nlohmann::json sizes = nlohmann::json::array();
  std::set<std::string> distinct;
  for (size_t k = 0; k < shared_.size(); ++k) {
    if (!p.block_alive[k]) continue;
    const int64_t rep = shared_[k].heads / shared_[k].kv_heads, kv = static_cast<int64_t>(p.kv_kept[k].size());
    nlohmann::json e{{"num_attention_heads", rep * kv}, {"num_key_value_heads", kv},
                     {"intermediate_size", static_cast<int64_t>(p.ch_kept[k].size())}};
    distinct.insert(e.dump());
    sizes.push_back(e);
  }
  if (distinct.size() == 1) {
    const nlohmann::json& e = sizes[0];
    cfg["intermediate_size"] = e["intermediate_size"];
    if (e["num_attention_heads"] != c.num_heads) {  // transformers derives the head dim from the head count
      cfg["num_attention_heads"] = e["num_attention_heads"];
      cfg["num_key_value_heads"] = e["num_key_value_heads"];
    }
  } else if (distinct.size() > 1) {
    cfg["shedder_shared_blocks"] = sizes;
  }
  cfg["attention_head_dim"] = hd;
  if (cfg.contains("num_attention_heads") && cfg["num_attention_heads"] != c.num_heads) {
    // transformers would derive attention_head_dim = 2 * hidden / heads; our loader reads it as written.
    cfg["shedder_note"] = "attention heads were removed: transformers cannot load this folder (it derives the head "
                          "dimension from the head count); shedder-cli can";
  }

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
