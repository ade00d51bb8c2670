// The optimiser side of training: AdamW (decoupled weight decay, as torch.optim.AdamW), the warm-up +
// cosine learning-rate schedule, and global gradient-norm clipping. Plain ATen, so its state is a set of
// named tensors that a checkpoint stores and restores exactly.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "train/trainable_model.h"

namespace shedder {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;  // applied to parameters with TrainableParam::decay
};

class AdamW {
 public:
  explicit AdamW(const AdamWOptions& o) : o_(o) {}
  // One update of every trainable parameter that has a gradient, with learning rate `lr`.
  void step(std::vector<TrainableParam>& params, double lr);
  int64_t steps() const { return t_; }

  // State as named tensors ("adam_m.<param>", "adam_v.<param>") plus the step count, for checkpoints.
  std::vector<std::pair<std::string, at::Tensor>> state() const;
  void load_state(const std::map<std::string, at::Tensor>& tensors, int64_t steps, const at::Device& device);

 private:
  AdamWOptions o_;
  int64_t t_ = 0;
  std::map<std::string, at::Tensor> m_, v_;
};

// Linear warm-up from 0 to `lr` over `warmup` steps, then cosine decay to `min_lr` at `total` steps.
// `step` counts from 1.
double scheduled_lr(int64_t step, int64_t total, int64_t warmup, double lr, double min_lr);

// Scales the gradients so that their global L2 norm is at most `max_norm` (<= 0: no clipping); returns
// the norm before clipping.
double clip_grad_norm(std::vector<TrainableParam>& params, double max_norm);

}  // namespace shedder
