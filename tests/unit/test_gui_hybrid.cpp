// The workbench on a hybrid model (the Zamba2 fixture made by transformers), driven through the background worker
// as the window drives it: the load reports the architecture and the hybrid tree, the what-if evaluation equals the
// engine's hybrid perplexity, a head-group search gives the engine's picks with its progress, step and base reports,
// writes its result files and feeds the perplexity and parameter plots unchanged; export writes a folder the hybrid
// loader reads back with the same perplexity; options that do not apply to hybrids fail with a message.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>

#include <cmath>
#include <filesystem>

#include "engine_session.h"
#include "engine_worker.h"
#include "eval/token_windows.h"
#include "model/hybrid_model.h"
#include "qcustomplot_include.h"
#include "run_curve_plots.h"
#include "search_panel.h"
#include "support/gui_test_support.h"
#include "support/test_support.h"

using namespace shedder;
using namespace shedder::ui;

namespace {

constexpr int kTimeout = 120000;

template <typename F>
void post(EngineWorker* w, F f) {
  QMetaObject::invokeMethod(w, f, Qt::QueuedConnection);
}

QString model() { return QString::fromStdString(test::test_data_dir() + "/hybrid/zamba2-tiny"); }
QString tokens() { return QString::fromStdString(test::test_data_dir() + "/hybrid/zamba2_reference.safetensors:input_ids"); }

CalibrationSettings calib() {
  CalibrationSettings c;
  c.source = CalibrationSource::TokenFile;
  c.tokenFile = tokens();
  c.windows = 2;
  c.batch = 2;
  return c;
}

// A perplexity search of `steps` steps over `granularity` on the fixture's windows, into `runDir`.
SearchSettings hybridSearch(const char* granularity, int steps, const std::string& runDir) {
  SearchSettings s;
  s.granularity = QString::fromLatin1(granularity);
  s.metric = QStringLiteral("ppl");
  s.steps = steps;
  s.heldoutCurve = false;
  s.calibration = calib();
  s.runDir = QString::fromStdString(runDir);
  return s;
}

}  // namespace

class TestGuiHybrid : public QObject {
  Q_OBJECT
  QThread thread_;
  EngineWorker* w_ = nullptr;
  std::string tmp_;

 private Q_SLOTS:
  void initTestCase() {
    at::set_num_threads(2);
    test::init_gui_test_environment();
    registerEngineMetaTypes();
    tmp_ = test::make_temp_dir("gui-hybrid");
    w_ = new EngineWorker;
    w_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, w_, &QObject::deleteLater);
    thread_.start();
    QSignalSpy loaded(w_, &EngineWorker::modelLoaded);
    const QString path = model();
    post(w_, [w = w_, path] { w->loadModel(path); });
    SHEDDER_WAIT_FOR(loaded, 1, kTimeout);
    const ModelInfo info = loaded.at(0).at(0).value<ModelInfo>();
    QCOMPARE(info.arch, QStringLiteral("zamba2"));
    QVERIFY(info.tree.children.size() >= 6);
  }

  void cleanupTestCase() {
    thread_.quit();
    thread_.wait();
  }

  void what_if_equals_the_engine() {
    auto ref = load_hybrid_model(model().toStdString());
    const at::Tensor windows = load_token_windows(tokens().toStdString(), ref->vocab_size(), 0);
    HybridRemoval r;
    r.add("layers.2");
    r.add("shared.0.attn.heads.1");
    const double want = hybrid_perplexity(*ref, windows, r, 2), base = hybrid_perplexity(*ref, windows, {}, 2);

    QSignalSpy done(w_, &EngineWorker::evaluated);
    const QStringList ids = {QStringLiteral("layers.2"), QStringLiteral("shared.0.attn.heads.1")};
    const CalibrationSettings c = calib();
    post(w_, [w = w_, ids, c] { w->evaluate(ids, c, QString()); });
    SHEDDER_WAIT_FOR(done, 1, kTimeout);
    const WhatIfResult got = done.at(0).at(0).value<WhatIfResult>();
    QVERIFY2(std::abs(got.ppl - want) <= 1e-9 * want, qPrintable(QStringLiteral("%1 vs %2").arg(got.ppl).arg(want)));
    QVERIFY(std::abs(got.basePpl - base) <= 1e-9 * base);
    QCOMPARE(got.parametersRemoved, ref->removed_parameters(r));
  }

  void search_matches_the_engine_and_feeds_the_plots() {
    auto ref = load_hybrid_model(model().toStdString());
    const at::Tensor windows = load_token_windows(tokens().toStdString(), ref->vocab_size(), 0);
    const HybridSearchResult want = run_hybrid_search(*ref, windows, HybridGranularity::AttentionHeads, 2, {}, 2);
    QCOMPARE(int(want.steps.size()), 2);

    const SearchSettings s = hybridSearch("head", 2, tmp_ + "/run");
    QSignalSpy finished(w_, &EngineWorker::searchFinished), steps(w_, &EngineWorker::searchStep),
        base(w_, &EngineWorker::searchBase), progress(w_, &EngineWorker::progress);
    post(w_, [w = w_, s] { w->runSearch(s, {}, false); });
    SHEDDER_WAIT_FOR(finished, 1, kTimeout);
    QCOMPARE(steps.count(), 2);
    QCOMPARE(base.count(), 1);
    QVERIFY(progress.count() >= 2);
    const RunRecord run = finished.at(0).at(0).value<RunRecord>();
    QCOMPARE(run.steps.size(), 2);
    for (int i = 0; i < 2; ++i) {
      QCOMPARE(run.steps[i].id.toStdString(), want.steps[static_cast<size_t>(i)].removed);
      QVERIFY(std::abs(run.steps[i].ppl - want.steps[static_cast<size_t>(i)].ppl) <= 1e-9 * want.steps[static_cast<size_t>(i)].ppl);
      QCOMPARE(run.steps[i].candidates.size(), int(want.steps[static_cast<size_t>(i)].candidates.size()));
      QCOMPARE(run.steps[i].parametersRemoved, want.steps[static_cast<size_t>(i)].params_removed);
    }
    QVERIFY(std::filesystem::exists(tmp_ + "/run/search_result.json"));
    QVERIFY(std::filesystem::exists(tmp_ + "/run/pruning_config.json"));

    // The plots take the hybrid run as they take a Mamba run: base + 2 steps.
    PerplexityCurvePlot ppl;
    ppl.setRun(run);
    QCOMPARE(ppl.calibrationGraph()->dataCount(), 3);
    QCOMPARE(ppl.calibrationGraph()->data()->at(2)->value, run.steps[1].ppl);
    ParamsLatencyPlot params;
    params.setRun(run);
    QCOMPARE(params.parametersGraph()->dataCount(), 3);

    // Export of the search's picks: the hybrid loader reads the folder back with the masked perplexity.
    QSignalSpy exported(w_, &EngineWorker::exported);
    const QStringList ids = {run.steps[0].id, run.steps[1].id};
    const QString out = QString::fromStdString(tmp_ + "/export");
    post(w_, [w = w_, ids, out] { w->exportCheckpoint(ids, out, false, std::nan(""), std::nan(""), QString()); });
    SHEDDER_WAIT_FOR(exported, 1, kTimeout);
    auto back = load_hybrid_model(out.toStdString());
    QCOMPARE(back->total_parameters(), ref->total_parameters() - want.steps[1].params_removed);
    const double again = hybrid_perplexity(*back, windows, {}, 2);
    QVERIFY2(std::abs(again - want.steps[1].ppl) <= 1e-3 * want.steps[1].ppl,
             qPrintable(QStringLiteral("%1 vs %2").arg(again).arg(want.steps[1].ppl)));
  }

  // A hybrid search keeps a journal: one step, then Resume with two steps gives the two-step search.
  void resume_continues_the_journal() {
    auto ref = load_hybrid_model(model().toStdString());
    const at::Tensor windows = load_token_windows(tokens().toStdString(), ref->vocab_size(), 0);
    const HybridSearchResult want = run_hybrid_search(*ref, windows, HybridGranularity::MlpChannels, 2, {}, 2);
    SearchSettings s = hybridSearch("channel", 1, tmp_ + "/resumed");
    QSignalSpy finished(w_, &EngineWorker::searchFinished);
    post(w_, [w = w_, s] { w->runSearch(s, {}, false); });
    SHEDDER_WAIT_FOR(finished, 1, kTimeout);
    s.steps = 2;
    post(w_, [w = w_, s] { w->runSearch(s, {}, true); });
    SHEDDER_WAIT_FOR(finished, 2, kTimeout);
    const RunRecord run = finished.at(1).at(0).value<RunRecord>();
    QCOMPARE(run.steps.size(), 2);
    for (int i = 0; i < 2; ++i) QCOMPARE(run.steps[i].id.toStdString(), want.steps[static_cast<size_t>(i)].removed);
    QVERIFY(run.journalPath.endsWith(QStringLiteral("journal.jsonl")));
  }

  // The search panel offers the open architecture's granularities (and only the perplexity metric for hybrids).
  void search_panel_follows_the_architecture() {
    SearchPanel p;
    auto pick = [&](const QString& g) {
      SearchSettings s = p.settings();
      s.granularity = g;
      p.setSettings(s);
      return p.settings().granularity;
    };
    p.setArchitecture(QStringLiteral("zamba2"));
    for (const char* g : {"block", "ssm", "shared", "head", "channel"}) QCOMPARE(pick(QString::fromLatin1(g)), QString::fromLatin1(g));
    QCOMPARE(pick(QStringLiteral("ssm-head")), QStringLiteral("block"));  // Hymba's kind is not offered
    QCOMPARE(p.settings().metric, QStringLiteral("ppl"));
    p.setArchitecture(QStringLiteral("hymba"));
    for (const char* g : {"attn", "mlp", "ssm-head", "head", "channel"}) QCOMPARE(pick(QString::fromLatin1(g)), QString::fromLatin1(g));
    p.setArchitecture(QStringLiteral("mamba"));
    QCOMPARE(pick(QStringLiteral("head")), QStringLiteral("block"));
    QCOMPARE(pick(QStringLiteral("ssm")), QStringLiteral("ssm"));
  }

  void options_that_do_not_apply_fail_with_a_message() {
    QSignalSpy failed(w_, &EngineWorker::failed);
    SearchSettings s = hybridSearch("head", 1, tmp_ + "/run2");
    s.metric = QStringLiteral("cosine");
    post(w_, [w = w_, s] { w->runSearch(s, {}, false); });
    SHEDDER_WAIT_FOR(failed, 1, kTimeout);
    QVERIFY(failed.at(0).at(1).toString().contains(QStringLiteral("perplexity")));
    s.metric = QStringLiteral("ppl");
    post(w_, [w = w_, s] { w->runSearch(s, {}, true); });
    SHEDDER_WAIT_FOR(failed, 2, kTimeout);
    QVERIFY(failed.at(1).at(1).toString().contains(QStringLiteral("no journal to resume")));
    s.granularity = QStringLiteral("ssm-head");  // Hymba only
    post(w_, [w = w_, s] { w->runSearch(s, {}, false); });
    SHEDDER_WAIT_FOR(failed, 3, kTimeout);
    QVERIFY2(failed.at(2).at(1).toString().contains(QStringLiteral("no 'ssm-head' components")),
             qPrintable(failed.at(2).at(1).toString()));
  }
};

QTEST_MAIN(TestGuiHybrid)
#include "test_gui_hybrid.moc"
