// Per-operation timing behind SHEDDER_PROFILE (see op_profile.h).
#include "runtime/op_profile.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/device.h"
#ifdef SHEDDER_WITH_CUDA
#include "kernels/cuda/cuda_ops.h"
#endif

namespace shedder::profile {
namespace {

struct Pending {
  const char* name;
  void* start;
  void* end;
};

struct Table {
  std::mutex mu;
  std::map<std::string, std::pair<double, long>> rows;
  std::vector<Pending> pending;  // GPU scopes whose events are not read yet

  void add_locked(const char* name, double seconds) {
    auto& r = rows[name];
    r.first += seconds;
    r.second += 1;
  }
  // Reads the recorded events (waiting for the last ones) into the rows.
  void resolve_locked() {
#ifdef SHEDDER_WITH_CUDA
    for (const Pending& p : pending) add_locked(p.name, 1e-3 * cuda::event_elapsed_ms(p.start, p.end));
#endif
    pending.clear();
  }
  ~Table() {
    resolve_locked();
    if (rows.empty()) return;
    double total = 0;
    for (const auto& r : rows) total += r.second.first;
    std::fprintf(stderr, "SHEDDER_PROFILE (GPU scopes: CUDA event times; CPU scopes: wall time)\n%-24s %10s %8s %7s\n",
                 "scope", "ms", "calls", "share");
    for (const auto& r : rows)
      std::fprintf(stderr, "%-24s %10.2f %8ld %6.1f%%\n", r.first.c_str(), 1e3 * r.second.first, r.second.second,
                   100.0 * r.second.first / total);
    std::fprintf(stderr, "%-24s %10.2f\n", "total", 1e3 * total);
  }
};

Table& table() {
  static Table t;
  return t;
}

}  // namespace

std::atomic<bool> g_active{true};

bool enabled() {
  static const bool on = [] {
    const char* e = std::getenv("SHEDDER_PROFILE");
    return e && *e && std::string(e) != "0";
  }();
  return on && g_active.load(std::memory_order_relaxed);
}

void set_active(bool active) { g_active.store(active, std::memory_order_relaxed); }

void add(const char* name, double seconds) {
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mu);
  t.add_locked(name, seconds);
}

Scope::Scope(const char* name, const at::Device& device) : name_(name), device_(device) {
  (void)table();  // constructed before any scope ends, so it is destroyed (and printed) after them
#ifdef SHEDDER_WITH_CUDA
  if (device_.is_cuda()) {
    start_event_ = cuda::record_event(device_.index() < 0 ? 0 : device_.index());
    return;
  }
#endif
  synchronize(device_);
  t0_ = std::chrono::steady_clock::now();
}

Scope::~Scope() {
#ifdef SHEDDER_WITH_CUDA
  if (start_event_) {
    void* end = cuda::record_event(device_.index() < 0 ? 0 : device_.index());
    Table& t = table();
    std::lock_guard<std::mutex> lock(t.mu);
    t.pending.push_back({name_, start_event_, end});
    if (t.pending.size() >= 8192) t.resolve_locked();  // bounded number of live events
    return;
  }
#endif
  synchronize(device_);
  add(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
}

}  // namespace shedder::profile
