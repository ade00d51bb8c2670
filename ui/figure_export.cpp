// Figure export (see figure_export.h). The plot is laid out at its physical size in 96-per-inch logical units
// (what screen fonts assume), then rendered: PNG scaled to the DPI, PDF through QPdfWriter at 96 units per inch,
// SVG through QSvgGenerator with a matching view box, each font name followed by a CSS generic family. Every format
// is rendered into memory or a temporary file and then replaces `path` in one rename (QSaveFile), so a failed or
// cancelled export never leaves a half-written figure in place of a good one.
#include "figure_export.h"

#include <QBuffer>
#include <QFileInfo>
#include <QRegularExpression>
#include <QSaveFile>
#include <QPageSize>
#include <QPdfWriter>
#include <QSvgGenerator>

#include <cmath>

#include "figure_layout.h"
#include "qcustomplot_include.h"

namespace shedder::ui {

namespace {

constexpr double kLogicalDpi = 96.0;

QSize logicalSize(const QSizeF& cm) {
  return QSize(std::max(1, static_cast<int>(std::lround(cm.width() / 2.54 * kLogicalDpi))),
               std::max(1, static_cast<int>(std::lround(cm.height() / 2.54 * kLogicalDpi))));
}

// Renders the plot, laid out for the page, into `out` (not yet committed).
bool render(QCustomPlot* plot, QSaveFile& out, QSize size, const FigureOptions& o) {
  const FigureLayout layout(plot, size, o.showTitle);
  bool ok = false;
  switch (o.format) {
    case FigureFormat::Png: {
      const QPixmap px = plot->toPixmap(size.width(), size.height(), o.dpi / kLogicalDpi);
      QImage img = px.toImage();
      const int dpm = static_cast<int>(std::lround(o.dpi / 0.0254));  // dots per metre
      img.setDotsPerMeterX(dpm);
      img.setDotsPerMeterY(dpm);
      ok = !img.isNull() && img.save(&out, "PNG");
      break;
    }
    case FigureFormat::Pdf: {
      QPdfWriter writer(&out);
      writer.setCreator(QStringLiteral("Mamba Shedder Workbench"));
      writer.setTitle(o.title);
      writer.setResolution(static_cast<int>(kLogicalDpi));
      writer.setPageMargins(QMarginsF(0, 0, 0, 0));
      writer.setPageSize(QPageSize(QSizeF(o.sizeCm.width() * 10.0, o.sizeCm.height() * 10.0), QPageSize::Millimeter,
                                   QString(), QPageSize::ExactMatch));
      QCPPainter painter;
      if (!painter.begin(&writer)) break;
      painter.setMode(QCPPainter::pmVectorized);
      painter.setMode(QCPPainter::pmNoCaching);
      painter.setWindow(QRect(QPoint(0, 0), size));
      plot->toPainter(&painter, size.width(), size.height());
      ok = painter.end();
      break;
    }
    case FigureFormat::Svg: {
      QBuffer buf;
      buf.open(QIODevice::WriteOnly);
      QSvgGenerator gen;
      gen.setOutputDevice(&buf);
      gen.setTitle(o.title);
      gen.setDescription(QStringLiteral("Mamba Shedder Workbench figure"));
      gen.setResolution(static_cast<int>(kLogicalDpi));
      gen.setSize(size);
      gen.setViewBox(QRect(QPoint(0, 0), size));
      QCPPainter painter;
      if (!painter.begin(&gen)) break;
      painter.setMode(QCPPainter::pmVectorized);
      painter.setMode(QCPPainter::pmNoCaching);
      plot->toPainter(&painter, size.width(), size.height());
      if (!painter.end()) break;
      // font-family="DejaVu Sans" -> font-family="DejaVu Sans, sans-serif": a viewer without the font falls back to a
      // font of the same kind instead of its default serif.
      QString svg = QString::fromUtf8(buf.data());
      static const QRegularExpression family(QStringLiteral("font-family=\"([^\",]*)\""));
      svg.replace(family, QStringLiteral("font-family=\"\\1, sans-serif\""));
      ok = out.write(svg.toUtf8()) > 0;
      break;
    }
  }
  return ok;
}

}  // namespace

bool figureFormatFromPath(const QString& path, FigureFormat* format) {
  const QString s = QFileInfo(path).suffix().toLower();
  if (s == QLatin1String("png")) *format = FigureFormat::Png;
  else if (s == QLatin1String("pdf")) *format = FigureFormat::Pdf;
  else if (s == QLatin1String("svg")) *format = FigureFormat::Svg;
  else return false;
  return true;
}

QString figureSuffix(FigureFormat f) {
  switch (f) {
    case FigureFormat::Png: return QStringLiteral("png");
    case FigureFormat::Pdf: return QStringLiteral("pdf");
    case FigureFormat::Svg: return QStringLiteral("svg");
  }
  return QStringLiteral("png");
}

QString exportFigure(QCustomPlot* plot, const QString& path, const FigureOptions& o) {
  if (!plot) return QStringLiteral("%1: nothing to export").arg(path);
  if (o.sizeCm.width() < 1 || o.sizeCm.height() < 1 || o.sizeCm.width() > 200 || o.sizeCm.height() > 200)
    return QStringLiteral("%1: the figure size must be between 1 and 200 cm").arg(path);
  if (o.dpi < 30 || o.dpi > 2400) return QStringLiteral("%1: the DPI must be between 30 and 2400").arg(path);
  const QFileInfo dir(QFileInfo(path).absolutePath());
  if (!dir.isDir() || !dir.isWritable()) return QStringLiteral("%1: the folder does not exist or is not writable").arg(path);
  const QSize size = logicalSize(o.sizeCm);
  bool ok = false;
  QSaveFile out(path);
  if (!out.open(QIODevice::WriteOnly)) return QStringLiteral("%1: cannot write: %2").arg(path, out.errorString());
  ok = render(plot, out, size, o);
  ok = ok && out.commit();
  plot->replot();  // back to the on-screen layout
  if (!ok || !QFileInfo(path).exists() || QFileInfo(path).size() == 0)
    return QStringLiteral("%1: could not write the figure").arg(path);
  return {};
}

}  // namespace shedder::ui
