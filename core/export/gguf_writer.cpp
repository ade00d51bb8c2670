// GGUF v3 writer (see gguf_writer.h).
#include "export/gguf_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>

#include "util/error.h"
#include "util/file_util.h"

namespace shedder {

namespace {

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_string(std::string& out, const std::string& s) {
  put_u64(out, s.size());
  out += s;
}
void put_type(std::string& out, GgufValueType t) { put_u32(out, static_cast<uint32_t>(t)); }

uint64_t pad_to(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

bool little_endian_host() {
  const uint16_t one = 1;
  unsigned char first = 0;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

at::ScalarType scalar_type_of(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return at::kFloat;
    case GgmlType::F16: return at::kHalf;
    case GgmlType::BF16: return at::kBFloat16;
  }
  throw InternalError("gguf: unknown ggml type");
}

}  // namespace

const char* ggml_type_name(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return "f32";
    case GgmlType::F16: return "f16";
    case GgmlType::BF16: return "bf16";
  }
  return "?";
}

size_t ggml_type_size(GgmlType t) { return t == GgmlType::F32 ? 4 : 2; }

GgufWriter::GgufWriter(std::string label) : label_(std::move(label)) {}

void GgufWriter::add_kv(const std::string& key, std::string encoded) {
  if (key.empty()) throw Error(label_ + ": a GGUF metadata key is empty");
  if (key.size() > 65535) throw Error(label_ + ": GGUF metadata key '" + key.substr(0, 64) + "...' is longer than 65535 bytes");
  bool word_start = true;
  for (char ch : key) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || (ch == '.' && !word_start);
    if (!ok)
      throw Error(label_ + ": GGUF metadata key '" + key +
                  "' is not lower_snake_case words separated by single dots");
    word_start = ch == '.';
  }
  if (word_start) throw Error(label_ + ": GGUF metadata key '" + key + "' ends with a dot");
  if (key == "general.alignment" && encoded.compare(0, 4, std::string("\x04\0\0\0", 4)) != 0)
    throw Error(label_ + ": general.alignment must be a uint32");
  for (const Kv& kv : kvs_)
    if (kv.key == key) throw Error(label_ + ": GGUF metadata key '" + key + "' is set twice");
  kvs_.push_back({key, std::move(encoded)});
}

void GgufWriter::add_uint32(const std::string& key, uint32_t v) {
  if (key == "general.alignment") {
    if (v < 8 || v % 8 != 0 || (v & (v - 1)) != 0)
      throw Error(label_ + ": general.alignment must be a power of two and a multiple of 8 (got " +
                  std::to_string(v) + ")");
  }
  std::string e;
  put_type(e, GgufValueType::UInt32);
  put_u32(e, v);
  add_kv(key, std::move(e));
  if (key == "general.alignment") alignment_ = v;
}

void GgufWriter::add_int32(const std::string& key, int32_t v) {
  std::string e;
  put_type(e, GgufValueType::Int32);
  put_u32(e, static_cast<uint32_t>(v));
  add_kv(key, std::move(e));
}

void GgufWriter::add_uint64(const std::string& key, uint64_t v) {
  std::string e;
  put_type(e, GgufValueType::UInt64);
  put_u64(e, v);
  add_kv(key, std::move(e));
}

void GgufWriter::add_float32(const std::string& key, float v) {
  uint32_t bits = 0;
  std::memcpy(&bits, &v, 4);
  std::string e;
  put_type(e, GgufValueType::Float32);
  put_u32(e, bits);
  add_kv(key, std::move(e));
}

void GgufWriter::add_bool(const std::string& key, bool v) {
  std::string e;
  put_type(e, GgufValueType::Bool);
  e.push_back(v ? 1 : 0);
  add_kv(key, std::move(e));
}

void GgufWriter::add_string(const std::string& key, const std::string& v) {
  std::string e;
  put_type(e, GgufValueType::String);
  put_string(e, v);
  add_kv(key, std::move(e));
}

void GgufWriter::add_string_array(const std::string& key, const std::vector<std::string>& v) {
  std::string e;
  put_type(e, GgufValueType::Array);
  put_type(e, GgufValueType::String);
  put_u64(e, v.size());
  for (const std::string& s : v) put_string(e, s);
  add_kv(key, std::move(e));
}

void GgufWriter::add_int32_array(const std::string& key, const std::vector<int32_t>& v) {
  std::string e;
  put_type(e, GgufValueType::Array);
  put_type(e, GgufValueType::Int32);
  put_u64(e, v.size());
  for (int32_t x : v) put_u32(e, static_cast<uint32_t>(x));
  add_kv(key, std::move(e));
}

void GgufWriter::add_tensor(const std::string& name, const at::Tensor& t, GgmlType type) {
  if (name.empty()) throw Error(label_ + ": a GGUF tensor name is empty");
  if (name.size() > kGgufMaxTensorName)
    throw Error(label_ + ": GGUF tensor name '" + name + "' is " + std::to_string(name.size()) +
                " bytes long; ggml takes at most " + std::to_string(kGgufMaxTensorName));
  for (const TensorEntry& e : tensors_)
    if (e.name == name) throw Error(label_ + ": GGUF tensor '" + name + "' is added twice");
  if (!t.defined()) throw InternalError("gguf: tensor '" + name + "' is undefined");
  if (!at::isFloatingType(t.scalar_type()))
    throw Error(label_ + ": GGUF tensor '" + name + "' is not a floating-point tensor");
  if (t.dim() < 1 || t.dim() > 4)
    throw Error(label_ + ": GGUF tensor '" + name + "' has " + std::to_string(t.dim()) +
                " dimensions; GGUF takes 1 to 4");
  TensorEntry e{name, {}, type, t, ggml_type_size(type)};
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    if (t.size(d) < 1) throw Error(label_ + ": GGUF tensor '" + name + "' has an empty dimension");
    e.ne.push_back(static_cast<uint64_t>(t.size(d)));
    e.nbytes *= static_cast<uint64_t>(t.size(d));
  }
  tensors_.push_back(std::move(e));
}

std::vector<uint64_t> GgufWriter::offsets() const {
  std::vector<uint64_t> out;
  uint64_t at = 0;
  for (const TensorEntry& e : tensors_) {
    out.push_back(at);
    at += pad_to(e.nbytes, alignment_);
  }
  return out;
}

std::string GgufWriter::header_bytes() const {
  std::string out = "GGUF";
  put_u32(out, kGgufVersion);
  put_u64(out, tensors_.size());
  put_u64(out, kvs_.size());
  for (const Kv& kv : kvs_) {
    put_string(out, kv.key);
    out += kv.encoded;
  }
  const std::vector<uint64_t> offs = offsets();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const TensorEntry& e = tensors_[i];
    put_string(out, e.name);
    put_u32(out, static_cast<uint32_t>(e.ne.size()));
    for (uint64_t d : e.ne) put_u64(out, d);
    put_u32(out, static_cast<uint32_t>(e.type));
    put_u64(out, offs[i]);
  }
  out.append(pad_to(out.size(), alignment_) - out.size(), '\0');
  return out;
}

uint64_t GgufWriter::file_size() const {
  uint64_t n = header_bytes().size();
  for (const TensorEntry& e : tensors_) n += pad_to(e.nbytes, alignment_);
  return n;
}

void GgufWriter::write(const std::string& path, const CancelToken* cancel) const {
  if (!little_endian_host()) throw Error(label_ + ": GGUF files are written little-endian, and this machine is not");
  AtomicFile out(path);  // a temporary file beside `path`, renamed into place once whole
  auto put = [&](const void* data, size_t n) { out.write(data, n); };
  const std::string header = header_bytes();
  put(header.data(), header.size());
  const std::string zeros(alignment_, '\0');
  for (const TensorEntry& e : tensors_) {
    if (cancel && cancel->cancelled()) throw Cancelled();
    // One tensor at a time: at most one converted copy exists at once.
    const at::Tensor t = e.data.detach().to(at::kCPU).to(scalar_type_of(e.type)).contiguous();
    if (static_cast<uint64_t>(t.numel()) * ggml_type_size(e.type) != e.nbytes)
      throw InternalError("gguf: tensor '" + e.name + "' changed size");
    put(t.data_ptr(), e.nbytes);
    put(zeros.data(), pad_to(e.nbytes, alignment_) - e.nbytes);
  }
  out.commit();
}

}  // namespace shedder
