// `shedder-cli create-model DIR --arch mamba|mamba2 ...`: writes a small random-weight model folder
// (Hugging Face layout, byte-level tokenizer) for demos, tests and benchmarks.
#include <cstdio>

#include "common.h"
#include "model/random_model.h"
#include "util/error.h"

namespace shedder::cli {

int cmd_create_model(const std::vector<std::string>& words) {
  Args args(words, with_common({{"arch", true, false},
                                {"layers", true, false},
                                {"hidden", true, false},
                                {"state", true, false},
                                {"vocab", true, false},
                                {"seed", true, false},
                                {"force", false, false}}));
  apply_common(args);
  const std::string dir = model_arg(args, "create-model");
  const std::string arch = args.get("arch", "mamba");
  Arch a;
  if (arch == "mamba" || arch == "mamba1") {
    a = Arch::Mamba1;
  } else if (arch == "mamba2") {
    a = Arch::Mamba2;
  } else {
    throw Error("create-model: --arch must be mamba or mamba2 (got '" + arch + "')");
  }
  const int64_t layers = args.get_int("layers", 4), hidden = args.get_int("hidden", 64);
  const int64_t state = args.get_int("state", a == Arch::Mamba1 ? 16 : 32);
  const int64_t vocab = args.get_int("vocab", 257);
  if (vocab < 257) throw Error("create-model: --vocab must be at least 257 (the byte-level tokenizer's size)");
  const ModelConfig cfg = small_model_config(a, layers, hidden, state, vocab);
  write_random_model(dir, cfg, static_cast<uint64_t>(args.get_int("seed", 0)), args.flag("force"));
  std::fprintf(stderr, "wrote %s (%s, %lld layers, hidden %lld)\n", dir.c_str(), arch_name(a),
               static_cast<long long>(layers), static_cast<long long>(hidden));
  return 0;
}

}  // namespace shedder::cli
