// Architecture hyper-parameters of a Mamba-family checkpoint, read from config.json in either the
// Hugging Face layout (MambaForCausalLM / Mamba2ForCausalLM) or the original mamba_ssm layout
// (d_model, n_layer, ssm_cfg, ...). Missing fields take the `transformers` defaults.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "util/json_util.h"

namespace shedder {

enum class Arch { Mamba1, Mamba2 };
const char* arch_name(Arch a);  // "mamba" / "mamba2"

// Which on-disk naming the weights use.
enum class WeightLayout { HuggingFace, MambaSsm };

struct ModelConfig {
  Arch arch = Arch::Mamba1;
  WeightLayout layout = WeightLayout::HuggingFace;
  std::string source;  // file the config was read from (for messages)

  int64_t vocab_size = 50280;   // as written in the config
  int64_t padded_vocab = 50280; // rows of the embedding (vocab padded to pad_vocab_size_multiple)
  int64_t hidden_size = 768;
  int64_t num_layers = 32;
  int64_t state_size = 16;
  double expand = 2;
  int64_t intermediate_size = 1536;
  int64_t conv_kernel = 4;
  int64_t time_step_rank = 48;  // Mamba-1 only
  bool use_bias = false;
  bool use_conv_bias = true;
  bool residual_in_fp32 = true;
  bool tie_word_embeddings = true;
  double layer_norm_epsilon = 1e-5;
  std::string hidden_act = "silu";
  int64_t pad_token_id = 0, bos_token_id = 0, eos_token_id = 0;

  // Mamba-2 only.
  int64_t num_heads = 128;
  int64_t head_dim = 64;
  int64_t n_groups = 8;
  int64_t chunk_size = 256;
  double time_step_limit_min = 0.0;
  double time_step_limit_max = 0.0;  // set to +inf by the parser
  // Groups of the gated RMSNorm: 1 in transformers (norm over the whole inner dim); mamba_ssm
  // normalises each of its n_groups groups separately.
  int64_t norm_groups = 1;

  // Layers whose SSM was physically removed by an export (documented extra field
  // "shedder_layers_without_ssm"); their dead SSM weights are absent from the checkpoint.
  std::vector<int64_t> layers_without_ssm;

  // Per-layer mixer sizes of a checkpoint whose layers were cut unequally by an export (documented extra field
  // "shedder_layer_sizes", one object per layer; model/mamba_width.h): Mamba-2 {"group_heads": [heads of each B/C
  // group], "state_size"}, Mamba-1 {"intermediate_size", "state_size"}. Empty: every layer as the fields above.
  struct LayerSizes {
    int64_t inner = 0;                 // Mamba-1 inner channels
    std::vector<int64_t> group_heads;  // Mamba-2
    int64_t head_dim = 0;              // Mamba-2 (shedder_layer_sizes' head_dim; the config's when absent)
    int64_t state = 0;
  };
  std::vector<LayerSizes> layer_sizes;

  nlohmann::json raw;  // the file as read (bare Infinity/NaN normalised)

  // Mamba-2 derived sizes.
  int64_t conv_dim() const;      // Mamba-1: intermediate; Mamba-2: intermediate + 2 * n_groups * state
  int64_t in_proj_rows() const;  // Mamba-1: 2 * intermediate; Mamba-2: intermediate + conv_dim + num_heads
  bool layer_has_ssm(int64_t layer) const;

  static ModelConfig from_file(const std::string& path);
  static ModelConfig from_json(const nlohmann::json& j, const std::string& label);
  // Hugging Face config.json for this configuration (what an export writes).
  nlohmann::json to_hf_json() const;
};

}  // namespace shedder
