// Shared helpers for the Qt Test suite: where the fixtures are, temporary folders, writing bytes, and the rule
// that under CI a test that cannot run fails instead of skipping.
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
// True under CI (CI=true): there a test that cannot run is a failure, never a skip.
bool in_ci();

}  // namespace shedder::test

// Ends the current Qt test function because `reason` keeps it from running: a skip on a developer's machine, a
// failure under CI=true (CTest would count a skip as a pass).
#define SHEDDER_SKIP_OR_FAIL(reason)                                                        \
  do {                                                                                      \
    if (shedder::test::in_ci()) QFAIL(qPrintable(QStringLiteral("CI=true, yet ") + (reason))); \
    QSKIP(qPrintable(QString(reason)));                                                     \
  } while (0)

// The shared Hugging Face fixtures are required: skip without them (fail under CI).
#define SHEDDER_REQUIRE_FIXTURES()                                                                      \
  do {                                                                                                 \
    if (shedder::test::fixtures_dir().empty())                                                         \
      SHEDDER_SKIP_OR_FAIL(QStringLiteral("shared fixtures not found (SHEDDER_FIXTURES_DIR=%1)")         \
                               .arg(QString::fromLocal8Bit(qgetenv("SHEDDER_FIXTURES_DIR"))));          \
  } while (0)
