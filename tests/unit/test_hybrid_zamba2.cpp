// Zamba2 (hybrid Mamba-2 + shared attention/MLP blocks): logits against transformers' reference fixtures
// (tests/data/hybrid, made by tests/data/make_hybrid_fixtures.py), removals of heads / channel groups against
// zeroing the same weights by hand, export against the masked model, channel reordering, the component tree,
// a search step, and bad inputs.
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
#include "model/zamba2_model.h"
#include "support/cli_runner.h"
#include "support/expect_error.h"
#include "support/tensor_compare.h"
#include "support/arch_models.h"
#include "support/test_support.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace shedder;
using test::expect_error;

namespace {

std::string data(const std::string& name) { return test::test_data_dir() + "/hybrid/" + name; }

at::Tensor ref(const std::string& file, const std::string& name) {
  return SafetensorsFile::open(data(file))->tensor(name).clone();
}

// Tolerances, relative to the magnitude of the logits compared (tests/unit/support/tensor_compare.h). The tiny
// random models amplify float32 rounding (their RMS norms divide by small values): summing the same products in
// another order (a matmul over fewer rows, reordered channels) moves the logits by up to 2.2e-5 of their
// magnitude (measured with the AVX-512, AVX2 and SSE2 kernels), while removing any component moves them by more
// than 1e-1. Against transformers (float32 and float64 runs) the difference measured at most 3.3e-5.
constexpr double kNoise = 1024 * test::kF32Eps;      // 1.2e-4: another summation order
constexpr double kReference = 1.5e-4;                // transformers' logits
constexpr double kChanged = 1e-3;                    // a removal must move the logits by more than this

// Largest difference relative to the magnitude of `b` (tests/unit/support/tensor_compare.h).
double max_diff(const at::Tensor& a, const at::Tensor& b) { return test::rel_err(a, b); }

// Copies a model folder, rewriting its weights through `fn` and its config through `cfg_fn`.
std::string rewrite(const std::string& model, const std::string& tag,
                    const std::function<at::Tensor(const std::string&, const at::Tensor&)>& fn,
                    const std::function<void(nlohmann::json&)>& cfg_fn = nullptr) {
  const std::string dir = test::make_temp_dir(tag);
  std::ifstream in(data(model) + "/config.json");
  nlohmann::json cfg = nlohmann::json::parse(in);
  if (cfg_fn) cfg_fn(cfg);
  std::ofstream(dir + "/config.json") << cfg.dump(2);
  auto f = SafetensorsFile::open(data(model) + "/model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> t;
  for (const auto& n : f->names()) {
    at::Tensor x = fn ? fn(n, f->tensor(n).clone()) : f->tensor(n).clone();
    if (x.defined()) t.emplace_back(n, x);
  }
  write_safetensors(dir + "/model.safetensors", t);
  return dir;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

using test::export_to;
using test::has;
using test::search;

}  // namespace

class TestHybridZamba2 : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { at::set_num_threads(2); }

  void logits_match_transformers() {
    auto m = Zamba2Model::load(data("zamba2-tiny"));
    at::Tensor ids = ref("zamba2_reference.safetensors", "input_ids");
    at::Tensor ours = m->forward(ids);
    const double d32 = max_diff(ours, ref("zamba2_reference.safetensors", "logits"));
    const double d64 = max_diff(ours.to(at::kDouble), ref("zamba2_reference.safetensors", "logits_f64"));
    qInfo("zamba2-tiny: relative error vs transformers float32 %.3g, vs float64 %.3g", d32, d64);
    QVERIFY2(d32 <= kReference && d64 <= kReference, "logits differ from transformers");
    QCOMPARE((ours.argmax(-1) == ref("zamba2_reference.safetensors", "logits").argmax(-1)).all().item<bool>(), true);
  }

  void gqa_logits_match_transformers() {
    auto m = Zamba2Model::load(data("zamba2-tiny-gqa"));
    at::Tensor ids = ref("zamba2-gqa_reference.safetensors", "input_ids");
    const double d = max_diff(m->forward(ids), ref("zamba2-gqa_reference.safetensors", "logits"));
    qInfo("zamba2-tiny-gqa: relative error vs transformers float32 %.3g", d);
    QVERIFY(d <= kReference);
  }

  // Removing head group g of block k equals zeroing the o_proj columns of its query heads (their output
  // vanishes); removing a channel group equals zeroing its down_proj columns.
  void removal_equals_zeroed_weights() {
    auto m = Zamba2Model::load(data("zamba2-tiny-gqa"));
    at::Tensor ids = ref("zamba2-gqa_reference.safetensors", "input_ids");
    const int64_t hd = m->config().attn_head_dim, G = m->mlp_channel_group();
    RemovalSet r;
    r.add_spec("shared.0.attn.heads.1");  // KV head 1 with query heads 2 and 3 (GQA: 2 queries per KV head)
    r.add_spec("shared.0.mlp.channels.2");
    at::Tensor masked = m->forward(ids, r);
    const std::string zeroed = rewrite("zamba2-tiny-gqa", "zeroed", [&](const std::string& n, const at::Tensor& t) {
      if (ends_with(n, "self_attn.o_proj.weight")) t.narrow(1, 2 * hd, 2 * hd).zero_();
      if (ends_with(n, "feed_forward.down_proj.weight")) t.narrow(1, 2 * G, G).zero_();
      return t;
    });
    const double d = max_diff(masked, Zamba2Model::load(zeroed)->forward(ids));
    QVERIFY2(d <= kNoise, ("masked vs zeroed weights: relative error " + std::to_string(d)).c_str());
    QVERIFY(max_diff(masked, m->forward(ids)) > kChanged);  // and it does change the logits
  }

  void export_matches_masked_model() {
    auto m = Zamba2Model::load(data("zamba2-tiny"));
    at::Tensor ids = ref("zamba2_reference.safetensors", "input_ids");
    const std::vector<std::vector<std::string>> sets = {
        {"layers.0"},
        {"layers.2.ssm", "layers.1.ssm"},
        {"layers.3.shared"},
        {"layers.3"},
        {"shared.0.attn.heads.3", "shared.1.attn.heads.0", "shared.0.mlp.channels.1"},
        {"shared.1.mlp.channels.0", "shared.1.mlp.channels.3", "layers.5", "layers.4.ssm"},
    };
    for (const auto& ids_set : sets) {
      RemovalSet r;
      for (const auto& id : ids_set) r.add_spec(id);
      const std::string out = test::make_temp_dir("zexport") + "/model";  // a new folder: exports do not overwrite
      export_to(*m, r, out);
      auto e = Zamba2Model::load(out);
      const double d = max_diff(e->forward(ids), m->forward(ids, r));
      QVERIFY2(d <= kNoise, ("export of " + r.ids().front() + "... differs from the masked model: relative error " + std::to_string(d)).c_str());
      QCOMPARE(e->total_parameters(), m->total_parameters() - m->removed_parameters(r));
    }
  }

  void gqa_export_drops_kv_heads() {
    auto m = Zamba2Model::load(data("zamba2-tiny-gqa"));
    at::Tensor ids = ref("zamba2-gqa_reference.safetensors", "input_ids");
    RemovalSet r;
    r.add_spec("shared.0.attn.heads.0");
    const std::string out = test::make_temp_dir("zgqa") + "/model";  // a new folder: exports do not overwrite
    export_to(*m, r, out);
    auto e = Zamba2Model::load(out);
    QCOMPARE(e->config().num_heads, int64_t(2));
    QCOMPARE(e->config().num_kv_heads, int64_t(1));
    QVERIFY(max_diff(e->forward(ids), m->forward(ids, r)) <= kNoise);
  }

  void reorder_keeps_function() {
    auto m = Zamba2Model::load(data("zamba2-tiny"));
    at::Tensor ids = ref("zamba2_reference.safetensors", "input_ids");
    at::Tensor before = m->forward(ids);
    LoadOptions o;
    o.reorder_mlp_channels = true;
    auto r = Model::load(data("zamba2-tiny"), o);
    QVERIFY(max_diff(r->forward(ids), before) <= kNoise);
    // The exported weights hold the channels in falling importance (L1 of the gate row + L1 of the up row).
    const std::string out = test::make_temp_dir("zreorder") + "/model";  // a new folder: exports do not overwrite
    export_to(*r, {}, out);
    auto f = SafetensorsFile::open(out + "/model.safetensors");
    const std::string p = "model.layers.1.shared_transformer.feed_forward.";
    at::Tensor gu = f->tensor(p + "gate_up_proj.weight"), down = f->tensor(p + "down_proj.weight");
    const int64_t I = down.size(1);
    at::Tensor imp = gu.narrow(0, 0, I).abs().sum(1) + gu.narrow(0, I, I).abs().sum(1);
    QVERIFY((imp.narrow(0, 0, I - 1) >= imp.narrow(0, 1, I - 1)).all().item<bool>());
  }

  void component_tree_has_the_hybrid_kinds() {
    auto m = Zamba2Model::load(data("zamba2-tiny"));
    const Component root = m->component_tree();
    QCOMPARE(root.parameters, m->total_parameters());
    QCOMPARE(root.children.size(), size_t(6 + 2));  // 6 layers, 2 shared blocks
    QCOMPARE(root.children[0].kind, ComponentKind::Block);
    QCOMPARE(root.children[1].kind, ComponentKind::HybridBlock);
    QCOMPARE(root.children[1].children[0].kind, ComponentKind::SharedBlock);
    QCOMPARE(root.children[1].children[0].id, std::string("layers.1.shared"));
    const Component& sw = root.children[6];
    QCOMPARE(sw.kind, ComponentKind::SharedWeights);
    QCOMPARE(sw.children.front().kind, ComponentKind::AttentionHeads);
    QCOMPARE(sw.children.back().kind, ComponentKind::MlpChannels);
    QCOMPARE(std::string(component_kind_name(sw.children.back().kind)), std::string("mlp_channels"));
    for (const auto& c : root.children) QVERIFY(c.parameters > 0);
  }

  void search_steps_at_every_granularity() {
    auto m = Zamba2Model::load(data("zamba2-tiny-gqa"));
    at::Tensor windows = ref("zamba2-gqa_reference.safetensors", "input_ids");
    for (Granularity g : {Granularity::Block, Granularity::Ssm, Granularity::SharedBlock,
                                Granularity::AttentionHeads, Granularity::MlpChannels}) {
      const SearchResult res = search(*m, windows, g, 2);
      QVERIFY2(!res.steps.empty(), granularity_name(g));
      const SearchStep& s = res.steps[0];
      // The pick is the candidate with the lowest perplexity, and its perplexity is that of the removal.
      double best = 1e300;
      for (const auto& c : s.candidates) best = std::min(best, c.score);
      QCOMPARE(s.ppl, best);
      RemovalSet one;
      one.add_spec(s.id);
      QVERIFY(std::abs(evaluate_perplexity(*m, windows, 1, one).perplexity - s.ppl) < 1e-9 * s.ppl);
      QVERIFY(s.params_removed > 0);
      QCOMPARE(res.to_json(g, Metric::Perplexity)["steps"].size(), res.steps.size());
    }
    // GQA: with 2 KV heads there are two head groups per block; after one goes the last one is no candidate.
    RemovalSet r;
    r.add_spec("shared.0.attn.heads.0");
    QVERIFY(m->candidates(Granularity::AttentionHeads, r).empty());
  }

  // shedder-cli hybrid: search writes its result, export cuts the pick out, eval of the export gives the
  // perplexity the search measured for it.
  void cli_search_export_eval() {
    if (test::cli_path().empty()) SHEDDER_SKIP_OR_FAIL(QStringLiteral("SHEDDER_CLI not set"));
    const std::string dir = test::make_temp_dir("zcli");
    write_safetensors(dir + "/calib.safetensors", {{"ids", ref("zamba2-gqa_reference.safetensors", "input_ids")}});
    const std::string model = data("zamba2-tiny-gqa"), tokens = dir + "/calib.safetensors";
    test::CliResult s = test::run({"search", test::q(model), "--calib-tokens", test::q(tokens), "--granularity",
                                   "channel", "--steps", "2", "--out", test::q(dir + "/run"), "--json", "--threads", "1"});
    QVERIFY2(s.ok(), s.describe().c_str());
    const nlohmann::json j = nlohmann::json::parse(s.out);
    QCOMPARE(j["steps"].size(), size_t(2));
    QVERIFY(fs::exists(dir + "/run/search_result.json"));
    std::string spec;
    for (const auto& st : j["steps"]) spec += (spec.empty() ? "" : ",") + st["removed"].get<std::string>();
    test::CliResult e = test::run({"export", test::q(model), "--remove", test::q(spec), "--out",
                                   test::q(dir + "/pruned"), "--threads", "1"});
    QVERIFY2(e.ok(), e.describe().c_str());
    // An existing folder is kept unless --force; the model folder itself is never overwritten.
    std::string refused = test::check_failure(
        test::run({"export", test::q(model), "--remove", test::q(spec), "--out", test::q(dir + "/pruned")}),
        {dir + "/pruned", "already exists", "--force"});
    QVERIFY2(refused.empty(), refused.c_str());
    refused = test::check_failure(
        test::run({"export", test::q(dir + "/pruned"), "--remove", "layers.0", "--out", test::q(dir + "/pruned"),
                   "--force"}),
        {dir + "/pruned", "source model folder"});
    QVERIFY2(refused.empty(), refused.c_str());
    QVERIFY(test::run({"export", test::q(model), "--remove", test::q(spec), "--out", test::q(dir + "/pruned"),
                       "--force"}).ok());
    test::CliResult v = test::run({"eval", test::q(dir + "/pruned"), "--tokens", test::q(tokens), "--json",
                                   "--threads", "1"});
    QVERIFY2(v.ok(), v.describe().c_str());
    const double ppl = nlohmann::json::parse(v.out)["perplexity"].get<double>();
    QVERIFY(std::abs(ppl - j["steps"][1]["ppl"].get<double>()) < 1e-3 * ppl);
    // The journal: one step, then --resume to two gives the same steps; a journal of other settings is refused,
    // and an existing journal is not overwritten without --resume.
    const QStringList base = {"search", test::q(model), "--calib-tokens", test::q(tokens), "--granularity", "channel",
                              "--out", test::q(dir + "/resumed"), "--json", "--threads", "1"};
    QVERIFY(test::run(QStringList(base) << "--steps" << "1").ok());
    test::CliResult r2 = test::run(QStringList(base) << "--steps" << "2" << "--resume");
    QVERIFY2(r2.ok(), r2.describe().c_str());
    const nlohmann::json jr = nlohmann::json::parse(r2.out);
    QCOMPARE(jr["steps"].size(), size_t(2));
    for (size_t i = 0; i < 2; ++i) {
      QCOMPARE(jr["steps"][i]["removed"], j["steps"][i]["removed"]);
      QCOMPARE(jr["steps"][i]["ppl"].get<double>(), j["steps"][i]["ppl"].get<double>());
    }
    std::string bad = test::check_failure(
        test::run({"search", test::q(model), "--calib-tokens", test::q(tokens), "--granularity", "head", "--steps", "2",
                   "--out", test::q(dir + "/resumed"), "--resume"}),
        {"journal.jsonl", "granularity"});
    QVERIFY2(bad.empty(), bad.c_str());
    bad = test::check_failure(test::run(QStringList(base) << "--steps" << "2"), {"journal.jsonl", "--resume"});
    QVERIFY2(bad.empty(), bad.c_str());
    const std::string why = test::check_failure(
        test::run({"eval", test::q(model), "--tokens", test::q(tokens), "--remove", "shared.7.attn.heads.0"}),
        {"--remove", "shared.7.attn.heads.0"});
    QVERIFY2(why.empty(), why.c_str());
  }

  void bad_inputs_give_clear_errors() {
    auto m = Zamba2Model::load(data("zamba2-tiny-gqa"));
    at::Tensor ids = ref("zamba2-gqa_reference.safetensors", "input_ids");
    RemovalSet r;
    r.add_spec("layers.9");
    expect_error([&] { m->forward(ids, r); }, {"layers.9", "4 layers"});
    RemovalSet all;
    all.add_spec("shared.0.attn.heads.0");
    all.add_spec("shared.0.attn.heads.1");
    expect_error([&] { m->plan(all, "x"); }, {"every attention head"});
    RemovalSet notuse;
    notuse.add_spec("layers.0.shared");
    expect_error([&] { m->forward(ids, notuse); }, {"not a hybrid layer"});
    const std::string missing = rewrite("zamba2-tiny-gqa", "zmissing", [](const std::string& n, const at::Tensor& t) {
      return n.find("layers.1.linear") != std::string::npos ? at::Tensor() : t;
    });
    expect_error([&] { Zamba2Model::load(missing); }, {"missing tensor", "model.layers.1.linear.weight"});
    const std::string badcfg = rewrite("zamba2-tiny-gqa", "zbadcfg", nullptr,
                                       [](nlohmann::json& c) { c["layers_block_type"][1] = "transformer"; });
    expect_error([&] { Zamba2Model::load(badcfg); }, {"config.json", "unknown layer type"});
    const std::string badshape = rewrite("zamba2-tiny-gqa", "zbadshape", nullptr,
                                         [](nlohmann::json& c) { c["intermediate_size"] = 80; });
    expect_error([&] { Zamba2Model::load(badshape); }, {"gate_up_proj.weight", "shape"});
    // The loaders' shared steps (HybridModel::config_path, read_common_config, load_common).
    expect_error([&] { Zamba2Model::load(test::make_temp_dir("znone") + "/absent"); }, {"absent", "no such model folder"});
    expect_error([&] { Zamba2Model::load(test::make_temp_dir("zempty")); }, {"config.json", "missing"});
    const std::string notobj = rewrite("zamba2-tiny-gqa", "znotobj", nullptr, [](nlohmann::json& c) {
      c = nlohmann::json::array();
    });
    expect_error([&] { Zamba2Model::load(notobj); }, {"config.json", "not a JSON object"});
    const std::string nolayers = rewrite("zamba2-tiny-gqa", "znolayers", nullptr,
                                         [](nlohmann::json& c) { c["num_hidden_layers"] = 0; });
    expect_error([&] { Zamba2Model::load(nolayers); }, {"config.json", "num_hidden_layers", "between 1 and 4096"});
    const std::string untied = rewrite("zamba2-tiny-gqa", "zuntied", nullptr,
                                       [](nlohmann::json& c) { c["tie_word_embeddings"] = false; });
    expect_error([&] { Zamba2Model::load(untied); }, {"missing tensor", "lm_head.weight"});
    QCOMPARE(model_type_of(data("zamba2-tiny")), std::string("zamba2"));
    expect_error([&] { Model::load(test::test_data_dir()); }, {"config.json"});
  }
};

QTEST_APPLESS_MAIN(TestHybridZamba2)
#include "test_hybrid_zamba2.moc"
