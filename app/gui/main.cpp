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

QCommandLineOption option(const char* name, const char* help, const char* value = nullptr) {
  return value ? QCommandLineOption(QString::fromLatin1(name), QString::fromLatin1(help), QString::fromLatin1(value))
               : QCommandLineOption(QString::fromLatin1(name), QString::fromLatin1(help));
}

// The command line's options, declared once: the parser and the code below read the same objects.
struct Options {
  QCommandLineOption device = option("device", "Compute device: cpu, cuda, cuda:N or auto", "D");
  QCommandLineOption dtype = option("dtype", "Compute dtype on a GPU: auto, float32, bfloat16, float16", "T");
  QCommandLineOption steps = option("search-steps", "Run a search of N steps once the model is open", "N");
  QCommandLineOption gran{QStringLiteral("granularity"),
                          QStringLiteral("What the search removes: %1 (the model's architecture decides which apply)")
                              .arg(SearchPanel::knownGranularities().join(QStringLiteral(", "))),
                          QStringLiteral("G")};
  QCommandLineOption metric = option("metric", "ppl or cosine", "M");
  QCommandLineOption calibText = option("calib-text", "Calibration text file (repeatable)", "FILE");
  QCommandLineOption calibTokens = option("calib-tokens", "Pre-tokenized calibration windows", "FILE");
  QCommandLineOption heldout = option("heldout-text", "Held-out text file (repeatable)", "FILE");
  QCommandLineOption seqLen = option("seq-len", "Tokens per window", "N");
  QCommandLineOption windows = option("windows", "Calibration windows", "N");
  QCommandLineOption seed = option("seed", "Window sampling seed", "S");
  QCommandLineOption batch = option("batch", "Windows per forward pass", "B");
  QCommandLineOption thenEval = option("then-evaluate", "After the search, evaluate its removal set (what-if)");
  QCommandLineOption runsDir = option("runs-dir", "Folder for run folders", "DIR");
  QCommandLineOption size = option("size", "Window size, e.g. 1600x1000", "WxH");
  QCommandLineOption shot = option("screenshot", "Save a screenshot of the window when the scripted run ends, then quit", "FILE");
  QCommandLineOption compare = option("compare",
                                      "Open the comparison window with this run folder, project or "
                                      "lm-evaluation-harness results file (repeatable)",
                                      "SOURCE");
  QCommandLineOption compareTab = option("compare-tab", "The comparison window's tab to show (Perplexity, Heatmap, ...)", "NAME");

  void addTo(QCommandLineParser& p) const {
    for (const auto& o : {device, dtype, steps, gran, metric, calibText, calibTokens, heldout, seqLen, windows, seed,
                          batch, thenEval, runsDir, size, shot, compare, compareTab})
      p.addOption(o);
  }
};

// The search panel's settings with the command line's options applied.
SearchSettings searchSettings(SearchSettings s, const QCommandLineParser& p, const Options& o) {
  if (p.isSet(o.gran)) s.granularity = p.value(o.gran);
  if (p.isSet(o.metric)) s.metric = p.value(o.metric);
  if (p.isSet(o.calibText)) {
    s.calibration.source = CalibrationSource::TextFiles;
    s.calibration.textFiles = p.values(o.calibText);
  }
  if (p.isSet(o.calibTokens)) {
    s.calibration.source = CalibrationSource::TokenFile;
    s.calibration.tokenFile = p.value(o.calibTokens);
  }
  if (p.isSet(o.heldout)) s.calibration.heldoutFiles = p.values(o.heldout);
  if (p.isSet(o.seqLen)) s.calibration.seqLen = p.value(o.seqLen).toInt();
  if (p.isSet(o.windows)) s.calibration.windows = p.value(o.windows).toInt();
  if (p.isSet(o.seed)) s.calibration.seed = p.value(o.seed).toULongLong();
  if (p.isSet(o.batch)) s.calibration.batch = p.value(o.batch).toInt();
  if (p.isSet(o.steps)) s.steps = p.value(o.steps).toInt();
  return s;
}

// The scripted run (--search-steps, --screenshot): starts the search once the command line's model is ready, and
// when the run ends takes the screenshot and quits with its exit code.
class Script {
 public:
  Script(MainWindow& w, const QCommandLineParser& p, const Options& o, bool scripted)
      : w_(w), p_(p), o_(o), scripted_(scripted), shown_(&w) {
    QObject::connect(&w, &MainWindow::jobFailed, &w, [this](const QString& msg) {
      if (!scripted_) return;
      std::fprintf(stderr, "mamba-shedder: %s\n", qPrintable(msg));
      QCoreApplication::exit(1);
    });
    QObject::connect(&w, &MainWindow::modelReady, &w, [this] { onModelReady(); });
    if (p.isSet(o.steps)) {
      QObject::connect(&w, &MainWindow::searchEnded, &w, [this](bool done) {
        if (!done) return finish(1);
        if (p_.isSet(o_.thenEval)) w_.evaluateRemovalSet();
        else finish(0);
      });
      QObject::connect(&w, &MainWindow::evaluationDone, &w, [this] { finish(0); });
    }
  }

  int exitCode() const { return exitCode_; }
  void setShown(QWidget* shown) { shown_ = shown; }  // what the screenshot shows: the main window by default

  void finish(int code) {
    exitCode_ = code;
    if (!scripted_) return;
    // Let the last replots and layout settle, then grab the real screen pixels of the window.
    QTimer::singleShot(800, &w_, [this] { screenshotAndQuit(); });
  }

 private:
  // The model opened from the command line: apply --granularity now that the panel offers the model's kinds,
  // then start the scripted search (or take the screenshot).
  void onModelReady() {
    if (std::exchange(firstModel_, false) && p_.isSet(o_.gran) && !w_.searchPanel()->selectGranularity(p_.value(o_.gran))) {
      std::fprintf(stderr, "mamba-shedder: --granularity %s does not apply to this %s model (%s)\n",
                   qPrintable(p_.value(o_.gran)), qPrintable(w_.modelInfo().arch),
                   qPrintable(w_.searchPanel()->offeredGranularities().join(QStringLiteral(", "))));
      exitCode_ = 2;
      QCoreApplication::exit(2);
      return;
    }
    if (p_.isSet(o_.steps)) w_.startSearch(false);
    else if (scripted_) finish(0);
  }

  void screenshotAndQuit() {
    QPixmap pm;
    if (QScreen* screen = shown_->screen()) {
      const QRect r = shown_->frameGeometry();
      pm = screen->grabWindow(0, r.x(), r.y(), r.width(), r.height());
    }
    if (pm.isNull()) pm = shown_->grab();
    const QString file = p_.value(o_.shot);
    if (!pm.save(file)) {
      std::fprintf(stderr, "mamba-shedder: cannot write %s\n", qPrintable(file));
      exitCode_ = 1;
    } else {
      std::fprintf(stderr, "mamba-shedder: screenshot %dx%d written to %s (platform %s)\n", pm.width(), pm.height(),
                   qPrintable(file), qPrintable(QGuiApplication::platformName()));
    }
    w_.close();
    QCoreApplication::exit(exitCode_);
  }

  MainWindow& w_;
  const QCommandLineParser& p_;
  const Options& o_;
  const bool scripted_;
  QWidget* shown_;
  int exitCode_ = 0;
  bool firstModel_ = true;
};

}  // namespace

int main(int argc, char** argv) {
  Application app(argc, argv);
  QCommandLineParser p;
  p.setApplicationDescription(QStringLiteral("Mamba Shedder Workbench: structured pruning of Mamba language models"));
  p.addHelpOption();
  p.addVersionOption();
  p.addPositionalArgument(QStringLiteral("model"), QStringLiteral("Model folder or .shedproj project to open"), QStringLiteral("[MODEL]"));
  const Options o;
  o.addTo(p);
  p.process(app);
  if (p.isSet(o.gran) && !SearchPanel::knownGranularities().contains(p.value(o.gran)))
    return fail(QStringLiteral("--granularity %1: unknown; one of %2")
                    .arg(p.value(o.gran), SearchPanel::knownGranularities().join(QStringLiteral(", "))));

  MainWindow w;
  const bool scripted = p.isSet(o.shot);
  if (scripted) {
    w.setInteractive(false);
    QObject::connect(w.logView(), &LogView::lineAdded, [](const QString& line, bool) {
      std::fprintf(stderr, "%s\n", qPrintable(line));
    });
  }
  else w.restoreLayoutFromSettings();
  if (p.isSet(o.runsDir)) w.setRunsRoot(QFileInfo(p.value(o.runsDir)).absoluteFilePath());
  if (p.isSet(o.size)) {
    const QStringList wh = p.value(o.size).split(QLatin1Char('x'));
    if (wh.size() != 2 || wh[0].toInt() < 400 || wh[1].toInt() < 300) return fail(QStringLiteral("--size must be WxH, e.g. 1600x1000"));
    w.resize(wh[0].toInt(), wh[1].toInt());
  }
  w.searchPanel()->setSettings(searchSettings(w.searchPanel()->settings(), p, o));
  Script script(w, p, o, scripted);

  if (p.isSet(o.device) || p.isSet(o.dtype)) {
    const QString d = p.value(o.device).isEmpty() ? QStringLiteral("cpu") : p.value(o.device);
    const QString t = p.value(o.dtype).isEmpty() ? QStringLiteral("auto") : p.value(o.dtype);
    if (!EngineSession::computeDevices().contains(d) && d != QLatin1String("auto") && d != QLatin1String("cuda"))
      return fail(QStringLiteral("--device %1: this machine offers %2").arg(d, EngineSession::computeDevices().join(QStringLiteral(", "))));
    w.setComputeDevice(d, t);
  }
  if (p.isSet(o.compare)) {  // sources and tab checked before any window shows
    ComparisonWindow* c = w.comparisonWindow();
    for (const QString& src : p.values(o.compare)) {
      QString error;
      if (!c->addPath(src, &error)) return fail(error);
    }
    if (p.isSet(o.compareTab) && !c->showTab(p.value(o.compareTab)))
      return fail(QStringLiteral("--compare-tab %1: no such tab").arg(p.value(o.compareTab)));
    if (scripted) {
      if (p.isSet(o.size)) c->resize(w.size());
      c->show();
      script.setShown(c);
      script.finish(0);
      return app.exec() ? 1 : script.exitCode();
    }
  }
  w.show();
  if (p.isSet(o.compare)) w.showComparison();
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
  return script.exitCode() ? script.exitCode() : rc;
}
