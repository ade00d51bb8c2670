// BPE training speed on up to 1 MiB of fortune files (Debian's fortunes packages): bytes/s of training a
// vocabulary of 8192, against the baseline of encoding the same text with the trained tokenizer, measured in the
// same run (training cost = this many encoding passes). Prints one line per measurement.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/bpe_trainer.h"

namespace fs = std::filesystem;
using namespace shedder;

namespace {

std::vector<std::string> fortune_documents(size_t max_bytes) {
  std::vector<std::string> docs;
  const fs::path dir = "/usr/share/games/fortunes";
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && !e.path().has_extension()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  size_t total = 0;
  for (const auto& f : files) {
    if (total >= max_bytes) break;
    std::ifstream in(f, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (text.size() > max_bytes - total) text.resize(max_bytes - total);
    total += text.size();
    docs.push_back(std::move(text));
  }
  return docs;
}

}  // namespace

int main() {
  const std::vector<std::string> docs = fortune_documents(1 << 20);
  if (docs.empty()) {
    std::fprintf(stderr, "bench_bpe_trainer: no fortune files in /usr/share/games/fortunes (apt install fortunes-min)\n");
    return 1;
  }
  size_t bytes = 0;
  for (const auto& d : docs) bytes += d.size();
  BpeTrainOptions o;
  o.vocab_size = 8192;
  auto t0 = bench::Clock::now();
  const std::string json = train_byte_level_bpe(docs, o);
  const double train_s = bench::seconds_since(t0);
  const BpeTokenizer tok = BpeTokenizer::from_json(json, "bench");
  t0 = bench::Clock::now();
  size_t tokens = 0;
  for (const auto& d : docs) tokens += tok.encode(d).size();
  const double encode_s = bench::seconds_since(t0);
  std::printf("corpus: %zu bytes in %zu documents; vocabulary %zu\n", bytes, docs.size(), tok.vocab_size());
  std::printf("train: %.2f s (%.2f MB/s); encode (baseline): %.3f s (%.2f MB/s, %zu tokens); train / encode = %.1fx\n",
              train_s, static_cast<double>(bytes) / train_s / 1e6, encode_s, static_cast<double>(bytes) / encode_s / 1e6,
              tokens, train_s / encode_s);
  return 0;
}
