// Input windows and removal sets from command-line options (see calibration.h).
#include "calibration.h"

#include "eval/window_source.h"
#include "util/error.h"

namespace shedder::cli {

at::Tensor load_windows(const Model& model, const Args& args, const std::string& prefix, int64_t seq_len,
                        int64_t max_windows, bool sample, uint64_t seed, std::string* label) {
  const std::string text_opt = prefix + "text", tok_opt = prefix + "tokens";
  const bool has_text = args.has(text_opt), has_tokens = args.has(tok_opt);
  if (has_text == has_tokens)
    throw Error("give exactly one of --" + text_opt + " FILE... or --" + tok_opt + " FILE.safetensors[:TENSOR]");
  if (seq_len < 2) throw Error("--seq-len must be at least 2 (got " + std::to_string(seq_len) + ")");
  if (max_windows < 0) throw Error("the number of windows must be >= 0 (0 = all)");
  WindowSource src;
  if (has_text) src.text_files = args.all(text_opt);
  else src.tokens = args.get(tok_opt);
  src.seq_len = seq_len;
  src.max_windows = max_windows;
  src.sample = sample;
  src.seed = seed;
  return shedder::load_windows(model, src, label);
}

std::vector<OptionSpec> removal_options() {
  return {multi("remove", "SPEC...",
                "components to remove: ids, comma-separated (layers.N, layers.N.ssm, layers.N.shared, layers.N.attn, "
                "layers.N.mlp, shared.K.attn.heads.G, layers.N.mlp.channels.C, ...; see info), or block:I,J / ssm:I,J "
                "(layer indices); repeatable"),
          opt("pruning-config", "FILE", "",
              "components to remove, from a pruning config: the reference tool's (pruned_mamba_block_idx, "
              "pruned_ssm_idx) or ours ({\"removed\": [ids]}), e.g. a search's pruning_config.json")};
}

RemovalSet removal_from_args(const Model& model, const Args& args) {
  RemovalSet r;
  for (const auto& spec : args.all("remove")) r.add_spec(spec);
  if (args.has("pruning-config"))
    for (const ComponentId& c : RemovalSet::from_file(args.get("pruning-config")).items) r.add(c);
  model.plan(r, args.has("pruning-config") ? args.get("pruning-config") : "--remove");
  return r;
}

}  // namespace shedder::cli
