// Small filesystem helpers every layer needs beyond <filesystem>: recursive removal, folder creation, whole-file
// reads, atomic (all-or-nothing, durable) writes.
#pragma once

#include <string>

namespace shedder {

// Removes `path` and everything below it (like `rm -rf`, never following symlinks); returns false if some
// entry could not be removed. Written on POSIX nftw(): libtorch 2.x builds export their own copy of
// std::filesystem::remove_all, which the dynamic linker may bind in its place and which crashed there.
bool remove_tree(const std::string& path);

// Creates the folder `path` and its parents when missing. Throws shedder::Error naming `path` when it cannot be
// created or exists and is not a folder.
void create_folder(const std::string& path);

// The whole file as bytes. Throws shedder::Error("<path>: cannot open" / ": read error").
std::string read_file_bytes(const std::string& path);

// A file written in pieces that replaces `path` all at once, durably: a temporary file in the same folder (so the
// rename stays on one filesystem; it takes the mode of the file it replaces), write() as often as needed, then
// commit(): fsync, close, rename over `path`, fsync of the folder (so the rename itself survives a crash). Destroyed
// before commit() — an error, a cancel — it removes the temporary file and `path` keeps what it held. Every failure
// is a shedder::Error naming `path` and the reason, and saying the existing file is untouched (or nothing was
// written). The safetensors, GGUF and text writers all go through it.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(const void* data, size_t n);
  void commit();

 private:
  [[noreturn]] void fail(const std::string& what, int err);
  std::string path_, tmp_, untouched_;
  int fd_ = -1;
  bool committed_ = false;
};

// Writes `text` to `path` atomically and durably (AtomicFile).
void write_file_atomic(const std::string& path, const std::string& text);

// fsync of a file (its data) or of a folder (its entries: creations, renames). Throws shedder::Error naming it.
void fsync_path(const std::string& path);

}  // namespace shedder
