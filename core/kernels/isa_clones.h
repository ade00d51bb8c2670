// Per-level clones of the fused CPU kernels' hot loops: a kernel file writes its loops in a FILE_loops.inc,
// includes it three times — inside SHEDDER_ISA_BEGIN_V4 ... namespace isa_v4 { } ... SHEDDER_ISA_END, likewise
// isa_v3, and plainly in isa_v1 — and calls them through SHEDDER_ISA_CALL, which picks the clone of the level in
// effect (runtime/cpu_level.h: the processor's best, or SHEDDER_CPU_LEVEL). Unlike target_clones, whose loader
// picks the clone before main() runs, this lets one machine run and test every clone.
//
// The clones are chosen by ISA level (feature bits), never by CPU model ("arch=haswell" would only match Intel
// parts). Force-inlined helpers (simd_math.h) compile inside each clone for its instruction set.
#pragma once

#include "runtime/cpu_level.h"

#if defined(__x86_64__) && defined(__clang__)
#define SHEDDER_ISA_BEGIN_V4                                                                                      \
  _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,fma,bmi,bmi2,f16c,lzcnt,movbe\"))), apply_to = function)")
#define SHEDDER_ISA_BEGIN_V3                                                                                      \
  _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,bmi,bmi2,f16c,lzcnt,movbe\"))), apply_to = function)")
#define SHEDDER_ISA_END _Pragma("clang attribute pop")
#elif defined(__x86_64__) && defined(__GNUC__) && __GNUC__ >= 11
#define SHEDDER_ISA_BEGIN_V4 _Pragma("GCC push_options") _Pragma("GCC target(\"arch=x86-64-v4\")")
#define SHEDDER_ISA_BEGIN_V3 _Pragma("GCC push_options") _Pragma("GCC target(\"arch=x86-64-v3\")")
#define SHEDDER_ISA_END _Pragma("GCC pop_options")
#else  // other compilers and architectures: three portable copies
#define SHEDDER_ISA_BEGIN_V4
#define SHEDDER_ISA_BEGIN_V3
#define SHEDDER_ISA_END
#endif

// Calls fn(args...) of the clone for the level in effect (the choice is per call: call it per task, not per
// element).
#define SHEDDER_ISA_CALL(fn, ...)                                                 \
  (::shedder::cpu_level() == ::shedder::CpuLevel::Avx512 ? isa_v4::fn(__VA_ARGS__) \
   : ::shedder::cpu_level() == ::shedder::CpuLevel::Avx2 ? isa_v3::fn(__VA_ARGS__) \
                                                         : isa_v1::fn(__VA_ARGS__))
