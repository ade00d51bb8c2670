// The log panel (see log_view.h).
#include "log_view.h"

#include <QDateTime>
#include <QFontDatabase>

namespace shedder::ui {

LogView::LogView(QWidget* parent) : QPlainTextEdit(parent) {
  setReadOnly(true);
  setMaximumBlockCount(5000);
  setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  setLineWrapMode(QPlainTextEdit::WidgetWidth);
  setObjectName(QStringLiteral("logView"));
}

void LogView::info(const QString& line) { add(line, QString()); }
void LogView::error(const QString& line) { add(line, QStringLiteral("#c0392b")); }

void LogView::add(const QString& line, const QString& color) {
  const QString stamp = QDateTime::currentDateTime().toString(QStringLiteral("HH:mm:ss"));
  QString html = QStringLiteral("<span style='color:#888'>%1</span>&nbsp; ").arg(stamp);
  html += color.isEmpty() ? line.toHtmlEscaped() : QStringLiteral("<span style='color:%1'>%2</span>").arg(color, line.toHtmlEscaped());
  appendHtml(html);
  Q_EMIT lineAdded(line, !color.isEmpty());
}

}  // namespace shedder::ui
