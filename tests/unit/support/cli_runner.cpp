// QProcess runner for shedder-cli end-to-end tests (see cli_runner.h).
#include "support/cli_runner.h"

#include <QtCore/QThread>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace shedder::test {

std::string cli_path() {
  const char* p = std::getenv("SHEDDER_CLI");
  return p ? std::string(p) : std::string();
}

std::string CliResult::describe() const {
  return "shedder-cli " + args.join(' ').toStdString() + " -> " +
         (!finished                       ? std::string("did not finish")
          : status == QProcess::CrashExit ? std::string("CRASHED (signal)")
                                          : "exit " + std::to_string(code)) +
         "\n  stdout: " + out.substr(0, 400) + "\n  stderr: " + err.substr(0, 600);
}

std::vector<CliResult> run_many(const std::vector<QStringList>& calls, const QStringList& env) {
  QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
  for (const QString& e : env) environment.insert(e.section(QLatin1Char('='), 0, 0), e.section(QLatin1Char('='), 1));
  const size_t cap = static_cast<size_t>(std::max(2, QThread::idealThreadCount()));
  std::vector<CliResult> results(calls.size());
  std::vector<std::pair<size_t, std::unique_ptr<QProcess>>> running;
  size_t next = 0;
  while (next < calls.size() || !running.empty()) {
    while (next < calls.size() && running.size() < cap) {
      auto p = std::make_unique<QProcess>();
      p->setProgram(QString::fromStdString(cli_path()));
      p->setArguments(calls[next]);
      p->setProcessEnvironment(environment);
      p->start();
      running.emplace_back(next++, std::move(p));
    }
    QProcess& p = *running.front().second;
    CliResult& r = results[running.front().first];
    r.args = calls[running.front().first];
    r.finished = p.waitForStarted(30000) && p.waitForFinished(120000);
    if (!r.finished) {
      p.kill();
      p.waitForFinished(5000);
    }
    r.status = p.exitStatus();
    r.code = p.exitCode();
    r.out = p.readAllStandardOutput().toStdString();
    r.err = p.readAllStandardError().toStdString();
    running.erase(running.begin());
  }
  return results;
}

size_t count_lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

std::string check_failure(const CliResult& r, const std::vector<std::string>& phrases, int code) {
  if (!r.finished || r.status != QProcess::NormalExit) return "crashed or hung: " + r.describe();
  if (r.code != code)
    return "exit code " + std::to_string(r.code) + ", expected " + std::to_string(code) + ": " + r.describe();
  if (!r.out.empty()) return "stdout not empty: " + r.describe();
  if (r.err.empty() || r.err.back() != '\n' || count_lines(r.err) != 1)
    return "stderr is not exactly one line: " + r.describe();
  for (const auto& ph : phrases)
    if (!contains(r.err, ph)) return "stderr lacks '" + ph + "': " + r.describe();
  return {};
}

}  // namespace shedder::test
