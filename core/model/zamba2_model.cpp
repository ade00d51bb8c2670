// Zamba2: loading with validation, plans (removals resolved, shared blocks sliced), the layers, the component tree,
// channel reordering (see zamba2_model.h; export and training slots: zamba2_export.cpp). The math follows transformers'
// modeling_zamba2 torch path.
#include "model/zamba2_model.h"
#include "model/zamba2_plan.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
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

// ---- plans ------------------------------------------------------------------------------------------------------


std::shared_ptr<Zamba2Model::Plan> Zamba2Model::resolve(const RemovalSet& removed, const std::string& label,
                                                       bool materialize) const {
  const Zamba2Config& c = cfg_;
  auto p = std::make_shared<Plan>();
  const size_t L = static_cast<size_t>(c.num_layers), M = shared_.size();
  p->skip_layer.assign(L, 0);
  p->skip_ssm.assign(L, 0);
  p->skip_use.assign(L, 0);
  std::vector<std::set<int64_t>> kv_gone(M), grp_gone(M);
  for (const ComponentId& id : removed.items) {
    auto bad = [&](const std::string& why) { return Error(label + ": component '" + id.str() + "': " + why); };
    if (id.shared >= 0) {
      if (id.shared >= static_cast<int64_t>(M)) throw bad("this model has " + std::to_string(M) + " shared blocks");
      const Shared& s = shared_[static_cast<size_t>(id.shared)];
      if (id.kind == Granularity::AttentionHeads) {
        if (id.index >= s.kv_heads)
          throw bad("block " + std::to_string(id.shared) + " has " + std::to_string(s.kv_heads) + " head groups");
        kv_gone[static_cast<size_t>(id.shared)].insert(id.index);
      } else {  // MlpChannels
        if (id.index * mlp_group_ >= s.intermediate)
          throw bad("block " + std::to_string(id.shared) + " has " +
                    std::to_string((s.intermediate + mlp_group_ - 1) / mlp_group_) + " channel groups of " +
                    std::to_string(mlp_group_));
        grp_gone[static_cast<size_t>(id.shared)].insert(id.index);
      }
      continue;
    }
    if (id.layer >= c.num_layers) throw bad("this model has " + std::to_string(c.num_layers) + " layers");
    const size_t li = static_cast<size_t>(id.layer);
    if (id.kind == Granularity::Block) {
      p->skip_layer[li] = 1;
    } else if (id.kind == Granularity::Ssm) {
      if (!layers_[li].mixer.has_ssm) throw bad("this layer's SSM was already removed by an export");
      p->skip_ssm[li] = 1;
    } else if (id.kind == Granularity::SharedBlock) {
      if (use_of_layer_[li] < 0) throw bad("not a hybrid layer (no shared transformer use)");
      p->skip_use[li] = 1;
    } else {
      throw bad("a Zamba2 model has layers.N, layers.N.ssm, layers.N.shared, shared.K.attn.heads.G and "
                "shared.K.mlp.channels.C");
    }
  }
  p->block_alive.assign(M, 0);
  for (size_t l = 0; l < L; ++l)
    if (use_of_layer_[l] >= 0 && !p->skip_layer[l] && !p->skip_use[l])
      p->block_alive[static_cast<size_t>(uses_[static_cast<size_t>(use_of_layer_[l])].block)] = 1;
  p->kv_kept.resize(M);
  p->ch_kept.resize(M);
  for (size_t k = 0; k < M; ++k) {
    const Shared& s = shared_[k];
    for (int64_t g = 0; g < s.kv_heads; ++g)
      if (!kv_gone[k].count(g)) p->kv_kept[k].push_back(g);
    for (int64_t ch = 0; ch < s.intermediate; ++ch)
      if (!grp_gone[k].count(ch / mlp_group_)) p->ch_kept[k].push_back(ch);
    if (p->kv_kept[k].empty())
      throw Error(label + ": every attention head of shared block " + std::to_string(k) +
                  " is removed; remove its uses (layers.N.shared) instead");
    if (p->ch_kept[k].empty())
      throw Error(label + ": every MLP channel of shared block " + std::to_string(k) +
                  " is removed; remove its uses (layers.N.shared) instead");
  }
  p->set(removed, count_params(*p));
  if (!materialize) return p;
  // Slice each live shared block and its uses' adapters once.
  const int64_t hd = c.attn_head_dim;
  p->blocks.resize(M);
  p->uses = uses_;
  for (size_t k = 0; k < M; ++k) {
    const Shared& s = shared_[k];
    if (!p->block_alive[k]) continue;
    Shared b = s;
    const bool all_heads = static_cast<int64_t>(p->kv_kept[k].size()) == s.kv_heads;
    const bool all_ch = static_cast<int64_t>(p->ch_kept[k].size()) == s.intermediate;
    const int64_t rep = s.heads / s.kv_heads;
    std::vector<int64_t> qh;
    for (int64_t g : p->kv_kept[k])
      for (int64_t t = 0; t < rep; ++t) qh.push_back(g * rep + t);
    const std::vector<int64_t> qr = unit_rows(qh, hd), kr = unit_rows(p->kv_kept[k], hd);
    std::vector<int64_t> gur = p->ch_kept[k];
    for (int64_t ch : p->ch_kept[k]) gur.push_back(s.intermediate + ch);
    if (!all_heads) {
      b.q_w = rows(s.q_w, qr);
      b.k_w = rows(s.k_w, kr);
      b.v_w = rows(s.v_w, kr);
      b.o_w = cols(s.o_w, qr);
    }
    if (!all_ch) {
      b.gate_up_w = rows(s.gate_up_w, gur);
      b.down_w = cols(s.down_w, p->ch_kept[k]);
    }
    for (Use& u : p->uses) {
      if (u.block != static_cast<int64_t>(k)) continue;
      if (!all_heads && u.q_a1.defined()) {
        u.q_a1 = rows(u.q_a1, qr);
        u.k_a1 = rows(u.k_a1, kr);
        u.v_a1 = rows(u.v_a1, kr);
      }
      if (!all_ch && u.mlp_a1.defined()) u.mlp_a1 = rows(u.mlp_a1, gur);
    }
    p->blocks[k] = std::move(b);
  }
  return p;
}

PlanPtr Zamba2Model::plan(const RemovalSet& removed, const std::string& label) const { return resolve(removed, label); }

int64_t Zamba2Model::count_params(const Plan& p) const {
  const Zamba2Config& c = cfg_;
  const int64_t H = c.hidden_size, D = c.mamba_inner, GN = c.n_groups * c.d_state, nh = c.mamba_heads, K = c.d_conv;
  const int64_t hd = c.attn_head_dim, r = c.adapter_rank;
  int64_t n = embedding_.numel() + final_norm_w_.numel() + (c.tie_word_embeddings ? 0 : lm_head_.numel());
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    if (p.skip_layer[li]) continue;
    const bool ssm = layers_[li].mixer.has_ssm && !p.skip_ssm[li];
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

int64_t Zamba2Model::total_parameters() const { return kept_parameters({}, "model"); }

int64_t Zamba2Model::kept_parameters(const RemovalSet& removed, const std::string& label) const {
  return resolve(removed, label, /*materialize=*/false)->kept_parameters();
}

// ---- loading ------------------------------------------------------------------------------------------------------

Zamba2Model::~Zamba2Model() = default;

std::shared_ptr<Zamba2Model> Zamba2Model::load(const std::string& dir, const LoadOptions& opts) {
  std::shared_ptr<Zamba2Model> m(new Zamba2Model());
  const std::string cfg_path = m->open_folder(dir);
  m->cfg_ = Zamba2Config::from_file(cfg_path);
  const Zamba2Config& c = m->cfg_;
  WeightStore ws = WeightStore::open_folder(dir);
  m->place(ws, opts, "model.embed_tokens.weight");
  const WeightLoader wl(ws, dir, "config.json", opts.check_finite, m->device_, m->dtype_);
  const int64_t H = c.hidden_size, D = c.mamba_inner, GN = c.n_groups * c.d_state, nh = c.mamba_heads, K = c.d_conv;
  m->embedding_ = wl.get("model.embed_tokens.weight", {c.vocab_size, H});
  m->final_norm_w_ = wl.get("model.final_layernorm.weight", {H});
  m->lm_head_ = c.tie_word_embeddings ? m->embedding_ : wl.get("lm_head.weight", {c.vocab_size, H});

  const std::set<int64_t> no_ssm(c.layers_without_ssm.begin(), c.layers_without_ssm.end());
  m->use_of_layer_.assign(static_cast<size_t>(c.num_layers), -1);
  for (size_t u = 0; u < c.hybrid_layer_ids.size(); ++u)
    m->use_of_layer_[static_cast<size_t>(c.hybrid_layer_ids[u])] = static_cast<int64_t>(u);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const bool hyb = c.hybrid[static_cast<size_t>(l)] != 0;
    const std::string p = "model.layers." + std::to_string(l) + (hyb ? ".mamba_decoder." : ".");
    Layer ly;
    Mamba2Weights& mx = ly.mixer;
    mx.has_ssm = !no_ssm.count(l);
    const int64_t conv_ch = mx.has_ssm ? D + 2 * GN : D;
    ly.norm_w = wl.get(p + "input_layernorm.weight", {H});
    mx.in_proj_w = wl.get(p + "mamba.in_proj.weight", {mx.has_ssm ? 2 * D + 2 * GN + nh : 2 * D, H});
    mx.conv_w_kc = wl.get(p + "mamba.conv1d.weight", {conv_ch, 1, K}, true).reshape({conv_ch, K}).t().contiguous();
    if (c.use_conv_bias) mx.conv_b = wl.get(p + "mamba.conv1d.bias", {conv_ch}, true);
    if (mx.has_ssm) {
      mx.dt_bias = wl.get(p + "mamba.dt_bias", {nh}, true);
      mx.A_h = -at::exp(wl.get(p + "mamba.A_log", {nh}, true));
      mx.Dv = wl.get(p + "mamba.D", {nh}, true);
    }
    mx.gnorm_w = wl.get(p + "mamba.norm.weight", {D});
    mx.out_proj_w = wl.get(p + "mamba.out_proj.weight", {H, D});
    m->layers_.push_back(std::move(ly));
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
    if (layer >= 0) {  // a block no layer uses: nothing stored, nothing run
      const std::string p = "model.layers." + std::to_string(layer) + ".shared_transformer.";
      const int64_t I = s.intermediate;
      s.in_norm_w = wl.get(p + "input_layernorm.weight", {2 * H});
      s.q_w = wl.get(p + "self_attn.q_proj.weight", {s.heads * hd, 2 * H});
      s.k_w = wl.get(p + "self_attn.k_proj.weight", {s.kv_heads * hd, 2 * H});
      s.v_w = wl.get(p + "self_attn.v_proj.weight", {s.kv_heads * hd, 2 * H});
      s.o_w = wl.get(p + "self_attn.o_proj.weight", {H, s.heads * hd});
      s.pre_ff_norm_w = wl.get(p + "pre_ff_layernorm.weight", {H});
      s.gate_up_w = wl.get(p + "feed_forward.gate_up_proj.weight", {2 * I, H});
      s.down_w = wl.get(p + "feed_forward.down_proj.weight", {H, I});
    }
    m->shared_.push_back(std::move(s));
  }
  for (size_t u = 0; u < c.hybrid_layer_ids.size(); ++u) {
    Use us;
    us.block = c.use_block[u];
    const Shared& s = m->shared_[static_cast<size_t>(us.block)];
    const std::string lp = "model.layers." + std::to_string(c.hybrid_layer_ids[u]) + ".";
    const std::string j = std::to_string(u);
    us.linear_w = wl.get(lp + "linear.weight", {H, H});
    // The adapters live in the shared block's module, so transformers may store them under any layer of the block.
    us.adapters_at = lp + "shared_transformer.";
    for (size_t v = 0; v < c.use_block.size(); ++v) {
      const std::string at = "model.layers." + std::to_string(c.hybrid_layer_ids[v]) + ".shared_transformer.";
      if (c.use_block[v] == us.block && (ws.contains(at + "self_attn.linear_q_adapter_list." + j + ".0.weight") ||
                                         ws.contains(at + "feed_forward.gate_up_proj_adapter_list." + j + ".0.weight"))) {
        us.adapters_at = at;
        break;
      }
    }
    auto where = [&](const std::string& suffix) { return us.adapters_at + suffix; };
    if (c.attention_adapter) {
      us.q_a0 = wl.get(where("self_attn.linear_q_adapter_list." + j + ".0.weight"), {r, 2 * H});
      us.q_a1 = wl.get(where("self_attn.linear_q_adapter_list." + j + ".1.weight"), {s.heads * hd, r});
      us.k_a0 = wl.get(where("self_attn.linear_k_adapter_list." + j + ".0.weight"), {r, 2 * H});
      us.k_a1 = wl.get(where("self_attn.linear_k_adapter_list." + j + ".1.weight"), {s.kv_heads * hd, r});
      us.v_a0 = wl.get(where("self_attn.linear_v_adapter_list." + j + ".0.weight"), {r, 2 * H});
      us.v_a1 = wl.get(where("self_attn.linear_v_adapter_list." + j + ".1.weight"), {s.kv_heads * hd, r});
    }
    const std::string ma = where("feed_forward.gate_up_proj_adapter_list." + j + ".0.weight");
    if (ws.contains(ma)) {
      us.mlp_a0 = wl.get(ma, {r, H});
      us.mlp_a1 = wl.get(where("feed_forward.gate_up_proj_adapter_list." + j + ".1.weight"), {2 * s.intermediate, r});
    }
    m->uses_.push_back(std::move(us));
  }
  m->mlp_group_ = mlp_group_size(opts.mlp_channel_group, c.intermediate_size);
  m->tail_groups_ = opts.mlp_tail_groups;
  m->load_tokenizer();
  return m;
}

nlohmann::json Zamba2Model::summary() const {
  const Zamba2Config& c = cfg_;
  return {{"model_type", "zamba2"},           {"vocab_size", c.vocab_size},        {"hidden_size", c.hidden_size},
          {"num_hidden_layers", c.num_layers}, {"hybrid_layers", c.hybrid_layer_ids.size()},
          {"num_mem_blocks", c.num_mem_blocks}, {"num_attention_heads", c.num_heads},
          {"num_key_value_heads", c.num_kv_heads}, {"attention_head_dim", c.attn_head_dim},
          {"intermediate_size", c.intermediate_size}, {"n_mamba_heads", c.mamba_heads},
          {"mamba_d_state", c.d_state},       {"mamba_ngroups", c.n_groups},       {"mlp_channel_group", mlp_group_}};
}

std::string Zamba2Model::description() const {
  const Zamba2Config& c = cfg_;
  auto n = [](int64_t v) { return std::to_string(v); };
  return "Zamba2 (Zamba2ForCausalLM): " + n(c.num_layers) + " layers (" + n(static_cast<int64_t>(c.hybrid_layer_ids.size())) +
         " with a shared block), " + n(c.num_mem_blocks) + " shared block(s) of " + n(c.num_heads) + " heads / " +
         n(c.num_kv_heads) + " KV x " + n(c.attn_head_dim) + " and MLP " + n(c.intermediate_size) + ", hidden " +
         n(c.hidden_size) + ", Mamba-2 " + n(c.mamba_heads) + " heads x " + n(c.mamba_head_dim) + ", state " +
         n(c.d_state) + ", vocab " + n(c.vocab_size);
}

Mamba2Shape Zamba2Model::mixer_shape() const {
  const Zamba2Config& c = cfg_;
  Mamba2Shape s;
  s.inner = c.mamba_inner;
  s.heads = c.mamba_heads;
  s.head_dim = c.mamba_head_dim;
  s.groups = c.n_groups;
  s.state = c.d_state;
  s.norm_groups = c.n_groups;  // Zamba2RMSNormGated: group_size = intermediate / n_groups
  s.norm_eps = 1e-5;
  // transformers' torch path clamps dt from below at time_step_min (no upper limit).
  s.dt_min = c.time_step_min;
  s.dt_max = std::numeric_limits<double>::infinity();
  return s;
}

// ---- components -------------------------------------------------------------------------------------------------

std::vector<Granularity> Zamba2Model::granularities() const {
  return {Granularity::Block, Granularity::Ssm, Granularity::SharedBlock, Granularity::AttentionHeads,
          Granularity::MlpChannels};
}

bool Zamba2Model::layer_local(Granularity g) const {
  return g != Granularity::AttentionHeads && g != Granularity::MlpChannels;  // a shared block's parts act in every use
}

int64_t Zamba2Model::first_layer(const ComponentId& c) const {
  if (c.shared < 0) return c.layer;
  for (size_t u = 0; u < uses_.size(); ++u)
    if (uses_[u].block == c.shared) return cfg_.hybrid_layer_ids[u];
  return 0;
}

Component Zamba2Model::component_tree() const {
  const Zamba2Config& c = cfg_;
  const int64_t total = total_parameters();
  auto cost = [&](const ComponentId& id) {
    RemovalSet r;
    r.add(id);
    return total - kept_parameters(r, id.str());
  };
  Component root = make_component("model", ComponentKind::Model, -1, total);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    const bool hybrid = use_of_layer_[li] >= 0;
    const ComponentId id = ComponentId::layer_of(Granularity::Block, l);
    Component blk = make_component(id.str(), hybrid ? ComponentKind::HybridBlock : ComponentKind::Block, l, cost(id));
    if (hybrid) {
      const ComponentId u = ComponentId::layer_of(Granularity::SharedBlock, l);
      blk.children.push_back(make_component(u.str(), ComponentKind::SharedBlock, l, cost(u)));
    }
    if (layers_[li].mixer.has_ssm) {
      const ComponentId s = ComponentId::layer_of(Granularity::Ssm, l);
      blk.children.push_back(make_component(s.str(), ComponentKind::Ssm, l, cost(s)));
    }
    root.children.push_back(std::move(blk));
  }
  for (size_t k = 0; k < shared_.size(); ++k) {
    const Shared& s = shared_[k];
    if (!s.q_w.defined()) continue;
    // A shared block's weights are one group node: its parameters are counted once here, not per use.
    Component sw = make_component("shared." + std::to_string(k), ComponentKind::SharedWeights, -1,
                                  s.in_norm_w.numel() + s.q_w.numel() + s.k_w.numel() + s.v_w.numel() + s.o_w.numel() +
                                      s.pre_ff_norm_w.numel() + s.gate_up_w.numel() + s.down_w.numel());
    const int64_t kb = static_cast<int64_t>(k);
    for (int64_t g = 0; g < s.kv_heads; ++g) {
      const ComponentId a = ComponentId::shared_of(Granularity::AttentionHeads, kb, g);
      sw.children.push_back(make_component(a.str(), ComponentKind::AttentionHeads, -1, s.kv_heads > 1 ? cost(a) : 0,
                                           s.heads / s.kv_heads));
    }
    const int64_t groups = (s.intermediate + mlp_group_ - 1) / mlp_group_;
    for (int64_t g = 0; g < groups; ++g) {
      const ComponentId mc = ComponentId::shared_of(Granularity::MlpChannels, kb, g);
      sw.children.push_back(make_component(mc.str(), ComponentKind::MlpChannels, -1, groups > 1 ? cost(mc) : 0,
                                           std::min(mlp_group_, s.intermediate - g * mlp_group_)));
    }
    root.children.push_back(std::move(sw));
  }
  return root;
}

std::vector<ComponentId> Zamba2Model::candidates(Granularity g, const RemovalSet& removed) const {
  const std::shared_ptr<Plan> p = resolve(removed, "removal", /*materialize=*/false);
  const Zamba2Config& c = cfg_;
  std::vector<ComponentId> out;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    if (p->skip_layer[li]) continue;
    if (g == Granularity::Block) out.push_back(ComponentId::layer_of(g, l));
    if (g == Granularity::Ssm && layers_[li].mixer.has_ssm && !p->skip_ssm[li]) out.push_back(ComponentId::layer_of(g, l));
    if (g == Granularity::SharedBlock && use_of_layer_[li] >= 0 && !p->skip_use[li])
      out.push_back(ComponentId::layer_of(g, l));
  }
  for (size_t k = 0; k < shared_.size(); ++k) {
    if (!p->block_alive[k]) continue;
    const int64_t kb = static_cast<int64_t>(k);
    if (g == Granularity::AttentionHeads && p->kv_kept[k].size() > 1)
      for (int64_t h : p->kv_kept[k]) out.push_back(ComponentId::shared_of(g, kb, h));
    if (g == Granularity::MlpChannels) {
      std::vector<int64_t> groups;
      for (int64_t ch : p->ch_kept[k])
        if (groups.empty() || groups.back() != ch / mlp_group_) groups.push_back(ch / mlp_group_);
      const bool several = groups.size() > 1;  // the last group stays (remove the block's uses instead)
      if (tail_groups_ && several) groups = {groups.back()};
      if (several)
        for (int64_t gr : groups) out.push_back(ComponentId::shared_of(g, kb, gr));
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

// ---- forward ----------------------------------------------------------------------------------------------------

std::vector<LayerState> Zamba2Model::zero_state(int64_t batch, const ForwardPlan& fp) const {
  const Plan& p = zplan(fp);
  const Zamba2Config& c = cfg_;
  std::vector<LayerState> s(static_cast<size_t>(c.num_layers));
  for (size_t l = 0; l < s.size(); ++l) {
    if (p.skip_layer[l]) continue;
    const Mamba2Weights& w = layers_[l].mixer;
    s[l].conv = at::zeros({batch, c.d_conv - 1, w.conv_w_kc.size(1)}, at::TensorOptions().device(device_).dtype(dtype_));
    if (w.has_ssm && !p.skip_ssm[l])
      s[l].ssm = at::zeros({batch, c.mamba_heads, c.mamba_head_dim, c.d_state},
                           at::TensorOptions().device(device_).dtype(at::kFloat));
    // k / v (the shared block's attention cache) start empty and grow with the sequence.
  }
  return s;
}

Activations Zamba2Model::embed(const at::Tensor& ids, const ForwardPlan&, RecurrentState* state) const {
  Activations a;
  a.ids = checked_ids(ids);
  a.hidden = at::embedding(embedding_, a.ids).to(at::kFloat);
  a.scratch = a.hidden;  // the original embeddings every shared block reads
  a.position = state ? state->position() : 0;
  return a;
}

at::Tensor Zamba2Model::shared_block(const Shared& s, const Use& u, const at::Tensor& h, const at::Tensor& emb,
                                     int64_t position, LayerState* state) const {
  const Zamba2Config& c = cfg_;
  const int64_t B = h.size(0), L = h.size(1), hd = c.attn_head_dim;
  const int64_t nq = s.q_w.size(0) / hd, nkv = s.k_w.size(0) / hd;
  at::Tensor x = ops::rms_norm(at::cat({h, emb}, -1), s.in_norm_w, c.rms_norm_eps);
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
    const RotaryTable r = rotary_table(position, L, hd, c.rope_theta, device_);
    q = apply_rotary(q, r);
    k = apply_rotary(k, r);
  }
  if (state) {
    k = append_to_cache(state->k, k);
    v = append_to_cache(state->v, v);
  }
  AttentionMask mask;
  mask.q_first = k.size(2) - L;  // the cached positions come first
  at::Tensor attn = attend(q, k, v, mask, std::pow(static_cast<double>(hd) / 2.0, -0.5));  // transformers' scaling
  attn = attn.transpose(1, 2).reshape({B, L, nq * hd});
  at::Tensor a = ops::rms_norm(at::linear(attn, s.o_w), s.pre_ff_norm_w, c.rms_norm_eps);
  at::Tensor gu = at::linear(a, s.gate_up_w);
  if (u.mlp_a0.defined()) gu = gu + at::linear(at::linear(a, u.mlp_a0), u.mlp_a1);
  const int64_t I = gu.size(-1) / 2;
  at::Tensor mlp = at::linear(activation(gu.narrow(-1, 0, I), c.hidden_act) * gu.narrow(-1, I, I), s.down_w);
  return at::linear(mlp, u.linear_w);
}

void Zamba2Model::layer(int64_t l, Activations& a, const ForwardPlan& fp, RecurrentState* state) const {
  const Plan& p = zplan(fp);
  const size_t li = static_cast<size_t>(l);
  if (p.skip_layer[li]) return;
  LayerState* ls = state ? &state->layers[li] : nullptr;
  at::Tensor in = a.hidden;
  const int64_t u = use_of_layer_[li];
  if (u >= 0 && !p.skip_use[li]) {
    if (!a.scratch.defined()) a.scratch = at::embedding(embedding_, a.ids).to(at::kFloat);  // resumed from a cache
    const Use& us = p.uses[static_cast<size_t>(u)];
    in = a.hidden + shared_block(p.blocks[static_cast<size_t>(us.block)], us, a.hidden, a.scratch, a.position, ls);
  }
  const Layer& ly = layers_[li];
  a.hidden = a.hidden + mamba2_mixer(ly.mixer, mixer_shape(), ops::rms_norm(in, ly.norm_w, cfg_.rms_norm_eps),
                                     p.skip_ssm[li] != 0, ls, device_);
}

at::Tensor Zamba2Model::head_logits(const at::Tensor& hidden) const {
  at::Tensor h = ops::rms_norm(hidden, final_norm_w_, cfg_.rms_norm_eps, /*round_input=*/false);
  return at::linear(h.to(lm_head_.scalar_type()), lm_head_);
}

}  // namespace shedder
