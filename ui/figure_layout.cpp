// Fitting a plot to a figure's page (see figure_layout.h).
#include "figure_layout.h"

#include <QFontMetricsF>
#include <QPolygonF>

#include <cmath>

#include "plot_colors.h"
#include "qcustomplot_include.h"

namespace shedder::ui {

namespace {

constexpr double kMinPointSize = 7.0;

double textWidth(const QString& text, const QFont& font) {
  const QFontMetricsF fm(font);
  double w = 0;
  for (const QString& line : text.split(QLatin1Char('\n'))) w = std::max(w, fm.horizontalAdvance(line));
  return w;
}

// Two lines broken at the space nearest the middle ("" when the text has no space).
QString twoLines(const QString& text) {
  int best = -1;
  for (int i = 0; i < text.size(); ++i)
    if (text[i] == QLatin1Char(' ') && (best < 0 || std::abs(i - text.size() / 2) < std::abs(best - text.size() / 2)))
      best = i;
  if (best < 0) return {};
  return text.left(best) + QLatin1Char('\n') + text.mid(best + 1);
}

// The data a legend must not cover, in pixels: each graph's polyline (points and the lines between them) and each
// bar's rectangle.
struct DataShapes {
  QList<QPolygonF> lines;
  QList<QRectF> bars;
};

DataShapes dataShapes(QCustomPlot* plot) {
  DataShapes s;
  for (int i = 0; i < plot->plottableCount(); ++i) {
    QCPAbstractPlottable* p = plot->plottable(i);
    if (!p->visible() || !p->interface1D()) continue;
    QCPAxis* key = p->keyAxis();
    QCPAxis* value = p->valueAxis();
    if (auto* bars = qobject_cast<QCPBars*>(p)) {
      for (auto it = bars->data()->constBegin(); it != bars->data()->constEnd(); ++it) {
        const double half = bars->width() / 2;
        s.bars << QRectF(QPointF(key->coordToPixel(it->key - half), value->coordToPixel(it->value)),
                         QPointF(key->coordToPixel(it->key + half), value->coordToPixel(0)))
                      .normalized();
      }
      continue;
    }
    QPolygonF line;
    QCPPlottableInterface1D* d = p->interface1D();
    for (int k = 0; k < d->dataCount(); ++k) {
      const double x = d->dataMainKey(k), y = d->dataMainValue(k);
      if (std::isfinite(x) && std::isfinite(y)) line << QPointF(key->coordToPixel(x), value->coordToPixel(y));
    }
    if (!line.isEmpty()) s.lines << line;
  }
  return s;
}

bool covers(const QRectF& r, const DataShapes& s) {
  for (const QRectF& b : s.bars)
    if (r.intersects(b)) return true;
  for (const QPolygonF& line : s.lines) {
    for (int i = 0; i < line.size(); ++i) {
      if (r.contains(line[i])) return true;
      if (i == 0) continue;
      const QPointF a = line[i - 1], b = line[i];
      const int steps = static_cast<int>(std::ceil(QLineF(a, b).length() / 2.0));
      for (int k = 1; k < steps; ++k)
        if (r.contains(a + (b - a) * (double(k) / steps))) return true;
    }
  }
  return false;
}

QCPTextElement* titleOf(QCustomPlot* plot) {
  for (int i = 0; i < plot->plotLayout()->elementCount(); ++i)
    if (auto* t = qobject_cast<QCPTextElement*>(plot->plotLayout()->elementAt(i))) return t;
  return nullptr;
}

}  // namespace

QString fitText(const QString& text, QFont* font, double width) {
  if (text.isEmpty() || textWidth(text, *font) <= width) return text;
  const QString wrapped = twoLines(text);
  if (!wrapped.isEmpty() && textWidth(wrapped, *font) <= width) return wrapped;
  const QString best = wrapped.isEmpty() ? text : wrapped;
  while (font->pointSizeF() - 0.5 >= kMinPointSize && textWidth(best, *font) > width)
    font->setPointSizeF(font->pointSizeF() - 0.5);
  if (textWidth(best, *font) <= width) return best;
  const QFontMetricsF fm(*font);
  QStringList lines = best.split(QLatin1Char('\n'));
  for (QString& l : lines) l = fm.elidedText(l, Qt::ElideMiddle, width);
  return lines.join(QLatin1Char('\n'));
}

FigureLayout::FigureLayout(QCustomPlot* plot, QSize page, bool showTitle) : plot_(plot), page_(page) {
  oldViewport_ = plot_->viewport();
  PlotColors::light().applyTo(plot_);  // paper is white, whatever the theme on screen
  plot_->setViewport(QRect(QPoint(0, 0), page_));
  fitTitle(showTitle);
  relayout();
  fitAxisLabels();
  relayout();
  placeLegend();
}

FigureLayout::~FigureLayout() {
  QCPLegend* legend = plot_->legend;
  if (legendMoved_) {
    below_->take(legend);
    plot_->plotLayout()->remove(below_);  // deletes it and its empty cells
    plot_->plotLayout()->simplify();
    legend->setMaximumSize(legendMaxSize_);
    plot_->axisRect()->insetLayout()->addElement(legend, legendAlignment_);
  }
  if (legend) {
    legend->setFillOrder(static_cast<QCPLayoutGrid::FillOrder>(legendFillOrder_), false);
    legend->setWrap(legendWrap_);
    legend->setFillOrder(static_cast<QCPLayoutGrid::FillOrder>(legendFillOrder_), true);
    if (!legendMoved_ && legendIndex_ >= 0) plot_->axisRect()->insetLayout()->setInsetAlignment(legendIndex_, legendAlignment_);
  }
  for (const AxisLabel& a : labels_) {
    a.axis->setLabel(a.text);
    a.axis->setLabelFont(a.font);
  }
  if (title_) {
    if (titleTaken_) {
      plot_->plotLayout()->insertRow(0);
      plot_->plotLayout()->addElement(0, 0, title_);
      title_->setVisible(true);
    }
    title_->setText(titleText_);
    title_->setFont(titleFont_);
  }
  plot_->setViewport(oldViewport_);
  PlotColors::fromPalette(plot_->palette()).applyTo(plot_);
}

void FigureLayout::relayout() {
  QCPLayoutGrid* l = plot_->plotLayout();
  l->setOuterRect(QRect(QPoint(0, 0), page_));
  l->update(QCPLayoutElement::upPreparation);
  l->update(QCPLayoutElement::upMargins);
  l->update(QCPLayoutElement::upLayout);
}

void FigureLayout::fitTitle(bool show) {
  title_ = titleOf(plot_);
  if (!title_) return;
  titleText_ = title_->text();
  titleFont_ = title_->font();
  if (!show) {
    plot_->plotLayout()->take(title_);
    plot_->plotLayout()->simplify();
    title_->setVisible(false);  // out of the layout it would still be drawn where it was
    titleTaken_ = true;
    return;
  }
  QFont f = titleFont_;
  const QMargins m = title_->margins();
  title_->setText(fitText(titleText_, &f, page_.width() - m.left() - m.right() - 4));
  title_->setFont(f);
}

void FigureLayout::fitAxisLabels() {
  for (QCPAxis* a : plot_->axisRect()->axes()) {
    if (!a->visible() || a->label().isEmpty()) continue;
    labels_ << AxisLabel{a, a->label(), a->labelFont()};
    // Room along the axis: the data area's length, a little more than it for a centred label.
    const QRect r = plot_->axisRect()->rect();
    const double room = (a->orientation() == Qt::Horizontal ? r.width() : r.height()) - 4;
    QFont f = a->labelFont();
    a->setLabel(fitText(a->label(), &f, room));
    a->setLabelFont(f);
  }
}

void FigureLayout::placeLegend() {
  QCPLegend* legend = plot_->legend;
  if (!legend || !legend->visible() || legend->itemCount() == 0) return;
  QCPLayoutInset* inset = plot_->axisRect()->insetLayout();
  int index = -1;
  for (int i = 0; i < inset->elementCount(); ++i)
    if (inset->elementAt(i) == legend) index = i;
  if (index < 0) return;  // placed elsewhere by its plot: leave it
  legendIndex_ = index;
  legendAlignment_ = inset->insetAlignment(index);
  legendWrap_ = legend->wrap();
  legendFillOrder_ = static_cast<int>(legend->fillOrder());
  const DataShapes data = dataShapes(plot_);
  const std::pair<Qt::Alignment, const char*> corners[] = {{Qt::AlignTop | Qt::AlignRight, "top right"},
                                                           {Qt::AlignTop | Qt::AlignLeft, "top left"},
                                                           {Qt::AlignBottom | Qt::AlignRight, "bottom right"},
                                                           {Qt::AlignBottom | Qt::AlignLeft, "bottom left"}};
  for (const auto& [align, name] : corners) {
    inset->setInsetAlignment(index, align);
    relayout();
    const QRectF r = QRectF(legend->outerRect()).adjusted(-3, -3, 3, 3);
    if (plot_->axisRect()->rect().contains(legend->outerRect()) && !covers(r, data)) {
      legendPlacement_ = QString::fromLatin1(name);
      return;
    }
  }
  // Every corner covers data: below the data area, centred (between two empty cells), in as many columns as fit
  // the page's width.
  inset->take(legend);
  legendMoved_ = true;
  legendMaxSize_ = legend->maximumSize();
  below_ = new QCPLayoutGrid;
  QCPLayoutGrid* l = plot_->plotLayout();
  const int row = l->rowCount();
  l->addElement(row, 0, below_);
  l->setRowStretchFactor(row, 0.001);
  below_->setMargins(QMargins(2, 2, 2, 4));
  below_->addElement(0, 0, new QCPLayoutElement(plot_));  // (an empty grid would cap the width at 0)
  below_->addElement(0, 1, legend);
  below_->addElement(0, 2, new QCPLayoutElement(plot_));
  const int n = legend->itemCount();
  for (int columns = n; columns >= 1; --columns) {
    legend->setFillOrder(QCPLayoutGrid::foColumnsFirst, false);
    legend->setWrap(columns);
    legend->setFillOrder(QCPLayoutGrid::foColumnsFirst, true);
    if (legend->minimumOuterSizeHint().width() <= page_.width() - 8 || columns == 1) break;
  }
  legend->setMaximumSize(legend->minimumOuterSizeHint().width(), QWIDGETSIZE_MAX);
  relayout();
  legendPlacement_ = QStringLiteral("below");
}

}  // namespace shedder::ui
