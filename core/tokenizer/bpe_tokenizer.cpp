// Byte-level BPE tokenizer reproducing Hugging Face `tokenizers` for GPT-2 / GPT-NeoX style
// tokenizer.json files: added-token splitting (two passes, leftmost-longest; token_trie.h), optional NFC, the
// ByteLevel pre-tokenizer with the GPT-2 split regex (hand-written; byte_level.h), BPE with HF's merge order,
// the ByteLevel decoder, and tokenizer.json's parsing with errors that name the field.
#include "tokenizer/bpe_tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "tokenizer/byte_level.h"
#include "tokenizer/token_trie.h"
#include "tokenizer/unicode_text.h"
#include "util/error.h"

namespace shedder {

using tokenizer_detail::CharClass;
using tokenizer_detail::classify;
using tokenizer_detail::decode_utf8;
using tokenizer_detail::Utf8Char;
using tokenizer_detail::byte_level_decode_token;
using tokenizer_detail::byte_level_string;
using tokenizer_detail::for_each_gpt2_piece;
using tokenizer_detail::TokenTrie;

namespace {

using json = nlohmann::json;

// Words longer than this (bytes) are not cached; the cache is cleared when it holds kCacheCapacity.
constexpr size_t kCacheMaxWordBytes = 256;
constexpr size_t kCacheCapacity = 1 << 16;

std::string quote_token(std::string_view s) {
  // Short, printable rendering of a token for error messages.
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < 64; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 64) out += "...";
  out += "\"";
  return out;
}

std::string type_name_of(const json& j) { return j.type_name(); }

struct AddedToken {
  std::string content;  // as written in tokenizer.json
  std::string pattern;  // what is matched: content, or its normalized form for normalized tokens
  int32_t id = 0;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// Last character of s[0..end) (lenient: a bad byte is its own character).
Utf8Char last_char(std::string_view s, size_t end) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t back = 1; back <= 4 && back <= end; ++back) {
    const size_t at = end - back;
    if ((p[at] & 0xC0) == 0x80 && back < 4 && at > 0) continue;
    const Utf8Char c = decode_utf8(p + at, end - at);
    if (c.len == back) return c;
    break;
  }
  return {tokenizer_detail::kBadByteBase + p[end - 1], 1};
}

struct Split {
  size_t begin;
  size_t end;
  int token;  // index into added tokens, -1 for plain text
};

// Per-thread word cache of one tokenizer instance (like HF's thread-local BPE cache).
struct WordCache {
  std::unordered_map<std::string, std::pair<uint32_t, uint32_t>> index;  // word -> (offset, count)
  std::vector<int32_t> ids;
};

std::atomic<uint64_t> g_next_instance_id{1};

WordCache& thread_cache(uint64_t instance_id) {
  thread_local std::vector<std::pair<uint64_t, std::unique_ptr<WordCache>>> caches;
  for (auto& entry : caches) {
    if (entry.first == instance_id) return *entry.second;
  }
  if (caches.size() >= 4) caches.erase(caches.begin());
  caches.emplace_back(instance_id, std::make_unique<WordCache>());
  return *caches.back().second;
}

}  // namespace

namespace tokenizer_detail {

// All state and the encoding logic; BpeTokenizer::Impl is this under the header's name.
struct TokenizerCore {
  TokenizerCore() {
    byte_ids.fill(-1);
    fallback_ids.fill(-1);
  }

  uint64_t instance_id = g_next_instance_id.fetch_add(1);

  // Model.
  std::unordered_map<std::string, int32_t> vocab;
  std::unordered_map<int32_t, std::string> decoded;                  // id -> bytes it decodes to
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;  // (a,b) -> (rank, new id)
  std::array<int32_t, 256> byte_ids{};                               // byte -> id of its stand-in
  std::optional<int32_t> unk_id;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
  std::array<int32_t, 256> fallback_ids{};  // id of "<0xXX>" or -1

  // Normalizer, pre-tokenizer.
  bool nfc = false;
  bool add_prefix_space = false;
  bool use_regex = true;

  // Added tokens.
  std::vector<AddedToken> added;
  std::unordered_map<std::string, int32_t> added_ids;  // content -> id
  TokenTrie raw_trie;                                  // normalized == false
  TokenTrie normalized_trie;                           // normalized == true
  std::optional<int32_t> eos;
  size_t vocab_size = 0;

  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  // HF AddedVocabulary::find_matches: splits covering s, with lstrip/rstrip/single_word applied.
  void find_matches(std::string_view s, const TokenTrie& trie, std::vector<Split>& out) const {
    out.clear();
    if (trie.empty()) {
      out.push_back({0, s.size(), -1});
      return;
    }
    size_t start_offset = 0;
    size_t from = 0;
    size_t mstart = 0, mend = 0;
    int token = -1;
    while (from < s.size() && trie.find(s, from, mstart, mend, token)) {
      from = mend;
      // A match inside whitespace that an rstrip token already took: HF panics ("bad split"); skip it.
      if (mstart < start_offset) continue;
      const AddedToken& t = added[static_cast<size_t>(token)];
      size_t start = mstart, stop = mend;
      if (t.single_word) {
        const bool start_space = start == 0 || !tokenizer_detail::is_word_char(last_char(s, start).cp);
        bool stop_space = stop == s.size();
        if (!stop_space) {
          const auto* p = reinterpret_cast<const unsigned char*>(s.data());
          stop_space = !tokenizer_detail::is_word_char(decode_utf8(p + stop, s.size() - stop).cp);
        }
        if (!start_space || !stop_space) continue;
      }
      if (t.lstrip) {
        size_t new_start = start;
        while (new_start > 0) {
          const Utf8Char c = last_char(s, new_start);
          if (!tokenizer_detail::is_white_space(c.cp)) break;
          new_start -= c.len;
        }
        start = std::max(new_start, start_offset);
      }
      if (t.rstrip) {
        const auto* p = reinterpret_cast<const unsigned char*>(s.data());
        while (stop < s.size()) {
          const Utf8Char c = decode_utf8(p + stop, s.size() - stop);
          if (!tokenizer_detail::is_white_space(c.cp)) break;
          stop += c.len;
        }
      }
      if (start_offset < start) out.push_back({start_offset, start, -1});
      out.push_back({start, stop, token});
      start_offset = stop;
    }
    if (start_offset != s.size()) out.push_back({start_offset, s.size(), -1});
  }

  // Applies HF's BPE (Word::merge_all, without dropout) to one pre-tokenized word.
  void bpe_uncached(std::string_view word, std::vector<int32_t>& out) const {
    if (ignore_merges) {
      auto it = vocab.find(byte_level_string(word));
      if (it != vocab.end()) {
        out.push_back(it->second);
        return;
      }
    }
    struct Symbol {
      int32_t id;
      int32_t prev;
      int32_t next;
      bool alive;
    };
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    auto add = [&](int32_t id) {
      const int32_t n = static_cast<int32_t>(symbols.size());
      if (n > 0) symbols.back().next = n;
      symbols.push_back({id, n - 1, -1, true});
    };
    std::optional<int32_t> pending_unk;
    for (unsigned char b : word) {
      const int32_t id = byte_ids[b];
      if (id >= 0) {
        if (pending_unk) {
          add(*pending_unk);
          pending_unk.reset();
        }
        add(id);
        continue;
      }
      if (byte_fallback) {
        // HF falls back on the bytes of the (byte-level) character, which is one or two bytes.
        const std::string ch = byte_level_symbol(b);
        bool all = true;
        for (unsigned char cb : ch) all = all && fallback_ids[cb] >= 0;
        if (all) {
          for (unsigned char cb : ch) add(fallback_ids[cb]);
          continue;
        }
      }
      if (unk_id) {
        if (pending_unk && !fuse_unk) add(*pending_unk);
        pending_unk = *unk_id;
      }
    }
    if (pending_unk) add(*pending_unk);

    struct Merge {
      int32_t pos;
      int32_t rank;
      int32_t new_id;
    };
    // Min-heap on (rank, pos).
    auto after = [](const Merge& x, const Merge& y) {
      return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos;
    };
    std::vector<Merge> heap;
    heap.reserve(symbols.size() * 2);
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = merges.find(pair_key(symbols[i].id, symbols[i + 1].id));
      if (it != merges.end()) heap.push_back({static_cast<int32_t>(i), it->second.first, it->second.second});
    }
    std::make_heap(heap.begin(), heap.end(), after);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), after);
      const Merge top = heap.back();
      heap.pop_back();
      Symbol& cur = symbols[static_cast<size_t>(top.pos)];
      if (!cur.alive || cur.next == -1) continue;
      const size_t next_pos = static_cast<size_t>(cur.next);
      const Symbol right = symbols[next_pos];
      auto check = merges.find(pair_key(cur.id, right.id));
      if (check == merges.end() || check->second.second != top.new_id) continue;  // stale entry
      cur.id = top.new_id;
      cur.next = right.next;
      symbols[next_pos].alive = false;
      if (right.next >= 0 && static_cast<size_t>(right.next) < symbols.size()) {
        symbols[static_cast<size_t>(right.next)].prev = top.pos;
      }
      if (cur.prev >= 0) {
        auto it = merges.find(pair_key(symbols[static_cast<size_t>(cur.prev)].id, cur.id));
        if (it != merges.end()) {
          heap.push_back({cur.prev, it->second.first, it->second.second});
          std::push_heap(heap.begin(), heap.end(), after);
        }
      }
      if (cur.next >= 0) {
        auto it = merges.find(pair_key(cur.id, symbols[static_cast<size_t>(cur.next)].id));
        if (it != merges.end()) {
          heap.push_back({top.pos, it->second.first, it->second.second});
          std::push_heap(heap.begin(), heap.end(), after);
        }
      }
    }
    for (const Symbol& s : symbols) {
      if (s.alive) out.push_back(s.id);
    }
  }

  void bpe_word(std::string_view word, WordCache& cache, std::vector<int32_t>& out) const {
    if (word.size() > kCacheMaxWordBytes) {
      bpe_uncached(word, out);
      return;
    }
    std::string key(word);
    auto it = cache.index.find(key);
    if (it != cache.index.end()) {
      const int32_t* ids = cache.ids.data() + it->second.first;
      out.insert(out.end(), ids, ids + it->second.second);
      return;
    }
    const size_t before = out.size();
    bpe_uncached(word, out);
    if (cache.index.size() >= kCacheCapacity) {
      cache.index.clear();
      cache.ids.clear();
    }
    const auto offset = static_cast<uint32_t>(cache.ids.size());
    cache.ids.insert(cache.ids.end(), out.begin() + static_cast<std::ptrdiff_t>(before), out.end());
    cache.index.emplace(std::move(key), std::make_pair(offset, static_cast<uint32_t>(out.size() - before)));
  }

  void encode_piece(std::string_view piece, WordCache& cache, std::vector<int32_t>& out) const {
    if (piece.empty()) return;
    std::string prefixed;
    if (add_prefix_space && piece[0] != ' ') {
      prefixed.reserve(piece.size() + 1);
      prefixed.push_back(' ');
      prefixed.append(piece);
      piece = prefixed;
    }
    if (!use_regex) {
      bpe_word(piece, cache, out);
      return;
    }
    for_each_gpt2_piece(piece, [&](std::string_view word) { bpe_word(word, cache, out); });
  }

  std::vector<int32_t> encode(std::string_view text) const {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    if (text.empty()) return out;
    WordCache& cache = thread_cache(instance_id);
    std::vector<Split> outer, inner;
    find_matches(text, raw_trie, outer);
    for (const Split& seg : outer) {
      if (seg.token >= 0) {
        out.push_back(added[static_cast<size_t>(seg.token)].id);
        continue;
      }
      std::string_view s = text.substr(seg.begin, seg.end - seg.begin);
      if (s.empty()) continue;
      std::string normalized;
      if (nfc && !tokenizer_detail::nfc_quick_check(s)) {
        normalized = tokenizer_detail::nfc(s);
        s = normalized;
      }
      find_matches(s, normalized_trie, inner);
      for (const Split& piece : inner) {
        if (piece.token >= 0) {
          out.push_back(added[static_cast<size_t>(piece.token)].id);
        } else {
          encode_piece(s.substr(piece.begin, piece.end - piece.begin), cache, out);
        }
      }
    }
    return out;
  }
};

}  // namespace tokenizer_detail

struct BpeTokenizer::Impl : tokenizer_detail::TokenizerCore {};

namespace {

using tokenizer_detail::TokenizerCore;

// ---- tokenizer.json parsing -------------------------------------------------------------------

[[noreturn]] void fail(const std::string& label, const std::string& what) {
  throw Error(label + ": " + what);
}

std::string type_of_component(const json& j, const std::string& label, const std::string& where) {
  if (!j.is_object()) fail(label, where + " is not an object or null (got " + type_name_of(j) + ")");
  auto it = j.find("type");
  if (it == j.end()) fail(label, where + " has no \"type\"");
  if (!it->is_string()) fail(label, where + ".type is not a string");
  return it->get<std::string>();
}

bool bool_field(const json& obj, const char* key, bool fallback, const std::string& label,
                const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail(label, where + "." + key + " is not a boolean");
  return it->get<bool>();
}

int32_t id_value(const json& j, const std::string& label, const std::string& where) {
  if (j.is_number_unsigned()) {
    const auto v = j.get<uint64_t>();
    if (v <= static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) return static_cast<int32_t>(v);
  } else if (j.is_number_integer()) {
    const auto v = j.get<int64_t>();
    if (v >= 0 && v <= std::numeric_limits<int32_t>::max()) return static_cast<int32_t>(v);
  }
  fail(label, where + " is not a token id (an integer from 0 to 2147483647)");
}

void parse_normalizer(const json& j, TokenizerCore& impl, const std::string& label,
                      const std::string& where) {
  if (j.is_null()) return;
  const std::string type = type_of_component(j, label, where);
  if (type == "NFC") {
    impl.nfc = true;
  } else if (type == "Sequence") {
    auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) fail(label, where + ".normalizers is missing or not an array");
    for (size_t i = 0; i < it->size(); ++i) {
      parse_normalizer((*it)[i], impl, label, where + ".normalizers[" + std::to_string(i) + "]");
    }
  } else {
    fail(label,
         where + " type " + quote_token(type) + " is not supported (supported: NFC, Sequence of NFC, null)");
  }
}

void parse_pre_tokenizer(const json& j, TokenizerCore& impl, const std::string& label) {
  const std::string where = "pre_tokenizer";
  if (j.is_null()) fail(label, "pre_tokenizer is null; only ByteLevel is supported");
  const json* byte_level = &j;
  std::string type = type_of_component(j, label, where);
  std::string bl_where = where;
  if (type == "Sequence") {
    auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array())
      fail(label, "pre_tokenizer.pretokenizers is missing or not an array");
    if (it->size() != 1) {
      fail(label, "pre_tokenizer Sequence of " + std::to_string(it->size()) +
                      " pre-tokenizers is not supported (only a single ByteLevel)");
    }
    byte_level = &(*it)[0];
    bl_where = "pre_tokenizer.pretokenizers[0]";
    type = type_of_component(*byte_level, label, bl_where);
  }
  if (type != "ByteLevel") {
    fail(label, bl_where + " type " + quote_token(type) + " is not supported (only ByteLevel)");
  }
  impl.add_prefix_space = bool_field(*byte_level, "add_prefix_space", true, label, bl_where);
  impl.use_regex = bool_field(*byte_level, "use_regex", true, label, bl_where);
}

void parse_decoder(const json& j, const std::string& label) {
  if (j.is_null()) return;  // decoded with the byte-level inverse mapping all the same
  std::string type = type_of_component(j, label, "decoder");
  if (type == "Sequence") {
    auto it = j.find("decoders");
    if (it == j.end() || !it->is_array()) fail(label, "decoder.decoders is missing or not an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string where = "decoder.decoders[" + std::to_string(i) + "]";
      const std::string t = type_of_component((*it)[i], label, where);
      if (t != "ByteLevel")
        fail(label, where + " type " + quote_token(t) + " is not supported (only ByteLevel)");
    }
    return;
  }
  if (type != "ByteLevel")
    fail(label, "decoder type " + quote_token(type) + " is not supported (only ByteLevel)");
}

void parse_post_processor(const json& j, const std::string& label) {
  if (j.is_null()) return;
  const std::string type = type_of_component(j, label, "post_processor");
  if (type != "ByteLevel") {
    fail(label, "post_processor type " + quote_token(type) + " is not supported (only ByteLevel or null)");
  }
}

void parse_model(const json& model, TokenizerCore& impl, const std::string& label) {
  if (!model.is_object()) fail(label, "model is not an object (got " + type_name_of(model) + ")");
  auto type_it = model.find("type");
  if (type_it != model.end()) {
    if (!type_it->is_string()) fail(label, "model.type is not a string");
    const std::string type = type_it->get<std::string>();
    if (type != "BPE") fail(label, "model type " + quote_token(type) + " is not supported (only BPE)");
  }
  auto dropout = model.find("dropout");
  if (dropout != model.end() && !dropout->is_null()) {
    if (!dropout->is_number()) fail(label, "model.dropout is not a number or null");
    if (dropout->get<double>() != 0.0) fail(label, "model.dropout other than null or 0 is not supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    if (it == model.end() || it->is_null()) continue;
    if (!it->is_string()) fail(label, std::string("model.") + key + " is not a string or null");
    if (!it->get<std::string>().empty()) fail(label, std::string("model.") + key + " is not supported");
  }
  impl.fuse_unk = bool_field(model, "fuse_unk", false, label, "model");
  impl.byte_fallback = bool_field(model, "byte_fallback", false, label, "model");
  impl.ignore_merges = bool_field(model, "ignore_merges", false, label, "model");

  auto vocab_it = model.find("vocab");
  if (vocab_it == model.end()) fail(label, "model.vocab is missing");
  if (!vocab_it->is_object())
    fail(label, "model.vocab is not an object (got " + type_name_of(*vocab_it) + ")");
  impl.vocab.reserve(vocab_it->size());
  for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) {
    const int32_t id = id_value(it.value(), label, "model.vocab[" + quote_token(it.key()) + "]");
    impl.vocab[it.key()] = id;
  }
  impl.decoded.reserve(impl.vocab.size());
  for (const auto& [token, id] : impl.vocab) {
    impl.decoded[id] = byte_level_decode_token(token);
    impl.vocab_size = std::max(impl.vocab_size, static_cast<size_t>(id) + 1);
  }

  auto unk_it = model.find("unk_token");
  if (unk_it != model.end() && !unk_it->is_null()) {
    if (!unk_it->is_string()) fail(label, "model.unk_token is not a string or null");
    auto found = impl.vocab.find(unk_it->get<std::string>());
    if (found == impl.vocab.end())
      fail(label, "model.unk_token " + quote_token(unk_it->get<std::string>()) + " is not in vocab");
    impl.unk_id = found->second;
  }

  for (int b = 0; b < 256; ++b) {
    auto it = impl.vocab.find(byte_level_symbol(static_cast<uint8_t>(b)));
    impl.byte_ids[b] = it == impl.vocab.end() ? -1 : it->second;
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    auto fb = impl.vocab.find(buf);
    impl.fallback_ids[b] = fb == impl.vocab.end() ? -1 : fb->second;
  }

  auto merges_it = model.find("merges");
  if (merges_it == model.end()) fail(label, "model.merges is missing");
  if (!merges_it->is_array())
    fail(label, "model.merges is not an array (got " + type_name_of(*merges_it) + ")");
  impl.merges.reserve(merges_it->size());
  const size_t count = merges_it->size();
  if (count > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    fail(label, "model.merges is too long");
  std::string a, b;
  int32_t rank = 0;
  for (size_t i = 0; i < count; ++i) {
    const json& m = (*merges_it)[i];
    const std::string where = "merges[" + std::to_string(i) + "]";
    if (m.is_string()) {
      const std::string& line = m.get_ref<const std::string&>();
      // HF's legacy form skips "#version" lines and ranks the remaining ones.
      if (line.rfind("#version", 0) == 0) continue;
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        fail(label, where + " " + quote_token(line) + " is not two tokens separated by one space");
      }
      a = line.substr(0, space);
      b = line.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      fail(label, where + " is not a string or a pair of strings");
    }
    auto ia = impl.vocab.find(a);
    if (ia == impl.vocab.end())
      fail(label, where + " refers to token " + quote_token(a) + " that is not in vocab");
    auto ib = impl.vocab.find(b);
    if (ib == impl.vocab.end())
      fail(label, where + " refers to token " + quote_token(b) + " that is not in vocab");
    auto inew = impl.vocab.find(a + b);
    if (inew == impl.vocab.end())
      fail(label, where + " makes token " + quote_token(a + b) + " that is not in vocab");
    // A repeated pair keeps its last rank, as HF's map does.
    impl.merges[TokenizerCore::pair_key(ia->second, ib->second)] = {rank, inew->second};
    ++rank;
  }
}

void parse_added_tokens(const json& list, TokenizerCore& impl, const std::string& label) {
  if (list.is_null()) return;
  if (!list.is_array()) fail(label, "added_tokens is not an array");
  std::unordered_map<std::string, size_t> by_content;
  std::unordered_map<int32_t, size_t> by_id;
  for (size_t i = 0; i < list.size(); ++i) {
    const json& t = list[i];
    const std::string where = "added_tokens[" + std::to_string(i) + "]";
    if (!t.is_object()) fail(label, where + " is not an object");
    auto content_it = t.find("content");
    if (content_it == t.end() || !content_it->is_string())
      fail(label, where + ".content is missing or not a string");
    AddedToken tok;
    tok.content = content_it->get<std::string>();
    if (tok.content.empty()) continue;  // HF ignores empty added tokens
    tok.single_word = bool_field(t, "single_word", false, label, where);
    tok.lstrip = bool_field(t, "lstrip", false, label, where);
    tok.rstrip = bool_field(t, "rstrip", false, label, where);
    tok.special = bool_field(t, "special", false, label, where);
    tok.normalized = bool_field(t, "normalized", !tok.special, label, where);
    auto in_vocab = impl.vocab.find(tok.content);
    if (in_vocab != impl.vocab.end()) {
      tok.id = in_vocab->second;
    } else {
      auto id_it = t.find("id");
      if (id_it == t.end()) fail(label, where + ".id is missing");
      tok.id = id_value(*id_it, label, where + ".id");
    }
    tok.pattern = tok.normalized && impl.nfc ? tokenizer_detail::nfc(tok.content) : tok.content;
    // Later entries replace earlier ones with the same content or id (HF keeps one per id).
    size_t slot;
    auto same_content = by_content.find(tok.content);
    auto same_id = by_id.find(tok.id);
    if (same_id != by_id.end()) {
      slot = same_id->second;
    } else if (same_content != by_content.end()) {
      slot = same_content->second;
    } else {
      slot = impl.added.size();
      impl.added.emplace_back();
    }
    impl.added[slot] = tok;
    by_content[tok.content] = slot;
    by_id[tok.id] = slot;
  }
  for (size_t i = 0; i < impl.added.size(); ++i) {
    const AddedToken& tok = impl.added[i];
    if (tok.content.empty()) continue;
    (tok.normalized ? impl.normalized_trie : impl.raw_trie).add(tok.pattern, static_cast<int>(i));
    impl.added_ids[tok.content] = tok.id;
    impl.decoded[tok.id] = tok.content;
    impl.vocab_size = std::max(impl.vocab_size, static_cast<size_t>(tok.id) + 1);
  }
}

}  // namespace

BpeTokenizer::BpeTokenizer() : impl_(std::make_unique<Impl>()) {}
BpeTokenizer::~BpeTokenizer() = default;
BpeTokenizer::BpeTokenizer(BpeTokenizer&&) noexcept = default;
BpeTokenizer& BpeTokenizer::operator=(BpeTokenizer&&) noexcept = default;

BpeTokenizer BpeTokenizer::from_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open tokenizer file (missing or unreadable)");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw Error(path + ": error while reading tokenizer file");
  return from_json(ss.str(), path);
}

BpeTokenizer BpeTokenizer::from_json(std::string_view json_text, const std::string& label) {
  BpeTokenizer tok;
  Impl& impl = *tok.impl_;
  try {
    json root;
    try {
      root = json::parse(json_text.begin(), json_text.end());
    } catch (const json::exception& e) {
      fail(label, std::string("invalid JSON: ") + e.what());
    }
    if (!root.is_object()) fail(label, "top level is not a JSON object (got " + type_name_of(root) + ")");
    auto model = root.find("model");
    if (model == root.end()) fail(label, "missing \"model\"");
    // The normalizer comes first: normalized added tokens are matched in normalized form.
    auto normalizer = root.find("normalizer");
    if (normalizer != root.end()) parse_normalizer(*normalizer, impl, label, "normalizer");
    auto pre = root.find("pre_tokenizer");
    if (pre == root.end()) fail(label, "missing \"pre_tokenizer\" (only ByteLevel is supported)");
    parse_pre_tokenizer(*pre, impl, label);
    auto decoder = root.find("decoder");
    if (decoder != root.end()) parse_decoder(*decoder, label);
    auto post = root.find("post_processor");
    if (post != root.end()) parse_post_processor(*post, label);
    parse_model(*model, impl, label);
    auto added = root.find("added_tokens");
    if (added != root.end()) parse_added_tokens(*added, impl, label);
    // End of text: "<|endoftext|>" (added or in vocab), else the first special added token.
    impl.eos = tok.token_to_id("<|endoftext|>");
    for (size_t i = 0; !impl.eos && i < impl.added.size(); ++i) {
      if (impl.added[i].special) impl.eos = impl.added[i].id;
    }
  } catch (const json::exception& e) {
    fail(label, std::string("malformed tokenizer.json: ") + e.what());
  }
  return tok;
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const { return impl_->encode(text); }

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) {
    auto it = impl_->decoded.find(id);
    if (it != impl_->decoded.end()) out += it->second;  // unknown ids are skipped, as HF does
  }
  return out;
}

size_t BpeTokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int32_t> BpeTokenizer::token_to_id(std::string_view token) const {
  const std::string key(token);
  auto added = impl_->added_ids.find(key);
  if (added != impl_->added_ids.end()) return added->second;
  auto it = impl_->vocab.find(key);
  if (it != impl_->vocab.end()) return it->second;
  return std::nullopt;
}

std::optional<int32_t> BpeTokenizer::eos_id() const { return impl_->eos; }

}  // namespace shedder
