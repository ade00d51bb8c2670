// The log panel: time-stamped lines from the worker and the window (errors in red), read-only, with a
// context action to clear it.
#pragma once

#include <QPlainTextEdit>

namespace shedder::ui {

class LogView : public QPlainTextEdit {
  Q_OBJECT

 public:
  explicit LogView(QWidget* parent = nullptr);

 public Q_SLOTS:
  void info(const QString& line);
  void error(const QString& line);

 Q_SIGNALS:
  void lineAdded(const QString& line, bool error);

 private:
  void add(const QString& line, const QString& color);
};

}  // namespace shedder::ui
