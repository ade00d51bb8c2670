// Greedy / top-k / temperature generation with the recurrent step mode (see generation.h).
#include "eval/generation.h"

#include <c10/core/GradMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

#include "util/error.h"

namespace shedder {

int32_t pick_token(const float* logits, int64_t vocab, double temperature, int64_t top_k, uint64_t random_bits) {
  if (temperature <= 0) {
    int64_t best = 0;
    for (int64_t i = 1; i < vocab; ++i)
      if (logits[i] > logits[best]) best = i;  // first maximum, as argmax
    return static_cast<int32_t>(best);
  }
  std::vector<int32_t> idx(static_cast<size_t>(vocab));
  std::iota(idx.begin(), idx.end(), 0);
  // Candidates by decreasing logit, ties by id: a total order, so the result does not depend on the sort.
  auto before = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  const int64_t k = top_k > 0 ? std::min(top_k, vocab) : vocab;
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), before);
  const double top = logits[idx[0]];
  std::vector<double> w(static_cast<size_t>(k));
  double total = 0;
  for (int64_t i = 0; i < k; ++i) total += (w[static_cast<size_t>(i)] = std::exp((logits[idx[static_cast<size_t>(i)]] - top) / temperature));
  const double u = static_cast<double>(random_bits >> 11) * (1.0 / 9007199254740992.0) * total;  // [0, total)
  double acc = 0;
  for (int64_t i = 0; i < k; ++i) {
    acc += w[static_cast<size_t>(i)];
    if (u < acc) return idx[static_cast<size_t>(i)];
  }
  return idx[static_cast<size_t>(k - 1)];
}

GenerateResult generate(const Model& model, const std::vector<int32_t>& prompt, const RemovalSet& removed,
                        const GenerateOptions& o, const std::function<void(int32_t)>& on_token,
                        const CancelToken* cancel) {
  if (prompt.empty()) throw Error("generate: the prompt is empty (it must tokenize to at least one token)");
  if (o.max_new_tokens < 0) throw Error("generate: --max-new-tokens must be >= 0");
  if (o.temperature < 0 || !std::isfinite(o.temperature)) throw Error("generate: --temperature must be >= 0");
  if (o.top_k < 0) throw Error("generate: --top-k must be >= 0");
  c10::NoGradGuard no_grad;
  using Clock = std::chrono::steady_clock;
  GenerateResult r;
  r.stop_reason = "max-new-tokens";
  const int64_t vocab = std::min(model.vocab_size(), model.vocab_rows());
  std::mt19937_64 rng(o.seed);

  auto t0 = Clock::now();
  const PlanPtr plan = model.plan(removed);
  RecurrentState state = model.state(1, *plan);
  at::Tensor ids = at::empty({1, static_cast<int64_t>(prompt.size())}, at::kLong);
  std::copy(prompt.begin(), prompt.end(), ids.data_ptr<int64_t>());
  at::Tensor h = model.hidden_states(ids, *plan, &state);
  at::Tensor logits = model.head(h.narrow(1, h.size(1) - 1, 1)).reshape({-1}).contiguous().cpu();
  r.prefill_seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  t0 = Clock::now();
  at::Tensor next = at::empty({1}, at::kLong);
  for (int64_t i = 0; i < o.max_new_tokens; ++i) {
    if (cancel && cancel->cancelled()) throw Cancelled();
    const int32_t tok = pick_token(logits.data_ptr<float>(), vocab, o.temperature, o.top_k, rng());
    r.tokens.push_back(tok);
    if (on_token) on_token(tok);
    if (o.stop_at_eos && o.eos_id >= 0 && tok == o.eos_id) {
      r.stop_reason = "eos";
      break;
    }
    if (i + 1 == o.max_new_tokens) break;  // no step for a token nobody reads
    next.data_ptr<int64_t>()[0] = tok;
    logits = model.step(next, *plan, state).reshape({-1}).contiguous().cpu();
  }
  r.decode_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

}  // namespace shedder
