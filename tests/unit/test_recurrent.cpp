// Recurrent step mode (conv state, SSM state, attention K/V): token-by-token and chunked continuation from a state
// give the logits of the full-sequence pass, for every architecture (one parametrised check: Mamba-1, Mamba-2,
// Zamba2, Hymba), with and without removals of every granularity the model has, and for exported checkpoints whose
// removed weights were dropped; state misuse is refused.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>

#include <cstdlib>
#include <string>
#include <vector>

#include "export/exporter.h"
#include "model/mamba_model.h"
#include "model/model.h"
#include "model/removal.h"
#include "support/arch_models.h"
#include "support/expect_error.h"
#include "support/tensor_compare.h"
#include "support/test_support.h"

using namespace shedder;

namespace {

std::string trained(const std::string& m) { return test::test_data_dir() + "/trained_tiny/" + m; }

// Step mode and the full pass run the same fused kernels on the same numbers in the same order; only the
// projections differ: a one-token GEMV against a many-token GEMM, whose BLAS kernels (different per ISA) sum
// the same dot products in another order. That float32 rounding, a few epsilons of the summed terms per
// projection, passes through every layer. Tolerance: 128 float32 epsilons (1.5e-5) of the compared magnitude
// (logits, final states); measured at most 2.6e-6 with the AVX-512, AVX2 and SSE2 kernels (ATen and OpenBLAS at
// the same level), so the bound has a 6x margin.
constexpr double kStepRtol = 128 * test::kF32Eps;
// Zamba2-tiny (transformers' random initialisation) amplifies rounding: a one-token step differs from the full pass
// already at the first position (no cache involved), by up to 7e-4 of logits of magnitude 25 — a GEMV against a
// GEMM, through RMS norms of small vectors and softmax. Measured at most 3.1e-5 (AVX-512), 2.9e-4 (SSE2) relative;
// a lost or stale state moves the logits by 1.0. 4096 epsilons (4.9e-4).
constexpr double kAttentionStepRtol = 4096 * test::kF32Eps;

double step_rtol(const Model& m) { return std::string(m.arch()) == "zamba2" ? kAttentionStepRtol : kStepRtol; }

// Full pass vs (a) one token at a time, (b) chunks of 5, 1 and the rest, from a zero state.
void check_model(const Model& m, const RemovalSet& removed, const std::string& label) {
  at::manual_seed(3);
  const int64_t L = 23;
  const double kStepRtol = step_rtol(m);
  at::Tensor ids = test::random_ids(m, 2, L);
  const PlanPtr plan = m.plan(removed);
  const ForwardPlan& mask = *plan;
  at::Tensor full = m.forward(ids, mask);

  RecurrentState st = m.state(2, mask);
  std::vector<at::Tensor> rows;
  for (int64_t t = 0; t < L; ++t) rows.push_back(m.step(ids.select(1, t), mask, st));
  QCOMPARE(st.position(), L);
  const double d_step = test::rel_err(at::stack(rows, 1), full);
  QVERIFY2(d_step <= kStepRtol, (label + ": step vs full, relative error " + std::to_string(d_step)).c_str());

  RecurrentState st2 = m.state(2, mask);
  std::vector<at::Tensor> parts;
  parts.push_back(m.forward(ids.narrow(1, 0, 5), mask, &st2));
  parts.push_back(m.forward(ids.narrow(1, 5, 1), mask, &st2));
  parts.push_back(m.forward(ids.narrow(1, 6, L - 6), mask, &st2));
  const double d_chunk = test::rel_err(at::cat(parts, 1), full);
  QVERIFY2(d_chunk <= kStepRtol, (label + ": chunked vs full, relative error " + std::to_string(d_chunk)).c_str());

  // Control: continuing from a fresh state instead (the context forgotten) is far off, so the checks above
  // do see a lost or stale state.
  // (Unless the removal left no layer with a state.)
  RecurrentState fresh = m.state(2, mask);
  const double d_lost = test::rel_err(m.forward(ids.narrow(1, 6, L - 6), mask, &fresh), full.narrow(1, 6, L - 6));
  if (st.bytes() > 0)
    QVERIFY2(d_lost > 100 * kStepRtol, (label + ": a forgotten context changes nothing? " + std::to_string(d_lost)).c_str());

  // The state after the whole sequence is the same either way.
  double d_state = 0;
  for (size_t l = 0; l < st.layers.size(); ++l) {
    const LayerState &a = st.layers[l], &b = st2.layers[l];
    for (auto [x, y] : {std::pair{&a.conv, &b.conv}, {&a.ssm, &b.ssm}, {&a.k, &b.k}, {&a.v, &b.v}}) {
      QCOMPARE(x->defined(), y->defined());
      if (x->defined()) d_state = std::max(d_state, test::rel_err(*y, *x));
    }
  }
  QVERIFY2(d_state <= kStepRtol, (label + ": final states differ, relative error " + std::to_string(d_state)).c_str());
  if (std::getenv("SHEDDER_TEST_VERBOSE"))
    qInfo("%s: relative errors: step %.2e, chunked %.2e, states %.2e; lost state %.2e", label.c_str(), d_step, d_chunk,
          d_state, d_lost);
}

}  // namespace

class TestRecurrent : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { at::set_num_threads(2); }

  // Every architecture, with one removal set per granularity it has and a mixed one.
  void step_equals_full_data() { test::add_arch_rows(); }
  void step_equals_full() {
    QFETCH(QString, arch);
    auto m = Model::load(test::arch_model(arch.toStdString()));
    check_model(*m, {}, arch.toStdString() + ", no removal");
    for (const auto& [label, r] : test::removals_for(*m)) check_model(*m, r, arch.toStdString() + ", " + label);
  }

  // The transformers fixtures cover biases, conv kernel 3, an untied head and Mamba-2 groups.
  void fixture_models_step_equals_full() {
    SHEDDER_REQUIRE_FIXTURES();
    for (const char* name : {"mamba1-tiny", "mamba1-tiny-untied", "mamba2-tiny"}) {
      auto m = MambaModel::load(test::fixtures_dir() + "/hf-tiny/" + name);
      check_model(*m, {}, name);
      for (const auto& [label, r] : test::removals_for(*m)) check_model(*m, r, std::string(name) + ", " + label);
    }
  }

  // Exported checkpoints (removed weights dropped: layers without SSM, heads and channels cut out) continue their
  // states as the full pass does.
  void exported_models_step_equals_full_data() { test::add_arch_rows(); }
  void exported_models_step_equals_full() {
    QFETCH(QString, arch);
    auto m = Model::load(test::arch_model(arch.toStdString()));
    const auto sets = test::removals_for(*m);
    ExportOptions o;
    o.out_dir = test::make_temp_dir("recurrent-export") + "/pruned";
    export_pruned(*m, sets.back().second, o);  // the mixed set
    check_model(*Model::load(o.out_dir), {}, arch.toStdString() + " exported");
  }

  // A Mamba layer whose SSM weights an export dropped keeps a conv state over the inner channels only.
  void exported_without_ssm_weights_has_no_ssm_state() {
    auto m = MambaModel::load(trained("mamba1"));
    RemovalSet r;
    r.add(Granularity::Ssm, 2);
    r.add(Granularity::Block, 5);
    ExportOptions o;
    o.out_dir = test::make_temp_dir("recurrent-export") + "/pruned";
    export_pruned(*m, r, o);
    auto e = MambaModel::load(o.out_dir);
    QVERIFY(!e->layer_weights()[2].has_ssm);
    RecurrentState s = e->state(1, *e->plan({}));
    QVERIFY(!s.layers[2].ssm.defined());
  }

  // One context state serves several continuations (the batching of choices that share a context).
  void repeated_state_continues_each_row_data() { test::add_arch_rows(); }
  void repeated_state_continues_each_row() {
    QFETCH(QString, arch);
    auto m = Model::load(test::arch_model(arch.toStdString()));
    const PlanPtr p = m->plan({});
    at::Tensor ctx = test::random_ids(*m, 1, 9);
    at::Tensor conts = test::random_ids(*m, 3, 4);
    RecurrentState s = m->state(1, *p);
    m->forward(ctx, *p, &s);
    RecurrentState r = s.repeat(3);
    QCOMPARE(r.batch(), int64_t(3));
    QCOMPARE(r.position(), int64_t(9));
    at::Tensor got = m->forward(conts, *p, &r);
    at::Tensor full = m->forward(at::cat({ctx.expand({3, 9}), conts}, 1)).narrow(1, 9, 4);
    SHEDDER_VERIFY_REL(got, full, step_rtol(*m), "continuations of a repeated state");
    QVERIFY(s.bytes() > 0);
  }

  void misuse_is_refused() {
    auto m = MambaModel::load(trained("mamba1"));
    const PlanPtr none = m->plan({});
    RecurrentState s = m->state(2, *none);
    test::expect_error([&] { m->step(at::zeros({3}, at::kLong), *none, s); }, {"holds 2 sequences"});
    m->step(at::zeros({2}, at::kLong), *none, s);
    RemovalSet r0;
    r0.add(Granularity::Block, 0);
    test::expect_error([&] { m->step(at::zeros({2}, at::kLong), *m->plan(r0), s); }, {"another removal set"});
    // A state made for a removal set holds nothing for removed blocks and no SSM state for removed SSMs.
    RemovalSet rs;
    rs.add(Granularity::Block, 1);
    rs.add(Granularity::Ssm, 2);
    const PlanPtr mk = m->plan(rs);
    RecurrentState masked = m->state(1, *mk);
    QVERIFY(!masked.layers[1].conv.defined() && !masked.layers[1].ssm.defined());
    QVERIFY(masked.layers[2].conv.defined() && !masked.layers[2].ssm.defined());
    QVERIFY(masked.bytes() < m->state(1, *none).bytes());
    RecurrentState full = m->state(1, *none);
    test::expect_error([&] { m->step(at::zeros({1}, at::kLong), *mk, full); }, {"another removal set"});
    test::expect_error([&] { m->state(0, *none); }, {"batch"});
  }
};

QTEST_APPLESS_MAIN(TestRecurrent)
#include "test_recurrent.moc"
