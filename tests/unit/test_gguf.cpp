// GGUF export: the writer's bytes for a tiny file against a layout computed by hand from the GGUF v3 specification,
// its validation rules (keys, tensor names, dimensions, alignment), the Mamba-1 / Mamba-2 exports read back (hyper-
// parameters, tokenizer, llama.cpp's tensor names and shapes, A = -exp(A_log), a removed SSM written as a pass-
// through, offsets contiguous and aligned) and the refusals of what llama.cpp cannot express. The exports are checked
// in llama.cpp itself by tests/gguf/check_gguf.mjs (CTest gguf_llama_cpp).
#include <ATen/ATen.h>

#include <QtTest/QtTest>

#include <cstring>
#include <filesystem>
#include <map>

#include "export/gguf_export.h"
#include "export/gguf_writer.h"
#include "io/safetensors.h"
#include "model/mamba_model.h"
#include "model/random_model.h"
#include "support/arch_models.h"
#include "support/expect_error.h"
#include "support/test_support.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace shedder;
using test::expect_error;

namespace {

// Bytes from hex text (spaces ignored).
std::string hex(const std::string& h) {
  std::string out, digits;
  for (char c : h)
    if (c != ' ' && c != '\n') digits.push_back(c);
  for (size_t i = 0; i + 1 < digits.size(); i += 2) out.push_back(static_cast<char>(std::stoi(digits.substr(i, 2), nullptr, 16)));
  return out;
}

// A minimal GGUF reader for the checks: scalar and array metadata, tensor infos, the data section's start.
struct Read {
  struct Info {
    std::vector<uint64_t> ne;
    uint32_t type = 0;
    uint64_t offset = 0;
  };
  std::string bytes;
  size_t pos = 0;
  std::map<std::string, uint32_t> types;  // key -> value type (array: 100 + element type)
  std::map<std::string, uint64_t> ints;
  std::map<std::string, float> floats;
  std::map<std::string, std::string> strings;
  std::map<std::string, std::vector<std::string>> string_arrays;
  std::map<std::string, std::vector<int32_t>> int_arrays;
  std::vector<std::string> tensor_order;
  std::map<std::string, Info> tensors;
  uint64_t data_start = 0;
  uint32_t alignment = 32;

  uint64_t u(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t(static_cast<unsigned char>(bytes.at(pos + i))) << (8 * i);
    pos += n;
    return v;
  }
  std::string str() {
    const uint64_t n = u(8);
    std::string s = bytes.substr(pos, n);
    pos += n;
    return s;
  }
  explicit Read(const std::string& path) : bytes(test::read_file(path)) {
    if (bytes.substr(0, 4) != "GGUF") throw std::runtime_error("no magic");
    pos = 4;
    if (u(4) != 3) throw std::runtime_error("not version 3");
    const uint64_t nt = u(8), nkv = u(8);
    for (uint64_t i = 0; i < nkv; ++i) {
      const std::string key = str();
      const uint32_t t = static_cast<uint32_t>(u(4));
      types[key] = t;
      if (t == 4 || t == 5) ints[key] = u(4);
      else if (t == 7) ints[key] = u(1);
      else if (t == 6) { const uint32_t b = static_cast<uint32_t>(u(4)); std::memcpy(&floats[key], &b, 4); }
      else if (t == 8) strings[key] = str();
      else if (t == 9) {
        const uint32_t et = static_cast<uint32_t>(u(4));
        const uint64_t n = u(8);
        types[key] = 100 + et;
        for (uint64_t k = 0; k < n; ++k) {
          if (et == 8) string_arrays[key].push_back(str());
          else if (et == 5) int_arrays[key].push_back(static_cast<int32_t>(u(4)));
          else throw std::runtime_error("array type");
        }
      } else throw std::runtime_error("value type");
    }
    if (ints.count("general.alignment")) alignment = static_cast<uint32_t>(ints["general.alignment"]);
    for (uint64_t i = 0; i < nt; ++i) {
      const std::string name = str();
      Info info;
      const uint32_t nd = static_cast<uint32_t>(u(4));
      for (uint32_t d = 0; d < nd; ++d) info.ne.push_back(u(8));
      info.type = static_cast<uint32_t>(u(4));
      info.offset = u(8);
      tensor_order.push_back(name);
      tensors[name] = info;
    }
    data_start = (pos + alignment - 1) / alignment * alignment;
  }
  // The f32 tensor `name` as a float tensor of ggml's shape reversed.
  at::Tensor f32(const std::string& name) const {
    const Info& i = tensors.at(name);
    std::vector<int64_t> shape(i.ne.rbegin(), i.ne.rend());
    at::Tensor t = at::empty(shape, at::kFloat);
    std::memcpy(t.data_ptr(), bytes.data() + data_start + i.offset, t.numel() * 4);
    return t;
  }
};

std::string demo(const std::string& m) { return std::string(qgetenv("SHEDDER_RESOURCES_DIR").constData()) + "/demo/" + m; }

// A random model folder of `arch` with config `overrides` (and, when given, another tokenizer.json).
std::string random_model(const std::string& tag, Arch arch, const nlohmann::json& overrides,
                         const std::string& tokenizer = "") {
  const std::string dir = test::make_temp_dir(tag) + "/model";
  write_random_model(dir, small_model_config(arch, 2, 32, 8, 257, overrides), 1, false, tokenizer);
  return dir;
}

// `dir` with in_proj and out_proj biases (zeros) and use_bias true in its config.json.
void add_biases(const std::string& dir) {
  auto st = SafetensorsFile::open(dir + "/model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> ts;
  for (const std::string& n : st->names()) {
    ts.emplace_back(n, st->tensor(n).clone());
    for (const char* proj : {"in_proj", "out_proj"})
      if (n.size() > 20 && n.find(std::string(proj) + ".weight") != std::string::npos)
        ts.emplace_back(n.substr(0, n.size() - 6) + "bias", at::zeros({st->tensor(n).size(0)}));
  }
  st.reset();
  write_safetensors(dir + "/model.safetensors", ts);
  nlohmann::json cfg = nlohmann::json::parse(test::read_file(dir + "/config.json"));
  cfg["use_bias"] = true;
  test::write_file(dir + "/config.json", cfg.dump());
}

}  // namespace

class TestGguf : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void writer_bytes_match_the_specification();
  void writer_alignment();
  void writer_refuses_what_the_format_forbids();
  void mamba1_export_reads_back();
  void mamba2_export_with_a_pass_through_ssm();
  void refusals();
  void output_file_rules();
};

void TestGguf::writer_bytes_match_the_specification() {
  GgufWriter w("tiny");
  w.add_uint32("a.b", 7);
  w.add_string("k", "xy");
  w.add_tensor("t", at::tensor({1.0f, 2.0f, 3.0f}), GgmlType::F32);
  w.add_tensor("u", at::tensor({1.0f, 2.0f, 3.0f, -1.0f, 0.5f, 0.0f}).reshape({2, 3}), GgmlType::F16);
  const std::string path = test::make_temp_dir("gguf_bytes") + "/tiny.gguf";
  w.write(path);
  // Computed by hand: header 24 bytes, two KVs (19 + 23), two tensor infos (33 + 41) = 140, padded to 160;
  // "t" 12 bytes at offset 0 padded to 32, "u" [2, 3] written ne = {3, 2}, f16, at offset 32, padded to 32.
  const std::string expected = hex(
      "47475546 03000000 0200000000000000 0200000000000000"                      // GGUF, v3, 2 tensors, 2 KVs
      "0300000000000000 612e62 04000000 07000000"                                // "a.b": uint32 7
      "0100000000000000 6b 08000000 0200000000000000 7879"                       // "k": string "xy"
      "0100000000000000 74 01000000 0300000000000000 00000000 0000000000000000"  // t: 1 dim {3}, F32, offset 0
      "0100000000000000 75 02000000 0300000000000000 0200000000000000 01000000"  // u: 2 dims {3, 2}, F16
      "2000000000000000"                                                         //    offset 32
      "0000000000000000000000000000000000000000"                                 // 20 bytes of padding to 160
      "0000803f 00000040 00004040" + std::string(40, '0') +                      // t's data and padding to 32
      "003c 0040 0042 00bc 0038 0000" + std::string(40, '0'));                   // u's data (f16) and padding
  QCOMPARE(static_cast<int>(expected.size()), 224);
  const std::string got = test::read_file(path);
  QCOMPARE(QByteArray::fromStdString(got).toHex(), QByteArray::fromStdString(expected).toHex());
  QCOMPARE(w.file_size(), uint64_t(224));
  QCOMPARE(static_cast<int>(w.header_bytes().size()), 160);
}

void TestGguf::writer_alignment() {
  GgufWriter w("aligned");
  w.set_alignment(64);
  w.add_tensor("a", at::ones({5}), GgmlType::F32);
  w.add_tensor("b", at::ones({3, 7}), GgmlType::BF16);
  const std::string path = test::make_temp_dir("gguf_align") + "/a.gguf";
  w.write(path);
  const Read r(path);
  QCOMPARE(r.alignment, 64u);
  QCOMPARE(r.data_start % 64, uint64_t(0));
  QCOMPARE(r.tensors.at("a").offset, uint64_t(0));
  QCOMPARE(r.tensors.at("b").offset, uint64_t(64));
  QCOMPARE(r.tensors.at("b").type, 30u);
  QCOMPARE(r.bytes.size(), size_t(r.data_start + 128));
}

void TestGguf::writer_refuses_what_the_format_forbids() {
  GgufWriter w("f.gguf");
  w.add_uint32("general.x", 1);
  expect_error([&] { w.add_string("general.x", "again"); }, {"f.gguf", "'general.x' is set twice"});
  for (const char* bad : {"", "Upper.case", "a..b", ".a", "a.", "sp ace"})
    expect_error([&] { w.add_bool(bad, true); }, {"f.gguf", "key"});
  for (uint32_t a : {0u, 4u, 12u, 48u}) expect_error([&] { w.set_alignment(a); }, {"general.alignment", "power of two"});
  expect_error([&] { w.add_string("general.alignment", "32"); }, {"general.alignment must be a uint32"});
  w.add_tensor(std::string(63, 'n'), at::ones({1}), GgmlType::F32);
  expect_error([&] { w.add_tensor(std::string(64, 'n'), at::ones({1}), GgmlType::F32); }, {"64 bytes long", "at most 63"});
  expect_error([&] { w.add_tensor(std::string(63, 'n'), at::ones({1}), GgmlType::F32); }, {"added twice"});
  expect_error([&] { w.add_tensor("five", at::ones({1, 1, 1, 1, 1}), GgmlType::F32); }, {"5 dimensions", "1 to 4"});
  expect_error([&] { w.add_tensor("scalar", at::ones({}), GgmlType::F32); }, {"0 dimensions"});
  expect_error([&] { w.add_tensor("empty", at::ones({0, 3}), GgmlType::F32); }, {"empty dimension"});
  expect_error([&] { w.add_tensor("ints", at::ones({2}, at::kLong), GgmlType::F32); }, {"not a floating-point"});
  expect_error([&] { w.add_tensor("", at::ones({2}), GgmlType::F32); }, {"name is empty"});
}

void TestGguf::mamba1_export_reads_back() {
  auto m = Model::load(demo("mamba1"));
  RemovalSet r;
  r.add_spec("block:3,10");
  GgufExportOptions o;
  o.out_path = test::make_temp_dir("gguf_m1") + "/sub/m1.gguf";  // the parent folder is created
  o.type = "f16";
  const GgufExportResult res = export_gguf(*m, r, o);
  QCOMPARE(res.layers_after, int64_t(14));
  const Read g(o.out_path);
  QCOMPARE(uint64_t(g.bytes.size()), res.bytes);
  QCOMPARE(g.strings.at("general.architecture"), std::string("mamba"));
  QCOMPARE(g.ints.at("general.file_type"), uint64_t(1));
  QCOMPARE(g.ints.at("mamba.block_count"), uint64_t(14));
  QCOMPARE(g.ints.at("mamba.embedding_length"), uint64_t(128));
  QCOMPARE(g.ints.at("mamba.ssm.inner_size"), uint64_t(256));
  QCOMPARE(g.ints.at("mamba.ssm.state_size"), uint64_t(16));
  QCOMPARE(g.ints.at("mamba.ssm.time_step_rank"), uint64_t(8));
  QCOMPARE(g.ints.at("mamba.ssm.conv_kernel"), uint64_t(4));
  QCOMPARE(g.floats.at("mamba.attention.layer_norm_rms_epsilon"), 1e-5f);
  QCOMPARE(g.types.at("mamba.context_length"), 4u);  // uint32, as llama.cpp reads it
  QCOMPARE(g.strings.at("tokenizer.ggml.model"), std::string("gpt2"));
  QCOMPARE(g.strings.at("tokenizer.ggml.pre"), std::string("gpt-2"));
  QCOMPARE(g.string_arrays.at("tokenizer.ggml.tokens").size(), size_t(4096));
  QCOMPARE(g.string_arrays.at("tokenizer.ggml.tokens")[0], std::string("<|endoftext|>"));
  QCOMPARE(g.int_arrays.at("tokenizer.ggml.token_type")[0], 3);  // control
  QCOMPARE(g.int_arrays.at("tokenizer.ggml.token_type")[1], 1);  // normal
  QCOMPARE(g.string_arrays.at("tokenizer.ggml.merges")[0], std::string("\xc4\xa0 t"));
  QCOMPARE(g.ints.at("tokenizer.ggml.eos_token_id"), uint64_t(0));
  QCOMPARE(g.int_arrays.at("shedder.source_layers").size(), size_t(14));
  QCOMPARE(g.int_arrays.at("shedder.source_layers")[3], 4);
  // llama.cpp's names and shapes (ggml order); matrices in f16, the rest f32; no output.weight (tied).
  QCOMPARE(g.tensors.size(), size_t(2 + 14 * 10));
  QVERIFY(!g.tensors.count("output.weight"));
  QCOMPARE(g.tensors.at("token_embd.weight").ne, (std::vector<uint64_t>{128, 4096}));
  QCOMPARE(g.tensors.at("token_embd.weight").type, 1u);
  QCOMPARE(g.tensors.at("blk.13.ssm_in.weight").ne, (std::vector<uint64_t>{128, 512}));
  QCOMPARE(g.tensors.at("blk.0.ssm_conv1d.weight").ne, (std::vector<uint64_t>{4, 256}));
  QCOMPARE(g.tensors.at("blk.0.ssm_conv1d.weight").type, 0u);
  QCOMPARE(g.tensors.at("blk.0.ssm_x.weight").ne, (std::vector<uint64_t>{256, 40}));
  QCOMPARE(g.tensors.at("blk.0.ssm_dt.weight").ne, (std::vector<uint64_t>{8, 256}));
  QCOMPARE(g.tensors.at("blk.0.ssm_a").ne, (std::vector<uint64_t>{16, 256}));
  QCOMPARE(g.tensors.at("blk.0.ssm_d").ne, (std::vector<uint64_t>{256}));
  QCOMPARE(g.tensors.at("blk.0.ssm_out.weight").ne, (std::vector<uint64_t>{256, 128}));
  // Offsets: in order, contiguous, each padded to the alignment; the file ends with the last tensor's padding.
  uint64_t at = 0;
  for (const std::string& n : g.tensor_order) {
    const Read::Info& i = g.tensors.at(n);
    QCOMPARE(i.offset, at);
    uint64_t nbytes = i.type == 0 ? 4 : 2;
    for (uint64_t d : i.ne) nbytes *= d;
    at += (nbytes + 31) / 32 * 32;
  }
  QCOMPARE(uint64_t(g.bytes.size()), g.data_start + at);
  // Block 3 of the export is source layer 4: its A is -exp(A_log).
  auto st = SafetensorsFile::open(demo("mamba1") + "/model.safetensors");
  const at::Tensor a = -at::exp(st->tensor("backbone.layers.4.mixer.A_log").to(at::kFloat));
  QVERIFY(at::equal(g.f32("blk.3.ssm_a"), a));
}

void TestGguf::mamba2_export_with_a_pass_through_ssm() {
  auto m = Model::load(demo("mamba2"));
  RemovalSet r;
  r.add_spec("ssm:2");
  r.add_spec("block:0");
  GgufExportOptions o;
  o.out_path = test::make_temp_dir("gguf_m2") + "/m2.gguf";
  o.type = "f32";
  const GgufExportResult res = export_gguf(*m, r, o);
  QCOMPARE(res.pass_through_ssm_layers, std::vector<int64_t>{1});  // source layer 2 is layer 1 after block 0 goes
  const Read g(o.out_path);
  QCOMPARE(g.strings.at("general.architecture"), std::string("mamba2"));
  QCOMPARE(g.ints.at("mamba2.ssm.time_step_rank"), uint64_t(8));  // heads
  QCOMPARE(g.ints.at("mamba2.ssm.group_count"), uint64_t(1));
  // d_in_proj = 2 * 256 + 2 * 1 * 32 + 8 = 584; conv over 256 + 64 channels; A, D [1, heads]; norm {256 / 1, 1}.
  QCOMPARE(g.tensors.at("blk.1.ssm_in.weight").ne, (std::vector<uint64_t>{128, 584}));
  QCOMPARE(g.tensors.at("blk.1.ssm_conv1d.weight").ne, (std::vector<uint64_t>{4, 320}));
  QCOMPARE(g.tensors.at("blk.1.ssm_a").ne, (std::vector<uint64_t>{1, 8}));
  QCOMPARE(g.tensors.at("blk.1.ssm_d").ne, (std::vector<uint64_t>{1, 8}));
  QCOMPARE(g.tensors.at("blk.1.ssm_norm.weight").ne, (std::vector<uint64_t>{256, 1}));
  QCOMPARE(g.tensors.at("blk.1.ssm_dt.bias").ne, (std::vector<uint64_t>{8}));
  // The pass-through: B/C/dt rows of in_proj and the B/C conv channels zero, D = 1; z and x rows as stored.
  const at::Tensor in = g.f32("blk.1.ssm_in.weight");
  QVERIFY(at::equal(in.narrow(0, 512, 72), at::zeros({72, 128})));
  auto st = SafetensorsFile::open(demo("mamba2") + "/model.safetensors");
  QVERIFY(at::equal(in.narrow(0, 0, 512), st->tensor("backbone.layers.2.mixer.in_proj.weight").narrow(0, 0, 512).to(at::kFloat)));
  QVERIFY(at::equal(g.f32("blk.1.ssm_conv1d.weight").narrow(0, 256, 64), at::zeros({64, 4})));
  QVERIFY(at::equal(g.f32("blk.1.ssm_d"), at::ones({8, 1})));
  QVERIFY(!at::equal(g.f32("blk.0.ssm_d"), at::ones({8, 1})));  // a kept SSM keeps its D
}

void TestGguf::refusals() {
  const auto refuse = [](const std::string& dir, const std::vector<std::string>& phrases, const std::string& spec = "") {
    auto m = Model::load(dir);
    RemovalSet r;
    if (!spec.empty()) r.add_spec(spec);
    expect_error([&] { make_gguf(*m, r, GgmlType::F32, "x.gguf"); }, phrases);
  };
  refuse(test::arch_model("zamba2"), {"x.gguf", "llama.cpp has no architecture for zamba2", "export a model folder"});
  refuse(test::arch_model("hymba"), {"llama.cpp has no architecture for hymba"});
  refuse(random_model("gguf_expand", Arch::Mamba1, {{"expand", 3}}), {"mamba architecture cannot express",
                                                                       "expansion factor other than 2"});
  const std::string biased = random_model("gguf_bias", Arch::Mamba1, nlohmann::json::object());
  add_biases(biased);
  refuse(biased, {"biases on in_proj and out_proj"});
  const std::string limited = random_model("gguf_dtlim", Arch::Mamba2, nlohmann::json::object());
  nlohmann::json cfg = nlohmann::json::parse(test::read_file(limited + "/config.json"));
  cfg["time_step_limit"] = {0.001, 0.1};
  test::write_file(limited + "/config.json", cfg.dump());
  refuse(limited, {"mamba2", "dt limit"});
  // transformers' Mamba-2 layout with 2 groups normalises over the whole inner dimension; llama.cpp per group.
  refuse(test::test_data_dir() + "/trained_tiny/mamba2", {"gated RMSNorm over the whole inner dimension",
                                                          "n_groups = 2"});
  // Width cuts that leave layers of different sizes (llama.cpp gives every layer one size); a Mamba-1 channel cut
  // changes the expansion factor. (Uniform width cuts are written and checked in llama.cpp by gguf_llama_cpp.)
  const std::string tiny1 = test::test_data_dir() + "/trained_tiny/mamba1";
  refuse(tiny1, {"x.gguf", "layers of different sizes"}, "layers.2.ssm.state.0");
  refuse(demo("mamba2"), {"mamba2", "layers of different sizes"}, "layers.5.ssm.heads.3");
  std::string every;
  for (int l = 0; l < 8; ++l) every += (l ? "," : "") + std::string("layers.") + std::to_string(l) + ".mixer.channels.0";
  refuse(tiny1, {"expansion factor other than 2", "intermediate_size 224"}, every);
  nlohmann::json tok = nlohmann::json::parse(byte_level_tokenizer_json());
  tok["normalizer"] = {{"type", "NFC"}};
  refuse(random_model("gguf_norm", Arch::Mamba1, nlohmann::json::object(), tok.dump()),
         {"tokenizer.json", "could not reproduce a normalizer (NFC)"});
  const std::string no_tok = random_model("gguf_notok", Arch::Mamba2, nlohmann::json::object());
  fs::remove(no_tok + "/tokenizer.json");
  refuse(no_tok, {"no tokenizer.json"});
  // f16 cannot hold values near 1e8: the export names the tensor and suggests bf16 or f32.
  const std::string big = random_model("gguf_big", Arch::Mamba1, nlohmann::json::object());
  {
    auto st = SafetensorsFile::open(big + "/model.safetensors");
    std::vector<std::pair<std::string, at::Tensor>> ts;
    for (const std::string& n : st->names())
      ts.emplace_back(n, n == "backbone.layers.1.mixer.out_proj.weight" ? st->tensor(n) * 1e10 : st->tensor(n).clone());
    st.reset();
    write_safetensors(big + "/model.safetensors", ts);
  }
  auto m = Model::load(big);
  expect_error([&] { make_gguf(*m, {}, GgmlType::F16, "big.gguf"); },
               {"backbone.layers.1.mixer.out_proj.weight", "beyond f16's range", "bf16 or f32"});
  make_gguf(*m, {}, GgmlType::BF16, "big.gguf");  // bf16 holds it
  expect_error([&] { parse_gguf_type("q8_0", *m); }, {"--gguf-type must be f32, f16, bf16 or auto"});
}

void TestGguf::output_file_rules() {
  auto m = Model::load(random_model("gguf_out", Arch::Mamba1, nlohmann::json::object()));
  const std::string dir = test::make_temp_dir("gguf_out_files");
  GgufExportOptions o;
  o.out_path = dir + "/m.gguf";
  const GgufExportResult res = export_gguf(*m, {}, o);
  QCOMPARE(res.type, GgmlType::F32);  // auto: the checkpoint's dtype
  QCOMPARE(res.params_after, m->total_parameters());
  expect_error([&] { export_gguf(*m, {}, o); }, {"m.gguf", "exists; use --force"});
  o.force = true;
  export_gguf(*m, {}, o);  // a GGUF file is replaced
  test::write_file(dir + "/notes.txt", "mine");
  o.out_path = dir + "/notes.txt";
  expect_error([&] { export_gguf(*m, {}, o); }, {"notes.txt", "not a GGUF file", "never replaced"});
  QCOMPARE(test::read_file(dir + "/notes.txt"), std::string("mine"));
  o.out_path = dir;
  expect_error([&] { export_gguf(*m, {}, o); }, {"is a folder"});
  for (const auto& e : fs::directory_iterator(dir))  // no temporary file left behind
    QVERIFY2(e.path().filename().string().find(".tmp-") == std::string::npos, e.path().c_str());
}

QTEST_APPLESS_MAIN(TestGguf)
#include "test_gguf.moc"
