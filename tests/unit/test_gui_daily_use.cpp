// The workbench as a daily tool (headless, on the trained tiny models): undo/redo of marks, restoring what the search
// removed and resetting to the base model; the Save/Discard/Cancel question before unsaved work is discarded; the
// runs browser; F1 help and What's This; a 1024 x 700 window where every control stays reachable and Reset Layout;
// themes.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QtTest/QtTest>
#include <QtWidgets/QtWidgets>
#include <QUndoStack>

#include "comparison_window.h"
#include "component_tree_model.h"
#include "confirm.h"
#include "help_window.h"
#include "layer_tree_panel.h"
#include "main_window.h"
#include "plot_colors.h"
#include "project_file.h"
#include "run_index.h"
#include "runs_browser.h"
#include "search_panel.h"
#include "support/cli_runner.h"
#include "support/gui_test_support.h"
#include "support/main_window_support.h"
#include "support/test_support.h"
#include "theme.h"
#include "tree_undo.h"

using namespace shedder;
using namespace shedder::ui;
using test::action;
using test::configure;
using test::openAndWait;
using test::openProjectAndWait;
using test::projectWithRun;

namespace {

constexpr int kTimeout = test::kGuiTimeoutMs;

QString tmp(const char* tag) { return QString::fromStdString(test::make_temp_dir(tag)); }

}  // namespace

class TestGuiDailyUse : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void initTestCase() {
    at::set_num_threads(2);
    test::init_gui_test_environment();
  }

  // Edit ▸ Undo / Redo of marks (check boxes), Restore of a component the search removed (unchecking it; the
  // run's other removals become marks) and Reset to Base Model; a new model starts a new history.
  void undo_restore_and_reset_of_the_tree() {
    const QString dir = tmp("gui-undo");
    MainWindow w;
    w.setInteractive(false);
    QVERIFY(openProjectAndWait(w, projectWithRun(dir)));
    ComponentTreeModel* t = w.treeModel();
    QCOMPARE(t->removedIds(), QStringList({"layers.1", "layers.3"}));
    QAction* undo = action(w, "undo");
    QAction* redo = action(w, "redo");
    QVERIFY(undo && redo);
    QVERIFY(!undo->isEnabled());  // opening is not undoable

    // A check box marks; undo unmarks, redo marks again.
    QVERIFY(t->setData(t->indexOf("layers.5"), Qt::Checked, Qt::CheckStateRole));
    QCOMPARE(t->markedIds(), QStringList({"layers.5"}));
    QVERIFY(undo->isEnabled());
    QCOMPARE(undo->text(), QStringLiteral("&Undo Mark layers.5"));
    undo->trigger();
    QVERIFY(t->markedIds().isEmpty());
    QCOMPARE(redo->text(), QStringLiteral("&Redo Mark layers.5"));
    redo->trigger();
    QCOMPARE(t->markedIds(), QStringList({"layers.5"}));

    // A removed component: its check box is live and says what unchecking does; unchecking restores it.
    const QModelIndex removed = t->indexOf("layers.1");
    QVERIFY(removed.flags() & Qt::ItemIsUserCheckable);
    QVERIFY(removed.data(Qt::ToolTipRole).toString().contains(QStringLiteral("Uncheck it to restore it")));
    QVERIFY(t->setData(removed, Qt::Unchecked, Qt::CheckStateRole));
    QVERIFY(t->removedIds().isEmpty());
    const QStringList set = t->removalSet();
    QCOMPARE(QSet<QString>(set.begin(), set.end()), QSet<QString>({"layers.3", "layers.5"}));
    QCOMPARE(t->statusOf("layers.1"), ComponentTreeModel::Status::Kept);
    QCOMPARE(undo->text(), QStringLiteral("&Undo Restore layers.1"));
    undo->trigger();
    QCOMPARE(t->removedIds(), QStringList({"layers.1", "layers.3"}));
    QCOMPARE(t->markedIds(), QStringList({"layers.5"}));

    // Reset to Base Model: nothing marked or removed; undo brings the removal set back. The run is untouched.
    w.resetToBaseModel();
    QVERIFY(t->removalSet().isEmpty());
    QCOMPARE(w.run().steps.size(), 2);
    undo->trigger();
    QCOMPARE(t->removedIds(), QStringList({"layers.1", "layers.3"}));
    QCOMPARE(t->markedIds(), QStringList({"layers.5"}));
    // Clear Marks is one step too.
    QAction* clear = nullptr;
    for (QAction* a : w.findChildren<QAction*>())
      if (a->text() == QStringLiteral("Clear &Marks")) clear = a;
    QVERIFY(clear);
    clear->trigger();
    QVERIFY(t->markedIds().isEmpty());
    undo->trigger();
    QCOMPARE(t->markedIds(), QStringList({"layers.5"}));

    // A restore is part of the project: saved and reopened, the tree is as it was left.
    QVERIFY(t->setData(t->indexOf("layers.1"), Qt::Unchecked, Qt::CheckStateRole));
    const QString saved = dir + "/restored.shedproj";
    QVERIFY(w.saveProjectTo(saved));
    {
      MainWindow w2;
      w2.setInteractive(false);
      QVERIFY(openProjectAndWait(w2, saved));
      QVERIFY(w2.treeModel()->removedIds().isEmpty());
      const QStringList again = w2.treeModel()->removalSet();
      QCOMPARE(QSet<QString>(again.begin(), again.end()), QSet<QString>({"layers.3", "layers.5"}));
      QCOMPARE(w2.run().steps.size(), 2);
    }

    // Another model: a new history.
    openAndWait(w, test::trained_model(QStringLiteral("mamba2")));
    QVERIFY(!undo->isEnabled() && !redo->isEnabled());
  }

  // Unsaved changes ("*") are offered for saving before opening another model or project, a new run over a
  // finished one, and quitting: Cancel keeps everything, Save writes the project, Discard goes on.
  void unsaved_changes_are_offered_for_saving() {
    const QString dir = tmp("gui-unsaved");
    auto* w = new MainWindow;
    w->setInteractive(false);
    w->setRunsRoot(dir + "/runs");
    QVERIFY(openProjectAndWait(*w, projectWithRun(dir)));
    QVERIFY(!w->isWindowModified());
    QStringList asked;
    Unsaved answer = Unsaved::Cancel;
    setUnsavedAnswerer([&](const QString&, const QString& text) {
      asked << text;
      return answer;
    });
    // Nothing changed: no question.
    openAndWait(*w, test::trained_model(QStringLiteral("mamba1")));
    QCOMPARE(asked.size(), 0);
    QVERIFY(openProjectAndWait(*w, projectWithRun(dir)));
    QCOMPARE(asked.size(), 0);

    w->treeModel()->setMarkedId("layers.5", true);
    QVERIFY(w->isWindowModified());
    // Cancel: the other model is not opened, the marks and run stay.
    w->openModel(test::trained_model(QStringLiteral("mamba2")));
    QCOMPARE(asked.size(), 1);
    QVERIFY(asked.back().contains(QStringLiteral("Opening mamba2")));
    QVERIFY(!w->busy());
    QCOMPARE(w->treeModel()->markedIds(), QStringList({"layers.5"}));
    QVERIFY(!w->openProject(projectWithRun(dir)));
    QCOMPARE(asked.size(), 2);
    configure(*w, 1, QString());
    w->startSearch(false);  // over the finished run
    QCOMPARE(asked.size(), 3);
    QVERIFY(asked.back().contains(QStringLiteral("new run")));
    QVERIFY(!w->busy());
    QCOMPARE(w->run().steps.size(), 2);
    QVERIFY(!w->close());
    QCOMPARE(asked.size(), 4);
    QVERIFY(asked.back().contains(QStringLiteral("Quitting")));

    // Save: the project file gets the marks, then quitting goes on without another question.
    const QString saved = dir + "/saved.shedproj";
    QVERIFY(w->saveProjectTo(saved));
    w->treeModel()->setMarkedId("layers.6", true);
    answer = Unsaved::Save;
    QVERIFY(w->close());
    QCOMPARE(asked.size(), 5);
    ProjectState back;
    QString err;
    QVERIFY2(loadProject(saved, &back, &err), qPrintable(err));
    QCOMPARE(QSet<QString>(back.marked.begin(), back.marked.end()), QSet<QString>({"layers.5", "layers.6"}));
    setUnsavedAnswerer(nullptr);
    delete w;
  }

  // F1 opens the shipped user guide; its contents link to sections that exist; it lists every shortcut the window's
  // actions have; every field and button of the search panel has a What's This text (Shift+F1).
  void help_guide_and_whats_this() {
    MainWindow w;
    w.setInteractive(false);
    QAction* guide = action(w, "userGuide");
    QVERIFY(guide);
    QCOMPARE(guide->shortcut(), QKeySequence(Qt::Key_F1));
    QVERIFY2(!HelpWindow::userGuidePath().isEmpty(), "resources/help/user-guide.html must be found");
    guide->trigger();
    auto* help = w.findChild<HelpWindow*>(QStringLiteral("helpWindow"));
    QVERIFY(help && help->isVisible());
    const QString html = QString::fromStdString(test::read_file(HelpWindow::userGuidePath().toStdString()));
    const QString text = help->browser()->toPlainText();
    for (const char* heading : {"What each metric means", "How parameters are counted in hybrid models", "Keyboard shortcuts"})
      QVERIFY2(text.contains(QString::fromUtf8(heading)), heading);
    // Every link of the contents has its anchor.
    const QRegularExpression link(QStringLiteral("href=\"#([a-z-]+)\""));
    int links = 0;
    for (auto it = link.globalMatch(html); it.hasNext(); ++links) {
      const QString a = it.next().captured(1);
      QVERIFY2(html.contains(QStringLiteral("name=\"%1\"").arg(a)), qPrintable(a));
    }
    QVERIFY(links >= 8);
    // Every shortcut the window offers is in the guide (as Qt writes it, e.g. "Ctrl+Shift+O").
    for (QAction* a : w.findChildren<QAction*>())
      for (const QKeySequence& k : a->shortcuts()) {
        const QString keys = k.toString(QKeySequence::PortableText);
        if (keys == QStringLiteral("Ctrl+Y")) continue;  // the second Redo key
        QVERIFY2(text.contains(keys), qPrintable(keys + QStringLiteral(" (") + a->text() + QStringLiteral(") is not in the guide")));
      }
    for (QWidget* f : w.searchPanel()->findChildren<QWidget*>()) {
      if (!qobject_cast<QComboBox*>(f) && !qobject_cast<QAbstractSpinBox*>(f) && !qobject_cast<QAbstractButton*>(f) &&
          !qobject_cast<QLineEdit*>(f))
        continue;
      if (qobject_cast<QLineEdit*>(f) && qobject_cast<QAbstractSpinBox*>(f->parentWidget())) continue;  // a spin box's editor
      QVERIFY2(!f->whatsThis().isEmpty(), qPrintable(f->metaObject()->className() + QStringLiteral(" ") + f->objectName() +
                                                     QStringLiteral(" has no What's This text")));
    }
  }

  // File ▸ Runs…: the run folders (a project's, a journal-only one; not a foreign folder) with model, steps and
  // final perplexity; Open loads the run; Delete asks and removes only run folders; the runs folder is a setting.
  void runs_browser_lists_opens_and_deletes() {
    const QString root = tmp("gui-runs");
    QDir(root).mkpath("a-run");
    QVERIFY(QFile::copy(projectWithRun(root), root + "/a-run/workbench.shedproj"));
    QDir(root).mkpath("killed-run");
    test::write_file((root + "/killed-run/journal.jsonl").toStdString(),
                     "{\"type\":\"header\"}\n{\"type\":\"step\",\"step\":0}\n");
    QDir(root).mkpath("notes");
    test::write_file((root + "/notes/todo.txt").toStdString(), "mine");
    const QVector<RunSummary> runs = listRuns(root);
    QCOMPARE(runs.size(), 2);
    const RunSummary* full = runs[0].project.isEmpty() ? &runs[1] : &runs[0];
    const RunSummary* killed = runs[0].project.isEmpty() ? &runs[0] : &runs[1];
    QCOMPARE(full->model, QStringLiteral("mamba1"));
    QCOMPARE(full->steps, 2);
    QCOMPARE(full->granularity, QStringLiteral("block"));
    QCOMPARE(*full->finalPpl, 6.5);
    QCOMPARE(killed->steps, 1);
    QVERIFY(killed->state.contains(QStringLiteral("journal")));
    QVERIFY(deleteRun(root, root + "/notes").contains(QStringLiteral("not a run folder")));
    QVERIFY(deleteRun(root + "/a-run", root + "/killed-run").contains(QStringLiteral("not in the runs folder")));
    QVERIFY(QFileInfo::exists(root + "/notes/todo.txt"));

    MainWindow w;
    w.setInteractive(false);
    w.setRunsRoot(root);
    QAction* runsAction = action(w, "runs");
    QVERIFY(runsAction);
    runsAction->trigger();
    auto* b = w.findChild<RunsBrowser*>(QStringLiteral("runsBrowser"));
    QVERIFY(b && b->isVisible());
    QCOMPARE(b->table()->rowCount(), 2);
    const int fullRow = b->runs()[0].project.isEmpty() ? 1 : 0;
    QCOMPARE(b->table()->item(fullRow, 0)->text(), QStringLiteral("mamba1"));
    QCOMPARE(b->table()->item(fullRow, 3)->text(), QStringLiteral("2"));
    // Compare: the selected run goes into the comparison window (its project, both steps).
    b->table()->selectRow(fullRow);
    auto* compare = b->findChild<QPushButton*>(QStringLiteral("compare"));
    QVERIFY(compare && compare->isEnabled());
    compare->click();
    QCOMPARE(w.comparisonWindow()->sources().size(), 1);
    QCOMPARE(w.comparisonWindow()->sources()[0].run.steps.size(), 2);
    QVERIFY(w.comparisonWindow()->isVisible());
    // Open: the run's project comes back with its model and run.
    b->table()->selectRow(fullRow);
    QSignalSpy ready(&w, &MainWindow::modelReady);
    b->openSelected();
    SHEDDER_WAIT_FOR(ready, 1, kTimeout);
    QTRY_VERIFY(!w.busy());
    QCOMPARE(w.run().steps.size(), 2);
    QCOMPARE(w.treeModel()->removedIds(), QStringList({"layers.1", "layers.3"}));
    // Delete asks first; declined, the folder stays.
    bool answer = false;
    setConfirmAnswerer([&](const QString&, const QString&) { return answer; });
    b = w.showRuns();
    b->table()->selectRow(1 - fullRow);
    QVERIFY(!b->deleteSelected());
    QVERIFY(QFileInfo::exists(root + "/killed-run/journal.jsonl"));
    answer = true;
    QVERIFY(b->deleteSelected());
    QVERIFY(!QFileInfo::exists(root + "/killed-run"));
    QCOMPARE(b->table()->rowCount(), 1);
    setConfirmAnswerer(nullptr);
    // Another runs folder is remembered for the next window.
    const QString other = tmp("gui-runs-other");
    Q_EMIT b->rootChanged(other);
    QCOMPARE(w.runsRoot(), other);
    MainWindow w2;
    QCOMPARE(w2.runsRoot(), other);
    QSettings().remove(QStringLiteral("runs/root"));
  }

  // At 1024 x 700 every control of the search panel can be scrolled into full view, the window really is that small,
  // the tree shows a useful number of rows, and Reset Layout gives back the layout the window started with.
  void small_screen_keeps_every_control_reachable() {
    MainWindow w;
    w.setInteractive(false);
    openAndWait(w, test::trained_model(QStringLiteral("mamba1")));
    w.resize(1024, 700);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QTest::qWait(50);
    QCOMPARE(w.size(), QSize(1024, 700));
    QScrollArea* scroll = nullptr;
    for (QWidget* p = w.searchPanel(); p && !scroll; p = p->parentWidget()) scroll = qobject_cast<QScrollArea*>(p);
    QVERIFY(scroll);
    int checked = 0;
    for (QWidget* f : w.searchPanel()->findChildren<QWidget*>()) {
      if (!f->isVisible()) continue;
      if (!qobject_cast<QComboBox*>(f) && !qobject_cast<QAbstractSpinBox*>(f) && !qobject_cast<QAbstractButton*>(f) &&
          !qobject_cast<QLineEdit*>(f))
        continue;
      if (qobject_cast<QLineEdit*>(f) && qobject_cast<QAbstractSpinBox*>(f->parentWidget())) continue;
      // The whole widget (ensureWidgetVisible would only bring a line edit's cursor into view); twice, as
      // scrolling may show a scroll bar, which changes the view.
      for (int i = 0; i < 2; ++i) {
        const QPoint c = f->mapTo(w.searchPanel(), f->rect().center());
        scroll->ensureVisible(c.x(), c.y(), f->width() / 2 + 1, f->height() / 2 + 1);
        QCoreApplication::processEvents();
      }
      const QRect r(f->mapTo(scroll->viewport(), QPoint(0, 0)), f->size());
      QVERIFY2(scroll->viewport()->rect().contains(r),
               qPrintable(QStringLiteral("%1 %2 at (%3, %4) %5 x %6 is cut off in a %7 x %8 view")
                              .arg(f->metaObject()->className(), f->objectName())
                              .arg(r.x()).arg(r.y()).arg(r.width()).arg(r.height())
                              .arg(scroll->viewport()->width()).arg(scroll->viewport()->height())));
      ++checked;
    }
    QVERIFY(checked >= 15);
    QTreeView* tree = w.treePanel()->view();
    const int rowHeight = tree->sizeHintForRow(0);
    QVERIFY(rowHeight > 0);
    QVERIFY2(tree->viewport()->height() / rowHeight >= 10,
             qPrintable(QStringLiteral("the tree shows %1 rows").arg(tree->viewport()->height() / rowHeight)));
    // The search column can be widened (the tree gives way), e.g. to see the panel without scrolling sideways.
    const QByteArray start = w.saveState();
    auto* ppl = w.findChild<QDockWidget*>(QStringLiteral("perplexityDock"));
    auto* searchDock = w.findChild<QDockWidget*>(QStringLiteral("searchDock"));
    w.resizeDocks({searchDock}, {620}, Qt::Horizontal);
    QCoreApplication::processEvents();
    QVERIFY2(searchDock->width() >= 600, qPrintable(QString::number(searchDock->width())));
    QVERIFY(scroll->horizontalScrollBar()->maximum() == 0);  // wide enough: no sideways scrolling left
    // Reset Layout: the starting layout, also after docks were closed, resized and floated.
    w.resizeDocks({searchDock}, {250}, Qt::Horizontal);
    w.findChild<QDockWidget*>(QStringLiteral("logDock"))->hide();
    ppl->hide();
    w.findChild<QDockWidget*>(QStringLiteral("whatIfDock"))->setFloating(true);
    QCoreApplication::processEvents();
    QVERIFY(w.saveState() != start);
    QAction* reset = nullptr;
    for (QAction* a : w.findChildren<QAction*>())
      if (a->text() == QStringLiteral("Reset Layout")) reset = a;
    QVERIFY(reset);
    reset->trigger();
    QCoreApplication::processEvents();
    QVERIFY(ppl->isVisible() && !w.findChild<QDockWidget*>(QStringLiteral("whatIfDock"))->isFloating());
    QCOMPARE(w.saveState(), start);
  }

  // View ▸ Theme: the choice applies at once and the next window starts with it.
  void theme_menu_applies_and_remembers() {
    {
      MainWindow w;
      QAction* dark = action(w, "theme:dark");
      QVERIFY(dark && action(w, "theme:light") && action(w, "theme:system"));
      QVERIFY(action(w, "theme:system")->isChecked());
      dark->trigger();
      QVERIFY(isDark(QApplication::palette()));
    }
    applyTheme(Theme::System);
    QVERIFY(!isDark(QApplication::palette()));
    {
      MainWindow w;  // starts dark: the remembered theme
      QVERIFY(isDark(QApplication::palette()));
      QVERIFY(action(w, "theme:dark")->isChecked());
      action(w, "theme:system")->trigger();
    }
    QVERIFY(!isDark(QApplication::palette()));
    QCOMPARE(savedTheme(), Theme::System);
  }

  // File ▸ Export ▸ GGUF for llama.cpp: the window's removal set (the project's two removed blocks) as one GGUF file,
  // byte for byte what `shedder-cli export --format gguf` writes for the same components; a Mamba-2 whose gated norm
  // llama.cpp cannot compute is refused with the reason, and nothing is written. (The file's numbers in llama.cpp
  // itself: tests/gguf.)
  void gguf_export_from_the_window() {
    const QString dir = tmp("gui-gguf");
    MainWindow w;
    w.setInteractive(false);
    QVERIFY(openProjectAndWait(w, projectWithRun(dir)));
    QAction* a = action(w, "exportGguf");
    QVERIFY(a && a->isEnabled());
    QSignalSpy exported(&w, &MainWindow::exportDone);
    w.exportGgufTo(dir + "/gui.gguf", QStringLiteral("f32"), false);
    SHEDDER_WAIT_FOR(exported, 1, kTimeout);
    QTRY_VERIFY(!w.busy());
    const auto summary = exported.front().front().value<ExportSummary>();
    QCOMPARE(summary.format, QStringLiteral("gguf"));
    QCOMPARE(summary.layersAfter, 6);  // 8 layers, 2 removed
    const test::CliResult cli = test::run({"export", test::trained_model(QStringLiteral("mamba1")), "--remove",
                                           "layers.1,layers.3", "--format", "gguf", "--gguf-type", "f32", "--out",
                                           dir + "/cli.gguf", "--threads", "1"});
    QVERIFY2(cli.ok(), cli.describe().c_str());
    const std::string gui = test::read_file((dir + "/gui.gguf").toStdString());
    QCOMPARE(gui.substr(0, 4), std::string("GGUF"));
    QVERIFY(gui == test::read_file((dir + "/cli.gguf").toStdString()));

    test::openAndWait(w, test::trained_model(QStringLiteral("mamba2")));
    QSignalSpy failed(&w, &MainWindow::jobFailed);
    w.exportGgufTo(dir + "/m2.gguf", QStringLiteral("auto"), false);
    SHEDDER_WAIT_FOR(failed, 1, kTimeout);
    const QString msg = failed.front().front().toString();
    QVERIFY2(msg.contains(QStringLiteral("n_groups")) && msg.contains(QStringLiteral("llama.cpp")), qPrintable(msg));
    QVERIFY(!QFileInfo::exists(dir + "/m2.gguf"));
  }
};

QTEST_MAIN(TestGuiDailyUse)
#include "test_gui_daily_use.moc"
