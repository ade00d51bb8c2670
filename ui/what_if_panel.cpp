// The what-if panel (see what_if_panel.h).
#include "what_if_panel.h"

#include <QFileInfo>
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
  table_ = new QTableWidget(0, 4, this);
  table_->setHorizontalHeaderLabels({QStringLiteral("removed"), QStringLiteral("perplexity"), QStringLiteral("Δ vs base"),
                                     QStringLiteral("params −")});
  table_->verticalHeader()->setVisible(false);
  table_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setAlternatingRowColors(true);
  layout->addWidget(table_, 1);
  connect(evaluate_, &QPushButton::clicked, this, &WhatIfPanel::evaluateRequested);
  headline_->setText(QStringLiteral("<span style='color:#777'>Mark components in the tree, then evaluate.</span>"));
  setState(false, false, 0);
}

void WhatIfPanel::setState(bool modelOpen, bool busy, int removalCount) {
  evaluate_->setEnabled(modelOpen && !busy);
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
  table_->setItem(0, 3, new QTableWidgetItem(QStringLiteral("%1 %").arg(r.parametersRemovedPct, 0, 'f', 1)));
  for (int c = 1; c < 4; ++c) table_->item(0, c)->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
}

void WhatIfPanel::setHistory(const QVector<WhatIfResult>& h) {
  history_.clear();
  table_->setRowCount(0);
  for (const WhatIfResult& r : h) addResult(r);
  if (h.isEmpty()) headline_->setText(QStringLiteral("<span style='color:#777'>Mark components in the tree, then evaluate.</span>"));
  if (h.isEmpty()) details_->clear();
}

}  // namespace shedder::ui
