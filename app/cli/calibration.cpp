// Input windows and removal sets from command-line options (see calibration.h).
#include "calibration.h"

#include "eval/token_windows.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace shedder::cli {

at::Tensor load_windows(const MambaModel& model, const Args& args, const std::string& prefix, int64_t seq_len,
                        int64_t max_windows, bool sample, uint64_t seed, std::string* label) {
  const std::string text_opt = prefix + "text", tok_opt = prefix + "tokens";
  const bool has_text = args.has(text_opt), has_tokens = args.has(tok_opt);
  if (has_text == has_tokens)
    throw Error("give exactly one of --" + text_opt + " FILE... or --" + tok_opt + " FILE.safetensors[:TENSOR]");
  if (seq_len < 2) throw Error("--seq-len must be at least 2 (got " + std::to_string(seq_len) + ")");
  if (max_windows < 0) throw Error("the number of windows must be >= 0 (0 = all)");
  at::Tensor windows;
  if (has_text) {
    const BpeTokenizer& tok = model.tokenizer();
    const auto files = args.all(text_opt);
    const std::string what = files.size() == 1 ? files[0] : std::to_string(files.size()) + " text files";
    const int64_t eos = tok.eos_id() ? *tok.eos_id() : model.config().eos_token_id;
    windows = make_token_windows(tok, read_documents(files), eos, seq_len, sample ? 0 : max_windows, what);
    const int64_t top = windows.max().item<int64_t>();
    if (top >= model.config().padded_vocab)
      throw Error(model.dir() + "/tokenizer.json: gives token id " + std::to_string(top) + " but the model's vocabulary has " +
                  std::to_string(model.config().padded_vocab) + " entries; the tokenizer does not belong to this model");
    if (label) *label = "text: " + what;
  } else {
    windows = load_token_windows(args.get(tok_opt), model.config().padded_vocab, sample ? 0 : max_windows);
    if (label) *label = "tokens: " + args.get(tok_opt);
  }
  if (sample) windows = sample_windows(windows, max_windows, seed);
  return windows;
}

RemovalSet removal_from_args(const MambaModel& model, const Args& args) {
  RemovalSet r;
  for (const auto& spec : args.all("remove")) r.add_spec(spec);
  if (args.has("pruning-config")) {
    const RemovalSet f = RemovalSet::from_reference_file(args.get("pruning-config"));
    for (int64_t b : f.blocks) r.add(Granularity::Block, b);
    for (int64_t s : f.ssms) r.add(Granularity::Ssm, s);
  }
  r.validate(model.num_layers(), args.has("pruning-config") ? args.get("pruning-config") : "--remove");
  for (int64_t s : r.ssms)
    if (!model.layers()[static_cast<size_t>(s)].has_ssm)
      throw Error("--remove: layer " + std::to_string(s) + " has no SSM to remove");
  return r;
}

}  // namespace shedder::cli
