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

// The shared-memory tile of the lane-split scan: sB, sC: [TT][N]; sDd (dt, dt u): [TT][CH] pairs; sSkip (D u),
// sGate (SiLU(z)): [TT][CH]; sP: the lanes' partial C . s, [TT][prow] (where each lane writes: Stage::p_col).
struct Scan1Tile {
  float* sB;
  float* sC;
  float2* sDd;
  float* sSkip;
  float* sGate;
  float* sP;
};

// Staging, element form (any N the lane split takes, any strides): each thread loads kSplitPerCh per-channel values
// (u, dt, z) and kSplitPerN per-state values (B, C) of the next tile into registers, one element per load, and
// writes the tile's output rows one element per store. A thread always stages the same channel (the block size is a
// multiple of CH) and the same state index (and of N).
template <typename T, int MODE>
struct Scan1StageScalar {
  const T *u, *dt, *Bm, *Cm, *z;
  T* y;
  int CH, N, my_ch, my_n, my_tt, my_tn, rows_ch, rows_n;
  int su, sdt, sz, sb, sc, u_o, dt_o, z_o, b_o, c_o;  // offsets in 32 bits (the launcher checks that they fit)
  bool ch_ok;
  float my_D, my_bias;
  int64_t b, L, D, d0;
  T ru[kSplitPerCh], rdt[kSplitPerCh], rz[kSplitPerCh], rb[kSplitPerN], rc[kSplitPerN];

  static constexpr bool kWords = false;
  __host__ __device__ static constexpr int prow(int /*CH*/) { return kSplitThreads; }
  __device__ static int p_col(int cl, int slice, int S, int /*CH*/) { return cl * S + slice; }  // = threadIdx.x

  __device__ void init(const Scan1Args& a, int64_t b, int64_t d0, int CH_, int N_, int width) {
    CH = CH_, N = N_, D = a.D;
    u = static_cast<const T*>(a.u), dt = static_cast<const T*>(a.dt), z = static_cast<const T*>(a.z);
    Bm = static_cast<const T*>(a.Bm), Cm = static_cast<const T*>(a.Cm), y = static_cast<T*>(a.y);
    my_ch = threadIdx.x % CH, my_n = threadIdx.x % N;
    rows_ch = kSplitThreads / CH, rows_n = kSplitThreads / N;  // time rows per pass
    ch_ok = my_ch < width;
    my_D = ch_ok ? a.Dv[d0 + my_ch] : 0.0f;
    my_bias = ch_ok && a.dt_bias ? a.dt_bias[d0 + my_ch] : 0.0f;
    // Per-thread offsets (time step 0 of this thread's first row) and row strides.
    my_tt = threadIdx.x / CH, my_tn = threadIdx.x / N;
    su = static_cast<int>(a.su_t), sdt = static_cast<int>(a.sdt_t), sz = static_cast<int>(a.sz_t);
    sb = static_cast<int>(a.sB_t), sc = static_cast<int>(a.sC_t);
    u_o = static_cast<int>(b * a.su_b + d0) + my_tt * su + my_ch;
    dt_o = static_cast<int>(b * a.sdt_b + d0) + my_tt * sdt + my_ch;
    z_o = static_cast<int>(b * a.sz_b + d0) + my_tt * sz + my_ch;
    b_o = static_cast<int>(b * a.sB_b) + my_tn * sb + my_n;
    c_o = static_cast<int>(b * a.sC_b) + my_tn * sc + my_n;
    this->b = b, L = a.L, this->d0 = d0;
  }

  __device__ void fetch(int t0, int tile) {
#pragma unroll
    for (int k = 0; k < kSplitPerCh; ++k) {
      const int tt = my_tt + k * rows_ch;
      if (tt < tile && ch_ok) {
        const int t = t0 + k * rows_ch;
        ru[k] = u[u_o + t * su];
        rdt[k] = dt[dt_o + t * sdt];
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
  }

  __device__ void stage(int tile, const Scan1Tile& s) const {
#pragma unroll
    for (int k = 0; k < kSplitPerCh; ++k) {
      const int tt = my_tt + k * rows_ch;
      if (tt < tile) {
        const int i = tt * CH + my_ch;
        const float uv = ch_ok ? to_f(ru[k]) : 0.0f;
        const float dv = ch_ok ? softplus_fast(to_f(rdt[k]) + my_bias) : 0.0f;
        s.sDd[i] = make_float2(dv, dv * uv);
        if (MODE != 1) {
          s.sSkip[i] = my_D * uv;
          s.sGate[i] = (z && ch_ok) ? silu_fast(to_f(rz[k])) : 1.0f;
        }
      }
    }
#pragma unroll
    for (int k = 0; k < kSplitPerN; ++k) {
      const int tn = my_tn + k * rows_n;
      if (tn < tile) {
        s.sB[tn * N + my_n] = to_f(rb[k]);
        if (MODE != 1) s.sC[tn * N + my_n] = to_f(rc[k]);
      }
    }
  }

  // y of the tile's rows: the S partials of each channel summed, + D u, times the gate.
  __device__ void write_y(int tile, int64_t t0, int S, const Scan1Tile& s) const {
#pragma unroll
    for (int k = 0; k < kSplitPerCh; ++k) {
      const int tt = my_tt + k * rows_ch;
      if (tt >= tile || !ch_ok) continue;
      const float* part = s.sP + tt * kSplitThreads + my_ch * S;
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
      y[(b * L + t0 + tt) * D + d0 + my_ch] = from_f<T>((acc + s.sSkip[i]) * s.sGate[i]);
    }
  }
};

// Staging, word form (N = 16, so S = 4 lanes per channel, CH = 32 channels and TT = 16 time steps per tile): thread
// (row, q) of the 128 loads channels 4q..4q+3 of time row `row` as one 8-byte word per input (16 bytes in float32),
// and states 2q, 2q+1 of B and C as one word each, and writes the 4 outputs of its row as one word. The per-element
// form spent 8 instructions per load and 26 per output element on 64-bit address arithmetic, predicates and
// reloaded constants (Nsight Compute: tests/benchmarks/gpu/results/ncu-scan1-130m-source-3f5eaa2.txt, lines 245-256
// and 343). The launcher checks the alignment this needs (scan1_words_ok). The partials are laid out slice-major
// with rows of CH + 8 (conflict-free for the lanes' scalar writes and for the float4 reads here).
template <typename T, int MODE>
struct Scan1StageWords {
  static constexpr int kCH = 32, kN = 16, kTT = 16, kRow = kCH + 8;
  static_assert(kTT * kCH == 4 * kSplitThreads && kTT * kN == 2 * kSplitThreads, "one word of each input per thread");
  using W4 = typename Word4<T>::type;
  using W2 = typename Word2<T>::type;
  const T *u, *dt, *Bm, *Cm, *z;
  T* y;
  int row, q, su, sdt, sz, sb, sc, D;
  float4 Dv, bias;
  W4 ru, rdt, rz;
  W2 rb, rc;

  static constexpr bool kWords = true;
  __host__ __device__ static constexpr int prow(int CH) { return 4 * (CH + 8); }
  __device__ static int p_col(int cl, int slice, int /*S*/, int CH) { return slice * (CH + 8) + cl; }

  __device__ void init(const Scan1Args& a, int64_t b, int64_t d0, int /*CH*/, int /*N*/, int /*width*/) {
    row = threadIdx.x / (kCH / 4), q = threadIdx.x % (kCH / 4);
    const int64_t ch = d0 + 4 * q;
    u = static_cast<const T*>(a.u) + b * a.su_b + ch;
    dt = static_cast<const T*>(a.dt) + b * a.sdt_b + ch;
    z = a.z ? static_cast<const T*>(a.z) + b * a.sz_b + ch : nullptr;
    Bm = static_cast<const T*>(a.Bm) + b * a.sB_b + 2 * q;
    Cm = static_cast<const T*>(a.Cm) + b * a.sC_b + 2 * q;
    y = static_cast<T*>(a.y) + b * a.L * a.D + ch;
    su = static_cast<int>(a.su_t), sdt = static_cast<int>(a.sdt_t), sz = static_cast<int>(a.sz_t);
    sb = static_cast<int>(a.sB_t), sc = static_cast<int>(a.sC_t), D = static_cast<int>(a.D);
    Dv = *reinterpret_cast<const float4*>(a.Dv + ch);
    bias = a.dt_bias ? *reinterpret_cast<const float4*>(a.dt_bias + ch) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }

  __device__ void fetch(int t0, int tile) {
    if (row >= tile) return;
    const int t = t0 + row;
    ru = *reinterpret_cast<const W4*>(u + t * su);
    rdt = *reinterpret_cast<const W4*>(dt + t * sdt);
    if (MODE != 1 && z) rz = *reinterpret_cast<const W4*>(z + t * sz);
    rb = *reinterpret_cast<const W2*>(Bm + t * sb);
    if (MODE != 1) rc = *reinterpret_cast<const W2*>(Cm + t * sc);
  }

  __device__ void stage(int tile, const Scan1Tile& s) const {
    if (row >= tile) return;
    float uv[4], dv[4], bv[2];
    unpack4<T>(ru, uv);
    unpack4<T>(rdt, dv);
    const float bias4[4] = {bias.x, bias.y, bias.z, bias.w};
#pragma unroll
    for (int j = 0; j < 4; ++j) dv[j] = softplus_fast(dv[j] + bias4[j]);
    float4* dd = reinterpret_cast<float4*>(s.sDd + row * kCH + 4 * q);
    dd[0] = make_float4(dv[0], dv[0] * uv[0], dv[1], dv[1] * uv[1]);
    dd[1] = make_float4(dv[2], dv[2] * uv[2], dv[3], dv[3] * uv[3]);
    unpack2<T>(rb, bv);
    *reinterpret_cast<float2*>(s.sB + row * kN + 2 * q) = make_float2(bv[0], bv[1]);
    if (MODE == 1) return;
    *reinterpret_cast<float4*>(s.sSkip + row * kCH + 4 * q) =
        make_float4(Dv.x * uv[0], Dv.y * uv[1], Dv.z * uv[2], Dv.w * uv[3]);
    float g[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    if (z) {
      unpack4<T>(rz, g);
#pragma unroll
      for (int j = 0; j < 4; ++j) g[j] = silu_fast(g[j]);
    }
    *reinterpret_cast<float4*>(s.sGate + row * kCH + 4 * q) = make_float4(g[0], g[1], g[2], g[3]);
    unpack2<T>(rc, bv);
    *reinterpret_cast<float2*>(s.sC + row * kN + 2 * q) = make_float2(bv[0], bv[1]);
  }

  __device__ void write_y(int tile, int64_t t0, int /*S*/, const Scan1Tile& s) const {
    if (row >= tile) return;
    const float* part = s.sP + row * prow(kCH) + 4 * q;
    const float4 p0 = *reinterpret_cast<const float4*>(part);
    const float4 p1 = *reinterpret_cast<const float4*>(part + kRow);
    const float4 p2 = *reinterpret_cast<const float4*>(part + 2 * kRow);
    const float4 p3 = *reinterpret_cast<const float4*>(part + 3 * kRow);
    const float4 sk = *reinterpret_cast<const float4*>(s.sSkip + row * kCH + 4 * q);
    const float4 g = *reinterpret_cast<const float4*>(s.sGate + row * kCH + 4 * q);
    // The same order of sums as the element form: (slice 0 + 1) + (slice 2 + 3).
    const float out[4] = {((p0.x + p1.x) + (p2.x + p3.x) + sk.x) * g.x, ((p0.y + p1.y) + (p2.y + p3.y) + sk.y) * g.y,
                          ((p0.z + p1.z) + (p2.z + p3.z) + sk.z) * g.z, ((p0.w + p1.w) + (p2.w + p3.w) + sk.w) * g.w};
    *reinterpret_cast<typename Word4<T>::type*>(y + (static_cast<int>(t0) + row) * D) = pack4<T>(out);
  }
};

// NC: the state size fixed at compile time (the checkpoints' 16: every shared-memory offset of the time loop becomes
// an immediate and a full tile's loop is unrolled), or 0 for a run-time N with the tile TT passed by the launcher.
// Stage: Scan1StageScalar, or Scan1StageWords (NC = 16 only) where the launcher finds the inputs aligned for it.
// Registers: the run-time form is capped at 96 (5 blocks per multiprocessor), the compile-time one at 64, which it
// fits without spills (8 blocks: a 1.4b-shape scan of 8 x 4096 channels, 1024 blocks, in one wave on 132
// multiprocessors; 1.3 % faster there than with 96, tests/benchmarks/gpu/results/ab-*.txt).
template <typename T, int MODE, int NC, template <typename, int> class StageT>
__global__ void __launch_bounds__(kSplitThreads, NC ? 8 : 5) scan1_split_kernel(Scan1Args a, int TT_rt) {
  using Stage = StageT<T, MODE>;
  static_assert(!Stage::kWords || NC == 16, "the word form is for N = 16");
  constexpr int NS = kSplitNS;
  extern __shared__ float4 sdyn4[];
  const int N = NC ? NC : static_cast<int>(a.N), S = N / NS, CH = kSplitThreads / S;
  const int TT = NC ? scan1_split_tile(NC) : TT_rt;
  Scan1Tile sm;
  sm.sB = reinterpret_cast<float*>(sdyn4);
  sm.sC = sm.sB + TT * N;
  sm.sDd = reinterpret_cast<float2*>(sm.sC + TT * N);
  sm.sSkip = reinterpret_cast<float*>(sm.sDd + TT * CH);
  sm.sGate = sm.sSkip + TT * CH;
  sm.sP = sm.sGate + TT * CH;
  const float4* sB4 = reinterpret_cast<const float4*>(sm.sB);
  const float4* sC4 = reinterpret_cast<const float4*>(sm.sC);
  const int64_t D = a.D;
  const int cl = threadIdx.x / S, slice = threadIdx.x - cl * S;
  const int64_t d0 = static_cast<int64_t>(blockIdx.x) * CH;
  const int64_t d = d0 + cl;
  const int64_t c = blockIdx.y, b = blockIdx.z;
  const int64_t len = (a.L + a.chunks - 1) / a.chunks;
  const int64_t t_begin = c * len, t_end = imin(a.L, t_begin + len);
  const bool active = d < D;
  const int64_t ws_state = a.B * a.chunks * D * N;
  const int64_t ws_row = ((b * a.chunks + c) * D + d) * N + NS * slice;
  const int prow = Stage::prow(CH), pcol = Stage::p_col(cl, slice, S, CH);

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
  // so that TT * CH <= threads * kSplitPerCh and TT * N <= threads * kSplitPerN).
  Stage stage;
  stage.init(a, b, d0, CH, N, static_cast<int>(imin(CH, D - d0)));
  stage.fetch(static_cast<int>(t_begin), static_cast<int>(imin(TT, t_end - t_begin)));

  for (int64_t t0 = t_begin; t0 < t_end; t0 += TT) {
    const int tile = static_cast<int>(imin(TT, t_end - t0));
    __syncthreads();  // the previous tile is done with shared memory
    stage.stage(tile, sm);
    __syncthreads();
    if (t0 + TT < t_end) {  // in flight during the sequential loop
      stage.fetch(static_cast<int>(t0 + TT), static_cast<int>(imin(TT, t_end - t0 - TT)));
    }
    // The decays of step tt + 1 are computed during step tt: the special-function unit's latency overlaps the
    // state update instead of stalling it (the last step of a tile recomputes its own, unused).
    float2 cur = sm.sDd[cl];  // (dt, dt u) of step 0
    float e[NS];
#pragma unroll
    for (int j = 0; j < NS; ++j) e[j] = fast_exp2(cur.x * Ad[j]);
    auto step = [&](int tt, int n_steps) {
      const float2 nx = sm.sDd[(tt + 1 < n_steps ? tt + 1 : tt) * CH + cl];
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
        sm.sP[tt * prow + pcol] = s[0] * cv.x + s[1] * cv.y + s[2] * cv.z + s[3] * cv.w;
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
    stage.write_y(tile, t0, S, sm);
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

// The shared memory of a tile (prow: the partials' row, Stage::prow).
size_t scan1_split_shmem(int64_t N, int prow) {
  const int CH = kSplitThreads / (static_cast<int>(N) / kSplitNS), TT = scan1_split_tile(static_cast<int>(N));
  return sizeof(float) * TT * (2 * N + 4 * CH + prow);
}

// The lane-split scan's launches (one pass, or chunk summaries + carry + chunk outputs) for state size NC fixed at
// compile time (0: run time).
template <typename T, int NC, template <typename, int> class Stage>
bool scan1_split_launch(const Scan1Args& a, cudaStream_t st) {
  const int CH = kSplitThreads / static_cast<int>(a.N / kSplitNS);
  const dim3 grid(static_cast<unsigned>((a.D + CH - 1) / CH), static_cast<unsigned>(a.chunks),
                  static_cast<unsigned>(a.B));
  const int TT = scan1_split_tile(static_cast<int>(a.N));
  const size_t shmem = scan1_split_shmem(a.N, Stage<T, 0>::prow(CH));
  if (a.chunks <= 1) {
    scan1_split_kernel<T, 0, NC, Stage><<<grid, kSplitThreads, shmem, st>>>(a, TT);
    return cudaPeekAtLastError() == cudaSuccess;
  }
  scan1_split_kernel<T, 1, NC, Stage><<<grid, kSplitThreads, shmem, st>>>(a, TT);
  const int64_t total = a.B * a.D * a.N;
  scan1_combine<<<static_cast<unsigned>((total + 255) / 256), 256, 0, st>>>(a);
  scan1_split_kernel<T, 2, NC, Stage><<<grid, kSplitThreads, shmem, st>>>(a, TT);
  return cudaPeekAtLastError() == cudaSuccess;
}

// Whether the word-form staging applies (Scan1StageWords: N = 16): every per-channel input and y aligned to 4
// elements (pointers and strides, D a multiple of the block's 32 channels, D and dt_bias 16-byte aligned), B and C
// to 2, and every time-row offset of y within 32 bits.
bool scan1_words_ok(const Scan1Args& a, size_t elem) {
  auto aligned = [](const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; };
  auto rows_ok = [&](const void* p, int64_t sb, int64_t st, int64_t k) {
    return aligned(p, k * elem) && sb % k == 0 && st % k == 0;
  };
  return a.N == 16 && a.D % 32 == 0 && a.L * a.D <= static_cast<int64_t>(0x7fffffff) && aligned(a.y, 4 * elem) &&
         rows_ok(a.u, a.su_b, a.su_t, 4) && rows_ok(a.dt, a.sdt_b, a.sdt_t, 4) &&
         (!a.z || rows_ok(a.z, a.sz_b, a.sz_t, 4)) && rows_ok(a.Bm, a.sB_b, a.sB_t, 2) &&
         rows_ok(a.Cm, a.sC_b, a.sC_t, 2) && aligned(a.Dv, 16) && (!a.dt_bias || aligned(a.dt_bias, 16));
}

// The checkpoints' state size (16) runs the compile-time form, with the word-form staging where the inputs are
// aligned for it. SHEDDER_SCAN1_GENERIC=1 takes the run-time form for N = 16 too, SHEDDER_SCAN1_WORDS=0 the
// element-form staging (for comparisons).
template <typename T>
bool scan1_split(const Scan1Args& a, cudaStream_t st) {
  auto env_is = [](const char* name, char v) {
    const char* env = std::getenv(name);
    return env && env[0] == v;
  };
  static const bool generic = env_is("SHEDDER_SCAN1_GENERIC", '1'), no_words = env_is("SHEDDER_SCAN1_WORDS", '0');
  if (a.N == 16 && !generic) {
    if (!no_words && scan1_words_ok(a, sizeof(T))) return scan1_split_launch<T, 16, Scan1StageWords>(a, st);
    return scan1_split_launch<T, 16, Scan1StageScalar>(a, st);
  }
  return scan1_split_launch<T, 0, Scan1StageScalar>(a, st);
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
