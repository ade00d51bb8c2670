// A writer of GGUF files (version 3, the format llama.cpp and ggml load), written from the GGUF specification:
// the magic "GGUF", the version, the tensor and key/value counts, typed key/value metadata, the tensor infos
// (name, dimensions in ggml's order — fastest first —, ggml type, offset into the data), padding to the
// alignment (general.alignment, 32 by default) and the tensor data, each tensor starting at a multiple of the
// alignment and padded to one. Everything little-endian. The format's rules are checked as things are added:
// keys unique, non-empty lower_snake_case words separated by dots, at most 65535 bytes; tensor names unique,
// non-empty and at most 63 bytes (ggml keeps a name in 64 bytes with its terminating zero); 1 to 4 dimensions
// of at least 1 element; general.alignment a uint32 power of two that is a multiple of 8. Only the plain float
// types are written (F32, F16, BF16): no quantisation.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/progress.h"

namespace shedder {

// ggml's tensor types that this writer stores (their numbers in ggml.h).
enum class GgmlType : uint32_t { F32 = 0, F16 = 1, BF16 = 30 };
const char* ggml_type_name(GgmlType t);  // "f32", "f16", "bf16"
size_t ggml_type_size(GgmlType t);       // bytes per element

// GGUF's metadata value types (their numbers in the specification).
enum class GgufValueType : uint32_t {
  UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
  String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12
};

constexpr uint32_t kGgufVersion = 3;
constexpr uint32_t kGgufDefaultAlignment = 32;
constexpr size_t kGgufMaxTensorName = 63;

class GgufWriter {
 public:
  // `label` starts every error message (e.g. the output path).
  explicit GgufWriter(std::string label);

  // Metadata, in the order added. shedder::Error for an invalid or repeated key.
  void add_uint32(const std::string& key, uint32_t v);  // "general.alignment" also sets the alignment
  void add_int32(const std::string& key, int32_t v);
  void add_uint64(const std::string& key, uint64_t v);
  void add_float32(const std::string& key, float v);
  void add_bool(const std::string& key, bool v);
  void add_string(const std::string& key, const std::string& v);
  void add_string_array(const std::string& key, const std::vector<std::string>& v);
  void add_int32_array(const std::string& key, const std::vector<int32_t>& v);
  // Writes general.alignment (a power of two, a multiple of 8); without it the data is aligned to 32 bytes.
  void set_alignment(uint32_t alignment) { add_uint32("general.alignment", alignment); }

  // A tensor of `t`'s shape in PyTorch's order (slowest dimension first; written reversed, as ggml counts
  // them), stored as `type`: a floating tensor on any device, converted when the file is written.
  void add_tensor(const std::string& name, const at::Tensor& t, GgmlType type);

  size_t kv_count() const { return kvs_.size(); }
  size_t tensor_count() const { return tensors_.size(); }
  uint32_t alignment() const { return alignment_; }
  // Everything before the tensor data: header, metadata, tensor infos and the padding after them.
  std::string header_bytes() const;
  uint64_t file_size() const;

  // Writes the file atomically (a temporary file in the same folder, fsync, rename; on failure `path` keeps
  // what it held). `cancel`, set between two tensors, stops it the same way (shedder::Cancelled).
  void write(const std::string& path, const CancelToken* cancel = nullptr) const;

 private:
  struct Kv {
    std::string key;
    std::string encoded;  // value type and value, as stored
  };
  struct TensorEntry {
    std::string name;
    std::vector<uint64_t> ne;  // ggml's order
    GgmlType type;
    at::Tensor data;
    uint64_t nbytes = 0;
  };
  void add_kv(const std::string& key, std::string encoded);
  std::vector<uint64_t> offsets() const;  // of each tensor, from the start of the data section

  std::string label_;
  std::vector<Kv> kvs_;
  std::vector<TensorEntry> tensors_;
  uint32_t alignment_ = kGgufDefaultAlignment;
};

}  // namespace shedder
