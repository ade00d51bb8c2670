// The shedding engine: removal masks against hand-computed formulas, removal sets and the reference
// tool's pruning_config.json, the search with and without prefix caching, stop rules, the journal
// (resume, foreign journal, torn line) and cancellation.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>

#include <atomic>
#include <chrono>
#include <limits>
#include <optional>
#include <filesystem>
#include <fstream>
#include <thread>

#include "eval/perplexity.h"
#include "export/exporter.h"
#include "io/safetensors.h"
#include "model/component_tree.h"
#include "model/mamba_model.h"
#include "shed/journal.h"
#include "shed/search.h"
#include "support/expect_error.h"
#include "support/tensor_compare.h"
#include "support/test_support.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace shedder;

namespace {

std::string trained(const std::string& m) { return test::test_data_dir() + "/trained_tiny/" + m; }
at::Tensor calib() {
  return SafetensorsFile::open(test::test_data_dir() + "/trained_tiny/calib.safetensors")->tensor("windows").clone();
}

using test::expect_error;

at::Tensor ref_silu(const at::Tensor& x) { return x * at::sigmoid(x); }

// The formula tests compute the same float32 expressions as the model with plain ATen ops (at::conv1d, unfused
// norms) in another summation order: a few roundings of the summed terms per op, a handful of ops deep. 64
// float32 epsilons (7.6e-6) of the compared magnitude.
constexpr double kFormulaRtol = 64 * test::kF32Eps;

// Removing every block of the model at `dir` leaves lm_head(norm_f(embeddings)).
void check_all_blocks_removed(const std::string& dir) {
  auto m = MambaModel::load(dir);
  auto w = SafetensorsFile::open(dir + "/model.safetensors");
  at::Tensor ids = at::randint(0, std::min<int64_t>(300, m->config().vocab_size), {2, 9}, at::kLong);
  RemovalSet all;
  for (int64_t l = 0; l < m->num_layers(); ++l) all.add(Granularity::Block, l);
  at::Tensor E = w->tensor("backbone.embeddings.weight");
  at::Tensor head = w->contains("lm_head.weight") ? w->tensor("lm_head.weight") : E;
  at::Tensor x = E.index_select(0, ids.view(-1)).view({2, 9, -1});
  at::Tensor n = x * at::rsqrt(x.pow(2).mean(-1, true) + m->config().layer_norm_epsilon) *
                 w->tensor("backbone.norm_f.weight");
  SHEDDER_VERIFY_REL(m->forward(ids, all), at::matmul(n, head.t()), kFormulaRtol, dir);
}

void same_steps(const SearchResult& a, const SearchResult& b) {
  QCOMPARE(a.steps.size(), b.steps.size());
  for (size_t i = 0; i < a.steps.size(); ++i) {
    QCOMPARE(a.steps[i].index, b.steps[i].index);
    QCOMPARE(a.steps[i].candidates.size(), b.steps[i].candidates.size());
    for (size_t k = 0; k < a.steps[i].candidates.size(); ++k)
      QCOMPARE(a.steps[i].candidates[k].score, b.steps[i].candidates[k].score);
  }
  QCOMPARE(a.base_ppl, b.base_ppl);
}

}  // namespace

class TestShedding : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { at::set_num_threads(2); }

  // Removing every block leaves lm_head(norm_f(embeddings)) (committed models; the fixtures add an untied head).
  void all_blocks_removed_is_head_of_embeddings() {
    for (const char* name : {"mamba1", "mamba2"}) check_all_blocks_removed(trained(name));
    SHEDDER_REQUIRE_FIXTURES();
    check_all_blocks_removed(test::fixtures_dir() + "/hf-tiny/mamba1-tiny-untied");
  }

  // Mamba-1 SSM removal: y = silu(conv(x)) * silu(z), then out_proj (A_log, D, x_proj, dt_proj unused).
  void mamba1_ssm_removal_formula() {
    const std::string dir = trained("mamba1");
    auto m = MambaModel::load(dir);
    auto w = SafetensorsFile::open(dir + "/model.safetensors");
    auto opt = [&](const std::string& n) { return w->contains(n) ? w->tensor(n) : at::Tensor(); };
    const auto& c = m->config();
    const int64_t D = c.intermediate_size, K = c.conv_kernel, L = 11;
    at::Tensor h = at::randn({2, L, c.hidden_size});
    for (int64_t layer = 0; layer < c.num_layers; ++layer) {
      const std::string p = "backbone.layers." + std::to_string(layer) + ".";
      at::Tensor x = h * at::rsqrt(h.pow(2).mean(-1, true) + c.layer_norm_epsilon) * w->tensor(p + "norm.weight");
      at::Tensor proj = at::linear(x, w->tensor(p + "mixer.in_proj.weight"), opt(p + "mixer.in_proj.bias"));
      at::Tensor xs = proj.narrow(2, 0, D).transpose(1, 2), z = proj.narrow(2, D, D);
      at::Tensor conv = at::conv1d(xs, w->tensor(p + "mixer.conv1d.weight"), opt(p + "mixer.conv1d.bias"), 1, K - 1, 1, D);
      at::Tensor xc = ref_silu(conv.narrow(2, 0, L)).transpose(1, 2);
      at::Tensor out = at::linear(xc * ref_silu(z), w->tensor(p + "mixer.out_proj.weight"), opt(p + "mixer.out_proj.bias"));
      SHEDDER_VERIFY_REL(m->block(layer, h, /*skip_ssm=*/true) - h, out, kFormulaRtol, "layer " + std::to_string(layer));
    }
  }

  // Mamba-2 SSM removal: y = the conv-activated x part of xBC, then the gated RMSNorm and out_proj.
  void mamba2_ssm_removal_formula() {
    const std::string dir = trained("mamba2");
    auto m = MambaModel::load(dir);
    auto w = SafetensorsFile::open(dir + "/model.safetensors");
    auto opt = [&](const std::string& n) { return w->contains(n) ? w->tensor(n) : at::Tensor(); };
    const auto& c = m->config();
    const int64_t D = c.intermediate_size, K = c.conv_kernel, L = 13, C = c.conv_dim();
    at::Tensor h = at::randn({1, L, c.hidden_size});
    for (int64_t layer = 0; layer < c.num_layers; ++layer) {
      const std::string p = "backbone.layers." + std::to_string(layer) + ".";
      at::Tensor x = h * at::rsqrt(h.pow(2).mean(-1, true) + c.layer_norm_epsilon) * w->tensor(p + "norm.weight");
      at::Tensor proj = at::linear(x, w->tensor(p + "mixer.in_proj.weight"), opt(p + "mixer.in_proj.bias"));
      at::Tensor z = proj.narrow(2, 0, D), xBC = proj.narrow(2, D, C).transpose(1, 2);
      at::Tensor conv = at::conv1d(xBC, w->tensor(p + "mixer.conv1d.weight"), opt(p + "mixer.conv1d.bias"), 1, K - 1, 1, C);
      at::Tensor y = ref_silu(conv.narrow(2, 0, L)).transpose(1, 2).narrow(2, 0, D);
      at::Tensor g = y * ref_silu(z);
      g = g * at::rsqrt(g.pow(2).mean(-1, true) + c.layer_norm_epsilon) * w->tensor(p + "mixer.norm.weight");
      at::Tensor out = at::linear(g, w->tensor(p + "mixer.out_proj.weight"), opt(p + "mixer.out_proj.bias"));
      SHEDDER_VERIFY_REL(m->block(layer, h, true) - h, out, kFormulaRtol, "layer " + std::to_string(layer));
    }
  }

  void component_tree() {
    for (const char* name : {"mamba1", "mamba2"}) {
      auto m = MambaModel::load(trained(name));
      const Component root = m->component_tree();
      QCOMPARE(root.children.size(), size_t(8));
      int64_t sum = m->params().embedding + m->params().final_norm + m->params().lm_head;
      for (size_t i = 0; i < root.children.size(); ++i) {
        const Component& blk = root.children[i];
        QCOMPARE(blk.id, "layers." + std::to_string(i));
        QCOMPARE(blk.kind, ComponentKind::Block);
        sum += blk.parameters;
        // The width components, each with its parameters counted by hand (hidden 128, conv 4 with bias, no
        // other bias). Mamba-2 (8 heads x 32 in 2 groups, state 32 in chunks of 4): a head is its z, x and dt rows
        // of in_proj, 32 conv channels with bias, A_log, D, dt_bias, 32 norm channels and 32 out_proj columns; a
        // state chunk is 4 B and 4 C rows in each group and their conv channels. Mamba-1 (inner 256 in groups of
        // 32, rank 8, state 16 in chunks of 2): a group is 64 in_proj rows, 32 conv channels with bias, 32 x_proj
        // columns, 32 dt_proj rows with bias, 32 A_log rows and D, 32 out_proj columns; a state chunk is 4 x_proj
        // rows and 2 A_log columns. Heads and channel groups belong to the block (the SSM's removal keeps their
        // x/z rows), state chunks to the SSM.
        // Mamba-2 also has head-dimension channel groups (4 positions of each of the 8 heads: 32 channels, each
        // with its z and x rows of in_proj, conv channel with bias, norm channel and out_proj column).
        const bool m2 = std::string(name) == "mamba2";
        const size_t units = m2 ? 16 : 8;
        QCOMPARE(blk.children.size(), units + 1);
        const int64_t unit_params = m2 ? 2 * 32 * 128 + 128 + 32 * 5 + 3 + 32 + 128 * 32
                                       : 64 * 128 + 32 * 5 + 40 * 32 + 32 * 9 + 32 * 17 + 128 * 32;
        const int64_t head_channel_params = 2 * 32 * 128 + 32 * 5 + 32 + 128 * 32;
        for (size_t u = 0; u < units; ++u) {
          const bool head = m2 && u < 8;
          QCOMPARE(blk.children[u].id, blk.id + (head ? ".ssm.heads." : ".mixer.channels.") + std::to_string(u % 8));
          QCOMPARE(blk.children[u].parameters, head || !m2 ? unit_params : head_channel_params);
        }
        const Component& ssm = blk.children[units];
        QCOMPARE(ssm.id, blk.id + ".ssm");
        QVERIFY(ssm.parameters > 0 && ssm.parameters < blk.parameters);
        const int64_t chunk_params = m2 ? 2 * (2 * 4) * 128 + 2 * (2 * 4) * 5 : 4 * 256 + 2 * 256;
        QCOMPARE(ssm.children.size(), size_t(8));
        for (size_t j = 0; j < 8; ++j) {
          QCOMPARE(ssm.children[j].id, ssm.id + ".state." + std::to_string(j));
          QCOMPARE(ssm.children[j].parameters, chunk_params);
        }
      }
      QCOMPARE(sum, root.parameters);
      // Mamba-1 SSM = x_proj + dt_proj (weight, bias) + A_log + D for inner 256, rank 8, state 16.
      if (std::string(name) == "mamba1")
        QCOMPARE(root.children[0].children[8].parameters, int64_t((8 + 32) * 256 + 256 * 8 + 256 + 256 * 16 + 256));
    }
  }

  void removal_specs_and_reference_format() {
    RemovalSet r;
    r.add_spec("block:8,3");
    r.add_spec("ssm:1");
    r.add_spec("layers.2,layers.4.ssm");
    QCOMPARE(r.layers_of(Granularity::Block), (std::vector<int64_t>{8, 3, 2}));
    QCOMPARE(r.layers_of(Granularity::Ssm), (std::vector<int64_t>{1, 4}));
    QCOMPARE(r.ids(), (std::vector<std::string>{"layers.8", "layers.3", "layers.1.ssm", "layers.2", "layers.4.ssm"}));
    expect_error([] { RemovalSet().add_spec("block:x"); }, {"block:x", "not a layer index"});
    expect_error([] { RemovalSet().add_spec("heads:1"); }, {"heads:1"});
    expect_error([&] { MambaModel::load(trained("mamba1"))->plan(r, "cfg.json"); }, {"cfg.json", "layers.8", "0..7"});

    const std::string dir = test::make_temp_dir("refcfg");
    test::write_file(dir + "/a.json", R"({"pruned_mamba_block_idx": [63, 54, 42]})");
    test::write_file(dir + "/b.json", R"({"pruned_ssm_idx": [5]})");
    test::write_file(dir + "/c.json", R"({"something": [1]})");
    test::write_file(dir + "/d.json", R"({"pruned_ssm_idx": [1, "x"]})");
    QCOMPARE(RemovalSet::from_file(dir + "/a.json").layers_of(Granularity::Block), (std::vector<int64_t>{63, 54, 42}));
    QCOMPARE(RemovalSet::from_file(dir + "/b.json").layers_of(Granularity::Ssm), (std::vector<int64_t>{5}));
    expect_error([&] { RemovalSet::from_file(dir + "/c.json"); }, {"c.json", "pruned_mamba_block_idx"});
    expect_error([&] { RemovalSet::from_file(dir + "/d.json"); }, {"d.json", "pruned_ssm_idx"});
    expect_error([&] { RemovalSet::from_file(dir + "/missing.json"); }, {"missing.json"});
    RemovalSet s;
    s.add(Granularity::Ssm, 3);
    QCOMPARE(s.to_json().dump(), std::string(R"({"pruned_ssm_idx":[3]})"));
  }

  void parameters_of_a_block_and_its_ssm_count_once() {
    auto m = MambaModel::load(trained("mamba2"));
    RemovalSet r;
    r.add(Granularity::Block, 2);
    const int64_t block = m->removed_parameters(r);
    r.add(Granularity::Ssm, 2);
    QCOMPARE(m->removed_parameters(r), block);
    r.add(Granularity::Ssm, 5);
    QCOMPARE(m->removed_parameters(r), block + m->params().ssm[5]);
  }

  // Prefix caching changes the work, never the numbers: identical picks and scores, bit for bit.
  void prefix_cache_gives_identical_results() {
    auto m = MambaModel::load(trained("mamba2"));
    const at::Tensor w = calib();
    for (Granularity g : {Granularity::Block, Granularity::Ssm}) {
      SearchOptions o;
      o.granularity = g;
      o.steps = 3;
      o.batch = 4;
      o.prefix_cache = false;
      const SearchResult plain = run_search(*m, w, o);
      for (int64_t every : {1, 3}) {
        o.prefix_cache = true;
        o.cache_every = every;
        same_steps(plain, run_search(*m, w, o));
      }
      o.cache_every = 0;
      o.cache_memory_mb = 1;  // a boundary is 8 x 256 x 128 x 4 = 1 MiB: one fits
      same_steps(plain, run_search(*m, w, o));
    }
  }

  // docs/width.md: a layer without any head (Mamba-2) or inner channel (Mamba-1) has no mixer, so it is the block
  // removed — checked against transformers' own block removal (reference_search.json, the block search's first
  // step); a state of zero dimensions is refused, and the state candidates never offer a layer's last chunk.
  void width_extremes() {
    const nlohmann::json ref = nlohmann::json::parse(test::read_file(test::test_data_dir() +
                                                                     "/trained_tiny/reference_search.json"));
    const at::Tensor w = calib();
    for (const char* name : {"mamba1", "mamba2"}) {
      auto m = MambaModel::load(trained(name));
      const bool m2 = std::string(name) == "mamba2";
      const int64_t layer = 3;
      RemovalSet all_units, all_state;
      for (int64_t u = 0; u < 8; ++u)
        all_units.add(ComponentId::layer_of(m2 ? Granularity::SsmHeads : Granularity::MixerChannels, layer, u));
      RemovalSet all_head_channels;  // Mamba-2: every position of the head dimension
      for (int64_t u = 0; u < 8; ++u) all_head_channels.add(ComponentId::layer_of(Granularity::MixerChannels, layer, u));
      RemovalSet block;
      block.add(Granularity::Block, layer);
      QCOMPARE(m->removed_parameters(all_units), m->removed_parameters(block));
      double want = 0;
      for (const auto& c : ref[name]["block"]["steps"][0]["candidates"])
        if (c[0].get<int64_t>() == layer) want = c[1].get<double>();
      const double got = evaluate_perplexity(*m, w, 8, all_units).perplexity;
      QVERIFY2(std::abs(got - want) <= 1e-6 * want, qPrintable(QString("%1: %2 vs %3").arg(name).arg(got).arg(want)));
      if (m2) {
        QCOMPARE(m->removed_parameters(all_head_channels), m->removed_parameters(block));
        const double hc = evaluate_perplexity(*m, w, 8, all_head_channels).perplexity;
        QVERIFY2(std::abs(hc - want) <= 1e-6 * want, qPrintable(QString("head channels: %1 vs %2").arg(hc).arg(want)));
      }
      QVERIFY(m->candidates(Granularity::Block, all_units).size() == 7);  // the layer is gone

      for (int64_t j = 0; j < 7; ++j) all_state.add(ComponentId::layer_of(Granularity::SsmState, layer, j));
      for (const ComponentId& c : m->candidates(Granularity::SsmState, all_state)) QVERIFY(c.layer != layer);
      QCOMPARE(m->candidates(Granularity::SsmState, all_state).size(), size_t(7));
      QVERIFY(std::isfinite(evaluate_perplexity(*m, w, 8, all_state).perplexity));  // one chunk left works
      all_state.add(ComponentId::layer_of(Granularity::SsmState, layer, 7));
      expect_error([&] { m->plan(all_state, "cut.json"); }, {"cut.json", "layer 3", "zero-size state", "layers.3.ssm"});
      RemovalSet past;
      past.add_spec("layers.3.ssm.state.8");
      expect_error([&] { m->plan(past, "x"); }, {"layers.3.ssm.state.8", "0..7"});
    }
  }

  // The reference's width-search mode (--mlp-tail-groups, with --reorder-channels for Mamba-1): one candidate per
  // layer, the least important unit by the L1 norm of its x and z rows of in_proj, computed here from the file.
  void width_search_mode_takes_the_least_important_unit() {
    for (const char* name : {"mamba1", "mamba2"}) {
      const bool m2 = std::string(name) == "mamba2";
      auto st = SafetensorsFile::open(trained(name) + "/model.safetensors");
      LoadOptions lo;
      lo.mlp_tail_groups = true;
      lo.reorder_mlp_channels = true;
      auto plain = Model::load(trained(name)), tail = Model::load(trained(name), lo);
      const Granularity g = m2 ? Granularity::SsmHeads : Granularity::MixerChannels;
      RemovalSet removed;
      for (int step = 0; step < 2; ++step) {
        const std::vector<ComponentId> c = tail->candidates(g, removed);
        QCOMPARE(c.size(), size_t(8));  // one per layer
        for (const ComponentId& id : c) {
          const at::Tensor w = st->tensor("backbone.layers." + std::to_string(id.layer) + ".mixer.in_proj.weight");
          const int64_t D = 256;
          at::Tensor imp = (w.narrow(0, 0, D).abs().sum(1) + w.narrow(0, D, D).abs().sum(1)).to(at::kDouble);
          if (m2) {  // the head with the lowest importance among those left
            imp = imp.reshape({8, 32}).sum(1);
            for (const ComponentId& r : removed.items)
              if (r.layer == id.layer) imp[r.index] = std::numeric_limits<double>::infinity();
            QCOMPARE(id.index, imp.argmin().item<int64_t>());
          } else {  // the last group left: after reordering, the 32 (then next 32) least important channels
            QCOMPARE(id.index, int64_t(7 - step));
            // The reordered layer's channels of that group hold exactly the importances ranked 32 (7 - step) ...
            const at::Tensor want = std::get<0>(imp.sort(0, /*descending=*/true)).narrow(0, 32 * (7 - step), 32);
            const std::string tn = "backbone.layers." + std::to_string(id.layer) + ".mixer.in_proj.weight";
            at::Tensor rw;
            for (const auto& [n, t] : tail->pruned_checkpoint(*tail->plan(RemovalSet())).tensors)
              if (n == tn) rw = t.to(at::kDouble);
            QVERIFY(rw.defined());
            const at::Tensor got =
                rw.narrow(0, 32 * id.index, 32).abs().sum(1) + rw.narrow(0, D + 32 * id.index, 32).abs().sum(1);
            QVERIFY2(at::allclose(got, want.to(at::kDouble), 1e-6, 0),
                     qPrintable(QString("layer %1: %2 vs %3").arg(id.layer).arg(got[0].item<double>()).arg(want[0].item<double>())));
          }
        }
        for (const ComponentId& id : c) removed.add(id);
      }
      // Reordering leaves the function as it was, and the export of what was removed gives the masked logits.
      at::manual_seed(3);
      const at::Tensor ids = at::randint(0, 257, {2, 40}, at::kLong);
      const double diff = test::rel_err(tail->forward(ids), plain->forward(ids));
      QVERIFY2(diff <= 128 * test::kF32Eps, qPrintable(QString::number(diff)));
      ExportOptions o;
      o.out_dir = test::make_temp_dir("tail-export") + "/out";
      export_pruned(*tail, removed, o);
      const double ediff = test::rel_err(Model::load(o.out_dir)->forward(ids), tail->forward(ids, removed));
      QVERIFY2(ediff <= 128 * test::kF32Eps, qPrintable(QString::number(ediff)));
    }
  }

  void candidate_score_is_the_masked_perplexity() {
    auto m = MambaModel::load(trained("mamba1"));
    const at::Tensor w = calib();
    SearchOptions o;
    o.granularity = Granularity::Ssm;
    o.steps = 2;
    o.batch = 2;
    const SearchResult r = run_search(*m, w, o);
    QVERIFY(std::abs(r.base_ppl - evaluate_perplexity(*m, w, 2).perplexity) < 1e-9 * r.base_ppl);
    RemovalSet removed;
    removed.add(Granularity::Ssm, r.steps[0].index);
    for (const auto& c : r.steps[1].candidates) {
      RemovalSet s = removed;
      s.add(Granularity::Ssm, c.index);
      const double ppl = evaluate_perplexity(*m, w, 2, s).perplexity;
      if (c.lower_bound)  // stopped early: a lower bound (early_abandonment_is_exact checks these)
        QVERIFY2(c.score <= ppl * (1 + 1e-9), qPrintable(QString("%1 vs %2").arg(c.score).arg(ppl)));
      else
        QVERIFY2(std::abs(c.score - ppl) < 1e-9 * ppl, qPrintable(QString("%1 vs %2").arg(c.score).arg(ppl)));
    }
    QCOMPARE(r.steps[1].ppl, r.steps[1].score);
    QCOMPARE(r.evaluations, int64_t(8 + 7));
  }

  // Exact early abandonment: the default search takes the exhaustive search's removals; a candidate it completed has
  // the exhaustive perplexity bit for bit; one it stopped early is recorded as a lower bound that is the perplexity
  // of a prefix of the windows (checked against the per-window NLLs of an independent evaluation), above the step's
  // pick; and it ran fewer block passes. The journal keeps the bounds as ppl_at_least and a resumed run agrees.
  void early_abandonment_is_exact() {
    const at::Tensor w = calib();
    int64_t abandoned = 0;
    for (const char* arch : {"mamba1", "mamba2"}) {
      auto m = MambaModel::load(trained(arch));
      for (Granularity g : {Granularity::Block, Granularity::Ssm}) {
        SearchOptions o;
        o.granularity = g;
        o.steps = 4;
        o.batch = 1;  // the bound is checked after every window
        o.exhaustive = true;
        const SearchResult full = run_search(*m, w, o);
        o.exhaustive = false;
        const SearchResult fast = run_search(*m, w, o);
        QCOMPARE(full.abandoned, int64_t(0));
        QCOMPARE(fast.steps.size(), full.steps.size());
        QCOMPARE(fast.evaluations, full.evaluations);
        QVERIFY(fast.layers_run <= full.layers_run);
        QVERIFY(fast.layers_run < full.layers_run || fast.abandoned == 0);
        abandoned += fast.abandoned;
        RemovalSet before;
        for (size_t i = 0; i < full.steps.size(); ++i) {
          const SearchStep &a = fast.steps[i], &b = full.steps[i];
          QCOMPARE(a.id, b.id);
          QCOMPARE(a.ppl, b.ppl);
          QCOMPARE(a.candidates.size(), b.candidates.size());
          for (size_t k = 0; k < a.candidates.size(); ++k) {
            const CandidateScore &c = a.candidates[k], &e = b.candidates[k];
            QCOMPARE(c.id, e.id);
            if (!c.lower_bound) {
              QCOMPARE(c.score, e.score);  // bit for bit
              continue;
            }
            QVERIFY2(c.score > a.ppl, qPrintable(QString::fromStdString(c.id)));
            QVERIFY2(c.score <= e.score, qPrintable(QString::fromStdString(c.id)));
            // The bound is exp(sum of the first j windows' mean NLL / W) for some j < W.
            RemovalSet with = before;
            with.add(ComponentId::parse(c.id));
            const PerplexityResult pr = evaluate_perplexity(*m, w, 1, with);
            double prefix = 0;
            bool matched = false;
            for (size_t j = 0; j + 1 < pr.window_nll.size() && !matched; ++j) {
              prefix += pr.window_nll[j];
              const double v = std::exp(prefix / static_cast<double>(pr.window_nll.size()));
              matched = std::abs(v - c.score) <= 1e-9 * v;
            }
            QVERIFY2(matched, qPrintable(QString("%1: bound %2 is no prefix of the windows").arg(c.id.c_str()).arg(c.score)));
          }
          before.add(ComponentId::parse(b.id));
        }
      }
    }
    QVERIFY2(abandoned > 0, "no candidate was stopped early: the test checks nothing about bounds");

    // The journal records bounds as ppl_at_least; resuming from it takes the same steps.
    auto m = MambaModel::load(trained("mamba1"));
    const std::string dir = test::make_temp_dir("abandon-journal");
    SearchOptions o;
    o.steps = 2;
    o.batch = 1;
    o.journal_path = dir + "/journal.jsonl";
    const SearchResult first = run_search(*m, w, o);
    int bounds = 0;
    for (const auto& rec : Journal::read(o.journal_path).records)
      if (rec["type"] == "step")
        for (const auto& c : rec["candidates"]) {
          QVERIFY(c.contains("ppl") != c.contains("ppl_at_least"));
          bounds += c.contains("ppl_at_least");
        }
    QVERIFY(bounds > 0);
    o.steps = 4;
    o.resume = true;
    const SearchResult resumed = run_search(*m, w, o);
    o.journal_path.clear();
    o.resume = false;
    const SearchResult straight = run_search(*m, w, o);
    QCOMPARE(resumed.resumed_steps, int64_t(2));
    for (size_t i = 0; i < 2; ++i) QCOMPARE(resumed.steps[i].candidates[0].lower_bound, first.steps[i].candidates[0].lower_bound);
    same_steps(straight, resumed);
  }

  // Stacked candidates with early abandonment (the GPU default): groups of candidates evaluated together, the bound
  // applied between groups and after each window. The picks are the exhaustive one-at-a-time search's and the
  // complete perplexities agree to float32 rounding (a stack's larger matrix products may round differently: 3.8e-8
  // relative with OpenBLAS's Haswell kernels, bit for bit with its AVX-512 ones); a bound lies between the pick and
  // the candidate's perplexity; with the cache keeping every other boundary (members resumed from the committed
  // stream) too, for a group of 3 and one of all.
  void stacked_candidates_with_abandonment() {
    const at::Tensor w = calib().narrow(0, 0, 4);
    for (const char* arch : {"mamba1", "mamba2"}) {
      auto m = MambaModel::load(trained(arch));
      SearchOptions o;
      o.granularity = std::string(arch) == "mamba1" ? Granularity::Block : Granularity::SsmHeads;
      o.steps = 2;
      o.batch = 1;
      o.exhaustive = true;
      o.candidate_batch = 1;
      const SearchResult full = run_search(*m, w, o);
      for (const auto& [group, every] : std::vector<std::pair<int64_t, int64_t>>{{3, 1}, {64, 2}}) {
          o.exhaustive = false;
          o.candidate_batch = group;
          o.cache_every = every;
          const SearchResult st = run_search(*m, w, o);
          QCOMPARE(st.steps.size(), full.steps.size());
          QVERIFY(st.candidate_batch > 1);
          for (size_t i = 0; i < full.steps.size(); ++i) {
            const SearchStep &a = st.steps[i], &b = full.steps[i];
            QCOMPARE(a.id, b.id);
            QVERIFY(std::abs(a.ppl - b.ppl) <= 1e-6 * b.ppl);
            for (size_t k = 0; k < a.candidates.size(); ++k) {
              const CandidateScore &c = a.candidates[k], &e = b.candidates[k];
              QCOMPARE(c.id, e.id);
              if (c.lower_bound) {
                QVERIFY2(c.score > a.ppl && c.score <= e.score * (1 + 1e-6), c.id.c_str());
              } else {
                QVERIFY2(std::abs(c.score - e.score) <= 1e-6 * e.score,
                         qPrintable(QString("%1: %2 vs %3 (rel %4)").arg(c.id.c_str()).arg(c.score, 0, 'g', 17).arg(e.score, 0, 'g', 17).arg(std::abs(c.score - e.score) / e.score)));
              }
            }
          }
      }
    }
  }

  void stop_rules() {
    auto m = MambaModel::load(trained("mamba2"));
    const at::Tensor w = calib().narrow(0, 0, 2);
    SearchOptions o;
    o.steps = 8;
    o.batch = 2;
    o.target_params_pct = 20;
    SearchResult r = run_search(*m, w, o);
    QCOMPARE(r.stop_reason, std::string("target-params"));
    QVERIFY(r.steps.back().params_removed_pct >= 20);
    QVERIFY(r.steps.size() < 2 || r.steps[r.steps.size() - 2].params_removed_pct < 20);

    o.target_params_pct = 0;
    o.max_ppl = r.base_ppl * 1.5;
    r = run_search(*m, w, o);
    QCOMPARE(r.stop_reason, std::string("max-ppl"));
    for (const auto& s : r.steps) QVERIFY(s.ppl <= o.max_ppl);

    o.max_ppl = 0;
    o.steps = 20;
    r = run_search(*m, w, o);
    QCOMPARE(r.stop_reason, std::string("no-candidates"));
    QCOMPARE(r.steps.size(), size_t(8));
  }

  void cosine_metric() {
    auto m = MambaModel::load(trained("mamba2"));
    const at::Tensor w = calib();
    for (Granularity g : {Granularity::Block, Granularity::Ssm}) {
      SearchOptions o;
      o.granularity = g;
      o.metric = Metric::Cosine;
      o.steps = 3;
      o.batch = 8;
      const SearchResult r = run_search(*m, w, o);
      QCOMPARE(r.steps.size(), size_t(3));
      for (const auto& s : r.steps) {
        for (const auto& c : s.candidates) {
          QVERIFY(c.score >= -1e-6 && c.score <= 2.0 + 1e-6);
          QVERIFY(s.score <= c.score);
        }
        // The step's perplexity is measured after the removal.
        RemovalSet upto;
        for (const auto& t : r.steps) {
          upto.add(g, t.index);
          if (t.step == s.step) break;
        }
        const double ppl = evaluate_perplexity(*m, w, 8, upto).perplexity;
        QVERIFY(std::abs(ppl - s.ppl) < 1e-9 * ppl);
      }
    }
  }

  void journal_resume_continues_without_redoing_steps() {
    auto m = MambaModel::load(trained("mamba2"));
    const at::Tensor w = calib().narrow(0, 0, 4);
    const std::string dir = test::make_temp_dir("journal");
    SearchOptions o;
    o.granularity = Granularity::Ssm;
    o.batch = 4;
    o.steps = 4;
    const SearchResult straight = run_search(*m, w, o);

    o.journal_path = dir + "/journal.jsonl";
    o.steps = 2;
    run_search(*m, w, o);
    // Without --resume an existing journal is refused.
    o.steps = 4;
    expect_error([&] { run_search(*m, w, o); }, {"journal.jsonl", "already exists", "--resume"});
    o.resume = true;
    const SearchResult resumed = run_search(*m, w, o);
    QCOMPARE(resumed.resumed_steps, int64_t(2));
    QCOMPARE(resumed.evaluations, int64_t(6 + 5));  // only steps 3 and 4 were evaluated
    same_steps(straight, resumed);

    const JournalContents c = Journal::read(o.journal_path);
    int steps = 0;
    for (const auto& rec : c.records) steps += rec["type"] == "step";
    QCOMPARE(steps, 4);
  }

  void journal_from_another_model_or_settings_is_refused() {
    const at::Tensor w = calib().narrow(0, 0, 2);
    const std::string dir = test::make_temp_dir("foreign");
    SearchOptions o;
    o.batch = 2;
    o.steps = 1;
    o.journal_path = dir + "/journal.jsonl";
    run_search(*MambaModel::load(trained("mamba1")), w, o);
    o.resume = true;
    o.steps = 2;
    expect_error([&] { run_search(*MambaModel::load(trained("mamba2")), w, o); },
                 {"journal.jsonl", "another model", "--out"});
    o.granularity = Granularity::Ssm;
    expect_error([&] { run_search(*MambaModel::load(trained("mamba1")), w, o); }, {"journal.jsonl", "granularity"});
    test::write_file(dir + "/notjournal.jsonl", "hello\n");
    o.journal_path = dir + "/notjournal.jsonl";
    expect_error([&] { run_search(*MambaModel::load(trained("mamba1")), w, o); }, {"notjournal.jsonl", "not a search journal"});
  }

  // Model identity is the weights' content: the same folder with one weight byte changed (same config, same
  // file sizes) is another model, and its journal is refused on --resume. The hashes are cached beside the
  // journal, keyed by path, size and modification time.
  void journal_of_changed_weights_is_refused() {
    const at::Tensor w = calib().narrow(0, 0, 2);
    const std::string dir = test::make_temp_dir("identity");
    const std::string model = dir + "/model";
    fs::create_directories(model);
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"})
      fs::copy_file(trained("mamba1") + "/" + f, model + "/" + f);
    SearchOptions o;
    o.batch = 2;
    o.steps = 1;
    o.journal_path = dir + "/journal.jsonl";
    run_search(*MambaModel::load(model), w, o);
    QVERIFY(fs::exists(o.journal_path + ".weights-hash-cache.json"));
    // Flip one byte of the last weight (its data, not the header): same size, same config.
    {
      const std::string path = model + "/model.safetensors";
      std::string bytes = test::read_file(path);
      bytes[bytes.size() - 3] = static_cast<char>(bytes[bytes.size() - 3] ^ 0x01);
      fs::remove(path);
      test::write_file(path, bytes);
    }
    o.resume = true;
    o.steps = 2;
    expect_error([&] { run_search(*MambaModel::load(model), w, o); },
                 {"journal.jsonl", "another model", "weight files differ in content", "--out"});
  }

  // A NaN or infinite candidate score never wins a step, is recorded as invalid (null with the reason) and reads
  // back as such; when every score is invalid nothing can be picked.
  void invalid_scores_never_win() {
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    QCOMPARE(best_candidate({nan, 5.0, 3.0, 4.0}, {0, 0, 0, 0}, Metric::Perplexity), std::optional<size_t>(2));
    QCOMPARE(best_candidate({inf, nan, 7.0}, {0, 0, 0}, Metric::Perplexity), std::optional<size_t>(2));
    QCOMPARE(best_candidate({3.0, 3.0}, {0, 0}, Metric::Perplexity), std::optional<size_t>(0));  // ties: lowest index
    QCOMPARE(best_candidate({nan, 0.5, 0.5}, {0, -2, -1}, Metric::Accuracy), std::optional<size_t>(2));
    QVERIFY(!best_candidate({nan, inf}, {0, 0}, Metric::Perplexity).has_value());
    SearchStep st;
    st.step = 0;
    st.id = "layers.1";
    st.index = 1;
    st.ppl = st.score = 5;
    st.candidates = {{0, "layers.0", nan, 0}, {1, "layers.1", 5.0, 0}, {2, "layers.2", inf, 0}};
    const nlohmann::json j = step_to_json(st, Metric::Perplexity);
    QVERIFY(j["candidates"][0]["ppl"].is_null());
    QCOMPARE(j["candidates"][0]["invalid"].get<std::string>(), std::string("nan"));
    QCOMPARE(j["candidates"][2]["invalid"].get<std::string>(), std::string("inf"));
    const SearchStep back = step_from_json(nlohmann::json::parse(j.dump()), Metric::Perplexity, "journal");
    QVERIFY(std::isnan(back.candidates[0].score));
    QVERIFY(std::isinf(back.candidates[2].score));
    QCOMPARE(back.candidates[1].score, 5.0);
  }

  void cancel_leaves_a_valid_journal_and_resume_finishes() {
    auto m = MambaModel::load(trained("mamba1"));
    const at::Tensor w = calib().narrow(0, 0, 2);
    const std::string dir = test::make_temp_dir("cancel");
    SearchOptions o;
    o.batch = 2;
    o.steps = 3;
    const SearchResult straight = run_search(*m, w, o);

    o.journal_path = dir + "/journal.jsonl";
    CancelToken cancel;
    SearchCallbacks cb;
    int evaluations = 0;
    cb.progress = [&](const Progress& p) {
      if (p.stage.rfind("step", 0) == 0 && ++evaluations == 11) cancel.cancel();  // inside step 2
    };
    bool cancelled = false;
    try {
      run_search(*m, w, o, cb, &cancel);
    } catch (const Cancelled&) {
      cancelled = true;
    }
    QVERIFY(cancelled);
    JournalContents c = Journal::read(o.journal_path);
    int steps = 0;
    for (const auto& rec : c.records) steps += rec["type"] == "step";
    QCOMPARE(steps, 1);

    // A damaged complete line is refused with its line number (never silently cut away).
    {
      const std::string damaged = dir + "/damaged.jsonl";
      std::string text = test::read_file(o.journal_path);
      const size_t first_nl = text.find('\n');
      text.insert(first_nl + 1, "not json\n");
      test::write_file(damaged, text);
      expect_error([&] { Journal::read(damaged); }, {"damaged.jsonl:2", "damaged journal record"});
    }
    // A torn last line (a crash mid-write) is dropped on resume.
    {
      std::ofstream f(o.journal_path, std::ios::app | std::ios::binary);
      f << "{\"type\":\"step\",\"step\":1,\"remo";  // (no raw string: moc miscounts its brace)
    }
    o.resume = true;
    const SearchResult resumed = run_search(*m, w, o);
    QCOMPARE(resumed.resumed_steps, int64_t(1));
    same_steps(straight, resumed);
  }

  // The engine API the GUI uses: a search on a worker thread stops within one window of work of a cancel
  // request from another thread: once the request is made, no further window is evaluated.
  void cancel_from_another_thread_stops_within_a_window() {
    auto m = MambaModel::load(trained("mamba2"));
    const at::Tensor w = calib();
    SearchOptions o;
    o.steps = 8;
    o.batch = 1;
    o.prefix_cache = false;
    CancelToken cancel;
    std::atomic<int64_t> windows{0}, after_cancel{0};
    std::atomic<bool> asked{false}, was_cancelled{false};
    std::thread worker([&] {
      SearchCallbacks cb;
      cb.progress = [&](const Progress& p) {
        if (p.windows_done == 0) return;  // stage reports, not a finished window
        ++windows;
        if (asked) ++after_cancel;  // a window that finished after the request
      };
      try {
        run_search(*m, w, o, cb, &cancel);
      } catch (const Cancelled&) {
        was_cancelled = true;
      }
    });
    while (windows < 5) std::this_thread::yield();
    cancel.cancel();
    asked = true;  // after the request: a window counted from here was running then, or started later
    worker.join();
    QVERIFY(was_cancelled);
    // The window running when the request came may finish; none starts after it.
    QVERIFY2(after_cancel <= 1, qPrintable(QString("%1 windows after the cancel request").arg(after_cancel.load())));
  }

  void pruning_config_files() {
    auto m = MambaModel::load(trained("mamba1"));
    const at::Tensor w = calib().narrow(0, 0, 2);
    SearchOptions o;
    o.batch = 2;
    o.steps = 3;
    o.initial.add(Granularity::Block, 0);
    const SearchResult r = run_search(*m, w, o);
    QCOMPARE(r.removed.layers_of(Granularity::Block).front(), int64_t(0));
    for (const auto& s : r.steps) QVERIFY(s.index != 0);
    const std::string dir = test::make_temp_dir("prune");
    write_pruning_configs(dir, r, Granularity::Block);
    const RemovalSet fin = RemovalSet::from_file(dir + "/pruning_config.json");
    QCOMPARE(fin.layers_of(Granularity::Block), r.removed.layers_of(Granularity::Block));
    const RemovalSet s1 = RemovalSet::from_file(dir + "/pruned_model_configs/config.mamba_block.1.json");
    QCOMPARE(s1.layers_of(Granularity::Block), (std::vector<int64_t>{0, r.steps[0].index, r.steps[1].index}));
    QVERIFY(fs::exists(dir + "/pruned_model_configs/config.mamba_block.2.json"));
  }
};

QTEST_APPLESS_MAIN(TestShedding)
#include "test_shedding.moc"
