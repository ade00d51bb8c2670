// Byte-level BPE trainer: learns merges from documents with the GPT-2 pre-tokenizer split and writes
// a Hugging Face tokenizer.json that BpeTokenizer (and HF `tokenizers`) load.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "runtime/progress.h"

namespace shedder {

struct BpeTrainOptions {
  // Total vocabulary size: special tokens + the 256 byte symbols + merged tokens. At least
  // 256 + special_tokens.size() (that many gives a merge-less tokenizer).
  size_t vocab_size = 8192;
  // A pair seen fewer times than this (over the whole corpus) is never merged; at least 1.
  int64_t min_frequency = 2;
  // Added as special tokens with ids 0, 1, ... in this order; removed from the training text (never
  // split, never part of a merge). Non-empty, distinct, and none equal to a byte symbol.
  std::vector<std::string> special_tokens = {"<|endoftext|>"};
  // Optional: stage "bpe words" (documents counted) then "bpe merges" (vocabulary entries added).
  ProgressFn progress;
  // Optional: polled between merges; a cancelled token makes training throw shedder::Cancelled.
  const CancelToken* cancel = nullptr;
};

// Trains byte-level BPE on `documents` and returns the tokenizer.json text (same layout as
// byte_level_tokenizer_json(): BPE model, ByteLevel pre-tokenizer with add_prefix_space false and
// use_regex true, ByteLevel decoder, the specials as added_tokens). Vocabulary ids: the specials,
// then the 256 byte symbols in byte order, then merged tokens in merge order; merges are "a b" strings
// in rank order.
//
// Algorithm: each document is cut at special-token occurrences, split with byte_level_pretokenize(),
// and the distinct words are counted. Then standard BPE: repeatedly merge the most frequent adjacent
// pair (counted over word occurrences). Ties are broken deterministically by the pair whose (left,
// right) token *bytes* are lexicographically smallest (left compared first, as unsigned bytes). Pair
// counts and pair -> words indexes are updated incrementally; the best pair comes from a max-heap with
// lazy invalidation. A merge that makes an already-known token string is recorded but adds no vocab
// entry (as HF's trainer does). Training stops at vocab_size, or earlier, without error, when no pair
// reaches min_frequency. Deterministic: the same input and options always give the same output.
// Throws shedder::Error on bad options.
std::string train_byte_level_bpe(const std::vector<std::string>& documents, const BpeTrainOptions& opts);

}  // namespace shedder
