// Undo and redo of the tree's marks and removals (see tree_undo.h).
#include "tree_undo.h"

#include <QSet>
#include <QUndoCommand>
#include <QUndoStack>

#include "component_tree_model.h"

namespace shedder::ui {

namespace {

class TreeCommand : public QUndoCommand {
 public:
  TreeCommand(TreeUndo* owner, const QString& text, TreeState before, TreeState after)
      : QUndoCommand(text), owner_(owner), before_(std::move(before)), after_(std::move(after)) {}
  void undo() override { owner_->apply(before_); }
  void redo() override {
    if (first_) first_ = false;  // pushed after the change was made
    else owner_->apply(after_);
  }

 private:
  TreeUndo* owner_;
  TreeState before_, after_;
  bool first_ = true;
};

// "Mark layers.3", "Unmark layers.3", "Mark 4 components", "Change marks".
QString describe(const TreeState& before, const TreeState& after) {
  const QSet<QString> b(before.marked.begin(), before.marked.end()), a(after.marked.begin(), after.marked.end());
  const QSet<QString> added = a - b, dropped = b - a;
  if (!added.isEmpty() && dropped.isEmpty())
    return added.size() == 1 ? QStringLiteral("Mark %1").arg(*added.begin())
                             : QStringLiteral("Mark %1 components").arg(added.size());
  if (added.isEmpty() && !dropped.isEmpty())
    return dropped.size() == 1 ? QStringLiteral("Unmark %1").arg(*dropped.begin())
                               : QStringLiteral("Unmark %1 components").arg(dropped.size());
  return QStringLiteral("Change marks");
}

}  // namespace

TreeUndo::TreeUndo(ComponentTreeModel* tree, QObject* parent)
    : QObject(parent), tree_(tree), stack_(new QUndoStack(this)) {
  shown_ = current();
  connect(tree_, &ComponentTreeModel::markedChanged, this, &TreeUndo::onMarkedChanged);
}

TreeState TreeUndo::current() const { return {tree_->removedIds(), tree_->markedIds()}; }

void TreeUndo::onMarkedChanged() {
  if (quiet_ > 0) return;
  const TreeState now = current();
  push(describe(shown_, now), shown_, now);
}

void TreeUndo::push(const QString& text, TreeState before, TreeState after) {  // by value: `before` is often shown_
  shown_ = after;
  if (before != after) stack_->push(new TreeCommand(this, text, before, after));
}

void TreeUndo::record(const QString& text, const std::function<void()>& change) {
  const TreeState before = shown_;
  ++quiet_;
  change();
  --quiet_;
  push(text, before, current());
}

void TreeUndo::programmatic(const std::function<void()>& change, bool forget) {
  ++quiet_;
  change();
  --quiet_;
  const TreeState now = current();
  // The program changed what is removed (a search step): an earlier state would show a tree the run does not match.
  if (now.removed != shown_.removed) forget = true;
  shown_ = now;
  if (forget) stack_->clear();
}

void TreeUndo::apply(const TreeState& s) {
  ++quiet_;
  tree_->setRemoved(s.removed);
  tree_->setMarked(s.marked);
  --quiet_;
  shown_ = current();
}

}  // namespace shedder::ui
