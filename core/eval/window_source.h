// Evaluation/calibration windows for a given model, from one of two sources: text files (plain text or JSONL,
// tokenized with the model's tokenizer, joined with EOS, cut into seq_len windows) or pre-tokenized windows in
// a safetensors file. Shared by the CLI (eval, search, export) and the GUI (what-if, search panel).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace shedder {

class Model;

struct WindowSource {
  std::vector<std::string> text_files;  // plain text / JSONL documents ...
  std::string tokens;                   // ... or "FILE.safetensors[:TENSOR]" (exactly one of the two)
  int64_t seq_len = 512;                // for text files (token files carry their own)
  int64_t max_windows = 0;              // 0: all
  bool sample = false;                  // draw max_windows windows with `seed` instead of taking the first ones
  uint64_t seed = 42;
};

// The windows ([W, L] int64) and, when `label` is given, a short description ("text: FILE", "tokens: FILE").
// Throws shedder::Error naming the file and the problem (including a tokenizer that does not belong to the
// model: ids beyond its vocabulary).
at::Tensor load_windows(const Model& model, const WindowSource& src, std::string* label = nullptr);

}  // namespace shedder
