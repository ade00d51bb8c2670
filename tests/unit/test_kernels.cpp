// The fused CPU kernels (core/kernels) against plain, obviously-correct ATen references written here
// (one at:: op per time step, in float64), on random inputs with awkward sizes (channel counts that are
// not a multiple of the 16-lane vectors, tiny and long sequences, batch 1 and 3) and on the row-strided
// narrow() views the model passes them; plus the kernels' input validation.
//
// Tolerance (float32 kernels vs float64 references): |got - ref| <= 1e-5 * (scale + mean(scale)), element-wise:
// relative to the size of the terms float32 sums for that element, with a floor relative to the tensor's typical
// magnitude (never an absolute number). For causal_conv1d and row_nll scale = |ref|. For the two scans scale is
// the same recurrence run on absolute values (sum_n |s_t| |C_t| + |D u| with |s_t| = exp(dt A) |s_{t-1}| +
// |dt B u|, times the gate), i.e. the size of the terms that float32 sums: a relative bound that stays
// meaningful where the sum cancels to ~0.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cpu_kernels.h"
#include "kernels/mixer_ops.h"
#include "support/tensor_compare.h"
#include "util/error.h"

using namespace shedder;

namespace {

constexpr double kRtol = 1e-5;

// Empty when `got` (float32) matches `ref` (float64) within kRtol * (scale + mean(scale)); else a description
// of the worst element.
std::string mismatch(const at::Tensor& got, const at::Tensor& ref, const at::Tensor& scale) {
  if (got.sizes() != ref.sizes()) return "shape differs";
  at::Tensor g = got.to(at::kDouble);
  if (!at::isfinite(g).all().item<bool>()) return "kernel output holds NaN/Inf";
  at::Tensor err = (g - ref).abs();
  at::Tensor excess = err - kRtol * (scale + scale.to(at::kDouble).mean());
  const int64_t worst = excess.reshape(-1).argmax().item<int64_t>();
  if (excess.reshape(-1)[worst].item<double>() <= 0) return {};
  return "element " + std::to_string(worst) + ": got " + std::to_string(g.reshape(-1)[worst].item<double>()) +
         ", reference " + std::to_string(ref.reshape(-1)[worst].item<double>()) + ", |err| " +
         std::to_string(err.reshape(-1)[worst].item<double>()) + ", scale " +
         std::to_string(scale.reshape(-1)[worst].item<double>()) + " (max |err| " +
         std::to_string(err.max().item<double>()) + ")";
}

std::string mismatch(const at::Tensor& got, const at::Tensor& ref) { return mismatch(got, ref, ref.abs()); }

// A [B, L, C] view whose rows are `C` of `C + extra` channels of a wider tensor (starting at channel
// `offset`) holding `values`: last dimension contiguous, the other strides those of the wider tensor,
// like the model's narrow() of its projections. The other channels hold unrelated random values.
at::Tensor row_strided(const at::Tensor& values, int64_t offset, int64_t extra) {
  const int64_t B = values.size(0), L = values.size(1), C = values.size(2);
  at::Tensor wide = at::randn({B, L, C + extra}, at::kFloat);
  wide.narrow(2, offset, C).copy_(values);
  return wide.narrow(2, offset, C);
}

// The kernels' softplus: torch.nn.functional.softplus(x, beta=1, threshold=20), in float64.
at::Tensor softplus_ref(const at::Tensor& x) { return at::where(x > 20.0, x, at::log1p(at::exp(x))); }

at::Tensor silu_ref(const at::Tensor& x) { return x * at::sigmoid(x); }

template <class E>
bool throws_as(const std::function<void()>& fn, std::string* what = nullptr) {
  try {
    fn();
  } catch (const E& e) {
    if (what) *what = e.what();
    return true;
  } catch (...) {
    return false;
  }
  return false;
}

QByteArray label(const std::string& s) { return QByteArray::fromStdString(s); }

}  // namespace

class TestKernels : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    at::manual_seed(20240611);
    at::set_num_threads(1);  // the sweeps: one thread (fast on a busy machine); threads: see below
  }

  // out = conv1d(x^T, w[C,1,K], bias, padding=K-1, groups=C)[..., :L] (+ SiLU), K = 1..4.
  void causal_conv1d_matches_grouped_conv() {
    int cases = 0;
    for (int64_t C : {5, 37, 48})
      for (int64_t K : {1, 2, 3, 4})
        for (int64_t L : {1, 7, 65})
          for (int64_t B : {1, 3})
            for (bool with_bias : {true, false})
              for (bool silu : {false, true})
                for (bool strided : {false, true}) {
                  at::Tensor x = at::randn({B, L, C});
                  at::Tensor w = at::randn({C, 1, K});
                  at::Tensor bias = with_bias ? at::randn({C}) : at::Tensor();
                  at::Tensor xin = strided ? row_strided(x, 3, 11) : x;
                  if (strided && B * L > 1) QVERIFY(!xin.is_contiguous());
                  at::Tensor w_kc = w.reshape({C, K}).t().contiguous();
                  at::Tensor got = kernels::causal_conv1d(xin, w_kc, bias, silu);
                  QVERIFY(got.is_contiguous() && got.scalar_type() == at::kFloat);

                  at::Tensor ref = at::conv1d(x.to(at::kDouble).transpose(1, 2), w.to(at::kDouble),
                                              with_bias ? bias.to(at::kDouble) : at::Tensor(), /*stride=*/1,
                                              /*padding=*/K - 1, /*dilation=*/1, /*groups=*/C)
                                       .narrow(2, 0, L)
                                       .transpose(1, 2);
                  if (silu) ref = silu_ref(ref);
                  const std::string m = mismatch(got, ref);
                  QVERIFY2(m.empty(),
                           label("C=" + std::to_string(C) + " K=" + std::to_string(K) + " L=" + std::to_string(L) +
                                 " B=" + std::to_string(B) + " bias=" + std::to_string(with_bias) +
                                 " silu=" + std::to_string(silu) + " strided=" + std::to_string(strided) + ": " + m)
                               .constData());
                  ++cases;
                }
    qInfo("%d conv cases", cases);
  }

  // Mamba-1: s = exp(dt*A)*s + dt*B*u ; y = s.C + D*u ; y *= silu(z), dt = softplus(dt_raw) (threshold 20).
  void selective_scan_matches_recurrence() {
    int cases = 0;
    for (int64_t D : {5, 37, 48})
      for (int64_t N : {1, 5, 16})
        for (int64_t L : {1, 7, 65})
          for (int64_t B : {1, 3})
            for (bool gate : {true, false}) {
              const bool strided = (D + N + L) % 2 == 0 || B == 3;  // both layouts over the sweep
              at::Tensor u = at::randn({B, L, D});
              // dt_raw spans -30..30: both branches of the threshold-20 softplus, tiny and huge steps.
              at::Tensor dt_raw = at::rand({B, L, D}) * 60.0 - 30.0;
              at::Tensor A_log = at::log(at::arange(1, N + 1, at::kFloat)).repeat({D, 1}) + 0.3 * at::randn({D, N});
              at::Tensor A = -at::exp(A_log);  // [D, N]
              at::Tensor Bm = at::randn({B, L, N}), Cm = at::randn({B, L, N});
              at::Tensor Dv = at::randn({D});
              at::Tensor z = gate ? at::randn({B, L, D}) : at::Tensor();
              // As the model passes them: B and C are narrow()s of x_proj's output [B, L, R + 2N], z of
              // in_proj's output [B, L, 2D].
              at::Tensor Bin = strided ? row_strided(Bm, 4, N + 4) : Bm;
              at::Tensor Cin = strided ? row_strided(Cm, 4 + N, 4 + N) : Cm;
              at::Tensor zin = gate && strided ? row_strided(z, D, D) : z;
              at::Tensor got = kernels::selective_scan(u, dt_raw, A.t().contiguous(), Bin, Cin, Dv, zin);
              QVERIFY(got.is_contiguous() && got.scalar_type() == at::kFloat);

              // Reference, float64, one step at a time.
              auto d = [](const at::Tensor& t) { return t.defined() ? t.to(at::kDouble) : t; };
              at::Tensor ud = d(u), dt = softplus_ref(d(dt_raw)), Ad = d(A), Bd = d(Bm), Cd = d(Cm), Dd = d(Dv),
                         zd = d(z);
              at::Tensor s = at::zeros({B, D, N}, at::kDouble), s_abs = at::zeros({B, D, N}, at::kDouble);
              std::vector<at::Tensor> ys, scales;
              for (int64_t t = 0; t < L; ++t) {
                at::Tensor dt_t = dt.select(1, t), u_t = ud.select(1, t);      // [B, D]
                at::Tensor dA = at::exp(dt_t.unsqueeze(2) * Ad.unsqueeze(0));  // [B, D, N]
                at::Tensor dBu = (dt_t * u_t).unsqueeze(2) * Bd.select(1, t).unsqueeze(1);
                s = dA * s + dBu;
                s_abs = dA * s_abs + dBu.abs();
                at::Tensor C_t = Cd.select(1, t).unsqueeze(1);  // [B, 1, N]
                at::Tensor y = (s * C_t).sum(2) + Dd * u_t;
                at::Tensor sc = (s_abs * C_t.abs()).sum(2) + (Dd * u_t).abs();
                if (gate) {
                  at::Tensor g = silu_ref(zd.select(1, t));
                  y = y * g;
                  sc = sc * g.abs();
                }
                ys.push_back(y);
                scales.push_back(sc);
              }
              const std::string m = mismatch(got, at::stack(ys, 1), at::stack(scales, 1));
              QVERIFY2(m.empty(), label("D=" + std::to_string(D) + " N=" + std::to_string(N) +
                                        " L=" + std::to_string(L) + " B=" + std::to_string(B) + " gate=" +
                                        std::to_string(gate) + " strided=" + std::to_string(strided) + ": " + m)
                                      .constData());
              ++cases;
            }
    qInfo("%d selective_scan cases", cases);
  }

  // Mamba-2: dt = clamp(softplus(dt_raw + dt_bias), lo, hi); S = exp(dt*A)*S + dt * x B^T; y = S C + D x,
  // heads h use group h / (H / G) of B and C.
  void ssd_scan_matches_recurrence() {
    struct Shape {
      int64_t H, P, G;
    };
    const Shape shapes[] = {{1, 37, 1}, {4, 12, 1}, {4, 12, 2}, {6, 5, 2}};  // D = 37, 48, 48, 30
    struct Limits {
      double lo, hi;
    };
    const Limits limits[] = {{0.0, std::numeric_limits<double>::infinity()}, {1e-3, 0.05}, {0.5, 2.0}};
    int cases = 0;
    for (const Shape& sh : shapes)
      for (int64_t N : {1, 5, 16})
        for (int64_t L : {1, 7, 65})
          for (int64_t B : {1, 3})
            for (const Limits& lim : limits) {
              const bool strided = (N + L + B + sh.H) % 2 == 0 || lim.lo > 0.1;
              const int64_t H = sh.H, P = sh.P, G = sh.G, D = H * P, GN = G * N;
              at::Tensor x = at::randn({B, L, D});
              at::Tensor dt_raw = at::rand({B, L, H}) * 60.0 - 30.0;
              at::Tensor dt_bias = at::randn({H});
              at::Tensor A = -at::exp(at::log(at::arange(1, H + 1, at::kFloat)) + 0.3 * at::randn({H}));
              at::Tensor Bm = at::randn({B, L, GN}), Cm = at::randn({B, L, GN});
              at::Tensor Dv = at::randn({H});
              at::Tensor xin = x, dtin = dt_raw, Bin = Bm, Cin = Cm;
              if (strided) {
                // The model's layout: x, B, C are narrow()s of the conv output [B, L, D + 2GN]; dt_raw of
                // in_proj's output [B, L, 2D + 2GN + H] (at its end).
                at::Tensor xBC = at::cat({x, Bm, Cm}, 2);
                xin = xBC.narrow(2, 0, D);
                Bin = xBC.narrow(2, D, GN);
                Cin = xBC.narrow(2, D + GN, GN);
                dtin = row_strided(dt_raw, 2 * D + 2 * GN, 2 * D + 2 * GN);
              }
              at::Tensor got = kernels::ssd_scan(xin, dtin, dt_bias, A, Bin, Cin, Dv, P, G, lim.lo, lim.hi);
              QVERIFY(got.is_contiguous() && got.scalar_type() == at::kFloat);

              auto d = [](const at::Tensor& t) { return t.to(at::kDouble); };
              at::Tensor dt = softplus_ref(d(dt_raw) + d(dt_bias)).clamp(lim.lo, lim.hi);  // [B, L, H]
              at::Tensor xd = d(x).view({B, L, H, P});
              at::Tensor Bh = d(Bm).view({B, L, G, N}).repeat_interleave(H / G, 2);  // [B, L, H, N]
              at::Tensor Ch = d(Cm).view({B, L, G, N}).repeat_interleave(H / G, 2);
              at::Tensor Ad = d(A), Dd = d(Dv).view({1, H, 1});
              at::Tensor S = at::zeros({B, H, P, N}, at::kDouble), S_abs = at::zeros({B, H, P, N}, at::kDouble);
              std::vector<at::Tensor> ys, scales;
              for (int64_t t = 0; t < L; ++t) {
                at::Tensor dt_t = dt.select(1, t);  // [B, H]
                at::Tensor dA = at::exp(dt_t * Ad).view({B, H, 1, 1});
                at::Tensor x_t = xd.select(1, t);  // [B, H, P]
                at::Tensor upd = (dt_t.unsqueeze(2) * x_t).unsqueeze(3) * Bh.select(1, t).unsqueeze(2);
                S = dA * S + upd;
                S_abs = dA * S_abs + upd.abs();
                at::Tensor C_t = Ch.select(1, t).unsqueeze(2);  // [B, H, 1, N]
                ys.push_back(((S * C_t).sum(3) + Dd * x_t).reshape({B, D}));
                scales.push_back(((S_abs * C_t.abs()).sum(3) + (Dd * x_t).abs()).reshape({B, D}));
              }
              const std::string m = mismatch(got, at::stack(ys, 1), at::stack(scales, 1));
              QVERIFY2(m.empty(), label("H=" + std::to_string(H) + " P=" + std::to_string(P) + " G=" +
                                        std::to_string(G) + " N=" + std::to_string(N) + " L=" + std::to_string(L) +
                                        " B=" + std::to_string(B) + " dt in [" + std::to_string(lim.lo) + ", " +
                                        std::to_string(lim.hi) + "] strided=" + std::to_string(strided) + ": " + m)
                                      .constData());
              ++cases;
            }
    qInfo("%d ssd_scan cases", cases);
  }

  // The dt clamp really applies: with hi = 0.05 every step must see dt <= 0.05 (a run with a huge dt_raw
  // differs from the unclamped one, and equals a run whose dt_raw gives exactly 0.05).
  void ssd_scan_clamps_dt() {
    const int64_t B = 1, L = 9, H = 2, P = 3, N = 4;
    at::Tensor x = at::randn({B, L, H * P}), Bm = at::randn({B, L, N}), Cm = at::randn({B, L, N});
    at::Tensor A = -at::ones({H}), Dv = at::zeros({H}), zero_bias = at::zeros({H});
    const double inf = std::numeric_limits<double>::infinity();
    at::Tensor big = at::full({B, L, H}, 25.0f);
    const double hi = 0.05;
    at::Tensor at_hi = at::full({B, L, H}, static_cast<float>(std::log(std::expm1(hi))));  // softplus^-1(0.05)
    at::Tensor clamped = kernels::ssd_scan(x, big, zero_bias, A, Bm, Cm, Dv, P, 1, 0.0, hi);
    at::Tensor exact = kernels::ssd_scan(x, at_hi, zero_bias, A, Bm, Cm, Dv, P, 1, 0.0, inf);
    at::Tensor unclamped = kernels::ssd_scan(x, big, zero_bias, A, Bm, Cm, Dv, P, 1, 0.0, inf);
    QVERIFY(test::rel_err(clamped, exact) <= 64 * test::kF32Eps);
    QVERIFY(test::rel_err(clamped, unclamped) > 1e-3);
    // And the lower limit: a tiny dt_raw with lo = 0.5 behaves like dt = 0.5.
    at::Tensor tiny = at::full({B, L, H}, -25.0f);
    at::Tensor at_lo = at::full({B, L, H}, static_cast<float>(std::log(std::expm1(0.5))));
    QVERIFY(test::rel_err(kernels::ssd_scan(x, tiny, zero_bias, A, Bm, Cm, Dv, P, 1, 0.5, inf),
                          kernels::ssd_scan(x, at_lo, zero_bias, A, Bm, Cm, Dv, P, 1, 0.0, inf)) <= 64 * test::kF32Eps);
  }

  // row_nll = -log_softmax(logits)[r, target[r]], rows with huge/small logits (+-1e4), V % 16 != 0.
  void row_nll_matches_log_softmax() {
    int cases = 0;
    for (int64_t V : {1, 5, 16, 37, 300})
      for (int64_t M : {1, 7, 40})
        for (bool strided : {false, true}) {
          at::Tensor logits = at::randn({M, V}) * 3.0;
          if (M >= 7) {
            logits[0].fill_(-1e4);          // all tiny: uniform
            logits[1][V - 1] = 1e4;         // one huge logit (the last, in the scalar tail)
            logits[2].uniform_(-1e4, 1e4);  // both extremes in one row
            logits[3][0] = -1e4;            // the target's logit is tiny
            logits[4][V / 2] = 1e4;         // the target's logit is huge
            logits[5] += 1e4;               // shifted: large common offset
          }
          at::Tensor targets = at::randint(0, V, {M}, at::kLong);
          if (M >= 7) {
            targets[3] = 0;
            targets[4] = V / 2;
          }
          at::Tensor lin = logits;
          if (strided) {
            at::Tensor wide = at::randn({M, V + 9});
            wide.narrow(1, 5, V).copy_(logits);
            lin = wide.narrow(1, 5, V);
          }
          at::Tensor got = kernels::row_nll(lin, targets);
          QCOMPARE(got.scalar_type(), at::kDouble);
          at::Tensor ref = -at::log_softmax(logits.to(at::kDouble), 1).gather(1, targets.unsqueeze(1)).squeeze(1);
          const std::string m = mismatch(got, ref);
          QVERIFY2(m.empty(), label("V=" + std::to_string(V) + " M=" + std::to_string(M) +
                                    " strided=" + std::to_string(strided) + ": " + m)
                                  .constData());
          ++cases;
        }
    qInfo("%d row_nll cases", cases);
    // int32 targets are accepted; a target outside [0, V) is a shedder::Error naming the id.
    at::Tensor lg = at::randn({3, 10});
    at::Tensor t32 = at::tensor({1, 9, 0}, at::kInt);
    QVERIFY(at::equal(kernels::row_nll(lg, t32), kernels::row_nll(lg, t32.to(at::kLong))));
    std::string what;
    QVERIFY(throws_as<Error>([&] { kernels::row_nll(lg, at::tensor({1, 10, 0}, at::kLong)); }, &what));
    QVERIFY2(what.find("10") != std::string::npos, what.c_str());
    QVERIFY(throws_as<Error>([&] { kernels::row_nll(lg, at::tensor({-1, 0, 0}, at::kLong)); }));
    // ops::row_nll on the CPU: 16-bit logits go to the CPU kernel as float32; the ATen form agrees; bad targets held
    // by the host are the same shedder::Error on either path.
    const at::Tensor lb = lg.to(at::kBFloat16);
    QVERIFY(at::equal(ops::row_nll(lb, t32), kernels::row_nll(lb.to(at::kFloat), t32)));
    QVERIFY(test::rel_err(ops::row_nll(lb, t32, ops::Impl::Aten), ops::row_nll(lb, t32)) <= 1e-6);
    for (ops::Impl impl : {ops::Impl::Auto, ops::Impl::Aten}) {
      std::string bad;
      QVERIFY(throws_as<Error>([&] { ops::row_nll(lb, at::tensor({1, 10, 0}, at::kLong), impl); }, &bad));
      QVERIFY2(bad.find("target id 10 outside the logits") != std::string::npos, bad.c_str());
    }
  }

  // Each output element is computed by exactly one task of the kernels' parallel_for, in a fixed order, so
  // the result must be bitwise the same whatever the thread count (and the per-task state buffers must not
  // leak between the batch rows / channel blocks / heads a thread handles in turn).
  // The ATen formulation of every mixer op (mixer_ops.h, used on devices without our kernels and as the
  // reference of the CUDA kernels) equals the CPU kernels: conv with and without a previous state, both
  // scans with gates, strided inputs and an initial state (which both update in place), the norms.
  void aten_ops_match_cpu_kernels() {
    using ops::Impl;
    auto close = [](const at::Tensor& a, const at::Tensor& b, double tol) { return test::rel_err(a, b) <= tol; };
    const int64_t B = 2, L = 37;
    {  // conv
      const int64_t C = 24, K = 4;
      at::Tensor x = row_strided(at::randn({B, L, C}), 3, 7), w = at::randn({K, C}), b = at::randn({C});
      at::Tensor prev = at::randn({B, K - 1, C});
      for (bool with_prev : {false, true}) {
        at::Tensor p = with_prev ? prev : at::Tensor();
        QVERIFY(close(ops::causal_conv1d(x, w, b, true, p, Impl::Aten), kernels::causal_conv1d(x, w, b, true, p), 1e-5));
      }
    }
    {  // Mamba-1 scan
      const int64_t D = 20, N = 6;
      at::Tensor u = at::randn({B, L, D}), dt = at::randn({B, L, D}) * 3.0;
      at::Tensor A = -at::rand({N, D}) * 2.0 - 0.1;
      at::Tensor BC = at::randn({B, L, 2 * N + 3});
      at::Tensor Bm = BC.narrow(2, 3, N), Cm = BC.narrow(2, 3 + N, N), Dv = at::randn({D});
      at::Tensor z = row_strided(at::randn({B, L, D}), D, D);
      at::Tensor s0 = at::randn({B, D, N});
      at::Tensor s_ref = s0.clone(), s_got = s0.clone();
      at::Tensor ref = kernels::selective_scan(u, dt, A, Bm, Cm, Dv, z, s_ref);
      at::Tensor got = ops::selective_scan(u, dt, A, Bm, Cm, Dv, z, s_got, Impl::Aten);
      QVERIFY2(close(got, ref, 1e-4), "selective_scan: ATen form differs from the CPU kernel");
      QVERIFY2(close(s_got, s_ref, 1e-4), "selective_scan: final states differ");
    }
    for (const int64_t P : {5, 37}) {  // Mamba-2 SSD (37: row blocks of 16 and a tail, with the state in and out)
      const int64_t H = 4, G = 2, N = 8, D = H * P;
      at::Tensor xBC = at::randn({B, L, D + 2 * G * N});
      at::Tensor x = xBC.narrow(2, 0, D), Bm = xBC.narrow(2, D, G * N), Cm = xBC.narrow(2, D + G * N, G * N);
      at::Tensor dt = row_strided(at::randn({B, L, H}) * 3.0, 2, 5), dtb = at::randn({H});
      at::Tensor A = -at::rand({H}) * 2.0 - 0.1, Dv = at::randn({H});
      at::Tensor s0 = at::randn({B, H, P, N});
      at::Tensor s_ref = s0.clone(), s_got = s0.clone();
      at::Tensor ref = kernels::ssd_scan(x, dt, dtb, A, Bm, Cm, Dv, P, G, 1e-3, 5.0, s_ref);
      at::Tensor got = ops::ssd_scan(x, dt, dtb, A, Bm, Cm, Dv, P, G, 1e-3, 5.0, s_got, Impl::Aten);
      QVERIFY2(close(got, ref, 1e-4), "ssd_scan: ATen form differs from the CPU kernel");
      QVERIFY2(close(s_got, s_ref, 1e-4), "ssd_scan: final states differ");
    }
    {  // norms (float32: no rounding, so the ATen forms equal the CPU model's expressions)
      at::Tensor x = at::randn({B, L, 16}), w = at::randn({16}), z = row_strided(at::randn({B, L, 16}), 0, 16);
      QVERIFY(close(ops::rms_norm(x, w, 1e-5, true, Impl::Aten), ops::rms_norm(x, w, 1e-5), 1e-6));
      QVERIFY(close(ops::rms_norm(x, w, 1e-5, false, Impl::Aten), ops::rms_norm(x, w, 1e-5), 1e-6));
      QVERIFY(close(ops::gated_rms_norm(x, z, w, 2, 1e-5, Impl::Aten), ops::gated_rms_norm(x, z, w, 2, 1e-5), 1e-6));
      // bfloat16 weights: the output is bfloat16 and within bfloat16 rounding of the float32 result.
      at::Tensor nb = ops::rms_norm(x, w.to(at::kBFloat16), 1e-5);
      QCOMPARE(nb.scalar_type(), at::kBFloat16);
      QVERIFY(close(nb, ops::rms_norm(x, w, 1e-5), 2e-2));
    }
  }

  void results_do_not_depend_on_thread_count() {
    const int64_t B = 3, L = 33, D = 53, N = 5, H = 4, P = 12, G = 2;
    at::Tensor x = at::randn({B, L, D}), w = at::randn({4, D}), bias = at::randn({D});
    at::Tensor dt = at::rand({B, L, D}) * 60.0 - 30.0, A_nd = -at::rand({N, D}) * 4.0, Dv = at::randn({D});
    at::Tensor BC = at::randn({B, L, 2 * N + 3}), z = at::randn({B, L, 2 * D}).narrow(2, D, D);
    at::Tensor xs = at::randn({B, L, H * P + 2 * G * N}), dth = at::rand({B, L, H}) * 60.0 - 30.0;
    at::Tensor bh = at::randn({H}), Ah = -at::rand({H}) * 4.0, Dh = at::randn({H});
    at::Tensor logits = at::randn({70, 301}), targets = at::randint(0, 301, {70}, at::kLong);
    auto all = [&] {
      return std::vector<at::Tensor>{
          kernels::causal_conv1d(x, w, bias, true),
          kernels::selective_scan(x, dt, A_nd, BC.narrow(2, 3, N), BC.narrow(2, 3 + N, N), Dv, z),
          kernels::ssd_scan(xs.narrow(2, 0, H * P), dth, bh, Ah, xs.narrow(2, H * P, G * N),
                            xs.narrow(2, H * P + G * N, G * N), Dh, P, G, 1e-3, 0.05),
          kernels::row_nll(logits, targets)};
    };
    const std::vector<at::Tensor> one = all();
    at::set_num_threads(4);
    qInfo("intra-op threads: %d", at::get_num_threads());
    const std::vector<at::Tensor> four = all();
    at::set_num_threads(1);
    for (size_t i = 0; i < one.size(); ++i) QVERIFY2(at::equal(one[i], four[i]), label("kernel " + std::to_string(i)));
  }

  // Validation. A tensor that is not float32 (float64, int32, bfloat16), or whose last dimension is not
  // contiguous, is rejected with shedder::Error naming the input (check_float_cpu); shapes that do not fit
  // together are rejected with c10::Error (TORCH_CHECK).
  void kernels_reject_bad_inputs() {
    const int64_t B = 2, L = 5, D = 6, N = 3, H = 2, P = 3;
    at::Tensor x = at::randn({B, L, D}), w = at::randn({4, D}), bias = at::randn({D});
    at::Tensor dt = at::randn({B, L, D}), A_nd = -at::rand({N, D}), Bm = at::randn({B, L, N}),
               Cm = at::randn({B, L, N}), Dv = at::randn({D}), z = at::randn({B, L, D});
    at::Tensor dth = at::randn({B, L, H}), bh = at::randn({H}), Ah = -at::rand({H}), Dh = at::randn({H});
    at::Tensor logits = at::randn({4, 7}), targets = at::zeros({4}, at::kLong);
    const double inf = std::numeric_limits<double>::infinity();

    for (auto bad_type : {at::kDouble, at::kInt, at::kBFloat16}) {
      const QByteArray ty = label(std::string(c10::toString(bad_type)));
      auto bad = [&](const at::Tensor& t) { return t.to(bad_type); };
      std::string what;
      QVERIFY2(throws_as<Error>([&] { kernels::causal_conv1d(bad(x), w, bias, true); }, &what), ty.constData());
      QVERIFY2(what.find("'x'") != std::string::npos && what.find("float32") != std::string::npos, what.c_str());
      QVERIFY2(throws_as<Error>([&] { kernels::causal_conv1d(x, bad(w), bias, true); }), ty.constData());
      QVERIFY2(throws_as<Error>([&] { kernels::causal_conv1d(x, w, bad(bias), true); }), ty.constData());
      QVERIFY2(throws_as<Error>([&] { kernels::selective_scan(bad(x), dt, A_nd, Bm, Cm, Dv, z); }), ty.constData());
      QVERIFY2(throws_as<Error>([&] { kernels::selective_scan(x, bad(dt), A_nd, Bm, Cm, Dv, z); }), ty.constData());
      QVERIFY2(throws_as<Error>([&] { kernels::selective_scan(x, dt, bad(A_nd), Bm, Cm, Dv, z); }), ty.constData());
      QVERIFY2(throws_as<Error>([&] { kernels::selective_scan(x, dt, A_nd, bad(Bm), Cm, Dv, z); }), ty.constData());
      QVERIFY2(throws_as<Error>([&] { kernels::selective_scan(x, dt, A_nd, Bm, bad(Cm), Dv, z); }), ty.constData());
      QVERIFY2(throws_as<Error>([&] { kernels::selective_scan(x, dt, A_nd, Bm, Cm, bad(Dv), z); }), ty.constData());
      QVERIFY2(throws_as<Error>([&] { kernels::selective_scan(x, dt, A_nd, Bm, Cm, Dv, bad(z)); }), ty.constData());
      QVERIFY2(throws_as<Error>([&] { kernels::ssd_scan(bad(x), dth, bh, Ah, Bm, Cm, Dh, P, 1, 0.0, inf); }),
               ty.constData());
      QVERIFY2(throws_as<Error>([&] { kernels::ssd_scan(x, bad(dth), bh, Ah, Bm, Cm, Dh, P, 1, 0.0, inf); }),
               ty.constData());
      QVERIFY2(throws_as<Error>([&] { kernels::ssd_scan(x, dth, bh, Ah, bad(Bm), Cm, Dh, P, 1, 0.0, inf); }),
               ty.constData());
      QVERIFY2(throws_as<Error>([&] { kernels::ssd_scan(x, dth, bh, Ah, Bm, bad(Cm), Dh, P, 1, 0.0, inf); }),
               ty.constData());
      QVERIFY2(throws_as<Error>([&] { kernels::row_nll(bad(logits), targets); }, &what), ty.constData());
      QVERIFY2(what.find("logits") != std::string::npos, what.c_str());
    }
    // Undefined required input, last dimension not contiguous: shedder::Error.
    QVERIFY(throws_as<Error>([&] { kernels::causal_conv1d(at::Tensor(), w, bias, false); }));
    QVERIFY(throws_as<Error>(
        [&] { kernels::causal_conv1d(x.transpose(1, 2).contiguous().transpose(1, 2), w, bias, false); }));
    QVERIFY(throws_as<Error>([&] { kernels::row_nll(logits.t().contiguous().t(), targets); }));

    // Shape mismatches: c10::Error.
    QVERIFY(throws_as<c10::Error>([&] { kernels::causal_conv1d(x, at::randn({4, D + 1}), bias, true); }));
    QVERIFY(throws_as<c10::Error>([&] { kernels::causal_conv1d(x, w, at::randn({D + 1}), true); }));
    QVERIFY(throws_as<c10::Error>([&] { kernels::causal_conv1d(x.select(0, 0), w, bias, true); }));
    QVERIFY(throws_as<c10::Error>([&] { kernels::selective_scan(x, dt, -at::rand({N, D + 1}), Bm, Cm, Dv, z); }));
    QVERIFY(throws_as<c10::Error>([&] { kernels::selective_scan(x, dt, A_nd, at::randn({B, L, N + 1}), Cm, Dv, z); }));
    QVERIFY(throws_as<c10::Error>([&] { kernels::selective_scan(x, dt, A_nd, at::randn({B, L + 1, N}), Cm, Dv, z); }));
    QVERIFY(throws_as<c10::Error>([&] { kernels::selective_scan(x, dt, A_nd, Bm, Cm, Dv, at::randn({B, L, D + 1})); }));
    QVERIFY(throws_as<c10::Error>([&] { kernels::selective_scan(x, at::randn({B, L + 1, D}), A_nd, Bm, Cm, Dv, z); }));
    QVERIFY(throws_as<c10::Error>(
        [&] { kernels::selective_scan(x.transpose(0, 1).contiguous().transpose(0, 1), dt, A_nd, Bm, Cm, Dv, z); }));
    QVERIFY(throws_as<c10::Error>([&] { kernels::ssd_scan(x, dth, bh, Ah, Bm, Cm, Dh, /*head_dim=*/4, 1, 0.0, inf); }));
    QVERIFY(throws_as<c10::Error>([&] {
      kernels::ssd_scan(x, dth, bh, Ah, Bm, at::randn({B, L, N + 1}), Dh, P, 1, 0.0, inf);
    }));
    QVERIFY(throws_as<c10::Error>([&] {
      kernels::ssd_scan(x, dth, bh, Ah, at::randn({B, L, 4}), at::randn({B, L, 4}), Dh, P, 3, 0.0, inf);
    }));
    QVERIFY(throws_as<c10::Error>([&] { kernels::row_nll(logits, at::zeros({5}, at::kLong)); }));
  }
};

QTEST_APPLESS_MAIN(TestKernels)
#include "test_kernels.moc"
