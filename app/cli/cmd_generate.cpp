// `shedder-cli generate MODEL --prompt TEXT [--max-new-tokens N] [--temperature T] [--top-k K] [--seed S]`:
// text generation with the recurrent step mode, optionally with blocks/SSMs removed.
#include <cstdio>
#include <iostream>

#include "calibration.h"
#include "common.h"
#include "eval/generation.h"
#include "eval/task_input.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace shedder::cli {

const CommandSpec& generate_spec() {
  static const CommandSpec spec{
      "generate", "MODEL", "text generation with the recurrent step mode",
      "The prompt runs once through the full-sequence pass, then one step per token; greedy by default, or sampling "
      "from softmax(logits / T) over the --top-k most likely tokens with a seeded Mersenne Twister. --json prints "
      "{\"text\", \"tokens\", \"stop_reason\", \"prefill_seconds\", \"decode_seconds\", "
      "\"decode_ms_per_token\", ...}.",
      join({opt("prompt", "TEXT", "", "the prompt (required)"),
            opt("max-new-tokens", "N", "64", "stop after N new tokens"),
            opt("temperature", "T", "0", "sampling temperature; 0: greedy"),
            opt("top-k", "K", "0", "sample among the K most likely tokens; 0: all"),
            opt("seed", "S", "0", "seed of the sampling"),
            flag("no-stop", "keep going past the end-of-text token")},
           join(removal_options(), model_options()))};
  return spec;
}

int cmd_generate(const Args& args) {
  const CommonOptions common = apply_common(args);
  const std::string dir = model_arg(args, "generate");
  if (!args.has("prompt")) throw Error("generate: missing --prompt TEXT");
  GenerateOptions o;
  o.max_new_tokens = args.get_int("max-new-tokens");
  o.temperature = args.get_double("temperature");
  o.top_k = args.get_int("top-k");
  o.seed = static_cast<uint64_t>(args.get_int("seed"));
  o.stop_at_eos = !args.flag("no-stop");

  auto model = load_model(dir, common, &args);
  const RemovalSet removed = removal_from_args(*model, args);
  const BpeTokenizer& tok = model->tokenizer();
  o.eos_id = prefix_token(*model);
  const std::vector<int32_t> prompt = tok.encode(args.get("prompt"));
  const GenerateResult r = generate(*model, prompt, removed, o);
  std::vector<int32_t> shown = r.tokens;
  if (r.stop_reason == "eos" && !shown.empty()) shown.pop_back();
  const std::string text = tok.decode(shown);
  const double ms_per_token =
      r.tokens.size() > 1 ? 1000.0 * r.decode_seconds / static_cast<double>(r.tokens.size() - 1) : 0.0;
  if (common.json) {
    nlohmann::json j;
    j["prompt"] = args.get("prompt");
    j["prompt_tokens"] = prompt.size();
    j["text"] = text;
    j["tokens"] = r.tokens;
    j["stop_reason"] = r.stop_reason;
    j["prefill_seconds"] = r.prefill_seconds;
    j["decode_seconds"] = r.decode_seconds;
    j["decode_ms_per_token"] = ms_per_token;
    j["removed"] = removed.ids();
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  std::cout << args.get("prompt") << text << "\n";
  std::fprintf(stderr, "%zu tokens (%s), prefill %.1f ms, decode %.2f ms/token\n", r.tokens.size(),
               r.stop_reason.c_str(), 1000.0 * r.prefill_seconds, ms_per_token);
  return 0;
}

}  // namespace shedder::cli
