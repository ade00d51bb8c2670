// The colours of a plot's frame (background, axes, text, grid, legend) for a palette: light on a light desktop or
// theme, dark on a dark one, so that plots follow View ▸ Theme and the desktop; exported figures always use the
// light set (white paper). Data colours (the series) are the same in both.
#pragma once

#include <QColor>

class QCPAxis;
class QCustomPlot;
class QPalette;

namespace shedder::ui {

struct PlotColors {
  QColor background, text, tickText, axis, subTick, grid, subGrid, legendBackground, legendBorder;

  static PlotColors light();
  // light() for a light palette; for a dark one, colours taken from it.
  static PlotColors fromPalette(const QPalette& p);
  void applyTo(QCustomPlot* plot) const;  // every axis, grid, legend and title
  void applyTo(QCPAxis* axis) const;
};

// A palette whose window colour is dark.
bool isDark(const QPalette& p);

}  // namespace shedder::ui
