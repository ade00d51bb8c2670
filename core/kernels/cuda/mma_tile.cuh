// 16x16x16 tensor-core tiles on mma.sync.m16n8k16 with ldmatrix operand loads (float16 / bfloat16 operands,
// float32 accumulation; compute capability 8.0+), for the chunked SSD kernels (ssd_chunked.cu). They replace
// nvcuda::wmma there: on sm_90, nvcc compiled wmma's fragment loads from shared memory into generic 32-bit loads
// plus register transposes (MOVM) for the transposed operands, 4-8 instructions per fragment where ldmatrix takes
// one, and wmma's accumulator layout is opaque, which forced every state rounding through a scratch tile. Here the
// layouts are the PTX ISA's, so accumulators can be read and written in place.
//
// Layouts (lane l, g = l / 4, t = l % 4):
//   TileA  16x16 (rows m, columns k): r[0] (m g, k 2t..2t+1), r[1] (m g+8, k 2t..), r[2] (m g, k 2t+8..),
//          r[3] (m g+8, k 2t+8..), two 16-bit values per register, lower k in the low half.
//   TileB  16x16 (rows k, columns n): r[0] (k 2t..2t+1, n g), r[1] (k 2t+8.., n g), r[2] and r[3] the same for
//          columns 8 + g.
//   TileC  16x16 float: x[4h + 0..1] (row g, columns 8h + 2t, 8h + 2t + 1), x[4h + 2..3] (row g + 8, same columns).
// Every ldmatrix row address must be 16-byte aligned: leading dimensions multiples of 8 values, tiles at multiples
// of 8 values.

#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace shedder::cuda::mma {

struct TileA { unsigned r[4]; };
struct TileB { unsigned r[4]; };
struct TileC { float x[8]; };

__device__ __forceinline__ unsigned smem_addr(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void ldsm_x4(unsigned (&r)[4], const void* row) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(row)));
#endif
}
__device__ __forceinline__ void ldsm_x4_trans(unsigned (&r)[4], const void* row) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(row)));
#endif
}

// In every loader lane l gives the address of row l % 8 of 8x8 matrix l / 8, whose registers land in r[l / 8].

// A with element (m, k) at p[m * ld + k] (row-major): matrix j holds m 8 (j % 2).., k 8 (j / 2)...
template <typename T>
__device__ __forceinline__ void load_a(TileA& a, const T* p, int ld) {
  const int l = threadIdx.x % 32;
  ldsm_x4(a.r, p + (l % 16) * ld + (l / 16) * 8);
}
// A with element (m, k) at p[k * ld + m] (column-major: stored as rows k).
template <typename T>
__device__ __forceinline__ void load_a_colmajor(TileA& a, const T* p, int ld) {
  const int l = threadIdx.x % 32, j = l / 8;
  ldsm_x4_trans(a.r, p + ((j / 2) * 8 + l % 8) * ld + (j % 2) * 8);
}
// B with element (k, n) at p[k * ld + n] (row-major): matrix j holds k 8 (j % 2).., n 8 (j / 2)...
template <typename T>
__device__ __forceinline__ void load_b(TileB& b, const T* p, int ld) {
  const int l = threadIdx.x % 32;
  ldsm_x4_trans(b.r, p + (l % 16) * ld + (l / 16) * 8);
}
// B with element (k, n) at p[n * ld + k] (column-major: stored as rows n).
template <typename T>
__device__ __forceinline__ void load_b_colmajor(TileB& b, const T* p, int ld) {
  const int l = threadIdx.x % 32, j = l / 8;
  ldsm_x4(b.r, p + ((j / 2) * 8 + l % 8) * ld + (j % 2) * 8);
}

template <typename T> struct MmaOp;
template <> struct MmaOp<__nv_bfloat16> {
  __device__ __forceinline__ static void run(float& d0, float& d1, float& d2, float& d3, const unsigned (&a)[4],
                                             unsigned b0, unsigned b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
  }
};
template <> struct MmaOp<__half> {
  __device__ __forceinline__ static void run(float& d0, float& d1, float& d2, float& d3, const unsigned (&a)[4],
                                             unsigned b0, unsigned b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
  }
};

// c += a b (16x16x16: two m16n8k16 products).
template <typename T>
__device__ __forceinline__ void mma(TileC& c, const TileA& a, const TileB& b) {
  MmaOp<T>::run(c.x[0], c.x[1], c.x[2], c.x[3], a.r, b.r[0], b.r[1]);
  MmaOp<T>::run(c.x[4], c.x[5], c.x[6], c.x[7], a.r, b.r[2], b.r[3]);
}

__device__ __forceinline__ void fill(TileC& c, float v) {
#pragma unroll
  for (int e = 0; e < 8; ++e) c.x[e] = v;
}

// Element e of c: its row and column within the tile.
__device__ __forceinline__ int c_row(int e) { return (threadIdx.x % 32) / 4 + ((e & 2) ? 8 : 0); }
__device__ __forceinline__ int c_col(int e) { return (e / 4) * 8 + 2 * (threadIdx.x % 4) + (e & 1); }

// c to p[row * ld + col] (row-major; any memory space; ld even), two floats per store.
__device__ __forceinline__ void store_c(float* p, const TileC& c, int ld) {
#pragma unroll
  for (int e = 0; e < 8; e += 2)
    *reinterpret_cast<float2*>(p + c_row(e) * ld + c_col(e)) = make_float2(c.x[e], c.x[e + 1]);
}
// c from / to p[col * ld + row] (column-major).
__device__ __forceinline__ void load_c_colmajor(TileC& c, const float* p, int ld) {
#pragma unroll
  for (int e = 0; e < 8; ++e) c.x[e] = p[c_col(e) * ld + c_row(e)];
}
__device__ __forceinline__ void store_c_colmajor(float* p, const TileC& c, int ld) {
#pragma unroll
  for (int e = 0; e < 8; ++e) p[c_col(e) * ld + c_row(e)] = c.x[e];
}

}  // namespace shedder::cuda::mma
