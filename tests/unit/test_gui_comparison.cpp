// Comparing runs (issue 17): run folders made by the real `shedder-cli search` on the trained tiny models read back
// (steps and candidate scores against transformers' reference search, tests/data/trained_tiny/reference_search.json),
// an lm-evaluation-harness results file as a variant row (its numbers as written), the variants / accuracy / step
// tables (standard errors against the closed form), the importance heatmap, the comparison window (rows picked and
// ringed, heatmap per run, Write Report) and `shedder-cli report` (files, CSV contents, refusals) — headless.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>
#include <QtWidgets/QtWidgets>

#include <nlohmann/json.hpp>

#include <cmath>

#include "comparison.h"
#include "comparison_plots.h"
#include "comparison_window.h"
#include "main_window.h"
#include "qcustomplot_include.h"
#include "report_writer.h"
#include "support/cli_runner.h"
#include "support/gui_test_support.h"
#include "support/main_window_support.h"
#include "support/test_support.h"

using namespace shedder;
using namespace shedder::ui;
using test::q;

namespace {

QString tmp(const char* tag) { return QString::fromStdString(test::make_temp_dir(tag)); }

QString harnessFile() {
  return q(test::test_data_dir()) +
         QStringLiteral("/harness/state-spaces__mamba-130m-hf/results_2024-06-01T10-20-30.123456.json");
}

nlohmann::json reference(const char* arch, const char* granularity) {
  const auto j = nlohmann::json::parse(test::read_file(test::test_data_dir() + "/trained_tiny/reference_search.json"));
  return j.at(arch).at(granularity);
}

bool near(double a, double b, double rel) { return std::abs(a - b) <= rel * std::max(std::abs(a), std::abs(b)); }

}  // namespace

class TestGuiComparison : public QObject {
  Q_OBJECT

  QString runs_;         // two run folders made by shedder-cli search on the trained tiny Mamba-2
  QString blockRun_, ssmRun_;

 private Q_SLOTS:
  void initTestCase() {
    at::set_num_threads(2);
    test::init_gui_test_environment();
    QVERIFY2(!test::cli_path().empty(), "SHEDDER_CLI must name the shedder-cli binary");
    runs_ = tmp("comparison-runs");
    blockRun_ = runs_ + QStringLiteral("/blocks");
    ssmRun_ = runs_ + QStringLiteral("/ssms");
    const QString model = test::trained_model(QStringLiteral("mamba2"));
    const QString calib = q(test::test_data_dir() + "/trained_tiny/calib.safetensors");
    std::vector<QStringList> calls;
    for (const auto& [g, out] : {std::pair{"block", blockRun_}, std::pair{"ssm", ssmRun_}})
      calls.push_back({"search", model, "--granularity", g, "--steps", "3", "--calib-tokens", calib, "--batch", "4",
                       "--exhaustive", "--out", out, "--threads", "1"});
    for (const auto& r : test::run_many(calls)) QVERIFY2(r.ok(), r.describe().c_str());
  }

  // A CLI run folder reads back with transformers' numbers: base, every step's perplexity and every candidate's
  // (--exhaustive: all complete), parameters kept from search_result.json.
  void run_folder_reads_back_the_search() {
    ComparisonSource s;
    QString error;
    QVERIFY2(loadComparisonSource(blockRun_, &s, &error), qPrintable(error));
    QCOMPARE(s.label, QStringLiteral("blocks"));
    QVERIFY(!s.imported);
    const nlohmann::json ref = reference("mamba2", "block");
    const RunRecord& run = s.run;
    QCOMPARE(run.settings.granularity, QStringLiteral("block"));
    QCOMPARE(run.state, QStringLiteral("finished"));
    QVERIFY(near(*run.basePpl, ref["base"].get<double>(), 1e-6));
    QCOMPARE(run.steps.size(), 3);
    for (int k = 0; k < 3; ++k) {
      const auto& rs = ref["steps"][k];
      QCOMPARE(run.steps[k].id, QStringLiteral("layers.%1").arg(rs["removed"].get<int>()));
      QVERIFY(near(run.steps[k].ppl, rs["ppl"].get<double>(), 1e-6));
      QCOMPARE(run.steps[k].candidates.size(), int(rs["candidates"].size()));
    }
    const auto result = nlohmann::json::parse(test::read_file((blockRun_ + "/search_result.json").toStdString()));
    QCOMPARE(run.totalParameters, result["total_params"].get<qint64>());
    // The same folder through its journal alone, or through search_result.json alone, gives the same steps.
    ComparisonSource viaResult;
    QVERIFY(loadComparisonSource(blockRun_ + "/search_result.json", &viaResult, &error));
    QCOMPARE(viaResult.run.steps.size(), 3);
    QCOMPARE(viaResult.run.steps[2].ppl, run.steps[2].ppl);
    // Not a run, not a results file: refused with the path.
    const QString foreign = tmp("comparison-foreign");
    test::write_file((foreign + "/notes.json").toStdString(), "{\"hello\": 1}");
    QVERIFY(!loadComparisonSource(foreign + "/notes.json", &s, &error));
    QVERIFY2(error.contains(foreign + "/notes.json"), qPrintable(error));
    QVERIFY(!loadComparisonSource(foreign, &s, &error));
    QVERIFY2(error.contains(QStringLiteral("not a run folder")), qPrintable(error));
  }

  // The heatmap: Δ perplexity of every candidate of every step against transformers' numbers, the removal order.
  void heatmap_matches_the_reference_search() {
    ComparisonSource s;
    QString error;
    QVERIFY(loadComparisonSource(blockRun_, &s, &error));
    const HeatmapData h = heatmapData(s.run);
    const nlohmann::json ref = reference("mamba2", "block");
    QCOMPARE(h.components.size(), 8);  // layers.0 ... layers.7 in model order
    QCOMPARE(h.components.front(), QStringLiteral("layers.0"));
    QCOMPARE(h.steps, 3);
    double before = ref["base"].get<double>();
    for (int k = 0; k < 3; ++k) {
      for (const auto& c : ref["steps"][k]["candidates"]) {
        const int layer = c[0].get<int>();
        QVERIFY(near(h.value[layer][k] + before, c[1].get<double>(), 1e-6));
      }
      const int removed = ref["steps"][k]["removed"].get<int>();
      QCOMPARE(h.removedAt[removed], k);
      for (int later = k + 1; later < 3; ++later) QVERIFY(std::isnan(h.value[removed][later]));
      before = ref["steps"][k]["ppl"].get<double>();
    }
    HeatmapPlot plot;
    plot.setRun(s.run, s.label);
    QVERIFY(plot.hasData());
    QCOMPARE(plot.colorMap()->data()->keySize(), 3);
    QCOMPARE(plot.colorMap()->data()->valueSize(), 8);
    const int first = ref["steps"][0]["removed"].get<int>();
    QVERIFY(plot.cellText(first, 0).contains(QStringLiteral("removed at this step")));
    QCOMPARE(plot.lowerBoundMarks()->dataCount(), 0);  // --exhaustive: every score complete
    QCOMPARE(plot.orderLabelCount(), 3);                // small: the removal order written in the cells
    QCOMPARE(plot.removedMarks()->dataCount(), 0);
    RunRecord bounded = s.run;  // one candidate stopped early: its cell is crossed and its tooltip says "at least"
    bounded.steps[1].candidates[0].lowerBound = true;
    const int row = h.components.indexOf(bounded.steps[1].candidates[0].id);
    HeatmapPlot withBound;
    withBound.setRun(bounded, s.label);
    QCOMPARE(withBound.lowerBoundMarks()->dataCount(), 1);
    QCOMPARE(withBound.lowerBoundMarks()->data()->at(0)->key, 2.0);
    QCOMPARE(withBound.lowerBoundMarks()->data()->at(0)->value, double(row));
    QVERIFY(withBound.cellText(row, 1).contains(QStringLiteral("\u2265")));
    // The CSV: one line per candidate score, the removed cells flagged.
    const QStringList lines = plot.figureDataCsv().split('\n', Qt::SkipEmptyParts);
    QCOMPARE(lines.front(), QStringLiteral("component,step,value,lower_bound,removed"));
    QCOMPARE(lines.size(), 1 + 8 + 7 + 6);
    QVERIFY(lines.contains(QStringLiteral("layers.%1,1,").arg(first) + QString::number(h.value[first][0], 'g', 10) +
                           QStringLiteral(",0,1")));
  }

  // A large map (400 components, 30 steps): removed cells are marked instead of numbered, and the rows are labelled
  // only as densely as the axis has room for, on whole rows.
  void large_heatmap_stays_readable() {
    RunRecord run;
    run.settings.metric = QStringLiteral("ppl");
    run.basePpl = 10;
    QStringList left;
    for (int i = 0; i < 400; ++i) left << QStringLiteral("layers.%1.attn.heads.%2").arg(i / 8).arg(i % 8);
    for (int st = 0; st < 30; ++st) {
      StepRecord s;
      s.step = st;
      s.ppl = 10 + st;
      for (int k = 0; k < left.size(); ++k) s.candidates.push_back({left[k], k / 8, 10 + st + 0.01 * k, false});
      s.id = left.takeAt((st * 37) % left.size());
      run.steps.push_back(s);
    }
    HeatmapPlot plot;
    plot.resize(700, 500);
    plot.setRun(run, QStringLiteral("big"));
    QCOMPARE(plot.data().components.size(), 400);
    QCOMPARE(plot.orderLabelCount(), 0);
    QCOMPARE(plot.removedMarks()->dataCount(), 30);
    plot.plot()->replot();
    const QVector<QString> labels = plot.plot()->yAxis->tickVectorLabels();
    int named = 0;
    for (const QString& l : labels) named += !l.isEmpty();
    QVERIFY2(named >= 3 && named <= 16, qPrintable(QString::number(named)));
    for (double t : plot.plot()->yAxis->tickVector()) QCOMPARE(t, std::round(t));
  }

  // A harness results file is one variant row with its numbers and standard errors as written ("N/A": none).
  void harness_results_become_a_variant_row() {
    ComparisonSource s;
    QString error;
    QVERIFY2(loadComparisonSource(harnessFile(), &s, &error), qPrintable(error));
    QVERIFY(s.imported);
    const QVector<VariantRow> rows = variantRows({s});
    QCOMPARE(rows.size(), 1);
    QCOMPARE(rows[0].tasks.size(), 5);
    QCOMPARE(*rows[0].tasks.value("piqa").acc, 0.6458);
    QCOMPARE(*rows[0].tasks.value("piqa").accNormStderr, 0.011166);
    QVERIFY(!rows[0].tasks.value("arc_easy").accStderr);
    const Table acc = accuracyTable(rows);
    const std::string md = to_markdown(acc);
    QVERIFY2(test::contains(md, "| piqa | 0.6458 \xC2\xB1 0.0112 | 0.6447 \xC2\xB1 0.0112 |"), md.c_str());
    QVERIFY2(test::contains(md, "| arc_easy | 0.4798 | 0.4196 |"), md.c_str());
  }

  // Runs' own accuracy measurements get the harness's standard error of a mean of 0/1 scores, sqrt(p(1-p)/(n-1));
  // the variants table holds each run's start and picked steps with parameters kept.
  void tables_from_runs() {
    QCOMPARE(*binaryStderr(0.6, 101), std::sqrt(0.24 / 100));
    ComparisonSource named;
    named.label = QStringLiteral("run");
    QVector<ComparisonSource> existing{named};
    QCOMPARE(uniqueLabel(existing, QStringLiteral("other")), QStringLiteral("other"));
    QCOMPARE(uniqueLabel(existing, QStringLiteral("run")), QStringLiteral("run (2)"));
    named.label = QStringLiteral("run (2)");
    existing << named;
    QCOMPARE(uniqueLabel(existing, QStringLiteral("run")), QStringLiteral("run (3)"));
    QVERIFY(!binaryStderr(1.0, 1));
    ComparisonSource a;
    a.label = QStringLiteral("a");
    a.run.settings.metric = QStringLiteral("ppl");
    a.run.totalParameters = 2000000;
    a.run.basePpl = 10.0;
    a.run.baseTaskAccuracy = {{"demo", 0.6}};
    a.run.baseTaskItems = {{"demo", 101}};
    StepRecord st;
    st.step = 0;
    st.id = QStringLiteral("layers.3");
    st.ppl = 12.5;
    st.parametersRemoved = 500000;
    st.parametersRemovedPct = 25;
    st.taskAccuracy = {{"demo", 0.5}};
    st.taskAccNorm = {{"demo", 0.55}};
    st.taskItems = {{"demo", 101}};
    a.run.steps = {st};
    const QVector<VariantRow> rows = variantRows({a});
    QCOMPARE(rows.size(), 2);
    QCOMPARE(defaultRowKeys(rows), QStringList({"0:-1", "0:0"}));
    QCOMPARE(*rows[1].paramsKeptPct, 75.0);
    const std::string csv = to_csv(variantsTable(rows));
    QVERIFY2(test::contains(csv, "a \xC2\xB7 step 1,layers.3,1,1.500,75.0,12.50,0.5000,0.5500\n"), csv.c_str());
    const std::string acc = to_csv(accuracyTable(rows));
    QVERIFY2(test::contains(acc, "a \xC2\xB7 step 1,demo,0.5000 \xC2\xB1 0.0500,0.5500 \xC2\xB1 0.0497\n"), acc.c_str());
    const std::string steps = to_markdown(stepsTable(a));
    QVERIFY2(test::contains(steps, "| 1 | layers.3 | 1 | 75.0 | 12.50 | +2.50 |"), steps.c_str());
  }

  // The window: sources listed, one table row per variant with the defaults checked, checked rows ringed on the
  // curves, a heatmap per run, and Write Report (refusing a folder that holds something else).
  void comparison_window_picks_rows_and_writes_a_report() {
    ComparisonWindow w;
    QString error;
    QVERIFY(w.addPath(blockRun_, &error));
    QVERIFY(w.addPath(ssmRun_, &error));
    QVERIFY(w.addPath(harnessFile(), &error));
    QCOMPARE(w.sourceList()->count(), 3);
    QCOMPARE(w.variantsTable()->rowCount(), 4 + 4 + 1);
    QCOMPARE(w.pickedRows(), QStringList({"0:-1", "0:2", "1:-1", "1:2", "2:import"}));
    ComparisonCurvePlot* ppl = w.curvePlots().front();
    QCOMPARE(ppl->curves().size(), 2);  // the results file has no curve
    QCOMPARE(ppl->curves()[0]->dataCount(), 4);
    QCOMPARE(ppl->pickedGraph()->dataCount(), 4);
    w.variantsTable()->item(1, 0)->setCheckState(Qt::Checked);  // blocks · step 1
    QCOMPARE(ppl->pickedGraph()->dataCount(), 5);
    // Parameters kept on the x axis: the same points at each variant's kept share.
    w.xAxisBox()->setCurrentIndex(1);
    QCOMPARE(ppl->axis(), CurveAxis::ParametersKept);
    QVERIFY(ppl->title().contains(QStringLiteral("parameters kept")));
    QCOMPARE(ppl->curves()[0]->dataCount(), 4);
    QCOMPARE(ppl->curves()[0]->data()->at(3)->key, 100.0);  // keys ascending: the base model's 100 % last
    w.xAxisBox()->setCurrentIndex(0);
    QCOMPARE(ppl->curves()[0]->data()->at(3)->key, 3.0);
    QCOMPARE(w.heatmapRunBox()->count(), 2);
    QVERIFY(w.heatmap()->hasData());
    QCOMPARE(w.heatmap()->data().steps, 3);
    // Sorting by a number column sorts by value; the picks go with their rows.
    const QStringList before = w.pickedRows();
    int pplColumn = -1;
    for (int c = 0; c < w.variantsTable()->columnCount(); ++c)
      if (w.variantsTable()->horizontalHeaderItem(c)->text().startsWith(QStringLiteral("calibration ppl"))) pplColumn = c;
    QVERIFY(pplColumn > 0);
    w.variantsTable()->sortItems(pplColumn, Qt::DescendingOrder);
    double last = 1e300;
    for (int r = 0; r < w.variantsTable()->rowCount(); ++r) {
      const QString text = w.variantsTable()->item(r, pplColumn)->text();
      if (text.isEmpty()) continue;  // the results file has no perplexity
      QVERIFY(text.toDouble() <= last);
      last = text.toDouble();
    }
    QCOMPARE(w.pickedRows(), before);
    // Renaming a source renames its rows and curve.
    w.sourceList()->item(1)->setText(QStringLiteral("SSMs"));
    QTRY_COMPARE(ppl->curves()[1]->name(), QStringLiteral("SSMs"));
    bool renamedRow = false;
    for (int r = 0; r < w.variantsTable()->rowCount(); ++r)
      renamedRow = renamedRow || w.variantsTable()->item(r, 0)->text() == QStringLiteral("SSMs \u00b7 base");
    QVERIFY(renamedRow);
    QCOMPARE(w.pickedRows().size(), 6);  // kept across the rename

    const QString out = tmp("comparison-report") + QStringLiteral("/report");
    QStringList written;
    QSettings().remove(QStringLiteral("figures"));
    QVERIFY2(w.writeReportTo(out, &written).isEmpty(), qPrintable(w.writeReportTo(out, &written)));
    for (const char* f : {"perplexity_vs_removed.png", "perplexity_vs_removed.csv", "heatmap_blocks.png",
                          "heatmap_ssms.csv", "variants.md", "variants.tex", "variants.csv", "accuracy.csv",
                          "steps_blocks.tex", "report.json"})
      QVERIFY2(written.contains(QString::fromLatin1(f)) && QFileInfo::exists(out + "/" + f), f);
    QVERIFY(!QImage(out + "/heatmap_blocks.png").isNull());
    const QString variants = QString::fromStdString(test::read_file((out + "/variants.csv").toStdString()));
    QCOMPARE(variants.count('\n'), 1 + 6);
    QVERIFY(variants.contains(QStringLiteral("blocks \u00b7 step 1,")));
    // Again into the same report folder: fine. Into a folder of other files: refused, nothing written.
    QVERIFY(w.writeReportTo(out, &written).isEmpty());
    const QString other = tmp("comparison-other");
    test::write_file((other + "/thesis.tex").toStdString(), "mine");
    const QString err = w.writeReportTo(other, &written);
    QVERIFY2(err.contains(other) && err.contains(QStringLiteral("holds other files")), qPrintable(err));
    QCOMPARE(QDir(other).entryList(QDir::Files), QStringList({"thesis.tex"}));
  }

  // `shedder-cli report`: the same files headless, figures in two formats, every step with --all-steps; bad
  // sources and options are one-line errors naming the problem.
  void cli_report_writes_figures_and_tables() {
    const QString out = tmp("comparison-cli") + QStringLiteral("/r");
    const test::CliResult r = test::run({"report", blockRun_, ssmRun_, harnessFile(), "--out", out, "--format",
                                         "png,svg", "--tables", "csv,tex", "--all-steps", "--serif"});
    QVERIFY2(r.ok(), r.describe().c_str());
    for (const char* f : {"perplexity_vs_removed.png", "perplexity_vs_removed.svg", "perplexity_vs_parameters.csv",
                          "heatmap_blocks.svg", "heatmap_ssms.png", "variants.csv", "variants.tex", "accuracy.csv",
                          "steps_ssms.csv", "report.json"})
      QVERIFY2(QFileInfo::exists(out + "/" + f), f);
    QVERIFY(!QFileInfo::exists(out + "/variants.md"));
    const std::string variants = test::read_file((out + "/variants.csv").toStdString());
    QCOMPARE(test::count_lines(variants), size_t(1 + 4 + 4 + 1));
    QVERIFY(test::contains(test::read_file((out + "/heatmap_blocks.svg").toStdString()), "DejaVu Serif, serif"));
    // The curve CSV holds each run's base and steps as the run folder has them.
    const std::string curve = test::read_file((out + "/perplexity_vs_removed.csv").toStdString());
    const nlohmann::json ref = reference("mamba2", "ssm");
    ComparisonSource s;
    QString error;
    QVERIFY(loadComparisonSource(ssmRun_, &s, &error));
    QVERIFY(test::contains(curve, "ssms,3," + QString::number(s.run.steps[2].ppl, 'g', 10).toStdString()));
    QVERIFY(near(s.run.steps[2].ppl, ref["steps"][2]["ppl"].get<double>(), 1e-6));

    const QString other = tmp("comparison-cli-other");
    test::write_file((other + "/keep.txt").toStdString(), "mine");
    std::vector<test::CliResult> bad = test::run_many(
        {{"report", blockRun_, "--out", other},
         {"report", other + "/keep.txt", "--out", out},
         {"report", blockRun_, "--out", out, "--format", "jpg"},
         {"report", "--out", out}});
    QVERIFY2(test::check_failure(bad[0], {other.toStdString(), "holds other files"}).empty(), bad[0].describe().c_str());
    QVERIFY2(test::check_failure(bad[1], {"keep.txt"}).empty(), bad[1].describe().c_str());
    QVERIFY2(test::check_failure(bad[2], {"--format", "jpg"}).empty(), bad[2].describe().c_str());
    QVERIFY2(test::check_failure(bad[3], {"run folder"}).empty(), bad[3].describe().c_str());
    QCOMPARE(test::read_file((other + "/keep.txt").toStdString()), std::string("mine"));
  }

  // The main window: File ▸ Add Run to Comparison and Compare Runs; its own run has a heatmap dock, and Add Current
  // Run puts that run into the comparison.
  void main_window_heatmap_and_current_run() {
    MainWindow w;
    w.setInteractive(false);
    QVERIFY(test::action(w, "addToComparison") && test::action(w, "compareRuns"));
    QVERIFY(test::openProjectAndWait(w, test::projectWithRun(tmp("comparison-mw"))));
    QVERIFY(w.plots().contains(w.heatmapPlot()));
    QVERIFY(w.heatmapPlot()->hasData());
    QCOMPARE(w.heatmapPlot()->data().removedAt[w.heatmapPlot()->data().components.indexOf("layers.1")], 0);
    ComparisonWindow* c = w.showComparison();
    c->findChild<QToolBar*>()->actions();  // the window is built
    QAction* add = nullptr;
    for (QAction* a : c->findChildren<QAction*>())
      if (a->objectName() == QStringLiteral("addCurrentRun")) add = a;
    QVERIFY(add);
    add->trigger();
    QCOMPARE(c->sources().size(), 1);
    QCOMPARE(c->sources()[0].run.steps.size(), w.run().steps.size());
  }
};

QTEST_MAIN(TestGuiComparison)
#include "test_gui_comparison.moc"
