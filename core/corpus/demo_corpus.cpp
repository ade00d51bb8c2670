// Demo corpus builder (see demo_corpus.h).
#include "corpus/demo_corpus.h"

#include <algorithm>
#include <filesystem>
#include <random>
#include <sstream>

#include "util/hash.h"
#include "util/error.h"
#include "util/file_util.h"

namespace fs = std::filesystem;

namespace shedder {

namespace {

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

// Fortune files of a folder: regular files without an extension (the .dat indexes and the .u8 links are
// skipped), minus pure ASCII drawings.
std::vector<std::string> fortune_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) throw Error(dir + ": cannot list the fortunes folder: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    const fs::path p = it->path();
    if (!it->is_regular_file(ec) || it->is_symlink(ec) || p.has_extension()) continue;
    if (p.filename() == "ascii-art" || p.filename() == "art") continue;
    out.push_back(p.string());
  }
  std::sort(out.begin(), out.end());
  if (out.empty()) throw Error(dir + ": no fortune files found");
  return out;
}

std::string jsonl(const std::vector<const CorpusDocument*>& docs) {
  std::string s;
  for (const auto* d : docs) s += nlohmann::json{{"text", d->text}, {"source", d->source}}.dump() + "\n";
  return s;
}

}  // namespace

std::vector<CorpusDocument> read_fortune_file(const std::string& path, const std::string& label) {
  const std::string text = read_file_bytes(path);
  std::vector<CorpusDocument> docs;
  std::istringstream in(text);
  std::string line, cur;
  auto flush = [&]() {
    std::string t = trim(cur);
    if (!t.empty()) docs.push_back({label, t});
    cur.clear();
  };
  while (std::getline(in, line)) {
    if (line == "%" || line == "%\r") {
      flush();
    } else {
      cur += line;
      cur += '\n';
    }
  }
  flush();
  return docs;
}

std::vector<CorpusDocument> read_kjv_verses(const std::string& path) {
  const std::string text = read_file_bytes(path);
  std::vector<CorpusDocument> docs;
  std::istringstream in(text);
  std::string line, chapter;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (trim(line).empty()) continue;
    const size_t sp = line.find(' '), colon = line.find(':');
    if (sp == std::string::npos || colon == std::string::npos || colon > sp)
      throw Error(path + ":" + std::to_string(lineno) + ": not a verse line of `bible -f` (\"Ge1:1 text\")");
    const std::string ch = line.substr(0, colon);
    const std::string verse = trim(line.substr(sp + 1));
    if (docs.empty() || ch != chapter) {
      docs.push_back({"kjv/" + ch, verse});
      chapter = ch;
    } else {
      docs.back().text += "\n" + verse;
    }
  }
  if (docs.empty()) throw Error(path + ": no verses");
  return docs;
}

nlohmann::json build_demo_corpus(const CorpusOptions& o) {
  if (o.out_dir.empty()) throw Error("build-corpus: no output folder (--out)");
  if (o.fortunes_dir.empty() && o.kjv_file.empty()) throw Error("build-corpus: no sources (--fortunes / --kjv)");
  if (o.valid_pct < 0 || o.test_pct < 0 || o.valid_pct + o.test_pct >= 100)
    throw Error("build-corpus: --valid-pct and --test-pct must be >= 0 and leave documents for training");
  std::error_code ec;
  if (fs::exists(fs::path(o.out_dir) / "manifest.json", ec) && !o.force)
    throw Error(o.out_dir + ": already holds a corpus (use --force to replace it)");

  std::vector<CorpusDocument> docs;
  nlohmann::json sources = nlohmann::json::array();
  if (!o.fortunes_dir.empty()) {
    nlohmann::json files = nlohmann::json::array();
    size_t before = docs.size();
    for (const auto& f : fortune_files(o.fortunes_dir)) {
      auto d = read_fortune_file(f, "fortunes/" + fs::path(f).filename().string());
      docs.insert(docs.end(), d.begin(), d.end());
      files.push_back(fs::path(f).filename().string());
    }
    sources.push_back({{"package", "fortunes"},
                       {"path", o.fortunes_dir},
                       {"files", files},
                       {"documents", docs.size() - before},
                       {"unit", "one fortune"},
                       {"license", "BSD-style (see /usr/share/doc/fortunes/copyright)"}});
  }
  if (!o.kjv_file.empty()) {
    auto d = read_kjv_verses(o.kjv_file);
    sources.push_back({{"package", "bible-kjv-text (printed with the `bible` program of bible-kjv)"},
                       {"path", o.kjv_file},
                       {"documents", d.size()},
                       {"unit", "one chapter"},
                       {"license", "King James Version text: public domain (copyright expired); see "
                                   "/usr/share/doc/bible-kjv-text/copyright"}});
    docs.insert(docs.end(), d.begin(), d.end());
  }

  // Split by document: a seeded shuffle (Fisher-Yates with our own draws, the same on every platform).
  std::vector<size_t> order(docs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(o.seed);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  const size_t n = docs.size();
  const size_t n_valid = static_cast<size_t>(static_cast<double>(n) * o.valid_pct / 100.0);
  const size_t n_test = static_cast<size_t>(static_cast<double>(n) * o.test_pct / 100.0);
  std::vector<size_t> valid(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n_valid));
  std::vector<size_t> test(order.begin() + static_cast<std::ptrdiff_t>(n_valid),
                           order.begin() + static_cast<std::ptrdiff_t>(n_valid + n_test));
  std::vector<size_t> train(order.begin() + static_cast<std::ptrdiff_t>(n_valid + n_test), order.end());
  // Each split keeps the source order (fortunes file by file, then the Bible), which reads naturally.
  std::sort(valid.begin(), valid.end());
  std::sort(test.begin(), test.end());
  std::vector<size_t> train_sorted = train;
  std::sort(train_sorted.begin(), train_sorted.end());
  std::vector<size_t> calib(train.begin(),
                            train.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(
                                train.size(), static_cast<size_t>(std::max<int64_t>(0, o.calibration_docs)))));
  std::sort(calib.begin(), calib.end());

  auto ptrs = [&](const std::vector<size_t>& idx) {
    std::vector<const CorpusDocument*> v;
    for (size_t i : idx) v.push_back(&docs[i]);
    return v;
  };
  create_folder(o.out_dir);
  nlohmann::json manifest;
  manifest["sources"] = sources;
  manifest["seed"] = o.seed;
  manifest["valid_pct"] = o.valid_pct;
  manifest["test_pct"] = o.test_pct;
  manifest["split"] = "by document: seeded shuffle, first valid_pct% -> valid, next test_pct% -> test, rest -> train; "
                      "calibration = the first calibration_docs training documents of the shuffle";
  struct Split {
    const char* name;
    const std::vector<size_t>* idx;
  };
  for (const Split& s : {Split{"train", &train_sorted}, Split{"valid", &valid}, Split{"test", &test},
                         Split{"calibration", &calib}}) {
    const std::string text = jsonl(ptrs(*s.idx));
    const std::string file = std::string(s.name) + ".jsonl";
    write_file_atomic((fs::path(o.out_dir) / file).string(), text);
    manifest["splits"][s.name] = {{"file", file},
                                  {"documents", s.idx->size()},
                                  {"bytes", text.size()},
                                  {"fnv1a64", fnv1a64_hex(text.data(), text.size())}};
  }
  write_file_atomic((fs::path(o.out_dir) / "manifest.json").string(), manifest.dump(2) + "\n");
  return manifest;
}

}  // namespace shedder
