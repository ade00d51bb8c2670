// The demo corpus: documents from Debian packages of freely licensed English text (`fortunes`: one
// document per fortune; `bible-kjv-text` as printed by `bible`: one document per chapter), split into
// train / validation / test by document with a fixed seed, plus a calibration sample of training
// documents. Written as JSONL ({"text": ...} per line) that every text option of the CLI reads.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace shedder {

struct CorpusOptions {
  std::string fortunes_dir;     // e.g. /usr/share/games/fortunes ("" = none)
  std::string kjv_file;         // output of `bible -f Genesis1:1-Revelation22:21` ("" = none)
  std::string out_dir;
  double valid_pct = 5;
  double test_pct = 5;
  int64_t calibration_docs = 512;  // drawn from the training split
  uint64_t seed = 0;
  bool force = false;
};

struct CorpusDocument {
  std::string source;  // "fortunes/computers", "kjv/Ge1"
  std::string text;
};

// Documents of a fortune file ('%' lines separate them); throws shedder::Error naming the file.
std::vector<CorpusDocument> read_fortune_file(const std::string& path, const std::string& label);
// Chapters of the KJV as `bible -f` prints it ("Ge1:1 In the beginning ..."); throws naming the file.
std::vector<CorpusDocument> read_kjv_verses(const std::string& path);

// Builds the corpus into out_dir (train.jsonl, valid.jsonl, test.jsonl, calibration.jsonl,
// manifest.json) and returns the manifest. The split depends only on the documents and the seed.
nlohmann::json build_demo_corpus(const CorpusOptions& opts);

}  // namespace shedder
