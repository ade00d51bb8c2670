// The workbench's QApplication (see application.h).
#include "application.h"

#include <QMessageBox>

#include <cstdio>
#include <exception>

namespace shedder::ui {

Application::Application(int& argc, char** argv) : QApplication(argc, argv) {
  setOrganizationName(QStringLiteral("MambaShedder"));
  setApplicationName(QStringLiteral("mamba-shedder"));
  setApplicationDisplayName(QStringLiteral("Mamba Shedder Workbench"));
  setApplicationVersion(QStringLiteral(SHEDDER_VERSION));
}

bool Application::notify(QObject* receiver, QEvent* event) {
  QString message;
  try {
    return QApplication::notify(receiver, event);
  } catch (const std::exception& e) {
    message = QString::fromStdString(e.what());
  } catch (...) {
    message = QStringLiteral("unknown error");
  }
  std::fprintf(stderr, "mamba-shedder: %s\n", qPrintable(message));
  QMessageBox::critical(activeWindow(), QStringLiteral("Error"), message);
  return false;
}

}  // namespace shedder::ui
