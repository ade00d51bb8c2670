// A Mamba-1 / Mamba-2 model held as trainable float32 parameters (Hugging Face names) with a forward pass
// built from differentiable ATen ops only (the chunked scan of chunked_scan.h), so libtorch autograd trains
// it on any device. Same math as MambaModel's fast inference path (tests compare the two). Optional LoRA
// adapters on every in_proj / out_proj, merged into the weights when the model is saved.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/model_config.h"

namespace shedder {

class MambaModel;

struct TrainableParam {
  std::string name;   // Hugging Face name ("backbone.layers.3.mixer.in_proj.weight"; LoRA: "...lora_A")
  at::Tensor value;   // float32, on the training device
  bool trainable = true;
  bool decay = false; // AdamW weight decay applies (matrices; not norms, biases, A_log, D, dt_bias)
};

struct LoraOptions {
  int64_t rank = 0;      // 0: no LoRA (full fine-tuning)
  double alpha = 0;      // scale = alpha / rank; 0 means alpha = rank
};

class TrainableModel {
 public:
  // Loads a model folder (any layout MambaModel reads; weights checked for shape and finiteness by
  // MambaModel::load first). With LoRA only the adapters are trainable.
  static TrainableModel load(const std::string& dir, const LoraOptions& lora, const at::Device& device,
                             uint64_t seed);
  // The same from an already loaded (and therefore validated) model.
  static TrainableModel from_model(const MambaModel& model, const LoraOptions& lora, const at::Device& device,
                                   uint64_t seed);

  const ModelConfig& config() const { return config_; }
  const std::string& dir() const { return dir_; }
  const at::Device& device() const { return device_; }
  std::vector<TrainableParam>& params() { return params_; }
  const std::vector<TrainableParam>& params() const { return params_; }
  int64_t trainable_count() const;  // trainable parameter elements
  bool lora() const { return lora_rank_ > 0; }
  // CPU only: the fused scan kernels (default) or the chunked ATen form (what other devices run).
  void set_fused_scan(bool on) { fused_scan_ = on; }

  // ids [B, L] -> logits [B, L, V] (float32), differentiable.
  at::Tensor forward(const at::Tensor& ids) const;
  // Mean next-token negative log-likelihood of the windows ids [B, L] (tokens 1..L-1 predicted).
  at::Tensor loss(const at::Tensor& ids) const;

  // The weights as they would be saved (LoRA merged), on the CPU, float32, Hugging Face names.
  std::vector<std::pair<std::string, at::Tensor>> merged_weights() const;
  // Writes config.json, model.safetensors (in `dtype`: "F32", "BF16" or "F16"; "" keeps the source dtype)
  // and the source's tokenizer files into `dir` (each file written atomically).
  void save(const std::string& dir, const std::string& dtype = "") const;
  std::string source_dtype() const { return source_dtype_; }

 private:
  const at::Tensor& p(const std::string& name) const;
  at::Tensor linear_lora(const at::Tensor& x, const std::string& prefix, bool with_bias) const;
  at::Tensor mixer_mamba1(int64_t layer, const at::Tensor& x) const;
  at::Tensor mixer_mamba2(int64_t layer, const at::Tensor& x) const;

  ModelConfig config_;
  std::string dir_;
  std::string source_dtype_;
  at::Device device_ = at::kCPU;
  std::vector<TrainableParam> params_;
  std::map<std::string, size_t> index_;
  int64_t lora_rank_ = 0;
  double lora_scale_ = 1.0;
  bool fused_scan_ = true;
};

}  // namespace shedder
