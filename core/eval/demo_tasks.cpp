// Generation of the built-in demo tasks from held-out documents (see demo_tasks.h).
#include "eval/demo_tasks.h"

#include <algorithm>
#include <random>
#include <sstream>

#include "eval/harness_text.h"
#include "util/error.h"

namespace shedder {

namespace {

std::vector<std::string> words_of(const std::string& doc) {
  std::vector<std::string> w;
  std::string cur;
  for (char c : doc) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      if (!cur.empty()) w.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) w.push_back(cur);
  return w;
}

bool alphabetic(const std::string& w) {
  if (w.size() < 3) return false;
  for (char c : w)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
  return true;
}

std::string span(const std::vector<std::string>& w, size_t from, size_t n) {
  return harness::join(std::vector<std::string>(w.begin() + static_cast<ptrdiff_t>(from),
                                                w.begin() + static_cast<ptrdiff_t>(from + n)), " ");
}

}  // namespace

std::vector<std::string> split_documents(const std::vector<std::string>& texts, const std::string& separator) {
  std::vector<std::string> out;
  for (const std::string& t : texts) {
    std::istringstream in(t);
    std::string line, cur;
    auto flush = [&] {
      if (!harness::strip(cur).empty()) out.push_back(cur);
      cur.clear();
    };
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line == separator || (separator.empty() && harness::strip(line).empty())) flush();
      else cur += line + "\n";
    }
    flush();
  }
  return out;
}

DemoTasks make_demo_tasks(const std::vector<std::string>& documents, const DemoTaskOptions& o) {
  if (o.items < 1 || o.choices < 2 || o.min_context_words < 1 || o.max_context_words < o.min_context_words ||
      o.continuation_words < 1 || o.cloze_context_words < o.min_context_words)
    throw Error("make-demo-tasks: need --items >= 1, --choices >= 2 and sensible word counts");
  DemoTasks out;
  out.documents = static_cast<int64_t>(documents.size());
  std::vector<std::vector<std::string>> docs;
  for (const auto& d : documents) docs.push_back(words_of(d));
  std::mt19937_64 rng(o.seed);
  auto below = [&](size_t n) { return static_cast<size_t>(rng() % static_cast<uint64_t>(n)); };

  // Documents in a seeded random order (Fisher-Yates on raw generator output).
  std::vector<size_t> order(docs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[below(i)]);

  const size_t cw = static_cast<size_t>(o.continuation_words), minc = static_cast<size_t>(o.min_context_words);
  std::vector<size_t> long_docs;  // can give a context and a continuation
  for (size_t i : order)
    if (docs[i].size() >= minc + cw) long_docs.push_back(i);

  if (long_docs.size() >= static_cast<size_t>(o.choices)) {
    for (size_t d : long_docs) {
      if (static_cast<int64_t>(out.continuation.size()) >= o.items) break;
      const auto& w = docs[d];
      const size_t hi = std::min(w.size() - cw, static_cast<size_t>(o.max_context_words));
      const size_t k = minc + below(hi - minc + 1);
      const std::string truth = span(w, k, cw);
      std::vector<std::string> choices{truth};
      for (int64_t tries = 0; static_cast<int64_t>(choices.size()) < o.choices && tries < 64 * o.choices; ++tries) {
        const size_t other = long_docs[below(long_docs.size())];
        if (other == d) continue;
        const auto& ow = docs[other];
        const std::string cand = span(ow, below(ow.size() - cw + 1), cw);
        if (std::find(choices.begin(), choices.end(), cand) == choices.end()) choices.push_back(cand);
      }
      if (static_cast<int64_t>(choices.size()) < o.choices) continue;
      TaskItem it;
      it.context = span(w, 0, k);
      it.gold = static_cast<int64_t>(below(choices.size()));
      std::swap(choices[0], choices[static_cast<size_t>(it.gold)]);
      it.choices = choices;
      it.id = "doc" + std::to_string(d);
      out.continuation.push_back(std::move(it));
    }
  }

  for (size_t d : order) {
    if (static_cast<int64_t>(out.cloze.size()) >= o.items) break;
    const auto& w = docs[d];
    for (size_t i = w.size(); i-- > minc;) {
      if (!alphabetic(w[i])) continue;
      TaskItem it;
      const size_t from = i > static_cast<size_t>(o.cloze_context_words) ? i - static_cast<size_t>(o.cloze_context_words) : 0;
      it.context = span(w, from, i - from);
      it.target = " " + w[i];
      it.id = "doc" + std::to_string(d);
      out.cloze.push_back(std::move(it));
      break;
    }
  }
  if (out.continuation.empty() || out.cloze.empty())
    throw Error("make-demo-tasks: the " + std::to_string(documents.size()) +
                " documents are too few or too short for the demo tasks (need at least " + std::to_string(o.choices) +
                " documents of " + std::to_string(minc + cw) + "+ words)");
  return out;
}

}  // namespace shedder
