// Unicode helpers of the byte-level BPE tokenizer: lenient UTF-8 decoding (a bad byte becomes a unit
// of its own that keeps its byte), the character classes of the GPT-2 split regex, \w and NFC.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace shedder::tokenizer_detail {

// Code points from kBadByteBase on stand for one undecodable input byte (kBadByteBase + byte).
constexpr uint32_t kBadByteBase = 0x110000;

struct Utf8Char {
  uint32_t cp;   // code point, or kBadByteBase + byte for an invalid byte
  uint32_t len;  // bytes consumed (1 for an invalid byte)
};

// Decodes the character at s[0..n) (n > 0). Never reads past n; strict UTF-8 (no overlongs,
// surrogates or values past U+10FFFF): anything else yields a one-byte bad unit.
inline Utf8Char decode_utf8(const unsigned char* s, size_t n) {
  const uint32_t b0 = s[0];
  if (b0 < 0x80) return {b0, 1};
  const Utf8Char bad{kBadByteBase + b0, 1};
  auto cont = [&](size_t k) { return k < n && (s[k] & 0xC0) == 0x80; };
  if (b0 < 0xC2) return bad;
  if (b0 < 0xE0) {
    if (!cont(1)) return bad;
    return {((b0 & 0x1F) << 6) | (s[1] & 0x3F), 2};
  }
  if (b0 < 0xF0) {
    if (n < 3 || !cont(1) || !cont(2)) return bad;
    if (b0 == 0xE0 && s[1] < 0xA0) return bad;  // overlong
    if (b0 == 0xED && s[1] > 0x9F) return bad;  // surrogate
    return {((b0 & 0x0F) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3F), 3};
  }
  if (b0 < 0xF5) {
    if (n < 4 || !cont(1) || !cont(2) || !cont(3)) return bad;
    if (b0 == 0xF0 && s[1] < 0x90) return bad;  // overlong
    if (b0 == 0xF4 && s[1] > 0x8F) return bad;  // past U+10FFFF
    return {((b0 & 0x07) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3F), 4};
  }
  return bad;
}

// Appends cp as UTF-8; a bad-byte unit appends its original byte.
void append_utf8(std::string& out, uint32_t cp);

// Classes of the GPT-2 split regex: \p{L}, \p{N}, \s (White_Space), anything else.
enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

CharClass classify_non_ascii(uint32_t cp);

inline CharClass classify(uint32_t cp) {
  // ASCII: letters, digits, the six White_Space characters; bad bytes are "other".
  if (cp < 0x80) {
    if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return CharClass::kLetter;
    if (cp >= '0' && cp <= '9') return CharClass::kNumber;
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return CharClass::kSpace;
    return CharClass::kOther;
  }
  return classify_non_ascii(cp);
}

// \w as Rust's regex crate defines it (Alphabetic, M, Nd, Pc, Join_Control).
bool is_word_char(uint32_t cp);
// Unicode White_Space.
bool is_white_space(uint32_t cp);

// True when NFC leaves s unchanged for sure (every character is NFC-inert). Bad bytes are inert.
bool nfc_quick_check(std::string_view s);
// Unicode NFC of s; bad bytes pass through unchanged and block nothing but composition across them.
std::string nfc(std::string_view s);

}  // namespace shedder::tokenizer_detail
