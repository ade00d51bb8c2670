// GPT-2's byte-level alphabet and pre-tokenizer split (see byte_level.h), and the public byte_level_symbol and
// byte_level_pretokenize of bpe_tokenizer.h.
#include "tokenizer/byte_level.h"

#include <array>
#include <vector>

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/unicode_text.h"

namespace shedder {

namespace tokenizer_detail {

namespace {

std::array<uint32_t, 256> make_bytes_to_unicode() {
  std::array<uint32_t, 256> table{};
  std::array<bool, 256> direct{};
  for (int b = '!'; b <= '~'; ++b) direct[b] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
  uint32_t n = 0;
  for (int b = 0; b < 256; ++b) table[b] = direct[b] ? static_cast<uint32_t>(b) : 256 + n++;
  return table;
}

// GPT-2's bytes_to_unicode: byte -> code point of its printable stand-in.
const std::array<uint32_t, 256>& bytes_to_unicode() {
  static const std::array<uint32_t, 256> table = make_bytes_to_unicode();
  return table;
}

// Inverse of bytes_to_unicode, indexed by code point (< 512); -1 where no byte maps there.
const std::array<int16_t, 512>& unicode_to_bytes() {
  static const std::array<int16_t, 512> table = [] {
    std::array<int16_t, 512> t{};
    t.fill(-1);
    const auto& fwd = bytes_to_unicode();
    for (int b = 0; b < 256; ++b) t[fwd[b]] = static_cast<int16_t>(b);
    return t;
  }();
  return table;
}

std::string utf8_of(uint32_t cp) {
  std::string s;
  tokenizer_detail::append_utf8(s, cp);
  return s;
}

}  // namespace

std::string byte_level_string(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  const auto& fwd = bytes_to_unicode();
  for (unsigned char b : bytes) tokenizer_detail::append_utf8(out, fwd[b]);
  return out;
}

std::string byte_level_decode_token(const std::string& token) {
  const auto& inv = unicode_to_bytes();
  std::string out;
  out.reserve(token.size());
  const auto* p = reinterpret_cast<const unsigned char*>(token.data());
  for (size_t i = 0; i < token.size();) {
    const Utf8Char c = decode_utf8(p + i, token.size() - i);
    i += c.len;
    if (c.cp >= 512 || inv[c.cp] < 0) return token;
    out.push_back(static_cast<char>(inv[c.cp]));
  }
  return out;
}

size_t gpt2_match(const unsigned char* p, size_t n, size_t i) {
  auto info = [&](size_t at) -> std::pair<CharClass, uint32_t> {
    if (p[at] < 0x80) return {classify(p[at]), 1};
    const Utf8Char c = decode_utf8(p + at, n - at);
    return {classify(c.cp), c.len};
  };
  if (p[i] == '\'' && i + 1 < n) {
    const unsigned char c1 = p[i + 1];
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return i + 2;
    if (i + 2 < n) {
      const unsigned char c2 = p[i + 2];
      if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return i + 3;
    }
  }
  size_t start = i;
  auto cur = info(i);
  if (p[i] == ' ' && i + 1 < n) {
    const auto next = info(i + 1);
    if (next.first != CharClass::kSpace) {
      start = i + 1;
      cur = next;
    }
  }
  if (cur.first != CharClass::kSpace) {
    size_t j = start + cur.second;
    while (j < n) {
      const auto c = info(j);
      if (c.first != cur.first) break;
      j += c.second;
    }
    return j;
  }
  // Whitespace: \s+(?!\S) keeps the last space for the next word unless the run ends the text;
  // a single space before a non-space falls to \s+.
  size_t j = i;
  uint32_t last_len = 0;
  while (j < n) {
    const auto c = info(j);
    if (c.first != CharClass::kSpace) break;
    last_len = c.second;
    j += c.second;
  }
  if (j == n) return n;
  if (j - last_len > i) return j - last_len;
  return j;
}

}  // namespace tokenizer_detail

using tokenizer_detail::bytes_to_unicode;
using tokenizer_detail::for_each_gpt2_piece;
using tokenizer_detail::utf8_of;

std::string byte_level_symbol(uint8_t b) { return utf8_of(bytes_to_unicode()[b]); }

std::vector<std::string_view> byte_level_pretokenize(std::string_view text) {
  std::vector<std::string_view> pieces;
  pieces.reserve(text.size() / 4 + 1);
  for_each_gpt2_piece(text, [&](std::string_view piece) { pieces.push_back(piece); });
  return pieces;
}

}  // namespace shedder
