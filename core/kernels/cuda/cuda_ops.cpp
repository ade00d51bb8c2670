// Tensor-level wrappers of the CUDA kernels (see cuda_ops.h): checks, output allocation, stream and device.
#include "kernels/cuda/cuda_ops.h"

#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>

#include "kernels/cuda/launch.h"
#include "util/error.h"

namespace shedder::cuda {
namespace {

bool elem_type(const at::Tensor& t, ElemType& out) {
  switch (t.scalar_type()) {
    case at::kFloat: out = kF32; return true;
    case at::kHalf: out = kF16; return true;
    case at::kBFloat16: out = kBF16; return true;
    default: return false;
  }
}

bool rows_ok(const at::Tensor& t, int64_t dims) {
  return t.defined() && t.is_cuda() && t.dim() == dims && (t.size(dims - 1) <= 1 || t.stride(dims - 1) == 1);
}
bool f32_contig(const at::Tensor& t) { return t.defined() && t.is_cuda() && t.scalar_type() == at::kFloat && t.is_contiguous(); }

void* stream_of(const at::Tensor& t) { return c10::cuda::getCurrentCUDAStream(t.device().index()).stream(); }

void check(bool ok, const char* what) {
  if (!ok) throw Error(std::string("CUDA kernel '") + what + "' failed to launch: " + cudaGetErrorString(cudaGetLastError()));
}

// Time chunks for the Mamba-1 scan (SHEDDER_SCAN_CHUNKS overrides): chunks of >= 64 steps.
int64_t scan_chunks(int64_t B, int64_t D, int64_t N, int64_t L, int device) {
  if (const char* env = std::getenv("SHEDDER_SCAN_CHUNKS")) {
    const long v = std::strtol(env, nullptr, 10);
    if (v >= 1) return std::min<int64_t>(v, std::max<int64_t>(1, L));
  }
  // Chunking doubles the scan's arithmetic (summary pass + output pass), so it is used only where one pass
  // leaves the GPU latency-bound: below ~256 threads (two warps per scheduler) per multiprocessor. Threads: one
  // per channel, or N / 4 per channel where the kernel spreads the states over lanes
  // (launch.h: scan1_lanes_per_channel).
  const int64_t sms = multiprocessor_count(device);
  const int64_t threads = B * D * scan1_lanes_per_channel(N);
  if (threads >= sms * 256) return 1;
  const int64_t want = (sms * 1024 + threads - 1) / std::max<int64_t>(1, threads);
  return std::max<int64_t>(1, std::min<int64_t>(want, L / 64));
}

// SHEDDER_SSD_CHUNKED=0 keeps float16/bfloat16 Mamba-2 scans on the recurrent kernel (for comparisons).
bool ssd_chunked_allowed() {
  const char* env = std::getenv("SHEDDER_SSD_CHUNKED");
  return !(env && std::string(env) == "0");
}

}  // namespace

at::Tensor causal_conv1d(const at::Tensor& x, const at::Tensor& w_kc, const at::Tensor& bias, bool silu,
                         const at::Tensor& prev) {
  ElemType et;
  if (!rows_ok(x, 3) || !elem_type(x, et) || !f32_contig(w_kc)) return {};
  if (bias.defined() && !f32_contig(bias)) return {};
  if (prev.defined() && (!rows_ok(prev, 3) || prev.scalar_type() != x.scalar_type())) return {};
  c10::cuda::CUDAGuard guard(x.device());
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2), K = w_kc.size(0);
  at::Tensor out = at::empty({B, L, C}, x.options());
  ConvArgs a{x.data_ptr(), x.stride(0), x.stride(1),
             prev.defined() ? prev.data_ptr() : nullptr, prev.defined() ? prev.stride(0) : 0, prev.defined() ? prev.stride(1) : 0,
             w_kc.data_ptr<float>(), bias.defined() ? bias.data_ptr<float>() : nullptr, out.data_ptr(), B, L, C, K, silu};
  check(launch_causal_conv1d(a, et, stream_of(x)), "causal_conv1d");
  return out;
}

at::Tensor selective_scan(const at::Tensor& u, const at::Tensor& dt_raw, const at::Tensor& A_nd, const at::Tensor& Bm,
                          const at::Tensor& Cm, const at::Tensor& Dv, const at::Tensor& z, const at::Tensor& state,
                          const at::Tensor& dt_bias) {
  ElemType et;
  if (!rows_ok(u, 3) || !elem_type(u, et) || !rows_ok(dt_raw, 3) || !rows_ok(Bm, 3) || !rows_ok(Cm, 3)) return {};
  for (const at::Tensor* t : {&dt_raw, &Bm, &Cm})
    if (t->scalar_type() != u.scalar_type()) return {};
  if (z.defined() && (!rows_ok(z, 3) || z.scalar_type() != u.scalar_type())) return {};
  if (!f32_contig(A_nd) || !f32_contig(Dv) || (state.defined() && !f32_contig(state))) return {};
  if (dt_bias.defined() && (!f32_contig(dt_bias) || dt_bias.numel() != u.size(2))) return {};
  c10::cuda::CUDAGuard guard(u.device());
  const int64_t B = u.size(0), L = u.size(1), D = u.size(2), N = A_nd.size(0);
  if (N > 64) return {};
  at::Tensor y = at::empty({B, L, D}, u.options());
  const int64_t chunks = scan_chunks(B, D, N, L, u.device().index());
  at::Tensor ws;
  if (chunks > 1) ws = at::empty({B * chunks * D * (2 * N + 1)}, u.options().dtype(at::kFloat));
  Scan1Args a{u.data_ptr(), u.stride(0), u.stride(1), dt_raw.data_ptr(), dt_raw.stride(0), dt_raw.stride(1),
              A_nd.data_ptr<float>(), Bm.data_ptr(), Bm.stride(0), Bm.stride(1), Cm.data_ptr(), Cm.stride(0), Cm.stride(1),
              Dv.data_ptr<float>(), z.defined() ? z.data_ptr() : nullptr, z.defined() ? z.stride(0) : 0,
              z.defined() ? z.stride(1) : 0, state.defined() ? state.data_ptr<float>() : nullptr, y.data_ptr(),
              B, L, D, N, chunks, chunks > 1 ? ws.data_ptr<float>() : nullptr,
              dt_bias.defined() ? dt_bias.data_ptr<float>() : nullptr};
  check(launch_selective_scan(a, et, stream_of(u)), "selective_scan");
  return y;
}

at::Tensor ssd_scan(const at::Tensor& x, const at::Tensor& dt_raw, const at::Tensor& dt_bias, const at::Tensor& A,
                    const at::Tensor& Bm, const at::Tensor& Cm, const at::Tensor& Dv, int64_t head_dim, int64_t n_groups,
                    double dt_min, double dt_max, const at::Tensor& state) {
  ElemType et;
  if (!rows_ok(x, 3) || !elem_type(x, et) || !rows_ok(dt_raw, 3) || !rows_ok(Bm, 3) || !rows_ok(Cm, 3)) return {};
  for (const at::Tensor* t : {&dt_raw, &Bm, &Cm})
    if (t->scalar_type() != x.scalar_type()) return {};
  if (!f32_contig(dt_bias) || !f32_contig(A) || !f32_contig(Dv) || (state.defined() && !f32_contig(state))) return {};
  const int64_t B = x.size(0), L = x.size(1), P = head_dim, H = x.size(2) / P, G = n_groups, N = Bm.size(2) / G;
  if (H < 1 || G < 1 || H % G != 0) return {};
  c10::cuda::CUDAGuard guard(x.device());
  at::Tensor y = at::empty({B, L, H * P}, x.options());
  const float hi = dt_max >= static_cast<double>(std::numeric_limits<float>::max()) ? std::numeric_limits<float>::infinity()
                                                                                      : static_cast<float>(dt_max);
  Scan2Args a{x.data_ptr(), x.stride(0), x.stride(1), dt_raw.data_ptr(), dt_raw.stride(0), dt_raw.stride(1),
              dt_bias.data_ptr<float>(), A.data_ptr<float>(), Dv.data_ptr<float>(), Bm.data_ptr(), Bm.stride(0),
              Bm.stride(1), Cm.data_ptr(), Cm.stride(0), Cm.stride(1), state.defined() ? state.data_ptr<float>() : nullptr,
              y.data_ptr(), B, L, H, P, G, N, static_cast<float>(dt_min), hi, ssd_chunked_allowed(), nullptr};
  at::Tensor ws;
  if (const int64_t n = ssd_workspace_floats(a, et); n > 0) {
    ws = at::empty({n}, x.options().dtype(at::kFloat));
    a.ws = ws.data_ptr<float>();
  }
  if (!launch_ssd_scan(a, et, stream_of(x))) {
    if (cudaGetLastError() != cudaSuccess) check(false, "ssd_scan");
    return {};  // a state size the kernel does not cover
  }
  return y;
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps, bool round_input) {
  ElemType xt, wt;
  if (!x.defined() || !x.is_cuda() || x.dim() < 1 || !elem_type(x, xt) || !elem_type(w, wt) || !w.is_contiguous()) return {};
  c10::cuda::CUDAGuard guard(x.device());
  const int64_t H = x.size(-1);
  at::Tensor xr = x.contiguous().reshape({-1, H});
  const at::ScalarType ot = round_input ? w.scalar_type() : at::kFloat;
  at::Tensor out = at::empty(x.sizes(), x.options().dtype(ot));
  NormArgs a{xr.data_ptr(), xt, H, nullptr, 0, w.data_ptr(), wt, out.data_ptr(),
             ot == at::kFloat ? kF32 : wt, round_input ? wt : xt, xr.size(0), H, 1, static_cast<float>(eps), round_input};
  check(launch_rms_norm(a, stream_of(x)), "rms_norm");
  return out;
}

at::Tensor add_rms_norm(const at::Tensor& h, const at::Tensor& delta, const at::Tensor& w, double eps, at::Tensor& h_out) {
  ElemType dt, wt;
  if (!h.defined() || !h.is_cuda() || h.scalar_type() != at::kFloat || !delta.defined() || !delta.is_cuda() ||
      delta.sizes() != h.sizes() || !elem_type(delta, dt) || !elem_type(w, wt) || !w.is_contiguous() || h.dim() < 1)
    return {};
  c10::cuda::CUDAGuard guard(h.device());
  const int64_t H = h.size(-1);
  at::Tensor hr = h.contiguous().reshape({-1, H}), dr = delta.contiguous().reshape({-1, H});
  at::Tensor ho = at::empty(h.sizes(), h.options());
  at::Tensor out = at::empty(h.sizes(), h.options().dtype(w.scalar_type()));
  NormArgs a{hr.data_ptr(), kF32, H, nullptr, 0, w.data_ptr(), wt, out.data_ptr(), wt, wt, hr.size(0), H, 1,
             static_cast<float>(eps), true, dr.data_ptr(), dt, H, ho.data_ptr<float>()};
  if (!launch_rms_norm(a, stream_of(h))) {
    if (cudaGetLastError() != cudaSuccess) check(false, "add_rms_norm");
    return {};
  }
  h_out = ho;
  return out;
}

at::Tensor gated_rms_norm(const at::Tensor& y, const at::Tensor& z, const at::Tensor& w, int64_t groups, double eps) {
  ElemType yt, wt;
  if (!rows_ok(y, 3) || !rows_ok(z, 3) || !elem_type(y, yt) || !elem_type(w, wt) || z.scalar_type() != y.scalar_type() ||
      !w.is_contiguous())
    return {};
  c10::cuda::CUDAGuard guard(y.device());
  const int64_t B = y.size(0), L = y.size(1), D = y.size(2);
  at::Tensor yc = y.contiguous();
  // z's rows must be evenly strided to be read as [B * L, D].
  at::Tensor zc = (z.stride(0) == L * z.stride(1) || B == 1) ? z : z.contiguous();
  at::Tensor out = at::empty({B, L, D}, y.options().dtype(w.scalar_type()));
  NormArgs a{yc.data_ptr(), yt, D, zc.data_ptr(), zc.stride(1), w.data_ptr(), wt, out.data_ptr(), wt, wt,
             B * L, D, std::max<int64_t>(1, groups), static_cast<float>(eps), false};
  if (!launch_rms_norm(a, stream_of(y))) {
    if (cudaGetLastError() != cudaSuccess) check(false, "gated_rms_norm");
    return {};
  }
  return out;
}

at::Tensor row_nll(const at::Tensor& logits, const at::Tensor& targets) {
  ElemType et;
  if (!rows_ok(logits, 2) || !elem_type(logits, et) || logits.size(1) < 1 ||
      logits.size(0) > std::numeric_limits<int32_t>::max() || targets.dim() != 1 || targets.size(0) != logits.size(0) ||
      !at::isIntegralType(targets.scalar_type(), /*includeBool=*/false))
    return {};  // the kernel's grid has one block per row: at most 2^31 - 1 rows
  c10::cuda::CUDAGuard guard(logits.device());
  const at::Tensor tg = targets.to(logits.device(), at::kLong).contiguous();
  at::Tensor out = at::empty({logits.size(0)}, logits.options().dtype(at::kDouble));
  const NllArgs a{logits.data_ptr(), et, logits.size(0), logits.size(1), logits.stride(0), tg.data_ptr<int64_t>(),
                  out.data_ptr<double>()};
  check(launch_row_nll(a, stream_of(logits)), "row_nll");
  return out;
}

void synchronize(int device_index) {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_index));
  synchronize_device();
}

void* record_event(int device_index) {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_index));
  cudaEvent_t ev = nullptr;
  if (cudaEventCreate(&ev) != cudaSuccess) {
    (void)cudaGetLastError();
    return nullptr;
  }
  (void)cudaEventRecord(ev, c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_index)).stream());
  return ev;
}

double event_elapsed_ms(void* start, void* end) {
  float ms = 0.0f;
  auto s = static_cast<cudaEvent_t>(start), e = static_cast<cudaEvent_t>(end);
  if (s && e && (cudaEventSynchronize(e) != cudaSuccess || cudaEventElapsedTime(&ms, s, e) != cudaSuccess)) {
    (void)cudaGetLastError();
    ms = 0.0f;
  }
  if (s) (void)cudaEventDestroy(s);
  if (e) (void)cudaEventDestroy(e);
  return ms;
}

int64_t free_device_memory(int device_index) {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_index));
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return static_cast<int64_t>(free_b);
}

// Index 0 of the allocator's StatArray is the aggregate over its pools (StatType::AGGREGATE, in libtorch 1.x and 2.x).
int64_t allocated_bytes(int device_index) {
  return c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device_index)).allocated_bytes[0].current;
}

int64_t peak_allocated_bytes(int device_index) {
  return c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device_index)).allocated_bytes[0].peak;
}

void reset_peak_allocated(int device_index) {
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device_index));
}

}  // namespace shedder::cuda
