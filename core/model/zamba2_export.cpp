// Zamba2 export and training slots: the pruned checkpoint of a plan (removed layers dropped and the rest renumbered,
// dead SSM weights dropped, shared blocks written cut to their kept heads and channels, with the adapters of every
// kept use; config.json in transformers' fields where they can say it, else the documented extra fields) and the
// weights that recovery tuning trains.
#include <algorithm>
#include <set>

#include "model/hybrid_util.h"
#include "model/zamba2_model.h"
#include "model/zamba2_plan.h"

namespace shedder {

namespace {

using Tensors = std::vector<std::pair<std::string, at::Tensor>>;
using KeptUses = std::vector<std::pair<int64_t, int64_t>>;  // (new layer, old use) of the hybrid layers kept

// A kept Mamba-2 layer under `pre`; without its SSM, the SSM's dead weights go (the B/C/dt rows of in_proj, the B/C
// conv channels, dt_bias, A_log and D).
void append_mamba_layer(Tensors& t, const std::string& pre, const Zamba2Model::Layer& layer, bool ssm, int64_t D) {
  const Mamba2Weights& m = layer.mixer;
  at::Tensor in_proj = m.in_proj_w, conv = m.conv_w_kc.t().unsqueeze(1).contiguous(), conv_b = m.conv_b;
  if (m.has_ssm && !ssm) {
    in_proj = in_proj.narrow(0, 0, 2 * D);
    conv = conv.narrow(0, 0, D);
    if (conv_b.defined()) conv_b = conv_b.narrow(0, 0, D);
  }
  t.emplace_back(pre + "input_layernorm.weight", layer.norm_w);
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
}

// Every hybrid layer stores its block's weights and the adapters of every use of that block (as transformers).
void append_shared_uses(Tensors& t, const Zamba2Model::Plan& p, const KeptUses& kept_uses) {
  for (const auto& [layer, u] : kept_uses) {
    const Zamba2Model::Use& us = p.uses[static_cast<size_t>(u)];
    const Zamba2Model::Shared& s = p.blocks[static_cast<size_t>(us.block)];
    const std::string lp = "model.layers." + std::to_string(layer) + ".";
    const std::string sp = lp + "shared_transformer.";
    t.emplace_back(lp + "linear.weight", us.linear_w);
    t.emplace_back(sp + "input_layernorm.weight", s.in_norm_w);
    t.emplace_back(sp + "pre_ff_layernorm.weight", s.pre_ff_norm_w);
    t.emplace_back(sp + "self_attn.q_proj.weight", s.q_w);
    t.emplace_back(sp + "self_attn.k_proj.weight", s.k_w);
    t.emplace_back(sp + "self_attn.v_proj.weight", s.v_w);
    t.emplace_back(sp + "self_attn.o_proj.weight", s.o_w);
    t.emplace_back(sp + "feed_forward.gate_up_proj.weight", s.gate_up_w);
    t.emplace_back(sp + "feed_forward.down_proj.weight", s.down_w);
    for (size_t j = 0; j < kept_uses.size(); ++j) {
      const Zamba2Model::Use& o = p.uses[static_cast<size_t>(kept_uses[j].second)];
      if (o.block != us.block) continue;
      const std::string jj = std::to_string(j);
      if (o.q_a0.defined()) {
        const std::string ap = sp + "self_attn.linear_";
        t.emplace_back(ap + "q_adapter_list." + jj + ".0.weight", o.q_a0);
        t.emplace_back(ap + "q_adapter_list." + jj + ".1.weight", o.q_a1);
        t.emplace_back(ap + "k_adapter_list." + jj + ".0.weight", o.k_a0);
        t.emplace_back(ap + "k_adapter_list." + jj + ".1.weight", o.k_a1);
        t.emplace_back(ap + "v_adapter_list." + jj + ".0.weight", o.v_a0);
        t.emplace_back(ap + "v_adapter_list." + jj + ".1.weight", o.v_a1);
      }
      if (o.mlp_a0.defined()) {
        const std::string mp = sp + "feed_forward.gate_up_proj_adapter_list." + jj;
        t.emplace_back(mp + ".0.weight", o.mlp_a0);
        t.emplace_back(mp + ".1.weight", o.mlp_a1);
      }
    }
  }
}

// The kept shared blocks' sizes in config.json: the standard fields when all blocks agree, else per block (our
// field). Returns whether transformers would derive other sizes from the standard fields.
bool write_block_sizes(nlohmann::json& cfg, const Zamba2Config& c, const Zamba2Model::Plan& p,
                       const std::vector<Zamba2Model::Shared>& shared) {
  nlohmann::json sizes = nlohmann::json::array();
  std::set<std::string> distinct;
  for (size_t k = 0; k < shared.size(); ++k) {
    if (!p.block_alive[k]) continue;
    const int64_t rep = shared[k].heads / shared[k].kv_heads, kv = static_cast<int64_t>(p.kv_kept[k].size());
    nlohmann::json e{{"num_attention_heads", rep * kv}, {"num_key_value_heads", kv},
                     {"intermediate_size", static_cast<int64_t>(p.ch_kept[k].size())}};
    distinct.insert(e.dump());
    sizes.push_back(e);
  }
  bool heads_changed = false;
  if (distinct.size() == 1) {
    const nlohmann::json& e = sizes[0];
    cfg["intermediate_size"] = e["intermediate_size"];
    if (e["num_attention_heads"] != c.num_heads) {  // transformers derives the head dim from the head count
      cfg["num_attention_heads"] = e["num_attention_heads"];
      cfg["num_key_value_heads"] = e["num_key_value_heads"];
      heads_changed = true;
    }
  } else if (distinct.size() > 1) {
    cfg["shedder_shared_blocks"] = sizes;
  }
  cfg["attention_head_dim"] = c.attn_head_dim;
  return heads_changed || distinct.size() > 1;
}

}  // namespace

PrunedCheckpoint Zamba2Model::pruned_checkpoint(const ForwardPlan& fp) const {
  const Plan& p = zplan(fp);
  const Zamba2Config& c = cfg_;
  PrunedCheckpoint out = hybrid_util::checkpoint_with_ends(embedding_, final_norm_w_, lm_head_, c.tie_word_embeddings);
  auto& t = out.tensors;

  // Surviving blocks renumbered; each keeps its kept heads / channels.
  std::vector<int64_t> new_block(shared_.size(), -1);
  int64_t nb = 0;
  for (size_t k = 0; k < shared_.size(); ++k)
    if (p.block_alive[k]) new_block[k] = nb++;
  nlohmann::json types = nlohmann::json::array();
  std::vector<int64_t> use_blocks, no_ssm;
  KeptUses kept_uses;
  int64_t nl = 0;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    if (p.skip_layer[li]) continue;
    const int64_t u = use_of_layer_[li];
    const bool hyb = u >= 0 && !p.skip_use[li];
    types.push_back(hyb ? "hybrid" : c.mamba_type_name);
    const bool ssm = layers_[li].mixer.has_ssm && !p.skip_ssm[li];
    if (!ssm) no_ssm.push_back(nl);
    append_mamba_layer(t, "model.layers." + std::to_string(nl) + (hyb ? ".mamba_decoder." : "."), layers_[li], ssm,
                       c.mamba_inner);
    if (hyb) {
      kept_uses.emplace_back(nl, u);
      use_blocks.push_back(new_block[static_cast<size_t>(uses_[static_cast<size_t>(u)].block)]);
    }
    out.layer_map[std::to_string(nl)] = l;
    ++nl;
  }
  append_shared_uses(t, p, kept_uses);
  out.layers = nl;

  nlohmann::json& cfg = out.config = c.raw;
  cfg["num_hidden_layers"] = nl;
  cfg["layers_block_type"] = types;
  nlohmann::json hyb_ids = nlohmann::json::array();
  for (const auto& ku : kept_uses) hyb_ids.push_back(ku.first);
  cfg["hybrid_layer_ids"] = hyb_ids;
  cfg["num_mem_blocks"] = std::max<int64_t>(nb, 1);
  for (const char* f : {"shedder_layers_without_ssm", "shedder_use_blocks", "shedder_shared_blocks", "shedder_note"})
    cfg.erase(f);
  if (!no_ssm.empty()) cfg["shedder_layers_without_ssm"] = no_ssm;
  bool cyclic = true;
  for (size_t j = 0; j < use_blocks.size(); ++j) cyclic &= use_blocks[j] == static_cast<int64_t>(j) % std::max<int64_t>(nb, 1);
  if (!cyclic) cfg["shedder_use_blocks"] = use_blocks;
  std::vector<std::string> why;
  if (write_block_sizes(cfg, c, p, shared_))
    why.push_back("attention heads or MLP widths differ from what transformers derives from config.json");
  if (!no_ssm.empty()) why.push_back("layers without SSM (shedder_layers_without_ssm)");
  if (!cyclic) why.push_back("shared blocks no longer used in turn (shedder_use_blocks)");
  out.transformers_loadable = why.empty();
  for (const auto& w : why) out.note += (out.note.empty() ? "" : "; ") + w;
  if (!out.transformers_loadable)
    cfg["shedder_note"] = "transformers cannot load this folder (" + out.note + "); shedder-cli can";
  return out;
}

std::vector<WeightSlot> Zamba2Model::weight_slots() {
  const Zamba2Config& c = cfg_;
  WeightSlotList s;
  const int64_t K = c.d_conv;
  s.add_embedding_and_head("model.embed_tokens.weight", embedding_, lm_head_, c.tie_word_embeddings);
  s.add("model.final_layernorm.weight", final_norm_w_, false);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const size_t li = static_cast<size_t>(l);
    Layer& ly = layers_[li];
    const std::string p = "model.layers." + std::to_string(l) + (use_of_layer_[li] >= 0 ? ".mamba_decoder." : ".");
    s.add(p + "input_layernorm.weight", ly.norm_w, false);
    s.add(p + "mamba.in_proj.weight", ly.mixer.in_proj_w, true);
    s.add(p + "mamba.conv1d.weight", ly.mixer.conv_w_kc, true, false,
         WeightSlotList::conv_from_stored(K));
    s.add(p + "mamba.conv1d.bias", ly.mixer.conv_b, false);
    s.add(p + "mamba.dt_bias", ly.mixer.dt_bias, false);
    s.add(p + "mamba.A_log", ly.mixer.A_h, false, false, [](const at::Tensor& a) { return -at::exp(a); });
    s.add(p + "mamba.D", ly.mixer.Dv, false);
    s.add(p + "mamba.norm.weight", ly.mixer.gnorm_w, false);
    s.add(p + "mamba.out_proj.weight", ly.mixer.out_proj_w, true);
  }
  for (size_t k = 0; k < shared_.size(); ++k) {
    Shared& sh = shared_[k];
    int64_t layer = -1;
    for (size_t u = 0; u < c.use_block.size() && layer < 0; ++u)
      if (c.use_block[u] == static_cast<int64_t>(k)) layer = c.hybrid_layer_ids[u];
    if (layer < 0) continue;
    const std::string p = "model.layers." + std::to_string(layer) + ".shared_transformer.";
    s.add(p + "input_layernorm.weight", sh.in_norm_w, false);
    // LoRA targets: the reference's recovery list (q_proj, k_proj, v_proj, o_proj, down_proj, up_proj, gate_proj,
    // matched as PEFT matches module names) finds the shared blocks' attention projections and down_proj.
    s.add(p + "self_attn.q_proj.weight", sh.q_w, true, true);
    s.add(p + "self_attn.k_proj.weight", sh.k_w, true, true);
    s.add(p + "self_attn.v_proj.weight", sh.v_w, true, true);
    s.add(p + "self_attn.o_proj.weight", sh.o_w, true, true);
    s.add(p + "pre_ff_layernorm.weight", sh.pre_ff_norm_w, false);
    s.add(p + "feed_forward.gate_up_proj.weight", sh.gate_up_w, true);
    s.add(p + "feed_forward.down_proj.weight", sh.down_w, true, true);
  }
  for (size_t u = 0; u < uses_.size(); ++u) {
    Use& us = uses_[u];
    const std::string lp = "model.layers." + std::to_string(c.hybrid_layer_ids[u]) + ".";
    s.add(lp + "linear.weight", us.linear_w, true);
    auto where = [&](const std::string& suffix) { return us.adapters_at + suffix; };
    const std::string j = std::to_string(u);
    s.add(where("self_attn.linear_q_adapter_list." + j + ".0.weight"), us.q_a0, true);
    s.add(where("self_attn.linear_q_adapter_list." + j + ".1.weight"), us.q_a1, true);
    s.add(where("self_attn.linear_k_adapter_list." + j + ".0.weight"), us.k_a0, true);
    s.add(where("self_attn.linear_k_adapter_list." + j + ".1.weight"), us.k_a1, true);
    s.add(where("self_attn.linear_v_adapter_list." + j + ".0.weight"), us.v_a0, true);
    s.add(where("self_attn.linear_v_adapter_list." + j + ".1.weight"), us.v_a1, true);
    s.add(where("feed_forward.gate_up_proj_adapter_list." + j + ".0.weight"), us.mlp_a0, true);
    s.add(where("feed_forward.gate_up_proj_adapter_list." + j + ".1.weight"), us.mlp_a1, true);
  }
  return s.take();
}

}  // namespace shedder
