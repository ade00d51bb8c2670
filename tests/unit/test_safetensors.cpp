// Tests of safetensors reading (zero-copy, validation of corrupt files) and atomic writing.
#include <ATen/ATen.h>

#include "support/test_support.h"

#include <QtTest/QtTest>
#include <signal.h>
#include <sys/resource.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "io/safetensors.h"
#include "util/error.h"

namespace fs = std::filesystem;
using shedder::SafetensorsFile;

namespace {

using TensorList = std::vector<std::pair<std::string, at::Tensor>>;

// A safetensors file from raw parts: little-endian header length, header text, data bytes.
std::string st_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string write_temp(const std::string& name, const std::string& bytes) {
  const std::string path = shedder::test::make_temp_dir("st") + "/" + name;
  shedder::test::write_file(path, bytes);
  return path;
}

struct Thrown {
  bool shedder_error = false;  // a shedder::Error was thrown
  std::string message;         // its message, or what else happened
};

Thrown run_catching(const std::function<void()>& f) {
  try {
    f();
  } catch (const shedder::Error& e) {
    return {true, e.what()};
  } catch (const std::exception& e) {
    return {false, std::string("unexpected non-shedder exception: ") + e.what()};
  }
  return {false, "no exception was thrown"};
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

// Bit-for-bit equality of dtype, shape and contents.
bool same_bits(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor ca = a.contiguous(), cb = b.contiguous();
  const size_t n = static_cast<size_t>(ca.numel()) * ca.element_size();
  return n == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), n) == 0;
}

// Address ranges of this process's mappings of `path` (from /proc/self/maps).
std::vector<std::pair<uintptr_t, uintptr_t>> mappings_of(const std::string& path) {
  std::vector<std::pair<uintptr_t, uintptr_t>> out;
  const std::string canon = fs::canonical(path).string();
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto slash = line.find('/');
    if (slash == std::string::npos || line.substr(slash) != canon) continue;
    unsigned long long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx", &lo, &hi) == 2) out.emplace_back(lo, hi);
  }
  return out;
}

bool inside_mapping(const std::string& path, const void* p) {
  const auto addr = reinterpret_cast<uintptr_t>(p);
  for (const auto& [lo, hi] : mappings_of(path))
    if (addr >= lo && addr < hi) return true;
  return false;
}

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  return out;
}

TensorList sample_tensors() {
  at::manual_seed(1234);
  at::Tensor f32 = at::randn({3, 5});
  f32[0][0] = std::numeric_limits<float>::quiet_NaN();
  f32[0][1] = -0.0f;
  f32[0][2] = std::numeric_limits<float>::infinity();
  at::Tensor i64 = at::arange(-6, 6, at::kLong).reshape({2, 6});
  i64[0][0] = std::numeric_limits<int64_t>::min();
  i64[1][5] = std::numeric_limits<int64_t>::max();
  return {
      {"z.f32", f32},
      {"a.f16", at::randn({4, 2}).to(at::kHalf)},
      {"m.bf16", at::randn({2, 3, 2}).to(at::kBFloat16)},
      {"b.i64", i64},
      {"c.i32", at::randint(-100000, 100000, {7}, at::kInt)},
      {"d.f64", at::randn({2, 2}, at::kDouble)},
      {"e.i16", at::randint(-30000, 30000, {3}, at::kShort)},
      {"f.i8", at::randint(-128, 127, {5}, at::kChar)},
      {"g.u8", at::randint(0, 255, {5}, at::kByte)},
      {"h.bool", at::randn({6}).gt(0)},
      {"t.transposed", at::randn({4, 3}).t()},  // non-contiguous input
      {"s.scalar", at::scalar_tensor(2.5)},
      {"e0.empty", at::empty({0, 3})},
  };
}

}  // namespace

// Fails the current test unless `stmt` throws shedder::Error whose message contains every phrase.
#define EXPECT_ST_ERROR(stmt, ...)                                                     \
  do {                                                                                 \
    const Thrown thrown_ = run_catching([&] { stmt; });                                \
    QVERIFY2(thrown_.shedder_error, thrown_.message.c_str());                          \
    for (const std::string& phrase_ : std::initializer_list<std::string>{__VA_ARGS__}) \
      QVERIFY2(contains(thrown_.message, phrase_),                                     \
               ("message lacks \"" + phrase_ + "\": " + thrown_.message).c_str());     \
  } while (0)

class TestSafetensors : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void roundTripAllDtypes();
  void headerLayout();
  void readsFixture();
  void zeroCopy();
  void tensorOutlivesFile();
  void misalignedTensorIsCopied();
  void missingTensor();
  void unsupportedReadDtype();
  void missingFile();
  void emptyFile();
  void tooShort();
  void headerLengthLargerThanFile();
  void headerNotJson();
  void headerNotObject();
  void unknownDtype();
  void negativeShape();
  void lyingHeader();
  void truncatedFile();
  void overlappingSpans();
  void dataOffsetsMalformed_data();
  void dataOffsetsMalformed();
  void metadataNotObject();
  void deeplyNestedHeader();
  void boolBytesNormalised();
  void writeIntoMissingDirectory();
  void overwriteIsAtomic();
  void writeFailureKeepsOldFile();
};

void TestSafetensors::roundTripAllDtypes() {
  const TensorList tensors = sample_tensors();
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "pruned \xc3\xa9"}};
  const std::string path = shedder::test::make_temp_dir("st") + "/round.safetensors";
  shedder::write_safetensors(path, tensors, meta);

  auto f = SafetensorsFile::open(path);
  QCOMPARE(f->header().metadata, meta);
  QCOMPARE(f->names().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    QVERIFY2(f->contains(name), name.c_str());
    const at::Tensor back = f->tensor(name);
    QVERIFY2(same_bits(back, t), name.c_str());
    QVERIFY(back.device().is_cpu());
  }
}

void TestSafetensors::headerLayout() {
  const std::string path = shedder::test::make_temp_dir("st") + "/layout.safetensors";
  shedder::write_safetensors(path, sample_tensors(), {{"format", "pt"}});
  const std::string bytes = shedder::test::read_file(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  QCOMPARE(n % 8, uint64_t(0));
  const std::string header = bytes.substr(8, n);
  QVERIFY(header.rfind("{\"__metadata__\":{\"format\":\"pt\"}", 0) == 0);

  // Offsets are contiguous from 0, cover the data section exactly, and every tensor is aligned to its
  // element size (so reading never needs the copying fallback).
  auto f = SafetensorsFile::open(path);
  uint64_t expect = 0;
  for (const auto& t : f->header().tensors) {
    QCOMPARE(t.begin, expect);
    QVERIFY2((8 + n + t.begin) % shedder::st_dtype_size(t.dtype) == 0, t.name.c_str());
    expect = t.end;
  }
  QCOMPARE(expect, uint64_t(bytes.size()) - 8 - n);
  std::vector<shedder::StTensorInfo> infos = f->header().tensors;
  std::sort(infos.begin(), infos.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  // Keys of the header appear sorted.
  size_t last = 0;
  for (const auto& t : infos) {
    const size_t at_pos = header.find("\"" + t.name + "\":");
    QVERIFY(at_pos != std::string::npos && at_pos > last);
    last = at_pos;
  }
}

void TestSafetensors::readsFixture() {
  SHEDDER_REQUIRE_FIXTURES();
  const std::string path = shedder::test::fixtures_dir() + "/hf-tiny/mamba1-tiny/model.safetensors";
  auto f = SafetensorsFile::open(path);
  QCOMPARE(f->names().size(), size_t(38));
  QCOMPARE(f->header().metadata.at("format"), std::string("pt"));
  const std::map<std::string, std::vector<int64_t>> expected = {
      {"backbone.embeddings.weight", {300, 64}},
      {"backbone.layers.0.mixer.A_log", {128, 8}},
      {"backbone.layers.0.mixer.D", {128}},
      {"backbone.layers.0.mixer.conv1d.weight", {128, 1, 4}},
      {"backbone.layers.0.mixer.conv1d.bias", {128}},
      {"backbone.layers.0.mixer.dt_proj.weight", {128, 4}},
      {"backbone.layers.1.mixer.in_proj.weight", {256, 64}},
      {"backbone.layers.2.mixer.out_proj.weight", {64, 128}},
      {"backbone.layers.2.mixer.x_proj.weight", {20, 128}},
      {"backbone.layers.2.norm.weight", {64}},
      {"backbone.norm_f.weight", {64}},
  };
  for (const auto& [name, shape] : expected) {
    QVERIFY2(f->contains(name), name.c_str());
    const at::Tensor t = f->tensor(name);
    QVERIFY2(t.sizes() == at::IntArrayRef(shape), name.c_str());
    QCOMPARE(t.scalar_type(), at::kFloat);
    QVERIFY2(at::isfinite(t).all().item<bool>(), name.c_str());
  }
  for (const auto& name : f->names())
    QVERIFY2(at::isfinite(f->tensor(name)).all().item<bool>(), name.c_str());

  auto ref = SafetensorsFile::open(shedder::test::fixtures_dir() +
                                   "/hf-tiny/mamba1-tiny/reference_logits.safetensors");
  const at::Tensor ids = ref->tensor("input_ids");
  QCOMPARE(ids.scalar_type(), at::kLong);
  QVERIFY(ids.sizes() == at::IntArrayRef({2, 37}));
  QVERIFY(ids.min().item<int64_t>() >= 0 && ids.max().item<int64_t>() < 300);
  QVERIFY(ref->tensor("logits").sizes() == at::IntArrayRef({2, 37, 300}));
}

void TestSafetensors::zeroCopy() {
  const std::string path = shedder::test::make_temp_dir("st") + "/zc.safetensors";
  shedder::write_safetensors(path, sample_tensors());
  auto f = SafetensorsFile::open(path);
  const at::Tensor a = f->tensor("a.f16");
  const at::Tensor z = f->tensor("z.f32");
  QVERIFY2(inside_mapping(path, a.data_ptr()), "tensor data is not inside the file's memory map");
  QVERIFY2(inside_mapping(path, z.data_ptr()), "tensor data is not inside the file's memory map");
  // Views at exactly the distance their offsets say, and the same memory on a second request.
  const auto* ia = f->header().find("a.f16");
  const auto* iz = f->header().find("z.f32");
  QCOMPARE(static_cast<const char*>(z.data_ptr()) - static_cast<const char*>(a.data_ptr()),
           static_cast<std::ptrdiff_t>(iz->begin - ia->begin));
  QCOMPARE(f->tensor("a.f16").data_ptr(), a.data_ptr());
  for (const auto& name : f->names()) {
    const at::Tensor t = f->tensor(name);
    if (t.numel() > 0) QVERIFY2(inside_mapping(path, t.data_ptr()), name.c_str());
  }
}

void TestSafetensors::tensorOutlivesFile() {
  const std::string path = shedder::test::make_temp_dir("st") + "/outlive.safetensors";
  const TensorList tensors = sample_tensors();
  shedder::write_safetensors(path, tensors);
  at::Tensor t;
  {
    auto f = SafetensorsFile::open(path);
    t = f->tensor("z.f32");
  }  // the SafetensorsFile is gone; the tensor's deleter holds the mapping
  QVERIFY(!mappings_of(path).empty());
  QVERIFY(inside_mapping(path, t.data_ptr()));
  QVERIFY(same_bits(t, tensors[0].second));
  t = at::Tensor();  // last reference: the mapping goes away
  QVERIFY(mappings_of(path).empty());
}

void TestSafetensors::misalignedTensorIsCopied() {
  // "a" (2 bytes of U8) pushes "b" (F32) to an offset that is not a multiple of 4.
  std::string header = R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  const float vals[2] = {1.5f, -2.25f};
  std::string data = "\x07\x09";
  data.append(reinterpret_cast<const char*>(vals), sizeof vals);
  const std::string path = write_temp("misaligned.safetensors", st_bytes(header, data));
  auto f = SafetensorsFile::open(path);
  const at::Tensor b = f->tensor("b");
  QCOMPARE(reinterpret_cast<uintptr_t>(b.data_ptr()) % alignof(float), uintptr_t(0));
  QCOMPARE(b[0].item<float>(), 1.5f);
  QCOMPARE(b[1].item<float>(), -2.25f);
  const at::Tensor a = f->tensor("a");
  QCOMPARE(a[1].item<uint8_t>(), uint8_t(9));
  QVERIFY(inside_mapping(path, a.data_ptr()));
}

void TestSafetensors::missingTensor() {
  const std::string path = shedder::test::make_temp_dir("st") + "/missing.safetensors";
  shedder::write_safetensors(path, {{"x", at::ones({2})}});
  auto f = SafetensorsFile::open(path);
  QVERIFY(!f->contains("y"));
  EXPECT_ST_ERROR(f->tensor("y"), "missing.safetensors", "no tensor named 'y'");
}

void TestSafetensors::unsupportedReadDtype() {
  const std::string path = write_temp(
      "fp8.safetensors", st_bytes(R"({"q":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})", "abcd"));
  auto f = SafetensorsFile::open(path);  // valid file; only reading the tensor is refused
  EXPECT_ST_ERROR(f->tensor("q"), "fp8.safetensors", "'q'", "F8_E4M3", "does not read", "supported:");
}

void TestSafetensors::missingFile() {
  const std::string path = shedder::test::make_temp_dir("st") + "/absent.safetensors";
  EXPECT_ST_ERROR(SafetensorsFile::open(path), "absent.safetensors", "cannot open", "No such file");
}

void TestSafetensors::emptyFile() {
  const std::string path = write_temp("empty.safetensors", "");
  EXPECT_ST_ERROR(SafetensorsFile::open(path), "empty.safetensors", "0 bytes", "too short");
}

void TestSafetensors::tooShort() {
  const std::string path = write_temp("short.safetensors", std::string("\x05\0\0\0\0", 5));
  EXPECT_ST_ERROR(SafetensorsFile::open(path), "short.safetensors", "5 bytes", "too short");
}

void TestSafetensors::headerLengthLargerThanFile() {
  std::string bytes = st_bytes(std::string(20, ' '), "");
  bytes[0] = static_cast<char>(0xe8);  // claims 1000 header bytes in a 28-byte file
  bytes[1] = 0x03;
  const std::string path = write_temp("hlen.safetensors", bytes);
  EXPECT_ST_ERROR(SafetensorsFile::open(path), "hlen.safetensors", "header length 1000",
                  "file size 28 bytes");

  std::string huge = st_bytes("{}", "");
  for (int i = 0; i < 8; ++i) huge[i] = static_cast<char>(0xff);
  const std::string path2 = write_temp("hlen2.safetensors", huge);
  EXPECT_ST_ERROR(SafetensorsFile::open(path2), "hlen2.safetensors", "header length 18446744073709551615",
                  "file size 10 bytes");
}

void TestSafetensors::headerNotJson() {
  const std::string path = write_temp("notjson.safetensors", st_bytes("{\"a\": nope}     ", ""));
  EXPECT_ST_ERROR(SafetensorsFile::open(path), "notjson.safetensors", "header is not valid JSON");
  const std::string path2 = write_temp("binary.safetensors", st_bytes(std::string("\x89PNG\0\0\0\0", 8), ""));
  EXPECT_ST_ERROR(SafetensorsFile::open(path2), "binary.safetensors", "header is not valid JSON");
}

void TestSafetensors::headerNotObject() {
  const std::string path = write_temp("array.safetensors", st_bytes("[1, 2, 3]       ", ""));
  EXPECT_ST_ERROR(SafetensorsFile::open(path), "array.safetensors", "not a JSON object", "array");
}

void TestSafetensors::unknownDtype() {
  const std::string path = write_temp(
      "dtype.safetensors",
      st_bytes(R"({"w.weight":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0')));
  EXPECT_ST_ERROR(SafetensorsFile::open(path), "dtype.safetensors", "'w.weight'", "unknown dtype", "F33");
}

void TestSafetensors::negativeShape() {
  const std::string path = write_temp(
      "neg.safetensors",
      st_bytes(R"({"w":{"dtype":"F32","shape":[-2,-2],"data_offsets":[0,16]}})", std::string(16, '\0')));
  EXPECT_ST_ERROR(SafetensorsFile::open(path), "neg.safetensors", "'w'", "negative dimension");
}

void TestSafetensors::lyingHeader() {
  // Shape says 4 floats (16 bytes); the span holds 8.
  const std::string path =
      write_temp("lying.safetensors",
                 st_bytes(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}})", std::string(8, '\0')));
  EXPECT_ST_ERROR(SafetensorsFile::open(path), "lying.safetensors", "'w'", "size mismatch", "needs 16 bytes",
                  "span 8 bytes");
  // A shape whose element count overflows int64.
  const std::string path2 =
      write_temp("overflow.safetensors",
                 st_bytes(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                          std::string(8, '\0')));
  EXPECT_ST_ERROR(SafetensorsFile::open(path2), "overflow.safetensors", "'w'", "overflow");
  const std::string path3 = write_temp(
      "overflow0.safetensors",
      st_bytes(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})", ""));
  EXPECT_ST_ERROR(SafetensorsFile::open(path3), "overflow0.safetensors", "'w'", "overflow");
}

void TestSafetensors::truncatedFile() {
  std::string real;
  std::string label;
  if (!shedder::test::fixtures_dir().empty()) {
    real = shedder::test::read_file(shedder::test::fixtures_dir() + "/hf-tiny/mamba1-tiny/model.safetensors");
  } else {
    const std::string full = shedder::test::make_temp_dir("st") + "/full.safetensors";
    shedder::write_safetensors(full, sample_tensors());
    real = shedder::test::read_file(full);
  }
  const std::string path = write_temp("cut.safetensors", real.substr(0, real.size() - 100));
  EXPECT_ST_ERROR(SafetensorsFile::open(path), "cut.safetensors", "extend past the end of the data section",
                  "truncated or corrupt");
}

void TestSafetensors::overlappingSpans() {
  const std::string path =
      write_temp("overlap.safetensors", st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},)"
                                                 R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                                                 std::string(12, '\0')));
  EXPECT_ST_ERROR(SafetensorsFile::open(path), "overlap.safetensors", "overlap", "'a'", "'b'");
}

void TestSafetensors::dataOffsetsMalformed_data() {
  QTest::addColumn<QString>("offsets");
  QTest::addColumn<QString>("phrase");
  QTest::newRow("one element") << "[0]"
                               << "malformed";
  QTest::newRow("three elements") << "[0, 8, 8]"
                                  << "malformed";
  QTest::newRow("begin after end") << "[8, 0]"
                                   << "begin is after end";
  QTest::newRow("string") << "\"0-8\""
                          << "malformed";
  QTest::newRow("floats") << "[0.0, 8.0]"
                          << "malformed";
  QTest::newRow("negative") << "[-8, 0]"
                            << "malformed";
  QTest::newRow("null") << "null"
                        << "malformed";
}

void TestSafetensors::dataOffsetsMalformed() {
  QFETCH(QString, offsets);
  QFETCH(QString, phrase);
  const std::string header =
      R"({"w":{"dtype":"F32","shape":[2],"data_offsets":)" + offsets.toStdString() + "}}";
  const std::string path = write_temp("offsets.safetensors", st_bytes(header, std::string(8, '\0')));
  EXPECT_ST_ERROR(SafetensorsFile::open(path), "offsets.safetensors", "'w'", "data_offsets",
                  phrase.toStdString());

  const std::string path2 = write_temp(
      "nooffsets.safetensors", st_bytes(R"({"w":{"dtype":"F32","shape":[2]}})", std::string(8, '\0')));
  EXPECT_ST_ERROR(SafetensorsFile::open(path2), "nooffsets.safetensors", "'w'", "missing \"data_offsets\"");
}

void TestSafetensors::metadataNotObject() {
  const std::string path = write_temp("meta.safetensors", st_bytes(R"({"__metadata__":"pt"})", ""));
  EXPECT_ST_ERROR(SafetensorsFile::open(path), "meta.safetensors", "__metadata__ is not a JSON object");
  const std::string path2 =
      write_temp("meta2.safetensors", st_bytes(R"({"__metadata__":{"format":"pt","layers":3}})", ""));
  EXPECT_ST_ERROR(SafetensorsFile::open(path2), "meta2.safetensors", "__metadata__ entry 'layers'",
                  "expected a string");
}

void TestSafetensors::deeplyNestedHeader() {
  // Nesting a million levels deep must give an error, not a stack overflow.
  const size_t depth = 1000000;
  const std::string nested = std::string(depth, '[') + std::string(depth, ']');
  const std::string path = write_temp("deep.safetensors", st_bytes("{\"w\":" + nested + "}", ""));
  EXPECT_ST_ERROR(SafetensorsFile::open(path), "deep.safetensors", "'w'", "expected an object");
  const std::string path2 =
      write_temp("deepmeta.safetensors", st_bytes("{\"__metadata__\":{\"k\":" + nested + "}}", ""));
  EXPECT_ST_ERROR(SafetensorsFile::open(path2), "deepmeta.safetensors", "__metadata__ entry 'k'");
}

void TestSafetensors::boolBytesNormalised() {
  // Bytes other than 0/1 in a BOOL tensor are read as true (in a copy), never handed to ATen as bool.
  const std::string path =
      write_temp("bool.safetensors", st_bytes(R"({"m":{"dtype":"BOOL","shape":[4],"data_offsets":[0,4]}})",
                                              std::string("\x00\x01\x02\xff", 4)));
  auto f = SafetensorsFile::open(path);
  const at::Tensor m = f->tensor("m");
  QCOMPARE(m.scalar_type(), at::kBool);
  QCOMPARE(m.sum().item<int64_t>(), int64_t(3));
  QVERIFY(!m[0].item<bool>());
}

void TestSafetensors::writeIntoMissingDirectory() {
  const std::string dir = shedder::test::make_temp_dir("st");
  const std::string path = dir + "/no-such-dir/out.safetensors";
  EXPECT_ST_ERROR(shedder::write_safetensors(path, {{"x", at::ones({3})}}), "no-such-dir/out.safetensors",
                  "cannot create", "No such file or directory");
  QVERIFY(!fs::exists(dir + "/no-such-dir"));
  QVERIFY(dir_entries(dir).empty());
}

void TestSafetensors::overwriteIsAtomic() {
  const std::string dir = shedder::test::make_temp_dir("st");
  const std::string path = dir + "/model.safetensors";
  shedder::write_safetensors(path, {{"x", at::ones({3})}});
  shedder::write_safetensors(path, {{"y", at::arange(5, at::kInt)}}, {{"v", "2"}});
  const std::string v2 = shedder::test::read_file(path);
  {
    auto f = SafetensorsFile::open(path);
    QVERIFY(!f->contains("x"));
    QVERIFY(same_bits(f->tensor("y"), at::arange(5, at::kInt)));
  }
  QCOMPARE(dir_entries(dir), std::vector<std::string>{"model.safetensors"});

  // A tensor that cannot be written makes the whole write fail; the old file stays as it was.
  const TensorList bad = {{"a", at::ones({4})}, {"c", at::ones({2}, at::kComplexFloat)}};
  EXPECT_ST_ERROR(shedder::write_safetensors(path, bad), "model.safetensors", "'c'", "ComplexFloat",
                  "cannot be written");
  QVERIFY(shedder::test::read_file(path) == v2);
  QCOMPARE(dir_entries(dir), std::vector<std::string>{"model.safetensors"});
}

void TestSafetensors::writeFailureKeepsOldFile() {
  // A file-size limit makes write() fail with EFBIG part-way, like a full disk would with ENOSPC.
  const std::string dir = shedder::test::make_temp_dir("st");
  const std::string path = dir + "/big.safetensors";
  shedder::write_safetensors(path, {{"x", at::ones({3})}});
  const std::string old = shedder::test::read_file(path);

  rlimit saved{};
  QVERIFY(getrlimit(RLIMIT_FSIZE, &saved) == 0);
  auto* old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 4096;
  if (setrlimit(RLIMIT_FSIZE, &small) != 0) {
    signal(SIGXFSZ, old_handler);
    SHEDDER_SKIP_OR_FAIL(QStringLiteral("cannot lower RLIMIT_FSIZE here"));
  }
  const Thrown thrown = run_catching([&] { shedder::write_safetensors(path, {{"w", at::ones({1 << 16})}}); });
  setrlimit(RLIMIT_FSIZE, &saved);
  signal(SIGXFSZ, old_handler);

  QVERIFY2(thrown.shedder_error, thrown.message.c_str());
  for (const std::string phrase :
       {"big.safetensors", "write failed", "File too large", "the existing file is untouched"})
    QVERIFY2(contains(thrown.message, phrase), thrown.message.c_str());
  QVERIFY(shedder::test::read_file(path) == old);
  QCOMPARE(dir_entries(dir), std::vector<std::string>{"big.safetensors"});
}

QTEST_APPLESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"
