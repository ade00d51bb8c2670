// CUDA kernel of the Mamba-2 SSD as the exact recurrence (float32, and float16/bfloat16 where the chunked
// tensor-core form of ssd_chunked.cu does not apply), and launch_ssd_scan, which picks between the two.
// States and sums float32; loads and stores in the activations' dtype. Launcher declared in launch.h.

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/device_common.cuh"

namespace shedder::cuda {
namespace {

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

}  // namespace

bool launch_ssd_scan(const Scan2Args& a, ElemType t, void* stream) {
  if (a.B * a.H == 0 || a.L == 0) return true;
  auto st = static_cast<cudaStream_t>(stream);
  switch (t) {
    case kF32: return ssd_dispatch<float>(a, st);  // float32: the exact recurrence (tensor cores would be TF32)
    case kF16: return ssd_chunked_scan(a, t, st) || ssd_dispatch<__half>(a, st);
    case kBF16: return ssd_chunked_scan(a, t, st) || ssd_dispatch<__nv_bfloat16>(a, st);
  }
  return false;
}

}  // namespace shedder::cuda
