// A loaded Mamba-1 / Mamba-2 causal language model and its forward pass, with exactly the math of
// transformers' reference (torch) path. The forward is split into embed -> blocks -> head so that the
// shedding engine can skip blocks or SSMs (removal masks) and cache the hidden states between blocks.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/model_config.h"
#include "model/model_mask.h"
#include "model/recurrent_state.h"

namespace shedder {

class BpeTokenizer;

struct LayerWeights {
  at::Tensor norm_w;                  // [H]
  at::Tensor in_proj_w, in_proj_b;    // [P, H], [P] or undefined
  at::Tensor conv_w_kc, conv_b;       // conv weight transposed to [K, C]; [C] or undefined
  at::Tensor out_proj_w, out_proj_b;  // [H, D]
  bool has_ssm = true;                // false when an export dropped this layer's SSM weights
  // Mamba-1
  at::Tensor x_proj_w;                // [R + 2N, D]
  at::Tensor dt_proj_w, dt_proj_b;    // [D, R], [D]
  at::Tensor A_nd;                    // -exp(A_log), transposed to [N, D]
  // Mamba-2
  at::Tensor dt_bias, A_h;            // [heads], -exp(A_log) [heads]
  at::Tensor gnorm_w;                 // gated RMSNorm weight [D]
  at::Tensor Dv;                      // D skip: [D] (Mamba-1) or [heads] (Mamba-2)
};

struct LoadOptions {
  bool check_finite = true;  // refuse weights holding NaN/Inf (names the tensor)
  // Where the model computes (runtime/device.h: "cpu", "cuda", "cuda:N", "auto") and in which dtype ("auto":
  // float32 on the CPU, the checkpoint's dtype on a GPU). Weights go straight to the device in that dtype;
  // the residual stream, norm statistics, conv weights, A, D, dt_bias and scan states stay float32.
  std::string device = "cpu";
  std::string dtype = "auto";
};

struct ParamCounts {
  int64_t total = 0;       // unique parameters (tied head counted once)
  int64_t embedding = 0;
  int64_t lm_head = 0;     // 0 when tied
  int64_t final_norm = 0;
  std::vector<int64_t> block;  // per layer, everything in the block
  std::vector<int64_t> ssm;    // per layer, the parameters that die when its SSM is removed
};

class MambaModel {
 public:
  // Loads config.json, the weights and (if present) tokenizer.json from `dir`; validates every tensor
  // the config implies (presence, shape, dtype, finiteness). Throws shedder::Error naming the file.
  static std::shared_ptr<MambaModel> load(const std::string& dir, const LoadOptions& opts = {});
  ~MambaModel();

  const ModelConfig& config() const { return config_; }
  const std::string& dir() const { return dir_; }
  int64_t num_layers() const { return config_.num_layers; }
  const ParamCounts& params() const { return params_; }
  std::string weight_files() const { return weight_files_; }
  std::string source_dtype() const { return source_dtype_; }  // dtype the checkpoint stores ("F32", "BF16")
  const at::Device& device() const { return device_; }
  at::ScalarType compute_dtype() const { return dtype_; }  // matrices and activations between them

  // The tokenizer from tokenizer.json; throws shedder::Error naming the file when the folder has none.
  const BpeTokenizer& tokenizer() const;
  bool has_tokenizer() const { return tokenizer_ != nullptr; }

  // ids: [B, L] integer tensor (any device) -> hidden states [B, L, H] (float32, on the model's device).
  at::Tensor embed(const at::Tensor& ids) const;
  // One block including its residual add; `skip_ssm` removes the selective scan only. With `state`, the
  // block continues from it (the layer's conv inputs and SSM state after the earlier tokens) and updates it.
  at::Tensor block(int64_t layer, const at::Tensor& hidden, bool skip_ssm = false, LayerState* state = nullptr) const;
  // Final RMSNorm + LM head: [B, L, H] -> logits [B, L, V] (float32, on the model's device).
  at::Tensor head(const at::Tensor& hidden) const;
  // Whole forward with an optional removal mask. With `state` (from RecurrentState::zeros for the same mask,
  // or left by an earlier call), `ids` continue the sequences the state summarises and the state is
  // advanced past them: the logits equal those of one forward over the whole sequence.
  at::Tensor forward(const at::Tensor& ids, const ModelMask& mask = {}, RecurrentState* state = nullptr) const;
  // The last hidden states before the final norm and head ([B, L, H]); forward() = head(hidden_states()).
  at::Tensor hidden_states(const at::Tensor& ids, const ModelMask& mask = {}, RecurrentState* state = nullptr) const;
  // Recurrent step mode: one token per sequence (ids [B]) -> logits [B, V], advancing `state`.
  at::Tensor step(const at::Tensor& ids, const ModelMask& mask, RecurrentState& state) const;

  const std::vector<LayerWeights>& layers() const { return layers_; }

 private:
  MambaModel() = default;
  // The block's branch (mixer output) for its normalised input x.
  at::Tensor branch(int64_t layer, const at::Tensor& x, bool skip_ssm, LayerState* state) const;
  at::Tensor mixer_mamba1(const LayerWeights& w, const at::Tensor& x, bool skip_ssm, LayerState* state) const;
  at::Tensor mixer_mamba2(const LayerWeights& w, const at::Tensor& x, bool skip_ssm, LayerState* state) const;

  ModelConfig config_;
  std::string dir_;
  std::string weight_files_;
  std::string source_dtype_;
  at::Device device_ = at::Device(at::kCPU);
  at::ScalarType dtype_ = at::kFloat;
  at::Tensor embedding_, norm_f_, lm_head_;
  std::vector<LayerWeights> layers_;
  ParamCounts params_;
  std::unique_ptr<BpeTokenizer> tokenizer_;
};

// RMSNorm as transformers computes it (float32 variance) for float32 CPU tensors; ops::rms_norm (any device).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);
// x * rsqrt(mean(x^2) + eps) over the last dimension, taken in `groups` equal groups (Mamba-2's gated norm).
at::Tensor group_rms_normalize(const at::Tensor& g, int64_t groups, double eps);

}  // namespace shedder
