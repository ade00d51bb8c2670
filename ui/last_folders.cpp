// The folder each kind of file dialog starts in (see last_folders.h).
#include "last_folders.h"

#include <QDir>
#include <QFileInfo>
#include <QSettings>

namespace shedder::ui {

namespace {
QString key(const QString& kind) { return QStringLiteral("folders/") + kind; }
}  // namespace

QString lastFolder(const QString& kind, const QString& fallback) {
  const QString d = QSettings().value(key(kind)).toString();
  return !d.isEmpty() && QFileInfo(d).isDir() ? d : fallback;
}

void rememberFolder(const QString& kind, const QString& path) {
  if (path.isEmpty()) return;
  const QFileInfo f(path);
  QSettings().setValue(key(kind), f.isDir() ? f.absoluteFilePath() : f.absolutePath());
}

}  // namespace shedder::ui
