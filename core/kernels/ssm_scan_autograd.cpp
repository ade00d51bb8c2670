// Differentiable selective scan (see ssm_scan_autograd.h).
#include <torch/csrc/autograd/custom_function.h>

#include "kernels/ssm_scan_autograd.h"

#include "kernels/ssm_scan_grad.h"
#include "kernels/chunked_scan.h"

namespace shedder {

namespace {

struct FusedScan : public torch::autograd::Function<FusedScan> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& dt,
                            const at::Tensor& A, const at::Tensor& Bm, const at::Tensor& Cm) {
    ctx->save_for_backward({x, dt, A, Bm, Cm});
    return kernels::ssm_scan_forward(x, dt, A, Bm, Cm);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    kernels::SsmScanGrads g = kernels::ssm_scan_backward(saved[0], saved[1], saved[2], saved[3], saved[4], grads[0]);
    return {g.dx, g.ddt, g.dA, g.dB, g.dC};
  }
};

}  // namespace

at::Tensor chunked_ssm_scan(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& Bm,
                            const at::Tensor& Cm) {
  const int64_t B = x.size(0), L = x.size(1), D = x.size(2), G = Bm.size(2), N = Bm.size(3), Dg = D / G;
  at::Tensor dtg = dt.reshape({B, L, G, Dg});
  at::Tensor log_a = dtg.unsqueeze(-1) * A.reshape({G, Dg, N});                                 // [B, L, G, Dg, N]
  at::Tensor u = (dtg * x.reshape({B, L, G, Dg})).unsqueeze(-1) * Bm.unsqueeze(3);             // [B, L, G, Dg, N]
  at::Tensor h = chunked_linear_recurrence(log_a, u);
  return (h * Cm.unsqueeze(3)).sum(-1).reshape({B, L, D});
}

at::Tensor differentiable_ssm_scan(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                                   const at::Tensor& Bm, const at::Tensor& Cm, bool fused) {
  if (fused && x.device().is_cpu() && x.scalar_type() == at::kFloat)
    return FusedScan::apply(x.contiguous(), dt.contiguous(), A.contiguous(), Bm.contiguous(), Cm.contiguous());
  return chunked_ssm_scan(x, dt, A, Bm, Cm);
}

}  // namespace shedder
