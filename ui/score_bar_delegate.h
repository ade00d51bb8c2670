// Paints the layer tree's importance column as an in-cell bar whose length and heat colour (green: cheap to
// remove, red: costly) follow the component's score within the last scored set, with the value on top.
#pragma once

#include <QStyledItemDelegate>

namespace shedder::ui {

class ScoreBarDelegate : public QStyledItemDelegate {
  Q_OBJECT

 public:
  using QStyledItemDelegate::QStyledItemDelegate;
  void paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const override;
  QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const override;

  // Heat colour for a fraction in [0, 1].
  static QColor heat(double fraction);
};

}  // namespace shedder::ui
