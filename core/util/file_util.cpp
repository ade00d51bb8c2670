// Filesystem helpers (see file_util.h).
#include "util/file_util.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  namespace fs = std::filesystem;
  const fs::path target(path_);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  struct stat old {};
  const bool existed = ::stat(path_.c_str(), &old) == 0;
  untouched_ = existed ? "; the existing file is untouched" : "; nothing was written";
  std::string tmpl = (dir / (target.filename().string() + ".tmp-XXXXXX")).string();
  fd_ = ::mkstemp(tmpl.data());
  if (fd_ < 0)
    throw Error(path_ + ": cannot write: cannot create a temporary file in '" + dir.string() + "': " +
                std::strerror(errno) + untouched_);
  tmp_ = tmpl;
  ::fchmod(fd_, existed && S_ISREG(old.st_mode) ? (old.st_mode & 07777) : 0644);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

void AtomicFile::fail(const std::string& what, int err) {
  throw Error(path_ + ": " + what + ": " + std::strerror(err) + untouched_);
}

void AtomicFile::write(const void* data, size_t n) {
  if (fd_ < 0) throw InternalError("AtomicFile::write after commit: " + path_);
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, std::min<size_t>(n, size_t(1) << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("write failed", errno);
    }
    if (w == 0) fail("write failed", EIO);  // no progress and no error: an I/O error rather than a spin
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFile::commit() {
  const int sync_rc = ::fsync(fd_);
  const int sync_err = errno;
  const int close_rc = ::close(fd_);  // always closed, whatever fsync said
  const int close_err = errno;
  fd_ = -1;
  if (sync_rc != 0) fail("write failed", sync_err);
  if (close_rc != 0) fail("write failed", close_err);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("cannot move the temporary file into place", errno);
  committed_ = true;
  const std::filesystem::path target(path_);
  // The rename made durable; a failure here does not undo a completed write.
  try {
    fsync_path(target.has_parent_path() ? target.parent_path().string() : std::string("."));
  } catch (const Error&) {
  }
}

void write_file_atomic(const std::string& path, const std::string& text) {
  AtomicFile f(path);
  f.write(text.data(), text.size());
  f.commit();
}

}  // namespace shedder
