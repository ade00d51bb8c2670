// CPU thread configuration (see threads.h).
#include "runtime/threads.h"

#include <ATen/Parallel.h>

#include <thread>

namespace shedder {

int configure_threads(int requested) {
  int n = requested;
  if (n <= 0) {
    n = static_cast<int>(std::thread::hardware_concurrency());
    if (n <= 0) n = 1;
  }
  at::set_num_threads(n);
  return at::get_num_threads();
}

}  // namespace shedder
