// The main window's engine jobs: loading, evaluation, search, progress and failures (see main_window.h).
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
#include "tree_undo.h"
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

// --- jobs ----------------------------------------------------------------------------------------------------------

void MainWindow::openModel(const QString& dir) {
  if (busy_) {
    showError(QStringLiteral("Open model"), QStringLiteral("wait for the running job to finish (or cancel it) first"));
    return;
  }
  if (!maybeDiscard(QStringLiteral("Opening %1").arg(QFileInfo(dir).fileName()))) return;
  loadModel(dir);
}

void MainWindow::loadModel(const QString& dir) {
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
  if (modelLoaded_) {
    // The same model on the other device: marks, run, what-if history and project come back once it is loaded.
    pendingProject_ = projectState();
    pendingModified_ = isWindowModified();
    loadModel(model_.path);  // the worker runs the jobs in order: the device first
  }
}

void MainWindow::onModelLoaded(const ModelInfo& info) {
  model_ = info;
  modelLoaded_ = true;
  loadingPath_.clear();
  undo_->programmatic([this, &info] { tree_->setModelInfo(info); }, true);
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
    undo_->programmatic([this, &p] { tree_->setMarked(p.marked); }, true);
    applyRunToTree();
    if (p.treeRemoved)  // a restored component or a reset tree: as it was saved
      undo_->programmatic([this, &p] {
        tree_->setRemoved(*p.treeRemoved);
        tree_->setMarked(p.marked);
      });
    whatIf_->setHistory(p.whatIf);
    refreshPlots();
    setWindowModified(pendingModified_);
    pendingModified_ = false;
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
    if (!run_.empty() && !maybeDiscard(QStringLiteral("A new run replaces the window's run (its run folder keeps it)")))
      return;
    s.runDir = newRunDir();
    run_ = RunRecord{};
    run_.settings = s;
    run_.modelPath = model_.path;
    run_.initialRemoved = initial;
    run_.totalParameters = model_.totalParameters;
    // First: what an earlier run removed is not part of this one's start. The tree's history starts again: undoing
    // past the search's removals would show a tree the run does not match.
    undo_->programmatic([this] { tree_->setRemoved({}); }, true);
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

}  // namespace shedder::ui
