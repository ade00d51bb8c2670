// Curves of a search run over the components removed (see run_curve_plots.h).
#include "run_curve_plots.h"

#include "formatting.h"
#include "qcustomplot_include.h"

namespace shedder::ui {

namespace {

const QColor kBlue(0x1f, 0x77, 0xb4), kOrange(0xff, 0x7f, 0x0e), kGreen(0x2c, 0xa0, 0x2c), kPurple(0x94, 0x67, 0xbd);

QCPGraph* makeGraph(QCustomPlot* plot, QCPAxis* value, const QString& name, const QColor& color,
                    QCPScatterStyle::ScatterShape shape, Qt::PenStyle style = Qt::SolidLine) {
  QCPGraph* g = plot->addGraph(plot->xAxis, value);
  g->setName(name);
  g->setPen(QPen(color, 2.2, style));
  g->setScatterStyle(QCPScatterStyle(shape, color, Qt::white, 8));
  g->setSelectable(QCP::stSingleData);
  QCPSelectionDecorator* dec = g->selectionDecorator();
  dec->setPen(QPen(color.darker(140), 3));
  return g;
}

// The unpruned model as a dashed grey line across the run's points (a reference, not data of the run).
QCPGraph* makeReference(QCustomPlot* plot, QCPAxis* value) {
  QCPGraph* g = plot->addGraph(plot->xAxis, value);
  g->setName(QStringLiteral("base (unpruned)"));
  g->setPen(QPen(QColor(0x77, 0x77, 0x77), 1.4, Qt::DashLine));
  g->setSelectable(QCP::stNone);
  return g;
}

void setReference(QCPGraph* g, const QVector<double>& x, std::optional<double> value) {
  if (!value || x.isEmpty()) {
    g->data()->clear();
    g->setVisible(false);
    g->removeFromLegend();
    return;
  }
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  g->setData({*lo - 0.3, *hi + 0.3}, {*value, *value}, true);
  g->setVisible(true);
  g->addToLegend();
}

void integerKeys(QCustomPlot* plot) {
  QSharedPointer<QCPAxisTickerFixed> t(new QCPAxisTickerFixed);
  t->setTickStep(1.0);
  t->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
  plot->xAxis->setTicker(t);
  plot->xAxis->setLabel(QStringLiteral("components removed"));
}

// Step of a point index in a graph whose first point is the base.
int stepOf(const RunRecord& run, int index, bool hasBase) { return hasBase ? index - 1 : index; }

QString stepText(const RunRecord& run, int step) {
  if (step < 0)
    return run.initialRemoved.isEmpty() ? QStringLiteral("base model")
                                        : QStringLiteral("start (base + %1 marked)").arg(run.initialRemoved.size());
  for (const StepRecord& s : run.steps)
    if (s.step == step) return QStringLiteral("step %1: removed %2").arg(step + 1).arg(s.id);
  return QStringLiteral("step %1").arg(step + 1);
}

}  // namespace

double runPointX(const RunRecord& run, int step) { return run.initialRemoved.size() + step + 1; }

// --- perplexity -------------------------------------------------------------------------------------------------

PerplexityCurvePlot::PerplexityCurvePlot(QWidget* parent) : PlotView(QStringLiteral("Perplexity vs components removed"), parent) {
  integerKeys(plot());
  plot()->yAxis->setLabel(QStringLiteral("perplexity"));
  calib_ = makeGraph(plot(), plot()->yAxis, QStringLiteral("calibration"), kBlue, QCPScatterStyle::ssCircle);
  heldout_ = makeGraph(plot(), plot()->yAxis, QStringLiteral("held-out"), kOrange, QCPScatterStyle::ssSquare, Qt::DashLine);
  reference_ = makeReference(plot(), plot()->yAxis);
  enableLogScaleToggle(true);
  // Perplexity rises to the right: the legend goes top-left.
  plot()->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
  setHoverFormatter([this](QCPAbstractPlottable* p, int i) {
    if (p == reference_)
      return QStringLiteral("<b>base (unpruned model)</b><br>calibration perplexity %1").arg(formatPpl(*run_.unprunedPpl));
    const bool hasBase = run_.basePpl.has_value();
    const int step = p == heldout_ ? (run_.baseHeldoutPpl ? i - 1 : i) : stepOf(run_, i, hasBase);
    const double v = p->interface1D()->dataMainValue(i);
    QString t = QStringLiteral("<b>%1</b><br>%2 perplexity %3").arg(stepText(run_, step), p->name(), formatPpl(v));
    const bool fromMarks = !run_.initialRemoved.isEmpty();
    if (auto before = run_.pplBefore(0); before && p == calib_ && step >= 0)
      t += QStringLiteral("<br>vs %1: %2").arg(fromMarks ? QStringLiteral("start") : QStringLiteral("base"),
                                               formatDelta(v - *before, *before));
    if (fromMarks && run_.unprunedPpl && p == calib_)
      t += QStringLiteral("<br>vs base (unpruned): %1").arg(formatDelta(v - *run_.unprunedPpl, *run_.unprunedPpl));
    return t;
  });
  setPlaceholder(QStringLiteral("Run a search to see perplexity as components are removed"));
}

void PerplexityCurvePlot::setRun(const RunRecord& run) {
  run_ = run;
  QVector<double> x, y, hx, hy;
  if (run.basePpl) {
    x << runPointX(run, -1);
    y << *run.basePpl;
  }
  if (run.baseHeldoutPpl) {
    hx << runPointX(run, -1);
    hy << *run.baseHeldoutPpl;
  }
  for (const StepRecord& s : run.steps) {
    x << runPointX(run, s.step);
    y << s.ppl;
    if (s.heldoutPpl) {
      hx << runPointX(run, s.step);
      hy << *s.heldoutPpl;
    }
  }
  calib_->setData(x, y, true);
  heldout_->setData(hx, hy, true);
  heldout_->setVisible(!hx.isEmpty());
  if (heldout_->visible()) heldout_->addToLegend();
  else heldout_->removeFromLegend();
  setReference(reference_, x, run.unprunedPpl);
  setPlaceholder(x.isEmpty() ? QStringLiteral("Run a search to see perplexity as components are removed") : QString());
  resetView();
}

// --- parameters and latency ------------------------------------------------------------------------------------

ParamsLatencyPlot::ParamsLatencyPlot(QWidget* parent) : PlotView(QStringLiteral("Parameters and latency vs components removed"), parent) {
  integerKeys(plot());
  plot()->yAxis->setLabel(QStringLiteral("parameters kept (M)"));
  plot()->yAxis2->setVisible(true);
  plot()->yAxis2->setLabel(QStringLiteral("decode latency (ms/token) — not measured"));
  plot()->yAxis2->setRange(0, 1);
  styleAxis(plot()->yAxis2);
  plot()->yAxis2->grid()->setVisible(false);
  plot()->axisRect()->setRangeZoomAxes({plot()->xAxis, plot()->yAxis, plot()->yAxis2});
  plot()->axisRect()->setRangeDragAxes({plot()->xAxis, plot()->yAxis, plot()->yAxis2});
  params_ = makeGraph(plot(), plot()->yAxis, QStringLiteral("parameters kept"), kGreen, QCPScatterStyle::ssDiamond);
  latency_ = makeGraph(plot(), plot()->yAxis2, QStringLiteral("latency"), kPurple, QCPScatterStyle::ssTriangle, Qt::DashLine);
  reference_ = makeReference(plot(), plot()->yAxis);
  latency_->setName(QStringLiteral("latency (not measured yet)"));
  plot()->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignLeft);
  setHoverFormatter([this](QCPAbstractPlottable* p, int i) {
    const double v = p->interface1D()->dataMainValue(i);
    const int step = static_cast<int>(std::lround(p->interface1D()->dataMainKey(i) - runPointX(run_, -1))) - 1;
    if (p == reference_)
      return QStringLiteral("<b>base (unpruned model)</b><br>%1 parameters").arg(formatCountExact(run_.totalParameters));
    if (p == params_) {
      const qint64 kept = static_cast<qint64>(std::llround(v * unit_));
      return QStringLiteral("<b>%1</b><br>parameters kept %2 (%3 % of the model)")
          .arg(stepText(run_, step), formatCountExact(kept))
          .arg(run_.totalParameters ? 100.0 * double(kept) / double(run_.totalParameters) : 0.0, 0, 'f', 2);
    }
    return QStringLiteral("<b>%1</b><br>decode latency %2 ms/token").arg(stepText(run_, step)).arg(v, 0, 'f', 2);
  });
  setPlaceholder(QStringLiteral("Run a search to see parameters kept (latency: tick \"Measure latency per step\")"));
}

void ParamsLatencyPlot::setRun(const RunRecord& run) {
  run_ = run;
  const double total = static_cast<double>(run.totalParameters);
  unit_ = total >= 5e6 ? 1e6 : 1e3;
  plot()->yAxis->setLabel(unit_ == 1e6 ? QStringLiteral("parameters kept (M)") : QStringLiteral("parameters kept (K)"));
  QVector<double> x, y, lx, ly;
  if (run.basePpl || !run.steps.isEmpty()) {
    x << runPointX(run, -1);
    y << (total - static_cast<double>(run.initialParametersRemoved)) / unit_;
    if (run.baseLatencyMs) {
      lx << x.back();
      ly << *run.baseLatencyMs;
    }
  }
  for (const StepRecord& s : run.steps) {
    x << runPointX(run, s.step);
    y << (total - static_cast<double>(s.parametersRemoved)) / unit_;
    if (s.latencyMs) {
      lx << x.back();
      ly << *s.latencyMs;
    }
  }
  params_->setData(x, y, true);
  setReference(reference_, x, run.totalParameters > 0 ? std::optional<double>(total / unit_) : std::nullopt);
  latency_->setData(lx, ly, true);
  const bool hasLatency = !lx.isEmpty();
  latency_->setName(hasLatency ? QStringLiteral("latency") : QStringLiteral("latency (not measured yet)"));
  plot()->yAxis2->setLabel(hasLatency ? QStringLiteral("decode latency (ms/token)")
                                       : QStringLiteral("decode latency (ms/token) — not measured"));
  setPlaceholder(x.isEmpty() ? QStringLiteral("Run a search to see parameters kept (latency: tick \"Measure latency per step\")")
                             : QString());
  resetView();
  if (!hasLatency) {
    plot()->yAxis2->setRange(0, 1);
    replot();
  }
}

// --- accuracy ---------------------------------------------------------------------------------------------------

AccuracyPlot::AccuracyPlot(QWidget* parent) : PlotView(QStringLiteral("Accuracy vs components removed"), parent) {
  integerKeys(plot());
  plot()->yAxis->setLabel(QStringLiteral("accuracy (%)"));
  plot()->yAxis->setRange(0, 100);
  accuracy_ = makeGraph(plot(), plot()->yAxis, QStringLiteral("accuracy"), kGreen, QCPScatterStyle::ssCircle);
  setHoverFormatter([this](QCPAbstractPlottable* p, int i) {
    const int step = static_cast<int>(std::lround(p->interface1D()->dataMainKey(i) - runPointX(run_, -1))) - 1;
    return QStringLiteral("<b>%1</b><br>accuracy %2 % (mean over the tasks)")
        .arg(stepText(run_, step))
        .arg(p->interface1D()->dataMainValue(i), 0, 'f', 2);
  });
  setPlaceholder(QStringLiteral("No accuracy measured: tick \"Demo-task accuracy per step\" in the search panel"));
}

void AccuracyPlot::setRun(const RunRecord& run) {
  run_ = run;
  QVector<double> x, y;
  if (run.baseAccuracy) {
    x << runPointX(run, -1);
    y << 100.0 * *run.baseAccuracy;
  }
  for (const StepRecord& s : run.steps)
    if (s.accuracy) {
      x << runPointX(run, s.step);
      y << 100.0 * *s.accuracy;
    }
  accuracy_->setData(x, y, true);
  setPlaceholder(x.isEmpty() ? QStringLiteral("No accuracy measured: tick \"Demo-task accuracy per step\" in the search panel")
                             : QString());
  if (x.isEmpty()) {
    plot()->xAxis->setRange(0, std::max<double>(4, static_cast<double>(run.steps.size() + run.initialRemoved.size())) + 0.5);
    plot()->yAxis->setRange(0, 100);
    replot();
  } else {
    resetView();
  }
}

}  // namespace shedder::ui
