// Bar chart of one search step's candidates: what removing each remaining component would cost (for the ppl
// metric the perplexity increase its removal would cause at that step; for cosine its block influence), bars from
// zero, the picked one highlighted. A step selector follows the latest step unless the user picks another.
#pragma once

#include "plot_view.h"
#include "run_record.h"

class QComboBox;
class QCPBars;
class QCPItemText;

namespace shedder::ui {

class CandidateScoresPlot : public PlotView {
  Q_OBJECT
 public:
  explicit CandidateScoresPlot(QWidget* parent = nullptr);
  void setRun(const RunRecord& run);
  int shownStep() const { return shown_; }   // -1: none
  void showStep(int step);
  QCPBars* candidateBars() const { return bars_; }
  QCPBars* pickedBars() const { return picked_; }
  QCPBars* boundBars() const { return bounds_; }  // candidates stopped early: their bars are lower bounds
  // When one score dwarfs the rest (over 50 times the median), the value axis stops above the others and each bar
  // it cuts carries its value ("▲ 10437"); Fit shows every bar whole. The clipped bars' labels, none otherwise.
  const QList<QCPItemText*>& clipLabels() const { return clipLabels_; }

 private:
  void rebuild();
  void clipOutliers();

  RunRecord run_;
  int shown_ = -1;
  bool followLatest_ = true;
  QComboBox* stepBox_ = nullptr;
  QCPBars* bars_ = nullptr;
  QCPBars* picked_ = nullptr;
  QCPBars* bounds_ = nullptr;
  QList<QCPItemText*> clipLabels_;
};

}  // namespace shedder::ui
