// The main window's files: projects, recent files, result and checkpoint exports, figures (see main_window.h).
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
#include <QInputDialog>
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
#include "figure_export_dialog.h"
#include "formatting.h"
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

// --- projects ------------------------------------------------------------------------------------------------------

ProjectState MainWindow::projectState() const {
  ProjectState p;
  p.modelPath = modelLoaded_ ? model_.path : run_.modelPath;
  p.settings = search_->settings();
  p.marked = tree_->markedIds();
  if (tree_->hasModel() && tree_->removedIds() != run_.removedIds()) p.treeRemoved = tree_->removedIds();
  p.run = run_;
  p.whatIf = whatIf_->history();
  return p;
}

bool MainWindow::openProject(const QString& path) {
  if (busy_) {
    showError(QStringLiteral("Open project"), QStringLiteral("wait for the running job to finish (or cancel it) first"));
    return false;
  }
  if (!maybeDiscard(QStringLiteral("Opening %1").arg(QFileInfo(path).fileName()))) return false;
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
  loadModel(p.modelPath);
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
                          .filePath(fileSlug(model_.name.isEmpty() ? QStringLiteral("project") : model_.name) +
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

QString MainWindow::chooseResultFile(const QString& title, const QString& name, const QString& filter,
                                     const QString& fallbackDir) {
  const QString f = QFileDialog::getSaveFileName(
      this, title, QDir(lastFolder(QStringLiteral("results"), fallbackDir)).filePath(name), filter);
  if (!f.isEmpty()) rememberFolder(QStringLiteral("results"), f);
  return f;
}

bool MainWindow::writeResultFile(const QString& what, const QString& path, const QByteArray& bytes) {
  QSaveFile out(path);
  if (!out.open(QIODevice::WriteOnly) || out.write(bytes) < 0 || !out.commit()) {
    showError(what, QStringLiteral("%1: cannot write: %2").arg(path, out.errorString()));
    return false;
  }
  statusBar()->showMessage(QStringLiteral("Wrote %1").arg(path), 6000);
  log_->info(QStringLiteral("%1: wrote %2").arg(what, path));
  return true;
}

void MainWindow::exportCsv() {
  if (run_.empty()) return;
  const QString f = chooseResultFile(QStringLiteral("Export results as CSV"), QStringLiteral("results.csv"),
                                     QStringLiteral("CSV (*.csv)"), run_.settings.runDir);
  if (!f.isEmpty()) writeResultFile(QStringLiteral("Export CSV"), f, run_.toCsv().toUtf8());
}

bool MainWindow::exportWhatIfCsvTo(const QString& f) {
  return writeResultFile(QStringLiteral("Export What-if CSV"), f, whatIf_->toCsv().toUtf8());
}

void MainWindow::exportJson() {
  if (run_.empty()) return;
  const QString f = chooseResultFile(QStringLiteral("Export results as JSON"), QStringLiteral("results.json"),
                                     QStringLiteral("JSON (*.json)"), run_.settings.runDir);
  if (!f.isEmpty()) writeResultFile(QStringLiteral("Export JSON"), f, QJsonDocument(run_.toJson()).toJson());
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

void MainWindow::exportGguf() {
  if (!modelLoaded_ || busy_) return;
  const int n = tree_->removalSet().size();
  const QString def = QDir(lastFolder(QStringLiteral("export"), QFileInfo(model_.path).absolutePath()))
                          .filePath(n ? QStringLiteral("%1-pruned-%2.gguf").arg(model_.name).arg(n)
                                      : QStringLiteral("%1.gguf").arg(model_.name));
  const QString file = QFileDialog::getSaveFileName(this, QStringLiteral("GGUF file for llama.cpp"), def,
                                                    QStringLiteral("GGUF (*.gguf)"));
  if (file.isEmpty()) return;
  bool ok = false;
  const QStringList types = {QStringLiteral("auto (the checkpoint's dtype)"), QStringLiteral("f16"),
                             QStringLiteral("bf16"), QStringLiteral("f32")};
  const QString pick = QInputDialog::getItem(this, QStringLiteral("GGUF for llama.cpp"),
                                             QStringLiteral("Type of the matrices (norms, conv, A, D stay f32):"),
                                             types, 0, false, &ok);
  if (!ok) return;
  rememberFolder(QStringLiteral("export"), QFileInfo(file).absolutePath());
  // The save dialog asked before replacing; the engine replaces only a GGUF file, never anything else.
  exportGgufTo(file, pick.section(QLatin1Char(' '), 0, 0), QFileInfo::exists(file));
}

void MainWindow::exportGgufTo(const QString& file, const QString& type, bool force) {
  if (!modelLoaded_ || busy_) return;
  const QStringList ids = tree_->removalSet();
  busy_ = true;
  job_ = QStringLiteral("export");
  updateActions();
  worker_->enqueue([w = worker_, ids, file, type, force] { w->exportGguf(ids, file, type, force); });
}

void MainWindow::saveAllFigures() {
  FigureExportDialog dlg(this, QStringLiteral("Save all figures"), FigureExportDialog::Target::Folder);
  if (dlg.exec() == QDialog::Accepted) saveAllFiguresTo(dlg.path());
}

QStringList MainWindow::saveAllFiguresTo(const QString& dir) {
  FigureOptions o = rememberedFigureOptions();
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
  for (PlotView* p : shown) targets << QDir(dir).filePath(fileSlug(p->title()) + QStringLiteral(".") + figureSuffix(o.format));
  QStringList replaced = targets;
  if (o.writeData)
    for (const QString& t : targets) replaced << figureDataPath(t);
  if (!confirmOverwrite(this, QStringLiteral("Save figures"), replaced)) return {};
  QStringList written;
  for (int i = 0; i < shown.size(); ++i) {
    PlotView* p = shown[i];
    o.title = p->title();
    o.dataCsv = p->figureDataCsv();
    const QString& path = targets[i];
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

}  // namespace shedder::ui
