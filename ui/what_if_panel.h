// The what-if panel: "Evaluate" runs the current removal set (removed + marked) on the calibration data in the
// background and shows its perplexity and the change against the base model; earlier evaluations stay listed.
#pragma once

#include <QVector>
#include <QWidget>

#include "engine_types.h"

class QLabel;
class QPushButton;
class QTableWidget;

namespace shedder::ui {

class WhatIfPanel : public QWidget {
  Q_OBJECT

 public:
  explicit WhatIfPanel(QWidget* parent = nullptr);

  void addResult(const WhatIfResult& r);
  const QVector<WhatIfResult>& history() const { return history_; }
  void setHistory(const QVector<WhatIfResult>& h);
  void setState(bool modelOpen, bool busy, int removalCount);
  QPushButton* evaluateButton() const { return evaluate_; }
  QString summaryText() const;  // the headline shown for the last result

 Q_SIGNALS:
  void evaluateRequested();

 private:
  void show(const WhatIfResult& r);

  QVector<WhatIfResult> history_;
  QPushButton* evaluate_ = nullptr;
  QLabel* headline_ = nullptr;
  QLabel* details_ = nullptr;
  QTableWidget* table_ = nullptr;
};

}  // namespace shedder::ui
