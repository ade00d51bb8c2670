// Optional per-operation timing of the forward pass, for finding where GPU time goes: with the environment
// variable SHEDDER_PROFILE=1 each instrumented scope synchronises the device before and after itself and its
// time is summed by name; the table is printed to stderr when the process exits. Off (one branch) otherwise.
#pragma once

#include <ATen/ATen.h>

#include <chrono>
#include <optional>

namespace shedder::profile {

bool enabled();
void add(const char* name, double seconds);

class Scope {
 public:
  Scope(const char* name, const at::Device& device);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const char* name_;
  at::Device device_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace shedder::profile

#define SHEDDER_PROFILE_CAT2(a, b) a##b
#define SHEDDER_PROFILE_CAT(a, b) SHEDDER_PROFILE_CAT2(a, b)
// Times the rest of the enclosing block under `name` when profiling is on.
#define SHEDDER_PROFILE_SCOPE(name, device)                                                             \
  std::optional<shedder::profile::Scope> SHEDDER_PROFILE_CAT(shedder_profile_, __LINE__);             \
  if (shedder::profile::enabled()) SHEDDER_PROFILE_CAT(shedder_profile_, __LINE__).emplace(name, device)
