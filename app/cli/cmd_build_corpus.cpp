// `shedder-cli build-corpus --out DIR [--fortunes DIR] [--kjv FILE] ...`: the demo corpus from Debian
// packages, split by document (see core/corpus/demo_corpus.h).
#include <cstdio>
#include <iostream>

#include "common.h"
#include "corpus/demo_corpus.h"
#include "util/error.h"

namespace shedder::cli {

const CommandSpec& build_corpus_spec() {
  static const CommandSpec spec{
      "build-corpus", "", "the demo corpus from Debian packages, split by document",
      "Writes train, validation, test and calibration splits (JSONL, one document per line) and a manifest.",
      {opt("out", "DIR", "", "the corpus folder (required)"),
       opt("fortunes", "DIR", "", "a folder of fortune files (fortunes-min: /usr/share/games/fortunes)"),
       opt("kjv", "FILE", "", "the King James Bible as bible -f Genesis1:1-Revelation22:21 prints it (bible-kjv)"),
       opt("valid-pct", "P", "5", "% of the documents in the validation split"),
       opt("test-pct", "P", "5", "% of the documents in the test split"),
       opt("calibration-docs", "N", "512", "documents of the training split drawn into the calibration split"),
       opt("seed", "S", "0", "seed of the split"),
       flag("force", "replace an existing corpus folder")}};
  return spec;
}

int cmd_build_corpus(const Args& args) {
  const CommonOptions common = apply_common(args);
  if (!args.positional().empty()) throw Error("build-corpus: unexpected argument '" + args.positional()[0] + "'");
  CorpusOptions o;
  o.out_dir = args.get("out");
  o.fortunes_dir = args.get("fortunes");
  o.kjv_file = args.get("kjv");
  o.valid_pct = args.get_double("valid-pct");
  o.test_pct = args.get_double("test-pct");
  o.calibration_docs = args.get_int("calibration-docs");
  o.seed = static_cast<uint64_t>(args.get_int("seed"));
  o.force = args.flag("force");
  const nlohmann::json m = build_demo_corpus(o);
  if (common.json) {
    std::cout << m.dump(2) << "\n";
  } else {
    for (const auto& [name, s] : m["splits"].items())
      std::printf("%-12s %6lld documents %9lld bytes\n", name.c_str(), s["documents"].get<long long>(),
                  s["bytes"].get<long long>());
  }
  return 0;
}

}  // namespace shedder::cli
