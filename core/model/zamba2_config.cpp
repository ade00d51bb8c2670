// Parsing and validation of Zamba2's config.json (see zamba2_config.h).
#include "model/zamba2_config.h"

#include "model/hybrid_config.h"
#include "util/error.h"
#include "util/json_util.h"

namespace shedder {

Zamba2Config Zamba2Config::from_file(const std::string& path) { return from_json(read_json_file_lenient(path), path); }

Zamba2Config Zamba2Config::from_json(const nlohmann::json& json, const std::string& path) {
  Zamba2Config c;
  read_common_config(c, json, path);
  const nlohmann::json& j = c.raw;
  const JsonFields f(j, path);
  if (!j.contains("layers_block_type") || !j["layers_block_type"].is_array() ||
      static_cast<int64_t>(j["layers_block_type"].size()) != c.num_layers)
    throw Error(path + ": \"layers_block_type\" must list one type per layer (" + std::to_string(c.num_layers) + ")");
  for (const auto& t : j["layers_block_type"]) {
    const std::string s = t.is_string() ? t.get<std::string>() : "";
    if (s == "hybrid" || s == "g") {
      c.hybrid.push_back(1);
    } else if (s == "mamba" || s == "linear_attention" || s == "m") {
      c.hybrid.push_back(0);
      c.mamba_type_name = s;
    } else {
      throw Error(path + ": unknown layer type " + t.dump() + " in \"layers_block_type\" (expected \"mamba\" or \"hybrid\")");
    }
  }
  for (int64_t i = 0; i < c.num_layers; ++i)
    if (c.hybrid[static_cast<size_t>(i)]) c.hybrid_layer_ids.push_back(i);
  c.num_mem_blocks = f.integer("num_mem_blocks", 1, 1, 4096);
  if (c.num_mem_blocks < 1 || c.num_mem_blocks > 4096) throw Error(path + ": \"num_mem_blocks\" must be in 1..4096");
  c.num_heads = f.integer("num_attention_heads", 32, 1, kHybridMaxHeads);
  c.num_kv_heads = f.integer("num_key_value_heads", c.num_heads, 1, kHybridMaxHeads);
  if (c.num_heads < 1 || c.num_kv_heads < 1 || c.num_heads > 4096 || c.num_heads % c.num_kv_heads != 0)
    throw Error(path + ": num_attention_heads must be a positive multiple of num_key_value_heads");
  c.attn_head_dim = f.integer("attention_head_dim", 2 * c.hidden_size / c.num_heads, 0, 1 << 14);
  if (c.attn_head_dim < 2 || c.attn_head_dim % 2 != 0) throw Error(path + ": \"attention_head_dim\" must be a positive even number");
  c.intermediate_size = f.integer("intermediate_size", 4 * c.hidden_size, 1, kHybridMaxWidth);
  if (c.intermediate_size < 1) throw Error(path + ": \"intermediate_size\" must be positive");
  c.hidden_act = f.string("hidden_act", "gelu");
  if (c.hidden_act != "gelu" && c.hidden_act != "gelu_pytorch_tanh" && c.hidden_act != "gelu_new" &&
      c.hidden_act != "silu" && c.hidden_act != "swish" && c.hidden_act != "relu")
    throw Error(path + ": unsupported hidden_act \"" + c.hidden_act + "\"");
  c.attention_adapter = f.boolean("use_shared_attention_adapter", false);
  c.adapter_rank = f.integer("adapter_rank", 128, 1, 1 << 14);
  c.use_mem_rope = f.boolean("use_mem_rope", false);
  if (f.has("rope_parameters") && j["rope_parameters"].is_object()) {
    const JsonFields rope(j["rope_parameters"], path + ": rope_parameters");
    c.rope_theta = rope.number("rope_theta", 10000, 1e-6, 1e30);
    const std::string type = rope.string("rope_type", "default");
    if (c.use_mem_rope && type != "default") throw Error(path + ": rope_type \"" + type + "\" is not supported");
  } else {
    c.rope_theta = f.number("rope_theta", 10000, 1e-6, 1e30);
  }
  c.rotary_dim = f.integer("head_dim", c.attn_head_dim, 0, 1 << 14);
  if (c.use_mem_rope && c.rotary_dim != c.attn_head_dim)
    throw Error(path + ": RoPE over " + std::to_string(c.rotary_dim) + " of " + std::to_string(c.attn_head_dim) +
                " head dimensions is not supported (transformers cannot run it either)");
  c.d_state = f.integer("mamba_d_state", 64, 1, 1 << 14);
  c.d_conv = f.integer("mamba_d_conv", 4, 1, 1024);
  c.n_groups = f.integer("mamba_ngroups", 1, 1, kHybridMaxHeads);
  c.mamba_heads = f.integer("n_mamba_heads", 8, 1, kHybridMaxWidth);
  c.mamba_inner = hybrid_inner_width(f.number("mamba_expand", 2, 0, 64), c.hidden_size, path);
  if (c.mamba_heads < 1 || c.mamba_inner % c.mamba_heads != 0 || c.n_groups < 1 || c.mamba_heads % c.n_groups != 0 ||
      c.mamba_inner % c.n_groups != 0 || c.d_conv < 1 || c.d_state < 1)
    throw Error(path + ": inconsistent Mamba sizes (mamba_expand * hidden_size must divide into n_mamba_heads and "
                "mamba_ngroups)");
  c.mamba_head_dim = c.mamba_inner / c.mamba_heads;
  c.chunk_size = f.integer("chunk_size", 256, 1, 1 << 20);
  c.use_conv_bias = f.boolean("use_conv_bias", true);
  c.add_bias_linear = f.boolean("add_bias_linear", false);
  if (c.add_bias_linear) throw Error(path + ": add_bias_linear = true is not supported");
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", true);
  c.time_step_min = f.number("time_step_min", 0.001, 0, 1e6);
  c.rms_norm_eps = f.number("rms_norm_eps", 1e-5, 0, 1);
  c.layers_without_ssm = f.integers("shedder_layers_without_ssm", 0, c.num_layers - 1);
  // Which block each use runs: transformers cycles through the blocks; an export may record another mapping.
  c.use_block = f.integers("shedder_use_blocks", 0, c.num_mem_blocks - 1);
  if (c.use_block.empty()) {
    for (size_t u = 0; u < c.hybrid_layer_ids.size(); ++u) c.use_block.push_back(static_cast<int64_t>(u) % c.num_mem_blocks);
  } else if (c.use_block.size() != c.hybrid_layer_ids.size()) {
    throw Error(path + ": \"shedder_use_blocks\" must have one entry per hybrid layer");
  }
  c.block_heads.assign(static_cast<size_t>(c.num_mem_blocks), c.num_heads);
  c.block_kv_heads.assign(static_cast<size_t>(c.num_mem_blocks), c.num_kv_heads);
  c.block_intermediate.assign(static_cast<size_t>(c.num_mem_blocks), c.intermediate_size);
  if (j.contains("shedder_shared_blocks")) {
    const auto& sb = j["shedder_shared_blocks"];
    if (!sb.is_array() || static_cast<int64_t>(sb.size()) != c.num_mem_blocks)
      throw Error(path + ": \"shedder_shared_blocks\" must have one entry per shared block (num_mem_blocks)");
    for (size_t b = 0; b < sb.size(); ++b) {
      const JsonFields bf(sb[b], path + ": shedder_shared_blocks[" + std::to_string(b) + "]");
      c.block_heads[b] = bf.integer("num_attention_heads", c.num_heads, 1, kHybridMaxHeads);
      c.block_kv_heads[b] = bf.integer("num_key_value_heads", c.num_kv_heads, 1, kHybridMaxHeads);
      c.block_intermediate[b] = bf.integer("intermediate_size", c.intermediate_size, 1, kHybridMaxWidth);
      if (c.block_kv_heads[b] < 1 || c.block_heads[b] % c.block_kv_heads[b] != 0 || c.block_intermediate[b] < 1 ||
          c.block_heads[b] / c.block_kv_heads[b] != c.num_heads / c.num_kv_heads)
        throw Error(path + ": \"shedder_shared_blocks\"[" + std::to_string(b) + "] has inconsistent head counts");
    }
  }
  return c;
}

}  // namespace shedder
