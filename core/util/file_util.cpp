// Filesystem helpers (see file_util.h).
#include "util/file_util.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "util/error.h"

namespace shedder {

namespace {

int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return std::remove(path) == 0 ? 0 : -1; }

}  // namespace

bool remove_tree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT;
  return ::nftw(path.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS) == 0;
}

std::string read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (!f.good() && !f.eof()) throw Error(path + ": read error");
  return ss.str();
}

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open to sync: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems cannot sync a folder (EINVAL); that is not a lost write.
  if (rc != 0 && err != EINVAL) throw Error(path + ": fsync failed: " + std::strerror(err));
}

void create_folder(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw Error(path + ": cannot create the folder: " + ec.message());
  if (!std::filesystem::is_directory(path, ec)) throw Error(path + ": exists and is not a folder");
}

void write_file_atomic(const std::string& path, const std::string& text) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string tmp = (dir / (target.filename().string() + ".tmp-" + std::to_string(std::random_device{}()))).string();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path + ": cannot write: " + std::strerror(errno));
  auto fail = [&](const std::string& what, int err) {
    ::unlink(tmp.c_str());
    return Error(path + ": " + what + ": " + std::strerror(err) + "; the previous file (if any) is untouched");
  };
  size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      throw fail("write failed", err);
    }
    off += static_cast<size_t>(n);
  }
  const int sync_rc = ::fsync(fd);
  const int sync_err = errno;
  const int close_rc = ::close(fd);  // always closed, whatever fsync said
  const int close_err = errno;
  if (sync_rc != 0) throw fail("write failed", sync_err);
  if (close_rc != 0) throw fail("write failed", close_err);
  if (::rename(tmp.c_str(), path.c_str()) != 0) throw fail("cannot replace", errno);
  fsync_path(dir.string());
}

}  // namespace shedder
