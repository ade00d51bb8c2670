// Checked tensor fetching for the model loaders (see weight_loader.h).
#include "model/weight_loader.h"

#include "io/checkpoint.h"
#include "util/error.h"

namespace shedder {

WeightLoader::WeightLoader(const WeightStore& ws, std::string dir, std::string config_file, bool check_finite,
                           const at::Device& device, at::ScalarType dtype)
    : ws_(ws),
      dir_(std::move(dir)),
      config_file_(std::move(config_file)),
      check_finite_(check_finite),
      device_(device),
      dtype_(dtype) {}

bool WeightLoader::contains(const std::string& name) const { return ws_.contains(name); }

std::string WeightLoader::dtype_of(const std::string& name) const { return ws_.contains(name) ? ws_.at(name).dtype : ""; }

at::Tensor WeightLoader::get(const std::string& name, std::vector<int64_t> shape, bool keep_f32) const {
  if (!ws_.contains(name))
    throw Error(ws_.describe_files() + " in " + dir_ + ": missing tensor '" + name + "' (expected shape " +
                shape_str(shape) + " from " + config_file_ + ")");
  const WeightEntry& e = ws_.at(name);
  const bool floating = e.tensor.defined() && (e.tensor.scalar_type() == at::kFloat || e.tensor.scalar_type() == at::kHalf ||
                                               e.tensor.scalar_type() == at::kBFloat16 || e.tensor.scalar_type() == at::kDouble);
  if (!floating)
    throw Error(e.file + ": tensor '" + name + "' has dtype " + e.dtype +
                ", which a model weight cannot have (supported: F32, F16, BF16)");
  if (e.tensor.sizes() != at::IntArrayRef(shape))
    throw Error(e.file + ": tensor '" + name + "' has shape " + shape_str(e.tensor.sizes()) + " but " + config_file_ +
                " implies " + shape_str(shape));
  // On the CPU everything is float32 (a view of the map when already float32); on a GPU the tensor goes straight to
  // the device, in the compute dtype unless the reference keeps it in float32.
  at::Tensor t = device_.is_cpu() ? e.tensor.to(at::kFloat)
                                  : e.tensor.to(device_, keep_f32 ? at::kFloat : dtype_, /*non_blocking=*/false,
                                                /*copy=*/false);
  if (check_finite_ && !at::isfinite(t).all().item<bool>()) {
    const int64_t bad = (~at::isfinite(t)).sum().item<int64_t>();
    throw Error(e.file + ": tensor '" + name + "' contains " + std::to_string(bad) +
                " NaN or infinite value(s); the checkpoint is corrupt");
  }
  return t;
}

at::Tensor WeightLoader::optional(bool present, const std::string& name, std::vector<int64_t> shape, bool keep_f32) const {
  return present ? get(name, std::move(shape), keep_f32) : at::Tensor();
}

}  // namespace shedder
