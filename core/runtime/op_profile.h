// Optional per-operation timing of the forward pass, for finding where time goes: with the environment
// variable SHEDDER_PROFILE=1 each instrumented scope is timed and summed by name; the table is printed to
// stderr when the process exits (bench: its timed prefill passes only). On a GPU a scope records CUDA events on the current stream (no
// synchronisation, so the kernels run as they would unprofiled and the times are GPU times); on the CPU
// it is wall time. Off (one branch) otherwise.
#pragma once

#include <ATen/ATen.h>

#include <chrono>
#include <optional>

namespace shedder::profile {

bool enabled();  // SHEDDER_PROFILE is set and the profile is not paused
void add(const char* name, double seconds);
// Pauses (false) or resumes (true) the timing, e.g. so that `bench` times only its measured prefill passes
// (not the warm-up, whose first calls include library initialisation, nor the untimed decode).
void set_active(bool active);

class Scope {
 public:
  Scope(const char* name, const at::Device& device);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const char* name_;
  at::Device device_;
  void* start_event_ = nullptr;  // GPU scopes
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace shedder::profile

#define SHEDDER_PROFILE_CAT2(a, b) a##b
#define SHEDDER_PROFILE_CAT(a, b) SHEDDER_PROFILE_CAT2(a, b)
// Times the rest of the enclosing block under `name` when profiling is on.
#define SHEDDER_PROFILE_SCOPE(name, device)                                                             \
  std::optional<shedder::profile::Scope> SHEDDER_PROFILE_CAT(shedder_profile_, __LINE__);             \
  if (shedder::profile::enabled()) SHEDDER_PROFILE_CAT(shedder_profile_, __LINE__).emplace(name, device)
