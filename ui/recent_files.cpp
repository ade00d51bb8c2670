// The recent files list (see recent_files.h).
#include "recent_files.h"

#include <QFileInfo>
#include <QSettings>

namespace shedder::ui {

namespace {
const char* kKey = "recent/paths";
}

QStringList RecentFiles::list() {
  QStringList out;
  for (const QString& p : QSettings().value(QLatin1String(kKey)).toStringList())
    if (QFileInfo::exists(p)) out << p;
  return out;
}

void RecentFiles::add(const QString& path) {
  const QString abs = QFileInfo(path).absoluteFilePath();
  QStringList l = QSettings().value(QLatin1String(kKey)).toStringList();
  l.removeAll(abs);
  l.prepend(abs);
  while (l.size() > kMax) l.removeLast();
  QSettings().setValue(QLatin1String(kKey), l);
}

void RecentFiles::clear() { QSettings().remove(QLatin1String(kKey)); }

}  // namespace shedder::ui
