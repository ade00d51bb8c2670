// Error type of the engine: every failure the user can cause (bad file, bad argument, cancelled run)
// is reported as a shedder::Error whose message names the file/tensor/option and the problem.
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

}  // namespace shedder
