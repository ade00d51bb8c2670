// The common plot frame (see plot_view.h).
#include "plot_view.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QMenu>
#include <QToolButton>
#include <QToolTip>
#include <QVBoxLayout>

#include <cmath>
#include <limits>

#include "figure_export_dialog.h"
#include "plot_colors.h"
#include "qcustomplot_include.h"

namespace shedder::ui {

namespace {

QFont baseFont(int pt, bool bold = false) {
  QFont f = QApplication::font();
  f.setPointSizeF(pt);
  f.setBold(bold);
  return f;
}

}  // namespace

void PlotView::styleAxis(QObject* obj) {
  auto* axis = qobject_cast<QCPAxis*>(obj);
  if (!axis) return;
  axis->setLabelFont(baseFont(10));
  axis->setTickLabelFont(baseFont(9));
  PlotColors::fromPalette(QApplication::palette()).applyTo(axis);
  axis->grid()->setZeroLinePen(Qt::NoPen);
}

PlotView::PlotView(const QString& title, QWidget* parent) : QWidget(parent), title_(title) {
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(2, 2, 2, 2);
  outer->setSpacing(2);
  tools_ = new QHBoxLayout;
  tools_->setContentsMargins(4, 0, 4, 0);
  tools_->setSpacing(4);
  tools_->addStretch(1);

  auto* reset = new QToolButton(this);
  reset->setText(QStringLiteral("Fit"));
  reset->setToolTip(QStringLiteral("Fit the view to the data (or double-click the plot)"));
  reset->setAutoRaise(true);
  connect(reset, &QToolButton::clicked, this, [this] { resetView(); });
  logButton_ = new QToolButton(this);
  logButton_->setText(QStringLiteral("Log"));
  logButton_->setCheckable(true);
  logButton_->setAutoRaise(true);
  logButton_->setToolTip(QStringLiteral("Logarithmic value axis"));
  logButton_->setVisible(false);
  connect(logButton_, &QToolButton::toggled, this, [this](bool on) { setLogScale(on); });
  auto* save = new QToolButton(this);
  save->setText(QStringLiteral("Save…"));
  save->setToolTip(QStringLiteral("Save this figure as PNG, PDF or SVG at a chosen size and DPI"));
  save->setAutoRaise(true);
  connect(save, &QToolButton::clicked, this, [this] { saveFigureInteractive(); });
  tools_->addWidget(logButton_);
  tools_->addWidget(reset);
  tools_->addWidget(save);
  outer->addLayout(tools_);

  plot_ = new QCustomPlot(this);
  plot_->setFocusPolicy(Qt::StrongFocus);  // View ▸ Focus Plots (Ctrl+3) and F6 reach it
  setFocusProxy(plot_);
  plot_->setObjectName(QStringLiteral("plot"));
  plot_->setMinimumSize(180, 140);  // small: on a 1024-pixel screen the docks beside the plots must be able to widen
  plot_->setAntialiasedElements(QCP::aeAll);
  plot_->setNoAntialiasingOnDrag(true);
  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom | QCP::iSelectPlottables);
  plot_->plotLayout()->insertRow(0);
  auto* titleElement = new QCPTextElement(plot_, title_, baseFont(11, true));
  plot_->plotLayout()->addElement(0, 0, titleElement);
  for (QCPAxis* a : plot_->axisRect()->axes()) styleAxis(a);
  plot_->legend->setVisible(true);
  plot_->legend->setFont(baseFont(9));
  plot_->legend->setIconSize(22, 15);  // rows as tall as the text with its descenders (10 cut them on screen)
  PlotColors::fromPalette(palette()).applyTo(plot_);
  plot_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);

  placeholder_ = new QCPItemText(plot_);
  placeholder_->setClipToAxisRect(false);
  placeholder_->position->setType(QCPItemPosition::ptAxisRectRatio);
  placeholder_->position->setCoords(0.5, 0.5);
  placeholder_->setPositionAlignment(Qt::AlignCenter);
  placeholder_->setFont(baseFont(10));
  placeholder_->setColor(QColor(0x88, 0x88, 0x88));
  placeholder_->setVisible(false);
  placeholder_->setSelectable(false);

  plot_->setContextMenuPolicy(Qt::CustomContextMenu);
  connect(plot_, &QCustomPlot::customContextMenuRequested, this, [this](const QPoint& pos) {
    QMenu menu(this);
    menu.addAction(QStringLiteral("Fit view to data"), this, [this] { resetView(); });
    if (logButton_->isVisible()) {
      QAction* a = menu.addAction(QStringLiteral("Logarithmic value axis"));
      a->setCheckable(true);
      a->setChecked(logButton_->isChecked());
      connect(a, &QAction::toggled, logButton_, &QToolButton::setChecked);
    }
    menu.addAction(QStringLiteral("Show legend"), this, [this] {
      plot_->legend->setVisible(!plot_->legend->visible());
      plot_->replot();
    });
    menu.addSeparator();
    menu.addAction(QStringLiteral("Save figure…"), this, [this] { saveFigureInteractive(); });
    menu.exec(plot_->mapToGlobal(pos));
  });
  connect(plot_, &QCustomPlot::mouseMove, this, &PlotView::onMouseMove);
  connect(plot_, &QCustomPlot::mouseDoubleClick, this, [this](QMouseEvent*) { resetView(); });
  outer->addWidget(plot_, 1);
}

PlotView::~PlotView() = default;

void PlotView::changeEvent(QEvent* e) {
  QWidget::changeEvent(e);
  if (e->type() == QEvent::PaletteChange) {  // View ▸ Theme, or the desktop's palette
    PlotColors::fromPalette(palette()).applyTo(plot_);
    replot();
  }
}

void PlotView::setPlaceholder(const QString& text) {
  placeholder_->setText(text);
  placeholder_->setVisible(!text.isEmpty());
  replot();
}

void PlotView::enableLogScaleToggle(bool on) { logButton_->setVisible(on); }

void PlotView::setLogScale(bool on) {
  QCPAxis* y = plot_->yAxis;
  if (on) {
    y->setScaleType(QCPAxis::stLogarithmic);
    QSharedPointer<QCPAxisTickerLog> t(new QCPAxisTickerLog);
    t->setSubTickCount(8);
    y->setTicker(t);
    y->setNumberFormat(QStringLiteral("gb"));
  } else {
    y->setScaleType(QCPAxis::stLinear);
    y->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    y->setNumberFormat(QStringLiteral("gb"));
  }
  resetView();
}

bool PlotView::hasData() const {
  for (int i = 0; i < plot_->plottableCount(); ++i) {
    QCPAbstractPlottable* p = plot_->plottable(i);
    if (p->visible() && p->interface1D() && p->interface1D()->dataCount() > 0) return true;
  }
  return false;
}

void PlotView::resetView() {
  bool any = false;
  for (int i = 0; i < plot_->plottableCount(); ++i) {
    QCPAbstractPlottable* p = plot_->plottable(i);
    if (!p->visible() || !p->interface1D() || p->interface1D()->dataCount() == 0) continue;
    any = true;
  }
  // Without data (a new model, a cleared run) no axis keeps the last run's range, and tick labels hide so that the
  // placeholder text does not overlap them.
  for (QCPAxis* a : {plot_->xAxis, plot_->yAxis, plot_->yAxis2}) a->setTickLabels(any);
  if (!any) {
    for (QCPAxis* a : {plot_->xAxis, plot_->yAxis, plot_->yAxis2}) a->setRange(0, 1);
  } else {
    plot_->rescaleAxes(true);
    for (QCPAxis* a : plot_->axisRect()->axes()) {
      if (!a->visible() && a != plot_->yAxis2) continue;
      QCPRange r = a->range();
      if (a->scaleType() == QCPAxis::stLogarithmic) {
        if (r.lower > 0 && r.upper > 0) a->setRange(r.lower / 1.15, r.upper * 1.15);
      } else {
        const double span = r.size() > 0 ? r.size() : std::max(1.0, std::abs(r.center()) * 0.1);
        const bool keyAxis = a->orientation() == Qt::Horizontal;
        const double pad = keyAxis ? std::max(0.4, span * 0.04) : span * 0.08;
        a->setRange(r.lower - pad, r.upper + pad);
      }
    }
  }
  replot();
}

void PlotView::setTitle(const QString& title) {
  title_ = title;
  if (auto* t = qobject_cast<QCPTextElement*>(plot_->plotLayout()->element(0, 0))) t->setText(title);
  replot();
}

void PlotView::replot() { plot_->replot(QCustomPlot::rpQueuedReplot); }

void PlotView::onMouseMove(QMouseEvent* e) {
  const QPointF pos = e->position();
  double best = std::numeric_limits<double>::max();
  QCPAbstractPlottable* bestP = nullptr;
  int bestIndex = -1;
  for (int i = 0; i < plot_->plottableCount(); ++i) {
    QCPAbstractPlottable* p = plot_->plottable(i);
    if (!p->visible() || !p->interface1D() || p->interface1D()->dataCount() == 0) continue;
    QVariant details;
    const double d = p->selectTest(pos, false, &details);
    if (d < 0 || d >= best) continue;
    const QCPDataSelection sel = details.value<QCPDataSelection>();
    if (sel.isEmpty()) continue;
    best = d;
    bestP = p;
    bestIndex = sel.dataRange(0).begin();
  }
  if (!bestP || best > 10.0) {
    QToolTip::hideText();
    return;
  }
  QString text;
  if (hover_) text = hover_(bestP, bestIndex);
  if (text.isEmpty()) {
    auto* d = bestP->interface1D();
    text = QStringLiteral("<b>%1</b><br>%2: %3<br>%4: %5")
               .arg(bestP->name(), bestP->keyAxis()->label())
               .arg(d->dataMainKey(bestIndex), 0, 'g', 6)
               .arg(bestP->valueAxis()->label())
               .arg(d->dataMainValue(bestIndex), 0, 'g', 6);
  }
  QToolTip::showText(plot_->mapToGlobal(pos.toPoint()), text, plot_);
}

QString PlotView::saveFigureInteractive() {
  FigureExportDialog dlg(this, title_);
  if (dlg.exec() != QDialog::Accepted) return {};
  const QString err = dlg.exportTo(plot_, figureDataCsv());
  if (!err.isEmpty()) {
    QMessageBox::critical(this, QStringLiteral("Save figure"), err);
    return {};
  }
  Q_EMIT figureSaved(dlg.path());
  return dlg.path();
}

}  // namespace shedder::ui
