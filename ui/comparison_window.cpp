// The comparison window (see comparison_window.h).
#include "comparison_window.h"

#include <QComboBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QSet>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QToolBar>
#include <QVBoxLayout>

#include "comparison_plots.h"
#include "confirm.h"
#include "figure_export_dialog.h"
#include "last_folders.h"
#include "report_writer.h"

namespace shedder::ui {

namespace {

QString cellText(const std::string& s) { return QString::fromStdString(s); }

// A number cell that sorts by value, not by its text ("10.5" after "9.2"); empty cells come after the numbers in
// ascending order.
class NumberItem : public QTableWidgetItem {
 public:
  using QTableWidgetItem::QTableWidgetItem;
  bool operator<(const QTableWidgetItem& o) const override {
    bool a = false, b = false;
    const double x = text().toDouble(&a), y = o.text().toDouble(&b);
    if (a && b) return x < y;
    return a && !b;
  }
};

}  // namespace

ComparisonWindow::ComparisonWindow(QWidget* parent) : QWidget(parent, Qt::Window) {
  setWindowTitle(QStringLiteral("Compare Runs — Mamba Shedder Workbench"));
  setObjectName(QStringLiteral("comparisonWindow"));
  auto* bar = new QToolBar(this);
  bar->addAction(QStringLiteral("Add Files…"), this, &ComparisonWindow::addFilesInteractive)
      ->setToolTip(QStringLiteral("Add projects (.shedproj), run files (journal.jsonl, search_result.json) or "
                                  "lm-evaluation-harness results files (results_*.json)"));
  bar->addAction(QStringLiteral("Add Run Folder…"), this, &ComparisonWindow::addFolderInteractive)
      ->setToolTip(QStringLiteral("Add a search's run folder"));
  QAction* cur = bar->addAction(QStringLiteral("Add Current Run"), this, [this] {
    if (!current_) return;
    if (auto s = current_()) addSource(*s);
    else warn(this, windowTitle(), QStringLiteral("The main window has no search run yet."));
  });
  cur->setObjectName(QStringLiteral("addCurrentRun"));
  QAction* remove = bar->addAction(QStringLiteral("Remove"), this, [this] {
    if (list_->currentRow() >= 0) removeSource(list_->currentRow());
  });
  remove->setToolTip(QStringLiteral("Remove the selected source from the comparison"));
  bar->addSeparator();
  bar->addAction(QStringLiteral("Write Report…"), this, &ComparisonWindow::writeReportInteractive)
      ->setToolTip(QStringLiteral("Figures (with their data as CSV) and tables (Markdown, LaTeX, CSV) of the picked "
                                  "rows into a folder — what shedder-cli report writes"));

  list_ = new QListWidget(this);
  list_->setObjectName(QStringLiteral("sources"));
  list_->setToolTip(QStringLiteral("The compared sources; double-click a name to rename it"));
  connect(list_, &QListWidget::itemChanged, this, [this](QListWidgetItem* it) {
    const int i = list_->row(it);
    if (filling_ || i < 0 || i >= sources_.size() || it->text().trimmed().isEmpty()) return;
    sources_[i].label = it->text().trimmed();
    QMetaObject::invokeMethod(this, [this] { rebuild(); }, Qt::QueuedConnection);  // not inside the item's own signal
  });

  tabs_ = new QTabWidget(this);
  const std::pair<CurveQuantity, const char*> kinds[] = {{CurveQuantity::Perplexity, "Perplexity"},
                                                        {CurveQuantity::HeldoutPerplexity, "Held-out"},
                                                        {CurveQuantity::Accuracy, "Accuracy"},
                                                        {CurveQuantity::Latency, "Latency"}};
  for (const auto& [q, name] : kinds) {
    auto* p = new ComparisonCurvePlot(q, CurveAxis::ComponentsRemoved);
    curves_ << p;
    tabs_->addTab(p, QString::fromLatin1(name));
  }
  // One x axis for every curve: components removed or parameters kept.
  axisBox_ = new QComboBox(this);
  axisBox_->setObjectName(QStringLiteral("xAxis"));
  axisBox_->addItem(QStringLiteral("vs components removed"));
  axisBox_->addItem(QStringLiteral("vs parameters kept"));
  axisBox_->setToolTip(QStringLiteral("The curves' x axis"));
  bar->addSeparator();
  bar->addWidget(axisBox_);
  connect(axisBox_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int i) {
    for (ComparisonCurvePlot* p : curves_) p->setAxis(i == 1 ? CurveAxis::ParametersKept : CurveAxis::ComponentsRemoved);
    refreshPlots();
  });
  auto* heatPage = new QWidget;
  auto* heatLayout = new QVBoxLayout(heatPage);
  heatLayout->setContentsMargins(0, 0, 0, 0);
  auto* heatRow = new QHBoxLayout;
  heatRun_ = new QComboBox(heatPage);
  heatRun_->setObjectName(QStringLiteral("heatmapRun"));
  heatRow->addWidget(new QLabel(QStringLiteral("Run:"), heatPage));
  heatRow->addWidget(heatRun_, 1);
  heatLayout->addLayout(heatRow);
  heatmap_ = new HeatmapPlot(heatPage);
  heatLayout->addWidget(heatmap_, 1);
  tabs_->addTab(heatPage, QStringLiteral("Heatmap"));
  connect(heatRun_, qOverload<int>(&QComboBox::activated), this,
          [this](int i) { showHeatmap(heatRun_->itemData(i).toInt()); });

  table_ = new QTableWidget(this);
  table_->setObjectName(QStringLiteral("variants"));
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->verticalHeader()->hide();
  table_->setSortingEnabled(true);  // click a header to sort; the check boxes go with their rows
  table_->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);  // until then, the variants' own order
  table_->setToolTip(QStringLiteral("One row per step of every run and per results file; check the rows to compare"));
  connect(table_, &QTableWidget::itemChanged, this, [this](QTableWidgetItem* it) {
    if (!filling_ && it->column() == 0) refreshPlots();
  });

  auto* right = new QSplitter(Qt::Vertical, this);
  right->addWidget(tabs_);
  right->addWidget(table_);
  right->setStretchFactor(0, 3);
  right->setStretchFactor(1, 2);
  auto* split = new QSplitter(Qt::Horizontal, this);
  split->addWidget(list_);
  split->addWidget(right);
  split->setStretchFactor(1, 1);
  split->setSizes({200, 800});
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  layout->addWidget(bar);
  layout->addWidget(split, 1);
  resize(1100, 760);
  rebuild();
}

bool ComparisonWindow::addPath(const QString& path, QString* error) {
  ComparisonSource s;
  if (!loadComparisonSource(path, &s, error)) return false;
  addSource(std::move(s));
  return true;
}

void ComparisonWindow::addSource(ComparisonSource s) {
  s.label = uniqueLabel(sources_, s.label);
  const QStringList keep = pickedRows();
  sources_.push_back(std::move(s));
  rebuild();
  // The new source's default rows join the rows already picked.
  QStringList picked = keep;
  const QString prefix = QStringLiteral("%1:").arg(sources_.size() - 1);
  for (const QString& k : defaultRowKeys(rows_))
    if (k.startsWith(prefix)) picked << k;
  setPickedRows(picked);
  Q_EMIT sourcesChanged();
}

void ComparisonWindow::removeSource(int index) {
  if (index < 0 || index >= sources_.size()) return;
  sources_.remove(index);
  rebuild();
  setPickedRows(defaultRowKeys(rows_));
  Q_EMIT sourcesChanged();
}

void ComparisonWindow::rebuild() {
  filling_ = true;
  const QStringList picked = pickedRows();
  list_->clear();
  for (const ComparisonSource& s : sources_) {
    auto* it = new QListWidgetItem(s.label, list_);
    it->setFlags(it->flags() | Qt::ItemIsEditable);
    it->setToolTip(s.path + (s.imported ? QStringLiteral("\nlm-evaluation-harness results") : QString()));
  }
  rows_ = variantRows(sources_);
  const Table t = ui::variantsTable(rows_);
  const int sortColumn = table_->horizontalHeader()->sortIndicatorSection();
  const Qt::SortOrder sortOrder = table_->horizontalHeader()->sortIndicatorOrder();
  const bool sorted = table_->isSortingEnabled() && sortColumn >= 0 && sortColumn < static_cast<int>(t.header.size());
  table_->setSortingEnabled(false);  // filling a sorting table moves rows under the loop
  table_->clear();
  table_->setColumnCount(static_cast<int>(t.header.size()));
  table_->setRowCount(static_cast<int>(t.rows.size()));
  QStringList header;
  for (const auto& h : t.header) header << cellText(h);
  table_->setHorizontalHeaderLabels(header);
  for (int r = 0; r < rows_.size(); ++r)
    for (int c = 0; c < static_cast<int>(t.header.size()); ++c) {
      const bool numeric = c < static_cast<int>(t.numeric.size()) && t.numeric[c];
      QTableWidgetItem* item = numeric ? new NumberItem(cellText(t.rows[r][c])) : new QTableWidgetItem(cellText(t.rows[r][c]));
      if (c == 0) {
        item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
        item->setCheckState(picked.contains(rows_[r].key) ? Qt::Checked : Qt::Unchecked);
        item->setData(Qt::UserRole, rows_[r].key);
      } else if (numeric) {
        item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
      }
      table_->setItem(r, c, item);
    }
  table_->resizeColumnsToContents();
  table_->setSortingEnabled(true);
  if (sorted) table_->sortItems(sortColumn, sortOrder);
  else table_->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);  // the variants' own order
  const int shown = heatRun_->currentData().isValid() ? heatRun_->currentData().toInt() : -1;
  heatRun_->clear();
  for (int i = 0; i < sources_.size(); ++i)
    if (!sources_[i].imported) heatRun_->addItem(sources_[i].label, i);
  filling_ = false;
  const int pick = heatRun_->findData(shown);
  heatRun_->setCurrentIndex(pick >= 0 ? pick : 0);
  showHeatmap(heatRun_->count() ? heatRun_->currentData().toInt() : -1);
  refreshPlots();
}

bool ComparisonWindow::showTab(const QString& name) {
  for (int i = 0; i < tabs_->count(); ++i)
    if (tabs_->tabText(i).compare(name, Qt::CaseInsensitive) == 0) {
      tabs_->setCurrentIndex(i);
      return true;
    }
  return false;
}

QStringList ComparisonWindow::pickedRows() const {
  QSet<QString> checked;
  for (int r = 0; r < table_->rowCount(); ++r)
    if (QTableWidgetItem* it = table_->item(r, 0); it && it->checkState() == Qt::Checked)
      checked.insert(it->data(Qt::UserRole).toString());
  QStringList keys;  // in the variants' order, however the table is sorted
  for (const VariantRow& r : rows_)
    if (checked.contains(r.key)) keys << r.key;
  return keys;
}

void ComparisonWindow::setPickedRows(const QStringList& keys) {
  filling_ = true;
  for (int r = 0; r < table_->rowCount(); ++r)
    if (QTableWidgetItem* it = table_->item(r, 0))
      it->setCheckState(keys.contains(it->data(Qt::UserRole).toString()) ? Qt::Checked : Qt::Unchecked);
  filling_ = false;
  refreshPlots();
}

void ComparisonWindow::refreshPlots() {
  const QStringList picked = pickedRows();
  for (ComparisonCurvePlot* p : curves_) p->setData(sources_, picked);
}

void ComparisonWindow::showHeatmap(int source) {
  if (source < 0 || source >= sources_.size()) {
    heatmap_->setRun(RunRecord{}, QString());
    return;
  }
  heatmap_->setRun(sources_[source].run, sources_[source].label);
}

void ComparisonWindow::addFilesInteractive() {
  const QStringList files = QFileDialog::getOpenFileNames(
      this, QStringLiteral("Add to the comparison"), lastFolder(QStringLiteral("results"), QString()),
      QStringLiteral("Runs and results (*.shedproj journal.jsonl search_result.json results_*.json *.json);;All files (*)"));
  for (const QString& f : files) {
    QString error;
    if (!addPath(f, &error)) warn(this, windowTitle(), error);
    else rememberFolder(QStringLiteral("results"), f);
  }
}

void ComparisonWindow::addFolderInteractive() {
  const QString dir = QFileDialog::getExistingDirectory(this, QStringLiteral("Add a run folder"),
                                                        lastFolder(QStringLiteral("results"), QString()));
  if (dir.isEmpty()) return;
  QString error;
  if (!addPath(dir, &error)) warn(this, windowTitle(), error);
  else rememberFolder(QStringLiteral("results"), dir);
}

QString ComparisonWindow::writeReportTo(const QString& dir, QStringList* written) {
  ReportOptions o;
  o.outDir = dir;
  o.figure = rememberedFigureOptions();
  o.formats = {o.figure.format};
  o.rows = pickedRows();
  if (o.rows.isEmpty()) return QStringLiteral("report: no variant rows are checked");
  return writeReport(sources_, o, written);
}

void ComparisonWindow::writeReportInteractive() {
  if (sources_.isEmpty()) {
    warn(this, windowTitle(), QStringLiteral("Add runs or results files first."));
    return;
  }
  FigureExportDialog dlg(this, QStringLiteral("Write report"), FigureExportDialog::Target::Folder);
  if (dlg.exec() != QDialog::Accepted) return;
  QStringList written;
  const QString err = writeReportTo(dlg.path(), &written);
  if (!err.isEmpty()) warn(this, windowTitle(), err);
  else
    QMessageBox::information(this, QStringLiteral("Write report"),
                             QStringLiteral("Wrote %1 files into %2 (report.json lists them).").arg(written.size()).arg(dlg.path()));
}

}  // namespace shedder::ui
