// The workbench's main window (see main_window.h).
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

#include <cmath>
#include <limits>

#include "candidate_scores_plot.h"
#include "component_tree_model.h"
#include "confirm.h"
#include "engine_session.h"
#include "engine_worker.h"
#include "figure_export.h"
#include "formatting.h"
#include "layer_tree_panel.h"
#include "log_view.h"
#include "plot_view.h"
#include "last_folders.h"
#include "recent_files.h"
#include "run_curve_plots.h"
#include "search_panel.h"
#include "what_if_panel.h"

namespace shedder::ui {

namespace {

const char* kAppTitle = "Mamba Shedder Workbench";

bool isModelFolder(const QString& p) { return QFileInfo(p).isDir() && QFileInfo(QDir(p).filePath(QStringLiteral("config.json"))).isFile(); }
bool isProjectFile(const QString& p) {
  return QFileInfo(p).isFile() && QFileInfo(p).suffix().compare(QLatin1String(kProjectSuffix), Qt::CaseInsensitive) == 0;
}

QSet<QString> asSet(const QStringList& l) { return QSet<QString>(l.begin(), l.end()); }

QString slug(QString s) {
  s.replace(QRegularExpression(QStringLiteral("[^A-Za-z0-9]+")), QStringLiteral("-"));
  return s.toLower().remove(QRegularExpression(QStringLiteral("^-+|-+$")));
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  registerEngineMetaTypes();
  setObjectName(QStringLiteral("mainWindow"));
  setAcceptDrops(true);
  setDockNestingEnabled(true);
  runsRoot_ = QDir(QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation)).filePath(QStringLiteral("runs"));

  tree_ = new ComponentTreeModel(this);
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
    tree_->setMarked(marks);
    statusBar()->showMessage(QStringLiteral("Marked %1 component(s) from the What-if history").arg(marks.size()), 6000);
  });
  connect(whatIf_, &WhatIfPanel::exportCsvRequested, this, [this] {
    const QString f = QFileDialog::getSaveFileName(
        this, QStringLiteral("Export What-if history as CSV"),
        QDir(lastFolder(QStringLiteral("results"), QDir::homePath())).filePath(QStringLiteral("what-if.csv")),
        QStringLiteral("CSV (*.csv)"));
    if (f.isEmpty()) return;
    rememberFolder(QStringLiteral("results"), f);
    exportWhatIfCsvTo(f);
  });

  resize(1600, 1000);
  defaultState_ = saveState();
  refreshPlots();
  updateActions();
  updateTitle();
}

MainWindow::~MainWindow() {
  worker_->requestCancel();
  thread_.quit();
  thread_.wait();
  delete worker_;
}

QList<PlotView*> MainWindow::plots() const { return {pplPlot_, paramsPlot_, candPlot_, accPlot_}; }

bool MainWindow::modelOpen() const { return modelLoaded_; }

// --- construction ------------------------------------------------------------------------------------------------

void MainWindow::buildActions() {
  QStyle* st = style();
  openModelAct_ = new QAction(st->standardIcon(QStyle::SP_DirOpenIcon), QStringLiteral("Open &Model…"), this);
  openModelAct_->setShortcut(QKeySequence::Open);
  openModelAct_->setToolTip(QStringLiteral("Open a model folder (config.json, weights, tokenizer.json)"));
  connect(openModelAct_, &QAction::triggered, this, &MainWindow::chooseModel);
  openProjectAct_ = new QAction(st->standardIcon(QStyle::SP_FileDialogStart), QStringLiteral("Open &Project…"), this);
  openProjectAct_->setShortcut(QKeySequence(QStringLiteral("Ctrl+Shift+O")));
  connect(openProjectAct_, &QAction::triggered, this, &MainWindow::chooseProject);
  saveProjectAct_ = new QAction(st->standardIcon(QStyle::SP_DialogSaveButton), QStringLiteral("&Save Project"), this);
  saveProjectAct_->setShortcut(QKeySequence::Save);
  saveProjectAct_->setToolTip(QStringLiteral("Save the model, settings, marks, run and plots as a project file"));
  connect(saveProjectAct_, &QAction::triggered, this, &MainWindow::saveProject);
  saveProjectAsAct_ = new QAction(QStringLiteral("Save Project &As…"), this);
  saveProjectAsAct_->setShortcut(QKeySequence::SaveAs);
  connect(saveProjectAsAct_, &QAction::triggered, this, &MainWindow::saveProjectAs);

  evaluateAct_ = new QAction(st->standardIcon(QStyle::SP_BrowserReload), QStringLiteral("&Evaluate Removal Set"), this);
  evaluateAct_->setShortcut(QKeySequence(QStringLiteral("Ctrl+E")));
  evaluateAct_->setToolTip(QStringLiteral("Perplexity without the removed and marked components (what-if)"));
  connect(evaluateAct_, &QAction::triggered, this, &MainWindow::evaluateRemovalSet);
  runAct_ = new QAction(st->standardIcon(QStyle::SP_MediaPlay), QStringLiteral("&Run Search"), this);
  runAct_->setShortcut(QKeySequence(QStringLiteral("F5")));
  runAct_->setToolTip(QStringLiteral("Start a new search with the search panel's settings (F5)"));
  connect(runAct_, &QAction::triggered, this, [this] { startSearch(false); });
  cancelAct_ = new QAction(st->standardIcon(QStyle::SP_MediaStop), QStringLiteral("&Cancel"), this);
  cancelAct_->setShortcut(QKeySequence(QStringLiteral("Shift+F5")));
  cancelAct_->setToolTip(QStringLiteral("Cancel the running job (finished search steps stay in the journal)"));
  connect(cancelAct_, &QAction::triggered, this, &MainWindow::cancelJob);
  resumeAct_ = new QAction(st->standardIcon(QStyle::SP_MediaSeekForward), QStringLiteral("Res&ume Search"), this);
  resumeAct_->setToolTip(QStringLiteral("Continue the last run from its journal (more steps: raise Steps first)"));
  connect(resumeAct_, &QAction::triggered, this, [this] { startSearch(true); });

  exportCsvAct_ = new QAction(QStringLiteral("Results as &CSV…"), this);
  connect(exportCsvAct_, &QAction::triggered, this, &MainWindow::exportCsv);
  exportJsonAct_ = new QAction(QStringLiteral("Results as &JSON…"), this);
  connect(exportJsonAct_, &QAction::triggered, this, &MainWindow::exportJson);
  exportCheckpointAct_ = new QAction(st->standardIcon(QStyle::SP_DriveHDIcon), QStringLiteral("Pruned &Checkpoint…"), this);
  exportCheckpointAct_->setToolTip(QStringLiteral("Write the model without the removed and marked components as a new "
                                                  "model folder"));
  connect(exportCheckpointAct_, &QAction::triggered, this, &MainWindow::exportCheckpoint);
  saveFiguresAct_ = new QAction(st->standardIcon(QStyle::SP_DialogSaveButton), QStringLiteral("All &Figures…"), this);
  saveFiguresAct_->setToolTip(QStringLiteral("Save every plot into a folder with the last used figure format, size and DPI"));
  connect(saveFiguresAct_, &QAction::triggered, this, &MainWindow::saveAllFigures);
  clearMarksAct_ = new QAction(QStringLiteral("Clear &Marks"), this);
  connect(clearMarksAct_, &QAction::triggered, this, [this] { tree_->setMarked({}); });
}

void MainWindow::buildDocks() {
  auto dock = [this](const QString& title, const QString& name, QWidget* w, Qt::DockWidgetArea area) {
    auto* d = new QDockWidget(title, this);
    d->setObjectName(name);
    d->setWidget(w);
    d->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable | QDockWidget::DockWidgetClosable);
    addDockWidget(area, d);
    docks_ << d;
    return d;
  };
  setCorner(Qt::BottomRightCorner, Qt::RightDockWidgetArea);
  setCorner(Qt::TopRightCorner, Qt::RightDockWidgetArea);

  search_ = new SearchPanel;
  auto* scroll = new QScrollArea;
  scroll->setWidget(search_);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  QDockWidget* searchDock = dock(QStringLiteral("Search"), QStringLiteral("searchDock"), scroll, Qt::RightDockWidgetArea);
  whatIf_ = new WhatIfPanel;
  QDockWidget* whatIfDock = dock(QStringLiteral("What-if"), QStringLiteral("whatIfDock"), whatIf_, Qt::RightDockWidgetArea);
  log_ = new LogView;
  QDockWidget* logDock = dock(QStringLiteral("Log"), QStringLiteral("logDock"), log_, Qt::RightDockWidgetArea);
  splitDockWidget(searchDock, whatIfDock, Qt::Vertical);
  tabifyDockWidget(whatIfDock, logDock);
  whatIfDock->raise();

  pplPlot_ = new PerplexityCurvePlot;
  paramsPlot_ = new ParamsLatencyPlot;
  candPlot_ = new CandidateScoresPlot;
  accPlot_ = new AccuracyPlot;
  QDockWidget* pplDock = dock(QStringLiteral("Perplexity"), QStringLiteral("perplexityDock"), pplPlot_, Qt::BottomDockWidgetArea);
  QDockWidget* candDock = dock(QStringLiteral("Candidate scores"), QStringLiteral("candidateDock"), candPlot_, Qt::BottomDockWidgetArea);
  QDockWidget* paramsDock = dock(QStringLiteral("Parameters, latency"), QStringLiteral("paramsDock"), paramsPlot_, Qt::BottomDockWidgetArea);
  QDockWidget* accDock = dock(QStringLiteral("Accuracy"), QStringLiteral("accuracyDock"), accPlot_, Qt::BottomDockWidgetArea);
  splitDockWidget(pplDock, candDock, Qt::Horizontal);
  tabifyDockWidget(candDock, paramsDock);
  tabifyDockWidget(paramsDock, accDock);
  candDock->raise();
  resizeDocks({searchDock}, {430}, Qt::Horizontal);
  resizeDocks({pplDock}, {420}, Qt::Vertical);
  resizeDocks({searchDock, whatIfDock}, {500, 360}, Qt::Vertical);
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(QStringLiteral("&File"));
  file->addAction(openModelAct_);
  recentMenu_ = file->addMenu(QStringLiteral("Open &Recent"));
  connect(recentMenu_, &QMenu::aboutToShow, this, &MainWindow::rebuildRecentMenu);
  file->addAction(openProjectAct_);
  file->addSeparator();
  file->addAction(saveProjectAct_);
  file->addAction(saveProjectAsAct_);
  file->addSeparator();
  QMenu* exp = file->addMenu(QStringLiteral("&Export"));
  exp->addAction(saveFiguresAct_);
  exp->addAction(exportCsvAct_);
  exp->addAction(exportJsonAct_);
  exp->addAction(exportCheckpointAct_);
  file->addSeparator();
  QAction* quit = file->addAction(QStringLiteral("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);

  QMenu* edit = menuBar()->addMenu(QStringLiteral("&Edit"));
  edit->addAction(clearMarksAct_);
  QAction* find = edit->addAction(QStringLiteral("&Filter Components"), this, [this] { treePanel_->filterEdit()->setFocus(); });
  find->setShortcut(QKeySequence::Find);

  QMenu* runMenu = menuBar()->addMenu(QStringLiteral("&Run"));
  runMenu->addAction(evaluateAct_);
  runMenu->addSeparator();
  runMenu->addAction(runAct_);
  runMenu->addAction(resumeAct_);
  runMenu->addAction(cancelAct_);
  runMenu->addSeparator();
  QMenu* devMenu = runMenu->addMenu(QStringLiteral("Compute &Device"));
  auto* devGroup = new QActionGroup(devMenu);
  for (const QString& d : EngineSession::computeDevices()) {
    QAction* a = devMenu->addAction(d == QStringLiteral("cpu") ? QStringLiteral("CPU (float32)")
                                                                : d.toUpper() + QStringLiteral(" (checkpoint dtype)"));
    a->setCheckable(true);
    a->setChecked(d == computeDevice_);
    a->setObjectName(QStringLiteral("device:") + d);
    devGroup->addAction(a);
    connect(a, &QAction::triggered, this, [this, d] { setComputeDevice(d); });
  }

  QMenu* view = menuBar()->addMenu(QStringLiteral("&View"));
  for (QDockWidget* d : docks_) view->addAction(d->toggleViewAction());
  view->addSeparator();
  view->addAction(QStringLiteral("Expand All"), treePanel_->view(), &QTreeView::expandAll);
  view->addAction(QStringLiteral("Collapse"), this, [this] { treePanel_->expandDefault(); });
  view->addAction(QStringLiteral("Reset Layout"), this, [this] {
    restoreState(defaultState_);
    for (QDockWidget* d : docks_) d->show();
  });
  // Keyboard focus between the three working areas: Ctrl+1..3, F6 to the next one.
  view->addSeparator();
  const std::vector<std::pair<QString, QWidget*>> areas = {{QStringLiteral("Layer Tree"), treePanel_->view()},
                                                           {QStringLiteral("Search Panel"), search_->firstField()},
                                                           {QStringLiteral("Plots"), pplPlot_}};
  for (size_t i = 0; i < areas.size(); ++i) {
    QAction* a = view->addAction(QStringLiteral("Focus ") + areas[i].first);
    a->setObjectName(QStringLiteral("focusArea%1").arg(i + 1));
    a->setShortcut(QKeySequence(Qt::CTRL | static_cast<Qt::Key>(Qt::Key_1 + static_cast<int>(i))));
    connect(a, &QAction::triggered, this, [this, w = areas[i].second] { focusArea(w); });
  }
  QAction* next = view->addAction(QStringLiteral("Focus Next Area"));
  next->setObjectName(QStringLiteral("focusNextArea"));
  next->setShortcut(QKeySequence(Qt::Key_F6));
  connect(next, &QAction::triggered, this, [this, areas] {
    size_t cur = areas.size() - 1;
    for (size_t i = 0; i < areas.size(); ++i)
      if (QWidget* f = QApplication::focusWidget(); f && (f == areas[i].second || areas[i].second->isAncestorOf(f)))
        cur = i;
    // The search panel's area is the whole panel, not only its first field.
    if (QWidget* f = QApplication::focusWidget(); f && search_->isAncestorOf(f)) cur = 1;
    focusArea(areas[(cur + 1) % areas.size()].second);
  });

  QMenu* help = menuBar()->addMenu(QStringLiteral("&Help"));
  help->addAction(QStringLiteral("&About"), this, &MainWindow::showAbout);

  QToolBar* tb = addToolBar(QStringLiteral("Main"));
  tb->setObjectName(QStringLiteral("mainToolBar"));
  tb->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  tb->setMovable(false);
  tb->addAction(openModelAct_);
  tb->addAction(saveProjectAct_);
  tb->addSeparator();
  tb->addAction(evaluateAct_);
  tb->addAction(runAct_);
  tb->addAction(cancelAct_);
  tb->addAction(resumeAct_);
  tb->addSeparator();
  tb->addAction(exportCheckpointAct_);
  tb->addAction(saveFiguresAct_);
}

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
  connect(worker_, &EngineWorker::searchBase, this, [this](double ppl, double held) {
    run_.basePpl = ppl;
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
    if (r.baseLatencyMs) run_.baseLatencyMs = r.baseLatencyMs;
    if (r.basePrefillTokensPerS) run_.basePrefillTokensPerS = r.basePrefillTokensPerS;
    if (r.basePeakMemoryMb) run_.basePeakMemoryMb = r.basePeakMemoryMb;
    if (r.baseAccuracy) run_.baseAccuracy = r.baseAccuracy;
    if (!r.baseTaskAccuracy.isEmpty()) run_.baseTaskAccuracy = r.baseTaskAccuracy;
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
    statusBar()->showMessage(QStringLiteral("Exported the pruned checkpoint to %1").arg(s.outDir), 10000);
    afterJob_ << [this, s, msg] {
      if (interactive_) QMessageBox::information(this, QStringLiteral("Pruned checkpoint"), msg);
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
  recentMenu_->setEnabled(!busy_);
  evaluateAct_->setEnabled(open && !busy_);
  runAct_->setEnabled(open && !busy_);
  resumeAct_->setEnabled(open && !busy_ && resumable());
  cancelAct_->setEnabled(busy_ && job_ != QLatin1String("load"));
  exportCheckpointAct_->setEnabled(open && !busy_ && removal > 0);
  exportCsvAct_->setEnabled(!run_.empty());
  exportJsonAct_->setEnabled(!run_.empty());
  saveProjectAct_->setEnabled(open || !run_.empty());
  saveProjectAsAct_->setEnabled(open || !run_.empty());
  clearMarksAct_->setEnabled(!tree_->markedIds().isEmpty() && !searching);
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
  const QString base = QDir(runsRoot_).filePath(QStringLiteral("%1-%2-%3").arg(slug(model_.name), search_->settings().granularity, stamp));
  QString dir = base;
  for (int i = 2; QFileInfo::exists(dir); ++i) dir = base + QStringLiteral("-%1").arg(i);
  return dir;
}

void MainWindow::refreshPlots() {
  pplPlot_->setRun(run_);
  paramsPlot_->setRun(run_);
  candPlot_->setRun(run_);
  accPlot_->setRun(run_);
  updateActions();
}

void MainWindow::applyRunToTree() {
  if (!tree_->hasModel()) return;
  tree_->setRemoved(run_.removedIds());
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
  tree_->setRemoved({});
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

// --- jobs ----------------------------------------------------------------------------------------------------------

void MainWindow::openModel(const QString& dir) {
  if (busy_) {
    showError(QStringLiteral("Open model"), QStringLiteral("wait for the running job to finish (or cancel it) first"));
    return;
  }
  if (!QFileInfo(dir).isDir()) {
    showError(QStringLiteral("Open model"), QStringLiteral("%1: not a folder").arg(dir));
    return;
  }
  loadingPath_ = QFileInfo(dir).absoluteFilePath();
  busy_ = true;
  job_ = QStringLiteral("load");
  statusBar()->showMessage(QStringLiteral("Loading %1 …").arg(loadingPath_));
  statusProgress_->setRange(0, 0);
  statusProgress_->setVisible(true);
  updateActions();
  updateTitle();
  const QString path = loadingPath_;
  worker_->enqueue([w = worker_, path] { w->loadModel(path); });
}

void MainWindow::setComputeDevice(const QString& device, const QString& dtype) {
  if (busy_) {
    showError(QStringLiteral("Compute device"), QStringLiteral("wait for the running job to finish (or cancel it) first"));
    return;
  }
  const QStringList have = EngineSession::computeDevices();
  if (!have.contains(device) && device != QLatin1String("auto") && !(device == QLatin1String("cuda") && have.size() > 1)) {
    showError(QStringLiteral("Compute device"),
              QStringLiteral("%1: not on this machine (it offers %2)").arg(device, have.join(QStringLiteral(", "))));
    return;
  }
  computeDevice_ = device;
  computeDtype_ = dtype;
  for (QAction* a : findChildren<QAction*>())
    if (a->objectName().startsWith(QStringLiteral("device:"))) a->setChecked(a->objectName() == QStringLiteral("device:") + device);
  worker_->enqueue([w = worker_, device, dtype] { w->setCompute(device, dtype); });
  if (modelLoaded_) openModel(model_.path);  // the worker runs the jobs in order: the device first
}

void MainWindow::onModelLoaded(const ModelInfo& info) {
  model_ = info;
  modelLoaded_ = true;
  loadingPath_.clear();
  tree_->setModelInfo(info);
  search_->setGranularities(info.granularities, info.cosineGranularities);
  RecentFiles::add(info.path);
  modelLabel_->setText(QStringLiteral("%1 · %2 layers · hidden %3 · %4 parameters · %5 · %6")
                           .arg(info.arch)
                           .arg(info.layers)
                           .arg(info.hidden)
                           .arg(formatCount(info.totalParameters), info.dtype, info.device));
  statusBar()->showMessage(QStringLiteral("Opened %1").arg(info.path), 6000);
  if (pendingProject_) {
    const ProjectState p = *pendingProject_;
    pendingProject_.reset();
    search_->setSettings(p.settings);
    run_ = p.run;
    tree_->setMarked(p.marked);
    applyRunToTree();
    whatIf_->setHistory(p.whatIf);
    refreshPlots();
    setWindowModified(false);
  } else {
    projectPath_.clear();
    resetRun();
    search_->resetProgress();
    whatIf_->setHistory({});
    setWindowModified(false);
  }
  updateTitle();
  updateActions();
  afterJob_ << [this, p = info.path] { Q_EMIT modelReady(p); };
}

void MainWindow::startSearch(bool resume) {
  if (!modelLoaded_ || busy_) return;
  SearchSettings s = search_->settings();
  QStringList initial = tree_->markedIds();
  if (resume) {
    if (!resumable()) {
      showError(QStringLiteral("Resume search"), QStringLiteral("there is no run with a journal to resume for this model"));
      return;
    }
    // The journal fixes granularity, metric and calibration; the stop rules may change (e.g. more steps).
    const SearchSettings panel = s;
    s = run_.settings;
    s.steps = panel.steps;
    s.targetParamsPct = panel.targetParamsPct;
    s.maxPpl = panel.maxPpl;
    initial = run_.initialRemoved;
    run_.settings.steps = s.steps;
    run_.state = QStringLiteral("running");
  } else {
    s.runDir = newRunDir();
    run_ = RunRecord{};
    run_.settings = s;
    run_.modelPath = model_.path;
    run_.initialRemoved = initial;
    run_.totalParameters = model_.totalParameters;
    tree_->setRemoved({});  // first: what an earlier run removed is not part of this one's start
    run_.initialParametersRemoved = tree_->removedParameters();  // the marked set alone
    run_.journalPath = QDir(s.runDir).filePath(QStringLiteral("journal.jsonl"));
    run_.state = QStringLiteral("running");
    tree_->clearImportance();
    refreshPlots();
  }
  busy_ = true;
  job_ = QStringLiteral("search");
  statusBar()->clearMessage();  // no "Cancelling…" left from the run this one resumes
  search_->setProgressIdle(resume ? QStringLiteral("resuming…") : QStringLiteral("starting…"));
  updateActions();
  worker_->enqueue([w = worker_, s, initial, resume] { w->runSearch(s, initial, resume); });
}

void MainWindow::evaluateRemovalSet() {
  if (!modelLoaded_ || busy_) return;
  const QStringList ids = tree_->removalSet();
  const CalibrationSettings calib = search_->calibration();
  busy_ = true;
  job_ = QStringLiteral("evaluate");
  updateActions();
  worker_->enqueue([w = worker_, ids, calib] { w->evaluate(ids, calib, QString()); });
}

void MainWindow::evaluateComponent(const QString& id) {
  if (!modelLoaded_ || busy_) return;
  QStringList ids = tree_->removalSet();
  if (!ids.contains(id)) ids << id;
  const QString note = tree_->removalSet().isEmpty() ? QStringLiteral("%1 alone").arg(id)
                                                     : QStringLiteral("%1 on top of the removal set").arg(id);
  const CalibrationSettings calib = search_->calibration();
  busy_ = true;
  job_ = QStringLiteral("evaluate");
  updateActions();
  worker_->enqueue([w = worker_, ids, calib, note] { w->evaluate(ids, calib, note); });
}

void MainWindow::cancelJob() {
  if (!busy_) return;
  worker_->requestCancel();
  statusBar()->showMessage(QStringLiteral("Cancelling…"));
  log_->info(QStringLiteral("Cancel requested"));
}

void MainWindow::onProgress(const ProgressInfo& p) {
  if (job_ == QLatin1String("search")) search_->setProgress(p);
  else if (job_ == QLatin1String("evaluate"))
    statusBar()->showMessage(QStringLiteral("Evaluating: %1/%2 windows (%3)").arg(p.done).arg(p.total).arg(p.stage));
  if (p.total > 0) {
    statusProgress_->setRange(0, 1000);
    statusProgress_->setValue(static_cast<int>(1000.0 * double(p.done) / double(p.total)));
  } else {
    statusProgress_->setRange(0, 0);
  }
  statusProgress_->setVisible(true);
}

void MainWindow::onBusyChanged(bool busy, const QString& job) {
  if (busy) {
    busy_ = true;
    job_ = job;
    statusProgress_->setRange(0, 0);
    statusProgress_->setVisible(true);
  } else {
    busy_ = false;
    job_.clear();
    statusProgress_->setVisible(false);
    updateActions();
    if (closeAfterCancel_) {
      closeAfterCancel_ = false;
      afterJob_.clear();
      close();
      return;
    }
    const auto pending = std::move(afterJob_);
    afterJob_.clear();
    for (const auto& f : pending) f();
    return;
  }
  updateActions();
}

void MainWindow::onFailed(const QString& job, const QString& message) {
  if (job == QLatin1String("load")) {
    loadingPath_.clear();
    updateTitle();
    if (pendingProject_) {
      // Show the project's results even without its model.
      const ProjectState p = *pendingProject_;
      pendingProject_.reset();
      run_ = p.run;
      search_->setSettings(p.settings);
      whatIf_->setHistory(p.whatIf);
      refreshPlots();
    }
  }
  if (job == QLatin1String("search")) {
    run_.state = QStringLiteral("failed");
    search_->setProgressIdle(QStringLiteral("failed"));
    refreshPlots();
    afterJob_ << [this] { Q_EMIT searchEnded(false); };
  }
  const QString title = job == QLatin1String("load")     ? QStringLiteral("Open model")
                        : job == QLatin1String("search") ? QStringLiteral("Search")
                        : job == QLatin1String("export") ? QStringLiteral("Export")
                                                         : QStringLiteral("Evaluate");
  afterJob_.prepend([this, title, message] { showError(title, message); });
}

void MainWindow::autosaveRun() {
  if (run_.settings.runDir.isEmpty() || !QFileInfo(run_.settings.runDir).isDir()) return;
  const QString path = QDir(run_.settings.runDir).filePath(QStringLiteral("workbench.") + QLatin1String(kProjectSuffix));
  const QString err = ui::saveProject(path, projectState());
  if (err.isEmpty()) log_->info(QStringLiteral("Run saved as %1 (File ▸ Open Project reopens it with its plots)").arg(path));
  else log_->error(err);
}

// --- projects ------------------------------------------------------------------------------------------------------

ProjectState MainWindow::projectState() const {
  ProjectState p;
  p.modelPath = modelLoaded_ ? model_.path : run_.modelPath;
  p.settings = search_->settings();
  p.marked = tree_->markedIds();
  p.run = run_;
  p.whatIf = whatIf_->history();
  return p;
}

bool MainWindow::openProject(const QString& path) {
  if (busy_) {
    showError(QStringLiteral("Open project"), QStringLiteral("wait for the running job to finish (or cancel it) first"));
    return false;
  }
  ProjectState p;
  QString err;
  if (!loadProject(path, &p, &err)) {
    showError(QStringLiteral("Open project"), err);
    return false;
  }
  projectPath_ = QFileInfo(path).absoluteFilePath();
  RecentFiles::add(projectPath_);
  if (p.modelPath.isEmpty()) {
    run_ = p.run;
    refreshPlots();
    updateTitle();
    return true;
  }
  pendingProject_ = p;
  openModel(p.modelPath);
  return true;
}

bool MainWindow::saveProjectTo(const QString& path) {
  QString target = path;
  if (QFileInfo(target).suffix().isEmpty()) target += QStringLiteral(".") + QLatin1String(kProjectSuffix);
  const QString err = ui::saveProject(target, projectState());
  if (!err.isEmpty()) {
    showError(QStringLiteral("Save project"), err);
    return false;
  }
  projectPath_ = QFileInfo(target).absoluteFilePath();
  RecentFiles::add(projectPath_);
  setWindowModified(false);
  updateTitle();
  statusBar()->showMessage(QStringLiteral("Saved %1").arg(projectPath_), 6000);
  return true;
}

void MainWindow::chooseModel() {
  const QString start = lastFolder(QStringLiteral("model"), modelLoaded_ ? QFileInfo(model_.path).absolutePath()
                                                                         : QDir::homePath());
  const QString dir = QFileDialog::getExistingDirectory(this, QStringLiteral("Open model folder"), start);
  if (dir.isEmpty()) return;
  rememberFolder(QStringLiteral("model"), QFileInfo(dir).absolutePath());  // the folder that holds model folders
  openModel(dir);
}

void MainWindow::chooseProject() {
  const QString f = QFileDialog::getOpenFileName(
      this, QStringLiteral("Open project"),
      lastFolder(QStringLiteral("project"), QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation)),
      QStringLiteral("Workbench projects (*.%1);;All files (*)").arg(QLatin1String(kProjectSuffix)));
  if (f.isEmpty()) return;
  rememberFolder(QStringLiteral("project"), f);
  openProject(f);
}

void MainWindow::saveProject() {
  if (projectPath_.isEmpty() || projectPath_.startsWith(runsRoot_)) saveProjectAs();
  else saveProjectTo(projectPath_);
}

void MainWindow::saveProjectAs() {
  const QString def = QDir(lastFolder(QStringLiteral("project"),
                                     QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation)))
                          .filePath(slug(model_.name.isEmpty() ? QStringLiteral("project") : model_.name) +
                                    QStringLiteral(".") + QLatin1String(kProjectSuffix));
  const QString f = QFileDialog::getSaveFileName(this, QStringLiteral("Save project"), projectPath_.isEmpty() ? def : projectPath_,
                                                 QStringLiteral("Workbench projects (*.%1)").arg(QLatin1String(kProjectSuffix)));
  if (f.isEmpty()) return;
  rememberFolder(QStringLiteral("project"), f);
  saveProjectTo(f);
}

void MainWindow::rebuildRecentMenu() {
  recentMenu_->clear();
  const QStringList l = RecentFiles::list();
  for (const QString& p : l) {
    const bool project = isProjectFile(p);
    QAction* a = recentMenu_->addAction((project ? QStringLiteral("Project: ") : QString()) + QFileInfo(p).fileName() +
                                        QStringLiteral("  —  ") + QFileInfo(p).absolutePath());
    connect(a, &QAction::triggered, this, [this, p, project] { project ? (void)openProject(p) : openModel(p); });
  }
  if (l.isEmpty()) recentMenu_->addAction(QStringLiteral("(none)"))->setEnabled(false);
  recentMenu_->addSeparator();
  recentMenu_->addAction(QStringLiteral("Clear List"), this, [] { RecentFiles::clear(); });
}

// --- exports -------------------------------------------------------------------------------------------------------

void MainWindow::exportCsv() {
  if (run_.empty()) return;
  const QString f = QFileDialog::getSaveFileName(this, QStringLiteral("Export results as CSV"),
                                                 QDir(lastFolder(QStringLiteral("results"), run_.settings.runDir))
                                                     .filePath(QStringLiteral("results.csv")),
                                                 QStringLiteral("CSV (*.csv)"));
  if (f.isEmpty()) return;
  rememberFolder(QStringLiteral("results"), f);
  QSaveFile out(f);
  if (!out.open(QIODevice::WriteOnly) || out.write(run_.toCsv().toUtf8()) < 0 || !out.commit())
    showError(QStringLiteral("Export CSV"), QStringLiteral("%1: cannot write: %2").arg(f, out.errorString()));
  else
    statusBar()->showMessage(QStringLiteral("Wrote %1").arg(f), 6000);
}

bool MainWindow::exportWhatIfCsvTo(const QString& f) {
  QSaveFile out(f);
  if (!out.open(QIODevice::WriteOnly) || out.write(whatIf_->toCsv().toUtf8()) < 0 || !out.commit()) {
    showError(QStringLiteral("Export What-if CSV"), QStringLiteral("%1: cannot write: %2").arg(f, out.errorString()));
    return false;
  }
  statusBar()->showMessage(QStringLiteral("Wrote %1").arg(f), 6000);
  log_->info(QStringLiteral("Wrote the What-if history to %1").arg(f));
  return true;
}

void MainWindow::exportJson() {
  if (run_.empty()) return;
  const QString f = QFileDialog::getSaveFileName(this, QStringLiteral("Export results as JSON"),
                                                 QDir(lastFolder(QStringLiteral("results"), run_.settings.runDir))
                                                     .filePath(QStringLiteral("results.json")),
                                                 QStringLiteral("JSON (*.json)"));
  if (f.isEmpty()) return;
  rememberFolder(QStringLiteral("results"), f);
  QSaveFile out(f);
  if (!out.open(QIODevice::WriteOnly) || out.write(QJsonDocument(run_.toJson()).toJson()) < 0 || !out.commit())
    showError(QStringLiteral("Export JSON"), QStringLiteral("%1: cannot write: %2").arg(f, out.errorString()));
  else
    statusBar()->showMessage(QStringLiteral("Wrote %1").arg(f), 6000);
}

void MainWindow::exportCheckpoint() {
  if (!modelLoaded_ || busy_) return;
  if (tree_->removalSet().isEmpty()) {
    showError(QStringLiteral("Export"), QStringLiteral("nothing is removed or marked: mark components or run a search first"));
    return;
  }
  const QString def = QDir(lastFolder(QStringLiteral("export"), QFileInfo(model_.path).absolutePath()))
                          .filePath(QStringLiteral("%1-pruned-%2").arg(model_.name).arg(tree_->removalSet().size()));
  const QString dir = QFileDialog::getSaveFileName(this, QStringLiteral("Pruned model folder"), def, QString(), nullptr,
                                                   QFileDialog::DontConfirmOverwrite | QFileDialog::ShowDirsOnly);
  if (dir.isEmpty()) return;
  rememberFolder(QStringLiteral("export"), QFileInfo(dir).absolutePath());
  bool force = false;
  if (QFileInfo::exists(dir)) {
    if (QMessageBox::question(this, QStringLiteral("Pruned checkpoint"),
                              QStringLiteral("%1 exists. Replace it?").arg(dir)) != QMessageBox::Yes)
      return;
    force = true;
  }
  exportCheckpointTo(dir, force);
}

void MainWindow::exportCheckpointTo(const QString& dir, bool force) {
  if (!modelLoaded_ || busy_) return;
  const QStringList ids = tree_->removalSet();
  // Perplexities for shedding_report.json when this exact set was measured: the search's last step (from the
  // untouched model) or a what-if evaluation.
  double before = std::numeric_limits<double>::quiet_NaN(), after = before;
  QString source;
  if (!run_.steps.isEmpty() && run_.initialRemoved.isEmpty() && run_.basePpl && asSet(ids) == asSet(run_.removedIds())) {
    before = *run_.basePpl;
    after = run_.steps.back().ppl;
    source = QStringLiteral("search calibration windows (%1)").arg(run_.calibrationLabel);
  } else {
    const auto& h = whatIf_->history();
    for (auto it = h.rbegin(); it != h.rend(); ++it)
      if (asSet(it->removed) == asSet(ids)) {
        before = it->basePpl;
        after = it->ppl;
        source = QStringLiteral("what-if evaluation (%1)").arg(it->calibrationLabel);
        break;
      }
  }
  busy_ = true;
  job_ = QStringLiteral("export");
  updateActions();
  worker_->enqueue([w = worker_, ids, dir, force, before, after, source] {
    w->exportCheckpoint(ids, dir, force, before, after, source);
  });
}

void MainWindow::saveAllFigures() {
  const QString dir = QFileDialog::getExistingDirectory(this, QStringLiteral("Folder for the figures"),
                                                        QSettings().value(QStringLiteral("figures/dir")).toString());
  if (!dir.isEmpty()) saveAllFiguresTo(dir);
}

QStringList MainWindow::saveAllFiguresTo(const QString& dir) {
  QSettings settings;
  FigureOptions o;
  o.format = static_cast<FigureFormat>(std::clamp(settings.value(QStringLiteral("figures/format"), 0).toInt(), 0, 2));
  o.sizeCm = QSizeF(settings.value(QStringLiteral("figures/width_cm"), 16.0).toDouble(),
                    settings.value(QStringLiteral("figures/height_cm"), 10.0).toDouble());
  o.dpi = settings.value(QStringLiteral("figures/dpi"), 300).toInt();
  // Only plots with data: an empty one would be its placeholder text.
  QList<PlotView*> shown;
  QStringList skipped;
  for (PlotView* p : plots()) {
    if (p->hasData()) shown << p;
    else skipped << p->title();
  }
  if (shown.isEmpty()) {
    showError(QStringLiteral("Save figures"), QStringLiteral("no plot has data yet: run a search or evaluate first"));
    return {};
  }
  QStringList targets;
  for (PlotView* p : shown) targets << QDir(dir).filePath(slug(p->title()) + QStringLiteral(".") + figureSuffix(o.format));
  if (!confirmOverwrite(this, QStringLiteral("Save figures"), targets)) return {};
  QStringList written;
  for (PlotView* p : shown) {
    o.title = p->title();
    const QString path = QDir(dir).filePath(slug(p->title()) + QStringLiteral(".") + figureSuffix(o.format));
    const QString err = exportFigure(p->plot(), path, o);
    if (!err.isEmpty()) {
      showError(QStringLiteral("Save figures"), err);
      return written;
    }
    written << QFileInfo(path).fileName();
  }
  log_->info(QStringLiteral("Saved figures into %1: %2%3")
                 .arg(dir, written.join(QStringLiteral(", ")),
                      skipped.isEmpty() ? QString()
                                        : QStringLiteral(" (empty, not saved: %1)").arg(skipped.join(QStringLiteral(", ")))));
  statusBar()->showMessage(QStringLiteral("Saved %1 figures into %2").arg(written.size()).arg(dir), 8000);
  return written;
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
  if (s.contains(QStringLiteral("window/state"))) restoreState(s.value(QStringLiteral("window/state")).toByteArray());
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
  QSettings s;
  s.setValue(QStringLiteral("window/geometry"), saveGeometry());
  s.setValue(QStringLiteral("window/state"), saveState());
  e->accept();
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
