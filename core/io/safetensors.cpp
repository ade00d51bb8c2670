// Safetensors as ATen tensors: zero-copy reads over a read-only memory map, atomic writes (temp file,
// fsync, rename) that leave an existing file untouched on any failure.
#include "io/safetensors.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "io/mapped_file.h"
#include "util/error.h"
#include "util/file_util.h"

namespace shedder {

namespace {

struct DTypePair {
  StDType st;
  at::ScalarType aten;
};

// The dtypes this program reads and writes. The others safetensors knows (F8_*, U16/U32/U64) have no
// ATen type in every libtorch we build against.
constexpr DTypePair kSupported[] = {
    {StDType::F64, at::kDouble},    {StDType::F32, at::kFloat}, {StDType::F16, at::kHalf},
    {StDType::BF16, at::kBFloat16}, {StDType::I64, at::kLong},  {StDType::I32, at::kInt},
    {StDType::I16, at::kShort},     {StDType::I8, at::kChar},   {StDType::U8, at::kByte},
    {StDType::BOOL, at::kBool},
};

std::string supported_list() {
  std::string out;
  for (const auto& p : kSupported) {
    if (!out.empty()) out += ", ";
    out += st_dtype_name(p.st);
  }
  return out;
}

bool to_aten(StDType t, at::ScalarType& out) {
  for (const auto& p : kSupported)
    if (p.st == t) {
      out = p.aten;
      return true;
    }
  return false;
}

bool to_st(at::ScalarType t, StDType& out) {
  for (const auto& p : kSupported)
    if (p.aten == t) {
      out = p.st;
      return true;
    }
  return false;
}

}  // namespace

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto f = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  f->path_ = path;
  f->map_ = MappedFile::open(path);
  f->header_ = parse_safetensors_header(f->map_->data(), f->map_->size(), path);
  return f;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(header_.tensors.size());
  for (const auto& t : header_.tensors) out.push_back(t.name);
  return out;
}

// The returned tensor views read-only memory (PROT_READ, MAP_PRIVATE): writing into it in place
// crashes the process. Callers that modify weights must clone() or convert (.to(...)) first.
at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const StTensorInfo* info = header_.find(name);
  if (!info) throw Error(path_ + ": no tensor named '" + name + "'");
  at::ScalarType type;
  if (!to_aten(info->dtype, type))
    throw Error(path_ + ": tensor '" + name + "' has dtype " + st_dtype_name(info->dtype) +
                ", which this program does not read (supported: " + supported_list() + ")");
  const auto opts = at::TensorOptions().dtype(type).device(at::kCPU);
  const uint64_t file_offset = header_.data_offset + info->begin;
  const size_t nbytes = static_cast<size_t>(info->end - info->begin);
  if (nbytes == 0) return at::empty(info->shape, opts);
  const uint8_t* src = map_->data() + file_offset;

  // The map starts page-aligned, so the pointer is aligned iff the file offset is. Writers pad the header
  // to 8 bytes, so misalignment is rare (hand-made or unusual files); rather than hand ATen an unaligned
  // pointer, copy such a tensor into freshly allocated (aligned) memory.
  if (file_offset % st_dtype_size(info->dtype) != 0) {
    at::Tensor out = at::empty(info->shape, opts);
    std::memcpy(out.data_ptr(), src, nbytes);
    return out;
  }
  // A bool byte other than 0/1 is undefined behaviour for ATen kernels: normalise such (corrupt or
  // foreign) data into a copy instead of viewing it.
  if (info->dtype == StDType::BOOL && std::any_of(src, src + nbytes, [](uint8_t b) { return b > 1; })) {
    at::Tensor bytes = at::empty(info->shape, opts.dtype(at::kByte));
    std::memcpy(bytes.data_ptr(), src, nbytes);
    return bytes.ne(0);
  }
  std::shared_ptr<MappedFile> keep_alive = map_;
  const auto release = [keep_alive](void*) {};  // the last tensor using the map releases it
  return at::from_blob(const_cast<uint8_t*>(src), info->shape, release, opts);
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata, const CancelToken* cancel) {
  // 1. Validate everything before creating any file.
  struct Entry {
    const std::string* name;
    const at::Tensor* tensor;
    StDType dtype;
    uint64_t nbytes;
  };
  std::vector<Entry> entries;
  entries.reserve(tensors.size());
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw Error(path + ": '__metadata__' cannot be used as a tensor name");
    if (!seen.insert(name).second) throw Error(path + ": tensor '" + name + "' is listed twice");
    if (!t.defined()) throw Error(path + ": tensor '" + name + "' is undefined");
    if (t.layout() != at::kStrided)
      throw Error(path + ": tensor '" + name +
                  "' is not a dense (strided) tensor; only dense tensors can be written");
    StDType st;
    if (!to_st(t.scalar_type(), st))
      throw Error(path + ": tensor '" + name + "' has dtype " + c10::toString(t.scalar_type()) +
                  ", which cannot be written to safetensors (supported: " + supported_list() + ")");
    entries.push_back({&name, &t, st, static_cast<uint64_t>(t.numel()) * t.element_size()});
  }
  // Data order: larger elements first, then by name (as the reference implementation does). With the
  // data section starting 8-byte aligned, every tensor then starts aligned to its element size, so the
  // reader can view all of them in place.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    const size_t sa = st_dtype_size(a.dtype), sb = st_dtype_size(b.dtype);
    if (sa != sb) return sa > sb;
    return *a.name < *b.name;
  });
  std::map<std::string, std::pair<uint64_t, uint64_t>> spans;
  uint64_t offset = 0;
  for (const auto& e : entries) {
    spans[*e.name] = {offset, offset + e.nbytes};
    offset += e.nbytes;
  }

  // 2. Header: "__metadata__" first (when non-empty), then the tensors with keys sorted by name.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  std::vector<const Entry*> by_name;
  for (const auto& e : entries) by_name.push_back(&e);
  std::sort(by_name.begin(), by_name.end(),
            [](const Entry* a, const Entry* b) { return *a->name < *b->name; });
  for (const Entry* e : by_name) {
    nlohmann::ordered_json info = nlohmann::ordered_json::object();
    info["dtype"] = st_dtype_name(e->dtype);
    info["shape"] = std::vector<int64_t>(e->tensor->sizes().begin(), e->tensor->sizes().end());
    const auto& span = spans.at(*e->name);
    info["data_offsets"] = {span.first, span.second};
    header[*e->name] = std::move(info);
  }
  std::string header_text;
  try {
    header_text = header.dump();
  } catch (const nlohmann::json::exception& ex) {
    throw Error(path + ": cannot encode the header (tensor names and metadata must be UTF-8): " + ex.what());
  }
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  uint8_t len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<uint8_t>(uint64_t(header_text.size()) >> (8 * i));

  // 3. A temporary file next to the target, renamed into place once whole (util/file_util.h).
  AtomicFile out(path);
  out.write(len_bytes, 8);
  out.write(header_text.data(), header_text.size());
  for (const auto& e : entries) {
    if (cancel && cancel->cancelled()) throw Cancelled();  // the temporary file goes with `out`
    if (e.nbytes == 0) continue;
    // One tensor at a time, so at most one CPU copy of a device tensor exists at once.
    at::Tensor t = e.tensor->detach().to(at::kCPU).resolve_conj().resolve_neg().contiguous();
    out.write(t.data_ptr(), e.nbytes);
  }
  out.commit();
}

}  // namespace shedder
