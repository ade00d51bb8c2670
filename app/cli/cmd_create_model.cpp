// `shedder-cli create-model DIR --arch mamba|mamba2 ...`: writes a small random-weight model folder
// (Hugging Face layout) for demos, tests and benchmarks: with the byte-level tokenizer by default, or with
// a given tokenizer.json (its vocabulary sets the embedding size; training from scratch starts here).
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common.h"
#include "model/random_model.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace shedder::cli {

int cmd_create_model(const std::vector<std::string>& words) {
  Args args(words, with_common({{"arch", true, false},
                                {"layers", true, false},
                                {"hidden", true, false},
                                {"state", true, false},
                                {"expand", true, false},
                                {"head-dim", true, false},
                                {"groups", true, false},
                                {"vocab", true, false},
                                {"tokenizer", true, false},
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
  int64_t vocab = args.get_int("vocab", 257);
  nlohmann::json overrides = nlohmann::json::object();
  const int64_t expand = args.get_int("expand", 2);
  if (expand < 1 || expand > 16) throw Error("create-model: --expand must be between 1 and 16");
  overrides["expand"] = expand;
  if (a == Arch::Mamba2) {
    const int64_t inner = expand * hidden;
    const int64_t head_dim = args.get_int("head-dim", std::min<int64_t>(64, inner));
    if (head_dim < 1 || inner % head_dim != 0)
      throw Error("create-model: --head-dim must divide expand * hidden (" + std::to_string(inner) + ")");
    const int64_t groups = args.get_int("groups", 1);
    if (groups < 1 || (inner / head_dim) % groups != 0)
      throw Error("create-model: --groups must divide the number of heads (" + std::to_string(inner / head_dim) + ")");
    overrides["head_dim"] = head_dim;
    overrides["num_heads"] = inner / head_dim;
    overrides["n_groups"] = groups;
  } else if (args.has("head-dim") || args.has("groups")) {
    throw Error("create-model: --head-dim and --groups are Mamba-2 settings");
  }
  std::string tokenizer_text;
  if (args.has("tokenizer")) {
    const std::string path = args.get("tokenizer");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open the tokenizer");
    std::ostringstream ss;
    ss << in.rdbuf();
    tokenizer_text = ss.str();
    const BpeTokenizer tok = BpeTokenizer::from_json(tokenizer_text, path);
    if (args.has("vocab")) throw Error("create-model: --vocab comes from --tokenizer; give one of them");
    vocab = static_cast<int64_t>(tok.vocab_size());
    const int64_t eos = tok.eos_id() ? *tok.eos_id() : 0;
    overrides["eos_token_id"] = eos;
    overrides["bos_token_id"] = eos;
    overrides["pad_token_id"] = eos;
  } else if (vocab < 257) {
    throw Error("create-model: --vocab must be at least 257 (the byte-level tokenizer's size)");
  }
  const ModelConfig cfg = small_model_config(a, layers, hidden, state, vocab, overrides);
  write_random_model(dir, cfg, static_cast<uint64_t>(args.get_int("seed", 0)), args.flag("force"), tokenizer_text);
  std::fprintf(stderr, "wrote %s (%s, %lld layers, hidden %lld, vocab %lld)\n", dir.c_str(), arch_name(a),
               static_cast<long long>(layers), static_cast<long long>(hidden), static_cast<long long>(vocab));
  return 0;
}

}  // namespace shedder::cli
