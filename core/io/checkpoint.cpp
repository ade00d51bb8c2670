// Discovery and opening of a model folder's weight files (see checkpoint.h).
#include "io/checkpoint.h"

#include <torch/csrc/jit/serialization/pickle.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "io/safetensors.h"
#include "model/model_config.h"
#include "util/error.h"
#include "util/file_util.h"

namespace fs = std::filesystem;

namespace shedder {

std::string canonical_weight_name(const std::string& name) {
  static const std::string from = "backbone.embedding.", to = "backbone.embeddings.";
  if (name.compare(0, from.size(), from) == 0) return to + name.substr(from.size());
  return name;
}

namespace {

const char* scalar_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "F32";
    case at::kHalf: return "F16";
    case at::kBFloat16: return "BF16";
    case at::kDouble: return "F64";
    case at::kLong: return "I64";
    case at::kInt: return "I32";
    default: return "other";
  }
}

}  // namespace

const WeightEntry& WeightStore::at(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    std::string where = files_.empty() ? std::string("weights") : files_.front();
    throw Error(where + ": missing tensor '" + name + "'");
  }
  return it->second;
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  for (const auto& kv : entries_) out.push_back(kv.first);
  return out;
}

std::string WeightStore::describe_files() const {
  if (files_.size() == 1) return fs::path(files_[0]).filename().string();
  return std::to_string(files_.size()) + " shards (" + fs::path(files_.front()).filename().string() + " ...)";
}

WeightStore WeightStore::open_folder(const std::string& dir) {
  WeightStore ws;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(dir + ": not a model folder (no such directory)");
  const fs::path d(dir);

  auto add_safetensors = [&](const std::shared_ptr<SafetensorsFile>& f, const std::set<std::string>* only) {
    ws.files_.push_back(f->path());
    ws.open_files_.push_back(f);
    for (const auto& info : f->header().tensors) {
      if (only && !only->count(info.name)) continue;
      const std::string canon = canonical_weight_name(info.name);
      if (ws.entries_.count(canon))
        throw Error(f->path() + ": tensor '" + info.name + "' also appears in " + ws.entries_[canon].file);
      WeightEntry e;
      e.file = f->path();
      e.dtype = st_dtype_name(info.dtype);
      // Zero-copy view of the map for the dtypes a model can hold; others stay undefined and are
      // reported by name if the model asks for them.
      const StDType t = info.dtype;
      if (t == StDType::F32 || t == StDType::F16 || t == StDType::BF16 || t == StDType::F64 || t == StDType::I64 ||
          t == StDType::I32)
        e.tensor = f->tensor(info.name);
      ws.entries_[canon] = std::move(e);
    }
  };

  const fs::path index = d / "model.safetensors.index.json";
  const fs::path single = d / "model.safetensors";
  const fs::path bin = d / "pytorch_model.bin";
  if (fs::exists(index, ec)) {
    nlohmann::json j = parse_json_lenient(read_file_bytes(index.string()), index.string());
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      throw Error(index.string() + ": no \"weight_map\" object");
    std::map<std::string, std::set<std::string>> by_file;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) throw Error(index.string() + ": weight_map['" + it.key() + "'] is not a file name");
      const std::string fname = it.value().get<std::string>();
      if (fname.find('/') != std::string::npos || fname == "..")
        throw Error(index.string() + ": weight_map['" + it.key() + "'] names a file outside the folder: " + fname);
      by_file[fname].insert(it.key());
    }
    for (const auto& kv : by_file) {
      const fs::path shard = d / kv.first;
      if (!fs::exists(shard, ec))
        throw Error(shard.string() + ": shard listed in model.safetensors.index.json is missing");
      auto f = SafetensorsFile::open(shard.string());
      for (const auto& name : kv.second)
        if (!f->contains(name))
          throw Error(shard.string() + ": tensor '" + name + "' listed in the index is not in this shard");
      add_safetensors(f, &kv.second);
    }
  } else if (fs::exists(single, ec)) {
    add_safetensors(SafetensorsFile::open(single.string()), nullptr);
  } else if (fs::exists(bin, ec)) {
    // torch::jit::pickle_load takes the whole zip archive in memory (read once, no second copy).
    std::vector<char> data;
    {
      std::ifstream f(bin, std::ios::binary | std::ios::ate);
      if (!f) throw Error(bin.string() + ": cannot open");
      data.resize(static_cast<size_t>(f.tellg()));
      f.seekg(0);
      if (!f.read(data.data(), static_cast<std::streamsize>(data.size()))) throw Error(bin.string() + ": read error");
    }
    c10::IValue v;
    try {
      v = torch::jit::pickle_load(data);
    } catch (const std::exception& e) {
      std::string msg = e.what();
      msg = msg.substr(0, msg.find('\n'));
      throw Error(bin.string() + ": cannot read torch.save file: " + msg);
    }
    if (!v.isGenericDict()) throw Error(bin.string() + ": expected a state dict (name -> tensor)");
    ws.files_.push_back(bin.string());
    for (const auto& kv : v.toGenericDict()) {
      if (!kv.key().isString() || !kv.value().isTensor()) continue;
      WeightEntry e;
      e.file = bin.string();
      e.tensor = kv.value().toTensor();
      e.dtype = scalar_name(e.tensor.scalar_type());
      ws.entries_[canonical_weight_name(kv.key().toStringRef())] = std::move(e);
    }
    if (ws.entries_.empty()) throw Error(bin.string() + ": holds no tensors");
    return ws;
  } else {
    throw Error(dir + ": no weights found (expected model.safetensors, model.safetensors.index.json or "
                      "pytorch_model.bin)");
  }

  return ws;
}

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

}  // namespace shedder
