// CUDA kernel of the next-token NLL of logit rows (perplexity, the search, accuracy): one block per row reads the
// row once in the logits' own dtype (16-byte words where the row allows, a scalar head and tail elsewhere), keeps an
// online max and sum of exp in float32 and writes (max + log(sum)) - gold, never below 0, as float64.
// Launcher declared in launch.h.

#include <cstdint>

#include "kernels/cuda/device_common.cuh"

namespace shedder::cuda {
namespace {

constexpr int kNllThreads = 256;
constexpr int kNllUnroll = 4;  // 16-byte words each thread has in flight

// The running (max m, sum s of exp(x - m)) of a part of a row, with the N values v folded in: the sum is
// rescaled once per call when the max grows. expf is the accurate one (2 ulp): the kernel is bound by memory, and
// expf costs the same one special-function instruction as __expf plus a few FMAs. A part holding only -inf so
// far adds exp(-inf) = 0 (not exp(NaN)); a NaN value makes the sum NaN.
template <int N>
__device__ __forceinline__ void fold(float& m, float& s, const float (&v)[N]) {
  float cm = v[0];
#pragma unroll
  for (int i = 1; i < N; ++i) cm = fmaxf(cm, v[i]);
  if (cm > m) {
    s *= expf(m - cm);
    m = cm;
  }
  const float ref = m == -INFINITY ? 0.0f : m;
#pragma unroll
  for (int i = 0; i < N; ++i) s += expf(v[i] - ref);
}

// (m, s) of two parts combined into (m, s).
__device__ __forceinline__ void combine(float& m, float& s, float m2, float s2) {
  const float M = fmaxf(m, m2);
  s = (m == M ? s : s * expf(m - M)) + (m2 == M ? s2 : s2 * expf(m2 - M));
  m = M;
}

// The values of one 16-byte word of T in float32.
template <typename T>
__device__ __forceinline__ void word_values(const uint4& w, float (&f)[16 / sizeof(T)]) {
  if constexpr (sizeof(T) == 2) {
    unpack8<T>(w, f);
  } else {
    f[0] = __uint_as_float(w.x);
    f[1] = __uint_as_float(w.y);
    f[2] = __uint_as_float(w.z);
    f[3] = __uint_as_float(w.w);
  }
}

// The block's (m, s) in thread 0 (warp shuffles, then the warps' pairs).
__device__ __forceinline__ void block_combine(float& m, float& s) {
  __shared__ float wm[kNllThreads / 32], ws[kNllThreads / 32];
  for (int off = 16; off > 0; off /= 2)
    combine(m, s, __shfl_xor_sync(0xffffffffu, m, off), __shfl_xor_sync(0xffffffffu, s, off));
  if ((threadIdx.x & 31) == 0) {
    wm[threadIdx.x / 32] = m;
    ws[threadIdx.x / 32] = s;
  }
  __syncthreads();
  if (threadIdx.x == 0)
    for (int w = 1; w < kNllThreads / 32; ++w) combine(m, s, wm[w], ws[w]);
}

// One block per row. A target outside [0, V) gives NaN (the host checks targets it holds: ops::row_nll).
template <typename T>
__global__ void __launch_bounds__(kNllThreads) row_nll_kernel(NllArgs a) {
  constexpr int W = 16 / sizeof(T);
  const int64_t row = blockIdx.x;
  const T* x = static_cast<const T*>(a.logits) + row * a.row_stride;
  float gold = NAN;
  if (threadIdx.x == 0) {  // issued first, used last
    const int64_t t = a.targets[row];
    if (t >= 0 && t < a.V) gold = to_f(x[t]);
  }
  // Scalar head up to the first 16-byte boundary, words, scalar tail.
  const int64_t head = imin(a.V, static_cast<int64_t>((16 - reinterpret_cast<uintptr_t>(x) % 16) % 16 / sizeof(T)));
  const int64_t words = (a.V - head) / W, tail = head + words * W;
  float m = -INFINITY, s = 0.0f;
  for (int64_t i = threadIdx.x; i < head; i += kNllThreads) fold<1>(m, s, {to_f(x[i])});
  for (int64_t i = tail + threadIdx.x; i < a.V; i += kNllThreads) fold<1>(m, s, {to_f(x[i])});
  const uint4* xw = reinterpret_cast<const uint4*>(x + head);
  int64_t w = threadIdx.x;
  for (; w + (kNllUnroll - 1) * kNllThreads < words; w += kNllUnroll * kNllThreads) {
    uint4 r[kNllUnroll];
#pragma unroll
    for (int u = 0; u < kNllUnroll; ++u) r[u] = __ldcs(xw + w + u * kNllThreads);  // read once: evict first
#pragma unroll
    for (int u = 0; u < kNllUnroll; ++u) {
      float f[W];
      word_values<T>(r[u], f);
      fold(m, s, f);
    }
  }
  for (; w < words; w += kNllThreads) {
    float f[W];
    word_values<T>(__ldcs(xw + w), f);
    fold(m, s, f);
  }
  block_combine(m, s);
  if (threadIdx.x == 0) {
    // A +inf logit: logsumexp +inf, as ATen's (s holds inf - inf = NaN); the rest in float64, as the CPU kernel.
    const double lse = m == INFINITY ? INFINITY : static_cast<double>(m) + log(static_cast<double>(s));
    const double r = lse - static_cast<double>(gold);
    a.out[row] = r < 0.0 ? 0.0 : r;  // >= 0 as the true value (NaN stays NaN)
  }
}

}  // namespace

bool launch_row_nll(const NllArgs& a, void* stream) {
  if (a.M == 0) return true;
  if (a.M > 0x7fffffff || a.V < 1) return false;
  auto st = static_cast<cudaStream_t>(stream);
  switch (a.t) {
    case kF16: row_nll_kernel<__half><<<static_cast<unsigned>(a.M), kNllThreads, 0, st>>>(a); break;
    case kBF16: row_nll_kernel<__nv_bfloat16><<<static_cast<unsigned>(a.M), kNllThreads, 0, st>>>(a); break;
    default: row_nll_kernel<float><<<static_cast<unsigned>(a.M), kNllThreads, 0, st>>>(a);
  }
  return cudaPeekAtLastError() == cudaSuccess;
}

}  // namespace shedder::cuda
