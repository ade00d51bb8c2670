// Append-only, fsynced JSON-lines journal of a search (see journal.h).
#include "shed/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/model_identity.h"
#include "util/error.h"
#include "util/file_util.h"

namespace fs = std::filesystem;

namespace shedder {

nlohmann::json journal_model_identity(const std::string& model_dir, const std::string& journal_path) {
  return model_identity(model_dir, journal_path.empty() ? std::string() : journal_path + ".weights-hash-cache.json");
}

void check_journal_model(const std::string& path, const JournalContents& c, const std::string& model_dir) {
  check_model_identity(path, c.header.value("model", nlohmann::json()), journal_model_identity(model_dir, path),
                       "use a new --out folder");
}

namespace {

void write_all(int fd, const std::string& text, const std::string& path) {
  size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(path + ": journal write failed: " + std::strerror(errno) +
                  "; the journal keeps every step recorded before this one");
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) throw Error(path + ": journal fsync failed: " + std::strerror(errno));
}

}  // namespace

Journal Journal::create(const std::string& path, const nlohmann::json& header) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) throw Error(path + ": a journal already exists here (use --resume to continue it)");
    throw Error(path + ": cannot create journal: " + std::strerror(errno));
  }
  Journal j(path, fd);
  j.append(header);
  // The new file's entry in its folder must survive a crash too.
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  fsync_path(parent.empty() ? "." : parent.string());
  return j;
}

JournalContents Journal::read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open journal");
  std::ostringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  JournalContents c;
  size_t pos = 0;
  int lineno = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;  // torn last line: ignored
    const std::string line = text.substr(pos, nl - pos);
    ++lineno;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("type")) {
      if (lineno == 1) throw Error(path + ": not a search journal (line 1 is not a journal header)");
      // Our writer never leaves a complete but broken line: the file was damaged. Refuse rather than cut it
      // (cutting would drop the records after it).
      throw Error(path + ":" + std::to_string(lineno) + ": damaged journal record; fix or remove that line to resume");
    }
    if (lineno == 1) {
      if (j["type"] != "header") throw Error(path + ": not a search journal (line 1 is not a journal header)");
      c.header = j;
    } else {
      c.records.push_back(j);
    }
    pos = nl + 1;
    c.valid_bytes = pos;
  }
  if (c.header.is_null()) throw Error(path + ": empty or truncated journal (no header)");
  return c;
}

Journal Journal::reopen(const std::string& path, const JournalContents& contents) {
  if (::truncate(path.c_str(), static_cast<off_t>(contents.valid_bytes)) != 0)
    throw Error(path + ": cannot repair journal: " + std::strerror(errno));
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open journal for appending: " + std::strerror(errno));
  return Journal(path, fd);
}

Journal::Journal(Journal&& o) noexcept : path_(std::move(o.path_)), fd_(o.fd_) { o.fd_ = -1; }

Journal& Journal::operator=(Journal&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(o.path_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

void Journal::append(const nlohmann::json& record) {
  write_all(fd_, record.dump() + "\n", path_);
}

}  // namespace shedder
