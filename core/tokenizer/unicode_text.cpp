// Unicode helpers of the byte-level BPE tokenizer: class look-ups in the generated tables and NFC
// (canonical decomposition, canonical ordering, canonical composition; Hangul done algorithmically).
#include "tokenizer/unicode_text.h"

#include <algorithm>
#include <iterator>
#include <vector>

#include "tokenizer/unicode_tables.h"

namespace shedder::tokenizer_detail {
namespace {

namespace ud = unicode_data;

template <size_t N>
bool in_ranges(const ud::CodePointRange (&table)[N], uint32_t cp) {
  const ud::CodePointRange* end = table + N;
  const ud::CodePointRange* it =
      std::upper_bound(table, end, cp, [](uint32_t v, const ud::CodePointRange& r) { return v < r.first; });
  if (it == table) return false;
  --it;
  return cp <= it->last;
}

// Hangul syllable constants (Unicode chapter 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr uint32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t combining_class(uint32_t cp) {
  if (cp < 0x300 || cp >= kBadByteBase) return 0;
  const auto* begin = std::begin(ud::kCombiningClasses);
  const auto* end = std::end(ud::kCombiningClasses);
  const auto* it = std::upper_bound(begin, end, cp,
                                    [](uint32_t v, const ud::CombiningClassRange& r) { return v < r.first; });
  if (it == begin) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

void decompose_into(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  const auto* begin = std::begin(ud::kDecompositions);
  const auto* end = std::end(ud::kDecompositions);
  const auto* it =
      std::lower_bound(begin, end, cp, [](const ud::Decomposition& d, uint32_t v) { return d.cp < v; });
  if (it != end && it->cp == cp) {
    out.insert(out.end(), ud::kDecompositionData + it->offset,
               ud::kDecompositionData + it->offset + it->length);
  } else {
    out.push_back(cp);
  }
}

// Primary composite of (a, b), or 0 when there is none.
uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const auto* begin = std::begin(ud::kCompositions);
  const auto* end = std::end(ud::kCompositions);
  const auto* it = std::lower_bound(begin, end, std::make_pair(a, b), [](const ud::Composition& c, auto key) {
    return c.first != key.first ? c.first < key.first : c.second < key.second;
  });
  if (it != end && it->first == a && it->second == b) return it->composite;
  return 0;
}

}  // namespace

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp >= kBadByteBase) {
    out.push_back(static_cast<char>(cp - kBadByteBase));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

CharClass classify_non_ascii(uint32_t cp) {
  if (cp >= kBadByteBase) return CharClass::kOther;
  if (in_ranges(ud::kLetterRanges, cp)) return CharClass::kLetter;
  if (in_ranges(ud::kNumberRanges, cp)) return CharClass::kNumber;
  if (in_ranges(ud::kWhiteSpaceRanges, cp)) return CharClass::kSpace;
  return CharClass::kOther;
}

bool is_word_char(uint32_t cp) { return cp < kBadByteBase && in_ranges(ud::kWordRanges, cp); }

bool is_white_space(uint32_t cp) { return cp < kBadByteBase && in_ranges(ud::kWhiteSpaceRanges, cp); }

bool nfc_quick_check(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    const Utf8Char c = decode_utf8(p + i, n - i);
    i += c.len;
    if (c.cp >= 0x300 && c.cp < kBadByteBase && in_ranges(ud::kNfcSensitiveRanges, c.cp)) return false;
  }
  return true;
}

std::string nfc(std::string_view s) {
  if (nfc_quick_check(s)) return std::string(s);
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  // 1. Full canonical decomposition.
  std::vector<uint32_t> cps;
  cps.reserve(n);
  for (size_t i = 0; i < n;) {
    const Utf8Char c = decode_utf8(p + i, n - i);
    i += c.len;
    if (c.cp >= kBadByteBase) {
      cps.push_back(c.cp);
    } else {
      decompose_into(c.cp, cps);
    }
  }
  // 2. Canonical ordering: stable sort of every run of non-starters by combining class.
  std::vector<uint8_t> ccc(cps.size());
  for (size_t i = 0; i < cps.size(); ++i) ccc[i] = combining_class(cps[i]);
  for (size_t i = 0; i < cps.size();) {
    if (ccc[i] == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && ccc[j] != 0) ++j;
    // Insertion sort (runs are short), stable.
    for (size_t a = i + 1; a < j; ++a) {
      const uint32_t cp = cps[a];
      const uint8_t cc = ccc[a];
      size_t b = a;
      while (b > i && ccc[b - 1] > cc) {
        cps[b] = cps[b - 1];
        ccc[b] = ccc[b - 1];
        --b;
      }
      cps[b] = cp;
      ccc[b] = cc;
    }
    i = j;
  }
  // 3. Canonical composition.
  if (!cps.empty()) {
    size_t starter = 0;
    int last_class = ccc[0] == 0 ? 0 : 256;
    size_t out = 1;
    for (size_t i = 1; i < cps.size(); ++i) {
      const uint32_t cp = cps[i];
      const int cc = ccc[i];
      const uint32_t composite =
          (last_class < cc || last_class == 0) && ccc[starter] == 0 ? compose_pair(cps[starter], cp) : 0;
      if (composite != 0) {
        cps[starter] = composite;
        continue;
      }
      if (cc == 0) starter = out;
      last_class = cc;
      cps[out] = cp;
      ccc[out] = static_cast<uint8_t>(cc);
      ++out;
    }
    cps.resize(out);
  }
  std::string result;
  result.reserve(n + 8);
  for (uint32_t cp : cps) append_utf8(result, cp);
  return result;
}

}  // namespace shedder::tokenizer_detail
