// `shedder-cli eval MODEL (--text FILE... | --tokens FILE[:TENSOR]) [--remove SPEC...] [--pruning-config F]`:
// perplexity of the model (any architecture), optionally with components removed.
#include <cstdio>
#include <iostream>

#include "calibration.h"
#include "common.h"
#include "runtime/device.h"
#include "eval/perplexity.h"
#include "util/error.h"

namespace shedder::cli {

const CommandSpec& eval_spec() {
  static const CommandSpec spec{
      "eval", "MODEL", "perplexity, optionally with components removed",
      "eval reads plain text (one document per file) or JSONL (one document per line, field text), tokenizes with the "
      "model's tokenizer.json, joins documents with the EOS token and cuts non-overlapping seq-len windows. --tokens "
      "takes pre-tokenized windows: an integer tensor [windows, seq_len] in a safetensors file. Perplexity is "
      "Mamba-Shedder's: the mean next-token NLL of each window, then exp of the mean over windows.\n\n"
      "--json prints {\"perplexity\", \"windows\", \"tokens\", \"seq_len\", \"seconds\", \"removed\", ...}. "
      "Removed components are masked (reversible): the model on disk is not changed.",
      join({multi("text", "FILE...", "text or JSONL files to evaluate (this or --tokens)"),
            opt("tokens", "FILE.safetensors[:TENSOR]", "",
                "pre-tokenized windows, an integer tensor [windows, seq_len] (this or --text)"),
            opt("seq-len", "N", "512", "tokens per window of --text (a token file's windows keep their length)"),
            opt("max-windows", "N", "0", "evaluate the first N windows; 0: all of them"),
            opt("batch", "N", "1", "windows per forward pass"),
            opt("warmup", "N", "0", "untimed passes over the first batch before measuring (GPU start-up)")},
           join(removal_options(), model_options()))};
  return spec;
}

int cmd_eval(const Args& args) {
  const CommonOptions common = apply_common(args);
  const std::string dir = model_arg(args, "eval");
  const int64_t seq_len = args.get_int("seq-len");
  const int64_t max_windows = args.get_int("max-windows");
  const int64_t batch = args.get_int("batch");
  if (seq_len < 2) throw Error("eval: --seq-len must be at least 2 (got " + std::to_string(seq_len) + ")");
  if (max_windows < 0) throw Error("eval: --max-windows must be >= 0 (0 = all)");
  if (batch < 1) throw Error("eval: --batch must be at least 1");
  if (args.has("text") == args.has("tokens"))
    throw Error("eval: give exactly one of --text FILE... or --tokens FILE.safetensors[:TENSOR]");

  auto model = load_model(dir, common, &args);
  const RemovalSet removed = removal_from_args(*model, args);
  const at::Tensor windows = load_windows(*model, args, "", seq_len, max_windows, /*sample=*/false, 0, nullptr);
  // Untimed evaluations of the first batch first (GPU start-up: context, library handles, every kernel's loading).
  const int64_t warmup = args.get_int("warmup");
  if (warmup < 0) throw Error("eval: --warmup must be >= 0");
  for (int64_t i = 0; i < warmup; ++i)
    (void)evaluate_perplexity(*model, windows.narrow(0, 0, std::min(batch, windows.size(0))), batch, removed);
  synchronize(model->device());
  const PerplexityResult r = evaluate_perplexity(*model, windows, batch, removed, stderr_progress("eval"));
  const int64_t params_removed = model->removed_parameters(removed);
  if (common.json) {
    nlohmann::json j;
    j["perplexity"] = r.perplexity;
    j["windows"] = r.windows;
    j["tokens"] = r.tokens;
    j["seq_len"] = windows.size(1);
    j["seconds"] = r.seconds;
    j["threads"] = common.threads;
    j["device"] = model->device().str();
    j["dtype"] = dtype_name(model->compute_dtype());
    j["architecture"] = model->arch();
    j["removed"] = removed.ids();
    j["params_removed"] = params_removed;
    j["params_total"] = model->total_parameters();
    std::cout << j.dump() << "\n";
  } else {
    if (!removed.empty())
      std::printf("removed %zu component(s), %lld parameters (%.2f%%)\n", removed.ids().size(),
                  static_cast<long long>(params_removed),
                  100.0 * static_cast<double>(params_removed) / static_cast<double>(model->total_parameters()));
    std::printf("perplexity %.4f  (%lld windows x %lld tokens, %.2f s, %.0f tokens/s)\n", r.perplexity,
                static_cast<long long>(r.windows), static_cast<long long>(windows.size(1)), r.seconds,
                static_cast<double>(r.windows * windows.size(1)) / r.seconds);
  }
  return 0;
}

}  // namespace shedder::cli
