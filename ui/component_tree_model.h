// The layer tree's item model: wraps the core component tree (model -> layers -> SSMs, heads, channels ...) with each
// component's parameters, share of the model, status (kept / marked / removed) and last importance score.
// Check boxes on removable components mark them; the marked set plus what a search removed is the removal set
// that what-if evaluation and export use. Column headers carry the totals (parameters kept, % removed).
#pragma once

#include <QAbstractItemModel>
#include <QHash>
#include <QSet>
#include <QStringList>

#include <memory>
#include <vector>

#include "engine_types.h"

namespace shedder::ui {

class ComponentTreeModel : public QAbstractItemModel {
  Q_OBJECT

 public:
  enum Column { NameColumn, KindColumn, ParametersColumn, ShareColumn, StatusColumn, ImportanceColumn, ColumnCount };
  enum Role {
    IdRole = Qt::UserRole + 1,   // QString component id
    StatusRole,                  // int (Status)
    ParametersRole,              // qint64
    ImportanceRole,              // double, invalid when not scored
    ImportanceFractionRole,      // double in [0, 1] within the last scored set, invalid when not scored
    RemovableRole,               // bool: a block or an SSM
  };
  enum class Status { Kept = 0, Marked = 1, Removed = 2 };

  explicit ComponentTreeModel(QObject* parent = nullptr);
  ~ComponentTreeModel() override;

  void setModelInfo(const ModelInfo& info);
  void clear();
  bool hasModel() const { return root_ != nullptr; }
  const ModelInfo& modelInfo() const { return info_; }

  // Marking (what the check boxes show). Marking a block unmarks its SSM (the block covers it).
  QStringList markedIds() const { return marked_; }
  void setMarked(const QStringList& ids);
  bool setMarkedId(const QString& id, bool marked);
  // Components removed by the search, in removal order.
  QStringList removedIds() const { return removed_; }
  void setRemoved(const QStringList& ids);
  // Takes `id` back from the removed set: every other removed component becomes a mark, so the removal set loses
  // only `id`. False when `id` is not removed. (Unchecking a removed row asks for this with restoreRequested.)
  bool restoreRemoved(const QString& id);
  // removed + marked: what evaluation and export take away.
  QStringList removalSet() const;

  // Importance of components (e.g. the perplexity increase their removal would cost), shown as a bar;
  // `label` names the quantity ("Δ ppl at step 3"); the values of `lowerBounds` are lower bounds (candidates the
  // search stopped early), shown as "≥ v".
  void setImportance(const QHash<QString, double>& values, const QString& label, const QSet<QString>& lowerBounds = {});
  void clearImportance();
  QString importanceLabel() const { return importanceLabel_; }
  // True when the bars use a log scale because one value dwarfs the others (see setImportance).
  bool importanceLogScale() const { return importanceScale_ > 0; }

  Status statusOf(const QString& id) const;
  QModelIndex indexOf(const QString& id, int column = 0) const;
  qint64 totalParameters() const { return info_.totalParameters; }
  // Of removalSet(), counted by the engine (ModelInfo::countRemoved), so overlaps — a layer and its SSM, a shared
  // block's last use and its heads — count once, as export and what-if count them.
  qint64 removedParameters() const;
  qint64 keptParameters() const { return totalParameters() - removedParameters(); }
  double removedPercent() const;

  // QAbstractItemModel
  QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
  QModelIndex parent(const QModelIndex& child) const override;
  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
  Qt::ItemFlags flags(const QModelIndex& index) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

 Q_SIGNALS:
  void markedChanged(const QStringList& ids);
  void totalsChanged();
  void restoreRequested(const QString& id);  // the user unchecked a removed component

 private:
  struct Node;
  Node* nodeOf(const QModelIndex& index) const;
  QModelIndex indexOfNode(const Node* n, int column) const;
  Node* find(const QString& id) const;
  Status status(const Node* n) const;
  bool checkable(const Node* n) const;
  bool restorable(const Node* n) const;  // removed itself (not inside a removed component)
  QStringList markable(const QStringList& ids) const;  // ids that can be marked, none covering another
  void refreshAll();

  ModelInfo info_;
  std::unique_ptr<Node> root_;           // the "model" node (the one top-level row)
  QHash<QString, Node*> byId_;
  QStringList marked_, removed_;
  QHash<QString, double> importance_;
  QSet<QString> lowerBounds_;
  double importanceMin_ = 0, importanceMax_ = 0;
  double importanceScale_ = 0;  // > 0: log-scale bars with this unit (an eighth of the median distance from the minimum)
  QString importanceLabel_;
  mutable QString countedKey_;  // removedParameters() of this removal set (ids joined)
  mutable qint64 counted_ = 0;
};

}  // namespace shedder::ui
