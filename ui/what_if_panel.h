// The what-if panel: "Evaluate" runs the current removal set (removed + marked) on the calibration data in the
// background and shows its perplexity and the change against the base model; earlier evaluations stay listed, with the
// change against the previous one, can be exported as CSV, and a row can be turned back into marks.
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
  QTableWidget* table() const { return table_; }  // newest first
  // The history as CSV, oldest first: removed ids (';'-joined), perplexity, base, Δ vs base, Δ vs previous,
  // parameters removed (count, %), windows, tokens per window, calibration, note.
  QString toCsv() const;
  // Asks for the marks of the evaluation shown in table row `row` (newest first): emits marksRequested.
  void useRowAsMarks(int row);

 Q_SIGNALS:
  void evaluateRequested();
  void marksRequested(const QStringList& ids);  // "Mark these": the removal set of a past evaluation
  void exportCsvRequested();

 private:
  void show(const WhatIfResult& r);

  QVector<WhatIfResult> history_;
  QPushButton* evaluate_ = nullptr;
  QLabel* headline_ = nullptr;
  QLabel* details_ = nullptr;
  QTableWidget* table_ = nullptr;
  QPushButton* mark_ = nullptr;
  QPushButton* csv_ = nullptr;
};

}  // namespace shedder::ui
