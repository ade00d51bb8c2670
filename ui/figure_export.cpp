// Figure export (see figure_export.h). The plot is laid out at its physical size in 96-per-inch logical units
// (what screen fonts assume), then rendered: PNG scaled to the DPI, PDF through QPdfWriter at 96 units per inch,
// SVG through QSvgGenerator with a matching view box, each font name followed by a CSS generic family. Every format
// is rendered into memory or a temporary file and then replaces `path` in one rename (QSaveFile), so a failed or
// cancelled export never leaves a half-written figure in place of a good one. The paper style is applied for the
// export only (PaperStyle below) and undone after it, as FigureLayout undoes its fitting.
#include "figure_export.h"

#include <QBuffer>
#include <QFileInfo>
#include <QRegularExpression>
#include <QSaveFile>
#include <QPageSize>
#include <QPdfWriter>
#include <QSvgGenerator>

#include <cmath>
#include <tuple>
#include <vector>

#include "figure_layout.h"
#include "qcustomplot_include.h"

namespace shedder::ui {

namespace {

constexpr double kLogicalDpi = 96.0;

QSize logicalSize(const QSizeF& cm) {
  return QSize(std::max(1, static_cast<int>(std::lround(cm.width() / 2.54 * kLogicalDpi))),
               std::max(1, static_cast<int>(std::lround(cm.height() / 2.54 * kLogicalDpi))));
}

// The paper style for the duration of an export: fonts (8 pt labels and title, 7 pt ticks, legend and text items;
// serif on request), data lines at the chosen width, thinner axes. Everything changed is put back on destruction.
class PaperStyle {
 public:
  PaperStyle(QCustomPlot* plot, const FigureOptions& o) : plot_(plot) {
    if (o.style != FigureStyle::Paper) return;
    const double px = o.lineWidthPt * kLogicalDpi / 72.0;
    auto font = [&](QFont f, double pt) {
      if (o.serif) f.setFamily(QStringLiteral("DejaVu Serif"));
      f.setPointSizeF(pt);
      return f;
    };
    QList<QCPAxis*> axes = plot->axisRect()->axes();
    for (int i = 0; i < plot->plotLayout()->elementCount(); ++i)  // a colour scale's axis too
      if (auto* cs = qobject_cast<QCPColorScale*>(plot->plotLayout()->elementAt(i))) axes << cs->axis();
    for (QCPAxis* a : axes) {
      axes_.push_back({a, a->labelFont(), a->tickLabelFont(), a->basePen(), a->tickPen(), a->subTickPen()});
      a->setLabelFont(font(a->labelFont(), 8));
      a->setTickLabelFont(font(a->tickLabelFont(), 7));
      QPen base = a->basePen(), tick = a->tickPen(), sub = a->subTickPen();
      base.setWidthF(0.75);
      tick.setWidthF(0.75);
      sub.setWidthF(0.5);
      a->setBasePen(base);
      a->setTickPen(tick);
      a->setSubTickPen(sub);
    }
    if (plot->legend) {
      legendFont_ = plot->legend->font();
      plot->legend->setFont(font(legendFont_, 7));
    }
    for (int i = 0; i < plot->plotLayout()->elementCount(); ++i)
      if (auto* t = qobject_cast<QCPTextElement*>(plot->plotLayout()->elementAt(i))) {
        titles_.push_back({t, t->font()});
        t->setFont(font(t->font(), 9));
      }
    for (int i = 0; i < plot->itemCount(); ++i)
      if (auto* t = qobject_cast<QCPItemText*>(plot->item(i))) {
        items_.push_back({t, t->font()});
        t->setFont(font(t->font(), 7));
      }
    for (int i = 0; i < plot->graphCount(); ++i) {
      QCPGraph* g = plot->graph(i);
      graphs_.push_back({g, g->pen(), g->scatterStyle()});
      QPen pen = g->pen();
      if (pen.style() != Qt::NoPen) pen.setWidthF(pen.style() == Qt::SolidLine ? px : px * 0.75);
      g->setPen(pen);
      QCPScatterStyle sc = g->scatterStyle();
      if (!sc.isNone()) {
        sc.setSize(std::max(3.0, sc.size() * 0.6));
        QPen sp = sc.pen();
        sp.setWidthF(std::min(sp.widthF() > 0 ? sp.widthF() : 1.0, px));
        sc.setPen(sp);
        g->setScatterStyle(sc);
      }
    }
  }
  ~PaperStyle() {
    for (const auto& [a, label, tick, base, tickPen, sub] : axes_) {
      a->setLabelFont(label);
      a->setTickLabelFont(tick);
      a->setBasePen(base);
      a->setTickPen(tickPen);
      a->setSubTickPen(sub);
    }
    if (!axes_.empty() && plot_->legend) plot_->legend->setFont(legendFont_);
    for (const auto& [t, f] : titles_) t->setFont(f);
    for (const auto& [t, f] : items_) t->setFont(f);
    for (const auto& [g, pen, sc] : graphs_) {
      g->setPen(pen);
      g->setScatterStyle(sc);
    }
  }
  PaperStyle(const PaperStyle&) = delete;
  PaperStyle& operator=(const PaperStyle&) = delete;

 private:
  QCustomPlot* plot_;
  std::vector<std::tuple<QCPAxis*, QFont, QFont, QPen, QPen, QPen>> axes_;
  QFont legendFont_;
  std::vector<std::pair<QCPTextElement*, QFont>> titles_;
  std::vector<std::pair<QCPItemText*, QFont>> items_;
  std::vector<std::tuple<QCPGraph*, QPen, QCPScatterStyle>> graphs_;
};

QString csvField(QString s) {
  if (!s.contains(QLatin1Char(',')) && !s.contains(QLatin1Char('"')) && !s.contains(QLatin1Char('\n'))) return s;
  return QLatin1Char('"') + s.replace(QLatin1Char('"'), QStringLiteral("\"\"")) + QLatin1Char('"');
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
      svg.replace(family, o.style == FigureStyle::Paper && o.serif ? QStringLiteral("font-family=\"\\1, serif\"")
                                                                   : QStringLiteral("font-family=\"\\1, sans-serif\""));
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
  {
    const PaperStyle style(plot, o);
    ok = render(plot, out, size, o);
  }
  ok = ok && out.commit();
  plot->replot();  // back to the on-screen layout
  if (!ok || !QFileInfo(path).exists() || QFileInfo(path).size() == 0)
    return QStringLiteral("%1: could not write the figure").arg(path);
  if (o.writeData) {
    const QString csvPath = figureDataPath(path);
    QSaveFile csv(csvPath);
    const QByteArray text = (o.dataCsv.isEmpty() ? plotDataCsv(plot) : o.dataCsv).toUtf8();
    if (!csv.open(QIODevice::WriteOnly) || csv.write(text) != text.size() || !csv.commit())
      return QStringLiteral("%1: could not write the figure's data: %2").arg(csvPath, csv.errorString());
  }
  return {};
}

QString figureDataPath(const QString& figurePath) {
  const QFileInfo fi(figurePath);
  return fi.path() + QLatin1Char('/') + fi.completeBaseName() + QStringLiteral(".csv");
}

QString plotDataCsv(QCustomPlot* plot) {
  QString out = QStringLiteral("series,%1,%2\n").arg(csvField(plot->xAxis->label().isEmpty() ? QStringLiteral("x") : plot->xAxis->label()),
                                                      csvField(plot->yAxis->label().isEmpty() ? QStringLiteral("y") : plot->yAxis->label()));
  for (int i = 0; i < plot->plottableCount(); ++i) {
    QCPAbstractPlottable* p = plot->plottable(i);
    auto* d = p->interface1D();
    if (!p->visible() || !d) continue;
    const QString name = csvField(p->name());
    for (int k = 0; k < d->dataCount(); ++k)
      out += name + QLatin1Char(',') + QString::number(d->dataMainKey(k), 'g', 10) + QLatin1Char(',') +
             QString::number(d->dataMainValue(k), 'g', 10) + QLatin1Char('\n');
  }
  return out;
}

}  // namespace shedder::ui
