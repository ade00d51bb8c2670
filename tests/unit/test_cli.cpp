// End-to-end tests of the real `shedder-cli` binary (path in env SHEDDER_CLI, set by CTest), run with
// QProcess: create-model + info (JSON and human), tokenize, eval on text/JSONL/pre-tokenized windows with
// the perplexity recomputed here from MambaModel::forward, the common options, and bad inputs, each of
// which must end the process normally with a non-zero code and exactly one stderr line naming the problem.
// Independent invocations run a few at a time in parallel to keep the suite fast.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtCore/QProcess>
#include <QtCore/QThread>
#include <QtTest/QtTest>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "model/mamba_model.h"
#include "runtime/device.h"
#include "support/cli_runner.h"
#include "support/test_support.h"
#include "tokenizer/bpe_tokenizer.h"

namespace fs = std::filesystem;
using namespace shedder;
using json = nlohmann::json;

namespace {

using test::check_failure;
using test::cli_path;
using test::CliResult;
using test::contains;
using test::count_lines;
using test::q;
using test::run;
using test::run_many;

// exp(mean over windows of the mean next-token NLL), from our own forward pass with a float64 log_softmax
// (independent of the CLI's fused row_nll path).
double reference_perplexity(const MambaModel& m, const at::Tensor& windows) {
  const int64_t W = windows.size(0), L = windows.size(1);
  double sum = 0;
  for (int64_t w = 0; w < W; ++w) {
    at::Tensor ids = windows.narrow(0, w, 1).to(at::kLong);
    at::Tensor logp = at::log_softmax(m.forward(ids)[0].narrow(0, 0, L - 1).to(at::kDouble), 1);
    sum += -logp.gather(1, ids[0].narrow(0, 1, L - 1).unsqueeze(1)).mean().item<double>();
  }
  return std::exp(sum / static_cast<double>(W));
}

// An `eval --json` run: success, stdout exactly one JSON line with the documented fields, progress on
// stderr, and the perplexity of exactly `windows` under `model`. Returns "" or what is wrong.
std::string check_eval(const CliResult& r, const MambaModel& model, const at::Tensor& windows) {
  if (!r.ok()) return r.describe();
  if (r.out.empty() || r.out.back() != '\n' || count_lines(r.out) != 1)
    return "stdout is not exactly one line: " + r.describe();
  json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return "stdout is not one JSON object: " + r.describe();
  for (const char* key : {"perplexity", "windows", "tokens", "seconds"})
    if (!j.contains(key) || !j[key].is_number()) return std::string("missing number '") + key + "': " + r.out;
  const int64_t W = windows.size(0), L = windows.size(1);
  if (j["windows"].get<int64_t>() != W)
    return "windows " + j["windows"].dump() + ", expected " + std::to_string(W) + ": " + r.describe();
  if (j["tokens"].get<int64_t>() != W * (L - 1))
    return "tokens " + j["tokens"].dump() + ", expected " + std::to_string(W * (L - 1));
  if (j.contains("seq_len") && j["seq_len"].get<int64_t>() != L) return "seq_len " + j["seq_len"].dump();
  if (j["seconds"].get<double>() < 0) return "negative seconds";
  if (!contains(r.err, "eval:") || contains(r.err, "{") || contains(r.err, "perplexity"))
    return "stderr should hold only the progress line: " + r.describe();
  const double ppl = j["perplexity"].get<double>(), ref = reference_perplexity(model, windows);
  if (!(std::abs(ppl - ref) <= 1e-6 * ref))
    return "perplexity " + std::to_string(ppl) + " vs " + std::to_string(ref) + " recomputed (rel " +
           std::to_string(std::abs(ppl - ref) / ref) + ")";
  return {};
}


at::Tensor ids_tensor(const std::vector<int64_t>& ids, int64_t seq_len, int64_t max_windows = 0) {
  int64_t W = static_cast<int64_t>(ids.size()) / seq_len;
  if (max_windows > 0) W = std::min(W, max_windows);
  at::Tensor t = at::empty({W, seq_len}, at::kLong);
  std::copy(ids.begin(), ids.begin() + W * seq_len, t.data_ptr<int64_t>());
  return t;
}

}  // namespace

class TestCli : public QObject {
  Q_OBJECT

  std::string root_;     // temporary folder of this run
  std::string m1_, m2_;  // created random models (mamba, mamba2)
  std::string fx_;       // fixture model folder with tokenizer.json (empty without fixtures)
  std::string tokens1_, tokens_multi_, tokens_big_;  // pre-tokenized windows for m1

  std::string path(const std::string& name) const { return root_ + "/" + name; }

 private Q_SLOTS:
  void initTestCase() {
    if (cli_path().empty() || !fs::exists(cli_path()))
      SHEDDER_SKIP_OR_FAIL(QStringLiteral("SHEDDER_CLI is not set to the shedder-cli binary (run the test through ctest)"));
    at::set_num_threads(1);
    at::manual_seed(7);
    root_ = test::make_temp_dir("cli");
    m1_ = path("m1");
    m2_ = path("m2");
    const auto made = run_many({{"create-model", q(m1_), "--arch", "mamba", "--layers", "3", "--hidden", "32", "--seed",
                                 "1", "--threads", "1"},
                                {"create-model", q(m2_), "--arch", "mamba2", "--layers", "2", "--hidden", "32",
                                 "--seed", "2", "--threads", "1"}});
    for (const auto& r : made) {
      QVERIFY2(r.ok(), r.describe().c_str());
      QVERIFY2(r.out.empty(), "create-model writes its note to stderr");
    }

    // Pre-tokenized windows for m1 (vocab 257).
    tokens1_ = path("one.safetensors");
    write_safetensors(tokens1_, {{"windows", at::randint(0, 257, {5, 12}, at::kLong)}});
    tokens_multi_ = path("multi.safetensors");
    write_safetensors(tokens_multi_, {{"ids32", at::randint(0, 257, {4, 9}, at::kInt)},
                                      {"scores", at::randn({3, 10})},
                                      {"flat", at::randint(0, 257, {20}, at::kLong)}});
    tokens_big_ = path("big.safetensors");
    at::Tensor big = at::randint(0, 257, {2, 8}, at::kLong);
    big[1][3] = 257;
    write_safetensors(tokens_big_, {{"windows", big}});

    if (!test::fixtures_dir().empty()) {
      fx_ = path("fx");
      fs::create_directories(fx_);
      const std::string f = test::fixtures_dir();
      fs::copy_file(f + "/tokenizer/tokenizer.json", fx_ + "/tokenizer.json");
      fs::copy_file(f + "/hf-tiny/mamba1-tiny/config.json", fx_ + "/config.json");
      fs::copy_file(f + "/hf-tiny/mamba1-tiny/model.safetensors", fx_ + "/model.safetensors");
    }
  }

  void cleanupTestCase() {
    std::error_code ec;
    if (!root_.empty()) {
      // Fixture copies keep their read-only mode; make them removable first.
      for (const auto& e : fs::recursive_directory_iterator(root_, ec))
        fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add, ec);
      fs::remove_all(root_, ec);
    }
  }

  void version_and_help() {
    const auto r = run_many({{"--version"}, {"--help"}});
    QVERIFY2(r[0].ok(), r[0].describe().c_str());
    QVERIFY2(r[0].out.rfind(std::string("shedder-cli ") + SHEDDER_VERSION + "\ncpu kernels: ", 0) == 0, r[0].out.c_str());
    QVERIFY2(r[1].ok(), r[1].describe().c_str());
    for (const char* word : {"usage: shedder-cli", "info MODEL", "tokenize MODEL", "eval MODEL", "create-model DIR",
                             "--threads", "--device"})
      QVERIFY2(contains(r[1].out, word), (std::string("help lacks ") + word).c_str());
  }

  // SHEDDER_CPU_LEVEL picks the kernels' instruction-set level (--version tells which runs); a level the
  // processor lacks or a wrong name is one line naming the variable.
  void cpu_level_is_chosen_and_checked() {
    const CliResult sse2 = run({"--version"}, {"SHEDDER_CPU_LEVEL=sse2"});
    QVERIFY2(sse2.ok() && contains(sse2.out, "cpu kernels: sse2"), sse2.describe().c_str());
    const CliResult bad = run({"--version"}, {"SHEDDER_CPU_LEVEL=avx9000"});
    QVERIFY2(check_failure(bad, {"SHEDDER_CPU_LEVEL", "avx9000", "avx512, avx2 or sse2"}).empty(), bad.describe().c_str());
    const CliResult eval = run({"eval", q(m1_), "--tokens", q(tokens1_)}, {"SHEDDER_CPU_LEVEL=avx9000"});
    QVERIFY2(check_failure(eval, {"SHEDDER_CPU_LEVEL"}).empty(), eval.describe().c_str());
  }

  // create-model --force replaces only a folder create-model made (or an empty one), never someone's files.
  void create_model_force_replaces_only_its_own_folder() {
    const std::string mine = path("made"), theirs = path("theirs");
    QVERIFY(run({"create-model", q(mine), "--arch", "mamba", "--layers", "1", "--hidden", "16"}).ok());
    const CliResult again = run({"create-model", q(mine), "--arch", "mamba", "--layers", "1", "--hidden", "16"});
    QVERIFY2(check_failure(again, {mine, "already exists", "--force"}).empty(), again.describe().c_str());
    QVERIFY(run({"create-model", q(mine), "--arch", "mamba2", "--layers", "1", "--hidden", "16", "--force"}).ok());
    fs::create_directories(theirs);
    test::write_file(theirs + "/notes.txt", "mine");
    const CliResult refused =
        run({"create-model", q(theirs), "--arch", "mamba", "--layers", "1", "--hidden", "16", "--force"});
    QVERIFY2(check_failure(refused, {theirs, "did not write"}).empty(), refused.describe().c_str());
    QVERIFY(fs::exists(theirs + "/notes.txt"));
  }

  void create_model_then_info_data() {
    QTest::addColumn<QString>("arch");
    QTest::addColumn<int>("layers");
    QTest::newRow("mamba") << "mamba" << 3;
    QTest::newRow("mamba2") << "mamba2" << 2;
  }

  void create_model_then_info() {
    QFETCH(QString, arch);
    QFETCH(int, layers);
    const std::string dir = arch == "mamba" ? m1_ : m2_;
    const auto r = run_many({{"info", q(dir), "--json"}, {"info", q(dir)}});
    QVERIFY2(r[0].ok(), r[0].describe().c_str());
    QVERIFY2(r[0].err.empty(), r[0].describe().c_str());
    const json j = json::parse(r[0].out, nullptr, false);  // the whole of stdout: one document
    QVERIFY2(!j.is_discarded() && j.is_object(), r[0].out.c_str());
    QCOMPARE(j.value("architecture", std::string()), arch.toStdString());
    QVERIFY(j["parameters"].is_number_integer() && j["parameters"].get<int64_t>() > 0);
    QCOMPARE(j["config"]["num_hidden_layers"].get<int>(), layers);
    QCOMPARE(j.value("tokenizer", false), true);
    const json& tree = j["tree"];
    QCOMPARE(tree.value("id", std::string()), std::string("model"));
    QCOMPARE(tree["parameters"].get<int64_t>(), j["parameters"].get<int64_t>());
    QVERIFY(tree["children"].is_array());
    QCOMPARE(static_cast<int>(tree["children"].size()), layers);
    int64_t block_sum = 0;
    for (int i = 0; i < layers; ++i) {
      const json& blk = tree["children"][static_cast<size_t>(i)];
      const std::string id = "layers." + std::to_string(i);
      QCOMPARE(blk.value("id", std::string()), id);
      QCOMPARE(blk.value("kind", std::string()), std::string("block"));
      QCOMPARE(blk.value("layer", -1), i);
      // The block's width components (heads or channel groups), then its SSM.
      QVERIFY(blk["children"].is_array() && blk["children"].size() >= 2);
      const json& ssm = blk["children"].back();
      QCOMPARE(blk["children"][0].value("id", std::string()),
               id + (arch == "mamba" ? ".mixer.channels.0" : ".ssm.heads.0"));
      QCOMPARE(ssm.value("id", std::string()), id + ".ssm");
      QCOMPARE(ssm.value("kind", std::string()), std::string("ssm"));
      QVERIFY(ssm["parameters"].get<int64_t>() > 0);
      QVERIFY(ssm["parameters"].get<int64_t>() < blk["parameters"].get<int64_t>());
      block_sum += blk["parameters"].get<int64_t>();
    }
    QVERIFY(block_sum < j["parameters"].get<int64_t>());  // + embedding + final norm

    // Human output: every block and SSM by id, the architecture and the parameter count.
    QVERIFY2(r[1].ok(), r[1].describe().c_str());
    const std::string& h = r[1].out;
    QVERIFY(contains(h, arch == "mamba" ? "Mamba-1" : "Mamba-2"));
    QVERIFY(contains(h, std::to_string(j["parameters"].get<int64_t>())));
    for (int i = 0; i < layers; ++i) {
      const std::string id = "layers." + std::to_string(i);
      QVERIFY2(contains(h, "\n" + id + " "), (id + " missing:\n" + h).c_str());
      QVERIFY2(contains(h, id + ".ssm "), (id + ".ssm missing:\n" + h).c_str());
    }
    QVERIFY(!contains(h, "layers." + std::to_string(layers) + " "));
  }

  // The fixture tokenizer's ids for "Hello world" (as Hugging Face `tokenizers` gives them), JSON and plain.
  void tokenize_fixture_tokenizer() {
    SHEDDER_REQUIRE_FIXTURES();
    const auto r =
        run_many({{"tokenize", q(fx_), "--text", "Hello world", "--json"}, {"tokenize", q(fx_), "--text=Hello world"}});
    QVERIFY2(r[0].ok(), r[0].describe().c_str());
    const json j = json::parse(r[0].out, nullptr, false);
    QVERIFY2(!j.is_discarded(), r[0].out.c_str());
    QVERIFY2(j == json::parse(R"({"ids":[40,7478,902]})"), r[0].out.c_str());
    QCOMPARE(count_lines(r[0].out), size_t(1));
    QVERIFY2(r[1].ok(), r[1].describe().c_str());
    QCOMPARE(r[1].out, std::string("40 7478 902\n"));
  }

  // eval --text on plain text and JSONL (documents joined with EOS), against windows built here from the
  // tokenizer's vocabulary and the perplexity recomputed from MambaModel::forward.
  void eval_text_files() {
    SHEDDER_REQUIRE_FIXTURES();
    // Words that the fixture tokenizer maps to one token each, all below the tiny model's vocab (300).
    const std::vector<std::string> words = {" the", " and", " of", " to", " in", " a"};
    const json vocab = json::parse(test::read_file(fx_ + "/tokenizer.json"))["model"]["vocab"];
    std::vector<int64_t> word_id;
    for (const auto& w : words) {
      word_id.push_back(vocab.at("\xC4\xA0" + w.substr(1)).get<int64_t>());  // "Ġ" + word
      QVERIFY(word_id.back() < 300);
    }
    uint32_t state = 12345;
    auto make_doc = [&](int n, std::vector<int64_t>& ids) {
      std::string text;
      for (int i = 0; i < n; ++i) {
        state = state * 1664525u + 1013904223u;
        const size_t k = (state >> 16) % words.size();
        text += words[k];
        ids.push_back(word_id[k]);
      }
      return text;
    };
    const BpeTokenizer tok = BpeTokenizer::from_file(fx_ + "/tokenizer.json");
    QVERIFY(tok.eos_id().has_value());
    const int64_t eos = *tok.eos_id();

    std::vector<int64_t> plain_ids, doc1_ids, doc2_ids;
    const std::string plain = make_doc(203, plain_ids), doc1 = make_doc(61, doc1_ids), doc2 = make_doc(77, doc2_ids);
    for (const auto& [text, ids] : {std::make_pair(plain, plain_ids), std::make_pair(doc1, doc1_ids)}) {
      const std::vector<int32_t> enc = tok.encode(text);
      QVERIFY(std::vector<int64_t>(enc.begin(), enc.end()) == ids);
    }
    const std::string txt = path("plain.txt"), jsonl = path("docs.jsonl");
    test::write_file(txt, plain);
    test::write_file(jsonl, json{{"text", doc1}, {"source", "a"}}.dump() + "\n" + json{{"text", ""}}.dump() + "\n\n" +
                                json{{"text", doc2}}.dump() + "\n");
    std::vector<int64_t> jsonl_ids = doc1_ids, both_ids = plain_ids;
    jsonl_ids.push_back(eos);
    jsonl_ids.insert(jsonl_ids.end(), doc2_ids.begin(), doc2_ids.end());
    both_ids.push_back(eos);
    both_ids.insert(both_ids.end(), jsonl_ids.begin(), jsonl_ids.end());

    const QStringList common = {"--json", "--threads", "1"};
    const auto r = run_many(
        {QStringList{"eval", q(fx_), "--text", q(txt), "--seq-len", "16"} + common,
         QStringList{"eval", q(fx_), "--text", q(jsonl), "--seq-len", "16"} + common,
         QStringList{"eval", q(fx_), "--text", q(txt), q(jsonl), "--seq-len", "16", "--max-windows", "5", "--batch",
                     "3"} +
             common,
         // A --max-windows so large that windows x seq-len overflows int64: all windows.
         QStringList{"eval", q(fx_), "--text", q(txt), "--seq-len", "4", "--max-windows", "4611686018427387904"} +
             common});
    auto m = MambaModel::load(fx_);
    const at::Tensor expect[] = {ids_tensor(plain_ids, 16), ids_tensor(jsonl_ids, 16), ids_tensor(both_ids, 16, 5),
                                 ids_tensor(plain_ids, 4)};
    QCOMPARE(expect[0].size(0), int64_t(12));  // 203 tokens
    QCOMPARE(expect[1].size(0), int64_t(8));   // 61 + EOS + 77 tokens
    QCOMPARE(expect[3].size(0), int64_t(50));
    for (size_t i = 0; i < r.size(); ++i) {
      const std::string bad = check_eval(r[i], *m, expect[i]);
      QVERIFY2(bad.empty(), ("call " + std::to_string(i) + ": " + bad).c_str());
    }
  }

  // eval --tokens FILE and FILE:TENSOR (int64 and int32 windows), with --max-windows; no fixtures needed.
  void eval_token_files() {
    auto m = MambaModel::load(m1_);
    const QStringList common = {"--json", "--threads", "1"};
    const auto r =
        run_many({QStringList{"eval", q(m1_), "--tokens", q(tokens1_)} + common,
                  QStringList{"eval", q(m1_), "--tokens", q(tokens_multi_ + ":ids32"), "--batch", "3"} + common,
                  QStringList{"eval", q(m1_), "--tokens", q(tokens1_ + ":windows"), "--max-windows", "2"} + common});
    const at::Tensor one = SafetensorsFile::open(tokens1_)->tensor("windows").clone();
    auto multi = SafetensorsFile::open(tokens_multi_);
    const at::Tensor expect[] = {one, multi->tensor("ids32").to(at::kLong), one.narrow(0, 0, 2)};
    for (size_t i = 0; i < r.size(); ++i) {
      const std::string bad = check_eval(r[i], *m, expect[i]);
      QVERIFY2(bad.empty(), ("call " + std::to_string(i) + ": " + bad).c_str());
    }
  }

  // --threads 1 (reported back), --device cpu and auto accepted with the same result; cuda refused.
  void common_options() {
    const QStringList ev = {"eval", q(m1_), "--tokens", q(tokens1_), "--json"};
    const auto r =
        run_many({ev + QStringList{"--threads", "1", "--device", "cpu"},
                  ev + QStringList{"--device", "auto", "--threads", "2"}, ev + QStringList{"--device", "cuda"}});
    for (int i = 0; i < 2; ++i) QVERIFY2(r[i].ok(), r[i].describe().c_str());
    const json j0 = json::parse(r[0].out, nullptr, false), j1 = json::parse(r[1].out, nullptr, false);
    QVERIFY2(!j0.is_discarded() && j0.value("threads", -1) == 1, r[0].out.c_str());
    QVERIFY2(!j1.is_discarded() && j1.value("threads", -1) == 2, r[1].out.c_str());
    const double ppl = j0["perplexity"].get<double>();
    QVERIFY(std::abs(j1["perplexity"].get<double>() - ppl) <= 1e-6 * ppl);
    // This machine's libtorch has no CUDA: --device cuda is refused with the reason; so are a bad --dtype and a
    // reduced-precision dtype on the CPU (the CPU engine computes in float32).
    if (cuda_device_count() == 0) {
      const std::string bad = check_failure(r[2], {"--device cuda", "no CUDA"});
      QVERIFY2(bad.empty(), bad.c_str());
    }
    const auto d = run_many({ev + QStringList{"--dtype", "fp8"}, ev + QStringList{"--dtype", "bfloat16"},
                             ev + QStringList{"--device", "tpu"}, ev + QStringList{"--warmup", "-1"}});
    std::string m = check_failure(d[0], {"--dtype fp8", "not a dtype"});
    QVERIFY2(m.empty(), m.c_str());
    m = check_failure(d[1], {"--dtype bfloat16", "float32", "--device cuda"});
    QVERIFY2(m.empty(), m.c_str());
    m = check_failure(d[2], {"--device tpu", "cpu, cuda, cuda:N or auto"});
    QVERIFY2(m.empty(), m.c_str());
    m = check_failure(d[3], {"--warmup", ">= 0"});
    QVERIFY2(m.empty(), m.c_str());
  }

  // Every user error: normal exit (no signal), code 1 (a shedder::Error, not main's "internal error" code 3),
  // nothing on stdout, exactly one stderr line that names the problem and the offending path or option.
  void bad_inputs_fail_with_one_line() {
    // Broken model folders (built from the random model m1: no fixtures needed).
    const std::string nocfg = path("nocfg"), badcfg = path("badcfg"), llama = path("llama"), notok = path("notok");
    for (const auto& d : {nocfg, badcfg, llama, notok}) fs::create_directories(d);
    fs::copy_file(m1_ + "/model.safetensors", nocfg + "/model.safetensors");
    test::write_file(badcfg + "/config.json", R"({"model_type": "mamba", )");
    test::write_file(llama + "/config.json", R"({"model_type": "llama", "hidden_size": 32})");
    fs::copy_file(m1_ + "/config.json", notok + "/config.json");
    fs::copy_file(m1_ + "/model.safetensors", notok + "/model.safetensors");
    const std::string weights = test::read_file(m1_ + "/model.safetensors");
    std::vector<std::string> trunc;
    for (size_t n : {size_t(0), weights.size() / 2}) {
      const std::string d = path("trunc" + std::to_string(n));
      fs::create_directories(d);
      fs::copy_file(m1_ + "/config.json", d + "/config.json");
      test::write_file(d + "/model.safetensors", weights.substr(0, n));
      trunc.push_back(d);
    }
    // Text inputs.
    const std::string empty = path("empty.txt"), short_txt = path("short.txt"), bad_jsonl = path("bad.jsonl"),
                      nofile = path("none.txt");
    test::write_file(empty, "");
    test::write_file(short_txt, "tiny text");  // 9 tokens with the byte-level tokenizer
    test::write_file(bad_jsonl, "{\"text\": \"fine\"}\n{\"text\": \n");
    const QString m1 = q(m1_), one = q(tokens1_);

    struct Case {
      const char* name;
      QStringList args;
      std::vector<std::string> phrases;
    };
    const std::vector<Case> cases = {
        {"missing model folder (eval)",
         {"eval", q(path("nope")), "--tokens", one},
         {path("nope"), "no such model folder"}},
        {"folder without config.json", {"eval", q(nocfg), "--tokens", one}, {nocfg + "/config.json", "missing"}},
        {"corrupt config.json", {"info", q(badcfg)}, {badcfg + "/config.json", "malformed JSON"}},
        {"unknown model_type", {"info", q(llama)}, {llama + "/config.json", "unknown architecture", "llama"}},
        {"model.safetensors of 0 bytes", {"info", q(trunc[0])}, {trunc[0] + "/model.safetensors", "too short"}},
        {"model.safetensors cut in half",
         {"eval", q(trunc[1]), "--tokens", one},
         {trunc[1] + "/model.safetensors", "truncated"}},
        {"missing tokenizer.json with --text",
         {"eval", q(notok), "--text", q(short_txt), "--seq-len", "4"},
         {notok + "/tokenizer.json", "missing"}},
        {"empty text file", {"eval", m1, "--text", q(empty), "--seq-len", "4"}, {empty, "empty"}},
        {"text shorter than one window",
         {"eval", m1, "--text", q(short_txt), "--seq-len", "64"},
         {short_txt, "9 tokens", "fewer than one window", "64"}},
        {"malformed JSONL line", {"eval", m1, "--text", q(bad_jsonl)}, {bad_jsonl + ":2", "JSON"}},
        {"nonexistent text file", {"eval", m1, "--text", q(nofile)}, {nofile, "no such file"}},
        {"--seq-len 1", {"eval", m1, "--tokens", one, "--seq-len", "1"}, {"--seq-len", "at least 2", "1"}},
        {"unknown option", {"eval", m1, "--tokens", one, "--bogus"}, {"unknown option", "--bogus"}},
        {"missing MODEL (eval)", {"eval", "--tokens", one}, {"eval", "MODEL"}},
        {"--text and --tokens together", {"eval", m1, "--text", q(short_txt), "--tokens", one}, {"--text", "--tokens"}},
        {"--tokens with a float tensor",
         {"eval", m1, "--tokens", q(tokens_multi_ + ":scores")},
         {tokens_multi_, "scores", "integers"}},
        {"--tokens with ids >= vocab", {"eval", m1, "--tokens", q(tokens_big_)}, {tokens_big_, "257", "vocabulary"}},
        {"--tokens with a 1-D tensor",
         {"eval", m1, "--tokens", q(tokens_multi_ + ":flat")},
         {tokens_multi_, "flat", "[windows, seq_len]"}},
    };
    std::vector<QStringList> calls;
    for (const auto& c : cases) calls.push_back(c.args);
    const auto results = run_many(calls);
    QStringList failures;
    for (size_t i = 0; i < cases.size(); ++i) {
      const std::string bad = check_failure(results[i], cases[i].phrases);
      if (!bad.empty()) failures << QString::fromStdString(std::string(cases[i].name) + ": " + bad);
    }
    QVERIFY2(failures.isEmpty(), qPrintable(failures.join("\n")));
  }

  // `search` stops hopeless candidates early by default (ppl_at_least, fewer blocks_run), --exhaustive scores all,
  // --candidate-batch stacks candidates; all remove the same blocks.
  void search_early_abandonment_and_exhaustive() {
    const std::string trained = test::test_data_dir() + "/trained_tiny/mamba1";
    const std::string calib = test::test_data_dir() + "/trained_tiny/calib.safetensors";
    const QStringList base = {"search", q(trained), "--granularity", "block", "--steps", "2", "--calib-tokens",
                              q(calib), "--batch", "1", "--json", "--threads", "1"};
    CliResult r = run(base);
    QVERIFY2(r.ok(), r.describe().c_str());
    const auto fast = nlohmann::json::parse(r.out);
    r = run(base + QStringList{"--exhaustive"});
    QVERIFY2(r.ok(), r.describe().c_str());
    const auto full = nlohmann::json::parse(r.out);
    QCOMPARE(fast["steps"].size(), size_t(2));
    int bounds = 0;
    for (size_t i = 0; i < 2; ++i) {
      QCOMPARE(fast["steps"][i]["removed"], full["steps"][i]["removed"]);
      for (const auto& c : fast["steps"][i]["candidates"]) bounds += c.contains("ppl_at_least");
      for (const auto& c : full["steps"][i]["candidates"]) QVERIFY(c.contains("ppl") && !c.contains("ppl_at_least"));
    }
    QVERIFY(bounds > 0);
    QCOMPARE(fast["abandoned"].get<int>(), bounds);
    QCOMPARE(full["abandoned"].get<int>(), 0);
    QVERIFY(fast["blocks_run"].get<int64_t>() < full["blocks_run"].get<int64_t>());

    // Stacked candidates (--candidate-batch) remove the same blocks and say how many went together; a negative
    // count is a one-line refusal.
    r = run(base + QStringList{"--candidate-batch", "3"});
    QVERIFY2(r.ok(), r.describe().c_str());
    const auto stacked = nlohmann::json::parse(r.out);
    QCOMPARE(stacked["candidate_batch"].get<int>(), 3);
    QCOMPARE(fast["candidate_batch"].get<int>(), 1);  // the CPU default: one at a time
    for (size_t i = 0; i < 2; ++i) QCOMPARE(stacked["steps"][i]["removed"], full["steps"][i]["removed"]);
    r = run(base + QStringList{"--candidate-batch", "-1"});
    const std::string bad = check_failure(r, {"--candidate-batch", ">= 0"});
    QVERIFY2(bad.empty(), bad.c_str());
  }

  // Width ids depend on the state step and the channel group: a run records them, eval --pruning-config takes them
  // from it (the searched perplexity again) and refuses a contradicting option; a zero-size state is one line.
  void width_ids_keep_their_sizes() {
    const std::string trained = test::test_data_dir() + "/trained_tiny/mamba1";
    const std::string calib = test::test_data_dir() + "/trained_tiny/calib.safetensors";
    const std::string out = path("width-run");
    CliResult r = run({"search", q(trained), "--granularity", "state", "--state-step", "4", "--steps", "2",
                       "--calib-tokens", q(calib), "--batch", "8", "--json", "--out", q(out)});
    QVERIFY2(r.ok(), r.describe().c_str());
    const auto res = nlohmann::json::parse(r.out);
    const std::string cfg = out + "/pruning_config.json";
    QCOMPARE(nlohmann::json::parse(test::read_file(cfg))["state_step"].get<int>(), 4);
    r = run({"eval", q(trained), "--tokens", q(calib), "--batch", "8", "--json", "--pruning-config", q(cfg)});
    QVERIFY2(r.ok(), r.describe().c_str());
    const double ppl = nlohmann::json::parse(r.out)["perplexity"].get<double>(), want = res["steps"][1]["ppl"].get<double>();
    QVERIFY2(std::abs(ppl - want) <= 1e-9 * want, qPrintable(QString("%1 vs %2").arg(ppl).arg(want)));
    r = run({"eval", q(trained), "--tokens", q(calib), "--pruning-config", q(cfg), "--state-step", "2"});
    QVERIFY2(check_failure(r, {"pruning_config.json", "chunks of 4 dimensions", "--state-step 2"}).empty(), r.describe().c_str());
    r = run({"eval", q(trained), "--tokens", q(calib), "--state-step", "8", "--remove",
             "layers.1.ssm.state.0,layers.1.ssm.state.1"});
    QVERIFY2(check_failure(r, {"layer 1", "zero-size state", "layers.1.ssm"}).empty(), r.describe().c_str());
  }

  // `search`: JSON output, the --out folder (journal, reference pruning configs, result), --resume without
  // redoing steps, the pruning config accepted by eval, and bad search options.
  void search_outputs_resume_and_interop() {
    const std::string trained = test::test_data_dir() + "/trained_tiny/mamba2";
    const std::string calib = test::test_data_dir() + "/trained_tiny/calib.safetensors";
    const std::string out = path("search-out");
    const QStringList base = {"search", q(trained), "--granularity", "ssm", "--calib-tokens", q(calib),
                              "--seq-len", "256", "--windows", "4", "--batch", "4", "--json", "--threads", "1"};
    CliResult r = run(base + QStringList{"--steps", "2", "--out", q(out)});
    QVERIFY2(r.ok(), r.describe().c_str());
    const auto j = nlohmann::json::parse(r.out);
    QCOMPARE(j["steps"].size(), size_t(2));
    QVERIFY(j["base_ppl"].get<double>() > 1);
    QCOMPARE(j["steps"][0]["candidates"].size(), size_t(8));
    QVERIFY(j["steps"][0]["candidates"][0].contains("ppl"));
    QCOMPARE(j["steps"][0]["removed"].get<std::string>(),
             "layers." + std::to_string(j["steps"][0]["index"].get<int>()) + ".ssm");
    QVERIFY(fs::exists(out + "/journal.jsonl"));
    QVERIFY(fs::exists(out + "/search_result.json"));
    QVERIFY(fs::exists(out + "/pruned_model_configs/config.ssm.0.json"));
    QVERIFY(fs::exists(out + "/pruned_model_configs/config.ssm.1.json"));
    const auto cfg = nlohmann::json::parse(test::read_file(out + "/pruning_config.json"));
    QCOMPARE(cfg["pruned_ssm_idx"].size(), size_t(2));

    // Running again into the same folder without --resume is refused; with --resume it continues.
    r = run(base + QStringList{"--steps", "3", "--out", q(out)});
    QVERIFY2(!check_failure(r, {"journal.jsonl", "--resume"}).size(), r.describe().c_str());
    r = run(base + QStringList{"--steps", "3", "--out", q(out), "--resume"});
    QVERIFY2(r.ok(), r.describe().c_str());
    const auto k = nlohmann::json::parse(r.out);
    QCOMPARE(k["resumed_steps"].get<int>(), 2);
    QCOMPARE(k["steps"].size(), size_t(3));
    QCOMPARE(k["evaluations"].get<int>(), 6);
    QCOMPARE(k["steps"][1]["index"], j["steps"][1]["index"]);

    // export from the journal: the report carries the search's perplexities for that step.
    const std::string ex = path("export-from-journal");
    r = run({"export", q(trained), "--journal", q(out + "/journal.jsonl"), "--step", "1", "--out", q(ex), "--json",
             "--threads", "1"});
    QVERIFY2(r.ok(), r.describe().c_str());
    const auto rep = nlohmann::json::parse(r.out);
    QCOMPARE(rep["removed"].size(), size_t(2));
    QCOMPARE(rep["perplexity_after"].get<double>(), k["steps"][1]["ppl"].get<double>());
    QCOMPARE(rep["perplexity_before"].get<double>(), k["base_ppl"].get<double>());
    QVERIFY(!rep["transformers_loadable"].get<bool>());  // SSMs removed: recorded in config.json
    // Its model card: front matter first, the removed components in search order, the perplexities, and the
    // command that writes the same folder; the recipe beside it replays the export to the same weights.
    const std::string card = test::read_file(ex + "/README.md");
    QVERIFY(card.rfind("---\nbase_model: \"mamba2\"\nlibrary_name: mamba-shedder\n", 0) == 0);
    QVERIFY(card.find("tags:\n- pruned\n- mamba-shedder\n- mamba2\n---\n") != std::string::npos);
    const std::string first = rep["removed"][0].get<std::string>(), second = rep["removed"][1].get<std::string>();
    const size_t a = card.find("1. `" + first + "`"), b = card.find("2. `" + second + "`");
    QVERIFY(a != std::string::npos && b != std::string::npos && a < b);
    char row[128];
    std::snprintf(row, sizeof row, "| perplexity | %.4f | %.4f |", rep["perplexity_before"].get<double>(),
                  rep["perplexity_after"].get<double>());
    QVERIFY2(card.find(row) != std::string::npos, row);
    QVERIFY(card.find("shedder-cli export " + trained + " --remove " + first + "," + second + " --out OUT_DIR") !=
            std::string::npos);
    const std::string recipe = ex + "/shedding_recipe.json";
    r = run({"export", q(trained), "--recipe", q(recipe), "--out", q(ex + "-replayed")});
    QVERIFY2(r.ok(), r.describe().c_str());
    QVERIFY(test::read_file(ex + "-replayed/model.safetensors") == test::read_file(ex + "/model.safetensors"));
    r = run({"export", q(test::test_data_dir() + "/trained_tiny/mamba1"), "--recipe", q(recipe), "--out", q(ex + "-m1")});
    QVERIFY2(check_failure(r, {"shedding_recipe.json", "a recipe for a mamba2 model"}).empty(), r.describe().c_str());
    // Not a recipe: another export file, a recipe whose format is not a string, one naming a component the model lacks.
    r = run({"export", q(trained), "--recipe", q(ex + "/shedding_report.json"), "--out", q(ex + "-x")});
    QVERIFY2(check_failure(r, {"shedding_report.json", "not a shedding recipe"}).empty(), r.describe().c_str());
    auto odd = nlohmann::json::parse(test::read_file(recipe));
    odd["format"] = 3;
    test::write_file(path("odd.json"), odd.dump());
    r = run({"export", q(trained), "--recipe", q(path("odd.json")), "--out", q(ex + "-x")});
    QVERIFY2(check_failure(r, {"odd.json", "\"format\"", "must be a string"}).empty(), r.describe().c_str());
    odd["format"] = "mamba-shedder-recipe";
    odd["removed"] = {"layers.99"};
    test::write_file(path("odd.json"), odd.dump());
    r = run({"export", q(trained), "--recipe", q(path("odd.json")), "--out", q(ex + "-x")});
    QVERIFY2(check_failure(r, {"odd.json", "layers.99"}).empty(), r.describe().c_str());
    QVERIFY(!std::filesystem::exists(ex + "-x"));
    auto tampered = nlohmann::json::parse(test::read_file(recipe));
    tampered["parameters_after"] = tampered["parameters_after"].get<int64_t>() + 1;
    test::write_file(path("tampered.json"), tampered.dump());
    r = run({"export", q(trained), "--recipe", q(path("tampered.json")), "--out", q(ex + "-tampered")});
    QVERIFY2(check_failure(r, {"the recipe expects"}).empty(), r.describe().c_str());
    QVERIFY(!std::filesystem::exists(ex + "-tampered"));

    r = run({"export", q(trained), "--journal", q(out + "/journal.jsonl"), "--step", "1", "--out", q(ex)});
    QVERIFY2(check_failure(r, {"export-from-journal", "already exists", "--force"}).empty(), r.describe().c_str());
    r = run({"export", q(trained), "--journal", q(out + "/journal.jsonl"), "--step", "7", "--out", q(ex + "2")});
    QVERIFY2(check_failure(r, {"journal.jsonl", "no step 7"}).empty(), r.describe().c_str());
    r = run({"export", q(trained), "--out", q(ex + "3")});
    QVERIFY2(check_failure(r, {"nothing to remove"}).empty(), r.describe().c_str());

    // eval reads the reference-format file and gives the perplexity the search recorded.
    r = run({"eval", q(trained), "--tokens", q(calib), "--seq-len", "256", "--pruning-config",
             q(out + "/pruned_model_configs/config.ssm.1.json"), "--json", "--threads", "1"});
    QVERIFY2(r.ok(), r.describe().c_str());
    // (eval uses all 8 windows, the search 4 of them; just check the removal was applied)
    QCOMPARE(nlohmann::json::parse(r.out)["removed"].size(), size_t(2));

    const std::vector<std::pair<QStringList, std::vector<std::string>>> bad = {
        {{"search", q(trained), "--granularity", "heads", "--calib-tokens", q(calib)}, {"--granularity", "heads"}},
        {{"search", q(trained), "--metric", "magic", "--calib-tokens", q(calib)}, {"--metric", "magic"}},
        {{"search", q(trained), "--steps", "0", "--calib-tokens", q(calib)}, {"--steps"}},
        {{"search", q(trained)}, {"--calib-text", "--calib-tokens"}},
        {{"search", q(trained), "--calib-tokens", q(calib), "--resume"}, {"--resume", "--out"}},
        {{"search", q(trained), "--calib-tokens", q(calib), "--remove", "block:99"}, {"--remove", "layers.99", "0..7"}},
    };
    std::vector<QStringList> calls;
    for (const auto& b : bad) calls.push_back(b.first);
    const auto results = run_many(calls);
    for (size_t i = 0; i < bad.size(); ++i) {
      const std::string why = check_failure(results[i], bad[i].second);
      QVERIFY2(why.empty(), why.c_str());
    }
  }

  // A tokenizer whose ids exceed the model's vocabulary (fixture tokenizer, 8192 ids, with the 300-id tiny
  // model): a clean one-line error naming tokenizer.json (the mismatching file).
  void text_with_ids_beyond_the_vocabulary() {
    SHEDDER_REQUIRE_FIXTURES();
    const std::string txt = path("hello.txt");
    test::write_file(txt, "Hello world, this is a test of the tokenizer.");
    const CliResult r = run({"eval", q(fx_), "--text", q(txt), "--seq-len", "4"});
    const std::string bad = check_failure(r, {"tokenizer.json", "vocabulary", "does not belong to this model"});
    QVERIFY2(bad.empty(), bad.c_str());
  }
};

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
