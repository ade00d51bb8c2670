// `shedder-cli create-model DIR --arch mamba|mamba2|zamba2|hymba ...`: writes a small random-weight model folder
// (Hugging Face layout) for demos, tests and benchmarks: with the byte-level tokenizer by default, or with
// a given tokenizer.json (its vocabulary sets the embedding size; training from scratch starts here).
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common.h"
#include "model/random_hybrid.h"
#include "model/random_model.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace shedder::cli {

namespace {

// Defaults that depend on --arch and --hidden/--expand (stated in the table from these).
constexpr int64_t kMamba1State = 16, kMamba2State = 32, kMaxHeadDim = 64;

}  // namespace

const CommandSpec& create_model_spec() {
  static const CommandSpec spec{
      "create-model", "DIR", "a small random-weight model folder (Hugging Face layout)",
      "For demos, tests and benchmarks, and the start of training from scratch: with the byte-level tokenizer by "
      "default, or with a given tokenizer.json, whose vocabulary sizes the embedding. zamba2: a shared transformer "
      "block (two when there are several hybrid layers) used by every third layer, with per-use LoRA adapters and "
      "RoPE; hymba: 4 meta tokens, a sliding window of 16 with the first and last layers global, layers 1 and 2 "
      "sharing K/V, an MLP per layer. --state, --expand, --head-dim and --groups are Mamba-1/Mamba-2 settings.",
      {opt("arch", "mamba|mamba2|zamba2|hymba", "mamba", "the architecture"),
       opt("layers", "N", "4", "blocks"),
       opt("hidden", "N", "64", "hidden size"),
       opt("state", "N", std::to_string(kMamba1State) + " (mamba), " + std::to_string(kMamba2State) + " (mamba2)",
           "SSM state size"),
       opt("expand", "E", "2", "inner size / hidden size, 1 to 16"),
       opt("head-dim", "N", std::to_string(kMaxHeadDim) + ", or expand * hidden when smaller",
           "Mamba-2: channels per SSM head (must divide expand * hidden)"),
       opt("groups", "N", "1", "Mamba-2: B/C groups (must divide the number of heads)"),
       opt("vocab", "N", "257", "vocabulary size, at least the byte-level tokenizer's 257"),
       opt("tokenizer", "FILE", "", "a tokenizer.json to copy into the folder (its vocabulary sets --vocab)"),
       opt("seed", "S", "0", "seed of the random weights"),
       flag("force", "replace an existing folder")}};
  return spec;
}

int cmd_create_model(const Args& args) {
  apply_common(args);
  const std::string dir = model_arg(args, "create-model");
  const std::string arch = args.get("arch");
  std::string tokenizer_text;
  int64_t vocab = args.get_int("vocab");
  int64_t eos = 0;
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
    eos = tok.eos_id() ? *tok.eos_id() : 0;
  } else if (vocab < 257) {
    throw Error("create-model: --vocab must be at least 257 (the byte-level tokenizer's size)");
  }
  const int64_t layers = args.get_int("layers"), hidden = args.get_int("hidden");
  if (arch == "zamba2" || arch == "hymba") {
    for (const char* o : {"state", "expand", "head-dim", "groups"})
      if (args.has(o)) throw Error(std::string("create-model: --") + o + " is a Mamba-1/Mamba-2 setting");
    RandomHybridOptions ho;
    ho.arch = arch;
    ho.layers = layers;
    ho.hidden = hidden;
    ho.vocab = vocab;
    ho.seed = static_cast<uint64_t>(args.get_int("seed"));
    ho.eos_token_id = eos;
    write_random_hybrid(dir, ho, args.flag("force"), tokenizer_text);
    std::fprintf(stderr, "wrote %s (%s, %lld layers, hidden %lld, vocab %lld)\n", dir.c_str(), arch.c_str(),
                 static_cast<long long>(layers), static_cast<long long>(hidden), static_cast<long long>(vocab));
    return 0;
  }
  Arch a;
  if (arch == "mamba" || arch == "mamba1") {
    a = Arch::Mamba1;
  } else if (arch == "mamba2") {
    a = Arch::Mamba2;
  } else {
    throw Error("create-model: --arch must be mamba, mamba2, zamba2 or hymba (got '" + arch + "')");
  }
  const int64_t state = args.has("state") ? args.get_int("state") : a == Arch::Mamba1 ? kMamba1State : kMamba2State;
  nlohmann::json overrides = nlohmann::json::object();
  const int64_t expand = args.get_int("expand");
  if (expand < 1 || expand > 16) throw Error("create-model: --expand must be between 1 and 16");
  overrides["expand"] = expand;
  if (a == Arch::Mamba2) {
    const int64_t inner = expand * hidden;
    const int64_t head_dim = args.has("head-dim") ? args.get_int("head-dim") : std::min<int64_t>(kMaxHeadDim, inner);
    if (head_dim < 1 || inner % head_dim != 0)
      throw Error("create-model: --head-dim must divide expand * hidden (" + std::to_string(inner) + ")");
    const int64_t groups = args.get_int("groups");
    if (groups < 1 || (inner / head_dim) % groups != 0)
      throw Error("create-model: --groups must divide the number of heads (" + std::to_string(inner / head_dim) + ")");
    overrides["head_dim"] = head_dim;
    overrides["num_heads"] = inner / head_dim;
    overrides["n_groups"] = groups;
  } else if (args.has("head-dim") || args.has("groups")) {
    throw Error("create-model: --head-dim and --groups are Mamba-2 settings");
  }
  if (args.has("tokenizer")) {
    overrides["eos_token_id"] = eos;
    overrides["bos_token_id"] = eos;
    overrides["pad_token_id"] = eos;
  }
  const ModelConfig cfg = small_model_config(a, layers, hidden, state, vocab, overrides);
  write_random_model(dir, cfg, static_cast<uint64_t>(args.get_int("seed")), args.flag("force"), tokenizer_text);
  std::fprintf(stderr, "wrote %s (%s, %lld layers, hidden %lld, vocab %lld)\n", dir.c_str(), arch_name(a),
               static_cast<long long>(layers), static_cast<long long>(hidden), static_cast<long long>(vocab));
  return 0;
}

}  // namespace shedder::cli
