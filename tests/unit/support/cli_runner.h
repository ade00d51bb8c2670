// Running the real shedder-cli binary (path in env SHEDDER_CLI, set by CTest) from tests with QProcess:
// results with exit status and output, several processes at a time, and the one-line failure check.
#pragma once

#include <QtCore/QProcess>
#include <QtCore/QStringList>

#include <string>
#include <vector>

namespace shedder::test {

std::string cli_path();  // "" when SHEDDER_CLI is not set

struct CliResult {
  QStringList args;
  bool finished = false;
  QProcess::ExitStatus status = QProcess::CrashExit;
  int code = -1;
  std::string out, err;

  std::string describe() const;
  bool ok() const { return finished && status == QProcess::NormalExit && code == 0; }
};

// Runs each argument list through the CLI, a few processes at a time (each start costs ~0.3 s of CPU in
// libtorch's static initialisation); results in call order.
// `env` ("NAME=value" entries) is added to the test's environment.
std::vector<CliResult> run_many(const std::vector<QStringList>& calls, const QStringList& env = {});
inline CliResult run(const QStringList& args, const QStringList& env = {}) { return run_many({args}, env).front(); }

inline QString q(const std::string& s) { return QString::fromStdString(s); }
inline bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }
size_t count_lines(const std::string& s);

// A failure: normal exit with code `code`, nothing on stdout, exactly one stderr line holding every phrase.
// Returns "" or what is wrong.
std::string check_failure(const CliResult& r, const std::vector<std::string>& phrases, int code = 1);

}  // namespace shedder::test
