// Fetching a model's tensors from its weight files, for every architecture's loader: each tensor is checked
// against the shape its config implies, for a floating dtype and (optionally) finite values — every failure one
// shedder::Error naming the file and the tensor — and placed where the model computes: float32 on the CPU; on a GPU
// in the compute dtype, or float32 for what the reference keeps in float32 (conv weights, A, D, dt_bias).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace shedder {

class WeightStore;

class WeightLoader {
 public:
  // `dir`/`config_file` name the folder and its config.json in messages.
  WeightLoader(const WeightStore& ws, std::string dir, std::string config_file, bool check_finite,
               const at::Device& device, at::ScalarType dtype);

  // The tensor `name` of shape `shape`; `keep_f32`: float32 even on a GPU.
  at::Tensor get(const std::string& name, std::vector<int64_t> shape, bool keep_f32 = false) const;
  // get() when `present`, else an undefined tensor.
  at::Tensor optional(bool present, const std::string& name, std::vector<int64_t> shape, bool keep_f32 = false) const;
  bool contains(const std::string& name) const;
  // The stored dtype of `name` ("F32", "BF16", ...), "" when absent.
  std::string dtype_of(const std::string& name) const;
  const at::Device& device() const { return device_; }

 private:
  const WeightStore& ws_;
  std::string dir_, config_file_;
  bool check_finite_;
  at::Device device_;
  at::ScalarType dtype_;
};

}  // namespace shedder
