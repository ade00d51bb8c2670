// Generation with the recurrent step mode (greedy decoding equals the argmax rollout of repeated full
// passes; temperature / top-k sampling follows the tempered softmax, is reproducible for a seed and never
// leaves the top k; end-of-text stops), the benchmark's figures (parameter bytes of a masked model, state
// size, positive timings) and the memory tracker.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "eval/benchmark.h"
#include "eval/generation.h"
#include "model/mamba_model.h"
#include "runtime/memory_tracker.h"
#include "model/removal.h"
#include "support/expect_error.h"
#include "support/test_support.h"

using namespace shedder;

namespace {

std::string trained(const std::string& m) { return test::test_data_dir() + "/trained_tiny/" + m; }

std::vector<int32_t> bytes_ids(const std::string& s) {
  std::vector<int32_t> v;
  for (unsigned char c : s) v.push_back(static_cast<int32_t>(c) + 1);
  return v;
}

}  // namespace

class TestGeneration : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { at::set_num_threads(1); }

  void greedy_equals_full_pass_rollout() {
    for (const char* name : {"mamba1", "mamba2"}) {
      auto m = MambaModel::load(trained(name));
      RemovalSet r;
      r.add(Granularity::Block, 2);
      r.add(Granularity::Ssm, 6);
      for (const RemovalSet& mask : {RemovalSet{}, r}) {
        const std::vector<int32_t> prompt = bytes_ids("Q: What do you call a");
        GenerateOptions o;
        o.max_new_tokens = 24;
        const GenerateResult g = generate(*m, prompt, mask, o);
        QCOMPARE(g.tokens.size(), size_t(24));
        QCOMPARE(g.stop_reason, std::string("max-new-tokens"));
        std::vector<int64_t> seq(prompt.begin(), prompt.end());
        for (int i = 0; i < 24; ++i) {
          at::Tensor ids = at::empty({1, static_cast<int64_t>(seq.size())}, at::kLong);
          std::copy(seq.begin(), seq.end(), ids.data_ptr<int64_t>());
          at::Tensor last = m->forward(ids, mask)[0][-1].narrow(0, 0, m->config().vocab_size);
          seq.push_back(last.argmax().item<int64_t>());
          QCOMPARE(static_cast<int64_t>(g.tokens[static_cast<size_t>(i)]), seq.back());
        }
      }
    }
  }

  void sampling_rule() {
    const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f};
    QCOMPARE(pick_token(logits.data(), 5, 0.0, 0, 12345), 1);  // first maximum
    QCOMPARE(pick_token(logits.data(), 5, 1.0, 1, 999), 1);    // top-1 is greedy (ties by lower id)
    std::mt19937_64 rng(7);
    std::vector<int> count(5, 0);
    const int draws = 40000;
    for (int i = 0; i < draws; ++i) ++count[static_cast<size_t>(pick_token(logits.data(), 5, 1.0, 0, rng()))];
    double z = 0;
    for (float l : logits) z += std::exp(l);
    for (size_t k = 0; k < 5; ++k) {
      const double p = std::exp(logits[k]) / z, sd = std::sqrt(p * (1 - p) / draws);
      QVERIFY2(std::abs(count[k] / double(draws) - p) < 5 * sd + 1e-4, ("token " + std::to_string(k)).c_str());
    }
    std::vector<int> topk(5, 0);
    for (int i = 0; i < 4000; ++i) ++topk[static_cast<size_t>(pick_token(logits.data(), 5, 1.0, 2, rng()))];
    QVERIFY(topk[1] > 0 && topk[3] > 0);
    QCOMPARE(topk[0] + topk[2] + topk[4], 0);
    // A high temperature flattens the distribution: the least likely token shows up.
    std::vector<int> hot(5, 0);
    for (int i = 0; i < 4000; ++i) ++hot[static_cast<size_t>(pick_token(logits.data(), 5, 50.0, 0, rng()))];
    QVERIFY(hot[4] > 500);
  }

  void sampling_is_reproducible_and_stops_at_eos() {
    auto m = MambaModel::load(trained("mamba2"));
    GenerateOptions o;
    o.max_new_tokens = 40;
    o.temperature = 1.0;
    o.top_k = 8;
    o.seed = 11;
    const auto a = generate(*m, bytes_ids("The "), {}, o), b = generate(*m, bytes_ids("The "), {}, o);
    QCOMPARE(a.tokens, b.tokens);
    o.seed = 12;
    QVERIFY(generate(*m, bytes_ids("The "), {}, o).tokens != a.tokens);
    // Stop at the first generated occurrence of a token: call it end-of-text.
    o.seed = 11;
    o.eos_id = a.tokens[5];
    const auto c = generate(*m, bytes_ids("The "), {}, o);
    size_t first = 0;
    while (a.tokens[first] != o.eos_id) ++first;
    QCOMPARE(c.tokens.size(), first + 1);
    QCOMPARE(c.stop_reason, std::string("eos"));
    test::expect_error([&] { generate(*m, {}, {}, o); }, {"prompt is empty"});
    o.temperature = -1;
    test::expect_error([&] { generate(*m, bytes_ids("x"), {}, o); }, {"--temperature"});
  }

  void memory_tracker_counts_allocations() {
    memory::install_tracker();
    QVERIFY(memory::tracker_installed());
    const int64_t before = memory::allocated_bytes();
    memory::reset_peak();
    {
      at::Tensor t = at::empty({1 << 20}, at::kFloat);  // 4 MiB
      QVERIFY(memory::allocated_bytes() - before >= (int64_t(4) << 20));
    }
    QVERIFY(memory::peak_bytes() - before >= (int64_t(4) << 20));
    QVERIFY(memory::allocated_bytes() - before < (int64_t(1) << 20));
  }

  void benchmark_figures() {
    auto m = MambaModel::load(trained("mamba1"));
    RemovalSet r;
    r.add(Granularity::Block, 1);
    r.add(Granularity::Block, 4);
    r.add(Granularity::Ssm, 6);
    const RemovalSet mask = r;
    BenchOptions o;
    o.length = 64;
    o.decode_tokens = 8;
    o.repeats = 3;
    const auto res = run_benchmarks(*m, {RemovalSet{}, mask}, o);
    QCOMPARE(res.size(), size_t(2));
    QCOMPARE(res[0].param_bytes, m->total_parameters() * 4);
    QCOMPARE(res[1].param_bytes, (m->total_parameters() - m->removed_parameters(r)) * 4);
    QCOMPARE(res[0].prefill_samples_ms.size(), size_t(3));
    for (const auto& b : res) {
      QVERIFY(b.prefill_tokens_per_s > 0 && b.decode_ms_per_token > 0);
      QVERIFY(b.prefill_peak_bytes > 0 && b.decode_peak_bytes >= b.state_bytes);
      QCOMPARE(b.peak_memory_bytes, b.param_bytes + std::max(b.prefill_peak_bytes, b.decode_peak_bytes));
    }
    // The state shrinks by the removed blocks' conv + SSM states and the removed SSM's state.
    const auto& c = m->config();
    const int64_t conv = (c.conv_kernel - 1) * c.intermediate_size * 4, ssm = c.intermediate_size * c.state_size * 4;
    QCOMPARE(res[0].state_bytes, c.num_layers * (conv + ssm));
    QCOMPARE(res[1].state_bytes, (c.num_layers - 2) * (conv + ssm) - ssm);
    // The prefill peak holds at least the logits of one pass.
    QVERIFY(res[0].prefill_peak_bytes >= o.length * c.padded_vocab * 4);
    const auto j = BenchResult::from_json(res[1].to_json());
    QCOMPARE(j.param_bytes, res[1].param_bytes);
    QCOMPARE(j.decode_ms_per_token, res[1].decode_ms_per_token);
    o.repeats = 0;
    test::expect_error([&] { run_benchmark(*m, {}, o); }, {"--repeats"});
  }
};

QTEST_APPLESS_MAIN(TestGeneration)
#include "test_generation.moc"
