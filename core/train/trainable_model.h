// A model held as trainable float32 parameters, for every architecture. The parameters are the checkpoint's
// tensors under their Hugging Face names (what save() writes back); the forward pass is the model's own
// (Model::embed / layers / head) run with autograd on, where the shared mixers take their differentiable kernels
// (kernels/mixer_ops). Each parameter reaches the model through the model's weight slots (Model::weight_slots: the
// name, where the model keeps its form of the tensor, and how that form is made, e.g. A = -exp(A_log)). Optional
// LoRA adapters on the architecture's targets (the reference's) are merged into the weights when saved.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"

namespace shedder {

struct TrainableParam {
  std::string name;   // Hugging Face name ("backbone.layers.3.mixer.in_proj.weight"; LoRA: "...in_proj.lora_A")
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
  // `model` (float32, on the training device, owned from here on) with its weights as parameters: all trainable, or
  // with lora.rank > 0 frozen and LoRA adapters (A ~ U(-1/sqrt(in), 1/sqrt(in)) from `seed`, B = 0, as PEFT) on the
  // lora targets.
  TrainableModel(std::shared_ptr<Model> model, const LoraOptions& lora, uint64_t seed);
  // The model folder `dir` (any architecture) loaded in float32 onto `device`, as above.
  static TrainableModel load(const std::string& dir, const LoraOptions& lora, const at::Device& device, uint64_t seed);
  TrainableModel(TrainableModel&&) noexcept;
  ~TrainableModel();

  const Model& model() const { return *model_; }
  const std::string& dir() const;
  const at::Device& device() const;
  std::vector<TrainableParam>& params() { return params_; }
  const std::vector<TrainableParam>& params() const { return params_; }
  int64_t trainable_count() const;  // trainable parameter elements
  bool lora() const { return lora_rank_ > 0; }

  // ids [B, L] -> logits [B, L, V] (float32), differentiable.
  at::Tensor forward(const at::Tensor& ids) const;
  // Mean next-token negative log-likelihood of the windows ids [B, L] (tokens 1..L-1 predicted).
  at::Tensor loss(const at::Tensor& ids) const;

  // The weights as they would be saved (LoRA merged), on the CPU, float32, Hugging Face names.
  std::vector<std::pair<std::string, at::Tensor>> merged_weights() const;
  // Writes config.json (the source's), model.safetensors (in `dtype`: "F32", "BF16" or "F16"; "" keeps the source
  // dtype) and the source's tokenizer files into `dir` (each file written atomically).
  void save(const std::string& dir, const std::string& dtype = "") const;

 private:
  const at::Tensor& param(const std::string& name) const;
  // The checkpoint tensor `name` with its LoRA update merged (differentiable).
  at::Tensor effective(const std::string& name) const;

  std::shared_ptr<Model> model_;
  std::vector<WeightSlot> slots_;
  std::vector<TrainableParam> params_;
  std::map<std::string, size_t> index_;
  int64_t lora_rank_ = 0;
  double lora_scale_ = 1.0;
};

}  // namespace shedder
