// Reading (memory-mapped, zero-copy) and writing (atomic) of .safetensors files as ATen tensors.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/safetensors_header.h"

#include "runtime/progress.h"

namespace shedder {

class MappedFile;  // io/mapped_file.h

// An open, validated safetensors file. Tensors returned by tensor() are views of the memory map
// (no copy); they keep the mapping alive through their deleter, so they may outlive this object.
class SafetensorsFile {
 public:
  // Opens, maps and validates `path`. Throws shedder::Error naming the file and the problem.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return path_; }
  const StHeader& header() const { return header_; }
  bool contains(const std::string& name) const { return header_.find(name) != nullptr; }
  std::vector<std::string> names() const;

  // Zero-copy CPU tensor for `name` (F64/F32/F16/BF16/I64/I32/I16/I8/U8/BOOL).
  // Throws shedder::Error naming the file and tensor when absent or of an unsupported dtype.
  at::Tensor tensor(const std::string& name) const;

 private:
  std::string path_;
  std::shared_ptr<MappedFile> map_;
  StHeader header_;
};

// Writes `tensors` (any order; header keys sorted by name, data largest element size first so every tensor
// is aligned to its element size, header padded to 8 bytes) to `path` atomically:
// a temporary file in the same folder, fsync, rename. On failure (e.g. disk full) `path` is untouched
// and shedder::Error says what failed. `cancel`, when set between two tensors, stops the write the same way
// (shedder::Cancelled; the temporary file is removed).
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {}, const CancelToken* cancel = nullptr);

}  // namespace shedder
