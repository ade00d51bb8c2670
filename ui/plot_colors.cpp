// Plot frame colours for a palette (see plot_colors.h).
#include "plot_colors.h"

#include <QPalette>

#include "qcustomplot_include.h"

namespace shedder::ui {

namespace {

// a blended towards b by t (0: a, 1: b).
QColor mix(const QColor& a, const QColor& b, double t) {
  return QColor::fromRgbF(static_cast<float>(a.redF() + (b.redF() - a.redF()) * t),
                          static_cast<float>(a.greenF() + (b.greenF() - a.greenF()) * t),
                          static_cast<float>(a.blueF() + (b.blueF() - a.blueF()) * t));
}

}  // namespace

bool isDark(const QPalette& p) { return p.color(QPalette::Window).lightness() < 128; }

PlotColors PlotColors::light() {
  PlotColors c;
  c.background = Qt::white;
  c.text = QColor(0x22, 0x22, 0x22);
  c.tickText = QColor(0x33, 0x33, 0x33);
  c.axis = QColor(0x55, 0x55, 0x55);
  c.subTick = QColor(0x88, 0x88, 0x88);
  c.grid = QColor(0xdd, 0xdd, 0xdd);
  c.subGrid = QColor(0xee, 0xee, 0xee);
  c.legendBackground = QColor(255, 255, 255, 220);
  c.legendBorder = QColor(0xbb, 0xbb, 0xbb);
  return c;
}

PlotColors PlotColors::fromPalette(const QPalette& p) {
  if (!isDark(p)) return light();
  PlotColors c;
  const QColor base = p.color(QPalette::Base), text = p.color(QPalette::Text);
  c.background = base;
  c.text = text;
  c.tickText = mix(text, base, 0.12);
  c.axis = mix(text, base, 0.35);
  c.subTick = mix(text, base, 0.55);
  c.grid = mix(base, text, 0.2);
  c.subGrid = mix(base, text, 0.1);
  c.legendBackground = base;
  c.legendBackground.setAlpha(220);
  c.legendBorder = mix(text, base, 0.6);
  return c;
}

void PlotColors::applyTo(QCPAxis* a) const {
  a->setBasePen(QPen(axis, 1));
  a->setTickPen(QPen(axis, 1));
  a->setSubTickPen(QPen(subTick, 1));
  a->setLabelColor(text);
  a->setTickLabelColor(tickText);
  a->grid()->setPen(QPen(grid, 1, Qt::SolidLine));
  a->grid()->setSubGridPen(QPen(subGrid, 1, Qt::DotLine));
}

void PlotColors::applyTo(QCustomPlot* plot) const {
  plot->setBackground(background);
  for (QCPAxisRect* r : plot->axisRects())
    for (QCPAxis* a : r->axes()) applyTo(a);
  if (plot->legend) {
    plot->legend->setBrush(legendBackground);
    plot->legend->setBorderPen(QPen(legendBorder));
    plot->legend->setTextColor(text);
  }
  for (QCPTextElement* t : plot->findChildren<QCPTextElement*>()) t->setTextColor(text);
}

}  // namespace shedder::ui
