// Error types of the engine. Every failure the user can cause (bad file, bad argument, cancelled run) is a
// shedder::Error whose message names the file/tensor/option and the problem. A broken invariant of the engine
// itself (a bug, never the user's doing) is a shedder::InternalError, which says so — as c10 separates TORCH_CHECK
// from TORCH_INTERNAL_ASSERT.
#pragma once

#include <stdexcept>
#include <string>

namespace shedder {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Raised when a long-running operation stops because the caller asked it to.
class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled") {}
};

// An invariant of the engine does not hold: a bug in shedder, not a bad input.
class InternalError : public std::logic_error {
 public:
  explicit InternalError(const std::string& message)
      : std::logic_error("internal error (a bug in shedder, please report it): " + message) {}
};

}  // namespace shedder
