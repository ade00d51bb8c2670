// Device/dtype dispatch of the mixer operations and their ATen formulation (see mixer_ops.h).
#include "kernels/mixer_ops.h"

#include <c10/core/GradMode.h>

#include <atomic>
#include <initializer_list>
#include <vector>
#include <cmath>
#include <limits>

#include "kernels/chunked_scan.h"
#include "kernels/cpu_kernels.h"
#include "kernels/ssm_scan_autograd.h"
#include "util/error.h"
#ifdef SHEDDER_WITH_CUDA
#include "kernels/cuda/cuda_ops.h"
#endif

namespace shedder::ops {
namespace {

std::atomic<int64_t> g_fallbacks{0};

bool cpu_float(const at::Tensor& t) { return !t.defined() || (t.device().is_cpu() && t.scalar_type() == at::kFloat); }

bool use_cuda(const at::Tensor& t, Impl impl) {
#ifdef SHEDDER_WITH_CUDA
  return impl == Impl::Auto && t.is_cuda();
#else
  (void)t;
  (void)impl;
  return false;
#endif
}

at::Tensor f32(const at::Tensor& t) { return t.to(at::kFloat); }

thread_local bool t_fused_training_scan = true;

// While autograd records and an input needs a gradient, only the differentiable formulations may run.
bool grad_wanted(std::initializer_list<const at::Tensor*> ts) {
  if (!at::GradMode::is_enabled()) return false;
  for (const at::Tensor* t : ts)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

// x * rsqrt(mean(x^2) + eps) over the last dimension, taken in `groups` equal groups (Mamba-2's gated norm).
at::Tensor group_rms_normalize(const at::Tensor& g, int64_t groups, double eps) {
  if (groups <= 1) return g * at::rsqrt(g.pow(2).mean(-1, true) + eps);
  std::vector<int64_t> shape = g.sizes().vec();
  shape.back() /= groups;
  shape.insert(shape.end() - 1, groups);
  at::Tensor gg = g.reshape(shape);
  return (gg * at::rsqrt(gg.pow(2).mean(-1, true) + eps)).reshape(g.sizes());
}

// torch's softplus (threshold 20) in float32.
at::Tensor softplus20(const at::Tensor& x) { return at::where(x > 20.0, x, at::log1p(at::exp(x))); }

// Adds the contribution of an initial state s0 to the states h of a recurrence h_t = a_t h_{t-1} + u_t:
// h_t += exp(sum_{t' <= t} log_a_t') * s0.
at::Tensor with_initial(const at::Tensor& h, const at::Tensor& log_a, const at::Tensor& s0) {
  return h + at::exp(at::cumsum(log_a, 1)) * s0.unsqueeze(1);
}

}  // namespace

at::Tensor causal_conv1d(const at::Tensor& x, const at::Tensor& w_kc, const at::Tensor& bias, bool silu,
                         const at::Tensor& prev, Impl impl) {
  if (impl == Impl::Auto && grad_wanted({&x, &w_kc, &bias})) impl = Impl::Aten;  // the loop below differentiates
  if (impl == Impl::Auto && cpu_float(x) && cpu_float(prev)) return kernels::causal_conv1d(x, w_kc, bias, silu, prev);
#ifdef SHEDDER_WITH_CUDA
  if (use_cuda(x, impl)) {
    at::Tensor y = cuda::causal_conv1d(x, w_kc, bias, silu, prev);
    if (y.defined()) return y;
    ++g_fallbacks;
  }
#endif
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2), K = w_kc.size(0);
  at::Tensor pre = prev.defined() ? f32(prev) : at::zeros({B, K - 1, C}, x.options().dtype(at::kFloat));
  at::Tensor xp = at::cat({pre, f32(x)}, 1);
  at::Tensor out = bias.defined() ? f32(bias).expand({B, L, C}).clone() : at::zeros({B, L, C}, xp.options());
  at::Tensor w = f32(w_kc);
  for (int64_t k = 0; k < K; ++k) out = out + w[k] * xp.narrow(1, k, L);
  if (silu) out = at::silu(out);
  return out.to(x.scalar_type());
}

at::Tensor selective_scan(const at::Tensor& u, const at::Tensor& dt_raw, const at::Tensor& A_nd, const at::Tensor& Bm,
                          const at::Tensor& Cm, const at::Tensor& Dv, const at::Tensor& z, const at::Tensor& state,
                          Impl impl, const at::Tensor& dt_bias) {
  if (impl == Impl::Auto && !state.defined() && grad_wanted({&u, &dt_raw, &A_nd, &Bm, &Cm, &Dv, &z, &dt_bias})) {
    // The differentiable scan (fused backward on the CPU) over the same math.
    at::Tensor uf = f32(u), dt = softplus20(dt_bias.defined() ? f32(dt_raw) + f32(dt_bias) : f32(dt_raw));
    at::Tensor y = differentiable_ssm_scan(uf.contiguous(), dt.contiguous(), f32(A_nd).t().contiguous(),
                                           f32(Bm).unsqueeze(2).contiguous(), f32(Cm).unsqueeze(2).contiguous(),
                                           t_fused_training_scan) +
                   uf * f32(Dv);
    if (z.defined()) y = y * at::silu(f32(z));
    return y.to(u.scalar_type());
  }
  if (impl == Impl::Auto && cpu_float(u) && cpu_float(dt_raw) && cpu_float(Bm) && cpu_float(z) && cpu_float(dt_bias))
    return kernels::selective_scan(u, (dt_bias.defined() ? dt_raw + dt_bias : dt_raw).contiguous(), A_nd, Bm, Cm, Dv,
                                   z, state);
#ifdef SHEDDER_WITH_CUDA
  if (use_cuda(u, impl)) {
    at::Tensor y = cuda::selective_scan(u, dt_raw, A_nd, Bm, Cm, Dv, z, state, dt_bias);
    if (y.defined()) return y;
    ++g_fallbacks;
  }
#endif
  at::Tensor dtf = dt_bias.defined() ? f32(dt_raw) + f32(dt_bias) : f32(dt_raw);
  at::Tensor uf = f32(u), dt = softplus20(dtf);                               // [B, L, D]
  at::Tensor A = f32(A_nd).t();                                             // [D, N]
  at::Tensor log_a = dt.unsqueeze(-1) * A;                                  // [B, L, D, N]
  at::Tensor inc = (dt * uf).unsqueeze(-1) * f32(Bm).unsqueeze(2);          // [B, L, D, N]
  at::Tensor h = chunked_linear_recurrence(log_a, inc);
  if (state.defined()) h = with_initial(h, log_a, state);
  at::Tensor y = (h * f32(Cm).unsqueeze(2)).sum(-1) + uf * f32(Dv);
  if (z.defined()) y = y * at::silu(f32(z));
  if (state.defined()) state.copy_(h.select(1, h.size(1) - 1));
  return y.to(u.scalar_type());
}

at::Tensor ssd_scan(const at::Tensor& x, const at::Tensor& dt_raw, const at::Tensor& dt_bias, const at::Tensor& A,
                    const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& Dv, int64_t head_dim,
                    int64_t n_groups, double dt_min, double dt_max, const at::Tensor& state, Impl impl) {
  if (impl == Impl::Auto && !state.defined() && grad_wanted({&x, &dt_raw, &dt_bias, &A, &Bm, &Cm, &Dv})) {
    // The differentiable scan with each head's dt and A spread over its channels (channel d = head * P + p).
    const int64_t B = x.size(0), L = x.size(1), P = head_dim, H = x.size(2) / P, D = H * P, G = n_groups;
    const int64_t N = Bm.size(2) / G;
    at::Tensor dt = softplus20(f32(dt_raw) + f32(dt_bias));
    dt = std::isfinite(dt_max) ? at::clamp(dt, dt_min, dt_max) : at::clamp_min(dt, dt_min);  // [B, L, H]
    at::Tensor xf = f32(x);
    at::Tensor Ad = f32(A).repeat_interleave(P).unsqueeze(1).expand({D, N}).contiguous();
    at::Tensor y = differentiable_ssm_scan(xf.contiguous(), dt.repeat_interleave(P, 2).contiguous(), Ad,
                                           f32(Bm).reshape({B, L, G, N}).contiguous(),
                                           f32(Cm).reshape({B, L, G, N}).contiguous(), t_fused_training_scan) +
                   xf * f32(Dv).repeat_interleave(P);
    return y.to(x.scalar_type());
  }
  if (impl == Impl::Auto && cpu_float(x) && cpu_float(dt_raw) && cpu_float(Bm))
    return kernels::ssd_scan(x, dt_raw, dt_bias, A, Bm, Cm, Dv, head_dim, n_groups, dt_min, dt_max, state);
#ifdef SHEDDER_WITH_CUDA
  if (use_cuda(x, impl)) {
    at::Tensor y = cuda::ssd_scan(x, dt_raw, dt_bias, A, Bm, Cm, Dv, head_dim, n_groups, dt_min, dt_max, state);
    if (y.defined()) return y;
    ++g_fallbacks;
  }
#endif
  const int64_t B = x.size(0), L = x.size(1), P = head_dim, H = x.size(2) / P, G = n_groups;
  const int64_t N = Bm.size(2) / G;
  at::Tensor dt = softplus20(f32(dt_raw) + f32(dt_bias));
  dt = std::isfinite(dt_max) ? at::clamp(dt, dt_min, dt_max) : at::clamp_min(dt, dt_min);  // [B, L, H]
  at::Tensor xf = f32(x).reshape({B, L, H, P});
  // Heads of group g: g * H / G .. ; expand B and C from [B, L, G, N] to [B, L, H, N].
  auto per_head = [&](const at::Tensor& t) {
    return f32(t).reshape({B, L, G, 1, N}).expand({B, L, G, H / G, N}).reshape({B, L, H, N});
  };
  at::Tensor Bh = per_head(Bm), Ch = per_head(Cm);
  at::Tensor log_a = (dt * f32(A)).reshape({B, L, H, 1, 1});
  at::Tensor inc = (dt.unsqueeze(-1) * xf).unsqueeze(-1) * Bh.unsqueeze(3);  // [B, L, H, P, N]
  at::Tensor h = chunked_linear_recurrence(log_a, inc);
  if (state.defined()) h = with_initial(h, log_a, state);
  at::Tensor y = (h * Ch.unsqueeze(3)).sum(-1) + xf * f32(Dv).reshape({H, 1});
  if (state.defined()) state.copy_(h.select(1, L - 1));
  return y.reshape({B, L, H * P}).to(x.scalar_type());
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps, bool round_input, Impl impl) {
  if (impl == Impl::Auto && cpu_float(x) && cpu_float(w)) return w * (x * at::rsqrt(x.pow(2).mean(-1, true) + eps));
#ifdef SHEDDER_WITH_CUDA
  if (use_cuda(x, impl)) {
    at::Tensor y = cuda::rms_norm(x, w, eps, round_input);
    if (y.defined()) return y;
    ++g_fallbacks;
  }
#endif
  const at::ScalarType wt = w.scalar_type();
  at::Tensor xf = round_input ? x.to(wt).to(at::kFloat) : f32(x);
  at::Tensor n = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  if (round_input) return (f32(w) * n.to(wt).to(at::kFloat)).to(wt);
  return f32(w) * n.to(x.scalar_type()).to(at::kFloat);  // float32 residual in, float32 out
}

at::Tensor add_rms_norm(const at::Tensor& h, const at::Tensor& delta, const at::Tensor& w, double eps, at::Tensor& h_out,
                        Impl impl) {
#ifdef SHEDDER_WITH_CUDA
  if (use_cuda(h, impl)) {
    at::Tensor out = cuda::add_rms_norm(h, delta, w, eps, h_out);
    if (out.defined()) return out;
    ++g_fallbacks;
  }
#endif
  h_out = h + delta;  // float32 + the branch's dtype: float32, as the residual of transformers
  return rms_norm(h_out, w, eps, /*round_input=*/true, impl);
}

at::Tensor gated_rms_norm(const at::Tensor& y, const at::Tensor& z, const at::Tensor& w, int64_t groups, double eps,
                          Impl impl) {
  if (impl == Impl::Auto && cpu_float(y) && cpu_float(z) && cpu_float(w))
    return w * group_rms_normalize(y * at::silu(z), groups, eps);
#ifdef SHEDDER_WITH_CUDA
  if (use_cuda(y, impl)) {
    at::Tensor out = cuda::gated_rms_norm(y, z, w, groups, eps);
    if (out.defined()) return out;
    ++g_fallbacks;
  }
#endif
  const at::ScalarType wt = w.scalar_type();
  at::Tensor g = f32(y) * at::silu(f32(z));
  return (f32(w) * group_rms_normalize(g, groups, eps).to(wt).to(at::kFloat)).to(wt);
}

int64_t cuda_fallbacks() { return g_fallbacks.load(); }

void set_fused_training_scan(bool on) { t_fused_training_scan = on; }

at::Tensor row_nll(const at::Tensor& logits, const at::Tensor& targets, Impl impl) {
  if (impl == Impl::Auto && logits.device().is_cpu()) return kernels::row_nll(f32(logits).contiguous(), targets);
  // Targets the host holds are checked here (cheap, no synchronisation); those on the device come from checked
  // token ids (Model::checked_ids): the kernel gives NaN for one outside the logits, ATen's gather an error.
  const bool host = targets.device().is_cpu() && logits.dim() == 2;
  const at::Tensor tg = host ? kernels::checked_targets(targets, logits.size(1)) : targets;
#ifdef SHEDDER_WITH_CUDA
  if (use_cuda(logits, impl)) {
    at::Tensor out = cuda::row_nll(logits, tg);
    if (out.defined()) return out;
    ++g_fallbacks;
  }
#endif
  at::Tensor lf = f32(logits);
  at::Tensor tgd = tg.to(logits.device(), at::kLong).unsqueeze(1);
  return (at::logsumexp(lf, 1) - lf.gather(1, tgd).squeeze(1)).clamp_min(0).to(at::kDouble);  // >= 0, as on the CPU
}

}  // namespace shedder::ops
