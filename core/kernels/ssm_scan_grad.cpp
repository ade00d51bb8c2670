// Fused selective scan forward/backward on the CPU (see ssm_scan_grad.h). Work is split into tasks of
// (batch row, group, block of kBlock channels); each task owns its outputs, and the reductions over
// channels (dB, dC) and over the batch (dA) go through per-task partial buffers summed at the end.
#include "kernels/ssm_scan_grad.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/simd_math.h"
#include "util/error.h"

namespace shedder::kernels {

namespace {

using simd::fast_exp;
constexpr int64_t kBlock = 8;

struct Dims {
  int64_t B, L, D, N, G, Dg, nblk;
};

Dims check_inputs(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& Bm,
                  const at::Tensor& Cm) {
  auto check = [](const at::Tensor& t, const char* name) {
    if (!t.defined() || t.scalar_type() != at::kFloat || !t.device().is_cpu() || !t.is_contiguous())
      throw Error(std::string("ssm_scan: input '") + name + "' must be a contiguous float32 CPU tensor");
  };
  check(x, "x");
  check(dt, "dt");
  check(A, "A");
  check(Bm, "B");
  check(Cm, "C");
  if (x.dim() != 3 || dt.sizes() != x.sizes() || A.dim() != 2 || Bm.dim() != 4 || Cm.sizes() != Bm.sizes())
    throw Error("ssm_scan: expected x, dt [B, L, D], A [D, N], B, C [B, L, G, N]");
  Dims d{x.size(0), x.size(1), x.size(2), A.size(1), Bm.size(2), 0, 0};
  if (A.size(0) != d.D || Bm.size(0) != d.B || Bm.size(1) != d.L || Bm.size(3) != d.N || d.G < 1 || d.D % d.G != 0)
    throw Error("ssm_scan: inconsistent shapes");
  d.Dg = d.D / d.G;
  d.nblk = (d.Dg + kBlock - 1) / kBlock;
  return d;
}

SHEDDER_MULTIVERSION
void forward_task(const Dims& s, int64_t b, int64_t g, int64_t k, const float* x, const float* dt, const float* A,
                  const float* Bm, const float* Cm, float* y, float* h) {
  const int64_t d0 = g * s.Dg + k * kBlock, nc = std::min(kBlock, (g + 1) * s.Dg - d0), N = s.N;
  std::fill(h, h + nc * N, 0.0f);
  for (int64_t t = 0; t < s.L; ++t) {
    const int64_t row = (b * s.L + t);
    const float* Bt = Bm + (row * s.G + g) * N;
    const float* Ct = Cm + (row * s.G + g) * N;
    for (int64_t c = 0; c < nc; ++c) {
      const int64_t d = d0 + c;
      const float dtv = dt[row * s.D + d], u = dtv * x[row * s.D + d];
      const float* Ad = A + d * N;
      float* hc = h + c * N;
      float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
      for (int64_t n = 0; n < N; ++n) {
        const float a = fast_exp(dtv * Ad[n]);
        hc[n] = a * hc[n] + u * Bt[n];
        acc += Ct[n] * hc[n];
      }
      y[row * s.D + d] = acc;
    }
  }
}

SHEDDER_MULTIVERSION
void backward_task(const Dims& s, int64_t b, int64_t g, int64_t k, const float* x, const float* dt, const float* A,
                   const float* Bm, const float* Cm, const float* gy, float* dx, float* ddt, float* dA_b, float* dB_p,
                   float* dC_p, float* hs, float* dh, const float* zeros) {
  const int64_t d0 = g * s.Dg + k * kBlock, nc = std::min(kBlock, (g + 1) * s.Dg - d0), N = s.N;
  // 1. Recompute the states of this block for every step.
  std::fill(dh, dh + nc * N, 0.0f);  // used as the running state here
  for (int64_t t = 0; t < s.L; ++t) {
    const int64_t row = (b * s.L + t);
    const float* Bt = Bm + (row * s.G + g) * N;
    for (int64_t c = 0; c < nc; ++c) {
      const int64_t d = d0 + c;
      const float dtv = dt[row * s.D + d], u = dtv * x[row * s.D + d];
      const float* Ad = A + d * N;
      float* hc = dh + c * N;
      float* out = hs + (t * nc + c) * N;
#pragma omp simd
      for (int64_t n = 0; n < N; ++n) {
        hc[n] = fast_exp(dtv * Ad[n]) * hc[n] + u * Bt[n];
        out[n] = hc[n];
      }
    }
  }
  // 2. Reverse sweep; dh holds dLoss/dh_t flowing back from later steps.
  std::fill(dh, dh + nc * N, 0.0f);
  for (int64_t t = s.L - 1; t >= 0; --t) {
    const int64_t row = (b * s.L + t);
    const float* Bt = Bm + (row * s.G + g) * N;
    const float* Ct = Cm + (row * s.G + g) * N;
    float* dBt = dB_p + t * N;
    float* dCt = dC_p + t * N;
    for (int64_t c = 0; c < nc; ++c) {
      const int64_t d = d0 + c;
      const float dtv = dt[row * s.D + d], xv = x[row * s.D + d], gyv = gy[row * s.D + d];
      const float* Ad = A + d * N;
      const float* hcur = hs + (t * nc + c) * N;
      const float* hprev = t > 0 ? hs + ((t - 1) * nc + c) * N : zeros;
      float* dhc = dh + c * N;
      float* dAd = dA_b + d * N;
      float ddt_acc = 0.0f, dx_acc = 0.0f;
#pragma omp simd reduction(+ : ddt_acc, dx_acc)
      for (int64_t n = 0; n < N; ++n) {
        const float dhn = dhc[n] + gyv * Ct[n];
        dCt[n] += gyv * hcur[n];
        const float a = fast_exp(dtv * Ad[n]);
        const float ga = dhn * hprev[n] * a;  // dLoss / d(dt * A)
        ddt_acc += ga * Ad[n] + dhn * xv * Bt[n];
        dx_acc += dhn * Bt[n];
        dBt[n] += dhn * dtv * xv;
        dAd[n] += ga * dtv;
        dhc[n] = dhn * a;
      }
      ddt[row * s.D + d] = ddt_acc;
      dx[row * s.D + d] = dx_acc * dtv;
    }
  }
}

}  // namespace

at::Tensor ssm_scan_forward(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& Bm,
                            const at::Tensor& Cm) {
  const Dims s = check_inputs(x, dt, A, Bm, Cm);
  at::Tensor y = at::empty_like(x);
  const int64_t tasks = s.B * s.G * s.nblk;
  const float *px = x.data_ptr<float>(), *pdt = dt.data_ptr<float>(), *pA = A.data_ptr<float>(),
              *pB = Bm.data_ptr<float>(), *pC = Cm.data_ptr<float>();
  float* py = y.data_ptr<float>();
  at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> h(static_cast<size_t>(kBlock * s.N));
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / (s.G * s.nblk), g = (i / s.nblk) % s.G, k = i % s.nblk;
      forward_task(s, b, g, k, px, pdt, pA, pB, pC, py, h.data());
    }
  });
  return y;
}

SsmScanGrads ssm_scan_backward(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& Bm,
                               const at::Tensor& Cm, const at::Tensor& gy_in) {
  const Dims s = check_inputs(x, dt, A, Bm, Cm);
  const at::Tensor gy = gy_in.to(at::kFloat).contiguous();
  if (gy.sizes() != x.sizes()) throw Error("ssm_scan: gradient shape differs from y");
  SsmScanGrads g;
  g.dx = at::empty_like(x);
  g.ddt = at::empty_like(dt);
  at::Tensor dA_b = at::zeros({s.B, s.D, s.N}, x.options());
  at::Tensor dB_p = at::zeros({s.B, s.G, s.nblk, s.L, s.N}, x.options());
  at::Tensor dC_p = at::zeros({s.B, s.G, s.nblk, s.L, s.N}, x.options());
  const int64_t tasks = s.B * s.G * s.nblk;
  const float *px = x.data_ptr<float>(), *pdt = dt.data_ptr<float>(), *pA = A.data_ptr<float>(),
              *pB = Bm.data_ptr<float>(), *pC = Cm.data_ptr<float>(), *pgy = gy.data_ptr<float>();
  float *pdx = g.dx.data_ptr<float>(), *pddt = g.ddt.data_ptr<float>(), *pdA = dA_b.data_ptr<float>(),
        *pdB = dB_p.data_ptr<float>(), *pdC = dC_p.data_ptr<float>();
  at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> hs(static_cast<size_t>(s.L * kBlock * s.N)), dh(static_cast<size_t>(kBlock * s.N)),
        zeros(static_cast<size_t>(s.N), 0.0f);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / (s.G * s.nblk), gr = (i / s.nblk) % s.G, k = i % s.nblk;
      const int64_t slice = ((b * s.G + gr) * s.nblk + k) * s.L * s.N;
      backward_task(s, b, gr, k, px, pdt, pA, pB, pC, pgy, pdx, pddt, pdA + b * s.D * s.N, pdB + slice, pdC + slice,
                    hs.data(), dh.data(), zeros.data());
    }
  });
  g.dA = dA_b.sum(0);
  g.dB = dB_p.sum(2).permute({0, 2, 1, 3}).contiguous();
  g.dC = dC_p.sum(2).permute({0, 2, 1, 3}).contiguous();
  return g;
}

}  // namespace shedder::kernels
