// CUDA kernels of the RMSNorms: plain and grouped, gated (Mamba-2's norm of y * SiLU(z)), and fused with the
// residual add (float32 sum written back); statistics in float32, the normalised value rounded to the dtype the
// caller names, as transformers does. Ungated rows of up to 3072 values on whole words take a warp per row
// (SHEDDER_NORM_WARP=0: the block-per-row kernels instead, for comparisons). Launcher declared in launch.h.

#include <cstdint>
#include <cstdlib>

#include "kernels/cuda/device_common.cuh"

namespace shedder::cuda {
namespace {

// ---- RMSNorm (plain, gated, grouped) ------------------------------------------------------------------
// The sum of `v` over a block of 256 threads, returned to every thread (warp shuffles, then the 8 warps' sums).
__device__ __forceinline__ float block_sum_256(float v) {
  __shared__ float warp_sums[8];
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x / 32] = v;
  __syncthreads();
  float tot = 0.0f;
#pragma unroll
  for (int w = 0; w < 8; ++w) tot += warp_sums[w];
  return tot;
}

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
  const float r = rsqrtf(block_sum_256(ss) / static_cast<float>(gs) + a.eps);
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
  const float r = rsqrtf(block_sum_256(ss) / static_cast<float>(gs) + a.eps);
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

// ---- warp-per-row RMSNorm on whole words ------------------------------------------------------------------
constexpr int kNormWarps = 4;  // rows (segments) per 128-thread block of rms_norm_warp_kernel

// A lane's NV chunks of 4 values of a row segment starting at element `off` of p: chunk k holds values
// 4 * (lane + 32 k) .. + 3, one 16-byte (float32) or 8-byte (16-bit) word; chunks past n4 words read as zeros.
// Every load is issued before any conversion (the dtype branch is uniform across a launch).
template <int NV>
__device__ __forceinline__ void load_chunks(const void* p, ElemType t, int64_t off, int lane, int n4,
                                            float (&v)[NV][4]) {
  if (t == kF32) {
    const float4* q = reinterpret_cast<const float4*>(static_cast<const float*>(p) + off);
#pragma unroll
    for (int k = 0; k < NV; ++k) {
      const int c = lane + 32 * k;
      const float4 f = c < n4 ? q[c] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      v[k][0] = f.x, v[k][1] = f.y, v[k][2] = f.z, v[k][3] = f.w;
    }
    return;
  }
  const uint2* q = reinterpret_cast<const uint2*>(static_cast<const uint16_t*>(p) + off);
  uint2 raw[NV];
#pragma unroll
  for (int k = 0; k < NV; ++k) raw[k] = lane + 32 * k < n4 ? q[lane + 32 * k] : make_uint2(0u, 0u);
  if (t == kBF16) {
#pragma unroll
    for (int k = 0; k < NV; ++k) unpack_word<__nv_bfloat16, uint2>(raw[k], v[k]);
  } else {
#pragma unroll
    for (int k = 0; k < NV; ++k) unpack_word<__half, uint2>(raw[k], v[k]);
  }
}

// The converse: the chunks below n4 words stored in dtype t (round to nearest).
template <int NV>
__device__ __forceinline__ void store_chunks(void* p, ElemType t, int64_t off, int lane, int n4,
                                             const float (&v)[NV][4]) {
#pragma unroll
  for (int k = 0; k < NV; ++k) {
    const int c = lane + 32 * k;
    if (c >= n4) continue;
    uint2* q = reinterpret_cast<uint2*>(static_cast<uint16_t*>(p) + off);
    float4* q4 = reinterpret_cast<float4*>(static_cast<float*>(p) + off);
    if (t == kF32) q4[c] = make_float4(v[k][0], v[k][1], v[k][2], v[k][3]);
    else if (t == kBF16) q[c] = pack_word<__nv_bfloat16, uint2>(v[k]);
    else q[c] = pack_word<__half, uint2>(v[k]);
  }
}

// The ungated norms with a warp per (row, group) segment of up to 128 * NV values (a multiple of 4; rows on
// 16-byte float32 / 8-byte 16-bit words): the block norm fused with the previous block's residual add (DELTA),
// the first block's norm and the final norm. The arithmetic of rms_norm_reg_kernel; warp shuffles only, and each
// lane moves whole words, which the block-per-row kernels (scalar loads, 256 threads on a row of 768) do not.
template <int NV, bool DELTA>
__global__ void __launch_bounds__(32 * kNormWarps) rms_norm_warp_kernel(NormArgs a) {
  const int64_t seg = static_cast<int64_t>(blockIdx.x) * kNormWarps + threadIdx.x / 32;
  if (seg >= a.M * a.groups) return;  // whole warps
  const int lane = threadIdx.x & 31;
  const int gs = static_cast<int>(a.H / a.groups), n4 = gs / 4;
  const int64_t row = seg / a.groups, base = (seg % a.groups) * gs;
  float v[NV][4];
  load_chunks<NV>(a.x, a.xt, row * a.sx + base, lane, n4, v);
  if (DELTA) {
    float d[NV][4];
    load_chunks<NV>(a.delta, a.dlt, row * a.sd + base, lane, n4, d);
#pragma unroll
    for (int k = 0; k < NV; ++k)
#pragma unroll
      for (int e = 0; e < 4; ++e) v[k][e] += d[k][e];
    store_chunks<NV>(a.hout, kF32, row * a.H + base, lane, n4, v);
  }
  float ss = 0.0f;
#pragma unroll
  for (int k = 0; k < NV; ++k)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      if (a.round_input) v[k][e] = round_to(v[k][e], a.wt);
      ss += v[k][e] * v[k][e];
    }
  float w[NV][4];
  load_chunks<NV>(a.w, a.wt, base, lane, n4, w);  // issued before the shuffles, which do not wait for it
  for (int off = 16; off > 0; off /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, off);
  const float r = rsqrtf(ss / static_cast<float>(gs) + a.eps);
#pragma unroll
  for (int k = 0; k < NV; ++k)
#pragma unroll
    for (int e = 0; e < 4; ++e) v[k][e] = w[k][e] * round_to(v[k][e] * r, a.nt);
  store_chunks<NV>(a.out, a.ot, row * a.H + base, lane, n4, v);
}

template <bool DELTA>
void rms_norm_warp_launch(const NormArgs& a, int nv, unsigned blocks, cudaStream_t st) {
  const unsigned th = 32 * kNormWarps;
  if (nv <= 1) rms_norm_warp_kernel<1, DELTA><<<blocks, th, 0, st>>>(a);
  else if (nv <= 2) rms_norm_warp_kernel<2, DELTA><<<blocks, th, 0, st>>>(a);
  else if (nv <= 4) rms_norm_warp_kernel<4, DELTA><<<blocks, th, 0, st>>>(a);
  else if (nv <= 6) rms_norm_warp_kernel<6, DELTA><<<blocks, th, 0, st>>>(a);
  else if (nv <= 8) rms_norm_warp_kernel<8, DELTA><<<blocks, th, 0, st>>>(a);
  else if (nv <= 12) rms_norm_warp_kernel<12, DELTA><<<blocks, th, 0, st>>>(a);
  else if (nv <= 16) rms_norm_warp_kernel<16, DELTA><<<blocks, th, 0, st>>>(a);
  else rms_norm_warp_kernel<24, DELTA><<<blocks, th, 0, st>>>(a);
}

// rms_norm_warp_kernel where it applies: no gate, segments of a multiple of 4 values up to 3072 (NV 24, 232
// registers; 32 would spill), every row stride a multiple of 4 and every pointer on a word (16 bytes for float32,
// 8 for 16-bit). False: nothing launched (the block-per-row kernels take it).
bool rms_norm_warp(const NormArgs& a, cudaStream_t st) {
  const int64_t gs = a.H / a.groups, blocks = (a.M * a.groups + kNormWarps - 1) / kNormWarps;
  auto al = [](const void* p, ElemType t) { return reinterpret_cast<uintptr_t>(p) % (t == kF32 ? 16 : 8) == 0; };
  if (a.z || gs % 4 != 0 || gs > 128 * 24 || blocks > 0x7fffffff || a.sx % 4 != 0 || !al(a.x, a.xt) ||
      !al(a.w, a.wt) || !al(a.out, a.ot))
    return false;
  if (a.delta && (a.sd % 4 != 0 || !al(a.delta, a.dlt) || !al(a.hout, kF32))) return false;
  const int nv = static_cast<int>((gs + 127) / 128);
  if (a.delta) rms_norm_warp_launch<true>(a, nv, static_cast<unsigned>(blocks), st);
  else rms_norm_warp_launch<false>(a, nv, static_cast<unsigned>(blocks), st);
  return true;
}

}  // namespace

bool launch_rms_norm(const NormArgs& a, void* stream) {
  if (a.M == 0) return true;
  if (a.groups < 1 || a.H % a.groups != 0 || a.M > 0x7fffffff) return false;
  if (a.delta && (a.H / a.groups > 256 * 32 || !a.hout)) return false;  // only the register kernel adds
  const dim3 grid(static_cast<unsigned>(a.M), static_cast<unsigned>(a.groups));
  auto st = static_cast<cudaStream_t>(stream);
  const int64_t gs = a.H / a.groups;
  const bool vec16 = a.z && !a.delta && !a.round_input && a.xt == a.wt && a.ot == a.wt && a.nt == a.wt && a.xt != kF32;
  const char* warp_env = std::getenv("SHEDDER_NORM_WARP");  // "0": the block-per-row kernels only (comparisons)
  const bool warp = !(warp_env && warp_env[0] == '0');
  if (vec16 && (a.xt == kBF16 ? gated_norm_vec<__nv_bfloat16>(a, grid, st) : gated_norm_vec<__half>(a, grid, st))) {
    // done
  } else if (warp && rms_norm_warp(a, st)) {
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
