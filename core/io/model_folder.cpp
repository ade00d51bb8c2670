// Tokenizer-file copying for model folders (see model_folder.h).
#include "io/model_folder.h"

#include <filesystem>
#include <random>

#include "util/error.h"
#include "util/file_util.h"

namespace fs = std::filesystem;

namespace shedder {

const std::vector<std::string>& tokenizer_file_names() {
  static const std::vector<std::string> names = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                                 "vocab.json",     "merges.txt",            "added_tokens.json",
                                                 "generation_config.json"};
  return names;
}

std::vector<std::string> copy_tokenizer_files(const std::string& src, const std::string& dst) {
  std::vector<std::string> copied;
  std::error_code ec;
  for (const std::string& name : tokenizer_file_names()) {
    const fs::path from = fs::path(src) / name;
    if (!fs::exists(from, ec)) continue;
    fs::copy_file(from, fs::path(dst) / name, fs::copy_options::overwrite_existing, ec);
    if (ec) throw Error(from.string() + ": cannot copy into " + dst + ": " + ec.message());
    copied.push_back(name);
  }
  return copied;
}

void check_export_target(const std::string& out_dir, const std::string& source_dir, bool force) {
  const fs::path out(out_dir);
  std::error_code ec;
  if (fs::exists(out, ec) && !force) throw Error(out_dir + ": already exists (use --force to replace it)");
  if (fs::exists(out, ec) && fs::equivalent(out, fs::path(source_dir), ec))
    throw Error(out_dir + ": is the source model folder; export into a new folder");
}

void write_model_folder(const std::string& out_dir, const std::string& source_dir, bool force,
                        const std::function<void(const std::string& tmp_dir)>& fill) {
  check_export_target(out_dir, source_dir, force);
  const fs::path out(out_dir);
  std::error_code ec;
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  fs::create_directories(parent, ec);
  const fs::path tmp = parent / (out.filename().string() + ".tmp-" + std::to_string(std::random_device{}()));
  if (!fs::create_directory(tmp, ec))
    throw Error(tmp.string() + ": cannot create the temporary export folder: " + ec.message());
  try {
    fill(tmp.string());
    // Swap into place: an existing folder is moved aside first and removed only after the new one is there.
    fs::path old;
    if (fs::exists(out, ec)) {
      old = parent / (out.filename().string() + ".old-" + std::to_string(std::random_device{}()));
      fs::rename(out, old, ec);
      if (ec) throw Error(out_dir + ": cannot move the existing folder aside: " + ec.message());
    }
    fs::rename(tmp, out, ec);
    if (ec) {
      if (!old.empty()) fs::rename(old, out);
      throw Error(out_dir + ": cannot move the export into place: " + ec.message());
    }
    if (!old.empty()) remove_tree(old.string());
  } catch (const std::exception& e) {
    remove_tree(tmp.string());
    const std::string msg = e.what();
    throw Error(msg + (fs::exists(out, ec) ? "; " + out_dir + " is untouched" : "; nothing was written"));
  }
}

}  // namespace shedder
