// SHA-256 (FIPS 180-4), for the content hashes that other tools define with it: lm-evaluation-harness's
// doc_hash / prompt_hash / target_hash / task_hashes are the hex SHA-256 of UTF-8 text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace shedder {

// SHA-256 of a byte stream fed in pieces of any size.
class Sha256 {
 public:
  void update(const void* data, size_t size);
  void update(const std::string& bytes) { update(bytes.data(), bytes.size()); }
  std::string hex();  // 64 lowercase hex digits; ends the stream (call once)

 private:
  void block(const unsigned char* p);
  uint32_t h_[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  unsigned char buf_[64] = {};
  size_t buffered_ = 0;
  uint64_t total_ = 0;  // bytes
};

// Hex SHA-256 of `bytes` (Python's hashlib.sha256(bytes).hexdigest()).
std::string sha256_hex(const std::string& bytes);

}  // namespace shedder
