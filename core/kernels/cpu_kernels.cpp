// Fused CPU kernels (see cpu_kernels.h). Inner loops are written over fixed-width lanes so the compiler
// vectorises them; each hot function is compiled for AVX-512, AVX2+FMA and baseline x86-64 and the
// best one is picked at load time (function multi-versioning), so the package stays portable.
#include "kernels/cpu_kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/isa_clones.h"
#include "kernels/parallel.h"
#include "kernels/simd_math.h"
#include "util/error.h"

namespace shedder::kernels {
namespace {

using namespace simd;

constexpr int kLanes = kVec;  // channels per task of the Mamba-1 scan (in blocks of the level's kRegLanes)

void check_float_cpu(const at::Tensor& t, const char* name) {
  if (!t.defined()) throw Error(std::string("kernel input '") + name + "' is undefined");
  if (t.scalar_type() != at::kFloat || !t.device().is_cpu())
    throw Error(std::string("kernel input '") + name + "' must be a float32 CPU tensor");
  if (t.dim() > 0 && t.stride(t.dim() - 1) != 1 && t.size(t.dim() - 1) > 1)
    throw Error(std::string("kernel input '") + name + "' must be contiguous in its last dimension");
}

// Per-level clones of the hot loops (kernels/isa_clones.h); the wrappers below call the level in effect.
// kRegLanes: floats in one vector register of the level. The Mamba-2 scan's row vectors are that wide: the 16-lane
// vf type compiled 5x slower than the scalar loop in the AVX2 clone (GCC keeps 64-byte vectors it cannot hold in one
// register in memory), measured with bench_forward and SHEDDER_PROFILE at each level.
SHEDDER_ISA_BEGIN_V4
namespace isa_v4 {
constexpr int kRegLanes = 16;
#include "kernels/cpu_kernels_loops.inc"
}  // namespace isa_v4
SHEDDER_ISA_END
SHEDDER_ISA_BEGIN_V3
namespace isa_v3 {
constexpr int kRegLanes = 8;
#include "kernels/cpu_kernels_loops.inc"
}  // namespace isa_v3
SHEDDER_ISA_END
namespace isa_v1 {
constexpr int kRegLanes = 4;
#include "kernels/cpu_kernels_loops.inc"
}  // namespace isa_v1

}  // namespace

at::Tensor causal_conv1d(const at::Tensor& x, const at::Tensor& w_kc, const at::Tensor& bias, bool apply_silu,
                         const at::Tensor& prev) {
  check_float_cpu(x, "x");
  check_float_cpu(w_kc, "conv weight");
  TORCH_CHECK(x.dim() == 3 && w_kc.dim() == 2 && w_kc.size(1) == x.size(2) && w_kc.is_contiguous(),
              "causal_conv1d: shape mismatch");
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2), K = w_kc.size(0);
  const float* bp = nullptr;
  if (bias.defined()) {
    check_float_cpu(bias, "conv bias");
    TORCH_CHECK(bias.numel() == C && bias.is_contiguous(), "causal_conv1d: bias shape");
    bp = bias.data_ptr<float>();
  }
  const float* pp = nullptr;
  int64_t sp0 = 0, sp1 = 0;
  if (prev.defined()) {
    check_float_cpu(prev, "conv state");
    TORCH_CHECK(prev.dim() == 3 && prev.size(0) == B && prev.size(1) == K - 1 && prev.size(2) == C,
                "causal_conv1d: conv state must be [B, K-1, C]");
    pp = prev.data_ptr<float>();
    sp0 = prev.stride(0);
    sp1 = prev.stride(1);
  }
  at::Tensor out = at::empty({B, L, C}, x.options().memory_format(at::MemoryFormat::Contiguous));
  const float* xp = x.data_ptr<float>();
  const float* wp = w_kc.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const int64_t sx0 = x.stride(0), sx1 = x.stride(1);
  constexpr int64_t kRows = 32;
  const int64_t chunks = (L + kRows - 1) / kRows;
  parallel_for(0, B * chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / chunks, c0 = (i % chunks) * kRows;
      SHEDDER_ISA_CALL(conv_rows, xp + b * sx0, sx1, pp ? pp + b * sp0 : nullptr, sp1, wp, bp, op + b * L * C, c0,
                std::min(L, c0 + kRows), C, K, apply_silu);
    }
  });
  return out;
}

at::Tensor selective_scan(const at::Tensor& u, const at::Tensor& dt, const at::Tensor& A_nd, const at::Tensor& Bm,
                          const at::Tensor& Cm, const at::Tensor& Dv, const at::Tensor& z, const at::Tensor& state) {
  check_float_cpu(u, "u");
  check_float_cpu(dt, "dt");
  check_float_cpu(A_nd, "A");
  check_float_cpu(Bm, "B");
  check_float_cpu(Cm, "C");
  check_float_cpu(Dv, "D");
  TORCH_CHECK(u.is_contiguous() && dt.is_contiguous() && A_nd.is_contiguous() && Dv.is_contiguous(),
              "selective_scan: u, dt, A, D must be contiguous");
  const int64_t B = u.size(0), L = u.size(1), D = u.size(2), N = A_nd.size(0);
  TORCH_CHECK(dt.sizes() == u.sizes() && A_nd.size(1) == D && Bm.size(2) == N && Cm.size(2) == N &&
                  Dv.numel() == D && Bm.size(0) == B && Bm.size(1) == L && Cm.size(0) == B && Cm.size(1) == L,
              "selective_scan: shape mismatch");
  const float* zp = nullptr;
  int64_t sz0 = 0, sz1 = 0;
  if (z.defined()) {
    check_float_cpu(z, "z");
    TORCH_CHECK(z.size(0) == B && z.size(1) == L && z.size(2) == D, "selective_scan: z shape");
    zp = z.data_ptr<float>();
    sz0 = z.stride(0);
    sz1 = z.stride(1);
  }
  float* stp = nullptr;
  if (state.defined()) {
    check_float_cpu(state, "ssm state");
    TORCH_CHECK(state.is_contiguous() && state.dim() == 3 && state.size(0) == B && state.size(1) == D &&
                    state.size(2) == N,
                "selective_scan: state must be a contiguous [B, D, N] tensor");
    stp = state.data_ptr<float>();
  }
  at::Tensor y = at::empty({B, L, D}, u.options().memory_format(at::MemoryFormat::Contiguous));
  const int64_t blocks_per_row = (D + kLanes - 1) / kLanes;
  const float* up = u.data_ptr<float>();
  const float* dtp = dt.data_ptr<float>();
  const float* ap = A_nd.data_ptr<float>();
  const float* bp = Bm.data_ptr<float>();
  const float* cp = Cm.data_ptr<float>();
  const float* dp = Dv.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  parallel_for(0, B * blocks_per_row, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> buf(static_cast<size_t>(N * kLanes));
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / blocks_per_row;
      const int64_t d0 = (i % blocks_per_row) * kLanes, d1 = std::min(D, d0 + kLanes);
      SHEDDER_ISA_CALL(scan_task, up + b * L * D, dtp + b * L * D, ap, bp + b * Bm.stride(0), Bm.stride(1), cp + b * Cm.stride(0),
                Cm.stride(1), dp, zp ? zp + b * sz0 : nullptr, sz1, yp + b * L * D, L, D, N, d0, d1, buf.data(),
                stp ? stp + b * D * N : nullptr);
    }
  });
  return y;
}

at::Tensor ssd_scan(const at::Tensor& x, const at::Tensor& dt_raw, const at::Tensor& dt_bias, const at::Tensor& A,
                    const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& Dv, int64_t head_dim,
                    int64_t n_groups, double dt_min, double dt_max, const at::Tensor& state) {
  check_float_cpu(x, "x");
  check_float_cpu(dt_raw, "dt");
  check_float_cpu(Bm, "B");
  check_float_cpu(Cm, "C");
  const int64_t B = x.size(0), L = x.size(1), H = dt_raw.size(2), P = head_dim;
  const int64_t N = Bm.size(2) / n_groups;
  TORCH_CHECK(x.dim() == 3 && dt_raw.dim() == 3 && Bm.dim() == 3 && Cm.dim() == 3, "ssd_scan: inputs must be 3-D");
  TORCH_CHECK(x.size(2) == H * P && Bm.size(2) == n_groups * N && Cm.size(2) == n_groups * N && H % n_groups == 0,
              "ssd_scan: shape mismatch");
  for (const at::Tensor* t : {&dt_raw, &Bm, &Cm})
    TORCH_CHECK(t->size(0) == B && t->size(1) == L, "ssd_scan: batch/length mismatch");
  TORCH_CHECK(dt_bias.numel() == H && A.numel() == H && Dv.numel() == H, "ssd_scan: per-head parameter size");
  at::Tensor dtb = dt_bias.contiguous().to(at::kFloat), Av = A.contiguous().to(at::kFloat),
             Dc = Dv.contiguous().to(at::kFloat);
  float* stp = nullptr;
  if (state.defined()) {
    check_float_cpu(state, "ssm state");
    TORCH_CHECK(state.is_contiguous() && state.dim() == 4 && state.size(0) == B && state.size(1) == H &&
                    state.size(2) == P && state.size(3) == N,
                "ssd_scan: state must be a contiguous [B, H, P, N] tensor");
    stp = state.data_ptr<float>();
  }
  at::Tensor y = at::empty({B, L, H * P}, x.options().memory_format(at::MemoryFormat::Contiguous));
  const float* xp = x.data_ptr<float>();
  const float* dtp = dt_raw.data_ptr<float>();
  const float* bp = Bm.data_ptr<float>();
  const float* cp = Cm.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const float* dtbp = dtb.data_ptr<float>();
  const float* avp = Av.data_ptr<float>();
  const float* dvp = Dc.data_ptr<float>();
  const int64_t heads_per_group = H / n_groups;
  const float lo = static_cast<float>(dt_min);
  const float hi = std::isinf(dt_max) ? std::numeric_limits<float>::infinity() : static_cast<float>(dt_max);
  // Split heads into blocks of state rows only when there are too few heads to keep every thread busy
  // (whole heads are faster: B/C/x are read once per head).
  int64_t splits = 1;
  while (B * H * splits < 4 * at::get_num_threads() && P / (2 * splits) >= 16) splits *= 2;
  const int64_t kRows = (P + splits - 1) / splits;
  const int64_t row_blocks = (P + kRows - 1) / kRows;
  parallel_for(0, B * H * row_blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> S(static_cast<size_t>(kRows * N));
    for (int64_t i = begin; i < end; ++i) {
      const int64_t bh = i / row_blocks, p0 = (i % row_blocks) * kRows, p1 = std::min(P, p0 + kRows);
      const int64_t b = bh / H, h = bh % H, g = h / heads_per_group;
      SHEDDER_ISA_CALL(ssd_task, xp + b * x.stride(0) + h * P, x.stride(1), dtp + b * dt_raw.stride(0) + h, dt_raw.stride(1), dtbp[h],
               avp[h], bp + b * Bm.stride(0) + g * N, Bm.stride(1), cp + b * Cm.stride(0) + g * N, Cm.stride(1),
               dvp[h], yp + b * L * H * P + h * P, H * P, L, p0, p1, N, lo, hi, S.data(),
               stp ? stp + (b * H + h) * P * N : nullptr);
    }
  });
  return y;
}

}  // namespace shedder::kernels

namespace shedder::kernels {

at::Tensor checked_targets(const at::Tensor& targets, int64_t V) {
  TORCH_CHECK(at::isIntegralType(targets.scalar_type(), false), "row_nll: targets must be integers");
  at::Tensor tg = targets.to(at::kCPU, at::kLong).contiguous();
  const int64_t* tp = tg.data_ptr<int64_t>();
  for (int64_t r = 0; r < tg.numel(); ++r)
    if (tp[r] < 0 || tp[r] >= V) throw Error("target id " + std::to_string(tp[r]) + " outside the logits");
  return tg;
}

at::Tensor row_nll(const at::Tensor& logits, const at::Tensor& targets) {
  check_float_cpu(logits, "logits");
  TORCH_CHECK(logits.dim() == 2 && targets.dim() == 1 && targets.size(0) == logits.size(0), "row_nll: shapes");
  const int64_t M = logits.size(0), V = logits.size(1), s0 = logits.stride(0);
  const at::Tensor tg = checked_targets(targets, V);
  const int64_t* tp = tg.data_ptr<int64_t>();
  at::Tensor out = at::empty({M}, at::kDouble);
  double* op = out.data_ptr<double>();
  const float* lp = logits.data_ptr<float>();
  parallel_for(0, M, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) op[r] = SHEDDER_ISA_CALL(row_nll_one, lp + r * s0, V, tp[r]);
  });
  return out;
}

}  // namespace shedder::kernels
