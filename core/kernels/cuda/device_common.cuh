// Shared by the CUDA kernel files (conv.cu, selective_scan.cu, ssd_recurrent.cu, ssd_chunked.cu, rms_norm.cu, nll.cu):
// element access in the activations' dtype, the fast special-function helpers, cp.async and 16-byte packing, and
// the host functions one kernel file calls in another. Device code only besides those declarations; no torch.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/launch.h"

namespace shedder::cuda {

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

__device__ __forceinline__ float fast_log2(float x) {
  float y;
  asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ float fast_rcp(float x) {
  float y;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
constexpr float kLn2 = 0.6931471805599453f;

// The same on the special-function unit (relative error ~1e-6): for the per-element staging of the scans. Branch-free
// and without the denormal range fix-ups of __expf / __logf / __fdividef (a result below 2^-126 flushes to zero),
// which had made softplus 16 instructions and a branch (Nsight Compute: the Mamba-1 scan's staging of dt).
__device__ __forceinline__ float silu_fast(float x) { return x * fast_rcp(1.0f + fast_exp2(-x * kLog2e)); }
__device__ __forceinline__ float softplus_fast(float x) {
  const float e = fast_exp2(x * kLog2e);
  const float l = fast_log2(1.0f + e) * kLn2;
  return x > 20.0f ? x : (x < -15.0f ? e : l);
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

// The 16-bit values of one word W as floats, and back: uint4 holds 8 (the 16-byte loads and stores of the
// tensor-core, norm and NLL kernels), uint2 holds 4 (the norms' 8-byte words). The word is taken by value and split
// with shifts: reading its halves through a T* into the word made nvcc load a word in shared or global memory as
// 8 separate 16-bit loads (and store a packed word as 8 16-bit stores), 4x the shared wavefronts (Nsight Compute,
// tests/benchmarks/gpu/results/ncu-ssd-1.3b-source-59cc9fd.txt).
template <typename T> __device__ __forceinline__ float half_bits_to_f(unsigned bits);  // the low 16 bits
template <> __device__ __forceinline__ float half_bits_to_f<__nv_bfloat16>(unsigned bits) {
  return __uint_as_float(bits << 16);
}
template <> __device__ __forceinline__ float half_bits_to_f<__half>(unsigned bits) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(bits & 0xffffu)));
}
template <typename T> __device__ __forceinline__ unsigned pack_pair(float lo, float hi);  // lo in the low 16 bits
template <> __device__ __forceinline__ unsigned pack_pair<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return reinterpret_cast<const unsigned&>(v);
}
template <> __device__ __forceinline__ unsigned pack_pair<__half>(float lo, float hi) {
  __half2 v = __floats2half2_rn(lo, hi);
  return reinterpret_cast<const unsigned&>(v);
}
__device__ __forceinline__ unsigned word_at(const uint4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}
__device__ __forceinline__ unsigned word_at(const uint2& v, int i) { return i == 0 ? v.x : v.y; }
__device__ __forceinline__ void set_word(uint4& v, int i, unsigned w) {
  (i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w) = w;
}
__device__ __forceinline__ void set_word(uint2& v, int i, unsigned w) { (i == 0 ? v.x : v.y) = w; }

template <typename T, typename W>
__device__ __forceinline__ void unpack_word(const W v, float (&f)[sizeof(W) / sizeof(T)]) {
  static_assert(sizeof(T) == 2, "16-bit values");
#pragma unroll
  for (int i = 0; i < static_cast<int>(sizeof(W) / 4); ++i) {
    const unsigned w = word_at(v, i);
    f[2 * i] = half_bits_to_f<T>(w);
    f[2 * i + 1] = half_bits_to_f<T>(w >> 16);
  }
}
template <typename T, typename W>
__device__ __forceinline__ W pack_word(const float (&f)[sizeof(W) / sizeof(T)]) {
  static_assert(sizeof(T) == 2, "16-bit values");
  W v;
#pragma unroll
  for (int i = 0; i < static_cast<int>(sizeof(W) / 4); ++i) set_word(v, i, pack_pair<T>(f[2 * i], f[2 * i + 1]));
  return v;
}
template <typename T>
__device__ __forceinline__ void unpack8(const uint4 v, float (&f)[8]) { unpack_word<T, uint4>(v, f); }
template <typename T>
__device__ __forceinline__ uint4 pack8(const float (&f)[8]) { return pack_word<T, uint4>(f); }

// Four (two) consecutive values of T as one aligned word: 8 (4) bytes for the 16-bit types, 16 (8) for float32
// (the Mamba-1 scan's word-form staging).
template <typename T> struct Word4 { using type = uint2; };
template <> struct Word4<float> { using type = float4; };
template <typename T> struct Word2 { using type = unsigned; };
template <> struct Word2<float> { using type = float2; };
template <typename T>
__device__ __forceinline__ void unpack4(const typename Word4<T>::type v, float (&f)[4]) { unpack_word<T, uint2>(v, f); }
template <>
__device__ __forceinline__ void unpack4<float>(const float4 v, float (&f)[4]) {
  f[0] = v.x, f[1] = v.y, f[2] = v.z, f[3] = v.w;
}
template <typename T>
__device__ __forceinline__ typename Word4<T>::type pack4(const float (&f)[4]) { return pack_word<T, uint2>(f); }
template <>
__device__ __forceinline__ float4 pack4<float>(const float (&f)[4]) { return make_float4(f[0], f[1], f[2], f[3]); }
template <typename T>
__device__ __forceinline__ void unpack2(const typename Word2<T>::type v, float (&f)[2]) {
  f[0] = half_bits_to_f<T>(v), f[1] = half_bits_to_f<T>(v >> 16);
}
template <>
__device__ __forceinline__ void unpack2<float>(const float2 v, float (&f)[2]) { f[0] = v.x, f[1] = v.y; }

// Host functions shared between the kernel files.
int compute_capability_major(int device);  // device.cu; -1 when the query fails or the device is out of range
// ssd_chunked.cu: the chunked tensor-core SSD for float16/bfloat16 where it applies (false: nothing launched).
bool ssd_chunked_scan(const Scan2Args& a, ElemType t, cudaStream_t st);

}  // namespace shedder::cuda
