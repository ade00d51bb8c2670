// Helpers the main-window GUI tests share (see main_window_support.h).
#include "support/main_window_support.h"

#include <QtTest/QtTest>
#include <QtWidgets/QtWidgets>

#include "main_window.h"
#include "project_file.h"
#include "search_panel.h"
#include "support/gui_test_support.h"

namespace shedder::test {

using namespace shedder::ui;

namespace {
constexpr int kTimeout = kGuiTimeoutMs;
}  // namespace

void configure(MainWindow& w, int steps, const QString& heldout) {
  SearchSettings s = w.searchPanel()->settings();
  s.granularity = QStringLiteral("block");
  s.metric = QStringLiteral("ppl");
  s.steps = steps;
  s.heldoutCurve = !heldout.isEmpty();
  s.calibration.source = CalibrationSource::TokenFile;
  s.calibration.tokenFile = trained_calib_tokens();
  s.calibration.heldoutFiles = heldout.isEmpty() ? QStringList() : QStringList{heldout};
  s.calibration.seqLen = 256;
  s.calibration.windows = 8;
  s.calibration.batch = 8;
  w.searchPanel()->setSettings(s);
}

void openAndWait(MainWindow& w, const QString& path) {
  QSignalSpy ready(&w, &MainWindow::modelReady);
  w.openModel(path);
  SHEDDER_WAIT_FOR(ready, 1, kTimeout);
  QTRY_VERIFY(!w.busy());
}

bool openProjectAndWait(MainWindow& w, const QString& path) {
  QSignalSpy ready(&w, &MainWindow::modelReady);
  if (!w.openProject(path)) return false;
  if (ready.isEmpty() && !ready.wait(kTimeout)) return false;
  return QTest::qWaitFor([&] { return !w.busy(); }, kTimeout);
}

QString projectWithRun(const QString& dir) {
  ProjectState p;
  p.modelPath = trained_model(QStringLiteral("mamba1"));
  p.run.modelPath = p.modelPath;
  p.run.settings.granularity = QStringLiteral("block");
  p.run.settings.metric = QStringLiteral("ppl");
  p.run.basePpl = 5.0;
  for (int k = 0; k < 2; ++k) {
    StepRecord s;
    s.step = k;
    s.index = k == 0 ? 1 : 3;
    s.id = QStringLiteral("layers.%1").arg(s.index);
    s.ppl = s.score = 5.5 + k;
    p.run.steps.push_back(s);
  }
  p.run.state = QStringLiteral("finished");
  const QString path = dir + "/with-run.shedproj";
  const QString err = saveProject(path, p);
  return err.isEmpty() ? path : QString();
}

QAction* action(MainWindow& w, const char* name) { return w.findChild<QAction*>(QString::fromLatin1(name)); }

}  // namespace shedder::test
