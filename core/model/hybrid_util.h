// Small helpers shared by the hybrid model files (zamba2_model.cpp, hymba_model.cpp): weight loading, RMSNorm,
// activations, and index lists for cutting heads / channels out of weights.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "model/model_config.h"
#include "util/file_util.h"
#include "util/error.h"

namespace shedder::hybrid_util {

// A weight of `ws` (the folder `dir`) as a float32 tensor of the shape config.json implies: missing tensors,
// wrong dtypes or shapes and (with check_finite) NaN/Inf are shedder::Errors naming the file and tensor.
inline at::Tensor load_weight(const WeightStore& ws, const std::string& dir, const std::string& name,
                              std::vector<int64_t> shape, bool check_finite) {
  if (!ws.contains(name))
    throw Error(ws.describe_files() + " in " + dir + ": missing tensor '" + name + "' (expected shape " +
                shape_str(shape) + " from config.json)");
  const WeightEntry& e = ws.at(name);
  if (!e.tensor.defined() || !at::isFloatingType(e.tensor.scalar_type()))
    throw Error(e.file + ": tensor '" + name + "' has dtype " + e.dtype + ", which a model weight cannot have");
  if (e.tensor.sizes() != at::IntArrayRef(shape))
    throw Error(e.file + ": tensor '" + name + "' has shape " + shape_str(e.tensor.sizes()) +
                " but config.json implies " + shape_str(shape));
  at::Tensor t = e.tensor.to(at::kFloat).contiguous().clone();
  if (check_finite && !at::isfinite(t).all().item<bool>())
    throw Error(e.file + ": tensor '" + name + "' contains NaN or infinite values; the checkpoint is corrupt");
  return t;
}

inline at::Tensor rms(const at::Tensor& x, const at::Tensor& w, double eps) {
  return w * (x * at::rsqrt(x.pow(2).mean(-1, true) + eps));
}

inline at::Tensor activation(const at::Tensor& x, const std::string& act) {
  if (act == "gelu") return at::gelu(x);
  if (act == "gelu_pytorch_tanh" || act == "gelu_new") return at::gelu(x, "tanh");
  if (act == "silu" || act == "swish") return at::silu(x);
  return at::relu(x);  // validated at load: only "relu" reaches here
}

inline at::Tensor idx(const std::vector<int64_t>& v) { return at::tensor(v, at::kLong); }

// Rows [i*size, (i+1)*size) for every i in `units`.
inline std::vector<int64_t> unit_rows(const std::vector<int64_t>& units, int64_t size, int64_t offset = 0) {
  std::vector<int64_t> r;
  for (int64_t u : units)
    for (int64_t k = 0; k < size; ++k) r.push_back(offset + u * size + k);
  return r;
}



inline bool parse_index(const std::string& s, int64_t& out) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  out = std::stoll(s);
  return true;
}

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s) {
    if (ch == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  out.push_back(cur);
  return out;
}


inline at::Tensor rows(const at::Tensor& t, const std::vector<int64_t>& r) { return t.index_select(0, idx(r)).contiguous(); }
inline at::Tensor cols(const at::Tensor& t, const std::vector<int64_t>& r) { return t.index_select(1, idx(r)).contiguous(); }

}  // namespace shedder::hybrid_util
