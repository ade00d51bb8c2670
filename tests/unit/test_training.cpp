// Recovery tuning / training: the chunked scan equals the sequential recurrence (values and gradients),
// the trainable forward equals the fast inference forward (Mamba-1, Mamba-2 with groups, SSM-less layers; and for
// every architecture, Zamba2 and Hymba included, one parametrised check: gradients reach every weight, AdamW steps
// lower the loss, LoRA on the architecture's targets merges exactly into the saved weights),
// LoRA merges exactly, AdamW and the schedule follow their formulas, tuning lowers validation perplexity,
// a cancelled run resumes to bit-identical weights, bad options are refused; the demo corpus builder
// splits by document, deterministically; `shedder-cli tune --remove` tunes a physically pruned model.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <QtCore/QProcess>
#include <QtTest/QtTest>

#include <filesystem>
#include <fstream>
#include <set>

#include "corpus/demo_corpus.h"
#include "export/exporter.h"
#include "model/mamba_model.h"
#include "model/random_model.h"
#include "eval/perplexity.h"
#include "eval/token_windows.h"
#include "runtime/resources.h"
#include "tokenizer/bpe_tokenizer.h"
#include "support/arch_models.h"
#include "support/expect_error.h"
#include "support/tensor_compare.h"
#include "support/test_support.h"
#include "train/adamw.h"
#include "kernels/chunked_scan.h"
#include "kernels/ssm_scan_autograd.h"
#include "train/trainable_model.h"
#include "train/trainer.h"
#include "util/hash.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace shedder;
using test::expect_error;

namespace {

// h_t = exp(la_t) h_{t-1} + u_t, one step at a time (differentiable too).
at::Tensor sequential(const at::Tensor& la, const at::Tensor& u) {
  std::vector<at::Tensor> hs;
  at::Tensor h = at::zeros_like(u.select(1, 0));
  for (int64_t t = 0; t < u.size(1); ++t) {
    h = at::exp(la.select(1, t)) * h + u.select(1, t);
    hs.push_back(h);
  }
  return at::stack(hs, 1);
}

// Largest |a - b| relative to the magnitude of `b` (tests/unit/support/tensor_compare.h).
double max_diff(const at::Tensor& a, const at::Tensor& b) { return test::rel_err(a, b); }
// The trainable forward (differentiable chunked scan, plain ATen ops) and the inference engine (fused kernels)
// compute the same float32 model in another order; measured at most 1.0e-6 of the compared magnitude (logits,
// scan outputs and gradients) with the AVX-512, AVX2 and SSE2 kernels. 64 float32 epsilons (7.6e-6).
constexpr double kPathRtol = 64 * test::kF32Eps;

std::string sample_text() {
  // Enough varied text for a few 64-token windows with the byte-level tokenizer.
  std::string s;
  const char* lines[] = {"The quick brown fox jumps over the lazy dog.\n",
                         "A journey of a thousand miles begins with a single step.\n",
                         "To be or not to be, that is the question.\n",
                         "All that glitters is not gold; all who wander are not lost.\n"};
  for (int i = 0; i < 60; ++i) s += lines[i % 4];
  return s;
}

std::string make_model(const std::string& tag, Arch arch, int64_t layers, int64_t hidden, uint64_t seed,
                       const nlohmann::json& overrides = nlohmann::json::object()) {
  const std::string dir = test::make_temp_dir(tag) + "/model";
  write_random_model(dir, small_model_config(arch, layers, hidden, arch == Arch::Mamba1 ? 8 : 16, 257, overrides),
                     seed, true);
  return dir;
}

at::Tensor load_weights_of(const std::string& dir, const std::string& name) {
  auto m = TrainableModel::load(dir, {}, at::kCPU, 0);
  for (const auto& kv : m.merged_weights())
    if (kv.first == name) return kv.second;
  return {};
}

}  // namespace

class TestTraining : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void chunked_scan_matches_sequential() {
    at::manual_seed(1);
    for (int64_t L : {1, 2, 7, 16, 37}) {
      for (int64_t chunk : {0, 1, 3, 5, 64}) {
        // Mamba-1 shape: a decay per (channel, state).
        at::Tensor la = -at::rand({2, L, 5, 3}, at::kDouble) * 2;
        at::Tensor u = at::randn({2, L, 5, 3}, at::kDouble);
        QVERIFY2(max_diff(chunked_linear_recurrence(la, u, chunk), sequential(la, u)) < 1e-12,
                 ("L " + std::to_string(L) + " chunk " + std::to_string(chunk)).c_str());
        // Mamba-2 shape: one decay per head, broadcast over (head_dim, state).
        at::Tensor la2 = -at::rand({2, L, 3, 1, 1}, at::kDouble);
        at::Tensor u2 = at::randn({2, L, 3, 4, 2}, at::kDouble);
        QVERIFY(max_diff(chunked_linear_recurrence(la2, u2, chunk), sequential(la2.expand_as(u2), u2)) < 1e-12);
      }
    }
  }

  void chunked_scan_gradients_match_sequential() {
    at::manual_seed(2);
    at::Tensor la0 = -at::rand({2, 23, 4, 3}, at::kDouble), u0 = at::randn({2, 23, 4, 3}, at::kDouble);
    at::Tensor w = at::randn({2, 23, 4, 3}, at::kDouble);
    at::Tensor la1 = la0.clone().requires_grad_(true), u1 = u0.clone().requires_grad_(true);
    (chunked_linear_recurrence(la1, u1, 5) * w).sum().backward();
    at::Tensor la2 = la0.clone().requires_grad_(true), u2 = u0.clone().requires_grad_(true);
    (sequential(la2, u2) * w).sum().backward();
    QVERIFY(max_diff(la1.grad(), la2.grad()) < 1e-10);
    QVERIFY(max_diff(u1.grad(), u2.grad()) < 1e-10);
    QVERIFY(la1.grad().abs().sum().item<double>() > 0);
  }

  void fused_cpu_scan_matches_chunked_form() {
    // Values and all five gradients of the fused kernels against the chunked ATen form, for Mamba-1-like
    // (G = 1, N = 16) and Mamba-2-like (G = 2, per-head dt/A, N = 5: a tail that is not a vector width) shapes.
    at::manual_seed(3);
    struct Case {
      int64_t B, L, D, G, N;
      bool per_head;
    };
    for (const Case& k : {Case{2, 37, 24, 1, 16, false}, Case{3, 20, 12, 2, 5, true}, Case{1, 1, 9, 1, 3, false}}) {
      at::Tensor x = at::randn({k.B, k.L, k.D}), dt = at::rand({k.B, k.L, k.D}) * 0.5 + 0.01;
      at::Tensor A = -at::rand({k.D, k.N}) * 3 - 0.1;
      if (k.per_head) {  // heads of 3 channels share dt and A
        dt = dt.narrow(2, 0, k.D / 3).repeat_interleave(3, 2).contiguous();
        A = A.narrow(0, 0, k.D / 3).narrow(1, 0, 1).repeat_interleave(3, 0).expand({k.D, k.N}).contiguous();
      }
      at::Tensor Bm = at::randn({k.B, k.L, k.G, k.N}), Cm = at::randn({k.B, k.L, k.G, k.N});
      at::Tensor gy = at::randn({k.B, k.L, k.D});
      std::vector<at::Tensor> in1, in2;
      for (const at::Tensor& t : {x, dt, A, Bm, Cm}) {
        in1.push_back(t.clone().requires_grad_(true));
        in2.push_back(t.clone().requires_grad_(true));
      }
      at::Tensor y1 = differentiable_ssm_scan(in1[0], in1[1], in1[2], in1[3], in1[4]);
      at::Tensor y2 = chunked_ssm_scan(in2[0], in2[1], in2[2], in2[3], in2[4]);
      QVERIFY2(max_diff(y1, y2) <= kPathRtol, std::to_string(max_diff(y1, y2)).c_str());
      (y1 * gy).sum().backward();
      (y2 * gy).sum().backward();
      const char* names[] = {"x", "dt", "A", "B", "C"};
      for (int i = 0; i < 5; ++i) {
        // With L = 1 the output does not depend on A: autograd leaves that gradient undefined (= zero).
        auto grad = [](const at::Tensor& t) { return t.grad().defined() ? t.grad() : at::zeros_like(t); };
        QVERIFY2(in1[i].grad().defined(), names[i]);
        const double d = max_diff(grad(in1[i]), grad(in2[i]));
        QVERIFY2(d <= kPathRtol, (std::string("d") + names[i] + ": relative error " + std::to_string(d)).c_str());
      }
    }
  }

  void trainable_forward_matches_inference_on_trained_models() {
    // Trained (non-random) fixtures: Mamba-1, and Mamba-2 with two groups.
    for (const char* name : {"mamba1", "mamba2"}) {
      const std::string dir = test::test_data_dir() + "/trained_tiny/" + name;
      auto ref = MambaModel::load(dir);
      auto tm = TrainableModel::load(dir, {}, at::kCPU, 0);
      at::Tensor ids = at::randint(0, 257, {2, 45}, at::kLong);
      const double d = max_diff(tm.forward(ids).detach(), ref->forward(ids));
      QVERIFY2(d <= kPathRtol, (std::string(name) + ": relative error " + std::to_string(d)).c_str());
    }
  }

  void trainable_forward_matches_inference_without_ssm() {
    // Exported with SSMs removed: the layers without SSM run the rest of the mixer.
    for (Arch a : {Arch::Mamba1, Arch::Mamba2}) {
      const std::string src = make_model("train-nossm", a, 3, 32, 5);
      auto model = MambaModel::load(src);
      RemovalSet r;
      r.add(Granularity::Ssm, 1);
      ExportOptions eo;
      eo.out_dir = test::make_temp_dir("train-nossm-out") + "/pruned";
      export_pruned(*model, r, eo);
      auto ref = MambaModel::load(eo.out_dir);
      QCOMPARE(ref->config().layers_without_ssm.size(), size_t{1});
      auto tm = TrainableModel::load(eo.out_dir, {}, at::kCPU, 0);
      at::Tensor ids = at::randint(0, 257, {1, 30}, at::kLong);
      QVERIFY(max_diff(tm.forward(ids).detach(), ref->forward(ids)) <= kPathRtol);
    }
  }

  void lora_merges_into_the_saved_weights() {
    for (Arch a : {Arch::Mamba1, Arch::Mamba2}) {
      const std::string src = make_model("train-lora", a, 2, 32, 3);
      LoraOptions lo;
      lo.rank = 4;
      lo.alpha = 8;
      auto tm = TrainableModel::load(src, lo, at::kCPU, 7);
      int64_t adapters = 0;
      for (auto& tp : tm.params()) {
        const bool is_lora = tp.name.find(".lora_") != std::string::npos;
        QCOMPARE(tp.trainable, is_lora);
        if (!is_lora) continue;
        adapters += tp.value.numel();
        c10::NoGradGuard ng;
        if (tp.name.find("lora_B") != std::string::npos) tp.value.normal_(0, 0.05);  // B starts at 0
      }
      QCOMPARE(tm.trainable_count(), adapters);
      at::Tensor ids = at::randint(0, 257, {2, 20}, at::kLong);
      at::Tensor with_adapters = tm.forward(ids).detach();
      auto base = MambaModel::load(src);
      QVERIFY2(max_diff(with_adapters, base->forward(ids)) > 1e-3, "the adapters change the output");
      const std::string out = test::make_temp_dir("train-lora-out") + "/merged";
      tm.save(out, "F32");
      QVERIFY(fs::exists(out + "/tokenizer.json"));
      auto merged = MambaModel::load(out);
      QVERIFY(max_diff(merged->forward(ids), with_adapters) <= kPathRtol);
    }
  }

  // Every architecture through the same checks: the trainable forward is the inference forward, every weight gets
  // a finite gradient, a few full AdamW steps lower the loss on their batch, and LoRA adapters on the architecture's
  // targets (only they train) merge into saved weights that reload to the adapted model's logits.
  void every_architecture_trains_data() { test::add_arch_rows(); }
  void every_architecture_trains() {
    QFETCH(QString, arch);
    const std::string dir = test::arch_model(arch.toStdString());
    auto ref = Model::load(dir);
    // Zamba2-tiny amplifies float32 reordering (tests/unit/test_recurrent.cpp measures it): 4096 epsilons there.
    const double tol = arch == QStringLiteral("zamba2") ? 4096 * test::kF32Eps : kPathRtol;
    at::manual_seed(4);
    const at::Tensor ids = test::random_ids(*ref, 2, 24);
    {
      TrainableModel tm = TrainableModel::load(dir, {}, at::kCPU, 0);
      const double d = max_diff(tm.forward(ids).detach(), ref->forward(ids));
      QVERIFY2(d <= tol, qPrintable(arch + QStringLiteral(": trainable vs inference forward %1").arg(d)));
      tm.loss(ids).backward();
      for (const auto& tp : tm.params()) {
        QVERIFY2(tp.value.grad().defined(), qPrintable(arch + ": no gradient for " + QString::fromStdString(tp.name)));
        QVERIFY2(at::isfinite(tp.value.grad()).all().item<bool>(), qPrintable(QString::fromStdString(tp.name)));
      }
      AdamWOptions o;
      o.weight_decay = 0;
      AdamW opt(o);
      double first = 0, last = 0;
      for (int step = 0; step < 6; ++step) {
        for (auto& tp : tm.params()) tp.value.mutable_grad() = at::Tensor();
        at::Tensor loss = tm.loss(ids);
        (step == 0 ? first : last) = loss.item<double>();
        loss.backward();
        opt.step(tm.params(), 3e-3);
      }
      QVERIFY2(last < first, qPrintable(arch + QStringLiteral(": loss %1 -> %2").arg(first).arg(last)));
    }
    LoraOptions lo;
    lo.rank = 2;
    TrainableModel tm = TrainableModel::load(dir, lo, at::kCPU, 7);
    int64_t adapters = 0, targets = 0;
    for (auto& tp : tm.params()) {
      const bool is_lora = tp.name.find(".lora_") != std::string::npos;
      QCOMPARE(tp.trainable, is_lora);
      if (!is_lora) continue;
      adapters += tp.value.numel();
      targets += tp.name.find("lora_A") != std::string::npos;
      c10::NoGradGuard ng;
      if (tp.name.find("lora_B") != std::string::npos) tp.value.normal_(0, 0.05);  // B starts at 0
    }
    QVERIFY2(targets > 0, qPrintable(arch + ": no LoRA target"));
    QCOMPARE(tm.trainable_count(), adapters);
    const at::Tensor adapted = tm.forward(ids).detach();
    QVERIFY2(max_diff(adapted, ref->forward(ids)) > 1e-3, "the adapters change the output");
    const std::string out = test::make_temp_dir("train-every-arch") + "/merged";
    tm.save(out, "F32");
    const double d = max_diff(Model::load(out)->forward(ids), adapted);
    QVERIFY2(d <= tol, qPrintable(arch + QStringLiteral(": merged LoRA vs adapted model %1").arg(d)));
  }

  void adamw_and_schedule_follow_their_formulas() {
    std::vector<TrainableParam> ps(1);
    ps[0].name = "w";
    ps[0].value = at::tensor({1.0f, -2.0f}).requires_grad_(true);
    ps[0].decay = true;
    AdamWOptions o;
    o.beta1 = 0.9;
    o.beta2 = 0.99;
    o.eps = 1e-8;
    o.weight_decay = 0.1;
    AdamW opt(o);
    double p[2] = {1.0, -2.0}, m[2] = {0, 0}, v[2] = {0, 0};
    const double grads[3][2] = {{0.5, -1.0}, {0.25, 2.0}, {-1.0, 0.1}};
    const double lr = 0.01;
    for (int t = 1; t <= 3; ++t) {
      ps[0].value.mutable_grad() = at::tensor({static_cast<float>(grads[t - 1][0]), static_cast<float>(grads[t - 1][1])});
      opt.step(ps, lr);
      for (int i = 0; i < 2; ++i) {
        const double g = grads[t - 1][i];
        p[i] *= 1 - lr * o.weight_decay;
        m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
        v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
        const double mh = m[i] / (1 - std::pow(o.beta1, t)), vh = v[i] / (1 - std::pow(o.beta2, t));
        p[i] -= lr * mh / (std::sqrt(vh) + o.eps);
      }
    }
    // float32 parameters against the formula in float64: a few roundings of the values.
    QVERIFY(test::rel_diff(ps[0].value[0].item<double>(), p[0]) <= 16 * test::kF32Eps);
    QVERIFY(test::rel_diff(ps[0].value[1].item<double>(), p[1]) <= 16 * test::kF32Eps);

    QCOMPARE(scheduled_lr(5, 100, 10, 1.0, 0.1), 0.5);
    QCOMPARE(scheduled_lr(10, 100, 10, 1.0, 0.1), 1.0);
    QVERIFY(test::rel_diff(scheduled_lr(55, 100, 10, 1.0, 0.1), 0.55) <= 1e-12);  // cosine midpoint (float64)
    QVERIFY(test::rel_diff(scheduled_lr(100, 100, 10, 1.0, 0.1), 0.1) <= 1e-12);

    // Clipping scales the global norm down to the limit and reports the norm before.
    ps[0].value.mutable_grad() = at::tensor({3.0f, 4.0f});
    QVERIFY(test::rel_diff(clip_grad_norm(ps, 1.0), 5.0) <= 16 * test::kF32Eps);
    QVERIFY(test::rel_diff(ps[0].value.grad().norm().item<double>(), 1.0) <= 16 * test::kF32Eps);
  }

  void tuning_lowers_validation_perplexity_and_resumes_exactly() {
    const std::string src = make_model("tune-src", Arch::Mamba1, 2, 32, 11);
    const std::string tmp = test::make_temp_dir("tune");
    test::write_file(tmp + "/train.txt", sample_text());
    test::write_file(tmp + "/valid.txt", sample_text().substr(100, 2000));
    TuneOptions o;
    o.train_files = {tmp + "/train.txt"};
    o.valid_files = {tmp + "/valid.txt"};
    o.steps = 8;
    o.lr = 1e-2;
    o.batch = 2;
    o.accumulate = 2;
    o.seq_len = 64;
    o.eval_every = 4;
    o.checkpoint_every = 3;
    o.log_every = 1;
    o.out_dir = tmp + "/full";
    std::vector<TuneLog> logs;
    TuneCallbacks cb;
    cb.on_log = [&](const TuneLog& l) { logs.push_back(l); };
    TuneResult full = run_tuning(src, o, cb);
    QVERIFY(full.valid_ppl_before && full.valid_ppl_after);
    QVERIFY2(*full.valid_ppl_after < 0.8 * *full.valid_ppl_before,
             (std::to_string(*full.valid_ppl_before) + " -> " + std::to_string(*full.valid_ppl_after)).c_str());
    QVERIFY(logs.size() >= 8);
    QVERIFY(!fs::exists(o.out_dir + "/checkpoint"));
    QVERIFY(fs::exists(o.out_dir + "/tune_report.json"));
    // The tuned folder loads in the inference engine and agrees with the reported perplexity direction.
    auto tuned = MambaModel::load(o.out_dir);
    QCOMPARE(tuned->num_layers(), int64_t{2});

    // Cancel after step 5 (checkpoint at 3, and one written for step 5 on cancel), then resume.
    TuneOptions o2 = o;
    o2.out_dir = tmp + "/resumed";
    CancelToken cancel;
    TuneCallbacks cb2;
    cb2.progress = [&](const Progress& p) {
      if (p.done == 5) cancel.cancel();
    };
    bool cancelled = false;
    try {
      run_tuning(src, o2, cb2, &cancel);
    } catch (const Cancelled&) {
      cancelled = true;
    }
    QVERIFY(cancelled);
    QVERIFY(fs::exists(o2.out_dir + "/checkpoint/state.safetensors"));
    QVERIFY(!fs::exists(o2.out_dir + "/model.safetensors"));
    // Without --resume the folder is refused; a changed option is refused on resume.
    expect_error([&] { run_tuning(src, o2); }, {o2.out_dir, "already exists", "--resume"});
    TuneOptions bad = o2;
    bad.resume = true;
    bad.lr = 5e-3;
    expect_error([&] { run_tuning(src, bad); }, {"trainer_state.json", "different run", "lr"});
    o2.resume = true;
    TuneResult res = run_tuning(src, o2);
    QCOMPARE(res.resumed_from, int64_t{5});
    for (const char* name : {"backbone.layers.1.mixer.in_proj.weight", "backbone.embeddings.weight",
                             "backbone.layers.0.mixer.A_log"}) {
      at::Tensor a = load_weights_of(o.out_dir, name), b = load_weights_of(o2.out_dir, name);
      QVERIFY2(a.defined() && b.defined() && max_diff(a, b) == 0.0, name);
    }
    QCOMPARE(*res.valid_ppl_after, *full.valid_ppl_after);
  }

  void bad_options_are_refused() {
    const std::string src = make_model("tune-bad", Arch::Mamba2, 1, 32, 1);
    const std::string tmp = test::make_temp_dir("tune-bad-out");
    test::write_file(tmp + "/train.txt", sample_text());
    TuneOptions o;
    o.train_files = {tmp + "/train.txt"};
    o.out_dir = tmp + "/out";
    o.seq_len = 64;
    o.device = "cuda:0";
    if (!at::hasCUDA()) expect_error([&] { run_tuning(src, o); }, {"--device cuda:0", "no CUDA"});
    o.device = "tpu";
    expect_error([&] { run_tuning(src, o); }, {"--device tpu"});
    o.device = "cpu";
    o.train_files = {tmp + "/missing.txt"};
    expect_error([&] { run_tuning(src, o); }, {"missing.txt"});
    o.train_files = {tmp + "/train.txt"};
    o.seq_len = 100000;
    expect_error([&] { run_tuning(src, o); }, {"training text"});
    o.seq_len = 64;
    o.lr = -1;
    expect_error([&] { run_tuning(src, o); }, {"--lr"});
    o.lr = 1e-3;
    o.out_dir = src;
    o.force = true;
    expect_error([&] { run_tuning(src, o); }, {"model folder itself"});
    QVERIFY(fs::exists(src + "/model.safetensors"));
    // Never a folder that contains the model, never a folder of someone else's files, even with --force.
    o.out_dir = fs::path(src).parent_path().string();
    expect_error([&] { run_tuning(src, o); }, {o.out_dir, "contains the source model folder"});
    o.out_dir = tmp + "/notes";
    fs::create_directories(o.out_dir);
    test::write_file(o.out_dir + "/notes.txt", "mine");
    expect_error([&] { run_tuning(src, o); }, {o.out_dir, "did not write", "tune_report.json"});
    QVERIFY(fs::exists(o.out_dir + "/notes.txt"));
    QVERIFY(fs::exists(src + "/model.safetensors"));
  }

  void demo_corpus_splits_by_document() {
    const std::string tmp = test::make_temp_dir("corpus");
    fs::create_directories(tmp + "/fortunes");
    std::string a, b;
    for (int i = 0; i < 60; ++i) a += "Fortune number " + std::to_string(i) + " of file a.\n%\n";
    for (int i = 0; i < 40; ++i) b += "Saying " + std::to_string(i) + "\nwith two lines.\n%\n";
    test::write_file(tmp + "/fortunes/alpha", a);
    test::write_file(tmp + "/fortunes/beta", b);
    test::write_file(tmp + "/fortunes/alpha.dat", std::string("\x00\x01binary", 8));
    fs::create_symlink("alpha", tmp + "/fortunes/alpha.u8");
    std::string kjv;
    for (int c = 1; c <= 10; ++c)
      for (int v = 1; v <= 3; ++v)
        kjv += "Ge" + std::to_string(c) + ":" + std::to_string(v) + " Verse " + std::to_string(v) + " of chapter " +
               std::to_string(c) + ".\n";
    test::write_file(tmp + "/kjv.txt", kjv);
    CorpusOptions o;
    o.fortunes_dir = tmp + "/fortunes";
    o.kjv_file = tmp + "/kjv.txt";
    o.out_dir = tmp + "/out";
    o.valid_pct = 10;
    o.test_pct = 10;
    o.calibration_docs = 20;
    o.seed = 3;
    nlohmann::json m = build_demo_corpus(o);
    QCOMPARE(m["splits"]["train"]["documents"].get<int64_t>() + m["splits"]["valid"]["documents"].get<int64_t>() +
                 m["splits"]["test"]["documents"].get<int64_t>(),
             int64_t{110});
    QCOMPARE(m["splits"]["valid"]["documents"].get<int64_t>(), int64_t{11});
    auto read_split = [&](const std::string& name) {
      std::multiset<std::string> docs;
      std::ifstream in(o.out_dir + "/" + name + ".jsonl");
      std::string line;
      while (std::getline(in, line)) docs.insert(nlohmann::json::parse(line)["text"].get<std::string>());
      return docs;
    };
    auto train = read_split("train"), valid = read_split("valid"), test_ = read_split("test"),
         calib = read_split("calibration");
    QCOMPARE(calib.size(), size_t{20});
    for (const auto& d : valid) QVERIFY(!train.count(d) && !test_.count(d));
    for (const auto& d : test_) QVERIFY(!train.count(d));
    for (const auto& d : calib) QVERIFY(train.count(d));
    QVERIFY(train.count("Saying 7\nwith two lines.") + valid.count("Saying 7\nwith two lines.") +
                test_.count("Saying 7\nwith two lines.") ==
            1);
    QVERIFY(train.count("Verse 1 of chapter 4.\nVerse 2 of chapter 4.\nVerse 3 of chapter 4.") +
                valid.count("Verse 1 of chapter 4.\nVerse 2 of chapter 4.\nVerse 3 of chapter 4.") +
                test_.count("Verse 1 of chapter 4.\nVerse 2 of chapter 4.\nVerse 3 of chapter 4.") ==
            1);
    // Deterministic for a seed, different for another; an existing corpus needs --force.
    expect_error([&] { build_demo_corpus(o); }, {o.out_dir, "--force"});
    o.force = true;
    QCOMPARE(build_demo_corpus(o)["splits"], m["splits"]);
    o.seed = 4;
    QVERIFY(build_demo_corpus(o)["splits"]["valid"]["fnv1a64"] != m["splits"]["valid"]["fnv1a64"]);
    test::write_file(tmp + "/bad-kjv.txt", "Ge1:1 fine\nthis line is not a verse\n");
    expect_error([&] { read_kjv_verses(tmp + "/bad-kjv.txt"); }, {"bad-kjv.txt:2", "verse"});
  }

  void shipped_demo_models_are_trained() {
    // The models in resources/demo were trained by `tune` (scripts/make-demo-models.sh); a random model of
    // this vocabulary scores ~4000. Their held-out perplexity (first 8 test windows) must stay near the
    // figures in resources/demo/README.md, and the corpus files must be the ones the manifest describes.
    const std::string corpus = demo_path("corpus/manifest.json");
    if (corpus.empty()) SHEDDER_SKIP_OR_FAIL(QStringLiteral("resources/demo not found"));
    const nlohmann::json manifest = nlohmann::json::parse(test::read_file(corpus));
    for (const char* split : {"calibration", "valid", "test"}) {
      const std::string text = test::read_file(demo_path(std::string("corpus/") + split + ".jsonl"));
      QCOMPARE(manifest["splits"][split]["fnv1a64"].get<std::string>(), fnv1a64_hex(text.data(), text.size()));
    }
    for (const char* name : {"mamba1", "mamba2"}) {
      auto m = MambaModel::load(demo_path(name));
      QCOMPARE(m->num_layers(), int64_t{16});
      QCOMPARE(m->source_dtype(), std::string("BF16"));
      at::Tensor w = make_token_windows(m->tokenizer(), read_documents({demo_path("corpus/test.jsonl")}),
                                        *m->tokenizer().eos_id(), 256, 8, "test split");
      const double ppl = evaluate_perplexity(*m, w, 8).perplexity;
      QVERIFY2(ppl > 20 && ppl < 150, (std::string(name) + " test perplexity " + std::to_string(ppl)).c_str());
    }
  }

  void cli_tunes_a_pruned_model() {
    const char* cli = std::getenv("SHEDDER_CLI");
    if (!cli) SHEDDER_SKIP_OR_FAIL(QStringLiteral("SHEDDER_CLI not set"));
    const std::string src = make_model("tune-cli", Arch::Mamba1, 3, 32, 4);
    const std::string tmp = test::make_temp_dir("tune-cli-out");
    test::write_file(tmp + "/train.txt", sample_text());
    QProcess p;
    p.start(cli, {"tune", QString::fromStdString(src), "--train-text", QString::fromStdString(tmp + "/train.txt"),
                  "--valid-text", QString::fromStdString(tmp + "/train.txt"), "--remove", "block:1", "--steps", "3",
                  "--seq-len", "64", "--batch", "2", "--lr", "3e-3", "--out", QString::fromStdString(tmp + "/out"),
                  "--threads", "1", "--json"});
    QVERIFY(p.waitForFinished(120000));
    const std::string err = p.readAllStandardError().toStdString();
    QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0, err.c_str());
    const nlohmann::json rep = nlohmann::json::parse(p.readAllStandardOutput().toStdString());
    QCOMPARE(rep["mode"].get<std::string>(), std::string("full"));
    QVERIFY(rep.contains("valid_ppl_before") && rep.contains("valid_ppl_after"));
    auto tuned = MambaModel::load(tmp + "/out");
    QCOMPARE(tuned->num_layers(), int64_t{2});
    // The scratch export beside --out is gone.
    for (const auto& e : fs::directory_iterator(tmp))
      QVERIFY2(e.path().filename().string().find("pruned-input") == std::string::npos, e.path().c_str());
  }

  void cli_create_model_and_build_corpus_refuse_bad_options() {
    const char* cli = std::getenv("SHEDDER_CLI");
    if (!cli) SHEDDER_SKIP_OR_FAIL(QStringLiteral("SHEDDER_CLI not set"));
    const std::string tmp = test::make_temp_dir("cli-bad");
    test::write_file(tmp + "/broken.json", "{\"model\": ");
    struct Case {
      QStringList args;
      std::vector<std::string> phrases;
    };
    const std::vector<Case> cases = {
        {{"create-model", QString::fromStdString(tmp + "/m"), "--arch", "mamba2", "--hidden", "64", "--head-dim", "48"},
         {"--head-dim", "128"}},
        {{"create-model", QString::fromStdString(tmp + "/m"), "--arch", "mamba2", "--hidden", "64", "--head-dim", "32",
          "--groups", "3"},
         {"--groups", "4"}},
        {{"create-model", QString::fromStdString(tmp + "/m"), "--head-dim", "32"}, {"Mamba-2"}},
        {{"create-model", QString::fromStdString(tmp + "/m"), "--tokenizer", QString::fromStdString(tmp + "/none.json")},
         {"none.json", "cannot open"}},
        {{"create-model", QString::fromStdString(tmp + "/m"), "--tokenizer", QString::fromStdString(tmp + "/broken.json")},
         {"broken.json"}},
        {{"build-corpus", "--out", QString::fromStdString(tmp + "/c")}, {"no sources"}},
        {{"build-corpus", "--out", QString::fromStdString(tmp + "/c"), "--fortunes", QString::fromStdString(tmp + "/nodir")},
         {"nodir"}},
        {{"build-corpus", "--out", QString::fromStdString(tmp + "/c"), "--kjv", QString::fromStdString(tmp + "/broken.json"),
          "--valid-pct", "60", "--test-pct", "50"},
         {"--valid-pct"}},
    };
    for (const Case& c : cases) {
      QProcess p;
      p.start(cli, c.args);
      QVERIFY(p.waitForFinished(60000));
      const std::string err = p.readAllStandardError().toStdString();
      QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 1, (c.args.join(' ').toStdString() + ": " + err).c_str());
      for (const auto& ph : c.phrases)
        QVERIFY2(err.find(ph) != std::string::npos, (c.args.join(' ').toStdString() + " lacks '" + ph + "': " + err).c_str());
    }
    QVERIFY(!fs::exists(tmp + "/m"));
  }

  void cli_interrupted_tuning_resumes() {
    // SIGTERM (as Ctrl-C) stops `tune` at the next step with exit 130 and a checkpoint; the same command with
    // --resume finishes the run from there.
    const char* cli = std::getenv("SHEDDER_CLI");
    if (!cli) SHEDDER_SKIP_OR_FAIL(QStringLiteral("SHEDDER_CLI not set"));
    const std::string src = make_model("tune-int", Arch::Mamba1, 2, 32, 8);
    const std::string tmp = test::make_temp_dir("tune-int-out");
    test::write_file(tmp + "/train.txt", sample_text());
    const QStringList args = {"tune", QString::fromStdString(src), "--train-text",
                              QString::fromStdString(tmp + "/train.txt"), "--steps", "3000", "--seq-len", "64",
                              "--batch", "2", "--log-every", "1", "--checkpoint-every", "0", "--threads", "1",
                              "--out", QString::fromStdString(tmp + "/out")};
    QProcess p;
    p.setReadChannel(QProcess::StandardError);  // waitForReadyRead watches this channel
    p.start(cli, args);
    QVERIFY(p.waitForStarted());
    std::string err;
    while (err.find("step 3/") == std::string::npos) {
      QVERIFY2(p.waitForReadyRead(60000), err.c_str());
      err += p.readAllStandardError().toStdString();
    }
    p.terminate();
    QVERIFY(p.waitForFinished(60000));
    err += p.readAllStandardError().toStdString();
    QVERIFY2(p.exitStatus() == QProcess::NormalExit && p.exitCode() == 130,
             ("exit " + std::to_string(p.exitCode()) + "; " + err.substr(err.size() > 300 ? err.size() - 300 : 0)).c_str());
    QVERIFY2(err.find("--resume") != std::string::npos, err.c_str());
    QVERIFY(fs::exists(tmp + "/out/checkpoint/state.safetensors"));
    QVERIFY(!fs::exists(tmp + "/out/model.safetensors"));
    const nlohmann::json st = nlohmann::json::parse(test::read_file(tmp + "/out/checkpoint/trainer_state.json"));
    QVERIFY(st["step"].get<int64_t>() >= 3);
    QProcess r;
    r.start(cli, QStringList(args) << "--resume" << "--json");
    QVERIFY(r.waitForFinished(300000));
    const std::string rerr = r.readAllStandardError().toStdString();
    QVERIFY2(r.exitStatus() == QProcess::NormalExit && r.exitCode() == 0, rerr.c_str());
    const nlohmann::json rep = nlohmann::json::parse(r.readAllStandardOutput().toStdString());
    QCOMPARE(rep["resumed_from_step"].get<int64_t>(), st["step"].get<int64_t>());
    QVERIFY(fs::exists(tmp + "/out/model.safetensors"));
    QVERIFY(!fs::exists(tmp + "/out/checkpoint"));
  }
};

QTEST_GUILESS_MAIN(TestTraining)
#include "test_training.moc"
