// SIMD math shared by the fused CPU kernels: 16-lane float vectors and one-register vectors of any width
// (GCC/Clang vector extensions), and branch-free exp / silu / softplus that vectorise on every ISA.
// Header-only and force-inlined so each multi-versioned caller compiles them for its own instruction set.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

// Helpers are force-inlined so each multi-versioned caller compiles them for its own instruction set.
#define SHEDDER_INLINE inline __attribute__((always_inline))

namespace shedder::kernels::simd {

// Same-size reinterpretation (works for scalars and the vector types below alike).
template <typename To, typename From>
SHEDDER_INLINE To bits(const From& v) {
  static_assert(sizeof(To) == sizeof(From), "bits: size mismatch");
  To out;
  std::memcpy(&out, &v, sizeof(out));
  return out;
}

// exp(x) for x already clamped to [-87, 88], on floats or float vectors F with matching int type I:
// round x*log2(e) with the 1.5*2^23 trick (no floor() call, so it vectorises on every ISA; the integer
// also sits in the low mantissa bits of `t`), Cephes' degree-6 polynomial on the remainder, and the
// power of two built in the exponent bits. Relative error ~2e-7.
template <typename F, typename I>
SHEDDER_INLINE F exp_clamped(F x) {
  const F t = x * 1.44269504088896341f + 12582912.0f;
  const F fx = t - 12582912.0f;
  const I e = (bits<I>(t) - 0x4B400000 + 127) << 23;
  const F r = x - fx * 0.693359375f + fx * 2.12194440e-4f;
  F y = r * 1.9875691500e-4f + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  return y * bits<F>(e);
}

// exp(x) for float, branch-free; inputs are clamped to [-87, 88] (so exp of a very negative number is
// ~1e-38 instead of 0, which is harmless here).
SHEDDER_INLINE float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  return exp_clamped<float, int32_t>(x);
}

SHEDDER_INLINE float silu(float v) { return v / (1.0f + fast_exp(-v)); }

// torch.nn.functional.softplus with beta=1, threshold=20.
SHEDDER_INLINE float softplus(float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); }

// 16-lane vectors (GCC/Clang vector extensions): lowered to AVX-512, AVX2 or SSE per multi-versioned clone.
typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
constexpr int kVec = 16;

SHEDDER_INLINE vf vload(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
SHEDDER_INLINE void vstore(float* p, vf v) { std::memcpy(p, &v, sizeof(v)); }
SHEDDER_INLINE vf vsplat(float x) { return vf{} + x; }
// select / max / min / exp / silu / softplus on float vectors F of any width with matching int vectors I: the 16-lane
// vf (above; its named forms follow) and Lanes<W> vectors of exactly one register of the level they are compiled for (vf is two AVX2
// registers, and GCC keeps such vectors in memory in loops that need many of them).
template <int W>
struct Lanes {
  typedef float F __attribute__((vector_size(sizeof(float) * W)));
  typedef int32_t I __attribute__((vector_size(sizeof(int32_t) * W)));
};

template <typename F>
SHEDDER_INLINE F wload(const float* p) {
  F v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <typename F>
SHEDDER_INLINE void wstore(float* p, F v) { std::memcpy(p, &v, sizeof(v)); }
template <typename F>
SHEDDER_INLINE F wsplat(float x) { return F{} + x; }
template <typename F, typename I>
SHEDDER_INLINE F wselect(I mask, F a, F b) {  // mask ? a : b
  return bits<F>((bits<I>(a) & mask) | (bits<I>(b) & ~mask));
}
template <typename F, typename I>
SHEDDER_INLINE F wmax(F a, F b) { return wselect<F, I>(a > b, a, b); }
template <typename F, typename I>
SHEDDER_INLINE F wmin(F a, F b) { return wselect<F, I>(a < b, a, b); }
template <typename F, typename I>
SHEDDER_INLINE F wexp(F x) {
  return exp_clamped<F, I>(wmin<F, I>(wmax<F, I>(x, wsplat<F>(-87.0f)), wsplat<F>(88.0f)));
}
template <typename F, typename I>
SHEDDER_INLINE F wsilu(F v) { return v / (1.0f + wexp<F, I>(-v)); }
template <typename F, typename I>
SHEDDER_INLINE F wsoftplus(F v) {  // see vsoftplus
  const F u = wexp<F, I>(-wmax<F, I>(v, -v));
  const F s = u / (2.0f + u);
  const F s2 = s * s;
  F p = wsplat<F>(2.0f / 15.0f);
  p = p * s2 + 2.0f / 13.0f;
  p = p * s2 + 2.0f / 11.0f;
  p = p * s2 + 2.0f / 9.0f;
  p = p * s2 + 2.0f / 7.0f;
  p = p * s2 + 2.0f / 5.0f;
  p = p * s2 + 2.0f / 3.0f;
  p = p * s2 + 2.0f;
  const F sp = wmax<F, I>(v, wsplat<F>(0.0f)) + s * p;
  return wselect<F, I>(v > 20.0f, v, sp);
}

// The 16-lane forms the kernels use (vf, vi).
SHEDDER_INLINE vf vselect(vi mask, vf a, vf b) { return wselect<vf, vi>(mask, a, b); }  // mask ? a : b
SHEDDER_INLINE vf vmax(vf a, vf b) { return wmax<vf, vi>(a, b); }
SHEDDER_INLINE vf vmin(vf a, vf b) { return wmin<vf, vi>(a, b); }
// Vector version of fast_exp (same algorithm and accuracy).
SHEDDER_INLINE vf vexp(vf x) { return wexp<vf, vi>(x); }
SHEDDER_INLINE vf vsilu(vf v) { return wsilu<vf, vi>(v); }
// softplus(v) = max(v, 0) + log1p(exp(-|v|)), log1p(u) = 2 atanh(u / (2 + u)) by its odd series
// (u in (0, 1] so s <= 1/3: truncation error < 1e-8). Matches torch's threshold-20 form in float32.
SHEDDER_INLINE vf vsoftplus(vf v) { return wsoftplus<vf, vi>(v); }

}  // namespace shedder::kernels::simd
