// The "Open Recent" list (model folders and project files), kept in QSettings, most recent first.
#pragma once

#include <QStringList>

namespace shedder::ui {

class RecentFiles {
 public:
  static constexpr int kMax = 10;
  static QStringList list();           // existing entries only
  static void add(const QString& path);
  static void clear();
};

}  // namespace shedder::ui
