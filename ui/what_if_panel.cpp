// The what-if panel (see what_if_panel.h).
#include "what_if_panel.h"

#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QStyle>
#include <QTableWidget>
#include <QVBoxLayout>

#include "formatting.h"

namespace shedder::ui {

WhatIfPanel::WhatIfPanel(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);
  evaluate_ = new QPushButton(style()->standardIcon(QStyle::SP_BrowserReload), QStringLiteral("Evaluate removal set"), this);
  evaluate_->setToolTip(QStringLiteral("Perplexity of the model without the removed and marked components, on the "
                                       "calibration data of the search panel (Ctrl+E)"));
  layout->addWidget(evaluate_);
  headline_ = new QLabel(this);
  headline_->setObjectName(QStringLiteral("whatIfHeadline"));
  headline_->setTextFormat(Qt::RichText);
  headline_->setWordWrap(true);
  QFont f = headline_->font();
  f.setPointSizeF(f.pointSizeF() * 1.15);
  headline_->setFont(f);
  layout->addWidget(headline_);
  details_ = new QLabel(this);
  details_->setWordWrap(true);
  details_->setStyleSheet(QStringLiteral("color: #555;"));
  layout->addWidget(details_);
  table_ = new QTableWidget(0, 5, this);
  table_->setHorizontalHeaderLabels({QStringLiteral("removed"), QStringLiteral("perplexity"), QStringLiteral("Δ vs base"),
                                     QStringLiteral("Δ vs previous"), QStringLiteral("params −")});
  table_->verticalHeader()->setVisible(false);
  table_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setAlternatingRowColors(true);
  layout->addWidget(table_, 1);
  auto* row = new QHBoxLayout;
  mark_ = new QPushButton(QStringLiteral("Mark these"), this);
  mark_->setToolTip(QStringLiteral("Make the selected evaluation's removal set the marks in the tree (double-click a "
                                   "row does the same)"));
  csv_ = new QPushButton(QStringLiteral("Export CSV…"), this);
  csv_->setToolTip(QStringLiteral("Save this history as CSV"));
  row->addWidget(mark_);
  row->addStretch(1);
  row->addWidget(csv_);
  layout->addLayout(row);
  connect(evaluate_, &QPushButton::clicked, this, &WhatIfPanel::evaluateRequested);
  connect(mark_, &QPushButton::clicked, this, [this] { useRowAsMarks(table_->currentRow()); });
  connect(table_, &QTableWidget::cellDoubleClicked, this, [this](int r, int) { useRowAsMarks(r); });
  connect(csv_, &QPushButton::clicked, this, &WhatIfPanel::exportCsvRequested);
  headline_->setText(QStringLiteral("<span style='color:#777'>Mark components in the tree, then evaluate.</span>"));
  setState(false, false, 0);
}

void WhatIfPanel::setState(bool modelOpen, bool busy, int removalCount) {
  evaluate_->setEnabled(modelOpen && !busy);
  mark_->setEnabled(modelOpen && !busy && !history_.isEmpty());
  csv_->setEnabled(!history_.isEmpty());
  evaluate_->setText(removalCount > 0 ? QStringLiteral("Evaluate removal set (%1)").arg(removalCount)
                                      : QStringLiteral("Evaluate base model"));
}

QString WhatIfPanel::summaryText() const { return headline_->text(); }

void WhatIfPanel::show(const WhatIfResult& r) {
  const double d = r.ppl - r.basePpl;
  const QString color = d > 0 ? QStringLiteral("#c0392b") : QStringLiteral("#27ae60");
  headline_->setText(QStringLiteral("perplexity <b>%1</b> &nbsp; <span style='color:%2'>Δ %3</span> &nbsp; (base %4)")
                         .arg(formatPpl(r.ppl), color, formatDelta(d, r.basePpl), formatPpl(r.basePpl)));
  QString what = r.removed.isEmpty() ? QStringLiteral("nothing removed") : r.removed.join(QStringLiteral(", "));
  if (!r.note.isEmpty()) what = r.note + QStringLiteral(": ") + what;
  // "text: /long/path/calibration.jsonl" -> "calibration.jsonl" (the full label is the tooltip).
  QString source = r.calibrationLabel;
  const int colon = source.indexOf(QStringLiteral(": "));
  if (colon >= 0) source = QFileInfo(source.mid(colon + 2)).fileName();
  details_->setText(QStringLiteral("%1 · %2 parameters removed (%3 %) · %4 windows × %5 tokens of %6 · %7 s")
                        .arg(what, formatCount(r.parametersRemoved))
                        .arg(r.parametersRemovedPct, 0, 'f', 2)
                        .arg(r.windows)
                        .arg(r.seqLen)
                        .arg(source)
                        .arg(r.seconds, 0, 'f', 1));
  details_->setToolTip(r.calibrationLabel);
}

void WhatIfPanel::addResult(const WhatIfResult& r) {
  history_.push_back(r);
  show(r);
  table_->insertRow(0);
  const QString removed = r.removed.isEmpty() ? QStringLiteral("(base)") : r.removed.join(QStringLiteral(", "));
  auto* a = new QTableWidgetItem(removed);
  a->setToolTip(r.note.isEmpty() ? removed : r.note + QStringLiteral(": ") + removed);
  table_->setItem(0, 0, a);
  table_->setItem(0, 1, new QTableWidgetItem(formatPpl(r.ppl)));
  table_->setItem(0, 2, new QTableWidgetItem(formatDelta(r.ppl - r.basePpl, r.basePpl)));
  const WhatIfResult* prev = history_.size() >= 2 ? &history_[history_.size() - 2] : nullptr;
  table_->setItem(0, 3, new QTableWidgetItem(prev ? formatDelta(r.ppl - prev->ppl, prev->ppl) : QStringLiteral("–")));
  table_->setItem(0, 4, new QTableWidgetItem(QStringLiteral("%1 %").arg(r.parametersRemovedPct, 0, 'f', 1)));
  for (int c = 1; c < 5; ++c) table_->item(0, c)->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
  mark_->setEnabled(true);
  csv_->setEnabled(true);
}

void WhatIfPanel::useRowAsMarks(int row) {
  if (row < 0 || row >= history_.size()) return;
  Q_EMIT marksRequested(history_[history_.size() - 1 - row].removed);  // rows are newest first
}

QString WhatIfPanel::toCsv() const {
  auto field = [](QString s) {
    if (s.contains(QLatin1Char(',')) || s.contains(QLatin1Char('"')) || s.contains(QLatin1Char('\n')))
      s = QLatin1Char('"') + s.replace(QLatin1Char('"'), QStringLiteral("\"\"")) + QLatin1Char('"');
    return s;
  };
  auto num = [](double v) { return QString::number(v, 'g', 10); };
  QString out = QStringLiteral("removed,perplexity,base_perplexity,delta_vs_base,delta_vs_previous,params_removed,"
                               "params_removed_pct,windows,seq_len,calibration,note\n");
  for (int i = 0; i < history_.size(); ++i) {
    const WhatIfResult& r = history_[i];
    out += field(r.removed.join(QLatin1Char(';'))) + QLatin1Char(',') + num(r.ppl) + QLatin1Char(',') + num(r.basePpl) +
           QLatin1Char(',') + num(r.ppl - r.basePpl) + QLatin1Char(',') +
           (i > 0 ? num(r.ppl - history_[i - 1].ppl) : QString()) + QLatin1Char(',') +
           QString::number(r.parametersRemoved) + QLatin1Char(',') + num(r.parametersRemovedPct) + QLatin1Char(',') +
           QString::number(r.windows) + QLatin1Char(',') + QString::number(r.seqLen) + QLatin1Char(',') +
           field(r.calibrationLabel) + QLatin1Char(',') + field(r.note) + QLatin1Char('\n');
  }
  return out;
}

void WhatIfPanel::setHistory(const QVector<WhatIfResult>& h) {
  history_.clear();
  table_->setRowCount(0);
  for (const WhatIfResult& r : h) addResult(r);
  if (h.isEmpty()) headline_->setText(QStringLiteral("<span style='color:#777'>Mark components in the tree, then evaluate.</span>"));
  if (h.isEmpty()) details_->clear();
  mark_->setEnabled(!h.isEmpty());
  csv_->setEnabled(!h.isEmpty());
}

}  // namespace shedder::ui
