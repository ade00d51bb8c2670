// The plots over "components removed" of a search run: perplexity (calibration and held-out), parameters kept
// with decode latency on a second axis, and accuracy (mean over the tasks). The perplexity and parameter plots draw
// the unpruned model as a dashed reference line ("base (unpruned)"), so a run that starts from marks shows its gap.
// Latency and accuracy come from the search's optional per-step measurements; until a run carries them their axes
// are in place with a note.
#pragma once

#include "plot_view.h"
#include "run_record.h"

class QCPGraph;

namespace shedder::ui {

// x of a run's points: components removed, counting the initial removal set; the base model sits at x = initial.
double runPointX(const RunRecord& run, int step);  // step -1 = the base

class PerplexityCurvePlot : public PlotView {
  Q_OBJECT
 public:
  explicit PerplexityCurvePlot(QWidget* parent = nullptr);
  void setRun(const RunRecord& run);
  QCPGraph* calibrationGraph() const { return calib_; }
  QCPGraph* heldoutGraph() const { return heldout_; }
  QCPGraph* referenceGraph() const { return reference_; }  // the unpruned model, dashed ("base (unpruned)")

 private:
  RunRecord run_;
  QCPGraph* calib_ = nullptr;
  QCPGraph* heldout_ = nullptr;
  QCPGraph* reference_ = nullptr;
};

class ParamsLatencyPlot : public PlotView {
  Q_OBJECT
 public:
  explicit ParamsLatencyPlot(QWidget* parent = nullptr);
  void setRun(const RunRecord& run);
  QCPGraph* parametersGraph() const { return params_; }
  QCPGraph* latencyGraph() const { return latency_; }
  QCPGraph* referenceGraph() const { return reference_; }  // the unpruned model's parameter count, dashed
  double unit() const { return unit_; }  // parameters per unit of the value axis (1e6: M, 1e3: K)

 private:
  RunRecord run_;
  double unit_ = 1e6;
  QCPGraph* params_ = nullptr;
  QCPGraph* latency_ = nullptr;
  QCPGraph* reference_ = nullptr;
};

class AccuracyPlot : public PlotView {
  Q_OBJECT
 public:
  explicit AccuracyPlot(QWidget* parent = nullptr);
  void setRun(const RunRecord& run);
  QCPGraph* accuracyGraph() const { return accuracy_; }

 private:
  RunRecord run_;
  QCPGraph* accuracy_ = nullptr;
};

}  // namespace shedder::ui
