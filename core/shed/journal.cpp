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

#include "model/mamba_model.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace shedder {

std::string fnv1a64_hex(const void* data, size_t size) {
  uint64_t h = 1469598103934665603ULL;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

nlohmann::json model_identity(const MambaModel& model) {
  nlohmann::json id;
  const fs::path dir(model.dir());
  id["dir"] = fs::absolute(dir).lexically_normal().string();
  std::ifstream f(dir / "config.json", std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  const std::string cfg = ss.str();
  id["config_fnv1a64"] = fnv1a64_hex(cfg.data(), cfg.size());
  nlohmann::json weights = nlohmann::json::array();
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const bool is_weight = (name.size() > 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0) ||
                           name == "pytorch_model.bin";
    if (is_weight && e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& p : files)
    weights.push_back({{"file", p.filename().string()}, {"bytes", static_cast<int64_t>(fs::file_size(p, ec))}});
  id["weights"] = weights;
  return id;
}

void check_journal_model(const std::string& path, const JournalContents& c, const MambaModel& model) {
  if (!c.header.contains("model")) throw Error(path + ": journal header lacks the model's identity");
  const nlohmann::json identity = model_identity(model);
  const nlohmann::json& jm = c.header["model"];
  if (jm.value("config_fnv1a64", "") != identity["config_fnv1a64"] || jm.value("weights", nlohmann::json()) != identity["weights"])
    throw Error(path + ": this journal was written for another model (" + jm.value("dir", std::string("?")) +
                ", config hash " + jm.value("config_fnv1a64", std::string("?")) + "); this model is " +
                identity["dir"].get<std::string>() + " with config hash " +
                identity["config_fnv1a64"].get<std::string>() + ". Use a new --out folder.");
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
