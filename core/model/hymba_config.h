// Hymba's config.json (nvidia/Hymba-1.5B-Base's HymbaConfig, plus the fields our exports add) as the loader
// reads it: every size checked (range and consistency) before anything is allocated from it. No torch: the
// config fuzz target (tests/fuzz) parses it alone.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace shedder {

struct HymbaConfig {
  std::string source;
  int64_t vocab_size = 32001, hidden_size = 1600, num_layers = 32;
  int64_t num_heads = 25, num_kv_heads = 5, q_head_dim = 64, v_head_dim = 128;
  int64_t inner = 3200, d_state = 16, d_conv = 4, dt_rank = 100;
  bool conv_bias = true, inner_layernorms = true;
  int64_t intermediate_size = 5504;  // MLP; 0: no MLP
  std::string mlp_act = "silu";      // "silu" (gated) or "relu2"
  double rms_norm_eps = 1e-6;
  int64_t num_memory_tokens = 0;
  int64_t sliding_window = 0;        // 0: every layer global
  std::vector<int64_t> global_attn_idx;
  std::vector<int64_t> kv_producer;  // per layer: the layer whose K/V it uses (itself when it makes its own)
  std::string kq_norm = "none";      // "none", "rms", "perhead-rms"
  bool rope = true;
  double rope_base = 10000;          // after the ntk adjustment
  bool tie_word_embeddings = true;
  // Export bookkeeping (our extension fields): per layer, the kept attention KV groups / SSM heads / MLP width,
  // and the layers whose SSM branch was removed.
  std::vector<std::vector<int64_t>> kept_groups, kept_ssm_heads;
  std::vector<int64_t> layer_intermediate;
  std::vector<int64_t> layers_without_ssm, layers_without_attn, layers_without_mixer;
  int64_t eos_token_id = 2;  // the end-of-text token (transformers' default 2; joins documents of calibration text)
  nlohmann::json raw;

  static HymbaConfig from_file(const std::string& path);
  // The same from JSON already parsed (`path` names it in messages).
  static HymbaConfig from_json(const nlohmann::json& json, const std::string& path);
  bool is_global(int64_t layer) const;
};

}  // namespace shedder
