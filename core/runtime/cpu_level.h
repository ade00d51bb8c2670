// The x86-64 instruction-set level the project's fused CPU kernels run at: the best the processor supports, or
// the one SHEDDER_CPU_LEVEL asks for (avx512, avx2 or sse2), so every clone of the kernels can be tested on one
// machine. libtorch's own kernels follow ATEN_CPU_CAPABILITY and OpenBLAS's OPENBLAS_CORETYPE; the test suite
// sets all three together (tests/CMakeLists.txt).
#pragma once

namespace shedder {

// x86-64 micro-architecture levels: v1 (SSE2, every x86-64), v3 (AVX2 + FMA + BMI2), v4 (AVX-512 F/BW/CD/DQ/VL).
enum class CpuLevel { Sse2 = 1, Avx2 = 3, Avx512 = 4 };

const char* cpu_level_name(CpuLevel level);  // "sse2", "avx2", "avx512"
// The best level this processor supports (Sse2 on other architectures, where the kernels are portable C++).
CpuLevel detected_cpu_level();
// The level in effect: detected_cpu_level(), or SHEDDER_CPU_LEVEL when set. Read once; a value that is not a
// level name, or a level the processor lacks, is a shedder::Error naming the variable (thrown by every call).
CpuLevel cpu_level();

}  // namespace shedder
