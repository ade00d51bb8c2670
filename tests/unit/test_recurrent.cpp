// Recurrent step mode (conv state + SSM state): token-by-token and chunked continuation from a state give
// the logits of the full-sequence pass, for Mamba-1 and Mamba-2, with and without removed blocks/SSMs, and
// for exported checkpoints whose SSM weights were dropped; state misuse is refused.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>

#include <cstdlib>
#include <string>
#include <vector>

#include "export/exporter.h"
#include "model/mamba_model.h"
#include "model/recurrent_state.h"
#include "shed/removal_set.h"
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

// Full pass vs (a) one token at a time, (b) chunks of 5, 1 and the rest, from a zero state.
void check_model(const MambaModel& m, const ModelMask& mask, const std::string& label) {
  at::manual_seed(3);
  const int64_t L = 23;
  at::Tensor ids = at::randint(1, std::min<int64_t>(m.config().vocab_size, 250), {2, L}, at::kLong);
  at::Tensor full = m.forward(ids, mask);

  RecurrentState st = RecurrentState::zeros(m, 2, mask);
  std::vector<at::Tensor> rows;
  for (int64_t t = 0; t < L; ++t) rows.push_back(m.step(ids.select(1, t), mask, st));
  QCOMPARE(st.position(), L);
  const double d_step = test::rel_err(at::stack(rows, 1), full);
  QVERIFY2(d_step <= kStepRtol, (label + ": step vs full, relative error " + std::to_string(d_step)).c_str());

  RecurrentState st2 = RecurrentState::zeros(m, 2, mask);
  std::vector<at::Tensor> parts;
  parts.push_back(m.forward(ids.narrow(1, 0, 5), mask, &st2));
  parts.push_back(m.forward(ids.narrow(1, 5, 1), mask, &st2));
  parts.push_back(m.forward(ids.narrow(1, 6, L - 6), mask, &st2));
  const double d_chunk = test::rel_err(at::cat(parts, 1), full);
  QVERIFY2(d_chunk <= kStepRtol, (label + ": chunked vs full, relative error " + std::to_string(d_chunk)).c_str());

  // Control: continuing from a fresh state instead (the context forgotten) is far off, so the checks above
  // do see a lost or stale state.
  RecurrentState fresh = RecurrentState::zeros(m, 2, mask);
  const double d_lost = test::rel_err(m.forward(ids.narrow(1, 6, L - 6), mask, &fresh), full.narrow(1, 6, L - 6));
  QVERIFY2(d_lost > 1000 * kStepRtol, (label + ": a forgotten context changes nothing? " + std::to_string(d_lost)).c_str());

  // The state after the whole sequence is the same either way.
  double d_state = 0;
  for (size_t l = 0; l < st.layers.size(); ++l) {
    if (st.layers[l].ssm.defined() && st2.layers[l].ssm.defined())
      d_state = std::max(d_state, test::rel_err(st2.layers[l].ssm, st.layers[l].ssm));
    QCOMPARE(st.layers[l].conv.defined(), st2.layers[l].conv.defined());
    if (st.layers[l].conv.defined()) d_state = std::max(d_state, test::rel_err(st2.layers[l].conv, st.layers[l].conv));
  }
  QVERIFY2(d_state <= kStepRtol, (label + ": final states differ, relative error " + std::to_string(d_state)).c_str());
  if (std::getenv("SHEDDER_TEST_VERBOSE"))
    qInfo("%s: relative errors: step %.2e, chunked %.2e, states %.2e; lost state %.2e", label.c_str(), d_step, d_chunk,
          d_state, d_lost);
}

std::vector<std::pair<std::string, ModelMask>> masks(int64_t layers) {
  std::vector<std::pair<std::string, ModelMask>> out;
  out.push_back({"no removal", {}});
  RemovalSet blocks, ssms, both;
  blocks.add(Granularity::Block, 1);
  blocks.add(Granularity::Block, layers - 1);
  ssms.add(Granularity::Ssm, 0);
  ssms.add(Granularity::Ssm, layers / 2);
  both = ssms;
  both.add(Granularity::Block, 1);
  out.push_back({"blocks removed", blocks.to_mask(layers)});
  out.push_back({"SSMs removed", ssms.to_mask(layers)});
  out.push_back({"blocks and SSMs removed", both.to_mask(layers)});
  return out;
}

}  // namespace

class TestRecurrent : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { at::set_num_threads(2); }

  void trained_models_step_equals_full() {
    for (const char* name : {"mamba1", "mamba2"}) {
      auto m = MambaModel::load(trained(name));
      for (const auto& [label, mask] : masks(m->num_layers())) check_model(*m, mask, std::string(name) + ", " + label);
    }
  }

  // The transformers fixtures cover biases, conv kernel 3, an untied head and Mamba-2 groups.
  void fixture_models_step_equals_full() {
    SHEDDER_REQUIRE_FIXTURES();
    for (const char* name : {"mamba1-tiny", "mamba1-tiny-untied", "mamba2-tiny"}) {
      auto m = MambaModel::load(test::fixtures_dir() + "/hf-tiny/" + name);
      for (const auto& [label, mask] : masks(m->num_layers())) check_model(*m, mask, std::string(name) + ", " + label);
    }
  }

  // Layers whose SSM weights an export dropped keep a conv state over the inner channels only.
  void exported_without_ssm_weights() {
    for (const char* name : {"mamba1", "mamba2"}) {
      auto m = MambaModel::load(trained(name));
      RemovalSet r;
      r.add(Granularity::Ssm, 2);
      r.add(Granularity::Block, 5);
      ExportOptions o;
      o.out_dir = test::make_temp_dir("recurrent-export") + "/pruned";
      export_pruned(*m, r, o);
      auto e = MambaModel::load(o.out_dir);
      QVERIFY(!e->layers()[2].has_ssm);
      check_model(*e, {}, std::string(name) + " exported");
      RecurrentState s = RecurrentState::zeros(*e, 1);
      QVERIFY(!s.layers[2].ssm.defined());
    }
  }

  // One context state serves several continuations (the batching of choices that share a context).
  void repeated_state_continues_each_row() {
    auto m = MambaModel::load(trained("mamba2"));
    at::Tensor ctx = at::randint(1, 250, {1, 9}, at::kLong);
    at::Tensor conts = at::randint(1, 250, {3, 4}, at::kLong);
    RecurrentState s = RecurrentState::zeros(*m, 1);
    m->forward(ctx, {}, &s);
    RecurrentState r = s.repeat(3);
    QCOMPARE(r.batch(), int64_t(3));
    QCOMPARE(r.position(), int64_t(9));
    at::Tensor got = m->forward(conts, {}, &r);
    at::Tensor full = m->forward(at::cat({ctx.expand({3, 9}), conts}, 1)).narrow(1, 9, 4);
    SHEDDER_VERIFY_REL(got, full, kStepRtol, "continuations of a repeated state");
    QVERIFY(s.bytes() > 0);
  }

  void misuse_is_refused() {
    auto m = MambaModel::load(trained("mamba1"));
    RecurrentState s = RecurrentState::zeros(*m, 2);
    test::expect_error([&] { m->step(at::zeros({3}, at::kLong), {}, s); }, {"holds 2 sequences"});
    m->step(at::zeros({2}, at::kLong), {}, s);
    const ModelMask other = [&] {
      RemovalSet r;
      r.add(Granularity::Block, 0);
      return r.to_mask(m->num_layers());
    }();
    test::expect_error([&] { m->step(at::zeros({2}, at::kLong), other, s); }, {"another removal mask"});
    // A state made for a mask holds nothing for removed blocks and no SSM state for removed SSMs.
    RemovalSet rs;
    rs.add(Granularity::Block, 1);
    rs.add(Granularity::Ssm, 2);
    const ModelMask mk = rs.to_mask(m->num_layers());
    RecurrentState masked = RecurrentState::zeros(*m, 1, mk);
    QVERIFY(!masked.layers[1].conv.defined() && !masked.layers[1].ssm.defined());
    QVERIFY(masked.layers[2].conv.defined() && !masked.layers[2].ssm.defined());
    QVERIFY(masked.bytes() < RecurrentState::zeros(*m, 1).bytes());
    RecurrentState full = RecurrentState::zeros(*m, 1);
    test::expect_error([&] { m->step(at::zeros({1}, at::kLong), mk, full); }, {"another removal mask"});
    test::expect_error([&] { RecurrentState::zeros(*m, 0); }, {"batch"});
  }
};

QTEST_APPLESS_MAIN(TestRecurrent)
#include "test_recurrent.moc"
