// Tokenizer-file copying for model folders (see model_folder.h).
#include "io/model_folder.h"

#include <filesystem>

#include "util/error.h"

namespace fs = std::filesystem;

namespace shedder {

const std::vector<std::string>& tokenizer_file_names() {
  static const std::vector<std::string> names = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                                 "vocab.json",     "merges.txt",            "added_tokens.json",
                                                 "generation_config.json"};
  return names;
}

std::vector<std::string> copy_tokenizer_files(const std::string& src, const std::string& dst) {
  std::vector<std::string> copied;
  std::error_code ec;
  for (const std::string& name : tokenizer_file_names()) {
    const fs::path from = fs::path(src) / name;
    if (!fs::exists(from, ec)) continue;
    fs::copy_file(from, fs::path(dst) / name, fs::copy_options::overwrite_existing, ec);
    if (ec) throw Error(from.string() + ": cannot copy into " + dst + ": " + ec.message());
    copied.push_back(name);
  }
  return copied;
}

}  // namespace shedder
