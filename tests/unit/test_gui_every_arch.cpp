// The workbench on every architecture (Mamba-1, Mamba-2, Zamba2, Hymba; tests/unit/support/arch_models.h), driven
// through the background worker as the window drives it, one parametrised suite: the load describes the model and
// offers what the model reports (granularities; the cosine metric where it applies), the tree's totals equal the
// parameters an export actually drops for every kind of component, the what-if evaluation equals the engine's
// perplexity, a search gives the engine's picks with its reports and feeds the plots, its picks export to a folder
// that loads back with the searched perplexity, and Resume continues the journal.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>

#include <cmath>
#include <filesystem>
#include <set>

#include "component_tree_model.h"
#include "engine_session.h"
#include "engine_worker.h"
#include "eval/perplexity.h"
#include "eval/window_source.h"
#include "export/exporter.h"
#include "io/safetensors.h"
#include "qcustomplot_include.h"
#include "run_curve_plots.h"
#include "search_panel.h"
#include "shed/search.h"
#include "support/arch_models.h"
#include "support/gui_test_support.h"
#include "support/test_support.h"
#include "util/error.h"

using namespace shedder;
using namespace shedder::ui;

namespace {

constexpr int kTimeout = 120000;

template <typename F>
void post(EngineWorker* w, F f) {
  QMetaObject::invokeMethod(w, f, Qt::QueuedConnection);
}

QStringList qlist(const std::vector<std::string>& v) {
  QStringList out;
  for (const auto& s : v) out << QString::fromStdString(s);
  return out;
}

// Every removable node of the tree, by kind (the first node of each kind, in tree order).
void first_of_each_kind(const ComponentInfo& c, std::map<QString, QString>& out) {
  if (c.removable() && !out.count(c.kind)) out[c.kind] = c.id;
  for (const auto& ch : c.children) first_of_each_kind(ch, out);
}

}  // namespace

class TestGuiEveryArch : public QObject {
  Q_OBJECT
  QThread thread_;
  EngineWorker* w_ = nullptr;
  std::string tmp_;

  // Loads `arch` in the worker and returns what the window gets (QFAIL inside: call through LOAD below).
  void load(const QString& arch, ModelInfo* info) {
    QSignalSpy loaded(w_, &EngineWorker::modelLoaded);
    const QString path = QString::fromStdString(test::arch_model(arch.toStdString()));
    post(w_, [w = w_, path] { w->loadModel(path); });
    // (QSignalSpy::wait would miss a signal emitted before it starts waiting.)
    QTRY_VERIFY_WITH_TIMEOUT(loaded.count() >= 1, kTimeout);
    *info = loaded.at(0).at(0).value<ModelInfo>();
  }
  ModelInfo load(const QString& arch) {
    ModelInfo info;
    load(arch, &info);
    return info;
  }

  // Random calibration windows for `m` in a token file, and the settings that read them all.
  CalibrationSettings calib(const Model& m, const QString& arch) {
    at::manual_seed(11);
    const std::string file = tmp_ + "/" + arch.toStdString() + "-calib.safetensors";
    write_safetensors(file, {{"ids", test::random_ids(m, 4, 24)}});
    CalibrationSettings c;
    c.source = CalibrationSource::TokenFile;
    c.tokenFile = QString::fromStdString(file + ":ids");
    c.windows = 4;
    c.batch = 2;
    return c;
  }

  // The windows the session reads for `c` (the same source, draw and seed).
  static at::Tensor windows(const Model& m, const CalibrationSettings& c) {
    WindowSource src;
    src.tokens = c.tokenFile.toStdString();
    src.max_windows = c.windows;
    src.sample = true;
    src.seed = c.seed;
    return load_windows(m, src);
  }

 private Q_SLOTS:
  void initTestCase() {
    at::set_num_threads(2);
    test::init_gui_test_environment();
    registerEngineMetaTypes();
    tmp_ = test::make_temp_dir("gui-every-arch");
    w_ = new EngineWorker;
    w_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, w_, &QObject::deleteLater);
    // A job that fails where a test waits for its result shows why in the log, not only as a timeout.
    connect(w_, &EngineWorker::failed, this,
            [](const QString& job, const QString& message) { qWarning("worker: %s failed: %s", qPrintable(job), qPrintable(message)); });
    thread_.start();
  }

  void cleanupTestCase() {
    thread_.quit();
    thread_.wait();
  }

  // The load describes the model; the search panel offers exactly its granularities and the cosine metric only for
  // those acting in one layer — as the model reports them.
  void offers_what_the_model_has_data() { test::add_arch_rows(); }
  void offers_what_the_model_has() {
    QFETCH(QString, arch);
    auto m = Model::load(test::arch_model(arch.toStdString()));
    const ModelInfo info = load(arch);
    QCOMPARE(info.arch, QString::fromLatin1(m->arch()));
    QCOMPARE(info.totalParameters, m->total_parameters());
    QCOMPARE(info.layers, int(m->num_layers()));
    QVERIFY(!info.description.isEmpty());
    QStringList want, cosine;
    for (Granularity g : m->granularities()) {
      want << QString::fromLatin1(granularity_name(g));
      if (m->layer_local(g)) cosine << QString::fromLatin1(granularity_name(g));
    }
    QCOMPARE(info.granularities, want);
    QCOMPARE(info.cosineGranularities, cosine);
    SearchPanel p;
    p.setGranularities(info.granularities, info.cosineGranularities);
    QCOMPARE(p.offeredGranularities(), want);
    auto* metric = p.findChild<QComboBox*>(QStringLiteral("metric"));
    QVERIFY(metric);
    const auto* items = qobject_cast<QStandardItemModel*>(metric->model());
    for (const QString& g : want) {
      QVERIFY(p.selectGranularity(g));
      const bool enabled = items->item(metric->findData(QStringLiteral("cosine")))->isEnabled();
      QVERIFY2(enabled == cosine.contains(g), qPrintable(arch + " " + g));
      // The box itself says why cosine is missing.
      QCOMPARE(metric->toolTip().contains(QStringLiteral("not offered")), !enabled);
    }
    QVERIFY(!info.dtype.isEmpty());  // the status bar's dtype slot
    QVERIFY(!p.selectGranularity(QStringLiteral("no-such-kind")));
  }

  // For every kind of component in the tree (and a layer together with a part of it), the tree's removed count is
  // what an export of that set actually drops: the parameters of the tensors it writes, counted independently.
  void tree_totals_are_right_for_every_kind_data() { test::add_arch_rows(); }
  void tree_totals_are_right_for_every_kind() {
    QFETCH(QString, arch);
    auto m = Model::load(test::arch_model(arch.toStdString()));
    const ModelInfo info = load(arch);
    std::map<QString, QString> kinds;
    first_of_each_kind(info.tree, kinds);
    QVERIFY(kinds.size() >= 2);
    std::vector<QStringList> sets;
    for (const auto& [kind, id] : kinds) sets.push_back({id});
    for (const auto& [label, r] : test::removals_for(*m)) sets.push_back(qlist(r.ids()));
    ComponentTreeModel tm;
    tm.setModelInfo(info);
    // A shared block's use explains how its weights are counted.
    if (arch == QLatin1String("zamba2")) QVERIFY(kinds.count(QStringLiteral("shared_block")));
    if (kinds.count(QStringLiteral("shared_block")))
      QVERIFY(tm.indexOf(kinds[QStringLiteral("shared_block")]).data(Qt::ToolTipRole).toString().contains(
          QStringLiteral("what removing this use frees")));
    int n = 0;
    for (const QStringList& ids : sets) {
      RemovalSet r;
      for (const QString& id : ids) r.add_spec(id.toStdString());
      try {
        m->plan(r);
      } catch (const Error&) {
        continue;  // e.g. Hymba's K/V producer cannot go alone: no total to check
      }
      tm.setMarked(ids);
      ExportOptions o;
      o.out_dir = tmp_ + "/totals-" + arch.toStdString() + "-" + std::to_string(n++);
      const ExportResult e = export_pruned(*m, r, o);
      // The parameters written, a tensor stored under several names (Zamba2's shared blocks in every layer using
      // them, as transformers stores them) counted once.
      int64_t written = 0;
      auto f = SafetensorsFile::open(o.out_dir + "/model.safetensors");
      std::vector<at::Tensor> seen;
      for (const auto& name : f->names()) {
        const at::Tensor t = f->tensor(name);
        bool dup = false;
        for (const at::Tensor& u : seen) dup = dup || (u.sizes() == t.sizes() && at::equal(u, t));
        if (dup) continue;
        seen.push_back(t);
        written += t.numel();
      }
      const int64_t dropped = m->total_parameters() - written;
      QVERIFY2(tm.removedParameters() == dropped,
               qPrintable(arch + " " + ids.join(QStringLiteral(",")) + QStringLiteral(": tree %1, export drops %2")
                                                                          .arg(tm.removedParameters())
                                                                          .arg(dropped)));
      QCOMPARE(e.params_after, written);
      QVERIFY(tm.headerData(ComponentTreeModel::ShareColumn, Qt::Horizontal)
                  .toString()
                  .contains(QString::number(100.0 * double(dropped) / double(info.totalParameters), 'f', 1)));
    }
    QVERIFY(n >= 3);
  }

  void what_if_equals_the_engine_data() { test::add_arch_rows(); }
  void what_if_equals_the_engine() {
    QFETCH(QString, arch);
    auto m = Model::load(test::arch_model(arch.toStdString()));
    load(arch);
    const CalibrationSettings c = calib(*m, arch);
    const RemovalSet r = test::removals_for(*m).back().second;  // one component of every granularity
    const at::Tensor w = windows(*m, c);
    const double want = evaluate_perplexity(*m, w, 2, r).perplexity, base = evaluate_perplexity(*m, w, 2).perplexity;
    QSignalSpy done(w_, &EngineWorker::evaluated);
    const QStringList ids = qlist(r.ids());
    post(w_, [w = w_, ids, c] { w->evaluate(ids, c, QString()); });
    SHEDDER_WAIT_FOR(done, 1, kTimeout);
    const WhatIfResult got = done.at(0).at(0).value<WhatIfResult>();
    QVERIFY2(std::abs(got.ppl - want) <= 1e-9 * want, qPrintable(QStringLiteral("%1 vs %2").arg(got.ppl).arg(want)));
    QVERIFY(std::abs(got.basePpl - base) <= 1e-9 * base);
    QCOMPARE(got.parametersRemoved, m->removed_parameters(r));
  }

  // A search over the model's finest granularity with the stop rules the panel sets: the engine's picks, reported
  // step by step, plotted; the picks export and load back with the searched perplexity; Resume continues the
  // journal to the same steps.
  void search_export_resume_data() { test::add_arch_rows(); }
  void search_export_resume() {
    QFETCH(QString, arch);
    auto m = Model::load(test::arch_model(arch.toStdString()));
    load(arch);
    SearchSettings s;
    s.granularity = QString::fromLatin1(granularity_name(m->granularities().back()));
    s.metric = QStringLiteral("ppl");
    s.steps = 2;
    s.heldoutCurve = false;
    s.calibration = calib(*m, arch);
    s.runDir = QString::fromStdString(tmp_ + "/run-" + arch.toStdString());
    SearchOptions o;
    o.granularity = m->granularities().back();
    o.steps = 2;
    o.batch = 2;
    const at::Tensor w = windows(*m, s.calibration);
    const SearchResult want = run_search(*m, w, o);
    QCOMPARE(int(want.steps.size()), 2);

    QSignalSpy finished(w_, &EngineWorker::searchFinished), steps(w_, &EngineWorker::searchStep),
        base(w_, &EngineWorker::searchBase);
    post(w_, [w = w_, s] { w->runSearch(s, {}, false); });
    SHEDDER_WAIT_FOR(finished, 1, kTimeout);
    QCOMPARE(steps.count(), 2);
    QCOMPARE(base.count(), 1);
    const RunRecord run = finished.at(0).at(0).value<RunRecord>();
    QCOMPARE(run.totalParameters, m->total_parameters());
    for (int i = 0; i < 2; ++i) {
      const SearchStep& ws = want.steps[static_cast<size_t>(i)];
      QCOMPARE(run.steps[i].id.toStdString(), ws.id);
      QVERIFY(std::abs(run.steps[i].ppl - ws.ppl) <= 1e-9 * ws.ppl);
      QCOMPARE(run.steps[i].parametersRemoved, ws.params_removed);
    }
    QVERIFY(std::filesystem::exists(s.runDir.toStdString() + "/search_result.json"));
    QVERIFY(std::filesystem::exists(s.runDir.toStdString() + "/pruning_config.json"));
    PerplexityCurvePlot ppl;
    ppl.setRun(run);
    QCOMPARE(ppl.calibrationGraph()->dataCount(), 3);
    ParamsLatencyPlot params;
    params.setRun(run);
    QCOMPARE(params.parametersGraph()->dataCount(), 3);

    QSignalSpy exported(w_, &EngineWorker::exported);
    const QStringList ids = {run.steps[0].id, run.steps[1].id};
    const QString out = QString::fromStdString(tmp_ + "/export-" + arch.toStdString());
    post(w_, [w = w_, ids, out] { w->exportCheckpoint(ids, out, false, std::nan(""), std::nan(""), QString()); });
    SHEDDER_WAIT_FOR(exported, 1, kTimeout);
    const ExportSummary es = exported.at(0).at(0).value<ExportSummary>();
    auto back = Model::load(out.toStdString());
    QCOMPARE(es.layersAfter, int(back->num_layers()));
    QCOMPARE(es.parametersAfter, back->total_parameters());
    QCOMPARE(back->total_parameters(), m->total_parameters() - want.steps[1].params_removed);
    const double again = evaluate_perplexity(*back, w, 2).perplexity;
    QVERIFY2(std::abs(again - want.steps[1].ppl) <= 1e-4 * want.steps[1].ppl,
             qPrintable(QStringLiteral("%1 vs %2").arg(again).arg(want.steps[1].ppl)));

    // Resume: one step, then two.
    SearchSettings r = s;
    r.steps = 1;
    r.runDir = QString::fromStdString(tmp_ + "/resumed-" + arch.toStdString());
    post(w_, [w = w_, r] { w->runSearch(r, {}, false); });
    SHEDDER_WAIT_FOR(finished, 2, kTimeout);
    r.steps = 2;
    post(w_, [w = w_, r] { w->runSearch(r, {}, true); });
    SHEDDER_WAIT_FOR(finished, 3, kTimeout);
    const RunRecord resumed = finished.at(2).at(0).value<RunRecord>();
    QCOMPARE(resumed.steps.size(), 2);
    for (int i = 0; i < 2; ++i) QCOMPARE(resumed.steps[i].id, run.steps[i].id);
  }

  void options_that_do_not_apply_fail_with_a_message() {
    auto m = Model::load(test::arch_model("zamba2"));
    load(QStringLiteral("zamba2"));
    QSignalSpy failed(w_, &EngineWorker::failed);
    SearchSettings s;
    s.granularity = QStringLiteral("head");
    s.metric = QStringLiteral("cosine");  // a shared block's head acts in every layer that uses it
    s.steps = 1;
    s.heldoutCurve = false;
    s.calibration = calib(*m, QStringLiteral("zamba2"));
    s.runDir = QString::fromStdString(tmp_ + "/refused");
    post(w_, [w = w_, s] { w->runSearch(s, {}, false); });
    SHEDDER_WAIT_FOR(failed, 1, kTimeout);
    QVERIFY2(failed.at(0).at(1).toString().contains(QStringLiteral("cosine")), qPrintable(failed.at(0).at(1).toString()));
    s.metric = QStringLiteral("ppl");
    post(w_, [w = w_, s] { w->runSearch(s, {}, true); });
    SHEDDER_WAIT_FOR(failed, 2, kTimeout);
    QVERIFY(failed.at(1).at(1).toString().contains(QStringLiteral("no journal to resume")));
    s.granularity = QStringLiteral("ssm-head");  // Hymba's
    post(w_, [w = w_, s] { w->runSearch(s, {}, false); });
    SHEDDER_WAIT_FOR(failed, 3, kTimeout);
    QVERIFY2(failed.at(2).at(1).toString().contains(QStringLiteral("no 'ssm-head' components")),
             qPrintable(failed.at(2).at(1).toString()));
  }
};

QTEST_MAIN(TestGuiEveryArch)
#include "test_gui_every_arch.moc"
