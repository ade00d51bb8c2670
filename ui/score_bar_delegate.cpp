// In-cell importance bars (see score_bar_delegate.h).
#include "score_bar_delegate.h"

#include <QApplication>
#include <QPainter>

#include <algorithm>

#include "component_tree_model.h"

namespace shedder::ui {

QColor ScoreBarDelegate::heat(double f) {
  f = std::clamp(f, 0.0, 1.0);
  // green (0x2ca02c) -> amber (0xf0b400) -> red (0xd62728)
  const QColor a(0x2c, 0xa0, 0x2c), b(0xf0, 0xb4, 0x00), c(0xd6, 0x27, 0x28);
  const QColor& lo = f < 0.5 ? a : b;
  const QColor& hi = f < 0.5 ? b : c;
  const double t = f < 0.5 ? f * 2 : (f - 0.5) * 2;
  return QColor::fromRgbF(static_cast<float>(lo.redF() + (hi.redF() - lo.redF()) * t),
                          static_cast<float>(lo.greenF() + (hi.greenF() - lo.greenF()) * t),
                          static_cast<float>(lo.blueF() + (hi.blueF() - lo.blueF()) * t));
}

void ScoreBarDelegate::paint(QPainter* painter, const QStyleOptionViewItem& option, const QModelIndex& index) const {
  const QVariant frac = index.data(ComponentTreeModel::ImportanceFractionRole);
  if (!frac.isValid()) {
    QStyledItemDelegate::paint(painter, option, index);
    return;
  }
  QStyleOptionViewItem opt = option;
  initStyleOption(&opt, index);
  const QString text = opt.text;
  opt.text.clear();
  QStyle* style = opt.widget ? opt.widget->style() : QApplication::style();
  style->drawControl(QStyle::CE_ItemViewItem, &opt, painter, opt.widget);  // background and selection

  const double f = frac.toDouble();
  const QRect r = option.rect.adjusted(3, 3, -3, -3);
  painter->save();
  painter->setRenderHint(QPainter::Antialiasing);
  QColor fill = heat(f);
  fill.setAlpha(170);
  const int w = std::max(3, static_cast<int>(r.width() * (0.08 + 0.92 * f)));
  painter->setPen(Qt::NoPen);
  painter->setBrush(fill);
  painter->drawRoundedRect(QRect(r.left(), r.top(), w, r.height()), 2, 2);
  painter->setPen(opt.palette.color(option.state & QStyle::State_Selected ? QPalette::HighlightedText : QPalette::Text));
  painter->drawText(r.adjusted(4, 0, -4, 0), Qt::AlignVCenter | Qt::AlignRight, text);
  painter->restore();
}

QSize ScoreBarDelegate::sizeHint(const QStyleOptionViewItem& option, const QModelIndex& index) const {
  QSize s = QStyledItemDelegate::sizeHint(option, index);
  s.setWidth(std::max(s.width(), 110));
  return s;
}

}  // namespace shedder::ui
