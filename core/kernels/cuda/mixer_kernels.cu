// CUDA kernels of the sequence mixers: causal depthwise conv (+SiLU), the Mamba-1 selective scan (optionally
// split into time chunks that run in parallel and are stitched together), the Mamba-2 SSD recurrence with the
// state of a head spread over a few lanes, and the (gated) RMSNorms. Loads and stores are in the
// activations' dtype (float32, float16, bfloat16); every sum, norm statistic and scan state is float32.
// No torch headers here: cuda_ops.cpp validates tensors and calls the launchers (launch.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

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

__device__ __forceinline__ float softplus_f(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
// The same on the special-function unit (relative error ~1e-6): for the per-element staging of the scans.
__device__ __forceinline__ float silu_fast(float x) { return __fdividef(x, 1.0f + __expf(-x)); }
__device__ __forceinline__ float softplus_fast(float x) {
  return x > 20.0f ? x : (x < -15.0f ? __expf(x) : __logf(1.0f + __expf(x)));
}

// ---- causal depthwise conv ----------------------------------------------------------------------------

// Grid: x = rows (b, t), y = blocks of 256 channels: one 32-bit division per thread.
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
  if (a.silu) acc = silu_f(acc);
  static_cast<T*>(a.out)[row * a.C + c] = from_f<T>(acc);
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
        sDt[tt][threadIdx.x] = softplus_fast(to_f(dtp[b * a.sdt_b + t * a.sdt_t + d]));
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

template <typename T, int MAXN>
bool scan1_typed(const Scan1Args& a, cudaStream_t st) {
  const dim3 block(kScanThreads);
  const dim3 grid(static_cast<unsigned>((a.D + kScanThreads - 1) / kScanThreads), static_cast<unsigned>(a.chunks),
                  static_cast<unsigned>(a.B));
  if (a.chunks <= 1) {
    scan1_kernel<T, MAXN, 0><<<grid, block, 0, st>>>(a);
    return cudaGetLastError() == cudaSuccess;
  }
  scan1_kernel<T, MAXN, 1><<<grid, block, 0, st>>>(a);
  const int64_t total = a.B * a.D * a.N;
  scan1_combine<<<static_cast<unsigned>((total + 255) / 256), 256, 0, st>>>(a);
  scan1_kernel<T, MAXN, 2><<<grid, block, 0, st>>>(a);
  return cudaGetLastError() == cudaSuccess;
}

template <typename T>
bool scan1_dispatch(const Scan1Args& a, cudaStream_t st) {
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
  return cudaGetLastError() == cudaSuccess;
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

// ---- RMSNorm (plain, gated, grouped) ------------------------------------------------------------------
// One block per (row, group): the float32 sum of squares, then out = w * round(x * rsqrt(mean + eps)).

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
  if (a.B * a.L > 0x7fffffff || (a.C + 255) / 256 > 65535) return false;
  const dim3 blocks(static_cast<unsigned>(a.B * a.L), static_cast<unsigned>((a.C + 255) / 256));
  auto st = static_cast<cudaStream_t>(stream);
  switch (t) {
    case kF32: conv1d_kernel<float><<<blocks, 256, 0, st>>>(a); break;
    case kF16: conv1d_kernel<__half><<<blocks, 256, 0, st>>>(a); break;
    case kBF16: conv1d_kernel<__nv_bfloat16><<<blocks, 256, 0, st>>>(a); break;
  }
  return cudaGetLastError() == cudaSuccess;
}

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

bool launch_ssd_scan(const Scan2Args& a, ElemType t, void* stream) {
  if (a.B * a.H == 0 || a.L == 0) return true;
  auto st = static_cast<cudaStream_t>(stream);
  switch (t) {
    case kF32: return ssd_dispatch<float>(a, st);
    case kF16: return ssd_dispatch<__half>(a, st);
    case kBF16: return ssd_dispatch<__nv_bfloat16>(a, st);
  }
  return false;
}

bool launch_rms_norm(const NormArgs& a, void* stream) {
  if (a.M == 0) return true;
  if (a.groups < 1 || a.H % a.groups != 0 || a.M > 0x7fffffff) return false;
  const dim3 grid(static_cast<unsigned>(a.M), static_cast<unsigned>(a.groups));
  rms_norm_kernel<<<grid, 256, 0, static_cast<cudaStream_t>(stream)>>>(a);
  return cudaGetLastError() == cudaSuccess;
}

}  // namespace shedder::cuda
