// Float comparisons for the tests. Every tolerance is relative to the magnitude compared: the largest
// |got - ref| over the largest |ref|. Different CPUs and BLAS kernels (AVX2 vs AVX-512 GEMM, a 1-row GEMV vs
// a GEMM) round float32 sums differently, by a few units of float32's epsilon times the size of the terms;
// an absolute bound tuned on one machine fails on another, a bound relative to the magnitude does not.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <string>

namespace shedder::test {

// float32's machine epsilon (2^-23); tolerances are written as multiples of it where the arithmetic says how
// many roundings separate the two computations.
constexpr double kF32Eps = 1.1920928955078125e-07;

inline double max_abs(const at::Tensor& t) { return t.numel() ? t.abs().max().item<double>() : 0.0; }

// max |got - ref| / max |ref| (0 when both are all zeros; infinite when only ref is, or on a shape mismatch
// or a non-finite value in got).
inline double rel_err(const at::Tensor& got, const at::Tensor& ref) {
  if (got.sizes() != ref.sizes()) return std::numeric_limits<double>::infinity();
  const at::Tensor g = got.to(at::kDouble), r = ref.to(at::kDouble);
  if (!at::isfinite(g).all().item<bool>()) return std::numeric_limits<double>::infinity();
  const double diff = max_abs(g - r), scale = max_abs(r);
  if (scale == 0) return diff == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  return diff / scale;
}

// |a - b| / max(|a|, |b|) for two scalars (0 when both are 0).
inline double rel_diff(double a, double b) {
  const double scale = std::max(std::abs(a), std::abs(b));
  return scale == 0 ? 0.0 : std::abs(a - b) / scale;
}

inline std::string rel_msg(const std::string& what, double err, double tol) {
  return what + ": relative error " + std::to_string(err) + " > " + std::to_string(tol);
}

}  // namespace shedder::test

// QVERIFY that `got` is within relative error `tol` of `ref` (tensors), naming `what` and the error.
#define SHEDDER_VERIFY_REL(got, ref, tol, what)                                                      \
  do {                                                                                              \
    const double shedder_err_ = shedder::test::rel_err((got), (ref));                               \
    QVERIFY2(shedder_err_ <= (tol), shedder::test::rel_msg((what), shedder_err_, (tol)).c_str());   \
  } while (0)
