// The tokenizer metadata llama.cpp reads from a GGUF file, made from a Hugging Face tokenizer.json: llama.cpp's
// "gpt2" (byte-level BPE) tokenizer — tokenizer.ggml.model "gpt2", the pre-tokenizer "gpt-2" (GPT-2's split
// regex, which llama.cpp recognises by that name), the tokens by id, their types (normal, control for special
// added tokens, user-defined for other added tokens, unused for the padding ids the embedding has beyond the
// tokenizer, named "[PAD<id>]" as llama.cpp's converter names them), the merges ("left right") and the special
// ids. Only what llama.cpp reproduces exactly is accepted: a BPE model without byte fallback, no normalizer, and
// a ByteLevel pre-tokenizer with GPT-2's regex and no prefix space; anything else is refused with the reason.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shedder {

class GgufWriter;

// llama.cpp's token types (llama.h: LLAMA_TOKEN_TYPE_*).
enum class GgufTokenType : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct GgufVocab {
  std::vector<std::string> tokens;  // by id; as many as the embedding has rows
  std::vector<int32_t> types;       // GgufTokenType of each
  std::vector<std::string> merges;  // "left right", by rank
  bool add_bos = false;             // tokenizer_config.json's add_bos_token / add_eos_token (default false)
  bool add_eos = false;
};

// Reads `tokenizer_json` (and tokenizer_config.json beside it, when present) for a model whose embedding has
// `rows` rows. Throws shedder::Error naming the file and what llama.cpp could not reproduce.
GgufVocab gguf_vocab_from_tokenizer(const std::string& tokenizer_json, int64_t rows);

// Writes the tokenizer.ggml.* keys; the special ids are written when they name a token of the vocabulary.
void add_gguf_vocab(GgufWriter& w, const GgufVocab& v, std::optional<int64_t> bos, std::optional<int64_t> eos,
                    std::optional<int64_t> pad);

}  // namespace shedder
