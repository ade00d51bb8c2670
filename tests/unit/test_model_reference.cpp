// Logits of our forward pass against the Hugging Face `transformers` reference fixtures, for every
// model in shared/fixtures/hf-tiny and for the other on-disk forms the loader reads (mamba_ssm layout
// with pytorch_model.bin, shards with an index, BF16/F16 weights, bare Infinity in config.json).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>

#include <filesystem>
#include <fstream>

#include "io/safetensors.h"
#include "model/mamba_model.h"
#include "support/expect_error.h"
#include "support/tensor_compare.h"
#include "support/test_support.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace shedder;

namespace {

struct Parity {
  double rel = 0;  // max |ours - ref| / max |ref|
  double argmax_agree = 0;
};

Parity compare(const at::Tensor& ours, const at::Tensor& ref) {
  Parity p;
  p.rel = test::rel_err(ours, ref);
  p.argmax_agree = (ours.argmax(-1) == ref.argmax(-1)).to(at::kDouble).mean().item<double>();
  return p;
}

// The fixtures' logits were computed by transformers on a GPU with TF32 matmuls (10-bit mantissa: relative
// rounding 2^-11 = 4.9e-4 per product): measured 4e-4 to 1.3e-3 of the logits' magnitude; bound 5e-3, ten TF32
// roundings.
constexpr double kTf32Rtol = 5e-3;
// transformers in float64 on the CPU: the difference is our float32 rounding alone; measured at most 1.1e-6
// with every CPU level; bound 64 float32 epsilons (7.6e-6).
constexpr double kFp64Rtol = 64 * test::kF32Eps;
// The same numbers through the same kernels with another batch shape (GEMM blocking): 128 epsilons.
constexpr double kReorderRtol = 128 * test::kF32Eps;

std::string fixture(const std::string& name) { return test::fixtures_dir() + "/hf-tiny/" + name; }

at::Tensor ref_tensor(const std::string& model, const std::string& name) {
  return SafetensorsFile::open(fixture(model) + "/reference_logits.safetensors")->tensor(name).clone();
}

void copy_dir(const std::string& from, const std::string& to) {
  fs::create_directories(to);
  for (const auto& e : fs::directory_iterator(from)) fs::copy_file(e.path(), fs::path(to) / e.path().filename());
}

// Rewrites a model's weights through `fn` (name, tensor) -> tensor into a new folder.
std::string rewrite_weights(const std::string& model, const std::string& tag,
                            const std::function<at::Tensor(const std::string&, const at::Tensor&)>& fn) {
  const std::string dir = test::make_temp_dir(tag);
  fs::copy_file(fixture(model) + "/config.json", dir + "/config.json");
  auto f = SafetensorsFile::open(fixture(model) + "/model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> t;
  for (const auto& n : f->names()) t.emplace_back(n, fn(n, f->tensor(n)));
  write_safetensors(dir + "/model.safetensors", t);
  return dir;
}

using test::expect_error;

}  // namespace

class TestModelReference : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { at::set_num_threads(2); }

  void logits_match_transformers_data() {
    QTest::addColumn<QString>("model");
    QTest::newRow("mamba1-tiny") << "mamba1-tiny";
    QTest::newRow("mamba1-tiny-untied") << "mamba1-tiny-untied";
    QTest::newRow("mamba2-tiny") << "mamba2-tiny";
  }

  void logits_match_transformers() {
    SHEDDER_REQUIRE_FIXTURES();
    QFETCH(QString, model);
    const std::string name = model.toStdString();
    auto m = MambaModel::load(fixture(name));
    at::Tensor ids = ref_tensor(name, "input_ids"), ref = ref_tensor(name, "logits");
    at::Tensor ours = m->forward(ids);
    QCOMPARE(ours.sizes(), ref.sizes());
    const Parity p = compare(ours, ref);
    qInfo("%s: relative error %.3g, argmax agreement = %.4f", name.c_str(), p.rel, p.argmax_agree);
    QVERIFY2(p.rel <= kTf32Rtol, qPrintable(QString("relative error %1").arg(p.rel)));
    QVERIFY(p.argmax_agree >= 0.99);
  }

  // The fixture logits were computed with TF32 matmuls (noise ~1e-3). The same transformers models run in
  // float64 on the CPU (tests/data/make_fp64_reference.py) pin our float32 forward far more tightly.
  void logits_match_transformers_fp64_data() { logits_match_transformers_data(); }
  void logits_match_transformers_fp64() {
    SHEDDER_REQUIRE_FIXTURES();
    QFETCH(QString, model);
    const std::string name = model.toStdString();
    auto m = MambaModel::load(fixture(name));
    at::Tensor ids = ref_tensor(name, "input_ids");
    at::Tensor ref = SafetensorsFile::open(test::test_data_dir() + "/transformers_fp64/" + name + ".fp64.safetensors")
                         ->tensor("logits");
    const Parity p = compare(m->forward(ids), ref);
    qInfo("%s vs transformers float64: relative error %.3g", name.c_str(), p.rel);
    QVERIFY2(p.rel <= kFp64Rtol, qPrintable(QString("relative error %1").arg(p.rel)));
    QCOMPARE(p.argmax_agree, 1.0);
  }

  void batch_rows_are_independent() {
    SHEDDER_REQUIRE_FIXTURES();
    auto m = MambaModel::load(fixture("mamba2-tiny"));
    at::Tensor ids = ref_tensor("mamba2-tiny", "input_ids");
    at::Tensor both = m->forward(ids);
    at::Tensor second = m->forward(ids.narrow(0, 1, 1));
    SHEDDER_VERIFY_REL(second, both.narrow(0, 1, 1), kReorderRtol, "row 1 alone vs in the batch");
  }

  void mamba_ssm_layout_pytorch_model_bin() {
    SHEDDER_REQUIRE_FIXTURES();
    const std::string dir = test::test_data_dir() + "/mamba_ssm/mamba1-tiny";
    auto m = MambaModel::load(dir);
    QCOMPARE(m->config().layout, WeightLayout::MambaSsm);
    QCOMPARE(m->config().vocab_size, int64_t(297));
    QCOMPARE(m->config().padded_vocab, int64_t(300));  // pad_vocab_size_multiple 4
    QCOMPARE(m->weight_files(), std::string("pytorch_model.bin"));
    at::Tensor ids = ref_tensor("mamba1-tiny", "input_ids"), ref = ref_tensor("mamba1-tiny", "logits");
    const Parity p = compare(m->forward(ids), ref);
    qInfo("mamba_ssm layout: relative error %.3g", p.rel);
    QVERIFY(p.rel <= kTf32Rtol);
    // Same weights as the Hugging Face copy: the logits must be identical to loading that one.
    QVERIFY(at::equal(m->forward(ids), MambaModel::load(fixture("mamba1-tiny"))->forward(ids)));
    QVERIFY(p.argmax_agree >= 0.99);
  }

  void sharded_safetensors_with_index() {
    SHEDDER_REQUIRE_FIXTURES();
    const std::string dir = test::make_temp_dir("shards");
    fs::copy_file(fixture("mamba2-tiny") + "/config.json", dir + "/config.json");
    auto f = SafetensorsFile::open(fixture("mamba2-tiny") + "/model.safetensors");
    std::vector<std::pair<std::string, at::Tensor>> a, b;
    nlohmann::json index;
    index["metadata"] = {{"total_size", 0}};
    int k = 0;
    for (const auto& n : f->names()) {
      const bool first = (k++ % 2) == 0;
      (first ? a : b).emplace_back(n, f->tensor(n));
      index["weight_map"][n] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
    write_safetensors(dir + "/model-00001-of-00002.safetensors", a);
    write_safetensors(dir + "/model-00002-of-00002.safetensors", b);
    test::write_file(dir + "/model.safetensors.index.json", index.dump());
    auto m = MambaModel::load(dir);
    at::Tensor ids = ref_tensor("mamba2-tiny", "input_ids");
    at::Tensor ours = m->forward(ids);
    at::Tensor single = MambaModel::load(fixture("mamba2-tiny"))->forward(ids);
    QVERIFY(at::equal(ours, single));

    // A shard listed in the index but missing is named in the error.
    fs::remove(dir + "/model-00002-of-00002.safetensors");
    expect_error([&] { MambaModel::load(dir); }, {"model-00002-of-00002.safetensors", "missing"});
  }

  void half_precision_weights() {
    SHEDDER_REQUIRE_FIXTURES();
    for (auto dt : {at::kBFloat16, at::kHalf}) {
      const std::string dir = rewrite_weights("mamba1-tiny", "half", [&](const std::string&, const at::Tensor& t) {
        return t.to(dt);
      });
      auto m = MambaModel::load(dir);
      QCOMPARE(m->source_dtype(), std::string(dt == at::kBFloat16 ? "BF16" : "F16"));
      // Same model with the rounded weights in float32: our computation of the rounded weights must agree.
      const std::string dir32 = rewrite_weights("mamba1-tiny", "rounded", [&](const std::string&, const at::Tensor& t) {
        return t.to(dt).to(at::kFloat);
      });
      at::Tensor ids = ref_tensor("mamba1-tiny", "input_ids");
      SHEDDER_VERIFY_REL(m->forward(ids), MambaModel::load(dir32)->forward(ids), kReorderRtol, "rounded weights");
      // And stay near the float32 reference.
      const Parity p = compare(m->forward(ids), ref_tensor("mamba1-tiny", "logits"));
      QVERIFY2(p.argmax_agree >= 0.9, qPrintable(QString("agreement %1").arg(p.argmax_agree)));
    }
  }

  void config_with_bare_infinity() {
    SHEDDER_REQUIRE_FIXTURES();
    const std::string dir = test::make_temp_dir("inf");
    copy_dir(fixture("mamba2-tiny"), dir);
    std::string cfg = test::read_file(dir + "/config.json");
    const std::string from = "{\n      \"__float__\": \"Infinity\"\n    }";
    const size_t pos = cfg.find(from);
    QVERIFY(pos != std::string::npos);
    cfg.replace(pos, from.size(), "Infinity");
    fs::remove(dir + "/config.json");
    test::write_file(dir + "/config.json", cfg);
    auto m = MambaModel::load(dir);
    QVERIFY(std::isinf(m->config().time_step_limit_max));
    at::Tensor ids = ref_tensor("mamba2-tiny", "input_ids");
    QVERIFY(compare(m->forward(ids), ref_tensor("mamba2-tiny", "logits")).rel <= kTf32Rtol);
  }

  void bad_checkpoints_give_clear_errors() {
    SHEDDER_REQUIRE_FIXTURES();
    expect_error([] { MambaModel::load("/nonexistent/model"); }, {"/nonexistent/model", "no such model folder"});
    {
      const std::string dir = test::make_temp_dir("nocfg");
      expect_error([&] { MambaModel::load(dir); }, {"config.json", "missing"});
    }
    {
      const std::string dir = test::make_temp_dir("arch");
      test::write_file(dir + "/config.json", R"({"model_type": "llama"})");
      expect_error([&] { MambaModel::load(dir); }, {"config.json", "unknown architecture", "llama"});
    }
    {
      const std::string dir = test::make_temp_dir("badjson");
      test::write_file(dir + "/config.json", R"({"model_type": "mamba", )");
      expect_error([&] { MambaModel::load(dir); }, {"config.json", "malformed JSON"});
    }
    {
      // A config that claims far more layers than the weights hold: the first missing layer is named (and
      // nothing is allocated for the claimed count).
      const std::string dir = test::make_temp_dir("manylayers");
      fs::copy_file(fixture("mamba1-tiny") + "/model.safetensors", dir + "/model.safetensors");
      std::string cfg = test::read_file(fixture("mamba1-tiny") + "/config.json");
      const std::string from = "\"num_hidden_layers\": 3";
      QVERIFY(cfg.find(from) != std::string::npos);
      std::string many = cfg;
      many.replace(many.find(from), from.size(), "\"num_hidden_layers\": 4000");
      test::write_file(dir + "/config.json", many);
      expect_error([&] { MambaModel::load(dir); }, {"missing tensor", "backbone.layers.3.norm.weight"});
      // Beyond any real model the config itself is refused, before the weights are looked at.
      cfg.replace(cfg.find(from), from.size(), "\"num_hidden_layers\": 1000000000");
      fs::remove(dir + "/config.json");
      test::write_file(dir + "/config.json", cfg);
      expect_error([&] { MambaModel::load(dir); }, {"config.json", "num_hidden_layers", "between 1 and 4096"});
    }
    {
      const std::string dir = test::make_temp_dir("noweights");
      fs::copy_file(fixture("mamba1-tiny") + "/config.json", dir + "/config.json");
      expect_error([&] { MambaModel::load(dir); }, {"no weights found"});
    }
    {
      const std::string dir = rewrite_weights("mamba1-tiny", "nan", [](const std::string& n, const at::Tensor& t) {
        at::Tensor c = t.clone();
        if (n == "backbone.layers.1.mixer.dt_proj.weight") c.view(-1)[3] = std::nan("");
        return c;
      });
      expect_error([&] { MambaModel::load(dir); },
                   {"model.safetensors", "backbone.layers.1.mixer.dt_proj.weight", "NaN"});
    }
    {
      const std::string dir = rewrite_weights("mamba1-tiny", "shape", [](const std::string& n, const at::Tensor& t) {
        return n == "backbone.layers.2.mixer.A_log" ? t.narrow(1, 0, 4).contiguous() : t;
      });
      expect_error([&] { MambaModel::load(dir); },
                   {"model.safetensors", "backbone.layers.2.mixer.A_log", "shape [128, 4]", "[128, 8]"});
    }
    {
      const std::string dir = test::make_temp_dir("missing");
      fs::copy_file(fixture("mamba1-tiny") + "/config.json", dir + "/config.json");
      auto f = SafetensorsFile::open(fixture("mamba1-tiny") + "/model.safetensors");
      std::vector<std::pair<std::string, at::Tensor>> t;
      for (const auto& n : f->names())
        if (n != "backbone.layers.0.mixer.D") t.emplace_back(n, f->tensor(n));
      write_safetensors(dir + "/model.safetensors", t);
      expect_error([&] { MambaModel::load(dir); }, {"missing tensor", "backbone.layers.0.mixer.D"});
    }
    {
      const std::string dir = rewrite_weights("mamba1-tiny", "int", [](const std::string& n, const at::Tensor& t) {
        return n == "backbone.norm_f.weight" ? t.to(at::kInt) : t;
      });
      expect_error([&] { MambaModel::load(dir); }, {"backbone.norm_f.weight", "dtype I32"});
    }
  }

  void out_of_range_token_ids() {
    SHEDDER_REQUIRE_FIXTURES();
    auto m = MambaModel::load(fixture("mamba1-tiny"));
    expect_error([&] { m->forward(at::full({1, 4}, 300, at::kLong)); }, {"token id 300", "vocabulary"});
  }
};

QTEST_APPLESS_MAIN(TestModelReference)
#include "test_model_reference.moc"
