// Perplexity of a (possibly masked) model over token windows, as Mamba-Shedder computes it:
// the mean next-token NLL of each window, then exp of the mean over windows.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "runtime/progress.h"
#include "model/model.h"

namespace shedder {

struct PerplexityResult {
  double perplexity = 0;
  double mean_nll = 0;
  int64_t windows = 0;
  int64_t tokens = 0;  // predicted tokens (windows x (seq_len - 1))
  double seconds = 0;
  std::vector<double> window_nll;
};

// Mean NLL of each row of `ids` ([B, L], L >= 2) under `logits` ([B, L, V]): predicts ids[:, 1:]. Float64 [B] on the
// CPU. The logits may be in any floating dtype: on an accelerator 16-bit logits are read as they are (float32 math,
// ops::row_nll), on the CPU they are converted to float32 first.
at::Tensor window_mean_nll(const at::Tensor& logits, const at::Tensor& ids);

// windows: [W, L] integer tensor. `batch` windows go through the model at once.
// Works on every architecture; `removed` must be valid for the model (Model::plan).
PerplexityResult evaluate_perplexity(const Model& model, const at::Tensor& windows, int64_t batch = 1,
                                     const RemovalSet& removed = {}, const ProgressFn& progress = nullptr,
                                     const CancelToken* cancel = nullptr);

}  // namespace shedder
