// `shedder-cli train-tokenizer --text FILE... --vocab-size N [--min-frequency F] --out FILE [--force]`:
// trains a byte-level BPE tokenizer on text/JSONL files and writes its tokenizer.json.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "common.h"
#include "eval/token_windows.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/bpe_trainer.h"
#include "util/error.h"
#include "util/file_util.h"

namespace shedder::cli {

const CommandSpec& train_tokenizer_spec() {
  static const CommandSpec spec{
      "train-tokenizer", "", "train a byte-level BPE tokenizer.json",
      "The GPT-2 pre-tokenizer; ties between pairs are broken by their bytes, so the result does not depend on "
      "the machine.",
      {multi("text", "FILE...", "training text or JSONL files (required)"),
       opt("vocab-size", "N", "", "the vocabulary size to reach, bytes and merges included (required)"),
       opt("min-frequency", "F", "2", "merge only pairs seen at least F times"),
       opt("out", "FILE", "", "the tokenizer.json to write (required)"),
       flag("force", "replace an existing --out file")}};
  return spec;
}

int cmd_train_tokenizer(const Args& args) {
  const CommonOptions common = apply_common(args);
  if (!args.positional().empty())
    throw Error("train-tokenizer: unexpected argument '" + args.positional()[0] + "'");
  const std::vector<std::string> files = args.all("text");
  if (files.empty()) throw Error("train-tokenizer: --text FILE... is required");
  if (!args.has("vocab-size")) throw Error("train-tokenizer: --vocab-size N is required");
  if (!args.has("out")) throw Error("train-tokenizer: --out FILE is required");
  const std::string out = args.get("out");
  const long long vocab = args.get_int("vocab-size");
  if (vocab < 1) throw Error("train-tokenizer: --vocab-size must be a positive integer");
  const long long min_freq = args.get_int("min-frequency");
  std::error_code ec;
  if (std::filesystem::exists(out, ec) && !args.flag("force"))
    throw Error(out + ": already exists (use --force to replace it)");

  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<std::string> docs = read_documents(files);
  size_t bytes = 0;
  for (const auto& d : docs) bytes += d.size();
  BpeTrainOptions opts;
  opts.vocab_size = static_cast<size_t>(vocab);
  opts.min_frequency = min_freq;
  opts.progress = stderr_progress("train-tokenizer");
  const std::string text = train_byte_level_bpe(docs, opts);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Check the result loads before writing it; report the real size (smaller when pairs ran out).
  const BpeTokenizer tok = BpeTokenizer::from_json(text, out);
  const size_t merges = nlohmann::json::parse(text)["model"]["merges"].size();
  write_file_atomic(out, text + "\n");
  if (common.json) {
    nlohmann::json j;
    j["out"] = out;
    j["vocab_size"] = tok.vocab_size();
    j["requested_vocab_size"] = vocab;
    j["merges"] = merges;
    j["documents"] = docs.size();
    j["bytes"] = bytes;
    j["seconds"] = seconds;
    std::cout << j.dump() << "\n";
  } else {
    std::printf("wrote %s: vocab %zu (asked %lld), %zu merges, from %zu documents (%zu bytes) in %.2f s\n",
                out.c_str(), tok.vocab_size(), vocab, merges, docs.size(), bytes, seconds);
  }
  return 0;
}

}  // namespace shedder::cli
