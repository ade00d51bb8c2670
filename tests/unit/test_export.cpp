// Export of pruned checkpoints: the exported folder loads again and gives the masked model's logits
// (block removal renumbers layers; SSM removal drops the dead weights and records the layers in config.json),
// dtypes are kept, tokenizer and report files are written, and writes are atomic (refuse / --force / a
// failed write leaves the old folder as it was).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>

#include <sys/resource.h>

#include <csignal>
#include <filesystem>

#include "export/exporter.h"
#include "io/safetensors.h"
#include "model/mamba_model.h"
#include "support/expect_error.h"
#include "support/tensor_compare.h"
#include "support/test_support.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace shedder;

namespace {

std::string trained(const std::string& m) { return test::test_data_dir() + "/trained_tiny/" + m; }

using test::expect_error;

// Exports `spec` from `src` and checks the result's logits against the masked source model.
std::shared_ptr<MambaModel> export_and_compare(const std::string& src, const std::string& spec, const std::string& tag) {
  auto m = MambaModel::load(src);
  RemovalSet r;
  size_t start = 0;  // several specs separated by ';'
  while (start <= spec.size()) {
    const size_t end = std::min(spec.find(';', start), spec.size());
    r.add_spec(spec.substr(start, end - start));
    start = end + 1;
  }
  ExportOptions o;
  o.out_dir = test::make_temp_dir(tag) + "/out";
  const ExportResult res = export_pruned(*m, r, o);
  auto e = MambaModel::load(o.out_dir);
  at::manual_seed(5);
  at::Tensor ids = at::randint(0, 257, {2, 23}, at::kLong);
  at::Tensor masked = m->forward(ids, r);
  at::Tensor exported = e->forward(ids);
  // The same arithmetic, except that a removed SSM's projections lose rows (another GEMM shape, so another
  // summation order in BLAS): 128 float32 epsilons of the logits' magnitude.
  const double diff = test::rel_err(exported, masked);
  [&] { QVERIFY2(diff <= 128 * test::kF32Eps, qPrintable(QString("%1 %2: relative error %3").arg(
                                                             QString::fromStdString(src), QString::fromStdString(spec)).arg(diff))); }();
  [&] { QCOMPARE(e->total_parameters(), res.params_after); }();
  return e;
}

}  // namespace

class TestExport : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { at::set_num_threads(2); }

  void block_removal_renumbers_layers() {
    for (const char* m : {"mamba1", "mamba2"}) {
      auto e = export_and_compare(trained(m), "block:5,6,0", "blocks");
      QCOMPARE(e->num_layers(), int64_t(5));
      QVERIFY(e->config().layers_without_ssm.empty());
      const nlohmann::json cfg = nlohmann::json::parse(test::read_file(e->dir() + "/config.json"));
      QCOMPARE(cfg["num_hidden_layers"].get<int>(), 5);
      QVERIFY(!cfg.contains("shedder_layers_without_ssm"));
      QVERIFY(cfg["expand"].is_number_integer());  // transformers' strict config wants an int
      auto st = SafetensorsFile::open(e->dir() + "/model.safetensors");
      QVERIFY(st->contains("backbone.layers.4.norm.weight"));
      QVERIFY(!st->contains("backbone.layers.5.norm.weight"));
      const nlohmann::json rep = nlohmann::json::parse(test::read_file(e->dir() + "/shedding_report.json"));
      QCOMPARE(rep["layer_map"]["0"].get<int>(), 1);
      QCOMPARE(rep["layer_map"]["4"].get<int>(), 7);
      QVERIFY(rep["transformers_loadable"].get<bool>());
      QVERIFY(fs::exists(e->dir() + "/tokenizer.json"));
      QCOMPARE(nlohmann::json::parse(test::read_file(e->dir() + "/pruning_config.json"))["pruned_mamba_block_idx"],
               nlohmann::json({5, 6, 0}));
    }
  }

  void ssm_removal_drops_dead_weights() {
    {
      auto e = export_and_compare(trained("mamba1"), "ssm:2,3", "ssm1");
      QCOMPARE(e->config().layers_without_ssm, (std::vector<int64_t>{2, 3}));
      auto st = SafetensorsFile::open(e->dir() + "/model.safetensors");
      for (const char* t : {"x_proj.weight", "dt_proj.weight", "dt_proj.bias", "A_log", "D"})
        QVERIFY(!st->contains(std::string("backbone.layers.2.mixer.") + t));
      QVERIFY(st->contains("backbone.layers.1.mixer.A_log"));
    }
    {
      auto e = export_and_compare(trained("mamba2"), "ssm:1", "ssm2");
      auto st = SafetensorsFile::open(e->dir() + "/model.safetensors");
      const int64_t D = e->config().intermediate_size;
      QCOMPARE(st->tensor("backbone.layers.1.mixer.in_proj.weight").size(0), 2 * D);
      QCOMPARE(st->tensor("backbone.layers.1.mixer.conv1d.weight").size(0), D);
      QVERIFY(!st->contains("backbone.layers.1.mixer.dt_bias"));
      QVERIFY(st->contains("backbone.layers.1.mixer.norm.weight"));
      QCOMPARE(st->tensor("backbone.layers.0.mixer.in_proj.weight").size(0), e->config().in_proj_rows());
      // Exporting the export again (more removed) still works.
      export_and_compare(e->dir(), "block:0", "again");
    }
    // Blocks and SSMs together, SSM of a removed block ignored.
    export_and_compare(trained("mamba2"), "block:3;ssm:3,6", "mixed");
  }

  // Width cuts (docs/width.md): the export narrows every tensor to what the cut keeps. The same sizes in every layer
  // give transformers' own fields; otherwise shedder_layer_sizes carries each layer's, and the folder reloads, is
  // cut again and keeps the masked model's logits and parameter counts.
  void width_cuts_export_exactly() {
    auto ids = [](const char* fmt, std::initializer_list<int> layers, std::initializer_list<int> units) {
      std::string s;
      for (int l : layers)
        for (int u : units) {
          char b[64];
          std::snprintf(b, sizeof b, fmt, l, u);
          s += (s.empty() ? "" : ",") + std::string(b);
        }
      return s;
    };
    const std::initializer_list<int> every = {0, 1, 2, 3, 4, 5, 6, 7};
    {  // Mamba-2, 8 heads x 32 in 2 groups, state 32: two heads of each group and a state chunk everywhere
      auto e = export_and_compare(trained("mamba2"), ids("layers.%d.ssm.heads.%d", every, {1, 2, 5, 6}) + ";" +
                                                         ids("layers.%d.ssm.state.%d", every, {0}), "width2");
      const nlohmann::json cfg = nlohmann::json::parse(test::read_file(e->dir() + "/config.json"));
      QCOMPARE(cfg["num_heads"].get<int>(), 4);
      QCOMPARE(cfg["n_groups"].get<int>(), 2);
      QCOMPARE(cfg["state_size"].get<int>(), 28);
      QVERIFY(cfg["expand"].is_number_integer());  // 4 x 32 = 1 x 128: transformers' strict config wants an int
      QCOMPARE(cfg["expand"].get<int>(), 1);
      QVERIFY(!cfg.contains("shedder_layer_sizes"));
      QVERIFY(nlohmann::json::parse(test::read_file(e->dir() + "/shedding_report.json"))["transformers_loadable"].get<bool>());
      auto st = SafetensorsFile::open(e->dir() + "/model.safetensors");
      QCOMPARE(st->tensor("backbone.layers.4.mixer.in_proj.weight").size(0), int64_t(2 * 128 + 2 * 2 * 28 + 4));
    }
    {  // one head of each group: the same sizes everywhere, but an inner width of 1.5 x hidden
      auto e = export_and_compare(trained("mamba2"), ids("layers.%d.ssm.heads.%d", every, {1, 6}), "width2f");
      const nlohmann::json cfg = nlohmann::json::parse(test::read_file(e->dir() + "/config.json"));
      QCOMPARE(cfg["num_heads"].get<int>(), 6);
      QCOMPARE(cfg["expand"].get<double>(), 1.5);
      const nlohmann::json rep = nlohmann::json::parse(test::read_file(e->dir() + "/shedding_report.json"));
      QVERIFY(!rep["transformers_loadable"].get<bool>());
    }
    {  // uneven: three heads of group 0 in layer 2, all of group 1 in layer 5 (its B/C go), seven state chunks in 6
      auto e = export_and_compare(trained("mamba2"), ids("layers.%d.ssm.heads.%d", {2}, {0, 1, 2}) + ";" +
                                                         ids("layers.%d.ssm.heads.%d", {5}, {4, 5, 6, 7}) + ";" +
                                                         ids("layers.%d.ssm.state.%d", {6}, {0, 1, 2, 3, 4, 5, 6}),
                                  "width2u");
      const nlohmann::json cfg = nlohmann::json::parse(test::read_file(e->dir() + "/config.json"));
      QVERIFY(cfg.contains("shedder_layer_sizes"));
      QVERIFY(!nlohmann::json::parse(test::read_file(e->dir() + "/shedding_report.json"))["transformers_loadable"].get<bool>());
      auto st = SafetensorsFile::open(e->dir() + "/model.safetensors");
      QCOMPARE(st->tensor("backbone.layers.2.mixer.in_proj.weight").size(0), int64_t(2 * 160 + 2 * 2 * 32 + 5));
      QCOMPARE(st->tensor("backbone.layers.5.mixer.in_proj.weight").size(0), int64_t(2 * 128 + 2 * 1 * 32 + 4));
      QCOMPARE(st->tensor("backbone.layers.6.mixer.in_proj.weight").size(0), int64_t(2 * 256 + 2 * 2 * 4 + 8));
      QCOMPARE(e->component_tree().children[2].children.size(), size_t(5 + 8 + 1));  // heads, channel groups, SSM
      export_and_compare(e->dir(), "layers.2.ssm.heads.0,layers.6.ssm.heads.3;block:1", "width2again");
    }
    {  // Mamba-2 head dimension (groups of 4 of 32): two groups in every layer give head_dim 24 in the config
      auto e = export_and_compare(trained("mamba2"), ids("layers.%d.mixer.channels.%d", every, {2, 7}), "width2d");
      const nlohmann::json cfg = nlohmann::json::parse(test::read_file(e->dir() + "/config.json"));
      QCOMPARE(cfg["head_dim"].get<int>(), 24);
      QCOMPARE(cfg["num_heads"].get<int>(), 8);
      QVERIFY(!cfg.contains("shedder_layer_sizes"));
      auto st = SafetensorsFile::open(e->dir() + "/model.safetensors");
      QCOMPARE(st->tensor("backbone.layers.3.mixer.out_proj.weight").size(1), int64_t(8 * 24));
    }
    {  // uneven: head-dimension groups in one layer, heads in another, both in a third; cut again after the export
      auto e = export_and_compare(trained("mamba2"), ids("layers.%d.mixer.channels.%d", {1, 4}, {0, 5, 6}) + ";" +
                                                         ids("layers.%d.ssm.heads.%d", {4, 6}, {0, 7}) + ";" +
                                                         "layers.4.ssm.state.1", "width2du");
      const nlohmann::json cfg = nlohmann::json::parse(test::read_file(e->dir() + "/config.json"));
      QCOMPARE(cfg["shedder_layer_sizes"][1]["head_dim"].get<int>(), 20);
      QVERIFY(!cfg["shedder_layer_sizes"][6].contains("head_dim"));
      QCOMPARE(e->component_tree().children[4].children.size(), size_t(6 + 5 + 1));  // heads, channel groups, SSM
      export_and_compare(e->dir(), "layers.4.mixer.channels.4,layers.1.ssm.heads.2", "width2dagain");
    }
    {  // Mamba-1, inner 256 in groups of 32, state 16: four channel groups and a state chunk everywhere
      auto e = export_and_compare(trained("mamba1"), ids("layers.%d.mixer.channels.%d", every, {0, 3, 4, 7}) + ";" +
                                                         ids("layers.%d.ssm.state.%d", every, {0}), "width1");
      const nlohmann::json cfg = nlohmann::json::parse(test::read_file(e->dir() + "/config.json"));
      QCOMPARE(cfg["intermediate_size"].get<int>(), 128);
      QVERIFY(cfg["expand"].is_number_integer());
      QCOMPARE(cfg["expand"].get<int>(), 1);
      QCOMPARE(cfg["state_size"].get<int>(), 14);
      QVERIFY(!cfg.contains("shedder_layer_sizes"));
      QVERIFY(nlohmann::json::parse(test::read_file(e->dir() + "/shedding_report.json"))["transformers_loadable"].get<bool>());
    }
    {  // uneven, with an SSM removed beside a channel cut
      auto e = export_and_compare(trained("mamba1"), ids("layers.%d.mixer.channels.%d", {1}, {0, 1, 2, 3, 4, 5, 6}) +
                                                         ";" + ids("layers.%d.ssm.state.%d", {4}, {0, 1, 2}) +
                                                         ";layers.3.mixer.channels.2;ssm:3", "width1u");
      auto st = SafetensorsFile::open(e->dir() + "/model.safetensors");
      QCOMPARE(st->tensor("backbone.layers.1.mixer.out_proj.weight").size(1), int64_t(32));
      QCOMPARE(st->tensor("backbone.layers.4.mixer.A_log").size(1), int64_t(10));
      QCOMPARE(st->tensor("backbone.layers.3.mixer.out_proj.weight").size(1), int64_t(224));
      QVERIFY(!st->contains("backbone.layers.3.mixer.A_log"));
      export_and_compare(e->dir(), "layers.1.ssm.state.0", "width1again");
    }
  }

  void fixtures_untied_and_mamba_ssm_layout() {
    SHEDDER_REQUIRE_FIXTURES();
    export_and_compare(test::fixtures_dir() + "/hf-tiny/mamba1-tiny-untied", "block:0", "untied");
    auto e = export_and_compare(test::test_data_dir() + "/mamba_ssm/mamba1-tiny", "block:2", "ssmlayout");
    QCOMPARE(e->config().layout, WeightLayout::HuggingFace);  // exported in the Hugging Face layout
    QCOMPARE(e->config().padded_vocab, int64_t(300));
  }

  void dtype_is_kept() {
    const std::string src = test::make_temp_dir("bf16src");
    fs::copy_file(trained("mamba2") + "/config.json", src + "/config.json");
    auto f = SafetensorsFile::open(trained("mamba2") + "/model.safetensors");
    std::vector<std::pair<std::string, at::Tensor>> t;
    for (const auto& n : f->names()) t.emplace_back(n, f->tensor(n).to(at::kBFloat16));
    write_safetensors(src + "/model.safetensors", t);
    auto e = export_and_compare(src, "block:2;ssm:4", "bf16");
    QCOMPARE(e->source_dtype(), std::string("BF16"));
    auto st = SafetensorsFile::open(e->dir() + "/model.safetensors");
    for (const auto& info : st->header().tensors) QCOMPARE(std::string(st_dtype_name(info.dtype)), std::string("BF16"));
  }

  void writes_are_atomic() {
    auto m = MambaModel::load(trained("mamba1"));
    RemovalSet r;
    r.add_spec("block:1");
    ExportOptions o;
    const std::string root = test::make_temp_dir("atomic");
    o.out_dir = root + "/out";
    export_pruned(*m, r, o);
    const std::string before = test::read_file(o.out_dir + "/config.json");
    expect_error([&] { export_pruned(*m, r, o); }, {"/out", "already exists", "--force"});

    RemovalSet all;
    for (int i = 0; i < 8; ++i) all.add(Granularity::Block, i);
    expect_error([&] { export_pruned(*m, all, o); }, {"every block is removed"});

    // A write that fails half-way (file size limit, as a full disk would) leaves the old export intact.
    o.force = true;
    RemovalSet r2;
    r2.add_spec("block:2,3");
    std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit old_lim;
    getrlimit(RLIMIT_FSIZE, &old_lim);
    struct rlimit lim = old_lim;
    lim.rlim_cur = 64 * 1024;
    setrlimit(RLIMIT_FSIZE, &lim);
    bool failed = false;
    try {
      export_pruned(*m, r2, o);
    } catch (const Error& e) {
      failed = true;
      QVERIFY2(std::string(e.what()).find("untouched") != std::string::npos, e.what());
    }
    setrlimit(RLIMIT_FSIZE, &old_lim);
    QVERIFY(failed);
    QCOMPARE(test::read_file(o.out_dir + "/config.json"), before);
    QCOMPARE(MambaModel::load(o.out_dir)->num_layers(), int64_t(7));
    int leftovers = 0;
    for (const auto& ent : fs::directory_iterator(root)) leftovers += ent.path().filename() != "out";
    QCOMPARE(leftovers, 0);

    // --force replaces it.
    export_pruned(*m, r2, o);
    QCOMPARE(MambaModel::load(o.out_dir)->num_layers(), int64_t(6));
  }

  // --force replaces only a folder of ours (an earlier export: shedding_report.json) or an empty one; never a
  // folder holding other files, the source model, or a folder that contains the source model.
  void force_replaces_only_our_own_folders() {
    const std::string root = test::make_temp_dir("force");
    const std::string src = root + "/models/mamba1";
    fs::create_directories(src);
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"})
      fs::copy_file(trained("mamba1") + "/" + f, src + "/" + f);
    auto m = MambaModel::load(src);
    RemovalSet r;
    r.add_spec("block:1");
    ExportOptions o;
    o.force = true;
    // An --out that contains the source model (its parent, or the root above it) is refused and left alone.
    for (const std::string& out : {root + "/models", root, src + "/."}) {
      o.out_dir = out;
      expect_error([&] { export_pruned(*m, r, o); }, {out, "source model folder"});
    }
    QVERIFY(fs::exists(src + "/model.safetensors"));
    // A folder with someone's files is never deleted, even with --force.
    o.out_dir = root + "/data";
    fs::create_directories(o.out_dir);
    test::write_file(o.out_dir + "/thesis.tex", "\\documentclass{article}");
    expect_error([&] { export_pruned(*m, r, o); }, {o.out_dir, "did not write", "shedding_report.json"});
    QVERIFY(fs::exists(o.out_dir + "/thesis.tex"));
    // An empty folder, and then our own export, are replaced.
    o.out_dir = root + "/empty";
    fs::create_directories(o.out_dir);
    export_pruned(*m, r, o);
    QCOMPARE(MambaModel::load(o.out_dir)->num_layers(), int64_t(7));
    RemovalSet r2;
    r2.add_spec("block:1,2");
    export_pruned(*m, r2, o);
    QCOMPARE(MambaModel::load(o.out_dir)->num_layers(), int64_t(6));
  }

  // A cancel during the export stops it: nothing is written and an existing folder keeps its model.
  void cancel_leaves_the_folder_as_it_was() {
    auto m = MambaModel::load(trained("mamba2"));
    RemovalSet r;
    r.add_spec("block:1");
    ExportOptions o;
    const std::string root = test::make_temp_dir("export-cancel");
    o.out_dir = root + "/out";
    CancelToken cancel;
    cancel.cancel();
    o.cancel = &cancel;
    bool cancelled = false;
    try {
      export_pruned(*m, r, o);
    } catch (const Cancelled&) {
      cancelled = true;
    }
    QVERIFY(cancelled);
    QVERIFY(fs::is_empty(root));
    o.cancel = nullptr;
    export_pruned(*m, r, o);
    o.force = true;
    o.cancel = &cancel;
    RemovalSet r2;
    r2.add_spec("block:2,3");
    QVERIFY_THROWS_EXCEPTION(Cancelled, export_pruned(*m, r2, o));
    QCOMPARE(MambaModel::load(o.out_dir)->num_layers(), int64_t(7));
    int entries = 0;
    for (const auto& ent : fs::directory_iterator(root)) entries += ent.path().filename() != "out";
    QCOMPARE(entries, 0);
  }
};

QTEST_APPLESS_MAIN(TestExport)
#include "test_export.moc"
