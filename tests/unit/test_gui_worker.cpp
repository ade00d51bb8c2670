// The background worker on its own QThread, driven only through queued calls and observed only through its
// signals (as the window does): loading, progress, a search that matches the transformers reference picks, a
// search with per-step latency and demo-task accuracy (records, JSON/CSV, plots), cancel mid-run with the
// journal kept and resume to the same result, what-if evaluation, checkpoint export, and failures reported as
// messages naming the file (never a crash).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>

#include <atomic>
#include <cmath>
#include <fstream>

#include "engine_session.h"
#include "engine_worker.h"
#include "model/mamba_model.h"
#include "qcustomplot_include.h"
#include "run_curve_plots.h"
#include "support/gui_test_support.h"
#include "support/test_support.h"

using namespace shedder;
using namespace shedder::ui;

namespace {

constexpr int kTimeout = 60000;

SearchSettings tinySearch(const QString& granularity, int steps, const QString& runDir) {
  SearchSettings s;
  s.granularity = granularity;
  s.metric = QStringLiteral("ppl");
  s.steps = steps;
  s.heldoutCurve = false;
  s.calibration.source = CalibrationSource::TokenFile;
  s.calibration.tokenFile = test::trained_calib_tokens();
  s.calibration.windows = 8;
  s.calibration.batch = 8;
  s.runDir = runDir;
  return s;
}

int journalSteps(const QString& path) {
  std::ifstream f(path.toStdString());
  std::string line;
  int n = 0;
  while (std::getline(f, line)) n += line.find("\"type\":\"step\"") != std::string::npos;
  return n;
}

// Runs `f` on the worker's thread (a queued call, as the window makes them).
template <typename F>
void post(EngineWorker* w, F f) {
  QMetaObject::invokeMethod(w, f, Qt::QueuedConnection);
}

}  // namespace

class TestGuiWorker : public QObject {
  Q_OBJECT

  QThread thread_;
  EngineWorker* w_ = nullptr;

  void loadTiny(const char* name) {
    QSignalSpy loaded(w_, &EngineWorker::modelLoaded);
    const QString path = test::trained_model(QString::fromLatin1(name));
    post(w_, [w = w_, path] { w->loadModel(path); });
    SHEDDER_WAIT_FOR(loaded, 1, kTimeout);
    const ModelInfo info = loaded.at(0).at(0).value<ModelInfo>();
    QCOMPARE(info.layers, 8);
    QCOMPARE(info.name, QString::fromLatin1(name));
    QCOMPARE(int(info.tree.children.size()), 8);
  }

 private Q_SLOTS:
  void initTestCase() {
    at::set_num_threads(2);
    test::init_gui_test_environment();
    registerEngineMetaTypes();
    w_ = new EngineWorker;
    w_->moveToThread(&thread_);
    thread_.start();
  }

  void cleanupTestCase() {
    thread_.quit();
    thread_.wait();
    delete w_;
  }

  void search_reports_progress_and_matches_the_reference() {
    loadTiny("mamba1");
    const QString dir = QString::fromStdString(test::make_temp_dir("gui-worker")) + "/run";
    QSignalSpy progress(w_, &EngineWorker::progress);
    QSignalSpy base(w_, &EngineWorker::searchBase);
    QSignalSpy steps(w_, &EngineWorker::searchStep);
    QSignalSpy finished(w_, &EngineWorker::searchFinished);
    QSignalSpy busy(w_, &EngineWorker::busyChanged);
    QSignalSpy failed(w_, &EngineWorker::failed);
    const SearchSettings s = tinySearch(QStringLiteral("block"), 4, dir);
    post(w_, [w = w_, s] { w->runSearch(s, {}, false); });
    SHEDDER_WAIT_FOR(finished, 1, kTimeout);
    QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.at(0).at(1).toString()));
    QTRY_COMPARE(busy.count(), 2);
    QCOMPARE(busy.at(0).at(0).toBool(), true);
    QCOMPARE(busy.at(1).at(0).toBool(), false);

    // The reference picks (transformers' own models, tests/data/trained_tiny/reference_search.json).
    const nlohmann::json ref = nlohmann::json::parse(test::read_file(test::test_data_dir() + "/trained_tiny/reference_search.json"));
    const auto& r = ref["mamba1"]["block"];
    const RunRecord run = finished.at(0).at(0).value<RunRecord>();
    QCOMPARE(run.steps.size(), 4);
    QCOMPARE(steps.count(), 4);
    for (int i = 0; i < 4; ++i) {
      const StepRecord st = steps.at(i).at(0).value<StepRecord>();
      QCOMPARE(st.step, i);
      QCOMPARE(int64_t(st.index), r["steps"][i]["removed"].get<int64_t>());
      QCOMPARE(st.id, QStringLiteral("layers.%1").arg(st.index));
      QCOMPARE(st.candidates.size(), 8 - i);
      QCOMPARE(run.steps[i].id, st.id);
    }
    QCOMPARE(base.count(), 1);
    const double b = base.at(0).at(0).toDouble();
    QVERIFY(std::abs(b - r["base"].get<double>()) < 1e-6 * b);
    QVERIFY(std::isnan(base.at(0).at(1).toDouble()));  // no held-out set asked for
    QCOMPARE(run.stopReason, QStringLiteral("steps"));
    QCOMPARE(run.state, QStringLiteral("finished"));
    QCOMPARE(run.evaluations, 8 + 7 + 6 + 5);
    QVERIFY(run.steps[3].parametersRemovedPct > run.steps[0].parametersRemovedPct);
    // Neither per-step measurement was asked for.
    QVERIFY(!run.baseLatencyMs && !run.baseAccuracy);
    for (const StepRecord& st : run.steps) QVERIFY(!st.latencyMs && !st.peakMemoryMb && !st.accuracy && st.taskAccuracy.isEmpty());

    // Progress: base first, then the steps with an overall fraction that only grows and ends at the total.
    QVERIFY(progress.count() >= 26);
    QCOMPARE(progress.at(0).at(0).value<ProgressInfo>().stage, QStringLiteral("base"));
    // The base pass counts the calibration windows (8 here, one batch), not "0/1".
    ProgressInfo lastBase;
    for (const auto& args : progress)
      if (args.at(0).value<ProgressInfo>().stage == QLatin1String("base")) lastBase = args.at(0).value<ProgressInfo>();
    QCOMPARE(lastBase.total, qint64(8));
    QCOMPARE(lastBase.done, qint64(8));
    double last = -1;
    bool sawEta = false;
    for (const auto& args : progress) {
      const ProgressInfo p = args.at(0).value<ProgressInfo>();
      if (!p.stage.startsWith(QLatin1String("step "))) continue;
      QVERIFY(p.stage.endsWith(QLatin1String(" of 4")));
      const double frac = double(p.done) / double(p.total);
      QVERIFY2(frac >= last - 1e-12, qPrintable(QString("progress went back: %1 after %2").arg(frac).arg(last)));
      last = frac;
      sawEta |= p.etaSeconds >= 0;
    }
    QVERIFY(std::abs(last - 1.0) < 1e-9);
    QVERIFY(sawEta);

    // The run folder: journal, the reference tool's pruning configs, the result.
    QCOMPARE(journalSteps(dir + "/journal.jsonl"), 4);
    QVERIFY(QFileInfo::exists(dir + "/pruning_config.json"));
    QVERIFY(QFileInfo::exists(dir + "/search_result.json"));
    QVERIFY(QFileInfo::exists(dir + "/pruned_model_configs/config.mamba_block.3.json"));
  }

  // The search panel's "Measure latency per step" / "Demo-task accuracy per step": every step record (and the
  // base) carries the benchmark and the demo tasks' accuracy, they survive the project JSON and the CSV, and the
  // "Parameters, latency" and "Accuracy" plots draw them.
  void search_measures_latency_and_demo_accuracy_per_step() {
    QVERIFY2(EngineSession::demoTasksAvailable(), "resources/demo/tasks/*.jsonl not found");
    loadTiny("mamba1");
    const QString dir = QString::fromStdString(test::make_temp_dir("gui-worker-measure")) + "/run";
    QSignalSpy steps(w_, &EngineWorker::searchStep);
    QSignalSpy finished(w_, &EngineWorker::searchFinished);
    QSignalSpy failed(w_, &EngineWorker::failed);
    SearchSettings s = tinySearch(QStringLiteral("block"), 2, dir);
    s.calibration.windows = 4;
    s.calibration.batch = 4;
    s.benchPerStep = true;
    s.demoAccuracyPerStep = true;
    post(w_, [w = w_, s] { w->runSearch(s, {}, false); });
    SHEDDER_WAIT_FOR(finished, 1, 4 * kTimeout);
    QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.at(0).at(1).toString()));
    const RunRecord run = finished.at(0).at(0).value<RunRecord>();
    QCOMPARE(run.steps.size(), 2);
    QCOMPARE(steps.count(), 2);
    const QStringList tasks{QStringLiteral("demo_cloze"), QStringLiteral("demo_continuation")};
    auto checkAcc = [&](const std::optional<double>& mean, const QMap<QString, double>& perTask) {
      QVERIFY(mean);
      QCOMPARE(perTask.keys(), tasks);
      double sum = 0;
      for (double a : perTask) {
        QVERIFY(a >= 0 && a <= 1);
        sum += a;
      }
      QVERIFY(std::abs(*mean - sum / 2) < 1e-12);
    };
    // The live step signals carry the measurements (the window plots them as they come)...
    for (int i = 0; i < 2; ++i) {
      const StepRecord st = steps.at(i).at(0).value<StepRecord>();
      QVERIFY(st.latencyMs && *st.latencyMs > 0);
      QVERIFY(st.prefillTokensPerS && *st.prefillTokensPerS > 0);
      QVERIFY(st.peakMemoryMb && *st.peakMemoryMb > 0);
      checkAcc(st.accuracy, st.taskAccuracy);
    }
    // ... and the finished record has them for the base model too; removing blocks shrinks the memory.
    QVERIFY(run.baseLatencyMs && *run.baseLatencyMs > 0);
    QVERIFY(run.basePeakMemoryMb && *run.basePeakMemoryMb > *run.steps[1].peakMemoryMb);
    checkAcc(run.baseAccuracy, run.baseTaskAccuracy);
    QVERIFY(run.settings.benchPerStep && run.settings.demoAccuracyPerStep);

    // Project JSON round trip and the CSV export.
    const RunRecord back = RunRecord::fromJson(run.toJson());
    QVERIFY(back.settings.benchPerStep && back.settings.demoAccuracyPerStep);
    QCOMPARE(back.baseLatencyMs, run.baseLatencyMs);
    QCOMPARE(back.baseTaskAccuracy, run.baseTaskAccuracy);
    QCOMPARE(back.steps[1].latencyMs, run.steps[1].latencyMs);
    QCOMPARE(back.steps[1].peakMemoryMb, run.steps[1].peakMemoryMb);
    QCOMPARE(back.steps[1].accuracy, run.steps[1].accuracy);
    QCOMPARE(back.steps[1].taskAccuracy, run.steps[1].taskAccuracy);
    const QStringList csv = run.toCsv().split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(csv.size(), 4);  // header, base, 2 steps
    const QStringList header = csv[0].split(QLatin1Char(','));
    QCOMPARE(header.mid(header.size() - 2), (QStringList{"acc_demo_cloze", "acc_demo_continuation"}));
    for (int row = 1; row < 4; ++row) {
      const QStringList f = csv[row].split(QLatin1Char(','));
      QCOMPARE(f.size(), header.size());
      for (const char* col : {"latency_ms", "accuracy", "peak_memory_mb", "acc_demo_cloze"})
        QVERIFY2(!f[header.indexOf(QString::fromLatin1(col))].isEmpty(), col);
    }

    // The plots: base + 2 steps on the latency axis and on the accuracy plot.
    ParamsLatencyPlot lat;
    lat.setRun(run);
    QCOMPARE(lat.latencyGraph()->dataCount(), 3);
    QCOMPARE(lat.latencyGraph()->valueAxis(), lat.plot()->yAxis2);
    QCOMPARE(lat.latencyGraph()->data()->at(2)->value, *run.steps[1].latencyMs);
    QVERIFY(!lat.plot()->yAxis2->label().contains(QStringLiteral("not measured")));
    AccuracyPlot acc;
    acc.setRun(run);
    QCOMPARE(acc.accuracyGraph()->dataCount(), 3);
    QCOMPARE(acc.accuracyGraph()->data()->at(0)->value, 100.0 * *run.baseAccuracy);
    QCOMPARE(acc.accuracyGraph()->data()->at(2)->value, 100.0 * *run.steps[1].accuracy);
  }

  void cancel_keeps_the_journal_and_resume_finishes_the_same_run() {
    loadTiny("mamba1");
    const QString tmp = QString::fromStdString(test::make_temp_dir("gui-worker-cancel"));
    // Reference: an uninterrupted 3-step SSM search (4 of the 8 calibration windows, to keep the test short).
    QSignalSpy finished(w_, &EngineWorker::searchFinished);
    SearchSettings full = tinySearch(QStringLiteral("ssm"), 3, tmp + "/full");
    full.calibration.windows = 4;
    full.calibration.batch = 4;
    post(w_, [w = w_, full] { w->runSearch(full, {}, false); });
    SHEDDER_WAIT_FOR(finished, 1, kTimeout);
    const RunRecord ref = finished.at(0).at(0).value<RunRecord>();
    QCOMPARE(ref.steps.size(), 3);

    // The same search, cancelled from the UI thread as soon as the first step is reported.
    QSignalSpy steps(w_, &EngineWorker::searchStep);
    QSignalSpy cancelled(w_, &EngineWorker::searchCancelled);
    QSignalSpy busy(w_, &EngineWorker::busyChanged);
    connect(w_, &EngineWorker::searchStep, this, [this] { w_->requestCancel(); }, Qt::SingleShotConnection);
    SearchSettings s = full;
    s.runDir = tmp + "/run";
    post(w_, [w = w_, s] { w->runSearch(s, {}, false); });
    SHEDDER_WAIT_FOR(cancelled, 1, kTimeout);
    QTRY_COMPARE(busy.count(), 2);
    QCOMPARE(finished.count(), 1);  // only the reference run finished
    const RunRecord partial = cancelled.at(0).at(0).value<RunRecord>();
    QCOMPARE(partial.state, QStringLiteral("cancelled"));
    QVERIFY(partial.steps.size() >= 1 && partial.steps.size() < 3);
    QCOMPARE(journalSteps(tmp + "/run/journal.jsonl"), int(partial.steps.size()));
    QCOMPARE(partial.steps[0].id, ref.steps[0].id);

    // Resume: the journal's steps are replayed (reported again) and the rest computed; same picks and scores.
    steps.clear();
    QSignalSpy progress(w_, &EngineWorker::progress);
    post(w_, [w = w_, s] { w->runSearch(s, {}, true); });
    SHEDDER_WAIT_FOR(finished, 2, kTimeout);
    // The replay says where the run stands (a determinate bar, "step 1 of 3"), not just that something is busy.
    bool replaySaid = false;
    for (const QList<QVariant>& a : progress) {
      const ProgressInfo p = a.at(0).value<ProgressInfo>();
      if (p.stage == QStringLiteral("resuming: step 1 of 3 from the journal")) {
        replaySaid = true;
        QCOMPARE(p.total, qint64((8 + 7 + 6) * 1000));
        QCOMPARE(p.done, qint64(8 * 1000));
      }
    }
    QVERIFY(replaySaid);
    const RunRecord resumed = finished.at(1).at(0).value<RunRecord>();
    QCOMPARE(resumed.steps.size(), 3);
    QCOMPARE(steps.count(), 3);
    for (int i = 0; i < 3; ++i) {
      QCOMPARE(resumed.steps[i].id, ref.steps[i].id);
      QCOMPARE(resumed.steps[i].ppl, ref.steps[i].ppl);
      QCOMPARE(resumed.steps[i].candidates.size(), ref.steps[i].candidates.size());
    }
    QCOMPARE(journalSteps(tmp + "/run/journal.jsonl"), 3);
    QCOMPARE(resumed.evaluations, (8 + 7 + 6) - (8 * int(partial.steps.size() >= 1) + 7 * int(partial.steps.size() >= 2)));
  }

  // A Cancel pressed while a job waits in the queue drops that job too (it never runs); a job queued after the
  // Cancel runs normally.
  void cancel_drops_queued_jobs() {
    loadTiny("mamba1");
    const QString tmp = QString::fromStdString(test::make_temp_dir("gui-worker-queued"));
    QSignalSpy started(w_, &EngineWorker::progress);
    QSignalSpy cancelled(w_, &EngineWorker::cancelled);
    QSignalSpy searchCancelled(w_, &EngineWorker::searchCancelled);
    QSignalSpy evaluated(w_, &EngineWorker::evaluated);
    const SearchSettings s = tinySearch(QStringLiteral("block"), 4, tmp + "/run");
    const CalibrationSettings c = s.calibration;
    w_->enqueue([w = w_, s] { w->runSearch(s, {}, false); });
    SHEDDER_WAIT_FOR(started, 1, kTimeout);  // the search runs; now queue an evaluation behind it
    w_->enqueue([w = w_, c] { w->evaluate({QStringLiteral("layers.1")}, c, QString()); });
    w_->requestCancel();
    SHEDDER_WAIT_FOR(searchCancelled, 1, kTimeout);
    QTRY_COMPARE(cancelled.count(), 1);  // the queued evaluation, reported cancelled when its turn came
    QCOMPARE(cancelled.at(0).at(0).toString(), QStringLiteral("evaluate"));
    QCOMPARE(evaluated.count(), 0);
    w_->enqueue([w = w_, c] { w->evaluate({QStringLiteral("layers.1")}, c, QString()); });
    SHEDDER_WAIT_FOR(evaluated, 1, kTimeout);
  }

  // A cancel during the held-out evaluation that follows a journaled step: the cancelled run's record still holds
  // that step (without its held-out value), so the record and the journal never disagree.
  void cancel_during_heldout_keeps_record_and_journal_equal() {
    loadTiny("mamba1");
    const QString tmp = QString::fromStdString(test::make_temp_dir("gui-worker-heldout"));
    SearchSettings s = tinySearch(QStringLiteral("ssm"), 3, tmp + "/run");
    s.heldoutCurve = true;
    s.calibration.heldoutFiles = {QString::fromStdString(test::test_data_dir() + "/trained_tiny/README.md")};
    s.calibration.seqLen = 16;
    QSignalSpy cancelled(w_, &EngineWorker::searchCancelled);
    // Direct connection: the request is made on the worker's thread as the held-out stage after step 1 begins.
    std::atomic<int> heldout{0};
    auto conn = connect(
        w_, &EngineWorker::progress, w_,
        [&](const ProgressInfo& p) {
          if (p.stage == QStringLiteral("held-out perplexity") && ++heldout == 2) w_->requestCancel();
        },
        Qt::DirectConnection);
    w_->enqueue([w = w_, s] { w->runSearch(s, {}, false); });
    SHEDDER_WAIT_FOR(cancelled, 1, kTimeout);
    disconnect(conn);
    const RunRecord partial = cancelled.at(0).at(0).value<RunRecord>();
    QCOMPARE(journalSteps(tmp + "/run/journal.jsonl"), 1);
    QCOMPARE(partial.steps.size(), 1);
    QVERIFY(!partial.steps[0].heldoutPpl.has_value());
  }

  void what_if_and_export() {
    loadTiny("mamba1");
    QSignalSpy evaluated(w_, &EngineWorker::evaluated);
    CalibrationSettings c = tinySearch(QStringLiteral("block"), 1, QString()).calibration;
    const QStringList ids{QStringLiteral("layers.7"), QStringLiteral("layers.1.ssm")};
    post(w_, [w = w_, ids, c] { w->evaluate(ids, c, QStringLiteral("note")); });
    SHEDDER_WAIT_FOR(evaluated, 1, kTimeout);
    const WhatIfResult r = evaluated.at(0).at(0).value<WhatIfResult>();
    QCOMPARE(r.removed, ids);
    QCOMPARE(r.note, QStringLiteral("note"));
    QCOMPARE(r.windows, 8);
    QCOMPARE(r.seqLen, 256);
    QVERIFY(r.ppl > r.basePpl);
    QVERIFY(r.parametersRemovedPct > 12 && r.parametersRemovedPct < 20);

    QSignalSpy exported(w_, &EngineWorker::exported);
    const QString out = QString::fromStdString(test::make_temp_dir("gui-worker-export")) + "/pruned";
    post(w_, [w = w_, ids, out, r] { w->exportCheckpoint(ids, out, false, r.basePpl, r.ppl, QStringLiteral("test")); });
    SHEDDER_WAIT_FOR(exported, 1, kTimeout);
    const ExportSummary e = exported.at(0).at(0).value<ExportSummary>();
    QCOMPARE(e.layersAfter, 7);
    QVERIFY(!e.transformersLoadable);  // an SSM-less layer remains
    auto m = MambaModel::load(out.toStdString());
    QCOMPARE(m->num_layers(), int64_t(7));
    QCOMPARE(m->total_parameters(), e.parametersAfter);
    const nlohmann::json report = nlohmann::json::parse(test::read_file(out.toStdString() + "/shedding_report.json"));
    QVERIFY(report.dump().find("test") != std::string::npos);
  }

  void failures_are_messages_naming_the_problem() {
    QSignalSpy failed(w_, &EngineWorker::failed);
    QSignalSpy busy(w_, &EngineWorker::busyChanged);
    post(w_, [w = w_] { w->loadModel(QStringLiteral("/nonexistent/model-xyz")); });
    SHEDDER_WAIT_FOR(failed, 1, kTimeout);
    QCOMPARE(failed.at(0).at(0).toString(), QStringLiteral("load"));
    QVERIFY2(failed.at(0).at(1).toString().contains(QStringLiteral("/nonexistent/model-xyz")), qPrintable(failed.at(0).at(1).toString()));
    QTRY_COMPARE(busy.count(), 2);

    loadTiny("mamba1");
    CalibrationSettings c;
    c.source = CalibrationSource::TextFiles;
    c.textFiles = QStringList{QStringLiteral("/nonexistent/calib.txt")};
    post(w_, [w = w_, c] { w->evaluate({}, c, QString()); });
    SHEDDER_WAIT_FOR(failed, 2, kTimeout);
    QCOMPARE(failed.at(1).at(0).toString(), QStringLiteral("evaluate"));
    QVERIFY(failed.at(1).at(1).toString().contains(QStringLiteral("/nonexistent/calib.txt")));

    // A removal set the model does not have.
    post(w_, [w = w_] { w->evaluate({QStringLiteral("layers.42")}, tinySearch(QStringLiteral("block"), 1, QString()).calibration, QString()); });
    SHEDDER_WAIT_FOR(failed, 3, kTimeout);
    QVERIFY2(failed.at(2).at(1).toString().contains(QStringLiteral("42")), qPrintable(failed.at(2).at(1).toString()));

    // Resuming where there is no journal, and starting over an existing one, are refused with the path.
    const QString dir = QString::fromStdString(test::make_temp_dir("gui-worker-refuse"));
    const SearchSettings s = tinySearch(QStringLiteral("block"), 1, dir);
    post(w_, [w = w_, s] { w->runSearch(s, {}, true); });
    SHEDDER_WAIT_FOR(failed, 4, kTimeout);
    QVERIFY(failed.at(3).at(1).toString().contains(QStringLiteral("journal")));
    QSignalSpy finished(w_, &EngineWorker::searchFinished);
    post(w_, [w = w_, s] { w->runSearch(s, {}, false); });
    SHEDDER_WAIT_FOR(finished, 1, kTimeout);
    post(w_, [w = w_, s] { w->runSearch(s, {}, false); });
    SHEDDER_WAIT_FOR(failed, 5, kTimeout);
    QVERIFY(failed.at(4).at(1).toString().contains(QStringLiteral("already holds a journal")));
    // A resume with other settings is refused by the journal check.
    SearchSettings other = s;
    other.granularity = QStringLiteral("ssm");
    post(w_, [w = w_, other] { w->runSearch(other, {}, true); });
    SHEDDER_WAIT_FOR(failed, 6, kTimeout);
    QVERIFY2(failed.at(5).at(1).toString().contains(QStringLiteral("granularity")), qPrintable(failed.at(5).at(1).toString()));
  }
};

QTEST_MAIN(TestGuiWorker)
#include "test_gui_worker.moc"
