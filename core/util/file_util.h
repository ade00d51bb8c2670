// Small filesystem helpers the engine needs beyond <filesystem>: recursive removal, whole-file reads.
#pragma once

#include <string>

namespace shedder {

// Removes `path` and everything below it (like `rm -rf`, never following symlinks); returns false if some
// entry could not be removed. Written on POSIX nftw(): libtorch 2.x builds export their own copy of
// std::filesystem::remove_all, which the dynamic linker may bind in its place and which crashed there.
bool remove_tree(const std::string& path);

// The whole file as bytes. Throws shedder::Error("<path>: cannot open" / ": read error").
std::string read_file_bytes(const std::string& path);

}  // namespace shedder
