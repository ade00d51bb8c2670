// Text generation with the recurrent step mode, for every architecture: the prompt runs once through the
// full-sequence pass (which leaves the conv and SSM states and the attention K/V), then one step per new token. Greedy decoding (temperature 0), or
// sampling with a temperature and an optional top-k cut, from a seeded Mersenne Twister (the same tokens on
// every machine for the same seed).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/progress.h"
#include "model/model.h"

namespace shedder {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  double temperature = 0;   // 0: greedy (argmax); > 0: sample from softmax(logits / temperature)
  int64_t top_k = 0;        // > 0: sample among the k most likely tokens only
  uint64_t seed = 0;
  bool stop_at_eos = true;  // stop after generating `eos_id`
  int64_t eos_id = -1;      // < 0: none
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // the new tokens (an end-of-text token that stopped generation included)
  std::string stop_reason;      // "max-new-tokens" or "eos"
  double prefill_seconds = 0;
  double decode_seconds = 0;    // all steps after the prompt
};

// Only ids below vocab_size() are generated (padding rows of the embedding never are). Throws shedder::Error on an
// empty prompt, bad options or a removal set the model cannot run; shedder::Cancelled when `cancel` is set.
GenerateResult generate(const Model& model, const std::vector<int32_t>& prompt, const RemovalSet& removed,
                        const GenerateOptions& options, const std::function<void(int32_t)>& on_token = nullptr,
                        const CancelToken* cancel = nullptr);

// The sampling rule on one row of logits (exposed for tests): argmax when temperature is 0, else a draw
// from the tempered softmax over the top_k largest (all when top_k <= 0) of logits[0 .. vocab).
int32_t pick_token(const float* logits, int64_t vocab, double temperature, int64_t top_k, uint64_t random_bits);

}  // namespace shedder
