// Writing a plot as a figure for reports: PNG (raster at a chosen DPI), PDF and SVG (vector), all at a chosen
// physical size so that fonts and lines come out at their point sizes; the "paper" style (8 pt text, thin lines of a
// chosen width, optionally serif) for a journal column; and the plotted data beside the figure as CSV.
#pragma once

#include <QSizeF>
#include <QString>

class QCustomPlot;

namespace shedder::ui {

enum class FigureFormat { Png, Pdf, Svg };
enum class FigureStyle { Screen, Paper };

struct FigureOptions {
  FigureFormat format = FigureFormat::Png;
  QSizeF sizeCm{16.0, 10.0};  // physical size
  int dpi = 300;              // PNG pixel density (and the resolution recorded in the file)
  QString title;              // PDF/SVG document title
  bool showTitle = true;      // draw the plot's title above it (papers often set it as a caption instead)
  FigureStyle style = FigureStyle::Screen;  // Paper: text at 8 pt (ticks and legend 7 pt), data lines lineWidthPt
  bool serif = false;         // Paper: a serif font (DejaVu Serif), to sit beside a LaTeX body text
  double lineWidthPt = 1.0;   // Paper: width of the data lines, points
  bool writeData = true;      // also write the plotted data as <figure name>.csv beside the figure
  QString dataCsv;            // that CSV's text; "" = every graph's and bar chart's points (plotDataCsv)
};

// The plotted data of `plot` as CSV: series,x,y with the axes' labels in the header, one line per point of every
// visible graph and bar chart.
QString plotDataCsv(QCustomPlot* plot);
// <figure path without its suffix>.csv
QString figureDataPath(const QString& figurePath);

// Format from a file name's suffix (png, pdf, svg); false when it has none of them.
bool figureFormatFromPath(const QString& path, FigureFormat* format);
QString figureSuffix(FigureFormat f);

// Writes `plot` to `path`, laid out for the page (FigureLayout: text fitted, legend where no data is), and its data
// beside it (writeData). Returns "" on success, else a message naming the file and the problem.
QString exportFigure(QCustomPlot* plot, const QString& path, const FigureOptions& options);

}  // namespace shedder::ui
