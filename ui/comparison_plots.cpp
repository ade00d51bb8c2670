// Overlaid run curves and the importance heatmap (see comparison_plots.h).
#include "comparison_plots.h"

#include <QMouseEvent>
#include <QToolTip>

#include <algorithm>
#include <cmath>

#include "formatting.h"
#include "qcustomplot_include.h"

namespace shedder::ui {

namespace {

QString quantityLabel(CurveQuantity q) {
  switch (q) {
    case CurveQuantity::Perplexity: return QStringLiteral("calibration perplexity");
    case CurveQuantity::HeldoutPerplexity: return QStringLiteral("held-out perplexity");
    case CurveQuantity::Accuracy: return QStringLiteral("mean accuracy");
    case CurveQuantity::Latency: return QStringLiteral("decode latency (ms/token)");
  }
  return {};
}

QString titleOf(CurveQuantity q, CurveAxis a) {
  const QString what = q == CurveQuantity::Perplexity          ? QStringLiteral("Perplexity")
                       : q == CurveQuantity::HeldoutPerplexity ? QStringLiteral("Held-out perplexity")
                       : q == CurveQuantity::Accuracy          ? QStringLiteral("Accuracy")
                                                               : QStringLiteral("Decode latency");
  return what + (a == CurveAxis::ComponentsRemoved ? QStringLiteral(" vs components removed")
                                                   : QStringLiteral(" vs parameters kept"));
}

std::optional<double> valueOf(const VariantRow& r, CurveQuantity q) {
  switch (q) {
    case CurveQuantity::Perplexity: return r.calibPpl;
    case CurveQuantity::HeldoutPerplexity: return r.heldoutPpl;
    case CurveQuantity::Accuracy: {
      if (r.tasks.isEmpty()) return std::nullopt;
      double sum = 0;
      int n = 0;
      for (const TaskScore& t : r.tasks)
        if (t.acc) sum += *t.acc, ++n;
      return n ? std::optional<double>(sum / n) : std::nullopt;
    }
    case CurveQuantity::Latency: return r.decodeMs;
  }
  return std::nullopt;
}

std::optional<double> keyOf(const VariantRow& r, CurveAxis a) {
  if (a == CurveAxis::ComponentsRemoved) return r.removed ? std::optional<double>(*r.removed) : std::nullopt;
  return r.paramsKeptPct;
}

}  // namespace

QColor seriesColor(int i) {
  static const QColor kTab10[] = {QColor(0x1f, 0x77, 0xb4), QColor(0xff, 0x7f, 0x0e), QColor(0x2c, 0xa0, 0x2c),
                                  QColor(0xd6, 0x27, 0x28), QColor(0x94, 0x67, 0xbd), QColor(0x8c, 0x56, 0x4b),
                                  QColor(0xe3, 0x77, 0xc2), QColor(0x7f, 0x7f, 0x7f), QColor(0xbc, 0xbd, 0x22),
                                  QColor(0x17, 0xbe, 0xcf)};
  return kTab10[((i % 10) + 10) % 10];
}

// --- curves -----------------------------------------------------------------------------------------------------

ComparisonCurvePlot::ComparisonCurvePlot(CurveQuantity quantity, CurveAxis axis, QWidget* parent)
    : PlotView(titleOf(quantity, axis), parent), quantity_(quantity), axis_(axis) {
  plot()->yAxis->setLabel(quantityLabel(quantity));
  setAxis(axis);
  if (quantity == CurveQuantity::Perplexity || quantity == CurveQuantity::HeldoutPerplexity) enableLogScaleToggle(true);
  setHoverFormatter([this](QCPAbstractPlottable* p, int i) -> QString {
    const int c = curves_.indexOf(static_cast<QCPGraph*>(p));
    if (c < 0 || i < 0 || i >= pointNames_[c].size()) return {};
    auto* d = p->interface1D();
    return QStringLiteral("<b>%1</b><br>%2: %3<br>%4: %5")
        .arg(pointNames_[c][i], plot()->xAxis->label())
        .arg(d->dataMainKey(i), 0, 'g', 6)
        .arg(plot()->yAxis->label())
        .arg(d->dataMainValue(i), 0, 'g', 6);
  });
  setPlaceholder(QStringLiteral("Add runs to compare (File \u25b8 Add Run to Comparison\u2026)"));
}

void ComparisonCurvePlot::setAxis(CurveAxis axis) {
  axis_ = axis;
  setTitle(titleOf(quantity_, axis));
  plot()->xAxis->setLabel(axis == CurveAxis::ComponentsRemoved ? QStringLiteral("components removed")
                                                               : QStringLiteral("parameters kept (%)"));
  if (axis == CurveAxis::ComponentsRemoved) {
    QSharedPointer<QCPAxisTickerFixed> t(new QCPAxisTickerFixed);
    t->setTickStep(1.0);
    t->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    plot()->xAxis->setTicker(t);
  } else {
    plot()->xAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
  }
  plot()->xAxis->setRangeReversed(axis == CurveAxis::ParametersKept);  // pruning goes to the right
}

QString ComparisonCurvePlot::slug() const {
  const QString q = quantity_ == CurveQuantity::Perplexity          ? QStringLiteral("perplexity")
                    : quantity_ == CurveQuantity::HeldoutPerplexity ? QStringLiteral("heldout_perplexity")
                    : quantity_ == CurveQuantity::Accuracy          ? QStringLiteral("accuracy")
                                                                    : QStringLiteral("latency");
  return q + (axis_ == CurveAxis::ComponentsRemoved ? QStringLiteral("_vs_removed") : QStringLiteral("_vs_parameters"));
}

void ComparisonCurvePlot::setData(const QVector<ComparisonSource>& sources, const QStringList& picked) {
  plot()->clearPlottables();
  curves_.clear();
  pointNames_.clear();
  const QVector<VariantRow> rows = variantRows(sources);
  QVector<double> px, py;
  for (int s = 0; s < sources.size(); ++s) {
    if (sources[s].imported) continue;
    struct Point {
      double x, y;
      QString name;
    };
    QVector<Point> points;
    for (const VariantRow& r : rows) {
      if (r.source != s) continue;
      const auto k = keyOf(r, axis_);
      const auto v = valueOf(r, quantity_);
      if (!k || !v || !std::isfinite(*v)) continue;
      points.push_back({*k, *v, r.variant + (r.removedId.isEmpty() ? QString() : QStringLiteral(" (removed %1)").arg(r.removedId))});
      if (picked.contains(r.key)) px << *k, py << *v;
    }
    if (points.isEmpty()) continue;
    // A graph keeps its points in key order (parameters kept fall as the steps go): the names follow the same order.
    std::stable_sort(points.begin(), points.end(), [](const Point& a, const Point& b) { return a.x < b.x; });
    QVector<double> x, y;
    QStringList names;
    for (const Point& p : points) x << p.x, y << p.y, names << p.name;
    QCPGraph* g = plot()->addGraph();
    const QColor c = seriesColor(s);
    g->setName(sources[s].label);
    g->setPen(QPen(c, 2.0));
    g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, c, Qt::white, 6));
    g->setData(x, y, true);
    g->setSelectable(QCP::stSingleData);
    curves_ << g;
    pointNames_ << names;
  }
  picked_ = plot()->addGraph();
  picked_->setName(QStringLiteral("picked variants"));
  picked_->setLineStyle(QCPGraph::lsNone);
  picked_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor(0x22, 0x22, 0x22), 1.6), Qt::NoBrush, 11));
  picked_->setSelectable(QCP::stNone);
  picked_->setData(px, py, false);
  if (px.isEmpty()) picked_->removeFromLegend();
  plot()->legend->setVisible(!curves_.isEmpty());
  // Pruning moves perplexity and latency up to the right and accuracy down: the legend goes where they are not.
  plot()->axisRect()->insetLayout()->setInsetAlignment(
      0, (quantity_ == CurveQuantity::Accuracy ? Qt::AlignRight : Qt::AlignLeft) | Qt::AlignTop);
  setPlaceholder(curves_.isEmpty() ? (sources.isEmpty() ? QStringLiteral("Add runs to compare (File \u25b8 Add Run to Comparison\u2026)")
                                                         : QStringLiteral("No run here has %1").arg(quantityLabel(quantity_)))
                                   : QString());
  resetView();
  plot()->replot();  // lays the legend out for its new entries before the queued replot draws it
  replot();
}

// --- heatmap ----------------------------------------------------------------------------------------------------

namespace {

// Component names on the heatmap's rows: as many as the axis has room for (QCustomPlot's tick count adapts to the
// range; ticks fall on whole rows only), so that 400 attention-head groups do not print 400 overlapping names.
class ComponentTicker : public QCPAxisTicker {
 public:
  explicit ComponentTicker(QStringList names) : names_(std::move(names)) { setTickCount(10); }

 protected:
  double getTickStep(const QCPRange& range) override {
    return std::max(1.0, std::ceil(QCPAxisTicker::getTickStep(range)));
  }
  QString getTickLabel(double tick, const QLocale&, QChar, int) override {
    const long r = std::lround(tick);
    return std::abs(tick - static_cast<double>(r)) < 1e-6 && r >= 0 && r < names_.size() ? names_[static_cast<int>(r)]
                                                                                          : QString();
  }

 private:
  QStringList names_;
};

// Above this many rows or steps the removal order no longer fits in the cells as numbers: removed cells get a mark
// (the order is in the tooltip and in the CSV).
constexpr int kMaxNumberedRows = 48, kMaxNumberedSteps = 24;

}  // namespace

HeatmapPlot::HeatmapPlot(QWidget* parent) : PlotView(QStringLiteral("Importance heatmap"), parent) {
  plot()->xAxis->setLabel(QStringLiteral("search step"));
  plot()->yAxis->setLabel(QStringLiteral("component"));
  plot()->yAxis->setRangeReversed(true);  // the first layer on top
  map_ = new QCPColorMap(plot()->xAxis, plot()->yAxis);
  map_->setName(QStringLiteral("candidate scores"));
  map_->setInterpolate(false);
  map_->setTightBoundary(false);  // cells of width 1 around each step and component
  QCPColorGradient g;  // viridis, from dark (cheap to remove) to yellow (costly)
  g.setColorStopAt(0.0, QColor(0x44, 0x01, 0x54));
  g.setColorStopAt(0.25, QColor(0x3b, 0x52, 0x8b));
  g.setColorStopAt(0.5, QColor(0x21, 0x91, 0x8c));
  g.setColorStopAt(0.75, QColor(0x5e, 0xc9, 0x62));
  g.setColorStopAt(1.0, QColor(0xfd, 0xe7, 0x25));
  g.setNanHandling(QCPColorGradient::nhTransparent);
  scale_ = new QCPColorScale(plot());
  scale_->setType(QCPAxis::atRight);
  plot()->plotLayout()->addElement(plot()->plotLayout()->rowCount() - 1, 1, scale_);
  map_->setColorScale(scale_);
  scale_->setGradient(g);  // the scale passes its gradient to the map
  styleAxis(scale_->axis());
  auto* group = new QCPMarginGroup(plot());
  plot()->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
  scale_->setMarginGroup(QCP::msBottom | QCP::msTop, group);
  // Candidates the search stopped early: their cell holds a lower bound, marked with a small grey cross.
  bounds_ = new QCPGraph(plot()->xAxis, plot()->yAxis);
  bounds_->setName(QStringLiteral("\u2265: lower bound (stopped early)"));
  bounds_->setLineStyle(QCPGraph::lsNone);
  bounds_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCross, QPen(QColor(0xbb, 0xbb, 0xbb), 1.2), Qt::NoBrush, 6));
  bounds_->setSelectable(QCP::stNone);
  removed_ = new QCPGraph(plot()->xAxis, plot()->yAxis);
  removed_->setName(QStringLiteral("removed at this step"));
  removed_->setLineStyle(QCPGraph::lsNone);
  removed_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssSquare, QPen(Qt::white, 0.8), QColor(0xd6, 0x27, 0x28), 5));
  removed_->setSelectable(QCP::stNone);
  plot()->legend->setVisible(false);
  setPlaceholder(QStringLiteral("Run a search: its candidate scores appear here"));
  connect(plot(), &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) {
    if (!hasData()) return;
    const int col = static_cast<int>(std::lround(plot()->xAxis->pixelToCoord(e->position().x()))) - 1;
    const int row = static_cast<int>(std::lround(plot()->yAxis->pixelToCoord(e->position().y())));
    const QString t = cellText(row, col);
    if (t.isEmpty()) QToolTip::hideText();
    else QToolTip::showText(e->globalPosition().toPoint(), t, plot());
  });
}

bool HeatmapPlot::hasData() const { return !data_.components.isEmpty() && data_.steps > 0; }

QString HeatmapPlot::figureDataCsv() const { return heatmapCsv(data_); }

QString HeatmapPlot::cellText(int row, int col) const {
  if (row < 0 || row >= data_.components.size() || col < 0 || col >= data_.steps) return {};
  const double v = data_.value[row][col];
  QString t = QStringLiteral("<b>%1</b>, step %2<br>").arg(data_.components[row]).arg(col + 1);
  if (!std::isfinite(v)) return t + QStringLiteral("already removed");
  t += QStringLiteral("%1: %2%3").arg(data_.valueLabel, data_.lowerBound[row][col] ? QStringLiteral("\u2265 ") : QString())
           .arg(v, 0, 'g', 5);
  if (data_.removedAt[row] == col) t += QStringLiteral("<br>removed at this step");
  return t;
}

void HeatmapPlot::setRun(const RunRecord& run, const QString& label) {
  data_ = heatmapData(run);
  for (QCPItemText* t : orderLabels_) plot()->removeItem(t);  // only ours: PlotView owns its placeholder item
  orderLabels_.clear();
  const int rows = data_.components.size(), cols = data_.steps;
  setPlaceholder(hasData() ? QString() : QStringLiteral("Run a search: its candidate scores appear here"));
  map_->data()->setSize(std::max(cols, 1), std::max(rows, 1));
  map_->data()->setRange(QCPRange(1, std::max(cols, 1)), QCPRange(0, std::max(rows - 1, 0)));
  std::vector<double> positive;
  double lo = 0, hi = 0;
  QVector<double> bx, by;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const double v = data_.value[r][c];
      map_->data()->setCell(c, r, v);
      if (!std::isfinite(v)) continue;
      if (data_.lowerBound[r][c] && data_.removedAt[r] != c) bx << c + 1, by << r;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      if (v > 0) positive.push_back(v);
    }
  upper_ = hi > 0 ? hi : 1;
  if (!positive.empty()) {
    std::nth_element(positive.begin(), positive.begin() + static_cast<std::ptrdiff_t>(positive.size() / 2), positive.end());
    const double median = positive[positive.size() / 2];
    if (hi > 50 * median) upper_ = 50 * median;
  }
  map_->setDataRange(QCPRange(lo, upper_));
  bounds_->setData(bx, by);
  // The legend says what the crosses are, when there are any (under the plot, out of the cells' way).
  plot()->legend->setVisible(!bx.isEmpty());
  if (bx.isEmpty()) bounds_->removeFromLegend();
  else bounds_->addToLegend();
  map_->removeFromLegend();
  plot()->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignRight | Qt::AlignBottom);
  scale_->axis()->setLabel(data_.valueLabel + (upper_ < hi ? QStringLiteral(" (clipped at %1)").arg(upper_, 0, 'g', 3) : QString()));
  // Component names as tick labels (as many as fit), steps as integers.
  plot()->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new ComponentTicker(data_.components)));
  QSharedPointer<QCPAxisTickerFixed> xt(new QCPAxisTickerFixed);
  xt->setTickStep(1.0);
  xt->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
  plot()->xAxis->setTicker(xt);
  // The removal order written into the removed cells; a large map marks them instead.
  const bool numbered = rows <= kMaxNumberedRows && cols <= kMaxNumberedSteps;
  QVector<double> rx, ry;
  for (int r = 0; r < rows; ++r)
    if (data_.removedAt[r] >= 0 && !numbered) rx << data_.removedAt[r] + 1, ry << r;
  removed_->setData(rx, ry);
  if (rx.isEmpty()) {
    removed_->removeFromLegend();
  } else {
    removed_->addToLegend();
    plot()->legend->setVisible(true);
  }
  for (int r = 0; r < rows && numbered; ++r) {
    const int c = data_.removedAt[r];
    if (c < 0) continue;
    auto* t = new QCPItemText(plot());
    t->position->setCoords(c + 1, r);
    t->setText(QString::number(c + 1));
    t->setColor(Qt::white);
    QFont f = plot()->font();
    f.setBold(true);
    f.setPointSizeF(std::max(6.0, std::min(9.0, 180.0 / std::max(rows, cols))));
    t->setFont(f);
    t->setPen(QPen(Qt::white, 1.2));
    t->setPadding(QMargins(2, 0, 2, 0));
    t->setBrush(QColor(0xd6, 0x27, 0x28));
    t->setClipToAxisRect(true);
    orderLabels_ << t;
  }
  if (auto* title = qobject_cast<QCPTextElement*>(plot()->plotLayout()->element(0, 0)))
    title->setText(label.isEmpty() ? QStringLiteral("Importance heatmap") : QStringLiteral("Importance heatmap: %1").arg(label));
  resetView();
  replot();
}

void HeatmapPlot::resetView() {
  const int rows = data_.components.size(), cols = data_.steps;
  for (QCPAxis* a : {plot()->xAxis, plot()->yAxis}) a->setTickLabels(hasData());
  plot()->xAxis->setRange(0.5, std::max(cols, 1) + 0.5);
  plot()->yAxis->setRange(-0.5, std::max(rows, 1) - 0.5);
  replot();
}

}  // namespace shedder::ui
