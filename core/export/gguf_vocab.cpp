// Tokenizer metadata of GGUF exports (see gguf_vocab.h).
#include "export/gguf_vocab.h"

#include <filesystem>

#include "export/gguf_writer.h"
#include "util/error.h"
#include "util/json_util.h"

namespace shedder {

namespace {

// Refuses what llama.cpp's gpt2 tokenizer would not reproduce; `path` names the file.
void check_tokenizer_kind(const nlohmann::json& j, const std::string& path) {
  const std::string why = ": llama.cpp's gpt2 tokenizer (byte-level BPE with GPT-2's split) could not reproduce ";
  if (!j.contains("model") || !j["model"].is_object()) throw Error(path + ": no \"model\" object");
  const nlohmann::json& m = j["model"];
  if (m.value("type", std::string("BPE")) != "BPE")
    throw Error(path + why + "a \"" + m.value("type", std::string()) + "\" model (only BPE)");
  if (m.contains("byte_fallback") && m["byte_fallback"].is_boolean() && m["byte_fallback"].get<bool>())
    throw Error(path + why + "BPE with byte_fallback");
  if (j.contains("normalizer") && !j["normalizer"].is_null())
    throw Error(path + why + "a normalizer (" + j["normalizer"].value("type", std::string("?")) + ")");
  const nlohmann::json pre = j.value("pre_tokenizer", nlohmann::json());
  if (!pre.is_object() || pre.value("type", std::string()) != "ByteLevel")
    throw Error(path + why + "this pre_tokenizer (" + (pre.is_object() ? pre.value("type", std::string("?")) : "none") +
                "); only ByteLevel with its GPT-2 regex is accepted");
  if (!pre.value("use_regex", true))
    throw Error(path + why + "a ByteLevel pre-tokenizer without its regex (use_regex false)");
  if (pre.value("add_prefix_space", false))
    throw Error(path + why + "a ByteLevel pre-tokenizer that adds a prefix space");
}

std::string merge_text(const nlohmann::json& m, const std::string& path, size_t i) {
  if (m.is_string()) return m.get<std::string>();
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
    return m[0].get<std::string>() + " " + m[1].get<std::string>();
  throw Error(path + ": merge " + std::to_string(i) + " is neither \"a b\" nor [\"a\", \"b\"]");
}

}  // namespace

GgufVocab gguf_vocab_from_tokenizer(const std::string& tokenizer_json, int64_t rows) {
  const std::string& path = tokenizer_json;
  const nlohmann::json j = read_json_file_lenient(path);
  if (!j.is_object()) throw Error(path + ": not a JSON object");
  check_tokenizer_kind(j, path);
  const nlohmann::json& m = j["model"];
  if (!m.contains("vocab") || !m["vocab"].is_object()) throw Error(path + ": model.vocab is not an object");

  GgufVocab v;
  v.tokens.assign(static_cast<size_t>(rows), std::string());
  v.types.assign(static_cast<size_t>(rows), static_cast<int32_t>(GgufTokenType::Unused));
  std::vector<bool> set(static_cast<size_t>(rows), false);
  auto place = [&](const std::string& token, const nlohmann::json& idj, GgufTokenType type) {
    if (!idj.is_number_integer()) throw Error(path + ": token '" + token + "' has no integer id");
    const int64_t id = idj.get<int64_t>();
    if (id < 0 || id >= rows)
      throw Error(path + ": token '" + token + "' has id " + std::to_string(id) + ", outside the model's " +
                  std::to_string(rows) + " embedding rows");
    if (token.empty()) throw Error(path + ": token " + std::to_string(id) + " is empty");
    const size_t i = static_cast<size_t>(id);
    if (set[i] && v.tokens[i] != token)
      throw Error(path + ": id " + std::to_string(id) + " names two tokens ('" + v.tokens[i] + "', '" + token + "')");
    v.tokens[i] = token;
    v.types[i] = static_cast<int32_t>(type);
    set[i] = true;
  };
  for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) place(it.key(), it.value(), GgufTokenType::Normal);
  if (j.contains("added_tokens") && j["added_tokens"].is_array())
    for (const nlohmann::json& a : j["added_tokens"]) {
      if (!a.is_object() || !a.contains("content") || !a["content"].is_string())
        throw Error(path + ": an added token has no \"content\" string");
      const bool special = a.value("special", false);
      place(a["content"].get<std::string>(), a.value("id", nlohmann::json()),
            special ? GgufTokenType::Control : GgufTokenType::UserDefined);
    }
  for (size_t i = 0; i < set.size(); ++i)
    if (!set[i]) v.tokens[i] = "[PAD" + std::to_string(i) + "]";

  if (!m.contains("merges") || !m["merges"].is_array()) throw Error(path + ": model.merges is not a list");
  v.merges.reserve(m["merges"].size());
  for (size_t i = 0; i < m["merges"].size(); ++i) v.merges.push_back(merge_text(m["merges"][i], path, i));

  const std::string cfg = (std::filesystem::path(path).parent_path() / "tokenizer_config.json").string();
  if (std::filesystem::exists(cfg)) {
    const JsonFields f(read_json_file_lenient(cfg), cfg);
    v.add_bos = f.boolean("add_bos_token", false);
    v.add_eos = f.boolean("add_eos_token", false);
  }
  return v;
}

void add_gguf_vocab(GgufWriter& w, const GgufVocab& v, std::optional<int64_t> bos, std::optional<int64_t> eos,
                    std::optional<int64_t> pad) {
  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", "gpt-2");
  w.add_string_array("tokenizer.ggml.tokens", v.tokens);
  w.add_int32_array("tokenizer.ggml.token_type", v.types);
  w.add_string_array("tokenizer.ggml.merges", v.merges);
  const int64_t n = static_cast<int64_t>(v.tokens.size());
  auto id = [&](const char* key, std::optional<int64_t> t) {
    if (t && *t >= 0 && *t < n) w.add_uint32(key, static_cast<uint32_t>(*t));
  };
  id("tokenizer.ggml.bos_token_id", bos);
  id("tokenizer.ggml.eos_token_id", eos);
  id("tokenizer.ggml.padding_token_id", pad);
  w.add_bool("tokenizer.ggml.add_bos_token", v.add_bos);
  w.add_bool("tokenizer.ggml.add_eos_token", v.add_eos);
}

}  // namespace shedder
