// The shared Mamba-1 and Mamba-2 mixers (see mamba_mixer.h).
#include "model/mamba_mixer.h"

#include "kernels/mixer_ops.h"
#include "runtime/op_profile.h"

namespace shedder {

namespace {

// Runs `f`, timed under `name` when SHEDDER_PROFILE is on (runtime/op_profile.h).
template <class F>
at::Tensor prof(const char* name, const at::Device& d, F&& f) {
  if (!profile::enabled()) return f();
  profile::Scope scope(name, d);
  return f();
}

}  // namespace

void advance_conv_state(at::Tensor& conv, const at::Tensor& x) {
  const int64_t k1 = conv.size(1), L = x.size(1);
  if (k1 == 0) return;
  conv = L >= k1 ? x.narrow(1, L - k1, k1).contiguous() : at::cat({conv.narrow(1, L, k1 - L), x}, 1).contiguous();
}

at::Tensor mamba1_ssm(const Mamba1Ssm& w, const at::Tensor& xs, const at::Tensor& z, bool skip_ssm, LayerState* state,
                      const at::Device& device) {
  at::Tensor xc = prof("conv", device, [&] {
    return ops::causal_conv1d(xs, w.conv_w_kc, w.conv_b, /*silu=*/true, state ? state->conv : at::Tensor());
  });
  if (state) advance_conv_state(state->conv, xs);
  if (skip_ssm) return xc * at::silu(z);
  const int64_t R = w.dt_rank, N = w.state_size;
  at::Tensor sp = prof("x_proj", device, [&] { return at::linear(xc, w.x_proj_w); });  // [B, L, R + 2N]
  at::Tensor dt = sp.narrow(2, 0, R), Bm = sp.narrow(2, R, N), Cm = sp.narrow(2, R + N, N);
  if (w.dt_norm_w.defined()) {  // Hymba: RMSNorms over dt, B and C
    dt = ops::rms_norm(dt, w.dt_norm_w, w.norm_eps, /*round_input=*/false);
    Bm = ops::rms_norm(Bm, w.B_norm_w, w.norm_eps, false).contiguous();
    Cm = ops::rms_norm(Cm, w.C_norm_w, w.norm_eps, false).contiguous();
  }
  // On a GPU dt_proj's bias is added in float32 inside the scan (as mamba_ssm's kernels do), which saves a pass
  // over [B, L, D]; on the CPU the float32 linear includes it. softplus: in the scan.
  const bool gpu = !device.is_cpu();
  at::Tensor dt_raw = prof("dt_proj", device, [&] {
    if (!gpu) return at::linear(dt, w.dt_proj_w, w.dt_proj_b).contiguous();
    return at::mm(dt.reshape({-1, R}), w.dt_proj_w.t()).view({dt.size(0), dt.size(1), w.dt_proj_w.size(0)});
  });
  return prof("scan", device, [&] {
    return ops::selective_scan(xc, dt_raw, w.A_nd, Bm, Cm, w.Dv, z, state ? state->ssm : at::Tensor(), ops::Impl::Auto,
                               gpu ? w.dt_proj_b : at::Tensor());
  });
}

at::Tensor mamba1_mixer(const Mamba1Weights& w, const at::Tensor& x, bool skip_ssm, LayerState* state,
                        const at::Device& device) {
  const int64_t D = w.out_proj_w.size(1);
  at::Tensor proj = prof("in_proj", device, [&] { return at::linear(x, w.in_proj_w, w.in_proj_b); });  // [B, L, 2D]
  at::Tensor y = mamba1_ssm(w.ssm, proj.narrow(2, 0, D), proj.narrow(2, D, D), skip_ssm || !w.has_ssm, state, device);
  return prof("out_proj", device, [&] { return at::linear(y, w.out_proj_w, w.out_proj_b); });
}

std::vector<int64_t> mamba2_group_of_heads(const Mamba2Shape& s) {
  std::vector<int64_t> g;
  if (s.group_heads.empty()) {
    for (int64_t h = 0; h < s.heads; ++h) g.push_back(h / (s.heads / s.groups));
  } else {
    for (size_t i = 0; i < s.group_heads.size(); ++i) g.insert(g.end(), s.group_heads[i], static_cast<int64_t>(i));
  }
  return g;
}

at::Tensor mamba2_mixer(const Mamba2Weights& w, const Mamba2Shape& s, const at::Tensor& x, bool skip_ssm,
                        LayerState* state, const at::Device& device) {
  const int64_t D = s.inner, GN = s.groups * s.state;
  at::Tensor proj = prof("in_proj", device, [&] { return at::linear(x, w.in_proj_w, w.in_proj_b); });
  at::Tensor z = proj.narrow(2, 0, D);
  const at::Tensor prev = state ? state->conv : at::Tensor();
  at::Tensor y;
  if (!w.has_ssm) {  // an export dropped the SSM: only z and x remain
    at::Tensor xin = proj.narrow(2, D, D);
    y = prof("conv", device, [&] { return ops::causal_conv1d(xin, w.conv_w_kc, w.conv_b, true, prev); });
    if (state) advance_conv_state(state->conv, xin);
  } else {
    at::Tensor xin = proj.narrow(2, D, s.conv_dim());
    at::Tensor xBC = prof("conv", device, [&] { return ops::causal_conv1d(xin, w.conv_w_kc, w.conv_b, true, prev); });
    if (state) advance_conv_state(state->conv, xin);
    at::Tensor xs = xBC.narrow(2, 0, D);
    if (skip_ssm) {
      y = xs;
    } else {
      at::Tensor Bm = xBC.narrow(2, D, GN), Cm = xBC.narrow(2, D + GN, GN);
      int64_t groups = s.groups;
      if (!s.group_heads.empty()) {  // unequal groups: one B/C group per head
        const at::Tensor idx = at::tensor(mamba2_group_of_heads(s), at::kLong).to(xBC.device());
        auto per_head = [&](const at::Tensor& t) {
          return t.reshape({t.size(0), t.size(1), s.groups, s.state}).index_select(2, idx).reshape(
              {t.size(0), t.size(1), s.heads * s.state});
        };
        Bm = per_head(Bm);
        Cm = per_head(Cm);
        groups = s.heads;
      }
      y = prof("scan", device, [&] {
        return ops::ssd_scan(xs, proj.narrow(2, D + s.conv_dim(), s.heads), w.dt_bias, w.A_h, Bm, Cm, w.Dv,
                             s.head_dim, groups, s.dt_min, s.dt_max, state ? state->ssm : at::Tensor());
      });
    }
  }
  // Gated RMSNorm: norm(y * silu(z)) over the inner dimension (per group for mamba_ssm and Zamba2 checkpoints).
  at::Tensor g = prof("gated_norm", device, [&] {
    if (s.norm_groups == 1 || s.group_heads.empty())
      return ops::gated_rms_norm(y, z, w.gnorm_w, s.norm_groups, s.norm_eps);
    std::vector<at::Tensor> parts;  // unequal norm groups: each over its own channels
    int64_t c0 = 0;
    for (int64_t h : s.group_heads) {
      const int64_t n = h * s.head_dim;
      parts.push_back(ops::gated_rms_norm(y.narrow(2, c0, n), z.narrow(2, c0, n), w.gnorm_w.narrow(0, c0, n), 1,
                                          s.norm_eps));
      c0 += n;
    }
    return at::cat(parts, 2);
  });
  return prof("out_proj", device, [&] { return at::linear(g, w.out_proj_w, w.out_proj_b); });
}

}  // namespace shedder
