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
#include "tokenizer/byte_level.h"
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

using Clock = std::chrono::steady_clock;

void report_progress(const BpeTrainOptions& opts, const char* stage, int64_t done, int64_t total, Clock::time_point t0) {
  Progress p;
  p.stage = stage;
  p.done = done;
  p.total = total;
  p.elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();
  opts.progress(p);
}

void check_cancel(const BpeTrainOptions& opts) {
  if (opts.cancel && opts.cancel->cancelled()) throw Cancelled();
}

// The distinct pre-tokenized words of the documents (special tokens dropped) with their counts, sorted by bytes so
// that nothing depends on hash-table iteration. The views point into `documents`.
std::vector<std::pair<std::string_view, int64_t>> count_words(const std::vector<std::string>& documents,
                                                              const BpeTrainOptions& opts, Clock::time_point t0) {
  std::unordered_map<std::string_view, int64_t> word_counts;
  for (size_t d = 0; d < documents.size(); ++d) {
    for_each_plain_segment(documents[d], opts.special_tokens, [&](std::string_view seg) {
      tokenizer_detail::for_each_gpt2_piece(seg, [&](std::string_view piece) { ++word_counts[piece]; });
    });
    if (opts.progress && (d % 1024 == 0 || d + 1 == documents.size())) {
      check_cancel(opts);
      report_progress(opts, "bpe words", static_cast<int64_t>(d + 1), static_cast<int64_t>(documents.size()), t0);
    }
  }
  std::vector<std::pair<std::string_view, int64_t>> sorted(word_counts.begin(), word_counts.end());
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

// The merge phase: the words as token ids, the pair index (pair -> count and the words holding it) and a max-heap
// of pairs with lazy invalidation (a popped entry whose count is stale is re-queued at its current count).
class Merger {
 public:
  Merger(const std::vector<std::pair<std::string_view, int64_t>>& sorted_words, const BpeTrainOptions& opts)
      : num_specials_(static_cast<int32_t>(opts.special_tokens.size())) {
    // Token bytes by id (specials hold their content; they never take part in merges).
    token_bytes_.reserve(opts.vocab_size);
    for (const std::string& s : opts.special_tokens) token_bytes_.push_back(s);
    for (int b = 0; b < 256; ++b) token_bytes_.emplace_back(1, static_cast<char>(b));
    for (int b = 0; b < 256; ++b) id_of_.emplace(token_bytes_[num_specials_ + b], num_specials_ + b);
    words_.resize(sorted_words.size());
    counts_.resize(sorted_words.size());
    for (size_t w = 0; w < sorted_words.size(); ++w) {
      const std::string_view bytes = sorted_words[w].first;
      words_[w].reserve(bytes.size());
      for (unsigned char b : bytes) words_[w].push_back(num_specials_ + b);
      counts_[w] = sorted_words[w].second;
    }
    for (size_t w = 0; w < words_.size(); ++w) {
      const auto& sym = words_[w];
      for (size_t i = 0; i + 1 < sym.size(); ++i) add_pair(pair_key(sym[i], sym[i + 1]), counts_[w], static_cast<uint32_t>(w));
    }
    heap_.reserve(pairs_.size());
    for (const auto& [key, info] : pairs_) heap_.push_back({info.count, key});
    std::make_heap(heap_.begin(), heap_.end(), Lower{this});
  }

  // The most frequent pair (on equal counts the one with the smaller (left, right) bytes) with at least
  // min_frequency occurrences, taken out of the index; false when there is none.
  bool pop_best(int64_t min_frequency, uint64_t& key, std::vector<uint32_t>& where) {
    while (!heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), Lower{this});
      const HeapEntry top = heap_.back();
      heap_.pop_back();
      auto it = pairs_.find(top.key);
      if (it == pairs_.end()) continue;
      if (it->second.count != top.count) {  // counts of existing pairs only go down
        if (it->second.count > 0) push(it->second.count, top.key);
        continue;
      }
      if (top.count < min_frequency) return false;
      key = top.key;
      where = std::move(it->second.words);
      pairs_.erase(it);  // (a, b) can never form again
      std::sort(where.begin(), where.end());
      where.erase(std::unique(where.begin(), where.end()), where.end());
      return true;
    }
    return false;
  }

  // The id of the token a + b: an existing one with those bytes, or a new one (true in `created`).
  int32_t token_for(int32_t a, int32_t b, bool& created) {
    std::string merged = token_bytes_[a] + token_bytes_[b];
    auto known = id_of_.find(merged);
    created = known == id_of_.end();
    if (!created) return known->second;
    const int32_t t = static_cast<int32_t>(token_bytes_.size());
    id_of_.emplace(merged, t);
    token_bytes_.push_back(std::move(merged));
    return t;
  }

  // Replaces (a, b) by t in the words listed, updating the pair counts; the new pairs (they hold t) enter the heap
  // once, with their final count.
  void merge(uint64_t key, int32_t t, const std::vector<uint32_t>& where) {
    touched_.clear();
    for (uint32_t w : where) merge_in_word(w, key, t);
    std::sort(touched_.begin(), touched_.end());
    touched_.erase(std::unique(touched_.begin(), touched_.end()), touched_.end());
    for (uint64_t k : touched_) {
      auto p = pairs_.find(k);
      if (p != pairs_.end() && p->second.count > 0) push(p->second.count, k);
    }
  }

  const std::vector<std::string>& token_bytes() const { return token_bytes_; }

 private:
  struct Lower {  // heap order: larger count first, then the smaller (left, right) bytes
    const Merger* m;
    bool operator()(const HeapEntry& x, const HeapEntry& y) const {
      if (x.count != y.count) return x.count < y.count;
      const auto& tb = m->token_bytes_;
      const int c = tb[key_left(x.key)].compare(tb[key_left(y.key)]);
      if (c != 0) return c > 0;
      return tb[key_right(x.key)].compare(tb[key_right(y.key)]) > 0;
    }
  };

  void push(int64_t count, uint64_t key) {
    heap_.push_back({count, key});
    std::push_heap(heap_.begin(), heap_.end(), Lower{this});
  }

  void add_pair(uint64_t key, int64_t count, uint32_t w) {
    PairInfo& info = pairs_[key];
    info.count += count;
    if (info.words.empty() || info.words.back() != w) info.words.push_back(w);
  }

  void merge_in_word(uint32_t w, uint64_t key, int32_t t) {
    const int32_t a = key_left(key), b = key_right(key);
    std::vector<int32_t>& sym = words_[w];
    merged_.clear();
    bool changed = false;
    for (size_t i = 0; i < sym.size(); ++i) {
      if (i + 1 < sym.size() && sym[i] == a && sym[i + 1] == b) {
        merged_.push_back(t);
        ++i;
        changed = true;
      } else {
        merged_.push_back(sym[i]);
      }
    }
    if (!changed) return;  // stale index entry
    // Apply the difference between the old and new pair multisets.
    old_pairs_.clear();
    new_pairs_.clear();
    for (size_t i = 0; i + 1 < sym.size(); ++i) old_pairs_.push_back(pair_key(sym[i], sym[i + 1]));
    for (size_t i = 0; i + 1 < merged_.size(); ++i) new_pairs_.push_back(pair_key(merged_[i], merged_[i + 1]));
    std::sort(old_pairs_.begin(), old_pairs_.end());
    std::sort(new_pairs_.begin(), new_pairs_.end());
    const int64_t c = counts_[w];
    size_t i = 0, j = 0;
    while (i < old_pairs_.size() || j < new_pairs_.size()) {
      if (j == new_pairs_.size() || (i < old_pairs_.size() && old_pairs_[i] < new_pairs_[j])) {
        if (old_pairs_[i] != key) {
          auto p = pairs_.find(old_pairs_[i]);
          if (p != pairs_.end()) p->second.count -= c;
        }
        ++i;
      } else if (i == old_pairs_.size() || new_pairs_[j] < old_pairs_[i]) {
        add_pair(new_pairs_[j], c, w);
        if (key_left(new_pairs_[j]) == t || key_right(new_pairs_[j]) == t) touched_.push_back(new_pairs_[j]);
        ++j;
      } else {
        ++i;
        ++j;
      }
    }
    sym.swap(merged_);
  }

  int32_t num_specials_;
  std::vector<std::string> token_bytes_;
  std::unordered_map<std::string, int32_t> id_of_;  // byte and merged tokens: bytes -> id
  std::vector<std::vector<int32_t>> words_;
  std::vector<int64_t> counts_;
  std::unordered_map<uint64_t, PairInfo> pairs_;
  std::vector<HeapEntry> heap_;
  std::vector<uint64_t> old_pairs_, new_pairs_, touched_;  // scratch of merge()
  std::vector<int32_t> merged_;
};

// The Hugging Face tokenizer.json of the trained vocabulary: specials, the 256 byte symbols, the merged tokens in
// creation order, and the merges.
std::string tokenizer_json(const BpeTrainOptions& opts, const std::vector<std::string>& token_bytes,
                           const std::vector<int32_t>& new_tokens, const std::vector<std::pair<int32_t, int32_t>>& merges) {
  using tokenizer_detail::byte_level_string;
  const int32_t num_specials = static_cast<int32_t>(opts.special_tokens.size());
  using ojson = nlohmann::ordered_json;
  ojson vocab = ojson::object();
  for (int32_t i = 0; i < num_specials; ++i) vocab[opts.special_tokens[static_cast<size_t>(i)]] = i;
  for (int b = 0; b < 256; ++b) vocab[byte_level_symbol(static_cast<uint8_t>(b))] = num_specials + b;
  for (int32_t id : new_tokens) vocab[byte_level_string(token_bytes[static_cast<size_t>(id)])] = id;
  ojson merge_list = ojson::array();
  for (const auto& [a, b] : merges) {
    merge_list.push_back(byte_level_string(token_bytes[static_cast<size_t>(a)]) + " " +
                         byte_level_string(token_bytes[static_cast<size_t>(b)]));
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

}  // namespace

std::string train_byte_level_bpe(const std::vector<std::string>& documents, const BpeTrainOptions& opts) {
  check_options(opts);
  const auto t0 = Clock::now();
  Merger merger(count_words(documents, opts, t0), opts);
  const int64_t first = static_cast<int64_t>(opts.special_tokens.size()) + 256;  // ids below are specials and bytes
  const int64_t total = static_cast<int64_t>(opts.vocab_size) - first;
  std::vector<std::pair<int32_t, int32_t>> merges;
  std::vector<int32_t> new_tokens;  // ids of merged tokens, in creation order
  auto report = [&](bool force) {
    const int64_t done = static_cast<int64_t>(new_tokens.size());
    if (opts.progress && (force || done % 64 == 0)) report_progress(opts, "bpe merges", done, total, t0);
  };
  uint64_t key = 0;
  std::vector<uint32_t> where;
  while (static_cast<int64_t>(new_tokens.size()) < total && merger.pop_best(opts.min_frequency, key, where)) {
    check_cancel(opts);
    bool created = false;
    const int32_t t = merger.token_for(key_left(key), key_right(key), created);
    if (created) new_tokens.push_back(t);
    merges.emplace_back(key_left(key), key_right(key));
    merger.merge(key, t, where);
    report(false);
  }
  report(true);
  return tokenizer_json(opts, merger.token_bytes(), new_tokens, merges);
}

}  // namespace shedder
