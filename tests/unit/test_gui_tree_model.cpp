// The layer tree's item model over the real core component tree: it passes QAbstractItemModelTester while
// marking, removal and scores change; check boxes drive the removal set the engine receives (same blocks/SSMs,
// same parameter count and perplexity as core computes); removed and covered components cannot be marked; the
// tree's undo history (TreeUndo).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QAbstractItemModelTester>
#include <QUndoStack>
#include <QtTest/QtTest>

#include "component_tree_model.h"
#include "engine_session.h"
#include "eval/perplexity.h"
#include "io/safetensors.h"
#include "model/mamba_model.h"
#include "model/removal.h"
#include "support/gui_test_support.h"
#include "support/test_support.h"
#include "tree_undo.h"
#include "util/error.h"

using namespace shedder;
using namespace shedder::ui;

namespace {

ModelInfo loadInfo(EngineSession& s, const char* name) { return s.load(test::trained_model(QString::fromLatin1(name))); }

QModelIndex find(const ComponentTreeModel& m, const QString& id) {
  const QModelIndex i = m.indexOf(id);
  if (!i.isValid()) qFatal("no component %s", qPrintable(id));
  return i;
}

RemovalSet coreSet(const QStringList& ids) {
  RemovalSet r;
  for (const QString& id : ids) r.add_spec(id.toStdString());
  return r;
}

}  // namespace

class TestGuiTreeModel : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    at::set_num_threads(2);
    test::init_gui_test_environment();
  }

  void passes_the_model_tester_through_changes() {
    EngineSession session;
    ComponentTreeModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    // Mamba-2: model -> blocks -> (8 heads, 8 head-dimension channel groups, ssm -> 8 state chunks)
    const ModelInfo info = loadInfo(session, "mamba2");
    m.setModelInfo(info);
    QCOMPARE(m.rowCount(), 1);
    const QModelIndex root = m.index(0, 0);
    QCOMPARE(m.rowCount(root), 8);
    const QModelIndex block = find(m, QStringLiteral("layers.3"));
    QCOMPARE(m.rowCount(block), 17);
    QCOMPARE(m.index(0, 0, block).data(ComponentTreeModel::IdRole).toString(), QStringLiteral("layers.3.ssm.heads.0"));
    QCOMPARE(m.index(8, 0, block).data(ComponentTreeModel::IdRole).toString(), QStringLiteral("layers.3.mixer.channels.0"));
    QVERIFY(m.index(0, 0, block).data(ComponentTreeModel::RemovableRole).toBool());
    const QModelIndex ssm = find(m, QStringLiteral("layers.3.ssm"));
    QCOMPARE(m.rowCount(ssm), 8);
    QCOMPARE(m.index(0, 0, ssm).data(ComponentTreeModel::IdRole).toString(), QStringLiteral("layers.3.ssm.state.0"));
    QCOMPARE(m.data(m.index(0, ComponentTreeModel::ParametersColumn)).toString().remove(QLatin1Char(',')).toLongLong(),
             info.totalParameters);
    QVERIFY(m.setData(find(m, QStringLiteral("layers.1")), Qt::Checked, Qt::CheckStateRole));
    m.setRemoved({QStringLiteral("layers.6"), QStringLiteral("layers.2.ssm")});
    QHash<QString, double> imp{{QStringLiteral("layers.0"), 0.5}, {QStringLiteral("layers.4"), 2.5}};
    m.setImportance(imp, QStringLiteral("Δ ppl"));
    QCOMPARE(find(m, QStringLiteral("layers.4")).siblingAtColumn(ComponentTreeModel::ImportanceColumn)
                 .data(ComponentTreeModel::ImportanceFractionRole).toDouble(), 1.0);
    QCOMPARE(find(m, QStringLiteral("layers.0")).siblingAtColumn(ComponentTreeModel::ImportanceColumn)
                 .data(ComponentTreeModel::ImportanceFractionRole).toDouble(), 0.0);
    QVERIFY(!find(m, QStringLiteral("layers.5")).data(ComponentTreeModel::ImportanceRole).isValid());
    QVERIFY(!m.importanceLogScale());
    // One outlier (as a Zamba2 layers.0 at Δppl 10 437) must not flatten the others: log bars, said in the header.
    QHash<QString, double> skewed{{QStringLiteral("layers.0"), 10437.0}, {QStringLiteral("layers.1"), 1.0},
                                  {QStringLiteral("layers.4"), 2.0},     {QStringLiteral("layers.5"), 4.0}};
    m.setImportance(skewed, QStringLiteral("Δ ppl"));
    QVERIFY(m.importanceLogScale());
    QVERIFY(m.headerData(ComponentTreeModel::ImportanceColumn, Qt::Horizontal).toString().contains(QStringLiteral("log")));
    auto frac = [&](const char* id) {
      return find(m, QString::fromLatin1(id)).siblingAtColumn(ComponentTreeModel::ImportanceColumn)
          .data(ComponentTreeModel::ImportanceFractionRole).toDouble();
    };
    QCOMPARE(frac("layers.0"), 1.0);
    QCOMPARE(frac("layers.1"), 0.0);
    // Linear bars would make layers.5 3e-4 of the outlier's; the log scale keeps it visible and ordered.
    QVERIFY2(frac("layers.5") > 0.1 && frac("layers.5") > frac("layers.4") && frac("layers.4") > 0.0,
             qPrintable(QString::number(frac("layers.5"))));
    // A candidate the search stopped early shows its value as a lower bound.
    m.setImportance(imp, QStringLiteral("Δ ppl"), {QStringLiteral("layers.4")});
    QCOMPARE(find(m, QStringLiteral("layers.4")).siblingAtColumn(ComponentTreeModel::ImportanceColumn).data().toString(),
             QStringLiteral("≥ 2.500"));
    QCOMPARE(find(m, QStringLiteral("layers.0")).siblingAtColumn(ComponentTreeModel::ImportanceColumn).data().toString(),
             QStringLiteral("0.500"));
    QVERIFY(find(m, QStringLiteral("layers.4")).data(Qt::ToolTipRole).toString().contains(QStringLiteral("at least 2.5")));
    m.setModelInfo(loadInfo(session, "mamba1"));  // reset to another model
    QCOMPARE(m.rowCount(m.index(0, 0)), 8);
    // Mamba-1: the block holds its 8 groups of 32 inner channels and its SSM, the SSM its 8 state chunks.
    QCOMPARE(m.rowCount(find(m, QStringLiteral("layers.3"))), 9);
    QCOMPARE(m.rowCount(find(m, QStringLiteral("layers.3.ssm"))), 8);
    QVERIFY(find(m, QStringLiteral("layers.3.mixer.channels.7")).isValid());
    QVERIFY(find(m, QStringLiteral("layers.3.ssm.state.7")).isValid());
    m.clear();
    QCOMPARE(m.rowCount(), 0);
  }

  void check_boxes_drive_the_core_removal_set() {
    EngineSession session;
    const ModelInfo info = loadInfo(session, "mamba1");
    ComponentTreeModel m;
    m.setModelInfo(info);
    QSignalSpy marked(&m, &ComponentTreeModel::markedChanged);
    QVERIFY(m.setData(find(m, QStringLiteral("layers.3")), Qt::Checked, Qt::CheckStateRole));
    QVERIFY(m.setData(find(m, QStringLiteral("layers.5.ssm")), Qt::Checked, Qt::CheckStateRole));
    QCOMPARE(marked.count(), 2);
    QCOMPARE(m.markedIds(), (QStringList{QStringLiteral("layers.3"), QStringLiteral("layers.5.ssm")}));
    QCOMPARE(find(m, QStringLiteral("layers.3")).data(Qt::CheckStateRole).toInt(), int(Qt::Checked));
    QCOMPARE(m.statusOf(QStringLiteral("layers.3.ssm")), ComponentTreeModel::Status::Marked);  // covered by its block

    // What the engine receives: the same blocks and SSMs, the same parameter count.
    const RemovalSet r = coreSet(m.removalSet());
    QCOMPARE(r.layers_of(Granularity::Block), std::vector<int64_t>{3});
    QCOMPARE(r.layers_of(Granularity::Ssm), std::vector<int64_t>{5});
    auto model = MambaModel::load(info.path.toStdString());
    QCOMPARE(m.removedParameters(), model->removed_parameters(r));
    QCOMPARE(session.removedParameters(m.removalSet()), model->removed_parameters(r));
    QVERIFY(m.headerData(ComponentTreeModel::ParametersColumn, Qt::Horizontal)
                .toString()
                .contains(QStringLiteral("kept")));

    // ... and the perplexity the engine computes for it is core's for that mask.
    CalibrationSettings calib;
    calib.source = CalibrationSource::TokenFile;
    calib.tokenFile = test::trained_calib_tokens();
    calib.windows = 8;
    calib.batch = 8;
    const WhatIfResult w = session.evaluate(m.removalSet(), calib, nullptr, nullptr);
    const at::Tensor windows =
        SafetensorsFile::open(test::test_data_dir() + "/trained_tiny/calib.safetensors")->tensor("windows").to(at::kLong);
    const double expect = evaluate_perplexity(*model, windows, 8, r).perplexity;
    QVERIFY2(std::abs(w.ppl - expect) < 1e-9 * expect, qPrintable(QString("%1 vs %2").arg(w.ppl).arg(expect)));
    QCOMPARE(w.basePpl, evaluate_perplexity(*model, windows, 8).perplexity);
    QVERIFY(w.ppl > w.basePpl);

    // Unchecking takes the component out again.
    QVERIFY(m.setData(find(m, QStringLiteral("layers.3")), Qt::Unchecked, Qt::CheckStateRole));
    QCOMPARE(m.markedIds(), QStringList{QStringLiteral("layers.5.ssm")});
    QCOMPARE(m.statusOf(QStringLiteral("layers.3")), ComponentTreeModel::Status::Kept);
  }

  void covered_and_removed_components_cannot_be_marked() {
    EngineSession session;
    ComponentTreeModel m;
    m.setModelInfo(loadInfo(session, "mamba1"));
    // Marking a block takes its SSM off the marked list (the block covers it) and locks the SSM's box.
    QVERIFY(m.setMarkedId(QStringLiteral("layers.2.ssm"), true));
    QVERIFY(m.setMarkedId(QStringLiteral("layers.2"), true));
    QCOMPARE(m.markedIds(), QStringList{QStringLiteral("layers.2")});
    QVERIFY(!(m.flags(find(m, QStringLiteral("layers.2.ssm"))) & Qt::ItemIsUserCheckable));
    QVERIFY(!m.setData(find(m, QStringLiteral("layers.2.ssm")), Qt::Unchecked, Qt::CheckStateRole));
    // The model row and the kind column have no check box.
    QVERIFY(!(m.flags(m.index(0, 0)) & Qt::ItemIsUserCheckable));
    QVERIFY(!(m.flags(find(m, QStringLiteral("layers.1")).siblingAtColumn(ComponentTreeModel::KindColumn)) &
              Qt::ItemIsUserCheckable));
    // Removing by the search: removed components drop off the marked list and cannot be marked.
    m.setRemoved({QStringLiteral("layers.2"), QStringLiteral("layers.4")});
    QVERIFY(m.markedIds().isEmpty());
    QCOMPARE(m.statusOf(QStringLiteral("layers.4.ssm")), ComponentTreeModel::Status::Removed);
    QVERIFY(!m.setMarkedId(QStringLiteral("layers.4"), true));
    QCOMPARE(find(m, QStringLiteral("layers.4")).siblingAtColumn(ComponentTreeModel::StatusColumn).data().toString(),
             QStringLiteral("removed (#2)"));
    // Totals: two of eight equal blocks gone.
    QVERIFY(std::abs(m.removedPercent() - 100.0 * 2 * double(find(m, QStringLiteral("layers.1"))
                                                            .data(ComponentTreeModel::ParametersRole)
                                                            .toLongLong()) /
                                               double(m.totalParameters())) < 1e-9);
    QCOMPARE(m.removalSet(), (QStringList{QStringLiteral("layers.2"), QStringLiteral("layers.4")}));
    // Unknown ids are ignored, not crashes.
    QVERIFY(!m.setMarkedId(QStringLiteral("layers.99"), true));
    QVERIFY(!m.indexOf(QStringLiteral("nope")).isValid());
  }

  // A hybrid model (Zamba2 fixture): the tree shows its kinds with their labels and parameter counts; the engine
  // jobs the GUI cannot run on it say so instead of failing obscurely.
  void shows_the_hybrid_kinds() {
    EngineSession session;
    ComponentTreeModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    const ModelInfo info = session.load(QString::fromStdString(test::test_data_dir() + "/hybrid/zamba2-tiny"));
    QCOMPARE(info.arch, QStringLiteral("zamba2"));
    m.setModelInfo(info);
    const QModelIndex root = m.index(0, 0);
    QCOMPARE(m.rowCount(root), 8);  // 6 layers, 2 shared blocks
    auto kind = [&](const char* id) {
      return find(m, QLatin1String(id)).siblingAtColumn(ComponentTreeModel::KindColumn).data().toString();
    };
    QCOMPARE(kind("model"), QStringLiteral("Zamba2 model"));
    QCOMPARE(kind("layers.0"), QStringLiteral("Mamba block"));
    QCOMPARE(kind("layers.1"), QStringLiteral("Hybrid block (shared transformer + Mamba)"));
    QCOMPARE(kind("layers.1.shared"), QStringLiteral("Shared transformer use"));
    QCOMPARE(kind("layers.1.ssm"), QStringLiteral("SSM (selective scan)"));
    QCOMPARE(kind("shared.0"), QStringLiteral("Shared transformer block"));
    QCOMPARE(kind("shared.0.attn.heads.2"), QStringLiteral("Attention head"));
    QCOMPARE(kind("shared.1.mlp.channels.3"), QStringLiteral("MLP channels × 16"));
    QCOMPARE(m.totalParameters(), info.totalParameters);
    QVERIFY(find(m, QStringLiteral("shared.0.mlp.channels.0")).data(ComponentTreeModel::ParametersRole).toLongLong() > 0);
    // Hybrid components are markable like blocks; the shared weights themselves are not (their parts are).
    QVERIFY(find(m, QStringLiteral("shared.0.attn.heads.1")).data(ComponentTreeModel::RemovableRole).toBool());
    QVERIFY(find(m, QStringLiteral("layers.1.shared")).data(ComponentTreeModel::RemovableRole).toBool());
    QVERIFY(!find(m, QStringLiteral("shared.0")).data(ComponentTreeModel::RemovableRole).toBool());
    QVERIFY(m.setData(find(m, QStringLiteral("shared.1.mlp.channels.2")), Qt::Checked, Qt::CheckStateRole));
    QCOMPARE(m.markedIds(), QStringList{QStringLiteral("shared.1.mlp.channels.2")});
    // Marks are counted by the hybrid model (its parameters of layers.1), and a bad id is named.
    QCOMPARE(session.removedParameters({QStringLiteral("layers.1")}),
             find(m, QStringLiteral("layers.1")).data(ComponentTreeModel::ParametersRole).toLongLong());
    try {
      session.removedParameters({QStringLiteral("layers.99")});
      QFAIL("expected an error");
    } catch (const shedder::Error& e) {
      QVERIFY2(std::string(e.what()).find("layers.99") != std::string::npos, e.what());
    }
  }

  // The undo history of the tree: user changes are steps (labelled by what they did), undo and redo put the tree back;
  // a program change that alters what is removed (a search step) ends the history, one that does not keeps it.
  void undo_history_of_marks_and_removals() {
    EngineSession session;
    ComponentTreeModel m;
    m.setModelInfo(loadInfo(session, "mamba1"));
    TreeUndo undo(&m, nullptr);
    QVERIFY(m.setMarkedId("layers.2", true));
    QVERIFY(m.setMarkedId("layers.4", true));
    QCOMPARE(undo.stack()->count(), 2);
    QCOMPARE(undo.stack()->undoText(), QStringLiteral("Mark layers.4"));
    undo.stack()->undo();
    QCOMPARE(m.markedIds(), QStringList{"layers.2"});
    undo.stack()->redo();
    QCOMPARE(m.markedIds(), QStringList({"layers.2", "layers.4"}));
    undo.record(QStringLiteral("Clear marks"), [&] { m.setMarked({}); });
    QCOMPARE(undo.stack()->undoText(), QStringLiteral("Clear marks"));
    undo.stack()->undo();
    QCOMPARE(m.markedIds(), QStringList({"layers.2", "layers.4"}));
    // A program change that removes nothing new keeps the history; one that removes (a search step) ends it.
    undo.programmatic([&] { m.clearImportance(); });
    QVERIFY(undo.stack()->canUndo());
    undo.programmatic([&] { m.setRemoved({"layers.6"}); });
    QVERIFY(!undo.stack()->canUndo() && !undo.stack()->canRedo());
    QCOMPARE(m.removedIds(), QStringList{"layers.6"});
    // Restoring is one step, undone whole.
    undo.record(QStringLiteral("Restore layers.6"), [&] { m.restoreRemoved("layers.6"); });
    QVERIFY(m.removedIds().isEmpty());
    undo.stack()->undo();
    QCOMPARE(m.removedIds(), QStringList{"layers.6"});
    QCOMPARE(m.markedIds(), QStringList({"layers.2", "layers.4"}));
  }
};

QTEST_MAIN(TestGuiTreeModel)
#include "test_gui_tree_model.moc"
