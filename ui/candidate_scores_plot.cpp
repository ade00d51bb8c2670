// Per-step candidate scores as bars (see candidate_scores_plot.h).
#include "candidate_scores_plot.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>

#include <algorithm>
#include <vector>

#include "formatting.h"
#include "qcustomplot_include.h"

namespace shedder::ui {

CandidateScoresPlot::CandidateScoresPlot(QWidget* parent) : PlotView(QStringLiteral("Candidate scores per step"), parent) {
  stepBox_ = new QComboBox(this);
  stepBox_->setToolTip(QStringLiteral("Which search step's candidates to show"));
  stepBox_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  toolRow()->insertWidget(0, new QLabel(QStringLiteral("Step:"), this));
  toolRow()->insertWidget(1, stepBox_);
  connect(stepBox_, qOverload<int>(&QComboBox::activated), this, [this](int i) {
    followLatest_ = i == stepBox_->count() - 1;
    showStep(stepBox_->itemData(i).toInt());
  });

  bars_ = new QCPBars(plot()->xAxis, plot()->yAxis);
  bars_->setName(QStringLiteral("candidates"));
  bars_->setPen(QPen(QColor(0x1f, 0x77, 0xb4).darker(120), 1));
  bars_->setBrush(QColor(0x1f, 0x77, 0xb4, 190));
  bars_->setWidth(0.7);
  bars_->setSelectable(QCP::stSingleData);
  picked_ = new QCPBars(plot()->xAxis, plot()->yAxis);
  picked_->setName(QStringLiteral("removed (lowest score)"));
  picked_->setPen(QPen(QColor(0xd6, 0x27, 0x28).darker(120), 1));
  picked_->setBrush(QColor(0xd6, 0x27, 0x28, 210));
  picked_->setWidth(0.7);
  picked_->setSelectable(QCP::stSingleData);
  // Candidates the search stopped early (their perplexity is at least the bar): hollow, hatched bars.
  bounds_ = new QCPBars(plot()->xAxis, plot()->yAxis);
  bounds_->setName(QStringLiteral("stopped early (at least)"));
  bounds_->setPen(QPen(QColor(0x1f, 0x77, 0xb4).darker(120), 1, Qt::DashLine));
  bounds_->setBrush(QBrush(QColor(0x1f, 0x77, 0xb4, 120), Qt::BDiagPattern));
  bounds_->setWidth(0.7);
  bounds_->setSelectable(QCP::stSingleData);
  plot()->xAxis->setLabel(QStringLiteral("candidate (layer)"));
  plot()->xAxis->grid()->setVisible(false);
  plot()->yAxis->setLabel(QStringLiteral("perplexity increase if removed"));
  plot()->yAxis->grid()->setZeroLinePen(QPen(QColor(0x66, 0x66, 0x66), 1));
  setHoverFormatter([this](QCPAbstractPlottable* p, int i) -> QString {
    if (shown_ < 0 || (p != bars_ && p != picked_ && p != bounds_)) return {};
    const double key = p->interface1D()->dataMainKey(i);
    const StepRecord* step = nullptr;
    for (const StepRecord& s : run_.steps)
      if (s.step == shown_) step = &s;
    if (!step) return {};
    const int k = static_cast<int>(std::lround(key));
    if (k < 0 || k >= step->candidates.size()) return {};
    const CandidateRecord& c = step->candidates[k];
    const bool ppl = run_.settings.metric == QLatin1String("ppl");
    QString t = QStringLiteral("<b>%1</b>%2<br>%3 %4")
                    .arg(c.id, c.id == step->id ? QStringLiteral(" — removed at this step") : QString(),
                         ppl ? (c.lowerBound ? QStringLiteral("perplexity if removed at least") : QStringLiteral("perplexity if removed"))
                             : QStringLiteral("block influence (1 − cos)"),
                         ppl ? formatPpl(c.score) : QString::number(c.score, 'f', 5));
    if (ppl)
      if (auto b = run_.pplBefore(shown_))
        t += QStringLiteral("<br>cost: %1%2 over %3")
                 .arg(c.lowerBound ? QStringLiteral("at least ") : QString(), formatDelta(c.score - *b, *b), formatPpl(*b));
    if (c.lowerBound)
      t += QStringLiteral("<br><i>stopped early: its running perplexity already exceeded the best candidate's, so it "
                          "could not be removed (search with “Score every candidate” for its exact value)</i>");
    return t;
  });
  setPlaceholder(QStringLiteral("Each search step scores every remaining candidate; the scores appear here"));
}

void CandidateScoresPlot::setRun(const RunRecord& run) {
  run_ = run;
  stepBox_->clear();
  for (const StepRecord& s : run.steps) stepBox_->addItem(QStringLiteral("%1 (%2)").arg(s.step + 1).arg(s.id), s.step);
  if (run.steps.isEmpty()) {
    shown_ = -1;
  } else {
    bool exists = false;
    for (const StepRecord& s : run.steps) exists |= s.step == shown_;
    if (followLatest_ || !exists) shown_ = run.steps.back().step;
  }
  stepBox_->setCurrentIndex(stepBox_->findData(shown_));
  rebuild();
}

void CandidateScoresPlot::showStep(int step) {
  shown_ = step;
  stepBox_->setCurrentIndex(stepBox_->findData(step));
  rebuild();
}

void CandidateScoresPlot::rebuild() {
  const StepRecord* step = nullptr;
  for (const StepRecord& s : run_.steps)
    if (s.step == shown_) step = &s;
  const bool ppl = run_.settings.metric == QLatin1String("ppl");
  // Metric ppl: the cost of a candidate is the perplexity increase its removal causes at this step.
  std::optional<double> before = step && ppl ? run_.pplBefore(step->step) : std::nullopt;
  QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
  QVector<double> k, v, pk, pv, bk, bv;
  if (step) {
    for (int i = 0; i < step->candidates.size(); ++i) {
      const CandidateRecord& c = step->candidates[i];
      QString label = c.id;
      label.remove(QStringLiteral("layers."));
      ticker->addTick(i, label);
      const double y = before ? c.score - *before : c.score;
      if (c.id == step->id) {
        pk << i;
        pv << y;
      } else if (c.lowerBound) {
        bk << i;
        bv << y;
      } else {
        k << i;
        v << y;
      }
    }
  }
  plot()->xAxis->setTicker(ticker);
  const QString what = run_.settings.granularity == QLatin1String("ssm") ? QStringLiteral("candidate SSM (layer)")
                                                                         : QStringLiteral("candidate block (layer)");
  plot()->xAxis->setLabel(step ? QStringLiteral("%1 at step %2, where %3 was removed").arg(what).arg(step->step + 1).arg(step->id)
                               : what);
  plot()->xAxis->setTickLabelRotation(step && step->candidates.size() > 16 ? 60 : 0);
  bars_->setData(k, v, true);
  picked_->setData(pk, pv, true);
  bounds_->setData(bk, bv, true);
  bounds_->setVisible(!bk.isEmpty());  // and out of the legend when there are none
  if (bk.isEmpty()) bounds_->removeFromLegend();
  else if (!plot()->legend->hasItemWithPlottable(bounds_)) bounds_->addToLegend();
  plot()->yAxis->setLabel(!ppl ? QStringLiteral("block influence (1 − cos)")
                               : before ? QStringLiteral("perplexity increase if removed")
                                        : QStringLiteral("perplexity if removed"));
  setPlaceholder(step ? QString() : QStringLiteral("Each search step scores every remaining candidate; the scores appear here"));
  resetView();
  if (step) {
    // Bars grow from zero: keep zero in view so their lengths compare honestly.
    QCPRange r = plot()->yAxis->range();
    plot()->yAxis->setRange(std::min(0.0, r.lower), std::max(0.0, r.upper));
    plot()->xAxis->setRange(-0.7, step->candidates.size() - 0.3);
    clipOutliers();
    replot();
  }
}

void CandidateScoresPlot::clipOutliers() {
  for (QCPItemText* t : clipLabels_) plot()->removeItem(t);
  clipLabels_.clear();
  QVector<std::pair<double, double>> bars;  // (key, value) of every bar
  for (QCPBars* b : {bars_, picked_, bounds_})
    for (auto it = b->data()->constBegin(); it != b->data()->constEnd(); ++it) bars.push_back({it->key, it->value});
  if (bars.size() < 3) return;
  // The tree's rule for its log bars: a value over 50 times the median distance from the smallest one.
  double lo = 0;
  for (const auto& b : bars) lo = std::min(lo, b.second);
  std::vector<double> d;
  for (const auto& b : bars) d.push_back(b.second - lo);
  std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(d.size() / 2), d.end());
  const double median = d[d.size() / 2];
  if (!(median > 0)) return;
  double top = 0;
  for (const auto& b : bars)
    if (b.second - lo <= 50 * median) top = std::max(top, b.second);
  top = top * 1.35;
  bool any = false;
  for (const auto& b : bars) {
    if (b.second <= top) continue;
    any = true;
    auto* t = new QCPItemText(plot());
    t->position->setCoords(b.first, top);
    t->setPositionAlignment(Qt::AlignHCenter | Qt::AlignTop);
    t->setText(QStringLiteral("▲ %1").arg(b.second, 0, 'g', 5));
    t->setFont(plot()->xAxis->tickLabelFont());
    t->setColor(plot()->xAxis->tickLabelColor());
    t->setSelectable(false);
    clipLabels_ << t;
  }
  if (!any) return;
  plot()->yAxis->setRangeUpper(top);
  plot()->yAxis->setLabel(plot()->yAxis->label() + QStringLiteral(" (cut; Fit shows all)"));
}

}  // namespace shedder::ui
