// Progress reporting and cancellation shared by every long-running engine operation (evaluation, export,
// search, tuning). The GUI's worker and the CLI both plug in here.
#pragma once

#include <atomic>
#include <functional>
#include <string>

namespace shedder {

struct Progress {
  std::string stage;    // e.g. "eval", "search step 3"
  int64_t done = 0;     // units done (windows, candidates, ...)
  int64_t total = 0;
  double elapsed_s = 0;
  double eta_s = -1;    // < 0: unknown
  int64_t windows_done = 0;   // within the current unit (e.g. the candidate being evaluated)
  int64_t windows_total = 0;
};

using ProgressFn = std::function<void(const Progress&)>;

// Set from any thread; engine loops poll it between units of work and throw shedder::Cancelled.
class CancelToken {
 public:
  void cancel() { flag_.store(true); }
  bool cancelled() const { return flag_.load(); }
  void reset() { flag_.store(false); }

 private:
  std::atomic<bool> flag_{false};
};

}  // namespace shedder
