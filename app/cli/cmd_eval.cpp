// `shedder-cli eval MODEL (--text FILE... | --tokens FILE[:TENSOR]) ...`: perplexity of the model.
#include <cstdio>
#include <iostream>

#include "common.h"
#include "eval/perplexity.h"
#include "eval/token_windows.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace shedder::cli {

int cmd_eval(const std::vector<std::string>& words) {
  Args args(words, with_common({{"text", true, true},
                                {"tokens", true, false},
                                {"seq-len", true, false},
                                {"max-windows", true, false},
                                {"batch", true, false}}));
  const CommonOptions common = apply_common(args);
  const std::string dir = model_arg(args, "eval");
  const bool has_text = args.has("text"), has_tokens = args.has("tokens");
  if (has_text == has_tokens) throw Error("eval: give exactly one of --text FILE... or --tokens FILE.safetensors[:TENSOR]");
  const int64_t seq_len = args.get_int("seq-len", 512);
  const int64_t max_windows = args.get_int("max-windows", 0);
  const int64_t batch = args.get_int("batch", 1);
  if (seq_len < 2) throw Error("eval: --seq-len must be at least 2 (got " + std::to_string(seq_len) + ")");
  if (max_windows < 0) throw Error("eval: --max-windows must be >= 0 (0 = all)");
  if (batch < 1) throw Error("eval: --batch must be at least 1");

  auto model = MambaModel::load(dir);
  at::Tensor windows;
  if (has_text) {
    const BpeTokenizer& tok = model->tokenizer();
    const auto files = args.all("text");
    const auto docs = read_documents(files);
    const int64_t eos = tok.eos_id() ? *tok.eos_id() : model->config().eos_token_id;
    windows = make_token_windows(tok, docs, eos, seq_len, max_windows,
                                 files.size() == 1 ? files[0] : std::to_string(files.size()) + " text files");
  } else {
    windows = load_token_windows(args.get("tokens"), model->config().padded_vocab, max_windows);
  }
  const PerplexityResult r = evaluate_perplexity(*model, windows, batch, {}, stderr_progress("eval"));
  if (common.json) {
    nlohmann::json j;
    j["perplexity"] = r.perplexity;
    j["windows"] = r.windows;
    j["tokens"] = r.tokens;
    j["seq_len"] = windows.size(1);
    j["seconds"] = r.seconds;
    j["threads"] = common.threads;
    std::cout << j.dump() << "\n";
  } else {
    std::printf("perplexity %.4f  (%lld windows x %lld tokens, %.2f s, %.0f tokens/s)\n", r.perplexity,
                static_cast<long long>(r.windows), static_cast<long long>(windows.size(1)), r.seconds,
                static_cast<double>(r.windows * windows.size(1)) / r.seconds);
  }
  return 0;
}

}  // namespace shedder::cli
