// `shedder-cli bench MODEL [--remove ...] [--batch B] [--length L] [--decode-tokens N] [--repeats R]`: prefill
// throughput, decode latency, peak memory and parameter bytes. With a removal it also measures the full
// model, interleaved in the same run, and prints the ratios (the speed-up of the pruned model).
#include <cstdio>
#include <iostream>

#include "calibration.h"
#include "common.h"
#include "eval/benchmark.h"
#include "util/error.h"

namespace shedder::cli {

namespace {

void print_row(const char* label, const BenchResult& r) {
  std::printf("%-10s %12.1f %12.2f %14.1f %14.1f %12.1f\n", label, r.prefill_tokens_per_s, r.decode_ms_per_token,
              r.peak_memory_bytes / 1048576.0, r.param_bytes / 1048576.0, r.state_bytes / 1024.0);
}

}  // namespace

const CommandSpec& bench_spec() {
  static const CommandSpec spec{
      "bench", "MODEL", "prefill tokens/s, decode ms/token, peak memory and parameter bytes",
      "Prefill: the full-sequence forward (LM head included) over --batch x --length random tokens. Decode: ms per "
      "token at batch 1 with the step mode after a --prompt-token prompt. Every figure is the median of --repeats "
      "runs after --warmup runs. With a removal the full model is measured too, interleaved round by round in the "
      "same run, and the ratios are printed.",
      join({opt("batch", "B", "1", "prefill sequences"),
            opt("length", "L", "512", "prefill tokens per sequence"),
            opt("prompt", "P", "16", "decode: prompt tokens before the timed steps"),
            opt("decode-tokens", "N", "64", "decode: timed steps"),
            opt("repeats", "R", "5", "timed runs (the median is reported)"),
            opt("warmup", "W", "1", "untimed runs first"),
            opt("seed", "S", "0", "seed of the random token ids"),
            flag("no-baseline", "with a removal, measure only the pruned model")},
           join(removal_options(), model_options()))};
  return spec;
}

int cmd_bench(const Args& args) {
  const CommonOptions common = apply_common(args);
  const std::string dir = model_arg(args, "bench");
  BenchOptions o;
  o.batch = args.get_int("batch");
  o.length = args.get_int("length");
  o.prompt = args.get_int("prompt");
  o.decode_tokens = args.get_int("decode-tokens");
  o.repeats = args.get_int("repeats");
  o.warmup = args.get_int("warmup");
  o.seed = static_cast<uint64_t>(args.get_int("seed"));
  validate_bench_options(o);

  auto model = load_model(dir, common, &args);
  const RemovalSet removed = removal_from_args(*model, args);
  const bool compare = !removed.empty() && !args.flag("no-baseline");
  std::vector<RemovalSet> sets;
  if (compare) sets.push_back({});
  sets.push_back(removed);
  std::fprintf(stderr, "bench: %s, %s%lld x %lld prefill, %lld decode steps, %lld repeats after %lld warm-up\n",
               dir.c_str(), compare ? "full vs pruned, interleaved, " : "", static_cast<long long>(o.batch),
               static_cast<long long>(o.length), static_cast<long long>(o.decode_tokens),
               static_cast<long long>(o.repeats), static_cast<long long>(o.warmup));
  const std::vector<BenchResult> res = run_benchmarks(*model, sets, o);
  const BenchResult& mine = res.back();

  if (common.json) {
    nlohmann::json j = mine.to_json();
    j["removed"] = removed.ids();
    j["params_removed"] = model->removed_parameters(removed);
    j["params_total"] = model->total_parameters();
    j["threads"] = common.threads;
    if (compare) {
      j["baseline"] = res[0].to_json();
      j["prefill_speedup"] = mine.prefill_tokens_per_s / res[0].prefill_tokens_per_s;
      j["decode_speedup"] = res[0].decode_ms_per_token / mine.decode_ms_per_token;
      j["memory_ratio"] = static_cast<double>(mine.peak_memory_bytes) / static_cast<double>(res[0].peak_memory_bytes);
    }
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("threads %d; prefill %lld x %lld tokens; decode %lld tokens at batch 1 after a %lld-token prompt; median of %lld\n",
              common.threads, static_cast<long long>(o.batch), static_cast<long long>(o.length),
              static_cast<long long>(o.decode_tokens), static_cast<long long>(o.prompt),
              static_cast<long long>(o.repeats));
  std::printf("%-10s %12s %12s %14s %14s %12s\n", "model", "prefill tok/s", "decode ms/tok", "peak mem MiB",
              "params MiB", "state KiB");
  if (compare) print_row("full", res[0]);
  print_row(removed.empty() ? "model" : "pruned", mine);
  if (compare)
    std::printf("speed-up: prefill %.3fx, decode %.3fx; peak memory %.3fx of the full model (%zu component(s) removed)\n",
                mine.prefill_tokens_per_s / res[0].prefill_tokens_per_s, res[0].decode_ms_per_token / mine.decode_ms_per_token,
                static_cast<double>(mine.peak_memory_bytes) / static_cast<double>(res[0].peak_memory_bytes),
                removed.ids().size());
  return 0;
}

}  // namespace shedder::cli
