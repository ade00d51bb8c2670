// CUDA kernels of the Mamba-2 SSD in its chunked form on tensor cores (float16 / bfloat16, compute capability
// 8.0+): chunks of 64 steps, C B^T per (chunk, group) in one kernel, then one block per (batch, head, tile of head
// channels) walking its chunks with the state in float32 accumulator tiles. The common checkpoint shapes have
// their sizes fixed at compile time. Called by launch_ssd_scan (ssd_recurrent.cu).

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include "kernels/cuda/device_common.cuh"
#include "kernels/cuda/mma_tile.cuh"

namespace shedder::cuda {
namespace {

// ---- Mamba-2 SSD, chunked, on tensor cores (float16 / bfloat16) ---------------------------------------------
// The chunked form of the SSD (as mamba_ssm's kernels): for a chunk of Q steps with a_t the cumulative sum of
// dt A within the chunk,
//   y_t   = exp(a_t) C_t . S_in + sum_{s <= t} (C_t . B_s) exp(a_t - a_s) dt_s x_s + D x_t
//   S_out = exp(a_Q) S_in + sum_s B_s (exp(a_Q - a_s) dt_s x_s)^T
// with the products as 16x16x16 tensor-core matrix multiplies (mma.sync with ldmatrix loads, float32 accumulation:
// mma_tile.cuh). A block owns one (batch, head, tile of PT head channels) and walks its chunks in order; the state
// S [N x PT] stays in the warps' float32 accumulator tiles from chunk to chunk, and a copy rounded to the
// activations' dtype feeds the C . S product (the operands of every tensor-core product are in that dtype, as in
// mamba_ssm).

constexpr int kChunkQ = 64;
constexpr int kChunkWarps = 8;

struct ChunkLayout {  // byte offsets into dynamic shared memory
  int ldX, ldBC, ldG, ldM, ldS;
  size_t x, xw, b, c, g, m, sb, vec, total;
};

__host__ __device__ inline size_t align128(size_t v) { return (v + 127) / 128 * 128; }

__host__ __device__ inline ChunkLayout chunk_layout(int N, int PT, int elem) {
  ChunkLayout l;
  const int Q = kChunkQ;
  l.ldX = PT + 8;
  l.ldBC = N + 8;
  l.ldG = (Q > PT ? Q : PT) + 8;  // G [Q][Q] then Y [Q][PT], float (rows 8 banks apart: Y's 8-byte stores)
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
  l.vec = o; o = align128(o + (4 * static_cast<size_t>(Q) + 4) * sizeof(float));
  l.total = o;
  return l;
}

// G = C B^T [Q x Q] of every (batch, chunk, group), shared by the group's heads: the lower block triangle
// into ws[((b * chunks + c) * G + g) * Q * Q], row-major (rows past the end of the sequence are zeros).
template <typename T>
__global__ void __launch_bounds__(kChunkWarps * 32) ssd_cb_kernel(Scan2Args a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
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
    mma::TileC acc;
    mma::fill(acc, 0.0f);
    for (int k = 0; k < N / 16; ++k) {
      mma::TileA fa;
      mma::TileB fb;  // B^T: element (n, s) = B[s][n]
      mma::load_a(fa, sC + tr * 16 * ld + k * 16, ld);
      mma::load_b_colmajor(fb, sB + tc * 16 * ld + k * 16, ld);
      mma::mma<T>(acc, fa, fb);
    }
    mma::store_c(out + tr * 16 * Q + tc * 16, acc, Q);
  }
#endif
}

// NC / PTC: the state size and the channel tile as compile-time constants for the common shapes (the loops'
// divisions by them then fold into shifts), or 0 to take them at run time (a.N, pt).
template <typename T, int SF, int NC, int PTC>
__global__ void __launch_bounds__(kChunkWarps * 32, SF >= 8 ? 1 : 2) ssd_chunk_kernel(Scan2Args a, int pt_arg, bool vec) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
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
  float* sDt = reinterpret_cast<float*>(chunk_smem + lay.vec);  // [Q]
  float* sAc = sDt + Q;                                   // [Q] a_t log2(e)
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

  // The state: tile f of warp w is tile i = w + 8 f of S, rows n (i / ntP), columns p (i % ntP). The
  // stored state is [B, H, P, N]: a tile of S is column-major there with leading dimension N.
  mma::TileC st[SF];
#pragma unroll
  for (int f = 0; f < SF; ++f) {
    const int i = warp + kChunkWarps * f;
    if (i >= tilesS) continue;
    if (a.state) {
      const int nt = i / ntP, pt = i - nt * ntP;
      mma::load_c_colmajor(st[f], a.state + ((b * H + h) * P + p0 + pt * 16) * N + nt * 16, N);
    } else {
      mma::fill(st[f], 0.0f);
    }
  }
  auto state_to_smem = [&]() {  // sSb = S rounded to T, straight from the accumulator tiles (4-byte stores of
                                 // value pairs; ldS puts rows 4 banks apart, so a warp's stores do not conflict)
#pragma unroll
    for (int f = 0; f < SF; ++f) {
      const int i = warp + kChunkWarps * f;
      if (i >= tilesS) continue;
      const int nt = i / ntP, pt = i - nt * ntP;
#pragma unroll
      for (int e = 0; e < 8; e += 2)
        *reinterpret_cast<unsigned*>(sSb + (nt * 16 + mma::c_row(e)) * lay.ldS + pt * 16 + mma::c_col(e)) =
            pack_pair<T>(st[f].x[e], st[f].x[e + 1]);
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
        sAc[r] = ac[k] * kLog2e;
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
      if (s0 >= (t / 16 + 1) * 16) continue;  // right of the diagonal tile: no product reads it
      const float at = sAc[t];
      const float4* g4 = reinterpret_cast<const float4*>(sG + t * lay.ldG + s0);  // ldG and s0: multiples of 4
      const float4 g0 = g4[0], g1 = g4[1];
      const float4 a0 = *reinterpret_cast<const float4*>(sAc + s0), a1 = *reinterpret_cast<const float4*>(sAc + s0 + 4);
      const float4 d0 = *reinterpret_cast<const float4*>(sDt + s0), d1 = *reinterpret_cast<const float4*>(sDt + s0 + 4);
      const float gv[8] = {g0.x, g0.y, g0.z, g0.w, g1.x, g1.y, g1.z, g1.w};
      const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float dv[8] = {d0.x, d0.y, d0.z, d0.w, d1.x, d1.y, d1.z, d1.w};
      float m[8];
#pragma unroll
      for (int k = 0; k < 8; ++k) m[k] = s0 + k <= t ? gv[k] * fast_exp2(at - av[k]) * dv[k] : 0.0f;
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
        for (int e = 0; e < 8; ++e) st[f].x[e] *= decay;
    }
    __syncthreads();
    // (4) Y = C' S_in + M X (into sG), and S += B^T X'. A warp computes two adjacent column tiles of a row of
    // Y (one load of each row fragment for both) where PT allows.
    const int pw = ntP % 2 == 0 ? 2 : 1;  // column tiles per warp
    for (int i = warp; i < ntQ * ntP / pw; i += kChunkWarps) {
      const int tr = i / (ntP / pw), tc = (i - tr * (ntP / pw)) * pw;
      mma::TileC acc[2];
      mma::fill(acc[0], 0.0f);
      mma::fill(acc[1], 0.0f);
#pragma unroll 2
      for (int k = 0; k < ntN; ++k) {
        mma::TileA fa;
        mma::load_a(fa, sC + tr * 16 * lay.ldBC + k * 16, lay.ldBC);
        for (int j = 0; j < pw; ++j) {
          mma::TileB fb;
          mma::load_b(fb, sSb + k * 16 * lay.ldS + (tc + j) * 16, lay.ldS);
          mma::mma<T>(acc[j], fa, fb);
        }
      }
      for (int k = 0; k <= tr; ++k) {
        mma::TileA fa;
        mma::load_a(fa, sM + tr * 16 * lay.ldM + k * 16, lay.ldM);
        for (int j = 0; j < pw; ++j) {
          mma::TileB fb;
          mma::load_b(fb, sX + k * 16 * lay.ldX + (tc + j) * 16, lay.ldX);
          mma::mma<T>(acc[j], fa, fb);
        }
      }
      for (int j = 0; j < pw; ++j)
        mma::store_c(sG + tr * 16 * lay.ldG + (tc + j) * 16, acc[j], lay.ldG);
    }
    // A warp's state tiles share their column tile (8 is a multiple of ntP): one load of X's fragment per k.
#pragma unroll 1
    for (int k = 0; k < ntQ; ++k) {
      mma::TileB fb;
      mma::load_b(fb, sXw + k * 16 * lay.ldX + (warp % ntP) * 16, lay.ldX);
#pragma unroll
      for (int f = 0; f < SF; ++f) {
        const int i = warp + kChunkWarps * f;
        if (i >= tilesS) continue;
        mma::TileA fa;  // B^T: element (n, s) = B[s][n]
        mma::load_a_colmajor(fa, sB + k * 16 * lay.ldBC + (i / ntP) * 16, lay.ldBC);
        mma::mma<T>(st[f], fa, fb);
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
      const float4* yr = reinterpret_cast<const float4*>(sG + r * lay.ldG + cc);  // ldG and cc: multiples of 4
      const float4 y0 = yr[0], y1 = yr[1];
      const float yv[8] = {y0.x, y0.y, y0.z, y0.w, y1.x, y1.y, y1.z, y1.w};
#pragma unroll
      for (int k = 0; k < 8; ++k) f[k] = yv[k] + Dh * f[k];
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
      mma::store_c_colmajor(a.state + ((b * H + h) * P + p0 + pt * 16) * N + nt * 16, st[f], N);
    }
  }
#endif
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

}  // namespace

int64_t ssd_workspace_floats(const Scan2Args& a, ElemType t) {
  if (!ssd_chunk_applies(a, t)) return 0;
  return a.B * ((a.L + kChunkQ - 1) / kChunkQ) * a.G * kChunkQ * kChunkQ;
}

bool ssd_chunked_scan(const Scan2Args& a, ElemType t, cudaStream_t st) {
  if (t == kF16) return ssd_chunked<__half>(a, st);
  if (t == kBF16) return ssd_chunked<__nv_bfloat16>(a, st);
  return false;
}

}  // namespace shedder::cuda
