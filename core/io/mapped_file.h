// Read-only memory map of a whole file (POSIX open/fstat/mmap), shared by the tensors that view it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace shedder {

// The mapping is PROT_READ + MAP_PRIVATE: writing through data() faults. Empty files map to
// data() == nullptr, size() == 0. Not copyable; share it through the shared_ptr returned by open().
class MappedFile {
 public:
  // Throws shedder::Error("<path>: cannot open: <reason>") when the file cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace shedder
