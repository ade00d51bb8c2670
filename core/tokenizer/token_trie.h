// A byte trie over the added tokens' patterns that finds the leftmost-longest match, as daachorse's
// MatchKind::LeftmostLongest does in Hugging Face tokenizers (the added-token split of bpe_tokenizer.cpp).
#pragma once

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

namespace shedder::tokenizer_detail {

class TokenTrie {
 public:
  TokenTrie() { nodes_.emplace_back(); }

  void add(std::string_view pattern, int token_index) {
    if (pattern.empty()) return;
    first_byte_[static_cast<unsigned char>(pattern[0])] = true;
    size_t node = 0;
    for (unsigned char b : pattern) {
      auto& children = nodes_[node].children;
      auto it = std::lower_bound(
          children.begin(), children.end(), b,
          [](const std::pair<unsigned char, int>& c, unsigned char v) { return c.first < v; });
      if (it != children.end() && it->first == b) {
        node = static_cast<size_t>(it->second);
      } else {
        const int next = static_cast<int>(nodes_.size());
        children.insert(it, {b, next});
        nodes_.emplace_back();
        node = static_cast<size_t>(next);
      }
    }
    nodes_[node].token = token_index;
    empty_ = false;
  }

  bool empty() const { return empty_; }

  // Leftmost-longest match at or after `from`: sets start/end/token and returns true.
  bool find(std::string_view s, size_t from, size_t& start, size_t& end, int& token) const {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (size_t i = from; i < s.size(); ++i) {
      if (!first_byte_[p[i]]) continue;
      size_t node = 0;
      int best = -1;
      size_t best_end = 0;
      for (size_t k = i; k < s.size(); ++k) {
        const auto& children = nodes_[node].children;
        auto it = std::lower_bound(
            children.begin(), children.end(), p[k],
            [](const std::pair<unsigned char, int>& c, unsigned char v) { return c.first < v; });
        if (it == children.end() || it->first != p[k]) break;
        node = static_cast<size_t>(it->second);
        if (nodes_[node].token >= 0) {
          best = nodes_[node].token;
          best_end = k + 1;
        }
      }
      if (best >= 0) {
        start = i;
        end = best_end;
        token = best;
        return true;
      }
    }
    return false;
  }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int>> children;  // sorted by byte
    int token = -1;
  };
  std::vector<Node> nodes_;
  bool first_byte_[256] = {};
  bool empty_ = true;
};

}  // namespace shedder::tokenizer_detail
