// Zamba2's config.json (transformers' Zamba2Config, plus the fields our exports add) as the loader reads it:
// every size checked (range and consistency) before anything is allocated from it. No torch: the config fuzz
// target (tests/fuzz) parses it alone.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace shedder {

struct Zamba2Config {
  std::string source;
  int64_t vocab_size = 32000, hidden_size = 2560, num_layers = 54;
  std::vector<char> hybrid;            // per layer
  std::string mamba_type_name = "mamba";  // how the config names non-hybrid layers
  std::vector<int64_t> hybrid_layer_ids;
  std::vector<int64_t> use_block;      // per use (hybrid layer in order): which shared block
  int64_t num_mem_blocks = 1;
  // Per shared block (an export may give blocks different sizes): query heads, KV heads, MLP width.
  std::vector<int64_t> block_heads, block_kv_heads, block_intermediate;
  int64_t num_heads = 32, num_kv_heads = 32, attn_head_dim = 160, intermediate_size = 10240;
  std::string hidden_act = "gelu";
  bool attention_adapter = false;
  int64_t adapter_rank = 128;
  bool use_mem_rope = false;
  double rope_theta = 10000;
  int64_t rotary_dim = 0;
  int64_t d_state = 64, d_conv = 4, n_groups = 1, mamba_heads = 8, mamba_head_dim = 64, mamba_inner = 5120;
  int64_t chunk_size = 256;
  bool use_conv_bias = true, add_bias_linear = false, tie_word_embeddings = true;
  double time_step_min = 0.001, rms_norm_eps = 1e-5;
  std::vector<int64_t> layers_without_ssm;  // "shedder_layers_without_ssm" (export)
  int64_t eos_token_id = 2;  // the end-of-text token (transformers' default 2; joins documents of calibration text)
  nlohmann::json raw;

  static Zamba2Config from_file(const std::string& path);
  // The same from JSON already parsed (`path` names it in messages).
  static Zamba2Config from_json(const nlohmann::json& json, const std::string& path);
};

}  // namespace shedder
