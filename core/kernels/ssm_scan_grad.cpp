// Fused selective scan forward/backward on the CPU (see ssm_scan_grad.h). Work is split into tasks of
// (batch row, group, block of kBlock channels); each task owns its outputs, and the reductions over
// channels (dB, dC) and over the batch (dA) go through per-task partial buffers summed at the end.
#include "kernels/ssm_scan_grad.h"

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/isa_clones.h"
#include "kernels/parallel.h"
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

// Per-level clones of the hot loops (kernels/isa_clones.h).
SHEDDER_ISA_BEGIN_V4
namespace isa_v4 {
#include "kernels/ssm_scan_grad_loops.inc"
}  // namespace isa_v4
SHEDDER_ISA_END
SHEDDER_ISA_BEGIN_V3
namespace isa_v3 {
#include "kernels/ssm_scan_grad_loops.inc"
}  // namespace isa_v3
SHEDDER_ISA_END
namespace isa_v1 {
#include "kernels/ssm_scan_grad_loops.inc"
}  // namespace isa_v1

}  // namespace

at::Tensor ssm_scan_forward(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& Bm,
                            const at::Tensor& Cm) {
  const Dims s = check_inputs(x, dt, A, Bm, Cm);
  at::Tensor y = at::empty_like(x);
  const int64_t tasks = s.B * s.G * s.nblk;
  const float *px = x.data_ptr<float>(), *pdt = dt.data_ptr<float>(), *pA = A.data_ptr<float>(),
              *pB = Bm.data_ptr<float>(), *pC = Cm.data_ptr<float>();
  float* py = y.data_ptr<float>();
  parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> h(static_cast<size_t>(kBlock * s.N));
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / (s.G * s.nblk), g = (i / s.nblk) % s.G, k = i % s.nblk;
      SHEDDER_ISA_CALL(forward_task, s, b, g, k, px, pdt, pA, pB, pC, py, h.data());
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
  parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> hs(static_cast<size_t>(s.L * kBlock * s.N)), dh(static_cast<size_t>(kBlock * s.N)),
        zeros(static_cast<size_t>(s.N), 0.0f);
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / (s.G * s.nblk), gr = (i / s.nblk) % s.G, k = i % s.nblk;
      const int64_t slice = ((b * s.G + gr) * s.nblk + k) * s.L * s.N;
      SHEDDER_ISA_CALL(backward_task, s, b, gr, k, px, pdt, pA, pB, pC, pgy, pdx, pddt, pdA + b * s.D * s.N, pdB + slice, pdC + slice,
                    hs.data(), dh.data(), zeros.data());
    }
  });
  g.dA = dA_b.sum(0);
  g.dB = dB_p.sum(2).permute({0, 2, 1, 3}).contiguous();
  g.dC = dC_p.sum(2).permute({0, 2, 1, 3}).contiguous();
  return g;
}

}  // namespace shedder::kernels
