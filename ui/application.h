// The QApplication of the workbench: sets the organisation/application names (QSettings, data folders) and
// turns any exception escaping an event handler into an error dialog instead of a crash.
#pragma once

#include <QApplication>

namespace shedder::ui {

class Application : public QApplication {
  Q_OBJECT

 public:
  Application(int& argc, char** argv);
  bool notify(QObject* receiver, QEvent* event) override;
};

}  // namespace shedder::ui
