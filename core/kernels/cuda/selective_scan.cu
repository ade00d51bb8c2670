// CUDA kernels of the Mamba-1 selective scan: a channel's states spread over lanes (state sizes 4-64, the
// checkpoints' 16), or one thread per channel otherwise; optionally split into time chunks that run in parallel
// and are stitched by a carry pass. softplus(dt + bias), the D skip and the SiLU(z) gate are fused; states and
// sums are float32, loads and stores in the activations' dtype. Launcher declared in launch.h.

#include <cstdint>
#include <cstdlib>

#include "kernels/cuda/device_common.cuh"

namespace shedder::cuda {
namespace {

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

// Time steps staged per tile for state size N (host and device: the kernel's compile-time form uses it).
__host__ __device__ constexpr int scan1_split_tile(int N) {
  const int by_ch = kSplitThreads * kSplitPerCh / (kSplitThreads / (N / kSplitNS));
  const int by_n = kSplitThreads * kSplitPerN / N;
  const int t = by_ch < by_n ? by_ch : by_n;
  return t < kSplitMaxTile ? t : kSplitMaxTile;
}

// NC: the state size fixed at compile time (the checkpoints' 16: every shared-memory offset of the time loop becomes
// an immediate and a full tile's loop is unrolled), or 0 for a run-time N with the tile TT passed by the launcher.
// Registers: the run-time form is capped at 96 (5 blocks per multiprocessor), the compile-time one at 64, which it
// fits without spills (8 blocks: a 1.4b-shape scan of 8 x 4096 channels, 1024 blocks, in one wave on 132
// multiprocessors; 1.3 % faster there than with 96, tests/benchmarks/gpu/results/ab-*.txt).
template <typename T, int MODE, int NC>
__global__ void __launch_bounds__(kSplitThreads, NC ? 8 : 5) scan1_split_kernel(Scan1Args a, int TT_rt) {
  constexpr int NS = kSplitNS;
  extern __shared__ float4 sdyn4[];  // sB, sC: [TT][N]; sDd (dt, dt u): [TT][CH] pairs; sSkip, sGate: [TT][CH];
                                     // sP: [TT][threads]
  const int N = NC ? NC : static_cast<int>(a.N), S = N / NS, CH = kSplitThreads / S;
  const int TT = NC ? scan1_split_tile(NC) : TT_rt;
  float* sB = reinterpret_cast<float*>(sdyn4);
  float* sC = sB + TT * N;
  float2* sDd = reinterpret_cast<float2*>(sC + TT * N);
  float* sSkip = reinterpret_cast<float*>(sDd + TT * CH);
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
        sDd[i] = make_float2(dv, dv * uv);
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
    float2 cur = sDd[cl];  // (dt, dt u) of step 0
    float e[NS];
#pragma unroll
    for (int j = 0; j < NS; ++j) e[j] = fast_exp2(cur.x * Ad[j]);
    auto step = [&](int tt, int n_steps) {
      const float2 nx = sDd[(tt + 1 < n_steps ? tt + 1 : tt) * CH + cl];
      float en[NS];
#pragma unroll
      for (int j = 0; j < NS; ++j) en[j] = fast_exp2(nx.x * Ad[j]);
      const float du = cur.y;
      const float4 bv = sB4[tt * S + slice];  // this lane's 4 states
      s[0] = e[0] * s[0] + du * bv.x;
      s[1] = e[1] * s[1] + du * bv.y;
      s[2] = e[2] * s[2] + du * bv.z;
      s[3] = e[3] * s[3] + du * bv.w;
      if (MODE == 1) {
        dt_sum += cur.x;
      } else {
        const float4 cv = sC4[tt * S + slice];
        const float acc = s[0] * cv.x + s[1] * cv.y + s[2] * cv.z + s[3] * cv.w;
        sP[tt * kSplitThreads + threadIdx.x] = acc;  // lane (cl, slice): column cl * S + slice
      }
#pragma unroll
      for (int j = 0; j < NS; ++j) e[j] = en[j];
      cur = nx;
    };
    if (NC != 0 && tile == TT) {
#pragma unroll
      for (int tt = 0; tt < (NC ? scan1_split_tile(NC) : 1); ++tt) step(tt, TT);
    } else {
#pragma unroll 2
      for (int tt = 0; tt < tile; ++tt) step(tt, tile);
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

// The shared memory of a tile.
size_t scan1_split_shmem(int64_t N) {
  const int CH = kSplitThreads / (static_cast<int>(N) / kSplitNS), TT = scan1_split_tile(static_cast<int>(N));
  return sizeof(float) * TT * (2 * N + 4 * CH + kSplitThreads);
}

// The lane-split scan's launches (one pass, or chunk summaries + carry + chunk outputs) for state size NC fixed at
// compile time (0: run time).
template <typename T, int NC>
bool scan1_split_launch(const Scan1Args& a, cudaStream_t st) {
  const int CH = kSplitThreads / static_cast<int>(a.N / kSplitNS);
  const dim3 grid(static_cast<unsigned>((a.D + CH - 1) / CH), static_cast<unsigned>(a.chunks),
                  static_cast<unsigned>(a.B));
  const int TT = scan1_split_tile(static_cast<int>(a.N));
  const size_t shmem = scan1_split_shmem(a.N);
  if (a.chunks <= 1) {
    scan1_split_kernel<T, 0, NC><<<grid, kSplitThreads, shmem, st>>>(a, TT);
    return cudaPeekAtLastError() == cudaSuccess;
  }
  scan1_split_kernel<T, 1, NC><<<grid, kSplitThreads, shmem, st>>>(a, TT);
  const int64_t total = a.B * a.D * a.N;
  scan1_combine<<<static_cast<unsigned>((total + 255) / 256), 256, 0, st>>>(a);
  scan1_split_kernel<T, 2, NC><<<grid, kSplitThreads, shmem, st>>>(a, TT);
  return cudaPeekAtLastError() == cudaSuccess;
}

// The checkpoints' state size (16) runs the compile-time form; SHEDDER_SCAN1_GENERIC=1 takes the run-time form for
// it too (for comparisons).
template <typename T>
bool scan1_split(const Scan1Args& a, cudaStream_t st) {
  static const bool generic = [] {
    const char* env = std::getenv("SHEDDER_SCAN1_GENERIC");
    return env && env[0] == '1';
  }();
  if (a.N == 16 && !generic) return scan1_split_launch<T, 16>(a, st);
  return scan1_split_launch<T, 0>(a, st);
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

}  // namespace

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

}  // namespace shedder::cuda
