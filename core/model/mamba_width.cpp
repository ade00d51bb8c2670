// Width cuts of pure Mamba mixers (see mamba_width.h).
#include "model/mamba_width.h"

#include <algorithm>
#include <numeric>

#include "util/error.h"

namespace shedder {

namespace {

at::Tensor index_tensor(const std::vector<int64_t>& v) { return at::tensor(v, at::kLong); }

at::Tensor select(const at::Tensor& t, int64_t dim, const at::Tensor& idx) {
  if (!t.defined()) return t;
  return t.index_select(dim, idx.to(t.device())).contiguous();
}

// Indices in ascending order of importance (ties by index): the order a "last k" cut removes them in.
std::vector<int64_t> ascending(const at::Tensor& importance) {
  const at::Tensor imp = importance.to(at::kDouble).cpu().contiguous();
  const double* p = imp.data_ptr<double>();
  std::vector<int64_t> order(static_cast<size_t>(imp.numel()));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [p](int64_t a, int64_t b) { return p[a] < p[b]; });
  return order;
}

void check_keep(const MixerKeep& k, int64_t units, int64_t state, const char* what) {
  if (k.units.empty()) throw Error(std::string("internal: a mixer cut keeps no ") + what);
  if (k.state.empty()) throw Error("internal: a mixer cut keeps no state dimension");
  for (int64_t u : k.units)
    if (u < 0 || u >= units) throw Error(std::string("internal: a mixer cut keeps ") + what + " " + std::to_string(u));
  for (int64_t n : k.state)
    if (n < 0 || n >= state) throw Error("internal: a mixer cut keeps state dimension " + std::to_string(n));
}

}  // namespace

std::string MixerKeep::key() const {
  std::string s;
  for (int64_t u : units) s += std::to_string(u) + ",";
  s += "|";
  for (int64_t n : state) s += std::to_string(n) + ",";
  s += "|";
  for (int64_t p : head_channels) s += std::to_string(p) + ",";
  return s;
}

// ---- Mamba-2 ----------------------------------------------------------------------------------------------------

Mamba2Shape cut_mamba2_shape(const Mamba2Shape& s, const MixerKeep& k) {
  check_keep(k, s.heads, s.state, "head");
  if (s.norm_groups != 1 && s.norm_groups != s.groups)
    throw Error("internal: a Mamba-2 cut needs the gated norm over the whole width or per B/C group");
  const std::vector<int64_t> group = mamba2_group_of_heads(s);
  std::vector<int64_t> counts(static_cast<size_t>(s.groups), 0);
  for (int64_t h : k.units) ++counts[static_cast<size_t>(group[static_cast<size_t>(h)])];
  Mamba2Shape c = s;
  c.group_heads.clear();
  for (int64_t n : counts)
    if (n > 0) c.group_heads.push_back(n);
  c.heads = static_cast<int64_t>(k.units.size());
  for (int64_t p : k.head_channels)
    if (p < 0 || p >= s.head_dim) throw Error("internal: a mixer cut keeps head channel " + std::to_string(p));
  if (!k.head_channels.empty()) c.head_dim = static_cast<int64_t>(k.head_channels.size());
  c.inner = c.heads * c.head_dim;
  c.groups = static_cast<int64_t>(c.group_heads.size());
  c.state = static_cast<int64_t>(k.state.size());
  c.norm_groups = s.norm_groups == 1 ? 1 : c.groups;
  if (std::all_of(c.group_heads.begin(), c.group_heads.end(), [&](int64_t n) { return n == c.group_heads[0]; }))
    c.group_heads.clear();
  return c;
}

Mamba2CutIndex mamba2_cut_index(const Mamba2Shape& s, const MixerKeep& k, bool has_ssm) {
  const int64_t D = s.inner, P = s.head_dim, N = s.state, GN = s.groups * s.state;
  const std::vector<int64_t> group = mamba2_group_of_heads(s);
  std::vector<int64_t> inner, groups;
  std::vector<int64_t> positions = k.head_channels;
  if (positions.empty())
    for (int64_t p = 0; p < P; ++p) positions.push_back(p);
  for (int64_t h : k.units) {
    for (int64_t p : positions) inner.push_back(h * P + p);
    const int64_t g = group[static_cast<size_t>(h)];
    if (groups.empty() || groups.back() != g) groups.push_back(g);
  }
  std::vector<int64_t> bc;  // offsets of the kept B rows within B (the same for C)
  for (int64_t g : groups)
    for (int64_t n : k.state) bc.push_back(g * N + n);
  std::vector<int64_t> rows = inner, conv = inner;
  for (int64_t i : inner) rows.push_back(D + i);
  if (has_ssm) {
    for (int64_t i : bc) rows.push_back(2 * D + i);
    for (int64_t i : bc) rows.push_back(2 * D + GN + i);
    for (int64_t h : k.units) rows.push_back(2 * D + 2 * GN + h);
    for (int64_t i : bc) conv.push_back(D + i);
    for (int64_t i : bc) conv.push_back(D + GN + i);
  }
  return {index_tensor(rows), index_tensor(conv), index_tensor(k.units), index_tensor(inner)};
}

Mamba2Weights cut_mamba2(const Mamba2Weights& w, const Mamba2Shape& s, const MixerKeep& k) {
  check_keep(k, s.heads, s.state, "head");
  const Mamba2CutIndex ix = mamba2_cut_index(s, k, w.has_ssm);
  Mamba2Weights c;
  c.has_ssm = w.has_ssm;
  c.in_proj_w = select(w.in_proj_w, 0, ix.in_rows);
  c.in_proj_b = select(w.in_proj_b, 0, ix.in_rows);
  c.conv_w_kc = select(w.conv_w_kc, 1, ix.conv_channels);
  c.conv_b = select(w.conv_b, 0, ix.conv_channels);
  c.dt_bias = select(w.dt_bias, 0, ix.heads);
  c.A_h = select(w.A_h, 0, ix.heads);
  c.Dv = select(w.Dv, 0, ix.heads);
  c.gnorm_w = select(w.gnorm_w, 0, ix.inner);
  c.out_proj_w = select(w.out_proj_w, 1, ix.inner);
  c.out_proj_b = w.out_proj_b;
  return c;
}

int64_t mamba2_mixer_params(const Mamba2Shape& s, int64_t hidden, int64_t conv_kernel, bool bias, bool conv_bias,
                            bool ssm) {
  const int64_t GN = s.groups * s.state;
  const int64_t rows = 2 * s.inner + (ssm ? 2 * GN + s.heads : 0), conv = s.inner + (ssm ? 2 * GN : 0);
  return rows * hidden + (bias ? rows : 0) + conv * conv_kernel + (conv_bias ? conv : 0) + (ssm ? 3 * s.heads : 0) +
         s.inner + hidden * s.inner + (bias ? hidden : 0);
}

std::vector<int64_t> mamba2_state_order(const Mamba2Weights& w, const Mamba2Shape& s) {
  const int64_t D = s.inner, G = s.groups, N = s.state;
  const at::Tensor rows = w.in_proj_w.to(at::kFloat).abs().sum(1);  // L1 norm of every in_proj row
  const at::Tensor b = rows.narrow(0, 2 * D, G * N).reshape({G, N}), c = rows.narrow(0, 2 * D + G * N, G * N).reshape({G, N});
  return ascending((b + c).sum(0));
}

std::vector<int64_t> mamba2_head_order(const Mamba2Weights& w, const Mamba2Shape& s) {
  const int64_t D = s.inner;
  const at::Tensor rows = w.in_proj_w.to(at::kFloat).abs().sum(1);
  return ascending((rows.narrow(0, 0, D) + rows.narrow(0, D, D)).reshape({s.heads, s.head_dim}).sum(1));
}

// ---- Mamba-1 ----------------------------------------------------------------------------------------------------

Mamba1CutIndex mamba1_cut_index(int64_t inner, int64_t state, int64_t dt_rank, const MixerKeep& k) {
  std::vector<int64_t> rows = k.units, xp;
  for (int64_t c : k.units) rows.push_back(inner + c);
  for (int64_t r = 0; r < dt_rank; ++r) xp.push_back(r);
  for (int64_t n : k.state) xp.push_back(dt_rank + n);
  for (int64_t n : k.state) xp.push_back(dt_rank + state + n);
  return {index_tensor(rows), index_tensor(k.units), index_tensor(xp), index_tensor(k.state)};
}

Mamba1Weights cut_mamba1(const Mamba1Weights& w, const MixerKeep& k) {
  const int64_t D = w.out_proj_w.size(1), N = w.ssm.state_size;
  check_keep(k, D, N, "channel");
  if (w.ssm.dt_norm_w.defined()) throw Error("internal: Mamba-1 cuts are for pure Mamba layers (no inner norms)");
  const Mamba1CutIndex ix = mamba1_cut_index(D, N, w.ssm.dt_rank, k);
  Mamba1Weights c;
  c.has_ssm = w.has_ssm;
  c.in_proj_w = select(w.in_proj_w, 0, ix.in_rows);
  c.in_proj_b = select(w.in_proj_b, 0, ix.in_rows);
  c.out_proj_w = select(w.out_proj_w, 1, ix.channels);
  c.out_proj_b = w.out_proj_b;
  Mamba1Ssm& m = c.ssm;
  m.dt_rank = w.ssm.dt_rank;
  m.state_size = static_cast<int64_t>(k.state.size());
  m.norm_eps = w.ssm.norm_eps;
  m.conv_w_kc = select(w.ssm.conv_w_kc, 1, ix.channels);
  m.conv_b = select(w.ssm.conv_b, 0, ix.channels);
  if (w.ssm.x_proj_w.defined()) m.x_proj_w = select(select(w.ssm.x_proj_w, 0, ix.x_proj_rows), 1, ix.channels);
  m.dt_proj_w = select(w.ssm.dt_proj_w, 0, ix.channels);
  m.dt_proj_b = select(w.ssm.dt_proj_b, 0, ix.channels);
  if (w.ssm.A_nd.defined()) m.A_nd = select(select(w.ssm.A_nd, 0, ix.state), 1, ix.channels);
  m.Dv = select(w.ssm.Dv, 0, ix.channels);
  return c;
}

int64_t mamba1_mixer_params(int64_t inner, int64_t state, int64_t dt_rank, int64_t hidden, int64_t conv_kernel,
                            bool bias, bool conv_bias, bool ssm) {
  const int64_t D = inner;
  const int64_t scan = (dt_rank + 2 * state) * D + D * dt_rank + D + D * state + D;
  return 2 * D * hidden + (bias ? 2 * D : 0) + D * conv_kernel + (conv_bias ? D : 0) + (ssm ? scan : 0) +
         hidden * D + (bias ? hidden : 0);
}

std::vector<int64_t> mamba1_state_order(const Mamba1Weights& w) {
  const int64_t R = w.ssm.dt_rank, N = w.ssm.state_size;
  const at::Tensor rows = w.ssm.x_proj_w.to(at::kFloat).abs().sum(1);
  return ascending(rows.narrow(0, R, N) + rows.narrow(0, R + N, N));
}

std::vector<int64_t> mamba1_channel_order(const Mamba1Weights& w) {
  const int64_t D = w.out_proj_w.size(1);
  const at::Tensor rows = w.in_proj_w.to(at::kFloat).abs().sum(1);
  std::vector<int64_t> order = ascending(-(rows.narrow(0, 0, D) + rows.narrow(0, D, D)));  // ties by index
  return order;
}

}  // namespace shedder
