// The runs browser (see runs_browser.h).
#include "runs_browser.h"

#include <QDesktopServices>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTableWidget>
#include <QUrl>
#include <QVBoxLayout>

#include "confirm.h"
#include "formatting.h"

namespace shedder::ui {

RunsBrowser::RunsBrowser(const QString& root, QWidget* parent) : QDialog(parent), root_(root) {
  setObjectName(QStringLiteral("runsBrowser"));
  setWindowTitle(QStringLiteral("Runs"));
  auto* layout = new QVBoxLayout(this);
  auto* rootRow = new QHBoxLayout;
  rootLabel_ = new QLabel(this);
  rootLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  rootLabel_->setWordWrap(true);
  auto* change = new QPushButton(QStringLiteral("Change…"), this);
  change->setToolTip(QStringLiteral("Where new runs are stored (the runs already there stay where they are)"));
  rootRow->addWidget(rootLabel_, 1);
  rootRow->addWidget(change);
  layout->addLayout(rootRow);

  table_ = new QTableWidget(0, 7, this);
  table_->setHorizontalHeaderLabels({QStringLiteral("Model"), QStringLiteral("Date"), QStringLiteral("Granularity"),
                                     QStringLiteral("Steps"), QStringLiteral("Final ppl"), QStringLiteral("State"),
                                     QStringLiteral("Folder")});
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::ExtendedSelection);  // several rows: Compare
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->verticalHeader()->setVisible(false);
  table_->horizontalHeader()->setStretchLastSection(true);
  layout->addWidget(table_, 1);

  auto* buttons = new QHBoxLayout;
  open_ = new QPushButton(QStringLiteral("Open"), this);
  open_->setToolTip(QStringLiteral("Open the run's project: model, marks, run and plots"));
  reveal_ = new QPushButton(QStringLiteral("Reveal in File Manager"), this);
  delete_ = new QPushButton(QStringLiteral("Delete…"), this);
  delete_->setToolTip(QStringLiteral("Delete the run folder (journal, configs, results, project)"));
  compare_ = new QPushButton(QStringLiteral("Compare"), this);
  compare_->setObjectName(QStringLiteral("compare"));
  compare_->setToolTip(QStringLiteral("Add the selected runs to the comparison window (Ctrl- or Shift-click to select "
                                      "several)"));
  auto* refreshButton = new QPushButton(QStringLiteral("Refresh"), this);
  buttons->addWidget(open_);
  buttons->addWidget(compare_);
  buttons->addWidget(reveal_);
  buttons->addWidget(delete_);
  buttons->addStretch(1);
  buttons->addWidget(refreshButton);
  layout->addLayout(buttons);
  auto* close = new QDialogButtonBox(QDialogButtonBox::Close, this);
  layout->addWidget(close);

  connect(close, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(open_, &QPushButton::clicked, this, &RunsBrowser::openSelected);
  connect(reveal_, &QPushButton::clicked, this, &RunsBrowser::revealSelected);
  connect(compare_, &QPushButton::clicked, this, [this] {
    const QStringList dirs = selectedDirs();
    if (!dirs.isEmpty()) Q_EMIT compareRequested(dirs);
  });
  connect(delete_, &QPushButton::clicked, this, &RunsBrowser::deleteSelected);
  connect(refreshButton, &QPushButton::clicked, this, &RunsBrowser::refresh);
  connect(table_, &QTableWidget::itemSelectionChanged, this, &RunsBrowser::updateButtons);
  connect(table_, &QTableWidget::cellDoubleClicked, this, [this] { openSelected(); });
  connect(change, &QPushButton::clicked, this, [this] {
    const QString d = QFileDialog::getExistingDirectory(this, QStringLiteral("Folder for new runs"), root_);
    if (d.isEmpty()) return;
    setRoot(d);
    Q_EMIT rootChanged(d);
  });
  refresh();
  resize(900, 420);
}

void RunsBrowser::setRoot(const QString& root) {
  root_ = root;
  refresh();
}

void RunsBrowser::refresh() {
  rootLabel_->setText(QStringLiteral("Runs folder: <b>%1</b>").arg(root_.toHtmlEscaped()));
  runs_ = listRuns(root_);
  table_->setRowCount(runs_.size());
  for (int i = 0; i < runs_.size(); ++i) {
    const RunSummary& r = runs_[i];
    const QStringList cells = {r.model.isEmpty() ? QStringLiteral("?") : r.model,
                               r.date.toString(QStringLiteral("yyyy-MM-dd HH:mm")),
                               r.granularity,
                               QString::number(r.steps),
                               r.finalPpl ? formatPpl(*r.finalPpl) : QString(),
                               r.state,
                               r.dir};
    for (int c = 0; c < cells.size(); ++c) {
      auto* item = new QTableWidgetItem(cells[c]);
      if (c == 3 || c == 4) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
      item->setToolTip(r.dir);
      table_->setItem(i, c, item);
    }
  }
  table_->resizeColumnsToContents();
  if (runs_.isEmpty()) table_->clearSelection();
  else table_->selectRow(0);
  updateButtons();
}

const RunSummary* RunsBrowser::selected() const {
  const auto rows = table_->selectionModel()->selectedRows();
  if (rows.size() != 1 || rows.front().row() >= runs_.size()) return nullptr;  // Open, Reveal, Delete: one run
  return &runs_[rows.front().row()];
}

QStringList RunsBrowser::selectedDirs() const {
  QStringList dirs;
  for (const QModelIndex& i : table_->selectionModel()->selectedRows())
    if (i.row() < runs_.size()) dirs << runs_[i.row()].dir;
  return dirs;
}

void RunsBrowser::updateButtons() {
  const RunSummary* r = selected();
  compare_->setEnabled(!selectedDirs().isEmpty());
  open_->setEnabled(r && !r->project.isEmpty());
  open_->setToolTip(r && r->project.isEmpty() ? QStringLiteral("This run has no project file (it did not finish a step "
                                                               "or was stopped hard); Resume from its model continues it")
                                              : QStringLiteral("Open the run's project: model, marks, run and plots"));
  reveal_->setEnabled(r != nullptr);
  delete_->setEnabled(r != nullptr);
}

void RunsBrowser::openSelected() {
  const RunSummary* r = selected();
  if (!r || r->project.isEmpty()) return;
  Q_EMIT openRequested(r->project);
  accept();
}

void RunsBrowser::revealSelected() {
  if (const RunSummary* r = selected()) QDesktopServices::openUrl(QUrl::fromLocalFile(r->dir));
}

bool RunsBrowser::deleteSelected() {
  const RunSummary* r = selected();
  if (!r) return false;
  const QString dir = r->dir;
  if (!askYesNo(this, QStringLiteral("Delete run"),
                QStringLiteral("Delete the run folder %1 (%2 step(s), its journal, results and project)? This cannot be "
                               "undone.")
                    .arg(dir)
                    .arg(r->steps)))
    return false;
  const QString err = deleteRun(root_, dir);
  if (!err.isEmpty()) {
    warn(this, QStringLiteral("Delete run"), err);
    return false;
  }
  refresh();
  return true;
}

}  // namespace shedder::ui
