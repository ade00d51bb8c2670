// Creation of small random-weight models in the Hugging Face layout (config.json, model.safetensors,
// a byte-level tokenizer.json): the build-time demo model and test/benchmark models.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "model/model_config.h"

namespace shedder {

// A Hugging Face config for a random model (vocab 257: <|endoftext|> + 256 byte symbols).
// `overrides` replaces/extends fields of the generated config.json before it is parsed (e.g. "expand",
// "head_dim", "num_heads", "n_groups", "eos_token_id").
ModelConfig small_model_config(Arch arch, int64_t layers, int64_t hidden, int64_t state, int64_t vocab = 257,
                               const nlohmann::json& overrides = nlohmann::json::object());

// Writes the model folder atomically (a temporary sibling folder renamed into place). An existing
// `dir` is refused unless `force`. Weights follow the mamba_ssm/transformers initialisation recipes.
// `tokenizer_json`: the tokenizer.json text to ship ("" = the byte-level one of byte_level_tokenizer_json()).
void write_random_model(const std::string& dir, const ModelConfig& cfg, uint64_t seed, bool force,
                        const std::string& tokenizer_json = "");

// tokenizer.json text of a byte-level BPE tokenizer without merges (id 0 = <|endoftext|>, ids 1..256 the
// GPT-2 byte symbols), readable by Hugging Face `tokenizers` and by BpeTokenizer.
std::string byte_level_tokenizer_json();

}  // namespace shedder
