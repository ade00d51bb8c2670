// Latency and memory of a (possibly masked) model on the CPU: prefill throughput (the full-sequence pass
// over `batch` x `length` random tokens, LM head included), decode latency (ms per token at batch 1 with the
// recurrent step mode after a short prompt, greedy), peak tensor memory (runtime/memory_tracker.h) and
// parameter bytes. Every figure is the median of `repeats` runs after `warmup` runs.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <vector>

#include "runtime/progress.h"
#include "model/model.h"

namespace shedder {

struct BenchOptions {
  int64_t batch = 1;           // prefill sequences
  int64_t length = 512;        // prefill tokens per sequence
  int64_t prompt = 16;         // decode: prompt tokens before the timed steps
  int64_t decode_tokens = 64;  // decode: timed steps
  int64_t repeats = 5;
  int64_t warmup = 1;
  uint64_t seed = 0;           // the random token ids
};

struct BenchResult {
  BenchOptions options;
  double prefill_ms = 0;               // median time of one prefill pass
  double prefill_tokens_per_s = 0;     // batch * length / prefill time
  double decode_ms_per_token = 0;      // median over repeats of (decode time / decode_tokens)
  double decode_tokens_per_s = 0;
  int64_t param_bytes = 0;             // bytes (compute dtype) of the parameters the masked model uses
  int64_t state_bytes = 0;             // recurrent state of one sequence after the decode (conv, SSM, K/V)
  int64_t prefill_peak_bytes = 0;      // peak tensor memory of one prefill pass (activations, logits)
  int64_t decode_peak_bytes = 0;       // peak tensor memory while decoding (state, one token's activations)
  int64_t peak_memory_bytes = 0;       // param_bytes + the larger of the two peaks
  std::vector<double> prefill_samples_ms, decode_samples_ms_per_token;
  // {"prefill_tokens_per_s", "prefill_ms", "decode_ms_per_token", "decode_tokens_per_s", "param_bytes",
  //  "state_bytes", "prefill_peak_bytes", "decode_peak_bytes", "peak_memory_bytes", "batch", "length",
  //  "decode_tokens", "repeats"}
  nlohmann::json to_json() const;
  static BenchResult from_json(const nlohmann::json& j);  // the summary fields (no samples)
};

// Throws shedder::Error naming the option when `options` cannot run (run_benchmark checks it too).
void validate_bench_options(const BenchOptions& options);

// Installs the memory tracker on first use. Throws shedder::Error on bad options, Cancelled on cancel.
// Every architecture; the removal set must be valid for the model (Model::plan).
BenchResult run_benchmark(const Model& model, const RemovalSet& removed, const BenchOptions& options,
                          const CancelToken* cancel = nullptr);
// Several removal sets measured interleaved (each once per round, after every one's warm-up), so ratios between
// them come from the same conditions.
std::vector<BenchResult> run_benchmarks(const Model& model, const std::vector<RemovalSet>& removals,
                                        const BenchOptions& options, const CancelToken* cancel = nullptr);

}  // namespace shedder
