// The search journal: a JSON-lines file that makes runs resumable. Line 1 is a header (arguments, the
// model's identity, the search settings); then one record per event ("base", "step", "done"). Every record
// is one write() of a whole line followed by fsync, so a crash or a cancel leaves a valid journal (a torn
// last line is dropped on reading).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace shedder {

struct JournalContents;

// The model identity a journal's header records (io/model_identity.h) for the folder `model_dir`, with the weight
// hashes cached beside the journal at `journal_path`.
nlohmann::json journal_model_identity(const std::string& model_dir, const std::string& journal_path);
// Throws shedder::Error (naming `path` and both models) unless the journal's header identifies the folder
// `model_dir` (same config.json, same weight files by content).
void check_journal_model(const std::string& path, const JournalContents& contents, const std::string& model_dir);

struct JournalContents {
  nlohmann::json header;
  std::vector<nlohmann::json> records;  // everything after the header, in order
  size_t valid_bytes = 0;               // length of the well-formed prefix
};

class Journal {
 public:
  // Creates a new journal with `header` (refuses to overwrite an existing file).
  static Journal create(const std::string& path, const nlohmann::json& header);
  // Reads an existing journal; throws shedder::Error naming the file when it is not one, or naming the line
  // of a damaged record. Only an unterminated last line (a torn write) is dropped.
  static JournalContents read(const std::string& path);
  // Opens an existing journal for appending, cutting off a torn last line first.
  static Journal reopen(const std::string& path, const JournalContents& contents);

  Journal(Journal&& o) noexcept;
  Journal& operator=(Journal&& o) noexcept;
  Journal(const Journal&) = delete;
  ~Journal();

  void append(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  Journal(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
};

}  // namespace shedder
