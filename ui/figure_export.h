// Writing a plot as a figure for reports: PNG (raster at a chosen DPI), PDF and SVG (vector), all at a chosen
// physical size so that fonts and lines come out at their point sizes.
#pragma once

#include <QSizeF>
#include <QString>

class QCustomPlot;

namespace shedder::ui {

enum class FigureFormat { Png, Pdf, Svg };

struct FigureOptions {
  FigureFormat format = FigureFormat::Png;
  QSizeF sizeCm{16.0, 10.0};  // physical size
  int dpi = 300;              // PNG pixel density (and the resolution recorded in the file)
  QString title;              // PDF/SVG document title
  bool showTitle = true;      // draw the plot's title above it (papers often set it as a caption instead)
};

// Format from a file name's suffix (png, pdf, svg); false when it has none of them.
bool figureFormatFromPath(const QString& path, FigureFormat* format);
QString figureSuffix(FigureFormat f);

// Writes `plot` to `path`, laid out for the page (FigureLayout: text fitted, legend where no data is). Returns "" on success, else a message naming the file and the problem.
QString exportFigure(QCustomPlot* plot, const QString& path, const FigureOptions& options);

}  // namespace shedder::ui
