// CUDA kernels of the sequence mixers: causal depthwise conv (+SiLU); the Mamba-1 selective scan (a channel's
// states spread over lanes, or one thread per channel for other state sizes; optionally split into time chunks
// that run in parallel and are stitched together); the Mamba-2 SSD, chunked on tensor cores for float16 /
// bfloat16 and as the exact recurrence otherwise; the (gated, residual-fused) RMSNorms. Loads and stores are in
// the activations' dtype (float32, float16, bfloat16); sums, norm statistics and scan states are float32.
// No torch headers here: cuda_ops.cpp validates tensors and calls the launchers (launch.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include "kernels/cuda/launch.h"

namespace shedder::cuda {
namespace {

// ---- element access ---------------------------------------------------------------------------------

template <typename T> __device__ __forceinline__ float to_f(T v);
template <> __device__ __forceinline__ float to_f<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// Runtime-typed access for the memory-bound norm kernels (the branch is uniform across a launch).
__device__ __forceinline__ float load_any(const void* p, int64_t i, ElemType t) {
  switch (t) {
    case kF16: return __half2float(static_cast<const __half*>(p)[i]);
    case kBF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    default: return static_cast<const float*>(p)[i];
  }
}
__device__ __forceinline__ float round_to(float v, ElemType t) {
  switch (t) {
    case kF16: return __half2float(__float2half_rn(v));
    case kBF16: return __bfloat162float(__float2bfloat16_rn(v));
    default: return v;
  }
}
__device__ __forceinline__ void store_any(void* p, int64_t i, ElemType t, float v) {
  switch (t) {
    case kF16: static_cast<__half*>(p)[i] = __float2half_rn(v); break;
    case kBF16: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v); break;
    default: static_cast<float*>(p)[i] = v;
  }
}

__device__ __forceinline__ int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

__device__ __forceinline__ float silu_f(float x) { return x / (1.0f + expf(-x)); }
// 2^x on the special-function unit (the scans' decays; arguments <= 0).
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
constexpr float kLog2e = 1.4426950408889634f;

// The same on the special-function unit (relative error ~1e-6): for the per-element staging of the scans.
__device__ __forceinline__ float silu_fast(float x) { return __fdividef(x, 1.0f + __expf(-x)); }
__device__ __forceinline__ float softplus_fast(float x) {
  return x > 20.0f ? x : (x < -15.0f ? __expf(x) : __logf(1.0f + __expf(x)));
}

// 16 bytes global -> shared without registers (cp.async, compute capability 8.0+); `valid` false writes zeros.
// Both addresses 16-byte aligned. cp_async_wait_all() waits for this thread's copies.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(valid ? 16 : 0));
#endif
}
__device__ __forceinline__ void cp_async_wait_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;\n" ::);
#endif
}

// Eight 16-bit values in one 16-byte word (the vectorised loads and stores of the tensor-core kernel).
template <typename T>
__device__ __forceinline__ void unpack8(const uint4& v, float (&f)[8]) {
  const T* h = reinterpret_cast<const T*>(&v);
#pragma unroll
  for (int i = 0; i < 8; ++i) f[i] = to_f(h[i]);
}
template <typename T>
__device__ __forceinline__ uint4 pack8(const float (&f)[8]) {
  uint4 v;
  T* h = reinterpret_cast<T*>(&v);
#pragma unroll
  for (int i = 0; i < 8; ++i) h[i] = from_f<T>(f[i]);
  return v;
}

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

// ---- Mamba-1 selective scan ---------------------------------------------------------------------------
// One thread per (batch, channel d, time chunk) holding the N states of its channel in registers; B and C of
// a tile of time steps are staged in shared memory (shared by the block's 128 channels).
// Mode 0: whole sequence (state in/out). Mode 1: chunk summary from a zero state (end state, sum of dt).
// Mode 2: chunk output from the chunk's entering state (computed by scan1_combine).

constexpr int kScanThreads = 128;
constexpr int kScanTile = 16;

template <typename T, int MAXN, int MODE>
__global__ void __launch_bounds__(kScanThreads) scan1_kernel(Scan1Args a) {
  // Per tile of time steps, staged by the whole block with coalesced loads (so the sequential loop below never
  // waits on global memory): B and C rows, and each channel's u, softplus(dt) and SiLU(z).
  __shared__ float sB[kScanTile * MAXN];
  __shared__ float sC[kScanTile * MAXN];
  __shared__ float sU[kScanTile][kScanThreads];
  __shared__ float sDt[kScanTile][kScanThreads];
  __shared__ float sZ[kScanTile][kScanThreads];
  const int64_t N = a.N, D = a.D;
  const int64_t d0 = static_cast<int64_t>(blockIdx.x) * kScanThreads;
  const int64_t d = d0 + threadIdx.x;
  const int64_t c = blockIdx.y, b = blockIdx.z;
  const int64_t len = (a.L + a.chunks - 1) / a.chunks;
  const int64_t t_begin = c * len, t_end = imin(a.L, t_begin + len);
  const bool active = d < D;
  const T* u = static_cast<const T*>(a.u);
  const T* dtp = static_cast<const T*>(a.dt);
  const T* Bm = static_cast<const T*>(a.Bm);
  const T* Cm = static_cast<const T*>(a.Cm);
  const T* z = static_cast<const T*>(a.z);
  T* y = static_cast<T*>(a.y);
  // Workspace: end states [B, chunks, D, N], entering states [B, chunks, D, N], dt sums [B, chunks, D].
  const int64_t ws_state = a.B * a.chunks * D * N;
  float* ws_end = a.ws;
  float* ws_in = a.ws + ws_state;
  float* ws_sum = a.ws + 2 * ws_state;
  const int64_t ws_row = ((b * a.chunks + c) * D + d) * N;

  float s[MAXN], Ad[MAXN];
#pragma unroll
  for (int n = 0; n < MAXN; ++n) {
    Ad[n] = (active && n < N) ? a.A[n * D + d] * kLog2e : 0.0f;  // exp(dt A) = 2^(dt A log2 e)
    float init = 0.0f;
    if (active && n < N) {
      if (MODE == 0 && a.state) init = a.state[(b * D + d) * N + n];
      if (MODE == 2) init = ws_in[ws_row + n];
    }
    s[n] = init;
  }
  const float Dd = active ? a.Dv[d] : 0.0f;
  float dt_sum = 0.0f;
  const int width = static_cast<int>(imin(kScanThreads, D - d0));

  for (int64_t t0 = t_begin; t0 < t_end; t0 += kScanTile) {
    const int tile = static_cast<int>(imin(kScanTile, t_end - t0));
    __syncthreads();
    for (int i = threadIdx.x; i < tile * static_cast<int>(N); i += kScanThreads) {
      const int tt = i / static_cast<int>(N), n = i - tt * static_cast<int>(N);
      sB[tt * MAXN + n] = to_f(Bm[b * a.sB_b + (t0 + tt) * a.sB_t + n]);
      if (MODE != 1) sC[tt * MAXN + n] = to_f(Cm[b * a.sC_b + (t0 + tt) * a.sC_t + n]);
    }
    for (int tt = 0; tt < tile; ++tt) {
      if (threadIdx.x < width) {
        const int64_t t = t0 + tt;
        sU[tt][threadIdx.x] = to_f(u[b * a.su_b + t * a.su_t + d]);
        sDt[tt][threadIdx.x] = softplus_fast(to_f(dtp[b * a.sdt_b + t * a.sdt_t + d]) + (a.dt_bias ? a.dt_bias[d] : 0.0f));
        if (MODE != 1) sZ[tt][threadIdx.x] = z ? silu_fast(to_f(z[b * a.sz_b + t * a.sz_t + d])) : 1.0f;
      }
    }
    __syncthreads();
    if (!active) continue;
    for (int tt = 0; tt < tile; ++tt) {
      const float dtv = sDt[tt][threadIdx.x];
      const float uv = sU[tt][threadIdx.x];
      const float du = dtv * uv;
      float acc0 = 0.0f, acc1 = 0.0f;  // two chains: half the dependent-add latency per step
#pragma unroll
      for (int n = 0; n < MAXN; ++n) {
        if (n < N) {
          s[n] = fast_exp2(dtv * Ad[n]) * s[n] + du * sB[tt * MAXN + n];
          if (MODE != 1) {
            if (n % 2 == 0) acc0 += s[n] * sC[tt * MAXN + n];
            else acc1 += s[n] * sC[tt * MAXN + n];
          }
        }
      }
      const float acc = acc0 + acc1;
      if (MODE == 1) {
        dt_sum += dtv;
      } else {
        y[(b * a.L + t0 + tt) * D + d] = from_f<T>((acc + Dd * uv) * sZ[tt][threadIdx.x]);
      }
    }
  }
  if (!active) return;
  if (MODE == 0 && a.state) {
#pragma unroll
    for (int n = 0; n < MAXN; ++n)
      if (n < N) a.state[(b * D + d) * N + n] = s[n];
  }
  if (MODE == 1) {
#pragma unroll
    for (int n = 0; n < MAXN; ++n)
      if (n < N) ws_end[ws_row + n] = s[n];
    ws_sum[(b * a.chunks + c) * D + d] = dt_sum;
  }
}

// The state entering each chunk: S_in[0] = initial state, S_in[c+1] = exp(A * sum dt of c) S_in[c] + end[c].
__global__ void scan1_combine(Scan1Args a) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t N = a.N, D = a.D;
  if (idx >= a.B * D * N) return;
  const int64_t n = idx % N, d = (idx / N) % D, b = idx / (N * D);
  const int64_t ws_state = a.B * a.chunks * D * N;
  const float* ws_end = a.ws;
  float* ws_in = a.ws + ws_state;
  const float* ws_sum = a.ws + 2 * ws_state;
  const float A = a.A[n * D + d];
  float S = a.state ? a.state[(b * D + d) * N + n] : 0.0f;
  for (int64_t c = 0; c < a.chunks; ++c) {
    const int64_t row = ((b * a.chunks + c) * D + d) * N + n;
    ws_in[row] = S;
    S = __expf(A * ws_sum[(b * a.chunks + c) * D + d]) * S + ws_end[row];
  }
  if (a.state) a.state[(b * D + d) * N + n] = S;
}

// ---- Mamba-1 selective scan, states spread over lanes ------------------------------------------------------
// The N states of a channel are spread over S = N / 4 adjacent lanes (4 each), so that enough threads share the
// sequential time loop without the extra pass of time chunking. Everything that is per channel rather than per
// state is done once per tile, not once per lane and step: softplus(dt), dt u, the D skip and the SiLU(z) gate
// are staged in shared memory with B and C; the decays of the next step are computed during the current one
// (the special-function unit's latency overlaps the update); a lane writes its partial C . s to shared memory
// (no shuffles), and the tile's output rows are summed over the S partials and written coalesced. Blocks of 128
// threads spread a small grid evenly over the multiprocessors (8 x 1536 channels: 384 blocks on 132).
// (Measured on an H200 against the previous form — 256 threads, shuffles, decays computed where used — and
// against 8 states per lane: tests/benchmarks/gpu/results/scan1-rework.txt.) Same modes as scan1_kernel.

constexpr int kSplitThreads = 128;
constexpr int kSplitNS = 4;        // states per lane
constexpr int kSplitMaxTile = 32;  // time steps staged per tile
constexpr int kSplitPerCh = 4;     // per-channel values (u, dt, z) of a tile loaded per thread
constexpr int kSplitPerN = 4;      // per-state values (B, C) of a tile loaded per thread

// Registers capped at 96 so that 5 blocks fit a multiprocessor.
template <typename T, int MODE>
__global__ void __launch_bounds__(kSplitThreads, 5) scan1_split_kernel(Scan1Args a, int TT) {
  constexpr int NS = kSplitNS;
  extern __shared__ float4 sdyn4[];  // sB, sC: [TT][N]; sDt, sDu, sSkip, sGate: [TT][CH]; sP: [TT][threads]
  const int N = static_cast<int>(a.N), S = N / NS, CH = kSplitThreads / S;
  float* sB = reinterpret_cast<float*>(sdyn4);
  float* sC = sB + TT * N;
  float* sDt = sC + TT * N;
  float* sDu = sDt + TT * CH;
  float* sSkip = sDu + TT * CH;
  float* sGate = sSkip + TT * CH;
  float* sP = sGate + TT * CH;
  const float4* sB4 = reinterpret_cast<const float4*>(sB);
  const float4* sC4 = reinterpret_cast<const float4*>(sC);
  const int64_t D = a.D;
  const int cl = threadIdx.x / S, slice = threadIdx.x - cl * S;
  const int64_t d0 = static_cast<int64_t>(blockIdx.x) * CH;
  const int64_t d = d0 + cl;
  const int64_t c = blockIdx.y, b = blockIdx.z;
  const int64_t len = (a.L + a.chunks - 1) / a.chunks;
  const int64_t t_begin = c * len, t_end = imin(a.L, t_begin + len);
  const bool active = d < D;
  const int width = static_cast<int>(imin(CH, D - d0));
  const T* u = static_cast<const T*>(a.u);
  const T* dtp = static_cast<const T*>(a.dt);
  const T* Bm = static_cast<const T*>(a.Bm);
  const T* Cm = static_cast<const T*>(a.Cm);
  const T* z = static_cast<const T*>(a.z);
  T* y = static_cast<T*>(a.y);
  const int64_t ws_state = a.B * a.chunks * D * N;
  const int64_t ws_row = ((b * a.chunks + c) * D + d) * N + NS * slice;

  float s[NS], Ad[NS];
#pragma unroll
  for (int j = 0; j < NS; ++j) {
    const int n = NS * slice + j;
    Ad[j] = active ? a.A[n * D + d] * kLog2e : 0.0f;  // exp(dt A) = 2^(dt A log2 e)
    float init = 0.0f;
    if (active) {
      if (MODE == 0 && a.state) init = a.state[(b * D + d) * N + n];
      if (MODE == 2) init = a.ws[ws_state + ws_row + j];
    }
    s[j] = init;
  }
  float dt_sum = 0.0f;

  // The next tile's inputs are loaded into registers while the current one is computed (the launcher sizes TT
  // so that TT * CH <= threads * kSplitPerCh and TT * N <= threads * kSplitPerN). A thread always stages the same
  // channel (the block size is a multiple of CH) and the same state index (and of N).
  const int my_ch = threadIdx.x % CH, my_n = threadIdx.x % N;
  const int rows_ch = kSplitThreads / CH, rows_n = kSplitThreads / N;  // time rows per pass
  const bool ch_ok = my_ch < width;
  const float my_D = ch_ok ? a.Dv[d0 + my_ch] : 0.0f;
  const float my_bias = ch_ok && a.dt_bias ? a.dt_bias[d0 + my_ch] : 0.0f;
  T ru[kSplitPerCh], rdt[kSplitPerCh], rz[kSplitPerCh], rb[kSplitPerN], rc[kSplitPerN];
  // Per-thread offsets (time step 0 of this thread's first row) and row strides, in 32 bits (the launcher
  // checks that every offset fits).
  const int my_tt = threadIdx.x / CH, my_tn = threadIdx.x / N;
  const int su = static_cast<int>(a.su_t), sdt = static_cast<int>(a.sdt_t), sz = static_cast<int>(a.sz_t);
  const int sb = static_cast<int>(a.sB_t), sc = static_cast<int>(a.sC_t);
  const int u_o = static_cast<int>(b * a.su_b + d0) + my_tt * su + my_ch;
  const int dt_o = static_cast<int>(b * a.sdt_b + d0) + my_tt * sdt + my_ch;
  const int z_o = static_cast<int>(b * a.sz_b + d0) + my_tt * sz + my_ch;
  const int b_o = static_cast<int>(b * a.sB_b) + my_tn * sb + my_n;
  const int c_o = static_cast<int>(b * a.sC_b) + my_tn * sc + my_n;
  auto fetch = [&](int t0) {
    const int tile = static_cast<int>(imin(TT, t_end - t0));
#pragma unroll
    for (int k = 0; k < kSplitPerCh; ++k) {
      const int tt = my_tt + k * rows_ch;
      if (tt < tile && ch_ok) {
        const int t = t0 + k * rows_ch;
        ru[k] = u[u_o + t * su];
        rdt[k] = dtp[dt_o + t * sdt];
        if (MODE != 1 && z) rz[k] = z[z_o + t * sz];
      }
    }
#pragma unroll
    for (int k = 0; k < kSplitPerN; ++k) {
      const int tn = my_tn + k * rows_n;
      if (tn < tile) {
        const int t = t0 + k * rows_n;
        rb[k] = Bm[b_o + t * sb];
        if (MODE != 1) rc[k] = Cm[c_o + t * sc];
      }
    }
  };
  fetch(static_cast<int>(t_begin));

  for (int64_t t0 = t_begin; t0 < t_end; t0 += TT) {
    const int tile = static_cast<int>(imin(TT, t_end - t0));
    __syncthreads();  // the previous tile is done with shared memory
#pragma unroll
    for (int k = 0; k < kSplitPerCh; ++k) {
      const int tt = my_tt + k * rows_ch;
      if (tt < tile) {
        const int i = tt * CH + my_ch;
        const float uv = ch_ok ? to_f(ru[k]) : 0.0f;
        const float dv = ch_ok ? softplus_fast(to_f(rdt[k]) + my_bias) : 0.0f;
        sDt[i] = dv;
        sDu[i] = dv * uv;
        if (MODE != 1) {
          sSkip[i] = my_D * uv;
          sGate[i] = (z && ch_ok) ? silu_fast(to_f(rz[k])) : 1.0f;
        }
      }
    }
#pragma unroll
    for (int k = 0; k < kSplitPerN; ++k) {
      const int tn = my_tn + k * rows_n;
      if (tn < tile) {
        sB[tn * N + my_n] = to_f(rb[k]);
        if (MODE != 1) sC[tn * N + my_n] = to_f(rc[k]);
      }
    }
    __syncthreads();
    if (t0 + TT < t_end) fetch(static_cast<int>(t0 + TT));  // in flight during the sequential loop
    // The decays of step tt + 1 are computed during step tt: the special-function unit's latency overlaps the
    // state update instead of stalling it (the last step of a tile recomputes its own, unused).
    float e[NS];
    {
      const float dt0 = sDt[cl];
#pragma unroll
      for (int j = 0; j < NS; ++j) e[j] = fast_exp2(dt0 * Ad[j]);
    }
#pragma unroll 2
    for (int tt = 0; tt < tile; ++tt) {
      const float du = sDu[tt * CH + cl];
      const int next = tt + 1 < tile ? tt + 1 : tt;
      const float dt_next = sDt[next * CH + cl];
      float en[NS];
#pragma unroll
      for (int j = 0; j < NS; ++j) en[j] = fast_exp2(dt_next * Ad[j]);
      const float4 bv = sB4[tt * S + slice];  // this lane's 4 states
      s[0] = e[0] * s[0] + du * bv.x;
      s[1] = e[1] * s[1] + du * bv.y;
      s[2] = e[2] * s[2] + du * bv.z;
      s[3] = e[3] * s[3] + du * bv.w;
      if (MODE == 1) {
        dt_sum += sDt[tt * CH + cl];
      } else {
        const float4 cv = sC4[tt * S + slice];
        const float acc = s[0] * cv.x + s[1] * cv.y + s[2] * cv.z + s[3] * cv.w;
        sP[tt * kSplitThreads + threadIdx.x] = acc;  // lane (cl, slice): column cl * S + slice
      }
#pragma unroll
      for (int j = 0; j < NS; ++j) e[j] = en[j];
    }
    if (MODE == 1) continue;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kSplitPerCh; ++k) {
      const int tt = my_tt + k * rows_ch;
      if (tt >= tile || !ch_ok) continue;
      const float* part = sP + tt * kSplitThreads + my_ch * S;
      float acc;
      if (S == 4) {
        const float4 v = *reinterpret_cast<const float4*>(part);
        acc = (v.x + v.y) + (v.z + v.w);
      } else if (S == 2) {
        const float2 v = *reinterpret_cast<const float2*>(part);
        acc = v.x + v.y;
      } else {
        acc = 0.0f;
        for (int j = 0; j < S; ++j) acc += part[j];
      }
      const int i = tt * CH + my_ch;
      y[(b * a.L + t0 + tt) * D + d0 + my_ch] = from_f<T>((acc + sSkip[i]) * sGate[i]);
    }
  }
  if (!active) return;
  if (MODE == 0 && a.state) {
#pragma unroll
    for (int j = 0; j < NS; ++j) a.state[(b * D + d) * N + NS * slice + j] = s[j];
  }
  if (MODE == 1) {
#pragma unroll
    for (int j = 0; j < NS; ++j) a.ws[ws_row + j] = s[j];
    if (slice == 0) a.ws[2 * ws_state + (b * a.chunks + c) * D + d] = dt_sum;
  }
}

template <typename T, int MAXN>
bool scan1_typed(const Scan1Args& a, cudaStream_t st) {
  const dim3 block(kScanThreads);
  const dim3 grid(static_cast<unsigned>((a.D + kScanThreads - 1) / kScanThreads), static_cast<unsigned>(a.chunks),
                  static_cast<unsigned>(a.B));
  if (a.chunks <= 1) {
    scan1_kernel<T, MAXN, 0><<<grid, block, 0, st>>>(a);
    return cudaPeekAtLastError() == cudaSuccess;
  }
  scan1_kernel<T, MAXN, 1><<<grid, block, 0, st>>>(a);
  const int64_t total = a.B * a.D * a.N;
  scan1_combine<<<static_cast<unsigned>((total + 255) / 256), 256, 0, st>>>(a);
  scan1_kernel<T, MAXN, 2><<<grid, block, 0, st>>>(a);
  return cudaPeekAtLastError() == cudaSuccess;
}

// N a multiple of 4 with N / 4 lanes a power of two (N = 4, 8, 16, 32, 64).
bool scan1_split_ok(int64_t N) { return N == 4 || N == 8 || N == 16 || N == 32 || N == 64; }

// Time steps staged per tile, and the shared memory that takes.
int scan1_split_tile(int64_t N) {
  const int CH = kSplitThreads / (static_cast<int>(N) / kSplitNS);
  return std::min({kSplitMaxTile, kSplitThreads * kSplitPerCh / CH, kSplitThreads * kSplitPerN / static_cast<int>(N)});
}
size_t scan1_split_shmem(int64_t N) {
  const int CH = kSplitThreads / (static_cast<int>(N) / kSplitNS), TT = scan1_split_tile(N);
  return sizeof(float) * TT * (2 * N + 4 * CH + kSplitThreads);
}

template <typename T>
bool scan1_split(const Scan1Args& a, cudaStream_t st) {
  const int CH = kSplitThreads / static_cast<int>(a.N / kSplitNS);
  const dim3 grid(static_cast<unsigned>((a.D + CH - 1) / CH), static_cast<unsigned>(a.chunks),
                  static_cast<unsigned>(a.B));
  const int TT = scan1_split_tile(a.N);
  const size_t shmem = scan1_split_shmem(a.N);
  if (a.chunks <= 1) {
    scan1_split_kernel<T, 0><<<grid, kSplitThreads, shmem, st>>>(a, TT);
    return cudaPeekAtLastError() == cudaSuccess;
  }
  scan1_split_kernel<T, 1><<<grid, kSplitThreads, shmem, st>>>(a, TT);
  const int64_t total = a.B * a.D * a.N;
  scan1_combine<<<static_cast<unsigned>((total + 255) / 256), 256, 0, st>>>(a);
  scan1_split_kernel<T, 2><<<grid, kSplitThreads, shmem, st>>>(a, TT);
  return cudaPeekAtLastError() == cudaSuccess;
}

// Whether every input offset of the lane-split kernel fits in 32 bits.
bool scan1_offsets_fit(const Scan1Args& a) {
  auto fits = [&](int64_t sb, int64_t st, int64_t width) {
    return (a.B - 1) * sb + (a.L - 1) * st + width <= static_cast<int64_t>(0x7fffffff);
  };
  return fits(a.su_b, a.su_t, a.D) && fits(a.sdt_b, a.sdt_t, a.D) && (!a.z || fits(a.sz_b, a.sz_t, a.D)) &&
         fits(a.sB_b, a.sB_t, a.N) && fits(a.sC_b, a.sC_t, a.N);
}

template <typename T>
bool scan1_dispatch(const Scan1Args& a, cudaStream_t st) {
  if (scan1_split_ok(a.N) && scan1_offsets_fit(a)) return scan1_split<T>(a, st);
  if (a.N <= 4) return scan1_typed<T, 4>(a, st);
  if (a.N <= 8) return scan1_typed<T, 8>(a, st);
  if (a.N <= 16) return scan1_typed<T, 16>(a, st);
  if (a.N <= 32) return scan1_typed<T, 32>(a, st);
  if (a.N <= 64) return scan1_typed<T, 64>(a, st);
  return false;
}

// ---- Mamba-2 SSD recurrence ---------------------------------------------------------------------------
// A block handles one (batch, head) and a tile of PT head channels p. A thread holds PP channels x NPT states:
// the N states of a channel are spread over S adjacent lanes (interleaved in float4 groups so that a lane
// group reads B and C from shared memory without bank conflicts), and every B/C value a lane reads serves its
// PP channels. y is summed over the S lanes by warp shuffles. The decay exp(dt * A) is one scalar per
// (time, head).

constexpr int kSsdPP = 4;

template <typename T, int NPT, int PP>
__global__ void __launch_bounds__(256) ssd_kernel(Scan2Args a, int S, int PT, int TT) {
  extern __shared__ float smem[];
  const int N = static_cast<int>(a.N);
  float* sB = smem;                 // [TT][N]
  float* sC = sB + TT * N;          // [TT][N]
  float* sX = sC + TT * N;          // [TT][PT]
  float* sY = sX + TT * PT;         // [TT][PT]
  float* sDt = sY + TT * PT;        // [TT]
  float* sDA = sDt + TT;            // [TT]
  const int64_t h = blockIdx.y, b = blockIdx.z;
  const int64_t P = a.P, H = a.H;
  const int64_t g = h / (H / a.G);
  const int pg = threadIdx.x / S, slice = threadIdx.x % S;
  const int pl0 = pg * PP;                                    // first channel of this thread in the tile
  const int64_t p_base = static_cast<int64_t>(blockIdx.x) * PT;
  const T* x = static_cast<const T*>(a.x);
  const T* dtp = static_cast<const T*>(a.dt);
  const T* Bm = static_cast<const T*>(a.Bm);
  const T* Cm = static_cast<const T*>(a.Cm);
  T* y = static_cast<T*>(a.y);
  const float A = a.A[h], bias = a.dt_bias[h], Dh = a.Dv[h];
  constexpr int G4 = NPT / 4;  // float4 groups per lane

  float s[PP][NPT];
#pragma unroll
  for (int i = 0; i < PP; ++i) {
    const int64_t p = p_base + pl0 + i;
    const bool ok = pl0 + i < PT && p < P && a.state;
#pragma unroll
    for (int j = 0; j < G4; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q)
        s[i][4 * j + q] = ok ? a.state[((b * H + h) * P + p) * N + 4 * (slice + S * j) + q] : 0.0f;
  }

  for (int64_t t0 = 0; t0 < a.L; t0 += TT) {
    const int tile = static_cast<int>(imin(TT, a.L - t0));
    __syncthreads();
    for (int i = threadIdx.x; i < tile * N; i += blockDim.x) {
      const int tt = i / N, n = i - tt * N;
      sB[i] = to_f(Bm[b * a.sB_b + (t0 + tt) * a.sB_t + g * N + n]);
      sC[i] = to_f(Cm[b * a.sC_b + (t0 + tt) * a.sC_t + g * N + n]);
    }
    for (int i = threadIdx.x; i < tile * PT; i += blockDim.x) {
      const int tt = i / PT;
      const int64_t pp = p_base + (i - tt * PT);
      sX[i] = pp < P ? to_f(x[b * a.sx_b + (t0 + tt) * a.sx_t + h * P + pp]) : 0.0f;
    }
    for (int i = threadIdx.x; i < tile; i += blockDim.x) {
      float dtv = softplus_fast(to_f(dtp[b * a.sdt_b + (t0 + i) * a.sdt_t + h]) + bias);
      dtv = fminf(fmaxf(dtv, a.dt_min), a.dt_max);
      sDt[i] = dtv;
      sDA[i] = __expf(dtv * A);
    }
    __syncthreads();
    for (int tt = 0; tt < tile; ++tt) {
      const float da = sDA[tt], dt = sDt[tt];
      float xv[PP], dtx[PP], acc[PP];
#pragma unroll
      for (int i = 0; i < PP; ++i) {
        xv[i] = pl0 + i < PT ? sX[tt * PT + pl0 + i] : 0.0f;
        dtx[i] = dt * xv[i];
        acc[i] = 0.0f;
      }
      const float4* b4 = reinterpret_cast<const float4*>(sB + tt * N);
      const float4* c4 = reinterpret_cast<const float4*>(sC + tt * N);
#pragma unroll
      for (int j = 0; j < G4; ++j) {
        const float4 bv = b4[slice + S * j], cv = c4[slice + S * j];
#pragma unroll
        for (int i = 0; i < PP; ++i) {
          s[i][4 * j + 0] = fmaf(da, s[i][4 * j + 0], dtx[i] * bv.x);
          s[i][4 * j + 1] = fmaf(da, s[i][4 * j + 1], dtx[i] * bv.y);
          s[i][4 * j + 2] = fmaf(da, s[i][4 * j + 2], dtx[i] * bv.z);
          s[i][4 * j + 3] = fmaf(da, s[i][4 * j + 3], dtx[i] * bv.w);
          acc[i] = fmaf(s[i][4 * j + 0], cv.x, acc[i]);
          acc[i] = fmaf(s[i][4 * j + 1], cv.y, acc[i]);
          acc[i] = fmaf(s[i][4 * j + 2], cv.z, acc[i]);
          acc[i] = fmaf(s[i][4 * j + 3], cv.w, acc[i]);
        }
      }
      for (int off = S / 2; off > 0; off /= 2) {
#pragma unroll
        for (int i = 0; i < PP; ++i) acc[i] += __shfl_xor_sync(0xffffffffu, acc[i], off);
      }
      if (slice == 0) {
#pragma unroll
        for (int i = 0; i < PP; ++i)
          if (pl0 + i < PT) sY[tt * PT + pl0 + i] = acc[i] + Dh * xv[i];
      }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < tile * PT; i += blockDim.x) {
      const int tt = i / PT;
      const int64_t pp = p_base + (i - tt * PT);
      if (pp < P) y[(b * a.L + t0 + tt) * (H * P) + h * P + pp] = from_f<T>(sY[i]);
    }
  }
  if (!a.state) return;
#pragma unroll
  for (int i = 0; i < PP; ++i) {
    const int64_t p = p_base + pl0 + i;
    if (pl0 + i >= PT || p >= P) continue;
#pragma unroll
    for (int j = 0; j < G4; ++j)
#pragma unroll
      for (int q = 0; q < 4; ++q) a.state[((b * H + h) * P + p) * N + 4 * (slice + S * j) + q] = s[i][4 * j + q];
  }
}

template <typename T, int NPT>
bool ssd_typed(const Scan2Args& a, cudaStream_t st) {
  constexpr int PP = kSsdPP;
  const int N = static_cast<int>(a.N);
  const int S = N / NPT;  // lanes per head channel: a power of two <= 32 (checked by the caller)
  // Channels per block: all of the head's when they fit 256 threads, as a multiple of PP.
  int PT = static_cast<int>(std::min<int64_t>(a.P, static_cast<int64_t>(256 / S) * PP));
  PT = (PT + PP - 1) / PP * PP;
  // Time steps staged per tile: as many (up to 32) as 48 KiB of shared memory holds.
  const int TT = std::min(32, static_cast<int>((48 * 1024 / sizeof(float)) / (2 * N + 2 * PT + 2)));
  if (TT < 1) return false;
  const size_t shmem = sizeof(float) * (2 * TT * N + 2 * TT * PT + 2 * TT);
  const dim3 grid(static_cast<unsigned>((a.P + PT - 1) / PT), static_cast<unsigned>(a.H), static_cast<unsigned>(a.B));
  const int threads = ((PT / PP * S + 31) / 32) * 32;  // whole warps, so the shuffles see every lane
  ssd_kernel<T, NPT, PP><<<grid, threads, shmem, st>>>(a, S, PT, TT);
  return cudaPeekAtLastError() == cudaSuccess;
}

template <typename T>
bool ssd_dispatch(const Scan2Args& a, cudaStream_t st) {
  auto pow2 = [](int64_t v) { return v > 0 && (v & (v - 1)) == 0; };
  // 16 states per lane first (8 measured slower on an H100 for N = 128: more shuffles and shared-memory reads).
  for (int npt : {16, 8, 4}) {
    if (a.N % npt != 0) continue;
    const int64_t S = a.N / npt;
    if (!pow2(S) || S > 32) continue;
    if (npt == 16) return ssd_typed<T, 16>(a, st);
    if (npt == 8) return ssd_typed<T, 8>(a, st);
    return ssd_typed<T, 4>(a, st);
  }
  return false;
}

// ---- Mamba-2 SSD, chunked, on tensor cores (float16 / bfloat16) ---------------------------------------------
// The chunked form of the SSD (as mamba_ssm's kernels): for a chunk of Q steps with a_t the cumulative sum of
// dt A within the chunk,
//   y_t   = exp(a_t) C_t . S_in + sum_{s <= t} (C_t . B_s) exp(a_t - a_s) dt_s x_s + D x_t
//   S_out = exp(a_Q) S_in + sum_s B_s (exp(a_Q - a_s) dt_s x_s)^T
// with the products as 16x16x16 tensor-core matrix multiplies (WMMA, float32 accumulation). A block owns one
// (batch, head, tile of PT head channels) and walks its chunks in order; the state S [N x PT] stays in the
// warps' float32 accumulator fragments from chunk to chunk, and a copy rounded to the activations' dtype
// feeds the C . S product (the operands of every tensor-core product are in that dtype, as in mamba_ssm).

constexpr int kChunkQ = 64;
constexpr int kChunkWarps = 8;

struct ChunkLayout {  // byte offsets into dynamic shared memory
  int ldX, ldBC, ldG, ldM, ldS;
  size_t x, xw, b, c, g, m, sb, scr, vec, total;
};

__host__ __device__ inline size_t align128(size_t v) { return (v + 127) / 128 * 128; }

__host__ __device__ inline ChunkLayout chunk_layout(int N, int PT, int elem) {
  ChunkLayout l;
  const int Q = kChunkQ;
  l.ldX = PT + 8;
  l.ldBC = N + 8;
  l.ldG = (Q > PT ? Q : PT) + 4;  // G [Q][Q] then Y [Q][PT], float
  l.ldM = Q + 8;
  l.ldS = PT + 8;
  size_t o = 0;
  l.x = o;   o = align128(o + static_cast<size_t>(Q) * l.ldX * elem);
  l.xw = o;  o = align128(o + static_cast<size_t>(Q) * l.ldX * elem);
  l.b = o;   o = align128(o + static_cast<size_t>(Q) * l.ldBC * elem);
  l.c = o;   o = align128(o + static_cast<size_t>(Q) * l.ldBC * elem);
  l.g = o;   o = align128(o + static_cast<size_t>(Q) * l.ldG * sizeof(float));
  l.m = o;   o = align128(o + static_cast<size_t>(Q) * l.ldM * elem);
  l.sb = o;  o = align128(o + static_cast<size_t>(N) * l.ldS * elem);
  l.scr = o; o = align128(o + static_cast<size_t>(kChunkWarps) * 256 * sizeof(float));
  l.vec = o; o = align128(o + (4 * static_cast<size_t>(Q) + 4) * sizeof(float));
  l.total = o;
  return l;
}

// G = C B^T [Q x Q] of every (batch, chunk, group), shared by the group's heads: the lower block triangle
// into ws[((b * chunks + c) * G + g) * Q * Q], row-major (rows past the end of the sequence are zeros).
template <typename T>
__global__ void __launch_bounds__(kChunkWarps * 32) ssd_cb_kernel(Scan2Args a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using namespace nvcuda;
  constexpr int Q = kChunkQ, ntQ = Q / 16;
  extern __shared__ __align__(128) unsigned char cb_smem[];
  const int N = static_cast<int>(a.N), ld = N + 8, warp = threadIdx.x / 32;
  T* sB = reinterpret_cast<T*>(cb_smem);
  T* sC = sB + Q * ld;
  const int64_t c = blockIdx.x, g = blockIdx.y, b = blockIdx.z, t0 = c * Q;
  const int rows = static_cast<int>(imin(Q, a.L - t0));
  const T* Bm = static_cast<const T*>(a.Bm);
  const T* Cm = static_cast<const T*>(a.Cm);
  for (int i = threadIdx.x; i < Q * N; i += kChunkWarps * 32) {
    const int r = i / N, n = i - r * N;
    const bool in = r < rows;
    sB[r * ld + n] = in ? Bm[b * a.sB_b + (t0 + r) * a.sB_t + g * N + n] : from_f<T>(0.0f);
    sC[r * ld + n] = in ? Cm[b * a.sC_b + (t0 + r) * a.sC_t + g * N + n] : from_f<T>(0.0f);
  }
  __syncthreads();
  float* out = a.ws + ((b * gridDim.x + c) * a.G + g) * Q * Q;
  for (int i = warp; i < ntQ * ntQ; i += kChunkWarps) {
    const int tr = i / ntQ, tc = i - tr * ntQ;
    if (tc > tr) continue;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.0f);
    for (int k = 0; k < N / 16; ++k) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> fb;  // B^T: element (n, s) = B[s][n]
      wmma::load_matrix_sync(fa, sC + tr * 16 * ld + k * 16, ld);
      wmma::load_matrix_sync(fb, sB + tc * 16 * ld + k * 16, ld);
      wmma::mma_sync(acc, fa, fb, acc);
    }
    wmma::store_matrix_sync(out + tr * 16 * Q + tc * 16, acc, Q, wmma::mem_row_major);
  }
#endif
}

// NC / PTC: the state size and the channel tile as compile-time constants for the common shapes (the loops'
// divisions by them then fold into shifts), or 0 to take them at run time (a.N, pt).
template <typename T, int SF, int NC, int PTC>
__global__ void __launch_bounds__(kChunkWarps * 32, SF >= 8 ? 1 : 2) ssd_chunk_kernel(Scan2Args a, int pt_arg, bool vec) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using namespace nvcuda;
  using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major>;
  using FragAc = wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::col_major>;
  using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major>;
  using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;
  constexpr int Q = kChunkQ, ntQ = Q / 16;
  extern __shared__ __align__(128) unsigned char chunk_smem[];
  const int N = NC ? NC : static_cast<int>(a.N);
  const int PT = PTC ? PTC : pt_arg;
  const ChunkLayout lay = chunk_layout(N, PT, sizeof(T));
  T* sX = reinterpret_cast<T*>(chunk_smem + lay.x);     // [Q][ldX]   x of the chunk
  T* sXw = reinterpret_cast<T*>(chunk_smem + lay.xw);   // [Q][ldX]   x_s exp(a_Q - a_s) dt_s
  T* sB = reinterpret_cast<T*>(chunk_smem + lay.b);     // [Q][ldBC]  B
  T* sC = reinterpret_cast<T*>(chunk_smem + lay.c);     // [Q][ldBC]  C, then C_t exp(a_t)
  float* sG = reinterpret_cast<float*>(chunk_smem + lay.g);  // [Q][ldG] C B^T, then Y
  T* sM = reinterpret_cast<T*>(chunk_smem + lay.m);     // [Q][ldM]   masked, decayed C B^T dt
  T* sSb = reinterpret_cast<T*>(chunk_smem + lay.sb);   // [N][ldS]   S_in rounded to T
  float* sScr = reinterpret_cast<float*>(chunk_smem + lay.scr) + (threadIdx.x / 32) * 256;
  float* sDt = reinterpret_cast<float*>(chunk_smem + lay.vec);  // [Q]
  float* sAc = sDt + Q;                                   // [Q] a_t
  float* sE = sAc + Q;                                    // [Q] exp(a_t)
  float* sW = sE + Q;                                     // [Q] exp(a_Q - a_s) dt_s
  float* sLast = sW + Q;                                  // [1] a_Q
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nthr = kChunkWarps * 32;
  const int64_t H = a.H, P = a.P, h = blockIdx.y, b = blockIdx.z, p0 = static_cast<int64_t>(blockIdx.x) * PT;
  const int64_t g = h / (H / a.G);
  const float A = a.A[h], bias = a.dt_bias[h], Dh = a.Dv[h];
  const int ntP = PT / 16, ntN = N / 16, tilesS = ntN * ntP;
  const T* x = static_cast<const T*>(a.x);
  const T* dtp = static_cast<const T*>(a.dt);
  const T* Bm = static_cast<const T*>(a.Bm);
  const T* Cm = static_cast<const T*>(a.Cm);
  T* y = static_cast<T*>(a.y);
  // This block's rows: x and y at (b, t 0, head h, channel p0), B and C at (b, t 0, group g).
  const T* xb = x + b * a.sx_b + h * P + p0;
  const T* Bb = Bm + b * a.sB_b + g * N;
  const T* Cb = Cm + b * a.sC_b + g * N;
  T* yb = y + b * a.L * (H * P) + h * P + p0;

  // The state: fragment f of warp w is tile i = w + 8 f of S, rows n (i / ntP), columns p (i % ntP). The
  // stored state is [B, H, P, N]: a tile of S is column-major there with leading dimension N.
  FragC st[SF];
#pragma unroll
  for (int f = 0; f < SF; ++f) {
    const int i = warp + kChunkWarps * f;
    if (i >= tilesS) continue;
    if (a.state) {
      const int nt = i / ntP, pt = i - nt * ntP;
      wmma::load_matrix_sync(st[f], a.state + ((b * H + h) * P + p0 + pt * 16) * N + nt * 16, N, wmma::mem_col_major);
    } else {
      wmma::fill_fragment(st[f], 0.0f);
    }
  }
  auto state_to_smem = [&]() {  // sSb = S rounded to T, through the warp's float scratch tile
#pragma unroll
    for (int f = 0; f < SF; ++f) {
      const int i = warp + kChunkWarps * f;
      if (i >= tilesS) continue;
      const int nt = i / ntP, pt = i - nt * ntP;
      wmma::store_matrix_sync(sScr, st[f], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) sSb[(nt * 16 + e / 16) * lay.ldS + pt * 16 + (e % 16)] = from_f<T>(sScr[e]);
      __syncwarp();
    }
  };
  state_to_smem();
  // B and C of the chunk starting at c0 into sB / sC (vec: cp.async, waited for at the chunk's staging). They are
  // last read by the state update, so the next chunk's copies are issued then and land during the output phase.
  auto copy_bc = [&](int64_t c0) {
    const int nv = N / 8, rws = static_cast<int>(imin(Q, a.L - c0));
    #pragma unroll 1
    for (int iv = threadIdx.x; iv < Q * nv; iv += nthr) {
      const int r = iv / nv, n = (iv - r * nv) * 8;
      const bool in = r < rws;
      cp_async16(sB + r * lay.ldBC + n, in ? Bb + (c0 + r) * a.sB_t + n : Bm, in);
      cp_async16(sC + r * lay.ldBC + n, in ? Cb + (c0 + r) * a.sC_t + n : Cm, in);
    }
  };

  for (int64_t t0 = 0; t0 < a.L; t0 += Q) {
    const int rows = static_cast<int>(imin(Q, a.L - t0));
    __syncthreads();  // the previous chunk is done with every buffer
    // (1) Stage x, B, C, the chunk's C B^T (ssd_cb_kernel; lower block triangle valid) and dt (rows past the end
    // are zeros, with dt = 0: they leave the state unchanged).
    const float4* gsrc = reinterpret_cast<const float4*>(a.ws + ((b * ((a.L + Q - 1) / Q) + t0 / Q) * a.G + g) * Q * Q);
    float dt_raw[2] = {0.0f, 0.0f};  // warp 0: this lane's two steps
    if (warp == 0) {
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        const int r = 2 * lane + k;
        if (r < rows) dt_raw[k] = to_f(dtp[b * a.sdt_b + (t0 + r) * a.sdt_t + h]);
      }
    }
    if (vec) {  // 16-byte asynchronous copies (cp.async): all of the chunk in flight at once, no registers
      const int xv = PT / 8;
      #pragma unroll 1
      for (int iv = threadIdx.x; iv < Q * xv; iv += nthr) {
        const int r = iv / xv, cc = (iv - r * xv) * 8;
        const bool in = r < rows;
        cp_async16(sX + r * lay.ldX + cc, in ? xb + (t0 + r) * a.sx_t + cc : x, in);
      }
      if (t0 == 0) copy_bc(0);  // later chunks' B and C were issued during the previous chunk
      #pragma unroll 1
      for (int i = threadIdx.x; i < Q * Q / 4; i += nthr) {
        const int r = i / (Q / 4), c4 = i - r * (Q / 4);
        cp_async16(sG + r * lay.ldG + 4 * c4, gsrc + i, true);
      }
      cp_async_wait_all();  // this thread's copies; the barrier below publishes them to the block
    } else {
      #pragma unroll 1
      for (int i = threadIdx.x; i < Q * PT; i += nthr) {
        const int r = i / PT, cc = i - r * PT;
        sX[r * lay.ldX + cc] = r < rows ? xb[(t0 + r) * a.sx_t + cc] : from_f<T>(0.0f);
      }
      #pragma unroll 1
      for (int i = threadIdx.x; i < Q * N; i += nthr) {
        const int r = i / N, n = i - r * N;
        const bool in = r < rows;
        sB[r * lay.ldBC + n] = in ? Bb[(t0 + r) * a.sB_t + n] : from_f<T>(0.0f);
        sC[r * lay.ldBC + n] = in ? Cb[(t0 + r) * a.sC_t + n] : from_f<T>(0.0f);
      }
      #pragma unroll 1
      for (int i = threadIdx.x; i < Q * Q / 4; i += nthr) {
        const int r = i / (Q / 4), c4 = i - r * (Q / 4);
        *reinterpret_cast<float4*>(sG + r * lay.ldG + 4 * c4) = gsrc[i];
      }
    }
    if (warp == 0) {  // dt, and a_t = inclusive cumulative sum of dt A (two steps per lane)
      float dtv[2];
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        const int r = 2 * lane + k;
        float v = 0.0f;
        if (r < rows) {
          v = softplus_fast(dt_raw[k] + bias);
          v = fminf(fmaxf(v, a.dt_min), a.dt_max);
        }
        dtv[k] = v;
      }
      const float v0 = dtv[0] * A, v1 = v0 + dtv[1] * A;
      float incl = v1;
#pragma unroll
      for (int off = 1; off < 32; off *= 2) {
        const float o = __shfl_up_sync(0xffffffffu, incl, off);
        if (lane >= off) incl += o;
      }
      const float excl = incl - v1;
      const float last = __shfl_sync(0xffffffffu, incl, 31);
      const float ac[2] = {excl + v0, incl};
#pragma unroll
      for (int k = 0; k < 2; ++k) {
        const int r = 2 * lane + k;
        sDt[r] = dtv[k];
        sAc[r] = ac[k];
        sE[r] = expf(ac[k]);
        sW[r] = expf(last - ac[k]) * dtv[k];
      }
      if (lane == 0) sLast[0] = last;
    }
    __syncthreads();
    // (3) M = mask(G) exp(a_t - a_s) dt_s; C_t exp(a_t); x_s exp(a_Q - a_s) dt_s; S exp(a_Q).
    #pragma unroll 1
    for (int i = threadIdx.x; i < Q * Q / 8; i += nthr) {  // 8 columns s0.. of row t
      const int t = i / (Q / 8), s0 = (i - t * (Q / 8)) * 8;
      float m[8];
      const float at = sAc[t];
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        const int s = s0 + k;
        m[k] = s <= t ? sG[t * lay.ldG + s] * __expf(at - sAc[s]) * sDt[s] : 0.0f;
      }
      *reinterpret_cast<uint4*>(sM + t * lay.ldM + s0) = pack8<T>(m);
    }
    #pragma unroll 1
    for (int i = threadIdx.x; i < Q * (N / 8); i += nthr) {
      const int r = i / (N / 8), n = (i - r * (N / 8)) * 8;
      float f[8];
      uint4* pc = reinterpret_cast<uint4*>(sC + r * lay.ldBC + n);
      unpack8<T>(*pc, f);
      const float e = sE[r];
#pragma unroll
      for (int k = 0; k < 8; ++k) f[k] *= e;
      *pc = pack8<T>(f);
    }
    #pragma unroll 1
    for (int i = threadIdx.x; i < Q * (PT / 8); i += nthr) {  // the state update scales x (PT wide), not B (N)
      const int r = i / (PT / 8), cc = (i - r * (PT / 8)) * 8;
      float f[8];
      unpack8<T>(*reinterpret_cast<const uint4*>(sX + r * lay.ldX + cc), f);
      const float w = sW[r];
#pragma unroll
      for (int k = 0; k < 8; ++k) f[k] *= w;
      *reinterpret_cast<uint4*>(sXw + r * lay.ldX + cc) = pack8<T>(f);
    }
    {
      const float decay = expf(sLast[0]);
#pragma unroll
      for (int f = 0; f < SF; ++f)
#pragma unroll
        for (int e = 0; e < st[f].num_elements; ++e) st[f].x[e] *= decay;
    }
    __syncthreads();
    // (4) Y = C' S_in + M X (into sG), and S += B^T X'. A warp computes two adjacent column tiles of a row of
    // Y (one load of each row fragment for both) where PT allows.
    const int pw = ntP % 2 == 0 ? 2 : 1;  // column tiles per warp
    for (int i = warp; i < ntQ * ntP / pw; i += kChunkWarps) {
      const int tr = i / (ntP / pw), tc = (i - tr * (ntP / pw)) * pw;
      FragC acc[2];
      wmma::fill_fragment(acc[0], 0.0f);
      wmma::fill_fragment(acc[1], 0.0f);
#pragma unroll 2
      for (int k = 0; k < ntN; ++k) {
        FragA fa;
        wmma::load_matrix_sync(fa, sC + tr * 16 * lay.ldBC + k * 16, lay.ldBC);
        for (int j = 0; j < pw; ++j) {
          FragB fb;
          wmma::load_matrix_sync(fb, sSb + k * 16 * lay.ldS + (tc + j) * 16, lay.ldS);
          wmma::mma_sync(acc[j], fa, fb, acc[j]);
        }
      }
      for (int k = 0; k <= tr; ++k) {
        FragA fa;
        wmma::load_matrix_sync(fa, sM + tr * 16 * lay.ldM + k * 16, lay.ldM);
        for (int j = 0; j < pw; ++j) {
          FragB fb;
          wmma::load_matrix_sync(fb, sX + k * 16 * lay.ldX + (tc + j) * 16, lay.ldX);
          wmma::mma_sync(acc[j], fa, fb, acc[j]);
        }
      }
      for (int j = 0; j < pw; ++j)
        wmma::store_matrix_sync(sG + tr * 16 * lay.ldG + (tc + j) * 16, acc[j], lay.ldG, wmma::mem_row_major);
    }
    // A warp's state tiles share their column tile (8 is a multiple of ntP): one load of X's fragment per k.
#pragma unroll 1
    for (int k = 0; k < ntQ; ++k) {
      FragB fb;
      wmma::load_matrix_sync(fb, sXw + k * 16 * lay.ldX + (warp % ntP) * 16, lay.ldX);
#pragma unroll
      for (int f = 0; f < SF; ++f) {
        const int i = warp + kChunkWarps * f;
        if (i >= tilesS) continue;
        FragAc fa;  // B^T: element (n, s) = B[s][n]
        wmma::load_matrix_sync(fa, sB + k * 16 * lay.ldBC + (i / ntP) * 16, lay.ldBC);
        wmma::mma_sync(st[f], fa, fb, st[f]);
      }
    }
    __syncthreads();
    if (vec && t0 + Q < a.L) copy_bc(t0 + Q);  // sB and sC are free until the next chunk
    // (5) y = Y + D x; the new state rounded for the next chunk.
    #pragma unroll 1
    for (int i = threadIdx.x; i < rows * (PT / 8); i += nthr) {
      const int r = i / (PT / 8), cc = (i - r * (PT / 8)) * 8;
      float f[8];
      unpack8<T>(*reinterpret_cast<const uint4*>(sX + r * lay.ldX + cc), f);
#pragma unroll
      for (int k = 0; k < 8; ++k) f[k] = sG[r * lay.ldG + cc + k] + Dh * f[k];
      T* dst = yb + (t0 + r) * (H * P) + cc;
      if (vec) {
        *reinterpret_cast<uint4*>(dst) = pack8<T>(f);
      } else {
#pragma unroll
        for (int k = 0; k < 8; ++k) dst[k] = from_f<T>(f[k]);
      }
    }
    state_to_smem();
  }
  if (a.state) {
#pragma unroll
    for (int f = 0; f < SF; ++f) {
      const int i = warp + kChunkWarps * f;
      if (i >= tilesS) continue;
      const int nt = i / ntP, pt = i - nt * ntP;
      wmma::store_matrix_sync(a.state + ((b * H + h) * P + p0 + pt * 16) * N + nt * 16, st[f], N, wmma::mem_col_major);
    }
  }
#endif
}

int compute_capability_major(int device) {
  static int cached[64] = {0};
  if (device < 0 || device >= 64) return 0;
  if (cached[device] == 0) {
    int v = 0;
    if (cudaDeviceGetAttribute(&v, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
      (void)cudaGetLastError();
      v = -1;
    }
    cached[device] = v;
  }
  return cached[device];
}

template <typename T, int SF, int NC = 0, int PTC = 0>
bool ssd_chunk_launch(const Scan2Args& a, int PT, cudaStream_t st) {
  const ChunkLayout lay = chunk_layout(static_cast<int>(a.N), PT, sizeof(T));
  const int cb_shmem = static_cast<int>(2 * kChunkQ * (a.N + 8) * sizeof(T));
  if (cudaFuncSetAttribute(ssd_cb_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, cb_shmem) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  const dim3 cb_grid(static_cast<unsigned>((a.L + kChunkQ - 1) / kChunkQ), static_cast<unsigned>(a.G),
                     static_cast<unsigned>(a.B));
  ssd_cb_kernel<T><<<cb_grid, kChunkWarps * 32, cb_shmem, st>>>(a);
  if (cudaFuncSetAttribute(ssd_chunk_kernel<T, SF, NC, PTC>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(lay.total)) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  const dim3 grid(static_cast<unsigned>(a.P / PT), static_cast<unsigned>(a.H), static_cast<unsigned>(a.B));
  // 16-byte accesses where every row start is 16-byte aligned (the model's row-strided views are).
  auto al = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  const bool vec = al(a.x) && al(a.Bm) && al(a.Cm) && al(a.y) && a.sx_b % 8 == 0 && a.sx_t % 8 == 0 &&
                   a.sB_b % 8 == 0 && a.sB_t % 8 == 0 && a.sC_b % 8 == 0 && a.sC_t % 8 == 0;
  ssd_chunk_kernel<T, SF, NC, PTC><<<grid, kChunkWarps * 32, lay.total, st>>>(a, PT, vec);
  return cudaPeekAtLastError() == cudaSuccess;
}

// The tensor-core path: float16/bfloat16, at least one whole chunk, P and N multiples of 16 (N <= 256), a GPU
// of compute capability 8.0 or newer. Returns false (nothing launched) otherwise.
bool ssd_chunk_applies(const Scan2Args& a, ElemType t) {
  if (t == kF32 || !a.allow_chunked || a.L < kChunkQ || a.P % 16 != 0 || a.N % 16 != 0 || a.N > 256) return false;
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return compute_capability_major(dev) >= 8;
}

// Head channels per block of the chunked SSD: the widest tile (64, 32 or 16) dividing P; SHEDDER_SSD_PT=16|32|64
// overrides. Narrower tiles give more blocks but repeat the loads and the products that do not depend on the
// channels (C B^T, the decays); on an H200 the widest was fastest at both benchmark shapes, including the 130m one
// that leaves multiprocessors with one block (tests/benchmarks/gpu/results/ssd-pt-sweep.txt).
int ssd_channel_tile(const Scan2Args& a) {
  if (const char* env = std::getenv("SHEDDER_SSD_PT")) {
    const int v = std::atoi(env);
    if ((v == 16 || v == 32 || v == 64) && a.P % v == 0) return v;
  }
  return a.P % 64 == 0 ? 64 : (a.P % 32 == 0 ? 32 : 16);
}

template <typename T>
bool ssd_chunked(const Scan2Args& a, cudaStream_t st) {
  if (!a.ws || !ssd_chunk_applies(a, std::is_same<T, __half>::value ? kF16 : kBF16)) return false;
  const int PT = ssd_channel_tile(a);
  const int tiles = static_cast<int>(a.N / 16) * (PT / 16);
  const int sf = (tiles + kChunkWarps - 1) / kChunkWarps;
  // The shapes of the Mamba-2 / Zamba2 checkpoints (state 128 or 64, head channels 64) with their sizes fixed at
  // compile time (1.10-1.12x on an H200: tests/benchmarks/gpu/results/scan1-rework.txt); SHEDDER_SSD_GENERIC=1 takes
  // the run-time form for them too (for comparisons).
  const char* generic = std::getenv("SHEDDER_SSD_GENERIC");
  if (!(generic && generic[0] == '1') && PT == 64) {
    if (a.N == 128) return ssd_chunk_launch<T, 4, 128, 64>(a, PT, st);
    if (a.N == 64) return ssd_chunk_launch<T, 2, 64, 64>(a, PT, st);
  }
  if (sf <= 1) return ssd_chunk_launch<T, 1>(a, PT, st);
  if (sf <= 2) return ssd_chunk_launch<T, 2>(a, PT, st);
  if (sf <= 4) return ssd_chunk_launch<T, 4>(a, PT, st);
  if (sf <= 8) return ssd_chunk_launch<T, 8>(a, PT, st);
  return false;
}

// ---- RMSNorm (plain, gated, grouped) ------------------------------------------------------------------
// One block per (row, group): the float32 sum of squares, then out = w * round(x * rsqrt(mean + eps)).
// This one loops over any group size (the register-resident kernel below takes groups of up to 8192).

__global__ void __launch_bounds__(256) rms_norm_kernel(NormArgs a) {
  const int64_t row = blockIdx.x, grp = blockIdx.y;
  const int64_t gs = a.H / a.groups, base = grp * gs;
  __shared__ float warp_sums[32];
  auto value = [&](int64_t i) {
    float v = load_any(a.x, row * a.sx + i, a.xt);
    if (a.round_input) v = round_to(v, a.wt);
    if (a.z) v *= silu_f(load_any(a.z, row * a.sz + i, a.xt));
    return v;
  };
  float ss = 0.0f;
  for (int64_t i = base + threadIdx.x; i < base + gs; i += blockDim.x) {
    const float v = value(i);
    ss += v * v;
  }
  for (int off = 16; off > 0; off /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, off);
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x / 32] = ss;
  __syncthreads();
  if (threadIdx.x < 32) {
    float w = threadIdx.x < (blockDim.x + 31) / 32 ? warp_sums[threadIdx.x] : 0.0f;
    for (int off = 16; off > 0; off /= 2) w += __shfl_xor_sync(0xffffffffu, w, off);
    if (threadIdx.x == 0) warp_sums[0] = w;
  }
  __syncthreads();
  const float r = rsqrtf(warp_sums[0] / static_cast<float>(gs) + a.eps);
  for (int64_t i = base + threadIdx.x; i < base + gs; i += blockDim.x) {
    const float n = round_to(value(i) * r, a.nt);
    store_any(a.out, row * a.H + i, a.ot, load_any(a.w, i, a.wt) * n);
  }
}

// The same with the row (group) held in registers, VPT values per thread: all loads issued at once, one read
// of the input. For groups of up to 256 * VPT values.
template <int VPT, bool DELTA>
__global__ void __launch_bounds__(256) rms_norm_reg_kernel(NormArgs a) {
  const int64_t row = blockIdx.x, grp = blockIdx.y;
  const int gs = static_cast<int>(a.H / a.groups);
  const int64_t base = grp * gs;
  __shared__ float warp_sums[8];
  float v[VPT];
  float ss = 0.0f;
  // Every load of a pass is issued before any store (a store could alias a later load for the compiler).
#pragma unroll
  for (int k = 0; k < VPT; ++k) {
    const int i = threadIdx.x + k * 256;
    v[k] = i < gs ? load_any(a.x, row * a.sx + base + i, a.xt) : 0.0f;
  }
  if (DELTA) {  // the residual connection of the previous block, fused (a separate instantiation: the stores
                // would otherwise keep the compiler from batching the gate's loads)
#pragma unroll
    for (int k = 0; k < VPT; ++k) {
      const int i = threadIdx.x + k * 256;
      if (i < gs) v[k] += load_any(a.delta, row * a.sd + base + i, a.dlt);
    }
#pragma unroll
    for (int k = 0; k < VPT; ++k) {
      const int i = threadIdx.x + k * 256;
      if (i < gs) a.hout[row * a.H + base + i] = v[k];
    }
  }
  if (a.round_input) {
#pragma unroll
    for (int k = 0; k < VPT; ++k) v[k] = round_to(v[k], a.wt);
  }
  if (a.z) {
#pragma unroll
    for (int k = 0; k < VPT; ++k) {
      const int i = threadIdx.x + k * 256;
      if (i < gs) v[k] *= silu_fast(load_any(a.z, row * a.sz + base + i, a.xt));
    }
  }
#pragma unroll
  for (int k = 0; k < VPT; ++k) ss += v[k] * v[k];
  for (int off = 16; off > 0; off /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, off);
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x / 32] = ss;
  __syncthreads();
  float tot = 0.0f;
#pragma unroll
  for (int w = 0; w < 8; ++w) tot += warp_sums[w];
  const float r = rsqrtf(tot / static_cast<float>(gs) + a.eps);
#pragma unroll
  for (int k = 0; k < VPT; ++k) {
    const int i = threadIdx.x + k * 256;
    if (i < gs) store_any(a.out, row * a.H + base + i, a.ot, load_any(a.w, base + i, a.wt) * round_to(v[k] * r, a.nt));
  }
}

// The gated norm of 16-bit rows on 16-byte words (y, z, w, out of one dtype T, rows 16-byte aligned): NV words
// of 8 values per thread and row group.
template <typename T, int NV>
__global__ void __launch_bounds__(256) gated_norm_vec_kernel(NormArgs a) {
  const int64_t row = blockIdx.x, grp = blockIdx.y;
  const int gs = static_cast<int>(a.H / a.groups);
  const int64_t base = grp * gs;
  __shared__ float warp_sums[8];
  uint4 vy[NV], vz[NV];
#pragma unroll
  for (int k = 0; k < NV; ++k) {
    const int i = (threadIdx.x + k * 256) * 8;
    if (i < gs) {
      vy[k] = *reinterpret_cast<const uint4*>(static_cast<const T*>(a.x) + row * a.sx + base + i);
      vz[k] = *reinterpret_cast<const uint4*>(static_cast<const T*>(a.z) + row * a.sz + base + i);
    }
  }
  float v[NV][8];
  float ss = 0.0f;
#pragma unroll
  for (int k = 0; k < NV; ++k) {
    const int i = (threadIdx.x + k * 256) * 8;
    float fz[8];
    unpack8<T>(vy[k], v[k]);
    unpack8<T>(vz[k], fz);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      v[k][e] = i < gs ? v[k][e] * silu_fast(fz[e]) : 0.0f;
      ss += v[k][e] * v[k][e];
    }
  }
  for (int off = 16; off > 0; off /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, off);
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x / 32] = ss;
  __syncthreads();
  float tot = 0.0f;
#pragma unroll
  for (int w = 0; w < 8; ++w) tot += warp_sums[w];
  const float r = rsqrtf(tot / static_cast<float>(gs) + a.eps);
#pragma unroll
  for (int k = 0; k < NV; ++k) {
    const int i = (threadIdx.x + k * 256) * 8;
    if (i >= gs) continue;
    float w[8], o[8];
    unpack8<T>(*reinterpret_cast<const uint4*>(static_cast<const T*>(a.w) + base + i), w);
#pragma unroll
    for (int e = 0; e < 8; ++e) o[e] = w[e] * to_f(from_f<T>(v[k][e] * r));
    *reinterpret_cast<uint4*>(static_cast<T*>(a.out) + row * a.H + base + i) = pack8<T>(o);
  }
}

template <typename T>
bool gated_norm_vec(const NormArgs& a, const dim3& grid, cudaStream_t st) {
  const int64_t gs = a.H / a.groups;
  auto al = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  if (gs % 8 != 0 || gs > 256 * 8 * 4 || a.sx % 8 != 0 || a.sz % 8 != 0 || a.H % 8 != 0 || !al(a.x) || !al(a.z) ||
      !al(a.w) || !al(a.out))
    return false;
  const int nv = static_cast<int>((gs / 8 + 255) / 256);
  if (nv <= 1) gated_norm_vec_kernel<T, 1><<<grid, 256, 0, st>>>(a);
  else if (nv <= 2) gated_norm_vec_kernel<T, 2><<<grid, 256, 0, st>>>(a);
  else gated_norm_vec_kernel<T, 4><<<grid, 256, 0, st>>>(a);
  return true;
}

}  // namespace

void synchronize_device() { (void)cudaDeviceSynchronize(); }


int64_t multiprocessor_count(int device) {
  static int cached[64] = {0};
  if (device < 0 || device >= 64) return 132;
  if (cached[device] == 0) {
    int v = 0;
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || v <= 0) v = 132;
    cached[device] = v;
  }
  return cached[device];
}

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

int64_t scan1_lanes_per_channel(int64_t N) { return scan1_split_ok(N) ? N / 4 : 1; }

bool launch_selective_scan(const Scan1Args& a, ElemType t, void* stream) {
  if (a.B * a.D == 0 || a.L == 0) return true;
  auto st = static_cast<cudaStream_t>(stream);
  switch (t) {
    case kF32: return scan1_dispatch<float>(a, st);
    case kF16: return scan1_dispatch<__half>(a, st);
    case kBF16: return scan1_dispatch<__nv_bfloat16>(a, st);
  }
  return false;
}

int64_t ssd_workspace_floats(const Scan2Args& a, ElemType t) {
  if (!ssd_chunk_applies(a, t)) return 0;
  return a.B * ((a.L + kChunkQ - 1) / kChunkQ) * a.G * kChunkQ * kChunkQ;
}

bool launch_ssd_scan(const Scan2Args& a, ElemType t, void* stream) {
  if (a.B * a.H == 0 || a.L == 0) return true;
  auto st = static_cast<cudaStream_t>(stream);
  switch (t) {
    case kF32: return ssd_dispatch<float>(a, st);  // float32: the exact recurrence (tensor cores would be TF32)
    case kF16: return ssd_chunked<__half>(a, st) || ssd_dispatch<__half>(a, st);
    case kBF16: return ssd_chunked<__nv_bfloat16>(a, st) || ssd_dispatch<__nv_bfloat16>(a, st);
  }
  return false;
}

bool launch_rms_norm(const NormArgs& a, void* stream) {
  if (a.M == 0) return true;
  if (a.groups < 1 || a.H % a.groups != 0 || a.M > 0x7fffffff) return false;
  if (a.delta && (a.H / a.groups > 256 * 32 || !a.hout)) return false;  // only the register kernel adds
  const dim3 grid(static_cast<unsigned>(a.M), static_cast<unsigned>(a.groups));
  auto st = static_cast<cudaStream_t>(stream);
  const int64_t gs = a.H / a.groups;
  const bool vec16 = a.z && !a.delta && !a.round_input && a.xt == a.wt && a.ot == a.wt && a.nt == a.wt && a.xt != kF32;
  if (vec16 && (a.xt == kBF16 ? gated_norm_vec<__nv_bfloat16>(a, grid, st) : gated_norm_vec<__half>(a, grid, st))) {
    // done
  } else if (a.delta) {
    if (gs <= 256 * 8) rms_norm_reg_kernel<8, true><<<grid, 256, 0, st>>>(a);
    else if (gs <= 256 * 16) rms_norm_reg_kernel<16, true><<<grid, 256, 0, st>>>(a);
    else rms_norm_reg_kernel<32, true><<<grid, 256, 0, st>>>(a);
  } else if (gs <= 256 * 4) {
    rms_norm_reg_kernel<4, false><<<grid, 256, 0, st>>>(a);
  } else if (gs <= 256 * 8) {
    rms_norm_reg_kernel<8, false><<<grid, 256, 0, st>>>(a);
  } else if (gs <= 256 * 16) {
    rms_norm_reg_kernel<16, false><<<grid, 256, 0, st>>>(a);
  } else if (gs <= 256 * 32) {
    rms_norm_reg_kernel<32, false><<<grid, 256, 0, st>>>(a);
  } else {
    rms_norm_kernel<<<grid, 256, 0, st>>>(a);
  }
  return cudaPeekAtLastError() == cudaSuccess;
}

}  // namespace shedder::cuda
