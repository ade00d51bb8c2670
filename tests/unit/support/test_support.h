// Shared helpers for the Qt Test suite: where the fixtures are, temporary folders, writing bytes.
#pragma once

#include <string>
#include <vector>

namespace shedder::test {

// Root of ../shared/fixtures (from SHEDDER_FIXTURES_DIR); empty when absent.
std::string fixtures_dir();
// tests/data in the source tree (committed test data).
std::string test_data_dir();
// Fresh empty temporary directory (removed at process exit is not guaranteed; under /tmp).
std::string make_temp_dir(const std::string& tag);
void write_file(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);

}  // namespace shedder::test

// Skips the current Qt test function when the shared fixtures are not present, saying so.
#define SHEDDER_REQUIRE_FIXTURES()                                                            \
  do {                                                                                       \
    if (shedder::test::fixtures_dir().empty())                                               \
      QSKIP("shared fixtures not found (set -DSHEDDER_FIXTURES_DIR=...); skipping");         \
  } while (0)
