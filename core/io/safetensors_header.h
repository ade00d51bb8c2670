// Safetensors header parsing and validation, with no libtorch dependency (so it can be fuzzed alone).
// Every check happens before any tensor byte is touched; each failure is a shedder::Error naming the
// file (the `label`) and, where relevant, the tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace shedder {

enum class StDType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, F8_E4M3, F8_E5M2, U16, U32, U64 };

// Name as written in safetensors headers ("F32", "BF16", ...).
const char* st_dtype_name(StDType t);
// Size in bytes of one element.
size_t st_dtype_size(StDType t);

struct StTensorInfo {
  std::string name;
  StDType dtype = StDType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data section
  uint64_t end = 0;
  int64_t numel() const;
};

struct StHeader {
  uint64_t data_offset = 0;            // 8 + header length: where the data section starts in the file
  std::vector<StTensorInfo> tensors;   // in file order of their offsets
  std::map<std::string, std::string> metadata;
  const StTensorInfo* find(const std::string& name) const;  // nullptr when absent
};

// Parses the header at the start of `bytes` (the whole file, `size` bytes) and validates it:
// header length within the file, well-formed JSON object, known dtypes, non-negative shapes without
// overflow, every span inside the data section, spans non-overlapping, numel x dtype size == span.
// Throws shedder::Error("<label>: ...") on the first failure.
StHeader parse_safetensors_header(const uint8_t* bytes, size_t size, const std::string& label);

}  // namespace shedder
