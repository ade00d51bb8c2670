// Hymba self-consistency (the comparison with NVIDIA's modeling_hymba.py itself is test_hymba_reference) on a tiny
// random checkpoint written in the Hugging Face layout: causality with meta tokens and sliding windows, sliding window vs global attention, K/V reuse rules,
// removals (the reference's branch semantics) against hand-edited weights, export against the masked model, the
// tree, a search step at every granularity, bad inputs.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>

#include <filesystem>
#include <fstream>

#include "io/safetensors.h"
#include "model/component_tree.h"
#include "eval/perplexity.h"
#include "export/exporter.h"
#include "shed/search.h"
#include "model/hymba_model.h"
#include "support/arch_models.h"
#include "support/expect_error.h"
#include "support/tensor_compare.h"
#include "support/test_support.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace shedder;
using test::expect_error;

namespace {

// Tolerances, relative to the magnitude of the logits compared (tests/unit/support/tensor_compare.h): the same
// arithmetic with other matrix shapes (a shorter sequence, rows cut out by an export, permuted channels) measured
// at most 1e-6 with the AVX-512, AVX2 and SSE2 kernels; a removal moves the logits by more than 1e-1.
constexpr double kNoise = 128 * test::kF32Eps;  // 1.5e-5
constexpr double kChanged = 1e-3;               // a removal must move the logits by more than this

// Largest difference relative to the magnitude of `b` (tests/unit/support/tensor_compare.h).
double max_diff(const at::Tensor& a, const at::Tensor& b) { return test::rel_err(a, b); }

nlohmann::json tiny_config() { return test::tiny_hymba_config(); }
std::string make_hymba(const std::string& tag, const nlohmann::json& cfg) { return test::write_tiny_hymba(tag, cfg); }

// Copies `dir` with one tensor edited.
std::string edit(const std::string& dir, const std::string& tag, const std::string& name,
                 const std::function<void(at::Tensor&)>& fn) {
  const std::string out = test::make_temp_dir(tag);
  fs::copy_file(dir + "/config.json", out + "/config.json");
  auto f = SafetensorsFile::open(dir + "/model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> t;
  for (const auto& n : f->names()) {
    at::Tensor x = f->tensor(n).clone();
    if (n == name) fn(x);
    t.emplace_back(n, x);
  }
  write_safetensors(out + "/model.safetensors", t);
  return out;
}

at::Tensor ids(int64_t L = 37) { return at::randint(0, 64, {2, L}, at::TensorOptions().dtype(at::kLong)); }

using test::export_to;
using test::has;
using test::search;

}  // namespace

class TestHybridHymba : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { at::set_num_threads(2); }

  void causal_with_meta_tokens_and_windows() {
    auto m = HymbaModel::load(make_hymba("hy", tiny_config()));
    at::manual_seed(1);
    at::Tensor x = ids();
    at::Tensor full = m->forward(x);
    QCOMPARE(full.sizes(), (at::IntArrayRef{2, 37, 64}));
    QVERIFY(at::isfinite(full).all().item<bool>());
    // A prefix gives the same logits: no token sees the future (meta tokens and windows included).
    QVERIFY(max_diff(m->forward(x.narrow(1, 0, 20)), full.narrow(1, 0, 20)) <= kNoise);
    // The meta tokens matter.
    const std::string nometa = edit(m->dir(), "hy-meta", "model.memory_tokens", [](at::Tensor& t) { t.mul_(-1); });
    QVERIFY(max_diff(HymbaModel::load(nometa)->forward(x), full) > kChanged);
  }

  void sliding_window_against_global() {
    nlohmann::json wide = tiny_config(), global = tiny_config();
    wide["sliding_window"] = 1000;
    global["sliding_window"] = nullptr;
    at::manual_seed(2);
    at::Tensor x = ids();
    const at::Tensor g = HymbaModel::load(make_hymba("hy-g", global))->forward(x);
    // A window wider than the sequence is global attention; a window of 5 over 40 tokens is not.
    QVERIFY(max_diff(HymbaModel::load(make_hymba("hy-w", wide))->forward(x), g) <= kNoise);
    QVERIFY(max_diff(HymbaModel::load(make_hymba("hy-5", tiny_config()))->forward(x), g) > kChanged);
    // Within the window (and its meta tokens) the two agree exactly: the first 5 tokens see everything.
    QVERIFY(max_diff(HymbaModel::load(make_hymba("hy-5b", tiny_config()))->forward(x).narrow(1, 0, 3), g.narrow(1, 0, 3)) <= kNoise);
  }

  // Whole branches against hand-edited weights: without its SSM a layer sends the attention branch's normed output
  // to out_proj alone (= doubling that norm's weight and zeroing the SSM's, since the two are averaged); without
  // attention the SSM branch alone; without the Hymba block (mixer) or MLP the layer adds nothing from it.
  void removals_against_edited_weights() {
    auto m = HymbaModel::load(make_hymba("hy-s", tiny_config()));
    at::manual_seed(3);
    at::Tensor x = ids();
    auto check = [&](const std::vector<std::string>& ids_set, const std::vector<std::pair<std::string, std::function<void(at::Tensor&)>>>& edits) {
      RemovalSet r;
      for (const auto& id : ids_set) r.add_spec(id);
      std::string dir = m->dir();
      for (const auto& [name, fn] : edits) dir = edit(dir, "hy-ed", name, fn);
      const double d = max_diff(m->forward(x, r), HymbaModel::load(dir)->forward(x));
      QVERIFY2(d <= kNoise, (ids_set.front() + ": " + std::to_string(d)).c_str());
      QVERIFY(max_diff(m->forward(x, r), m->forward(x)) > kChanged);
    };
    auto times2 = [](at::Tensor& t) { t.mul_(2); };
    auto zero = [](at::Tensor& t) { t.zero_(); };
    const std::string l1 = "model.layers.1.", l3 = "model.layers.3.";
    check({"layers.1.ssm"}, {{l1 + "mamba.pre_avg_layernorm1.weight", times2}, {l1 + "mamba.pre_avg_layernorm2.weight", zero}});
    check({"layers.3.attn"}, {{l3 + "mamba.pre_avg_layernorm1.weight", zero}, {l3 + "mamba.pre_avg_layernorm2.weight", times2}});
    check({"layers.3"}, {{l3 + "mamba.out_proj.weight", zero}});
    check({"layers.2.mlp"}, {{"model.layers.2.moe.experts.0.down_proj.weight", zero}});
    const int64_t G = m->mlp_channel_group();
    check({"layers.2.mlp.channels.1"},
          {{"model.layers.2.moe.experts.0.down_proj.weight", [&](at::Tensor& t) { t.narrow(1, G, G).zero_(); }}});
  }

  void export_matches_masked_model() {
    auto m = HymbaModel::load(make_hymba("hy-e", tiny_config()));
    at::manual_seed(4);
    at::Tensor x = ids();
    const std::vector<std::vector<std::string>> sets = {
        {"layers.2"},                                   // a consumer's Hymba block (its MLP stays)
        {"layers.2", "layers.1"},                       // consumer first, then its producer
        {"layers.0"},                                   // the layer keeps only its MLP
        {"layers.0", "layers.0.mlp"},                   // nothing left: the layer is dropped and the rest renumbered
        {"layers.1.ssm", "layers.3.ssm.heads.2"},
        {"layers.2.attn", "layers.1.attn"},             // the consumer's attention, then the producer's
        {"layers.1.attn.heads.0", "layers.2.attn.heads.1", "layers.0.attn.heads.1"},
        {"layers.1.attn.heads.0", "layers.2.attn.heads.0"},  // group 0 gone from producer and consumer: K/V too
        {"layers.0.ssm.heads.0", "layers.0.ssm.heads.3", "layers.3.mlp.channels.0", "layers.2.mlp.channels.2", "layers.1.mlp"},
        {"layers.3.attn", "layers.0.ssm"},
    };
    for (const auto& ids_set : sets) {
      RemovalSet r;
      for (const auto& id : ids_set) r.add_spec(id);
      const std::string out = test::make_temp_dir("hy-export") + "/model";  // a new folder: exports do not overwrite
      export_to(*m, r, out);
      auto e = HymbaModel::load(out);
      const double d = max_diff(e->forward(x), m->forward(x, r));
      QVERIFY2(d <= kNoise, (r.ids().front() + "...: export differs from the masked model: relative error " + std::to_string(d)).c_str());
      QCOMPARE(e->total_parameters(), m->total_parameters() - m->removed_parameters(r));
      QVERIFY(max_diff(m->forward(x, r), m->forward(x)) > kChanged);
    }
  }

  void kv_reuse_rules() {
    auto m = HymbaModel::load(make_hymba("hy-kv", tiny_config()));
    for (const char* id : {"layers.1", "layers.1.attn"}) {
      RemovalSet r;
      r.add_spec(id);
      expect_error([&] { m->plan(r, "x"); }, {"layers.1", "K/V", "later layers"});
    }
    const auto blocks = m->candidates(Granularity::Block, {});
    QVERIFY(!has(blocks, "layers.1"));
    QVERIFY(has(blocks, "layers.2"));
    RemovalSet consumer_gone;
    consumer_gone.add_spec("layers.2.attn");
    const auto after = m->candidates(Granularity::Attention, consumer_gone);
    QVERIFY(has(after, "layers.1.attn"));
    // The consumer's K/V come from the producer: changing the producer's K rows changes the consumer.
    at::manual_seed(5);
    at::Tensor x = ids();
    RemovalSet only2;  // the layers after 2 see layer 2's output; compare with layer 2 removed to isolate it
    only2.add_spec("layers.2");
    const at::Tensor base = m->forward(x), without2 = m->forward(x, only2);
    const std::string k = edit(m->dir(), "hy-k", "model.layers.1.mamba.in_proj.weight",
                               [](at::Tensor& t) { t.narrow(0, 32, 16).mul_(2); });  // the K rows of layer 1
    auto mk = HymbaModel::load(k);
    QVERIFY(max_diff(mk->forward(x), base) > kChanged);
    QVERIFY(max_diff(mk->forward(x, only2), without2) > kChanged);  // layer 1's own attention uses them too
  }

  void tree_and_search() {
    auto m = HymbaModel::load(make_hymba("hy-t", tiny_config()));
    const Component root = m->component_tree();
    QCOMPARE(root.parameters, m->total_parameters());
    // Per layer its Hymba block (attention and SSM, the parts its removal takes) and, beside it, its MLP.
    QCOMPARE(root.children.size(), size_t(8));
    const Component& l0 = root.children[0];
    QCOMPARE(l0.kind, ComponentKind::HybridBlock);
    QCOMPARE(l0.children.size(), size_t(2));
    QCOMPARE(l0.children[0].kind, ComponentKind::Attention);
    QCOMPARE(l0.children[0].children[0].kind, ComponentKind::AttentionHeads);
    QCOMPARE(l0.children[0].children[0].count, int64_t(2));
    QCOMPARE(l0.children[1].kind, ComponentKind::Ssm);
    QCOMPARE(l0.children[1].children[0].kind, ComponentKind::SsmHeadGroup);
    QCOMPARE(root.children[1].kind, ComponentKind::Mlp);
    QCOMPARE(root.children[1].id, std::string("layers.0.mlp"));
    QCOMPARE(root.children[1].children.back().kind, ComponentKind::MlpChannels);
    QCOMPARE(root.children[2].parameters, int64_t(0));  // layers.1, the K/V producer, cannot go alone
    at::manual_seed(6);
    at::Tensor windows = ids(24);
    for (Granularity g : {Granularity::Block, Granularity::Ssm, Granularity::Attention,
                                Granularity::Mlp, Granularity::AttentionHeads, Granularity::SsmHeads,
                                Granularity::MlpChannels}) {
      const SearchResult res = search(*m, windows, g, 1);
      QVERIFY2(res.steps.size() == 1, granularity_name(g));
      double best = 1e300;
      for (const auto& c : res.steps[0].candidates) best = std::min(best, c.score);
      QCOMPARE(res.steps[0].ppl, best);
      QVERIFY(res.steps[0].params_removed > 0);
    }
    QVERIFY(m->candidates(Granularity::SharedBlock, {}).empty());
    // The reference's width search: with tail groups only each MLP's last group is a candidate.
    LoadOptions tail;
    tail.mlp_tail_groups = true;
    QCOMPARE(HymbaModel::load(m->dir(), tail)->candidates(Granularity::MlpChannels, {}).size(), size_t(4));
  }

  void reorder_keeps_function() {
    auto m = HymbaModel::load(make_hymba("hy-r", tiny_config()));
    at::manual_seed(7);
    at::Tensor x = ids();
    const at::Tensor before = m->forward(x);
    LoadOptions o;
    o.reorder_mlp_channels = true;
    auto r = Model::load(m->dir(), o);
    QVERIFY(r->mlp_channels_reordered());
    QVERIFY(max_diff(r->forward(x), before) <= kNoise);
  }

  void bad_inputs_give_clear_errors() {
    nlohmann::json bad = tiny_config();
    bad["kq_norm"] = "weird";
    expect_error([&] { HymbaModel::load(make_hymba("hy-b1", bad)); }, {"config.json", "kq_norm"});
    {  // the steps shared with Zamba2 (test_hybrid_zamba2 has the rest)
      const std::string dir = make_hymba("hy-b0", tiny_config());
      nlohmann::json cfg = tiny_config();
      cfg["num_hidden_layers"] = 0;
      std::ofstream(dir + "/config.json") << cfg.dump(2);
      expect_error([&] { HymbaModel::load(dir); }, {"config.json", "num_hidden_layers", "between 1 and 4096"});
    }
    expect_error([&] { HymbaModel::load(test::make_temp_dir("hy-empty")); }, {"config.json", "missing"});
    const std::string ok = make_hymba("hy-b2", tiny_config());
    const std::string no_mem = test::make_temp_dir("hy-b3");
    fs::copy_file(ok + "/config.json", no_mem + "/config.json");
    {
      auto f = SafetensorsFile::open(ok + "/model.safetensors");
      std::vector<std::pair<std::string, at::Tensor>> t;
      for (const auto& n : f->names())
        if (n != "model.memory_tokens") t.emplace_back(n, f->tensor(n).clone());
      write_safetensors(no_mem + "/model.safetensors", t);
    }
    expect_error([&] { HymbaModel::load(no_mem); }, {"missing tensor", "model.memory_tokens"});
    nlohmann::json reuse = tiny_config();
    reuse["kv_reuse_group"] = {{2, 1}};
    expect_error([&] { HymbaModel::load(make_hymba("hy-b4", reuse)); }, {"kv_reuse_group", "after its producer"});
    auto m = HymbaModel::load(ok);
    RemovalSet r;
    r.add_spec("layers.0.attn.heads.0");
    r.add_spec("layers.0.attn.heads.1");
    expect_error([&] { m->forward(ids(), r); }, {"layers.0", "every attention head group"});
    RemovalSet both;
    both.add_spec("layers.3.attn");
    both.add_spec("layers.3.ssm");
    expect_error([&] { m->plan(both, "--remove"); }, {"layers.3", "both", "Hymba block"});
    RemovalSet s;
    s.add_spec("layers.3.ssm.heads.9");
    expect_error([&] { m->plan(s, "--remove"); }, {"--remove", "layers.3.ssm.heads.9"});
    QCOMPARE(model_type_of(ok), std::string("hymba"));
    QCOMPARE(std::string(Model::load(ok)->arch()), std::string("hymba"));
  }
};

QTEST_APPLESS_MAIN(TestHybridHymba)
#include "test_hybrid_hymba.moc"
