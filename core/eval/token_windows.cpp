// Construction of token windows from text or pre-tokenized files (see token_windows.h).
#include "eval/token_windows.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <random>
#include <fstream>
#include <sstream>

#include "io/safetensors.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace shedder {

namespace {

bool looks_like_jsonl(const std::string& path, const std::string& content) {
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".jsonl" || ext == ".ndjson") return true;
  if (ext == ".txt") return false;
  for (char ch : content) {
    if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') continue;
    if (ch != '{') return false;
    // A '{' start is JSONL only if the first line parses as an object with a "text" field.
    const size_t nl = content.find('\n');
    auto j = nlohmann::json::parse(content.substr(0, nl), nullptr, false);
    return !j.is_discarded() && j.is_object() && j.contains("text");
  }
  return false;
}

}  // namespace

std::vector<std::string> read_documents(const std::vector<std::string>& files) {
  std::vector<std::string> docs;
  for (const auto& path : files) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw Error(path + ": no such file");
    if (fs::is_directory(path, ec)) throw Error(path + ": is a directory, expected a text file");
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error(path + ": cannot open");
    std::ostringstream ss;
    ss << f.rdbuf();
    const std::string content = ss.str();
    if (looks_like_jsonl(path, content)) {
      std::istringstream lines(content);
      std::string line;
      int64_t lineno = 0;
      while (std::getline(lines, line)) {
        ++lineno;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object())
          throw Error(path + ":" + std::to_string(lineno) + ": not a JSON object");
        if (!j.contains("text") || !j["text"].is_string())
          throw Error(path + ":" + std::to_string(lineno) + ": no string field \"text\"");
        std::string t = j["text"].get<std::string>();
        if (!t.empty()) docs.push_back(std::move(t));
      }
    } else if (!content.empty()) {
      docs.push_back(content);
    }
  }
  return docs;
}

at::Tensor make_token_windows(const BpeTokenizer& tok, const std::vector<std::string>& docs, int64_t eos_id,
                              int64_t seq_len, int64_t max_windows, const std::string& what) {
  if (seq_len < 2) throw Error("seq-len must be at least 2 (got " + std::to_string(seq_len) + ")");
  std::vector<int64_t> ids;
  const size_t need =
      max_windows > 0 && max_windows <= INT64_MAX / seq_len ? static_cast<size_t>(max_windows * seq_len) : SIZE_MAX;
  for (size_t d = 0; d < docs.size() && ids.size() < need; ++d) {
    if (!ids.empty()) ids.push_back(eos_id);
    for (int32_t t : tok.encode(docs[d])) ids.push_back(t);
  }
  if (ids.empty()) throw Error(what + ": the text is empty (no tokens)");
  const int64_t W = static_cast<int64_t>(ids.size()) / seq_len;
  if (W == 0)
    throw Error(what + ": only " + std::to_string(ids.size()) + " tokens, fewer than one window of seq-len " +
                std::to_string(seq_len));
  const int64_t keep = max_windows > 0 ? std::min(W, max_windows) : W;
  at::Tensor t = at::empty({keep, seq_len}, at::kLong);
  std::copy(ids.begin(), ids.begin() + keep * seq_len, t.data_ptr<int64_t>());
  return t;
}

at::Tensor load_token_windows(const std::string& spec, int64_t vocab, int64_t max_windows) {
  std::string path = spec, name;
  const size_t colon = spec.rfind(':');
  if (colon != std::string::npos && colon + 1 < spec.size() && spec.find(".safetensors", colon) == std::string::npos) {
    path = spec.substr(0, colon);
    name = spec.substr(colon + 1);
  }
  auto f = SafetensorsFile::open(path);
  if (name.empty()) {
    const auto names = f->names();
    if (names.size() != 1)
      throw Error(path + ": holds " + std::to_string(names.size()) +
                  " tensors; name the one to use as FILE.safetensors:TENSOR");
    name = names[0];
  }
  if (!f->contains(name)) throw Error(path + ": no tensor named '" + name + "'");
  at::Tensor t = f->tensor(name);
  if (!at::isIntegralType(t.scalar_type(), false))
    throw Error(path + ": tensor '" + name + "' holds " + std::string(c10::toString(t.scalar_type())) +
                " values; token windows must be integers");
  if (t.dim() != 2)
    throw Error(path + ": tensor '" + name + "' must have shape [windows, seq_len] (it has " +
                std::to_string(t.dim()) + " dimensions)");
  if (t.size(0) < 1) throw Error(path + ": tensor '" + name + "' has no windows");
  if (t.size(1) < 2) throw Error(path + ": tensor '" + name + "' has seq_len " + std::to_string(t.size(1)) + " (< 2)");
  t = t.to(at::kLong, /*non_blocking=*/false, /*copy=*/true);  // own memory, not a view of the map
  const int64_t lo = t.min().item<int64_t>(), hi = t.max().item<int64_t>();
  if (lo < 0 || hi >= vocab)
    throw Error(path + ": tensor '" + name + "' holds token id " + std::to_string(lo < 0 ? lo : hi) +
                ", outside the model's vocabulary (0.." + std::to_string(vocab - 1) + ")");
  if (max_windows > 0 && t.size(0) > max_windows) t = t.narrow(0, 0, max_windows);
  return t.contiguous();
}

at::Tensor sample_windows(const at::Tensor& all, int64_t n, uint64_t seed) {
  const int64_t W = all.size(0);
  if (n <= 0 || n >= W) return all;
  std::mt19937_64 rng(seed);
  std::vector<int64_t> idx(static_cast<size_t>(W));
  for (int64_t i = 0; i < W; ++i) idx[static_cast<size_t>(i)] = i;
  // Partial Fisher-Yates with the raw generator output (std::shuffle's algorithm is not specified).
  for (int64_t i = 0; i < n; ++i) {
    const int64_t j = i + static_cast<int64_t>(rng() % static_cast<uint64_t>(W - i));
    std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(j)]);
  }
  std::vector<int64_t> pick(idx.begin(), idx.begin() + n);
  std::sort(pick.begin(), pick.end());
  at::Tensor sel = at::empty({n}, at::kLong);
  std::copy(pick.begin(), pick.end(), sel.data_ptr<int64_t>());
  return all.index_select(0, sel).contiguous();
}

}  // namespace shedder
