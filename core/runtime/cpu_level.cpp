// Detection and selection of the CPU kernels' instruction-set level (see cpu_level.h).
#include "runtime/cpu_level.h"

#include <cstdlib>
#include <string>

#include "util/error.h"

namespace shedder {

const char* cpu_level_name(CpuLevel level) {
  switch (level) {
    case CpuLevel::Avx512: return "avx512";
    case CpuLevel::Avx2: return "avx2";
    case CpuLevel::Sse2: return "sse2";
  }
  return "?";
}

CpuLevel detected_cpu_level() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
  const bool v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
                  __builtin_cpu_supports("avx512vl");
  return v4 ? CpuLevel::Avx512 : v3 ? CpuLevel::Avx2 : CpuLevel::Sse2;
#else
  return CpuLevel::Sse2;
#endif
}

namespace {

struct Selection {
  CpuLevel level = CpuLevel::Sse2;
  std::string error;  // non-empty: SHEDDER_CPU_LEVEL is unusable
};

Selection select() {
  Selection s;
  s.level = detected_cpu_level();
  const char* env = std::getenv("SHEDDER_CPU_LEVEL");
  if (!env || !*env) return s;
  const std::string v = env;
  CpuLevel want;
  if (v == "avx512" || v == "x86-64-v4") {
    want = CpuLevel::Avx512;
  } else if (v == "avx2" || v == "x86-64-v3") {
    want = CpuLevel::Avx2;
  } else if (v == "sse2" || v == "x86-64" || v == "default") {
    want = CpuLevel::Sse2;
  } else {
    s.error = "SHEDDER_CPU_LEVEL='" + v + "' is not a level (use avx512, avx2 or sse2)";
    return s;
  }
  if (static_cast<int>(want) > static_cast<int>(s.level)) {
    s.error = "SHEDDER_CPU_LEVEL=" + v + ": this processor supports only " + cpu_level_name(s.level);
    return s;
  }
  s.level = want;
  return s;
}

}  // namespace

CpuLevel cpu_level() {
  static const Selection s = select();
  if (!s.error.empty()) throw Error(s.error);
  return s.level;
}

}  // namespace shedder
