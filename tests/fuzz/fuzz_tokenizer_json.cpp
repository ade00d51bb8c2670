// libFuzzer target for BpeTokenizer::from_json: any input either throws shedder::Error or yields a
// tokenizer that encodes and decodes a fixed string (and the input bytes themselves, as text) without
// crashing and only emits ids below vocab_size().
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/bpe_tokenizer.h"
#include "util/error.h"

namespace {

void exercise(const shedder::BpeTokenizer& tok, std::string_view text) {
  const std::vector<int32_t> ids = tok.encode(text);
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= tok.vocab_size()) __builtin_trap();
  }
  const std::string back = tok.decode(ids);
  (void)back;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  shedder::BpeTokenizer tok;
  try {
    tok = shedder::BpeTokenizer::from_json(input, "fuzz");
  } catch (const shedder::Error&) {
    return 0;
  }
  exercise(tok,
           "Hello world, it's 2024!\n  caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac <|endoftext|> \xff\xfe end ");
  exercise(tok, input.substr(0, 4096));
  (void)tok.eos_id();
  (void)tok.token_to_id("<|endoftext|>");
  (void)tok.decode({-1, 0, 1, 2147483647});
  return 0;
}
