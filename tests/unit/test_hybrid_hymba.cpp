// Hymba: no runnable reference here (its modeling file needs mamba_ssm / flash-attention CUDA kernels and is not
// part of transformers), so these are self-consistency checks on a tiny random checkpoint written in the Hugging
// Face layout: causality with meta tokens and sliding windows, sliding window vs global attention, K/V reuse rules,
// removals (the reference's branch semantics) against hand-edited weights, export against the masked model, the
// tree, a search step at every granularity, bad inputs.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>

#include <filesystem>
#include <fstream>

#include "io/safetensors.h"
#include "model/component_tree.h"
#include "model/hybrid_model.h"
#include "model/hymba_model.h"
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

nlohmann::json tiny_config() {
  return {{"model_type", "hymba"}, {"architectures", {"HymbaForCausalLM"}}, {"vocab_size", 64}, {"hidden_size", 32},
          {"num_hidden_layers", 4}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"mamba_expand", 2},
          {"mamba_d_state", 4}, {"mamba_d_conv", 4}, {"mamba_dt_rank", 4}, {"mamba_conv_bias", true},
          {"mamba_proj_bias", false}, {"mamba_inner_layernorms", true}, {"intermediate_size", 48},
          {"mlp_hidden_act", "silu"}, {"hidden_act", "silu"}, {"rms_norm_eps", 1e-6}, {"num_memory_tokens", 3},
          {"memory_tokens_interspersed_every", 0}, {"sliding_window", 5}, {"global_attn_idx", {0, 3}},
          {"kv_reuse_group", {{1, 2}}}, {"kq_norm", "none"}, {"rope", true}, {"rope_theta", 10000.0},
          {"rope_type", "default"}, {"max_position_embeddings", 128}, {"tie_word_embeddings", true}, {"num_experts", 1}};
}

// A random Hymba checkpoint for `cfg` (producers store K/V rows in in_proj, consumers only q, x, z).
std::string make_hymba(const std::string& tag, const nlohmann::json& cfg, uint64_t seed = 3) {
  at::manual_seed(seed);
  const int64_t H = 32, D = 64, N = 4, R = 4, K = 4, I = 48, V = 64, L = cfg["num_hidden_layers"].get<int64_t>();
  const int64_t heads = 4, kv = 2, qhd = 8, vhd = 16;
  std::vector<int64_t> consumer(static_cast<size_t>(L), 0);
  for (const auto& g : cfg["kv_reuse_group"])
    for (size_t k = 1; k < g.size(); ++k) consumer[g[k].get<size_t>()] = 1;
  auto rnd = [](std::vector<int64_t> shape, double scale) { return at::randn(shape) * scale; };
  auto norm = [](int64_t n) { return 1.0 + 0.2 * at::randn({n}); };
  std::vector<std::pair<std::string, at::Tensor>> t{{"model.embed_tokens.weight", rnd({V, H}, 1.0)},
                                                    {"model.final_layernorm.weight", norm(H)},
                                                    {"model.memory_tokens", rnd({3, H}, 1.0)}};
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const int64_t rows = heads * qhd + (consumer[static_cast<size_t>(l)] ? 0 : kv * (qhd + vhd)) + 2 * D;
    t.emplace_back(p + "input_layernorm.weight", norm(H));
    t.emplace_back(p + "mamba.in_proj.weight", rnd({rows, H}, 1 / std::sqrt(32.0)));
    t.emplace_back(p + "mamba.conv1d.weight", rnd({D, 1, K}, 0.5));
    t.emplace_back(p + "mamba.conv1d.bias", rnd({D}, 0.1));
    t.emplace_back(p + "mamba.x_proj.0.weight", rnd({R + 2 * N, D}, 1 / 8.0));
    t.emplace_back(p + "mamba.dt_proj.0.weight", rnd({D, R}, 0.5));
    t.emplace_back(p + "mamba.dt_proj.0.bias", rnd({D}, 0.5) - 1.0);
    t.emplace_back(p + "mamba.A_log.0", at::log(at::rand({D, N}) * 3 + 0.5));
    t.emplace_back(p + "mamba.D.0", rnd({D}, 1.0));
    t.emplace_back(p + "mamba.dt_layernorm.weight", norm(R));
    t.emplace_back(p + "mamba.B_layernorm.weight", norm(N));
    t.emplace_back(p + "mamba.C_layernorm.weight", norm(N));
    t.emplace_back(p + "mamba.pre_avg_layernorm1.weight", norm(D));
    t.emplace_back(p + "mamba.pre_avg_layernorm2.weight", norm(D));
    t.emplace_back(p + "mamba.out_proj.weight", rnd({H, D}, 1 / 8.0));
    t.emplace_back(p + "pre_moe_layernorm.weight", norm(H));
    t.emplace_back(p + "moe.experts.0.gate_proj.weight", rnd({I, H}, 1 / std::sqrt(32.0)));
    t.emplace_back(p + "moe.experts.0.up_proj.weight", rnd({I, H}, 1 / std::sqrt(32.0)));
    t.emplace_back(p + "moe.experts.0.down_proj.weight", rnd({H, I}, 1 / std::sqrt(48.0)));
  }
  (void)vhd;
  const std::string dir = test::make_temp_dir(tag);
  write_safetensors(dir + "/model.safetensors", t);
  std::ofstream(dir + "/config.json") << cfg.dump(2);
  return dir;
}

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
      HybridRemoval r;
      for (const auto& id : ids_set) r.add(id);
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
      HybridRemoval r;
      for (const auto& id : ids_set) r.add(id);
      const std::string out = test::make_temp_dir("hy-export") + "/model";  // a new folder: exports do not overwrite
      m->export_pruned(r, out);
      auto e = HymbaModel::load(out);
      const double d = max_diff(e->forward(x), m->forward(x, r));
      QVERIFY2(d <= kNoise, (r.ids.front() + "...: export differs from the masked model: relative error " + std::to_string(d)).c_str());
      QCOMPARE(e->total_parameters(), m->total_parameters() - m->removed_parameters(r));
      QVERIFY(max_diff(m->forward(x, r), m->forward(x)) > kChanged);
    }
  }

  void kv_reuse_rules() {
    auto m = HymbaModel::load(make_hymba("hy-kv", tiny_config()));
    for (const char* id : {"layers.1", "layers.1.attn"}) {
      HybridRemoval r;
      r.add(id);
      expect_error([&] { m->check_removal(r, "x"); }, {"layers.1", "K/V", "later layers"});
    }
    const auto blocks = m->candidates(HybridGranularity::Block, {});
    QVERIFY(std::find(blocks.begin(), blocks.end(), "layers.1") == blocks.end());
    QVERIFY(std::find(blocks.begin(), blocks.end(), "layers.2") != blocks.end());
    HybridRemoval consumer_gone;
    consumer_gone.add("layers.2.attn");
    const auto after = m->candidates(HybridGranularity::Attention, consumer_gone);
    QVERIFY(std::find(after.begin(), after.end(), "layers.1.attn") != after.end());
    // The consumer's K/V come from the producer: changing the producer's K rows changes the consumer.
    at::manual_seed(5);
    at::Tensor x = ids();
    HybridRemoval only2;  // the layers after 2 see layer 2's output; compare with layer 2 removed to isolate it
    only2.add("layers.2");
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
    QCOMPARE(root.children.size(), size_t(4));
    const Component& l0 = root.children[0];
    QCOMPARE(l0.kind, ComponentKind::HybridBlock);
    QCOMPARE(l0.children.size(), size_t(3));
    QCOMPARE(l0.children[0].kind, ComponentKind::Attention);
    QCOMPARE(l0.children[0].children[0].kind, ComponentKind::AttentionHeads);
    QCOMPARE(l0.children[0].children[0].count, int64_t(2));
    QCOMPARE(l0.children[1].kind, ComponentKind::Ssm);
    QCOMPARE(l0.children[1].children[0].kind, ComponentKind::SsmHeadGroup);
    QCOMPARE(l0.children[2].kind, ComponentKind::Mlp);
    QCOMPARE(l0.children[2].children.back().kind, ComponentKind::MlpChannels);
    QCOMPARE(root.children[1].parameters, int64_t(0));  // the K/V producer cannot go alone
    at::manual_seed(6);
    at::Tensor windows = ids(24);
    for (HybridGranularity g : {HybridGranularity::Block, HybridGranularity::Ssm, HybridGranularity::Attention,
                                HybridGranularity::Mlp, HybridGranularity::AttentionHeads, HybridGranularity::SsmHeads,
                                HybridGranularity::MlpChannels}) {
      const HybridSearchResult res = run_hybrid_search(*m, windows, g, 1);
      QVERIFY2(res.steps.size() == 1, hybrid_granularity_name(g));
      double best = 1e300;
      for (const auto& [id, ppl] : res.steps[0].candidates) best = std::min(best, ppl);
      QCOMPARE(res.steps[0].ppl, best);
      QVERIFY(res.steps[0].params_removed > 0);
    }
    QVERIFY(m->candidates(HybridGranularity::SharedBlock, {}).empty());
    // The reference's width search: with tail groups only each MLP's last group is a candidate.
    HybridLoadOptions tail;
    tail.mlp_tail_groups = true;
    QCOMPARE(HymbaModel::load(m->dir(), tail)->candidates(HybridGranularity::MlpChannels, {}).size(), size_t(4));
  }

  void reorder_keeps_function() {
    auto m = HymbaModel::load(make_hymba("hy-r", tiny_config()));
    at::manual_seed(7);
    at::Tensor x = ids();
    const at::Tensor before = m->forward(x);
    m->reorder_mlp_channels();
    QVERIFY(max_diff(m->forward(x), before) <= kNoise);
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
    HybridRemoval r;
    r.add("layers.0.attn.heads.0");
    r.add("layers.0.attn.heads.1");
    expect_error([&] { m->forward(ids(), r); }, {"layers.0", "every attention head group"});
    HybridRemoval both;
    both.add("layers.3.attn");
    both.add("layers.3.ssm");
    expect_error([&] { m->check_removal(both, "--remove"); }, {"layers.3", "both", "Hymba block"});
    HybridRemoval s;
    s.add("layers.3.ssm.heads.9");
    expect_error([&] { m->check_removal(s, "--remove"); }, {"--remove", "layers.3.ssm.heads.9"});
    QCOMPARE(hybrid_model_type(ok), std::string("hymba"));
    QCOMPARE(std::string(load_hybrid_model(ok)->arch()), std::string("hymba"));
  }
};

QTEST_APPLESS_MAIN(TestHybridHymba)
#include "test_hybrid_hymba.moc"
