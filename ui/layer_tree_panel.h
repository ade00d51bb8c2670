// The layer tree panel: the component tree view (check boxes mark components, importance bars, status), a
// filter box, expand/collapse, a totals line (parameters kept, % removed, marked count) and the context menu
// (mark, unmark, evaluate this component's removal).
#pragma once

#include <QWidget>

class QLabel;
class QLineEdit;
class QSortFilterProxyModel;
class QTreeView;

namespace shedder::ui {

class ComponentTreeModel;

class LayerTreePanel : public QWidget {
  Q_OBJECT

 public:
  explicit LayerTreePanel(ComponentTreeModel* model, QWidget* parent = nullptr);

  QTreeView* view() const { return view_; }
  QLineEdit* filterEdit() const { return filter_; }
  ComponentTreeModel* model() const { return model_; }
  // Expands the model and block level (SSMs visible), as after opening a model.
  void expandDefault();
  // Selects and scrolls to a component.
  void reveal(const QString& id);

 Q_SIGNALS:
  void evaluateComponentRequested(const QString& id);

 private:
  void updateTotals();
  void showContextMenu(const QPoint& pos);
  QString idAt(const QModelIndex& proxyIndex) const;

  ComponentTreeModel* model_;
  QSortFilterProxyModel* proxy_ = nullptr;
  QTreeView* view_ = nullptr;
  QLineEdit* filter_ = nullptr;
  QLabel* totals_ = nullptr;
};

}  // namespace shedder::ui
