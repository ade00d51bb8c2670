// Small random-weight Zamba2 and Hymba folders in transformers' layout (config.json, model.safetensors, a
// tokenizer.json), for `shedder-cli create-model --arch zamba2|hymba`, the tests and the benchmarks: every kind of
// component the engine removes is there (Zamba2: shared blocks used by several layers, per-use LoRA adapters, RoPE;
// Hymba: meta tokens, a sliding window with global layers, K/V reuse, an MLP per layer).
#pragma once

#include <cstdint>
#include <string>

namespace shedder {

struct RandomHybridOptions {
  std::string arch = "zamba2";  // "zamba2" or "hymba"
  int64_t layers = 6;           // Zamba2: every third layer (1, 4, ...) uses a shared block; Hymba: at least 3
  int64_t hidden = 64;          // a multiple of 16
  int64_t vocab = 257;          // rows of the embedding (the tokenizer's vocabulary)
  uint64_t seed = 0;
  int64_t eos_token_id = 0;     // the byte-level tokenizer's <|endoftext|>
};

// Writes the folder atomically (io/model_folder.h); an existing `dir` only with `force`. `tokenizer_json`: the
// tokenizer.json text ("" = the byte-level one, random_model.h).
void write_random_hybrid(const std::string& dir, const RandomHybridOptions& o, bool force,
                         const std::string& tokenizer_json = "");

}  // namespace shedder
