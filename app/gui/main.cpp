// mamba-shedder: the workbench GUI. `mamba-shedder [MODEL_DIR | PROJECT.shedproj]` opens the window on the model
// or project (without one: on the shipped demo model, when installed). Options pre-set the search panel and can script a run for screenshots and demos:
//   --search-steps N [--granularity G] [--metric ppl|cosine] [--calib-text FILE]... [--calib-tokens FILE]
//   [--heldout-text FILE]... [--seq-len N] [--windows N] [--seed S] [--batch B] [--then-evaluate]
//   [--runs-dir DIR] [--size WxH] [--screenshot FILE.png]   (the screenshot is taken when the run ends; then it quits)
//   --compare SOURCE... [--compare-tab NAME]: the comparison window with these run folders, projects or harness
//   results files (with --screenshot: of that window, at --size, showing tab NAME, e.g. Heatmap; no model opened)
// A --granularity the workbench does not know is refused at once; one the opened model's architecture does not offer
// (the panel lists a hybrid's kinds only once such a model is open) when that model is ready. Both exit with code 2.
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QScreen>
#include <QTimer>
#include <QWindow>

#include <cstdio>
#include <utility>

#include "application.h"
#include "comparison_window.h"
#include "engine_session.h"
#include "log_view.h"
#include "main_window.h"
#include "project_file.h"
#include "search_panel.h"

using namespace shedder::ui;

namespace {

int fail(const QString& msg) {
  std::fprintf(stderr, "mamba-shedder: %s\n", qPrintable(msg));
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Application app(argc, argv);
  QCommandLineParser p;
  p.setApplicationDescription(QStringLiteral("Mamba Shedder Workbench: structured pruning of Mamba language models"));
  p.addHelpOption();
  p.addVersionOption();
  p.addPositionalArgument(QStringLiteral("model"), QStringLiteral("Model folder or .shedproj project to open"), QStringLiteral("[MODEL]"));
  const QCommandLineOption device(QStringLiteral("device"), QStringLiteral("Compute device: cpu, cuda, cuda:N or auto"), QStringLiteral("D"));
  const QCommandLineOption dtype(QStringLiteral("dtype"), QStringLiteral("Compute dtype on a GPU: auto, float32, bfloat16, float16"), QStringLiteral("T"));
  const QCommandLineOption steps(QStringLiteral("search-steps"), QStringLiteral("Run a search of N steps once the model is open"), QStringLiteral("N"));
  const QCommandLineOption gran(
      QStringLiteral("granularity"),
      QStringLiteral("What the search removes: %1 (the model's architecture decides which apply)")
          .arg(SearchPanel::knownGranularities().join(QStringLiteral(", "))),
      QStringLiteral("G"));
  const QCommandLineOption metric(QStringLiteral("metric"), QStringLiteral("ppl or cosine"), QStringLiteral("M"));
  const QCommandLineOption calibText(QStringLiteral("calib-text"), QStringLiteral("Calibration text file (repeatable)"), QStringLiteral("FILE"));
  const QCommandLineOption calibTokens(QStringLiteral("calib-tokens"), QStringLiteral("Pre-tokenized calibration windows"), QStringLiteral("FILE"));
  const QCommandLineOption heldout(QStringLiteral("heldout-text"), QStringLiteral("Held-out text file (repeatable)"), QStringLiteral("FILE"));
  const QCommandLineOption seqLen(QStringLiteral("seq-len"), QStringLiteral("Tokens per window"), QStringLiteral("N"));
  const QCommandLineOption windows(QStringLiteral("windows"), QStringLiteral("Calibration windows"), QStringLiteral("N"));
  const QCommandLineOption seed(QStringLiteral("seed"), QStringLiteral("Window sampling seed"), QStringLiteral("S"));
  const QCommandLineOption batch(QStringLiteral("batch"), QStringLiteral("Windows per forward pass"), QStringLiteral("B"));
  const QCommandLineOption thenEval(QStringLiteral("then-evaluate"), QStringLiteral("After the search, evaluate its removal set (what-if)"));
  const QCommandLineOption runsDir(QStringLiteral("runs-dir"), QStringLiteral("Folder for run folders"), QStringLiteral("DIR"));
  const QCommandLineOption size(QStringLiteral("size"), QStringLiteral("Window size, e.g. 1600x1000"), QStringLiteral("WxH"));
  const QCommandLineOption shot(QStringLiteral("screenshot"), QStringLiteral("Save a screenshot of the window when the scripted run ends, then quit"), QStringLiteral("FILE"));
  const QCommandLineOption compare(QStringLiteral("compare"),
                                  QStringLiteral("Open the comparison window with this run folder, project or "
                                                 "lm-evaluation-harness results file (repeatable)"),
                                  QStringLiteral("SOURCE"));
  const QCommandLineOption compareTab(QStringLiteral("compare-tab"),
                                     QStringLiteral("The comparison window's tab to show (Perplexity, Heatmap, ...)"),
                                     QStringLiteral("NAME"));
  for (const auto& o : {device, dtype, steps, gran, metric, calibText, calibTokens, heldout, seqLen, windows, seed, batch, thenEval,
                        runsDir, size, shot, compare, compareTab})
    p.addOption(o);
  p.process(app);
  if (p.isSet(gran) && !SearchPanel::knownGranularities().contains(p.value(gran)))
    return fail(QStringLiteral("--granularity %1: unknown; one of %2")
                    .arg(p.value(gran), SearchPanel::knownGranularities().join(QStringLiteral(", "))));

  MainWindow w;
  const bool scripted = p.isSet(shot);
  if (scripted) {
    w.setInteractive(false);
    QObject::connect(w.logView(), &LogView::lineAdded, [](const QString& line, bool) {
      std::fprintf(stderr, "%s\n", qPrintable(line));
    });
  }
  else w.restoreLayoutFromSettings();
  if (p.isSet(runsDir)) w.setRunsRoot(QFileInfo(p.value(runsDir)).absoluteFilePath());
  if (p.isSet(size)) {
    const QStringList wh = p.value(size).split(QLatin1Char('x'));
    if (wh.size() != 2 || wh[0].toInt() < 400 || wh[1].toInt() < 300) return fail(QStringLiteral("--size must be WxH, e.g. 1600x1000"));
    w.resize(wh[0].toInt(), wh[1].toInt());
  }

  SearchSettings s = w.searchPanel()->settings();
  if (p.isSet(gran)) s.granularity = p.value(gran);
  if (p.isSet(metric)) s.metric = p.value(metric);
  if (p.isSet(calibText)) {
    s.calibration.source = CalibrationSource::TextFiles;
    s.calibration.textFiles = p.values(calibText);
  }
  if (p.isSet(calibTokens)) {
    s.calibration.source = CalibrationSource::TokenFile;
    s.calibration.tokenFile = p.value(calibTokens);
  }
  if (p.isSet(heldout)) s.calibration.heldoutFiles = p.values(heldout);
  if (p.isSet(seqLen)) s.calibration.seqLen = p.value(seqLen).toInt();
  if (p.isSet(windows)) s.calibration.windows = p.value(windows).toInt();
  if (p.isSet(seed)) s.calibration.seed = p.value(seed).toULongLong();
  if (p.isSet(batch)) s.calibration.batch = p.value(batch).toInt();
  if (p.isSet(steps)) s.steps = p.value(steps).toInt();
  w.searchPanel()->setSettings(s);

  int exitCode = 0;
  QWidget* shown = &w;  // what the screenshot shows: the main window, or the comparison window
  auto finish = [&](int code) {
    exitCode = code;
    if (!scripted) return;
    // Let the last replots and layout settle, then grab the real screen pixels of the window.
    QTimer::singleShot(800, &w, [&] {
      QPixmap pm;
      if (QScreen* screen = shown->screen()) {
        const QRect r = shown->frameGeometry();
        pm = screen->grabWindow(0, r.x(), r.y(), r.width(), r.height());
      }
      if (pm.isNull()) pm = shown->grab();
      const QString file = p.value(shot);
      if (!pm.save(file)) {
        std::fprintf(stderr, "mamba-shedder: cannot write %s\n", qPrintable(file));
        exitCode = 1;
      } else {
        std::fprintf(stderr, "mamba-shedder: screenshot %dx%d written to %s (platform %s)\n", pm.width(), pm.height(),
                     qPrintable(file), qPrintable(QGuiApplication::platformName()));
      }
      w.close();
      QCoreApplication::exit(exitCode);
    });
  };
  QObject::connect(&w, &MainWindow::jobFailed, &w, [&](const QString& msg) {
    if (!scripted) return;
    std::fprintf(stderr, "mamba-shedder: %s\n", qPrintable(msg));
    QCoreApplication::exit(1);
  });
  // The model opened from the command line: apply --granularity now that the panel offers the model's kinds,
  // then start the scripted search (or take the screenshot).
  bool firstModel = true;
  QObject::connect(&w, &MainWindow::modelReady, &w, [&] {
    if (std::exchange(firstModel, false) && p.isSet(gran) && !w.searchPanel()->selectGranularity(p.value(gran))) {
      std::fprintf(stderr, "mamba-shedder: --granularity %s does not apply to this %s model (%s)\n",
                   qPrintable(p.value(gran)), qPrintable(w.modelInfo().arch),
                   qPrintable(w.searchPanel()->offeredGranularities().join(QStringLiteral(", "))));
      exitCode = 2;
      QCoreApplication::exit(2);
      return;
    }
    if (p.isSet(steps)) w.startSearch(false);
    else if (scripted) finish(0);
  });
  if (p.isSet(steps)) {
    QObject::connect(&w, &MainWindow::searchEnded, &w, [&](bool done) {
      if (!done) return finish(1);
      if (p.isSet(thenEval)) w.evaluateRemovalSet();
      else finish(0);
    });
    QObject::connect(&w, &MainWindow::evaluationDone, &w, [&] { finish(0); });
  }

  if (p.isSet(device) || p.isSet(dtype)) {
    const QString d = p.value(device).isEmpty() ? QStringLiteral("cpu") : p.value(device);
    const QString t = p.value(dtype).isEmpty() ? QStringLiteral("auto") : p.value(dtype);
    if (!EngineSession::computeDevices().contains(d) && d != QLatin1String("auto") && d != QLatin1String("cuda"))
      return fail(QStringLiteral("--device %1: this machine offers %2").arg(d, EngineSession::computeDevices().join(QStringLiteral(", "))));
    w.setComputeDevice(d, t);
  }
  if (p.isSet(compare)) {  // sources and tab checked before any window shows
    ComparisonWindow* c = w.comparisonWindow();
    for (const QString& src : p.values(compare)) {
      QString error;
      if (!c->addPath(src, &error)) return fail(error);
    }
    if (p.isSet(compareTab) && !c->showTab(p.value(compareTab)))
      return fail(QStringLiteral("--compare-tab %1: no such tab").arg(p.value(compareTab)));
    if (scripted) {
      if (p.isSet(size)) c->resize(w.size());
      c->show();
      shown = c;
      finish(0);
      return app.exec() ? 1 : exitCode;
    }
  }
  w.show();
  if (p.isSet(compare)) w.showComparison();
  const QStringList args = p.positionalArguments();
  if (args.size() > 1) return fail(QStringLiteral("give at most one model folder or project file"));
  if (!args.isEmpty()) {
    const QString a = args.first();
    if (QFileInfo(a).suffix() == QLatin1String(kProjectSuffix)) w.openProject(a);
    else w.openModel(a);
  } else if (!EngineSession::demoModel().isEmpty()) {
    w.openModel(EngineSession::demoModel());  // no argument: the shipped demo model
  } else if (scripted) {
    return fail(QStringLiteral("--screenshot needs a model folder or project (no demo model is installed)"));
  }
  const int rc = app.exec();
  return exitCode ? exitCode : rc;
}
