// The main window's actions, docks and menus (see main_window.h).
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
#include <QLineEdit>
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
#include <QWhatsThis>

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

  runsAct_ = new QAction(QStringLiteral("R&uns…"), this);
  runsAct_->setObjectName(QStringLiteral("runs"));
  runsAct_->setToolTip(QStringLiteral("The autosaved search runs: open, reveal, delete; where new runs are stored"));
  connect(runsAct_, &QAction::triggered, this, [this] { showRuns(); });
  exportCsvAct_ = new QAction(QStringLiteral("Results as &CSV…"), this);
  connect(exportCsvAct_, &QAction::triggered, this, &MainWindow::exportCsv);
  exportJsonAct_ = new QAction(QStringLiteral("Results as &JSON…"), this);
  connect(exportJsonAct_, &QAction::triggered, this, &MainWindow::exportJson);
  exportCheckpointAct_ = new QAction(st->standardIcon(QStyle::SP_DriveHDIcon), QStringLiteral("Pruned &Checkpoint…"), this);
  exportCheckpointAct_->setToolTip(QStringLiteral("Write the model without the removed and marked components as a new "
                                                  "model folder"));
  connect(exportCheckpointAct_, &QAction::triggered, this, &MainWindow::exportCheckpoint);
  exportGgufAct_ = new QAction(QStringLiteral("&GGUF for llama.cpp…"), this);
  exportGgufAct_->setObjectName(QStringLiteral("exportGguf"));
  exportGgufAct_->setToolTip(QStringLiteral("Write the model without the removed and marked components (or whole) as "
                                            "one GGUF file for llama.cpp (Mamba-1 and Mamba-2)"));
  connect(exportGgufAct_, &QAction::triggered, this, &MainWindow::exportGguf);
  saveFiguresAct_ = new QAction(st->standardIcon(QStyle::SP_DialogSaveButton), QStringLiteral("All &Figures…"), this);
  saveFiguresAct_->setToolTip(QStringLiteral("Save every plot that has data into a folder: format, size, DPI and titles asked first"));
  connect(saveFiguresAct_, &QAction::triggered, this, &MainWindow::saveAllFigures);
  clearMarksAct_ = new QAction(QStringLiteral("Clear &Marks"), this);
  connect(clearMarksAct_, &QAction::triggered, this,
          [this] { undo_->record(QStringLiteral("Clear marks"), [this] { tree_->setMarked({}); }); });
  resetBaseAct_ = new QAction(QStringLiteral("Reset to &Base Model"), this);
  resetBaseAct_->setToolTip(QStringLiteral("Unmark everything and take back what the search removed (the run and its "
                                           "plots stay; Undo brings the removal set back)"));
  connect(resetBaseAct_, &QAction::triggered, this, &MainWindow::resetToBaseModel);
  undoAct_ = new QAction(QStringLiteral("&Undo"), this);
  undoAct_->setObjectName(QStringLiteral("undo"));
  undoAct_->setShortcut(QKeySequence(QStringLiteral("Ctrl+Z")));
  connect(undoAct_, &QAction::triggered, this, [this] { undo_->stack()->undo(); });
  redoAct_ = new QAction(QStringLiteral("&Redo"), this);
  redoAct_->setObjectName(QStringLiteral("redo"));
  redoAct_->setShortcuts({QKeySequence(QStringLiteral("Ctrl+Shift+Z")), QKeySequence(QStringLiteral("Ctrl+Y"))});
  connect(redoAct_, &QAction::triggered, this, [this] { undo_->stack()->redo(); });
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
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAsNeeded);  // a narrow dock scrolls instead of cutting off
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
  heatPlot_ = new HeatmapPlot;
  QDockWidget* pplDock = dock(QStringLiteral("Perplexity"), QStringLiteral("perplexityDock"), pplPlot_, Qt::BottomDockWidgetArea);
  QDockWidget* candDock = dock(QStringLiteral("Candidate scores"), QStringLiteral("candidateDock"), candPlot_, Qt::BottomDockWidgetArea);
  QDockWidget* paramsDock = dock(QStringLiteral("Parameters, latency"), QStringLiteral("paramsDock"), paramsPlot_, Qt::BottomDockWidgetArea);
  QDockWidget* accDock = dock(QStringLiteral("Accuracy"), QStringLiteral("accuracyDock"), accPlot_, Qt::BottomDockWidgetArea);
  QDockWidget* heatDock = dock(QStringLiteral("Heatmap"), QStringLiteral("heatmapDock"), heatPlot_, Qt::BottomDockWidgetArea);
  splitDockWidget(pplDock, candDock, Qt::Horizontal);
  tabifyDockWidget(candDock, paramsDock);
  tabifyDockWidget(paramsDock, accDock);
  tabifyDockWidget(accDock, heatDock);
  candDock->raise();
}

void MainWindow::applyDefaultLayout() {
  // Sizes in proportion to the window, so that a 1024 x 700 screen still shows a useful tree (at 1600 x 1000: a
  // 464-pixel search column and 340-pixel plots).
  auto dock = [this](const char* name) { return findChild<QDockWidget*>(QString::fromLatin1(name)); };
  QDockWidget* searchDock = dock("searchDock");
  QDockWidget* whatIfDock = dock("whatIfDock");
  for (QDockWidget* d : docks_) d->show();
  whatIfDock->raise();
  dock("candidateDock")->raise();
  const int w = width(), h = height();
  resizeDocks({searchDock}, {std::clamp(w * 29 / 100, 330, 470)}, Qt::Horizontal);
  resizeDocks({dock("perplexityDock")}, {std::clamp(h * 34 / 100, 190, 420)}, Qt::Vertical);
  resizeDocks({searchDock, whatIfDock}, {h * 55 / 100, h * 45 / 100}, Qt::Vertical);
}

void MainWindow::buildMenus() {
  buildFileMenu();
  buildEditAndRunMenus();
  buildViewMenu();
  buildHelpMenuAndToolBar();
}

void MainWindow::buildFileMenu() {
  QMenu* file = menuBar()->addMenu(QStringLiteral("&File"));
  file->addAction(openModelAct_);
  recentMenu_ = file->addMenu(QStringLiteral("Open &Recent"));
  connect(recentMenu_, &QMenu::aboutToShow, this, &MainWindow::rebuildRecentMenu);
  file->addAction(openProjectAct_);
  file->addAction(runsAct_);
  QAction* compare = file->addAction(QStringLiteral("Add Run to &Comparison…"), this, [this] {
    ComparisonWindow* w = showComparison();
    const QStringList files = QFileDialog::getOpenFileNames(
        this, QStringLiteral("Add to the comparison"), lastFolder(QStringLiteral("results"), runsRoot_),
        QStringLiteral("Runs and results (*.shedproj journal.jsonl search_result.json results_*.json *.json);;All files (*)"));
    for (const QString& f : files) {
      QString error;
      if (w->addPath(f, &error)) rememberFolder(QStringLiteral("results"), f);
      else showError(QStringLiteral("Add to comparison"), error);
    }
  });
  compare->setObjectName(QStringLiteral("addToComparison"));
  compare->setToolTip(QStringLiteral("Compare runs, projects and lm-evaluation-harness results: overlaid curves, "
                                     "heatmaps, the variants table and a report for a paper"));
  file->addAction(QStringLiteral("Compare Runs"), this, [this] { showComparison(); })->setObjectName(QStringLiteral("compareRuns"));
  file->addSeparator();
  file->addAction(saveProjectAct_);
  file->addAction(saveProjectAsAct_);
  file->addSeparator();
  QMenu* exp = file->addMenu(QStringLiteral("&Export"));
  exp->addAction(saveFiguresAct_);
  exp->addAction(exportCsvAct_);
  exp->addAction(exportJsonAct_);
  exp->addAction(exportCheckpointAct_);
  exp->addAction(exportGgufAct_);
  file->addSeparator();
  QAction* quit = file->addAction(QStringLiteral("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);
}

void MainWindow::buildEditAndRunMenus() {
  QMenu* edit = menuBar()->addMenu(QStringLiteral("&Edit"));
  edit->addAction(undoAct_);
  edit->addAction(redoAct_);
  edit->addSeparator();
  edit->addAction(clearMarksAct_);
  edit->addAction(resetBaseAct_);
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
}

void MainWindow::buildViewMenu() {
  QMenu* view = menuBar()->addMenu(QStringLiteral("&View"));
  for (QDockWidget* d : docks_) view->addAction(d->toggleViewAction());
  view->addSeparator();
  view->addAction(QStringLiteral("Expand All"), treePanel_->view(), &QTreeView::expandAll);
  view->addAction(QStringLiteral("Collapse"), this, [this] { treePanel_->expandDefault(); });
  QMenu* themeMenu = view->addMenu(QStringLiteral("&Theme"));
  auto* themes = new QActionGroup(themeMenu);
  for (const auto& [t, label] : {std::pair<Theme, const char*>{Theme::System, "&System (follow the desktop)"},
                                 {Theme::Light, "&Light"},
                                 {Theme::Dark, "&Dark"}}) {
    QAction* a = themeMenu->addAction(QString::fromUtf8(label));
    a->setObjectName(QStringLiteral("theme:") + themeName(t));
    a->setCheckable(true);
    a->setChecked(t == currentTheme());
    themes->addAction(a);
    connect(a, &QAction::triggered, this, [t = t] {
      applyTheme(t);
      saveTheme(t);
    });
  }
  view->addAction(QStringLiteral("Reset Layout"), this, [this] {
    restoreState(defaultState_);  // where each dock goes; then the sizes for this window's size
    applyDefaultLayout();
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
}

void MainWindow::buildHelpMenuAndToolBar() {
  QMenu* help = menuBar()->addMenu(QStringLiteral("&Help"));
  QAction* guide = help->addAction(QStringLiteral("&User Guide"), this, [this] { showHelp(); });
  guide->setObjectName(QStringLiteral("userGuide"));
  guide->setShortcut(QKeySequence::HelpContents);  // F1
  QAction* whatsThis = QWhatsThis::createAction(this);
  whatsThis->setText(QStringLiteral("&What's This?"));
  whatsThis->setToolTip(QStringLiteral("Then click a field of the search panel to read what it does"));
  help->addAction(whatsThis);
  help->addSeparator();
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

}  // namespace shedder::ui
