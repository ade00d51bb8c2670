// Byte-level BPE tokenizer reading Hugging Face `tokenizer.json` and reproducing the `tokenizers`
// library exactly (GPT-2 / GPT-NeoX style: ByteLevel pre-tokenizer with the GPT-2 split regex,
// added/special tokens, ByteLevel decoder). No libtorch dependency.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shedder {

class BpeTokenizer {
 public:
  // Parses tokenizer.json. Throws shedder::Error("<label>: ...") naming the file and the problem.
  static BpeTokenizer from_file(const std::string& path);
  static BpeTokenizer from_json(std::string_view json_text, const std::string& label);

  BpeTokenizer();
  ~BpeTokenizer();
  BpeTokenizer(BpeTokenizer&&) noexcept;
  BpeTokenizer& operator=(BpeTokenizer&&) noexcept;

  std::vector<int32_t> encode(std::string_view text) const;
  std::string decode(const std::vector<int32_t>& ids) const;

  size_t vocab_size() const;  // largest id + 1 over vocab and added tokens
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // End-of-text id: "<|endoftext|>" if present, else the first special added token, else nullopt.
  std::optional<int32_t> eos_id() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The printable stand-in GPT-2's byte-level alphabet uses for byte `b`, as UTF-8 (e.g. ' ' -> "\u0120").
std::string byte_level_symbol(uint8_t b);

// The GPT-2 pre-tokenizer split (the ByteLevel pre-tokenizer's regex, use_regex true, no prefix space):
// the pieces of `text` in order, tiling it, exactly as encode() splits plain text before BPE. The views
// point into `text`. Added-token matching and normalization are not applied here.
std::vector<std::string_view> byte_level_pretokenize(std::string_view text);

}  // namespace shedder
