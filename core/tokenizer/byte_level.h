// GPT-2's byte-level alphabet and pre-tokenizer split, shared by the tokenizer (bpe_tokenizer.cpp) and the trainer
// (bpe_trainer.cpp): the printable stand-in of every byte, token strings mapped back to bytes, and the GPT-2 split
// regex written out by hand. The public entry points (byte_level_symbol, byte_level_pretokenize) are declared in
// bpe_tokenizer.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace shedder::tokenizer_detail {

// Byte-level form of raw bytes (each byte -> its stand-in character).
std::string byte_level_string(std::string_view bytes);
// Bytes a vocabulary token stands for under the ByteLevel decoder: every character mapped back
// through the inverse table, or the token's own UTF-8 when some character is outside the alphabet.
std::string byte_level_decode_token(const std::string& token);

// One match of the GPT-2 pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// starting at i (the pattern matches every character, so matches tile the input); returns its end.
size_t gpt2_match(const unsigned char* p, size_t n, size_t i);

// Calls fn(piece) for every match of the GPT-2 pattern over s, in order (the pieces tile s). The one
// implementation of the split: the encoder and byte_level_pretokenize both use it.
template <typename Fn>
void for_each_gpt2_piece(std::string_view s, Fn&& fn) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const size_t end = gpt2_match(p, n, i);
    fn(s.substr(i, end - i));
    i = end;
  }
}

}  // namespace shedder::tokenizer_detail
