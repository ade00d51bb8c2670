// Byte-level BPE trainer: word counting over the GPT-2 pre-tokenizer split, then BPE merges with
// incremental pair counts (pair -> count and words, max-heap with lazy invalidation), written out as a
// Hugging Face tokenizer.json.
#include "tokenizer/bpe_trainer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace shedder {

namespace {

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
int32_t key_left(uint64_t k) { return static_cast<int32_t>(k >> 32); }
int32_t key_right(uint64_t k) { return static_cast<int32_t>(k & 0xFFFFFFFFu); }

struct PairInfo {
  int64_t count = 0;
  std::vector<uint32_t> words;  // ids of words that contain (or once contained) the pair; may repeat
};

struct HeapEntry {
  int64_t count;
  uint64_t key;
};

void check_options(const BpeTrainOptions& opts) {
  const size_t specials = opts.special_tokens.size();
  const size_t minimum = 256 + specials;
  if (opts.vocab_size < minimum) {
    throw Error("BPE training: vocab_size " + std::to_string(opts.vocab_size) + " is too small; it must be at least " +
                std::to_string(minimum) + " (" + std::to_string(specials) +
                " special token(s) + 256 byte symbols)");
  }
  if (opts.vocab_size > static_cast<size_t>(INT32_MAX)) throw Error("BPE training: vocab_size is too large");
  if (opts.min_frequency < 1) {
    throw Error("BPE training: min_frequency must be at least 1 (got " + std::to_string(opts.min_frequency) + ")");
  }
  std::unordered_set<std::string> seen;
  std::unordered_set<std::string> byte_symbols;
  for (int b = 0; b < 256; ++b) byte_symbols.insert(byte_level_symbol(static_cast<uint8_t>(b)));
  for (const std::string& s : opts.special_tokens) {
    if (s.empty()) throw Error("BPE training: a special token is empty");
    if (!seen.insert(s).second) throw Error("BPE training: special token '" + s + "' is listed twice");
    if (byte_symbols.count(s))
      throw Error("BPE training: special token '" + s + "' is the same string as a byte symbol");
  }
}

// Calls fn(segment) for the parts of `doc` between occurrences of the special tokens (leftmost
// match, longest on a tie), which are dropped.
template <typename Fn>
void for_each_plain_segment(std::string_view doc, const std::vector<std::string>& specials, Fn&& fn) {
  size_t from = 0;
  while (from < doc.size()) {
    size_t best = std::string_view::npos, best_len = 0;
    for (const std::string& s : specials) {
      const size_t at = doc.find(s, from);
      if (at == std::string_view::npos) continue;
      if (at < best || (at == best && s.size() > best_len)) {
        best = at;
        best_len = s.size();
      }
    }
    if (best == std::string_view::npos) {
      fn(doc.substr(from));
      return;
    }
    if (best > from) fn(doc.substr(from, best - from));
    from = best + best_len;
  }
}

std::string byte_level_string(std::string_view bytes, const std::vector<std::string>& symbols) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += symbols[b];
  return out;
}

}  // namespace

std::string train_byte_level_bpe(const std::vector<std::string>& documents, const BpeTrainOptions& opts) {
  check_options(opts);
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto check_cancel = [&] {
    if (opts.cancel && opts.cancel->cancelled()) throw Cancelled();
  };
  const int32_t num_specials = static_cast<int32_t>(opts.special_tokens.size());
  std::vector<std::string> byte_symbols(256);
  for (int b = 0; b < 256; ++b) byte_symbols[b] = byte_level_symbol(static_cast<uint8_t>(b));

  // ---- Distinct words and their counts. ----
  std::unordered_map<std::string_view, int64_t> word_counts;
  for (size_t d = 0; d < documents.size(); ++d) {
    for_each_plain_segment(documents[d], opts.special_tokens, [&](std::string_view seg) {
      for (std::string_view piece : byte_level_pretokenize(seg)) ++word_counts[piece];
    });
    if (opts.progress && (d % 1024 == 0 || d + 1 == documents.size())) {
      check_cancel();
      Progress p;
      p.stage = "bpe words";
      p.done = static_cast<int64_t>(d + 1);
      p.total = static_cast<int64_t>(documents.size());
      p.elapsed_s = elapsed();
      opts.progress(p);
    }
  }

  // Token bytes by id (specials hold their content; they never take part in merges).
  std::vector<std::string> token_bytes;
  token_bytes.reserve(opts.vocab_size);
  for (const std::string& s : opts.special_tokens) token_bytes.push_back(s);
  for (int b = 0; b < 256; ++b) token_bytes.emplace_back(1, static_cast<char>(b));
  std::unordered_map<std::string, int32_t> id_of;  // byte and merged tokens: bytes -> id
  for (int b = 0; b < 256; ++b) id_of.emplace(token_bytes[num_specials + b], num_specials + b);

  // Words in a fixed order (sorted by bytes) so that nothing depends on hash-table iteration.
  std::vector<std::pair<std::string_view, int64_t>> sorted_words(word_counts.begin(), word_counts.end());
  word_counts.clear();
  std::sort(sorted_words.begin(), sorted_words.end());
  std::vector<std::vector<int32_t>> words(sorted_words.size());
  std::vector<int64_t> counts(sorted_words.size());
  for (size_t w = 0; w < sorted_words.size(); ++w) {
    const std::string_view bytes = sorted_words[w].first;
    words[w].reserve(bytes.size());
    for (unsigned char b : bytes) words[w].push_back(num_specials + b);
    counts[w] = sorted_words[w].second;
  }
  sorted_words.clear();
  sorted_words.shrink_to_fit();

  // ---- Initial pair counts. ----
  std::unordered_map<uint64_t, PairInfo> pairs;
  for (size_t w = 0; w < words.size(); ++w) {
    const auto& sym = words[w];
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      PairInfo& info = pairs[pair_key(sym[i], sym[i + 1])];
      info.count += counts[w];
      if (info.words.empty() || info.words.back() != w) info.words.push_back(static_cast<uint32_t>(w));
    }
  }

  // Max-heap: larger count first; on equal counts the pair with the smaller (left, right) bytes.
  auto lower_priority = [&](const HeapEntry& x, const HeapEntry& y) {
    if (x.count != y.count) return x.count < y.count;
    const int c = token_bytes[key_left(x.key)].compare(token_bytes[key_left(y.key)]);
    if (c != 0) return c > 0;
    return token_bytes[key_right(x.key)].compare(token_bytes[key_right(y.key)]) > 0;
  };
  std::vector<HeapEntry> heap;
  heap.reserve(pairs.size());
  for (const auto& [key, info] : pairs) heap.push_back({info.count, key});
  std::make_heap(heap.begin(), heap.end(), lower_priority);

  // ---- Merges. ----
  std::vector<std::pair<int32_t, int32_t>> merges;
  std::vector<int32_t> new_tokens;  // ids of merged tokens, in creation order
  size_t vocab_len = static_cast<size_t>(num_specials) + 256;
  const size_t target = opts.vocab_size;
  std::vector<uint64_t> old_pairs, new_pairs;
  std::vector<int32_t> merged_word;
  std::vector<uint64_t> touched;  // pairs with the new token created in this step
  auto report = [&](bool force) {
    if (!opts.progress) return;
    const size_t done = vocab_len - (static_cast<size_t>(num_specials) + 256);
    if (!force && done % 64 != 0) return;
    Progress p;
    p.stage = "bpe merges";
    p.done = static_cast<int64_t>(done);
    p.total = static_cast<int64_t>(target - (static_cast<size_t>(num_specials) + 256));
    p.elapsed_s = elapsed();
    opts.progress(p);
  };

  while (vocab_len < target && !heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), lower_priority);
    const HeapEntry top = heap.back();
    heap.pop_back();
    auto it = pairs.find(top.key);
    if (it == pairs.end()) continue;
    if (it->second.count != top.count) {
      // Counts of existing pairs only go down, so a stale entry is re-queued at its current count.
      if (it->second.count > 0) {
        heap.push_back({it->second.count, top.key});
        std::push_heap(heap.begin(), heap.end(), lower_priority);
      }
      continue;
    }
    if (top.count < opts.min_frequency) break;
    check_cancel();

    const int32_t a = key_left(top.key), b = key_right(top.key);
    std::string merged = token_bytes[a] + token_bytes[b];
    int32_t t;
    auto known = id_of.find(merged);
    if (known != id_of.end()) {
      t = known->second;
    } else {
      t = static_cast<int32_t>(token_bytes.size());
      id_of.emplace(merged, t);
      token_bytes.push_back(std::move(merged));
      new_tokens.push_back(t);
      ++vocab_len;
    }
    merges.emplace_back(a, b);

    std::vector<uint32_t> where = std::move(it->second.words);
    pairs.erase(it);  // (a, b) can never form again
    std::sort(where.begin(), where.end());
    where.erase(std::unique(where.begin(), where.end()), where.end());
    touched.clear();
    for (uint32_t w : where) {
      std::vector<int32_t>& sym = words[w];
      merged_word.clear();
      bool changed = false;
      for (size_t i = 0; i < sym.size(); ++i) {
        if (i + 1 < sym.size() && sym[i] == a && sym[i + 1] == b) {
          merged_word.push_back(t);
          ++i;
          changed = true;
        } else {
          merged_word.push_back(sym[i]);
        }
      }
      if (!changed) continue;  // stale index entry
      // Apply the difference between the old and new pair multisets.
      old_pairs.clear();
      new_pairs.clear();
      for (size_t i = 0; i + 1 < sym.size(); ++i) old_pairs.push_back(pair_key(sym[i], sym[i + 1]));
      for (size_t i = 0; i + 1 < merged_word.size(); ++i)
        new_pairs.push_back(pair_key(merged_word[i], merged_word[i + 1]));
      std::sort(old_pairs.begin(), old_pairs.end());
      std::sort(new_pairs.begin(), new_pairs.end());
      const int64_t c = counts[w];
      size_t i = 0, j = 0;
      while (i < old_pairs.size() || j < new_pairs.size()) {
        if (j == new_pairs.size() || (i < old_pairs.size() && old_pairs[i] < new_pairs[j])) {
          if (old_pairs[i] != top.key) {
            auto p = pairs.find(old_pairs[i]);
            if (p != pairs.end()) p->second.count -= c;
          }
          ++i;
        } else if (i == old_pairs.size() || new_pairs[j] < old_pairs[i]) {
          PairInfo& info = pairs[new_pairs[j]];
          info.count += c;
          if (info.words.empty() || info.words.back() != w) info.words.push_back(w);
          if (key_left(new_pairs[j]) == t || key_right(new_pairs[j]) == t) touched.push_back(new_pairs[j]);
          ++j;
        } else {
          ++i;
          ++j;
        }
      }
      sym.swap(merged_word);
    }
    // New pairs (they contain the new token) enter the heap once, with their final count.
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (uint64_t key : touched) {
      auto p = pairs.find(key);
      if (p == pairs.end() || p->second.count <= 0) continue;
      heap.push_back({p->second.count, key});
      std::push_heap(heap.begin(), heap.end(), lower_priority);
    }
    report(false);
  }
  report(true);

  // ---- tokenizer.json ----
  using ojson = nlohmann::ordered_json;
  ojson vocab = ojson::object();
  for (int32_t i = 0; i < num_specials; ++i) vocab[opts.special_tokens[static_cast<size_t>(i)]] = i;
  for (int b = 0; b < 256; ++b) vocab[byte_symbols[b]] = num_specials + b;
  for (int32_t id : new_tokens) vocab[byte_level_string(token_bytes[static_cast<size_t>(id)], byte_symbols)] = id;
  ojson merge_list = ojson::array();
  for (const auto& [a, b] : merges) {
    merge_list.push_back(byte_level_string(token_bytes[static_cast<size_t>(a)], byte_symbols) + " " +
                         byte_level_string(token_bytes[static_cast<size_t>(b)], byte_symbols));
  }
  ojson added = ojson::array();
  for (int32_t i = 0; i < num_specials; ++i) {
    added.push_back({{"id", i},
                     {"content", opts.special_tokens[static_cast<size_t>(i)]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  ojson j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = std::move(added);
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  j["post_processor"] = nullptr;
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false},
                {"vocab", std::move(vocab)},
                {"merges", std::move(merge_list)}};
  return j.dump(2);
}

}  // namespace shedder
