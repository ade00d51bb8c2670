// Safetensors header parsing and validation (no libtorch: fuzzed alone by tests/fuzz). Every length,
// offset and shape is checked, overflow-safe, before anyone touches a tensor byte.
#include "io/safetensors_header.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "util/error.h"

namespace shedder {

namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;  // same limit as the reference implementation

struct DTypeEntry {
  StDType type;
  const char* name;
  size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {StDType::F64, "F64", 8},   {StDType::F32, "F32", 4},         {StDType::F16, "F16", 2},
    {StDType::BF16, "BF16", 2}, {StDType::I64, "I64", 8},         {StDType::I32, "I32", 4},
    {StDType::I16, "I16", 2},   {StDType::I8, "I8", 1},           {StDType::U8, "U8", 1},
    {StDType::BOOL, "BOOL", 1}, {StDType::F8_E4M3, "F8_E4M3", 1}, {StDType::F8_E5M2, "F8_E5M2", 1},
    {StDType::U16, "U16", 2},   {StDType::U32, "U32", 4},         {StDType::U64, "U64", 8},
};

const DTypeEntry* dtype_entry(StDType t) {
  for (const auto& e : kDTypes)
    if (e.type == t) return &e;
  return nullptr;
}

std::string known_dtype_list() {
  std::string out;
  for (const auto& e : kDTypes) {
    if (!out.empty()) out += ", ";
    out += e.name;
  }
  return out;
}

// Readable form of an arbitrary JSON value for error messages: containers are printed only a few levels
// deep and a few elements wide (a hostile header may nest 10^7 levels, and dump() recurses).
void brief_into(const json& v, int depth, std::string& out) {
  if (v.is_array() || v.is_object()) {
    const bool arr = v.is_array();
    out += arr ? '[' : '{';
    if (depth >= 2 && !v.empty()) {
      out += "...";
    } else {
      size_t i = 0;
      for (auto it = v.begin(); it != v.end(); ++it, ++i) {
        if (i) out += ", ";
        if (i == 4) {
          out += "...";
          break;
        }
        if (!arr) out += json(it.key()).dump(-1, ' ', false, json::error_handler_t::replace) + ": ";
        brief_into(it.value(), depth + 1, out);
      }
    }
    out += arr ? ']' : '}';
    return;
  }
  out += v.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string brief(const json& v) {
  std::string s;
  brief_into(v, 0, s);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

[[noreturn]] void fail(const std::string& label, const std::string& what) {
  throw Error(label + ": " + what);
}

[[noreturn]] void fail_tensor(const std::string& label, const std::string& name, const std::string& what) {
  throw Error(label + ": tensor '" + name + "': " + what);
}

// A JSON integer >= 0 as uint64; false for floats, negatives, non-numbers.
bool as_u64(const json& v, uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i < 0) return false;
    out = static_cast<uint64_t>(i);
    return true;
  }
  return false;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

std::string span_str(uint64_t b, uint64_t e) {
  return "[" + std::to_string(b) + ", " + std::to_string(e) + "]";
}

StTensorInfo parse_tensor(const std::string& label, const std::string& name, const json& v,
                          uint64_t data_size) {
  if (!v.is_object())
    fail_tensor(label, name,
                "entry is " + brief(v) + ", expected an object with dtype, shape and data_offsets");
  StTensorInfo info;
  info.name = name;

  // dtype
  auto it = v.find("dtype");
  if (it == v.end()) fail_tensor(label, name, "missing \"dtype\"");
  if (!it->is_string()) fail_tensor(label, name, "\"dtype\" is " + brief(*it) + ", expected a string");
  const std::string& dt = it->get_ref<const std::string&>();
  bool found = false;
  for (const auto& e : kDTypes) {
    if (dt == e.name) {
      info.dtype = e.type;
      found = true;
      break;
    }
  }
  if (!found) fail_tensor(label, name, "unknown dtype '" + dt + "' (known: " + known_dtype_list() + ")");

  // shape
  it = v.find("shape");
  if (it == v.end()) fail_tensor(label, name, "missing \"shape\"");
  if (!it->is_array())
    fail_tensor(label, name, "\"shape\" is " + brief(*it) + ", expected an array of integers");
  int64_t numel = 1;
  bool overflow = false;
  for (const json& d : *it) {
    if (d.is_number_integer() && !d.is_number_unsigned() && d.get<int64_t>() < 0)
      fail_tensor(label, name, "negative dimension " + brief(d) + " in shape " + brief(*it));
    uint64_t u = 0;
    if (!as_u64(d, u))
      fail_tensor(label, name, "shape " + brief(*it) + " has a dimension that is not a non-negative integer");
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail_tensor(label, name, "dimension " + std::to_string(u) + " in shape is too large");
    const auto dim = static_cast<int64_t>(u);
    info.shape.push_back(dim);
    if (!overflow && __builtin_mul_overflow(numel, dim, &numel)) overflow = true;
  }
  // Rejected even when a later dimension is 0 (as the reference implementation does): ATen and numel()
  // compute running products too.
  if (overflow)
    fail_tensor(label, name, "shape " + shape_str(info.shape) + " has too many elements (overflow)");

  // data_offsets
  it = v.find("data_offsets");
  if (it == v.end()) fail_tensor(label, name, "missing \"data_offsets\"");
  uint64_t b = 0, e = 0;
  if (!it->is_array() || it->size() != 2 || !as_u64((*it)[0], b) || !as_u64((*it)[1], e))
    fail_tensor(
        label, name,
        "data_offsets " + brief(*it) + " is malformed: expected [begin, end], two non-negative integers");
  if (b > e) fail_tensor(label, name, "data_offsets " + span_str(b, e) + " is malformed: begin is after end");
  if (e > data_size)
    fail_tensor(label, name,
                "data_offsets " + span_str(b, e) + " extend past the end of the data section (" +
                    std::to_string(data_size) + " bytes); the file is truncated or corrupt");
  info.begin = b;
  info.end = e;

  const uint64_t esize = st_dtype_size(info.dtype);
  uint64_t nbytes = 0;
  const bool too_big = __builtin_mul_overflow(static_cast<uint64_t>(numel), esize, &nbytes);
  if (too_big || nbytes != e - b)
    fail_tensor(label, name,
                "size mismatch: shape " + shape_str(info.shape) + " of dtype " + dt + " needs " +
                    (too_big ? std::string("more than 2^64") : std::to_string(nbytes)) +
                    " bytes but data_offsets " + span_str(b, e) + " span " + std::to_string(e - b) +
                    " bytes");
  return info;
}

}  // namespace

const char* st_dtype_name(StDType t) {
  const DTypeEntry* e = dtype_entry(t);
  return e ? e->name : "?";
}

size_t st_dtype_size(StDType t) {
  const DTypeEntry* e = dtype_entry(t);
  return e ? e->size : 0;
}

int64_t StTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated by the parser not to overflow
  return n;
}

const StTensorInfo* StHeader::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

StHeader parse_safetensors_header(const uint8_t* bytes, size_t size, const std::string& label) {
  if (size < 8)
    fail(label, "file is " + std::to_string(size) +
                    " bytes, too short to be a safetensors file (at least 8 bytes are needed for the header "
                    "length)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];  // little-endian u64
  const uint64_t avail = static_cast<uint64_t>(size) - 8;
  if (n > avail)
    fail(label, "header length " + std::to_string(n) + " bytes does not fit in the file (file size " +
                    std::to_string(size) + " bytes); the file is truncated or not a safetensors file");
  if (n > kMaxHeaderBytes)
    fail(label, "header length " + std::to_string(n) + " bytes exceeds the limit of " +
                    std::to_string(kMaxHeaderBytes) + " bytes (file size " + std::to_string(size) +
                    " bytes)");

  const char* hb = reinterpret_cast<const char*>(bytes + 8);
  json root;
  try {
    root = json::parse(hb, hb + n, /*cb=*/nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const json::exception& e) {
    std::string what = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix; the rest says where and why.
    if (!what.empty() && what[0] == '[') {
      const auto close = what.find("] ");
      if (close != std::string::npos) what = what.substr(close + 2);
    }
    fail(label, "header is not valid JSON: " + what);
  } catch (const std::exception& e) {
    fail(label, std::string("header is not valid JSON: ") + e.what());
  }
  if (!root.is_object())
    fail(label, std::string("header is not a JSON object (it is a JSON ") + root.type_name() + ")");

  StHeader h;
  h.data_offset = 8 + n;
  const uint64_t data_size = avail - n;

  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object())
        fail(label, std::string("__metadata__ is not a JSON object of strings (it is a JSON ") +
                        v.type_name() + ")");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          fail(label, "__metadata__ entry '" + m.key() + "' is " + brief(m.value()) + ", expected a string");
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(parse_tensor(label, key, v, data_size));
  }

  std::sort(h.tensors.begin(), h.tensors.end(), [](const StTensorInfo& a, const StTensorInfo& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return a.name < b.name;
  });
  // Non-empty spans must not overlap; empty ones (zero-size tensors) may sit anywhere.
  const StTensorInfo* reach = nullptr;  // the non-empty span seen so far that ends last
  for (const auto& t : h.tensors) {
    if (t.begin == t.end) continue;
    if (reach && t.begin < reach->end)
      fail(label, "tensor '" + t.name + "': data_offsets " + span_str(t.begin, t.end) + " overlap tensor '" +
                      reach->name + "' at " + span_str(reach->begin, reach->end));
    if (!reach || t.end > reach->end) reach = &t;
  }
  return h;
}

}  // namespace shedder
