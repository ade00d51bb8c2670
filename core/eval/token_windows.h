// Turning evaluation/calibration input into token windows: text files (plain text, or JSONL with a
// "text" field) tokenized with the model's tokenizer and joined with EOS, or pre-tokenized windows
// stored in a safetensors file.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace shedder {

class BpeTokenizer;

// Documents of the given files: a plain-text file is one document; a .jsonl file (or one whose first
// non-blank character is '{') gives one document per line from its "text" field. Empty documents are
// dropped. Throws shedder::Error naming the file (and line) on unreadable/malformed input.
std::vector<std::string> read_documents(const std::vector<std::string>& files);

// Tokenizes the documents, joins them with `eos_id` between documents and cuts consecutive
// non-overlapping windows of `seq_len` tokens (the remainder is dropped); at most `max_windows`
// windows (<= 0: all). Throws shedder::Error when the text is empty or shorter than one window.
at::Tensor make_token_windows(const BpeTokenizer& tok, const std::vector<std::string>& docs, int64_t eos_id,
                              int64_t seq_len, int64_t max_windows, const std::string& what);

// Reads pre-tokenized windows from "FILE.safetensors[:TENSOR]": an integer tensor of shape
// [windows, seq_len] (the named tensor, or the file's only tensor). Ids are checked against `vocab`.
at::Tensor load_token_windows(const std::string& spec, int64_t vocab, int64_t max_windows);

// `n` windows drawn without replacement from `all` ([W, L]) with a seeded Mersenne Twister (the same on every
// platform), kept in their original order. n <= 0 or n >= W returns `all`.
at::Tensor sample_windows(const at::Tensor& all, int64_t n, uint64_t seed);

}  // namespace shedder
