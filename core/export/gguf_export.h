// Export of a (pruned) Mamba-1 or Mamba-2 model as one GGUF file for llama.cpp's `mamba` / `mamba2`
// architectures: the architecture's pruned checkpoint (Model::pruned_checkpoint: removed blocks dropped and the
// rest renumbered) renamed to llama.cpp's tensors (token_embd, blk.N.attn_norm, blk.N.ssm_in, ssm_conv1d, ssm_x,
// ssm_dt, ssm_a = -exp(A_log), ssm_d, ssm_norm grouped [n_group, d_inner / n_group], ssm_out, output_norm,
// output when untied), with the hyper-parameters llama.cpp reads ({arch}.context_length, embedding_length,
// block_count, ssm.conv_kernel, ssm.inner_size, ssm.state_size, ssm.time_step_rank, ssm.group_count,
// attention.layer_norm_rms_epsilon) and the tokenizer (gguf_vocab.h), written by gguf_writer.h. Matrices take the
// chosen type (f32, f16, bf16); norms, conv weights, biases, A and D stay f32, as llama.cpp's converter keeps them.
//
// A layer whose SSM alone is removed keeps its block: llama.cpp has no SSM-less layer, so its SSM is written as
// one that passes its input through (B = C = 0 — x_proj rows, or Mamba-2's B/C rows of in_proj and their conv
// channels, zero — and D = 1), which computes exactly what the masked model computes, at the cost of storing the
// zeros. What llama.cpp cannot compute is refused before anything is written, with the reason: the hybrids
// (Zamba2, Hymba: no such llama.cpp architecture), Mamba-1 with an expansion other than 2, in/out projection
// biases, Mamba-2 with a gated MLP in in_proj, a dt limit, a gated norm over other groups than the SSM's, layers
// of different sizes, a tokenizer llama.cpp's gpt2 tokenizer would not reproduce, f16 weights out of f16's range.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "export/gguf_writer.h"
#include "model/removal.h"
#include "runtime/progress.h"

namespace shedder {

class Model;

struct GgufExportOptions {
  std::string out_path;         // the .gguf file
  bool force = false;           // replace an existing GGUF file (never anything else)
  std::string type = "auto";    // f32 | f16 | bf16 | auto (the checkpoint's dtype)
  std::optional<int64_t> expect_params_after;  // a recipe's count: a different result is refused before writing
  const CancelToken* cancel = nullptr;
};

struct GgufExportResult {
  GgmlType type = GgmlType::F32;
  int64_t layers_after = 0;
  int64_t params_before = 0;
  int64_t params_after = 0;        // parameters of the pruned model (without the zeros of pass-through SSMs)
  uint64_t bytes = 0;              // size of the file
  size_t tensors = 0, kvs = 0;
  std::vector<int64_t> pass_through_ssm_layers;  // layers (new numbering) whose SSM is written as pass-through
};

// "auto" gives the checkpoint's stored dtype; shedder::Error for anything but auto, f32, f16, bf16.
GgmlType parse_gguf_type(const std::string& s, const Model& model);

// The GGUF file for `model` without `removed`, ready to write (`label` starts error messages). shedder::Error with
// the reason when llama.cpp cannot express it.
GgufWriter make_gguf(const Model& model, const RemovalSet& removed, GgmlType type, const std::string& label,
                     GgufExportResult* info = nullptr);

// make_gguf, then the file written atomically at opts.out_path. An existing file is replaced only with `force`
// and only when it is a GGUF file; a folder is never replaced.
GgufExportResult export_gguf(const Model& model, const RemovalSet& removed, const GgufExportOptions& opts);

}  // namespace shedder
