// The comparison's plots: curves of several runs overlaid (perplexity, held-out perplexity, accuracy or decode
// latency against components removed or parameters kept, the picked variants ringed), and the importance heatmap of
// one run (component × step, coloured by each candidate's Δ perplexity, the removed cells numbered in removal order;
// a map too large for numbers marks them).
// The comparison window shows them; `shedder-cli report` renders the same classes offscreen into figures.
#pragma once

#include <QStringList>
#include <QVector>

#include "comparison.h"
#include "plot_view.h"

class QCPColorMap;
class QCPColorScale;
class QCPGraph;
class QCPItemText;

namespace shedder::ui {

enum class CurveQuantity { Perplexity, HeldoutPerplexity, Accuracy, Latency };
enum class CurveAxis { ComponentsRemoved, ParametersKept };

class ComparisonCurvePlot : public PlotView {
  Q_OBJECT
 public:
  ComparisonCurvePlot(CurveQuantity quantity, CurveAxis axis, QWidget* parent = nullptr);
  // One curve per run source (imported results have none); the rows in `picked` get a ring.
  void setData(const QVector<ComparisonSource>& sources, const QStringList& picked);
  CurveQuantity quantity() const { return quantity_; }
  CurveAxis axis() const { return axis_; }
  // Components removed or parameters kept on the x axis (title, label and ticks follow; setData() redraws).
  void setAxis(CurveAxis axis);
  QVector<QCPGraph*> curves() const { return curves_; }  // in source order (runs only)
  QCPGraph* pickedGraph() const { return picked_; }
  // "perplexity_vs_removed", "accuracy_vs_parameters", ... (file names of the report's figures)
  QString slug() const;

 private:
  CurveQuantity quantity_;
  CurveAxis axis_;
  QVector<QCPGraph*> curves_;
  QVector<QStringList> pointNames_;  // per curve, per point: the variant's name
  QCPGraph* picked_ = nullptr;
};

class HeatmapPlot : public PlotView {
  Q_OBJECT
 public:
  explicit HeatmapPlot(QWidget* parent = nullptr);
  void setRun(const RunRecord& run, const QString& label);
  const HeatmapData& data() const { return data_; }
  bool hasData() const override;
  void resetView() override;
  QString figureDataCsv() const override;
  QCPGraph* lowerBoundMarks() const { return bounds_; }  // crosses on the cells that hold lower bounds
  QCPGraph* removedMarks() const { return removed_; }    // squares on removed cells (large maps; else numbers)
  int orderLabelCount() const { return orderLabels_.size(); }  // removal-order numbers written in
  QCPColorMap* colorMap() const { return map_; }
  // The colour scale's upper end: the largest value, or 50 × the median positive value when an outlier exceeds it.
  double colorUpper() const { return upper_; }
  // Tooltip text of the cell at (component row, step column).
  QString cellText(int row, int col) const;

 private:
  HeatmapData data_;
  QCPColorMap* map_ = nullptr;
  QCPColorScale* scale_ = nullptr;
  QCPGraph* bounds_ = nullptr;
  QCPGraph* removed_ = nullptr;  // marks of the removed cells when the map is too large for numbers
  QList<QCPItemText*> orderLabels_;  // the removal order written into the removed cells
  double upper_ = 1;
};

// Distinct colours for the runs of a comparison (the tab10 palette).
QColor seriesColor(int i);

}  // namespace shedder::ui
