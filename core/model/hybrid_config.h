// What every hybrid config.json (Zamba2, Hymba) shares, read before the architecture's own fields: the file as
// JSON, vocab_size, hidden_size and num_hidden_layers within sane limits. No torch (the config fuzz target).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "util/error.h"
#include "util/json_util.h"

namespace shedder {

// Sanity limits for the sizes hybrid configs give: far above real models, low enough that products of them fit.
constexpr int64_t kHybridMaxHeads = 4096;
constexpr int64_t kHybridMaxWidth = int64_t{1} << 21;

// The fields every hybrid config has, read from `j` (read from `path`) into `c` (source, raw, vocab_size,
// hidden_size, num_layers; the struct's values are the defaults): not an object or insane sizes are
// shedder::Errors naming the file.
template <class Config>
void read_common_config(Config& c, const nlohmann::json& j, const std::string& path) {
  c.source = path;
  c.raw = j;
  const JsonFields f(c.raw, path);
  c.vocab_size = f.integer("vocab_size", c.vocab_size, 1, int64_t{1} << 30);
  c.hidden_size = f.integer("hidden_size", c.hidden_size, 1, int64_t{1} << 17);
  c.num_layers = f.integer("num_hidden_layers", c.num_layers, 1, 4096);
  if (f.has("eos_token_id") && f.raw("eos_token_id").is_array()) {
    const std::vector<int64_t> ids = f.integers("eos_token_id", 0, (int64_t{1} << 31) - 1);
    if (!ids.empty()) c.eos_token_id = ids.front();
  } else {
    c.eos_token_id = f.integer("eos_token_id", c.eos_token_id, 0, (int64_t{1} << 31) - 1);
  }
}

// expand * hidden as the configs define an inner width (Python's int()), checked before it sizes anything.
inline int64_t hybrid_inner_width(double expand, int64_t hidden, const std::string& path) {
  const double d = expand * static_cast<double>(hidden);
  if (!(d >= 1) || d > static_cast<double>(kHybridMaxWidth))
    throw Error(path + ": mamba_expand * hidden_size must be between 1 and " + std::to_string(kHybridMaxWidth));
  return static_cast<int64_t>(d);
}

}  // namespace shedder
