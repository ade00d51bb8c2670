// libFuzzer target for parse_safetensors_header: any input either throws shedder::Error or yields spans
// that lie inside the input (every span's first and last byte is read, so ASan reports any bad bound).
#include <cstddef>
#include <cstdint>

#include "io/safetensors_header.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  shedder::StHeader h;
  try {
    h = shedder::parse_safetensors_header(data, size, "fuzz");
  } catch (const shedder::Error&) {
    return 0;
  }
  if (h.data_offset > size) __builtin_trap();
  volatile uint8_t sink = 0;
  for (const auto& t : h.tensors) {
    if (t.begin > t.end) __builtin_trap();
    if (static_cast<uint64_t>(t.numel()) * shedder::st_dtype_size(t.dtype) != t.end - t.begin)
      __builtin_trap();
    if (t.begin == t.end) continue;
    sink = sink + data[h.data_offset + t.begin];
    sink = sink + data[h.data_offset + t.end - 1];
  }
  (void)sink;
  return 0;
}
