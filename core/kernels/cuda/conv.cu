// CUDA kernels of the causal depthwise conv (+ SiLU) of the Mamba mixers: a thread computes 8 consecutive outputs
// of 4 adjacent channels (8-byte words) from inputs held in registers, with a generic form for any kernel width.
// Loads and stores in the activations' dtype, sums in float32. Launcher declared in launch.h.

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/device_common.cuh"

namespace shedder::cuda {
namespace {

// ---- causal depthwise conv ----------------------------------------------------------------------------

// Any kernel width. Grid: x = rows (b, t), y = blocks of 256 channels: one 32-bit division per thread.
template <typename T>
__global__ void conv1d_kernel(ConvArgs a) {
  const int64_t c = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x;
  if (c >= a.C) return;
  const int64_t row = blockIdx.x;
  const int64_t b = row / a.L, t = row - b * a.L;
  const T* x = static_cast<const T*>(a.x) + b * a.sx_b + c;
  const T* prev = a.prev ? static_cast<const T*>(a.prev) + b * a.sp_b + c : nullptr;
  float acc = a.bias ? a.bias[c] : 0.0f;
  for (int64_t k = 0; k < a.K; ++k) {
    const int64_t ts = t - (a.K - 1) + k;
    float v;
    if (ts >= 0) {
      v = to_f(x[ts * a.sx_t]);
    } else if (prev) {
      v = to_f(prev[(a.K - 1 + ts) * a.sp_t]);
    } else {
      continue;
    }
    acc += a.w[k * a.C + c] * v;
  }
  if (a.silu) acc = silu_fast(acc);
  static_cast<T*>(a.out)[row * a.C + c] = from_f<T>(acc);
}

// The common kernel widths (K <= 4): a thread computes kConvRun consecutive outputs of one channel from a
// window of inputs held in registers (each input loaded once instead of K times).
constexpr int kConvRun = 8;
constexpr int kConvThreads = 128;

template <typename T, int K>
__global__ void __launch_bounds__(kConvThreads) conv1d_run_kernel(ConvArgs a, int64_t runs) {
  const int64_t c = static_cast<int64_t>(blockIdx.y) * kConvThreads + threadIdx.x;
  if (c >= a.C) return;
  const int64_t b = blockIdx.x / runs, t0 = (blockIdx.x - b * runs) * kConvRun;
  const T* x = static_cast<const T*>(a.x) + b * a.sx_b + c;
  const T* prev = a.prev ? static_cast<const T*>(a.prev) + b * a.sp_b + c : nullptr;
  float w[K];
#pragma unroll
  for (int k = 0; k < K; ++k) w[k] = a.w[k * a.C + c];
  const float bias = a.bias ? a.bias[c] : 0.0f;
  float win[K - 1 + kConvRun];  // inputs t0 - (K - 1) .. t0 + kConvRun - 1
#pragma unroll
  for (int i = 0; i < K - 1 + kConvRun; ++i) {
    const int64_t ts = t0 - (K - 1) + i;
    float v = 0.0f;
    if (ts >= 0 && ts < a.L) v = to_f(x[ts * a.sx_t]);
    else if (ts < 0 && prev) v = to_f(prev[(K - 1 + ts) * a.sp_t]);
    win[i] = v;
  }
  T* out = static_cast<T*>(a.out) + (b * a.L + t0) * a.C + c;
#pragma unroll
  for (int j = 0; j < kConvRun; ++j) {
    if (t0 + j >= a.L) break;
    float acc = bias;
#pragma unroll
    for (int k = 0; k < K; ++k) acc += w[k] * win[j + k];
    if (a.silu) acc = silu_fast(acc);
    out[j * a.C] = from_f<T>(acc);
  }
}

// The same on 8-byte words: V = 8 / sizeof(T) adjacent channels per thread (rows and strides aligned).
template <typename T, int K>
__global__ void __launch_bounds__(kConvThreads) conv1d_vec_kernel(ConvArgs a, int64_t runs) {
  constexpr int V = 8 / sizeof(T);
  const int64_t c = (static_cast<int64_t>(blockIdx.y) * kConvThreads + threadIdx.x) * V;
  if (c >= a.C) return;
  const int64_t b = blockIdx.x / runs, t0 = (blockIdx.x - b * runs) * kConvRun;
  const T* x = static_cast<const T*>(a.x) + b * a.sx_b + c;
  const T* prev = a.prev ? static_cast<const T*>(a.prev) + b * a.sp_b + c : nullptr;
  float w[K][V], bias[V];
#pragma unroll
  for (int v = 0; v < V; ++v) {
#pragma unroll
    for (int k = 0; k < K; ++k) w[k][v] = a.w[k * a.C + c + v];
    bias[v] = a.bias ? a.bias[c + v] : 0.0f;
  }
  uint2 raw[K - 1 + kConvRun];  // inputs t0 - (K - 1) .. t0 + kConvRun - 1
#pragma unroll
  for (int i = 0; i < K - 1 + kConvRun; ++i) {
    const int64_t ts = t0 - (K - 1) + i;
    uint2 r = make_uint2(0, 0);
    if (ts >= 0 && ts < a.L) r = *reinterpret_cast<const uint2*>(x + ts * a.sx_t);
    else if (ts < 0 && prev) r = *reinterpret_cast<const uint2*>(prev + (K - 1 + ts) * a.sp_t);
    raw[i] = r;
  }
  T* out = static_cast<T*>(a.out) + (b * a.L + t0) * a.C + c;
#pragma unroll
  for (int j = 0; j < kConvRun; ++j) {
    if (t0 + j >= a.L) break;
    float acc[V];
#pragma unroll
    for (int v = 0; v < V; ++v) acc[v] = bias[v];
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const T* e = reinterpret_cast<const T*>(&raw[j + k]);
#pragma unroll
      for (int v = 0; v < V; ++v) acc[v] += w[k][v] * to_f(e[v]);
    }
    uint2 o;
    T* oe = reinterpret_cast<T*>(&o);
#pragma unroll
    for (int v = 0; v < V; ++v) oe[v] = from_f<T>(a.silu ? silu_fast(acc[v]) : acc[v]);
    *reinterpret_cast<uint2*>(out + j * a.C) = o;
  }
}

template <typename T>
bool conv1d_launch(const ConvArgs& a, cudaStream_t st) {
  const int64_t runs = (a.L + kConvRun - 1) / kConvRun;
  constexpr int V = 8 / sizeof(T);
  auto al8 = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 8 == 0; };
  const bool vec = a.C % V == 0 && al8(a.x) && al8(a.out) && a.sx_b % V == 0 && a.sx_t % V == 0 &&
                   (!a.prev || (al8(a.prev) && a.sp_b % V == 0 && a.sp_t % V == 0));
  const int64_t vblocks = (a.C / V + kConvThreads - 1) / kConvThreads;
  if (vec && a.K >= 2 && a.K <= 4 && a.B * runs <= 0x7fffffff && vblocks <= 65535) {
    const dim3 blocks(static_cast<unsigned>(a.B * runs), static_cast<unsigned>(vblocks));
    if (a.K == 2) conv1d_vec_kernel<T, 2><<<blocks, kConvThreads, 0, st>>>(a, runs);
    if (a.K == 3) conv1d_vec_kernel<T, 3><<<blocks, kConvThreads, 0, st>>>(a, runs);
    if (a.K == 4) conv1d_vec_kernel<T, 4><<<blocks, kConvThreads, 0, st>>>(a, runs);
    return cudaPeekAtLastError() == cudaSuccess;
  }
  if (a.K >= 2 && a.K <= 4 && a.B * runs <= 0x7fffffff && (a.C + kConvThreads - 1) / kConvThreads <= 65535) {
    const dim3 blocks(static_cast<unsigned>(a.B * runs), static_cast<unsigned>((a.C + kConvThreads - 1) / kConvThreads));
    if (a.K == 2) conv1d_run_kernel<T, 2><<<blocks, kConvThreads, 0, st>>>(a, runs);
    if (a.K == 3) conv1d_run_kernel<T, 3><<<blocks, kConvThreads, 0, st>>>(a, runs);
    if (a.K == 4) conv1d_run_kernel<T, 4><<<blocks, kConvThreads, 0, st>>>(a, runs);
    return cudaPeekAtLastError() == cudaSuccess;
  }
  if (a.B * a.L > 0x7fffffff || (a.C + 255) / 256 > 65535) return false;
  const dim3 blocks(static_cast<unsigned>(a.B * a.L), static_cast<unsigned>((a.C + 255) / 256));
  conv1d_kernel<T><<<blocks, 256, 0, st>>>(a);
  return cudaPeekAtLastError() == cudaSuccess;
}

}  // namespace

bool launch_causal_conv1d(const ConvArgs& a, ElemType t, void* stream) {
  if (a.B * a.L * a.C == 0) return true;
  auto st = static_cast<cudaStream_t>(stream);
  switch (t) {
    case kF32: return conv1d_launch<float>(a, st);
    case kF16: return conv1d_launch<__half>(a, st);
    case kBF16: return conv1d_launch<__nv_bfloat16>(a, st);
  }
  return false;
}

}  // namespace shedder::cuda
