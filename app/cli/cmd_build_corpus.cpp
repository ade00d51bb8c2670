// `shedder-cli build-corpus --out DIR [--fortunes DIR] [--kjv FILE] ...`: the demo corpus from Debian
// packages, split by document (see core/corpus/demo_corpus.h).
#include <cstdio>
#include <iostream>

#include "common.h"
#include "corpus/demo_corpus.h"
#include "util/error.h"

namespace shedder::cli {

int cmd_build_corpus(const std::vector<std::string>& words) {
  Args args(words, with_common({{"out", true, false},
                                {"fortunes", true, false},
                                {"kjv", true, false},
                                {"valid-pct", true, false},
                                {"test-pct", true, false},
                                {"calibration-docs", true, false},
                                {"seed", true, false},
                                {"force", false, false}}));
  const CommonOptions common = apply_common(args);
  if (!args.positional().empty()) throw Error("build-corpus: unexpected argument '" + args.positional()[0] + "'");
  CorpusOptions o;
  o.out_dir = args.get("out", "");
  o.fortunes_dir = args.get("fortunes", "");
  o.kjv_file = args.get("kjv", "");
  o.valid_pct = args.get_double("valid-pct", 5);
  o.test_pct = args.get_double("test-pct", 5);
  o.calibration_docs = args.get_int("calibration-docs", 512);
  o.seed = static_cast<uint64_t>(args.get_int("seed", 0));
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
