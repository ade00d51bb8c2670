// Hymba export and training slots: the pruned checkpoint of a plan (layers with neither their Hymba block nor an MLP
// dropped and the rest renumbered, every layer written cut to its kept attention groups, SSM heads and channels, the
// fused in_proj rebuilt from its kept parts, K/V reuse groups renumbered; per-layer sizes in our documented fields)
// and the weights that recovery tuning trains.
#include <set>

#include "model/hybrid_util.h"
#include "model/hymba_model.h"
#include "model/hymba_plan.h"

namespace shedder {

namespace {

using Tensors = std::vector<std::pair<std::string, at::Tensor>>;

// A kept layer's Hymba block (attention and/or SSM heads) under `pre`: in_proj is the concatenation of its kept parts.
void append_mixer(Tensors& t, const std::string& pre, const HymbaModel::Layer& w) {
  std::vector<at::Tensor> parts;
  if (w.has_attn) parts.push_back(w.q_w);
  if (!w.kv_groups.empty()) {
    parts.push_back(w.k_w);
    parts.push_back(w.v_w);
  }
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
    const Mamba1Ssm& s = w.ssm;
    t.emplace_back(pre + "mamba.conv1d.weight", s.conv_w_kc.t().unsqueeze(1).contiguous());
    if (s.conv_b.defined()) t.emplace_back(pre + "mamba.conv1d.bias", s.conv_b);
    t.emplace_back(pre + "mamba.x_proj.0.weight", s.x_proj_w);
    t.emplace_back(pre + "mamba.dt_proj.0.weight", s.dt_proj_w);
    t.emplace_back(pre + "mamba.dt_proj.0.bias", s.dt_proj_b);
    t.emplace_back(pre + "mamba.A_log.0", at::log(-s.A_nd).t().contiguous());
    t.emplace_back(pre + "mamba.D.0", s.Dv);
    if (s.dt_norm_w.defined()) {
      t.emplace_back(pre + "mamba.dt_layernorm.weight", s.dt_norm_w);
      t.emplace_back(pre + "mamba.B_layernorm.weight", s.B_norm_w);
      t.emplace_back(pre + "mamba.C_layernorm.weight", s.C_norm_w);
    }
    t.emplace_back(pre + "mamba.pre_avg_layernorm2.weight", w.ln_ssm_w);
  }
  t.emplace_back(pre + "mamba.out_proj.weight", w.out_proj_w);
}

void append_mlp(Tensors& t, const std::string& pre, const HymbaModel::Layer& w) {
  t.emplace_back(pre + "pre_moe_layernorm.weight", w.mlp_norm_w);
  if (w.gate_w.defined()) t.emplace_back(pre + "moe.experts.0.gate_proj.weight", w.gate_w);
  t.emplace_back(pre + "moe.experts.0.up_proj.weight", w.up_w);
  t.emplace_back(pre + "moe.experts.0.down_proj.weight", w.down_w);
}

// What config.json says per kept layer, collected while the tensors are written.
struct LayerFields {
  nlohmann::json groups = nlohmann::json::array(), ssm_heads = nlohmann::json::array(),
                 inter = nlohmann::json::array();
  std::vector<int64_t> no_ssm, no_attn, no_mixer, global;
  bool full = true;  // every kept attention / SSM has all its heads (the reference's fields can say it)
};

void write_config(nlohmann::json& cfg, const LayerFields& f, const HymbaConfig& c, int64_t layers,
                  const nlohmann::json& reuse_groups) {
  cfg["num_hidden_layers"] = layers;
  for (const char* k : {"shedder_attn_groups", "shedder_ssm_heads", "shedder_intermediate_sizes",
                        "shedder_layers_without_ssm", "shedder_layers_without_attn", "shedder_layers_without_mixer",
                        "kv_reuse_every_i_layer"})
    cfg.erase(k);
  cfg["kv_reuse_group"] = reuse_groups;
  if (c.sliding_window > 0) cfg["global_attn_idx"] = f.global;
  if (!f.full) {  // our extension: the reference cannot express per-layer head counts
    cfg["shedder_attn_groups"] = f.groups;
    cfg["shedder_ssm_heads"] = f.ssm_heads;
  }
  std::set<int64_t> widths;
  for (const auto& i : f.inter) widths.insert(i.get<int64_t>());
  if (widths.size() == 1) {
    cfg["intermediate_size"] = *widths.begin();
  } else {
    cfg["shedder_intermediate_sizes"] = f.inter;
  }
  if (!f.no_ssm.empty()) cfg["shedder_layers_without_ssm"] = f.no_ssm;
  if (!f.no_attn.empty()) cfg["shedder_layers_without_attn"] = f.no_attn;
  if (!f.no_mixer.empty()) cfg["shedder_layers_without_mixer"] = f.no_mixer;
}

}  // namespace

PrunedCheckpoint HymbaModel::pruned_checkpoint(const ForwardPlan& fp) const {
  const Plan& p = hplan(fp);
  const HymbaConfig& c = cfg_;
  PrunedCheckpoint out = hybrid_util::checkpoint_with_ends(embedding_, final_norm_w_, lm_head_, c.tie_word_embeddings);
  auto& t = out.tensors;
  if (memory_tokens_.defined()) t.emplace_back("model.memory_tokens", memory_tokens_);
  // A layer with neither its Hymba block nor an MLP left is dropped and the rest renumbered.
  std::vector<int64_t> new_index(layers_.size(), -1);
  int64_t nl = 0;
  for (size_t l = 0; l < layers_.size(); ++l)
    if (p.cut[l].has_mixer || p.cut[l].down_w.defined()) new_index[l] = nl++;
  LayerFields f;
  std::vector<std::vector<int64_t>> reuse(layers_.size());  // per K/V producer: the kept layers reusing its K/V
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    if (new_index[li] < 0) continue;
    const Layer& w = p.cut[li];
    const int64_t nl_i = new_index[li];
    out.layer_map[std::to_string(nl_i)] = l;
    const std::string pre = "model.layers." + std::to_string(nl_i) + ".";
    if (w.has_mixer) {
      if (w.has_attn && c.kv_producer[li] != l) reuse[static_cast<size_t>(c.kv_producer[li])].push_back(nl_i);
      append_mixer(t, pre, w);
      if (!w.has_attn) f.no_attn.push_back(nl_i);
      if (!w.has_ssm) f.no_ssm.push_back(nl_i);
    } else {
      f.no_mixer.push_back(nl_i);
    }
    if (w.down_w.defined()) append_mlp(t, pre, w);
    const std::vector<int64_t> sh = w.has_ssm ? p.ssm_heads[li] : std::vector<int64_t>{};
    f.groups.push_back(w.groups);
    f.ssm_heads.push_back(sh);
    f.full &= (!w.has_attn || w.groups.size() == static_cast<size_t>(c.num_kv_heads)) &&
              (!w.has_ssm || sh.size() == static_cast<size_t>(c.num_heads));
    f.inter.push_back(w.down_w.defined() ? w.down_w.size(1) : 0);
    if (c.sliding_window > 0 && c.is_global(l)) f.global.push_back(nl_i);
  }
  out.layers = nl;
  nlohmann::json reuse_groups = nlohmann::json::array();
  for (size_t l = 0; l < layers_.size(); ++l)
    if (!reuse[l].empty()) {
      std::vector<int64_t> g{new_index[l]};
      g.insert(g.end(), reuse[l].begin(), reuse[l].end());
      reuse_groups.push_back(g);
    }
  out.config = c.raw;
  write_config(out.config, f, c, nl, reuse_groups);
  out.transformers_loadable = false;
  out.note = "Hymba is not part of transformers (its modeling_hymba.py loads the standard fields only)";
  return out;
}

std::vector<WeightSlot> HymbaModel::weight_slots() {
  const HymbaConfig& c = cfg_;
  WeightSlotList s;
  const int64_t K = c.d_conv;
  s.add_embedding_and_head("model.embed_tokens.weight", embedding_, lm_head_, c.tie_word_embeddings);
  s.add("model.final_layernorm.weight", final_norm_w_, false);
  s.add("model.memory_tokens", memory_tokens_, false);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    Layer& L = layers_[static_cast<size_t>(l)];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    // The fused in_proj feeds q, k, v, x and z: one parameter, five slices.
    int64_t o = 0;
    for (at::Tensor* part : {&L.q_w, &L.k_w, &L.v_w, &L.x_w, &L.z_w}) {
      if (!part->defined()) continue;
      const int64_t from = o, n = part->size(0);
      o += n;
      s.add(p + "mamba.in_proj.weight", *part, true, false,
           [from, n](const at::Tensor& w) { return w.narrow(0, from, n); });
    }
    s.add(p + "input_layernorm.weight", L.in_norm_w, false);
    s.add(p + "mamba.self_attn.q_norm.weight", L.q_norm_w, false);
    s.add(p + "mamba.self_attn.k_norm.weight", L.k_norm_w, false);
    s.add(p + "mamba.pre_avg_layernorm1.weight", L.ln_attn_w, false);
    s.add(p + "mamba.conv1d.weight", L.ssm.conv_w_kc, true, false,
         WeightSlotList::conv_from_stored(K));
    s.add(p + "mamba.conv1d.bias", L.ssm.conv_b, false);
    s.add(p + "mamba.x_proj.0.weight", L.ssm.x_proj_w, true);
    s.add(p + "mamba.dt_proj.0.weight", L.ssm.dt_proj_w, true);
    s.add(p + "mamba.dt_proj.0.bias", L.ssm.dt_proj_b, false);
    s.add(p + "mamba.A_log.0", L.ssm.A_nd, false, false, [](const at::Tensor& a) { return (-at::exp(a)).t().contiguous(); });
    s.add(p + "mamba.D.0", L.ssm.Dv, false);
    s.add(p + "mamba.dt_layernorm.weight", L.ssm.dt_norm_w, false);
    s.add(p + "mamba.B_layernorm.weight", L.ssm.B_norm_w, false);
    s.add(p + "mamba.C_layernorm.weight", L.ssm.C_norm_w, false);
    s.add(p + "mamba.pre_avg_layernorm2.weight", L.ln_ssm_w, false);
    s.add(p + "mamba.out_proj.weight", L.out_proj_w, true);
    s.add(p + "pre_moe_layernorm.weight", L.mlp_norm_w, false);
    // LoRA targets: the reference's recovery list (q_proj, k_proj, v_proj, o_proj, down_proj, up_proj, gate_proj,
    // matched as PEFT matches module names) finds the MLPs' projections in Hymba (its attention is in in_proj).
    s.add(p + "moe.experts.0.gate_proj.weight", L.gate_w, true, true);
    s.add(p + "moe.experts.0.up_proj.weight", L.up_w, true, true);
    s.add(p + "moe.experts.0.down_proj.weight", L.down_w, true, true);
  }
  return s.take();
}

}  // namespace shedder
