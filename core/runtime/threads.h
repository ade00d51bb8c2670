// CPU thread configuration: libtorch starts with one intra-op thread on Debian, so every entry point
// sets it from the machine (or from --threads).
#pragma once

namespace shedder {

// Sets libtorch's intra-op threads (and OpenBLAS/OpenMP through it). requested <= 0 means "all cores".
// Returns the number in effect.
int configure_threads(int requested);

}  // namespace shedder
