#!/usr/bin/env python3
"""Generates core/tokenizer/unicode_tables.h: the Unicode data the byte-level BPE tokenizer needs.

Tables (all sorted, searched by binary search):
  * letter / number ranges (General_Category L* and N*) for the GPT-2 split regex,
  * word ranges (\\w as Rust's regex defines it) for added tokens with single_word,
  * White_Space (hard-coded below: unicodedata does not expose the property),
  * NFC data: canonical combining classes, full canonical decompositions, primary composites and
    the code points for which the NFC quick check is not a plain "yes".

Unicode versions. The split-regex classes come from this Python's unicodedata (3.11: Unicode 14.0,
the version of the Oniguruma that Hugging Face `tokenizers` matches its ByteLevel regex with).
`tokenizers` normalizes with the crate unicode-normalization-alignments 0.1.12, whose tables are
Unicode 9.0.0, so the NFC tables are this Python's data restricted to Unicode 9.0: the code points in
POST_9_0_NFC got a combining class or a canonical decomposition after 9.0 (found by comparing that
crate's tables with unicodedata 14.0) and are treated as unassigned (class 0, no mapping). Canonical
data of a code point never changes once assigned, so nothing else differs.

Usage: python3 core/tokenizer/gen_unicode_tables.py > core/tokenizer/unicode_tables.h
"""
import sys
import unicodedata

MAX_CP = 0x110000
# Hangul syllables are decomposed / composed algorithmically by the C++ code.
S_BASE, S_COUNT = 0xAC00, 11172

# White_Space from PropList.txt (unchanged since Unicode 6.3).
WHITE_SPACE = [(0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
               (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
               (0x3000, 0x3000)]
# Code points assigned after Unicode 9.0 with a non-zero combining class or a canonical decomposition.
POST_9_0_NFC = [
    (0x7FD, 0x7FD), (0x898, 0x89F), (0x8CA, 0x8D3), (0x9FE, 0x9FE), (0xC3C, 0xC3C), (0xD3B, 0xD3C),
    (0xEBA, 0xEBA), (0x1715, 0x1715), (0x1ABF, 0x1ACE), (0x1DF6, 0x1DFA), (0xA82C, 0xA82C),
    (0x10D24, 0x10D27), (0x10EAB, 0x10EAC), (0x10F46, 0x10F50), (0x10F82, 0x10F85), (0x11070, 0x11070),
    (0x1133B, 0x1133B), (0x1145E, 0x1145E), (0x11839, 0x1183A), (0x11938, 0x11938), (0x1193D, 0x1193E),
    (0x11943, 0x11943), (0x119E0, 0x119E0), (0x11A34, 0x11A34), (0x11A47, 0x11A47), (0x11A99, 0x11A99),
    (0x11D42, 0x11D42), (0x11D44, 0x11D45), (0x11D97, 0x11D97), (0x16FF0, 0x16FF1), (0x1E130, 0x1E136),
    (0x1E2AE, 0x1E2AE), (0x1E2EC, 0x1E2EF)]
# Other_Alphabetic code points that are not marks (circled / squared letters): part of \w.
EXTRA_WORD = [(0x24B6, 0x24E9), (0x1F130, 0x1F149), (0x1F150, 0x1F169), (0x1F170, 0x1F189)]


def ranges(pred):
  out, start = [], None
  for cp in range(MAX_CP):
    if pred(cp):
      if start is None:
        start = cp
    elif start is not None:
      out.append((start, cp - 1))
      start = None
  if start is not None:
    out.append((start, MAX_CP - 1))
  return out


def merge_ranges(rs):
  rs = sorted(rs)
  out = []
  for a, b in rs:
    if out and a <= out[-1][1] + 1:
      out[-1] = (out[-1][0], max(out[-1][1], b))
    else:
      out.append((a, b))
  return out


def post_9_0(cp):
  return any(a <= cp <= b for a, b in POST_9_0_NFC)


def combining_9_0(cp):
  return 0 if post_9_0(cp) else unicodedata.combining(chr(cp))


def nfd_9_0(ch):
  return ch if post_9_0(ord(ch)) else unicodedata.normalize("NFD", ch)


def nfc_9_0(ch):
  return ch if post_9_0(ord(ch)) else unicodedata.normalize("NFC", ch)


def cat(cp):
  return unicodedata.category(chr(cp))


def emit_ranges(name, rs):
  print(f"inline constexpr CodePointRange {name}[] = {{")
  line = " "
  for a, b in rs:
    item = f" {{0x{a:X}, 0x{b:X}}},"
    if len(line) + len(item) > 106:
      print(line)
      line = " "
    line += item
  if line.strip():
    print(line)
  print("};")
  print()


def emit_u32(name, values, per_line=10):
  print(f"inline constexpr uint32_t {name}[] = {{")
  for i in range(0, len(values), per_line):
    print("  " + " ".join(f"0x{v:X}," for v in values[i:i + per_line]))
  print("};")
  print()


def main():
  letters = ranges(lambda cp: cat(cp).startswith("L"))
  numbers = ranges(lambda cp: cat(cp).startswith("N"))
  word_cats = {"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "Pc"}
  words = merge_ranges(ranges(lambda cp: cat(cp) in word_cats) + EXTRA_WORD + [(0x200C, 0x200D)])

  # Canonical combining classes: (first, last, class) runs of equal non-zero class.
  ccc_runs, start, cur = [], None, 0
  for cp in range(MAX_CP + 1):
    c = combining_9_0(cp) if cp < MAX_CP else 0
    if c != cur:
      if cur != 0:
        ccc_runs.append((start, cp - 1, cur))
      start, cur = cp, c

  # Full canonical decompositions (NFD of one code point), Hangul excluded.
  decomp_index, decomp_data = [], []
  for cp in range(MAX_CP):
    if S_BASE <= cp < S_BASE + S_COUNT or 0xD800 <= cp <= 0xDFFF:
      continue
    d = nfd_9_0(chr(cp))
    if d != chr(cp):
      decomp_index.append((cp, len(decomp_data), len(d)))
      decomp_data.extend(ord(x) for x in d)

  # Primary composites: canonical pair decompositions that NFC keeps composed.
  compositions = []
  second_elements = set()
  for cp in range(MAX_CP):
    if S_BASE <= cp < S_BASE + S_COUNT or 0xD800 <= cp <= 0xDFFF or post_9_0(cp):
      continue
    raw = unicodedata.decomposition(chr(cp))
    if not raw or raw.startswith("<"):
      continue
    parts = [int(x, 16) for x in raw.split()]
    if len(parts) != 2:
      continue
    if nfc_9_0(chr(cp)) != chr(cp):
      continue  # composition exclusion or non-starter decomposition
    compositions.append((parts[0], parts[1], cp))
    second_elements.add(parts[1])
  compositions.sort()

  # Code points that may change under NFC or make a neighbour change (quick check not "yes",
  # or non-zero combining class). Hangul jamo V and T compose with a preceding L / LV.
  def nfc_sensitive(cp):
    if 0xD800 <= cp <= 0xDFFF:
      return False
    ch = chr(cp)
    if combining_9_0(cp) != 0 or cp in second_elements:
      return True
    if 0x1161 <= cp <= 0x1175 or 0x11A8 <= cp <= 0x11C2:
      return True
    return nfc_9_0(ch) != ch
  sensitive = ranges(nfc_sensitive)

  print("// GENERATED FILE, do not edit. Unicode data for the byte-level BPE tokenizer (GPT-2 split")
  print("// regex classes, \\w, White_Space, NFC). Made by:")
  print("//   python3 core/tokenizer/gen_unicode_tables.py > core/tokenizer/unicode_tables.h")
  version = f"Python {sys.version.split()[0]}'s unicodedata (Unicode {unicodedata.unidata_version})"
  print(f"// from {version}; NFC data restricted to Unicode 9.0.0")
  print("// like Hugging Face tokenizers' normalizer (see the script).")
  print("#pragma once")
  print()
  print("#include <cstdint>")
  print()
  print("namespace shedder::unicode_data {")
  print()
  print("struct CodePointRange {")
  print("  uint32_t first;")
  print("  uint32_t last;")
  print("};")
  print()
  print("struct CombiningClassRange {")
  print("  uint32_t first;")
  print("  uint32_t last;")
  print("  uint8_t ccc;")
  print("};")
  print()
  print("struct Decomposition {")
  print("  uint32_t cp;")
  print("  uint16_t offset;  // into kDecompositionData")
  print("  uint8_t length;")
  print("};")
  print()
  print("struct Composition {")
  print("  uint32_t first;")
  print("  uint32_t second;")
  print("  uint32_t composite;")
  print("};")
  print()
  print(f'inline constexpr const char kUnicodeVersion[] = "{unicodedata.unidata_version}";')
  print('inline constexpr const char kNfcUnicodeVersion[] = "9.0.0";')
  print()
  print("// General_Category L* (letters).")
  emit_ranges("kLetterRanges", letters)
  print("// General_Category N* (numbers).")
  emit_ranges("kNumberRanges", numbers)
  print("// White_Space.")
  emit_ranges("kWhiteSpaceRanges", WHITE_SPACE)
  print("// \\w: L*, M*, Nd, Nl, Pc, Join_Control and the non-mark Other_Alphabetic letters.")
  emit_ranges("kWordRanges", words)
  print("// Code points whose NFC quick check is not plain yes (or with a non-zero combining class).")
  emit_ranges("kNfcSensitiveRanges", sensitive)
  print("// Canonical combining classes (runs of one non-zero class).")
  print("inline constexpr CombiningClassRange kCombiningClasses[] = {")
  for a, b, c in ccc_runs:
    print(f"  {{0x{a:X}, 0x{b:X}, {c}}},")
  print("};")
  print()
  assert len(decomp_data) < 65536 and max(x[2] for x in decomp_index) < 256
  print("// Full canonical decompositions (Hangul syllables excluded), sorted by code point.")
  print("inline constexpr Decomposition kDecompositions[] = {")
  for cp, off, n in decomp_index:
    print(f"  {{0x{cp:X}, {off}, {n}}},")
  print("};")
  print()
  emit_u32("kDecompositionData", decomp_data)
  print("// Primary composites, sorted by (first, second).")
  print("inline constexpr Composition kCompositions[] = {")
  for a, b, c in compositions:
    print(f"  {{0x{a:X}, 0x{b:X}, 0x{c:X}}},")
  print("};")
  print()
  print("}  // namespace shedder::unicode_data")


if __name__ == "__main__":
  main()
