// Parsing and validation of Hymba's config.json (see hymba_config.h).
#include "model/hymba_config.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "model/hybrid_config.h"
#include "util/error.h"
#include "util/json_util.h"

namespace shedder {

namespace {

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  return v;
}

std::vector<std::vector<int64_t>> per_layer_lists(const nlohmann::json& j, const char* key, int64_t layers,
                                                  const std::vector<int64_t>& def, const std::string& src) {
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(layers), def);
  if (!j.contains(key) || j[key].is_null()) return out;
  if (!j[key].is_array() || static_cast<int64_t>(j[key].size()) != layers)
    throw Error(src + ": \"" + key + "\" must hold one list per layer");
  for (size_t l = 0; l < out.size(); ++l) {
    out[l].clear();
    if (!j[key][l].is_array()) throw Error(src + ": \"" + key + "\" must hold lists of integers");
    for (const auto& x : j[key][l]) {
      if (!x.is_number_integer() || (x.is_number_unsigned() && x.get<uint64_t>() > (uint64_t{1} << 40)))
        throw Error(src + ": \"" + key + "\" must hold lists of integers");
      out[l].push_back(x.get<int64_t>());
    }
  }
  return out;
}

}  // namespace

HymbaConfig HymbaConfig::from_file(const std::string& path) { return from_json(read_json_file_lenient(path), path); }

HymbaConfig HymbaConfig::from_json(const nlohmann::json& json, const std::string& path) {
  HymbaConfig c;
  read_common_config(c, json, path);
  const nlohmann::json& j = c.raw;
  const JsonFields f(j, path);
  c.num_heads = f.integer("num_attention_heads", c.num_heads, 1, kHybridMaxHeads);
  c.num_kv_heads = f.integer("num_key_value_heads", c.num_kv_heads, 1, kHybridMaxHeads);
  if (c.num_heads < 1 || c.num_kv_heads < 1 || c.num_heads > 4096 || c.num_heads % c.num_kv_heads != 0 ||
      c.hidden_size % c.num_heads != 0)
    throw Error(path + ": num_attention_heads must divide hidden_size and be a multiple of num_key_value_heads");
  if (f.integer("attn_hidden_size", -1) > 0 && f.integer("attn_hidden_size", -1) != c.hidden_size)
    throw Error(path + ": attn_hidden_size different from hidden_size is not supported");
  c.q_head_dim = f.integer("kq_head_dim", -1);
  if (c.q_head_dim <= 0) c.q_head_dim = c.hidden_size / c.num_heads;
  if (c.q_head_dim != c.hidden_size / c.num_heads) throw Error(path + ": kq_head_dim other than hidden/heads is not supported");
  c.inner = hybrid_inner_width(f.number("mamba_expand", 2, 0, 64), c.hidden_size, path);
  if (c.inner % c.num_heads != 0) throw Error(path + ": mamba_expand * hidden_size must divide into the heads");
  c.v_head_dim = c.inner / c.num_heads;
  c.d_state = f.integer("mamba_d_state", 16, 1, 1 << 14);
  c.d_conv = f.integer("mamba_d_conv", 4, 1, 1024);
  if (f.has("mamba_dt_rank") && j["mamba_dt_rank"].is_string())
    c.dt_rank = (c.hidden_size + 15) / 16;
  else
    c.dt_rank = f.integer("mamba_dt_rank", (c.hidden_size + 15) / 16, 1, 1 << 17);
  if (c.d_state < 1 || c.d_conv < 1 || c.dt_rank < 1 || c.q_head_dim % 2 != 0)
    throw Error(path + ": mamba_d_state, mamba_d_conv and mamba_dt_rank must be positive and the head size even");
  c.conv_bias = f.boolean("mamba_conv_bias", true);
  if (f.boolean("mamba_proj_bias", false)) throw Error(path + ": mamba_proj_bias = true is not supported");
  c.inner_layernorms = f.boolean("mamba_inner_layernorms", true);
  c.intermediate_size = f.integer("intermediate_size", c.intermediate_size, 0, kHybridMaxWidth);
  c.mlp_act = f.string("mlp_hidden_act", "silu");
  if (c.mlp_act != "silu" && c.mlp_act != "relu2") throw Error(path + ": unsupported mlp_hidden_act \"" + c.mlp_act + "\"");
  const std::string act = f.string("hidden_act", "silu");
  if (act != "silu" && act != "swish") throw Error(path + ": unsupported hidden_act \"" + act + "\" (the conv uses silu)");
  if (f.boolean("kv_weight_reuse", false)) throw Error(path + ": kv_weight_reuse = true is not supported");
  if (f.integer("num_experts", 1) != 1) throw Error(path + ": mixture-of-experts MLPs (num_experts > 1) are not supported");
  c.rms_norm_eps = f.number("rms_norm_eps", 1e-6, 0, 1);
  c.num_memory_tokens = f.integer("num_memory_tokens", 0, 0, 1 << 16);
  if (f.integer("memory_tokens_interspersed_every", 0) > 0)
    throw Error(path + ": memory_tokens_interspersed_every > 0 is not supported");
  c.sliding_window = f.integer("sliding_window", 0, 0, std::numeric_limits<int64_t>::max() / 2);
  c.global_attn_idx = f.integers("global_attn_idx", 0, c.num_layers - 1);
  c.kq_norm = f.string("kq_norm", "none");
  if (c.kq_norm != "none" && c.kq_norm != "rms" && c.kq_norm != "perhead-rms")
    throw Error(path + ": unknown kq_norm \"" + c.kq_norm + "\"");
  c.rope = f.boolean("rope", true);
  const double theta = f.number("rope_theta", 10000, 1e-6, 1e30);
  const std::string rope_type = f.string("rope_type", "default");
  c.rope_base = theta;
  if (rope_type == "ntk") {
    const double maxp = f.number("max_position_embeddings", 2048, 1, 1e12);
    const double orig = f.number("orig_max_position_embeddings", maxp, 1, maxp);
    const double d = static_cast<double>(c.q_head_dim);
    if (d <= 2) throw Error(path + ": rope_type \"ntk\" needs a head size above 2");
    c.rope_base = theta * std::pow(2.0 * maxp / orig - 1.0, d / (d - 2.0));
  } else if (rope_type != "default" && rope_type != "dynamic_ntk") {  // dynamic_ntk: default below the original length
    throw Error(path + ": unsupported rope_type \"" + rope_type + "\"");
  }
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", true);
  // K/V reuse: kv_reuse_group [[producer, consumer...], ...] or every i-th layer makes its own.
  c.kv_producer = iota(c.num_layers);
  if (f.has("kv_reuse_group")) {
    if (!j["kv_reuse_group"].is_array()) throw Error(path + ": \"kv_reuse_group\" must be a list of layer lists");
    for (const auto& g : j["kv_reuse_group"]) {
      if (!g.is_array() || g.empty()) throw Error(path + ": \"kv_reuse_group\" must be a list of layer lists");
      std::vector<int64_t> ls;
      for (const auto& x : g) {
        const bool ok = x.is_number_unsigned() ? x.get<uint64_t>() < static_cast<uint64_t>(c.num_layers)
                                               : x.is_number_integer() && x.get<int64_t>() >= 0 && x.get<int64_t>() < c.num_layers;
        if (!ok) throw Error(path + ": \"kv_reuse_group\" names a layer that does not exist");
        ls.push_back(x.get<int64_t>());
      }
      for (size_t k = 1; k < ls.size(); ++k) {
        if (ls[k] <= ls[0]) throw Error(path + ": \"kv_reuse_group\": a consumer must come after its producer");
        c.kv_producer[static_cast<size_t>(ls[k])] = ls[0];
      }
    }
  } else if (f.integer("kv_reuse_every_i_layer", -1, -1, 4096) > 0) {
    const int64_t every = f.integer("kv_reuse_every_i_layer", -1, -1, 4096);
    for (int64_t l = 0; l < c.num_layers; ++l) c.kv_producer[static_cast<size_t>(l)] = l - l % every;
  }
  c.kept_groups = per_layer_lists(j, "shedder_attn_groups", c.num_layers, iota(c.num_kv_heads), path);
  c.kept_ssm_heads = per_layer_lists(j, "shedder_ssm_heads", c.num_layers, iota(c.num_heads), path);
  c.layer_intermediate = std::vector<int64_t>(static_cast<size_t>(c.num_layers), c.intermediate_size);
  if (f.has("shedder_intermediate_sizes")) {
    c.layer_intermediate = f.integers("shedder_intermediate_sizes", 0, kHybridMaxWidth);
    if (static_cast<int64_t>(c.layer_intermediate.size()) != c.num_layers)
      throw Error(path + ": \"shedder_intermediate_sizes\" must have one entry per layer");
  }
  c.layers_without_ssm = f.integers("shedder_layers_without_ssm", 0, c.num_layers - 1);
  c.layers_without_attn = f.integers("shedder_layers_without_attn", 0, c.num_layers - 1);
  c.layers_without_mixer = f.integers("shedder_layers_without_mixer", 0, c.num_layers - 1);
  for (size_t l = 0; l < c.kept_groups.size(); ++l) {
    for (int64_t g : c.kept_groups[l])
      if (g < 0 || g >= c.num_kv_heads) throw Error(path + ": \"shedder_attn_groups\" names KV group " + std::to_string(g));
    for (int64_t h : c.kept_ssm_heads[l])
      if (h < 0 || h >= c.num_heads) throw Error(path + ": \"shedder_ssm_heads\" names SSM head " + std::to_string(h));
  }
  return c;
}

bool HymbaConfig::is_global(int64_t layer) const {
  return sliding_window <= 0 || std::find(global_attn_idx.begin(), global_attn_idx.end(), layer) != global_attn_idx.end();
}

}  // namespace shedder
