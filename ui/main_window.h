// The workbench's main window: the layer tree in the centre; docks for the search panel, what-if evaluation,
// the log and the plots; menus and a toolbar for opening models and projects, running and cancelling jobs and
// exporting figures, results and the pruned checkpoint. Engine work runs on the EngineWorker's thread; the window
// only reacts to its queued signals. Errors appear as dialogs with the engine's message.
#pragma once

#include <QMainWindow>
#include <QThread>

#include <functional>

#include "engine_types.h"
#include "project_file.h"
#include "run_record.h"

class QAction;
class QDockWidget;
class QLabel;
class QMenu;
class QProgressBar;

namespace shedder::ui {

class AccuracyPlot;
class CandidateScoresPlot;
class ComponentTreeModel;
class EngineWorker;
class HelpWindow;
class LayerTreePanel;
class LogView;
class ParamsLatencyPlot;
class PerplexityCurvePlot;
class PlotView;
class RunsBrowser;
class ComparisonWindow;
class HeatmapPlot;
class SearchPanel;
class TreeUndo;
class WhatIfPanel;

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // Loads a model folder in the background (the window stays responsive; the status bar shows progress). Unsaved
  // changes are offered for saving first (Save / Discard / Cancel); Cancel keeps everything as it is.
  void openModel(const QString& dir);
  // Where models compute ("cpu", "cuda:N"; dtype "auto", "bfloat16", ...): applies to the next load and reloads
  // the open model (Run ▸ Compute Device, or mamba-shedder --device).
  void setComputeDevice(const QString& device, const QString& dtype = QStringLiteral("auto"));
  // Opens a project: its model (in the background), marks, run and plots. False (and a dialog) on failure, or when
  // the user cancels at the unsaved-changes question.
  bool openProject(const QString& path);
  // The What-if history as CSV (WhatIfPanel::toCsv), written atomically; false (and a message) when it cannot be.
  bool exportWhatIfCsvTo(const QString& path);
  bool saveProjectTo(const QString& path);
  ProjectState projectState() const;

  // A new search (resume false) replaces the window's run: with unsaved changes the user is asked first.
  void startSearch(bool resume);
  // With unsaved changes ("*" in the title): Save / Discard / Cancel before `what` discards them. True: go on.
  bool maybeDiscard(const QString& what);
  void evaluateRemovalSet();
  void evaluateComponent(const QString& id);
  void cancelJob();
  // Edit ▸ Reset to Base Model: nothing marked or removed in the tree (the run and its plots stay); undoable.
  void resetToBaseModel();
  // Takes a component the search removed back (the run's other removals become marks); undoable. False while a
  // search runs or when `id` is not removed.
  bool restoreComponent(const QString& id);
  TreeUndo* treeUndo() const { return undo_; }
  void exportCheckpointTo(const QString& dir, bool force);
  // File ▸ Export ▸ GGUF for llama.cpp: the removal set (or the whole model) as one GGUF file; `type`: auto, f32,
  // f16, bf16.
  void exportGgufTo(const QString& file, const QString& type, bool force);
  // Saves every plot that has data into `dir` with the figure options last chosen (File ▸ Export ▸ All Figures asks
  // for them first), asking first when a file would be replaced; returns the names written (none when declined).
  QStringList saveAllFiguresTo(const QString& dir);

  // Where new run folders go (default: <app data>/runs; File ▸ Runs… ▸ Change… sets and remembers another).
  void setRunsRoot(const QString& dir) { runsRoot_ = dir; }
  // File ▸ Runs…: the runs browser on the runs folder (kept and reused).
  RunsBrowser* showRuns();
  // File ▸ Compare Runs: the comparison window (created on first use); File ▸ Add Run to Comparison… asks for files
  // first. The window's "Add Current Run" takes this window's run.
  ComparisonWindow* showComparison();
  ComparisonWindow* comparisonWindow();  // the same, created when missing but not shown
  QString runsRoot() const { return runsRoot_; }
  // Interactive (default): errors and confirmations are dialogs. Off (automation, tests): errors go only to the
  // log and jobFailed(), and closing during a run cancels it without asking.
  void setInteractive(bool on) { interactive_ = on; }
  void restoreLayoutFromSettings();

  bool busy() const { return busy_; }
  bool modelOpen() const;
  const RunRecord& run() const { return run_; }
  ComponentTreeModel* treeModel() const { return tree_; }
  LayerTreePanel* treePanel() const { return treePanel_; }
  SearchPanel* searchPanel() const { return search_; }
  const ModelInfo& modelInfo() const { return model_; }  // the open model (empty before one is loaded)
  WhatIfPanel* whatIfPanel() const { return whatIf_; }
  LogView* logView() const { return log_; }
  PerplexityCurvePlot* perplexityPlot() const { return pplPlot_; }
  ParamsLatencyPlot* paramsPlot() const { return paramsPlot_; }
  CandidateScoresPlot* candidatePlot() const { return candPlot_; }
  AccuracyPlot* accuracyPlot() const { return accPlot_; }
  HeatmapPlot* heatmapPlot() const { return heatPlot_; }
  QList<PlotView*> plots() const;

 Q_SIGNALS:
  void modelReady(const QString& path);
  void searchEnded(bool finished);
  void evaluationDone(const shedder::ui::WhatIfResult& result);
  void exportDone(const shedder::ui::ExportSummary& summary);
  void jobFailed(const QString& message);

 protected:
  void closeEvent(QCloseEvent* e) override;
  void showEvent(QShowEvent* e) override;
  void dragEnterEvent(QDragEnterEvent* e) override;
  void dropEvent(QDropEvent* e) override;

 private:
  void buildActions();
  void buildMenus();  // the four below
  void buildFileMenu();
  void buildEditAndRunMenus();
  void buildViewMenu();
  void buildHelpMenuAndToolBar();
  void buildDocks();
  void applyDefaultLayout();  // the docks' starting sizes for the window's size (first show, View ▸ Reset Layout)
  void connectWorker();
  void updateActions();
  void updateTitle();
  void rebuildRecentMenu();
  void refreshPlots();
  void applyRunToTree();
  void resetRun();
  void showError(const QString& title, const QString& message);
  void loadModel(const QString& dir);  // openModel without the question
  QString newRunDir() const;
  bool resumable() const;
  void autosaveRun();

  void onModelLoaded(const ModelInfo& info);
  void onProgress(const ProgressInfo& p);
  void onBusyChanged(bool busy, const QString& job);
  void onFailed(const QString& job, const QString& message);

  void chooseModel();
  void chooseProject();
  void saveProject();
  void saveProjectAs();
  // A results file (CSV, JSON): asked for in the folder last used for results, which is remembered; "" if declined.
  QString chooseResultFile(const QString& title, const QString& name, const QString& filter, const QString& fallbackDir);
  // Writes `bytes` whole or not at all (QSaveFile); reports the path, or the error as `what`'s failure.
  bool writeResultFile(const QString& what, const QString& path, const QByteArray& bytes);
  void exportCsv();
  void exportJson();
  void exportCheckpoint();
  void exportGguf();
  void saveAllFigures();
  void focusArea(QWidget* w);  // View ▸ Focus …: the widget of a working area, its dock shown
 public:
  // Help ▸ User Guide (F1): the shipped guide, at `anchor` ("" for its top); the window is kept and reused.
  HelpWindow* showHelp(const QString& anchor = QString());

 private:
  void showAbout();

  QThread thread_;
  EngineWorker* worker_ = nullptr;
  ComponentTreeModel* tree_ = nullptr;
  TreeUndo* undo_ = nullptr;  // Edit ▸ Undo / Redo of marks, restores and resets
  LayerTreePanel* treePanel_ = nullptr;
  SearchPanel* search_ = nullptr;
  WhatIfPanel* whatIf_ = nullptr;
  LogView* log_ = nullptr;
  PerplexityCurvePlot* pplPlot_ = nullptr;
  ParamsLatencyPlot* paramsPlot_ = nullptr;
  CandidateScoresPlot* candPlot_ = nullptr;
  AccuracyPlot* accPlot_ = nullptr;
  QList<QDockWidget*> docks_;
  QLabel* modelLabel_ = nullptr;
  QProgressBar* statusProgress_ = nullptr;
  QMenu* recentMenu_ = nullptr;
  HelpWindow* help_ = nullptr;
  RunsBrowser* runsBrowser_ = nullptr;
  ComparisonWindow* comparison_ = nullptr;
  HeatmapPlot* heatPlot_ = nullptr;
  QAction* runsAct_ = nullptr;

  QAction* openModelAct_ = nullptr;
  QAction* openProjectAct_ = nullptr;
  QAction* saveProjectAct_ = nullptr;
  QAction* saveProjectAsAct_ = nullptr;
  QAction* evaluateAct_ = nullptr;
  QAction* runAct_ = nullptr;
  QAction* cancelAct_ = nullptr;
  QAction* resumeAct_ = nullptr;
  QAction* exportCsvAct_ = nullptr;
  QAction* exportJsonAct_ = nullptr;
  QAction* exportCheckpointAct_ = nullptr;
  QAction* exportGgufAct_ = nullptr;
  QAction* saveFiguresAct_ = nullptr;
  QAction* clearMarksAct_ = nullptr;
  QAction* resetBaseAct_ = nullptr;
  QAction* undoAct_ = nullptr;
  QAction* redoAct_ = nullptr;

  ModelInfo model_;
  bool modelLoaded_ = false;
  QString loadingPath_;
  QString computeDevice_ = QStringLiteral("cpu"), computeDtype_ = QStringLiteral("auto");
  RunRecord run_;
  QString projectPath_;
  std::optional<ProjectState> pendingProject_;
  bool pendingModified_ = false;  // the window's "*" to restore with pendingProject_ (a device switch)
  QString runsRoot_;
  bool busy_ = false;
  QString job_;
  bool closeAfterCancel_ = false;
  bool interactive_ = true;
  QByteArray defaultState_;
  bool laidOut_ = false;  // the starting layout is in place (applied at the first show, or restored from settings)
  // Notifications of a finished job (modelReady, searchEnded, ...), emitted once the worker reports the job
  // over, so that whoever reacts to them can start the next job at once.
  QList<std::function<void()>> afterJob_;
};

}  // namespace shedder::ui
