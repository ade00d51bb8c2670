// The main window end to end on a trained tiny model (headless): open (also by drag and drop), mark in the tree,
// what-if evaluation, a search started from the marked set that updates the tree and the plots live, the run's
// autosaved project, save/reopen of a project with its plots, checkpoint export, errors without dialogs, and
// closing during a search (cancels cleanly, keeps the journal); the search panel's per-step measurement boxes.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>
#include <QtWidgets/QtWidgets>

#include <fstream>

#include "candidate_scores_plot.h"
#include "component_tree_model.h"
#include "confirm.h"
#include "engine_session.h"
#include "formatting.h"
#include "layer_tree_panel.h"
#include "log_view.h"
#include "main_window.h"
#include "model/mamba_model.h"
#include "qcustomplot_include.h"
#include "recent_files.h"
#include "run_curve_plots.h"
#include "search_panel.h"
#include "support/gui_test_support.h"
#include "support/main_window_support.h"
#include "support/test_support.h"
#include "what_if_panel.h"

using namespace shedder;
using namespace shedder::ui;

namespace {

constexpr int kTimeout = test::kGuiTimeoutMs;
using test::configure;
using test::openAndWait;

QString tmp(const char* tag) { return QString::fromStdString(test::make_temp_dir(tag)); }

// Held-out text: any bytes work with the trained tiny models' byte-level tokenizer.
QString heldoutText(const QString& dir) {
  std::string text;
  for (int i = 0; text.size() < 12000; ++i)
    text += "Held-out line " + std::to_string(i) + ": the quick brown fox jumps over the lazy dog.\n";
  const QString path = dir + "/heldout.txt";
  test::write_file(path.toStdString(), text);
  return path;
}

int journalSteps(const QString& path) {
  std::ifstream f(path.toStdString());
  std::string line;
  int n = 0;
  while (std::getline(f, line)) n += line.find("\"type\":\"step\"") != std::string::npos;
  return n;
}

}  // namespace

class TestGuiMainWindow : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    at::set_num_threads(2);
    test::init_gui_test_environment();
    RecentFiles::clear();
  }

  // The search panel's per-step measurement boxes reach the settings (and their JSON), and lock during a search.
  void search_panel_measurement_boxes() {
    SearchPanel p;
    auto* latency = p.findChild<QCheckBox*>(QStringLiteral("measureLatency"));
    auto* accuracy = p.findChild<QCheckBox*>(QStringLiteral("demoAccuracy"));
    QVERIFY(latency && accuracy);
    QVERIFY(EngineSession::demoTasksAvailable());  // ctest points SHEDDER_RESOURCES_DIR at resources/
    QVERIFY(latency->isEnabled() && accuracy->isEnabled());
    QVERIFY(!p.settings().benchPerStep && !p.settings().demoAccuracyPerStep);
    latency->setChecked(true);
    accuracy->setChecked(true);
    const SearchSettings s = p.settings();
    QVERIFY(s.benchPerStep && s.demoAccuracyPerStep);
    const SearchSettings back = searchSettingsFromJson(toJson(s));
    QVERIFY(back.benchPerStep && back.demoAccuracyPerStep);
    SearchSettings off = s;
    off.benchPerStep = off.demoAccuracyPerStep = false;
    p.setSettings(off);
    QVERIFY(!latency->isChecked() && !accuracy->isChecked());
    p.setSettings(s);
    QVERIFY(latency->isChecked() && accuracy->isChecked());
    p.setState(true, true, true, false);
    QVERIFY(!latency->isEnabled() && !accuracy->isEnabled());
    p.setState(true, false, false, false);
    QVERIFY(latency->isEnabled() && accuracy->isEnabled());
  }

  void mark_evaluate_search_save_reopen_export() {
    const QString dir = tmp("gui-window");
    MainWindow w;
    w.setInteractive(false);
    w.setRunsRoot(dir + "/runs");
    w.resize(1400, 900);
    w.show();
    const QString model = test::trained_model(QStringLiteral("mamba1"));
    openAndWait(w, model);
    QVERIFY(w.windowTitle().contains(QStringLiteral("mamba1")));
    QVERIFY(RecentFiles::list().contains(QFileInfo(model).absoluteFilePath()));
    ComponentTreeModel* tree = w.treeModel();
    QCOMPARE(tree->rowCount(tree->index(0, 0)), 8);
    QVERIFY(w.searchPanel()->runButton()->isEnabled());
    QVERIFY(!w.searchPanel()->cancelButton()->isEnabled());
    QVERIFY(!w.searchPanel()->resumeButton()->isEnabled());

    // Mark layers.3 with its check box and evaluate the what-if.
    configure(w, 2, heldoutText(dir));
    QVERIFY(tree->setData(tree->indexOf(QStringLiteral("layers.3")), Qt::Checked, Qt::CheckStateRole));
    QSignalSpy evaluated(&w, &MainWindow::evaluationDone);
    w.evaluateRemovalSet();
    QVERIFY(w.busy());
    QVERIFY(!w.searchPanel()->runButton()->isEnabled());
    SHEDDER_WAIT_FOR(evaluated, 1, kTimeout);
    const WhatIfResult r = evaluated.at(0).at(0).value<WhatIfResult>();
    QCOMPARE(r.removed, QStringList{QStringLiteral("layers.3")});
    QVERIFY(r.ppl > r.basePpl);
    QCOMPARE(w.whatIfPanel()->history().size(), 1);
    QVERIFY(w.whatIfPanel()->summaryText().contains(QStringLiteral("Δ")));

    // A second evaluation with layers.5 marked too: its change against the previous one, the history as CSV, and
    // the older row turned back into marks.
    QTRY_VERIFY(!w.busy());
    QVERIFY(tree->setData(tree->indexOf(QStringLiteral("layers.5")), Qt::Checked, Qt::CheckStateRole));
    w.evaluateRemovalSet();
    SHEDDER_WAIT_FOR(evaluated, 2, kTimeout);
    QTRY_VERIFY(!w.busy());
    const QVector<WhatIfResult> hist = w.whatIfPanel()->history();
    QCOMPARE(hist.size(), 2);
    QCOMPARE(w.whatIfPanel()->table()->item(1, 3)->text(), QStringLiteral("–"));  // the first has no previous
    QCOMPARE(w.whatIfPanel()->table()->item(0, 3)->text(), formatDelta(hist[1].ppl - hist[0].ppl, hist[0].ppl));
    const QStringList csv = w.whatIfPanel()->toCsv().split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(csv.size(), 3);
    QVERIFY(csv[0].startsWith(QStringLiteral("removed,perplexity,")));
    QVERIFY(csv[2].contains(QStringLiteral("layers.5")));
    QVERIFY(qAbs(csv[2].split(QLatin1Char(','))[4].toDouble() - (hist[1].ppl - hist[0].ppl)) <= 1e-9 * hist[1].ppl);
    QVERIFY(csv[1].split(QLatin1Char(','))[4].isEmpty());
    QVERIFY(w.exportWhatIfCsvTo(dir + "/what-if.csv"));
    QCOMPARE(QString::fromStdString(test::read_file((dir + "/what-if.csv").toStdString())), w.whatIfPanel()->toCsv());
    w.whatIfPanel()->useRowAsMarks(1);  // the older evaluation: layers.3 alone
    QCOMPARE(tree->markedIds(), QStringList{QStringLiteral("layers.3")});

    // A 2-step search from the marked set: the tree and the plots follow.
    QSignalSpy ended(&w, &MainWindow::searchEnded);
    w.startSearch(false);
    QVERIFY(w.searchPanel()->cancelButton()->isEnabled());
    SHEDDER_WAIT_FOR(ended, 1, kTimeout);
    QCOMPARE(ended.at(0).at(0).toBool(), true);
    QTRY_VERIFY(!w.busy());
    const RunRecord& run = w.run();
    QCOMPARE(run.steps.size(), 2);
    QCOMPARE(run.initialRemoved, QStringList{QStringLiteral("layers.3")});
    QCOMPARE(run.steps[0].candidates.size(), 7);  // layers.3 was removed before the search
    QCOMPARE(tree->removedIds(), (QStringList{run.steps[0].id, run.steps[1].id}));
    for (const StepRecord& s : run.steps) {
      QCOMPARE(tree->statusOf(s.id), ComponentTreeModel::Status::Removed);
      QVERIFY(s.heldoutPpl.has_value());
    }
    QCOMPARE(tree->statusOf(QStringLiteral("layers.3")), ComponentTreeModel::Status::Marked);
    QVERIFY(!tree->importanceLabel().isEmpty());
    QCOMPARE(w.perplexityPlot()->calibrationGraph()->dataCount(), 3);
    QCOMPARE(w.perplexityPlot()->calibrationGraph()->data()->at(0)->key, 1.0);  // one component removed before
    // The unpruned model's reference line: What-if's base on the same windows, below the marked start.
    QVERIFY(run.unprunedPpl && run.basePpl);
    QVERIFY(qAbs(*run.unprunedPpl - hist[0].basePpl) <= 1e-9 * hist[0].basePpl);
    QVERIFY(*run.unprunedPpl < *run.basePpl);
    QVERIFY(w.perplexityPlot()->referenceGraph()->visible());
    QCOMPARE(w.perplexityPlot()->referenceGraph()->data()->at(0)->value, *run.unprunedPpl);
    QCOMPARE(w.perplexityPlot()->heldoutGraph()->dataCount(), 3);
    QCOMPARE(w.paramsPlot()->parametersGraph()->dataCount(), 3);
    QCOMPARE(w.candidatePlot()->shownStep(), 1);
    QCOMPARE(w.candidatePlot()->candidateBars()->dataCount() + w.candidatePlot()->pickedBars()->dataCount(), 6);
    QVERIFY(w.searchPanel()->resumeButton()->isEnabled());
    const QString autosave = run.settings.runDir + "/workbench.shedproj";
    QVERIFY2(QFileInfo::exists(autosave), qPrintable(autosave));
    QVERIFY(QFileInfo::exists(run.settings.runDir + "/journal.jsonl"));

    // Save the project and reopen it in a fresh window: marks, run and plots come back.
    const QString project = dir + "/study.shedproj";
    QVERIFY(w.saveProjectTo(project));
    QVERIFY(!w.isWindowModified());
    MainWindow w2;
    w2.setInteractive(false);
    QSignalSpy ready2(&w2, &MainWindow::modelReady);
    QVERIFY(w2.openProject(project));
    SHEDDER_WAIT_FOR(ready2, 1, kTimeout);
    QTRY_VERIFY(!w2.busy());
    QVERIFY(w2.windowTitle().contains(QStringLiteral("study.shedproj")));
    QCOMPARE(w2.run().toJson(), run.toJson());
    QCOMPARE(w2.treeModel()->markedIds(), QStringList{QStringLiteral("layers.3")});
    QCOMPARE(w2.treeModel()->removedIds(), tree->removedIds());
    QCOMPARE(w2.perplexityPlot()->calibrationGraph()->dataCount(), 3);
    QCOMPARE(w2.perplexityPlot()->heldoutGraph()->data()->at(2)->value, *run.steps[1].heldoutPpl);
    QCOMPARE(w2.whatIfPanel()->history().size(), 2);
    QCOMPARE(w2.searchPanel()->settings().calibration.tokenFile, test::trained_calib_tokens());

    // Export the pruned checkpoint: 3 blocks fewer, loads again.
    QSignalSpy exported(&w, &MainWindow::exportDone);
    w.exportCheckpointTo(dir + "/pruned", false);
    SHEDDER_WAIT_FOR(exported, 1, kTimeout);
    auto pruned = MambaModel::load((dir + "/pruned").toStdString());
    QCOMPARE(pruned->num_layers(), int64_t(5));
    QCOMPARE(pruned->total_parameters(), tree->keptParameters());

    // A second run after the first starts from base + marks, not from where the first ended.
    const qint64 marked = w.run().initialParametersRemoved;
    QVERIFY(marked > 0);
    configure(w, 1, QString());
    QSignalSpy ended2(&w, &MainWindow::searchEnded);
    w.startSearch(false);
    QCOMPARE(w.run().initialParametersRemoved, marked);
    SHEDDER_WAIT_FOR(ended2, 1, kTimeout);
    QTRY_VERIFY(!w.busy());
    QCOMPARE(w.run().initialParametersRemoved, marked);
    const double first = w.paramsPlot()->parametersGraph()->data()->at(0)->value * w.paramsPlot()->unit();
    QVERIFY2(qAbs(first - double(w.run().totalParameters - marked)) < 1e-9 * double(w.run().totalParameters),
             qPrintable(QString::number(first)));

    // Opening another model leaves nothing of the run on screen: progress, plot ranges, tick labels.
    QVERIFY(w.searchPanel()->progressBar()->format().startsWith(QStringLiteral("finished")));
    openAndWait(w, test::trained_model(QStringLiteral("mamba2")));
    QCOMPARE(w.searchPanel()->progressBar()->value(), 0);
    QVERIFY(w.searchPanel()->progressBar()->format().isEmpty());
    QCOMPARE(w.perplexityPlot()->calibrationGraph()->dataCount(), 0);
    QCOMPARE(w.perplexityPlot()->plot()->xAxis->range(), QCPRange(0, 1));
    QVERIFY(!w.perplexityPlot()->plot()->yAxis->tickLabels());
    QVERIFY(!w.candidatePlot()->plot()->xAxis->tickLabels());
  }

  void open_by_drop_and_errors_without_dialogs() {
    MainWindow w;
    w.setInteractive(false);
    w.show();
    QSignalSpy failed(&w, &MainWindow::jobFailed);
    w.openModel(QStringLiteral("/nonexistent/model-folder"));
    SHEDDER_WAIT_FOR(failed, 1, kTimeout);
    QVERIFY(failed.at(0).at(0).toString().contains(QStringLiteral("/nonexistent/model-folder")));
    QVERIFY(!w.modelOpen());

    // A model folder dropped on the window opens it.
    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(test::trained_model(QStringLiteral("mamba2")))});
    QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&w, &enter);
    QVERIFY(enter.isAccepted());
    QSignalSpy ready(&w, &MainWindow::modelReady);
    QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&w, &drop);
    SHEDDER_WAIT_FOR(ready, 1, kTimeout);
    QVERIFY(w.windowTitle().contains(QStringLiteral("mamba2")));
    // Something that is not a model folder is not accepted.
    QMimeData other;
    other.setUrls({QUrl::fromLocalFile(QDir::tempPath())});
    QDragEnterEvent enter2(QPoint(10, 10), Qt::CopyAction, &other, Qt::LeftButton, Qt::NoModifier);
    enter2.setAccepted(false);
    QApplication::sendEvent(&w, &enter2);
    QVERIFY(!enter2.isAccepted());

    // A broken calibration source: the search fails with the file named, the window stays usable.
    SearchSettings s = w.searchPanel()->settings();
    s.calibration.source = CalibrationSource::TokenFile;
    s.calibration.tokenFile = QStringLiteral("/nonexistent/calib.safetensors");
    w.searchPanel()->setSettings(s);
    w.startSearch(false);
    SHEDDER_WAIT_FOR(failed, 2, kTimeout);
    QVERIFY(failed.at(1).at(0).toString().contains(QStringLiteral("/nonexistent/calib.safetensors")));
    QTRY_VERIFY(!w.busy());
    QVERIFY(w.searchPanel()->runButton()->isEnabled());

    // Run ▸ Compute Device lists this machine's devices (the CPU checked); asking for a GPU this machine does not
    // have fails with the reason and the open model stays usable; choosing the CPU reloads the model onto it.
    QAction* cpu = w.findChild<QAction*>(QStringLiteral("device:cpu"));
    QVERIFY(cpu && cpu->isCheckable() && cpu->isChecked());
    if (EngineSession::computeDevices().size() == 1) {
      w.setComputeDevice(QStringLiteral("cuda:7"));
      SHEDDER_WAIT_FOR(failed, 3, kTimeout);
      QVERIFY2(failed.at(2).at(0).toString().contains(QStringLiteral("cuda:7")), qPrintable(failed.at(2).at(0).toString()));
      QVERIFY(w.modelOpen() && cpu->isChecked());
    }
    QSignalSpy reloaded(&w, &MainWindow::modelReady);
    w.setComputeDevice(QStringLiteral("cpu"));
    SHEDDER_WAIT_FOR(reloaded, 1, kTimeout);
    QTRY_VERIFY(!w.busy());
    QVERIFY(cpu->isChecked());
  }

  // Save All Figures asks once before replacing files that exist; declined, nothing is written.
  // View ▸ Focus Layer Tree / Search Panel / Plots (Ctrl+1..3) and F6 (the next area) move the keyboard focus.
  void keyboard_focus_moves_between_areas() {
    MainWindow w;
    w.setInteractive(false);
    w.resize(1400, 900);
    w.show();
    w.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&w));
    auto trigger = [&](const char* name) {
      QAction* a = w.findChild<QAction*>(QString::fromLatin1(name));
      QVERIFY2(a, name);
      a->trigger();
    };
    auto in = [](QWidget* area) {
      QWidget* f = QApplication::focusWidget();
      return f && (f == area || area->isAncestorOf(f));
    };
    QCOMPARE(w.findChild<QAction*>(QStringLiteral("focusArea1"))->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_1));
    QCOMPARE(w.findChild<QAction*>(QStringLiteral("focusNextArea"))->shortcut(), QKeySequence(Qt::Key_F6));
    trigger("focusArea2");
    QTRY_VERIFY(in(w.searchPanel()));
    trigger("focusArea1");
    QTRY_VERIFY(in(w.treePanel()->view()));
    trigger("focusArea3");
    QTRY_VERIFY(in(w.perplexityPlot()));
    trigger("focusNextArea");  // wraps around to the tree
    QTRY_VERIFY(in(w.treePanel()->view()));
    trigger("focusNextArea");
    QTRY_VERIFY(in(w.searchPanel()));
  }

  void save_all_figures_asks_before_replacing() {
    MainWindow w;
    w.setInteractive(false);
    const QString dir = QString::fromStdString(test::make_temp_dir("gui-save-all"));
    QVERIFY(w.saveAllFiguresTo(dir).isEmpty());  // nothing has data yet: nothing written
    QCOMPARE(QDir(dir).entryList(QDir::Files).size(), 0);
    w.setRunsRoot(dir + "/runs");
    openAndWait(w, test::trained_model(QStringLiteral("mamba1")));
    configure(w, 1, QString());
    QSignalSpy ended(&w, &MainWindow::searchEnded);
    w.startSearch(false);
    SHEDDER_WAIT_FOR(ended, 1, kTimeout);
    QTRY_VERIFY(!w.busy());
    QStringList asked;
    bool answer = true;
    setConfirmAnswerer([&](const QString&, const QString& text) {
      asked << text;
      return answer;
    });
    const QStringList first = w.saveAllFiguresTo(dir);
    QVERIFY(!first.isEmpty());
    // The accuracy plot is empty (no accuracy was measured): skipped, not exported with its placeholder.
    QVERIFY(!w.accuracyPlot()->hasData());
    for (const QString& f : first) QVERIFY2(!f.contains(QStringLiteral("ccuracy")), qPrintable(f));
    QVERIFY(first.size() < w.findChildren<PlotView*>().size());
    QCOMPARE(asked.size(), 0);  // nothing to replace: no question
    const QString one = QDir(dir).filePath(first.front());
    QFile f(one);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write("mine");
    f.close();
    answer = false;
    QVERIFY(w.saveAllFiguresTo(dir).isEmpty());
    QCOMPARE(asked.size(), 1);
    QVERIFY(asked.front().contains(first.front()));
    QFile again(one);
    QVERIFY(again.open(QIODevice::ReadOnly));
    QCOMPARE(again.readAll(), QByteArray("mine"));
    again.close();
    answer = true;
    QCOMPARE(w.saveAllFiguresTo(dir), first);
    setConfirmAnswerer(nullptr);

    // The options chosen in the All Figures dialog apply: SVG, and no title drawn when it is turned off.
    QSettings settings;
    settings.setValue(QStringLiteral("figures/format"), 2);
    for (const bool title : {true, false}) {
      settings.setValue(QStringLiteral("figures/title"), title);
      const QString out = QString::fromStdString(test::make_temp_dir("gui-save-all-svg"));
      const QStringList svgs = w.saveAllFiguresTo(out);
      QVERIFY(svgs.contains(QStringLiteral("perplexity-vs-components-removed.svg")));
      const QString svg =
          QString::fromStdString(test::read_file((out + "/perplexity-vs-components-removed.svg").toStdString()));
      // Drawn text ends its element; the document's <title> names the figure either way.
      QCOMPARE(svg.contains(QStringLiteral(">Perplexity vs components removed</text>")), title);
      QVERIFY(svg.contains(QStringLiteral("components removed")));
    }
    settings.remove(QStringLiteral("figures"));

    // Saving one figure (its Save… button) is reported in the status bar and the Log.
    Q_EMIT w.perplexityPlot()->figureSaved(QStringLiteral("/tmp/x/ppl.pdf"));
    QVERIFY(w.statusBar()->currentMessage().contains(QStringLiteral("/tmp/x/ppl.pdf")));
    QVERIFY(w.logView()->toPlainText().contains(QStringLiteral("/tmp/x/ppl.pdf")));
  }

  void closing_during_a_search_cancels_and_keeps_the_journal() {
    const QString dir = tmp("gui-window-close");
    auto* w = new MainWindow;
    w->setInteractive(false);
    w->setRunsRoot(dir);
    w->show();
    openAndWait(*w, test::trained_model(QStringLiteral("mamba1")));
    configure(*w, 8, QString());
    w->startSearch(false);
    QTRY_VERIFY_WITH_TIMEOUT(w->run().steps.size() >= 1, kTimeout);
    const QString journal = w->run().journalPath;
    QVERIFY(!w->close());  // refused for now: the search is cancelled first
    QVERIFY(w->isVisible());
    QTRY_VERIFY_WITH_TIMEOUT(!w->isVisible(), kTimeout);  // closes once the worker stopped
    QCOMPARE(w->run().state, QStringLiteral("cancelled"));
    const int kept = journalSteps(journal);
    QVERIFY2(kept >= 1 && kept < 8, qPrintable(QString::number(kept)));
    QCOMPARE(kept, int(w->run().steps.size()));
    QVERIFY(QFileInfo::exists(QFileInfo(journal).absolutePath() + "/workbench.shedproj"));
    QVERIFY(!w->statusBar()->currentMessage().contains(QStringLiteral("Cancelling")));
    delete w;
  }
};

QTEST_MAIN(TestGuiMainWindow)
#include "test_gui_main_window.moc"
