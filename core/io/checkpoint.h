// A model folder's weights, whatever their files: model.safetensors, sharded safetensors with
// model.safetensors.index.json, or pytorch_model.bin written by torch.save (mamba_ssm layout).
// Tensor names are canonicalised to the Hugging Face names (backbone.embeddings.weight, ...).
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace shedder {

class SafetensorsFile;

struct WeightEntry {
  at::Tensor tensor;   // CPU; for safetensors a read-only view of the memory map
  std::string file;    // file it came from (for messages)
  std::string dtype;   // dtype name as stored ("F32", "BF16", ...)
};

class WeightStore {
 public:
  // Opens the weight files of `dir`. Throws shedder::Error naming the folder/file when none is found or a
  // file is corrupt. Files are validated up front; no tensor data is read here.
  static WeightStore open_folder(const std::string& dir);

  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  const WeightEntry& at(const std::string& name) const;  // throws shedder::Error when absent
  std::vector<std::string> names() const;
  const std::vector<std::string>& files() const { return files_; }
  std::string describe_files() const;  // "model.safetensors" or "3 shards (model-00001-of-00003...)"

 private:
  std::map<std::string, WeightEntry> entries_;
  std::vector<std::string> files_;
  std::vector<std::shared_ptr<SafetensorsFile>> open_files_;
};

// Maps a mamba_ssm / older transformers name to the canonical Hugging Face name.
// "[2, 3]": a tensor shape in error messages.
std::string shape_str(at::IntArrayRef s);

std::string canonical_weight_name(const std::string& name);

}  // namespace shedder
