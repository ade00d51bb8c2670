// Prefill / decode timing and peak tensor memory (see benchmark.h).
#include "eval/benchmark.h"

#include <c10/core/GradMode.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "runtime/memory_tracker.h"
#include "runtime/device.h"
#include "runtime/op_profile.h"
#include "util/error.h"

namespace shedder {

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

at::Tensor random_ids(int64_t rows, int64_t cols, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  at::Tensor t = at::empty({rows, cols}, at::kLong);
  int64_t* p = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < rows * cols; ++i) p[i] = static_cast<int64_t>(rng() % static_cast<uint64_t>(vocab));
  return t;
}

}  // namespace

void validate_bench_options(const BenchOptions& o) {
  if (o.batch < 1 || o.length < 1) throw Error("bench: --batch and --length must be at least 1");
  if (o.prompt < 1 || o.decode_tokens < 1) throw Error("bench: --prompt and --decode-tokens must be at least 1");
  if (o.repeats < 1 || o.warmup < 0) throw Error("bench: --repeats must be at least 1 and --warmup at least 0");
}

nlohmann::json BenchResult::to_json() const {
  return {{"prefill_tokens_per_s", prefill_tokens_per_s},
          {"prefill_ms", prefill_ms},
          {"decode_ms_per_token", decode_ms_per_token},
          {"decode_tokens_per_s", decode_tokens_per_s},
          {"param_bytes", param_bytes},
          {"state_bytes", state_bytes},
          {"prefill_peak_bytes", prefill_peak_bytes},
          {"decode_peak_bytes", decode_peak_bytes},
          {"peak_memory_bytes", peak_memory_bytes},
          {"batch", options.batch},
          {"length", options.length},
          {"decode_tokens", options.decode_tokens},
          {"repeats", options.repeats}};
}

BenchResult BenchResult::from_json(const nlohmann::json& j) {
  BenchResult r;
  r.prefill_tokens_per_s = j.value("prefill_tokens_per_s", 0.0);
  r.prefill_ms = j.value("prefill_ms", 0.0);
  r.decode_ms_per_token = j.value("decode_ms_per_token", 0.0);
  r.decode_tokens_per_s = j.value("decode_tokens_per_s", 0.0);
  r.param_bytes = j.value("param_bytes", int64_t(0));
  r.state_bytes = j.value("state_bytes", int64_t(0));
  r.prefill_peak_bytes = j.value("prefill_peak_bytes", int64_t(0));
  r.decode_peak_bytes = j.value("decode_peak_bytes", int64_t(0));
  r.peak_memory_bytes = j.value("peak_memory_bytes", int64_t(0));
  r.options.batch = j.value("batch", int64_t(0));
  r.options.length = j.value("length", int64_t(0));
  r.options.decode_tokens = j.value("decode_tokens", int64_t(0));
  r.options.repeats = j.value("repeats", int64_t(0));
  return r;
}

namespace {

// One prefill pass and one decode run; appends the samples to `r` when `timed`.
void measure_once(const Model& model, const ForwardPlan& plan, const BenchOptions& o, const at::Tensor& prefill_ids,
                  const at::Tensor& prompt_ids, bool timed, BenchResult& r) {
  // Prefill: the full pass to the logits in the head's dtype, as an evaluation pass (perplexity, the search)
  // computes it: forward()'s float32 copy of the logits is not part of it.
  int64_t base = memory::allocated_bytes(model.device());
  memory::reset_peak(model.device());
  auto t0 = Clock::now();
  profile::set_active(timed);  // SHEDDER_PROFILE: the timed prefill passes only
  {
    at::Tensor logits = model.head_logits(model.hidden_states(prefill_ids, plan));  // run_benchmarks: no grad
    synchronize(model.device());
  }
  profile::set_active(false);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (timed) {
    r.prefill_samples_ms.push_back(ms);
    r.prefill_peak_bytes = std::max(r.prefill_peak_bytes, memory::peak_bytes(model.device()) - base);
  }

  // Decode: the prompt through the full pass (untimed), then greedy steps at batch 1.
  base = memory::allocated_bytes(model.device());
  memory::reset_peak(model.device());
  RecurrentState state = model.state(1, plan);
  at::Tensor h = model.hidden_states(prompt_ids, plan, &state);
  at::Tensor next = model.head(h.narrow(1, o.prompt - 1, 1)).reshape({1, -1}).argmax(1);
  h = at::Tensor();
  memory::reset_peak(model.device());  // the peak of the steps (the state is still counted against `base`)
  t0 = Clock::now();
  for (int64_t i = 0; i < o.decode_tokens; ++i) next = model.step(next, plan, state).argmax(1);
  synchronize(model.device());
  const double dms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (timed) {
    r.state_bytes = state.bytes();
    r.decode_samples_ms_per_token.push_back(dms / static_cast<double>(o.decode_tokens));
    r.decode_peak_bytes = std::max(r.decode_peak_bytes, memory::peak_bytes(model.device()) - base);
  }
}

}  // namespace

std::vector<BenchResult> run_benchmarks(const Model& model, const std::vector<RemovalSet>& removals,
                                        const BenchOptions& o, const CancelToken* cancel) {
  validate_bench_options(o);
  std::vector<PlanPtr> plans;
  for (const auto& r : removals) plans.push_back(model.plan(r, "bench"));
  memory::install_tracker();
  c10::NoGradGuard no_grad;
  const int64_t vocab = std::min(model.vocab_size(), model.vocab_rows());
  const at::Tensor prefill_ids = random_ids(o.batch, o.length, vocab, o.seed);
  const at::Tensor prompt_ids = random_ids(1, o.prompt, vocab, o.seed + 1);

  std::vector<BenchResult> res(plans.size());
  for (size_t m = 0; m < plans.size(); ++m) {
    res[m].options = o;
    res[m].param_bytes = plans[m]->kept_parameters() * static_cast<int64_t>(c10::elementSize(model.compute_dtype()));
  }
  // Interleaved: every configuration once per round, so drifts of the machine hit them alike.
  for (int64_t rep = 0; rep < o.warmup + o.repeats; ++rep)
    for (size_t m = 0; m < plans.size(); ++m) {
      if (cancel && cancel->cancelled()) throw Cancelled();
      measure_once(model, *plans[m], o, prefill_ids, prompt_ids, rep >= o.warmup, res[m]);
    }
  profile::set_active(true);
  for (BenchResult& r : res) {
    r.prefill_ms = median(r.prefill_samples_ms);
    r.prefill_tokens_per_s = static_cast<double>(o.batch * o.length) / (r.prefill_ms / 1000.0);
    r.decode_ms_per_token = median(r.decode_samples_ms_per_token);
    r.decode_tokens_per_s = 1000.0 / r.decode_ms_per_token;
    r.peak_memory_bytes = r.param_bytes + std::max(r.prefill_peak_bytes, r.decode_peak_bytes);
  }
  return res;
}

BenchResult run_benchmark(const Model& model, const RemovalSet& removed, const BenchOptions& o,
                          const CancelToken* cancel) {
  return run_benchmarks(model, {removed}, o, cancel)[0];
}

}  // namespace shedder
