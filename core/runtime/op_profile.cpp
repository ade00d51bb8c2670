// Per-operation timing behind SHEDDER_PROFILE (see op_profile.h).
#include "runtime/op_profile.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "runtime/device.h"

namespace shedder::profile {
namespace {

struct Table {
  std::mutex mu;
  std::map<std::string, std::pair<double, long>> rows;
  ~Table() {
    if (rows.empty()) return;
    double total = 0;
    for (const auto& r : rows) total += r.second.first;
    std::fprintf(stderr, "SHEDDER_PROFILE (device synchronised around each scope)\n%-24s %10s %8s %7s\n", "scope",
                 "ms", "calls", "share");
    for (const auto& r : rows)
      std::fprintf(stderr, "%-24s %10.2f %8ld %6.1f%%\n", r.first.c_str(), 1e3 * r.second.first, r.second.second,
                   100.0 * r.second.first / total);
  }
};

Table& table() {
  static Table t;
  return t;
}

}  // namespace

bool enabled() {
  static const bool on = [] {
    const char* e = std::getenv("SHEDDER_PROFILE");
    return e && *e && std::string(e) != "0";
  }();
  return on;
}

void add(const char* name, double seconds) {
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mu);
  auto& r = t.rows[name];
  r.first += seconds;
  r.second += 1;
}

Scope::Scope(const char* name, const at::Device& device) : name_(name), device_(device) {
  (void)table();  // constructed before any scope ends, so it is destroyed (and printed) after them
  synchronize(device_);
  t0_ = std::chrono::steady_clock::now();
}

Scope::~Scope() {
  synchronize(device_);
  add(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
}

}  // namespace shedder::profile
