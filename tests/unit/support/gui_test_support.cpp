// Helpers for the GUI tests (see gui_test_support.h).
#include "support/gui_test_support.h"

#include <QCoreApplication>
#include <QStandardPaths>

#include "support/test_support.h"

namespace shedder::test {

void init_gui_test_environment() {
  QStandardPaths::setTestModeEnabled(true);
  QCoreApplication::setOrganizationName(QStringLiteral("MambaShedderTests"));
  QCoreApplication::setApplicationName(QStringLiteral("mamba-shedder-tests"));
}

QString trained_model(const QString& name) {
  return QString::fromStdString(test_data_dir()) + QStringLiteral("/trained_tiny/") + name;
}

QString trained_calib_tokens() {
  return QString::fromStdString(test_data_dir()) + QStringLiteral("/trained_tiny/calib.safetensors:windows");
}

}  // namespace shedder::test
