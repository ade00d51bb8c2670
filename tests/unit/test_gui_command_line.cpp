// The workbench's command line, with the real `mamba-shedder` binary (path in env SHEDDER_GUI, set by CTest; run
// offscreen): a scripted search runs at the --granularity asked for (a hybrid model's head groups), and a
// --granularity the workbench does not know, or one that does not apply to the opened model, is refused with one
// error line and a non-zero exit instead of silently running a block search.
#include <QtCore/QDir>
#include <QtCore/QDirIterator>
#include <QtCore/QFile>
#include <QtCore/QProcess>
#include <QtTest/QtTest>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "support/test_support.h"

using namespace shedder;

namespace {

QString gui_path() {
  const char* p = std::getenv("SHEDDER_GUI");
  return p ? QString::fromLocal8Bit(p) : QString();
}

struct GuiResult {
  bool finished = false;
  int code = -1;
  std::string err;
  std::string describe(const QStringList& args) const {
    return "mamba-shedder " + args.join(' ').toStdString() + " -> " +
           (finished ? "exit " + std::to_string(code) : std::string("did not finish")) + "\n  stderr: " + err;
  }
};

// Runs the workbench offscreen with its settings, data and runtime folders in `home` (a runtime folder of its own
// also keeps Qt's note about a missing XDG_RUNTIME_DIR off stderr).
GuiResult run_gui(const QStringList& args, const QString& home) {
  const QString runtime = home + QStringLiteral("/runtime");
  QDir().mkpath(runtime);
  QFile::setPermissions(runtime, QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
  QProcess p;
  QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
  env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
  env.insert(QStringLiteral("HOME"), home);
  env.insert(QStringLiteral("XDG_CONFIG_HOME"), home + QStringLiteral("/config"));
  env.insert(QStringLiteral("XDG_DATA_HOME"), home + QStringLiteral("/data"));
  env.insert(QStringLiteral("XDG_RUNTIME_DIR"), runtime);
  p.setProcessEnvironment(env);
  p.start(gui_path(), args);
  GuiResult r;
  r.finished = p.waitForStarted(30000) && p.waitForFinished(180000);
  if (!r.finished) {
    p.kill();
    p.waitForFinished(5000);
  }
  r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
  r.err = p.readAllStandardError().toStdString();
  return r;
}

// The search_result.json files under `dir`.
QStringList results_under(const QString& dir) {
  QStringList found;
  QDirIterator it(dir, {QStringLiteral("search_result.json")}, QDir::Files, QDirIterator::Subdirectories);
  while (it.hasNext()) found << it.next();
  return found;
}

// The last non-empty line of `s`.
std::string last_line(const std::string& s) {
  size_t end = s.find_last_not_of('\n');
  if (end == std::string::npos) return {};
  const size_t start = s.rfind('\n', end);
  return s.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
}

}  // namespace

class TestGuiCommandLine : public QObject {
  Q_OBJECT
  QString tmp_;
  QString hybrid_, hybridTokens_, mamba_, mambaTokens_;

 private Q_SLOTS:
  void initTestCase() {
    if (gui_path().isEmpty() || !QFileInfo::exists(gui_path()))
      QSKIP("SHEDDER_GUI is not set to the mamba-shedder binary (run the test through ctest)");
    tmp_ = QString::fromStdString(test::make_temp_dir("gui-command-line"));
    const QString data = QString::fromStdString(test::test_data_dir());
    hybrid_ = data + QStringLiteral("/hybrid/zamba2-tiny");
    hybridTokens_ = data + QStringLiteral("/hybrid/zamba2_reference.safetensors:input_ids");
    mamba_ = data + QStringLiteral("/trained_tiny/mamba1");
    mambaTokens_ = data + QStringLiteral("/trained_tiny/calib.safetensors:windows");
  }

  void cleanupTestCase() {
    if (!tmp_.isEmpty()) QDir(tmp_).removeRecursively();
  }

  // --compare opens the comparison window with its sources (no model) and --screenshot takes that window; a source
  // that cannot be read and an unknown tab are one-line refusals naming them.
  void compare_window_from_the_command_line() {
    const QString results = QString::fromStdString(test::test_data_dir()) +
                            QStringLiteral("/harness/state-spaces__mamba-130m-hf/results_2024-06-01T10-20-30.123456.json");
    const QString shot = tmp_ + QStringLiteral("/compare.png");
    const QStringList ok = {QStringLiteral("--compare"), results, QStringLiteral("--compare-tab"),
                            QStringLiteral("heatmap"), QStringLiteral("--size"), QStringLiteral("900x600"),
                            QStringLiteral("--screenshot"), shot};
    const GuiResult r = run_gui(ok, tmp_ + QStringLiteral("/home-compare"));
    QVERIFY2(r.finished && r.code == 0, r.describe(ok).c_str());
    const QImage img(shot);  // the window at --size (plus the frame the platform draws)
    QVERIFY2(img.width() >= 900 && img.width() < 920 && img.height() >= 600 && img.height() < 640, r.describe(ok).c_str());
    const QString missing = tmp_ + QStringLiteral("/no-such-run");
    for (const QStringList& bad : {QStringList{QStringLiteral("--compare"), missing, QStringLiteral("--screenshot"), shot},
                                   QStringList{QStringLiteral("--compare"), results, QStringLiteral("--compare-tab"),
                                               QStringLiteral("Nope"), QStringLiteral("--screenshot"), shot}}) {
      const GuiResult b = run_gui(bad, tmp_ + QStringLiteral("/home-compare"));
      QVERIFY2(b.finished && b.code == 2, b.describe(bad).c_str());
      QVERIFY2(std::count(b.err.begin(), b.err.end(), '\n') == 1, b.describe(bad).c_str());
      QVERIFY2(b.err.find(bad[1] == missing ? missing.toStdString() : std::string("Nope")) != std::string::npos,
               b.describe(bad).c_str());
    }
  }

  // A value no model offers: refused at once, before any window or model work.
  void unknown_granularity_is_refused() {
    const QString runs = tmp_ + QStringLiteral("/unknown-runs"), shot = tmp_ + QStringLiteral("/unknown.png");
    const QStringList args = {mamba_,
                              QStringLiteral("--granularity"),
                              QStringLiteral("heads"),
                              QStringLiteral("--search-steps"),
                              QStringLiteral("1"),
                              QStringLiteral("--calib-tokens"),
                              mambaTokens_,
                              QStringLiteral("--windows"),
                              QStringLiteral("2"),
                              QStringLiteral("--runs-dir"),
                              runs,
                              QStringLiteral("--screenshot"),
                              shot};
    const GuiResult r = run_gui(args, tmp_ + QStringLiteral("/home1"));
    QVERIFY2(r.finished && r.code != 0, r.describe(args).c_str());
    QVERIFY2(std::count(r.err.begin(), r.err.end(), '\n') == 1, r.describe(args).c_str());
    for (const char* w : {"--granularity", "heads", "block", "ssm", "head"})
      QVERIFY2(r.err.find(w) != std::string::npos, r.describe(args).c_str());
    QVERIFY(!QFileInfo::exists(shot));
    QVERIFY(results_under(runs).isEmpty());
  }

  // A granularity of the hybrid models asked for on a Mamba model: refused once the model is open, no search run.
  void granularity_of_another_architecture_is_refused() {
    const QString runs = tmp_ + QStringLiteral("/other-runs"), shot = tmp_ + QStringLiteral("/other.png");
    const QStringList args = {mamba_,
                              QStringLiteral("--granularity"),
                              QStringLiteral("head"),
                              QStringLiteral("--search-steps"),
                              QStringLiteral("1"),
                              QStringLiteral("--calib-tokens"),
                              mambaTokens_,
                              QStringLiteral("--windows"),
                              QStringLiteral("2"),
                              QStringLiteral("--runs-dir"),
                              runs,
                              QStringLiteral("--screenshot"),
                              shot};
    const GuiResult r = run_gui(args, tmp_ + QStringLiteral("/home2"));
    QVERIFY2(r.finished && r.code != 0, r.describe(args).c_str());
    const std::string line = last_line(r.err);
    for (const char* w : {"--granularity head", "mamba", "block, ssm"})
      QVERIFY2(line.find(w) != std::string::npos, r.describe(args).c_str());
    QVERIFY(!QFileInfo::exists(shot));
    QVERIFY(results_under(runs).isEmpty());
  }

  // The granularity asked for is the one searched, also when it exists only for the model opened (a hybrid's head
  // groups: the panel offers them only once the model is loaded).
  void hybrid_head_search_from_the_command_line() {
    const QString runs = tmp_ + QStringLiteral("/head-runs"), shot = tmp_ + QStringLiteral("/head.png");
    const QStringList args = {hybrid_,
                              QStringLiteral("--granularity"),
                              QStringLiteral("head"),
                              QStringLiteral("--search-steps"),
                              QStringLiteral("1"),
                              QStringLiteral("--calib-tokens"),
                              hybridTokens_,
                              QStringLiteral("--windows"),
                              QStringLiteral("2"),
                              QStringLiteral("--batch"),
                              QStringLiteral("2"),
                              QStringLiteral("--runs-dir"),
                              runs,
                              QStringLiteral("--screenshot"),
                              shot};
    const GuiResult r = run_gui(args, tmp_ + QStringLiteral("/home3"));
    QVERIFY2(r.finished && r.code == 0, r.describe(args).c_str());
    QVERIFY(QFileInfo::exists(shot));
    const QStringList results = results_under(runs);
    QCOMPARE(results.size(), 1);
    const auto j = nlohmann::json::parse(test::read_file(results[0].toStdString()));
    QCOMPARE(j.value("granularity", std::string()), std::string("head"));
    QCOMPARE(j["steps"].size(), size_t(1));
    QVERIFY2(j["steps"][0].value("removed", std::string()).find(".heads.") != std::string::npos, j.dump().c_str());
  }
};

QTEST_GUILESS_MAIN(TestGuiCommandLine)
#include "test_gui_command_line.moc"
