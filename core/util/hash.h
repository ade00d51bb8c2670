// Non-cryptographic hashes for fingerprints: FNV-1a over small buffers (settings, token windows) and XXH64 (the
// published xxHash64 algorithm) streamed over files, fast enough (several GB/s) to fingerprint model weights.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace shedder {

// FNV-1a 64-bit hash of bytes, as 16 hex digits.
std::string fnv1a64_hex(const void* data, size_t size);

// XXH64 of a byte stream fed in pieces of any size (seed 0).
class Xxh64 {
 public:
  void update(const void* data, size_t size);
  uint64_t digest() const;
  std::string hex() const;  // 16 hex digits

 private:
  uint64_t acc_[4] = {0x60ea27eeadc0b5d6ULL, 0xc2b2ae3d27d4eb4fULL, 0x0ULL, 0x61c8864e7a143579ULL};
  unsigned char buf_[32] = {};
  size_t buffered_ = 0;
  uint64_t total_ = 0;
};

// XXH64 of a whole file's bytes, as 16 hex digits. Throws shedder::Error naming the file when it cannot be read.
std::string file_xxh64_hex(const std::string& path);

}  // namespace shedder
