// The workbench's main window (see main_window.h): construction, the worker's signals, state, window events.
#include "main_window.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDateTime>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QJsonDocument>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSaveFile>
#include <QScrollArea>
#include <QSettings>
#include <QStandardPaths>
#include <QStatusBar>
#include <QStyle>
#include <QToolBar>
#include <QTreeView>
#include <QUndoStack>

#include <cmath>
#include <limits>

#include "candidate_scores_plot.h"
#include "comparison_plots.h"
#include "comparison_window.h"
#include "component_tree_model.h"
#include "confirm.h"
#include "engine_session.h"
#include "engine_worker.h"
#include "figure_export.h"
#include "formatting.h"
#include "theme.h"
#include "tree_undo.h"
#include "help_window.h"
#include "runs_browser.h"
#include "layer_tree_panel.h"
#include "log_view.h"
#include "plot_view.h"
#include "main_window_helpers.h"
#include "last_folders.h"
#include "recent_files.h"
#include "run_curve_plots.h"
#include "search_panel.h"
#include "what_if_panel.h"

namespace shedder::ui {

using namespace mw;

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  registerEngineMetaTypes();
  if (const Theme t = savedTheme(); t != Theme::System) applyTheme(t);
  setObjectName(QStringLiteral("mainWindow"));
  setAcceptDrops(true);
  setDockNestingEnabled(true);
  runsRoot_ = QSettings().value(QStringLiteral("runs/root"),
                                QDir(QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation))
                                    .filePath(QStringLiteral("runs")))
                  .toString();

  tree_ = new ComponentTreeModel(this);
  undo_ = new TreeUndo(tree_, this);
  treePanel_ = new LayerTreePanel(tree_, this);
  setCentralWidget(treePanel_);

  worker_ = new EngineWorker;
  worker_->moveToThread(&thread_);
  thread_.setObjectName(QStringLiteral("engine"));
  thread_.start();

  buildActions();
  buildDocks();
  buildMenus();
  connectWorker();

  modelLabel_ = new QLabel(QStringLiteral("no model"), this);
  statusProgress_ = new QProgressBar(this);
  statusProgress_->setMaximumWidth(160);
  statusProgress_->setMaximumHeight(16);
  statusProgress_->setTextVisible(false);
  statusProgress_->setVisible(false);
  statusBar()->addPermanentWidget(statusProgress_);
  statusBar()->addPermanentWidget(modelLabel_);
  statusBar()->showMessage(QStringLiteral("Open a Mamba model folder to begin (File ▸ Open Model…, or drop it here)"));

  connect(tree_, &ComponentTreeModel::markedChanged, this, [this] {
    updateActions();
    setWindowModified(true);
  });
  connect(tree_, &ComponentTreeModel::restoreRequested, this, &MainWindow::restoreComponent);
  connect(undo_->stack(), &QUndoStack::indexChanged, this, [this] { updateActions(); });
  connect(treePanel_, &LayerTreePanel::evaluateComponentRequested, this, &MainWindow::evaluateComponent);
  connect(search_, &SearchPanel::runRequested, this, [this] { startSearch(false); });
  connect(search_, &SearchPanel::resumeRequested, this, [this] { startSearch(true); });
  connect(search_, &SearchPanel::cancelRequested, this, &MainWindow::cancelJob);
  connect(whatIf_, &WhatIfPanel::evaluateRequested, this, &MainWindow::evaluateRemovalSet);
  connect(whatIf_, &WhatIfPanel::marksRequested, this, [this](const QStringList& ids) {
    // What the search removed stays removed; the rest of that evaluation's set becomes the marks.
    QStringList marks;
    for (const QString& id : ids)
      if (!tree_->removedIds().contains(id)) marks << id;
    undo_->record(QStringLiteral("Mark %1 component(s) from the What-if history").arg(marks.size()),
                  [&] { tree_->setMarked(marks); });
    statusBar()->showMessage(QStringLiteral("Marked %1 component(s) from the What-if history").arg(marks.size()), 6000);
  });
  connect(whatIf_, &WhatIfPanel::exportCsvRequested, this, [this] {
    const QString f = chooseResultFile(QStringLiteral("Export What-if history as CSV"), QStringLiteral("what-if.csv"),
                                       QStringLiteral("CSV (*.csv)"), QDir::homePath());
    if (!f.isEmpty()) exportWhatIfCsvTo(f);
  });

  for (PlotView* p : plots())
    connect(p, &PlotView::figureSaved, this, [this](const QString& path) {
      statusBar()->showMessage(QStringLiteral("Saved the figure as %1").arg(path), 8000);
      log_->info(QStringLiteral("Saved the figure as %1").arg(path));
    });

  // The minimum size was fixed while the docks were being added (over 1,000 pixels wide); what they need together
  // is far less, so that a window resized before it is shown (a 1024-pixel screen, --size) really gets that size.
  layout()->invalidate();
  layout()->activate();
  resize(1600, 1000);
  defaultState_ = saveState();
  refreshPlots();
  updateActions();
  updateTitle();
}

MainWindow::~MainWindow() {
  // First: clearing its stack emits indexChanged, whose handler reads the tree model, which the children's deletion
  // (in creation order) would already have removed.
  delete undo_;
  undo_ = nullptr;
  worker_->requestCancel();
  thread_.quit();
  thread_.wait();
  delete worker_;
}

QList<PlotView*> MainWindow::plots() const { return {pplPlot_, paramsPlot_, candPlot_, accPlot_, heatPlot_}; }

bool MainWindow::modelOpen() const { return modelLoaded_; }

void MainWindow::connectWorker() {
  connect(worker_, &EngineWorker::busyChanged, this, &MainWindow::onBusyChanged);
  connect(worker_, &EngineWorker::progress, this, &MainWindow::onProgress);
  connect(worker_, &EngineWorker::log, log_, &LogView::info);
  connect(worker_, &EngineWorker::modelLoaded, this, &MainWindow::onModelLoaded);
  connect(worker_, &EngineWorker::failed, this, &MainWindow::onFailed);
  connect(worker_, &EngineWorker::evaluated, this, [this](const WhatIfResult& r) {
    whatIf_->addResult(r);
    statusBar()->showMessage(QStringLiteral("Perplexity %1 (base %2)").arg(formatPpl(r.ppl), formatPpl(r.basePpl)), 8000);
    setWindowModified(true);
    afterJob_ << [this, r] { Q_EMIT evaluationDone(r); };
  });
  connect(worker_, &EngineWorker::searchBase, this, [this](double ppl, double held, double unpruned) {
    run_.basePpl = ppl;
    run_.unprunedPpl = unpruned;
    if (std::isfinite(held)) run_.baseHeldoutPpl = held;
    refreshPlots();
  });
  connect(worker_, &EngineWorker::searchStep, this, [this](const StepRecord& s) {
    run_.mergeStep(s);
    applyRunToTree();
    treePanel_->reveal(s.id);
    refreshPlots();
    setWindowModified(true);
  });
  connect(worker_, &EngineWorker::searchFinished, this, [this](const RunRecord& r) {
    for (const StepRecord& s : r.steps) run_.mergeStep(s);
    if (r.basePpl) run_.basePpl = r.basePpl;
    if (r.baseHeldoutPpl) run_.baseHeldoutPpl = r.baseHeldoutPpl;
    if (r.unprunedPpl) run_.unprunedPpl = r.unprunedPpl;
    if (r.baseLatencyMs) run_.baseLatencyMs = r.baseLatencyMs;
    if (r.basePrefillTokensPerS) run_.basePrefillTokensPerS = r.basePrefillTokensPerS;
    if (r.basePeakMemoryMb) run_.basePeakMemoryMb = r.basePeakMemoryMb;
    if (r.baseAccuracy) run_.baseAccuracy = r.baseAccuracy;
    if (!r.baseTaskAccuracy.isEmpty()) {
      run_.baseTaskAccuracy = r.baseTaskAccuracy;
      run_.baseTaskAccNorm = r.baseTaskAccNorm;
      run_.baseTaskItems = r.baseTaskItems;
    }
    run_.state = r.state;
    run_.stopReason = r.stopReason;
    run_.evaluations = r.evaluations;
    run_.seconds = r.seconds;
    run_.calibrationLabel = r.calibrationLabel;
    run_.journalPath = r.journalPath;
    applyRunToTree();
    refreshPlots();
    search_->setProgressIdle(QStringLiteral("finished: %1 step(s), stopped by %2").arg(run_.steps.size()).arg(r.stopReason));
    autosaveRun();
    afterJob_ << [this] { Q_EMIT searchEnded(true); };
  });
  connect(worker_, &EngineWorker::searchCancelled, this, [this](const RunRecord& r) {
    for (const StepRecord& s : r.steps) run_.mergeStep(s);
    run_.state = QStringLiteral("cancelled");
    applyRunToTree();
    refreshPlots();
    search_->setProgressIdle(QStringLiteral("cancelled after %1 step(s) — Resume continues").arg(run_.steps.size()));
    statusBar()->showMessage(QStringLiteral("Search cancelled after %1 step(s)").arg(run_.steps.size()), 8000);
    autosaveRun();
    afterJob_ << [this] { Q_EMIT searchEnded(false); };
  });
  connect(worker_, &EngineWorker::exported, this, [this](const ExportSummary& s) {
    QString msg = QStringLiteral("Wrote %1\n\nparameters %2 → %3 (%4 % removed), %5 layers\nfiles: %6")
                      .arg(s.outDir, formatCountExact(s.parametersBefore), formatCountExact(s.parametersAfter))
                      .arg(s.parametersBefore ? 100.0 * double(s.parametersBefore - s.parametersAfter) / double(s.parametersBefore) : 0.0, 0, 'f', 2)
                      .arg(s.layersAfter)
                      .arg(s.files.join(QStringLiteral(", ")));
    if (!s.transformersLoadable)
      msg += QStringLiteral("\n\ntransformers cannot load this folder as written (%1); this workbench and shedder-cli "
                            "can.")
                 .arg(s.note.isEmpty() ? QStringLiteral("see shedding_report.json") : s.note);
    if (s.format == QLatin1String("gguf")) msg += QStringLiteral("\n\n%1.").arg(s.note);
    statusBar()->showMessage(QStringLiteral("Exported the pruned checkpoint to %1").arg(s.outDir), 10000);
    afterJob_ << [this, s, msg] {
      if (interactive_)
        QMessageBox::information(this, s.format == QLatin1String("gguf") ? QStringLiteral("GGUF for llama.cpp")
                                                                          : QStringLiteral("Pruned checkpoint"), msg);
      Q_EMIT exportDone(s);
    };
  });
}

// --- state -------------------------------------------------------------------------------------------------------

void MainWindow::updateActions() {
  const bool open = modelLoaded_;
  const bool searching = busy_ && job_ == QLatin1String("search");
  const int removal = tree_->removalSet().size();
  openModelAct_->setEnabled(!busy_);
  openProjectAct_->setEnabled(!busy_);
  runsAct_->setEnabled(!busy_);
  recentMenu_->setEnabled(!busy_);
  evaluateAct_->setEnabled(open && !busy_);
  runAct_->setEnabled(open && !busy_);
  resumeAct_->setEnabled(open && !busy_ && resumable());
  cancelAct_->setEnabled(busy_ && job_ != QLatin1String("load"));
  exportCheckpointAct_->setEnabled(open && !busy_ && removal > 0);
  exportGgufAct_->setEnabled(open && !busy_ && (model_.arch == QLatin1String("mamba") || model_.arch == QLatin1String("mamba2")));
  exportCsvAct_->setEnabled(!run_.empty());
  exportJsonAct_->setEnabled(!run_.empty());
  saveProjectAct_->setEnabled(open || !run_.empty());
  saveProjectAsAct_->setEnabled(open || !run_.empty());
  clearMarksAct_->setEnabled(!tree_->markedIds().isEmpty() && !searching);
  resetBaseAct_->setEnabled(!tree_->removalSet().isEmpty() && !searching);
  undoAct_->setEnabled(undo_->stack()->canUndo() && !searching);
  undoAct_->setText(undo_->stack()->canUndo() ? QStringLiteral("&Undo %1").arg(undo_->stack()->undoText())
                                              : QStringLiteral("&Undo"));
  redoAct_->setEnabled(undo_->stack()->canRedo() && !searching);
  redoAct_->setText(undo_->stack()->canRedo() ? QStringLiteral("&Redo %1").arg(undo_->stack()->redoText())
                                              : QStringLiteral("&Redo"));
  search_->setState(open, busy_, searching, resumable());
  search_->setResumeHint(run_.settings.runDir);
  whatIf_->setState(open, busy_, removal);
}

void MainWindow::updateTitle() {
  QString t = modelLoaded_ ? model_.name : (loadingPath_.isEmpty() ? QString() : QFileInfo(loadingPath_).fileName());
  if (!projectPath_.isEmpty()) t = QFileInfo(projectPath_).fileName() + (t.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(t));
  setWindowTitle(t.isEmpty() ? QString::fromLatin1(kAppTitle) + QStringLiteral("[*]")
                             : t + QStringLiteral("[*] — ") + QString::fromLatin1(kAppTitle));
}

bool MainWindow::resumable() const {
  return !run_.settings.runDir.isEmpty() && run_.state != QLatin1String("running") &&
         QFileInfo::exists(QDir(run_.settings.runDir).filePath(QStringLiteral("journal.jsonl"))) &&
         (run_.modelPath.isEmpty() || QFileInfo(run_.modelPath) == QFileInfo(model_.path));
}

QString MainWindow::newRunDir() const {
  const QString stamp = QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss"));
  const QString base = QDir(runsRoot_).filePath(QStringLiteral("%1-%2-%3").arg(fileSlug(model_.name), search_->settings().granularity, stamp));
  QString dir = base;
  for (int i = 2; QFileInfo::exists(dir); ++i) dir = base + QStringLiteral("-%1").arg(i);
  return dir;
}

void MainWindow::refreshPlots() {
  pplPlot_->setRun(run_);
  paramsPlot_->setRun(run_);
  candPlot_->setRun(run_);
  accPlot_->setRun(run_);
  heatPlot_->setRun(run_, QString());
  updateActions();
}

void MainWindow::applyRunToTree() {
  if (!tree_->hasModel()) return;
  undo_->programmatic([this] { tree_->setRemoved(run_.removedIds()); });
  if (run_.steps.isEmpty()) {
    tree_->clearImportance();
    return;
  }
  const StepRecord& last = run_.steps.back();
  const bool ppl = run_.settings.metric == QLatin1String("ppl");
  const std::optional<double> before = run_.pplBefore(last.step);
  QHash<QString, double> imp;
  QSet<QString> bounds;
  for (const CandidateRecord& c : last.candidates) {
    imp.insert(c.id, ppl && before ? c.score - *before : c.score);
    if (c.lowerBound) bounds.insert(c.id);
  }
  tree_->setImportance(imp,
                       ppl ? QStringLiteral("Δ ppl (step %1)").arg(last.step + 1)
                           : QStringLiteral("influence (step %1)").arg(last.step + 1),
                       bounds);
}

void MainWindow::resetRun() {
  run_ = RunRecord{};
  undo_->programmatic([this] { tree_->setRemoved({}); }, true);
  tree_->clearImportance();
  refreshPlots();
}

void MainWindow::showError(const QString& title, const QString& message) {
  log_->error(title + QStringLiteral(": ") + message);
  statusBar()->showMessage(title + QStringLiteral(" failed"), 8000);
  if (interactive_) {
    QMessageBox box(QMessageBox::Critical, title, message, QMessageBox::Ok, this);
    box.setTextInteractionFlags(Qt::TextSelectableByMouse);
    box.exec();
  }
  Q_EMIT jobFailed(message);
}

void MainWindow::focusArea(QWidget* w) {
  // Show the dock that holds it first (a hidden or tabbed-away dock cannot take the focus).
  for (QWidget* p = w; p; p = p->parentWidget())
    if (auto* d = qobject_cast<QDockWidget*>(p)) {
      d->show();
      d->raise();
    }
  w->setFocus(Qt::ShortcutFocusReason);
}

bool MainWindow::maybeDiscard(const QString& what) {
  if (!isWindowModified()) return true;
  const QString text = QStringLiteral("%1 discards the unsaved changes to %2 (marks, run, What-if history).\n\nSave them "
                                      "as a project first?")
                           .arg(what, projectPath_.isEmpty() ? (modelLoaded_ ? model_.name : QStringLiteral("this session"))
                                                            : QFileInfo(projectPath_).fileName());
  switch (askUnsaved(this, QStringLiteral("Unsaved changes"), text, interactive_)) {
    case Unsaved::Discard: return true;
    case Unsaved::Cancel: return false;
    case Unsaved::Save:
      saveProject();
      return !isWindowModified();  // the save dialog cancelled or the save failed: stay
  }
  return false;
}

void MainWindow::resetToBaseModel() {
  if (busy_ && job_ == QLatin1String("search")) return;
  undo_->record(QStringLiteral("Reset to base model"), [this] {
    tree_->setRemoved({});
    tree_->setMarked({});
  });
  statusBar()->showMessage(QStringLiteral("The tree shows the base model (Edit ▸ Undo brings the removal set back)"), 6000);
}

bool MainWindow::restoreComponent(const QString& id) {
  if (busy_ && job_ == QLatin1String("search")) {
    statusBar()->showMessage(QStringLiteral("Wait for the search to finish (or cancel it) to restore %1").arg(id), 6000);
    return false;
  }
  if (!tree_->removedIds().contains(id)) return false;
  undo_->record(QStringLiteral("Restore %1").arg(id), [this, &id] { tree_->restoreRemoved(id); });
  statusBar()->showMessage(QStringLiteral("Restored %1; the run's other removals are now marks").arg(id), 6000);
  return true;
}

ComparisonWindow* MainWindow::showComparison() {
  comparisonWindow()->show();
  comparison_->raise();
  return comparison_;
}

ComparisonWindow* MainWindow::comparisonWindow() {
  if (!comparison_) {
    comparison_ = new ComparisonWindow(this);
    comparison_->setCurrentRunProvider([this]() -> std::optional<ComparisonSource> {
      if (run_.steps.isEmpty()) return std::nullopt;
      ComparisonSource s;
      s.run = run_;
      s.path = projectPath_.isEmpty() ? QFileInfo(run_.journalPath).absolutePath() : projectPath_;
      s.label = QStringLiteral("%1 %2").arg(model_.name, run_.settings.granularity);
      return s;
    });
  }
  return comparison_;
}

RunsBrowser* MainWindow::showRuns() {
  if (!runsBrowser_) {
    runsBrowser_ = new RunsBrowser(runsRoot_, this);
    connect(runsBrowser_, &RunsBrowser::openRequested, this, [this](const QString& project) { openProject(project); });
    connect(runsBrowser_, &RunsBrowser::compareRequested, this, [this](const QStringList& dirs) {
      ComparisonWindow* c = comparisonWindow();
      for (const QString& d : dirs) {
        QString error;
        if (!c->addPath(d, &error)) showError(QStringLiteral("Compare runs"), error);
      }
      showComparison();
    });
    connect(runsBrowser_, &RunsBrowser::rootChanged, this, [this](const QString& root) {
      runsRoot_ = root;
      QSettings().setValue(QStringLiteral("runs/root"), root);
      log_->info(QStringLiteral("New runs go to %1").arg(root));
    });
  } else {
    runsBrowser_->setRoot(runsRoot_);
  }
  runsBrowser_->show();
  runsBrowser_->raise();
  return runsBrowser_;
}

HelpWindow* MainWindow::showHelp(const QString& anchor) {
  if (!help_) help_ = new HelpWindow(this);
  help_->showSection(anchor);
  return help_;
}

void MainWindow::showAbout() {
  QMessageBox::about(this, QStringLiteral("About"),
                     QStringLiteral("<h3>%1 %2</h3><p>Training-free structured pruning of Mamba language models "
                                    "(after <i>Mamba-Shedder</i>, Muñoz, Yuan, Jain, NAACL 2025): remove whole blocks or "
                                    "SSM modules, one at a time, always the one whose removal hurts calibration "
                                    "perplexity least.</p><p>Check components in the layer tree to mark them; "
                                    "<b>Evaluate</b> measures the marked set; <b>Run</b> searches; plots and the "
                                    "pruned checkpoint export from the File menu.</p>")
                         .arg(QLatin1String(kAppTitle), QStringLiteral(SHEDDER_VERSION)));
}

// --- window events -------------------------------------------------------------------------------------------------

void MainWindow::restoreLayoutFromSettings() {
  QSettings s;
  if (s.contains(QStringLiteral("window/geometry"))) restoreGeometry(s.value(QStringLiteral("window/geometry")).toByteArray());
  if (s.contains(QStringLiteral("window/state")))
    laidOut_ = restoreState(s.value(QStringLiteral("window/state")).toByteArray());
}

void MainWindow::closeEvent(QCloseEvent* e) {
  if (busy_) {
    const bool searching = job_ == QLatin1String("search");
    QString text = searching ? QStringLiteral("A search is running. Cancel it and quit?\n\nEvery finished step is kept in "
                                              "its journal (%1); Resume continues it later.")
                                   .arg(run_.journalPath)
                             : QStringLiteral("A job (%1) is running. Cancel it and quit?").arg(job_);
    if (closeAfterCancel_ || !interactive_ ||
        QMessageBox::question(this, QStringLiteral("Quit"), text, QMessageBox::Yes | QMessageBox::No, QMessageBox::No) ==
            QMessageBox::Yes) {
      closeAfterCancel_ = true;
      cancelJob();
      statusBar()->showMessage(QStringLiteral("Cancelling before quitting…"));
    }
    e->ignore();
    return;
  }
  if (!maybeDiscard(QStringLiteral("Quitting"))) {
    e->ignore();
    return;
  }
  QSettings s;
  s.setValue(QStringLiteral("window/geometry"), saveGeometry());
  s.setValue(QStringLiteral("window/state"), saveState());
  e->accept();
}

void MainWindow::showEvent(QShowEvent* e) {
  QMainWindow::showEvent(e);
  if (!laidOut_) {
    laidOut_ = true;
    applyDefaultLayout();
  }
}

void MainWindow::dragEnterEvent(QDragEnterEvent* e) {
  if (!e->mimeData()->hasUrls() || busy_) return;
  for (const QUrl& u : e->mimeData()->urls()) {
    const QString p = u.toLocalFile();
    if (isModelFolder(p) || isProjectFile(p)) {
      e->acceptProposedAction();
      return;
    }
  }
}

void MainWindow::dropEvent(QDropEvent* e) {
  for (const QUrl& u : e->mimeData()->urls()) {
    const QString p = u.toLocalFile();
    if (isProjectFile(p)) {
      openProject(p);
      e->acceptProposedAction();
      return;
    }
    if (isModelFolder(p)) {
      openModel(p);
      e->acceptProposedAction();
      return;
    }
  }
}

}  // namespace shedder::ui
