// GUI plots and exports without the engine: the curve and candidate plots show every point of a run (and fit
// them in view), figures export as valid PNG / PDF / SVG at the chosen size and DPI, bad targets give a clear
// message, and run records / project files survive their JSON and CSV forms.
#include <QtTest/QtTest>
#include <QtWidgets/QtWidgets>
#include <QSvgRenderer>

#include "candidate_scores_plot.h"
#include "confirm.h"
#include "figure_export.h"
#include "figure_export_dialog.h"
#include "figure_layout.h"
#include "last_folders.h"
#include "plot_colors.h"
#include "project_file.h"
#include "qcustomplot_include.h"
#include "run_curve_plots.h"
#include "run_record.h"
#include "theme.h"
#include "support/gui_test_support.h"
#include "support/test_support.h"

using namespace shedder::ui;

namespace {

// A 3-step block search record with held-out perplexities and candidate scores.
RunRecord sampleRun() {
  RunRecord r;
  r.settings.granularity = QStringLiteral("block");
  r.settings.metric = QStringLiteral("ppl");
  r.modelPath = QStringLiteral("/models/m");
  r.totalParameters = 1000000;
  r.basePpl = 6.0;
  r.baseHeldoutPpl = 7.0;
  const double ppl[] = {6.2, 6.5, 7.3}, held[] = {7.2, 7.8, 10.3};
  const int picked[] = {7, 5, 6};
  for (int s = 0; s < 3; ++s) {
    StepRecord st;
    st.step = s;
    st.index = picked[s];
    st.id = QStringLiteral("layers.%1").arg(picked[s]);
    st.ppl = st.score = ppl[s];
    st.heldoutPpl = held[s];
    st.parametersRemoved = 120000 * (s + 1);
    st.parametersRemovedPct = 12.0 * (s + 1);
    st.seconds = 1.5;
    // Candidates: the layers not removed yet; the picked one scores lowest.
    for (int c = 0, pos = 0; c < 8; ++c) {
      bool gone = false;
      for (int k = 0; k < s; ++k) gone |= picked[k] == c;
      if (gone) continue;
      st.candidates.push_back({QStringLiteral("layers.%1").arg(c), c, c == picked[s] ? ppl[s] : ppl[s] + 0.1 * (pos + 1)});
      ++pos;
    }
    r.steps.push_back(st);
  }
  r.state = QStringLiteral("finished");
  r.stopReason = QStringLiteral("steps");
  return r;
}

bool inView(QCPGraph* g) {
  for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it)
    if (!g->keyAxis()->range().contains(it->key) || !g->valueAxis()->range().contains(it->value)) return false;
  return true;
}

QString tempDir() { return QString::fromStdString(shedder::test::make_temp_dir("gui-figures")); }

}  // namespace

class TestGuiFigures : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() { shedder::test::init_gui_test_environment(); }

  void perplexity_plot_shows_and_fits_every_point() {
    PerplexityCurvePlot p;
    p.resize(500, 350);
    p.setRun(sampleRun());
    QCOMPARE(p.calibrationGraph()->dataCount(), 4);  // base + 3 steps
    QCOMPARE(p.heldoutGraph()->dataCount(), 4);
    QCOMPARE(p.calibrationGraph()->data()->at(0)->key, 0.0);
    QCOMPARE(p.calibrationGraph()->data()->at(3)->value, 7.3);
    QCOMPARE(p.heldoutGraph()->data()->at(3)->value, 10.3);
    QVERIFY(inView(p.calibrationGraph()));
    QVERIFY2(inView(p.heldoutGraph()), "the held-out curve's last point must be in view");
    // An initial removal set shifts the x axis: the base sits at the number of components removed before the search.
    RunRecord r = sampleRun();
    r.initialRemoved = QStringList{QStringLiteral("layers.0"), QStringLiteral("layers.1.ssm")};
    p.setRun(r);
    QCOMPARE(p.calibrationGraph()->data()->at(0)->key, 2.0);
    QCOMPARE(p.calibrationGraph()->data()->at(3)->key, 5.0);
    // The unpruned model: a dashed reference line across the run, in the legend as "base (unpruned)".
    QVERIFY(!p.referenceGraph()->visible());
    r.unprunedPpl = 5.5;
    p.setRun(r);
    QVERIFY(p.referenceGraph()->visible());
    QCOMPARE(p.referenceGraph()->data()->at(0)->value, 5.5);
    QVERIFY(p.referenceGraph()->data()->at(0)->key < 2.0 && p.referenceGraph()->data()->at(1)->key > 5.0);
    QCOMPARE(p.referenceGraph()->pen().style(), Qt::DashLine);
    QVERIFY(p.plot()->legend->hasItemWithPlottable(p.referenceGraph()));
  }

  void parameters_plot_and_latency_axis() {
    ParamsLatencyPlot p;
    p.setRun(sampleRun());
    QCOMPARE(p.parametersGraph()->dataCount(), 4);
    QCOMPARE(p.parametersGraph()->data()->at(0)->value, 1000.0);  // K units below 5 M parameters
    QCOMPARE(p.parametersGraph()->data()->at(3)->value, 640.0);
    QCOMPARE(p.referenceGraph()->data()->at(0)->value, 1000.0);  // the unpruned model's parameters
    QCOMPARE(p.latencyGraph()->dataCount(), 0);
    QVERIFY(p.plot()->yAxis2->visible());
    QVERIFY(p.plot()->yAxis2->label().contains(QStringLiteral("not measured")));
    // Latency from the evaluation work fills in on the right axis.
    RunRecord r = sampleRun();
    r.baseLatencyMs = 10.0;
    r.steps[0].latencyMs = 9.0;
    r.steps[2].latencyMs = 7.5;
    p.setRun(r);
    QCOMPARE(p.latencyGraph()->dataCount(), 3);
    QCOMPARE(p.latencyGraph()->valueAxis(), p.plot()->yAxis2);
    QCOMPARE(p.plot()->yAxis2->label(), QStringLiteral("decode latency (ms/token)"));
    QVERIFY(inView(p.latencyGraph()));
  }

  void accuracy_plot_fills_when_measured() {
    AccuracyPlot p;
    p.setRun(sampleRun());
    QCOMPARE(p.accuracyGraph()->dataCount(), 0);
    RunRecord r = sampleRun();
    r.baseAccuracy = 0.61;
    r.steps[1].accuracy = 0.55;
    p.setRun(r);
    QCOMPARE(p.accuracyGraph()->dataCount(), 2);
    QCOMPARE(p.accuracyGraph()->data()->at(1)->value, 55.0);
  }

  void candidate_plot_costs_and_step_selection() {
    CandidateScoresPlot p;
    p.setRun(sampleRun());
    QCOMPARE(p.shownStep(), 2);  // follows the latest step
    // Step 3 (index 2) had 6 candidates (layers 0-4 and 6); layers.6, the 6th bar, was removed. Bars are the
    // perplexity increase over the perplexity before the step (6.5).
    QCOMPARE(p.candidateBars()->dataCount() + p.pickedBars()->dataCount(), 6);
    QCOMPARE(p.pickedBars()->dataCount(), 1);
    QCOMPARE(p.pickedBars()->data()->at(0)->key, 5.0);
    QVERIFY(qAbs(p.pickedBars()->data()->at(0)->value - (7.3 - 6.5)) < 1e-9);
    QVERIFY(qAbs(p.candidateBars()->data()->at(0)->value - (7.3 + 0.1 - 6.5)) < 1e-9);
    p.showStep(0);
    QCOMPARE(p.candidateBars()->dataCount() + p.pickedBars()->dataCount(), 8);
    QCOMPARE(p.pickedBars()->data()->at(0)->key, 7.0);
    QVERIFY(qAbs(p.candidateBars()->data()->at(0)->value - (6.2 + 0.1 - 6.0)) < 1e-9);  // layers.0
    QVERIFY(p.plot()->yAxis->range().contains(0.0));
    QCOMPARE(p.boundBars()->dataCount(), 0);
    QVERIFY(!p.plot()->legend->hasItemWithPlottable(p.boundBars()));
    QVERIFY(p.clipLabels().isEmpty());  // no outlier: nothing cut

    // One catastrophic candidate (a Zamba2 layers.0 at +10437): the axis stops above the others, that bar says its
    // value, and Fit shows it whole.
    RunRecord r = sampleRun();
    r.steps[0].candidates[2].score = 6.0 + 10437.0;
    p.setRun(r);
    p.showStep(0);
    QCOMPARE(p.clipLabels().size(), 1);
    QVERIFY2(p.clipLabels().front()->text().contains(QStringLiteral("10437")), qPrintable(p.clipLabels().front()->text()));
    QVERIFY(p.plot()->yAxis->range().upper < 10.0);
    QVERIFY(p.plot()->yAxis->range().upper > 0.8 * 1.2);  // every other bar whole: the largest is +0.8
    QVERIFY(p.plot()->yAxis->label().contains(QStringLiteral("cut")));
    p.resetView();
    QVERIFY(p.plot()->yAxis->range().upper > 10437.0);
  }

  // Candidates the search stopped early are drawn apart, as lower bounds, with a legend entry and an "at least" hover.
  void candidate_plot_draws_lower_bounds() {
    RunRecord r = sampleRun();
    r.steps[2].candidates[0].lowerBound = true;  // layers.0 at step 3
    r.steps[2].candidates[1].lowerBound = true;  // layers.1
    const RunRecord back = RunRecord::fromJson(r.toJson());
    QVERIFY(back.steps[2].candidates[0].lowerBound && !back.steps[2].candidates[2].lowerBound);
    CandidateScoresPlot p;
    p.setRun(back);
    QCOMPARE(p.boundBars()->dataCount(), 2);
    QCOMPARE(p.candidateBars()->dataCount(), 3);
    QCOMPARE(p.pickedBars()->dataCount(), 1);
    QCOMPARE(p.boundBars()->data()->at(1)->key, 1.0);
    QVERIFY(qAbs(p.boundBars()->data()->at(1)->value - (7.3 + 0.2 - 6.5)) < 1e-9);
    QVERIFY(p.plot()->legend->hasItemWithPlottable(p.boundBars()));
    QVERIFY(p.hoverText(p.boundBars(), 0).contains(QStringLiteral("at least")));
    p.showStep(0);  // no bounds at step 1
    QCOMPARE(p.boundBars()->dataCount(), 0);
    QVERIFY(!p.plot()->legend->hasItemWithPlottable(p.boundBars()));
  }

  // Every plot, at every size preset, with and without its title: the exported PNG has no ink on its edge, the
  // title and axis labels fit the page, and the legend, laid out for that page, covers no data point, line
  // or bar.
  void every_preset_fits_the_page() {
    RunRecord r = sampleRun();
    for (int s = 0; s < 3; ++s) {
      r.steps[s].latencyMs = 3.0 - 0.4 * s;
      r.steps[s].accuracy = 0.6 - 0.05 * s;
      r.steps[s].taskAccuracy[QStringLiteral("arc_easy")] = *r.steps[s].accuracy;
    }
    r.baseLatencyMs = 3.4;
    r.baseAccuracy = 0.62;
    PerplexityCurvePlot ppl;
    ParamsLatencyPlot params;
    CandidateScoresPlot cand;
    AccuracyPlot acc;
    const QList<PlotView*> plots = {&ppl, &params, &cand, &acc};
    for (PlotView* p : plots) {
      p->resize(600, 400);
      p->show();
    }
    ppl.setRun(r);
    params.setRun(r);
    cand.setRun(r);
    acc.setRun(r);
    const QString dir = tempDir();
    QStringList placements;
    for (PlotView* p : plots)
      for (const QSizeF cm : {QSizeF(8.5, 6.0), QSizeF(16.0, 10.0), QSizeF(25.0, 14.0)})
        for (const bool title : {true, false}) {
          const QString what = QStringLiteral("%1 at %2 x %3 cm%4").arg(p->title()).arg(cm.width()).arg(cm.height())
                                   .arg(title ? QString() : QStringLiteral(" without title"));
          FigureOptions o;
          o.sizeCm = cm;
          o.dpi = 150;
          o.showTitle = title;
          const QString path = dir + QStringLiteral("/fig.png");
          QVERIFY(exportFigure(p->plot(), path, o).isEmpty());
          QImage img(path);
          QVERIFY(!img.isNull());
          int ink = 0;
          for (int x = 0; x < img.width(); ++x)
            for (int y : {0, img.height() - 1}) ink += qGray(img.pixel(x, y)) < 200;
          for (int y = 0; y < img.height(); ++y)
            for (int x : {0, img.width() - 1}) ink += qGray(img.pixel(x, y)) < 200;
          QVERIFY2(ink == 0, qPrintable(what + QStringLiteral(": %1 dark pixels on the page's edge").arg(ink)));

          // The same layout, inspected: the legend's box against every data point, the lines between points, bars.
          const QSize page(qRound(cm.width() / 2.54 * 96), qRound(cm.height() / 2.54 * 96));
          const FigureLayout layout(p->plot(), page, title);
          placements << layout.legendPlacement();
          // Axis labels are drawn centred on the data area along their axis: each line must fit the page there.
          const QRect area = p->plot()->axisRect()->rect();
          for (QCPAxis* axis : p->plot()->axisRect()->axes()) {
            if (!axis->visible()) continue;
            const bool horizontal = axis->orientation() == Qt::Horizontal;
            const double centre = horizontal ? area.center().x() : area.center().y();
            const double extent = horizontal ? page.width() : page.height();
            for (const QString& line : axis->label().split(QLatin1Char('\n'))) {
              const double half = QFontMetricsF(axis->labelFont()).horizontalAdvance(line) / 2;
              QVERIFY2(centre - half >= 0 && centre + half <= extent,
                       qPrintable(what + QStringLiteral(": axis label \"%1\" runs off the page").arg(line)));
            }
          }
          // The title, when shown, fits the page's width.
          for (QCPTextElement* t : p->plot()->findChildren<QCPTextElement*>())
            if (t->visible()) {
              QVERIFY2(title, qPrintable(what + ": the title is drawn"));
              const QFontMetricsF fm(t->font());
              for (const QString& line : t->text().split(QLatin1Char('\n')))
                QVERIFY2(fm.horizontalAdvance(line) <= page.width(), qPrintable(what + ": title wider than the page"));
            }
          QCPLegend* legend = p->plot()->legend;
          const QRectF box = legend->outerRect();
          QVERIFY2(QRectF(QPointF(0, 0), QSizeF(page)).contains(box), qPrintable(what + ": legend off the page"));
          for (int i = 0; i < p->plot()->plottableCount(); ++i) {
            QCPAbstractPlottable* pl = p->plot()->plottable(i);
            if (!pl->visible()) continue;
            auto px = [&](double k, double v) { return QPointF(pl->keyAxis()->coordToPixel(k), pl->valueAxis()->coordToPixel(v)); };
            if (auto* bars = qobject_cast<QCPBars*>(pl)) {
              for (auto it = bars->data()->constBegin(); it != bars->data()->constEnd(); ++it) {
                const QRectF bar = QRectF(px(it->key - bars->width() / 2, it->value), px(it->key + bars->width() / 2, 0)).normalized();
                QVERIFY2(!box.intersects(bar), qPrintable(what + ": the legend covers a bar"));
              }
              continue;
            }
            QCPPlottableInterface1D* d = pl->interface1D();
            for (int k = 0; k < d->dataCount(); ++k) {
              const QPointF a = px(d->dataMainKey(k), d->dataMainValue(k));
              QVERIFY2(!box.contains(a), qPrintable(what + QStringLiteral(": the legend covers %1's point %2").arg(pl->name()).arg(k)));
              if (k == 0) continue;
              const QPointF b = px(d->dataMainKey(k - 1), d->dataMainValue(k - 1));
              for (double t = 0; t <= 1.0; t += 0.01)
                QVERIFY2(!box.contains(b + (a - b) * t), qPrintable(what + ": the legend covers a line"));
            }
          }
        }
    // The small sizes needed the other placements: this run went through more than the default corner.
    QVERIFY2(placements.contains(QStringLiteral("below")), qPrintable(placements.join(QStringLiteral(", "))));
    // Back on screen: the layout is the one before the export (title in row 0, legend inside the data area).
    QVERIFY(qobject_cast<QCPTextElement*>(params.plot()->plotLayout()->element(0, 0)));
    QCOMPARE(params.plot()->plotLayout()->rowCount(), 2);
    QCOMPARE(params.plot()->legend->layout(), static_cast<QCPLayout*>(params.plot()->axisRect()->insetLayout()));
  }

  // Text fitted to a width: two lines broken near the middle first, then a smaller font (not below 7 pt), then
  // elided.
  void fit_text_wraps_then_shrinks_then_elides() {
    QFont f = QApplication::font();
    f.setPointSizeF(10);
    const QString text = QStringLiteral("candidate block (layer) at step 3");
    const double full = QFontMetricsF(f).horizontalAdvance(text);
    QFont g = f;
    QCOMPARE(fitText(text, &g, full + 1), text);
    QCOMPARE(fitText(text, &g, full * 0.6), QStringLiteral("candidate block\n(layer) at step 3"));
    QCOMPARE(g.pointSizeF(), 10.0);
    g = f;
    const QString small = fitText(text, &g, full * 0.45);
    QVERIFY(small.contains(QLatin1Char('\n')));
    QVERIFY2(g.pointSizeF() < 10.0 && g.pointSizeF() >= 7.0, qPrintable(QString::number(g.pointSizeF())));
    g = f;
    const QString tiny = fitText(text, &g, full * 0.1);
    QCOMPARE(g.pointSizeF(), 7.0);
    QVERIFY(tiny.contains(QChar(0x2026)));  // elided
    for (const QString& line : tiny.split(QLatin1Char('\n'))) QVERIFY(QFontMetricsF(g).horizontalAdvance(line) <= full * 0.1);
  }

  void figures_export_as_valid_png_pdf_svg() {
    PerplexityCurvePlot p;
    p.resize(600, 400);
    p.show();
    p.setRun(sampleRun());
    const QString dir = tempDir();
    FigureOptions o;
    o.sizeCm = QSizeF(16.0, 10.0);
    o.title = p.title();

    o.format = FigureFormat::Png;
    o.dpi = 150;
    QVERIFY(exportFigure(p.plot(), dir + "/f.png", o).isEmpty());
    QImage img(dir + "/f.png");
    QVERIFY2(!img.isNull(), "the PNG must load");
    QCOMPARE(img.width(), 945);   // 16 cm at 150 dpi
    QCOMPARE(img.height(), 591);  // 10 cm
    QVERIFY(qAbs(img.dotsPerMeterX() - 150 / 0.0254) < 2);
    // Not blank: the plot's blue curve is in the image.
    bool blue = false;
    for (int y = 0; y < img.height() && !blue; y += 2)
      for (int x = 0; x < img.width() && !blue; x += 2) {
        const QColor c = img.pixelColor(x, y);
        blue = c.blue() > 150 && c.red() < 80 && c.green() > 90 && c.green() < 150;
      }
    QVERIFY2(blue, "the PNG should show the calibration curve");

    o.format = FigureFormat::Pdf;
    QVERIFY(exportFigure(p.plot(), dir + "/f.pdf", o).isEmpty());
    const QByteArray pdf = QByteArray::fromStdString(shedder::test::read_file((dir + "/f.pdf").toStdString()));
    QVERIFY(pdf.startsWith("%PDF-"));
    QVERIFY(pdf.trimmed().endsWith("%%EOF"));
    // The page is the figure's physical size: 16 x 10 cm = 453.5 x 283.5 pt.
    const QRegularExpression box(QStringLiteral("/MediaBox \\[\\s*0 0 ([0-9.]+) ([0-9.]+)\\s*\\]"));
    const auto m = box.match(QString::fromLatin1(pdf));
    QVERIFY2(m.hasMatch(), "the PDF needs a MediaBox");
    QVERIFY(qAbs(m.captured(1).toDouble() - 453.5) < 1.5);
    QVERIFY(qAbs(m.captured(2).toDouble() - 283.5) < 1.5);

    o.format = FigureFormat::Svg;
    QVERIFY(exportFigure(p.plot(), dir + "/f.svg", o).isEmpty());
    QSvgRenderer svg(dir + "/f.svg");
    QVERIFY2(svg.isValid(), "the SVG must parse");
    QCOMPARE(svg.viewBox().size(), QSize(605, 378));  // 16 x 10 cm in 96-per-inch units
    const QString text = QString::fromUtf8(QByteArray::fromStdString(shedder::test::read_file((dir + "/f.svg").toStdString())));
    QVERIFY(text.contains(QStringLiteral("Perplexity vs components removed")));
    QVERIFY(text.contains(QStringLiteral("held-out")));
    // Every font name is followed by a CSS generic family.
    const QRegularExpression fam(QStringLiteral("font-family=\"([^\"]*)\""));
    int families = 0;
    for (auto it = fam.globalMatch(text); it.hasNext();) {
      const QString f = it.next().captured(1);
      QVERIFY2(f.endsWith(QStringLiteral(", sans-serif")), qPrintable(f));
      ++families;
    }
    QVERIFY(families > 0);

    // An export that fails leaves the file that was there, whole (written to a temporary file, then renamed).
    o.dpi = 10;  // refused
    QVERIFY(!exportFigure(p.plot(), dir + "/f.svg", o).isEmpty());
    QCOMPARE(QString::fromUtf8(QByteArray::fromStdString(shedder::test::read_file((dir + "/f.svg").toStdString()))), text);
    // f.png, f.pdf, f.svg and the data beside them (f.csv): no temporary left
    QCOMPARE(QDir(dir).entryList(QDir::Files), QStringList({"f.csv", "f.pdf", "f.png", "f.svg"}));
    // The data: series,x,y with the axes' labels, every point of every curve (sampleRun: the base and its steps).
    const QStringList csv = QString::fromStdString(shedder::test::read_file((dir + "/f.csv").toStdString()))
                                .split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(csv.front(), QStringLiteral("series,components removed,perplexity"));
    const RunRecord run = sampleRun();
    QVERIFY(csv.contains(QStringLiteral("calibration,1,") + QString::number(run.steps[0].ppl, 'g', 10)));
    int calibLines = 0;
    for (const QString& l : csv) calibLines += l.startsWith(QStringLiteral("calibration,"));
    QCOMPARE(calibLines, run.steps.size() + 1);
  }

  // The paper style: 8 pt axis labels and 7 pt ticks in the figure, serif on request (the SVG says so), data lines
  // at the chosen width; the on-screen plot keeps its own fonts and pens afterwards.
  void paper_style_sets_fonts_and_line_widths_for_the_export_only() {
    PerplexityCurvePlot p;
    p.resize(600, 400);
    p.setRun(sampleRun());
    const QFont screenLabel = p.plot()->xAxis->labelFont();
    const QPen screenPen = p.calibrationGraph()->pen();
    FigureOptions o;
    o.format = FigureFormat::Svg;
    o.sizeCm = QSizeF(8.5, 6.0);
    o.style = FigureStyle::Paper;
    o.serif = true;
    o.lineWidthPt = 0.75;
    o.writeData = false;
    const QString dir = tempDir();
    QVERIFY(exportFigure(p.plot(), dir + "/paper.svg", o).isEmpty());
    QVERIFY(!QFileInfo::exists(dir + "/paper.csv"));
    const QString svg = QString::fromStdString(shedder::test::read_file((dir + "/paper.svg").toStdString()));
    QVERIFY(svg.contains(QStringLiteral("DejaVu Serif, serif")));
    QVERIFY(!svg.contains(QStringLiteral("sans-serif")));
    // 0.75 pt = 1 px at 96 per inch: the calibration curve's stroke.
    const QString blue = QStringLiteral("stroke=\"#1f77b4\"");
    QVERIFY2(svg.contains(QRegularExpression(blue + QStringLiteral("[^>]*stroke-width=\"1\""))) ||
                 svg.contains(QRegularExpression(QStringLiteral("stroke-width=\"1\"[^>]*") + blue)),
             "the data line should be 1 px wide");
    QCOMPARE(p.plot()->xAxis->labelFont(), screenLabel);
    QCOMPARE(p.calibrationGraph()->pen(), screenPen);
  }

  // The Save figure dialog asks before it replaces a file; declined, the dialog stays open and the file is kept.
  void figure_dialog_asks_before_replacing() {
    const QString dir = tempDir(), path = dir + QStringLiteral("/plot.png");
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("mine");
    f.close();
    QStringList asked;
    bool answer = false;
    setConfirmAnswerer([&](const QString&, const QString& text) {
      asked << text;
      return answer;
    });
    FigureExportDialog d(nullptr, QStringLiteral("Perplexity"));
    d.findChild<QLineEdit*>()->setText(path);
    d.accept();
    QCOMPARE(asked.size(), 1);
    QVERIFY(asked.front().contains(QStringLiteral("plot.png")));
    QVERIFY(d.result() != QDialog::Accepted);
    answer = true;
    d.accept();
    QCOMPARE(d.result(), int(QDialog::Accepted));
    setConfirmAnswerer(nullptr);
  }

  // A dark theme recolours the plots' frame (PlotColors from the palette), a palette change reaching them as an
  // event; exported figures stay on white; Light and System (the palette the desktop gave) come back.
  void theme_recolours_plots_but_not_figures() {
    const QPalette system = QApplication::palette();
    PerplexityCurvePlot p;
    p.resize(500, 320);
    p.show();
    p.setRun(sampleRun());
    QVERIFY(p.plot()->xAxis->labelColor().lightness() < 128);  // dark text on white
    applyTheme(Theme::Dark);
    QCoreApplication::processEvents();
    QVERIFY(isDark(QApplication::palette()));
    QTRY_VERIFY(p.plot()->xAxis->labelColor().lightness() > 128);  // light text
    QVERIFY(p.plot()->toPixmap(200, 120).toImage().pixelColor(2, 2).lightness() < 80);
    const QString dir = tempDir();
    FigureOptions o;
    o.sizeCm = QSizeF(8.5, 6.0);
    o.dpi = 100;
    QVERIFY(exportFigure(p.plot(), dir + "/dark.png", o).isEmpty());
    const QImage img(dir + "/dark.png");
    QCOMPARE(img.pixelColor(2, 2), QColor(Qt::white));
    bool darkText = false;
    for (int y = 0; y < img.height() && !darkText; ++y)
      for (int x = 0; x < img.width() && !darkText; ++x) darkText = img.pixelColor(x, y).lightness() < 60;
    QVERIFY2(darkText, "the figure's text is dark on white");
    QVERIFY(p.plot()->xAxis->labelColor().lightness() > 128);  // the screen keeps the theme
    applyTheme(Theme::Light);
    QCoreApplication::processEvents();
    QTRY_VERIFY(p.plot()->xAxis->labelColor().lightness() < 128);
    applyTheme(Theme::System);
    QCOMPARE(QApplication::palette(), system);
    QCOMPARE(themeFromName(themeName(Theme::Dark)), Theme::Dark);
    QCOMPARE(themeFromName(QStringLiteral("nonsense")), Theme::System);
  }

  // File ▸ Export ▸ All Figures asks for a folder (a file is refused), format, size and whether titles are drawn,
  // and remembers them for the next time.
  void all_figures_dialog_asks_folder_size_and_title() {
    const QString dir = tempDir();
    QStringList told;
    setConfirmAnswerer([&](const QString&, const QString& text) {
      told << text;
      return true;
    });
    FigureExportDialog d(nullptr, QStringLiteral("Save all figures"), FigureExportDialog::Target::Folder);
    auto* path = d.findChild<QLineEdit*>(QStringLiteral("path"));
    auto* title = d.findChild<QCheckBox*>(QStringLiteral("showTitle"));
    auto* preset = d.findChild<QComboBox*>();  // format first, then size
    QVERIFY(path && title && preset);
    path->setText(dir + QStringLiteral("/not-a-folder.png"));
    d.accept();
    QVERIFY(d.result() != QDialog::Accepted);
    QCOMPARE(told.size(), 1);
    QVERIFY(told.front().contains(QStringLiteral("not a folder")));
    path->setText(dir);
    const QList<QComboBox*> boxes = d.findChildren<QComboBox*>();
    QCOMPARE(boxes.size(), 3);     // format, size, style
    boxes[0]->setCurrentIndex(2);  // SVG
    boxes[1]->setCurrentIndex(1);  // page width ...
    auto* style = d.findChild<QComboBox*>(QStringLiteral("style"));
    auto* serif = d.findChild<QCheckBox*>(QStringLiteral("serif"));
    QVERIFY(style && serif && !serif->isEnabled());  // serif belongs to the paper style
    style->setCurrentIndex(1);     // ... then paper: a column wide
    QVERIFY(serif->isEnabled());
    serif->setChecked(true);
    d.findChild<QCheckBox*>(QStringLiteral("writeData"))->setChecked(false);
    title->setChecked(false);
    d.accept();
    QCOMPARE(d.result(), int(QDialog::Accepted));
    QCOMPARE(d.path(), dir);
    const FigureOptions o = rememberedFigureOptions();
    QCOMPARE(o.format, FigureFormat::Svg);
    QCOMPARE(o.sizeCm, QSizeF(8.5, 6.0));
    QVERIFY(!o.showTitle);
    QCOMPARE(o.style, FigureStyle::Paper);
    QVERIFY(o.serif && !o.writeData);
    FigureExportDialog again(nullptr, QStringLiteral("Save all figures"), FigureExportDialog::Target::Folder);
    QVERIFY(!again.findChild<QCheckBox*>(QStringLiteral("showTitle"))->isChecked());
    QCOMPARE(again.path(), dir);
    setConfirmAnswerer(nullptr);
    QSettings().remove(QStringLiteral("figures"));
  }

  void figure_export_errors_name_the_file() {
    PerplexityCurvePlot p;
    p.setRun(sampleRun());
    FigureOptions o;
    const QString bad = QStringLiteral("/nonexistent-folder-xyz/f.png");
    const QString err = exportFigure(p.plot(), bad, o);
    QVERIFY(err.startsWith(bad));
    o.dpi = 5;
    QVERIFY(exportFigure(p.plot(), tempDir() + "/f.png", o).contains(QStringLiteral("DPI")));
    FigureFormat f;
    QVERIFY(figureFormatFromPath(QStringLiteral("a/b.SVG"), &f) && f == FigureFormat::Svg);
    QVERIFY(!figureFormatFromPath(QStringLiteral("a/b.jpg"), &f));
  }

  // File dialogs start in the folder last used for their kind of file, while it exists.
  void file_dialogs_start_in_the_last_folder_of_their_kind() {
    const QString kind = QStringLiteral("test-%1").arg(QCoreApplication::applicationPid());
    const QString dir = QFileInfo(tempDir()).absoluteFilePath();
    QCOMPARE(lastFolder(kind, QStringLiteral("fallback")), QStringLiteral("fallback"));
    rememberFolder(kind, dir + QStringLiteral("/calib.txt"));  // a file: its folder
    QCOMPARE(lastFolder(kind, QStringLiteral("fallback")), dir);
    QVERIFY(QDir(dir).mkdir(QStringLiteral("sub")));
    rememberFolder(kind, dir + QStringLiteral("/sub"));  // a folder: itself
    QCOMPARE(lastFolder(kind, QStringLiteral("fallback")), dir + QStringLiteral("/sub"));
    QVERIFY(QDir(dir + QStringLiteral("/sub")).removeRecursively());
    QCOMPARE(lastFolder(kind, QStringLiteral("fallback")), QStringLiteral("fallback"));  // gone: the fallback
    QSettings().remove(QStringLiteral("folders/") + kind);
  }

  void run_record_json_and_csv() {
    RunRecord r = sampleRun();
    r.steps[1].latencyMs = 3.25;
    const RunRecord back = RunRecord::fromJson(r.toJson());
    QCOMPARE(back.steps.size(), 3);
    QCOMPARE(back.steps[2].id, QStringLiteral("layers.6"));
    QCOMPARE(*back.steps[2].heldoutPpl, 10.3);
    QCOMPARE(*back.steps[1].latencyMs, 3.25);
    QVERIFY(!back.steps[0].latencyMs);
    QCOMPARE(back.steps[1].candidates.size(), 7);
    QCOMPARE(*back.basePpl, 6.0);
    QCOMPARE(back.toJson(), r.toJson());

    const QStringList lines = r.toCsv().split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 5);  // header, base, 3 steps
    QVERIFY(lines[0].startsWith(QStringLiteral("components_removed,removed_id,")));
    const QStringList base = lines[1].split(QLatin1Char(','));
    const QStringList step2 = lines[3].split(QLatin1Char(','));
    QCOMPARE(base.size(), 14);  // no task columns: nothing measured accuracy
    QCOMPARE(step2.size(), 14);
    QCOMPARE(base[0], QStringLiteral("0"));
    QCOMPARE(base[4], QStringLiteral("6"));
    QCOMPARE(step2[0], QStringLiteral("2"));
    QCOMPARE(step2[1], QStringLiteral("layers.5"));
    QCOMPARE(step2[5], QStringLiteral("7.8"));
    QCOMPARE(step2[8], QStringLiteral("760000"));
    QCOMPARE(step2[9], QStringLiteral("3.25"));
    QCOMPARE(step2[10], QString());  // accuracy not measured
    QCOMPARE(step2[13], QString());  // peak memory not measured

    // Per-task accuracy: one acc_<task> column per task seen in the run, empty where a row lacks it.
    r.baseTaskAccuracy = {{QStringLiteral("t1"), 0.5}};
    r.steps[1].taskAccuracy = {{QStringLiteral("t1"), 0.25}, {QStringLiteral("t2"), 0.75}};
    r.steps[1].peakMemoryMb = 1.5;
    const QStringList lines2 = r.toCsv().split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QVERIFY(lines2[0].endsWith(QStringLiteral(",prefill_tokens_per_s,peak_memory_mb,acc_t1,acc_t2")));
    QVERIFY(lines2[1].endsWith(QStringLiteral(",0.5,")));
    QVERIFY(lines2[2].endsWith(QStringLiteral(",,")));
    QVERIFY(lines2[3].endsWith(QStringLiteral(",1.5,0.25,0.75")));
    const RunRecord back2 = RunRecord::fromJson(r.toJson());
    QCOMPARE(back2.baseTaskAccuracy, r.baseTaskAccuracy);
    QCOMPARE(back2.steps[1].taskAccuracy, r.steps[1].taskAccuracy);
    QCOMPARE(*back2.steps[1].peakMemoryMb, 1.5);
  }

  void project_file_round_trip_and_refusals() {
    const QString dir = tempDir();
    ProjectState s;
    s.modelPath = dir + "/model";
    QVERIFY(QDir().mkpath(s.modelPath));
    s.settings.granularity = QStringLiteral("ssm");
    s.settings.calibration.source = CalibrationSource::TokenFile;
    s.settings.calibration.tokenFile = QStringLiteral("x.safetensors:w");
    s.settings.calibration.seed = 1234567890123ULL;
    s.marked = QStringList{QStringLiteral("layers.2"), QStringLiteral("layers.4.ssm")};
    s.run = sampleRun();
    WhatIfResult w;
    w.removed = s.marked;
    w.ppl = 9.5;
    w.basePpl = 6.0;
    s.whatIf.push_back(w);
    const QString path = dir + "/p.shedproj";
    QVERIFY(saveProject(path, s).isEmpty());
    ProjectState back;
    QString err;
    QVERIFY2(loadProject(path, &back, &err), qPrintable(err));
    QCOMPARE(back.modelPath, s.modelPath);
    QCOMPARE(back.settings.granularity, QStringLiteral("ssm"));
    QCOMPARE(back.settings.calibration.source, CalibrationSource::TokenFile);
    QCOMPARE(back.settings.calibration.seed, 1234567890123ULL);
    QCOMPARE(back.marked, s.marked);
    QCOMPARE(back.run.toJson(), s.run.toJson());
    QCOMPARE(back.whatIf.size(), 1);
    QCOMPARE(back.whatIf[0].ppl, 9.5);

    // A project moved together with its model still finds it (relative path).
    const QString moved = tempDir();
    QVERIFY(QDir().rename(dir, moved + "/pair"));
    QVERIFY2(loadProject(moved + "/pair/p.shedproj", &back, &err), qPrintable(err));
    QCOMPARE(back.modelPath, moved + "/pair/model");

    shedder::test::write_file((moved + "/bad.shedproj").toStdString(), "{\"format\": \"other\"}");
    QVERIFY(!loadProject(moved + "/bad.shedproj", &back, &err));
    QVERIFY(err.contains(QStringLiteral("not a Mamba Shedder Workbench project")));
    shedder::test::write_file((moved + "/broken.shedproj").toStdString(), "{\"format\": ");
    QVERIFY(!loadProject(moved + "/broken.shedproj", &back, &err));
    QVERIFY(err.contains(QStringLiteral("broken.shedproj")));
    QVERIFY(err.contains(QStringLiteral("not valid JSON")));
  }
};

QTEST_MAIN(TestGuiFigures)
#include "test_gui_figures.moc"
