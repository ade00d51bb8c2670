// Undo and redo of what the layer tree shows as taken out of the model: the components the user marked and the ones
// the search removed (a restored component turns the run's other removals into marks). Every change the user makes
// (a check box, the context menu, Clear Marks, What-if ▸ Mark these, Restore, Reset to Base Model) becomes one
// QUndoCommand; changes the program makes (a model or project loaded, a search step) are not undoable and move
// the starting point instead.
#pragma once

#include <QObject>
#include <QStringList>

#include <functional>

class QUndoStack;

namespace shedder::ui {

class ComponentTreeModel;

struct TreeState {
  QStringList removed, marked;
  bool operator==(const TreeState& o) const { return removed == o.removed && marked == o.marked; }
  bool operator!=(const TreeState& o) const { return !(*this == o); }
};

class TreeUndo : public QObject {
  Q_OBJECT

 public:
  TreeUndo(ComponentTreeModel* tree, QObject* parent);

  QUndoStack* stack() const { return stack_; }
  TreeState current() const;
  // One undoable step named `text` for whatever `change` does to the tree (nothing recorded when it changes nothing).
  void record(const QString& text, const std::function<void()>& change);
  // A change the program makes: not undoable; the history is kept, unless `forget` or the change altered what is
  // removed (a search step), and goes on from the result.
  void programmatic(const std::function<void()>& change, bool forget = false);
  // Puts the tree in `s` without recording it (what undo and redo do).
  void apply(const TreeState& s);

 private:
  void onMarkedChanged();
  void push(const QString& text, TreeState before, TreeState after);

  ComponentTreeModel* tree_;
  QUndoStack* stack_;
  TreeState shown_;  // the state the last recorded or programmatic change left
  int quiet_ = 0;    // > 0: changes are being made by record(), programmatic() or apply()
};

}  // namespace shedder::ui
