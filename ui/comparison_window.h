// The comparison window (File ▸ Add Run to Comparison…): several runs, projects and lm-evaluation-harness results
// files side by side. Their curves overlaid (perplexity, held-out perplexity, accuracy and decode latency against
// components removed or parameters kept, one x axis for all), a run's importance heatmap, and the variants table — one row per step of
// any run or per results file, with check boxes that pick the rows to compare (ringed on the curves, written in the
// report's tables). Write Report… writes what `shedder-cli report` writes, through the same code (report_writer.h).
#pragma once

#include <QStringList>
#include <QVector>
#include <QWidget>

#include <functional>
#include <optional>

#include "comparison.h"

class QComboBox;
class QListWidget;
class QTabWidget;
class QTableWidget;

namespace shedder::ui {

class ComparisonCurvePlot;
class HeatmapPlot;

class ComparisonWindow : public QWidget {
  Q_OBJECT

 public:
  explicit ComparisonWindow(QWidget* parent = nullptr);

  // Loads `path` (see loadComparisonSource) and adds it; false with the message when it cannot be read.
  bool addPath(const QString& path, QString* error);
  void addSource(ComparisonSource source);
  void removeSource(int index);
  const QVector<ComparisonSource>& sources() const { return sources_; }
  // The main window's run, for "Add Current Run" (nullopt while it has none).
  void setCurrentRunProvider(std::function<std::optional<ComparisonSource>()> f) { current_ = std::move(f); }

  QStringList pickedRows() const;  // keys of the checked variant rows
  void setPickedRows(const QStringList& keys);
  QTableWidget* variantsTable() const { return table_; }
  QListWidget* sourceList() const { return list_; }
  QList<ComparisonCurvePlot*> curvePlots() const { return curves_; }
  HeatmapPlot* heatmap() const { return heatmap_; }
  QComboBox* heatmapRunBox() const { return heatRun_; }
  QComboBox* xAxisBox() const { return axisBox_; }  // components removed / parameters kept
  // Shows the tab titled `name` (case-insensitive: "Perplexity", "Heatmap", ...); false when there is none.
  bool showTab(const QString& name);
  // Writes the report (figures in the remembered figure format and size, all three table formats) into `dir`.
  QString writeReportTo(const QString& dir, QStringList* written);

 Q_SIGNALS:
  void sourcesChanged();

 private:
  void addFilesInteractive();
  void addFolderInteractive();
  void writeReportInteractive();
  void rebuild();          // after the sources changed
  void refreshPlots();     // after the picked rows changed
  void showHeatmap(int source);

  QVector<ComparisonSource> sources_;
  std::function<std::optional<ComparisonSource>()> current_;
  QListWidget* list_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  QList<ComparisonCurvePlot*> curves_;
  HeatmapPlot* heatmap_ = nullptr;
  QComboBox* heatRun_ = nullptr;
  QComboBox* axisBox_ = nullptr;
  QTableWidget* table_ = nullptr;
  QVector<VariantRow> rows_;
  bool filling_ = false;
};

}  // namespace shedder::ui
