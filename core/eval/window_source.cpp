// Windows from text files or token files for a model (see window_source.h).
#include "eval/window_source.h"

#include "eval/token_windows.h"
#include "model/model.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace shedder {

at::Tensor load_windows(const Model& model, const WindowSource& src, std::string* label) {
  const BpeTokenizer* tokp = model.has_tokenizer() ? &model.tokenizer() : nullptr;
  const int64_t vocab = model.vocab_rows();
  const std::string& model_dir = model.dir();
  const bool has_text = !src.text_files.empty(), has_tokens = !src.tokens.empty();
  if (has_text == has_tokens) throw Error("give exactly one input: text files or a pre-tokenized .safetensors file");
  if (src.seq_len < 2) throw Error("seq-len must be at least 2 (got " + std::to_string(src.seq_len) + ")");
  if (src.max_windows < 0) throw Error("the number of windows must be >= 0 (0 = all)");
  at::Tensor windows;
  const int64_t take = src.sample ? 0 : src.max_windows;
  if (has_text) {
    if (!tokp)
      throw Error(model_dir + "/tokenizer.json: missing; this model folder has no tokenizer (use pre-tokenized input, "
                              "e.g. --tokens FILE)");
    const BpeTokenizer& tok = *tokp;
    const auto& files = src.text_files;
    const std::string what = files.size() == 1 ? files[0] : std::to_string(files.size()) + " text files";
    const int64_t eos = tok.eos_id() ? *tok.eos_id() : model.eos_token_id();
    windows = make_token_windows(tok, read_documents(files), eos, src.seq_len, take, what);
    const int64_t top = windows.max().item<int64_t>();
    if (top >= vocab)
      throw Error(model_dir + "/tokenizer.json: gives token id " + std::to_string(top) + " but the model's vocabulary has " +
                  std::to_string(vocab) + " entries; the tokenizer does not belong to this model");
    if (label) *label = "text: " + what;
  } else {
    windows = load_token_windows(src.tokens, vocab, take);
    if (label) *label = "tokens: " + src.tokens;
  }
  if (src.sample) windows = sample_windows(windows, src.max_windows, src.seed);
  return windows;
}

}  // namespace shedder
