// Model-folder identity with cached weight hashes (see model_identity.h).
#include "io/model_identity.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <vector>

#include "util/error.h"
#include "util/file_util.h"
#include "util/hash.h"

namespace fs = std::filesystem;

namespace shedder {

namespace {

bool is_weight_file(const std::string& name) {
  const std::string ext = ".safetensors";
  return (name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0) ||
         name == "pytorch_model.bin";
}

struct FileStamp {
  int64_t bytes = 0;
  int64_t mtime_ns = 0;
};

FileStamp stamp(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) throw Error(p.string() + ": cannot read its size and time");
  return {static_cast<int64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + static_cast<int64_t>(st.st_mtim.tv_nsec)};
}

// The cache: {"version": 1, "files": {"<absolute path>": {"bytes", "mtime_ns", "xxh64"}}}. An unreadable or
// foreign cache is ignored (it only saves time).
nlohmann::json read_cache(const std::string& path) {
  std::error_code ec;
  if (path.empty() || !fs::exists(path, ec)) return nlohmann::json::object();
  try {
    nlohmann::json j = nlohmann::json::parse(read_file_bytes(path));
    if (j.is_object() && j.value("version", 0) == 1 && j.contains("files") && j["files"].is_object()) return j["files"];
  } catch (const std::exception&) {
  }
  return nlohmann::json::object();
}

}  // namespace

nlohmann::json model_identity(const std::string& model_dir, const std::string& cache_path) {
  nlohmann::json id;
  const fs::path dir(model_dir);
  id["dir"] = fs::absolute(dir).lexically_normal().string();
  const std::string cfg = read_file_bytes((dir / "config.json").string());
  id["config_fnv1a64"] = fnv1a64_hex(cfg.data(), cfg.size());

  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (is_weight_file(e.path().filename().string()) && e.is_regular_file(ec)) files.push_back(e.path());
  std::sort(files.begin(), files.end());

  nlohmann::json cache = read_cache(cache_path);
  bool cache_changed = false;
  nlohmann::json weights = nlohmann::json::array();
  for (const auto& p : files) {
    const FileStamp s = stamp(p);
    const std::string key = fs::absolute(p).lexically_normal().string();
    std::string hash;
    if (cache.contains(key) && cache[key].is_object() && cache[key].value("bytes", int64_t{-1}) == s.bytes &&
        cache[key].value("mtime_ns", int64_t{-1}) == s.mtime_ns && cache[key].value("xxh64", std::string()).size() == 16) {
      hash = cache[key]["xxh64"].get<std::string>();
    } else {
      hash = file_xxh64_hex(p.string());
      cache[key] = {{"bytes", s.bytes}, {"mtime_ns", s.mtime_ns}, {"xxh64", hash}};
      cache_changed = true;
    }
    weights.push_back({{"file", p.filename().string()}, {"bytes", s.bytes}, {"xxh64", hash}});
  }
  id["weights"] = weights;
  if (cache_changed && !cache_path.empty()) {
    try {
      write_file_atomic(cache_path, nlohmann::json{{"version", 1}, {"files", cache}}.dump(1) + "\n");
    } catch (const Error&) {
      // A cache that cannot be written costs time on the next resume, nothing else.
    }
  }
  return id;
}

void check_model_identity(const std::string& record_path, const nlohmann::json& recorded,
                          const nlohmann::json& current, const std::string& what_to_do) {
  const std::string was = recorded.is_object() ? recorded.value("dir", std::string("?")) : std::string("?");
  const std::string now = current.value("dir", std::string("?"));
  if (!recorded.is_object() || !recorded.contains("weights") || !recorded["weights"].is_array())
    throw Error(record_path + ": records no model identity; " + what_to_do);
  for (const auto& w : recorded["weights"])
    if (!w.is_object() || !w.contains("xxh64"))
      throw Error(record_path + ": written by an older version that did not record the weights' content, so it "
                  "cannot show that it belongs to " + now + "; " + what_to_do);
  if (recorded.value("config_fnv1a64", std::string()) != current.value("config_fnv1a64", std::string()))
    throw Error(record_path + ": was written for another model (" + was + ": its config.json differs from " + now +
                "'s); " + what_to_do);
  if (recorded["weights"] != current["weights"])
    throw Error(record_path + ": was written for another model (" + was + ": its weight files differ in content from " +
                now + "'s); " + what_to_do);
}

}  // namespace shedder
