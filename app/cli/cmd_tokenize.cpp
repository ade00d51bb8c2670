// `shedder-cli tokenize MODEL --text STRING [--json]`: the ids the model's tokenizer gives a string.
#include <filesystem>
#include <iostream>

#include "common.h"
#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace shedder::cli {

const CommandSpec& tokenize_spec() {
  static const CommandSpec spec{"tokenize",
                                "MODEL",
                                "the token ids the model's tokenizer.json gives a string",
                                "--json prints {\"ids\": [...]}, otherwise the ids separated by spaces.",
                                {opt("text", "STRING", "", "the text to tokenize (required)")}};
  return spec;
}

int cmd_tokenize(const Args& args) {
  const CommonOptions common = apply_common(args);
  const std::string dir = model_arg(args, "tokenize");
  if (!args.has("text")) throw Error("tokenize: --text STRING is required");
  if (!std::filesystem::is_directory(dir)) throw Error(dir + ": no such model folder");
  const std::string path = dir + "/tokenizer.json";
  const BpeTokenizer tok = BpeTokenizer::from_file(path);
  const std::vector<int32_t> ids = tok.encode(args.get("text"));
  if (common.json) {
    nlohmann::json j;
    j["ids"] = ids;
    std::cout << j.dump() << "\n";
  } else {
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
  }
  return 0;
}

}  // namespace shedder::cli
