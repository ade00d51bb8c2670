// Perplexity evaluation over token windows (see perplexity.h).
#include "eval/perplexity.h"

#include <c10/core/GradMode.h>
#include <chrono>
#include <cmath>

#include "kernels/mixer_ops.h"
#include "util/error.h"

namespace shedder {

at::Tensor window_mean_nll(const at::Tensor& logits, const at::Tensor& ids) {
  const int64_t B = ids.size(0), L = ids.size(1);
  if (!logits.device().is_cpu()) {
    // On an accelerator: every row at once in the head's dtype (ops::row_nll reads 16-bit logits as they are), one
    // copy back. All B * L rows (a view, no copy of the logits): row t predicts ids[t + 1], and each window's last
    // row, given the window's first id by the roll, is dropped.
    at::Tensor rows = logits.reshape({B * L, logits.size(2)});
    at::Tensor tg = at::roll(ids, {-1}, {1}).reshape({B * L});
    return ops::row_nll(rows, tg).reshape({B, L}).narrow(1, 0, L - 1).mean(1).cpu();
  }
  at::Tensor lg = logits.scalar_type() == at::kFloat ? logits : logits.to(at::kFloat);
  at::Tensor out = at::empty({B}, at::kDouble);
  for (int64_t b = 0; b < B; ++b) {
    // Rows of one window are V apart: no copy of the logits.
    at::Tensor rows = lg[b].narrow(0, 0, L - 1);
    if (rows.stride(1) != 1) rows = rows.contiguous();
    out[b] = ops::row_nll(rows, ids[b].narrow(0, 1, L - 1)).mean().item<double>();
  }
  return out;
}

PerplexityResult evaluate_perplexity(const Model& model, const at::Tensor& windows, int64_t batch,
                                     const RemovalSet& removed, const ProgressFn& progress, const CancelToken* cancel) {
  if (windows.dim() != 2) throw Error("evaluation windows must be a [windows, seq_len] tensor");
  if (windows.size(1) < 2) throw Error("seq-len must be at least 2 (got " + std::to_string(windows.size(1)) + ")");
  if (windows.size(0) < 1) throw Error("no evaluation windows");
  if (batch < 1) batch = 1;
  c10::NoGradGuard no_grad;
  const PlanPtr plan = model.plan(removed);
  const auto t0 = std::chrono::steady_clock::now();
  PerplexityResult r;
  const int64_t W = windows.size(0), L = windows.size(1);
  for (int64_t i = 0; i < W; i += batch) {
    if (cancel && cancel->cancelled()) throw Cancelled();
    const int64_t n = std::min(batch, W - i);
    at::Tensor ids = windows.narrow(0, i, n);
    at::Tensor nll = window_mean_nll(model.head_logits(model.hidden_states(ids, *plan)), ids);
    for (int64_t k = 0; k < n; ++k) r.window_nll.push_back(nll[k].item<double>());
    if (progress) {
      Progress p;
      p.stage = "eval";
      p.done = i + n;
      p.total = W;
      p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      p.eta_s = p.elapsed_s / static_cast<double>(p.done) * static_cast<double>(W - p.done);
      progress(p);
    }
  }
  double sum = 0;
  for (double v : r.window_nll) sum += v;
  r.windows = W;
  r.tokens = W * (L - 1);
  r.mean_nll = sum / static_cast<double>(W);
  r.perplexity = std::exp(r.mean_nll);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace shedder
