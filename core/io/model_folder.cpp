// Model folders: tokenizer-file copying, what --force may replace, and writing a whole folder atomically
// (see model_folder.h).
#include "io/model_folder.h"

#include <fcntl.h>
#include <stdio.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>

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
    fsync_path((fs::path(dst) / name).string());
    copied.push_back(name);
  }
  return copied;
}

const std::vector<std::string>& export_markers() {
  static const std::vector<std::string> m = {"shedding_report.json"};
  return m;
}

const std::vector<std::string>& tune_markers() {
  static const std::vector<std::string> m = {"tune_report.json", "checkpoint/trainer_state.json"};
  return m;
}

const std::vector<std::string>& created_model_markers() {
  static const std::vector<std::string> m = {"create_model_report.json"};
  return m;
}

namespace {

// The path with symlinks resolved where it exists (weakly_canonical), for comparisons.
fs::path resolved(const std::string& p) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(fs::absolute(p, ec), ec);
  return ec ? fs::absolute(p).lexically_normal() : r;
}

// True when `inner` is `outer` or lies below it.
bool is_within(const fs::path& inner, const fs::path& outer) {
  auto o = outer.begin(), i = inner.begin();
  for (; o != outer.end(); ++o, ++i) {
    if (o->empty()) continue;  // trailing separator
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

}  // namespace

void check_output_folder(const std::string& out_dir, const std::string& source_dir, bool force,
                         const std::vector<std::string>& markers, const std::string& force_hint) {
  std::error_code ec;
  const fs::path out(out_dir);
  if (!source_dir.empty()) {
    const fs::path o = resolved(out_dir), src = resolved(source_dir);
    if (o == src) throw Error(out_dir + ": is the source model folder itself; write into a new folder");
    if (is_within(src, o))
      throw Error(out_dir + ": contains the source model folder " + source_dir + "; write into a new folder");
  }
  if (!fs::exists(out, ec)) return;
  if (!fs::is_directory(out, ec)) throw Error(out_dir + ": exists and is not a folder");
  if (!force) throw Error(out_dir + ": already exists (" + force_hint + ")");
  if (fs::directory_iterator(out, ec) == fs::directory_iterator()) return;  // empty
  for (const std::string& m : markers)
    if (fs::exists(out / m, ec)) return;
  std::string names;
  for (const std::string& m : markers) names += (names.empty() ? "" : " or ") + m;
  throw Error(out_dir + ": holds files this program did not write (no " + names +
              "); refusing to replace it even with --force: choose a new folder or empty it yourself");
}

void check_export_target(const std::string& out_dir, const std::string& source_dir, bool force) {
  check_output_folder(out_dir, source_dir, force, export_markers());
}

void install_folder(const std::string& tmp_dir, const std::string& out_dir) {
  std::error_code ec;
  const fs::path out(out_dir), tmp(tmp_dir);
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  if (fs::exists(out, ec)) {
    // One atomic exchange: at every moment out_dir is the old folder or the new one.
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, out.c_str(), RENAME_EXCHANGE) == 0) {
      fsync_path(parent.string());
      remove_tree(tmp_dir);  // now the old folder
      return;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
      throw Error(out_dir + ": cannot put the new folder in place: " + std::strerror(errno));
    // Without RENAME_EXCHANGE: move the old folder aside, the new one in, then remove the old one.
    const fs::path old = parent / (out.filename().string() + ".old-" + std::to_string(std::random_device{}()));
    fs::rename(out, old, ec);
    if (ec) throw Error(out_dir + ": cannot move the existing folder aside: " + ec.message());
    fs::rename(tmp, out, ec);
    if (ec) {
      fs::rename(old, out);
      throw Error(out_dir + ": cannot move the new folder into place: " + ec.message());
    }
    fsync_path(parent.string());
    remove_tree(old.string());
    return;
  }
  fs::rename(tmp, out, ec);
  if (ec) throw Error(out_dir + ": cannot move the new folder into place: " + ec.message());
  fsync_path(parent.string());
}

void write_model_folder(const std::string& out_dir, const std::string& source_dir, bool force,
                        const std::function<void(const std::string& tmp_dir)>& fill,
                        const std::vector<std::string>& markers) {
  check_output_folder(out_dir, source_dir, force, markers);
  const fs::path out(out_dir);
  std::error_code ec;
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  fs::create_directories(parent, ec);
  const fs::path tmp = parent / (out.filename().string() + ".tmp-" + std::to_string(std::random_device{}()));
  if (!fs::create_directory(tmp, ec))
    throw Error(tmp.string() + ": cannot create the temporary folder: " + ec.message());
  try {
    fill(tmp.string());
    if (!markers.empty() && !fs::exists(tmp / markers.front(), ec))
      throw std::logic_error("internal error: the folder writer did not write " + markers.front());
    fsync_path(tmp.string());
    install_folder(tmp.string(), out_dir);
  } catch (const Cancelled&) {
    remove_tree(tmp.string());
    throw;
  } catch (const Error& e) {
    remove_tree(tmp.string());
    const std::string msg = e.what();
    throw Error(msg + (fs::exists(out, ec) ? "; " + out_dir + " is untouched" : "; nothing was written"));
  } catch (...) {
    remove_tree(tmp.string());
    throw;
  }
}

}  // namespace shedder
