// The layer tree panel (see layer_tree_panel.h).
#include "layer_tree_panel.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QSortFilterProxyModel>
#include <QToolButton>
#include <QTreeView>
#include <QVBoxLayout>

#include <algorithm>

#include "component_tree_model.h"
#include "formatting.h"
#include "score_bar_delegate.h"

namespace shedder::ui {

LayerTreePanel::LayerTreePanel(ComponentTreeModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 4);
  layout->setSpacing(4);

  auto* top = new QHBoxLayout;
  filter_ = new QLineEdit(this);
  filter_->setPlaceholderText(QStringLiteral("Filter components (id or kind, e.g. \"ssm\" or \"layers.1\")"));
  filter_->setClearButtonEnabled(true);
  auto* expand = new QToolButton(this);
  expand->setText(QStringLiteral("Expand all"));
  expand->setAutoRaise(true);
  auto* collapse = new QToolButton(this);
  collapse->setText(QStringLiteral("Collapse"));
  collapse->setAutoRaise(true);
  top->addWidget(filter_, 1);
  top->addWidget(expand);
  top->addWidget(collapse);
  layout->addLayout(top);

  proxy_ = new QSortFilterProxyModel(this);
  proxy_->setSourceModel(model_);
  proxy_->setRecursiveFilteringEnabled(true);
  proxy_->setAutoAcceptChildRows(true);
  proxy_->setFilterCaseSensitivity(Qt::CaseInsensitive);
  proxy_->setFilterKeyColumn(-1);

  view_ = new QTreeView(this);
  view_->setObjectName(QStringLiteral("layerTree"));
  view_->setModel(proxy_);
  view_->setAlternatingRowColors(true);
  view_->setUniformRowHeights(true);
  view_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  view_->setContextMenuPolicy(Qt::CustomContextMenu);
  view_->setItemDelegateForColumn(ComponentTreeModel::ImportanceColumn, new ScoreBarDelegate(view_));
  view_->header()->setStretchLastSection(true);
  view_->header()->setDefaultAlignment(Qt::AlignLeft | Qt::AlignVCenter);
  view_->header()->setMinimumSectionSize(60);
  layout->addWidget(view_, 1);

  totals_ = new QLabel(this);
  totals_->setObjectName(QStringLiteral("treeTotals"));
  totals_->setTextFormat(Qt::RichText);
  totals_->setWordWrap(true);  // else its one long line sets the window's minimum width (1024-pixel screens)
  layout->addWidget(totals_);

  connect(filter_, &QLineEdit::textChanged, this, [this](const QString& t) {
    proxy_->setFilterFixedString(t);
    if (!t.isEmpty()) view_->expandAll();
  });
  connect(expand, &QToolButton::clicked, view_, &QTreeView::expandAll);
  connect(collapse, &QToolButton::clicked, this, [this] {
    view_->collapseAll();
    view_->expand(proxy_->index(0, 0));
  });
  connect(view_, &QTreeView::customContextMenuRequested, this, &LayerTreePanel::showContextMenu);
  connect(model_, &ComponentTreeModel::totalsChanged, this, &LayerTreePanel::updateTotals);
  connect(model_, &QAbstractItemModel::modelReset, this, [this] {
    expandDefault();
    updateTotals();
  });
  updateTotals();
}

void LayerTreePanel::expandDefault() {
  view_->collapseAll();
  const QModelIndex root = proxy_->index(0, 0);
  if (!root.isValid()) return;
  view_->expand(root);
  // Small models: show every block's SSM too; larger ones start with one row per block.
  if (proxy_->rowCount(root) <= 10)
    for (int r = 0; r < proxy_->rowCount(root); ++r) view_->expand(proxy_->index(r, 0, root));
  // Wide enough for the headers' totals ("Parameters (kept 123.4 M)", "% of model (−48.3 %)").
  const QFontMetrics fm(view_->header()->font());
  auto fit = [&](int col, const QString& sample, int minimum) {
    view_->resizeColumnToContents(col);
    const int w = std::max({minimum, fm.horizontalAdvance(sample) + 24, view_->header()->sectionSize(col)});
    view_->header()->resizeSection(col, w);
  };
  fit(ComponentTreeModel::NameColumn, QStringLiteral("layers.00.ssm.heads"), 200);
  fit(ComponentTreeModel::KindColumn, QStringLiteral("SSM (selective scan)"), 150);
  fit(ComponentTreeModel::ParametersColumn, QStringLiteral("Parameters (kept 999.9 M)"), 150);
  fit(ComponentTreeModel::ShareColumn, QStringLiteral("% of model (−99.9 %)"), 120);
  fit(ComponentTreeModel::StatusColumn, QStringLiteral("removed (#99)"), 100);
}

void LayerTreePanel::reveal(const QString& id) {
  const QModelIndex src = model_->indexOf(id);
  const QModelIndex idx = proxy_->mapFromSource(src);
  if (!idx.isValid()) return;
  view_->scrollTo(idx);
}

void LayerTreePanel::updateTotals() {
  if (!model_->hasModel()) {
    totals_->setText(QStringLiteral("<i>No model open. Open a model folder (File ▸ Open Model…) or drop one here.</i>"));
    return;
  }
  const ModelInfo& info = model_->modelInfo();
  int blocksGone = 0;
  for (const QString& id : model_->removalSet())
    if (!id.endsWith(QLatin1String(".ssm"))) ++blocksGone;
  totals_->setText(QStringLiteral("<b>%1</b> of %2 parameters kept (<b>%3 %</b> removed) · %4 of %5 blocks kept · "
                                  "%6 removed by the search · %7 marked")
                       .arg(formatCount(model_->keptParameters()), formatCount(model_->totalParameters()))
                       .arg(model_->removedPercent(), 0, 'f', 2)
                       .arg(info.layers - blocksGone)
                       .arg(info.layers)
                       .arg(model_->removedIds().size())
                       .arg(model_->markedIds().size()));
}

QString LayerTreePanel::idAt(const QModelIndex& proxyIndex) const {
  return proxy_->mapToSource(proxyIndex).data(ComponentTreeModel::IdRole).toString();
}

void LayerTreePanel::showContextMenu(const QPoint& pos) {
  const QModelIndex at = view_->indexAt(pos);
  if (!at.isValid()) return;
  // The selection (when the clicked row is part of it) or the clicked row.
  QStringList ids;
  const QModelIndexList rows = view_->selectionModel()->selectedRows(0);
  bool inSelection = false;
  for (const QModelIndex& r : rows) inSelection |= r.row() == at.row() && r.parent() == at.parent();
  if (inSelection)
    for (const QModelIndex& r : rows) ids << idAt(r);
  else
    ids << idAt(at.siblingAtColumn(0));
  QStringList markable, unmarkable;
  for (const QString& id : ids) {
    const QModelIndex src = model_->indexOf(id);
    if (src.flags() & Qt::ItemIsUserCheckable) (model_->markedIds().contains(id) ? unmarkable : markable) << id;
  }
  QMenu menu(this);
  QAction* mark = menu.addAction(markable.size() > 1 ? QStringLiteral("Mark %1 components").arg(markable.size())
                                                     : QStringLiteral("Mark for removal"));
  mark->setEnabled(!markable.isEmpty());
  connect(mark, &QAction::triggered, this, [this, markable] {
    QStringList m = model_->markedIds();
    m << markable;
    model_->setMarked(m);
  });
  QAction* unmark = menu.addAction(unmarkable.size() > 1 ? QStringLiteral("Unmark %1 components").arg(unmarkable.size())
                                                         : QStringLiteral("Unmark"));
  unmark->setEnabled(!unmarkable.isEmpty());
  connect(unmark, &QAction::triggered, this, [this, unmarkable] {
    QStringList m = model_->markedIds();
    for (const QString& id : unmarkable) m.removeAll(id);
    model_->setMarked(m);
  });
  const QString one = idAt(at.siblingAtColumn(0));
  if (model_->removedIds().contains(one)) {
    QAction* restore = menu.addAction(QStringLiteral("Restore %1").arg(one));
    restore->setToolTip(QStringLiteral("Take it back from what the search removed; the other removals become marks"));
    connect(restore, &QAction::triggered, this, [this, one] { Q_EMIT model_->restoreRequested(one); });
  }
  menu.addSeparator();
  const QModelIndex src = model_->indexOf(one);
  const bool removable = src.data(ComponentTreeModel::RemovableRole).toBool() &&
                         model_->statusOf(one) == ComponentTreeModel::Status::Kept;
  QAction* eval = menu.addAction(QStringLiteral("Evaluate removing %1").arg(one));
  eval->setToolTip(QStringLiteral("Perplexity on the calibration data with this component removed on top of the "
                                  "current removal set"));
  eval->setEnabled(removable);
  connect(eval, &QAction::triggered, this, [this, one] { Q_EMIT evaluateComponentRequested(one); });
  menu.addSeparator();
  menu.addAction(QStringLiteral("Clear all marks"), this, [this] { model_->setMarked({}); })->setEnabled(!model_->markedIds().isEmpty());
  menu.addAction(QStringLiteral("Expand all"), view_, &QTreeView::expandAll);
  menu.exec(view_->viewport()->mapToGlobal(pos));
}

}  // namespace shedder::ui
