// File ▸ Runs…: the autosaved search runs (run_index.h) in a table — model, date, granularity, steps, final
// perplexity, state — with Open (the run's project, plots included), Compare (the selected runs into the
// comparison window), Reveal in File Manager and Delete, and the setting for where new runs are stored.
#pragma once

#include <QDialog>

#include "run_index.h"

class QLabel;
class QPushButton;
class QTableWidget;

namespace shedder::ui {

class RunsBrowser : public QDialog {
  Q_OBJECT

 public:
  RunsBrowser(const QString& root, QWidget* parent = nullptr);

  void refresh();
  QTableWidget* table() const { return table_; }
  const QVector<RunSummary>& runs() const { return runs_; }
  // The selected run's actions (what the buttons do). Delete asks first; false when declined or refused.
  void openSelected();
  void revealSelected();
  bool deleteSelected();
  void setRoot(const QString& root);
  QStringList selectedDirs() const;  // the selected runs' folders (Compare takes several)

 Q_SIGNALS:
  void openRequested(const QString& project);
  void compareRequested(const QStringList& runDirs);
  void rootChanged(const QString& root);  // Change… picked another runs folder

 private:
  const RunSummary* selected() const;
  void updateButtons();

  QString root_;
  QVector<RunSummary> runs_;
  QLabel* rootLabel_ = nullptr;
  QTableWidget* table_ = nullptr;
  QPushButton* open_ = nullptr;
  QPushButton* compare_ = nullptr;
  QPushButton* reveal_ = nullptr;
  QPushButton* delete_ = nullptr;
};

}  // namespace shedder::ui
